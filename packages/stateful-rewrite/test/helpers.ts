/**
 * Shared test helpers: fixture paths, structural views of a program, and the decode-loop
 * comparison that proves a rewrite keeps the function's meaning — the explicit program is
 * fed its own previous cache, the stateful one keeps its state in the interpreter session.
 */
import { fileURLToPath } from 'node:url';
import { type Function as Fn, type Pass, type Program, type TensorType, createPassContext, silentLogger } from '@silica/ir';
import { type InputTensor, type OutputTensor, createSession } from '@silica/interpreter';

/** shared/fixtures beside the repository (tests read them from `../shared/fixtures/`). */
export const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/', import.meta.url));

export const opTypes = (fn: Fn): string[] => [...fn.walk()].map((o) => o.type);

export function countOps(fn: Fn, type: string): number {
  return opTypes(fn).filter((t) => t === type).length;
}

/** `name: type` of every input and output. */
export function signature(fn: Fn): { inputs: string[]; outputs: string[] } {
  const fmt = (v: { name: string; type: { kind: string } }): string => `${v.name}: ${JSON.stringify(v.type)}`;
  return { inputs: fn.inputs.map(fmt), outputs: fn.outputs.map(fmt) };
}

/** Runs a pass on its own (no pipeline), with a silent logger. */
export async function runPass(pass: Pass, program: Program) {
  return pass.run(program, createPassContext({ target: program.target, logger: silentLogger }));
}

/**
 * Printed text with every `%value` renamed by order of first appearance and every
 * `{name = "…"}` attribute dropped: two programs print the same only if they have the
 * same ops, in the same order, wired the same way.
 */
export function canonicalText(text: string): string {
  const map = new Map<string, string>();
  return text
    .replace(/ \{name = "[^"]*"\}/g, '')
    .replace(/%([A-Za-z0-9_@]+)/g, (_, n: string) => {
      if (!map.has(n)) map.set(n, `%v${map.size}`);
      return map.get(n)!;
    });
}

/** Deterministic values in [-1, 1) (mulberry32). */
export function noise(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export interface DecodeComparison {
  readonly steps: number;
  /** Largest |explicit − stateful| over every compared output of every step. */
  readonly maxAbsError: number;
  /** Largest relative L2 error of one output at one step. */
  readonly maxRelativeL2: number;
  /** Largest |explicit cache − state contents| after the last step (state sliced to the cache's shape). */
  readonly stateMaxAbsError: number;
  /** Outputs of the explicit program at each step (caches excluded). */
  readonly explicitOutputs: Array<Record<string, OutputTensor>>;
}

function sliceLeading(state: OutputTensor, shape: readonly number[]): Float32Array {
  // the state may be padded along some axes: take the leading block of `shape`
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let flat = 0;
    for (let d = 0; d < rank; d++) flat = flat * state.shape[d] + idx[d];
    out[o] = state.data[flat];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Runs `steps` calls of both programs. The explicit program's caches start as zeros (as
 * a new Core ML state does) and each call gets the previous call's cache outputs; the
 * stateful program gets only the other inputs (and the caches of pairs it still has as
 * explicit inputs). Every output the stateful function has is compared with the explicit
 * one's.
 */
export function compareDecode(
  explicit: Program,
  stateful: Program,
  pairs: ReadonlyArray<{ readonly input: string; readonly output: string }>,
  inputsAt: (step: number) => Record<string, InputTensor>,
  steps: number,
  functionName?: string,
): DecodeComparison {
  const a = createSession(explicit, functionName === undefined ? {} : { function: functionName });
  const b = createSession(stateful, functionName === undefined ? {} : { function: functionName });
  const fn = explicit.getFunction(functionName);
  // pairs the rewrite left explicit are fed to both programs
  const sfn = stateful.getFunction(functionName);
  const stillExplicit = new Set(pairs.filter((p) => sfn.inputs.some((v) => v.name === p.input && v.type.kind === 'tensor')).map((p) => p.input));
  const caches: Record<string, InputTensor> = {};
  for (const p of pairs) {
    const v = fn.inputs.find((i) => i.name === p.input);
    if (!v || v.type.kind !== 'tensor') throw new Error(`compareDecode: no tensor input "${p.input}"`);
    const shape = (v.type as TensorType).shape as number[];
    caches[p.input] = { shape, data: new Float32Array(shape.reduce((x, y) => x * y, 1)) };
  }
  let maxAbsError = 0;
  let maxRelativeL2 = 0;
  const explicitOutputs: Array<Record<string, OutputTensor>> = [];
  for (let step = 0; step < steps; step++) {
    const ins = inputsAt(step);
    const ra = a.predict({ ...ins, ...caches });
    const rb = b.predict({ ...ins, ...Object.fromEntries([...stillExplicit].map((n) => [n, caches[n]])) });
    for (const p of pairs) caches[p.input] = { shape: ra[p.output].shape, data: ra[p.output].data };
    const kept: Record<string, OutputTensor> = {};
    for (const [name, t] of Object.entries(rb)) {
      const r = ra[name];
      if (!r) throw new Error(`compareDecode: the explicit program has no output "${name}"`);
      if (r.shape.join() !== t.shape.join()) throw new Error(`compareDecode: output "${name}" is [${r.shape}] vs [${t.shape}]`);
      let e2 = 0;
      let r2 = 0;
      for (let i = 0; i < r.data.length; i++) {
        const d = Math.abs(r.data[i] - t.data[i]);
        if (!(d <= maxAbsError)) maxAbsError = Number.isNaN(d) ? Infinity : d;
        e2 += d * d;
        r2 += r.data[i] * r.data[i];
      }
      maxRelativeL2 = Math.max(maxRelativeL2, r2 === 0 ? (e2 === 0 ? 0 : Infinity) : Math.sqrt(e2 / r2));
      kept[name] = r;
    }
    explicitOutputs.push(kept);
  }
  let stateMaxAbsError = 0;
  const states = b.states;
  for (const p of pairs) {
    if (stillExplicit.has(p.input)) continue;
    const s = states[p.input];
    if (!s) throw new Error(`compareDecode: the stateful program has no state "${p.input}"`);
    const c = caches[p.input];
    const got = sliceLeading(s, c.shape);
    const want = c.data as Float32Array;
    for (let i = 0; i < got.length; i++) stateMaxAbsError = Math.max(stateMaxAbsError, Math.abs(got[i] - want[i]));
  }
  return { steps, maxAbsError, maxRelativeL2, stateMaxAbsError, explicitOutputs };
}
