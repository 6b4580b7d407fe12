/**
 * `compression` suite: the weight compressors on a 4096×4096 fp16 weight (MB/s of fp16
 * input, ratio to reading + writing the same bytes in the same run), the same with four
 * weights on a pool of two worker threads, and one end-to-end run on a synthetic package
 * with 2 GiB of fp16 weights (read → compress → write) with its own peak RSS.
 *
 * To add a compressor, push a `CompressionCase` onto `cases`: it gets the single-weight and
 * the four-weight rows.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { FileTensor, Function, Op, type Pass, Program, type Value, createPassContext, readRange, silentLogger, tensorType } from '@silica/ir';
import { WorkerPool } from '@silica/compression';
import quantize from '@silica/quantize';
import prune from '@silica/prune';
import palettize from '@silica/palettize';
import { readMLPackage } from '@silica/mlpackage-reader';
import { writeMLPackage } from '@silica/mlpackage-writer';
import { type BenchRow, type SuiteContext, type Timing, collectGarbage, median, peakRssMiB, round, row } from '../lib/bench.js';

/** One compressor configuration measured by the suite. */
export interface CompressionCase {
  /** Row label, e.g. `quantize int8 per-channel`. */
  readonly name: string;
  /** The pass, running its per-weight math on `workers` (0 = this thread, or a shared pool). */
  readonly pass: (workers: number | WorkerPool) => Pass;
}

export const cases: CompressionCase[] = [
  { name: 'quantize int8 per-channel', pass: (workers) => quantize({ workers }) },
  { name: 'quantize int4 per-block 32', pass: (workers) => quantize({ dtype: 'int4', granularity: 'per_block', blockSize: 32, workers }) },
  { name: 'prune magnitude 50 %', pass: (workers) => prune({ targetSparsity: 0.5, workers }) },
  // palettization: the optimal 1-D k-means (a DP over the distinct fp16 values)
  { name: 'palettize kmeans 4-bit per-tensor', pass: (workers) => palettize({ nbits: 4, workers }) },
  {
    name: 'palettize kmeans 4-bit per-grouped-channel 16',
    pass: (workers) => palettize({ nbits: 4, granularity: 'per_grouped_channel', groupSize: 16, workers }),
  },
  { name: 'palettize kmeans 3-bit per-tensor', pass: (workers) => palettize({ nbits: 3, workers }) },
];

export const description = `
Every row compresses 4096×4096 fp16 weights (32 MiB each, distinct pseudo-random values)
held as lazy FileTensors over a scratch file, so the pass reads them from disk as it
would from a package. *MB/s* counts the fp16 input bytes.

* **read + write 32 MiB (baseline)** / **read + write 128 MiB (baseline)**: \`readRange\`
  of the weight bytes, then \`writeSync\` of the same bytes to a file — what any
  compressor must at least do with the data.
* **<case>, 1 weight, in this thread**: the pass with \`workers: 0\` on a one-weight
  program (select, read, kernel, build the constexpr ops, per-weight error statistics).
* **<case>, 4 weights, 2 workers**: four weights, the kernels on a shared pool of two
  worker threads (started before timing), compared with four times the work in the
  128 MiB baseline. The machine has few cores: this row shows the overlap of reading,
  the kernels and committing, not a many-core speed-up.
* **end to end, 2 GiB package**: a package of 64 such weights (2 GiB of fp16, written
  with \`writeMLPackage\` from lazy tensors) is read with \`readMLPackage\`, quantized
  (int8 per-channel, pool of two workers, compressed tensors spilled to a temp file) and
  written with \`writeMLPackage\`, once, in a fresh process; *peak RSS* is that process's
  high-water mark, which must stay under 1 GiB.

The cases are \`cases\` in \`suites/compression.bench.ts\` (add one to get its rows).
`;

const D = 4096;
const WEIGHT_BYTES = D * D * 2;

/** Writes `count` distinct 4096×4096 fp16 tensors into one file, 1 MiB at a time (small normal values, both signs). */
function scratchWeights(path: string, count: number): void {
  const fd = openSync(path, 'w');
  const chunk = new Uint16Array(1 << 19);
  try {
    for (let l = 0; l < count; l++) {
      for (let c = 0; c < (D * D) / chunk.length; c++) {
        let s = (l * 7919 + c * 104729 + 1) >>> 0;
        for (let i = 0; i < chunk.length; i++) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          // exponents 0x2000..0x2fff (≈ 2^-7 … 2^-4): weight-like magnitudes
          chunk[i] = 0x2000 | ((s >>> 20) & 0xfff) | ((s & 1) << 15);
        }
        writeSync(fd, new Uint8Array(chunk.buffer));
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** x[1, 4096] → linear(w0) → … → linear(w{count-1}), the weights lazy over `scratch`. */
function syntheticProgram(scratch: string, count: number): Program {
  const p = new Program('iOS18');
  const fn = p.addFunction(new Function('main', [{ name: 'x', type: tensorType('fp16', [1, D]) }]));
  let x: Value = fn.inputs[0];
  for (let l = 0; l < count; l++) {
    const w = new FileTensor('fp16', [D, D], scratch, l * WEIGHT_BYTES, WEIGHT_BYTES);
    const c = fn.block.append(new Op({ type: 'const', name: `w${l}`, outputs: [{ name: `w${l}`, type: tensorType('fp16', [D, D]) }], attributes: { val: w } }));
    const lin = fn.block.append(
      new Op({ type: 'linear', name: `lin${l}`, inputs: { x, weight: c.output }, outputs: [{ name: `lin${l}`, type: tensorType('fp16', [1, D]) }] }),
    );
    x = lin.output;
  }
  fn.block.setOutputs([x]);
  return p;
}

async function measureAsync(fn: () => Promise<unknown>, repeats = 5, warmup = 1): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    collectGarbage();
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return { runs: repeats, medianMs: median(samples), minMs: Math.min(...samples), maxMs: Math.max(...samples), samplesMs: samples };
}

function readWriteBaseline(scratch: string, count: number, out: string): Promise<Timing> {
  const buf = new Uint8Array(WEIGHT_BYTES);
  return measureAsync(async () => {
    const fd = openSync(out, 'w');
    try {
      for (let l = 0; l < count; l++) {
        readRange(scratch, l * WEIGHT_BYTES, buf);
        writeSync(fd, buf);
      }
    } finally {
      closeSync(fd);
    }
  }, 7, 2);
}

const ctxOf = (p: Program) => createPassContext({ target: p.target, logger: silentLogger });

// ---------------------------------------------------------------------------------------
// End to end, in a child process (its own peak RSS)

const E2E_ENV = 'SILICA_COMPRESSION_E2E';

interface E2EResult {
  readonly readMs: number;
  readonly compressMs: number;
  readonly writeMs: number;
  readonly totalMs: number;
  readonly peakRssMiB: number;
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly compressed: number;
}

async function e2eChild(pkg: string, out: string, resultFile: string): Promise<void> {
  const pool = new WorkerPool(2);
  try {
    const t0 = performance.now();
    const program = await readMLPackage(pkg);
    const t1 = performance.now();
    const r = await quantize({ workers: pool }).run(program, ctxOf(program));
    const t2 = performance.now();
    await writeMLPackage(program, out, { overwrite: true });
    const t3 = performance.now();
    const result: E2EResult = {
      readMs: t1 - t0,
      compressMs: t2 - t1,
      writeMs: t3 - t2,
      totalMs: t3 - t0,
      peakRssMiB: peakRssMiB(),
      inputBytes: statSync(join(pkg, 'Data/com.apple.CoreML/weights/weight.bin')).size,
      outputBytes: statSync(join(out, 'Data/com.apple.CoreML/weights/weight.bin')).size,
      compressed: Number(r.stats.compressed),
    };
    writeFileSync(resultFile, JSON.stringify(result));
  } finally {
    await pool.close();
  }
}

if (process.env[E2E_ENV] && process.argv[1] === fileURLToPath(import.meta.url)) {
  const { pkg, out, result } = JSON.parse(process.env[E2E_ENV]!) as { pkg: string; out: string; result: string };
  await e2eChild(pkg, out, result);
}

function childArgs(): string[] {
  const args = [...process.execArgv];
  if (!args.includes('--conditions=source')) args.push('--conditions=source');
  if (!args.some((a, i) => a === '--import' && args[i + 1] === 'tsx') && !args.includes('--import=tsx')) args.push('--import', 'tsx');
  return [...args, fileURLToPath(import.meta.url)];
}

// ---------------------------------------------------------------------------------------

export default async function suite(ctx: SuiteContext): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'silica-bench-compression-'));
  const rows: BenchRow[] = [];
  const pool = new WorkerPool(2);
  try {
    const scratch = join(dir, 'scratch.bin');
    scratchWeights(scratch, 4);
    const one = await readWriteBaseline(scratch, 1, join(dir, 'copy.bin'));
    rows.push(row('read + write 32 MiB (baseline)', '[4096, 4096] fp16', WEIGHT_BYTES, one));
    const four = await readWriteBaseline(scratch, 4, join(dir, 'copy.bin'));
    rows.push(row('read + write 128 MiB (baseline)', '4 × [4096, 4096] fp16', 4 * WEIGHT_BYTES, four));
    rmSync(join(dir, 'copy.bin'));

    for (const c of cases) {
      ctx.log(`${c.name}: 1 weight in this thread`);
      let last: Awaited<ReturnType<Pass['run']>> | undefined;
      const t = await measureAsync(async () => {
        const p = syntheticProgram(scratch, 1);
        last = await c.pass(0).run(p, ctxOf(p));
      });
      const snr = last?.stats?.minSnrDb;
      rows.push(
        row(`${c.name}, 1 weight, in this thread`, '[4096, 4096] fp16', WEIGHT_BYTES, t, {
          baseline: 'read + write 32 MiB',
          baselineMs: one.medianMs,
          note: `${round(Number(last?.stats?.bitsPerWeight), 3)} bits/weight, SNR ${round(Number(snr), 1)} dB`,
        }),
      );
    }
    for (const c of cases) {
      ctx.log(`${c.name}: 4 weights on 2 workers`);
      const t = await measureAsync(async () => {
        const p = syntheticProgram(scratch, 4);
        await c.pass(pool).run(p, ctxOf(p));
      });
      rows.push(row(`${c.name}, 4 weights, 2 workers`, '4 × [4096, 4096] fp16', 4 * WEIGHT_BYTES, t, { baseline: 'read + write 128 MiB', baselineMs: four.medianMs }));
    }
    await pool.close();
    rmSync(scratch);
    collectGarbage();

    // end to end on a 2 GiB package
    const layers = ctx.quick ? 4 : 64;
    const big = join(dir, 'big-scratch.bin');
    ctx.log(`writing ${layers} × 32 MiB of scratch weights and a package of them`);
    scratchWeights(big, layers);
    const pkg = join(dir, 'model.mlpackage');
    await writeMLPackage(syntheticProgram(big, layers), pkg);
    rmSync(big);
    const out = join(dir, 'model-int8.mlpackage');
    const resultFile = join(dir, 'e2e.json');
    ctx.log('end to end: read → quantize int8 per-channel → write, in a fresh process');
    const r = spawnSync(process.execPath, childArgs(), {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, [E2E_ENV]: JSON.stringify({ pkg, out, result: resultFile }) },
    });
    if (r.status !== 0) throw new Error(`end-to-end child failed (exit ${r.status ?? r.signal})`);
    const e = JSON.parse(readFileSync(resultFile, 'utf8')) as E2EResult;
    const bytes = layers * WEIGHT_BYTES;
    rows.push({
      name: 'end to end: read → quantize int8 → write',
      size: `${layers} × [4096, 4096] fp16 = ${(bytes / 2 ** 30).toFixed(2)} GiB`,
      bytes,
      runs: 1,
      medianMs: round(e.totalMs, 1),
      minMs: round(e.totalMs, 1),
      maxMs: round(e.totalMs, 1),
      mbPerSec: round(bytes / 1e6 / (e.totalMs / 1e3), 1),
      peakRssMiB: round(e.peakRssMiB, 1),
      note:
        `read ${round(e.readMs / 1e3, 2)} s, compress ${round(e.compressMs / 1e3, 2)} s, write ${round(e.writeMs / 1e3, 2)} s; ` +
        `${e.compressed} weights, weight.bin ${(e.inputBytes / 2 ** 20).toFixed(0)} → ${(e.outputBytes / 2 ** 20).toFixed(0)} MiB; peak RSS of that process`,
    });
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
