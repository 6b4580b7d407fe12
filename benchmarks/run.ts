/**
 * Benchmark harness: `npm run bench [-- <filter>…] [--quick] [--list]`.
 *
 * Discovers `benchmarks/suites/*.bench.ts`, runs each matching suite in its own Node
 * process (clean heap, its own peak RSS, `--expose-gc`), prints one table and writes
 * `benchmarks/results/<suite>.json` and `benchmarks/results/<suite>.md` (machine info,
 * the rows, how to read them). `--quick` shrinks the problem sizes and writes nothing.
 *
 * Run with `node --conditions=source --import tsx benchmarks/run.ts` so `@silica/*`
 * imports resolve to each package's `src/` (the root `bench` script does this).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BenchRow, type MachineInfo, type Suite, machineInfo, peakRssMiB, round } from './lib/bench.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SUITES_DIR = join(HERE, 'suites');
const RESULTS_DIR = join(HERE, 'results');
const SUFFIX = '.bench.ts';

/** What a suite run produces (the JSON file's content). */
export interface SuiteResult {
  readonly suite: string;
  readonly quick: boolean;
  readonly machine: MachineInfo;
  /** Load averages when the suite started (`machine.loadAverage` is taken when it ended). */
  readonly loadAverageBefore: readonly number[];
  readonly durationSec: number;
  /** Peak RSS of the suite's whole process, MiB. */
  readonly peakRssMiB: number;
  /** The suite's own explanation of its rows (markdown), from `export const description`. */
  readonly description: string | undefined;
  readonly rows: readonly BenchRow[];
}

interface Args {
  readonly filters: string[];
  readonly quick: boolean;
  readonly list: boolean;
  readonly help: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const filters: string[] = [];
  let quick = false;
  let list = false;
  let help = false;
  for (const a of argv) {
    if (a === '--quick') quick = true;
    else if (a === '--list') list = true;
    else if (a === '--help' || a === '-h') help = true;
    else if (a.startsWith('-')) throw new Error(`unknown option ${a} (options: --quick, --list, --help)`);
    else filters.push(a);
  }
  return { filters, quick, list, help };
}

export function discoverSuites(dir = SUITES_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(SUFFIX))
    .map((f) => f.slice(0, -SUFFIX.length))
    .sort();
}

// ---------------------------------------------------------------------------------------
// Child: run one suite, write its result as JSON.

async function runChild(suite: string, outPath: string, quick: boolean): Promise<void> {
  const mod = (await import(pathToFileURL(join(SUITES_DIR, suite + SUFFIX)).href)) as {
    default?: Suite;
    description?: string;
  };
  if (typeof mod.default !== 'function') throw new Error(`${suite}${SUFFIX} has no default-exported suite function`);
  const loadBefore = loadavg().map((x) => round(x, 2));
  const t0 = performance.now();
  const rows = await mod.default({ quick, log: (m) => process.stderr.write(`  [${suite}] ${m}\n`) });
  const result: SuiteResult = {
    suite,
    quick,
    machine: machineInfo(),
    loadAverageBefore: loadBefore,
    durationSec: round((performance.now() - t0) / 1e3, 1),
    peakRssMiB: round(peakRssMiB(), 1),
    description: mod.description,
    rows,
  };
  writeFileSync(outPath, JSON.stringify(result, null, 2) + '\n');
}

// ---------------------------------------------------------------------------------------
// Parent: spawn one child per suite, print, write results.

function childArgs(): string[] {
  const args = [...process.execArgv];
  if (!args.some((a) => a === '--conditions=source' || a === '-C=source')) args.push('--conditions=source');
  if (!args.some((a, i) => a === '--import' && args[i + 1] === 'tsx') && !args.includes('--import=tsx')) args.push('--import', 'tsx');
  if (!args.includes('--expose-gc')) args.push('--expose-gc');
  return [...args, fileURLToPath(import.meta.url)];
}

function runSuiteInChild(suite: string, quick: boolean): SuiteResult {
  const dir = mkdtempSync(join(tmpdir(), 'silica-bench-'));
  const out = join(dir, `${suite}.json`);
  try {
    const r = spawnSync(process.execPath, childArgs(), {
      stdio: 'inherit',
      env: { ...process.env, SILICA_BENCH_CHILD: suite, SILICA_BENCH_OUT: out, SILICA_BENCH_QUICK: quick ? '1' : '' },
    });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`suite ${suite} failed (exit ${r.status ?? r.signal})`);
    return JSON.parse(readFileSync(out, 'utf8')) as SuiteResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (x: number, digits = 1): string =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Milliseconds with enough digits to be read: 3 decimals below 1 ms, 2 above. */
const fmtMs = (x: number): string => fmt(x, x < 1 ? 3 : 2);

function ratioText(r: BenchRow): string {
  return r.ratio === undefined ? '' : `${fmt(r.ratio, 2)}× ${r.baseline ?? ''}`.trim();
}

/** A plain-text table, columns padded. */
export function textTable(header: readonly string[], body: readonly (readonly string[])[], rightAlign: readonly boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (rightAlign[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function printResult(r: SuiteResult): void {
  const header = ['case', 'size', 'median ms', 'MB/s', 'vs baseline', 'peak RSS MiB'];
  const body = r.rows.map((x) => [x.name, x.size, fmtMs(x.medianMs), fmt(x.mbPerSec, 0), ratioText(x), fmt(x.peakRssMiB, 0)]);
  process.stdout.write(
    `\n== ${r.suite} (${r.durationSec} s, peak RSS ${fmt(r.peakRssMiB, 0)} MiB, load ${r.loadAverageBefore[0]} → ${r.machine.loadAverage[0]}${r.quick ? ', --quick' : ''})\n`,
  );
  process.stdout.write(textTable(header, body, [false, false, true, true, false, true]) + '\n');
}

export function markdown(r: SuiteResult): string {
  const m = r.machine;
  const lines = [
    `# Benchmark results: \`${r.suite}\``,
    '',
    `Recorded ${m.date}${m.commit ? ` at commit \`${m.commit}\`` : ''} by \`npm run bench -- ${r.suite}\`.`,
    '',
    '| machine | |',
    '|---|---|',
    `| Node | ${m.node} (V8 ${m.v8}) |`,
    `| CPU | ${m.cpuModel} × ${m.cpuCount} |`,
    `| memory | ${m.totalMemoryGiB} GiB |`,
    `| OS | ${m.platform} ${m.arch} |`,
    `| load average (1/5/15 min) | ${r.loadAverageBefore.join(' / ')} at start, ${m.loadAverage.join(' / ')} at end (${m.cpuCount} CPUs) |`,
    `| suite time | ${r.durationSec} s |`,
    `| suite peak RSS | ${fmt(r.peakRssMiB, 0)} MiB |`,
    '',
    '| case | size | runs | median ms | min ms | max ms | MB/s | vs baseline | peak RSS MiB |',
    '|---|---|--:|--:|--:|--:|--:|---|--:|',
    ...r.rows.map(
      (x) =>
        `| ${x.name} | ${x.size} | ${x.runs} | ${fmtMs(x.medianMs)} | ${fmtMs(x.minMs)} | ${fmtMs(x.maxMs)} | ${fmt(x.mbPerSec, 0)} | ${ratioText(x)} | ${fmt(x.peakRssMiB, 0)} |`,
    ),
    '',
    'How to read: *MB/s* is the bytes a case consumes per run (its input side) divided by the',
    'median time, in 10^6 bytes per second. *vs baseline* is the case\'s median time divided by',
    'the median time of the named baseline, measured in the same process and run: `2.00× copy`',
    'means twice as long as copying the same bytes. *peak RSS* is the process high-water mark when',
    'the row finished; cases run smallest first, so each row\'s figure is dominated by that case.',
  ];
  const notes = r.rows.filter((x) => x.note).map((x) => `* **${x.name}, ${x.size}**: ${x.note}`);
  if (r.description) lines.push('', '## About this suite', '', r.description.trim());
  if (notes.length) lines.push('', '## Notes', '', ...notes);
  return lines.join('\n') + '\n';
}

function writeResult(r: SuiteResult): string[] {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = join(RESULTS_DIR, `${r.suite}.json`);
  const md = join(RESULTS_DIR, `${r.suite}.md`);
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(md, markdown(r));
  return [json, md];
}

async function main(): Promise<number> {
  const child = process.env.SILICA_BENCH_CHILD;
  if (child) {
    await runChild(child, process.env.SILICA_BENCH_OUT ?? join(tmpdir(), `${child}.json`), process.env.SILICA_BENCH_QUICK === '1');
    return 0;
  }
  const args = parseArgs(process.argv.slice(2));
  const all = discoverSuites();
  if (args.help) {
    process.stdout.write(
      'usage: npm run bench [-- <filter>…] [--quick] [--list]\n' +
        '  <filter>  run suites whose name contains it (default: all)\n' +
        '  --quick   small problem sizes, print only (no results files)\n' +
        `  --list    list suites (${all.join(', ')})\n`,
    );
    return 0;
  }
  if (args.list) {
    process.stdout.write(all.join('\n') + '\n');
    return 0;
  }
  const chosen = args.filters.length ? all.filter((s) => args.filters.some((f) => s.includes(f))) : all;
  if (chosen.length === 0) {
    process.stderr.write(`no suite matches ${args.filters.join(', ')} (suites: ${all.join(', ')})\n`);
    return 1;
  }
  let failed = 0;
  for (const suite of chosen) {
    process.stderr.write(`running ${suite}${args.quick ? ' (--quick)' : ''}…\n`);
    try {
      const r = runSuiteInChild(suite, args.quick);
      printResult(r);
      if (!args.quick) {
        const files = writeResult(r);
        process.stdout.write(`wrote ${files.map((f) => relative(process.cwd(), f)).join(', ')}\n`);
      }
    } catch (e) {
      failed++;
      process.stderr.write(`${(e as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && basename(process.argv[1]) === basename(fileURLToPath(import.meta.url))) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
