/**
 * @silica/palettize — palettization of Core ML weights (coremltools' `palettize_weights`,
 * mil-ops.md §7.4 and §7.6): each selected weight becomes a look-up table of `2^nbits`
 * entries (per tensor or per group of channels; scalar or vector entries) and one index
 * per element, decoded at load time by `constexpr_lut_to_dense`.
 *
 * LUTs: `kmeans` is the *optimal* 1-D k-means for scalar LUTs (a DP over the distinct
 * values, kmeans1d.ts) and k-means++/Lloyd for vector LUTs; `uniform` reproduces
 * coremltools' arithmetic; `unique` and `custom` as coremltools.
 *
 * Before (iOS18):
 *
 * ```
 * %w = const() {val = #sha256:148f…} : fp16[1024, 256]
 * %y = linear(bias = %b, weight = %w, x = %x) : fp16[1, 1024]
 * ```
 *
 * After `palettize({ nbits: 4 })`:
 *
 * ```
 * %w_palettized_indices = const() {val = #sha256:…} : uint4[1024, 256]
 * %w_palettized_lut = const() {val = [[[[-0.1722], …, [0.171]]]]} : fp16[1, 1, 16, 1]
 * %w_palettized = constexpr_lut_to_dense(indices = %w_palettized_indices, lut = %w_palettized_lut) : fp16[1024, 256]
 * %y = linear(bias = %b, weight = %w_palettized, x = %x) : fp16[1, 1024]
 * ```
 *
 * iOS16/iOS17 programs get the iOS16 op (`indices` packed into uint8, a rank-1 LUT and a
 * uint32 `shape`), which only expresses per-tensor scalar LUTs of 1, 2, 4, 6 or 8 bits;
 * anything else is an error naming the feature and the target it needs.
 */
import { type CompressionResult, runCompression } from '@silica/compression';
import type { Pass, PassContext, Program } from '@silica/ir';
import { canonicalizeQuantizedLuts } from './canonicalize.js';
import { palettizeCompressor } from './compressor.js';
import { type PalettizeOptions, checkOptions } from './options.js';

export type { PalettizeOptions, PalettizeConfig, PalettizeGranularity, ResolvedConfig } from './options.js';
export { resolveOptions } from './options.js';
export type { LutFunction, LutFunctionGroup, LutFunctionResult, Nbits, PalettizeMode } from './fit.js';
export { SUPPORTED_NBITS, fitWeight } from './fit.js';
export { optimalKMeans1D, lloyd1D, MAX_TABLE_ENTRIES } from './kmeans1d.js';
export type { Clustering1D } from './kmeans1d.js';
export { vectorKMeans } from './kmeans-vector.js';
export type { VectorClustering, VectorKMeansOptions } from './kmeans-vector.js';
export { groupLayout } from './groups.js';
export type { GroupLayout } from './groups.js';
export { canonicalizeQuantizedLut, canonicalizeQuantizedLuts } from './canonicalize.js';
export { palettizeKernel } from './kernel.js';
export type { PalettizeArgs, PalettizeResult } from './kernel.js';

export type { CompressionResult, WeightStats, SkippedWeight } from '@silica/compression';

/** The pass; `run` resolves to the PassResult plus per-weight stats (`weights`) and the skipped weights with reasons (`skipped`). */
export interface PalettizePass extends Pass {
  run(program: Program, ctx: PassContext): Promise<CompressionResult>;
}

/**
 * Creates the `palettize` pass. Options are checked here, when the pass is built; target
 * restrictions (iOS16/iOS17) are checked when it runs, against the program's target.
 */
export default function palettize(options: PalettizeOptions): PalettizePass {
  const checked = checkOptions(options);
  const compressor = palettizeCompressor();
  return {
    name: 'palettize',
    minimumTarget: checked.joint ? 'iOS18' : undefined,
    async run(program, ctx) {
      const result = await runCompression(program, ctx, compressor, checked.configs, { ...checked.run, joint: checked.joint });
      if (!checked.joint) return result;
      const rewritten = canonicalizeQuantizedLuts(program);
      return { ...result, changed: result.changed || rewritten > 0, stats: { ...result.stats, canonicalizedLuts: rewritten } };
    },
  };
}
