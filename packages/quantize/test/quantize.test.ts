import { describe, expect, it } from 'vitest';
import { constValueOf, fromFloat32, pipeline, tensorFromValues, verifyProgram, type Program } from '@silica/ir';
import { CompressionConfigError, CompressionTargetError } from '@silica/compression';
import quantize, { quantRange, quantizeKernel, type QuantizeOptions } from '../src/index.js';
import { ctxFor, linearChain, program, randomFloats, randomWeight as weight } from '@silica/test-support';

const run = async (p: Program, options: QuantizeOptions) => {
  const r = await quantize({ workers: 0, ...options }).run(p, ctxFor(p));
  verifyProgram(p);
  return r;
};
const quantizedNames = (p: Program) => [...p.main.ops].filter((o) => o.isConstexpr).map((o) => o.name);

describe('options are checked when the pass is built', () => {
  it.each([
    [{ dtype: 'int3' }, 'quantize: dtype must be one of "int8", "uint8", "int4", "uint4", got "int3"'],
    [{ mode: 'symmetric' }, 'quantize: mode must be one of "linear_symmetric", "linear", got "symmetric"'],
    [{ granularity: 'per_row' }, 'quantize: granularity must be one of "per_tensor", "per_channel", "per_block", got "per_row"'],
    [{ blockSize: 32 }, 'quantize: blockSize only applies to granularity "per_block" (granularity is "per_channel")'],
    [{ granularity: 'per_block', blockSize: 0 }, 'quantize: blockSize must be a positive integer, got 0'],
    [{ granularity: 'per_block', blockSize: [1, -1] }, 'quantize: blockSize must be a positive integer or a non-empty list of integers ≥ 0 (one per axis, 0 = whole axis), got [1,-1]'],
    [{ weightThreshold: -1 }, 'quantize: weightThreshold must be an integer ≥ 0, got -1'],
    [{ weightThreshold: 1.5 }, 'quantize: weightThreshold must be an integer ≥ 0, got 1.5'],
    [{ dtypes: 'int8' }, 'quantize: unknown option "dtypes" (expected mode, dtype, granularity, blockSize, weightThreshold, opType, opName, joint, workers, inThreadBelow, spill)'],
    [{ opType: { linear: { dtype: 'int2' } } }, 'quantize: opType.linear: dtype must be one of "int8", "uint8", "int4", "uint4", got "int2"'],
    [{ opName: { fc: { bits: 4 } } }, 'quantize: opName.fc: unknown option "bits" (expected mode, dtype, granularity, blockSize, weightThreshold)'],
    [{ opType: [] }, 'quantize: opType must be an object of configs, got []'],
    [{ joint: 'yes' }, 'quantize: joint must be a boolean, got "yes"'],
    [{ workers: -1 }, 'quantize: workers must be a non-negative integer or a WorkerPool, got -1'],
  ])('%j', (options, message) => {
    expect(() => quantize(options as QuantizeOptions)).toThrow(CompressionConfigError);
    expect(() => quantize(options as QuantizeOptions)).toThrow(message);
  });

  it('accepts the documented options and is named quantize', () => {
    const pass = quantize({ mode: 'linear', dtype: 'uint4', granularity: 'per_block', blockSize: [1, 16], weightThreshold: 0, opType: { matmul: null }, joint: true });
    expect(pass.name).toBe('quantize');
  });
});

describe('candidate selection through the pass', () => {
  it('weightThreshold compares with > on element counts; rank-1 and < 10-element consts are never touched', async () => {
    const p = program('iOS18', [1, 32], (b, x) => {
      const h = b.linear({ x, weight: b.const(weight([64, 32], 1), { name: 'w2048' }), bias: b.const(fromFloat32('fp16', [64], randomFloats(64)), { name: 'bias' }) });
      const g = b.linear({ x: h, weight: b.const(weight([33, 64], 2), { name: 'w2112' }) });
      const t = b.linear({ x: g, weight: b.const(weight([3, 33], 3), { name: 'w99' }) });
      return b.linear({ x: t, weight: b.const(weight([3, 3], 4), { name: 'w9' }) });
    });
    await run(p, {});
    expect(quantizedNames(p)).toEqual(['w2112_quantized']);
    const q = program('iOS18', [1, 32], (b, x) => b.linear({ x, weight: b.const(weight([64, 32], 1), { name: 'w2048' }) }));
    await run(q, { weightThreshold: 2047 });
    expect(quantizedNames(q)).toEqual(['w2048_quantized']);
    const r = linearChain('iOS18', [
      [3, 5],
      [3, 3],
    ]);
    const res = await run(r, { weightThreshold: 0 });
    expect(quantizedNames(r)).toEqual(['w0_quantized']); // 15 elements yes, 9 no
    expect(res.skipped).toEqual([]);
  });

  it('config precedence: opName of the const > opName of the op > opType > global; null skips', async () => {
    const build = () =>
      program('iOS18', [1, 64], (b, x) => {
        const a = b.linear({ x, weight: b.const(weight([64, 64], 1), { name: 'wa' }) }, { name: 'la' });
        const m = b.matmul({ x: a, y: b.const(weight([64, 64], 2), { name: 'wm' }) }, { name: 'mm' });
        return b.linear({ x: m, weight: b.const(weight([64, 64], 3), { name: 'wb' }) }, { name: 'lb' });
      });
    const dtypes = (p: Program) => Object.fromEntries([...p.main.ops].filter((o) => o.isConstexpr).map((o) => [o.name, o.input('data')!.type.kind === 'tensor' ? (o.input('data')!.type as { dtype: string }).dtype : '']));
    let p = build();
    // only tables given: weights they do not cover are left alone (global = null)
    await run(p, { opType: { linear: { dtype: 'int4', granularity: 'per_block', weightThreshold: 0 } } });
    expect(dtypes(p)).toEqual({ wa_quantized: 'int4', wb_quantized: 'int4' });
    p = build();
    await run(p, { dtype: 'int8', weightThreshold: 0, opType: { linear: { dtype: 'int4', granularity: 'per_block', weightThreshold: 0 } }, opName: { lb: { dtype: 'uint8', weightThreshold: 0 }, wa: null } });
    expect(dtypes(p)).toEqual({ wm_quantized: 'int8', wb_quantized: 'uint8' });
    p = build();
    await run(p, { opType: { matmul: { dtype: 'uint4', granularity: 'per_block', blockSize: 16, weightThreshold: 0 } } });
    expect(dtypes(p)).toEqual({ wm_quantized: 'uint4' });
  });

  it('a weight read by ops with different configs is an error naming it and the ops', async () => {
    const p = program('iOS18', [1, 64], (b, x) => {
      const w = b.const(weight([64, 64], 1), { name: 'shared' });
      return b.add({ x: b.linear({ x, weight: w }, { name: 'lin' }), y: b.matmul({ x, y: w }, { name: 'mm' }) });
    });
    await expect(run(p, { weightThreshold: 0, opType: { matmul: { dtype: 'int4', granularity: 'per_block', weightThreshold: 0 } } })).rejects.toThrow(
      'quantize: weight "shared" (function "main") gets conflicting configs from its consumers: linear "lin" → {"dtype":"int8","granularity":"per_channel","mode":"linear_symmetric","weightThreshold":0}, but matmul "mm" → {"blockSize":32,"dtype":"int4","granularity":"per_block","mode":"linear_symmetric","weightThreshold":0}; give the weight its own opName entry ("shared") to settle it',
    );
    // the weight's own entry settles it; the channel axes still disagree, so per-channel is skipped
    const r = await run(p, { weightThreshold: 0, opType: { matmul: { dtype: 'int4', weightThreshold: 0 } }, opName: { shared: { granularity: 'per_tensor', weightThreshold: 0 } } });
    expect(r.stats.compressed).toBe(1);
    const q = program('iOS18', [1, 64], (b, x) => {
      const w = b.const(weight([64, 64], 1), { name: 'shared' });
      return b.add({ x: b.linear({ x, weight: w }), y: b.matmul({ x, y: w }) });
    });
    const s = await run(q, { weightThreshold: 0 });
    expect(s.skipped).toEqual([{ function: 'main', weight: 'shared', reason: 'its consumers disagree on the channel axes, which per_channel needs (mil-ops.md §7.2)' }]);
    expect(s.warnings).toEqual(['weight "shared" (function "main") skipped: its consumers disagree on the channel axes, which per_channel needs (mil-ops.md §7.2)']);
  });

  it('a weight whose dims do not divide the block size is skipped with a warning naming it', async () => {
    const p = linearChain('iOS18', [[64, 100]]);
    const r = await run(p, { dtype: 'int4', granularity: 'per_block', blockSize: 32, weightThreshold: 0 });
    expect(r.changed).toBe(false);
    expect(r.warnings).toEqual(['weight "w0" (function "main") skipped: dim 1 (100) is not divisible by its block size 32']);
  });
});

describe('target gating', () => {
  it.each([
    ['iOS17', { dtype: 'int4', granularity: 'per_channel' }, 'quantize: weight "w0" (function "main"): int4 quantization needs iOS18 (the program targets iOS17)'],
    ['iOS16', { dtype: 'uint4' }, 'quantize: weight "w0" (function "main"): uint4 quantization needs iOS18 (the program targets iOS16)'],
    ['iOS17', { granularity: 'per_block' }, 'quantize: weight "w0" (function "main"): per-block quantization needs iOS18 (the program targets iOS17)'],
    ['iOS16', { joint: true }, 'quantize: joint compression needs iOS18 (the program targets iOS16)'],
  ] as const)('%s %j', async (target, options, message) => {
    const p = linearChain(target, [[64, 64]]);
    const e = await run(p, { weightThreshold: 0, ...options }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CompressionTargetError);
    expect((e as Error).message).toBe(message);
  });

  it('the same options work at iOS18, and nothing fails when no weight needs the feature', async () => {
    await run(linearChain('iOS18', [[64, 64]]), { dtype: 'int4', granularity: 'per_block', weightThreshold: 0 });
    const small = linearChain('iOS17', [[4, 4]]);
    expect((await run(small, { dtype: 'int4' })).changed).toBe(false);
  });

  it('iOS16 per-tensor int8 gives scalar scale and zero point', async () => {
    const p = linearChain('iOS16', [[64, 64]]);
    await run(p, { granularity: 'per_tensor', mode: 'linear', dtype: 'uint8', weightThreshold: 0 });
    const op = p.main.findOp('w0_quantized')!;
    expect(op.type).toBe('constexpr_affine_dequantize');
    expect(constValueOf(op.input('scale')!, p.target)!.shape).toEqual([]);
    const zp = constValueOf(op.input('zero_point')!, p.target)!;
    expect([zp.dtype, zp.shape]).toEqual(['uint8', []]);
  });
});

describe('skip rules (mil-ops.md §7.3)', () => {
  it('skips weights holding ±inf, and integer 0/1 masks; integer weights are never quantized', async () => {
    const inf = randomFloats(64 * 64, 3);
    inf[5] = Infinity;
    const p = program('iOS18', [64, 64], (b, x) => {
      const a = b.linear({ x, weight: b.const(fromFloat32('fp16', [64, 64], inf), { name: 'with_inf' }) });
      const mask = b.const(tensorFromValues('int8', [64, 64], Array.from({ length: 4096 }, (_, i) => i % 2)), { name: 'mask01' });
      const ints = b.const(tensorFromValues('int8', [64, 64], Array.from({ length: 4096 }, (_, i) => (i % 9) - 4)), { name: 'ints' });
      return b.add({ x: b.add({ x: a, y: b.cast({ x: mask, dtype: 'fp16' }) }), y: b.cast({ x: ints, dtype: 'fp16' }) });
    });
    const r = await run(p, { weightThreshold: 0 });
    expect(r.changed).toBe(false);
    expect(r.skipped.map((s) => [s.weight, s.reason])).toEqual([
      ['with_inf', 'it holds ±inf, which linear quantization does not support (mil-ops.md §7.3)'],
      ['mask01', 'an integer int8 weight with values in [0, 1] (a 0/1 mask) is left alone'],
      ['ints', 'an integer int8 weight cannot be quantized (only fp16/fp32 weights, mil-ops.md §7.3)'],
    ]);
  });
});

describe('numerics of each mode and dtype', () => {
  const shape = [16, 64];
  const w = fromFloat32('fp16', shape, randomFloats(16 * 64, 7, 0.3).map((x, i) => (i % 37 === 0 ? 0 : x)));
  const cases = [
    ['linear_symmetric', 'int8', 'per_channel'],
    ['linear_symmetric', 'uint8', 'per_channel'],
    ['linear', 'int8', 'per_channel'],
    ['linear', 'uint8', 'per_tensor'],
    ['linear_symmetric', 'int4', 'per_block'],
    ['linear', 'uint4', 'per_block'],
  ] as const;

  it.each(cases)('%s %s %s: codes in range, zero dequantizes to 0, error ≤ ½ step', async (mode, dtype, granularity) => {
    const p = program('iOS18', [1, 64], (b, x) => b.linear({ x, weight: b.const(w, { name: 'w' }) }));
    const r = await run(p, { mode, dtype, granularity, weightThreshold: 0, ...(granularity === 'per_block' ? { blockSize: 16 } : {}) });
    const op = p.main.findOp('w_quantized')!;
    const data = constValueOf(op.input('data')!, p.target)!;
    const [qmin, qmax] = quantRange(dtype, mode);
    const q = data.toNumbers();
    expect(Math.min(...q)).toBeGreaterThanOrEqual(qmin);
    expect(Math.max(...q)).toBeLessThanOrEqual(qmax);
    const scale = constValueOf(op.input('scale')!, p.target)!;
    const offset = op.input('offset') ? constValueOf(op.input('offset')!, p.target)! : undefined;
    expect(offset === undefined).toBe(mode === 'linear_symmetric' && (dtype === 'int8' || dtype === 'int4'));
    if (offset) expect(offset.dtype).toBe(dtype);
    if (mode === 'linear_symmetric' && offset) expect(new Set(offset.toNumbers())).toEqual(new Set([dtype === 'uint8' ? 127 : 7]));
    // a real 0 is representable: q = zero point dequantizes to exactly 0
    const deq = constValueOf(op.output, p.target)!.toFloat32();
    const orig = w.toFloat32();
    const s = scale.toFloat32();
    const perRow = scale.shape[0] === 16;
    const cols = scale.shape[1];
    let outside = 0;
    for (let i = 0; i < orig.length; i++) {
      const row = Math.floor(i / 64);
      const blk = perRow ? row * cols + Math.floor((i % 64) / (64 / cols)) : 0;
      const steps = Math.abs(orig[i]) / s[blk];
      // ½ step, plus the fp16 roundings of w / scale and of scale · q (each ≤ 2^-11 relative)
      if (Math.abs(deq[i] - orig[i]) / s[blk] > 0.5 + (steps + 16) * 2 ** -10) outside++;
      if (orig[i] === 0) expect(deq[i]).toBe(0);
    }
    expect(outside).toBe(0);
    expect(r.weights[0].method).toBe(`${dtype} ${mode} ${granularity}${granularity === 'per_block' ? ' 16' : ''}`);
  });

  it('an all-zero block gets scale 0 and codes 0 (NumPy 0/0 → cast gives 0)', () => {
    const data = fromFloat32('fp16', [2, 16], Float32Array.from({ length: 32 }, (_, i) => (i < 16 ? 0 : (i - 20) / 8)));
    for (const mode of ['linear_symmetric', 'linear'] as const) {
      const r = quantizeKernel({ data: { dtype: 'fp16', shape: [2, 16], bytes: data.bytes() }, blockSizes: [1, 0], mode, dtype: 'int8' });
      if ('skip' in r) throw new Error(r.skip);
      expect(Array.from(new Int8Array(r.data.bytes.buffer, r.data.bytes.byteOffset, 16))).toEqual(new Array(16).fill(0));
      expect(new Uint16Array(r.scale.bytes.buffer, r.scale.bytes.byteOffset, 2)[0]).toBe(0);
    }
  });

  it('rounds half to even on the fp16 quotient (NumPy float16 arithmetic)', () => {
    // max 127 ⇒ scale 1; 2.5 → 2, 3.5 → 4, −2.5 → −2
    const vals = [127, 2.5, 3.5, -2.5, 0.5, 1.5, -0.5, 100];
    const r = quantizeKernel({ data: { dtype: 'fp16', shape: [1, 8], bytes: fromFloat32('fp16', [1, 8], Float32Array.from(vals)).bytes() }, blockSizes: [1, 0], mode: 'linear_symmetric', dtype: 'int8' });
    if ('skip' in r) throw new Error(r.skip);
    expect(Array.from(new Int8Array(r.data.bytes.buffer, r.data.bytes.byteOffset, 8))).toEqual([127, 2, 4, -2, 0, 2, 0, 100]);
  });

  it('linear uint8 by hand: range, zero point and an fp16 tie that fp32 math would round the other way', () => {
    // rmin = −1, rmax = 2; scale = fp16(3 / 255) = 0.0117645263671875; zp = rint(fp16(255 / 3)) = 85
    // 0.5 / scale = 42.50066 → fp16 42.5 → half to even 42 (fp32 math: 43)
    const data = fromFloat32('fp16', [1, 3], Float32Array.from([-1, 0.5, 2]));
    const r = quantizeKernel({ data: { dtype: 'fp16', shape: [1, 3], bytes: data.bytes() }, blockSizes: [0, 0], mode: 'linear', dtype: 'uint8' });
    if ('skip' in r) throw new Error(r.skip);
    expect(Array.from(r.data.bytes)).toEqual([0, 85 + 42, 255]);
    expect(Array.from(r.offset!.bytes)).toEqual([85]);
    expect(fromFloat32('fp16', [1], Float32Array.of(0.0117645263671875)).bytes()).toEqual(r.scale.bytes);
  });

  it('fp32 weights are quantized in fp32 with fp32 scales', async () => {
    const p = linearChain('iOS18', [[64, 64]], 'fp32');
    await run(p, { weightThreshold: 0 });
    const op = p.main.findOp('w0_quantized')!;
    expect(constValueOf(op.input('scale')!, p.target)!.dtype).toBe('fp32');
    expect(constValueOf(op.output, p.target)!.dtype).toBe('fp32');
  });

  it('matmul weights get their scales along the output axis (−1 for y without transpose)', async () => {
    const p = program('iOS18', [2, 64], (b, x) => b.matmul({ x, y: b.const(weight([64, 48], 1), { name: 'y' }) }));
    await run(p, { weightThreshold: 0 });
    expect(constValueOf(p.main.findOp('y_quantized')!.input('scale')!, p.target)!.shape).toEqual([1, 48]);
    const q = program('iOS18', [2, 64], (b, x) => b.matmul({ x, y: b.const(weight([64, 48], 1), { name: 'y' }) }));
    await run(q, { weightThreshold: 0, granularity: 'per_block', blockSize: 16, dtype: 'int4' });
    expect(constValueOf(q.main.findOp('y_quantized')!.input('scale')!, q.target)!.shape).toEqual([4, 48]);
  });
});

describe('in a pipeline', () => {
  it('runs, verifies and reports', async () => {
    const p = linearChain('iOS18', [
      [64, 64],
      [32, 64],
    ]);
    const { report } = await pipeline([quantize({ weightThreshold: 0, workers: 0 })]).runWithReport(p);
    expect(report[0]).toMatchObject({ pass: 'quantize', changed: true, stats: { compressed: 2, skipped: 0 } });
    expect(report[0].bytesOut).toBeLessThan(report[0].bytesIn);
  });
});
