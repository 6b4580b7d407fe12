/**
 * @silica/calibrate — post-training compression driven by calibration data: layer-wise
 * GPTQ (quantize), SparseGPT (prune), sensitivity-weighted k-means and mixed-bit
 * palettization, run on the interpreter.
 *
 * ```ts
 * import calibrate from '@silica/calibrate';
 * const pass = calibrate({ algorithm: 'gptq', config: { dtype: 'int4', granularity: 'per_block', blockSize: 32 }, samples: 'calib/' });
 * ```
 *
 * The default export is the pass factory (calibrate.ts); the algorithms are exported too,
 * for use on plain matrices (gptq.ts, sparsegpt.ts, kmeans.ts, hessian.ts, linalg.ts).
 */
export { default } from './calibrate.js';
export type { CalibrationResult, LayerReport } from './driver.js';
export type {
  Algorithm,
  CalibrateOptions,
  CalibrationProgress,
  GptqOptions as GptqCalibrateOptions,
  MixedBitConfig,
  MixedBitOptions,
  MixedBitRecipe,
  PalettizationConfig,
  PruningConfig,
  QuantizationConfig,
  RecipeLayer,
  SensitiveKMeansOptions,
  SparseGptOptions as SparseGptCalibrateOptions,
  WithOverrides,
} from './options.js';
export { ALGORITHMS } from './options.js';
export { CalibrationDataError, loadSamples } from './data.js';
export type { CalibrationSamples, SampleArray } from './data.js';
export { HessianAccumulator, DiagonalAccumulator } from './hessian.js';
export type { ActivationSink } from './hessian.js';
export { choleskyLower, invertLower, inverseCholeskyUpper, prepareInverseHessian, NotPositiveDefiniteError } from './linalg.js';
export type { PreparedHessian } from './linalg.js';
export { gptq, roundToNearest, activationOrder } from './gptq.js';
export type { GptqOptions, GptqQuantSpec, GptqResult, QuantGranularity } from './gptq.js';
export { sparseGpt, nmColumnRuns } from './sparsegpt.js';
export type { NMPattern, SparseGptOptions, SparseGptResult, SparseGptSpec } from './sparsegpt.js';
export { weightedHistogram, weightedLut, nearestEntry } from './kmeans.js';
export type { WeightedHistogram, WeightedLut } from './kmeans.js';
export { quantRange, blockParams, quantizeValue, dequantizeValue, roundHalfEven, QUANT_DTYPES } from './quant.js';
export type { QuantDType, QuantMode, QuantRange, BlockParams } from './quant.js';
export { layerOf } from './layers.js';
export type { Layer, LayerKind, Site } from './layers.js';
export { scheduleRounds } from './schedule.js';
