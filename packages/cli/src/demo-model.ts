/**
 * The `silica demo` model: a small pre-norm transformer decoder built with the IR
 * Builder, with seeded random weights, explicit KV-cache inputs and outputs written at
 * `pos` with `slice_update` (as a converter exports a decoder for Core ML before iOS18),
 * and attention written out op by op:
 *
 * ```
 * h = x
 * per layer i:
 *   a = layer_norm(h)
 *   q, k, v = heads(linear(a, Wq)), heads(linear(a, Wk)), heads(linear(a, Wv))      // [1, H, 1, E]
 *   k_cache_i_out = slice_update(k_cache_i, k, begin = [0, 0, pos, 0])                // [1, H, S, E]
 *   v_cache_i_out = slice_update(v_cache_i, v, …)
 *   p = softmax(mul(matmul(q, k_cache_i_out, transpose_y = true), 1/√E) + mask)
 *   h = h + linear(merge(matmul(p, v_cache_i_out)), Wo)
 *   h = h + linear(gelu(linear(layer_norm(h), W1)), W2)
 * logits = linear(layer_norm(h), W_head)
 * ```
 */
import type { InputTensor } from '@silica/interpreter';
import { type Program, type TensorType, type Value, buildProgram, fromFloat32, seededRandom, tensorType } from '@silica/ir';
import { normal } from './inputs.js';

export interface DecoderConfig {
  readonly layers: number;
  readonly dModel: number;
  readonly heads: number;
  /** Cache length S (positions 0 … S−1). */
  readonly cache: number;
  readonly vocab: number;
  readonly seed: number;
}

export const DEFAULT_DECODER: DecoderConfig = { layers: 2, dModel: 128, heads: 4, cache: 64, vocab: 256, seed: 1 };

/** The cache input/output pairs of the decoder, in order. */
export function decoderCachePairs(c: DecoderConfig): Array<{ input: string; output: string }> {
  const out: Array<{ input: string; output: string }> = [];
  for (let i = 0; i < c.layers; i++) out.push({ input: `k_cache_${i}`, output: `k_cache_${i}_out` }, { input: `v_cache_${i}`, output: `v_cache_${i}_out` });
  return out;
}

/** Builds the decoder (iOS18, fp16). */
export function buildDecoder(c: DecoderConfig): Program {
  const hd = c.dModel / c.heads;
  const cacheShape = [1, c.heads, c.cache, hd];
  const inputs: Record<string, TensorType> = {
    x: tensorType('fp16', [1, 1, c.dModel]),
    pos: tensorType('int32', [1]),
    mask: tensorType('fp16', [1, 1, 1, c.cache]),
  };
  for (const p of decoderCachePairs(c)) inputs[p.input] = tensorType('fp16', cacheShape);
  const gauss = normal(seededRandom(c.seed));
  const weight = (rows: number, cols: number, gain = 1) => {
    const data = new Float32Array(rows * cols);
    const s = gain / Math.sqrt(cols);
    for (let i = 0; i < data.length; i++) data[i] = gauss() * s;
    return fromFloat32('fp16', [rows, cols], data);
  };
  const vector = (n: number, mean: number, spread: number) => fromFloat32('fp16', [n], Float32Array.from({ length: n }, () => mean + spread * gauss()));

  return buildProgram('iOS18', (p) => {
    p.function('main', inputs, (b, ins) => {
      const begin = b.concat({ values: [b.const([0, 0], { dtype: 'int32' }), ins.pos, b.const([0], { dtype: 'int32' })], axis: 0 }, { name: 'cache_begin' });
      const end = b.add({ x: begin, y: b.const([1, c.heads, 1, hd], { dtype: 'int32' }) }, { name: 'cache_end' });
      const norm = (x: Value, name: string): Value =>
        b.layer_norm({ x, axes: [-1], gamma: b.const(vector(c.dModel, 1, 0.05), { name: `${name}_gamma` }), beta: b.const(vector(c.dModel, 0, 0.02), { name: `${name}_beta` }), epsilon: 1e-5 }, { name });
      const heads = (v: Value): Value => b.transpose({ x: b.reshape({ x: v, shape: [1, 1, c.heads, hd] }), perm: [0, 2, 1, 3] });
      let h: Value = ins.x;
      const caches: Value[] = [];
      for (let i = 0; i < c.layers; i++) {
        const a = norm(h, `ln_attn_${i}`);
        const lin = (x: Value, rows: number, cols: number, name: string, gain = 1): Value =>
          b.linear({ x, weight: b.const(weight(rows, cols, gain), { name: `${name}_weight` }) }, { name });
        const q = heads(lin(a, c.dModel, c.dModel, `q_proj_${i}`));
        const k = heads(lin(a, c.dModel, c.dModel, `k_proj_${i}`));
        const v = heads(lin(a, c.dModel, c.dModel, `v_proj_${i}`));
        const kOut = b.slice_update({ x: ins[`k_cache_${i}`], update: k, begin, end }, { name: `k_cache_${i}_out` });
        const vOut = b.slice_update({ x: ins[`v_cache_${i}`], update: v, begin, end }, { name: `v_cache_${i}_out` });
        const scores = b.mul({ x: b.matmul({ x: q, y: kOut, transpose_y: true }), y: b.const(1 / Math.sqrt(hd), { dtype: 'fp16' }) }, { name: `scores_${i}` });
        const probs = b.softmax({ x: b.add({ x: scores, y: ins.mask }), axis: -1 }, { name: `probs_${i}` });
        const ctx = b.matmul({ x: probs, y: vOut }, { name: `context_${i}` });
        const merged = b.reshape({ x: b.transpose({ x: ctx, perm: [0, 2, 1, 3] }), shape: [1, 1, c.dModel] });
        h = b.add({ x: h, y: lin(merged, c.dModel, c.dModel, `o_proj_${i}`, 0.5) }, { name: `attn_residual_${i}` });
        const up = b.gelu({ x: lin(norm(h, `ln_mlp_${i}`), 4 * c.dModel, c.dModel, `mlp_up_${i}`) });
        h = b.add({ x: h, y: lin(up, c.dModel, 4 * c.dModel, `mlp_down_${i}`, 0.5) }, { name: `mlp_residual_${i}` });
        caches.push(kOut, vOut);
      }
      const logits = b.linear({ x: norm(h, 'ln_final'), weight: b.const(weight(c.vocab, c.dModel), { name: 'lm_head_weight' }) }, { name: 'logits' });
      return [logits, ...caches];
    });
  });
}

/** Inputs of decode step `step` (a seeded token embedding, `pos = step`, a causal mask). */
export function decoderStepInputs(c: DecoderConfig, step: number): Record<string, InputTensor> {
  const gauss = normal(seededRandom(c.seed * 7919 + 1000 + step));
  return {
    x: { shape: [1, 1, c.dModel], data: Float32Array.from({ length: c.dModel }, () => gauss()) },
    pos: { shape: [1], data: new Int32Array([step]) },
    mask: { shape: [1, 1, 1, c.cache], data: Float32Array.from({ length: c.cache }, (_, j) => (j <= step ? 0 : -30000)) },
  };
}
