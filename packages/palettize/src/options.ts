/**
 * Options of the `palettize` pass — coremltools' `OpPalettizerConfig` (mil-ops.md §7.4)
 * with typed fields — checked when the pass is built, so a bad option fails before any
 * program is read.
 *
 * A config is complete on its own: an `opType` / `opName` entry does not inherit the
 * global fields (as coremltools' per-op configs do not); omitted fields take the defaults.
 */
import { CompressionConfigError, type CompressionRunOptions, type ConfigSet, canonicalJson, checkRunOptions } from '@silica/compression';
import { type LutFunction, type Nbits, type PalettizeMode, SUPPORTED_NBITS } from './fit.js';

export type PalettizeGranularity = 'per_tensor' | 'per_grouped_channel';

/** One palettization config (coremltools' `OpPalettizerConfig`). */
export interface PalettizeConfig {
  /** How LUTs are built (default `'kmeans'`). */
  readonly mode?: PalettizeMode;
  /** Index width: required for kmeans/uniform, not allowed for unique/custom (derived from the data / the LUT). */
  readonly nbits?: Nbits;
  /** One LUT per weight (default) or per group of `groupSize` channels. */
  readonly granularity?: PalettizeGranularity;
  /** Channels per LUT group for `per_grouped_channel` (default 32). */
  readonly groupSize?: number;
  /** Channel axis of the groups and of vector LUTs (default: the output-channel axis inferred from the consumers, §7.2). */
  readonly channelAxis?: number;
  /** LUT entry length; > 1 is vector palettization along the channel axis (default 1). */
  readonly clusterDim?: number;
  /** Divide by `max |w|` over the channel axis first, restored by `constexpr_blockwise_shift_scale` (default false). */
  readonly enablePerChannelScale?: boolean;
  /** `custom` mode: builds each group's `{ lut, indices }`. */
  readonly lutFunction?: LutFunction;
  /** Only weights with more elements than this are palettized (default 2048, ≥ 0). */
  readonly weightThreshold?: number;
  /** Seed of vector k-means (default 0). */
  readonly seed?: number;
}

export interface PalettizeOptions extends PalettizeConfig, CompressionRunOptions {
  /** `null`: no global config — only the `opType` / `opName` entries apply. */
  readonly global?: null;
  /** Configs by consumer op type (`linear`, `conv`, `matmul`, …); `null` = leave those weights alone. */
  readonly opType?: Readonly<Record<string, PalettizeConfig | null>>;
  /** Configs by op name (the const holding the weight, or a consumer); `null` = leave it alone. */
  readonly opName?: Readonly<Record<string, PalettizeConfig | null>>;
  /**
   * Joint compression (mil-ops.md §7.6, iOS18+): palettize weights that are already pruned
   * (`constexpr_sparse_to_dense.nonzero_data` → `constexpr_lut_to_sparse`) or quantized
   * (`constexpr_blockwise_shift_scale.data` → integer LUT), and put quantized LUTs in their
   * canonical order for the target.
   */
  readonly joint?: boolean;
}

/** A config with every default filled in. */
export interface ResolvedConfig {
  readonly mode: PalettizeMode;
  readonly nbits: Nbits | undefined;
  readonly granularity: PalettizeGranularity;
  readonly groupSize: number;
  readonly channelAxis: number | undefined;
  readonly clusterDim: number;
  readonly enablePerChannelScale: boolean;
  readonly lutFunction: LutFunction | undefined;
  readonly weightThreshold: number;
  readonly seed: number;
}

const MODES: readonly PalettizeMode[] = ['kmeans', 'uniform', 'unique', 'custom'];
const GRANULARITIES: readonly PalettizeGranularity[] = ['per_tensor', 'per_grouped_channel'];
const CONFIG_KEYS = new Set([
  'mode',
  'nbits',
  'granularity',
  'groupSize',
  'channelAxis',
  'clusterDim',
  'enablePerChannelScale',
  'lutFunction',
  'weightThreshold',
  'seed',
]);
const RUN_KEYS = new Set(['global', 'opType', 'opName', 'joint', 'workers', 'inThreadBelow', 'spill']);

function fail(where: string, message: string): never {
  throw new CompressionConfigError(`palettize: ${where}${message}`);
}

/** Checks one config and fills in the defaults; `where` names it in messages (`opName "fc1": `). */
export function resolveOptions(c: PalettizeConfig, where = ''): ResolvedConfig {
  if (c === null || typeof c !== 'object') fail(where, `a config must be an object, got ${JSON.stringify(c)}`);
  const mode = c.mode ?? 'kmeans';
  if (!MODES.includes(mode)) fail(where, `mode must be one of ${MODES.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(c.mode)}`);
  if (mode === 'kmeans' || mode === 'uniform') {
    if (c.nbits === undefined) fail(where, `mode '${mode}' needs nbits (one of ${SUPPORTED_NBITS.join(', ')})`);
  } else if (c.nbits !== undefined) {
    fail(where, `nbits is not allowed with mode '${mode}' (it is ${mode === 'unique' ? 'the smallest width that holds the distinct values' : 'derived from the LUT the lutFunction returns'})`);
  }
  if (c.nbits !== undefined && !SUPPORTED_NBITS.includes(c.nbits)) {
    fail(where, `nbits must be one of ${SUPPORTED_NBITS.join(', ')}, got ${JSON.stringify(c.nbits)}`);
  }
  if (mode === 'custom') {
    if (typeof c.lutFunction !== 'function') fail(where, `mode 'custom' needs a lutFunction(group) returning { lut, indices }`);
  } else if (c.lutFunction !== undefined) {
    fail(where, `lutFunction is only used with mode 'custom' (mode is '${mode}')`);
  }
  const granularity = c.granularity ?? 'per_tensor';
  if (!GRANULARITIES.includes(granularity)) {
    fail(where, `granularity must be 'per_tensor' or 'per_grouped_channel', got ${JSON.stringify(c.granularity)}`);
  }
  if (c.groupSize !== undefined) {
    if (granularity !== 'per_grouped_channel') fail(where, `groupSize only applies to granularity 'per_grouped_channel'`);
    if (!Number.isInteger(c.groupSize) || c.groupSize < 1) fail(where, `groupSize must be a positive integer, got ${JSON.stringify(c.groupSize)}`);
  }
  if (c.channelAxis !== undefined && !Number.isInteger(c.channelAxis)) {
    fail(where, `channelAxis must be an integer axis (negative counts from the end), got ${JSON.stringify(c.channelAxis)}`);
  }
  const clusterDim = c.clusterDim ?? 1;
  if (!Number.isInteger(clusterDim) || clusterDim < 1) fail(where, `clusterDim must be a positive integer, got ${JSON.stringify(c.clusterDim)}`);
  if (clusterDim > 1 && mode === 'uniform') fail(where, `mode 'uniform' does not support vector palettization (clusterDim ${clusterDim} > 1)`);
  if (c.enablePerChannelScale !== undefined && typeof c.enablePerChannelScale !== 'boolean') {
    fail(where, `enablePerChannelScale must be a boolean, got ${JSON.stringify(c.enablePerChannelScale)}`);
  }
  const weightThreshold = c.weightThreshold ?? 2048;
  if (typeof weightThreshold !== 'number' || !(weightThreshold >= 0)) {
    fail(where, `weightThreshold must be a number ≥ 0, got ${JSON.stringify(c.weightThreshold)}`);
  }
  const seed = c.seed ?? 0;
  if (!Number.isInteger(seed)) fail(where, `seed must be an integer, got ${JSON.stringify(c.seed)}`);
  return {
    mode,
    nbits: c.nbits,
    granularity,
    groupSize: c.groupSize ?? 32,
    channelAxis: c.channelAxis,
    clusterDim,
    enablePerChannelScale: c.enablePerChannelScale ?? false,
    lutFunction: c.lutFunction,
    weightThreshold,
    seed,
  };
}

function configFields(o: object): PalettizeConfig {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (CONFIG_KEYS.has(k)) out[k] = v;
  return out as PalettizeConfig;
}

function checkKeys(o: object, allowed: ReadonlySet<string>, where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.has(k)) fail(where, `unknown option "${k}" (options: ${[...allowed].join(', ')})`);
  }
}

function entries(map: Readonly<Record<string, PalettizeConfig | null>> | undefined, kind: string): Record<string, ResolvedConfig | null> {
  const out: Record<string, ResolvedConfig | null> = {};
  if (map === undefined) return out;
  if (map === null || typeof map !== 'object') fail('', `${kind} must be an object of configs, got ${JSON.stringify(map)}`);
  for (const [name, c] of Object.entries(map)) {
    const where = `${kind} "${name}": `;
    if (c === null) {
      out[name] = null;
      continue;
    }
    checkKeys(c, CONFIG_KEYS, where);
    out[name] = resolveOptions(c, where);
  }
  return out;
}

/** The checked options: the config set and the run options. */
export interface CheckedOptions {
  readonly configs: ConfigSet<ResolvedConfig>;
  readonly joint: boolean;
  readonly run: CompressionRunOptions;
}

export function checkOptions(options: PalettizeOptions): CheckedOptions {
  if (options === null || typeof options !== 'object') fail('', `options must be an object, got ${JSON.stringify(options)}`);
  checkKeys(options, new Set([...CONFIG_KEYS, ...RUN_KEYS]), '');
  if (options.joint !== undefined && typeof options.joint !== 'boolean') fail('', `joint must be a boolean, got ${JSON.stringify(options.joint)}`);
  const own = configFields(options);
  let global: ResolvedConfig | null;
  if ('global' in options) {
    if (options.global !== null) fail('', `global may only be null (no global config), got ${JSON.stringify(options.global)}`);
    if (Object.keys(own).length > 0) {
      fail('', `global: null means no global config, but config fields were given too (${Object.keys(own).join(', ')})`);
    }
    global = null;
  } else {
    global = resolveOptions(own);
  }
  const run: CompressionRunOptions = { workers: options.workers, inThreadBelow: options.inThreadBelow, spill: options.spill };
  checkRunOptions('palettize', run);
  return {
    configs: { global, opType: entries(options.opType, 'opType'), opName: entries(options.opName, 'opName') },
    joint: options.joint ?? false,
    run,
  };
}

/** Config equality: canonical JSON of the fields, and the same lutFunction object. */
export function sameConfig(a: ResolvedConfig | null, b: ResolvedConfig | null): boolean {
  if (a === null || b === null) return a === b;
  return a.lutFunction === b.lutFunction && canonicalJson({ ...a, lutFunction: undefined }) === canonicalJson({ ...b, lutFunction: undefined });
}

/** `kmeans 4-bit per_grouped_channel(16)`, `unique per_tensor vector×2 + per-channel scale`. */
export function describeConfig(c: ResolvedConfig): string {
  const parts: string[] = [c.mode];
  if (c.nbits !== undefined) parts.push(`${c.nbits}-bit`);
  parts.push(c.granularity === 'per_grouped_channel' ? `per_grouped_channel(${c.groupSize})` : 'per_tensor');
  if (c.clusterDim > 1) parts.push(`vector×${c.clusterDim}`);
  let s = parts.join(' ');
  if (c.enablePerChannelScale) s += ' + per-channel scale';
  return s;
}
