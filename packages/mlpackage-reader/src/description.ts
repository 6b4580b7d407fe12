/**
 * ModelDescription → per-function I/O details (mlpackage-format.md §4.2–§4.6, §5, §6).
 * The MIL function signature is the source of truth for types; the description must
 * agree with it (same input, state and output names), and contributes what the MIL
 * program does not carry: short descriptions, optional inputs and defaults, shape
 * flexibility, image inputs, classifier feature names and model metadata.
 */
import type { FeatureDescription, FunctionDescription, Metadata, ModelDescription } from '@silica/coreml-format';
import type { Function, IODescription, ProgramMetadata } from '@silica/ir';
import { type Loc, at, fail } from './values.js';

const COLOR_SPACES: Record<number, IODescription['image'] extends infer T ? T extends { colorSpace: infer C } ? C : never : never> = {
  10: 'GRAYSCALE',
  20: 'RGB',
  30: 'BGR',
  40: 'GRAYSCALE_FLOAT16',
};

interface FunctionIO {
  name: string;
  input: readonly FeatureDescription[];
  output: readonly FeatureDescription[];
  state: readonly FeatureDescription[];
  predictedFeatureName: string;
  predictedProbabilitiesName: string;
}

/** The per-function descriptions and whether the multifunction form (§4.2) is used. */
export function functionDescriptions(d: ModelDescription, loc: Loc): { multifunction: boolean; defaultFunction?: string; fns: FunctionIO[] } {
  const multifunction = d.functions.length > 0 || d.defaultFunctionName !== '';
  if (!multifunction) {
    return {
      multifunction,
      fns: [
        {
          name: 'main',
          input: d.input,
          output: d.output,
          state: d.state,
          predictedFeatureName: d.predictedFeatureName,
          predictedProbabilitiesName: d.predictedProbabilitiesName,
        },
      ],
    };
  }
  for (const [field, n] of [
    ['input', d.input.length],
    ['output', d.output.length],
    ['state', d.state.length],
    ['trainingInput', d.trainingInput.length],
  ] as const) {
    if (n > 0) fail(at(loc, field), `an empty ${field} list in the multifunction form (§4.2)`, `${n} entries`);
  }
  if (d.predictedFeatureName || d.predictedProbabilitiesName) {
    fail(at(loc, 'predictedFeatureName'), 'empty predicted* fields in the multifunction form (§4.2)');
  }
  const names = d.functions.map((f: FunctionDescription) => f.name);
  if (!names.includes(d.defaultFunctionName)) {
    fail(at(loc, 'defaultFunctionName'), `one of the function names ${JSON.stringify(names)}`, JSON.stringify(d.defaultFunctionName));
  }
  return {
    multifunction,
    defaultFunction: d.defaultFunctionName,
    fns: d.functions.map((f: FunctionDescription) => ({
      name: f.name,
      input: f.input,
      output: f.output,
      state: f.state,
      predictedFeatureName: f.predictedFeatureName,
      predictedProbabilitiesName: f.predictedProbabilitiesName,
    })),
  };
}

/** Checks one function's description against its MIL signature and records the extras on `fn.io`. */
export function applyDescription(fn: Function, io: FunctionIO, loc: Loc): void {
  const tensorInputs = fn.inputs.filter((v) => v.type.kind !== 'state').map((v) => v.name);
  const stateInputs = fn.inputs.filter((v) => v.type.kind === 'state').map((v) => v.name);
  // a stateType feature may appear in `input` for backward compatibility (§4.6)
  const descStates = [...io.state, ...io.input.filter((f) => f.type?.Type.case === 'stateType')];
  const descInputs = io.input.filter((f) => f.type?.Type.case !== 'stateType');
  sameNames(descInputs.map((f) => f.name), tensorInputs, at(loc, 'input'), 'inputs');
  sameNames(descStates.map((f) => f.name), stateInputs, at(loc, 'state'), 'state inputs');
  sameNames(io.output.map((f) => f.name), fn.outputs.map((v) => v.name), at(loc, 'output'), 'outputs');
  if (io.output.length === 0) fail(at(loc, 'output'), 'at least one output (§4.6)', 'none');

  descInputs.forEach((f, i) => {
    const fl = at(loc, `input[${i}]`);
    const d: IODescription = {};
    if (f.shortDescription) d.shortDescription = f.shortDescription;
    const t = f.type;
    if (!t) fail(at(fl, 'type'), 'a FeatureType (§4.4)', 'none');
    if (t!.isOptional) d.isOptional = true;
    switch (t!.Type.case) {
      case 'multiArrayType': {
        const a = t!.Type.value;
        const shape = a.shape.map(Number);
        const mil = fn.inputs.find((v) => v.name === f.name)!;
        const milShape = mil.type.kind === 'tensor' ? mil.type.shape : [];
        if (milShape.some((x) => typeof x === 'string')) d.defaultShape = shape;
        if (a.ShapeFlexibility.case === 'enumeratedShapes') {
          d.enumeratedShapes = a.ShapeFlexibility.value.shapes.map((s) => s.shape.map(Number));
        } else if (a.ShapeFlexibility.case === 'shapeRange') {
          d.shapeRange = a.ShapeFlexibility.value.sizeRanges.map((r) => [Number(r.lowerBound), Number(r.upperBound)] as [number, number]);
        }
        const dv = a.defaultOptionalValue;
        if (dv.case !== undefined) d.defaultValue = Number(dv.value);
        break;
      }
      case 'imageType': {
        const cs = COLOR_SPACES[t!.Type.value.colorSpace];
        if (!cs) fail(at(fl, 'type.imageType.colorSpace'), 'GRAYSCALE (10), RGB (20), BGR (30) or GRAYSCALE_FLOAT16 (40)', `${t!.Type.value.colorSpace}`);
        d.image = { colorSpace: cs! };
        break;
      }
      case undefined:
        fail(at(fl, 'type.Type'), 'a feature type', 'none set');
        break;
      default:
        break;
    }
    if (Object.keys(d).length > 0) fn.io.set(f.name, d);
  });
  io.output.forEach((f) => {
    if (f.shortDescription) fn.io.set(f.name, { ...(fn.io.get(f.name) ?? {}), shortDescription: f.shortDescription });
  });
  descStates.forEach((f, i) => {
    if (f.type?.Type.case !== 'stateType') fail(at(loc, `state[${i}].type`), 'a stateType feature (§5.4)', f.type?.Type.case ?? 'none');
    if (f.shortDescription) fn.io.set(f.name, { shortDescription: f.shortDescription });
  });
  if (io.predictedFeatureName) fn.predictedFeatureName = io.predictedFeatureName;
  if (io.predictedProbabilitiesName) fn.predictedProbabilitiesName = io.predictedProbabilitiesName;
}

function sameNames(desc: string[], mil: string[], loc: Loc, what: string): void {
  const a = [...desc].sort();
  const b = [...mil].sort();
  if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
    fail(loc, `the function's ${what} ${JSON.stringify(mil)} (from the MIL program)`, JSON.stringify(desc));
  }
}

export function readMetadata(m: Metadata | undefined): ProgramMetadata {
  const out: ProgramMetadata = { userDefined: {} };
  if (!m) return out;
  if (m.shortDescription) out.shortDescription = m.shortDescription;
  if (m.versionString) out.versionString = m.versionString;
  if (m.author) out.author = m.author;
  if (m.license) out.license = m.license;
  out.userDefined = { ...m.userDefined };
  return out;
}
