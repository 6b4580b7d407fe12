/** `silica compress PKG -o OUT [compression flags] [--calibrate DIR] [--report out.html]` */
import { writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import type { CalibrationProgress } from '@silica/calibrate';
import type { Pass, PassResult } from '@silica/ir';
import { type CompressFlags, compressSteps } from '../compress-flags.js';
import { UsageError } from '../errors.js';
import { checkOutput, readPackage, resolveFrom } from '../files.js';
import { formatBytes, formatDb, formatMs, formatNumber, formatRatio, formatShape, table } from '../format.js';
import { compareLayers } from '../layers.js';
import { PASS_FACTORIES, type PassStep, exportPipeline } from '../pipeline-file.js';
import { renderReport } from '../report-html.js';
import { type RunResult, passReports, runOnPackage } from '../runner.js';
import type { Progress, Ui } from '../ui.js';
import { VERSION } from '../version.js';

export interface CompressArgs extends CompressFlags {
  readonly pkg: string;
  readonly out: string;
  readonly force: boolean;
  /** Write an HTML report here. */
  readonly report?: string;
  /** Layers to draw histograms of in the report (default: largest, worst and best). */
  readonly reportLayers?: readonly string[];
  /** Write the equivalent pipeline file here. */
  readonly savePipeline?: string;
  readonly deterministic?: boolean;
  /** The command line, for the report. */
  readonly commandLine?: string;
}

/** One compressed weight as the passes report it (WeightStats / LayerReport). */
export interface WeightLine {
  readonly pass: string;
  readonly function: string;
  readonly weight: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly method: string;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  readonly bitsPerWeight: number;
  readonly snrDb: number;
}

export function weightsOf(pass: string, r: PassResult): WeightLine[] {
  const list = ((r as { weights?: unknown }).weights ?? (r as { layers?: unknown }).layers) as
    | ReadonlyArray<{ function: string; weight: string; shape: readonly number[]; dtype: string; method: string; bytesBefore: number; bytesAfter: number; bitsPerWeight: number; snrDb: number }>
    | undefined;
  return (list ?? []).map((w) => ({
    pass,
    function: w.function,
    weight: w.weight,
    shape: w.shape,
    dtype: w.dtype,
    method: w.method,
    bytesBefore: w.bytesBefore,
    bytesAfter: w.bytesAfter,
    bitsPerWeight: w.bitsPerWeight,
    snrDb: w.snrDb,
  }));
}

export function skippedOf(r: PassResult): Array<{ weight: string; reason: string }> {
  return [...(((r as { skipped?: unknown }).skipped ?? []) as Array<{ weight: string; reason: string }>)];
}

/** Builds passes from steps; an option a factory refuses is a usage error (it came from the flags). */
export function buildPasses(steps: readonly PassStep[], augment: (pass: string, o: Record<string, unknown>) => Record<string, unknown> = (_, o) => o): Pass[] {
  return steps.map((s) => {
    const factory = PASS_FACTORIES[s.pass];
    try {
      return factory(augment(s.pass, { ...(s.options ?? {}) }));
    } catch (e) {
      throw new UsageError((e as Error).message, { cause: e });
    }
  });
}

export function calibrationProgress(ui: Ui): (ev: CalibrationProgress) => void {
  let bar: Progress | null = null;
  return (ev) => {
    if (ev.kind !== 'capture') return;
    if (ev.sample === 0 || !bar) bar = ui.progress(`  capture (${ev.layers.length} layer${ev.layers.length === 1 ? '' : 's'})`, 'samples');
    bar.update(ev.sample, ev.samples, ev.layers.length === 1 ? ev.layers[0] : `${ev.layers[0]} …`);
    if (ev.sample >= ev.samples) {
      bar.finish(`  captured activations of ${ev.layers.length} layer${ev.layers.length === 1 ? '' : 's'} over ${ev.samples} samples`);
      bar = null;
    }
  };
}

export interface CompressSummary {
  readonly command: 'compress';
  readonly input: string;
  readonly output: string;
  readonly steps: readonly PassStep[];
  readonly passes: ReadonlyArray<Record<string, unknown>>;
  readonly size: { readonly before: number; readonly after: number; readonly ratio: number };
  readonly ops: { readonly before: number; readonly after: number };
  readonly weights: readonly WeightLine[];
  readonly skipped: ReadonlyArray<{ pass: string; weight: string; reason: string }>;
  readonly warnings: readonly string[];
  readonly report?: string;
  readonly pipeline?: string;
  readonly ms: number;
}

export async function compressCommand(ui: Ui, args: CompressArgs): Promise<CompressSummary> {
  const input = resolveFrom(ui.io.cwd, args.pkg);
  const output = resolveFrom(ui.io.cwd, args.out);
  const calibrate = args.calibrate !== undefined ? resolveFrom(ui.io.cwd, args.calibrate) : undefined;
  const steps = compressSteps({ ...args, calibrate });
  const report = args.report !== undefined ? resolveFrom(ui.io.cwd, args.report) : undefined;
  const save = args.savePipeline !== undefined ? resolveFrom(ui.io.cwd, args.savePipeline) : undefined;
  if (report) {
    if (!/\.html?$/i.test(report)) throw new UsageError(`--report ${args.report}: the report is an HTML page; give a path ending in .html`);
    checkOutput(report, [input], args.force, 'file');
  }
  if (save) {
    if (!/\.json$/i.test(save)) throw new UsageError(`--save-pipeline ${args.savePipeline}: a pipeline file is JSON; give a path ending in .json`);
    checkOutput(save, [input], args.force, 'file');
  }
  if (args.reportLayers && !report) throw new UsageError('--report-layers chooses the histograms of the report: add --report out.html');
  const passes = buildPasses(steps, (pass, o) => {
    if (pass === 'calibrate') return { ...o, onProgress: calibrationProgress(ui), signal: ui.io.signal };
    return args.workers !== undefined ? { ...o, workers: args.workers } : o;
  });

  const result = await runOnPackage(ui, { input, output, passes, force: args.force, deterministic: args.deterministic });

  const weights = result.results.flatMap((r, i) => weightsOf(result.report[i].pass, r));
  const skipped = result.results.flatMap((r, i) => skippedOf(r).map((s) => ({ pass: result.report[i].pass, weight: s.weight, reason: s.reason })));
  const warnings = result.report.flatMap((r) => r.warnings.map((w) => `${r.pass}: ${w}`));

  if (report) {
    const original = await readPackage(input);
    const bar = ui.progress('report', 'steps');
    bar.update(0, 1, 'comparing every compressed weight with the original');
    const cmp = compareLayers(original, result.program, { detail: args.reportLayers });
    const html = renderReport({
      input,
      output,
      command: args.commandLine ?? `silica compress ${args.pkg} -o ${args.out}`,
      generator: `silica ${VERSION}`,
      sizeBefore: result.sizeBefore,
      sizeAfter: result.sizeAfter,
      passes: result.report.map((r) => ({ pass: r.pass, ms: r.ms, bytesIn: r.bytesIn, bytesOut: r.bytesOut })),
      layers: cmp.layers,
      untouched: cmp.untouched,
      histograms: cmp.histograms,
    });
    writeFileSync(report, html);
    bar.finish(`wrote the report ${report}`);
  }
  if (save) {
    // relative to the pipeline file when close to it (it moves with its models), else absolute
    const rel = (p: string): string => {
      const r = relative(dirname(save), p) || '.';
      return r.split(/[\\/]/).filter((x) => x === '..').length > 1 ? p : r;
    };
    const portable = steps.map((s) =>
      s.pass === 'calibrate' && typeof s.options?.samples === 'string' ? { ...s, options: { ...s.options, samples: rel(s.options.samples) } } : s,
    );
    writeFileSync(save, exportPipeline({ version: 1, source: rel(input), passes: portable, sink: rel(output) }));
    ui.info(`wrote the pipeline file ${save} (silica pipeline ${relative(ui.io.cwd, save) || save} runs it again)`);
  }

  const summary: CompressSummary = {
    command: 'compress',
    input,
    output,
    steps,
    passes: passReports(result.report),
    size: { before: result.sizeBefore, after: result.sizeAfter, ratio: result.sizeAfter ? result.sizeBefore / result.sizeAfter : 0 },
    ops: { before: result.opsBefore, after: result.opsAfter },
    weights,
    skipped,
    warnings,
    ...(report ? { report } : {}),
    ...(save ? { pipeline: save } : {}),
    ms: result.ms,
  };
  ui.json(summary);
  ui.result(renderCompress(result, weights, new Set(skipped.map((s) => s.weight)).size));
  return summary;
}

function statText(stats: Readonly<Record<string, number | string>>): string {
  const keys = ['compressed', 'skipped', 'bitsPerWeight', 'minSnrDb', 'worstWeight', 'algorithm', 'samples'];
  return keys
    .filter((k) => stats[k] !== undefined)
    .map((k) => {
      const v = stats[k];
      if (k === 'minSnrDb' && typeof v === 'number') return `min SNR ${formatDb(v)}`;
      if (k === 'bitsPerWeight' && typeof v === 'number') return `${formatNumber(v, 3)} bits/weight`;
      if (k === 'worstWeight') return `worst ${v}`;
      return `${k} ${typeof v === 'number' ? formatNumber(v, 3) : v}`;
    })
    .join(', ');
}

export function renderCompress(r: RunResult, weights: readonly WeightLine[], skipped: number): string {
  const out: string[] = [];
  out.push(
    table(
      ['pass', 'time', 'weights before', 'after', 'stats'],
      r.report.map((p) => [p.pass, formatMs(p.ms), formatBytes(p.bytesIn), formatBytes(p.bytesOut), statText(p.stats)]),
      { align: ['left', 'right', 'right', 'right', 'left'] },
    ),
  );
  out.push('');
  out.push(`${r.output}: ${formatBytes(r.sizeBefore)} → ${formatBytes(r.sizeAfter)} on disk (${formatRatio(r.sizeBefore, r.sizeAfter)} smaller); ops ${r.computeOpsBefore} → ${r.computeOpsAfter} (${r.opsBefore} → ${r.opsAfter} with consts and constexpr ops)`);
  if (weights.length > 0) {
    const last = new Map<string, WeightLine>();
    const first = new Map<string, WeightLine>();
    for (const w of weights) {
      const key = `${w.function}/${w.weight}`;
      if (!first.has(key)) first.set(key, w);
      last.set(key, w);
    }
    const rows = [...last.values()].sort((a, b) => b.bytesBefore - a.bytesBefore);
    const shown = rows.slice(0, 12);
    out.push('');
    out.push(rows.length > shown.length ? `the ${shown.length} largest of ${rows.length} compressed weights (--json lists them all):` : 'compressed weights:');
    out.push(
      table(
        ['weight', 'type', 'method', 'before', 'after', 'bits/weight', 'SNR'],
        shown.map((w) => [w.weight, formatShape(w.dtype, w.shape), `${w.pass}: ${w.method}`, formatBytes(w.bytesBefore), formatBytes(w.bytesAfter), formatNumber(w.bitsPerWeight, 3), formatDb(w.snrDb)]),
        { align: ['left', 'left', 'left', 'right', 'right', 'right', 'right'] },
      ),
    );
    if (r.report.length > 1) out.push('(SNR of each step against its own input; --report shows each weight against the original)');
  }
  if (skipped > 0) out.push(`${skipped} weight${skipped === 1 ? '' : 's'} left alone (--json lists them with the reason)`);
  return out.join('\n');
}
