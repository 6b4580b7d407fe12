/**
 * Options of the `calibrate` pass, checked when the pass is built.
 *
 * `config` has the shape of the matching plain pass's options, so a calibrated weight
 * ends in exactly the form that pass would give it: the fields of one config (the global
 * one) plus `opType` / `opName` maps of configs (or `null` = leave those weights alone).
 * As in coremltools' per-op configs, an `opType` / `opName` entry is complete on its own
 * (omitted fields take the defaults, not the global ones).
 */
import { CompressionConfigError, type ConfigSet } from '@silica/compression';
import type { CalibrationSamples } from './data.js';
import { QUANT_DTYPES, type QuantDType, type QuantMode } from './quant.js';

export type Algorithm = 'gptq' | 'sparsegpt' | 'sensitive_kmeans' | 'mixed_bit';

export const ALGORITHMS: readonly Algorithm[] = ['gptq', 'sparsegpt', 'sensitive_kmeans', 'mixed_bit'];

/** Quantization target of GPTQ — the quantize pass's config (coremltools' `OpLinearQuantizerConfig`). */
export interface QuantizationConfig {
  /** Default `'int8'`. */
  readonly dtype?: QuantDType;
  /** Default `'linear_symmetric'`. */
  readonly mode?: QuantMode;
  /** Default `'per_channel'`. */
  readonly granularity?: 'per_tensor' | 'per_channel' | 'per_block';
  /** Input channels per scale for `per_block` (default 32). */
  readonly blockSize?: number;
  /** Only weights with more elements than this are compressed (default 2048). */
  readonly weightThreshold?: number;
}

/** Pruning target of SparseGPT — the prune pass's magnitude config (`OpMagnitudePrunerConfig`). */
export interface PruningConfig {
  /** Fraction of weights to zero, in [0, 1]. Exactly one of `targetSparsity` and `nmRatio`. */
  readonly targetSparsity?: number;
  /** `[n, m]`: in every run of m consecutive weights along `dim`, zero n (coremltools' n is the number removed). */
  readonly nmRatio?: readonly [number, number];
  /** Axis of the n:m runs: 1 = input channels (default), 0 = output channels. */
  readonly dim?: 0 | 1;
  readonly weightThreshold?: number;
}

/** Palettization target of sensitivity-weighted k-means — the palettize pass's config (`OpPalettizerConfig`, scalar k-means). */
export interface PalettizationConfig {
  /** LUT index width (default 4). */
  readonly nbits?: 1 | 2 | 3 | 4 | 6 | 8;
  /** One LUT per weight (default) or per group of `groupSize` output channels. */
  readonly granularity?: 'per_tensor' | 'per_grouped_channel';
  /** Default 32. */
  readonly groupSize?: number;
  readonly weightThreshold?: number;
}

/** Mixed-bit palettization search. */
export interface MixedBitConfig {
  /** Candidate widths (default [1, 2, 3, 4, 6, 8]). */
  readonly widths?: ReadonlyArray<1 | 2 | 3 | 4 | 6 | 8>;
  /** Size budget: at most this many bits per weight over the palettized weights (LUTs included). */
  readonly targetBitsPerWeight?: number;
  /** Quality floor: the smallest model whose predicted output PSNR (dB) is at least this. */
  readonly minPsnr?: number;
  readonly granularity?: 'per_tensor' | 'per_grouped_channel';
  readonly groupSize?: number;
  /** Fit each LUT with Hessian-diagonal sensitivities (default) or plain k-means. */
  readonly weighting?: 'hessian' | 'none';
  readonly weightThreshold?: number;
}

/** A config plus per-op overrides, as the plain passes take them. */
export type WithOverrides<C> = C & {
  readonly opType?: Readonly<Record<string, C | null>>;
  readonly opName?: Readonly<Record<string, C | null>>;
};

/** Progress of a calibration run (the `onProgress` callback). */
export type CalibrationProgress =
  | {
      readonly kind: 'capture';
      /** Weights whose input activations this pass over the samples collects. */
      readonly layers: readonly string[];
      readonly sample: number;
      readonly samples: number;
    }
  | {
      readonly kind: 'layer';
      readonly algorithm: Algorithm;
      /** The weight (const name) just compressed. */
      readonly layer: string;
      readonly index: number;
      readonly total: number;
      readonly samples: number;
      /** Activation rows (tokens, conv output pixels) its Hessian was built from. */
      readonly tokens: number;
      /** Time of this weight's share of the capture pass, and of its compression. */
      readonly captureMs: number;
      readonly compressMs: number;
      readonly ms: number;
      /** SNR (dB) of the compressed weight against the original. */
      readonly weightSnrDb: number;
    }
  | {
      readonly kind: 'score';
      /** Mixed-bit sensitivity scoring: output PSNR with only `layer` palettized at `nbits`. */
      readonly layer: string;
      readonly nbits: number;
      readonly psnr: number;
      readonly index: number;
      readonly total: number;
    };

interface Common {
  /** Calibration data (see data.ts): a path, a list of paths, records of arrays. */
  readonly samples?: CalibrationSamples;
  /** Use at most this many samples (default 128). */
  readonly nSamples?: number;
  /** Function to calibrate (default: the program's default function). */
  readonly function?: string;
  readonly onProgress?: (event: CalibrationProgress) => void;
  /** Cancels the run (checked between samples, layers and GPTQ blocks). */
  readonly signal?: AbortSignal;
  /** Hessian damping as a fraction of its mean diagonal (default 0.01). */
  readonly percentDamp?: number;
  /** Columns per GPTQ / SparseGPT lazy-update block (default 128). */
  readonly blockSize?: number;
}

export interface GptqOptions extends Common {
  readonly algorithm: 'gptq';
  readonly config?: WithOverrides<QuantizationConfig>;
  /** Quantize columns in order of decreasing Hessian diagonal (default false). */
  readonly actOrder?: boolean;
}

export interface SparseGptOptions extends Common {
  readonly algorithm: 'sparsegpt';
  readonly config: WithOverrides<PruningConfig>;
}

export interface SensitiveKMeansOptions extends Common {
  readonly algorithm: 'sensitive_kmeans';
  readonly config?: WithOverrides<PalettizationConfig>;
}

export interface MixedBitOptions extends Common {
  readonly algorithm: 'mixed_bit';
  readonly config?: WithOverrides<MixedBitConfig>;
  /** Apply a recipe from an earlier search instead of searching. */
  readonly recipe?: MixedBitRecipe;
  /** Receives the recipe of the search (also in the pass stats as `recipe`, JSON). */
  readonly onRecipe?: (recipe: MixedBitRecipe) => void;
}

export type CalibrateOptions = GptqOptions | SparseGptOptions | SensitiveKMeansOptions | MixedBitOptions;

/** One weight of a mixed-bit recipe. */
export interface RecipeLayer {
  readonly nbits: 1 | 2 | 3 | 4 | 6 | 8;
  readonly granularity: 'per_tensor' | 'per_grouped_channel';
  readonly groupSize: number;
  /** Weight elements (informational). */
  readonly elements?: number;
  /** Output PSNR (dB) of the model with only this weight palettized at `nbits`, on the calibration samples (informational). */
  readonly psnr?: number;
}

/** The result of a mixed-bit search, reusable with `{ algorithm: 'mixed_bit', recipe }`. */
export interface MixedBitRecipe {
  readonly version: 1;
  readonly algorithm: 'mixed_bit';
  /** How the LUTs were fitted: with Hessian-diagonal sensitivities or plain k-means. */
  readonly weighting: 'hessian' | 'none';
  /** Weight (const name) → its width and LUT grouping. */
  readonly layers: Readonly<Record<string, RecipeLayer>>;
  /** Bits per weight over the palettized weights, LUTs included. */
  readonly bitsPerWeight: number;
  readonly targetBitsPerWeight?: number;
  readonly minPsnr?: number;
  /** Output PSNR (dB) predicted from the per-layer scores, and measured, on the calibration samples. */
  readonly predictedPsnr?: number;
  readonly measuredPsnr?: number;
}

// ---------------------------------------------------------------------------------------
// resolution

export interface ResolvedQuantization {
  readonly dtype: QuantDType;
  readonly mode: QuantMode;
  readonly granularity: 'per_tensor' | 'per_channel' | 'per_block';
  readonly blockSize: number;
  readonly weightThreshold: number;
}

export interface ResolvedPruning {
  readonly targetSparsity: number | undefined;
  readonly nmRatio: readonly [number, number] | undefined;
  readonly dim: 0 | 1;
  readonly weightThreshold: number;
}

export interface ResolvedPalettization {
  readonly nbits: 1 | 2 | 3 | 4 | 6 | 8;
  readonly granularity: 'per_tensor' | 'per_grouped_channel';
  readonly groupSize: number;
  readonly weightThreshold: number;
}

export interface ResolvedMixedBit {
  readonly widths: ReadonlyArray<1 | 2 | 3 | 4 | 6 | 8>;
  readonly targetBitsPerWeight: number | undefined;
  readonly minPsnr: number | undefined;
  readonly granularity: 'per_tensor' | 'per_grouped_channel';
  readonly groupSize: number;
  readonly weighting: 'hessian' | 'none';
  readonly weightThreshold: number;
}

const NBITS = [1, 2, 3, 4, 6, 8] as const;

function fail(where: string, message: string): never {
  throw new CompressionConfigError(`calibrate: ${where}${message}`);
}

/** Rejects unknown keys; `unsupported` maps known-elsewhere keys to why they do not apply here. */
function checkKeys(c: object, where: string, keys: readonly string[], unsupported: Readonly<Record<string, string>> = {}): void {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) fail(where, `a config must be an object, got ${JSON.stringify(c)}`);
  for (const k of Object.keys(c)) {
    if (k in unsupported) fail(where, `"${k}" is not supported here: ${unsupported[k]}`);
    if (!keys.includes(k)) fail(where, `unknown option "${k}" (expected ${keys.join(', ')})`);
  }
}

function threshold(c: { weightThreshold?: number }, where: string): number {
  const t = c.weightThreshold ?? 2048;
  if (!(Number.isInteger(t) && t >= 0)) fail(where, `weightThreshold must be an integer ≥ 0, got ${JSON.stringify(c.weightThreshold)}`);
  return t;
}

function positiveInt(x: unknown, name: string, where: string): number {
  if (!(Number.isInteger(x) && (x as number) >= 1)) fail(where, `${name} must be a positive integer, got ${JSON.stringify(x)}`);
  return x as number;
}

export function resolveQuantization(c: QuantizationConfig, where = ''): ResolvedQuantization {
  checkKeys(c, where, ['dtype', 'mode', 'granularity', 'blockSize', 'weightThreshold']);
  const dtype = c.dtype ?? 'int8';
  if (!QUANT_DTYPES.includes(dtype)) fail(where, `dtype must be one of ${QUANT_DTYPES.join(', ')}, got ${JSON.stringify(c.dtype)}`);
  const mode = c.mode ?? 'linear_symmetric';
  if (mode !== 'linear_symmetric' && mode !== 'linear') fail(where, `mode must be 'linear_symmetric' or 'linear', got ${JSON.stringify(c.mode)}`);
  const granularity = c.granularity ?? 'per_channel';
  if (!['per_tensor', 'per_channel', 'per_block'].includes(granularity)) {
    fail(where, `granularity must be 'per_tensor', 'per_channel' or 'per_block', got ${JSON.stringify(c.granularity)}`);
  }
  if (c.blockSize !== undefined && granularity !== 'per_block') fail(where, `blockSize only applies to granularity "per_block" (granularity is "${granularity}")`);
  if (Array.isArray(c.blockSize)) fail(where, 'blockSize must be the input-channel block size (per-axis block lists are not supported by GPTQ)');
  const blockSize = positiveInt(c.blockSize ?? 32, 'blockSize', where);
  return { dtype, mode, granularity, blockSize, weightThreshold: threshold(c, where) };
}

export function resolvePruning(c: PruningConfig, where = ''): ResolvedPruning {
  checkKeys(c, where, ['targetSparsity', 'nmRatio', 'dim', 'weightThreshold'], {
    blockSize: 'SparseGPT prunes single weights or n:m runs (use the prune pass for block sparsity)',
    threshold: 'SparseGPT is a magnitude-style pruner (use the prune pass for threshold pruning)',
    minimumSparsityPercentile: 'SparseGPT is a magnitude-style pruner (use the prune pass for threshold pruning)',
  });
  const { targetSparsity, nmRatio } = c;
  if ((targetSparsity === undefined) === (nmRatio === undefined)) fail(where, 'give exactly one of targetSparsity and nmRatio');
  if (targetSparsity !== undefined && !(typeof targetSparsity === 'number' && targetSparsity >= 0 && targetSparsity <= 1)) {
    fail(where, `targetSparsity must be in [0, 1], got ${JSON.stringify(targetSparsity)}`);
  }
  if (nmRatio !== undefined) {
    const ok = Array.isArray(nmRatio) && nmRatio.length === 2 && Number.isInteger(nmRatio[0]) && Number.isInteger(nmRatio[1]) && nmRatio[1] >= 1 && nmRatio[0] >= 0 && nmRatio[0] <= nmRatio[1];
    if (!ok) fail(where, `nmRatio must be [n, m] with integers 0 ≤ n ≤ m, m ≥ 1, got ${JSON.stringify(nmRatio)}`);
  }
  const dim = c.dim ?? 1;
  if (dim !== 0 && dim !== 1) fail(where, `dim must be 0 or 1, got ${JSON.stringify(c.dim)}`);
  return { targetSparsity, nmRatio: nmRatio ? [nmRatio[0], nmRatio[1]] : undefined, dim, weightThreshold: threshold(c, where) };
}

function granularityOf(g: unknown, where: string): 'per_tensor' | 'per_grouped_channel' {
  const x = g ?? 'per_tensor';
  if (x !== 'per_tensor' && x !== 'per_grouped_channel') fail(where, `granularity must be 'per_tensor' or 'per_grouped_channel', got ${JSON.stringify(g)}`);
  return x;
}

const KMEANS_ONLY: Readonly<Record<string, string>> = {
  mode: 'sensitivity weighting applies to scalar k-means LUTs only',
  clusterDim: 'sensitivity weighting applies to scalar k-means LUTs only',
  enablePerChannelScale: 'per-channel scales are not combined with sensitivity weighting',
  lutFunction: 'the LUTs are fitted by weighted k-means',
  channelAxis: 'LUT groups run along the inferred output-channel axis',
};

export function resolvePalettization(c: PalettizationConfig, where = ''): ResolvedPalettization {
  checkKeys(c, where, ['nbits', 'granularity', 'groupSize', 'weightThreshold'], KMEANS_ONLY);
  const nbits = c.nbits ?? 4;
  if (!NBITS.includes(nbits)) fail(where, `nbits must be one of ${NBITS.join(', ')}, got ${JSON.stringify(c.nbits)}`);
  return {
    nbits,
    granularity: granularityOf(c.granularity, where),
    groupSize: positiveInt(c.groupSize ?? 32, 'groupSize', where),
    weightThreshold: threshold(c, where),
  };
}

export function resolveMixedBit(c: MixedBitConfig, where = '', needTarget = true): ResolvedMixedBit {
  checkKeys(c, where, ['widths', 'targetBitsPerWeight', 'minPsnr', 'granularity', 'groupSize', 'weighting', 'weightThreshold'], { ...KMEANS_ONLY, nbits: 'mixed_bit chooses the width of every weight (see widths)' });
  const widths = [...(c.widths ?? NBITS)].sort((a, b) => a - b);
  if (widths.length === 0 || widths.some((w) => !NBITS.includes(w)) || new Set(widths).size !== widths.length) {
    fail(where, `widths must be distinct values of ${NBITS.join(', ')}, got ${JSON.stringify(c.widths)}`);
  }
  const { targetBitsPerWeight, minPsnr } = c;
  if (needTarget && (targetBitsPerWeight === undefined) === (minPsnr === undefined)) fail(where, 'give exactly one of targetBitsPerWeight and minPsnr');
  if (targetBitsPerWeight !== undefined && !(typeof targetBitsPerWeight === 'number' && targetBitsPerWeight > 0)) {
    fail(where, `targetBitsPerWeight must be a positive number, got ${JSON.stringify(targetBitsPerWeight)}`);
  }
  if (minPsnr !== undefined && !(typeof minPsnr === 'number' && Number.isFinite(minPsnr))) fail(where, `minPsnr must be a finite number, got ${JSON.stringify(minPsnr)}`);
  const weighting = c.weighting ?? 'hessian';
  if (weighting !== 'hessian' && weighting !== 'none') fail(where, `weighting must be 'hessian' or 'none', got ${JSON.stringify(c.weighting)}`);
  return {
    widths,
    targetBitsPerWeight,
    minPsnr,
    granularity: granularityOf(c.granularity, where),
    groupSize: positiveInt(c.groupSize ?? 32, 'groupSize', where),
    weighting,
    weightThreshold: threshold(c, where),
  };
}

/** The ConfigSet of a config with overrides, every entry resolved with `resolve`. */
export function configSet<C, R>(config: WithOverrides<C> | undefined, resolve: (c: C, where: string) => R): ConfigSet<R> {
  const { opType, opName, ...global } = (config ?? {}) as WithOverrides<C>;
  const map = (m: Readonly<Record<string, C | null>> | undefined, kind: string): Record<string, R | null> | undefined => {
    if (m === undefined) return undefined;
    if (m === null || typeof m !== 'object') fail('', `${kind} must be an object of configs`);
    const out: Record<string, R | null> = {};
    for (const [k, v] of Object.entries(m)) out[k] = v === null ? null : resolve(v, `${kind}["${k}"]: `);
    return out;
  };
  return { global: resolve(global as C, ''), opType: map(opType, 'opType'), opName: map(opName, 'opName') };
}

/** Checks the options shared by every algorithm. */
export function checkCommon(o: CalibrateOptions): void {
  if (o.nSamples !== undefined && !(Number.isInteger(o.nSamples) && o.nSamples >= 1)) fail('', `nSamples must be a positive integer, got ${JSON.stringify(o.nSamples)}`);
  if (o.percentDamp !== undefined && !(typeof o.percentDamp === 'number' && o.percentDamp >= 0 && Number.isFinite(o.percentDamp))) {
    fail('', `percentDamp must be a finite number ≥ 0, got ${JSON.stringify(o.percentDamp)}`);
  }
  if (o.blockSize !== undefined) positiveInt(o.blockSize, 'blockSize', '');
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') fail('', 'onProgress must be a function');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) fail('', 'signal must be an AbortSignal');
  if (o.function !== undefined && (typeof o.function !== 'string' || o.function === '')) fail('', 'function must be a function name');
}
