/**
 * Pipeline files: a source package, passes with their options, and a sink package, as
 * JSON — what `silica pipeline FILE.json` runs and what `silica compress --save-pipeline`
 * writes.
 *
 * ```json
 * {
 *   "version": 1,
 *   "source": "Model.mlpackage",
 *   "passes": [
 *     { "pass": "prune", "options": { "targetSparsity": 0.5 } },
 *     { "pass": "palettize", "options": { "nbits": 4, "granularity": "per_grouped_channel", "groupSize": 16, "joint": true } }
 *   ],
 *   "sink": "Model-sparse-4bit.mlpackage"
 * }
 * ```
 *
 * Relative paths (source, sink, calibration samples, recipe files) are relative to the
 * pipeline file. The file is checked against `PIPELINE_SCHEMA` (every problem listed,
 * with its place in the file) and then each pass is built by its factory, which checks
 * what a schema cannot (e.g. "exactly one of targetSparsity and nmRatio").
 *
 * `PASS_FACTORIES` is the name → factory map; it exists for pipeline files and the CLI
 * only — in code, import the pass packages and call their factories.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import calibrate, { type CalibrateOptions } from '@silica/calibrate';
import { type Pass, deadCodeElimination } from '@silica/ir';
import palettize, { canonicalizeQuantizedLut } from '@silica/palettize';
import prune from '@silica/prune';
import quantize from '@silica/quantize';
import sdpaFusion, { sdpaLowering, sdpaSlicedQ } from '@silica/sdpa-fusion';
import statefulRewrite from '@silica/stateful-rewrite';
import { InputError } from './errors.js';
import { PASS_OPTION_SCHEMAS, PIPELINE_SCHEMA } from './pipeline-schema.js';

/** A pass factory that takes JSON options (checked by the schema, then by the factory itself). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonPassFactory = (options: any) => Pass;

/** Pass name → factory, for pipeline files and the CLI (not a registry: nothing registers itself). */
export const PASS_FACTORIES: Readonly<Record<string, JsonPassFactory>> = Object.freeze({
  quantize: (o) => quantize(o),
  palettize: (o) => palettize(o),
  prune: (o) => prune(o),
  calibrate: (o) => calibrate(o),
  'stateful-rewrite': (o) => statefulRewrite(o),
  'sdpa-fusion': (o) => sdpaFusion(o),
  'sdpa-lowering': (o) => sdpaLowering(o),
  'sdpa-sliced-q': (o) => sdpaSlicedQ(o),
  'dead-code-elimination': (o) => deadCodeElimination(o),
  'canonicalize-quantized-lut': () => canonicalizeQuantizedLut(),
});

export interface PassStep {
  readonly pass: string;
  readonly options?: Readonly<Record<string, unknown>>;
}

export interface PipelineSpec {
  readonly $schema?: string;
  readonly version: 1;
  readonly description?: string;
  readonly source: string | { readonly path: string };
  readonly passes: readonly PassStep[];
  readonly sink: string | { readonly path: string; readonly overwrite?: boolean; readonly deterministic?: boolean | string };
}

/** A pipeline file that does not parse or does not follow the schema; lists every problem. */
export class PipelineFileError extends InputError {
  readonly problems: readonly string[];
  readonly file: string;
  constructor(file: string, problems: readonly string[]) {
    super(
      problems.length === 1
        ? `${file}: ${problems[0]}`
        : `${file}: ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'PipelineFileError';
    this.problems = problems;
    this.file = file;
  }
}

let validator: ReturnType<Ajv['compile']> | undefined;

function validate(): ReturnType<Ajv['compile']> {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true, strict: true, strictRequired: false });
    validator = ajv.compile(PIPELINE_SCHEMA);
  }
  return validator;
}

/** `/passes/0/options/nbit` → `passes[0].options.nbit`. */
function where(instancePath: string): string {
  if (instancePath === '') return '(top level)';
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

/** The closest of `options` to `word`, when it is close enough to be a typo. */
export function didYouMean(word: string, options: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    const d = distance(word.toLowerCase(), o.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

const show = (x: unknown): string => (typeof x === 'string' ? `"${x}"` : JSON.stringify(x));

function describeError(e: ErrorObject): string | undefined {
  const at = where(e.instancePath);
  switch (e.keyword) {
    case 'if':
      return undefined; // the branch's own errors say what is wrong
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys(((e.parentSchema as { properties?: object }) ?? {}).properties ?? {});
      const guess = didYouMean(key, known);
      return `${at}: unknown key ${show(key)}${guess ? ` — did you mean ${show(guess)}?` : ''} (allowed: ${known.join(', ') || 'none'})`;
    }
    case 'required':
      return `${at}: missing ${show((e.params as { missingProperty: string }).missingProperty)}`;
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      const guess = typeof e.data === 'string' ? didYouMean(e.data, allowed.filter((x): x is string => typeof x === 'string')) : undefined;
      return `${at}: ${show(e.data)} is not one of ${allowed.map(show).join(', ')}${guess ? ` — did you mean ${show(guess)}?` : ''}`;
    }
    case 'const':
      return `${at}: must be ${show((e.params as { allowedValue: unknown }).allowedValue)}, got ${show(e.data)}`;
    case 'type':
      return `${at}: must be ${String((e.params as { type: string | string[] }).type).replace(/,/g, ' or ')}, got ${e.data === null ? 'null' : Array.isArray(e.data) ? 'an array' : typeof e.data}`;
    case 'pattern':
      return /mlpackage/.test((e.params as { pattern: string }).pattern)
        ? `${at}: must be the path of an .mlpackage, got ${show(e.data)}`
        : `${at}: must be "auto", a boolean or an object, got ${show(e.data)}`;
    default:
      return `${at}: ${e.message ?? e.keyword}${e.data !== undefined && typeof e.data !== 'object' ? `, got ${show(e.data)}` : ''}`;
  }
}

/** Checks `spec` against the schema; throws a PipelineFileError listing every problem. */
export function validatePipeline(spec: unknown, file = 'pipeline'): PipelineSpec {
  const v = validate();
  if (v(spec)) return spec as PipelineSpec;
  const problems = [...new Set((v.errors ?? []).map(describeError).filter((m): m is string => m !== undefined))];
  throw new PipelineFileError(file, problems.length > 0 ? problems : ['does not follow the pipeline schema']);
}

/** Parses pipeline JSON text (errors name the line and column) and validates it. */
export function parsePipeline(text: string, file = 'pipeline'): PipelineSpec {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    if (pos) {
      const before = text.slice(0, Number(pos[1]));
      const line = before.split('\n').length;
      const col = Number(pos[1]) - before.lastIndexOf('\n');
      throw new PipelineFileError(file, [`not valid JSON at line ${line}, column ${col}: ${msg.replace(/ in JSON at position \d+.*$/, '')}`]);
    }
    throw new PipelineFileError(file, [`not valid JSON: ${msg}`]);
  }
  return validatePipeline(data, file);
}

/**
 * The JSON text of a pipeline file (validated first; keys in a fixed order, 2-space
 * indent, a newline at the end) — what `loadPipeline` / `silica pipeline` read back.
 */
export function exportPipeline(spec: PipelineSpec): string {
  validatePipeline(spec, 'exportPipeline');
  const ordered: Record<string, unknown> = {};
  if (spec.$schema !== undefined) ordered.$schema = spec.$schema;
  ordered.version = spec.version;
  if (spec.description !== undefined) ordered.description = spec.description;
  ordered.source = spec.source;
  ordered.passes = spec.passes.map((p) => (p.options === undefined ? { pass: p.pass } : { pass: p.pass, options: p.options }));
  ordered.sink = spec.sink;
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

export interface LoadOptions {
  /** Directory relative paths are resolved against (default: the file's directory, or the cwd for an object). */
  readonly baseDir?: string;
  /** Adds runtime-only options (progress callbacks, worker counts) to a pass's JSON options before it is built. */
  readonly augment?: (pass: string, options: Record<string, unknown>) => Record<string, unknown>;
}

export interface LoadedPipeline {
  readonly spec: PipelineSpec;
  /** Absolute source and sink package paths. */
  readonly source: string;
  readonly sink: string;
  readonly overwrite: boolean;
  readonly deterministic: boolean | string;
  /** The passes, built by their factories, in order. */
  readonly passes: readonly Pass[];
}

/**
 * Reads (a path) or takes (an object) a pipeline, validates it and builds its passes.
 * Nothing is read from the source package yet.
 */
export function loadPipeline(fileOrSpec: string | PipelineSpec, options: LoadOptions = {}): LoadedPipeline {
  let spec: PipelineSpec;
  let base: string;
  let file: string;
  if (typeof fileOrSpec === 'string') {
    file = fileOrSpec;
    let text: string;
    try {
      text = readFileSync(fileOrSpec, 'utf8');
    } catch (e) {
      throw new InputError(`cannot read pipeline file ${fileOrSpec}: ${(e as Error).message}`, { cause: e });
    }
    spec = parsePipeline(text, fileOrSpec);
    base = options.baseDir ?? dirname(resolve(fileOrSpec));
  } else {
    file = 'pipeline';
    spec = validatePipeline(fileOrSpec, file);
    base = options.baseDir ?? process.cwd();
  }
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const source = abs(typeof spec.source === 'string' ? spec.source : spec.source.path);
  const sinkSpec = typeof spec.sink === 'string' ? { path: spec.sink } : spec.sink;
  const passes = spec.passes.map((step, i) => {
    let opts: Record<string, unknown> = { ...(step.options ?? {}) };
    if (step.pass === 'calibrate') opts = resolveCalibratePaths(opts, abs, `${file}: passes[${i}].options`);
    if (options.augment) opts = options.augment(step.pass, opts);
    try {
      return PASS_FACTORIES[step.pass](step.pass === 'canonicalize-quantized-lut' ? undefined : opts);
    } catch (e) {
      throw new PipelineFileError(file, [`passes[${i}] (${step.pass}): ${(e as Error).message}`]);
    }
  });
  return {
    spec,
    source,
    sink: abs(sinkSpec.path),
    overwrite: 'overwrite' in sinkSpec ? sinkSpec.overwrite === true : false,
    deterministic: ('deterministic' in sinkSpec ? sinkSpec.deterministic : undefined) ?? false,
    passes,
  };
}

function resolveCalibratePaths(o: Record<string, unknown>, abs: (p: string) => string, where: string): Record<string, unknown> {
  const out = { ...o };
  if (typeof out.samples === 'string') out.samples = abs(out.samples);
  else if (Array.isArray(out.samples)) out.samples = out.samples.map((s) => (typeof s === 'string' ? abs(s) : s));
  if (typeof out.recipe === 'string') {
    const path = abs(out.recipe);
    try {
      out.recipe = JSON.parse(readFileSync(path, 'utf8')) as CalibrateOptions;
    } catch (e) {
      throw new InputError(`${where}.recipe: cannot read the mixed-bit recipe ${path}: ${(e as Error).message}`, { cause: e });
    }
  }
  return out;
}

export { PIPELINE_SCHEMA, PASS_OPTION_SCHEMAS };
