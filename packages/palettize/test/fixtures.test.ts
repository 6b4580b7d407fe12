/**
 * Our palettization against coremltools' on the reference fixtures: for every k-means
 * fixture, the MSE of our decompressed weights and of coremltools' (`NAME.dense/`), both
 * against the base fixture's dense fp16 weights (`mlp.dense/`). Ours must never be worse:
 * the scalar k-means is the exact optimum (coremltools uses an optimal 1-D k-means for fp16
 * groups of ≥ 10,000 weights and scikit-learn's Lloyd below that), and rounding the LUT to
 * fp16 is followed by Lloyd steps on the fp16 grid. The table is printed and kept in the
 * package README.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Program } from '@silica/ir';
import palettize, { type PalettizeOptions } from '../src/index.js';
import { ctx, fixtureDense, linearWeight, mseFp16, readFixture } from './helpers.js';

interface Case {
  readonly fixture: string;
  /** The package our pass runs on (the fixture's input in coremltools' run). */
  readonly input: string;
  readonly options: PalettizeOptions;
  /** coremltools' value names of the decompressed weights in `NAME.dense/`. */
  readonly suffix: string;
}

const CASES: readonly Case[] = [
  { fixture: 'mlp_palette_4bit_kmeans', input: 'mlp', options: { nbits: 4 }, suffix: '_palettized' },
  { fixture: 'mlp_palette_4bit_grouped16', input: 'mlp', options: { nbits: 4, granularity: 'per_grouped_channel', groupSize: 16 }, suffix: '_palettized' },
  { fixture: 'mlp_palette_3bit_kmeans', input: 'mlp', options: { nbits: 3 }, suffix: '_palettized' },
  { fixture: 'mlp_ios16_palette_4bit_kmeans', input: 'mlp_ios16', options: { nbits: 4 }, suffix: '_palettized' },
  { fixture: 'mlp_prune50_palette4', input: 'mlp_prune_50', options: { nbits: 4, joint: true }, suffix: '_sparsified' },
];

const WEIGHTS = ['fc1_weight_to_fp16', 'fc2_weight_to_fp16'] as const;
const rows: string[] = [];

afterAll(() => {
  const table = [
    '| fixture | weight | coremltools MSE | Silica MSE | Silica / coremltools | elements that differ |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  console.log(`\nweight MSE against mlp's dense fp16 weights (lower is better)\n\n${table}\n`);
});

describe('k-means fixtures: our MSE ≤ coremltools’ MSE on the same weights', () => {
  it.each(CASES)('$fixture', async ({ fixture, input, options, suffix }) => {
    const program: Program = readFixture(input);
    const r = await palettize({ ...options, workers: 0 }).run(program, ctx(program));
    expect(r.weights.length).toBe(2);
    let oursTotal = 0;
    let theirsTotal = 0;
    for (const w of WEIGHTS) {
      const base = fixtureDense('mlp', w);
      const theirs = fixtureDense(fixture, `${w}${suffix}`);
      const ours = linearWeight(program, w).tensor.values() as Uint16Array;
      expect(ours.length).toBe(base.bits.length);
      const mOurs = mseFp16(ours, base.bits);
      const mTheirs = mseFp16(theirs.bits, base.bits);
      let differ = 0;
      for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs.bits[i]) differ++;
      rows.push(
        `| ${fixture} | ${w.replace('_to_fp16', '')} | ${mTheirs.toPrecision(10)} | ${mOurs.toPrecision(10)} | ${(mOurs / mTheirs).toPrecision(10)} | ${differ} of ${ours.length} |`,
      );
      expect(mOurs).toBeLessThanOrEqual(mTheirs);
      oursTotal += mOurs;
      theirsTotal += mTheirs;
    }
    expect(oursTotal).toBeLessThanOrEqual(theirsTotal);
  });
});

describe('uniform fixture', () => {
  it('mlp_palette_2bit_uniform: the same decompressed weights as coremltools, bit for bit', async () => {
    const program = readFixture('mlp');
    await palettize({ mode: 'uniform', nbits: 2, workers: 0 }).run(program, ctx(program));
    for (const w of WEIGHTS) {
      const theirs = fixtureDense('mlp_palette_2bit_uniform', `${w}_palettized`);
      const ours = linearWeight(program, w).tensor.values() as Uint16Array;
      expect(Buffer.from(ours.buffer, ours.byteOffset, ours.byteLength).equals(Buffer.from(theirs.bits.buffer, theirs.bits.byteOffset, theirs.bits.byteLength))).toBe(true);
    }
  });
});
