/**
 * Options of the `prune` pass and their validation (checked when the pass is built). A
 * config is either threshold pruning (coremltools' `OpThresholdPrunerConfig`: `threshold`,
 * `minimumSparsityPercentile`) or magnitude pruning (`OpMagnitudePrunerConfig`:
 * `targetSparsity` with optional `blockSize`/`dim`, or `nmRatio` with optional `dim`).
 */
import { CompressionConfigError, type CompressionRunOptions, checkRunOptions } from '@silica/compression';
import type { PruneMethod } from './kernel.js';

export interface PruneConfig {
  /** Threshold pruning: zero every |w| ≤ threshold (default 1e-12). */
  readonly threshold?: number;
  /** Threshold pruning: skip a weight whose resulting sparsity is below this fraction (default 0.5). */
  readonly minimumSparsityPercentile?: number;
  /** Magnitude pruning: fraction p ∈ [0, 1] of the smallest |w| to zero (NumPy percentile). */
  readonly targetSparsity?: number;
  /** Magnitude pruning with block sparsity: runs of `blockSize` (> 1) channels along `dim` vanish together (linear/conv weights). */
  readonly blockSize?: number;
  /** n:m pruning `[n, m]`: in every m consecutive elements along `dim` the n smallest are zeroed (n = number removed; linear/conv weights). */
  readonly nmRatio?: readonly [number, number];
  /** Axis for block (default 0) or n:m (default 1) sparsity: 0 or 1. */
  readonly dim?: number;
  /** Only weights with more than this many elements are pruned (default 2048). */
  readonly weightThreshold?: number;
}

export interface PruneOptions extends PruneConfig, CompressionRunOptions {
  /** Configs by consumer op type; `null` leaves weights read by that op type alone. Each entry is a complete config. */
  readonly opType?: Readonly<Record<string, PruneConfig | null>>;
  /** Configs by op name: the const holding a weight, or a consumer op. */
  readonly opName?: Readonly<Record<string, PruneConfig | null>>;
  /**
   * Joint compression (iOS18): prune already-compressed weights — an existing
   * `constexpr_blockwise_shift_scale` becomes `constexpr_sparse_blockwise_shift_scale` +
   * `constexpr_sparse_to_dense`, a `constexpr_lut_to_dense` becomes `constexpr_lut_to_sparse` +
   * `constexpr_sparse_to_dense` (plain consts are left alone, as coremltools).
   */
  readonly joint?: boolean;
}

/** A config with every field decided. */
export interface ResolvedPruneConfig {
  readonly method: PruneMethod;
  readonly weightThreshold: number;
}

const CONFIG_KEYS = new Set(['threshold', 'minimumSparsityPercentile', 'targetSparsity', 'blockSize', 'nmRatio', 'dim', 'weightThreshold']);
const OPTION_KEYS = new Set([...CONFIG_KEYS, 'opType', 'opName', 'joint', 'workers', 'inThreadBelow', 'spill']);

const show = (x: unknown): string => JSON.stringify(x);
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Validates one config and fills its defaults. `where` names it in errors. */
export function resolvePruneConfig(c: PruneConfig, where: string): ResolvedPruneConfig {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new CompressionConfigError(`${where}: a config must be an object, got ${show(c)}`);
  for (const k of Object.keys(c)) {
    if (!CONFIG_KEYS.has(k)) throw new CompressionConfigError(`${where}: unknown option "${k}" (expected ${[...CONFIG_KEYS].join(', ')})`);
  }
  const weightThreshold = c.weightThreshold ?? 2048;
  if (!Number.isInteger(weightThreshold) || weightThreshold < 0) {
    throw new CompressionConfigError(`${where}: weightThreshold must be an integer ≥ 0, got ${show(c.weightThreshold)}`);
  }
  const thresholdMode = c.threshold !== undefined || c.minimumSparsityPercentile !== undefined;
  const magnitudeMode = c.targetSparsity !== undefined || c.nmRatio !== undefined || c.blockSize !== undefined || c.dim !== undefined;
  if (thresholdMode && magnitudeMode) {
    throw new CompressionConfigError(
      `${where}: threshold/minimumSparsityPercentile (threshold pruning) cannot be combined with targetSparsity/nmRatio/blockSize/dim (magnitude pruning)`,
    );
  }
  if (thresholdMode || !magnitudeMode) {
    if (!thresholdMode) {
      throw new CompressionConfigError(`${where}: say how to prune: targetSparsity or nmRatio (magnitude pruning), or threshold (threshold pruning)`);
    }
    const threshold = c.threshold ?? 1e-12;
    if (!isNum(threshold) || threshold < 0) throw new CompressionConfigError(`${where}: threshold must be a number ≥ 0, got ${show(c.threshold)}`);
    const minimumSparsityPercentile = c.minimumSparsityPercentile ?? 0.5;
    if (!isNum(minimumSparsityPercentile) || minimumSparsityPercentile < 0 || minimumSparsityPercentile > 1) {
      throw new CompressionConfigError(`${where}: minimumSparsityPercentile must be in [0, 1], got ${show(c.minimumSparsityPercentile)}`);
    }
    return { method: { kind: 'threshold', threshold, minimumSparsityPercentile }, weightThreshold };
  }
  if ((c.targetSparsity === undefined) === (c.nmRatio === undefined)) {
    throw new CompressionConfigError(`${where}: give exactly one of targetSparsity and nmRatio (got ${c.targetSparsity === undefined ? 'neither' : 'both'})`);
  }
  if (c.dim !== undefined && c.dim !== 0 && c.dim !== 1) throw new CompressionConfigError(`${where}: dim must be 0 or 1, got ${show(c.dim)}`);
  if (c.dim !== undefined && c.blockSize === undefined && c.nmRatio === undefined) {
    throw new CompressionConfigError(`${where}: dim only applies with blockSize or nmRatio`);
  }
  if (c.nmRatio !== undefined) {
    const r = c.nmRatio;
    if (c.blockSize !== undefined) throw new CompressionConfigError(`${where}: blockSize and nmRatio cannot be set together`);
    if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => Number.isInteger(x) && x >= 0) || r[0] > r[1] || r[1] < 1) {
      throw new CompressionConfigError(`${where}: nmRatio must be [n, m] with integers 0 ≤ n ≤ m, m ≥ 1 (n = how many of every m are removed), got ${show(r)}`);
    }
    return { method: { kind: 'nm', n: r[0], m: r[1], dim: c.dim ?? 1 }, weightThreshold };
  }
  const p = c.targetSparsity!;
  if (!isNum(p) || p < 0 || p > 1) throw new CompressionConfigError(`${where}: targetSparsity must be in [0, 1], got ${show(p)}`);
  if (c.blockSize !== undefined && (!Number.isInteger(c.blockSize) || c.blockSize <= 1)) {
    throw new CompressionConfigError(`${where}: blockSize must be an integer > 1, got ${show(c.blockSize)}`);
  }
  return {
    method: { kind: 'magnitude', targetSparsity: p, ...(c.blockSize !== undefined ? { blockSize: c.blockSize, dim: c.dim ?? 0 } : {}) },
    weightThreshold,
  };
}

export interface ValidatedOptions {
  /** null when only opType/opName configs were given. */
  readonly global: ResolvedPruneConfig | null;
  readonly opType: Record<string, ResolvedPruneConfig | null>;
  readonly opName: Record<string, ResolvedPruneConfig | null>;
  readonly joint: boolean;
  readonly run: CompressionRunOptions;
}

/** Validates the options of `prune(options)`. */
export function validateOptions(options: PruneOptions): ValidatedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new CompressionConfigError(`prune: options must be an object, got ${show(options)}`);
  }
  for (const k of Object.keys(options)) {
    if (!OPTION_KEYS.has(k)) throw new CompressionConfigError(`prune: unknown option "${k}" (expected ${[...OPTION_KEYS].join(', ')})`);
  }
  const { opType, opName, joint, workers, inThreadBelow, spill, ...config } = options;
  const table = (name: 'opType' | 'opName', t: PruneOptions['opType']): Record<string, ResolvedPruneConfig | null> => {
    if (t === undefined) return {};
    if (typeof t !== 'object' || t === null || Array.isArray(t)) throw new CompressionConfigError(`prune: ${name} must be an object of configs, got ${show(t)}`);
    return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v === null ? null : resolvePruneConfig(v, `prune: ${name}.${k}`)]));
  };
  if (joint !== undefined && typeof joint !== 'boolean') throw new CompressionConfigError(`prune: joint must be a boolean, got ${show(joint)}`);
  const run: CompressionRunOptions = { workers, inThreadBelow, spill };
  checkRunOptions('prune', run);
  // only opType/opName given: other weights are left alone (coremltools' global_config = None)
  const onlyTables = Object.keys(config).length === 0 && (opType !== undefined || opName !== undefined);
  return {
    global: onlyTables ? null : resolvePruneConfig(config, 'prune'),
    opType: table('opType', opType),
    opName: table('opName', opName),
    joint: joint ?? false,
    run,
  };
}
