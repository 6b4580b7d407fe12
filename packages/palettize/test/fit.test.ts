import { describe, expect, it } from 'vitest';
import { packSubByte } from '@silica/ir';
import { type Fit, type LutFunctionGroup, type WeightData, applyPerChannelScale, fitWeight, nbitsFor } from '../src/fit.js';
import { gatherGroup, groupLayout, scatterIndices } from '../src/groups.js';
import { fp16Value } from '../src/histogram.js';
import { float64ToFp16Bits, roundHalfEven, toFp16 } from '../src/rounding.js';
import { reconstruct } from '../src/kernel.js';
import { packIndices } from '../src/packing.js';
import { fixtureDense, fp16Bits, gaussian, linearWeight, readFixture } from './helpers.js';

function fit(w: WeightData, spec: Parameters<typeof fitWeight>[1]): Fit {
  const r = fitWeight(w, spec);
  if ('skip' in r) throw new Error(`unexpected skip: ${r.skip}`);
  return r;
}

const fp16Weight = (name: string, shape: number[], values: Float32Array | number[]): WeightData => ({
  name,
  dtype: 'fp16',
  shape,
  data: fp16Bits(Float32Array.from(values)),
});

describe('rounding', () => {
  it('rounds float64 to fp16 once, ties to even, like NumPy astype', () => {
    expect(float64ToFp16Bits(1)).toBe(0x3c00);
    expect(float64ToFp16Bits(-2)).toBe(0xc000);
    expect(float64ToFp16Bits(65504)).toBe(0x7bff);
    expect(float64ToFp16Bits(65520)).toBe(0x7c00); // the tie above the largest finite rounds to inf
    expect(float64ToFp16Bits(2 ** -24)).toBe(0x0001);
    expect(float64ToFp16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal → even (0)
    expect(float64ToFp16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even mantissa
    expect(float64ToFp16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // a double just above a tie: rounding via fp32 first would land on the tie and go to even
    expect(float64ToFp16Bits(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c01);
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(3.5)).toBe(4);
    expect(roundHalfEven(0.49999)).toBe(0);
  });
});

describe('fitWeight — uniform', () => {
  it('reproduces mlp_palette_2bit_uniform exactly (LUT and every index)', () => {
    const fixture = readFixture('mlp_palette_2bit_uniform');
    for (const name of ['fc1_weight_to_fp16', 'fc2_weight_to_fp16']) {
      const base = fixtureDense('mlp', name);
      const layout = groupLayout(base.shape, 0, base.shape[0], 1);
      const ours = fit({ name, dtype: 'fp16', shape: base.shape, data: base.bits }, { mode: 'uniform', nbits: 2, layout });
      const lutOp = fixture.main.ops.find((o) => o.type === 'constexpr_lut_to_dense' && o.name === `${name}_palettized`)!;
      const theirLut = lutOp.input('lut')!.producer!.constValue!;
      const theirIdx = lutOp.input('indices')!.producer!.constValue!;
      expect(theirLut.shape).toEqual([1, 1, 4, 1]);
      expect(Array.from(ours.lut)).toEqual(theirLut.toNumbers());
      expect(theirIdx.dtype).toBe('uint2');
      expect(Buffer.from(ours.indices).equals(Buffer.from(theirIdx.values() as Uint8Array))).toBe(true);
    }
  });

  it('computes each step in the weight dtype (fp16) and rounds half to even', () => {
    // min 0, max 3 → (w − min) / (max − min) · 3 rounds 0.5 → 0 and 1.5 → 2
    const w = fp16Weight('w', [1, 6], [0, 0.5, 1.5, 2.5, 3, 1]);
    const r = fit(w, { mode: 'uniform', nbits: 2, layout: groupLayout([1, 6], 0, 1, 1) });
    expect(Array.from(r.lut)).toEqual([0, 1, 2, 3]);
    expect(Array.from(r.indices)).toEqual([0, 0, 2, 2, 3, 1]);
  });

  it('maps a constant group to entry 0 (max = min)', () => {
    const r = fit(fp16Weight('w', [2, 3], [1, 1, 1, 2, 2, 2]), { mode: 'uniform', nbits: 1, layout: groupLayout([2, 3], 0, 1, 1) });
    expect(Array.from(r.lut)).toEqual([1, 1, 2, 2]);
    expect(Array.from(r.indices)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('fitWeight — kmeans (scalar)', () => {
  it('keeps the distinct values and pads with zeros when there are fewer than 2^nbits', () => {
    const w = fp16Weight('w', [2, 4], [0.5, -1, 0.5, 2, 2, -1, 0.5, 0.5]);
    const r = fit(w, { mode: 'kmeans', nbits: 2, layout: groupLayout([2, 4], 0, 2, 1) });
    expect(Array.from(r.lut)).toEqual([-1, 0.5, 2, 0]);
    expect(Array.from(r.indices)).toEqual([1, 0, 1, 2, 2, 0, 1, 1]);
  });

  it('puts every LUT entry on the fp16 grid and is never worse than rounding the optimal centres', () => {
    const values = gaussian(4096, 0.03, 5);
    const w = fp16Weight('w', [64, 64], values);
    const layout = groupLayout([64, 64], 0, 64, 1);
    const r = fit(w, { mode: 'kmeans', nbits: 3, layout });
    for (const v of r.lut) expect(toFp16(v)).toBe(v);
    const approx = reconstruct(layout, r.lut, r.indices, 8);
    let mse = 0;
    for (let i = 0; i < approx.length; i++) mse += (approx[i] - fp16Value((w.data as Uint16Array)[i])) ** 2;
    mse /= approx.length;
    // every element is mapped to its nearest LUT entry
    for (let i = 0; i < approx.length; i++) {
      const x = fp16Value((w.data as Uint16Array)[i]);
      const best = Math.min(...Array.from(r.lut, (c) => Math.abs(c - x)));
      expect(Math.abs(approx[i] - x)).toBe(best);
    }
    expect(mse).toBeGreaterThan(0);
    expect(mse).toBeLessThan(0.03 ** 2 / 20);
  });

  it('fits integer data (quantized weights) with an integer LUT', () => {
    const data = Int8Array.from({ length: 64 }, (_, i) => ((i * 37) % 255) - 127);
    const r = fit({ name: 'q', dtype: 'int8', shape: [8, 8], data }, { mode: 'kmeans', nbits: 2, layout: groupLayout([8, 8], 0, 8, 1) });
    for (const v of r.lut) {
      expect(Number.isInteger(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(-128);
      expect(v).toBeLessThanOrEqual(127);
    }
  });

  it('skips weights with NaN or infinities', () => {
    const w: WeightData = { name: 'w', dtype: 'fp16', shape: [1, 3], data: Uint16Array.of(0x3c00, 0x7c00, 0) };
    expect(fitWeight(w, { mode: 'kmeans', nbits: 1, layout: groupLayout([1, 3], 0, 1, 1) })).toEqual({
      skip: 'it contains NaN or ±inf values, which cannot be palettized',
    });
  });
});

describe('fitWeight — grouped layout', () => {
  it('gives each group of channels along the axis its own LUT', () => {
    // [2, 4, 3] with the channel axis 1 in groups of 2: group g holds only the value 10·(g + 1) ± 1
    const shape = [2, 4, 3];
    const values = new Float32Array(24);
    for (let o = 0; o < 2; o++) for (let c = 0; c < 4; c++) for (let i = 0; i < 3; i++) values[(o * 4 + c) * 3 + i] = 10 * (Math.floor(c / 2) + 1) + (i % 2 ? 1 : -1);
    const layout = groupLayout(shape, 1, 2, 1);
    expect(layout.lutShape(1)).toEqual([1, 2, 1, 2, 1]);
    const r = fit(fp16Weight('w', shape, values), { mode: 'kmeans', nbits: 1, layout });
    expect(Array.from(r.lut)).toEqual([9, 11, 19, 21]);
    const approx = reconstruct(layout, r.lut, r.indices, 2);
    expect(Array.from(approx)).toEqual(Array.from(values));
  });

  it('gathers and scatters a group in (outer, channel, inner) order', () => {
    const layout = groupLayout([2, 4, 3], 1, 2, 1);
    const src = Float32Array.from({ length: 24 }, (_, i) => i);
    expect(Array.from(gatherGroup(layout, src, 1, new Float32Array(12)))).toEqual([6, 7, 8, 9, 10, 11, 18, 19, 20, 21, 22, 23]);
    const dst = new Uint8Array(24);
    scatterIndices(layout, Uint8Array.from({ length: 12 }, (_, i) => i + 1), 1, dst);
    expect(Array.from(dst)).toEqual([0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 7, 8, 9, 10, 11, 12]);
  });

  it('rejects group sizes that do not divide the channels, and cluster dims that do not divide the group', () => {
    expect(() => groupLayout([6, 4], 0, 4, 1)).toThrow('group size 4 does not divide the 6 channels of axis 0');
    expect(() => groupLayout([8, 4], 0, 4, 3)).toThrow('cluster dim 3 does not divide the group size 4');
  });
});

describe('fitWeight — vector kmeans', () => {
  it('recovers 2^nbits distinct vectors exactly and is deterministic for a seed', () => {
    // pairs along axis 0 drawn from 4 fixed vectors
    const table = [
      [0.5, -0.25],
      [-1, 1],
      [0.125, 0.75],
      [2, -2],
    ];
    const shape = [8, 16];
    const values = new Float32Array(128);
    for (let cv = 0; cv < 4; cv++) {
      for (let i = 0; i < 16; i++) {
        const t = table[(cv * 7 + i * 3) % 4];
        values[(2 * cv) * 16 + i] = t[0];
        values[(2 * cv + 1) * 16 + i] = t[1];
      }
    }
    const layout = groupLayout(shape, 0, 8, 2);
    expect(layout.indicesShape).toEqual([4, 16]);
    const a = fit(fp16Weight('w', shape, values), { mode: 'kmeans', nbits: 2, layout, seed: 3 });
    const b = fit(fp16Weight('w', shape, values), { mode: 'kmeans', nbits: 2, layout, seed: 3 });
    expect(Array.from(a.lut)).toEqual(Array.from(b.lut));
    expect(Array.from(reconstruct(layout, a.lut, a.indices, 4))).toEqual(Array.from(values));
    const entries = [0, 1, 2, 3].map((e) => [a.lut[2 * e], a.lut[2 * e + 1]]);
    expect(entries.sort((x, y) => x[0] - y[0])).toEqual([...table].sort((x, y) => x[0] - y[0]));
  });

  it('pads with zero vectors when there are fewer distinct vectors than entries', () => {
    // vectors along axis 0: (w[0, i], w[1, i]) = (1, 1), (1, 1), (2, 2), (2, 2)
    const values = Float32Array.of(1, 1, 2, 2, 1, 1, 2, 2);
    const r = fit(fp16Weight('w', [2, 4], values), { mode: 'kmeans', nbits: 2, layout: groupLayout([2, 4], 0, 2, 2) });
    const entries = [0, 1, 2, 3].map((e) => `${r.lut[2 * e]},${r.lut[2 * e + 1]}`);
    expect(entries.slice(2)).toEqual(['0,0', '0,0']);
    expect(entries.slice(0, 2).sort()).toEqual(['1,1', '2,2']);
  });
});

describe('fitWeight — unique', () => {
  it('uses the sorted distinct values, the smallest supported width, and pads with zeros', () => {
    const r = fit(fp16Weight('w', [2, 4], [3, -1, 0.5, 3, 7, -1, 2, 0.5]), { mode: 'unique', layout: groupLayout([2, 4], 0, 2, 1) });
    expect(r.nbits).toBe(3); // 5 distinct values → 8 entries (3 bits)
    expect(Array.from(r.lut)).toEqual([-1, 0.5, 2, 3, 7, 0, 0, 0]);
    expect(Array.from(r.indices)).toEqual([3, 0, 1, 3, 4, 0, 2, 1]);
  });

  it('sizes nbits by the largest group', () => {
    const layout = groupLayout([2, 4], 0, 1, 1);
    const r = fit(fp16Weight('w', [2, 4], [1, 1, 1, 2, 1, 2, 3, 4]), { mode: 'unique', layout });
    expect(r.nbits).toBe(2);
    expect(Array.from(r.lut)).toEqual([1, 2, 0, 0, 1, 2, 3, 4]);
  });

  it('sorts distinct vectors lexicographically', () => {
    const layout = groupLayout([2, 3], 0, 2, 2);
    const r = fit(fp16Weight('w', [2, 3], [1, 0, 1, 5, 3, 5]), { mode: 'unique', layout });
    // vectors (column pairs): (1,5) (0,3) (1,5)
    expect(r.nbits).toBe(1);
    expect(Array.from(r.lut)).toEqual([0, 3, 1, 5]);
    expect(Array.from(r.indices)).toEqual([1, 0, 1]);
  });

  it('skips a weight with more than 256 distinct values in a group', () => {
    const values = Float32Array.from({ length: 300 }, (_, i) => i);
    expect(fitWeight(fp16Weight('w', [3, 100], values), { mode: 'unique', layout: groupLayout([3, 100], 0, 3, 1) })).toEqual({
      skip: 'it has 300 distinct values in group 0; unique palettization holds at most 256 (8 bits)',
    });
    expect(nbitsFor(256)).toBe(8);
    expect(nbitsFor(257)).toBeUndefined();
    expect(nbitsFor(5)).toBe(3);
    expect(nbitsFor(17)).toBe(6);
  });
});

describe('fitWeight — custom', () => {
  const signLut = (g: LutFunctionGroup) => {
    let m = 0;
    for (const v of g.values) m = Math.max(m, Math.abs(v));
    return { lut: [-m, m], indices: Array.from(g.values, (v) => (v < 0 ? 0 : 1)) };
  };

  it('calls the function per group with the group values and shape, and packs its result', () => {
    const seen: Array<{ group: number; shape: readonly number[]; values: number[] }> = [];
    const r = fit(fp16Weight('w', [4, 2], [1, -2, 3, -4, -0.5, 0.25, 8, -8]), {
      mode: 'custom',
      layout: groupLayout([4, 2], 0, 2, 1),
      lutFunction: (g) => {
        seen.push({ group: g.group, shape: g.shape, values: Array.from(g.values) });
        return signLut(g);
      },
    });
    expect(seen).toEqual([
      { group: 0, shape: [2, 2], values: [1, -2, 3, -4] },
      { group: 1, shape: [2, 2], values: [-0.5, 0.25, 8, -8] },
    ]);
    expect(r.nbits).toBe(1);
    expect(Array.from(r.lut)).toEqual([-4, 4, -8, 8]);
    expect(Array.from(r.indices)).toEqual([1, 0, 1, 0, 0, 1, 1, 0]);
  });

  it('raises the width to the next supported one and pads the LUT', () => {
    const layout = groupLayout([1, 20], 0, 1, 1);
    const lut = Array.from({ length: 20 }, (_, i) => i);
    const r = fit(fp16Weight('w', [1, 20], lut), { mode: 'custom', layout, lutFunction: () => ({ lut, indices: lut }) });
    expect(r.nbits).toBe(6);
    expect(r.lut.length).toBe(64);
    expect(Array.from(r.lut.subarray(18))).toEqual([18, 19, ...new Array(44).fill(0)]);
  });

  it('names the weight and the group when the function returns something unusable', () => {
    const w = fp16Weight('conv1_w', [2, 2], [1, 2, 3, 4]);
    const layout = groupLayout([2, 2], 0, 1, 1);
    expect(() => fit(w, { mode: 'custom', layout, lutFunction: () => ({ lut: [0, 1], indices: [0] }) })).toThrow(
      'lutFunction for weight "conv1_w", group 0 returned 1 indices; expected 2 (one per LUT lookup of the group)',
    );
    expect(() => fit(w, { mode: 'custom', layout, lutFunction: () => ({ lut: [0, 1], indices: [0, 2] }) })).toThrow(
      'lutFunction for weight "conv1_w", group 0 returned index 2 at position 1; expected an integer in [0, 2)',
    );
    let calls = 0;
    expect(() => fit(w, { mode: 'custom', layout, lutFunction: () => (calls++ ? { lut: [0, 1, 2, 3], indices: [0, 0] } : { lut: [0, 1], indices: [0, 0] }) })).toThrow(
      'lutFunction for weight "conv1_w", group 1 returned 4 LUT entries, but group 0 returned 2; every group needs the same count',
    );
  });
});

describe('applyPerChannelScale', () => {
  it('divides by max |w| over the channel axis (kept as a size-1 dim), zeros replaced by 1', () => {
    const w = fp16Weight('w', [2, 3], [1, -4, 0, -2, 2, 0]);
    const s = applyPerChannelScale(w, 0);
    expect(s.scaleShape).toEqual([1, 3]);
    expect(Array.from(s.scale)).toEqual([2, 4, 1]);
    expect(Array.from(s.weight.data as Uint16Array, fp16Value)).toEqual([0.5, -1, 0, -1, 0.5, 0]);
  });

  it('divides in fp16 like NumPy (one rounding of the quotient)', () => {
    const w = fp16Weight('w', [2, 1], [1, 3]);
    const s = applyPerChannelScale(w, 0);
    expect(fp16Value((s.weight.data as Uint16Array)[0])).toBe(toFp16(1 / 3));
  });
});

describe('the LUT of a fixture weight is read back the way it was written', () => {
  it('fixture LUT consts are fp16 rank-4 for rank-2 weights', () => {
    const p = readFixture('mlp_palette_4bit_kmeans');
    const { tensor } = linearWeight(p, 'fc1_weight_to_fp16');
    expect(tensor.shape).toEqual([1024, 256]);
    expect(tensor.dtype).toBe('fp16');
  });
});

describe('packIndices', () => {
  it('packs every width exactly like the IR packer (mlpackage-format.md §11)', () => {
    for (const nbits of [1, 2, 3, 4, 6, 8]) {
      for (const n of [0, 1, 7, 8, 9, 31, 100]) {
        const a = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) % 2 ** nbits);
        expect(Array.from(packIndices(a, nbits))).toEqual(Array.from(packSubByte(a, nbits)));
      }
    }
  });
});
