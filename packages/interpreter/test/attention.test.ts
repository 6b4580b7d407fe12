import { describe, expect, it } from 'vitest';
import { type TensorType, type Value } from '@silica/ir';
import { TestProgram, b, close, f16, f32, list, randoms } from './helpers.js';

describe('scaled_dot_product_attention', () => {
  it('hand-checked: one query, two keys', () => {
    // E = 1 so the scale is 1; scores [0, ln 3] → softmax [0.25, 0.75] → 0.25·10 + 0.75·20
    const p = new TestProgram();
    const q = p.c('fp32', [1], [1, 1, 1]);
    const k = p.c('fp32', [0, Math.log(3)], [1, 2, 1]);
    const v = p.c('fp32', [10, 20], [1, 2, 1]);
    const plain = p.op('scaled_dot_product_attention', { query: q, key: k, value: v }, f32([1, 1, 1]));
    const boolMask = p.op('scaled_dot_product_attention', { query: q, key: k, value: v, attn_mask: p.bools(true, false) }, f32([1, 1, 1]));
    const floatMask = p.op('scaled_dot_product_attention', { query: q, key: k, value: v, attn_mask: p.c('fp32', [0, -Math.log(3)]) }, f32([1, 1, 1]));
    const [r, rb, rf] = p.output(plain, boolMask, floatMask).run();
    close(list(r), [17.5]);
    // bool mask: true = attend, so only the first key counts
    close(list(rb), [10]);
    // float mask is added: scores [0, 0] → mean of the values
    close(list(rf), [15]);
  });

  const B = 2;
  const H = 3;
  const L = 4;
  const S = 5;
  const E = 8;
  const EV = 6;
  const qData = randoms(B * H * L * E, 21);
  const kData = randoms(B * H * S * E, 22);
  const vData = randoms(B * H * S * EV, 23);
  const inputs = {
    q: { shape: [B, H, L, E], data: qData },
    k: { shape: [B, H, S, E], data: kData },
    v: { shape: [B, H, S, EV], data: vData },
  };
  const types = { q: f32([B, H, L, E]), k: f32([B, H, S, E]), v: f32([B, H, S, EV]) };

  /** The decomposition coremltools emits (mil-ops.md §4): mul → matmul(transpose_y) → add mask → softmax → matmul. */
  function decomposed(p: TestProgram, mask: Value | undefined): Value {
    const q2 = p.op('mul', { x: p.input('q'), y: p.f32(1 / Math.sqrt(E)) }, types.q);
    let a = p.op('matmul', { x: q2, y: p.input('k'), transpose_y: p.bool(true) }, f32([B, H, L, S]));
    if (mask) a = p.op('add', { x: a, y: mask }, f32([B, H, L, S]));
    const probs = p.op('softmax', { x: a, axis: p.int(-1) }, f32([B, H, L, S]));
    return p.op('matmul', { x: probs, y: p.input('v') }, f32([B, H, L, EV]));
  }

  /** Causal mask [L, S] the coremltools way: band_part(fill(true), lower = -1, upper = 0). */
  function causal(p: TestProgram): Value {
    const all = p.op('fill', { shape: p.c('int32', [L, S]), value: p.bool(true) }, b([L, S]));
    return p.op('band_part', { x: all, lower: p.int(-1), upper: p.int(0) }, b([L, S]));
  }

  it('equals the decomposed form without a mask', () => {
    const p = new TestProgram('iOS18', types);
    const fused = p.op('scaled_dot_product_attention', { query: p.input('q'), key: p.input('k'), value: p.input('v') }, f32([B, H, L, EV]));
    const [rf, rd] = p.output(fused, decomposed(p, undefined)).run(inputs);
    close(list(rf), list(rd), 1e-5);
  });

  it('bool causal mask equals the decomposed form with the (1 − mask)·−3e4 float mask', () => {
    const p = new TestProgram('iOS18', types);
    const mask = causal(p);
    const fused = p.op('scaled_dot_product_attention', { query: p.input('q'), key: p.input('k'), value: p.input('v'), attn_mask: mask }, f32([B, H, L, EV]));
    const asFloat = p.op('cast', { x: mask, dtype: p.str('fp32') }, f32([L, S]));
    const inv = p.op('sub', { x: p.f32(1), y: asFloat }, f32([L, S]));
    const additive = p.op('mul', { x: inv, y: p.f32(-3e4) }, f32([L, S]));
    const [rf, rd] = p.output(fused, decomposed(p, additive)).run(inputs);
    close(list(rf), list(rd), 1e-5);
    // row 0 attends only to key 0: its output is value row 0
    expect(list(rf).slice(0, EV)).toEqual(Array.from(vData.slice(0, EV)));
  });

  it('a float mask broadcast over batch and heads is added to the scores', () => {
    const p = new TestProgram('iOS18', { ...types, m: f32([B, 1, 1, S]) });
    const fused = p.op('scaled_dot_product_attention', { query: p.input('q'), key: p.input('k'), value: p.input('v'), attn_mask: p.input('m') }, f32([B, H, L, EV]));
    const [rf, rd] = p.output(fused, decomposed(p, p.input('m'))).run({ ...inputs, m: { shape: [B, 1, 1, S], data: randoms(B * S, 24) } });
    close(list(rf), list(rd), 1e-5);
  });

  it('rounds the fused result once to fp16 when typed fp16', () => {
    const p = new TestProgram('iOS18', { q: f16([1, 1, 2]), k: f16([1, 2, 2]), v: f16([1, 2, 1]) });
    const o = p.op('scaled_dot_product_attention', { query: p.input('q'), key: p.input('k'), value: p.input('v') }, f16([1, 1, 1]));
    const [r] = p.output(o).run({ q: { shape: [1, 1, 2], data: [1, 0] }, k: { shape: [1, 2, 2], data: [0, 0, 1, 0] }, v: { shape: [1, 2, 1], data: [0, 1] } });
    // scores [0, 1/√2] → out = p1 = 1/(1 + e^(−1/√2)) = 0.6697615…; ×2048 = 1371.67 → fp16 1372/2048
    expect(r.dtype).toBe('fp16');
    expect(list(r)).toEqual([1372 / 2048]);
  });

  it('rejects differing batch dims and a mask that does not broadcast', () => {
    const p = new TestProgram('iOS18', { q: f32([2, 1, 4]), k: f32([1, 3, 4]), v: f32([1, 3, 4]) });
    const o = p.op('scaled_dot_product_attention', { query: p.input('q'), key: p.input('k'), value: p.input('v') }, f32([2, 1, 4]));
    expect(() => p.output(o).run({ q: { shape: [2, 1, 4], data: randoms(8) }, k: { shape: [1, 3, 4], data: randoms(12) }, v: { shape: [1, 3, 4], data: randoms(12) } })).toThrow(
      /same batch dims/,
    );
    const t: Record<string, TensorType> = { q: f32([1, 1, 4]), k: f32([1, 3, 4]), v: f32([1, 3, 4]) };
    const q2 = new TestProgram('iOS18', t);
    const o2 = q2.op('scaled_dot_product_attention', { query: q2.input('q'), key: q2.input('k'), value: q2.input('v'), attn_mask: q2.bools(true, false) }, f32([1, 1, 4]));
    expect(() => q2.output(o2).run({ q: { shape: [1, 1, 4], data: randoms(4) }, k: { shape: [1, 3, 4], data: randoms(12) }, v: { shape: [1, 3, 4], data: randoms(12) } })).toThrow(
      /input "attn_mask": shape bool\[2\] does not broadcast to the score shape \[1, 1, 3\]/,
    );
  });
});
