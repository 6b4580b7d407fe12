/** `silica run PKG --input x=file.npy [--function f] [--steps N] [--out DIR]` */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type InputTensor, type NpyArray, type OutputTensor, createSession, writeNpy } from '@silica/interpreter';
import { fp32ToFp16Array, sanitizeIdentifier } from '@silica/ir';
import { UsageError } from '../errors.js';
import { checkOutput, readPackage, resolveFrom } from '../files.js';
import { formatMs, formatNumber, formatShape, table } from '../format.js';
import { checkInputNames, inputsFromFlags, randomInputs, samplesFromPath } from '../inputs.js';
import type { Ui } from '../ui.js';

export interface RunArgs {
  readonly pkg: string;
  /** `NAME=FILE.npy` */
  readonly input?: readonly string[];
  /** An .npz or a directory with the inputs (the first sample is used). */
  readonly inputs?: string;
  readonly randomInputs?: boolean;
  readonly seed?: number;
  readonly function?: string;
  readonly steps?: number;
  /** `OUTPUT=INPUT`: feed an output back into an input between steps (explicit KV caches). */
  readonly feed?: readonly string[];
  readonly out?: string;
  readonly force?: boolean;
}

export interface OutputSummary {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly std: number;
  /** The first (up to 8) values. */
  readonly head: readonly number[];
}

export function summarize(t: OutputTensor): OutputSummary {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sum2 = 0;
  const n = t.data.length;
  for (let i = 0; i < n; i++) {
    const x = t.data[i];
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
    sum2 += x * x;
  }
  const mean = n ? sum / n : 0;
  return { dtype: t.dtype, shape: t.shape, min: n ? min : 0, max: n ? max : 0, mean, std: n ? Math.sqrt(Math.max(0, sum2 / n - mean * mean)) : 0, head: Array.from(t.data.subarray(0, 8)) };
}

function toNpy(t: OutputTensor): NpyArray {
  if (t.dtype === 'fp16') return { dtype: 'f2', shape: [...t.shape], data: fp32ToFp16Array(t.data as Float32Array) };
  if (t.data instanceof Float32Array) return { dtype: 'f4', shape: [...t.shape], data: t.data };
  if (t.dtype === 'bool') return { dtype: 'b1', shape: [...t.shape], data: t.data as Uint8Array };
  return { dtype: 'i4', shape: [...t.shape], data: t.data as Int32Array };
}

export async function runCommand(ui: Ui, args: RunArgs): Promise<Record<string, unknown>> {
  const input = resolveFrom(ui.io.cwd, args.pkg);
  const steps = args.steps ?? 1;
  if (!(Number.isInteger(steps) && steps >= 1)) throw new UsageError(`--steps ${args.steps}: expected a whole number ≥ 1`);
  const outDir = args.out !== undefined ? resolveFrom(ui.io.cwd, args.out) : undefined;
  if (outDir) checkOutput(outDir, [input], args.force ?? false, 'directory');
  const program = await readPackage(input);
  const session = createSession(program, { function: args.function });
  const fn = program.getFunction(session.functionName);

  let given: Record<string, InputTensor> = {};
  if (args.inputs !== undefined) given = samplesFromPath(resolveFrom(ui.io.cwd, args.inputs), session.inputs)[0];
  given = { ...given, ...inputsFromFlags(args.input ?? [], ui.io.cwd) };
  const feeds = (args.feed ?? []).map((f) => {
    const m = /^([^=]+)=([^=]+)$/.exec(f);
    if (!m) throw new UsageError(`--feed ${f}: expected OUTPUT=INPUT, e.g. --feed k_cache_out=k_cache`);
    if (!session.outputs.some((o) => o.name === m[1])) throw new UsageError(`--feed ${f}: no output "${m[1]}" (outputs: ${session.outputs.map((o) => o.name).join(', ')})`);
    if (!session.inputs.some((i) => i.name === m[2])) throw new UsageError(`--feed ${f}: no input "${m[2]}" (inputs: ${session.inputs.map((i) => i.name).join(', ')})`);
    return { output: m[1], input: m[2] };
  });
  if (args.randomInputs) {
    const missing = session.inputs.filter((i) => !(i.name in given));
    given = { ...randomInputs(missing, { seed: args.seed ?? 0, step: 0, fn }), ...given };
  }
  checkInputNames(given, session.inputs, `${input} (function ${session.functionName})`);

  const times: number[] = [];
  let outputs: Record<string, ReturnType<typeof session.predict>[string]> = {};
  const bar = steps > 1 ? ui.progress('run', 'steps') : undefined;
  for (let step = 0; step < steps; step++) {
    ui.io.signal?.throwIfAborted();
    const t0 = ui.now();
    outputs = session.predict(given);
    times.push(ui.now() - t0);
    for (const f of feeds) given = { ...given, [f.input]: { shape: outputs[f.output].shape, data: outputs[f.output].data } };
    if (args.randomInputs && step + 1 < steps) {
      // a new draw per step for the random inputs (position-like inputs advance with the step)
      const fresh = randomInputs(session.inputs.filter((i) => !(args.input ?? []).some((p) => p.startsWith(`${i.name}=`)) && !feeds.some((f) => f.input === i.name)), { seed: (args.seed ?? 0) + step + 1, step: step + 1, fn });
      given = { ...given, ...fresh };
    }
    bar?.update(step + 1, steps, formatMs(times[step]));
  }
  bar?.finish();

  const written: string[] = [];
  if (outDir) {
    mkdirSync(outDir, { recursive: true });
    for (const [name, t] of Object.entries(outputs)) {
      const file = join(outDir, `${sanitizeIdentifier(name)}.npy`);
      writeFileSync(file, writeNpy(toNpy(t)));
      written.push(file);
    }
    for (const [name, t] of Object.entries(session.states)) {
      const file = join(outDir, `state_${sanitizeIdentifier(name)}.npy`);
      writeFileSync(file, writeNpy(toNpy(t)));
      written.push(file);
    }
  }
  const summaries = Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, summarize(v)]));
  const total = times.reduce((a, b) => a + b, 0);
  const summary = { command: 'run', input, function: session.functionName, steps, ms: total, msPerStep: total / steps, outputs: summaries, states: Object.keys(session.states), written };
  ui.json(summary);
  ui.result(
    [
      `${input} — function ${session.functionName}: ${steps} step${steps === 1 ? '' : 's'} in ${formatMs(total)} (${formatMs(total / steps)} per step${steps > 1 ? `, ${formatNumber((1000 * steps) / total, 1)} steps/s` : ''})`,
      table(
        ['output', 'type', 'min', 'max', 'mean', 'std', 'first values'],
        Object.entries(summaries).map(([k, s]) => [k, formatShape(s.dtype, s.shape), formatNumber(s.min, 4), formatNumber(s.max, 4), formatNumber(s.mean, 4), formatNumber(s.std, 4), s.head.slice(0, 4).map((x) => formatNumber(x, 4)).join(' ')]),
        { align: ['left', 'left', 'right', 'right', 'right', 'right', 'left'] },
      ),
      ...(written.length ? [`wrote ${written.length} file${written.length === 1 ? '' : 's'} to ${outDir}`] : []),
    ].join('\n'),
  );
  return summary;
}
