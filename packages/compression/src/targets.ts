/**
 * Target gating (mil-ops.md §1.10, §7.3–§7.7): which compression features exist at which
 * deployment target, and the error when a program's target is too old.
 *
 * Every feature listed here needs the iOS18 constexpr ops; the iOS16/iOS17 ops cover 8-bit
 * per-tensor/per-channel quantization, per-tensor 1/2/4/6/8-bit palettization and pruning.
 */
import { type Target, targetAtLeast } from '@silica/ir';

export type CompressionFeature =
  | 'int4 quantization'
  | 'uint4 quantization'
  | 'per-block quantization'
  | '3-bit palettization'
  | 'grouped LUTs'
  | 'vector LUTs'
  | 'per-channel scale'
  | 'joint compression';

/** The oldest target that has each feature. */
export const FEATURE_TARGET: Readonly<Record<CompressionFeature, Target>> = {
  'int4 quantization': 'iOS18',
  'uint4 quantization': 'iOS18',
  'per-block quantization': 'iOS18',
  '3-bit palettization': 'iOS18',
  'grouped LUTs': 'iOS18',
  'vector LUTs': 'iOS18',
  'per-channel scale': 'iOS18',
  'joint compression': 'iOS18',
};

/** The program's target is too old for a requested feature. */
export class CompressionTargetError extends Error {
  readonly feature: CompressionFeature;
  readonly needs: Target;
  readonly target: Target;
  constructor(feature: CompressionFeature, target: Target, where?: string) {
    const needs = FEATURE_TARGET[feature];
    super(`${where ? `${where}: ` : ''}${feature} needs ${needs} (the program targets ${target})`);
    this.name = 'CompressionTargetError';
    this.feature = feature;
    this.needs = needs;
    this.target = target;
  }
}

/** Whether `target` has `feature`. */
export function supports(target: Target, feature: CompressionFeature): boolean {
  return targetAtLeast(target, FEATURE_TARGET[feature]);
}

/**
 * Throws CompressionTargetError ("int4 quantization needs iOS18 (the program targets iOS17)")
 * when `target` lacks `feature`. `where` prefixes the message (pass and weight).
 */
export function requireFeature(feature: CompressionFeature, target: Target, where?: string): void {
  if (!supports(target, feature)) throw new CompressionTargetError(feature, target, where);
}

/** Whether constexpr ops take their iOS18 form (inputs, uint1 masks, rank-K+2 LUTs) at `target`. */
export function usesIOS18Ops(target: Target): boolean {
  return targetAtLeast(target, 'iOS18');
}

/** The compression APIs need at least iOS16 (constexpr ops); older programs are re-targeted (§7, §12). */
export const MINIMUM_COMPRESSION_TARGET: Target = 'iOS16';
