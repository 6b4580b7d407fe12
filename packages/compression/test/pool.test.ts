import { afterAll, describe, expect, it } from 'vitest';
import { threadId } from 'node:worker_threads';
import { WorkerPool, defineKernel, runKernel, siblingModule, transferablesOf, tensorData, tensorFromData } from '../src/index.js';
import { failingKernel, scaleKernel, slowKernel } from './helpers/kernels.js';
import { tensorFromValues } from '@silica/ir';

const MODULE = siblingModule(new URL('./helpers/x.ts', import.meta.url).href, 'kernels');
const SCALE = defineKernel(MODULE, 'scaleKernel', scaleKernel);
const FAIL = defineKernel(MODULE, 'failingKernel', failingKernel);
const SLOW = defineKernel(MODULE, 'slowKernel', slowKernel);

describe('WorkerPool', () => {
  const pool = new WorkerPool(2);
  afterAll(() => pool.close());

  it('runs a kernel in a worker thread and moves the result back', async () => {
    const data = Float32Array.from({ length: 1000 }, (_, i) => i);
    const r = await pool.run(SCALE, { data, factor: 2 }, [data.buffer]);
    expect(data.byteLength).toBe(0); // transferred, not copied
    expect(r.out[999]).toBe(1998);
    expect(r.sum).toBe(999 * 1000);
    expect(r.thread).not.toBe(threadId);
    expect(pool.started).toBe(1);
  });

  it('copies arguments that are not listed for transfer', async () => {
    const data = Float32Array.from([1, 2, 3]);
    const r = await pool.run(SCALE, { data, factor: 3 });
    expect(Array.from(data)).toEqual([1, 2, 3]);
    expect(Array.from(r.out)).toEqual([3, 6, 9]);
  });

  it('spreads jobs over the workers, at most `size` at a time', async () => {
    const results = await Promise.all([0, 1, 2, 3].map((id) => pool.run(SLOW, { ms: 150, id })));
    expect(results.map((r) => r.id)).toEqual([0, 1, 2, 3]);
    expect(new Set(results.map((r) => r.thread)).size).toBe(2);
    expect(pool.started).toBe(2);
  });

  it('rejects with the kernel error and keeps working', async () => {
    await expect(pool.run(FAIL, { message: 'bad weight' })).rejects.toThrow('kernel failed: bad weight');
    const r = await pool.run(SCALE, { data: Float32Array.from([1]), factor: 5 });
    expect(r.out[0]).toBe(5);
  });

  it('names a missing export', async () => {
    await expect(pool.run(defineKernel(MODULE, 'nope', scaleKernel), { data: new Float32Array(1), factor: 1 })).rejects.toThrow(
      `worker: module ${MODULE} has no exported function "nope"`,
    );
  });

  it('rejects jobs after close', async () => {
    const p = new WorkerPool(1);
    const pending = p.run(SLOW, { ms: 2000, id: 1 }).then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    await new Promise((r) => setTimeout(r, 50));
    await p.close();
    expect(await pending).toBe('WorkerPool: closed while the job ran');
    await expect(p.run(SCALE, { data: new Float32Array(1), factor: 1 })).rejects.toThrow('WorkerPool: the pool is closed');
  });

  it('validates its size', () => {
    expect(() => new WorkerPool(0)).toThrow('WorkerPool: size must be a positive integer, got 0');
  });
});

describe('kernels in this thread and the transport helpers', () => {
  it('runKernel without a pool calls the function directly', async () => {
    const r = await runKernel(undefined, SCALE, { data: Float32Array.from([2]), factor: 4 });
    expect(r.thread).toBe(threadId);
    expect(r.out[0]).toBe(8);
  });

  it('siblingModule keeps the caller extension', () => {
    expect(siblingModule('file:///a/b/index.ts', 'kernel')).toBe('file:///a/b/kernel.ts');
    expect(siblingModule('file:///a/b/index.js', 'kernel')).toBe('file:///a/b/kernel.js');
  });

  it('transferablesOf finds each buffer once', () => {
    const a = new Float32Array(4);
    const b = new Uint8Array(a.buffer, 4, 4);
    const c = new Uint16Array(2);
    expect(transferablesOf({ a, nested: [b, { c }], n: 1, s: 'x' })).toEqual([a.buffer, c.buffer]);
  });

  it('tensorData round-trips a tensor', () => {
    const t = tensorFromValues('int4', [3], [-8, 7, -1]);
    const back = tensorFromData(tensorData(t));
    expect(back.contentEquals(t)).toBe(true);
  });
});
