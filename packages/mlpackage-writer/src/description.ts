/**
 * The ModelDescription coremltools fills for an ML Program (mlpackage-format.md §6):
 * inputs (minus states) as multiArray/image features, states as stateType features,
 * outputs in block order, the single-function or multifunction form (§4.2, §13.1).
 */
import {
  ArrayFeatureType_ArrayDataType as ADT,
  type FeatureDescription,
  FeatureDescriptionSchema,
  type FeatureType,
  FeatureTypeSchema,
  FunctionDescriptionSchema,
  ImageFeatureType_ColorSpace as CS,
  type ModelDescription,
  ModelDescriptionSchema,
  create,
} from '@silica/coreml-format';
import type { Function, IODescription, Program, TensorType, Value } from '@silica/ir';
import { type Names, WriteError, sanitizeFunctionName, sortedKeys } from './program.js';

function arrayDataType(t: TensorType, spec: number, where: string): ADT {
  switch (t.dtype) {
    case 'fp32':
      return ADT.FLOAT32;
    case 'int32':
      return ADT.INT32;
    case 'fp16':
      if (spec < 7) throw new WriteError(`${where}: FLOAT16 I/O needs iOS16 (spec 7) or later (mlpackage-format.md §12)`);
      return ADT.FLOAT16;
    case 'int8':
      if (spec < 10) throw new WriteError(`${where}: INT8 I/O needs iOS26 (spec 10) (mlpackage-format.md §12)`);
      return ADT.INT8;
    default:
      throw new WriteError(
        `${where}: dtype ${t.dtype} cannot be a model input or output (Core ML accepts fp32, fp16, int32 and, from iOS26, int8 — cast at the boundary; mlpackage-format.md §6)`,
      );
  }
}

const COLOR: Record<NonNullable<IODescription['image']>['colorSpace'], CS> = {
  GRAYSCALE: CS.GRAYSCALE,
  RGB: CS.RGB,
  BGR: CS.BGR,
  GRAYSCALE_FLOAT16: CS.GRAYSCALE_FLOAT16,
};

function inputFeature(v: Value, fn: Function, name: string, spec: number): FeatureDescription {
  const where = `function "${fn.name}", input "${v.name}"`;
  if (v.type.kind !== 'tensor') throw new WriteError(`${where}: only tensor inputs can be described (got ${v.type.kind})`);
  const t = v.type;
  const io = fn.io.get(v.name) ?? {};
  let type: FeatureType;
  if (io.image) {
    const [n, c, h, w] = t.shape;
    if (t.shape.length !== 4 || n !== 1 || typeof h !== 'number' || typeof w !== 'number' || (c !== 1 && c !== 3)) {
      throw new WriteError(`${where}: an image input needs shape [1, 3|1, H, W] (mlpackage-format.md §5.5), got [${t.shape.join(', ')}]`);
    }
    type = create(FeatureTypeSchema, {
      Type: { case: 'imageType', value: { width: BigInt(w), height: BigInt(h), colorSpace: COLOR[io.image.colorSpace] } },
    });
  } else {
    const symbolic = t.shape.some((d) => typeof d === 'string');
    const shape = t.shape.length === 0 ? [1] : t.shape.map((d, i) => (typeof d === 'number' ? d : io.defaultShape?.[i] ?? 1));
    let shapeFlexibility:
      | { case: 'enumeratedShapes'; value: { shapes: Array<{ shape: bigint[] }> } }
      | { case: 'shapeRange'; value: { sizeRanges: Array<{ lowerBound: bigint; upperBound: bigint }> } }
      | undefined;
    if (io.enumeratedShapes) {
      shapeFlexibility = { case: 'enumeratedShapes', value: { shapes: io.enumeratedShapes.map((s) => ({ shape: s.map(BigInt) })) } };
    } else if (io.shapeRange) {
      shapeFlexibility = {
        case: 'shapeRange',
        value: { sizeRanges: io.shapeRange.map(([lo, hi]) => ({ lowerBound: BigInt(lo), upperBound: BigInt(hi) })) },
      };
    } else if (symbolic) {
      // §6: fixed dims get lower = upper = size; unspecified symbolic dims default to [1, 2]
      shapeFlexibility = {
        case: 'shapeRange',
        value: {
          sizeRanges: t.shape.map((d) =>
            typeof d === 'number' ? { lowerBound: BigInt(d), upperBound: BigInt(d) } : { lowerBound: 1n, upperBound: 2n },
          ),
        },
      };
    }
    const dataType = arrayDataType(t, spec, where);
    type = create(FeatureTypeSchema, {
      Type: {
        case: 'multiArrayType',
        value: {
          shape: shape.map(BigInt),
          dataType,
          ShapeFlexibility: shapeFlexibility ?? { case: undefined },
          defaultOptionalValue:
            io.defaultValue === undefined
              ? { case: undefined }
              : dataType === ADT.INT32 || dataType === ADT.INT8
                ? { case: 'intDefaultValue', value: io.defaultValue }
                : { case: 'floatDefaultValue', value: io.defaultValue },
        },
      },
      isOptional: io.isOptional ?? false,
    });
  }
  return create(FeatureDescriptionSchema, { name, shortDescription: io.shortDescription ?? '', type });
}

function stateFeature(v: Value, fn: Function, name: string): FeatureDescription {
  const where = `function "${fn.name}", state "${v.name}"`;
  if (v.type.kind !== 'state') throw new WriteError(`${where}: not a state`);
  const w = v.type.wrapped;
  if (w.dtype !== 'fp16') throw new WriteError(`${where}: Core ML states must be fp16 (mlpackage-format.md §5.4), got ${w.dtype}`);
  if (w.shape.some((d) => typeof d !== 'number')) throw new WriteError(`${where}: a state needs a static shape (§5.4), got [${w.shape.join(', ')}]`);
  return create(FeatureDescriptionSchema, {
    name,
    shortDescription: fn.io.get(v.name)?.shortDescription ?? '',
    type: create(FeatureTypeSchema, {
      Type: { case: 'stateType', value: { Type: { case: 'arrayType', value: { shape: w.shape.map((d) => BigInt(d)), dataType: ADT.FLOAT16 } } } },
    }),
  });
}

function outputFeature(v: Value, fn: Function, name: string, spec: number): FeatureDescription {
  const where = `function "${fn.name}", output "${v.name}"`;
  if (v.type.kind !== 'tensor') throw new WriteError(`${where}: only tensor outputs can be described (got ${v.type.kind})`);
  const t = v.type;
  const fixed = t.shape.every((d) => typeof d === 'number');
  return create(FeatureDescriptionSchema, {
    name,
    shortDescription: fn.io.get(v.name)?.shortDescription ?? '',
    type: create(FeatureTypeSchema, {
      Type: {
        case: 'multiArrayType',
        value: { shape: fixed ? (t.shape as number[]).map(BigInt) : [], dataType: arrayDataType(t, spec, where) },
      },
    }),
  });
}

function functionIO(fn: Function, names: Names, spec: number) {
  if (fn.outputs.length === 0) throw new WriteError(`function "${fn.name}" has no outputs (Core ML needs at least one, mlpackage-format.md §4.6)`);
  return {
    input: fn.inputs.filter((v) => v.type.kind !== 'state').map((v) => inputFeature(v, fn, names.name(v), spec)),
    state: fn.inputs.filter((v) => v.type.kind === 'state').map((v) => stateFeature(v, fn, names.name(v))),
    output: fn.outputs.map((v) => outputFeature(v, fn, names.name(v), spec)),
    predictedFeatureName: fn.predictedFeatureName ?? '',
    predictedProbabilitiesName: fn.predictedProbabilitiesName ?? '',
  };
}

export function encodeDescription(program: Program, namesByFn: Map<Function, Names>, spec: number): ModelDescription {
  const fns = [...program.functions.values()];
  const m = program.metadata;
  // an all-empty Metadata is left out (save_multifunction writes none, §13.2)
  const metadata =
    m.shortDescription || m.versionString || m.author || m.license || Object.keys(m.userDefined).length > 0
      ? {
          shortDescription: m.shortDescription ?? '',
          versionString: m.versionString ?? '',
          author: m.author ?? '',
          license: m.license ?? '',
          userDefined: sortedKeys(m.userDefined),
        }
      : undefined;
  const single = !program.multifunction && fns.length === 1 && fns[0].name === 'main';
  if (single) {
    return create(ModelDescriptionSchema, { ...functionIO(fns[0], namesByFn.get(fns[0])!, spec), metadata });
  }
  const def = program.defaultFunction ?? fns[0].name;
  if (!program.functions.has(def)) {
    throw new WriteError(`default function "${def}" is not a function of the program (${fns.map((f) => f.name).join(', ')})`);
  }
  return create(ModelDescriptionSchema, {
    functions: fns.map((fn) =>
      create(FunctionDescriptionSchema, { name: sanitizeFunctionName(fn.name), ...functionIO(fn, namesByFn.get(fn)!, spec) }),
    ),
    defaultFunctionName: sanitizeFunctionName(def),
    metadata,
  });
}
