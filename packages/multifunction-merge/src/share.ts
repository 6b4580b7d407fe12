/**
 * Weight sharing by content (mlpackage-format.md §13.2 steps 3–4, ARCHITECTURE.md
 * "Content hash"):
 *
 *  - `TensorPool` makes every tensor whose (dtype, shape, bytes) equal an earlier one the
 *    SAME tensor object — at every size, LUTs and masks included. The writer caches blobs
 *    per tensor, so one blob (one `BlobFileValue` offset) serves every function.
 *  - `ConstKeys` gives each value computed by a const / constexpr chain a structural key:
 *    `c<id>` for a const (the id of its pooled tensor), `type{param=key,…}#output` for a
 *    constexpr op. Equal keys ⇒ the same computation over the same blobs.
 *  - `dedupeConstOps` merges, inside each block, const ops holding the same tensor and
 *    then constexpr ops with the same type and identical inputs (coremltools'
 *    `const_deduplication`, without its size threshold and its tolerance).
 *  - `removeDeadConstOps` drops const / constexpr ops a rewrite left without users.
 *
 * Functions cannot reference each other's values, so across functions "sharing" means
 * identical tensors (hence identical blobs) under identical constexpr ops.
 */
import { type Block, type Function as Fn, type Op, type Tensor, type Value, clearConstCache } from '@silica/ir';
import { sameContent } from './tensors.js';

/** Canonical tensors: the first tensor of each content stands for all equal ones. */
export class TensorPool {
  /** Distinct tensors by `dtype[shape]`, in first-seen order. */
  private readonly buckets = new Map<string, Tensor[]>();
  private readonly ids = new Map<Tensor, number>();

  /** The canonical tensor equal to `t` (`t` itself when it is the first of its content). */
  canonical(t: Tensor): Tensor {
    if (this.ids.has(t)) return t;
    const key = `${t.dtype}[${t.shape.join(',')}]`;
    const bucket = this.buckets.get(key);
    if (bucket) {
      // hashes are cached per tensor: a bucket of n distinct tensors costs n hashes, not n²
      for (const r of bucket) if (sameContent(r, t)) return r;
      bucket.push(t);
    } else {
      this.buckets.set(key, [t]);
    }
    this.ids.set(t, this.ids.size);
    return t;
  }

  /** The id of a canonical tensor (pooling it first if needed). */
  id(t: Tensor): number {
    return this.ids.get(this.canonical(t))!;
  }
}

/** Replaces every tensor attribute of `fn`'s ops by its canonical tensor; returns how many changed. */
export function canonicalizeTensors(fn: Fn, pool: TensorPool): number {
  let changed = 0;
  for (const op of fn.walk()) {
    for (const [k, t] of op.attributes) {
      const c = pool.canonical(t);
      if (c !== t) {
        op.attributes.set(k, c);
        for (const o of op.outputs) clearConstCache(o);
        changed++;
      }
    }
  }
  return changed;
}

/** Structural keys of values computed from constants only (see the module comment). */
export class ConstKeys {
  private readonly memo = new Map<Op, string | null>();
  constructor(private readonly pool: TensorPool) {}

  /** Key of `v`, or null when `v` is not the output of a const / constexpr chain. */
  key(v: Value): string | null {
    const p = v.producer;
    if (!p) return null;
    const k = this.opKey(p);
    if (k === null) return null;
    return p.type === 'const' ? k : `${k}#${v.index}`;
  }

  /** Key of a const or constexpr op (null for any other op or a chain that reads a non-constant). */
  opKey(op: Op): string | null {
    const hit = this.memo.get(op);
    if (hit !== undefined) return hit;
    let k: string | null = null;
    if (op.type === 'const') {
      const t = op.constValue;
      k = t ? `c${this.pool.id(t)}` : null;
    } else if (op.isConstexpr) {
      const parts: string[] = [];
      let constant = true;
      for (const param of [...op.inputs.keys()].sort()) {
        const vs = op.inputs.get(param)!.map((v) => this.key(v));
        if (vs.some((x) => x === null)) {
          constant = false;
          break;
        }
        parts.push(`${param}=${vs.join(',')}`);
      }
      if (constant) {
        for (const a of [...op.attributes.keys()].sort()) parts.push(`@${a}=c${this.pool.id(op.attributes.get(a)!)}`);
        k = `${op.type}{${parts.join(';')}}`;
      }
    }
    this.memo.set(op, k);
    return k;
  }
}

/** Does any output of `op` leave its block (a function or nested-block output)? */
function feedsBlockOutput(op: Op): boolean {
  return op.outputs.some((o) => o.uses.some((u) => u.kind === 'output'));
}

/**
 * Inside each block of `fn`, replaces every const / constexpr op whose key equals an
 * earlier op's key by that op (uses rewired, duplicate removed). An op whose output is a
 * block output is never removed (that would rename a function output), though later
 * duplicates may be merged into it. Returns the number of ops removed.
 */
export function dedupeConstOps(fn: Fn, keys: ConstKeys): number {
  let removed = 0;
  const visit = (block: Block): void => {
    const first = new Map<string, Op>();
    for (const op of [...block.ops]) {
      for (const b of op.blocks) visit(b);
      if (op.type !== 'const' && !op.isConstexpr) continue;
      const k = keys.opKey(op);
      if (k === null) continue;
      const kept = first.get(k);
      if (!kept) {
        first.set(k, op);
        continue;
      }
      if (feedsBlockOutput(op)) continue;
      op.outputs.forEach((o, i) => o.replaceAllUsesWith(kept.outputs[i]));
      for (const x of op.operands()) if (x.producer) orphans.push(x.producer);
      block.remove(op);
      removed++;
    }
  };
  const orphans: Op[] = [];
  visit(fn.block);
  // inputs of a removed duplicate that were not merged themselves (e.g. kept for a block output)
  return removed + removeDeadConstOps(orphans);
}

/**
 * Removes the const / constexpr ops among `candidates` (and, transitively, their const /
 * constexpr producers) that no longer have any user. Returns how many were removed.
 */
export function removeDeadConstOps(candidates: Iterable<Op>): number {
  const work = [...candidates];
  let removed = 0;
  while (work.length > 0) {
    const op = work.pop()!;
    if (!op.parent || (op.type !== 'const' && !op.isConstexpr)) continue;
    if (op.outputs.some((o) => o.uses.length > 0)) continue;
    const producers = op.operands().map((v) => v.producer).filter((p): p is Op => p !== null);
    op.parent.remove(op);
    removed++;
    work.push(...producers);
  }
  return removed;
}

/** The distinct non-string tensors `fn` holds (after pooling, identity = content). */
export function tensorsOf(fn: Fn): Set<Tensor> {
  const s = new Set<Tensor>();
  for (const op of fn.walk()) for (const t of op.attributes.values()) if (t.dtype !== 'string') s.add(t);
  return s;
}

/** Total stored bytes of a set of tensors (packed bytes; strings count 0). */
export function bytesOf(tensors: Iterable<Tensor>): number {
  let n = 0;
  for (const t of tensors) n += t.dtype === 'string' ? 0 : t.byteLength;
  return n;
}
