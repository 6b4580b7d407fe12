/**
 * `calibrate` suite: the cost of layer-wise GPTQ on one large linear layer, against the
 * layer's own forward pass through the interpreter, and the quality figures of every
 * calibrated algorithm against its plain pass on the two test models.
 */
import { createSession } from '@silica/interpreter';
import { type Program, buildProgram, cloneProgram, createPassContext, tensorFromValues, tensorType } from '@silica/ir';
import calibrate, { HessianAccumulator, gptq } from '@silica/calibrate';
import { CLAIMS, type Comparison, run, settings, table } from '../../packages/calibrate/test/quality.js';
import { type BenchRow, type SuiteContext, type Timing, collectGarbage, keep, measure, row } from '../lib/bench.js';
import { normalFloats } from '@silica/test-support';

const BASE_DESCRIPTION = `
**Per-layer cost.** One fp16 \`linear\` of D×D (D = 4096; \`--quick\`: 1024) calibrated with
GPTQ int4 per-block(32) from S samples of T tokens (S = 128, T = 512; \`--quick\`: 16 × 128).
The activations are correlated (16 latent factors) with 8 outlier channels ×10, seeded.

* **forward, one sample** — the baseline: \`session.predict\` of the one-op fp16 program on
  one T×D sample (the interpreter's GEMM, input conversion and fp16 rounding included).
* **Hessian accumulation, one sample** — \`HessianAccumulator.addRows\` of the T×D
  activations: the float64 upper-triangle SYRK (D²·T/2 multiply-adds, half the forward's).
* **GPTQ solve** — \`gptq()\` once the Hessian is complete: damping, the inverse Cholesky
  factor (two D³/3 kernels) and the column sweep with lazy batch updates (R·C²/2).
* **layer calibration, S samples** — S × the Hessian row + the solve, against S × the
  forward row: *the cost of calibrating the layer as a multiple of running it over the
  calibration set*. At full size this row is derived from the medians above (an end-to-end
  run would take half an hour on a 2-core machine); the **calibrate pass end-to-end** row
  measures the real pass (session, capture through the interpreter, Hessian, GPTQ, emission)
  with fewer samples, and at \`--quick\` size with all S.

Timed rows of the large cases run once or twice (the \`runs\` column); the others take the
median of at least 5.

**Quality.** Each calibrated algorithm against its plain pass on held-out data
(\`packages/calibrate/test/quality.ts\`: a 64→256→64 GELU MLP and a 2-layer pre-norm
transformer, correlated inputs with outlier channels, 32 calibration and 16 held-out
samples of 16 tokens). *median ms* is the calibrated pass's wall time (one run), *vs
baseline* its time over the plain pass's, and the note gives the output SNR and cosine of
both against the uncompressed model, and their sizes.
`;

/**
 * The suite's description for the results page. The harness reads it after the suite ran,
 * so the quality comparisons measured in this run are appended as a table (an ES module
 * export is a live binding).
 */
export let description = BASE_DESCRIPTION;

/** Deterministic normals. */
const normals = (n: number, seed: number, sigma = 1): Float32Array => normalFloats(n, seed, sigma);

/** T×D activations: 16 latent factors, 8 outlier channels ×10, a little noise. */
function activations(T: number, D: number, seed: number, mix: Float32Array): Float32Array {
  const L = 16;
  const z = normals(T * L, seed);
  const x = normals(T * D, seed + 1, 0.1);
  for (let t = 0; t < T; t++) {
    for (let l = 0; l < L; l++) {
      const zl = z[t * L + l];
      const m = l * D;
      const o = t * D;
      for (let d = 0; d < D; d++) x[o + d] += zl * mix[m + d];
    }
  }
  for (let t = 0; t < T; t++) for (let k = 0; k < 8; k++) x[t * D + ((k * 613) % D)] *= 10;
  return x;
}

function once(ms: number[]): Timing {
  const sorted = [...ms].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return {
    runs: ms.length,
    medianMs: sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2,
    minMs: sorted[0],
    maxMs: sorted[sorted.length - 1],
    samplesMs: ms,
  };
}

async function timed<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

async function layerRows(ctx: SuiteContext): Promise<BenchRow[]> {
  const D = ctx.quick ? 1024 : 4096;
  const T = ctx.quick ? 128 : 512;
  const S = ctx.quick ? 16 : 128;
  const endToEndSamples = ctx.quick ? S : 4;
  const size = `${D}×${D}, ${T} tokens`;
  ctx.log(`building the ${D}×${D} layer and ${endToEndSamples} samples`);
  const weight = tensorFromValues('fp16', [D, D], normals(D * D, 7, 1 / Math.sqrt(D)));
  const program: Program = buildProgram('iOS18', (p) =>
    p.function('main', { x: tensorType('fp16', [T, D]) }, (b, { x }) => b.linear({ x, weight: b.const(weight, { name: 'w' }) }, { name: 'y' })),
  );
  const mix = normals(16 * D, 3, 1);
  const samples = Array.from({ length: endToEndSamples }, (_, i) => ({ x: { shape: [T, D], data: activations(T, D, 100 + i, mix) } }));

  ctx.log('forward, one sample');
  const session = createSession(program);
  const fwd = measure(() => session.predict(samples[0]), { repeats: ctx.quick ? 7 : 5, warmup: 1 });
  const rows: BenchRow[] = [row('forward (session.predict), one sample', size, T * D * 2, fwd, { note: `${((2 * T * D * D) / 1e6 / fwd.medianMs).toFixed(2)} GFLOP/s` })];

  ctx.log('Hessian accumulation, one sample');
  const acc = new HessianAccumulator(D);
  const hess = measure(() => acc.addRows(samples[0].x.data, T), { repeats: 5, warmup: 1 });
  rows.push(row('Hessian accumulation, one sample', size, T * D * 4, hess, { baseline: 'forward, one sample', baselineMs: fwd.medianMs, note: `${((T * D * D) / 1e6 / hess.medianMs).toFixed(2)} G multiply-adds/s (float64 SYRK)` }));
  collectGarbage();

  ctx.log('GPTQ solve');
  const h = acc.hessian();
  const w = Float64Array.from(weight.toFloat32());
  const columnGroups = Int32Array.from({ length: D }, (_, c) => c >> 5);
  const solveRuns: number[] = [];
  for (let i = 0; i < (ctx.quick ? 3 : 1); i++) {
    const { ms, value } = await timed(() => gptq(w, D, D, h, { dtype: 'int4', mode: 'linear_symmetric', floatDType: 'fp16', granularity: 'per_block', columnGroups, groupCount: D / 32 }));
    keep(value);
    if (!(value.loss > 0)) throw new Error('GPTQ produced no quantization error: the benchmark is broken');
    solveRuns.push(ms);
    collectGarbage();
  }
  const solve = once(solveRuns);
  rows.push(row('GPTQ solve (damping, inverse Cholesky, sweep)', `${D}×${D}`, D * D * 8, solve, { baseline: 'forward, one sample', baselineMs: fwd.medianMs }));

  const layerMs = S * hess.medianMs + solve.medianMs;
  rows.push(
    row(`layer calibration, ${S} samples (derived)`, `${size} × ${S}`, S * T * D * 4, once([layerMs]), {
      baseline: `${S} forward passes`,
      baselineMs: S * fwd.medianMs,
      note: `${S} × Hessian accumulation + one GPTQ solve = ${(layerMs / 1e3).toFixed(1)} s, against ${((S * fwd.medianMs) / 1e3).toFixed(1)} s for ${S} forward passes of the layer`,
    }),
  );

  ctx.log(`calibrate pass end-to-end, ${endToEndSamples} samples`);
  const e2e: number[] = [];
  for (let i = 0; i < (ctx.quick ? 3 : 1); i++) {
    const p = cloneProgram(program);
    const { ms, value } = await timed(() =>
      calibrate({ algorithm: 'gptq', config: { dtype: 'int4', granularity: 'per_block', blockSize: 32 }, samples, nSamples: endToEndSamples }).run(p, createPassContext({ target: p.target })),
    );
    if (!value.changed) throw new Error('the calibrate pass changed nothing: the benchmark is broken');
    e2e.push(ms);
    collectGarbage();
  }
  rows.push(
    row(`calibrate pass end-to-end, ${endToEndSamples} samples`, `${size} × ${endToEndSamples}`, endToEndSamples * T * D * 2, once(e2e), {
      baseline: `${endToEndSamples} forward passes`,
      baselineMs: endToEndSamples * fwd.medianMs,
      note: 'session creation, capture (the forward passes themselves), Hessian, GPTQ, constexpr emission',
    }),
  );
  return rows;
}

async function qualityRows(ctx: SuiteContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const comparisons: Comparison[] = [];
  const [mlpSetting, transformerSetting] = settings();
  const plan: Array<[typeof mlpSetting, (typeof CLAIMS)[number]]> = ctx.quick
    ? [[mlpSetting, 'gptq-int4-channel']]
    : [
        ...(['gptq-int4-channel', 'gptq-int4-block', 'sparsegpt-40', 'skm-3bit', 'skm-3bit-grouped', 'mixed-3bit'] as const).map((c) => [mlpSetting, c] as [typeof mlpSetting, (typeof CLAIMS)[number]]),
        ...CLAIMS.map((c) => [transformerSetting, c] as [typeof mlpSetting, (typeof CLAIMS)[number]]),
      ];
  for (const [setting, claim] of plan) {
    ctx.log(`quality: ${setting.name}, ${claim}`);
    const r: Comparison = await run(setting, claim);
    comparisons.push(r);
    const f = (x: number, d = 2): string => x.toFixed(d);
    rows.push(
      row(`${r.calibratedLabel} vs ${r.baselineLabel}`, setting.name, 0, once([r.calibrated.ms]), {
        baseline: 'plain pass',
        baselineMs: r.baseline.ms,
        note: `held-out SNR ${f(r.calibrated.snr)} dB vs ${f(r.baseline.snr)} dB (**${r.calibrated.snr >= r.baseline.snr ? '+' : ''}${f(r.calibrated.snr - r.baseline.snr)} dB**), cosine ${f(r.calibrated.cosine, 5)} vs ${f(r.baseline.cosine, 5)}, ${f(r.calibrated.bitsPerWeight, 3)} vs ${f(r.baseline.bitsPerWeight, 3)} bits/weight`,
      }),
    );
  }
  description = `${BASE_DESCRIPTION.trim()}\n\n### Quality table (this run)\n\nHeld-out output SNR / cosine against the uncompressed model; *gain* = calibrated − baseline SNR.\n\n${table(comparisons)}\n`;
  return rows;
}

export default async function calibrateSuite(ctx: SuiteContext): Promise<BenchRow[]> {
  const quality = await qualityRows(ctx);
  collectGarbage();
  const layer = await layerRows(ctx);
  return [...layer, ...quality];
}
