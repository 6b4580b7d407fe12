/**
 * What the layer-wise run and the mixed-bit search share: the resolved plan, finding the
 * calibratable layers, loading the samples, committing a compressed layer and its report.
 */
import {
  type ConfigSet,
  MINIMUM_COMPRESSION_TARGET,
  type SkippedWeight,
  type Weight,
  type WeightStats,
  emitterFor,
  errorMetrics,
  producerChain,
  replaceValue,
  representationBytes,
  selectWeights,
} from '@silica/compression';
import type { InputTensor, TensorDescription } from '@silica/interpreter';
import { type PassContext, type PassResult, type Program, targetAtLeast } from '@silica/ir';
import { type CompressedLayer, weightValues } from './compress.js';
import { CalibrationDataError, loadSamples } from './data.js';
import { type Layer, layerOf } from './layers.js';
import type { Algorithm, CalibrateOptions, MixedBitRecipe, ResolvedMixedBit, ResolvedPalettization, ResolvedPruning, ResolvedQuantization } from './options.js';

export const PASS = 'calibrate';

/** What happened to one weight. */
export interface LayerReport extends WeightStats {
  /** Activation rows its Hessian was built from. */
  readonly tokens: number;
  /** The algorithm's estimate of the layer-objective increase (or the weighted k-means cost). */
  readonly loss: number;
  readonly captureMs: number;
}

export interface CalibrationResult extends PassResult {
  readonly layers: readonly LayerReport[];
  readonly skipped: readonly SkippedWeight[];
  /** mixed_bit: the recipe that was searched or applied. */
  readonly recipe?: MixedBitRecipe;
}

export type AnyResolved = ResolvedQuantization | ResolvedPruning | ResolvedPalettization | ResolvedMixedBit;

/** Everything the run needs, resolved when the pass is built. */
export interface Plan {
  readonly options: CalibrateOptions;
  readonly algorithm: Algorithm;
  readonly configs: ConfigSet<AnyResolved>;
  readonly nSamples: number;
  readonly percentDamp: number;
  readonly blockSize: number;
}

/** The samples for a function, or a clear error when the algorithm needs them and there are none. */
export function samplesFor(plan: Plan, program: Program, fnName: string): Array<Record<string, InputTensor>> {
  if (plan.options.samples === undefined) {
    throw new CalibrationDataError(`calibrate: ${plan.algorithm} needs calibration data (samples: a path, a list of paths or records of arrays)`);
  }
  // the data inputs, as the interpreter will want them (states live in the session)
  const inputs: TensorDescription[] = program
    .getFunction(fnName)
    .inputs.flatMap((v) => (v.type.kind === 'tensor' ? [{ name: v.name, dtype: v.type.dtype, shape: [...v.type.shape] }] : []));
  return loadSamples(plan.options.samples, inputs, plan.nSamples);
}

/** The calibratable layers of `fnName` and the weights left alone (with reasons). */
export function findLayers(program: Program, fnName: string, configs: ConfigSet<AnyResolved>): {
  layers: Array<{ layer: Layer; config: AnyResolved }>;
  skipped: SkippedWeight[];
} {
  const selection = selectWeights(program, { pass: PASS, configs, joint: false, threshold: (c) => c.weightThreshold });
  const skipped = [...selection.skipped];
  const layers: Array<{ layer: Layer; config: AnyResolved }> = [];
  for (const { weight, config } of selection.selected) {
    if (weight.fn.name !== fnName) {
      skipped.push({ function: weight.fn.name, weight: weight.name, reason: `not in the calibrated function "${fnName}"` });
      continue;
    }
    const r = layerOf(weight, program.target);
    if ('skip' in r) skipped.push({ function: weight.fn.name, weight: weight.name, reason: r.skip });
    else layers.push({ layer: r.layer, config });
  }
  return { layers, skipped };
}

/** Replaces a weight by the compressed ops and returns its stats. */
export function commitLayer(
  weight: Weight,
  target: Program['target'],
  compressed: CompressedLayer,
  extra: { tokens: number; captureMs: number; compressMs: number },
): LayerReport {
  const bytesBefore = representationBytes(weight.dense);
  const original = weightValues(weight);
  const replacement = compressed.emit(emitterFor(weight, target, PASS));
  replaceValue(weight.value, replacement, weight.chain);
  const bytesAfter = representationBytes(replacement);
  const elements = weight.denseShape.reduce((a, b) => a * b, 1);
  const m = errorMetrics(original, compressed.dense);
  return {
    function: weight.fn.name,
    weight: weight.name,
    dense: replacement.name,
    shape: weight.denseShape,
    dtype: weight.denseDType,
    elements,
    method: compressed.method,
    ops: producerChain(replacement).chain.map((o) => o.type),
    bytesBefore,
    bytesAfter,
    bitsPerWeight: elements === 0 ? 0 : (8 * bytesAfter) / elements,
    mse: m.mse,
    snrDb: m.snrDb,
    maxAbsError: m.maxAbsError,
    inWorker: false,
    ms: extra.compressMs,
    tokens: extra.tokens,
    loss: compressed.loss,
    captureMs: extra.captureMs,
  };
}

/** Moves a program below iOS16 to iOS16 (constexpr ops need it), as the plain passes do. */
export function raiseTarget(program: Program, warnings: string[]): boolean {
  if (targetAtLeast(program.target, MINIMUM_COMPRESSION_TARGET)) return false;
  warnings.push(`the program targeted ${program.target}; constexpr ops need ${MINIMUM_COMPRESSION_TARGET}, so it now targets ${MINIMUM_COMPRESSION_TARGET}`);
  program.target = MINIMUM_COMPRESSION_TARGET;
  return true;
}

export function combinedSignal(ctx: PassContext, own: AbortSignal | undefined): AbortSignal {
  return own ? AbortSignal.any([ctx.signal, own]) : ctx.signal;
}

