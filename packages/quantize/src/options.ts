/**
 * Options of the `quantize` pass and their validation (checked when the pass is built).
 * Field names follow coremltools' `OpLinearQuantizerConfig` in camelCase.
 */
import { CompressionConfigError, type CompressionRunOptions, checkRunOptions } from '@silica/compression';
import type { QuantDType, QuantMode } from './kernel.js';

export type QuantGranularity = 'per_tensor' | 'per_channel' | 'per_block';

/** One quantization config (coremltools' `OpLinearQuantizerConfig`). */
export interface QuantizeConfig {
  /** `'linear_symmetric'` (default) or `'linear'` (affine, with zero points). */
  readonly mode?: QuantMode;
  /** Code dtype: `'int8'` (default), `'uint8'`, `'int4'`, `'uint4'` (4-bit needs iOS18). */
  readonly dtype?: QuantDType;
  /** `'per_channel'` (default), `'per_tensor'` or `'per_block'` (iOS18). */
  readonly granularity?: QuantGranularity;
  /** per_block: block size along the input axis (default 32), or one entry per weight axis (0 = whole axis). */
  readonly blockSize?: number | readonly number[];
  /** Only weights with more than this many elements are quantized (default 2048). */
  readonly weightThreshold?: number;
}

export interface QuantizeOptions extends QuantizeConfig, CompressionRunOptions {
  /**
   * Configs by consumer op type, e.g. `{ linear: { dtype: 'int4', granularity: 'per_block' } }`;
   * `null` leaves weights read by that op type alone. Each entry is a complete config: fields
   * it omits take the defaults, not the global fields (as coremltools' op-type configs).
   */
  readonly opType?: Readonly<Record<string, QuantizeConfig | null>>;
  /** Configs by op name: the const holding a weight, or a consumer op (more specific than opType). */
  readonly opName?: Readonly<Record<string, QuantizeConfig | null>>;
  /**
   * Joint compression (iOS18): also quantize the data of existing compression ops —
   * the nonzero values of `constexpr_sparse_to_dense` (prune → quantize) and the LUT of
   * `constexpr_lut_to_dense` / `constexpr_lut_to_sparse` (palettize → quantize, per_tensor only).
   */
  readonly joint?: boolean;
}

/** A config with every field decided. */
export interface ResolvedQuantizeConfig {
  readonly mode: QuantMode;
  readonly dtype: QuantDType;
  readonly granularity: QuantGranularity;
  /** Only for per_block. */
  readonly blockSize?: number | readonly number[];
  readonly weightThreshold: number;
}

const MODES: readonly QuantMode[] = ['linear_symmetric', 'linear'];
const DTYPES: readonly QuantDType[] = ['int8', 'uint8', 'int4', 'uint4'];
const GRANULARITIES: readonly QuantGranularity[] = ['per_tensor', 'per_channel', 'per_block'];
const CONFIG_KEYS = new Set(['mode', 'dtype', 'granularity', 'blockSize', 'weightThreshold']);
const OPTION_KEYS = new Set([...CONFIG_KEYS, 'opType', 'opName', 'joint', 'workers', 'inThreadBelow', 'spill']);

const show = (x: unknown): string => (typeof x === 'string' ? `"${x}"` : JSON.stringify(x));

/** Validates one config and fills its defaults. `where` names it in errors (`quantize: opType.linear`). */
export function resolveQuantizeConfig(c: QuantizeConfig, where: string): ResolvedQuantizeConfig {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new CompressionConfigError(`${where}: a config must be an object, got ${show(c)}`);
  for (const k of Object.keys(c)) {
    if (!CONFIG_KEYS.has(k)) throw new CompressionConfigError(`${where}: unknown option "${k}" (expected ${[...CONFIG_KEYS].join(', ')})`);
  }
  const mode = c.mode ?? 'linear_symmetric';
  if (!MODES.includes(mode)) throw new CompressionConfigError(`${where}: mode must be one of ${MODES.map(show).join(', ')}, got ${show(mode)}`);
  const dtype = c.dtype ?? 'int8';
  if (!DTYPES.includes(dtype)) throw new CompressionConfigError(`${where}: dtype must be one of ${DTYPES.map(show).join(', ')}, got ${show(dtype)}`);
  const granularity = c.granularity ?? 'per_channel';
  if (!GRANULARITIES.includes(granularity)) {
    throw new CompressionConfigError(`${where}: granularity must be one of ${GRANULARITIES.map(show).join(', ')}, got ${show(granularity)}`);
  }
  const weightThreshold = c.weightThreshold ?? 2048;
  if (!Number.isInteger(weightThreshold) || weightThreshold < 0) {
    throw new CompressionConfigError(`${where}: weightThreshold must be an integer ≥ 0, got ${show(c.weightThreshold)}`);
  }
  let blockSize: number | readonly number[] | undefined;
  if (granularity === 'per_block') {
    blockSize = c.blockSize ?? 32;
    if (typeof blockSize === 'number') {
      if (!Number.isInteger(blockSize) || blockSize < 1) throw new CompressionConfigError(`${where}: blockSize must be a positive integer, got ${show(blockSize)}`);
    } else if (!Array.isArray(blockSize) || blockSize.length === 0 || !blockSize.every((b) => Number.isInteger(b) && b >= 0)) {
      throw new CompressionConfigError(`${where}: blockSize must be a positive integer or a non-empty list of integers ≥ 0 (one per axis, 0 = whole axis), got ${show(blockSize)}`);
    } else blockSize = [...blockSize];
  } else if (c.blockSize !== undefined) {
    throw new CompressionConfigError(`${where}: blockSize only applies to granularity "per_block" (granularity is "${granularity}")`);
  }
  return { mode, dtype, granularity, ...(blockSize !== undefined ? { blockSize } : {}), weightThreshold };
}

export interface ValidatedOptions {
  /** null when only opType/opName configs were given. */
  readonly global: ResolvedQuantizeConfig | null;
  readonly opType: Record<string, ResolvedQuantizeConfig | null>;
  readonly opName: Record<string, ResolvedQuantizeConfig | null>;
  readonly joint: boolean;
  readonly run: CompressionRunOptions;
}

/** Validates the options of `quantize(options)`. */
export function validateOptions(options: QuantizeOptions): ValidatedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new CompressionConfigError(`quantize: options must be an object, got ${show(options)}`);
  }
  for (const k of Object.keys(options)) {
    if (!OPTION_KEYS.has(k)) throw new CompressionConfigError(`quantize: unknown option "${k}" (expected ${[...OPTION_KEYS].join(', ')})`);
  }
  const { opType, opName, joint, workers, inThreadBelow, spill, ...config } = options;
  const table = (name: 'opType' | 'opName', t: QuantizeOptions['opType']): Record<string, ResolvedQuantizeConfig | null> => {
    if (t === undefined) return {};
    if (typeof t !== 'object' || t === null || Array.isArray(t)) throw new CompressionConfigError(`quantize: ${name} must be an object of configs, got ${show(t)}`);
    return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v === null ? null : resolveQuantizeConfig(v, `quantize: ${name}.${k}`)]));
  };
  if (joint !== undefined && typeof joint !== 'boolean') throw new CompressionConfigError(`quantize: joint must be a boolean, got ${show(joint)}`);
  const run: CompressionRunOptions = { workers, inThreadBelow, spill };
  checkRunOptions('quantize', run);
  // only opType/opName given: other weights are left alone (coremltools' global_config = None)
  const onlyTables = Object.keys(config).length === 0 && (opType !== undefined || opName !== undefined);
  return {
    global: onlyTables ? null : resolveQuantizeConfig(config, 'quantize'),
    opType: table('opType', opType),
    opName: table('opName', opName),
    joint: joint ?? false,
    run,
  };
}
