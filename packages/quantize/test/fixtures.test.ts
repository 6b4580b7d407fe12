/**
 * Bit-exactness against coremltools: quantizing the base `mlp` fixture's fp16 weights gives
 * exactly the codes, scales (and iOS16 zero points / axis) of the quantized fixtures, and
 * the decompressed weights equal coremltools' own decompression in `<fixture>.dense/`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constValueOf, verifyProgram, type Program } from '@silica/ir';
import { readMLPackage } from '@silica/mlpackage-reader';
import { writeMLPackage } from '@silica/mlpackage-writer';
import { compareTensors, createSession, npyToFloat32, readNpz } from '@silica/interpreter';
import quantize from '../src/index.js';
import { FIXTURES, bytesEqual, constOf, ctxFor, inputOf } from '@silica/test-support';
import { denseNpy, fixture } from './helpers.js';

const WEIGHTS = ['fc1_weight_to_fp16', 'fc2_weight_to_fp16'] as const;
const tmp = mkdtempSync(join(tmpdir(), 'silica-quantize-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function quantized(base: string, options: Parameters<typeof quantize>[0]): Promise<{ p: Program; r: Awaited<ReturnType<ReturnType<typeof quantize>['run']>> }> {
  const p = await fixture(base);
  const r = await quantize(options).run(p, ctxFor(p));
  verifyProgram(p);
  return { p, r };
}

describe.each([
  ['in this thread', { workers: 0 }],
  ['on worker threads', { workers: 2, inThreadBelow: 0 }],
] as const)('bit-exact against coremltools (%s)', (_, run) => {
  it('mlp_int8_per_channel: int8 codes and fp16 [C_out, 1] scales', async () => {
    const { p, r } = await quantized('mlp', { ...run });
    const fx = await fixture('mlp_int8_per_channel');
    for (const w of WEIGHTS) {
      expect(bytesEqual(constOf(p, `${w}_quantized_data`), inputOf(fx, `${w}_quantized`, 'data'))).toBe(true);
      expect(bytesEqual(constOf(p, `${w}_quantized_scale`), inputOf(fx, `${w}_quantized`, 'scale'))).toBe(true);
      expect(p.main.findOp(`${w}_quantized`)!.input('offset')).toBeUndefined();
    }
    expect(r.weights.every((w) => w.inWorker === (run.workers > 0))).toBe(true);
  });

  it('mlp_int4_per_block32: int4 codes and fp16 [C_out, C_in / 32] scales', async () => {
    const { p } = await quantized('mlp', { ...run, dtype: 'int4', granularity: 'per_block', blockSize: 32 });
    const fx = await fixture('mlp_int4_per_block32');
    for (const w of WEIGHTS) {
      const data = constOf(p, `${w}_quantized_data`);
      expect(data.dtype).toBe('int4');
      expect(bytesEqual(data, inputOf(fx, `${w}_quantized`, 'data'))).toBe(true);
      expect(bytesEqual(constOf(p, `${w}_quantized_scale`), inputOf(fx, `${w}_quantized`, 'scale'))).toBe(true);
    }
  });

  it('mlp_ios16_int8_per_channel: constexpr_affine_dequantize with data, scale, zero point and axis', async () => {
    const { p } = await quantized('mlp_ios16', { ...run });
    const fx = await fixture('mlp_ios16_int8_per_channel');
    for (const w of WEIGHTS) {
      const op = p.main.findOp(`${w}_quantized`)!;
      expect(op.type).toBe('constexpr_affine_dequantize');
      for (const param of ['quantized_data', 'scale', 'zero_point', 'axis']) {
        expect(bytesEqual(inputOf(p, `${w}_quantized`, param), inputOf(fx, `${w}_quantized`, param)), `${w} ${param}`).toBe(true);
      }
    }
  });
});

describe('decompression equals coremltools', () => {
  it.each([
    ['mlp', 'mlp_int8_per_channel', {}],
    ['mlp', 'mlp_int4_per_block32', { dtype: 'int4', granularity: 'per_block', blockSize: 32 }],
    ['mlp_ios16', 'mlp_ios16_int8_per_channel', {}],
  ] as const)('%s → %s: constValueOf of the new op = the fixture .dense values', async (base, fx, options) => {
    const { p } = await quantized(base, { workers: 0, ...options });
    for (const w of WEIGHTS) {
      const ours = constValueOf(p.main.findValue(`${w}_quantized`)!, p.target)!;
      expect(ours.dtype).toBe('fp16');
      expect(Buffer.from(ours.bytes()).equals(Buffer.from(denseNpy(fx, `${w}_quantized`).buffer))).toBe(true);
    }
  });

  it('stays within half a quantization step of the original weight', async () => {
    const base = await fixture('mlp');
    const { p, r } = await quantized('mlp', { workers: 0 });
    for (const w of WEIGHTS) {
      const orig = constOf(base, w).toFloat32();
      const deq = constValueOf(p.main.findValue(`${w}_quantized`)!, p.target)!.toFloat32();
      const scale = constOf(p, `${w}_quantized_scale`).toFloat32();
      const cols = constOf(base, w).shape[1];
      let worst = 0;
      let se = 0;
      let outside = 0;
      for (let i = 0; i < orig.length; i++) {
        const s = scale[Math.floor(i / cols)];
        const e = Math.abs(deq[i] - orig[i]);
        // ½ step from rounding, plus the fp16 roundings of w/scale and of the product
        if (e > 0.5 * s + Math.abs(orig[i]) * 2 ** -10 + s * 2 ** -3) outside++;
        worst = Math.max(worst, e);
        se += e * e;
      }
      expect(outside).toBe(0);
      const st = r.weights.find((x) => x.weight === w)!;
      expect(st.maxAbsError).toBe(worst);
      expect(st.mse).toBeCloseTo(se / orig.length, 15);
    }
  });
});

describe('stats', () => {
  it('int8 per-channel: 8 bits per weight plus one fp16 scale per row', async () => {
    const { r } = await quantized('mlp', { workers: 0 });
    const fc1 = r.weights.find((w) => w.weight === 'fc1_weight_to_fp16')!;
    expect(fc1).toMatchObject({ elements: 262144, bytesBefore: 524288, bytesAfter: 262144 + 2048, bitsPerWeight: 8.0625, method: 'int8 linear_symmetric per_channel' });
    expect(fc1.ops).toEqual(['constexpr_blockwise_shift_scale']);
    expect(fc1.snrDb).toBeGreaterThan(40);
    // fc2 [256, 1024] has 256 scales
    expect(r.stats).toMatchObject({ compressed: 2, skipped: 2, bytesBefore: 1048576, bytesAfter: 2 * 262144 + 2048 + 512, bitsPerWeight: 8 + (8 * 2560) / 524288 });
    expect(r.skipped.map((s) => s.weight)).toEqual(['fc1_bias_to_fp16', 'fc2_bias_to_fp16']);
  });

  it('int4 per-block 32: 4 bits per weight plus one fp16 scale per 32', async () => {
    const { r } = await quantized('mlp', { workers: 0, dtype: 'int4', granularity: 'per_block' });
    expect(r.weights.map((w) => w.bitsPerWeight)).toEqual([4.5, 4.5]);
    expect(r.stats.ratio).toBeCloseTo(16 / 4.5, 12);
    expect(r.weights.every((w) => w.snrDb > 18 && w.snrDb < 25)).toBe(true);
  });

  it('iOS16 int8: the zero points and the axis count as overhead too', async () => {
    const { r } = await quantized('mlp_ios16', { workers: 0 });
    const fc1 = r.weights.find((w) => w.weight === 'fc1_weight_to_fp16')!;
    expect(fc1.bytesAfter).toBe(262144 + 1024 * 2 + 1024 + 4);
    expect(fc1.ops).toEqual(['constexpr_affine_dequantize']);
  });
});

describe('writing and running the result', () => {
  it.each([
    ['mlp', {}],
    ['mlp', { dtype: 'int4', granularity: 'per_block', blockSize: 32 }],
    ['mlp_ios16', {}],
  ] as const)('%s %j: writeMLPackage → readMLPackage round trip verifies and keeps the tensors', async (base, options) => {
    const { p } = await quantized(base, { workers: 0, ...options });
    const out = join(tmp, `${base}-${Object.values(options).join('-') || 'int8'}.mlpackage`);
    await writeMLPackage(p, out);
    const back = await readMLPackage(out);
    verifyProgram(back);
    expect(back.target).toBe(p.target);
    for (const w of WEIGHTS) {
      const a = constValueOf(p.main.findValue(`${w}_quantized`)!, p.target)!;
      const b = constValueOf(back.main.findValue(`${w}_quantized`)!, back.target)!;
      expect(bytesEqual(a, b)).toBe(true);
    }
  });

  it('the interpreter runs the result exactly like the coremltools fixture, close to the fp32 reference', async () => {
    const inputs = readNpz(join(FIXTURES, 'mlp.inputs.npz'));
    const expected = readNpz(join(FIXTURES, 'mlp.expected.npz'));
    const x = { shape: inputs.x.shape, data: npyToFloat32(inputs.x) };
    const base = await fixture('mlp');
    const before = createSession(base).predict({ x }).y;
    const snr: Record<string, number> = {};
    for (const [name, fx, options, tol] of [
      // coremltools' own models (bit-identical to ours) reach 1.07e-2 (int8) and 1.44e-1 (int4)
      // relative L2 against the fp32 reference under the interpreter
      ['int8', 'mlp_int8_per_channel', {}, 2e-2],
      ['int4', 'mlp_int4_per_block32', { dtype: 'int4', granularity: 'per_block' }, 2e-1],
    ] as const) {
      const { p } = await quantized('mlp', { workers: 0, ...options });
      const y = createSession(p).predict({ x }).y;
      const theirs = createSession(await fixture(fx)).predict({ x }).y;
      expect(Array.from(y.data)).toEqual(Array.from(theirs.data));
      expect(compareTensors(expected.y, y).relativeL2).toBeLessThan(tol);
      snr[name] = compareTensors(before, y).snr;
    }
    // int8 is much closer to the uncompressed model than int4
    expect(snr.int8).toBeGreaterThan(snr.int4 + 15);
  });
});

describe('joint prune → quantize', () => {
  it('quantizing mlp_prune_50 jointly gives mlp_prune50_int8 bit for bit', async () => {
    const { p, r } = await quantized('mlp_prune_50', { workers: 0, joint: true });
    const fx = await fixture('mlp_prune50_int8');
    for (const w of ['fc1', 'fc2']) {
      const dense = p.main.findOp(`${w}_weight_to_fp16_sparsified`)!;
      expect(dense.type).toBe('constexpr_sparse_to_dense');
      const sq = dense.input('nonzero_data')!.producer!;
      expect(sq.type).toBe('constexpr_sparse_blockwise_shift_scale');
      expect(sq.input('data_mask')).toBe(dense.input('mask')); // the mask blob is shared
      for (const param of ['data_mask', 'nonzero_data', 'scale']) {
        expect(bytesEqual(sq.input(param)!.producer!.constValue!, inputOf(fx, `${w}_weight_to_fp16_sparsified_nonzero_data_0_quantized`, param)), `${w} ${param}`).toBe(true);
      }
      const ours = constValueOf(dense.output, p.target)!;
      expect(Buffer.from(ours.bytes()).equals(Buffer.from(denseNpy('mlp_prune50_int8', `${w}_weight_to_fp16_sparsified`).buffer))).toBe(true);
    }
    expect(r.weights.map((w) => [w.weight, w.dense])).toEqual([
      ['fc1_weight_to_fp16_sparsified_nonzero_data', 'fc1_weight_to_fp16_sparsified'],
      ['fc2_weight_to_fp16_sparsified_nonzero_data', 'fc2_weight_to_fp16_sparsified'],
    ]);
    const out = join(tmp, 'prune50_int8.mlpackage');
    await writeMLPackage(p, out);
    verifyProgram(await readMLPackage(out));
  });

  it('without joint the already-pruned weights are left alone', async () => {
    const { r } = await quantized('mlp_prune_50', { workers: 0 });
    expect(r.changed).toBe(false);
    expect(r.skipped.find((s) => s.weight === 'fc1_weight_to_fp16_sparsified_nonzero_data')?.reason).toBe(
      'already an input of constexpr_sparse_to_dense "fc1_weight_to_fp16_sparsified" (nonzero_data); compress it again with joint: true',
    );
  });
});

describe('joint palettize → quantize (LUT quantization)', () => {
  it('quantizes the LUT per tensor and feeds constexpr_lut_to_dense', async () => {
    const base = await fixture('mlp_palette_4bit_kmeans');
    const before = Object.fromEntries(
      [...base.main.ops].filter((o) => o.type === 'constexpr_lut_to_dense').map((o) => [o.name, constValueOf(o.output, base.target)!.toFloat32()]),
    );
    const { p, r } = await quantized('mlp_palette_4bit_kmeans', { workers: 0, joint: true, granularity: 'per_tensor' });
    const luts = [...p.main.ops].filter((o) => o.type === 'constexpr_lut_to_dense');
    expect(luts.length).toBe(2);
    for (const op of luts) {
      expect(op.input('lut')!.producer!.type).toBe('constexpr_blockwise_shift_scale');
      const after = constValueOf(op.output, p.target)!.toFloat32();
      const ref = before[op.name];
      let err = 0;
      let sig = 0;
      for (let i = 0; i < ref.length; i++) {
        err += (after[i] - ref[i]) ** 2;
        sig += ref[i] ** 2;
      }
      expect(10 * Math.log10(sig / err)).toBeGreaterThan(35);
    }
    expect(r.weights.every((w) => w.method === 'int8 linear_symmetric per_tensor (LUT)')).toBe(true);
  });

  it('a per-channel config for a LUT is an error naming the weight', async () => {
    const p = await fixture('mlp_palette_4bit_kmeans');
    await expect(quantize({ workers: 0, joint: true }).run(p, ctxFor(p))).rejects.toThrow(/joint palettize → quantize quantizes the LUT of constexpr_lut_to_dense ".*", which needs granularity "per_tensor" \(got "per_channel"\)/);
  });
});
