import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DenseTensor,
  type Op,
  type Program,
  type Tensor,
  buildProgram,
  constValueOf,
  createPassContext,
  packSubByte,
  pipeline,
  silentLogger,
  tensorFromValues,
  tensorType,
  verifyProgram,
} from '@silica/ir';
import { readMLPackageSync } from '@silica/mlpackage-reader';
import { writeMLPackageSync } from '@silica/mlpackage-writer';
import prune from '@silica/prune';
import quantize from '@silica/quantize';
import palettize, { canonicalizeQuantizedLut } from '../src/index.js';
import { ctx, gaussian, readFixture } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'silica-palettize-joint-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Zeros the `sparsity` fraction of smallest |w| (ties at the threshold pruned too, as NumPy's percentile rule). */
function magnitudePrune(w: Float32Array, sparsity: number): Float32Array {
  const mags = Float32Array.from(w, Math.abs).sort();
  const threshold = mags[Math.floor(sparsity * (mags.length - 1))];
  return Float32Array.from(w, (v) => (Math.abs(v) <= threshold ? 0 : v));
}

/** fp16 weights → `constexpr_sparse_to_dense(nonzero_data, mask)` as coremltools' prune_weights emits at iOS18. */
function sparseConsts(dense: Float32Array, shape: number[]): { mask: Tensor; nonzero: Tensor } {
  const bits = Uint8Array.from(dense, (v) => (v !== 0 ? 1 : 0));
  const nonzero = dense.filter((v) => v !== 0);
  return { mask: new DenseTensor('uint1', shape, packSubByte(bits, 1)), nonzero: tensorFromValues('fp16', [nonzero.length], nonzero) };
}

/** x[1, 256] → linear(w1 [512, 256], pruned) → relu → linear(w2 [128, 512], pruned). */
function prunedMlp(sparsity: number, w1?: Float32Array): { program: Program; dense: Record<'w1' | 'w2', Float32Array> } {
  const dense = {
    w1: w1 ?? magnitudePrune(gaussian(512 * 256, 0.04, 21), sparsity),
    w2: magnitudePrune(gaussian(128 * 512, 0.04, 22), sparsity),
  };
  const program = buildProgram('iOS18', (p) => {
    p.function('main', { x: tensorType('fp16', [1, 256]) }, (b, { x }) => {
      const layer = (name: 'w1' | 'w2', shape: number[]) => {
        const s = sparseConsts(dense[name], shape);
        const mask = b.const(s.mask, { name: `${name}_sparsified_mask` });
        const nz = b.const(s.nonzero, { name: `${name}_sparsified_nonzero_data` });
        return b.constexpr_sparse_to_dense({ nonzero_data: nz, mask }, { name: `${name}_sparsified` });
      };
      const h = b.relu({ x: b.linear({ x, weight: layer('w1', [512, 256]) }, { name: 'fc1' }) });
      return b.linear({ x: h, weight: layer('w2', [128, 512]) }, { name: 'fc2' });
    });
  });
  // the dense weights as fp16 values
  for (const k of ['w1', 'w2'] as const) dense[k] = tensorFromValues('fp16', [dense[k].length], dense[k]).toFloat32();
  return { program, dense };
}

function mse(a: Float32Array, b: Float32Array): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e += (a[i] - b[i]) ** 2;
  return e / a.length;
}

/** `type(param: dtype[shape], …)` for every constexpr op, producer first — the structure of a chain. */
function constexprSignature(p: Program): string[] {
  const t = (v: { type: unknown }) => {
    const ty = v.type as { dtype: string; shape: readonly number[] };
    return `${ty.dtype}[${ty.shape.join(',')}]`;
  };
  return p.main.ops
    .filter((o) => o.isConstexpr)
    .map((o: Op) => `${o.type}(${[...o.inputs].map(([k, vs]) => `${k}: ${vs.map(t).join('|')}`).sort().join(', ')}) -> ${o.outputs.map(t).join(', ')}`);
}

describe('joint prune → palettize (mil-ops.md §7.6)', () => {
  it('matches the structure of coremltools’ mlp_prune50_palette4 on mlp_prune_50', async () => {
    const ours = readFixture('mlp_prune_50');
    const r = await palettize({ nbits: 4, joint: true, workers: 0 }).run(ours, ctx(ours));
    expect(r.weights.map((w) => w.ops)).toEqual([
      ['constexpr_lut_to_sparse', 'constexpr_sparse_to_dense'],
      ['constexpr_lut_to_sparse', 'constexpr_sparse_to_dense'],
    ]);
    const theirs = readFixture('mlp_prune50_palette4');
    expect(constexprSignature(ours)).toEqual(constexprSignature(theirs));
    // the dense weights keep their names, so downstream ops are untouched
    expect(ours.main.findOp('fc1_cast_fp16')!.input('weight')!.name).toBe('fc1_weight_to_fp16_sparsified');
    const sparse = ours.main.findOp('fc1_weight_to_fp16_sparsified')!;
    const lts = sparse.input('nonzero_data')!.producer!;
    expect(lts.type).toBe('constexpr_lut_to_sparse');
    expect(sparse.input('mask')).toBe(lts.outputs[0]);
    expect(lts.input('indices_mask')!.name).toBe('fc1_weight_to_fp16_sparsified_mask');
    verifyProgram(ours);
  });

  it('seed use case: 40 % magnitude sparsity, then 4-bit per-grouped-channel (16) palettization of the pruned weights', async () => {
    const { program, dense } = prunedMlp(0.4);
    const r = await palettize({ nbits: 4, granularity: 'per_grouped_channel', groupSize: 16, joint: true, workers: 0 }).run(program, ctx(program));
    expect(r.weights.map((w) => [w.weight, w.method])).toEqual([
      ['w1_sparsified_nonzero_data', 'kmeans 4-bit per_grouped_channel(16)'],
      ['w2_sparsified_nonzero_data', 'kmeans 4-bit per_grouped_channel(16)'],
    ]);
    verifyProgram(program);
    for (const [name, layer, rows, cols] of [['w1', 'fc1', 512, 256], ['w2', 'fc2', 128, 512]] as const) {
      const lts = program.main.findOp(`${name}_sparsified_nonzero_data_palettized`)!;
      expect(lts.type).toBe('constexpr_lut_to_sparse');
      const lut = constValueOf(lts.input('lut')!, program.target)!;
      expect(lut.shape).toEqual([rows / 16, 1, 16, 1]);
      const idx = constValueOf(lts.input('indices_nonzero_data')!, program.target)!;
      const kept = dense[name].filter((v) => v !== 0).length;
      expect([idx.dtype, idx.shape]).toEqual(['uint4', [kept]]);
      expect(kept / dense[name].length).toBeCloseTo(0.6, 2);
      const after = constValueOf(program.main.findOp(layer)!.input('weight')!, program.target)!.toFloat32();
      const entries = lut.toNumbers();
      let err = 0;
      for (let i = 0; i < after.length; i++) {
        if (dense[name][i] === 0) {
          if (after[i] !== 0) expect.fail(`${name}[${i}] was pruned but decompresses to ${after[i]}`); // pruned stays pruned
          continue;
        }
        // a kept weight decompresses to the entry of its group's LUT nearest to it
        const g = Math.floor(Math.floor(i / cols) / 16);
        let best = Infinity;
        for (let e = g * 16; e < g * 16 + 16; e++) best = Math.min(best, Math.abs(entries[e] - dense[name][i]));
        if (Math.abs(after[i] - dense[name][i]) !== best) expect.fail(`${name}[${i}] = ${after[i]} is not the nearest LUT entry to ${dense[name][i]}`);
        err += (after[i] - dense[name][i]) ** 2;
      }
      // the zeros make up 40 % of each group: the optimal LUT keeps an exact 0 entry for them
      for (let g = 0; g < rows / 16; g++) expect(entries.slice(g * 16, g * 16 + 16)).toContain(0);
      const s = r.weights.find((w) => w.weight === `${name}_sparsified_nonzero_data`)!;
      expect(s.mse).toBeCloseTo(err / after.length, 12);
      // mask bit + 4-bit index for 60 % of the weights + the LUTs
      expect(s.bitsPerWeight).toBeCloseTo(1 + 0.6 * 4 + (rows / 16) * 16 * 16 / dense[name].length, 2);
    }
  });

  it('seed use case with the real passes: prune({ targetSparsity: 0.4 }) → palettize 4-bit grouped (16), joint', async () => {
    const p = readFixture('mlp');
    const dense = constValueOf(p.main.findOp('fc1_cast_fp16')!.input('weight')!, p.target)!.toFloat32();
    const { report } = await pipeline([
      prune({ targetSparsity: 0.4, workers: 0 }),
      palettize({ nbits: 4, granularity: 'per_grouped_channel', groupSize: 16, joint: true, workers: 0 }),
    ]).runWithReport(p, { logger: silentLogger });
    expect(report.map((r) => [r.pass, r.stats.compressed])).toEqual([
      ['prune', 2],
      ['palettize', 2],
    ]);
    verifyProgram(p);
    const sparse = p.main.findOp('fc1_cast_fp16')!.input('weight')!.producer!;
    expect(sparse.type).toBe('constexpr_sparse_to_dense');
    const lts = sparse.input('nonzero_data')!.producer!;
    expect(lts.type).toBe('constexpr_lut_to_sparse');
    expect(constValueOf(lts.input('lut')!, p.target)!.shape).toEqual([64, 1, 16, 1]);
    const after = constValueOf(sparse.output, p.target)!.toFloat32();
    let zeros = 0;
    let err = 0;
    let sig = 0;
    for (let i = 0; i < after.length; i++) {
      if (after[i] === 0) zeros++;
      err += (after[i] - dense[i]) ** 2;
      sig += dense[i] ** 2;
    }
    expect(zeros / after.length).toBeGreaterThanOrEqual(0.4);
    expect(zeros / after.length).toBeLessThan(0.42);
    // 40 % pruning dominates the error against the original; the palettization itself costs little
    expect(10 * Math.log10(sig / err)).toBeGreaterThan(10);
    expect(report[1].stats.minSnrDb).toBeGreaterThan(20);
  });

  it('vector LUTs on a weight pruned in whole vectors (pairs of output channels); a split vector is skipped', async () => {
    // prune pairs of rows (output channels 2r, 2r + 1) together by their joint magnitude
    const w = gaussian(512 * 256, 0.04, 31);
    for (let r = 0; r < 256; r++) {
      for (let c = 0; c < 256; c++) {
        if (Math.abs(w[2 * r * 256 + c]) + Math.abs(w[(2 * r + 1) * 256 + c]) < 0.05) {
          w[2 * r * 256 + c] = 0;
          w[(2 * r + 1) * 256 + c] = 0;
        }
      }
    }
    const { program, dense } = prunedMlp(0.3, w);
    const pruned = dense.w1;
    const r = await palettize({ nbits: 4, clusterDim: 2, joint: true, workers: 0 }).run(program, ctx(program));
    expect(r.weights.map((x) => x.weight)).toEqual(['w1_sparsified_nonzero_data']);
    // w2 was pruned element by element: its pairs are split
    expect(r.skipped.find((x) => x.weight === 'w2_sparsified_nonzero_data')?.reason).toBe(
      'its pruning mask splits LUT vectors of 2 channels along axis 0; vector palettization of a pruned weight needs whole vectors pruned',
    );
    verifyProgram(program);
    const lts = program.main.findOp('w1_sparsified_nonzero_data_palettized')!;
    expect(constValueOf(lts.input('indices_mask')!, program.target)!.shape).toEqual([256, 256]);
    expect(constValueOf(lts.input('lut')!, program.target)!.shape).toEqual([1, 1, 16, 2]);
    expect(constValueOf(lts.input('vector_axis')!, program.target)!.toNumbers()).toEqual([0]);
    const after = constValueOf(program.main.findOp('fc1')!.input('weight')!, program.target)!.toFloat32();
    let zeros = 0;
    for (let i = 0; i < after.length; i++) {
      if (pruned[i] === 0) {
        zeros++;
        if (after[i] !== 0) expect.fail(`element ${i} was pruned but decompresses to ${after[i]}`);
      }
    }
    expect(zeros).toBeGreaterThan(0.1 * after.length);
    expect(mse(pruned, after)).toBeLessThan(0.04 ** 2 / 10);
  });

  it('a prune → palettize package written to disk reads back, verifies and decompresses the same', async () => {
    const { program } = prunedMlp(0.4);
    await palettize({ nbits: 4, granularity: 'per_grouped_channel', groupSize: 32, joint: true, workers: 0 }).run(program, ctx(program));
    const path = join(tmp, 'joint.mlpackage');
    writeMLPackageSync(program, path);
    const back = readMLPackageSync(path);
    verifyProgram(back);
    for (const layer of ['fc1', 'fc2']) {
      const a = constValueOf(program.main.findOp(layer)!.input('weight')!, program.target)!;
      const b = constValueOf(back.main.findOp(layer)!.input('weight')!, back.target)!;
      expect(Buffer.from(b.bytes()).equals(Buffer.from(a.bytes()))).toBe(true);
    }
  });

  it('refuses per-channel scale on a pruned weight, naming it', async () => {
    const { program } = prunedMlp(0.5);
    await expect(palettize({ nbits: 4, enablePerChannelScale: true, joint: true, workers: 0 }).run(program, ctx(program))).rejects.toThrow(
      'palettize: weight "w1_sparsified_nonzero_data" (function "main"): enablePerChannelScale cannot be combined with joint palettization of a pruned weight',
    );
  });

  it('without joint: true a pruned weight is left alone, with the reason', async () => {
    const { program } = prunedMlp(0.5);
    const r = await palettize({ nbits: 4, workers: 0 }).run(program, ctx(program));
    expect(r.weights).toEqual([]);
    expect(r.skipped[0].reason).toBe('already an input of constexpr_sparse_to_dense "w1_sparsified" (nonzero_data); compress it again with joint: true');
  });
});

describe('joint quantize → palettize and the canonical order of a quantized LUT', () => {
  const decompressed = (p: Program, op: string) => constValueOf(p.main.findOp(op)!.input('weight')!, p.target)!.toFloat32();

  it('iOS18: blockwise_shift_scale(int LUT, per-channel scale repeated over the LUT) → lut_to_dense', async () => {
    const p = readFixture('mlp_int8_per_channel');
    const before = decompressed(p, 'fc1_cast_fp16');
    const r = await palettize({ nbits: 4, joint: true, workers: 0 }).run(p, ctx(p));
    expect(r.stats!.canonicalizedLuts).toBe(2);
    verifyProgram(p);
    const dense = p.main.findOp('fc1_cast_fp16')!.input('weight')!.producer!;
    expect(dense.type).toBe('constexpr_lut_to_dense');
    const bss = dense.input('lut')!.producer!;
    expect(bss.type).toBe('constexpr_blockwise_shift_scale');
    const lut = constValueOf(bss.input('data')!, p.target)!;
    const scale = constValueOf(bss.input('scale')!, p.target)!;
    // the per-output-channel scale [1024, 1] becomes [1024, 1, 1, 1]; the per-tensor LUT is repeated per channel
    expect([lut.dtype, lut.shape]).toEqual(['int8', [1024, 1, 16, 1]]);
    expect(scale.shape).toEqual([1024, 1, 1, 1]);
    const after = decompressed(p, 'fc1_cast_fp16');
    let err = 0;
    let sig = 0;
    for (let i = 0; i < after.length; i++) {
      err += (after[i] - before[i]) ** 2;
      sig += before[i] ** 2;
    }
    expect(10 * Math.log10(sig / err)).toBeGreaterThan(15);
  });

  it('iOS26: lut_to_dense(int LUT) → blockwise_shift_scale, with the same decompressed weights as iOS18', async () => {
    const a = readFixture('mlp_int8_per_channel');
    await palettize({ nbits: 4, joint: true, workers: 0 }).run(a, ctx(a));
    const b = readFixture('mlp_int8_per_channel');
    b.target = 'iOS26';
    const r = await palettize({ nbits: 4, joint: true, workers: 0 }).run(b, ctx(b));
    expect(r.stats!.canonicalizedLuts).toBe(0);
    verifyProgram(b);
    const bss = b.main.findOp('fc1_cast_fp16')!.input('weight')!.producer!;
    expect(bss.type).toBe('constexpr_blockwise_shift_scale');
    const lut = bss.input('data')!.producer!;
    expect(lut.type).toBe('constexpr_lut_to_dense');
    expect(constValueOf(lut.input('lut')!, b.target)!.dtype).toBe('int8');
    expect(Array.from(decompressed(b, 'fc1_cast_fp16'))).toEqual(Array.from(decompressed(a, 'fc1_cast_fp16')));
  });

  it('palettize → quantize (per-tensor LUT) is canonical below iOS26 and reordered at iOS26+', async () => {
    const build = (target: 'iOS18' | 'iOS26') => {
      const p = readFixture('mlp');
      p.target = target;
      return p;
    };
    const run = async (p: Program) =>
      pipeline([palettize({ nbits: 4, workers: 0 }), quantize({ joint: true, granularity: 'per_tensor', workers: 0 }), canonicalizeQuantizedLut()]).runWithReport(p, {
        logger: silentLogger,
      });
    const a = build('iOS18');
    const ra = await run(a);
    expect(ra.report[2].stats.rewritten).toBe(0);
    const la = a.main.findOp('fc1_cast_fp16')!.input('weight')!.producer!;
    expect([la.type, la.input('lut')!.producer!.type]).toEqual(['constexpr_lut_to_dense', 'constexpr_blockwise_shift_scale']);

    const b = build('iOS26');
    const rb = await run(b);
    expect(rb.report[2].stats.rewritten).toBe(2);
    const sb = b.main.findOp('fc1_cast_fp16')!.input('weight')!.producer!;
    expect([sb.type, sb.input('data')!.producer!.type]).toEqual(['constexpr_blockwise_shift_scale', 'constexpr_lut_to_dense']);
    expect(constValueOf(sb.input('scale')!, b.target)!.shape).toEqual([1, 1]);
    expect(Array.from(decompressed(b, 'fc1_cast_fp16'))).toEqual(Array.from(decompressed(a, 'fc1_cast_fp16')));
    // the rewritten op keeps the name of the dense weight
    expect(sb.name).toBe(la.name);
  });

  it('the canonicalize pass is a no-op on a program without quantized LUTs', async () => {
    const p = readFixture('mlp_palette_4bit_kmeans');
    const r = await canonicalizeQuantizedLut().run(p, createPassContext({ target: p.target, logger: silentLogger }));
    expect(r).toEqual({ changed: false, stats: { rewritten: 0 } });
  });
});
