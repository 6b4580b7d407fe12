/**
 * The quality comparisons of the README and of `benchmarks/results/calibrate.md`: each
 * calibrated algorithm against its plain counterpart at the same size, on a held-out set,
 * measured with the interpreter (SNR and cosine of the model output against the original
 * model's). Used by `quality.test.ts` (which asserts the margins) and by the benchmark suite
 * (which records the figures).
 */
import { evaluate } from '@silica/interpreter';
import { type Pass, type Program, cloneProgram, createPassContext } from '@silica/ir';
import palettize from '@silica/palettize';
import prune from '@silica/prune';
import quantize from '@silica/quantize';
import calibrate, { type CalibrationResult } from '../src/index.js';
import { featureSpace, mlp, samplesOf, transformer } from './models.js';

export interface Setting {
  readonly name: string;
  readonly program: Program;
  readonly calibration: ReturnType<typeof samplesOf>;
  readonly heldOut: ReturnType<typeof samplesOf>;
}

/** The two test models with 32 calibration samples and 16 held-out samples of 16 tokens. */
export function settings(): Setting[] {
  const space = featureSpace(64, 5);
  return [
    { name: 'MLP 64→256→64', program: mlp({ inputScale: space.scale }), calibration: samplesOf(space, [16, 64], 32, 1), heldOut: samplesOf(space, [16, 64], 16, 2) },
    { name: '2-layer transformer', program: transformer(), calibration: samplesOf(space, [1, 16, 64], 32, 1), heldOut: samplesOf(space, [1, 16, 64], 16, 2) },
  ];
}

export interface Measured {
  readonly snr: number;
  readonly cosine: number;
  /** Const bytes of the compressed weights. */
  readonly bytes: number;
  readonly bitsPerWeight: number;
  readonly ms: number;
}

export async function measure(setting: Setting, pass: Pass): Promise<Measured> {
  const p = cloneProgram(setting.program);
  const t0 = performance.now();
  const r = (await pass.run(p, createPassContext({ target: p.target }))) as CalibrationResult;
  const ms = performance.now() - t0;
  const out = r.program ?? p;
  const m = Object.values(evaluate(setting.program, out, setting.heldOut).metrics)[0];
  return { snr: m.snr, cosine: m.cosine, bytes: Number(r.stats?.bytesAfter ?? 0), bitsPerWeight: Number(r.stats?.bitsPerWeight ?? 0), ms };
}

export interface Comparison {
  readonly setting: string;
  readonly claim: string;
  readonly calibrated: Measured;
  readonly baseline: Measured;
  readonly calibratedLabel: string;
  readonly baselineLabel: string;
}

/** Calibrated vs plain, one row. */
async function compare(s: Setting, claim: string, calibratedLabel: string, cal: Pass, baselineLabel: string, base: Pass): Promise<Comparison> {
  return { setting: s.name, claim, calibratedLabel, calibrated: await measure(s, cal), baselineLabel, baseline: await measure(s, base) };
}

export const CLAIMS = ['gptq-int4-channel', 'gptq-int4-block', 'sparsegpt-40', 'skm-3bit', 'skm-3bit-grouped', 'mixed-3bit', 'mixed-3bit-plain', 'mixed-2bit'] as const;
export type Claim = (typeof CLAIMS)[number];

/** One comparison of `claim` on `s`. */
export async function run(s: Setting, claim: Claim): Promise<Comparison> {
  const samples = s.calibration;
  switch (claim) {
    case 'gptq-int4-channel':
      return compare(s, claim, 'GPTQ int4 per-channel', calibrate({ algorithm: 'gptq', config: { dtype: 'int4' }, samples }), 'RTN (quantize)', quantize({ dtype: 'int4', workers: 0 }));
    case 'gptq-int4-block': {
      const config = { dtype: 'int4', granularity: 'per_block', blockSize: 32 } as const;
      return compare(s, claim, 'GPTQ int4 per-block(32), act order', calibrate({ algorithm: 'gptq', config, samples, actOrder: true }), 'RTN (quantize)', quantize({ ...config, workers: 0 }));
    }
    case 'sparsegpt-40':
      return compare(s, claim, 'SparseGPT 40 %', calibrate({ algorithm: 'sparsegpt', config: { targetSparsity: 0.4 }, samples }), 'magnitude (prune)', prune({ targetSparsity: 0.4, workers: 0 }));
    case 'skm-3bit':
      return compare(s, claim, 'sensitive k-means 3-bit', calibrate({ algorithm: 'sensitive_kmeans', config: { nbits: 3 }, samples }), 'k-means (palettize)', palettize({ nbits: 3, workers: 0 }));
    case 'skm-3bit-grouped': {
      const config = { nbits: 3, granularity: 'per_grouped_channel', groupSize: 16 } as const;
      return compare(s, claim, 'sensitive k-means 3-bit grouped(16)', calibrate({ algorithm: 'sensitive_kmeans', config, samples }), 'k-means (palettize)', palettize({ ...config, workers: 0 }));
    }
    case 'mixed-3bit':
    case 'mixed-2bit': {
      const nbits = claim === 'mixed-3bit' ? 3 : 2;
      // the budget: exactly the size of uniform sensitive k-means at that width
      const uniform = await measure(s, calibrate({ algorithm: 'sensitive_kmeans', config: { nbits }, samples }));
      const mixed = await measure(s, calibrate({ algorithm: 'mixed_bit', config: { targetBitsPerWeight: uniform.bitsPerWeight }, samples }));
      return { setting: s.name, claim, calibratedLabel: `mixed-bit ≤ ${uniform.bitsPerWeight.toFixed(3)} bits/weight`, calibrated: mixed, baselineLabel: `uniform ${nbits}-bit sensitive k-means`, baseline: uniform };
    }
    case 'mixed-3bit-plain': {
      const uniform = await measure(s, palettize({ nbits: 3, workers: 0 }));
      const mixed = await measure(s, calibrate({ algorithm: 'mixed_bit', config: { targetBitsPerWeight: uniform.bitsPerWeight, weighting: 'none' }, samples }));
      return { setting: s.name, claim, calibratedLabel: `mixed-bit k-means ≤ ${uniform.bitsPerWeight.toFixed(3)} bits/weight`, calibrated: mixed, baselineLabel: 'uniform 3-bit k-means (palettize)', baseline: uniform };
    }
  }
}

/** A markdown table of comparisons. */
export function table(rows: readonly Comparison[]): string {
  const f = (m: Measured): string => `${m.snr.toFixed(2)} dB / ${m.cosine.toFixed(5)}`;
  return [
    '| model | calibrated | SNR / cosine | baseline | SNR / cosine | gain | bits/weight (cal. vs base) |',
    '|---|---|--:|---|--:|--:|--:|',
    ...rows.map(
      (r) =>
        `| ${r.setting} | ${r.calibratedLabel} | ${f(r.calibrated)} | ${r.baselineLabel} | ${f(r.baseline)} | **+${(r.calibrated.snr - r.baseline.snr).toFixed(2)} dB** | ${r.calibrated.bitsPerWeight.toFixed(3)} vs ${r.baseline.bitsPerWeight.toFixed(3)} |`,
    ),
  ].join('\n');
}
