/**
 * The `calibrate` pass: post-training compression driven by calibration data, layer by
 * layer (coremltools' `LayerwiseCompressor`):
 *
 *  1. the weights are selected as the plain passes select them (mil-ops.md §7.1, config
 *     resolution by op name / op type / global), and kept when every reader is a linear,
 *     conv or matmul layer (layers.ts);
 *  2. rounds of layers (schedule.ts): the samples run through the interpreter and the
 *     input activations of the round's layers accumulate into their Hessians
 *     (hessian.ts); the layers are compressed — GPTQ, SparseGPT or sensitivity-weighted
 *     k-means (compress.ts) — and their constexpr ops replace the weights at once, so the
 *     next round sees the activations of the compressed model;
 *  3. `mixed_bit` instead scores every layer's sensitivity and picks a width per layer
 *     (mixedbit.ts).
 *
 * The program is changed in place; `PassResult.stats` is the plain passes' summary
 * (bytes, bits per weight, weight MSE/SNR) plus `algorithm`, `samples`, `rounds`, and the
 * result also carries one `LayerReport` per compressed weight.
 */
import { type ConfigSet, summarizeStats } from '@silica/compression';
import type { Pass, PassContext, Program } from '@silica/ir';
import {
  type CompressedLayer,
  type LayerSkip,
  compressGptq,
  compressSensitiveKMeans,
  compressSparseGpt,
  gatePalettization,
  gateQuantization,
} from './compress.js';
import { captureActivations } from './capture.js';
import { type AnyResolved, type CalibrationResult, type LayerReport, PASS, type Plan, combinedSignal, commitLayer, findLayers, raiseTarget, samplesFor } from './driver.js';
import { type ActivationSink, DiagonalAccumulator, HessianAccumulator } from './hessian.js';
import { runMixedBit } from './mixedbit.js';
import {
  ALGORITHMS,
  type CalibrateOptions,
  type MixedBitRecipe,
  type ResolvedPalettization,
  type ResolvedPruning,
  type ResolvedQuantization,
  checkCommon,
  configSet,
  resolveMixedBit,
  resolvePalettization,
  resolvePruning,
  resolveQuantization,
} from './options.js';
import { scheduleRounds } from './schedule.js';

function makePlan(options: CalibrateOptions): Plan {
  if (options === null || typeof options !== 'object') throw new Error('calibrate: options must be an object');
  if (!ALGORITHMS.includes(options.algorithm)) {
    throw new Error(`calibrate: algorithm must be one of ${ALGORITHMS.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify((options as { algorithm?: unknown }).algorithm)}`);
  }
  checkCommon(options);
  let configs: ConfigSet<AnyResolved>;
  switch (options.algorithm) {
    case 'gptq':
      if (options.actOrder !== undefined && typeof options.actOrder !== 'boolean') throw new Error('calibrate: actOrder must be a boolean');
      configs = configSet(options.config, resolveQuantization);
      break;
    case 'sparsegpt':
      if (!options.config) throw new Error('calibrate: sparsegpt needs config.targetSparsity or config.nmRatio');
      configs = configSet(options.config, resolvePruning);
      break;
    case 'sensitive_kmeans':
      configs = configSet(options.config, resolvePalettization);
      break;
    case 'mixed_bit': {
      const needTarget = options.recipe === undefined;
      configs = configSet(options.config, (c, where) => resolveMixedBit(c, where, needTarget && where === ''));
      if (options.recipe !== undefined) checkRecipe(options.recipe);
      if (options.onRecipe !== undefined && typeof options.onRecipe !== 'function') throw new Error('calibrate: onRecipe must be a function');
      break;
    }
  }
  return {
    options,
    algorithm: options.algorithm,
    configs,
    nSamples: options.nSamples ?? 128,
    percentDamp: options.percentDamp ?? 0.01,
    blockSize: options.blockSize ?? 128,
  };
}

function checkRecipe(r: MixedBitRecipe): void {
  const bad = (m: string): never => {
    throw new Error(`calibrate: invalid mixed-bit recipe: ${m}`);
  };
  if (r === null || typeof r !== 'object') bad('not an object');
  if (r.version !== 1 || r.algorithm !== 'mixed_bit') bad(`expected version 1 of a mixed_bit recipe, got version ${JSON.stringify(r.version)} of ${JSON.stringify(r.algorithm)}`);
  if (r.weighting !== 'hessian' && r.weighting !== 'none') bad(`weighting ${JSON.stringify(r.weighting)}`);
  if (r.layers === null || typeof r.layers !== 'object') bad('no layers');
  for (const [k, l] of Object.entries(r.layers)) {
    if (l === null || typeof l !== 'object') bad(`layer "${k}" is not an object`);
    if (![1, 2, 3, 4, 6, 8].includes(l.nbits)) bad(`layer "${k}" has nbits ${JSON.stringify(l.nbits)}`);
    if (l.granularity !== 'per_tensor' && l.granularity !== 'per_grouped_channel') bad(`layer "${k}" has granularity ${JSON.stringify(l.granularity)}`);
    if (!(Number.isInteger(l.groupSize) && l.groupSize >= 1)) bad(`layer "${k}" has groupSize ${JSON.stringify(l.groupSize)}`);
  }
}

async function runLayerwise(program: Program, ctx: PassContext, plan: Plan): Promise<CalibrationResult> {
  const o = plan.options;
  const warnings: string[] = [];
  let changed = raiseTarget(program, warnings);
  const target = program.target;
  const signal = combinedSignal(ctx, o.signal);
  const fn = program.getFunction(o.function);
  const samples = samplesFor(plan, program, fn.name);
  if (o.nSamples !== undefined && samples.length < o.nSamples) warnings.push(`nSamples is ${o.nSamples} but the calibration data holds ${samples.length} samples; using ${samples.length}`);
  const { layers, skipped } = findLayers(program, fn.name, plan.configs);
  for (const s of skipped) if (!s.reason.startsWith('no config applies')) warnings.push(`weight "${s.weight}" skipped: ${s.reason}`);

  // fail before any work when the target cannot hold the result
  for (const { layer, config } of layers) {
    const where = `${PASS}: ${layer.weight.label}`;
    if (plan.algorithm === 'gptq') gateQuantization(config as ResolvedQuantization, target, where);
    if (plan.algorithm === 'sensitive_kmeans') {
      const c = config as ResolvedPalettization;
      gatePalettization(c.nbits, c.granularity, target, where);
    }
  }

  const rounds = scheduleRounds(
    fn,
    layers.map((l) => l.layer),
  );
  const configOf = new Map(layers.map((l) => [l.layer, l.config]));
  const reports: LayerReport[] = [];
  const total = layers.length;
  let tokensTotal = 0;
  for (const round of rounds) {
    signal.throwIfAborted();
    const diagonalOnly = plan.algorithm === 'sensitive_kmeans';
    const sinks: ActivationSink[][] = round.map((l) =>
      Array.from({ length: l.rowGroups }, () => (diagonalOnly ? new DiagonalAccumulator(l.cols) : new HessianAccumulator(l.cols))),
    );
    const names = round.map((l) => l.weight.name);
    const t0 = performance.now();
    const tokens = await captureActivations(
      program,
      samples,
      round.map((layer, k) => ({ layer, sinks: sinks[k] })),
      {
        function: fn.name,
        signal,
        onSample: (done, n) => o.onProgress?.({ kind: 'capture', layers: names, sample: done, samples: n }),
      },
    );
    const captureMs = (performance.now() - t0) / round.length;
    for (const [k, layer] of round.entries()) {
      signal.throwIfAborted();
      const config = configOf.get(layer)!;
      const t1 = performance.now();
      const h = { percentDamp: plan.percentDamp, blockSize: plan.blockSize, signal };
      let result: CompressedLayer | LayerSkip;
      if (plan.algorithm === 'gptq') {
        result = await compressGptq(layer, sinks[k] as HessianAccumulator[], config as ResolvedQuantization, { ...h, actOrder: o.algorithm === 'gptq' && (o.actOrder ?? false) });
      } else if (plan.algorithm === 'sparsegpt') {
        result = await compressSparseGpt(layer, sinks[k] as HessianAccumulator[], config as ResolvedPruning, h);
      } else {
        result = await compressSensitiveKMeans(layer, sinks[k], config as ResolvedPalettization);
      }
      if ('skip' in result) {
        skipped.push({ function: fn.name, weight: layer.weight.name, reason: result.skip });
        warnings.push(`weight "${layer.weight.name}" skipped: ${result.skip}`);
        continue;
      }
      const compressMs = performance.now() - t1;
      const report = commitLayer(layer.weight, target, result, { tokens: tokens[k], captureMs, compressMs });
      reports.push(report);
      tokensTotal += tokens[k];
      changed = true;
      ctx.progress(reports.length, total, layer.weight.name);
      o.onProgress?.({
        kind: 'layer',
        algorithm: plan.algorithm,
        layer: layer.weight.name,
        index: reports.length,
        total,
        samples: samples.length,
        tokens: tokens[k],
        captureMs,
        compressMs,
        ms: captureMs + compressMs,
        weightSnrDb: report.snrDb,
      });
    }
  }
  return {
    changed,
    stats: { algorithm: plan.algorithm, samples: samples.length, rounds: rounds.length, tokens: tokensTotal, ...summarizeStats(reports, skipped.length) },
    warnings,
    layers: reports,
    skipped,
  };
}

/**
 * Creates the `calibrate` pass (see the module comment and README). Options are checked
 * here; the calibration data is read when the pass runs.
 */
export default function calibrate(options: CalibrateOptions): Pass {
  const plan = makePlan(options);
  return {
    name: PASS,
    run(program: Program, ctx: PassContext): Promise<CalibrationResult> {
      return plan.algorithm === 'mixed_bit' ? runMixedBit(program, ctx, plan) : runLayerwise(program, ctx, plan);
    },
  };
}
