/**
 * The pass contract and the pipeline runner (ARCHITECTURE.md "Pass contract", STYLE.md
 * "A pass is a typed factory" / "Pipelines run passes in list order").
 *
 * A pass is a value with a name and `run(program, ctx)`; a pass package's default export
 * is a factory `(options) => Pass`. `pipeline(passes)` runs them in list order and, per
 * pass:
 *
 *  1. stops if the AbortSignal fired;
 *  2. checks `minimumTarget` against the program's current target;
 *  3. checks `requires` against the traits established by earlier passes (minus those
 *     a later pass invalidated);
 *  4. runs the pass, timing it and measuring const bytes before and after;
 *  5. verifies the program when asked (default: under test — NODE_ENV=test or VITEST).
 *
 * Any failure becomes a PipelineError naming the failed pass and the passes that already
 * ran, as PyTorch FX's pass manager reports it.
 *
 * Passes may change the program in place (and return `{ changed }`) or return a new one
 * (`{ program, changed }`). The pipeline does not copy its input: clone it with
 * `cloneProgram` first to keep the original.
 */
import type { Program } from './ir.js';
import { type Target, targetAtLeast } from './target.js';
import type { Tensor } from './tensor.js';
import { verifyProgram } from './verifier.js';

/**
 * A fact about a program that a pass establishes and a later pass may require, e.g.
 * `"no-dead-code"`, `"weights-deduplicated"`, `"stateful-kv-cache"` (kebab-case by convention).
 */
export type Trait = string;

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'silent';

/** A logger that drops everything. */
export const silentLogger: Logger = Object.freeze({ debug() {}, info() {}, warn() {} });

/** A console logger printing messages at `level` and above (default `warn`). */
export function consoleLogger(level: LogLevel = 'warn'): Logger {
  const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, silent: 3 };
  const at = rank[level];
  return {
    debug: (m) => {
      if (at <= 0) console.debug(m);
    },
    info: (m) => {
      if (at <= 1) console.info(m);
    },
    warn: (m) => {
      if (at <= 2) console.warn(m);
    },
  };
}

export interface PassContext {
  /** The deployment target of the program the pass is running on. */
  readonly target: Target;
  readonly logger: Logger;
  /** Cancellation: long passes check it between units of work (`ctx.throwIfAborted()`). */
  readonly signal: AbortSignal;
  /** Reports progress inside the pass (e.g. weights done of weights total). */
  progress(done: number, total: number, label?: string): void;
  /** Throws the signal's reason if the run was aborted. */
  throwIfAborted(): void;
}

export interface PassResult {
  /** A new program, when the pass did not change its input in place. */
  program?: Program;
  changed: boolean;
  /** Statistics for the report (`{ removed: 12 }`, `{ compressed: 96, skipped: 4 }`). */
  stats?: Record<string, number | string>;
  warnings?: string[];
}

export interface Pass {
  /** Kebab-case name shown in reports and errors, e.g. `"quantize"`. */
  readonly name: string;
  /** The pass refuses programs whose target is older (checked by the pipeline). */
  readonly minimumTarget?: Target;
  /** Traits an earlier pass of the pipeline must have established. */
  readonly requires?: readonly Trait[];
  /** Traits that hold after this pass ran. */
  readonly establishes?: readonly Trait[];
  /** Traits that no longer hold after this pass ran (`'all'`: none survive). */
  readonly invalidates?: readonly Trait[] | 'all';
  run(program: Program, ctx: PassContext): PassResult | Promise<PassResult>;
}

/** What a pass package exports by default: options in, pass out. */
export type PassFactory<O = void> = (options: O) => Pass;

export interface PassReport {
  readonly pass: string;
  /** Wall time of `run`, in milliseconds (verification excluded). */
  readonly ms: number;
  /** Const tensor bytes before and after the pass (see `programConstBytes`). */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly changed: boolean;
  readonly stats: Readonly<Record<string, number | string>>;
  readonly warnings: readonly string[];
}

export type ProgressEvent =
  | { readonly kind: 'pass-start'; readonly pass: string; readonly passIndex: number; readonly passCount: number }
  | {
      readonly kind: 'progress';
      readonly pass: string;
      readonly passIndex: number;
      readonly passCount: number;
      readonly done: number;
      readonly total: number;
      readonly label: string;
    }
  | { readonly kind: 'pass-end'; readonly pass: string; readonly passIndex: number; readonly passCount: number; readonly report: PassReport };

export interface RunOptions {
  readonly signal?: AbortSignal;
  /** Verify the input and the program after every pass (default: true under test, see `defaultVerify`). */
  readonly verify?: boolean;
  readonly onProgress?: (event: ProgressEvent) => void;
  /** Default: `consoleLogger('warn')`. */
  readonly logger?: Logger;
  /** Traits the input program is known to have already (satisfy `requires` of the first passes). */
  readonly assume?: readonly Trait[];
}

export interface Pipeline {
  readonly passes: readonly Pass[];
  run(program: Program, options?: RunOptions): Promise<Program>;
  runWithReport(program: Program, options?: RunOptions): Promise<{ program: Program; report: PassReport[] }>;
}

/** Why a pipeline stopped: the failed pass (null when the input itself was invalid) and the passes that ran. */
export class PipelineError extends Error {
  readonly pass: string | null;
  readonly completed: readonly string[];
  readonly aborted: boolean;
  constructor(message: string, pass: string | null, completed: readonly string[], cause: unknown, aborted = false) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = aborted ? 'AbortError' : 'PipelineError';
    this.pass = pass;
    this.completed = completed;
    this.aborted = aborted;
  }
}

/** Whether verification is on by default: under test (NODE_ENV=test or VITEST set). */
export function defaultVerify(): boolean {
  const env = typeof process !== 'undefined' ? process.env : {};
  return env.NODE_ENV === 'test' || (env.VITEST !== undefined && env.VITEST !== '');
}

/**
 * Bytes of constant data in a program: the sum of `byteLength` over the `val` tensors of
 * its const ops, each tensor object counted once (a tensor shared by several consts, as
 * after a multifunction merge, is stored once). Lazy tensors are not read.
 */
export function programConstBytes(program: Program): number {
  const seen = new Set<Tensor>();
  let n = 0;
  for (const op of program.allOps()) {
    const t = op.constValue;
    if (t && !seen.has(t)) {
      seen.add(t);
      n += t.dtype === 'string' ? 0 : t.byteLength;
    }
  }
  return n;
}

export interface ContextOptions {
  readonly target: Target;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  readonly progress?: (done: number, total: number, label: string) => void;
}

/** A PassContext for running a pass on its own (tests, tools). */
export function createPassContext(options: ContextOptions): PassContext {
  const signal = options.signal ?? new AbortController().signal;
  return {
    target: options.target,
    logger: options.logger ?? consoleLogger('warn'),
    signal,
    progress: (done, total, label = '') => options.progress?.(done, total, label),
    throwIfAborted: () => signal.throwIfAborted(),
  };
}

function list(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.join(', ');
}

function ranBefore(completed: readonly string[]): string {
  return completed.length === 0 ? 'no pass had run yet' : `passes already run: ${completed.join(', ')}`;
}

/** An ordered list of passes, run by `run` / `runWithReport`. */
export function pipeline(passes: readonly Pass[]): Pipeline {
  const frozen = Object.freeze([...passes]);
  for (const [i, p] of frozen.entries()) {
    if (!p || typeof p.name !== 'string' || p.name === '' || typeof p.run !== 'function') {
      throw new Error(`pipeline: entry ${i} is not a pass (a pass has a non-empty name and a run(program, ctx) method)`);
    }
  }
  const runWithReport = async (input: Program, options: RunOptions = {}): Promise<{ program: Program; report: PassReport[] }> => {
    const signal = options.signal ?? new AbortController().signal;
    const verify = options.verify ?? defaultVerify();
    const logger = options.logger ?? consoleLogger('warn');
    const report: PassReport[] = [];
    const completed: string[] = [];
    const traits = new Set<Trait>(options.assume ?? []);
    let program = input;

    if (verify) {
      try {
        verifyProgram(program);
      } catch (e) {
        throw new PipelineError(`pipeline input fails verification before any pass ran: ${(e as Error).message}`, null, [], e);
      }
    }

    for (const [passIndex, pass] of frozen.entries()) {
      const where = `pass "${pass.name}" (${passIndex + 1} of ${frozen.length}; ${ranBefore(completed)})`;
      if (signal.aborted) {
        throw new PipelineError(`pipeline aborted before ${where}`, pass.name, [...completed], signal.reason, true);
      }
      if (pass.minimumTarget && !targetAtLeast(program.target, pass.minimumTarget)) {
        throw new PipelineError(
          `${where} needs deployment target ${pass.minimumTarget} or newer, but the program targets ${program.target}; raise the program's target to ${pass.minimumTarget}`,
          pass.name,
          [...completed],
          undefined,
        );
      }
      const missing = (pass.requires ?? []).filter((t) => !traits.has(t));
      if (missing.length > 0) {
        throw new PipelineError(
          `${where} requires ${missing.map((t) => `"${t}"`).join(', ')}, which no earlier pass established (established so far: ${list([...traits])}); add a pass that establishes it before "${pass.name}"`,
          pass.name,
          [...completed],
          undefined,
        );
      }

      options.onProgress?.({ kind: 'pass-start', pass: pass.name, passIndex, passCount: frozen.length });
      const ctx = createPassContext({
        target: program.target,
        signal,
        logger,
        progress: (done, total, label) =>
          options.onProgress?.({ kind: 'progress', pass: pass.name, passIndex, passCount: frozen.length, done, total, label }),
      });
      const bytesIn = programConstBytes(program);
      const t0 = performance.now();
      let result: PassResult;
      try {
        result = await pass.run(program, ctx);
      } catch (e) {
        if (signal.aborted) {
          throw new PipelineError(`pipeline aborted during ${where}`, pass.name, [...completed], signal.reason ?? e, true);
        }
        throw new PipelineError(`${where} failed: ${(e as Error)?.message ?? String(e)}`, pass.name, [...completed], e);
      }
      const ms = performance.now() - t0;
      if (!result || typeof result.changed !== 'boolean') {
        throw new PipelineError(`${where} returned ${JSON.stringify(result)}; a pass must return { changed: boolean, … }`, pass.name, [...completed], undefined);
      }
      if (result.program) program = result.program;
      const bytesOut = programConstBytes(program);
      const warnings = [...(result.warnings ?? [])];
      for (const w of warnings) logger.warn(`${pass.name}: ${w}`);

      if (verify) {
        try {
          verifyProgram(program);
        } catch (e) {
          throw new PipelineError(`${where} left an invalid program: ${(e as Error).message}`, pass.name, [...completed], e);
        }
      }

      if (pass.invalidates === 'all') traits.clear();
      else for (const t of pass.invalidates ?? []) traits.delete(t);
      for (const t of pass.establishes ?? []) traits.add(t);
      completed.push(pass.name);
      const entry: PassReport = { pass: pass.name, ms, bytesIn, bytesOut, changed: result.changed, stats: { ...(result.stats ?? {}) }, warnings };
      report.push(entry);
      logger.debug(`${pass.name}: ${ms.toFixed(1)} ms, ${bytesIn} → ${bytesOut} bytes${result.changed ? '' : ' (unchanged)'}`);
      options.onProgress?.({ kind: 'pass-end', pass: pass.name, passIndex, passCount: frozen.length, report: entry });
    }
    return { program, report };
  };
  return {
    passes: frozen,
    run: async (program, options) => (await runWithReport(program, options)).program,
    runWithReport,
  };
}
