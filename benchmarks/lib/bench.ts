/**
 * What a benchmark suite returns and the helpers suites share: timing with warm-up and
 * median, a same-run memcpy baseline, peak RSS, machine facts.
 *
 * A suite is `benchmarks/suites/<name>.bench.ts` with a default export
 * `(ctx: SuiteContext) => BenchRow[] | Promise<BenchRow[]>`. The harness (`run.ts`) runs
 * each suite in its own Node process, so a suite's peak RSS is its own.
 */
import { execFileSync } from 'node:child_process';
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';

export interface BenchRow {
  /** What was measured, e.g. `fp16→fp32 (bulk)`. */
  readonly name: string;
  /** Problem size in words, e.g. `64 Mi elements`. */
  readonly size: string;
  /** Bytes processed per run (the input side), the numerator of `mbPerSec`. */
  readonly bytes: number;
  readonly runs: number;
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** `bytes` / median time, in MB/s (10^6 bytes per second). */
  readonly mbPerSec: number;
  /** What `ratio` compares against, e.g. `copy (Uint8Array.set) of 128 MiB`. */
  readonly baseline?: string;
  /** median time of this row ÷ median time of the baseline, measured in the same run. */
  readonly ratio?: number;
  /** process.resourceUsage().maxRSS when the row finished, MiB (a high-water mark: rows run smallest first). */
  readonly peakRssMiB: number;
  readonly note?: string;
}

export interface SuiteContext {
  /** `--quick`: shrink problem sizes for a smoke run (results are not written). */
  readonly quick: boolean;
  /** Progress output (stderr), so stdout stays clean. */
  log(message: string): void;
}

export type Suite = (ctx: SuiteContext) => BenchRow[] | Promise<BenchRow[]>;

export interface Timing {
  readonly runs: number;
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly samplesMs: readonly number[];
}

export interface MeasureOptions {
  /** Timed runs (at least 5). */
  readonly repeats?: number;
  /** Untimed runs first (JIT, page faults of fresh buffers). */
  readonly warmup?: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs `fn` `warmup` times untimed, then `repeats` times timed; returns median/min/max. */
export function measure(fn: () => unknown, options: MeasureOptions = {}): Timing {
  const repeats = Math.max(5, options.repeats ?? 7);
  const warmup = options.warmup ?? 2;
  let sink: unknown;
  for (let i = 0; i < warmup; i++) sink = fn();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    sink = fn();
    samples.push(performance.now() - t0);
  }
  keep(sink);
  return { runs: repeats, medianMs: median(samples), minMs: Math.min(...samples), maxMs: Math.max(...samples), samplesMs: samples };
}

/**
 * Times several functions in interleaved rounds (a, b, c, a, b, c, …) so that they all
 * see the same machine conditions: on a shared machine, load that comes and goes then
 * moves every case alike and the ratios between them stay meaningful.
 */
export function measureTogether(fns: ReadonlyArray<() => unknown>, options: MeasureOptions = {}): Timing[] {
  const repeats = Math.max(5, options.repeats ?? 7);
  const warmup = options.warmup ?? 2;
  let sink: unknown;
  for (const fn of fns) for (let i = 0; i < warmup; i++) sink = fn();
  const samples = fns.map((): number[] => []);
  for (let r = 0; r < repeats; r++) {
    fns.forEach((fn, k) => {
      const t0 = performance.now();
      sink = fn();
      samples[k].push(performance.now() - t0);
    });
  }
  keep(sink);
  return samples.map((s) => ({ runs: repeats, medianMs: median(s), minMs: Math.min(...s), maxMs: Math.max(...s), samplesMs: s }));
}

let kept: unknown;
/** Keeps a result reachable so the optimiser cannot drop the work that made it. */
export function keep(x: unknown): void {
  kept = x;
}
export function lastKept(): unknown {
  return kept;
}

export function peakRssMiB(): number {
  // maxRSS is in kilobytes (KiB) on Linux and macOS in Node's resourceUsage.
  return process.resourceUsage().maxRSS / 1024;
}

/** Asks V8 for a full GC when the process runs with --expose-gc (the harness passes it). */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export function row(
  name: string,
  size: string,
  bytes: number,
  t: Timing,
  extra: { baseline?: string; baselineMs?: number; note?: string } = {},
): BenchRow {
  return {
    name,
    size,
    bytes,
    runs: t.runs,
    medianMs: round(t.medianMs, 4),
    minMs: round(t.minMs, 4),
    maxMs: round(t.maxMs, 4),
    mbPerSec: round(bytes / 1e6 / (t.medianMs / 1e3), 1),
    ...(extra.baseline !== undefined && extra.baselineMs !== undefined
      ? { baseline: extra.baseline, ratio: round(t.medianMs / extra.baselineMs, 2) }
      : {}),
    peakRssMiB: round(peakRssMiB(), 1),
    ...(extra.note !== undefined ? { note: extra.note } : {}),
  };
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** `64 Mi`, `1 Mi`, `128 MiB`… for sizes that are powers of two multiples. */
export function binary(n: number, unit = ''): string {
  if (n >= 1 << 30 && n % (1 << 30) === 0) return `${n / (1 << 30)} Gi${unit}`;
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} Mi${unit}`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} Ki${unit}`;
  return `${n} ${unit}`.trim();
}

export interface MachineInfo {
  readonly node: string;
  readonly v8: string;
  readonly platform: string;
  readonly arch: string;
  readonly cpuModel: string;
  readonly cpuCount: number;
  readonly totalMemoryGiB: number;
  readonly date: string;
  readonly commit: string | undefined;
  /** 1-, 5- and 15-minute load averages when the info was taken: other work on the machine skews timings. */
  readonly loadAverage: readonly number[];
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: `${platform()} ${release()}`,
    arch: arch(),
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cpuCount: c.length,
    totalMemoryGiB: round(totalmem() / 2 ** 30, 1),
    date: new Date().toISOString(),
    commit: gitCommit(),
    loadAverage: loadavg().map((x) => round(x, 2)),
  };
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}
