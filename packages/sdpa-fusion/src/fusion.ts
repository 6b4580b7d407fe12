/**
 * The fusion rule: one decomposed attention block (see match.ts) → one
 * `scaled_dot_product_attention` (mil-ops.md §4, iOS18).
 *
 * Before (the `attention_decomposed` fixture, scale on q ahead of the head transpose):
 *
 * ```
 * %qs = mul(x = %q, y = %c0_125) : fp16[1, 16, 4, 64]
 * %qt = transpose(x = %qs, perm = %p) : fp16[1, 4, 16, 64]
 * %s  = matmul(x = %qt, y = %kt, transpose_x = %f, transpose_y = %t) : fp16[1, 4, 16, 16]
 * %a  = add(x = %s, y = %mask) : fp16[1, 4, 16, 16]
 * %p  = softmax(x = %a, axis = %m1) : fp16[1, 4, 16, 16]
 * %o  = matmul(x = %p, y = %vt, transpose_x = %f, transpose_y = %f) : fp16[1, 4, 16, 64]
 * ```
 *
 * After (0.125 = 1/√64 is SDPA's own scale, so it disappears; the transpose now reads q):
 *
 * ```
 * %qt = transpose(x = %q, perm = %p) : fp16[1, 4, 16, 64]
 * %o  = scaled_dot_product_attention(query = %qt, key = %kt, value = %vt, attn_mask = %mask) : fp16[1, 4, 16, 64]
 * ```
 *
 * A scale c other than 1/√E is folded into q: `query = mul(q, c·√E)` (mil-ops.md §4).
 * q, k and v whose batch dims broadcast are made equal with `expand_dims` + `tile` (SDPA
 * does not broadcast among them). A bool-converted mask `(1 - cast(m)) * -3e4` becomes the
 * bool `m` again. The fused op takes the root matmul's op and value names.
 */
import { type Builder, type Op, type Rewriter, type Rule, type Target, type Value, pat, rule } from '@silica/ir';
import { replaceKeepingName, scalarOf, tensorTypeOf } from './common.js';
import { type AttentionMatch, matchAttention } from './match.js';

export interface FusionCounters {
  fused: number;
  boolMasks: number;
  floatMasks: number;
  scaled: number;
  tiled: number;
}

export function newFusionCounters(): FusionCounters {
  return { fused: 0, boolMasks: 0, floatMasks: 0, scaled: 0, tiled: 0 };
}

/**
 * Brings `x` to rank R and batch dims `batch` with `expand_dims` (leading axes) and `tile`,
 * as coremltools does before emitting SDPA (mil-ops.md §4). Returns `x` when nothing is needed.
 */
function tileToBatch(b: Builder, x: Value, batch: AttentionMatch['batch'], counters: FusionCounters): Value {
  const t = tensorTypeOf(x)!;
  const R = batch.length + 2;
  let v = x;
  const missing = R - t.shape.length;
  if (missing > 0) {
    v = b.op('expand_dims', { x: v, axes: Array.from({ length: missing }, (_, i) => i) }) as Value;
  }
  const shape = tensorTypeOf(v)!.shape;
  const reps = shape.map((d, i) => (i < R - 2 && d !== batch[i] ? (batch[i] as number) : 1));
  if (reps.some((r) => r !== 1)) {
    v = b.op('tile', { x: v, reps }) as Value;
  }
  if (v !== x) counters.tiled++;
  return v;
}

/** Replaces the matched block by SDPA. Everything was checked by `matchAttention`; this only builds. */
export function fuse(m: AttentionMatch, rw: Rewriter, counters: FusionCounters): void {
  // transpose(mul(x, c)) -> transpose(x): the scale is accounted for in m.scale
  for (const r of m.rebinds) {
    rw.setInput(r.op, 'x', r.to);
    if (r.from.producer) rw.eraseDead(r.from.producer);
  }
  const b = rw.builder(m.root);
  const dtype = tensorTypeOf(m.query)!.dtype;
  let query = m.query;
  const multiplier = m.scale * Math.sqrt(m.embed);
  if (Math.abs(multiplier - 1) > m.scaleTolerance) {
    // softmax(c · q·kᵀ) = softmax((c·√E · q)·kᵀ / √E)
    query = b.mul({ x: query, y: scalarOf(dtype, multiplier) });
    counters.scaled++;
  }
  query = tileToBatch(b, query, m.batch, counters);
  const key = tileToBatch(b, m.key, m.batch, counters);
  const value = tileToBatch(b, m.value, m.batch, counters);
  const out = b.scaled_dot_product_attention({ query, key, value, attn_mask: m.mask?.value });
  if (m.mask?.kind === 'bool') counters.boolMasks++;
  else if (m.mask) counters.floatMasks++;
  replaceKeepingName(rw, m.root, out);
  counters.fused++;
}

/**
 * The rule, as data: its pattern is the root `matmul`; `matchAttention` reads the layers
 * below it (they are optional and commutative in ways one pattern cannot say).
 */
export function fusionRule(target: Target, recoverBoolMasks: boolean, counters: FusionCounters): Rule {
  return rule(
    // matmul(softmax(add(mul(matmul(q, k, transpose_y), c), mask)), v) -> scaled_dot_product_attention(q·c√E, k, v, mask)
    'fuse-scaled-dot-product-attention',
    pat.op('matmul', { x: pat.op('softmax', {}, { oneUse: true }) }),
    (match, rw) => {
      const m = matchAttention(match.root as Op, { target, recoverBoolMasks });
      if (!m) return undefined;
      fuse(m, rw, counters);
      return true;
    },
  );
}
