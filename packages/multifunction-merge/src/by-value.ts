/**
 * Sharing by decompressed value (`shareByValue: true`).
 *
 * Two sources compressed separately can hold the same weight under different encodings —
 * a permuted LUT with re-mapped indices, a dense const beside a palettized copy of it —
 * so their blobs differ although every element of the weight is equal. Here each weight
 * (a const / constexpr value read by a real op) is decompressed with the registry's
 * constexpr evaluation (`constValueOf`, mil-ops.md §1), its dense tensor hashed, equal
 * hashes confirmed by the dense bytes, and every member of a group of equal weights is
 * rewritten to a copy of ONE encoding over the same tensors — so the blobs of that
 * encoding are stored once and the others disappear:
 *
 * ```
 * func @a:  %w = constexpr_lut_to_dense(indices = %i, lut = %l)      (kept)
 * func @b:  %w = constexpr_lut_to_dense(indices = %j, lut = %m)  ->  %w_1 = constexpr_lut_to_dense(indices = %i', lut = %l')
 *           (same dense values, other bytes)                          (%i', %l' hold the very tensors of @a's %i, %l)
 * ```
 *
 * The kept encoding is the one that stores the fewest bytes (the earliest on a tie), so
 * sharing never makes a function's weights bigger. Decompressed tensors are dropped from
 * the constant cache right after they are hashed or compared: at most two dense weights
 * are alive at a time.
 */
import {
  type Block,
  type Function as Fn,
  Op,
  type Target,
  type Tensor,
  type Value,
  clearConstCache,
  constValueOf,
  isStaticShape,
} from '@silica/ir';
import { MergeError } from './errors.js';
import { type ConstKeys, bytesOf } from './share.js';
import { sameContent } from './tensors.js';

/** One weight held under a different encoding than the kept one, and where. */
export interface ValueShare {
  readonly dtype: string;
  readonly shape: readonly number[];
  /** `function/value` of the encoding kept. */
  readonly kept: string;
  /** `function/value` of every weight rewritten to a copy of the kept encoding. */
  readonly rewritten: readonly string[];
}

export interface ValueSharingResult {
  /** Groups of equal weights that were held under more than one encoding. */
  readonly shares: readonly ValueShare[];
  /** Weights rewritten to the kept encoding. */
  readonly rewritten: number;
  /** Const / constexpr ops the rewrites left unused. */
  readonly orphans: Op[];
  /** The rewritten weights, for `restoreNames` once the orphans are removed. */
  readonly renames: readonly Rename[];
}

interface Member {
  readonly fn: Fn;
  readonly value: Value;
  /** Structural key (ConstKeys): equal keys are the same encoding over the same tensors. */
  readonly key: string;
  /** The const / constexpr ops computing `value`, in block order. */
  readonly chain: readonly Op[];
  /** Bytes stored by the chain's distinct tensors. */
  readonly bytes: number;
  readonly order: number;
}

/** Shares equal weights across (and inside) `functions` by value; see the module comment. */
export function shareByValue(functions: readonly Fn[], target: Target, keys: ConstKeys): ValueSharingResult {
  const groups = new Map<string, Member[]>();
  let order = 0;
  for (const fn of functions) {
    const positions = new Map<Block, Map<Op, number>>();
    for (const op of fn.walk()) {
      if (op.type !== 'const' && !op.isConstexpr) continue;
      for (const v of op.outputs) {
        if (!isWeight(v)) continue;
        const key = keys.key(v);
        const chain = key === null ? null : chainOf(v, positions);
        if (key === null || chain === null) continue;
        const t = v.type as { dtype: string; shape: readonly number[] };
        const g = `${t.dtype}[${t.shape.join(',')}]`;
        const tensors = new Set<Tensor>();
        for (const c of chain) for (const x of c.attributes.values()) tensors.add(x);
        const list = groups.get(g) ?? [];
        list.push({ fn, value: v, key, chain, bytes: bytesOf(tensors), order: order++ });
        groups.set(g, list);
      }
    }
  }

  const shares: ValueShare[] = [];
  const orphans: Op[] = [];
  const renames: Rename[] = [];
  let rewritten = 0;
  for (const members of groups.values()) {
    // only groups with several encodings, at least one of them compressed, can gain
    const encodings = new Map<string, Member[]>();
    for (const m of members) encodings.set(m.key, [...(encodings.get(m.key) ?? []), m]);
    if (encodings.size < 2 || !members.some((m) => m.value.producer!.isConstexpr)) continue;
    // hash each encoding's dense value once
    const byHash = new Map<string, Member[][]>();
    for (const same of encodings.values()) {
      const h = withDense(same[0], target, (d) => d.hash().hex);
      byHash.set(h, [...(byHash.get(h) ?? []), same]);
    }
    for (const candidates of byHash.values()) {
      if (candidates.length < 2) continue;
      const kept = candidates
        .map((same) => same[0])
        .reduce((best, m) => (m.bytes < best.bytes || (m.bytes === best.bytes && m.order < best.order) ? m : best));
      const done: string[] = [];
      withDense(kept, target, (keptDense) => {
        for (const same of candidates) {
          if (same[0].key === kept.key) continue;
          // the hash only buckets: confirm element bytes before sharing
          if (!withDense(same[0], target, (d) => sameContent(d, keptDense))) continue;
          for (const m of same) {
            orphans.push(...m.chain);
            const copy = copyChain(kept, m, renames);
            m.value.replaceAllUsesWith(copy);
            renames.push({ fn: m.fn, target: copy, wanted: m.value.name });
            done.push(`${m.fn.name}/${m.value.name}`);
            rewritten++;
          }
        }
      });
      if (done.length > 0) {
        const t = kept.value.type as { dtype: string; shape: readonly number[] };
        shares.push({ dtype: t.dtype, shape: [...t.shape], kept: `${kept.fn.name}/${kept.value.name}`, rewritten: done });
      }
    }
  }
  return { shares, rewritten, orphans, renames };
}

/** A name a copied value or op should take back once the op it replaced is gone. */
export interface Rename {
  readonly fn: Fn;
  readonly target: Value | Op;
  readonly wanted: string;
}

/**
 * Gives the copied values and ops the names they stand for — the replaced weight's name
 * for the copied weight, the kept chain's names for its intermediate values — when those
 * names are free (after dead-code removal), so a rewritten function keeps its names.
 * Returns how many were renamed.
 */
export function restoreNames(renames: readonly Rename[]): number {
  let n = 0;
  for (const { fn, target, wanted } of renames) {
    if (target.name === wanted || fn.findValue(wanted) || fn.findOp(wanted)) continue;
    if (target instanceof Op) {
      target.name = wanted;
    } else {
      const op = target.producer!;
      if (op.outputs.length === 1 && op.name === target.name) op.name = wanted;
      target.name = wanted;
    }
    fn.allNames().add(wanted);
    n++;
  }
  return n;
}

/** A weight: a static tensor read by at least one real (non-constexpr) op and not returned as a block output. */
function isWeight(v: Value): boolean {
  if (v.type.kind !== 'tensor' || !isStaticShape(v.type.shape)) return false;
  if (v.uses.some((u) => u.kind === 'output')) return false;
  return v.uses.some((u) => u.kind === 'op' && !u.op.isConstexpr);
}

/** The const / constexpr ops computing `v`, in block order; null when they span blocks. */
function chainOf(v: Value, positions: Map<Block, Map<Op, number>>): Op[] | null {
  const root = v.producer!;
  const block = root.parent!;
  const ops = new Set<Op>();
  const stack = [root];
  while (stack.length > 0) {
    const op = stack.pop()!;
    if (ops.has(op)) continue;
    if (op.parent !== block || (op.type !== 'const' && !op.isConstexpr)) return null;
    ops.add(op);
    for (const x of op.operands()) {
      if (!x.producer) return null;
      stack.push(x.producer);
    }
  }
  let pos = positions.get(block);
  if (!pos) {
    pos = new Map(block.ops.map((op, i) => [op, i]));
    positions.set(block, pos);
  }
  const at = pos;
  return [...ops].sort((a, b) => at.get(a)! - at.get(b)!);
}

/** Runs `f` on the dense value of `m`, then drops every cached constant of its chain. */
function withDense<T>(m: Member, target: Target, f: (dense: Tensor) => T): T {
  try {
    let dense: Tensor | undefined;
    try {
      dense = constValueOf(m.value, target);
    } catch (e) {
      throw new MergeError(`shareByValue: cannot decompress "${m.value.name}" of function "${m.fn.name}": ${(e as Error).message}`);
    }
    if (!dense) throw new MergeError(`shareByValue: "${m.value.name}" of function "${m.fn.name}" has no constant value (its chain cannot be evaluated)`);
    return f(dense);
  } finally {
    for (const op of m.chain) for (const o of op.outputs) clearConstCache(o);
  }
}

/**
 * Copies the chain of `kept` into the block of `into`'s weight, right before the op that
 * produces it (so before every user), with fresh names (recorded in `renames` to be
 * restored later); the copies hold the same tensor objects. Returns the copy of the kept
 * weight.
 */
function copyChain(kept: Member, into: Member, renames: Rename[]): Value {
  const fn = into.fn;
  const anchor = into.value.producer!;
  const block = anchor.parent!;
  const map = new Map<Value, Value>();
  for (const op of kept.chain) {
    const outNames = op.outputs.map((o) => fn.freshName(o.name));
    const single = op.outputs.length === 1 && op.name === op.outputs[0].name;
    const name = single ? outNames[0] : freshOpName(fn, op.name);
    const inputs: Record<string, Value[]> = {};
    for (const [param, vs] of op.inputs) inputs[param] = vs.map((v) => map.get(v)!);
    const copy = new Op({
      type: op.type,
      name,
      inputs,
      outputs: op.outputs.map((o, i) => ({ name: outNames[i], type: o.type })),
      attributes: Object.fromEntries(op.attributes),
    });
    block.insertBefore(anchor, copy);
    op.outputs.forEach((o, i) => {
      map.set(o, copy.outputs[i]);
      if (o !== kept.value) renames.push({ fn, target: copy.outputs[i], wanted: o.name });
    });
    if (!single) renames.push({ fn, target: copy, wanted: op.name });
  }
  return map.get(kept.value)!;
}

/** An op name used by no value and no op of `fn`. */
function freshOpName(fn: Fn, base: string): string {
  for (let i = 0; ; i++) {
    const name = i === 0 ? base : `${base}_${i}`;
    if (!fn.allNames().has(name) && !fn.findOp(name)) {
      fn.allNames().add(name);
      return name;
    }
  }
}
