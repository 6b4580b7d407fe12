import { describe, expect, it } from 'vitest';
import { FileTensor, constValueOf, createPassContext, fromFloat32, printProgram, verifyProgram, type Program } from '@silica/ir';
import {
  type Compressor,
  WorkerPool,
  type TensorData,
  defineKernel,
  emitQuantized,
  materialize,
  runCompression,
  siblingModule,
  tensorData,
  tensorFromData,
} from '../src/index.js';
import { signKernel } from './helpers/kernels.js';
import { linearChain, randomFloats } from '@silica/test-support';

type Result = Exclude<ReturnType<typeof signKernel>, { skip: string }>;
const KERNEL = defineKernel(siblingModule(new URL('./helpers/x.ts', import.meta.url).href, 'kernels'), 'signKernel', signKernel);

const sign: Compressor<{ weightThreshold: number }, { data: TensorData }, Result> = {
  pass: 'sign',
  kernel: KERNEL as never,
  threshold: (c) => c.weightThreshold,
  describe: () => 'sign',
  prepare(w, _c, ctx) {
    const t = materialize(w.value, ctx.target);
    return { args: { data: tensorData(t) }, work: t.size };
  },
  commit(w, _c, r, e) {
    return emitQuantized(e, { data: tensorFromData(r.codes), scale: tensorFromData(r.scale) }, `${w.name}_sign`);
  },
};

const shapes: Array<[number, number]> = [
  [64, 64],
  [96, 64],
  [64, 96],
  [80, 64],
];

function run(p: Program, options: Parameters<typeof runCompression>[4] = {}, ctxOptions: { signal?: AbortSignal; progress?: (d: number, t: number, l: string) => void } = {}) {
  return runCompression(p, createPassContext({ target: p.target, logger: { debug() {}, info() {}, warn() {} }, ...ctxOptions }), sign, { global: { weightThreshold: 0 } }, options);
}

describe('runCompression', () => {
  it('compresses every selected weight and reports per-weight stats and a summary', async () => {
    const p = linearChain('iOS18', shapes);
    const r = await run(p, { workers: 0 });
    verifyProgram(p);
    expect(r.changed).toBe(true);
    expect(r.weights.map((w) => [w.weight, w.dense, w.ops.join('>'), w.bitsPerWeight])).toEqual([
      ['w0', 'w0_sign', 'constexpr_blockwise_shift_scale', 8 + 16 / 4096],
      ['w1', 'w1_sign', 'constexpr_blockwise_shift_scale', 8 + 16 / 6144],
      ['w2', 'w2_sign', 'constexpr_blockwise_shift_scale', 8 + 16 / 6144],
      ['w3', 'w3_sign', 'constexpr_blockwise_shift_scale', 8 + 16 / 5120],
    ]);
    expect(r.stats).toMatchObject({ compressed: 4, skipped: 0, bytesBefore: 2 * (4096 + 6144 + 6144 + 5120) });
    // the reported error is the error of what the new op decompresses to
    const w0 = r.weights[0];
    const orig = linearChain('iOS18', shapes).main.findOp('w0')!.constValue!.toFloat32();
    const deq = constValueOf(p.main.findValue('w0_sign')!, p.target)!.toFloat32();
    let se = 0;
    for (let i = 0; i < orig.length; i++) se += (deq[i] - orig[i]) ** 2;
    expect(w0.mse).toBeCloseTo(se / orig.length, 12);
  });

  it('gives the same program with workers as in this thread (commits in program order)', async () => {
    const a = linearChain('iOS18', shapes);
    const b = linearChain('iOS18', shapes);
    const ra = await run(a, { workers: 0 });
    const rb = await run(b, { workers: 2, inThreadBelow: 0 });
    expect(printProgram(b)).toBe(printProgram(a));
    expect(rb.weights.map((w) => w.inWorker)).toEqual([true, true, true, true]);
    expect(ra.weights.map((w) => w.inWorker)).toEqual([false, false, false, false]);
    expect(rb.weights.map((w) => w.snrDb)).toEqual(ra.weights.map((w) => w.snrDb));
  });

  it('uses a shared pool without closing it', async () => {
    const pool = new WorkerPool(1);
    try {
      const a = linearChain('iOS18', shapes);
      const r = await run(a, { workers: pool, inThreadBelow: 5000 });
      // 64×64 = 4096 elements run in this thread, the larger ones on the pool
      expect(r.weights.map((w) => w.inWorker)).toEqual([false, true, true, true]);
      const b = linearChain('iOS18', shapes);
      expect((await run(b, { workers: pool, inThreadBelow: 0 })).weights.every((w) => w.inWorker)).toBe(true);
      expect(pool.started).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('reports progress per weight', async () => {
    const seen: string[] = [];
    await run(linearChain('iOS18', shapes), { workers: 0 }, { progress: (d, t, l) => seen.push(`${d}/${t} ${l}`) });
    expect(seen).toEqual(['1/4 w0', '2/4 w1', '3/4 w2', '4/4 w3']);
  });

  it('records kernel skips and names the weight when a kernel fails', async () => {
    const p = linearChain('iOS18', shapes);
    p.main.findOp('w1')!.attributes.set('val', fromFloat32('fp16', [96, 64], Float32Array.from(randomFloats(96 * 64), (x, i) => (i === 0 ? 0.5 : x))));
    const r = await run(p, { workers: 0 });
    expect(r.skipped).toEqual([{ function: 'main', weight: 'w1', reason: 'the first element is 0.5' }]);
    expect(r.warnings).toEqual(['weight "w1" (function "main") skipped: the first element is 0.5']);
    expect(r.stats.compressed).toBe(3);
    const q = linearChain('iOS18', shapes);
    q.main.findOp('w2')!.attributes.set('val', fromFloat32('fp16', [64, 96], Float32Array.from(randomFloats(96 * 64), (x, i) => (i === 0 ? 0.25 : x))));
    await expect(run(q, { workers: 0 })).rejects.toThrow('sign: weight "w2" (function "main"): compression failed: the first element is 0.25');
  });

  it('spills new tensors to a temp file when asked', async () => {
    const p = linearChain('iOS18', shapes);
    const before = linearChain('iOS18', shapes);
    await run(p, { workers: 0, spill: { minBytes: 1024 } });
    const data = p.main.findOp('w0_sign_data')!.constValue!;
    expect(data).toBeInstanceOf(FileTensor);
    verifyProgram(p);
    const q = linearChain('iOS18', shapes);
    await run(q, { workers: 0, spill: false });
    expect(printProgram(p)).toBe(printProgram(q));
    expect(before.main.findOp('w0')!.constValue!.isLazy).toBe(false);
    // 'auto' does not spill when the weights were in memory
    const r = linearChain('iOS18', shapes);
    await run(r, { workers: 0 });
    expect(r.main.findOp('w0_sign_data')!.constValue!.isLazy).toBe(false);
  });

  it('raises an iOS15 program to iOS16 (as coremltools re-emits at spec 7) and refuses joint below iOS18', async () => {
    const p = linearChain('iOS15', [[64, 64]]);
    const r = await run(p, { workers: 0 });
    expect(p.target).toBe('iOS16');
    expect(r.warnings).toContain('the program targeted iOS15; constexpr ops need iOS16, so it now targets iOS16');
    expect(p.main.ops.some((o) => o.type === 'constexpr_affine_dequantize')).toBe(true);
    await expect(run(linearChain('iOS17', [[64, 64]]), { joint: true })).rejects.toThrow('sign: joint compression needs iOS18 (the program targets iOS17)');
  });

  it('stops when the signal is aborted', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop now'));
    await expect(run(linearChain('iOS18', shapes), { workers: 0 }, { signal: ac.signal })).rejects.toThrow('stop now');
  });
});
