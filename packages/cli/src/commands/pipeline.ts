/** `silica pipeline FILE.json [--force] [--dry-run]`, `silica pipeline --schema` */
import { UsageError } from '../errors.js';
import { resolveFrom } from '../files.js';
import { PIPELINE_SCHEMA, loadPipeline } from '../pipeline-file.js';
import { passReports, runOnPackage } from '../runner.js';
import type { Ui } from '../ui.js';
import { calibrationProgress, renderCompress, skippedOf, weightsOf } from './compress.js';

export interface PipelineArgs {
  readonly file?: string;
  readonly force: boolean;
  /** Check the file and build the passes, but read and write nothing. */
  readonly dryRun?: boolean;
  /** Print the JSON Schema of pipeline files. */
  readonly schema?: boolean;
}

export async function pipelineCommand(ui: Ui, args: PipelineArgs): Promise<Record<string, unknown>> {
  if (args.schema) {
    // the schema is the result, as JSON, with or without --json
    ui.io.stdout.write(`${JSON.stringify(PIPELINE_SCHEMA, null, 2)}\n`);
    return { command: 'pipeline', schema: PIPELINE_SCHEMA };
  }
  if (args.file === undefined) throw new UsageError('give the pipeline file: silica pipeline FILE.json (silica pipeline --schema prints its JSON Schema)');
  const file = resolveFrom(ui.io.cwd, args.file);
  const loaded = loadPipeline(file, {
    augment: (pass, o) => (pass === 'calibrate' ? { ...o, onProgress: calibrationProgress(ui), signal: ui.io.signal } : o),
  });
  const plan = loaded.spec.passes.map((p) => p.pass);
  if (args.dryRun) {
    const summary = { command: 'pipeline', file, dryRun: true, source: loaded.source, sink: loaded.sink, passes: plan };
    ui.json(summary);
    ui.result(`${file} is valid: ${loaded.source} → ${plan.join(' → ') || '(no passes)'} → ${loaded.sink}`);
    return summary;
  }
  const r = await runOnPackage(ui, {
    input: loaded.source,
    output: loaded.sink,
    passes: loaded.passes,
    force: args.force || loaded.overwrite,
    deterministic: loaded.deterministic,
    alsoInputs: [file],
  });
  const weights = r.results.flatMap((x, i) => weightsOf(r.report[i].pass, x));
  const skipped = r.results.flatMap((x, i) => skippedOf(x).map((s) => ({ pass: r.report[i].pass, ...s })));
  const summary = {
    command: 'pipeline',
    file,
    input: r.input,
    output: r.output,
    passes: passReports(r.report),
    size: { before: r.sizeBefore, after: r.sizeAfter },
    ops: { before: r.opsBefore, after: r.opsAfter },
    weights,
    skipped,
    ms: r.ms,
  };
  ui.json(summary);
  ui.result(renderCompress(r, weights, new Set(skipped.map((s) => s.weight)).size));
  return summary;
}
