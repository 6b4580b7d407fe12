/**
 * Running passes on a package: read (weights stay lazy), run the pipeline with progress
 * and verification after each pass, write atomically — with the checks of `files.ts`
 * before any work starts.
 */
import { type Logger, type Pass, type PassReport, type PassResult, type Program, pipeline } from '@silica/ir';
import type { WriteReport } from '@silica/mlpackage-writer';
import { ModelError } from './errors.js';
import { checkOutput, diskSize, readPackage, writePackage } from './files.js';
import type { Ui } from './ui.js';

/** What each pass counts in its progress reports. */
export const PROGRESS_UNITS: Readonly<Record<string, string>> = {
  quantize: 'weights',
  palettize: 'weights',
  prune: 'weights',
  calibrate: 'layers',
  'stateful-rewrite': 'states',
  'sdpa-fusion': 'functions',
  'sdpa-lowering': 'functions',
  'sdpa-sliced-q': 'functions',
  'dead-code-elimination': 'functions',
};

/** A pass that hands its result to `sink` (to keep per-weight statistics the pipeline report leaves out). */
export function capturing(pass: Pass, sink: (result: PassResult) => void): Pass {
  return {
    name: pass.name,
    minimumTarget: pass.minimumTarget,
    requires: pass.requires,
    establishes: pass.establishes,
    invalidates: pass.invalidates,
    async run(program, ctx) {
      const result = await pass.run(program, ctx);
      sink(result);
      return result;
    },
  };
}

/** A pipeline logger writing through the UI (warnings shown, info/debug with --verbose). */
export function uiLogger(ui: Ui): Logger {
  return { debug: (m) => ui.debug(m), info: (m) => ui.debug(m), warn: (m) => ui.warn(m) };
}

export function countOps(program: Program): number {
  let n = 0;
  for (const _ of program.allOps()) n++;
  return n;
}

/** Ops that compute something at run time: everything but const and constexpr ops. */
export function countComputeOps(program: Program): number {
  let n = 0;
  for (const op of program.allOps()) if (op.type !== 'const' && !op.isConstexpr) n++;
  return n;
}

export interface RunResult {
  readonly input: string;
  readonly output: string;
  readonly program: Program;
  readonly report: readonly PassReport[];
  /** Each pass's full result (CompressionResult for the compressors), in order. */
  readonly results: readonly PassResult[];
  readonly sizeBefore: number;
  readonly sizeAfter: number;
  readonly opsBefore: number;
  readonly opsAfter: number;
  readonly computeOpsBefore: number;
  readonly computeOpsAfter: number;
  readonly written: WriteReport;
  readonly ms: number;
}

export interface RunRequest {
  readonly input: string;
  readonly output: string;
  readonly passes: readonly Pass[];
  readonly force: boolean;
  readonly deterministic?: boolean | string;
  /** Other files the command writes (checked against the inputs too). */
  readonly alsoInputs?: readonly string[];
  /** When set and no pass changed anything: fail with this message (exit 6) instead of writing a copy. */
  readonly unchanged?: string;
  /** Runs after the passes and before anything is written (a failed check writes nothing). */
  readonly beforeWrite?: (program: Program) => void | Promise<void>;
}

/** Reads `input`, runs `passes`, writes `output`; refuses before any work if the output is unsafe. */
export async function runOnPackage(ui: Ui, req: RunRequest): Promise<RunResult> {
  checkOutput(req.output, [req.input, ...(req.alsoInputs ?? [])], req.force);
  const t0 = ui.now();
  const program = await readPackage(req.input);
  return runOnProgram(ui, program, req, t0);
}

/** As runOnPackage, with the input already read. */
export async function runOnProgram(ui: Ui, program: Program, req: RunRequest, t0 = ui.now()): Promise<RunResult> {
  const sizeBefore = diskSize(req.input);
  const opsBefore = countOps(program);
  const computeOpsBefore = countComputeOps(program);
  const results: PassResult[] = [];
  const wrapped = req.passes.map((p) => capturing(p, (r) => results.push(r)));
  ui.info(`${req.input}: running ${req.passes.map((p) => p.name).join(' → ') || 'no passes'}`);
  const { program: out, report } = await pipeline(wrapped).runWithReport(program, {
    onProgress: ui.pipelineProgress(PROGRESS_UNITS),
    logger: uiLogger(ui),
    signal: ui.io.signal,
    verify: true,
  });
  if (req.unchanged !== undefined && report.every((r) => !r.changed)) {
    const why = report.flatMap((r) => r.warnings).slice(0, 3);
    throw new ModelError(`${req.unchanged}${why.length ? ` (${why.join('; ')})` : ''}; nothing was written`);
  }
  await req.beforeWrite?.(out);
  const write = ui.progress('writing', 'steps');
  write.update(0, 1, req.output);
  const written = await writePackage(out, req.output, { force: req.force, deterministic: req.deterministic });
  write.finish(`wrote ${req.output}`);
  return {
    input: req.input,
    output: req.output,
    program: out,
    report,
    results,
    sizeBefore,
    sizeAfter: diskSize(req.output),
    opsBefore,
    opsAfter: countOps(out),
    computeOpsBefore,
    computeOpsAfter: countComputeOps(out),
    written,
    ms: ui.now() - t0,
  };
}

/** The report of each pass as JSON-friendly records. */
export function passReports(report: readonly PassReport[]): Array<Record<string, unknown>> {
  return report.map((r) => ({ pass: r.pass, ms: r.ms, bytesIn: r.bytesIn, bytesOut: r.bytesOut, changed: r.changed, stats: r.stats, warnings: r.warnings }));
}
