/**
 * `silica compress` flags → pipeline steps (the same JSON a pipeline file holds, so
 * `--save-pipeline` can write the equivalent file).
 *
 * | flags | passes |
 * |---|---|
 * | `--quantize int4 --granularity per-block --block-size 32` | `quantize({ dtype: 'int4', granularity: 'per_block', blockSize: 32 })` |
 * | `--palettize 4 --group-size 16` | `palettize({ nbits: 4, granularity: 'per_grouped_channel', groupSize: 16 })` |
 * | `--prune 0.5` / `--nm 2:4` | `prune({ targetSparsity: 0.5 })` / `prune({ nmRatio: [2, 4] })` |
 * | `--prune 0.5 --palettize 4 --joint` | prune, then `palettize({ …, joint: true })` |
 * | `--quantize int8 --calibrate DIR` | `calibrate({ algorithm: 'gptq', samples: DIR, config })` |
 *
 * Several compressions together are joint compression and need `--joint`; they run in
 * the order prune → palettize → quantize, each later one compressing what the earlier
 * ones made (palettize → quantize quantizes the LUTs, per tensor).
 *
 * Per-op overrides: `--op-type TYPE:SPEC` and `--op-name NAME:SPEC`, where SPEC is `skip`
 * (leave those weights alone) or `[PASS/]SETTING,SETTING…` with settings `key=value`
 * (`dtype=int8`, `group-size=16`, `nm=2:4`) or a bare value (`int8`, a palettization width
 * `6`, a sparsity `0.3`, `2:4`, a granularity). An override is a complete config: what
 * it does not set takes the pass's default — except the weight threshold, which comes
 * from `--weight-threshold` when given.
 */
import type { PassStep } from './pipeline-file.js';
import { PASS_OPTION_SCHEMAS } from './pipeline-schema.js';
import { UsageError } from './errors.js';

export interface CompressFlags {
  readonly quantize?: string;
  readonly quantMode?: string;
  readonly granularity?: string;
  readonly blockSize?: number;
  readonly palettize?: number;
  readonly lutMode?: string;
  readonly groupSize?: number;
  readonly clusterDim?: number;
  readonly perChannelScale?: boolean;
  readonly prune?: number;
  readonly nm?: string;
  readonly pruneBlockSize?: number;
  readonly joint?: boolean;
  readonly weightThreshold?: number;
  readonly opType?: readonly string[];
  readonly opName?: readonly string[];
  readonly calibrate?: string;
  readonly algorithm?: string;
  readonly samples?: number;
  readonly targetBpw?: number;
  readonly minPsnr?: number;
  readonly actOrder?: boolean;
  /** Worker threads: a run-time setting, added when the passes are built (not part of the steps). */
  readonly workers?: number;
}

type Kind = 'quantize' | 'palettize' | 'prune';
type Config = Record<string, unknown>;

const QUANT_DTYPES = ['int8', 'uint8', 'int4', 'uint4'];
const NBITS = [1, 2, 3, 4, 6, 8];
const GRANULARITIES = ['per_tensor', 'per_channel', 'per_block', 'per_grouped_channel'];

/** `per-block` → `per_block` (both spellings are accepted). */
export function normalizeGranularity(g: string, flag = '--granularity'): string {
  const n = g.trim().toLowerCase().replace(/-/g, '_');
  if (!GRANULARITIES.includes(n)) {
    throw new UsageError(`${flag} ${g}: expected one of per-tensor, per-channel, per-block (quantize), per-grouped-channel (palettize)`);
  }
  return n;
}

/** `2:4` → [2, 4] (n of every m weights are zeroed). */
export function parseNm(s: string, flag = '--nm'): [number, number] {
  const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(s);
  if (!m || Number(m[2]) < 1 || Number(m[1]) > Number(m[2])) {
    throw new UsageError(`${flag} ${s}: expected N:M with 0 ≤ N ≤ M, M ≥ 1 — N of every M consecutive weights are zeroed (2:4 is the usual structured sparsity)`);
  }
  return [Number(m[1]), Number(m[2])];
}

function quantizeConfig(f: CompressFlags): Config {
  const dtype = f.quantize!.toLowerCase();
  if (!QUANT_DTYPES.includes(dtype)) throw new UsageError(`--quantize ${f.quantize}: expected one of ${QUANT_DTYPES.join(', ')}`);
  const c: Config = { dtype };
  if (f.quantMode !== undefined) {
    const mode = f.quantMode.replace(/-/g, '_');
    if (mode !== 'linear' && mode !== 'linear_symmetric') throw new UsageError(`--quant-mode ${f.quantMode}: expected linear-symmetric (default) or linear (affine, with zero points)`);
    c.mode = mode;
  }
  let g = f.granularity !== undefined ? normalizeGranularity(f.granularity) : undefined;
  if (g === 'per_grouped_channel') g = undefined; // that one is for palettize
  if (g === undefined && f.blockSize !== undefined) g = 'per_block';
  if (g !== undefined) c.granularity = g;
  if (f.blockSize !== undefined) {
    if (g !== 'per_block') throw new UsageError(`--block-size only applies to --granularity per-block (got --granularity ${f.granularity})`);
    c.blockSize = f.blockSize;
  }
  return c;
}

function palettizeConfig(f: CompressFlags, quantizeActive: boolean): Config {
  if (!NBITS.includes(f.palettize!)) throw new UsageError(`--palettize ${f.palettize}: expected a width of ${NBITS.join(', ')} bits`);
  const c: Config = {};
  if (f.lutMode !== undefined) {
    const mode = f.lutMode.toLowerCase();
    if (!['kmeans', 'uniform', 'unique'].includes(mode)) throw new UsageError(`--lut-mode ${f.lutMode}: expected kmeans (default), uniform or unique`);
    c.mode = mode;
  }
  if (c.mode !== 'unique') c.nbits = f.palettize;
  const g = f.granularity !== undefined ? normalizeGranularity(f.granularity) : undefined;
  if (g === 'per_grouped_channel' || f.groupSize !== undefined) {
    c.granularity = 'per_grouped_channel';
    if (f.groupSize !== undefined) c.groupSize = f.groupSize;
  } else if (g === 'per_tensor' && !quantizeActive) {
    c.granularity = 'per_tensor';
  } else if ((g === 'per_channel' || g === 'per_block') && !quantizeActive) {
    throw new UsageError(`--granularity ${f.granularity} is a quantization granularity; palettization takes per-tensor or per-grouped-channel (or --group-size N)`);
  }
  if (f.clusterDim !== undefined) c.clusterDim = f.clusterDim;
  if (f.perChannelScale) c.enablePerChannelScale = true;
  return c;
}

function pruneConfig(f: CompressFlags): Config {
  if (f.prune !== undefined && f.nm !== undefined) throw new UsageError('give either --prune SPARSITY (magnitude) or --nm N:M (structured), not both');
  if (f.nm !== undefined) {
    if (f.pruneBlockSize !== undefined) throw new UsageError('--prune-block-size applies to --prune SPARSITY, not to --nm');
    return { nmRatio: parseNm(f.nm) };
  }
  const p = f.prune!;
  if (!(p >= 0 && p <= 1)) throw new UsageError(`--prune ${p}: expected the fraction of weights to zero, between 0 and 1 (e.g. 0.5)`);
  const c: Config = { targetSparsity: p };
  if (f.pruneBlockSize !== undefined) c.blockSize = f.pruneBlockSize;
  return c;
}

const toCamel = (k: string): string => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const toKebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The config keys an override of `schemaKey` may set (from the pass's option schema). */
function configKeys(schema: Record<string, unknown>): string[] {
  const props = (schema.properties ?? {}) as Record<string, unknown>;
  return Object.keys(props).filter((k) => !['opType', 'opName', 'joint', 'workers', 'inThreadBelow', 'spill', 'global'].includes(k));
}

function parseValue(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^[-+]?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(raw)) return Number(raw);
  return raw;
}

interface Override {
  readonly pass: Kind;
  readonly config: Config | null;
}

/** Which compression a bare value belongs to. */
function kindOfBare(token: string): Kind | undefined {
  if (QUANT_DTYPES.includes(token.toLowerCase())) return 'quantize';
  if (/^\d+:\d+$/.test(token)) return 'prune';
  if (/^0?\.\d+$|^[01]$/.test(token) && Number(token) <= 1 && token.includes('.')) return 'prune';
  if (/^\d+$/.test(token) && NBITS.includes(Number(token))) return 'palettize';
  if (/^per[-_]grouped[-_]channel$/i.test(token)) return 'palettize';
  if (/^per[-_](block|channel)$/i.test(token)) return 'quantize';
  return undefined;
}

/**
 * Parses one `--op-type` / `--op-name` value `KEY:SPEC` into the key and an override for
 * one of the active compressions (`calibrateKeys` replaces the pass keys under --calibrate).
 */
export function parseOverride(flag: string, value: string, active: readonly Kind[], weightThreshold: number | undefined, calibrateSchema?: Record<string, unknown>): { key: string; override: Override } {
  // op types and MIL names have no ':' (identifiers are [A-Za-z0-9_@]), so the first one splits
  const cut = value.indexOf(':');
  if (cut <= 0 || cut === value.length - 1) {
    throw new UsageError(`${flag} ${value}: expected ${flag === '--op-type' ? 'TYPE' : 'NAME'}:SPEC, e.g. ${flag} ${flag === '--op-type' ? 'conv:skip' : 'lm_head:int8'} or ${flag} ${flag === '--op-type' ? 'linear' : 'fc1_weight'}:palettize/nbits=6,group-size=16`);
  }
  const key = value.slice(0, cut);
  let spec = value.slice(cut + 1).trim();
  if (active.length === 0) throw new UsageError(`${flag} needs a compression to override: add --quantize, --palettize, --prune or --nm`);
  let pass: Kind | undefined;
  const slash = /^(quantize|palettize|prune)\//i.exec(spec);
  if (slash) {
    pass = slash[1].toLowerCase() as Kind;
    spec = spec.slice(slash[0].length);
    if (!active.includes(pass)) throw new UsageError(`${flag} ${value}: ${pass} is not one of the compressions of this command (${active.join(', ')})`);
  }
  if (spec.toLowerCase() === 'skip') {
    if (!pass && active.length > 1) throw new UsageError(`${flag} ${value}: say which compression to skip, e.g. ${flag} ${key}:${active[0]}/skip`);
    return { key, override: { pass: pass ?? active[0], config: null } };
  }
  const items = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new UsageError(`${flag} ${value}: no settings after "${key}:"`);
  if (!pass) {
    if (active.length === 1) pass = active[0];
    else {
      const kinds = new Set(items.filter((i) => !i.includes('=')).map(kindOfBare).filter((k): k is Kind => k !== undefined && active.includes(k)));
      if (kinds.size !== 1) {
        throw new UsageError(`${flag} ${value}: this command runs ${active.join(' and ')}; say which one the override is for, e.g. ${flag} ${key}:${active[0]}/${items.join(',')}`);
      }
      pass = [...kinds][0];
    }
  }
  const schema = calibrateSchema ?? PASS_OPTION_SCHEMAS[pass];
  const allowed = configKeys(schema);
  const config: Config = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 0) {
      applyBare(config, item, pass, flag, value);
      continue;
    }
    const rawKey = item.slice(0, eq).trim();
    let k = toCamel(rawKey);
    const raw = item.slice(eq + 1).trim();
    if (k === 'nm') k = 'nmRatio';
    if (k === 'sparsity') k = 'targetSparsity';
    if (!allowed.includes(k)) {
      throw new UsageError(`${flag} ${value}: unknown setting "${rawKey}" for ${calibrateSchema ? 'calibrated ' : ''}${pass} (settings: ${allowed.map(toKebab).join(', ')})`);
    }
    let v: unknown = parseValue(raw);
    if (k === 'nmRatio') v = parseNm(raw, `${flag} ${value}: nm`);
    if (k === 'granularity' && typeof v === 'string') v = normalizeGranularity(v, `${flag} ${value}: granularity`);
    if (k === 'mode' && typeof v === 'string') v = v.replace(/-/g, '_');
    config[k] = v;
  }
  if (weightThreshold !== undefined && config.weightThreshold === undefined) config.weightThreshold = weightThreshold;
  return { key, override: { pass, config } };
}

function applyBare(config: Config, token: string, pass: Kind, flag: string, value: string): void {
  const t = token.toLowerCase();
  if (pass === 'quantize' && QUANT_DTYPES.includes(t)) config.dtype = t;
  else if (pass === 'palettize' && /^\d+$/.test(t) && NBITS.includes(Number(t))) config.nbits = Number(t);
  else if (pass === 'prune' && /^\d+:\d+$/.test(t)) config.nmRatio = parseNm(t, `${flag} ${value}`);
  else if (pass === 'prune' && Number(t) >= 0 && Number(t) <= 1 && t !== '') config.targetSparsity = Number(t);
  else if (/^per[-_]/.test(t)) config.granularity = normalizeGranularity(t, `${flag} ${value}`);
  else {
    const hint = pass === 'quantize' ? 'a dtype (int8, uint8, int4, uint4)' : pass === 'palettize' ? `a width (${NBITS.join(', ')})` : 'a sparsity (0.5) or N:M';
    throw new UsageError(`${flag} ${value}: "${token}" is not a ${pass} setting; use key=value or ${hint}`);
  }
}

/** Algorithm of a calibrated run, from the flags. */
function algorithmOf(f: CompressFlags, active: readonly Kind[]): string {
  const mixed = f.targetBpw !== undefined || f.minPsnr !== undefined;
  const implied = mixed ? 'mixed_bit' : active[0] === 'quantize' ? 'gptq' : active[0] === 'prune' ? 'sparsegpt' : 'sensitive_kmeans';
  if (f.algorithm === undefined) return implied;
  const a = f.algorithm.replace(/-/g, '_').toLowerCase();
  const fits: Record<string, Kind> = { gptq: 'quantize', sparsegpt: 'prune', sensitive_kmeans: 'palettize', mixed_bit: 'palettize' };
  if (!(a in fits)) throw new UsageError(`--algorithm ${f.algorithm}: expected gptq, sparsegpt, sensitive-kmeans or mixed-bit`);
  if (fits[a] !== active[0]) throw new UsageError(`--algorithm ${f.algorithm} goes with --${fits[a]}, but this command asks for --${active[0]}`);
  return a;
}

/** The pipeline steps for the compress flags (throws UsageError on a bad combination). */
export function compressSteps(f: CompressFlags): PassStep[] {
  const active: Kind[] = [];
  if (f.prune !== undefined || f.nm !== undefined) active.push('prune');
  if (f.palettize !== undefined) active.push('palettize');
  if (f.quantize !== undefined) active.push('quantize');
  const calibrated = f.calibrate !== undefined;
  if (active.length === 0) {
    if (f.targetBpw !== undefined || f.minPsnr !== undefined) {
      throw new UsageError('--target-bpw / --min-psnr choose a width per layer (mixed-bit palettization): add --palettize N (the widest width to consider) and --calibrate DIR');
    }
    throw new UsageError('say how to compress: --quantize int8|int4…, --palettize BITS, --prune SPARSITY or --nm N:M (see silica compress --help)');
  }
  if (!calibrated) {
    for (const [flag, v] of [['--algorithm', f.algorithm], ['--samples', f.samples], ['--target-bpw', f.targetBpw], ['--min-psnr', f.minPsnr], ['--act-order', f.actOrder]] as const) {
      if (v !== undefined && v !== false) throw new UsageError(`${flag} applies to calibrated compression; add --calibrate DIR (a folder of .npy/.npz samples)`);
    }
  }
  if (active.length > 1 && !f.joint) {
    throw new UsageError(
      `${active.map((k) => `--${k === 'prune' && f.nm !== undefined ? 'nm' : k}`).join(' and ')} together is joint compression: add --joint (iOS18); they run in the order ${active.join(' → ')}`,
    );
  }
  if (calibrated && active.length > 1) {
    throw new UsageError(`calibrated compression (--calibrate) does one of quantize, palettize or prune; this command asks for ${active.join(' + ')} — run a second silica compress for the other one`);
  }
  const configs: Record<Kind, Config> = {
    prune: active.includes('prune') ? pruneConfig(f) : {},
    palettize: active.includes('palettize') ? palettizeConfig(f, active.includes('quantize')) : {},
    quantize: active.includes('quantize') ? quantizeConfig(f) : {},
  };
  if (f.granularity !== undefined) {
    const g = normalizeGranularity(f.granularity);
    const taken = (g === 'per_grouped_channel' && active.includes('palettize')) || (g !== 'per_grouped_channel' && (active.includes('quantize') || (g === 'per_tensor' && active.includes('palettize'))));
    if (!taken) throw new UsageError(`--granularity ${f.granularity} does not apply to ${active.join(' + ')}`);
  }
  // palettize → quantize quantizes the LUTs, which only works per tensor
  if (active.includes('palettize') && active.includes('quantize') && configs.quantize.granularity === undefined) configs.quantize.granularity = 'per_tensor';
  if (f.weightThreshold !== undefined) for (const k of active) configs[k].weightThreshold = f.weightThreshold;

  let calibrateSchema: Record<string, unknown> | undefined;
  let algorithm: string | undefined;
  if (calibrated) {
    algorithm = algorithmOf(f, active);
    calibrateSchema = calibrateConfigSchema(algorithm);
  }
  const overrides: Array<[flag: '--op-type' | '--op-name', target: 'opType' | 'opName', values: readonly string[]]> = [
    ['--op-type', 'opType', f.opType ?? []],
    ['--op-name', 'opName', f.opName ?? []],
  ];
  for (const [flag, field, values] of overrides) {
    for (const v of values) {
      const { key, override } = parseOverride(flag, v, active, f.weightThreshold, calibrateSchema);
      const table = ((configs[override.pass][field] as Record<string, Config | null> | undefined) ??= {});
      if (key in table) throw new UsageError(`${flag} ${key} is given twice for ${override.pass}; merge the settings into one ${flag} ${key}:…`);
      table[key] = override.config;
    }
  }

  if (calibrated) {
    const kind = active[0];
    const config = { ...configs[kind] };
    const options: Config = { algorithm, samples: f.calibrate };
    if (algorithm === 'mixed_bit') {
      delete config.nbits;
      delete config.mode;
      const widths = NBITS.filter((b) => b <= f.palettize!);
      config.widths = widths;
      if (f.targetBpw !== undefined) config.targetBitsPerWeight = f.targetBpw;
      if (f.minPsnr !== undefined) config.minPsnr = f.minPsnr;
    } else if (f.targetBpw !== undefined || f.minPsnr !== undefined) {
      throw new UsageError('--target-bpw / --min-psnr belong to --algorithm mixed-bit');
    }
    if (kind === 'palettize') {
      for (const k of ['clusterDim', 'enablePerChannelScale', 'mode']) {
        if (k in config) throw new UsageError(`calibrated palettization does not take ${k === 'mode' ? '--lut-mode' : k === 'clusterDim' ? '--cluster-dim' : '--per-channel-scale'}`);
      }
    }
    if (kind === 'prune' && 'blockSize' in config) throw new UsageError('calibrated pruning (SparseGPT) does not take --prune-block-size');
    options.config = config;
    if (f.samples !== undefined) options.nSamples = f.samples;
    if (f.actOrder) {
      if (algorithm !== 'gptq') throw new UsageError('--act-order applies to GPTQ (--quantize with --calibrate)');
      options.actOrder = true;
    }
    return [{ pass: 'calibrate', options }];
  }

  return active.map((k, i) => {
    const options: Config = { ...configs[k] };
    if (f.joint && (i > 0 || active.length === 1)) options.joint = true;
    return { pass: k, options };
  });
}

function calibrateConfigSchema(algorithm: string): Record<string, unknown> {
  const cal = PASS_OPTION_SCHEMAS.calibrate as { allOf: Array<{ if: { properties: { algorithm: { const: string } } }; then: { properties: { config: Record<string, unknown> } } }> };
  const branch = cal.allOf.find((b) => b.if.properties.algorithm.const === algorithm);
  return branch!.then.properties.config;
}
