/**
 * `silica eval ORIG COMPRESSED [--samples N] [--inputs DIR] [--min-snr DB]`: runs both
 * packages in the interpreter on the same inputs and reports, per output, SNR, PSNR,
 * cosine similarity, relative L2 and the largest error of the second against the first.
 *
 * Inputs come from `--inputs` (an .npz, or a directory of .npz samples or <input>.npy
 * files) or are random and seeded. A sequence of samples keeps states between samples,
 * as a decode loop does. When the original has explicit cache inputs/outputs and the
 * other keeps them in states (after `silica stateful`), the original is fed its own
 * caches back each step and the other outputs are compared.
 */
import { type InputTensor, type OutputMetrics, createSession, evaluate } from '@silica/interpreter';
import { detectStatePairs } from '@silica/stateful-rewrite';
import { UsageError, VerificationError } from '../errors.js';
import { readPackage, resolveFrom } from '../files.js';
import { formatCosine, formatDb, formatSci, table } from '../format.js';
import { compareDecode } from '../decode.js';
import { randomInputs, samplesFromPath } from '../inputs.js';
import type { Ui } from '../ui.js';

export interface EvalArgs {
  readonly reference: string;
  readonly test: string;
  readonly samples?: number;
  readonly inputs?: string;
  readonly seed?: number;
  readonly function?: string;
  readonly functionB?: string;
  /** Fail (exit 4) when an output's SNR is below this (dB). */
  readonly minSnr?: number;
  /** Fail (exit 4) when an output's cosine similarity is below this. */
  readonly minCosine?: number;
  /** Outputs to also compare as logits (KL divergence of their softmax). */
  readonly logits?: readonly string[];
}

export interface EvalSummary {
  readonly command: 'eval';
  readonly reference: string;
  readonly test: string;
  readonly samples: number;
  readonly inputs: string;
  readonly mode: 'samples' | 'decode';
  readonly metrics: Record<string, OutputMetrics>;
  readonly passed: boolean;
  readonly failures: readonly string[];
}

export async function evalCommand(ui: Ui, args: EvalArgs): Promise<EvalSummary> {
  const refPath = resolveFrom(ui.io.cwd, args.reference);
  const testPath = resolveFrom(ui.io.cwd, args.test);
  if (args.samples !== undefined && !(Number.isInteger(args.samples) && args.samples >= 1)) throw new UsageError(`--samples ${args.samples}: expected a whole number ≥ 1`);
  const a = await readPackage(refPath, 'original package');
  const b = await readPackage(testPath, 'package to evaluate');
  const sa = createSession(a, { function: args.function });
  const sb = createSession(b, { function: args.functionB ?? args.function });
  const fnA = a.getFunction(sa.functionName);
  const seed = args.seed ?? 0;

  // explicit caches in A that B keeps as states: a decode comparison
  const statesB = b.getFunction(sb.functionName).inputs.filter((v) => v.type.kind === 'state').map((v) => v.name);
  const pairs = statesB.length > 0 ? detectStatePairs(a).pairs.filter((p) => p.function === sa.functionName && statesB.includes(p.input)) : [];
  const decode = pairs.length > 0 && sa.inputs.some((i) => statesB.includes(i.name));

  let metrics: Record<string, OutputMetrics>;
  let count: number;
  let source: string;
  if (decode) {
    if (args.inputs !== undefined) throw new UsageError('--inputs is not supported when the original has explicit caches and the other states; the decode loop feeds the caches itself (random, seeded inputs)');
    count = args.samples ?? 8;
    source = `random (seed ${seed}), ${count}-step decode with the caches ${pairs.map((p) => p.input).join(', ')}`;
    const bar = ui.progress('eval', 'steps');
    const res = compareDecode(a, b, { steps: count, seed, pairs, function: sa.functionName, signal: ui.io.signal, onStep: (d, t) => bar.update(d, t) });
    bar.finish();
    metrics = res.metrics;
  } else {
    let samples: Array<Record<string, InputTensor>>;
    if (args.inputs !== undefined) {
      const path = resolveFrom(ui.io.cwd, args.inputs);
      samples = samplesFromPath(path, sa.inputs);
      if (args.samples !== undefined) samples = samples.slice(0, args.samples);
      source = `${path} (${samples.length} sample${samples.length === 1 ? '' : 's'})`;
    } else {
      const n = args.samples ?? 8;
      samples = Array.from({ length: n }, (_, step) => randomInputs(sa.inputs, { seed: seed + step, step, fn: fnA }));
      source = `random, seed ${seed} (floats N(0, 1), integers in [0, 4) or the step for position inputs)`;
    }
    count = samples.length;
    const bar = ui.progress('eval', 'samples');
    bar.update(0, count, 'running both models');
    const res = evaluate(a, b, samples, { functionA: sa.functionName, functionB: sb.functionName, logits: args.logits && args.logits.length > 0 ? args.logits : undefined });
    bar.update(count, count);
    bar.finish();
    metrics = res.metrics;
  }

  const failures: string[] = [];
  for (const [name, m] of Object.entries(metrics)) {
    if (args.minSnr !== undefined && !(m.snr >= args.minSnr)) failures.push(`${name}: SNR ${formatDb(m.snr)} < --min-snr ${args.minSnr} dB`);
    if (args.minCosine !== undefined && !(m.cosine >= args.minCosine)) failures.push(`${name}: cosine ${formatCosine(m.cosine)} < --min-cosine ${args.minCosine}`);
  }
  const summary: EvalSummary = {
    command: 'eval',
    reference: refPath,
    test: testPath,
    samples: count,
    inputs: source,
    mode: decode ? 'decode' : 'samples',
    metrics,
    passed: failures.length === 0,
    failures,
  };
  ui.json(summary);
  const hasKl = Object.values(metrics).some((m) => m.kl !== undefined);
  ui.result(
    [
      `${testPath} against ${refPath}`,
      `inputs: ${source}`,
      table(
        ['output', 'SNR', 'PSNR', 'cosine', 'relative L2', 'max |error|', ...(hasKl ? ['KL'] : [])],
        Object.entries(metrics).map(([n, m]) => [
          n,
          formatDb(m.snr),
          formatDb(m.psnr),
          formatCosine(m.cosine),
          formatSci(m.relativeL2),
          m.maxAbsError.toPrecision(3),
          ...(hasKl ? [m.kl !== undefined ? formatSci(m.kl) : ''] : []),
        ]),
        { align: ['left', 'right', 'right', 'right', 'right', 'right', 'right'] },
      ),
    ].join('\n'),
  );
  if (failures.length > 0) throw new VerificationError(`eval: ${failures.join('; ')}`);
  return summary;
}
