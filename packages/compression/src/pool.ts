/**
 * A small pool of worker threads for the per-weight math, and the "kernel" contract that
 * makes the same function runnable in a worker or in the calling thread.
 *
 * A kernel is a plain function `(args) => result` exported by some module; `args` and
 * the result hold only structured-cloneable data (numbers, strings, plain objects, typed
 * arrays — tensors travel as `TensorData`). A `Kernel` names the module URL and export (for
 * workers) and carries the function itself (for in-thread runs, no dynamic import):
 *
 * ```ts
 * // kernel.ts
 * export function quantizeKernel(args: QuantizeArgs): QuantizeResult { … }
 * // index.ts
 * import { quantizeKernel } from './kernel.js';
 * const KERNEL = defineKernel(siblingModule(import.meta.url, 'kernel'), 'quantizeKernel', quantizeKernel);
 * await runKernel(pool, KERNEL, args, [args.data.bytes.buffer]);
 * ```
 *
 * Typed arrays in a worker's result are transferred back (no copy); arguments are copied
 * unless their buffers are listed in `transfer` (only list buffers nobody else uses —
 * e.g. the fresh bytes read from a file-backed tensor, never a DenseTensor's own data).
 *
 * Workers start lazily on the first job, run one job at a time each, are unref'd while
 * idle (a forgotten pool does not keep the process alive) and stop on `close()`. From
 * source (`*.ts`, under vitest or `node --import tsx`) a worker boots through tsx with the
 * `source` export condition; from the built package it loads `worker.js` directly.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type DType, DenseTensor, type Tensor } from '@silica/ir';

export interface Kernel<A, R> {
  /** URL of the module exporting the kernel (`siblingModule(import.meta.url, 'kernel')`). */
  readonly module: string;
  /** Export name. */
  readonly name: string;
  /** The function itself, for in-thread runs. */
  readonly fn: (args: A) => R;
}

export function defineKernel<A, R>(module: string | URL, name: string, fn: (args: A) => R): Kernel<A, R> {
  return { module: String(module), name, fn };
}

/**
 * URL of a module next to the caller (`import.meta.url`), with the caller's own extension:
 * `kernel.ts` when running from source, `kernel.js` from the built package.
 */
export function siblingModule(importMetaUrl: string, basename: string): string {
  const ext = /\.[cm]?ts$/.test(new URL(importMetaUrl).pathname) ? '.ts' : '.js';
  return new URL(`./${basename}${ext}`, importMetaUrl).href;
}

/** A tensor as plain data, to cross a thread boundary. */
export interface TensorData {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** TensorData of a tensor (its bytes: a fresh read for a file-backed tensor, the same memory for a dense one). */
export function tensorData(t: Tensor): TensorData {
  return { dtype: t.dtype, shape: [...t.shape], bytes: t.bytes() };
}

export function tensorFromData(d: TensorData): DenseTensor {
  return new DenseTensor(d.dtype, d.shape, d.bytes);
}

/** The ArrayBuffers behind every typed array in `x` (walking plain objects and arrays), each once. */
export function transferablesOf(x: unknown): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const seen = new Set<object>();
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (ArrayBuffer.isView(v)) {
      if (v.buffer instanceof ArrayBuffer) out.add(v.buffer);
      return;
    }
    if (v instanceof ArrayBuffer) {
      out.add(v);
      return;
    }
    for (const e of Array.isArray(v) ? v : Object.values(v)) walk(e);
  };
  walk(x);
  return [...out];
}

interface Job {
  readonly id: number;
  readonly kernel: Kernel<unknown, unknown>;
  readonly args: unknown;
  readonly transfer: readonly ArrayBuffer[];
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

interface Slot {
  readonly worker: Worker;
  job: Job | undefined;
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; message: string; stack?: string };

/** The default pool size: the machine's parallelism, at most 4. */
export function defaultPoolSize(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

function spawnWorker(): Worker {
  const self = import.meta.url;
  if (/\.[cm]?ts$/.test(new URL(self).pathname)) {
    // From source: boot through tsx's ESM API, with `@silica/*` resolving to src/ (the
    // `source` condition), then load the TypeScript worker entry.
    const tsxDir = dirname(createRequire(self).resolve('tsx/package.json'));
    const api = pathToFileURL(join(tsxDir, 'dist/esm/api/index.mjs')).href;
    const entry = new URL('./worker.ts', self).href;
    const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(code, { eval: true, execArgv: ['--conditions=source'] });
  }
  return new Worker(new URL('./worker.js', self));
}

export class WorkerPool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(size: number = defaultPoolSize()) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`WorkerPool: size must be a positive integer, got ${size}`);
    this.size = size;
  }

  /** Runs `kernel(args)` on a worker; resolves with its result. */
  run<A, R>(kernel: Kernel<A, R>, args: A, transfer: readonly ArrayBuffer[] = []): Promise<R> {
    if (this.closed) return Promise.reject(new Error('WorkerPool: the pool is closed'));
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, kernel: kernel as Kernel<unknown, unknown>, args, transfer, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  /** Workers started so far. */
  get started(): number {
    return this.slots.length;
  }

  /** Stops every worker; pending jobs are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(new Error('WorkerPool: closed before the job ran'));
    const slots = this.slots.splice(0);
    for (const s of slots) s.job?.reject(new Error('WorkerPool: closed while the job ran'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.job);
      if (!slot && this.slots.length < this.size) slot = this.addSlot();
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage({ id: job.id, module: job.kernel.module, name: job.kernel.name, args: job.args }, [...job.transfer]);
    }
  }

  private addSlot(): Slot {
    const worker = spawnWorker();
    const slot: Slot = { worker, job: undefined };
    worker.on('message', (m: Reply) => {
      const job = slot.job;
      if (!job || job.id !== m.id) return;
      slot.job = undefined;
      worker.unref();
      if (m.ok) job.resolve(m.result);
      else {
        const e = new Error(m.message);
        if (m.stack) e.stack = m.stack;
        job.reject(e);
      }
      this.pump();
    });
    const fail = (e: Error): void => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      slot.job?.reject(e);
      slot.job = undefined;
      if (!this.closed) this.pump();
    };
    worker.on('error', (e) => fail(e));
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`WorkerPool: a worker exited with code ${code}`));
    });
    worker.unref();
    this.slots.push(slot);
    return slot;
  }
}

/** Runs a kernel on the pool, or in this thread when no pool is given. */
export async function runKernel<A, R>(pool: WorkerPool | undefined, kernel: Kernel<A, R>, args: A, transfer: readonly ArrayBuffer[] = []): Promise<R> {
  if (pool) return pool.run(kernel, args, transfer);
  return kernel.fn(args);
}
