import { describe, expect, it } from 'vitest';
import { type GptqQuantSpec, blockParams, gptq, quantRange, roundHalfEven, roundToNearest } from '../src/index.js';
import { normals } from './models.js';
import { objective, spd, sub } from './helpers.js';

const R = 12;
const C = 40;
const w = Float64Array.from(normals(R * C, 99, 0.2));

function identity(n: number): Float64Array {
  const h = new Float64Array(n * n);
  for (let i = 0; i < n; i++) h[i * n + i] = 1;
  return h;
}

const blockGroups = (b: number): Int32Array => Int32Array.from({ length: C }, (_, c) => Math.floor(c / b));

const specs: Array<[string, GptqQuantSpec]> = [
  ['int4 symmetric per channel', { dtype: 'int4', mode: 'linear_symmetric', floatDType: 'fp16', granularity: 'per_channel' }],
  ['uint4 symmetric per channel', { dtype: 'uint4', mode: 'linear_symmetric', floatDType: 'fp16', granularity: 'per_channel' }],
  ['int8 affine per tensor', { dtype: 'int8', mode: 'linear', floatDType: 'fp32', granularity: 'per_tensor' }],
  ['uint4 affine per block of 8', { dtype: 'uint4', mode: 'linear', floatDType: 'fp16', granularity: 'per_block', columnGroups: blockGroups(8), groupCount: 5 }],
  ['int4 symmetric per block of 10', { dtype: 'int4', mode: 'linear_symmetric', floatDType: 'fp16', granularity: 'per_block', columnGroups: blockGroups(10), groupCount: 4 }],
];

describe('quantization arithmetic (mil-ops.md §7.3)', () => {
  it('has coremltools ranges', () => {
    expect(quantRange('int8', 'linear_symmetric')).toMatchObject({ qmin: -127, qmax: 127 });
    expect(quantRange('int4', 'linear_symmetric')).toMatchObject({ qmin: -7, qmax: 7 });
    expect(quantRange('uint8', 'linear_symmetric')).toMatchObject({ qmin: 0, qmax: 254 });
    expect(quantRange('uint4', 'linear')).toMatchObject({ qmin: 0, qmax: 15 });
    expect(quantRange('int4', 'linear')).toMatchObject({ qmin: -8, qmax: 7 });
  });

  it('computes scales and zero points', () => {
    // symmetric int4 over [−0.5, 0.35]: m = 0.5, scale = 1/14
    expect(blockParams(-0.5, 0.35, quantRange('int4', 'linear_symmetric'), 'linear_symmetric', 'fp32')).toEqual({ scale: Math.fround(1 / 14), zeroPoint: 0 });
    // unsigned symmetric: zero point qmax // 2
    expect(blockParams(-1, 1, quantRange('uint8', 'linear_symmetric'), 'linear_symmetric', 'fp32').zeroPoint).toBe(127);
    // affine uint8 over [0, 2.55] → scale 0.01, zero point 0; over [−1, 0.5] → zp = round(255·1/1.5) = 170
    expect(blockParams(0, 2.55, quantRange('uint8', 'linear'), 'linear', 'fp32')).toEqual({ scale: Math.fround(0.01), zeroPoint: 0 });
    expect(blockParams(-1, 0.5, quantRange('uint8', 'linear'), 'linear', 'fp32').zeroPoint).toBe(170);
    // an all-zero block quantizes to its zero point
    expect(blockParams(0, 0, quantRange('int8', 'linear_symmetric'), 'linear_symmetric', 'fp16')).toEqual({ scale: 1, zeroPoint: 0 });
  });

  it('rounds half to even, as NumPy', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2]);
  });
});

describe('gptq', () => {
  it.each(specs)('%s: with H = I it is round-to-nearest, code for code', async (_, spec) => {
    const g = await gptq(w, R, C, identity(C), spec);
    const r = roundToNearest(w, R, C, spec);
    expect(Array.from(g.q)).toEqual(Array.from(r.q));
    expect(Array.from(g.dequantized)).toEqual(Array.from(r.dequantized));
    expect(g.params).toEqual(r.params);
  });

  it.each(specs)('%s: lowers the layer objective tr(ΔW·H·ΔWᵀ) well below round-to-nearest', async (_, spec) => {
    const { h } = spd(C, 3);
    const g = await gptq(w, R, C, h, spec);
    const r = roundToNearest(w, R, C, spec);
    const og = objective(sub(g.dequantized, w), h, R, C);
    const or = objective(sub(r.dequantized, w), h, R, C);
    expect(og).toBeLessThan(0.7 * or);
    const range = quantRange(spec.dtype, spec.mode);
    for (const q of g.q) expect(q >= range.qmin && q <= range.qmax).toBe(true);
    // every dequantized value is scale·(q − zp) of its block
    const groups = spec.granularity === 'per_block' ? spec.groupCount! : 1;
    for (let row = 0; row < R; row++) {
      for (let c = 0; c < C; c++) {
        const p = spec.granularity === 'per_tensor' ? g.params[0] : spec.granularity === 'per_channel' ? g.params[row] : g.params[row * groups + spec.columnGroups![c]];
        const v = p.scale * (g.q[row * C + c] - p.zeroPoint);
        expect(g.dequantized[row * C + c]).toBeCloseTo(v, 2);
      }
    }
  });

  it('reports the objective increase it caused: loss = ½·tr(ΔW·(H + damp·I)·ΔWᵀ)', async () => {
    const { h } = spd(C, 8);
    const g = await gptq(w, R, C, h, specs[0][1], { percentDamp: 0.05 });
    const damped = Float64Array.from(h);
    for (let i = 0; i < C; i++) damped[i * C + i] += g.damp;
    expect(g.loss).toBeCloseTo(0.5 * objective(sub(g.dequantized, w), damped, R, C), 6);
  });

  it.each([1, 3, 16, 128])('gives the same codes for lazy-update blocks of %i columns', async (blockSize) => {
    const { h } = spd(C, 4);
    const ref = await gptq(w, R, C, h, specs[4][1], { blockSize: 128 });
    const g = await gptq(w, R, C, h, specs[4][1], { blockSize });
    expect(Array.from(g.q)).toEqual(Array.from(ref.q));
  });

  it('with activation order returns the weight in its original column order', async () => {
    const { h } = spd(C, 5);
    const spec = specs[4][1];
    const g = await gptq(w, R, C, h, spec, { actOrder: true });
    const plain = await gptq(w, R, C, h, spec);
    expect(Array.from(g.q)).not.toEqual(Array.from(plain.q));
    expect(objective(sub(g.dequantized, w), h, R, C)).toBeLessThan(0.7 * objective(sub(roundToNearest(w, R, C, spec).dequantized, w), h, R, C));
    // per-block scales stay on the original column blocks: each block's codes fit its own scale
    for (let row = 0; row < R; row++) {
      for (let b = 0; b < 4; b++) {
        const p = g.params[row * 4 + b];
        for (let c = b * 10; c < (b + 1) * 10; c++) expect(g.dequantized[row * C + c]).toBeCloseTo(p.scale * g.q[row * C + c], 2);
      }
    }
  });

  it('zeroes the weights of dead inputs (H[i, i] = 0)', async () => {
    const { h } = spd(C, 6);
    for (const dead of [0, 17]) for (let j = 0; j < C; j++) h[dead * C + j] = h[j * C + dead] = 0;
    const g = await gptq(w, R, C, h, specs[0][1]);
    expect(g.deadColumns).toBe(2);
    for (let row = 0; row < R; row++) {
      expect(g.dequantized[row * C]).toBe(0);
      expect(g.dequantized[row * C + 17]).toBe(0);
    }
  });

  it('rejects bad arguments', async () => {
    await expect(gptq(w, R, C + 1, identity(C), specs[0][1])).rejects.toThrow(`W has ${R * C} elements, expected ${R}×${C + 1}`);
    await expect(gptq(w, R, C, identity(C), { ...specs[0][1], granularity: 'per_block' })).rejects.toThrow('per_block needs columnGroups');
    await expect(gptq(w, R, C, identity(C), specs[0][1], { blockSize: 0 })).rejects.toThrow('blockSize must be a positive integer');
  });

  it('stops when the signal is aborted', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(gptq(w, R, C, spd(C, 1).h, specs[0][1], { signal: ac.signal })).rejects.toThrow('stop');
  });
});
