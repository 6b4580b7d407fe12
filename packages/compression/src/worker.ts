/**
 * Worker entry of the WorkerPool (pool.ts): receives `{ id, module, name, args }`, imports
 * the kernel's module once, runs the export on `args` and posts the result back, moving
 * its typed arrays (transfer, not copy).
 */
import { parentPort } from 'node:worker_threads';
import { transferablesOf } from './pool.js';

interface Request {
  readonly id: number;
  readonly module: string;
  readonly name: string;
  readonly args: unknown;
}

const modules = new Map<string, Promise<Record<string, unknown>>>();

async function handle(req: Request): Promise<void> {
  const port = parentPort!;
  try {
    let mod = modules.get(req.module);
    if (!mod) {
      mod = import(req.module) as Promise<Record<string, unknown>>;
      modules.set(req.module, mod);
    }
    const fn = (await mod)[req.name];
    if (typeof fn !== 'function') throw new Error(`worker: module ${req.module} has no exported function "${req.name}"`);
    const result: unknown = await (fn as (a: unknown) => unknown)(req.args);
    port.postMessage({ id: req.id, ok: true, result }, transferablesOf(result));
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    port.postMessage({ id: req.id, ok: false, message: err.message, stack: err.stack });
  }
}

if (!parentPort) throw new Error('@silica/compression worker.ts must run in a worker thread');
parentPort.on('message', (req: Request) => {
  void handle(req);
});
