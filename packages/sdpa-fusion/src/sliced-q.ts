/**
 * coremltools' `scaled_dot_product_attention_sliced_q` (mil-ops.md §4, last paragraph;
 * `passes/defs/transformer.py`): an iOS18 SDPA whose query length L ≥ `minSeqLength` is
 * computed in `seqLengthDivider` chunks of Q, so no [L, S] score matrix is ever whole.
 *
 * ```
 * %o = scaled_dot_product_attention(query = %q, key = %k, value = %v, attn_mask = %m) : fp16[1, 8, 2048, 64]
 * ```
 *
 * becomes, for each chunk [a, b) of L (sizes ⌊L/n⌋, the first L mod n one longer; see splitToChunks):
 *
 * ```
 * %qi = slice_by_index(x = %q, begin = [0, 0, a, 0], end = [1, 8, b, 64], end_mask = [true, true, false, true])
 * %si = matmul(x = %qi, y = %k, transpose_x = false, transpose_y = true)
 * %ti = mul(x = %si, y = 1/√E)
 * %ui = add(x = %ti, y = %mi)                     %mi = the mask's rows [a, b) (whole when its L dim is 1)
 * %pi = softmax(x = %ui, axis = -1)
 * %oi = matmul(x = %pi, y = %v, transpose_x = false, transpose_y = false)
 * ```
 *
 * and `%o = concat(values = (%o0, …, %on), axis = -2)`. A bool mask is made additive once
 * with `select(m, 0, -inf)`. Unlike coremltools, the chunks are joined by one concat (not
 * a chain of pairwise concats) and a mask of any rank is sliced along its L axis.
 */
import { type Builder, type Op, type Rewriter, type Rule, type Value, pat, rule } from '@silica/ir';
import { replaceKeepingName, scalarOf, tensorTypeOf } from './common.js';
import { sdpaOperands } from './lowering.js';

/**
 * coremltools' `_split_to_chunks`: `count` chunks of ⌊n/count⌋ rows, the first n mod count
 * one longer. When n < count every chunk is one row (coremltools would make them two rows
 * each there, the last running past n).
 */
export function splitToChunks(length: number, count: number): Array<[number, number]> {
  const size = Math.floor(length / count);
  if (size === 0) return Array.from({ length }, (_, i): [number, number] => [i, i + 1]);
  const remainder = length % count;
  const out: Array<[number, number]> = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const end = start + size + (i < remainder ? 1 : 0);
    out.push([start, end]);
    start = end;
  }
  return out;
}

/** `x[…, a:b, :]` along axis -2 (every other axis whole, through `end_mask`). */
function sliceRows(b: Builder, x: Value, start: number, end: number): Value {
  const shape = tensorTypeOf(x)!.shape;
  const r = shape.length;
  const begin = shape.map((_, i) => (i === r - 2 ? start : 0));
  const stop = shape.map((d, i) => (i === r - 2 ? end : typeof d === 'number' ? d : 0));
  const endMask = shape.map((_, i) => i !== r - 2);
  return b.slice_by_index({ x, begin, end: stop, end_mask: endMask });
}

export interface SlicedQCounters {
  sliced: number;
  chunks: number;
}

/** Rewrites one SDPA op into chunks; returns false (changing nothing) when L is below the threshold or not static. */
export function sliceQ(op: Op, rw: Rewriter, pass: string, minSeqLength: number, divider: number, counters: SlicedQCounters): boolean {
  const s = sdpaOperands(op, pass);
  const qShape = tensorTypeOf(s.query)!.shape;
  const L = qShape[qShape.length - 2];
  if (typeof L !== 'number' || L < minSeqLength) return false;
  const b = rw.builder(op);
  let mask: Value | undefined;
  let sliceMask = false;
  if (s.mask) {
    const mt = tensorTypeOf(s.mask)!;
    // true = attend: 0 where true, -inf where false
    if (mt.dtype === 'bool') mask = b.op('select', { cond: s.mask, a: scalarOf(s.dtype, 0), b: scalarOf(s.dtype, -Infinity) }) as Value;
    else mask = mt.dtype === s.dtype ? s.mask : b.cast({ x: s.mask, dtype: s.dtype });
    sliceMask = mt.shape.length >= 2 && mt.shape[mt.shape.length - 2] !== 1;
  }
  const scale = b.const(scalarOf(s.dtype, 1 / Math.sqrt(s.embed))); // one constant for every chunk
  const chunks = splitToChunks(L, divider);
  const outs: Value[] = [];
  for (const [start, end] of chunks) {
    const qi = sliceRows(b, s.query, start, end);
    let scores = b.matmul({ x: qi, y: s.key, transpose_x: false, transpose_y: true });
    scores = b.mul({ x: scores, y: scale });
    if (mask) scores = b.add({ x: scores, y: sliceMask ? sliceRows(b, mask, start, end) : mask });
    const probs = b.softmax({ x: scores, axis: -1 });
    outs.push(b.matmul({ x: probs, y: s.value, transpose_x: false, transpose_y: false }));
  }
  const out = outs.length === 1 ? outs[0] : b.concat({ values: outs, axis: -2, interleave: false });
  replaceKeepingName(rw, op, out);
  counters.sliced++;
  counters.chunks += chunks.length;
  return true;
}

export function slicedQRule(pass: string, minSeqLength: number, divider: number, counters: SlicedQCounters): Rule {
  return rule(
    // scaled_dot_product_attention(q, k, v, m) with L ≥ minSeqLength -> concat(sdpa_decomposed(q[…, chunk, :], k, v, m[…, chunk, :]) per chunk, axis = -2)
    'slice-q-of-scaled-dot-product-attention',
    pat.op('scaled_dot_product_attention'),
    (m, rw) => sliceQ(m.root, rw, pass, minSeqLength, divider, counters) || undefined,
  );
}
