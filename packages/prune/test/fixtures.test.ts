/**
 * Bit-exactness against coremltools: pruning the base `mlp` fixture's fp16 weights gives
 * exactly the masks and nonzero values of the pruned fixtures; joint prune → quantize
 * gives `mlp_prune50_int8`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constValueOf, verifyProgram, type Program } from '@silica/ir';
import { readMLPackage } from '@silica/mlpackage-reader';
import { writeMLPackage } from '@silica/mlpackage-writer';
import { compareTensors, createSession, npyToFloat32, readNpz } from '@silica/interpreter';
import quantize from '@silica/quantize';
import prune, { type PruneOptions } from '../src/index.js';
import { FIXTURES, bytesEqual, constOf, ctxFor, inputOf } from '@silica/test-support';
import { denseNpy, fixture } from './helpers.js';

const WEIGHTS = ['fc1_weight_to_fp16', 'fc2_weight_to_fp16'] as const;
const tmp = mkdtempSync(join(tmpdir(), 'silica-prune-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function pruned(base: string, options: PruneOptions) {
  const p = await fixture(base);
  const r = await prune(options).run(p, ctxFor(p));
  verifyProgram(p);
  return { p, r };
}

describe.each([
  ['in this thread', { workers: 0 }],
  ['on worker threads', { workers: 2, inThreadBelow: 0 }],
] as const)('bit-exact against coremltools (%s)', (_, run) => {
  it.each([
    ['mlp_prune_50', { targetSparsity: 0.5 }],
    ['mlp_prune_1_2', { nmRatio: [1, 2] }],
  ] as const)('%s: uint1 mask and nonzero values', async (fx, options) => {
    const { p, r } = await pruned('mlp', { ...run, ...options });
    const theirs = await fixture(fx);
    for (const w of WEIGHTS) {
      const op = `${w}_sparsified`;
      expect(p.main.findOp(op)!.type).toBe('constexpr_sparse_to_dense');
      expect(bytesEqual(inputOf(p, op, 'mask'), inputOf(theirs, op, 'mask'))).toBe(true);
      expect(bytesEqual(inputOf(p, op, 'nonzero_data'), inputOf(theirs, op, 'nonzero_data'))).toBe(true);
    }
    expect(r.weights.every((w) => w.inWorker === run.workers > 0)).toBe(true);
  });

  it('mlp_ios16_prune_50: packed uint8 mask, nonzero values and uint32 shape', async () => {
    const { p } = await pruned('mlp_ios16', { ...run, targetSparsity: 0.5 });
    const theirs = await fixture('mlp_ios16_prune_50');
    for (const w of WEIGHTS) {
      const op = `${w}_sparsified`;
      for (const param of ['mask', 'nonzero_data', 'shape']) {
        expect(bytesEqual(inputOf(p, op, param), inputOf(theirs, op, param)), `${w} ${param}`).toBe(true);
      }
    }
  });
});

describe('decompression equals coremltools', () => {
  it.each([
    ['mlp', 'mlp_prune_50', { targetSparsity: 0.5 }],
    ['mlp', 'mlp_prune_1_2', { nmRatio: [1, 2] }],
    ['mlp_ios16', 'mlp_ios16_prune_50', { targetSparsity: 0.5 }],
  ] as const)('%s → %s: constValueOf of the new op = the fixture .dense values', async (base, fx, options) => {
    const { p } = await pruned(base, { workers: 0, ...options });
    for (const w of WEIGHTS) {
      const ours = constValueOf(p.main.findValue(`${w}_sparsified`)!, p.target)!;
      expect(Buffer.from(ours.bytes()).equals(Buffer.from(denseNpy(fx, `${w}_sparsified`).buffer))).toBe(true);
    }
  });

  it('keeps every surviving value exactly and zeroes the smallest half', async () => {
    const base = await fixture('mlp');
    const { p, r } = await pruned('mlp', { workers: 0, targetSparsity: 0.5 });
    for (const w of WEIGHTS) {
      const orig = constOf(base, w).toFloat32();
      const out = constValueOf(p.main.findValue(`${w}_sparsified`)!, p.target)!.toFloat32();
      let zeros = 0;
      let changed = 0;
      let largestPruned = 0;
      let smallestKept = Infinity;
      for (let i = 0; i < orig.length; i++) {
        if (out[i] === 0) {
          zeros++;
          largestPruned = Math.max(largestPruned, Math.abs(orig[i]));
        } else {
          if (out[i] !== orig[i]) changed++;
          smallestKept = Math.min(smallestKept, Math.abs(orig[i]));
        }
      }
      expect(changed).toBe(0);
      expect(largestPruned).toBeLessThan(smallestKept);
      expect(zeros / orig.length).toBeGreaterThanOrEqual(0.5);
      const st = r.weights.find((x) => x.weight === w)!;
      expect(st.maxAbsError).toBe(largestPruned);
    }
  });
});

describe('stats', () => {
  it('magnitude 50 %: fp16 values of the kept half plus a 1-bit mask', async () => {
    const { r } = await pruned('mlp', { workers: 0, targetSparsity: 0.5 });
    const fc1 = r.weights.find((w) => w.weight === 'fc1_weight_to_fp16')!;
    expect(fc1).toMatchObject({ elements: 262144, bytesBefore: 524288, bytesAfter: 131007 * 2 + 32768, method: 'magnitude 50%', ops: ['constexpr_sparse_to_dense'] });
    expect(fc1.bitsPerWeight).toBe((8 * (131007 * 2 + 32768)) / 262144);
    expect(r.stats).toMatchObject({ compressed: 2, skipped: 2 });
  });

  it('the iOS16 form adds the uint32 shape', async () => {
    const { r } = await pruned('mlp_ios16', { workers: 0, targetSparsity: 0.5 });
    expect(r.weights[0].bytesAfter).toBe(131007 * 2 + 32768 + 8);
  });
});

describe('writing and running the result', () => {
  it.each([
    ['mlp', { targetSparsity: 0.5 }],
    ['mlp', { nmRatio: [1, 2] }],
    ['mlp_ios16', { targetSparsity: 0.5 }],
  ] as const)('%s %j: round trip through writeMLPackage / readMLPackage', async (base, options) => {
    const { p } = await pruned(base, { workers: 0, ...options });
    const out = join(tmp, `${base}-${JSON.stringify(options).replace(/\W+/g, '_')}.mlpackage`);
    await writeMLPackage(p, out);
    const back = await readMLPackage(out);
    verifyProgram(back);
    for (const w of WEIGHTS) {
      expect(bytesEqual(constValueOf(back.main.findValue(`${w}_sparsified`)!, back.target)!, constValueOf(p.main.findValue(`${w}_sparsified`)!, p.target)!)).toBe(true);
    }
  });

  it('the interpreter runs the result exactly like the coremltools fixture', async () => {
    const inputs = readNpz(join(FIXTURES, 'mlp.inputs.npz'));
    const expected = readNpz(join(FIXTURES, 'mlp.expected.npz'));
    const x = { shape: inputs.x.shape, data: npyToFloat32(inputs.x) };
    const before = createSession(await fixture('mlp')).predict({ x }).y;
    for (const [fx, options] of [
      ['mlp_prune_50', { targetSparsity: 0.5 }],
      ['mlp_prune_1_2', { nmRatio: [1, 2] }],
    ] as const) {
      const { p } = await pruned('mlp', { workers: 0, ...options });
      const y = createSession(p).predict({ x }).y;
      expect(Array.from(y.data)).toEqual(Array.from(createSession(await fixture(fx)).predict({ x }).y.data));
      // pruning half the weights of a random MLP is a large change: only sanity bounds here
      const m = compareTensors(before, y);
      expect(m.cosine).toBeGreaterThan(0.8);
      expect(compareTensors(expected.y, y).relativeL2).toBeLessThan(0.6);
    }
  });
});

describe('joint compression', () => {
  async function expectPrune50Int8(p: Program): Promise<void> {
    const fx = await fixture('mlp_prune50_int8');
    for (const w of ['fc1', 'fc2']) {
      const dense = p.main.findOp(`${w}_weight_to_fp16_sparsified`)!;
      const sq = dense.input('nonzero_data')!.producer!;
      expect(sq.type).toBe('constexpr_sparse_blockwise_shift_scale');
      for (const param of ['data_mask', 'nonzero_data', 'scale']) {
        expect(bytesEqual(sq.input(param)!.producer!.constValue!, inputOf(fx, `${w}_weight_to_fp16_sparsified_nonzero_data_0_quantized`, param)), `${w} ${param}`).toBe(true);
      }
      const ours = constValueOf(dense.output, p.target)!;
      expect(Buffer.from(ours.bytes()).equals(Buffer.from(denseNpy('mlp_prune50_int8', `${w}_weight_to_fp16_sparsified`).buffer))).toBe(true);
    }
  }

  it('prune → quantize (joint) gives mlp_prune50_int8 bit for bit', async () => {
    const { p } = await pruned('mlp', { workers: 0, targetSparsity: 0.5 });
    const r = await quantize({ workers: 0, joint: true }).run(p, ctxFor(p));
    verifyProgram(p);
    expect(r.weights.map((w) => w.ops.join(' → '))).toEqual([
      'constexpr_sparse_blockwise_shift_scale → constexpr_sparse_to_dense',
      'constexpr_sparse_blockwise_shift_scale → constexpr_sparse_to_dense',
    ]);
    await expectPrune50Int8(p);
  });

  it('quantize → prune (joint): constexpr_blockwise_shift_scale becomes the sparse pair', async () => {
    const p = await fixture('mlp');
    await quantize({ workers: 0 }).run(p, ctxFor(p));
    const before = Object.fromEntries(WEIGHTS.map((w) => [w, constValueOf(p.main.findValue(`${w}_quantized`)!, p.target)!.toFloat32()]));
    const r = await prune({ workers: 0, joint: true, targetSparsity: 0.5 }).run(p, ctxFor(p));
    verifyProgram(p);
    expect(r.weights.map((w) => [w.weight, w.dense, w.ops.join(' → ')])).toEqual(
      WEIGHTS.map((w) => [`${w}_quantized`, `${w}_quantized_sparsified`, 'constexpr_sparse_blockwise_shift_scale → constexpr_sparse_to_dense']),
    );
    for (const w of WEIGHTS) {
      const out = constValueOf(p.main.findValue(`${w}_quantized_sparsified`)!, p.target)!.toFloat32();
      const ref = before[w];
      let zeros = 0;
      let changed = 0;
      for (let i = 0; i < ref.length; i++) {
        if (out[i] === 0) zeros++;
        else if (out[i] !== ref[i]) changed++;
      }
      expect(changed).toBe(0); // kept values dequantize exactly as before
      expect(zeros / ref.length).toBeGreaterThanOrEqual(0.5);
      // the int8 codes and the scale are reused: same scale const, data gathered at the mask
      const sq = p.main.findValue(`${w}_quantized_sparsified`)!.producer!.input('nonzero_data')!.producer!;
      expect(sq.input('scale')!.producer!.name).toBe(`${w}_quantized_scale`);
    }
    expect(p.main.findOp('fc1_weight_to_fp16_quantized_data')).toBeUndefined();
    const out = join(tmp, 'int8-prune50.mlpackage');
    await writeMLPackage(p, out);
    verifyProgram(await readMLPackage(out));
  });

  it('palettize → prune (joint): constexpr_lut_to_dense becomes constexpr_lut_to_sparse + constexpr_sparse_to_dense', async () => {
    const p = await fixture('mlp_palette_4bit_kmeans');
    const luts = [...p.main.ops].filter((o) => o.type === 'constexpr_lut_to_dense');
    const before = Object.fromEntries(luts.map((o) => [o.name, constValueOf(o.output, p.target)!.toFloat32()]));
    const r = await prune({ workers: 0, joint: true, targetSparsity: 0.5 }).run(p, ctxFor(p));
    verifyProgram(p);
    expect(r.stats.compressed).toBe(2);
    for (const op of luts) {
      const dense = p.main.findValue(`${op.name}_sparsified`)!;
      expect(dense.producer!.type).toBe('constexpr_sparse_to_dense');
      expect(dense.producer!.input('nonzero_data')!.producer!.type).toBe('constexpr_lut_to_sparse');
      const out = constValueOf(dense, p.target)!.toFloat32();
      const ref = before[op.name];
      let zeros = 0;
      let changed = 0;
      for (let i = 0; i < ref.length; i++) {
        if (out[i] === 0) zeros++;
        else if (out[i] !== ref[i]) changed++;
      }
      expect(changed).toBe(0);
      expect(zeros / ref.length).toBeGreaterThanOrEqual(0.5);
    }
  });

  it('without joint, already-compressed weights are left alone; joint leaves plain consts alone', async () => {
    const q = await fixture('mlp_int8_per_channel');
    expect((await prune({ workers: 0, targetSparsity: 0.5 }).run(q, ctxFor(q))).changed).toBe(false);
    const p = await fixture('mlp');
    expect((await prune({ workers: 0, joint: true, targetSparsity: 0.5 }).run(p, ctxFor(p))).changed).toBe(false);
  });

  it('joint compression needs iOS18', async () => {
    const p = await fixture('mlp_ios16_int8_per_channel');
    await expect(prune({ workers: 0, joint: true, targetSparsity: 0.5 }).run(p, ctxFor(p))).rejects.toThrow('prune: joint compression needs iOS18 (the program targets iOS16)');
  });
});
