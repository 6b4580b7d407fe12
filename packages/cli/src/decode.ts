/**
 * A decode loop in the interpreter, for comparing a model with explicit cache inputs and
 * outputs against a rewritten one (stateful, fused, compressed): the reference is fed its
 * own caches back each step; the test keeps them in states (or is fed too, when it still
 * has the cache inputs). Outputs other than the caches are compared over every step.
 */
import { type InputTensor, MetricAccumulator, type OutputMetrics, type OutputTensor, createSession } from '@silica/interpreter';
import type { Program } from '@silica/ir';
import { randomInputs } from './inputs.js';

export interface CachePair {
  readonly input: string;
  readonly output: string;
}

export interface DecodeCompareOptions {
  readonly steps: number;
  readonly seed: number;
  readonly pairs: readonly CachePair[];
  readonly function?: string;
  /** Inputs of step `step` other than the caches (default: random, seeded, `pos`-like inputs = step). */
  readonly inputsFor?: (step: number) => Record<string, InputTensor>;
  /** Checked between steps. */
  readonly signal?: AbortSignal;
  /** Called after each step. */
  readonly onStep?: (done: number, total: number) => void;
}

export interface DecodeComparison {
  /** Per compared output: the test's error against the reference over every step. */
  readonly metrics: Record<string, OutputMetrics>;
  readonly steps: number;
  /** Wall time of the reference's and the test's predict calls, ms (cache copies included for the reference). */
  readonly referenceMs: number;
  readonly testMs: number;
}

function zeros(shape: readonly (number | string)[]): InputTensor {
  const s = shape.map((d) => (typeof d === 'number' ? d : 1));
  return { shape: s, data: new Float32Array(s.reduce((a, b) => a * b, 1)) };
}

const asInput = (t: OutputTensor): InputTensor => ({ shape: t.shape, data: t.data });

/** Runs both programs over `steps` decode steps (see the module comment). */
export function compareDecode(reference: Program, test: Program, options: DecodeCompareOptions): DecodeComparison {
  const ref = createSession(reference, { function: options.function });
  const tst = createSession(test, { function: options.function });
  const cacheIn = new Set(options.pairs.map((p) => p.input));
  const cacheOut = new Set(options.pairs.map((p) => p.output));
  const refCaches = new Map<string, InputTensor>();
  const tstCaches = new Map<string, InputTensor>();
  for (const p of options.pairs) {
    const d = ref.inputs.find((i) => i.name === p.input);
    if (!d) throw new Error(`the reference has no cache input "${p.input}" (inputs: ${ref.inputs.map((i) => i.name).join(', ')})`);
    refCaches.set(p.input, zeros(d.shape));
    if (tst.inputs.some((i) => i.name === p.input)) tstCaches.set(p.input, zeros(d.shape));
  }
  const plain = ref.inputs.filter((i) => !cacheIn.has(i.name));
  const compared = ref.outputs.map((o) => o.name).filter((n) => !cacheOut.has(n) && tst.outputs.some((o) => o.name === n));
  if (compared.length === 0) {
    throw new Error(`no output to compare: the reference returns ${ref.outputs.map((o) => o.name).join(', ')}, the test ${tst.outputs.map((o) => o.name).join(', ')}`);
  }
  const accs = new Map(compared.map((n) => [n, new MetricAccumulator(n)]));
  const fn = reference.getFunction(options.function);
  let referenceMs = 0;
  let testMs = 0;
  for (let step = 0; step < options.steps; step++) {
    options.signal?.throwIfAborted();
    const base = options.inputsFor ? options.inputsFor(step) : randomInputs(plain, { seed: options.seed + step, step, fn });
    const t0 = performance.now();
    const r = ref.predict({ ...base, ...Object.fromEntries(refCaches) });
    for (const p of options.pairs) refCaches.set(p.input, asInput(r[p.output]));
    const t1 = performance.now();
    const t = tst.predict({ ...base, ...Object.fromEntries(tstCaches) });
    for (const p of options.pairs) if (tstCaches.has(p.input)) tstCaches.set(p.input, asInput(t[p.output]));
    const t2 = performance.now();
    referenceMs += t1 - t0;
    testMs += t2 - t1;
    for (const n of compared) accs.get(n)!.add(r[n], t[n]);
    options.onStep?.(step + 1, options.steps);
  }
  return { metrics: Object.fromEntries([...accs].map(([n, a]) => [n, a.result()])), steps: options.steps, referenceMs, testMs };
}

/** Runs one program over `steps` decode steps on its own (feeding its caches back), returning the time in ms. */
export function timeDecode(program: Program, options: Omit<DecodeCompareOptions, 'onStep'>): number {
  const s = createSession(program, { function: options.function });
  const cacheIn = new Set(options.pairs.map((p) => p.input));
  const caches = new Map<string, InputTensor>();
  for (const p of options.pairs) {
    const d = s.inputs.find((i) => i.name === p.input);
    if (d) caches.set(p.input, zeros(d.shape));
  }
  const plain = s.inputs.filter((i) => !cacheIn.has(i.name));
  const fn = program.getFunction(options.function);
  const inputs = Array.from({ length: options.steps }, (_, step) => (options.inputsFor ? options.inputsFor(step) : randomInputs(plain, { seed: options.seed + step, step, fn })));
  const t0 = performance.now();
  for (let step = 0; step < options.steps; step++) {
    options.signal?.throwIfAborted();
    const out = s.predict({ ...inputs[step], ...Object.fromEntries(caches) });
    for (const p of options.pairs) if (caches.has(p.input)) caches.set(p.input, asInput(out[p.output]));
  }
  return performance.now() - t0;
}
