/**
 * Where the CLI's output goes. Results (tables, the inspect report) go to stdout; progress,
 * notes and warnings to stderr, so `silica … > file` captures only the result and
 * `--json` leaves stdout to one JSON document.
 *
 * Progress: on a TTY a bar redrawn in place (at most every 80 ms) with the count, percent,
 * ETA and the item at hand; otherwise plain lines — the start, every quarter (or every
 * 5 s) and the end — that read well in a CI log. `--quiet` shows neither.
 */
import type { ProgressEvent } from '@silica/ir';
import { formatDuration, formatMs } from './format.js';

/** A writable text stream (process.stdout/stderr, or a test's collector). */
export interface TextStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Everything a command needs from the outside world (replaced in tests). */
export interface CliIO {
  readonly stdout: TextStream;
  readonly stderr: TextStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Relative paths are resolved against this directory. */
  readonly cwd: string;
  /** Fires on Ctrl-C; long work checks it between units. */
  readonly signal?: AbortSignal;
  /** Clock in milliseconds (default: performance.now). */
  readonly now?: () => number;
}

export interface GlobalFlags {
  /** No progress, notes or warnings; results and errors only. */
  readonly quiet: boolean;
  /** One JSON document on stdout instead of text. */
  readonly json: boolean;
  /** Stack traces and debug notes. */
  readonly verbose: boolean;
}

export class Ui {
  readonly io: CliIO;
  readonly flags: GlobalFlags;
  private active: Progress | null = null;

  constructor(io: CliIO, flags: GlobalFlags) {
    this.io = io;
    this.flags = flags;
  }

  /** Whether progress is drawn as a bar (stderr is a terminal that can redraw a line). */
  get tty(): boolean {
    return this.io.stderr.isTTY === true && this.io.env.TERM !== 'dumb';
  }

  now(): number {
    return this.io.now ? this.io.now() : performance.now();
  }

  /** Text results, on stdout (not in --json mode, where the JSON document is the result). */
  result(text: string): void {
    if (this.flags.json) return;
    this.withBarCleared(() => this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`));
  }

  /** A note on stderr (not with --quiet). */
  info(text: string): void {
    if (this.flags.quiet) return;
    this.withBarCleared(() => this.io.stderr.write(`${text}\n`));
  }

  /** Debug detail on stderr, only with --verbose. */
  debug(text: string): void {
    if (!this.flags.verbose || this.flags.quiet) return;
    this.withBarCleared(() => this.io.stderr.write(`${text}\n`));
  }

  /** A warning on stderr (not with --quiet). */
  warn(text: string): void {
    if (this.flags.quiet) return;
    this.withBarCleared(() => this.io.stderr.write(`warning: ${text}\n`));
  }

  /** An error on stderr (always). */
  error(text: string): void {
    this.withBarCleared(() => this.io.stderr.write(`${text}\n`));
  }

  /** The machine-readable result, on stdout, in --json mode. */
  json(value: unknown): void {
    if (!this.flags.json) return;
    this.io.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
  }

  /** A progress reporter for `label` counting `unit`s. */
  progress(label: string, unit = 'items'): Progress {
    this.active?.finish();
    const p = new Progress(this, label, unit, () => {
      if (this.active === p) this.active = null;
    });
    this.active = p;
    return p;
  }

  /**
   * A pipeline `onProgress` callback: one progress reporter per pass (the unit is what the
   * pass counts — weights for the compressors, functions or states for the rewrites).
   */
  pipelineProgress(units: Readonly<Record<string, string>> = {}): (event: ProgressEvent) => void {
    let bar: Progress | null = null;
    return (ev) => {
      const label = `[${ev.passIndex + 1}/${ev.passCount}] ${ev.pass}`;
      if (ev.kind === 'pass-start') {
        bar = this.progress(label, units[ev.pass] ?? 'steps');
      } else if (ev.kind === 'progress') {
        bar ??= this.progress(label, units[ev.pass] ?? 'steps');
        bar.update(ev.done, ev.total, ev.label);
      } else {
        bar?.finish(`${label}: ${ev.report.changed ? 'done' : 'nothing to change'} in ${formatMs(ev.report.ms)}`);
        bar = null;
      }
    };
  }

  /** @internal the bar being drawn clears its line while something else is written. */
  withBarCleared(write: () => void): void {
    const bar = this.active;
    if (bar && this.tty) bar.clearLine();
    write();
    if (bar && this.tty) bar.redraw();
  }
}

/** JSON.stringify replacer: Infinity/NaN (SNR of an exact match) as strings, bigint as numbers. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  if (typeof value === 'bigint') return Number(value);
  return value;
}

const BAR_WIDTH = 24;
const REDRAW_MS = 80;
const PLAIN_EVERY_MS = 5000;

/** One task's progress: a redrawn bar on a TTY, a few plain lines otherwise. */
export class Progress {
  private readonly ui: Ui;
  private readonly label: string;
  private readonly unit: string;
  private readonly onDone: () => void;
  private readonly started: number;
  private done = 0;
  private total = 0;
  private detail = '';
  private lastDraw = -Infinity;
  private lastPlain = -Infinity;
  private lastQuarter = -1;
  private finished = false;
  private drawn = false;

  constructor(ui: Ui, label: string, unit: string, onDone: () => void) {
    this.ui = ui;
    this.label = label;
    this.unit = unit;
    this.onDone = onDone;
    this.started = ui.now();
  }

  /** `done` of `total` units finished; `detail` names the one just done. */
  update(done: number, total: number, detail = ''): void {
    if (this.finished) return;
    this.done = done;
    this.total = total;
    this.detail = detail;
    if (this.ui.flags.quiet) return;
    const now = this.ui.now();
    if (this.ui.tty) {
      if (now - this.lastDraw >= REDRAW_MS || done >= total) {
        this.lastDraw = now;
        this.redraw();
      }
      return;
    }
    if (total <= 1) return; // a one-step task: its finish line says it all
    const quarter = total > 0 ? Math.floor((4 * done) / total) : 0;
    const first = this.lastPlain === -Infinity;
    if (first || quarter > this.lastQuarter || now - this.lastPlain >= PLAIN_EVERY_MS) {
      if (done < total || first) this.ui.io.stderr.write(`${this.line(false)}\n`);
      this.lastPlain = now;
      this.lastQuarter = quarter;
    }
  }

  /** Estimated seconds left (NaN before the first unit is done). */
  eta(): number {
    if (this.done <= 0 || this.total <= 0) return NaN;
    const elapsed = (this.ui.now() - this.started) / 1000;
    return (elapsed / this.done) * (this.total - this.done);
  }

  /** The progress line (with a bar for the terminal). */
  line(bar: boolean): string {
    const pct = this.total > 0 ? Math.floor((100 * this.done) / this.total) : 0;
    const count = `${this.done}/${this.total} ${this.unit}`;
    const eta = this.done < this.total ? `  ETA ${formatDuration(this.eta())}` : '';
    const detail = this.detail ? `  ${this.detail}` : '';
    if (!bar) return `${this.label}: ${count} (${pct}%)${detail}`;
    const filled = this.total > 0 ? Math.round((BAR_WIDTH * this.done) / this.total) : 0;
    const drawn = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
    const text = `${this.label} ${drawn} ${count} ${String(pct).padStart(3)}%${eta}${detail}`;
    const cols = this.ui.io.stderr.columns;
    const width = cols !== undefined && cols >= 40 ? cols : 100; // a terminal without a size reports 0
    return text.length > width - 1 ? `${text.slice(0, Math.max(10, width - 2))}…` : text;
  }

  /** @internal */
  redraw(): void {
    if (this.finished || this.ui.flags.quiet || !this.ui.tty || this.total === 0) return;
    this.ui.io.stderr.write(`\r\x1b[2K${this.line(true)}`);
    this.drawn = true;
  }

  /** @internal */
  clearLine(): void {
    if (this.drawn) this.ui.io.stderr.write('\r\x1b[2K');
  }

  /** Ends the task; `summary` (default: count and time) is printed as a note. */
  finish(summary?: string): void {
    if (this.finished) return;
    this.clearLine();
    this.finished = true;
    this.onDone();
    const took = formatMs(this.ui.now() - this.started);
    const text = summary ?? `${this.label}: ${this.total > 0 ? `${this.done}/${this.total} ${this.unit} ` : ''}in ${took}`;
    this.ui.info(text);
  }
}
