/**
 * A small synthetic decoder built with the Builder: `layers` attention blocks, each with
 * explicit KV caches (`k_cache_<i>` in, `k_cache_<i>_out` out) written at `pos` with
 * slice_update, as kv_cache_io does, plus a residual stream. Weights are seeded noise.
 */
import { type DType, type Program, type Value, buildProgram, fromFloat32, tensorType } from '@silica/ir';
import type { InputTensor } from '@silica/interpreter';
import { noise } from './helpers.js';

export interface DecoderShape {
  readonly layers: number;
  readonly dModel: number;
  readonly heads: number;
  /** Cache length (the sequence axis, axis 2 of [1, heads, cacheLen, headDim]). */
  readonly cacheLen: number;
  /** Cache and activation dtype (default fp16). */
  readonly dtype?: DType;
}

export function cachePairs(layers: number): Array<{ input: string; output: string }> {
  const out: Array<{ input: string; output: string }> = [];
  for (let i = 0; i < layers; i++) {
    out.push({ input: `k_cache_${i}`, output: `k_cache_${i}_out` }, { input: `v_cache_${i}`, output: `v_cache_${i}_out` });
  }
  return out;
}

export function buildDecoder(s: DecoderShape): Program {
  const dt = s.dtype ?? 'fp16';
  const hd = s.dModel / s.heads;
  const cache = [1, s.heads, s.cacheLen, hd];
  const inputs: Record<string, ReturnType<typeof tensorType>> = {
    x: tensorType(dt, [1, 1, s.dModel]),
    pos: tensorType('int32', [1]),
    mask: tensorType(dt, [1, 1, 1, s.cacheLen]),
  };
  for (const p of cachePairs(s.layers)) inputs[p.input] = tensorType(dt, cache);
  let seed = 1;
  const weight = (rows: number, cols: number) => fromFloat32(dt, [rows, cols], noise(rows * cols, seed++).map((v) => v / Math.sqrt(cols)));
  return buildProgram('iOS18', (p) => {
    p.function('main', inputs, (b, ins) => {
      const begin = b.concat({ values: [b.const([0, 0], { dtype: 'int32' }), ins.pos, b.const([0], { dtype: 'int32' })], axis: 0 }, { name: 'begin' });
      const end = b.add({ x: begin, y: b.const([1, s.heads, 1, hd], { dtype: 'int32' }) }, { name: 'end' });
      const heads = (v: Value): Value => b.transpose({ x: b.reshape({ x: v, shape: [1, 1, s.heads, hd] }), perm: [0, 2, 1, 3] });
      let h = ins.x;
      const caches: Value[] = [];
      for (let i = 0; i < s.layers; i++) {
        const q = heads(b.linear({ x: h, weight: weight(s.dModel, s.dModel) }));
        const k = heads(b.linear({ x: h, weight: weight(s.dModel, s.dModel) }));
        const v = heads(b.linear({ x: h, weight: weight(s.dModel, s.dModel) }));
        const kOut = b.slice_update({ x: ins[`k_cache_${i}`], update: k, begin, end }, { name: `k_cache_${i}_out` });
        const vOut = b.slice_update({ x: ins[`v_cache_${i}`], update: v, begin, end }, { name: `v_cache_${i}_out` });
        const scores = b.mul({ x: b.matmul({ x: q, y: kOut, transpose_y: true }), y: 1 / Math.sqrt(hd) });
        const probs = b.softmax({ x: b.add({ x: scores, y: ins.mask }), axis: -1 });
        const ctx = b.matmul({ x: probs, y: vOut });
        const merged = b.reshape({ x: b.transpose({ x: ctx, perm: [0, 2, 1, 3] }), shape: [1, 1, s.dModel] });
        h = b.add({ x: h, y: b.linear({ x: merged, weight: weight(s.dModel, s.dModel) }) }, { name: `h_${i}` });
        caches.push(kOut, vOut);
      }
      return [b.relu({ x: h }, { name: 'y' }), ...caches];
    });
  });
}

/** Inputs of decode step `step`: x varies, pos = step, the mask lets positions ≤ pos attend. */
export function decoderInputs(s: DecoderShape, step: number): Record<string, InputTensor> {
  return {
    x: { shape: [1, 1, s.dModel], data: noise(s.dModel, 500 + step) },
    pos: { shape: [1], data: new Int32Array([step]) },
    mask: { shape: [1, 1, 1, s.cacheLen], data: new Float32Array(s.cacheLen).map((_, j) => (j <= step ? 0 : -30000)) },
  };
}
