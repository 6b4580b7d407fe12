/**
 * scaled_dot_product_attention (mil-ops.md §4), computed as one fused op in fp32 (an
 * fp16 output is rounded once, at the end, like any fp16 op output):
 *
 *   A = q · kᵀ / √E;  A += where(mask, 0, −inf) for a bool mask (true = attend)
 *                     or A += mask for a float mask;  out = softmax(A) · v
 */
import { broadcastShapes, broadcastTo } from '../broadcast.js';
import { gemmNT, transpose2d } from '../gemm.js';
import type { Kernel } from '../kernel.js';
import { fmt, kindOf, rt, sizeOf } from '../rtensor.js';
import { softmaxStrided } from './reduce.js';

const sdpa: Kernel = (ctx) => {
  const q = ctx.tensor('query');
  const k = ctx.tensor('key');
  const v = ctx.tensor('value');
  const mask = ctx.optional('attn_mask');
  for (const [name, t] of [['query', q], ['key', k], ['value', v]] as const) {
    if (!(t.data instanceof Float32Array)) ctx.fail(`must be fp16 or fp32, got ${fmt(t)}`, name);
  }
  const r = q.shape.length;
  if (r < 3) ctx.fail(`must have rank ≥ 3 ([B…, L, E]), got ${fmt(q)}`, 'query');
  if (k.shape.length !== r || v.shape.length !== r) ctx.fail(`query, key and value must have the same rank, got ${fmt(q)}, ${fmt(k)}, ${fmt(v)}`);
  const batch = q.shape.slice(0, -2);
  if (!batch.every((d, i) => d === k.shape[i] && d === v.shape[i])) {
    ctx.fail(`query, key and value must have the same batch dims (no broadcasting among them), got ${fmt(q)}, ${fmt(k)}, ${fmt(v)}`);
  }
  const L = q.shape[r - 2];
  const E = q.shape[r - 1];
  const S = k.shape[r - 2];
  const EV = v.shape[r - 1];
  if (k.shape[r - 1] !== E) ctx.fail(`key ${fmt(k)} must have E = ${E} (the last dim of query) as its last dim`, 'key');
  if (v.shape[r - 2] !== S) ctx.fail(`value ${fmt(v)} must have S = ${S} (the sequence dim of key) at axis ${r - 2}`, 'value');
  const scoreShape = [...batch, L, S];
  let maskData: ArrayLike<number> | undefined;
  let boolMask = false;
  if (mask) {
    const mk = kindOf(mask.dtype);
    if (mk !== 'bool' && mk !== 'float') ctx.fail(`must be bool, fp16 or fp32, got ${fmt(mask)}`, 'attn_mask');
    let b: number[] | undefined;
    try {
      b = broadcastShapes([mask.shape, scoreShape]);
    } catch {
      b = undefined;
    }
    if (!b || b.length !== scoreShape.length || !b.every((d, i) => d === scoreShape[i])) {
      ctx.fail(`shape ${fmt(mask)} does not broadcast to the score shape [${scoreShape.join(', ')}]`, 'attn_mask');
    }
    maskData = broadcastTo(mask.data, mask.shape, scoreShape);
    boolMask = mk === 'bool';
  }
  const nb = sizeOf(batch);
  const Q = q.data as Float32Array;
  const K = k.data as Float32Array;
  const V = v.data as Float32Array;
  const scale = 1 / Math.sqrt(E);
  const scores = new Float32Array(L * S);
  const probs = new Float32Array(L * S);
  const vT = new Float32Array(S * EV);
  const out = new Float32Array(nb * L * EV);
  for (let b = 0; b < nb; b++) {
    gemmNT(L, S, E, Q, b * L * E, K, b * S * E, scores, 0);
    const mo = b * L * S;
    for (let i = 0; i < L * S; i++) {
      let a = scores[i] * scale;
      if (maskData) a = boolMask ? (maskData[mo + i] ? a : -Infinity) : a + maskData[mo + i];
      scores[i] = a;
    }
    softmaxStrided(scores, probs, L, S, 1);
    transpose2d(V, b * S * EV, S, EV, vT, 0);
    gemmNT(L, EV, S, probs, 0, vT, 0, out, b * L * EV);
  }
  return [rt('fp32', [...batch, L, EV], out)];
};

export const ATTENTION_KERNELS: Record<string, Kernel> = { scaled_dot_product_attention: sdpa };
