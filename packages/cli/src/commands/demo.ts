/**
 * `silica demo [--out DIR]`: the whole tool in one command. Builds a small decoder with
 * explicit KV caches and decomposed attention (demo-model.ts), then
 *
 *   stateful-rewrite → sdpa-fusion → int4 per-block-32 quantization,
 *
 * writes the package of every stage to `./silica-demo/`, reads each back and decodes with
 * it in the interpreter, and prints per stage: size on disk, ops, output SNR and cosine
 * of the logits against the original over the decode steps, and decode steps per second
 * (the original feeds its caches in and out; the others keep them in states).
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { OutputMetrics } from '@silica/interpreter';
import { type Pass, type Program, pipeline } from '@silica/ir';
import { readMLPackage } from '@silica/mlpackage-reader';
import quantize from '@silica/quantize';
import sdpaFusion from '@silica/sdpa-fusion';
import statefulRewrite from '@silica/stateful-rewrite';
import { compareDecode, timeDecode } from '../decode.js';
import { type DecoderConfig, DEFAULT_DECODER, buildDecoder, decoderCachePairs, decoderStepInputs } from '../demo-model.js';
import { OutputError, UsageError } from '../errors.js';
import { diskSize, resolveFrom, writePackage } from '../files.js';
import { formatBytes, formatCosine, formatDb, formatNumber, table } from '../format.js';
import { PROGRESS_UNITS, countComputeOps, countOps, uiLogger } from '../runner.js';
import type { Ui } from '../ui.js';

export interface DemoArgs {
  readonly out?: string;
  readonly force?: boolean;
  readonly layers?: number;
  readonly dModel?: number;
  readonly heads?: number;
  readonly cache?: number;
  readonly vocab?: number;
  readonly steps?: number;
  readonly seed?: number;
}

export interface DemoStage {
  readonly stage: string;
  readonly path: string;
  readonly size: number;
  readonly ops: number;
  readonly computeOps: number;
  readonly states: number;
  /** Against the original's logits over the decode steps (the original's own row: null). */
  readonly logits: OutputMetrics | null;
  readonly stepsPerSecond: number;
}

function positive(name: string, v: number | undefined, fallback: number): number {
  const x = v ?? fallback;
  if (!(Number.isInteger(x) && x >= 1)) throw new UsageError(`--${name} ${v}: expected a whole number ≥ 1`);
  return x;
}

export async function demoCommand(ui: Ui, args: DemoArgs): Promise<Record<string, unknown>> {
  const config: DecoderConfig = {
    layers: positive('layers', args.layers, DEFAULT_DECODER.layers),
    dModel: positive('d-model', args.dModel, DEFAULT_DECODER.dModel),
    heads: positive('heads', args.heads, DEFAULT_DECODER.heads),
    cache: positive('cache', args.cache, DEFAULT_DECODER.cache),
    vocab: positive('vocab', args.vocab, DEFAULT_DECODER.vocab),
    seed: args.seed ?? DEFAULT_DECODER.seed,
  };
  const steps = positive('steps', args.steps, 8);
  if (config.dModel % config.heads !== 0) throw new UsageError(`--d-model ${config.dModel} must be a multiple of --heads ${config.heads}`);
  if (config.dModel % 32 !== 0) throw new UsageError(`--d-model ${config.dModel} must be a multiple of 32 for int4 blocks of 32 along the input axis`);
  if (steps > config.cache) throw new UsageError(`--steps ${steps} is more than the cache holds (--cache ${config.cache}); decode at most ${config.cache} steps`);

  const dir = resolveFrom(ui.io.cwd, args.out ?? 'silica-demo');
  if (existsSync(dir) && readdirSync(dir).length > 0 && !args.force) {
    throw new OutputError(`${dir} already exists and is not empty; pass --force to replace the demo packages in it, or choose another folder with --out DIR`);
  }
  mkdirSync(dir, { recursive: true });
  const pairs = decoderCachePairs(config);
  ui.info(
    `demo decoder: ${config.layers} layer${config.layers === 1 ? '' : 's'}, d_model ${config.dModel}, ${config.heads} heads, KV cache of ${config.cache} positions, vocabulary ${config.vocab}, seed ${config.seed}; ${steps} decode steps`,
  );

  const program = buildDecoder(config);
  const stages: Array<{ stage: string; file: string; passes: Pass[] }> = [
    { stage: 'original (explicit KV cache)', file: 'decoder.mlpackage', passes: [] },
    { stage: '+ stateful-rewrite', file: 'decoder-stateful.mlpackage', passes: [statefulRewrite()] },
    { stage: '+ sdpa-fusion', file: 'decoder-stateful-sdpa.mlpackage', passes: [sdpaFusion()] },
    { stage: '+ int4 per-block-32', file: 'decoder-stateful-sdpa-int4.mlpackage', passes: [quantize({ dtype: 'int4', granularity: 'per_block', blockSize: 32 })] },
  ];
  const written: Array<{ stage: string; path: string; stats: Record<string, number | string> }> = [];
  for (const s of stages) {
    let stats: Record<string, number | string> = {};
    if (s.passes.length > 0) {
      const { report } = await pipeline(s.passes).runWithReport(program, { onProgress: ui.pipelineProgress(PROGRESS_UNITS), logger: uiLogger(ui), signal: ui.io.signal, verify: true });
      stats = Object.assign({}, ...report.map((r) => r.stats));
    }
    const path = join(dir, s.file);
    await writePackage(program, path, { force: true, deterministic: true });
    written.push({ stage: s.stage, path, stats });
  }

  // read every stage back and decode with it
  const loaded: Program[] = await Promise.all(written.map((w) => readMLPackage(w.path)));
  const inputsFor = (step: number) => decoderStepInputs(config, step);
  const bar = ui.progress('decode', 'stages');
  const results: DemoStage[] = [];
  for (const [i, w] of written.entries()) {
    const p = loaded[i];
    ui.io.signal?.throwIfAborted();
    const logits = i === 0 ? null : compareDecode(loaded[0], p, { steps, seed: config.seed, pairs, inputsFor, signal: ui.io.signal }).metrics.logits;
    // time on its own over at least 32 steps (when the cache holds them), best of three runs
    const timed = Math.min(config.cache, Math.max(steps, 32));
    const ms = Math.min(...[0, 1, 2].map(() => timeDecode(p, { steps: timed, seed: config.seed, pairs, inputsFor }) / timed));
    results.push({
      stage: w.stage,
      path: w.path,
      size: diskSize(w.path),
      ops: countOps(p),
      computeOps: countComputeOps(p),
      states: p.getFunction().inputs.filter((v) => v.type.kind === 'state').length,
      logits,
      stepsPerSecond: 1000 / ms,
    });
    bar.update(i + 1, written.length, w.stage);
  }
  bar.finish();

  const summary = { command: 'demo', out: dir, config, steps, stages: results, passStats: Object.fromEntries(written.map((w) => [w.stage, w.stats])) };
  ui.json(summary);
  const first = results[0];
  const last = results[results.length - 1];
  ui.result(
    [
      table(
        ['stage', 'size on disk', 'ops', 'states', 'logits SNR', 'cosine', 'decode steps/s'],
        results.map((r) => [
          r.stage,
          formatBytes(r.size),
          String(r.computeOps),
          String(r.states),
          r.logits ? formatDb(r.logits.snr) : '(reference)',
          r.logits ? formatCosine(r.logits.cosine) : '',
          formatNumber(r.stepsPerSecond, 1),
        ]),
        { align: ['left', 'right', 'right', 'right', 'right', 'right', 'right'] },
      ),
      '',
      `size ${formatBytes(first.size)} → ${formatBytes(last.size)} (${formatNumber(first.size / last.size, 2)}× smaller); ops ${first.computeOps} → ${last.computeOps} (consts and constexpr ops not counted)`,
      `logits after all three passes: SNR ${last.logits ? formatDb(last.logits.snr) : '–'}, cosine ${last.logits ? formatCosine(last.logits.cosine) : '–'} over ${steps} decode steps, against the original in the interpreter`,
      `decode in the interpreter: ${formatNumber(first.stepsPerSecond, 1)} steps/s with the caches passed in and out, ${formatNumber(results[1].stepsPerSecond, 1)} steps/s with states`,
      `packages in ${dir}:`,
      ...results.map((r) => `  ${r.path}`),
      `next: silica inspect ${join(dir, 'decoder-stateful-sdpa-int4.mlpackage')}`,
    ].join('\n'),
  );
  return summary;
}
