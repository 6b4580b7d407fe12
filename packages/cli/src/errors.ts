/**
 * Exit codes and the errors behind them. Every failure the CLI reports belongs to one
 * class with its own exit code, so scripts can tell "you typed it wrong" from "the model
 * is broken" from "the disk is full" without parsing messages:
 *
 * | code | class | examples |
 * |---|---|---|
 * | 0 | success | |
 * | 1 | internal error | a bug in Silica: rerun with `--verbose` and report the stack trace |
 * | 2 | usage | unknown command or flag, a bad flag value, conflicting flags, an invalid compression config |
 * | 3 | input | a package, `.npy`/`.npz`, pipeline file or calibration data that is missing, unreadable or malformed |
 * | 4 | verification | `eval --min-snr` / `--min-cosine` not met; a rewrite checked with `--check` changed the outputs; a pass left an invalid program |
 * | 5 | output / I/O | the output exists (pass `--force`), would overwrite an input, or cannot be written |
 * | 6 | model | the model cannot be transformed as asked: target too old for a feature, a pass refused it, an op the interpreter cannot run |
 * | 130 | interrupted | Ctrl-C |
 */
export const EXIT = Object.freeze({
  ok: 0,
  internal: 1,
  usage: 2,
  input: 3,
  verification: 4,
  output: 5,
  model: 6,
  interrupted: 130,
} as const);

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** What each exit code means, for `--help` and the README. */
export const EXIT_CODE_TABLE: ReadonlyArray<readonly [ExitCode, string, string]> = [
  [EXIT.ok, 'success', ''],
  [EXIT.internal, 'internal error', 'a bug in Silica: rerun with --verbose and report the stack trace'],
  [EXIT.usage, 'usage', 'unknown command or flag, bad flag value, conflicting flags, invalid compression config'],
  [EXIT.input, 'input', 'a package, .npy/.npz file, pipeline file or calibration data is missing, unreadable or malformed'],
  [EXIT.verification, 'verification', 'eval thresholds not met, a --check found changed outputs, a pass left an invalid program'],
  [EXIT.output, 'output / I/O', 'the output exists (pass --force), would overwrite an input, or cannot be written'],
  [EXIT.model, 'model', 'the model cannot be transformed as asked (deployment target, unsupported op, a pass refused it)'],
  [EXIT.interrupted, 'interrupted', 'stopped by Ctrl-C (SIGINT)'],
];

/** An error the CLI reports as one message line and an exit code. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export class UsageError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.usage, options);
    this.name = 'UsageError';
  }
}

export class InputError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.input, options);
    this.name = 'InputError';
  }
}

export class VerificationError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.verification, options);
    this.name = 'VerificationError';
  }
}

export class OutputError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.output, options);
    this.name = 'OutputError';
  }
}

export class ModelError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.model, options);
    this.name = 'ModelError';
  }
}

const IO_CODES = new Set(['EACCES', 'EPERM', 'ENOSPC', 'EROFS', 'EEXIST', 'ENOTDIR', 'EISDIR', 'EMFILE', 'EDQUOT', 'EXDEV', 'EBUSY']);

function chain(e: unknown): unknown[] {
  const out: unknown[] = [];
  let cur: unknown = e;
  while (cur !== undefined && cur !== null && out.length < 8 && !out.includes(cur)) {
    out.push(cur);
    cur = (cur as { cause?: unknown }).cause;
  }
  return out;
}

function nameOf(e: unknown): string {
  return e instanceof Error ? e.name || e.constructor.name : '';
}

function ctorName(e: unknown): string {
  return e instanceof Error ? e.constructor.name : '';
}

/**
 * The exit code of any error thrown while a command ran. Errors of the Silica packages are
 * classified by their class (looked up by name, so no package has to depend on the CLI),
 * following `cause` chains: a PipelineError wrapping a format error is an input error.
 */
export function exitCodeOf(e: unknown): ExitCode {
  const all = chain(e);
  // the most specific reason first, at any depth of the cause chain
  for (const x of all) {
    if (x instanceof CliError) return x.exitCode;
    const n = nameOf(x);
    const c = ctorName(x);
    if (n === 'AbortError' || c === 'AbortError') return EXIT.interrupted;
    if (c === 'SilicaFormatError' || n === 'SilicaFormatError' || c === 'CalibrationDataError' || c === 'TextParseError') return EXIT.input;
    if (c === 'CompressionConfigError') return EXIT.usage;
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string' && IO_CODES.has(code)) return EXIT.output;
  }
  for (const x of all) {
    const c = ctorName(x);
    if (/left an invalid program|fails verification/.test(x instanceof Error ? x.message : '')) return EXIT.verification;
    if (
      c === 'CompressionTargetError' ||
      c === 'MergeError' ||
      c === 'WriteError' ||
      c === 'PipelineError' ||
      c === 'InterpreterError' ||
      c === 'OpTypeError' ||
      c === 'NotPositiveDefiniteError'
    ) {
      return EXIT.model;
    }
  }
  return EXIT.internal;
}

/** The one-line message shown for an error (its own, plus a hint for internal errors). */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
