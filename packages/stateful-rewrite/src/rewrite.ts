/**
 * Turns one planned (input, output) pair into a state, through the Rewriter:
 *
 * ```
 * %k_cache: fp16[1, 4, 32, 64]  (input)            %k_cache: state<fp16[1, 4, 32, 64]>  (input)
 *                                                  %k_cache_read = read_state(input = %k_cache)
 * %t = transpose(…)                                %t = transpose(…)
 * %k_out = slice_update(x = %k_cache, …)     ->    %k_out = slice_update(x = %k_cache_read, …)
 *                                                  write_state(input = %k_cache, data = %k_out)
 *                                                  %k_cache_updated = read_state(input = %k_cache)
 * %s = matmul(x = %q, y = %k_out, …)               %s = matmul(x = %q, y = %k_cache_updated, …)
 * … -> (%y, %k_out)                                … -> (%y)
 * ```
 *
 * The canonical in-place pattern of mil-ops.md §2.3 (coremltools'
 * `canonicalize_inplace_pattern` + `prefer_state_in_downstream`): the write goes right
 * after the op that produced the new contents, downstream readers read the state again
 * after the write, and that second `read_state` exists only when something reads it
 * (§2.3: "followed, only if the output is used, by read_state"). The first `read_state`
 * goes just before the first reader of the old contents, above the ops right before it
 * that exist only to feed it (the transpose of the new key in a KV cache), so nothing
 * else sits between the read and its update — the order coremltools' stateful models
 * have (fixture kv_cache_stateful).
 *
 * Two variations:
 *  - `convert`: an fp32 cache becomes an fp16 state; `cast` ops at the boundary (after
 *    each read, before the write) keep the rest of the function in fp32.
 *  - `pad`: the state's sequence axis is padded to a multiple of `padTo`. Readers of the
 *    old and the updated contents get `slice_by_index` views of the first `from`
 *    positions, so every value the function computes is unchanged. When the new contents
 *    come from a `slice_update` of the old (`direct`), that slice_update writes straight
 *    into the padded read (its indices address the same positions); otherwise the new
 *    contents are written into the padded read at `[0, from)` with one more slice_update.
 */
import {
  type Builder,
  type Function as Fn,
  type Op,
  type Rewriter,
  type TensorType,
  type Use,
  type Value,
  stateType,
  tensorType,
} from '@silica/ir';
import { DATA_OPERANDS, type UpdatePath } from './analysis.js';

export interface Padding {
  readonly axis: number;
  /** The cache's size along `axis`. */
  readonly from: number;
  /** The state's size along `axis` (a multiple of padTo). */
  readonly to: number;
  /** The new contents come from a slice_update of the old one that can write into the padded state directly. */
  readonly direct: boolean;
}

export interface Plan {
  readonly fn: Fn;
  readonly input: Value;
  readonly output: Value;
  readonly path: UpdatePath;
  /** fp32 cache → fp16 state with casts at the boundary. */
  readonly convert: boolean;
  readonly pad?: Padding;
}

interface OperandUse {
  readonly op: Op;
  readonly param: string;
}

/** The (op, parameter) pairs that read `v`, each once. */
function operandUses(v: Value): OperandUse[] {
  const out: OperandUse[] = [];
  for (const u of v.uses) {
    if (u.kind !== 'op') continue;
    if (!out.some((x) => x.op === u.op && x.param === u.param)) out.push({ op: u.op, param: u.param });
  }
  return out;
}

/** Rebinds every occurrence of `from` in `op.param` to `to`, in place (parameter order kept). */
function rebind(rw: Rewriter, use: OperandUse, from: Value, to: Value): void {
  const vs = use.op.inputs.get(use.param);
  if (!vs) throw new Error(`stateful-rewrite: internal: op ${use.op.type} "${use.op.name}" no longer binds "${use.param}"`);
  vs.forEach((v, i) => {
    if (v === from) rw.replaceOperand(use.op, use.param, i, to);
  });
}

/** A value name not yet used in `fn` (`base`, `base_1`, …); the builder claims it. */
function freeName(fn: Fn, base: string): string {
  const names = fn.allNames();
  let name = base;
  for (let i = 1; names.has(name); i++) name = `${base}_${i}`;
  return name;
}

/** A builder inserting right after `op` (appending when it is the last op of its block). */
function builderAfter(rw: Rewriter, op: Op): Builder {
  const block = op.parent!;
  const next = block.ops[block.ops.indexOf(op) + 1];
  return next ? rw.builder(next) : rw.builder(op).atEnd();
}

/**
 * Where the first read_state goes: before the first top-level op that reads `input`,
 * moved up over the ops directly above it that exist only to compute the data that op
 * writes (the transpose of the new key feeding a KV cache's slice_update `update`), so
 * the read sits next to its update as in coremltools' stateful models. Index operands
 * (`begin`, `end`, `axis`) do not count: their producers stay below the read.
 */
function readAnchor(fn: Fn, input: Value): Op {
  const ops = fn.block.ops;
  const topLevel = (op: Op): Op => {
    let o = op;
    while (o.parent !== fn.block) {
      const up = o.parent?.parentOp;
      if (!up) throw new Error(`stateful-rewrite: internal: op ${op.type} "${op.name}" is not in function "${fn.name}"`);
      o = up;
    }
    return o;
  };
  let first = Infinity;
  for (const u of input.uses) if (u.kind === 'op') first = Math.min(first, ops.indexOf(topLevel(u.op)));
  if (!Number.isFinite(first)) throw new Error(`stateful-rewrite: internal: input "${input.name}" has no reader`);
  const run = new Set<Op>([ops[first]]);
  const feedsData = (u: Use): boolean => {
    if (u.kind !== 'op' || !run.has(u.op)) return false;
    return u.op === ops[first] ? (DATA_OPERANDS[u.op.type] ?? []).includes(u.param) : true;
  };
  let i = first;
  while (i > 0) {
    const p = ops[i - 1];
    if (p.type === 'read_state' || p.type === 'write_state' || p.type === 'const' || p.outputs.length === 0) break;
    if (!p.outputs.every((o) => o.uses.length > 0 && o.uses.every(feedsData))) break;
    run.add(p);
    i--;
  }
  return ops[i];
}

/** Drops the outputs of `plans` from their functions' signatures, one rewrite of the output list per function. */
export function removeOutputs(plans: readonly Plan[]): void {
  for (const fn of new Set(plans.map((p) => p.fn))) {
    const gone = new Set(plans.filter((p) => p.fn === fn).map((p) => p.output));
    fn.block.setOutputs(fn.block.outputs.filter((v) => !gone.has(v)));
  }
}

/** Applies `plan`; returns the number of changes the rewriter made (inserted ops and rebound operands). */
export function applyPlan(plan: Plan, rw: Rewriter): number {
  const { fn, input, output, pad } = plan;
  const block = fn.block;
  const producer = output.producer;
  if (!producer || producer.parent !== block) {
    throw new Error(`stateful-rewrite: internal: output "${output.name}" of function "${fn.name}" is not produced in its top block`);
  }
  const cache = input.type as TensorType;
  const shape = cache.shape as readonly number[];
  const stateShape = pad ? shape.map((d, i) => (i === pad.axis ? pad.to : d)) : [...shape];
  const zeros = shape.map(() => 0);
  const base = input.name;
  const before = rw.changes;

  const anchor = readAnchor(fn, input);
  const inputUses = operandUses(input);

  // the output leaves the function's signature (and its description entry); removeOutputs
  // does this for all of a function's pairs at once, before the plans are applied
  if (block.outputs.includes(output)) block.setOutputs(block.outputs.filter((v) => v !== output));
  fn.io.delete(output.name);
  const desc = fn.io.get(input.name);
  if (desc) {
    // a state is described by its type and shortDescription only (mlpackage-format.md §5.4)
    if (desc.shortDescription !== undefined) fn.io.set(input.name, { shortDescription: desc.shortDescription });
    else fn.io.delete(input.name);
  }
  const downstream = operandUses(output);

  // mlpackage-format.md §14: a state is a function input of type state<tensor<fp16, …>>
  input.type = stateType(tensorType('fp16', stateShape));

  const rb = rw.builder(anchor);
  const read = rb.read_state({ input }, { name: freeName(fn, `${base}_read`) });
  const direct = pad?.direct === true;
  const needsView = inputUses.some((u) => !(direct && u.op === producer && u.param === 'x'));
  let old: Value = read;
  if (needsView) {
    if (pad) old = rb.slice_by_index({ x: old, begin: zeros, end: [...shape] }, { name: freeName(fn, `${base}_read_sliced`) });
    if (plan.convert) old = rb.cast({ x: old, dtype: 'fp32' }, { name: freeName(fn, `${base}_read_fp32`) });
  }
  for (const u of inputUses) rebind(rw, u, input, direct && u.op === producer && u.param === 'x' ? read : old);
  if (direct) {
    // the slice_update now writes into the padded contents: its result has the state's shape
    output.type = tensorType('fp16', stateShape);
  }

  const wb = builderAfter(rw, producer);
  let next: Value = output;
  if (plan.convert) next = wb.cast({ x: next, dtype: 'fp16' }, { name: freeName(fn, `${base}_next_fp16`) });
  if (pad && !direct) {
    next = wb.slice_update({ x: read, update: next, begin: zeros, end: [...shape] }, { name: freeName(fn, `${base}_next_padded`) });
  }
  wb.write_state({ input, data: next }, { name: freeName(fn, `${base}_write_state`) });
  if (downstream.length > 0) {
    let updated = wb.read_state({ input }, { name: freeName(fn, `${base}_updated`) });
    if (pad) updated = wb.slice_by_index({ x: updated, begin: zeros, end: [...shape] }, { name: freeName(fn, `${base}_updated_sliced`) });
    if (plan.convert) updated = wb.cast({ x: updated, dtype: 'fp32' }, { name: freeName(fn, `${base}_updated_fp32`) });
    for (const u of downstream) rebind(rw, u, output, updated);
  }
  return rw.changes - before;
}
