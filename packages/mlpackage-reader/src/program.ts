/**
 * MIL `Program` → IR Program (mlpackage-format.md §7, §9, §14; reader checklist §15).
 *
 * - Ordinary ops: every input binding is a name (§9.3); inline `value` bindings (iOS18
 *   constexprs, §9.4, and coremltools' few exceptions) become `const` ops of their own.
 * - iOS16-form constexpr ops keep their parameters in `attributes` (§9.4): each becomes a
 *   `const` op bound as an input, so the IR has one representation for both forms.
 * - `write_state` (no outputs) and `read_state` are kept as the Core ML ops they are (§14).
 */
import type { Block as PBlock, NamedValueType, Operation, Program as PProgram } from '@silica/coreml-format';
import {
  Block,
  Function,
  Op,
  type Target,
  type Tensor,
  Value,
  isRegisteredOp,
  targetFromOpset,
  tensorType,
} from '@silica/ir';
import { type BlobResolver, type Loc, at, fail, stringFromValue, tensorFromValue, typeFromProto } from './values.js';

/** Scope of visible names: a chain of maps (nested blocks see outer values, §7.3). */
class Scope {
  private readonly names = new Map<string, Value>();
  constructor(private readonly parent: Scope | null) {}
  get(name: string): Value | undefined {
    return this.names.get(name) ?? this.parent?.get(name);
  }
  define(v: Value, loc: Loc): void {
    if (this.get(v.name)) fail(loc, `a name not defined before in scope (value names are unique, §7)`, `"${v.name}" again`);
    this.names.set(v.name, v);
  }
}

interface Ctx {
  readonly fn: Function;
  readonly resolveBlob: BlobResolver;
  readonly unknownOps: Set<string>;
  constCount: number;
}

export interface ConvertedProgram {
  readonly target: Target;
  readonly opset: string;
  readonly functions: Function[];
  readonly buildInfo: Record<string, string>;
}

/**
 * Converts every function of a MIL Program. Throws a SilicaFormatError on the first
 * malformed element, or one error listing every op type the registry does not know.
 */
export function convertProgram(p: PProgram, file: string, resolveBlob: BlobResolver): ConvertedProgram {
  const loc: Loc = { file, path: 'mlProgram' };
  if (p.version !== 1n) fail(at(loc, 'version'), 'Program.version = 1', `${p.version}`);
  if (p.docString) fail(at(loc, 'docString'), 'an empty docString (unused field)', JSON.stringify(p.docString));
  const names = Object.keys(p.functions);
  if (names.length === 0) fail(at(loc, 'functions'), 'at least one function', 'none');
  let opset: string | undefined;
  const unknownOps = new Set<string>();
  const functions: Function[] = [];
  for (const name of names) {
    const pf = p.functions[name];
    const floc = at(loc, `functions["${name}"]`);
    if (opset === undefined) opset = pf.opset;
    else if (pf.opset !== opset) fail(at(floc, 'opset'), `the same opset string in every function (§9.1): "${opset}"`, `"${pf.opset}"`);
    const block = pf.blockSpecializations[pf.opset];
    if (!block) {
      fail(at(floc, 'block_specializations'), `a block keyed by the function's opset "${pf.opset}"`, `keys ${JSON.stringify(Object.keys(pf.blockSpecializations))}`);
    }
    const fn = new Function(name);
    // reserve every name the file defines, so consts made for inline values never take one
    const reserved = fn.allNames();
    collectNames(block!, reserved);
    const scope = new Scope(null);
    pf.inputs.forEach((nv, i) => {
      const iloc = at(floc, `inputs[${i}]`);
      checkName(nv.name, at(iloc, 'name'));
      const v = fn.addInput(nv.name, typeFromProto(nv.type, at(iloc, 'type'), (k) => `${nv.name}_d${k}`));
      scope.define(v, iloc);
    });
    const ctx: Ctx = { fn, resolveBlob, unknownOps, constCount: 0 };
    convertBlockInto(block!, fn.block, scope, ctx, at(floc, `block_specializations["${pf.opset}"]`));
    functions.push(fn);
  }
  if (unknownOps.size > 0) {
    fail(loc, 'only ops Silica knows (mil-ops.md §1–6)', `unknown op type(s): ${[...unknownOps].sort().join(', ')}`);
  }
  const target = targetFromOpset(opset!);
  if (!target) fail(at(loc, `functions["${names[0]}"].opset`), 'an ML Program opset CoreML5…CoreML9 (§12)', `"${opset}"`);
  return { target: target!, opset: opset!, functions, buildInfo: readBuildInfo(p, loc) };
}

function collectNames(b: PBlock, into: Set<string>): void {
  for (const op of b.operations) {
    for (const o of op.outputs) into.add(o.name);
    for (const nb of op.blocks) {
      for (const i of nb.inputs) into.add(i.name);
      collectNames(nb, into);
    }
  }
}

function checkName(name: string, loc: Loc): void {
  if (!name) fail(loc, 'a non-empty identifier', 'an empty string');
}

function convertBlockInto(pb: PBlock, block: Block, scope: Scope, ctx: Ctx, loc: Loc): void {
  pb.operations.forEach((op, i) => convertOp(op, block, scope, ctx, at(loc, `operations[${i}]`)));
  block.setOutputs(
    pb.outputs.map((name, i) => {
      const v = scope.get(name);
      if (!v) fail(at(loc, `outputs[${i}]`), 'the name of a value defined in the block', `"${name}"`);
      return v!;
    }),
  );
}

function outputsOf(outs: readonly NamedValueType[], loc: Loc): Array<{ name: string; type: ReturnType<typeof typeFromProto> }> {
  return outs.map((o, i) => {
    checkName(o.name, at(loc, `outputs[${i}].name`));
    return { name: o.name, type: typeFromProto(o.type, at(loc, `outputs[${i}].type`), (k) => `${o.name}_d${k}`) };
  });
}

/** A const op holding `t`, named after the parameter it feeds. */
function constOp(ctx: Ctx, block: Block, base: string, t: Tensor): Value {
  const name = ctx.fn.freshName(base);
  ctx.constCount++;
  const op = new Op({ type: 'const', name, outputs: [{ name, type: tensorType(t.dtype, t.shape) }], attributes: { val: t } });
  block.append(op);
  return op.output;
}

function convertOp(pop: Operation, block: Block, scope: Scope, ctx: Ctx, loc: Loc): void {
  if (!pop.type) fail(at(loc, 'type'), 'an op type', 'an empty string');
  const nameAttr = pop.attributes.name;
  const opName = nameAttr ? stringFromValue(nameAttr, at(loc, 'attributes.name')) : pop.outputs[0]?.name ?? '';
  const oloc = { file: loc.file, path: `${loc.path} (${pop.type} "${opName}")` };
  const outputs = outputsOf(pop.outputs, oloc);

  if (pop.type === 'const') {
    const val = pop.attributes.val;
    if (!val) fail(at(oloc, 'attributes'), 'a "val" attribute on a const op (§9.2)', 'none');
    if (outputs.length !== 1) fail(at(oloc, 'outputs'), 'exactly one output for a const op', `${outputs.length}`);
    const t = tensorFromValue(val!, at(oloc, 'attributes.val'), ctx.resolveBlob);
    const op = new Op({ type: 'const', name: opName, outputs, attributes: { val: t } });
    block.append(op);
    scope.define(op.output, oloc);
    return;
  }

  if (!isRegisteredOp(pop.type)) ctx.unknownOps.add(pop.type);

  const inputs: Record<string, Value[]> = {};
  // iOS16-form constexpr parameters stored as attributes (§9.4)
  for (const [key, val] of Object.entries(pop.attributes)) {
    if (key === 'name') continue;
    if (!pop.type.startsWith('constexpr_')) {
      fail(at(oloc, `attributes.${key}`), `only "name" in the attributes of a ${pop.type} op (§9.3)`, `"${key}"`);
    }
    const t = tensorFromValue(val, at(oloc, `attributes.${key}`), ctx.resolveBlob);
    inputs[key] = [constOp(ctx, block, `${opName}_${key}`, t)];
  }
  for (const [param, arg] of Object.entries(pop.inputs)) {
    const ploc = at(oloc, `inputs.${param}`);
    if (inputs[param]) fail(ploc, `parameter "${param}" given once (not both as attribute and input)`);
    if (arg.arguments.length === 0) fail(ploc, 'at least one binding', 'none');
    inputs[param] = arg.arguments.map((b, i) => {
      const bl = at(ploc, `arguments[${i}]`);
      switch (b.binding.case) {
        case 'name': {
          const v = scope.get(b.binding.value);
          if (!v) fail(bl, 'the name of a value defined earlier (ops are topologically ordered, §7.3)', `"${b.binding.value}"`);
          return v!;
        }
        case 'value': {
          const t = tensorFromValue(b.binding.value, at(bl, 'value'), ctx.resolveBlob);
          return constOp(ctx, block, `${opName}_${param}`, t);
        }
        default:
          return fail(bl, 'a binding with name or value', 'neither');
      }
    });
  }
  if (outputs.length === 0 && pop.type !== 'write_state') {
    fail(at(oloc, 'outputs'), 'at least one output (only write_state has none, §15.7)', 'none');
  }
  // nested blocks (cond / while_loop): their inputs are new names in an inner scope
  const nested = pop.blocks.map((pb, bi) => {
    const bloc = at(oloc, `blocks[${bi}]`);
    const inner = new Scope(scope);
    const b = new Block();
    pb.inputs.forEach((nv, k) => {
      const iloc = at(bloc, `inputs[${k}]`);
      checkName(nv.name, at(iloc, 'name'));
      const val = new Value(nv.name, typeFromProto(nv.type, at(iloc, 'type'), (d) => `${nv.name}_d${d}`));
      b.addInput(val);
      inner.define(val, iloc);
    });
    return { pb, b, inner, bloc };
  });
  const op = new Op({ type: pop.type, name: opName, inputs, outputs });
  for (const n of nested) op.addBlock(n.b);
  block.append(op);
  for (const n of nested) convertBlockInto(n.pb, n.b, n.inner, ctx, n.bloc);
  for (const o of op.outputs) scope.define(o, oloc);
}

/** `Program.attributes.buildInfo` (§6): a dictionary of string → string. */
function readBuildInfo(p: PProgram, loc: Loc): Record<string, string> {
  const bi = p.attributes.buildInfo;
  if (!bi) return {};
  const bl = at(loc, 'attributes.buildInfo');
  const iv = bi.value.case === 'immediateValue' ? bi.value.value.value : undefined;
  if (!iv || iv.case !== 'dictionary') fail(bl, 'an immediate dictionary value', bi.value.case ?? 'none');
  const out: Record<string, string> = {};
  iv!.value.values.forEach((kv, i) => {
    if (!kv.key || !kv.value) fail(at(bl, `dictionary.values[${i}]`), 'a key and a value');
    out[stringFromValue(kv.key!, at(bl, `dictionary.values[${i}].key`))] = stringFromValue(kv.value!, at(bl, `dictionary.values[${i}].value`));
  });
  return out;
}
