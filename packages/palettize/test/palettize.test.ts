import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSession } from '@silica/interpreter';
import { type Program, buildProgram, cloneProgram, constValueOf, pipeline, printProgram, silentLogger, tensorFromValues, tensorType, verifyProgram } from '@silica/ir';
import { readMLPackageSync } from '@silica/mlpackage-reader';
import { writeMLPackageSync } from '@silica/mlpackage-writer';
import palettize, { type PalettizeOptions, optimalKMeans1D } from '../src/index.js';
import { fp16Value, histogramOf } from '../src/histogram.js';
import { ctx, gaussian, linearWeight, mlp, opTypes } from './helpers.js';

const run = (p: Program, o: PalettizeOptions) => palettize({ workers: 0, ...o }).run(p, ctx(p));

/** Decompressed weight read by linear `fcN` as numbers. */
function weightOf(p: Program, layer: 'fc1' | 'fc2'): { shape: readonly number[]; values: Float32Array } {
  const op = p.main.findOp(layer)!;
  const t = constValueOf(op.input('weight')!, p.target)!;
  return { shape: t.shape, values: t.toFloat32() };
}

function mse(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
}

const tmp = mkdtempSync(join(tmpdir(), 'silica-palettize-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('palettize — options', () => {
  const bad: Array<[PalettizeOptions, string]> = [
    [{}, "mode 'kmeans' needs nbits (one of 1, 2, 3, 4, 6, 8)"],
    [{ mode: 'uniform' }, "mode 'uniform' needs nbits"],
    [{ nbits: 5 as 4 }, 'nbits must be one of 1, 2, 3, 4, 6, 8, got 5'],
    [{ mode: 'unique', nbits: 4 }, "nbits is not allowed with mode 'unique' (it is the smallest width that holds the distinct values)"],
    [{ mode: 'custom' }, "mode 'custom' needs a lutFunction(group) returning { lut, indices }"],
    [{ nbits: 4, lutFunction: () => ({ lut: [], indices: [] }) }, "lutFunction is only used with mode 'custom' (mode is 'kmeans')"],
    [{ mode: 'median' as 'kmeans', nbits: 4 }, `mode must be one of 'kmeans', 'uniform', 'unique', 'custom', got "median"`],
    [{ nbits: 4, granularity: 'per_channel' as 'per_tensor' }, `granularity must be 'per_tensor' or 'per_grouped_channel', got "per_channel"`],
    [{ nbits: 4, groupSize: 16 }, "groupSize only applies to granularity 'per_grouped_channel'"],
    [{ nbits: 4, granularity: 'per_grouped_channel', groupSize: 0 }, 'groupSize must be a positive integer, got 0'],
    [{ nbits: 4, channelAxis: 0.5 }, 'channelAxis must be an integer axis (negative counts from the end), got 0.5'],
    [{ nbits: 4, clusterDim: 0 }, 'clusterDim must be a positive integer, got 0'],
    [{ mode: 'uniform', nbits: 2, clusterDim: 2 }, "mode 'uniform' does not support vector palettization (clusterDim 2 > 1)"],
    [{ nbits: 4, weightThreshold: -1 }, 'weightThreshold must be a number ≥ 0, got -1'],
    [{ nbits: 4, enablePerChannelScale: 1 as unknown as boolean }, 'enablePerChannelScale must be a boolean, got 1'],
    [{ nbits: 4, group_size: 16 } as PalettizeOptions, 'unknown option "group_size"'],
    [{ nbits: 4, opType: { linear: { nbits: 7 as 4 } } }, 'opType "linear": nbits must be one of 1, 2, 3, 4, 6, 8, got 7'],
    [{ global: null, nbits: 4 }, 'global: null means no global config, but config fields were given too (nbits)'],
    [{ nbits: 4, joint: 'yes' as unknown as boolean }, 'joint must be a boolean, got "yes"'],
    [{ nbits: 4, workers: -1 }, 'workers must be a non-negative integer or a WorkerPool, got -1'],
  ];
  it.each(bad)('rejects %j when the pass is built', (o, message) => {
    expect(() => palettize(o)).toThrow(message);
  });

  it('accepts complete configs and is named palettize', () => {
    const p = palettize({ nbits: 4, granularity: 'per_grouped_channel', groupSize: 16, opName: { w2: null }, opType: { conv: { mode: 'unique' } } });
    expect(p.name).toBe('palettize');
    expect(palettize({ nbits: 2, joint: true }).minimumTarget).toBe('iOS18');
  });
});

describe('palettize — emission per target', () => {
  it('iOS18: uint<n> indices of the weight shape and a rank-4 LUT (per tensor)', async () => {
    const p = mlp('iOS18');
    const before = weightOf(p, 'fc1');
    const r = await run(p, { nbits: 4, weightThreshold: 1000 });
    expect(r.changed).toBe(true);
    expect(r.weights.map((w) => w.weight)).toEqual(['w1', 'w2']);
    const lutOp = p.main.findOp('w1_palettized')!;
    expect(lutOp.type).toBe('constexpr_lut_to_dense');
    const indices = lutOp.input('indices')!.producer!;
    const lut = lutOp.input('lut')!.producer!;
    expect([indices.name, indices.constValue!.dtype, indices.constValue!.shape]).toEqual(['w1_palettized_indices', 'uint4', [128, 64]]);
    expect([lut.name, lut.constValue!.dtype, lut.constValue!.shape]).toEqual(['w1_palettized_lut', 'fp16', [1, 1, 16, 1]]);
    expect(lutOp.inputs.has('shape')).toBe(false);
    expect(p.main.findValue('w1')).toBeUndefined(); // the dense const is gone
    // every decompressed value is the nearest LUT entry of the original
    const after = weightOf(p, 'fc1');
    const entries = lut.constValue!.toNumbers();
    for (let i = 0; i < after.values.length; i++) {
      const best = Math.min(...entries.map((e) => Math.abs(e - before.values[i])));
      expect(Math.abs(after.values[i] - before.values[i])).toBe(best);
    }
    verifyProgram(p);
  });

  it('iOS16: packed uint8 indices, a rank-1 LUT and a uint32 shape — same values as iOS18', async () => {
    const a = mlp('iOS16');
    const b = mlp('iOS18');
    await run(a, { nbits: 4, weightThreshold: 1000 });
    await run(b, { nbits: 4, weightThreshold: 1000 });
    const op = a.main.findOp('w1_palettized')!;
    const idx = op.input('indices')!.producer!.constValue!;
    expect([idx.dtype, idx.shape]).toEqual(['uint8', [(128 * 64 * 4) / 8]]);
    expect(op.input('lut')!.producer!.constValue!.shape).toEqual([16]);
    const shape = op.input('shape')!.producer!.constValue!;
    expect([shape.dtype, shape.toNumbers()]).toEqual(['uint32', [128, 64]]);
    expect(Array.from(weightOf(a, 'fc1').values)).toEqual(Array.from(weightOf(b, 'fc1').values));
    // identical index bytes: only the declared dtype/shape differ (mlpackage-format.md §11)
    const idx18 = b.main.findOp('w1_palettized')!.input('indices')!.producer!.constValue!;
    expect(Buffer.from(idx.bytes()).equals(Buffer.from(idx18.bytes()))).toBe(true);
    verifyProgram(a);
  });

  it.each([
    [{ nbits: 3 } as PalettizeOptions, '3-bit palettization needs iOS18 (the program targets iOS16)'],
    [{ nbits: 4, granularity: 'per_grouped_channel', groupSize: 16 } as PalettizeOptions, 'grouped LUTs needs iOS18 (the program targets iOS16)'],
    [{ nbits: 4, clusterDim: 2 } as PalettizeOptions, 'vector LUTs needs iOS18 (the program targets iOS16)'],
    [{ nbits: 4, enablePerChannelScale: true } as PalettizeOptions, 'per-channel scale needs iOS18 (the program targets iOS16)'],
  ])('iOS16 refuses %j naming the feature and the target it needs', async (o, message) => {
    const p = mlp('iOS16');
    await expect(run(p, { ...o, weightThreshold: 1000 })).rejects.toThrow(`palettize: weight "w1" (function "main"): ${message}`);
  });

  it('iOS16: a unique LUT that needs 3 bits is refused when it is emitted', async () => {
    const w1 = Float32Array.from({ length: 128 * 64 }, (_, i) => (i % 5) * 0.25);
    const p = mlp('iOS17', undefined, { w1 });
    await expect(run(p, { mode: 'unique', opName: { w2: null }, weightThreshold: 1000 })).rejects.toThrow(
      '3-bit palettization needs iOS18 (the program targets iOS17)',
    );
  });

  it('joint compression needs iOS18', async () => {
    const p = mlp('iOS17');
    await expect(pipeline([palettize({ nbits: 4, joint: true })]).run(p, { logger: silentLogger })).rejects.toThrow('needs deployment target iOS18');
  });

  it('raises an iOS15 program to iOS16 (constexpr ops need it), with a warning', async () => {
    const p = mlp('iOS15');
    const r = await run(p, { nbits: 2, weightThreshold: 1000 });
    expect(p.target).toBe('iOS16');
    expect(r.warnings).toContain('the program targeted iOS15; constexpr ops need iOS16, so it now targets iOS16');
  });
});

describe('palettize — grouped, vector and scaled LUTs', () => {
  it('per_grouped_channel: one LUT per group of output channels, rows use only their group’s LUT', async () => {
    const p = mlp('iOS18');
    await run(p, { nbits: 2, granularity: 'per_grouped_channel', groupSize: 16, weightThreshold: 1000 });
    const op = p.main.findOp('w1_palettized')!;
    const lut = op.input('lut')!.producer!.constValue!;
    expect(lut.shape).toEqual([8, 1, 4, 1]);
    const entries = lut.toNumbers();
    const w = weightOf(p, 'fc1');
    for (let row = 0; row < 128; row++) {
      const g = Math.floor(row / 16);
      const mine = new Set(entries.slice(g * 4, g * 4 + 4));
      for (let c = 0; c < 64; c++) expect(mine.has(w.values[row * 64 + c])).toBe(true);
    }
  });

  it('per_grouped_channel along channelAxis 1 puts the groups on axis 1 of the LUT', async () => {
    const p = mlp('iOS18');
    await run(p, { nbits: 2, granularity: 'per_grouped_channel', groupSize: 16, channelAxis: 1, weightThreshold: 1000 });
    expect(p.main.findOp('w1_palettized')!.input('lut')!.producer!.constValue!.shape).toEqual([1, 4, 4, 1]);
    expect(p.main.findOp('w2_palettized')!.input('lut')!.producer!.constValue!.shape).toEqual([1, 8, 4, 1]);
  });

  it('skips (with a warning) a weight whose channels are not divisible by the group size', async () => {
    const p = mlp('iOS18', { in: 64, hidden: 120, out: 32 });
    const r = await run(p, { nbits: 2, granularity: 'per_grouped_channel', groupSize: 16, weightThreshold: 1000 });
    expect(r.skipped).toContainEqual({ function: 'main', weight: 'w1', reason: 'dim 0 (120) is not divisible by its block size 16' });
    expect(r.warnings).toContain('weight "w1" (function "main") skipped: dim 0 (120) is not divisible by its block size 16');
    expect(p.main.findValue('w1')).toBeDefined();
  });

  it('vector palettization: uint<n> indices with the channel dim divided by clusterDim, exact round trip via constValueOf', async () => {
    // rows come in pairs drawn from four 2-vectors per column → 2 bits reproduce them exactly
    const w1 = new Float32Array(128 * 64);
    const table = [
      [0.25, -0.5],
      [1, 0.125],
      [-0.75, -0.75],
      [0.5, 2],
    ];
    for (let r = 0; r < 64; r++) {
      for (let c = 0; c < 64; c++) {
        const t = table[(r * 5 + c * 3) % 4];
        w1[2 * r * 64 + c] = t[0];
        w1[(2 * r + 1) * 64 + c] = t[1];
      }
    }
    const p = mlp('iOS18', undefined, { w1 });
    await run(p, { nbits: 2, clusterDim: 2, opName: { w2: null }, weightThreshold: 1000 });
    const op = p.main.findOp('w1_palettized')!;
    expect(op.input('indices')!.producer!.constValue!.shape).toEqual([64, 64]);
    expect(op.input('indices')!.producer!.constValue!.dtype).toBe('uint2');
    expect(op.input('lut')!.producer!.constValue!.shape).toEqual([1, 1, 4, 2]);
    expect(constValueOf(op.input('vector_axis')!, p.target)!.toNumbers()).toEqual([0]);
    expect(Array.from(weightOf(p, 'fc1').values)).toEqual(Array.from(w1));
  });

  it('per-channel scale: lut_to_dense → blockwise_shift_scale with max |w| over the channel axis', async () => {
    // columns with very different magnitudes: the per-channel scale evens them out
    const base = gaussian(128 * 64, 0.05, 9);
    for (let i = 0; i < base.length; i++) base[i] *= 1 + 20 * ((i % 64) / 64);
    const plain = mlp('iOS18', undefined, { w1: base });
    const scaled = mlp('iOS18', undefined, { w1: base });
    const original = weightOf(plain, 'fc1').values;
    await run(plain, { nbits: 2, opName: { w2: null }, weightThreshold: 1000 });
    const r = await run(scaled, { nbits: 2, enablePerChannelScale: true, opName: { w2: null }, weightThreshold: 1000 });
    // the reported error is that of the scaled decompressed weight (fp16 products, as the op computes them)
    expect(r.weights[0].mse).toBeCloseTo(mse(weightOf(scaled, 'fc1').values, original), 14);
    expect(r.weights[0].ops).toEqual(['constexpr_lut_to_dense', 'constexpr_blockwise_shift_scale']);
    const pcs = scaled.main.findOp('w1_palettized_pcs')!;
    expect(pcs.type).toBe('constexpr_blockwise_shift_scale');
    expect(pcs.input('data')!.producer!.name).toBe('w1_palettized');
    expect(pcs.inputs.has('offset')).toBe(false);
    const s = pcs.input('scale')!.producer!.constValue!;
    expect([s.dtype, s.shape]).toEqual(['fp16', [1, 64]]);
    for (let c = 0; c < 64; c++) {
      let m = 0;
      for (let r = 0; r < 128; r++) m = Math.max(m, Math.abs(original[r * 64 + c]));
      expect(s.toNumbers()[c]).toBe(m);
    }
    expect(opTypes(scaled)).toContain('constexpr_blockwise_shift_scale');
    expect(mse(weightOf(scaled, 'fc1').values, original)).toBeLessThan(mse(weightOf(plain, 'fc1').values, original));
  });
});

describe('palettize — modes through the pass', () => {
  it('unique: a weight of 12 distinct values becomes a 4-bit LUT, reproduced exactly', async () => {
    const w1 = Float32Array.from({ length: 128 * 64 }, (_, i) => ((i * 7) % 12) / 8 - 0.75);
    const p = mlp('iOS18', undefined, { w1 });
    const r = await run(p, { mode: 'unique', weightThreshold: 1000 });
    // w2 (Gaussian) has too many distinct values: skipped
    expect(r.skipped.find((s) => s.weight === 'w2')?.reason).toMatch(/^it has \d+ distinct values in group 0; unique palettization holds at most 256 \(8 bits\)$/);
    const lut = p.main.findOp('w1_palettized')!.input('lut')!.producer!.constValue!;
    expect(lut.shape).toEqual([1, 1, 16, 1]);
    expect(lut.toNumbers().slice(12)).toEqual([0, 0, 0, 0]);
    expect(Array.from(weightOf(p, 'fc1').values)).toEqual(Array.from(w1));
  });

  it('custom: the user function decides the LUT (here: sign × mean |w|, 1 bit)', async () => {
    const p = mlp('iOS18');
    const original = weightOf(p, 'fc1').values;
    const r = await run(p, {
      mode: 'custom',
      opName: { w2: null },
      weightThreshold: 1000,
      lutFunction: (g) => {
        let m = 0;
        for (const v of g.values) m += Math.abs(v);
        m /= g.values.length;
        return { lut: [-m, m], indices: Array.from(g.values, (v) => (v < 0 ? 0 : 1)) };
      },
    });
    const lut = p.main.findOp('w1_palettized')!.input('lut')!.producer!.constValue!;
    expect([lut.shape, p.main.findOp('w1_palettized')!.input('indices')!.producer!.constValue!.dtype]).toEqual([[1, 1, 2, 1], 'uint1']);
    const [lo, hi] = lut.toNumbers();
    expect(lo).toBe(-hi);
    const after = weightOf(p, 'fc1').values;
    for (let i = 0; i < after.length; i++) expect(after[i]).toBe(original[i] < 0 ? lo : hi);
    expect(r.weights[0].mse).toBeCloseTo(mse(after, original), 14);
  });
});

describe('palettize — fp32 weights', () => {
  it('fits an fp32 LUT by the same optimal k-means (sorted histogram instead of fp16 bins)', async () => {
    const w = gaussian(96 * 64, 0.05, 12);
    const p = buildProgram('iOS18', (pb) => {
      pb.function('main', { x: tensorType('fp32', [1, 64]) }, (b, { x }) => b.linear({ x, weight: b.const(tensorFromValues('fp32', [96, 64], w), { name: 'w' }) }, { name: 'fc' }));
    });
    const r = await run(p, { nbits: 3, weightThreshold: 1000 });
    const lut = p.main.findOp('w_palettized')!.input('lut')!.producer!.constValue!;
    expect([lut.dtype, lut.shape]).toEqual(['fp32', [1, 1, 8, 1]]);
    const after = constValueOf(p.main.findOp('fc')!.input('weight')!, p.target)!.toFloat32();
    const entries = lut.toNumbers();
    let err = 0;
    for (let i = 0; i < after.length; i++) {
      expect(entries).toContain(after[i]);
      err += (after[i] - w[i]) ** 2;
    }
    expect(r.weights[0].mse).toBeCloseTo(err / after.length, 14);
    // the 1-D optimum of the same data, up to the fp32 rounding of the LUT
    const hist = histogramOf(w);
    const opt = optimalKMeans1D(hist.values, hist.counts, 8).cost / w.length;
    expect(r.weights[0].mse).toBeLessThanOrEqual(opt * (1 + 1e-6));
  });
});

describe('palettize — selection and configs', () => {
  it('compresses only weights with more elements than weightThreshold (default 2048)', async () => {
    const p = mlp('iOS18', { in: 32, hidden: 64, out: 32 }); // w1: 2048 elements, w2: 2048
    const r = await run(p, { nbits: 4 });
    expect(r.weights).toEqual([]);
    expect(r.skipped.map((s) => s.reason)).toEqual(['2048 elements, not more than weightThreshold 2048', '2048 elements, not more than weightThreshold 2048']);
    const q = mlp('iOS18', { in: 32, hidden: 64, out: 32 });
    expect((await run(q, { nbits: 4, weightThreshold: 2047 })).weights.length).toBe(2);
  });

  it('opName and opType configs override the global one; null leaves a weight alone', async () => {
    const p = mlp('iOS18');
    const r = await run(p, { nbits: 4, weightThreshold: 1000, opName: { w1: { nbits: 2, weightThreshold: 1000 }, fc2: null } });
    expect(r.weights.map((w) => [w.weight, w.method])).toEqual([['w1', 'kmeans 2-bit per_tensor']]);
    expect(p.main.findOp('w1_palettized')!.input('lut')!.producer!.constValue!.shape).toEqual([1, 1, 4, 1]);
    expect(p.main.findValue('w2')).toBeDefined();
    const q = mlp('iOS18');
    const s = await run(q, { global: null, opType: { linear: { mode: 'kmeans', nbits: 1, weightThreshold: 1000 } } });
    expect(s.weights.map((w) => w.method)).toEqual(['kmeans 1-bit per_tensor', 'kmeans 1-bit per_tensor']);
  });

  it('reports per-weight stats: bits per weight include the LUT, MSE and SNR of the decompressed weight', async () => {
    const p = mlp('iOS18');
    const original = weightOf(p, 'fc1').values;
    const r = await run(p, { nbits: 4, weightThreshold: 1000 });
    const w1 = r.weights.find((w) => w.weight === 'w1')!;
    // 8192 4-bit indices (4096 bytes) + 16 fp16 LUT entries (32 bytes)
    expect(w1.bytesBefore).toBe(128 * 64 * 2);
    expect(w1.bytesAfter).toBe(4096 + 32);
    expect(w1.bitsPerWeight).toBe((8 * 4128) / 8192);
    expect(w1.ops).toEqual(['constexpr_lut_to_dense']);
    expect(w1.method).toBe('kmeans 4-bit per_tensor');
    expect(w1.mse).toBeCloseTo(mse(weightOf(p, 'fc1').values, original), 12);
    expect(w1.snrDb).toBeGreaterThan(15);
    expect(r.stats!.compressed).toBe(2);
    expect(r.stats!.bitsPerWeight).toBeCloseTo((8 * (4128 + 2048 + 32)) / (8192 + 4096), 12);
  });
});

describe('palettize — round trips', () => {
  it('the written package reads back, verifies and decompresses to the same weights', async () => {
    const p = mlp('iOS18');
    await run(p, { nbits: 3, granularity: 'per_grouped_channel', groupSize: 32, weightThreshold: 1000 });
    const path = join(tmp, 'grouped3.mlpackage');
    writeMLPackageSync(p, path);
    const back = readMLPackageSync(path);
    verifyProgram(back);
    expect(printProgram(back)).toContain('constexpr_lut_to_dense');
    for (const layer of ['fc1', 'fc2'] as const) expect(Array.from(weightOf(back, layer).values)).toEqual(Array.from(weightOf(p, layer).values));
    const q = mlp('iOS16');
    await run(q, { nbits: 4, weightThreshold: 1000 });
    const path16 = join(tmp, 'ios16.mlpackage');
    writeMLPackageSync(q, path16);
    const back16 = readMLPackageSync(path16);
    verifyProgram(back16);
    expect(Array.from(weightOf(back16, 'fc1').values)).toEqual(Array.from(weightOf(q, 'fc1').values));
  });

  it('the interpreter runs the palettized program exactly like a dense one with the decompressed weights', async () => {
    const p = mlp('iOS18');
    const before = cloneProgram(p);
    await run(p, { nbits: 4, weightThreshold: 1000 });
    const dense = mlp('iOS18', undefined, { w1: weightOf(p, 'fc1').values, w2: weightOf(p, 'fc2').values });
    const x = { shape: [1, 64], data: gaussian(64, 1, 4) };
    const out = (q: Program) => {
      const r = createSession(q).predict({ x });
      return r[q.main.outputs[0].name].data as Float32Array;
    };
    const got = out(p);
    expect(Array.from(got)).toEqual(Array.from(out(dense)));
    // and close to the uncompressed model (two 4-bit layers: ~20 dB each)
    const ref = out(before);
    let num = 0;
    let den = 0;
    for (let i = 0; i < ref.length; i++) {
      num += (got[i] - ref[i]) ** 2;
      den += ref[i] ** 2;
    }
    expect(Math.sqrt(num / den)).toBeLessThan(0.2);
    expect(Math.sqrt(num / den)).toBeGreaterThan(0);
  });

  it('runs in worker threads with the same result as in this thread', async () => {
    const a = mlp('iOS18');
    const b = mlp('iOS18');
    await palettize({ nbits: 4, weightThreshold: 1000, workers: 0 }).run(a, ctx(a));
    const r = await palettize({ nbits: 4, weightThreshold: 1000, workers: 2, inThreadBelow: 0 }).run(b, ctx(b));
    expect(r.weights.every((w) => w.inWorker)).toBe(true);
    expect(printProgram(b)).toBe(printProgram(a));
  });

  it('decompressed fp16 values are exactly LUT entries', async () => {
    const p = mlp('iOS18');
    await run(p, { nbits: 6, weightThreshold: 1000 });
    const lut = new Set(p.main.findOp('w2_palettized')!.input('lut')!.producer!.constValue!.toNumbers());
    const { tensor } = linearWeight(p, 'w2');
    for (const h of tensor.values() as Uint16Array) expect(lut.has(fp16Value(h))).toBe(true);
  });
});
