import { describe, expect, it } from 'vitest';
import { fp16BitsToNumber, numberToFp16Bits } from '@silica/ir';
import { nearestEntry, weightedHistogram, weightedLut } from '../src/index.js';
import { normals, rng } from './models.js';

const toFp16 = (x: number): number => fp16BitsToNumber(numberToFp16Bits(x));

/** Minimum weighted SSE over all partitions of sorted values into ≤ k contiguous runs (brute force). */
function bruteForce(values: Float64Array, weights: Float64Array, k: number): number {
  const n = values.length;
  const sse = (a: number, b: number): number => {
    let sw = 0;
    let swx = 0;
    for (let i = a; i < b; i++) {
      sw += weights[i];
      swx += weights[i] * values[i];
    }
    const m = swx / sw;
    let s = 0;
    for (let i = a; i < b; i++) s += weights[i] * (values[i] - m) ** 2;
    return s;
  };
  const best = (start: number, parts: number): number => {
    if (start === n) return 0;
    if (parts === 1) return sse(start, n);
    let b = Infinity;
    for (let end = start + 1; end <= n; end++) b = Math.min(b, sse(start, end) + best(end, parts - 1));
    return b;
  };
  return best(0, k);
}

function weightedCost(values: ArrayLike<number>, weights: ArrayLike<number>, lut: Float64Array, used: number): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += weights[i] * (values[i] - lut[nearestEntry(lut, used, values[i])]) ** 2;
  return s;
}

describe('weightedHistogram', () => {
  it('merges equal values (±0 alike) and adds their sensitivities; the fp16 path equals the sorting path', () => {
    const values = [0.5, -0.25, 0, -0, 0.5, 1.5, -0.25];
    const s = [1, 2, 3, 4, 5, 6, 7];
    const a = weightedHistogram(values, s);
    expect(Array.from(a.values)).toEqual([-0.25, 0, 0.5, 1.5]);
    expect(Array.from(a.weights)).toEqual([9, 7, 6, 6]);
    const many = Array.from(normals(3000, 4, 0.3), toFp16);
    const sens = Array.from({ length: 3000 }, (_, i) => 1 + (i % 5));
    const sorted = weightedHistogram(many, sens, false);
    const binned = weightedHistogram(many, sens, true);
    expect(Array.from(binned.values)).toEqual(Array.from(sorted.values));
    expect(Array.from(binned.weights)).toEqual(Array.from(sorted.weights));
  });

  it('rejects non-positive sensitivities', () => {
    expect(() => weightedHistogram([1, 2], [1, 0])).toThrow('sensitivity 1 is 0');
  });
});

describe('weightedLut', () => {
  it.each([2, 3, 4])('is the optimal weighted %i-means of a small histogram (brute force)', (k) => {
    const u = rng(k);
    const values = Float64Array.from({ length: 9 }, (_, i) => i + u() * 0.9).sort();
    const weights = Float64Array.from({ length: 9 }, () => 0.1 + 5 * u());
    const fit = weightedLut({ values, weights }, k, (x) => x);
    expect(fit.cost).toBeCloseTo(bruteForce(values, weights, k), 9);
    expect(weightedCost(values, weights, fit.lut, fit.used)).toBeCloseTo(fit.cost, 9);
  });

  it('spends entries on the sensitive values: lower weighted error than the unweighted LUT', () => {
    const values = Array.from(normals(4000, 9, 1), toFp16);
    // small values are 50× more sensitive (as weights on outlier channels)
    const sens = values.map((v) => (Math.abs(v) < 0.3 ? 50 : 1));
    const weighted = weightedLut(weightedHistogram(values, sens, true), 8, toFp16);
    const plain = weightedLut(weightedHistogram(values, values.map(() => 1), true), 8, toFp16);
    const cw = weightedCost(values, sens, weighted.lut, weighted.used);
    const cp = weightedCost(values, sens, plain.lut, plain.used);
    expect(cw).toBeLessThan(0.6 * cp);
    // LUT entries are fp16 values, ascending
    for (let i = 0; i < 8; i++) expect(weighted.lut[i]).toBe(toFp16(weighted.lut[i]));
    for (let i = 1; i < 8; i++) expect(weighted.lut[i]).toBeGreaterThanOrEqual(weighted.lut[i - 1]);
  });

  it('uses the distinct values themselves when there are no more than entries, padding with 0', () => {
    const fit = weightedLut({ values: Float64Array.from([-1, 0.5, 2]), weights: Float64Array.from([1, 1, 1]) }, 4, (x) => x);
    expect(Array.from(fit.lut)).toEqual([-1, 0.5, 2, 0]);
    expect(fit.used).toBe(3);
    expect(fit.cost).toBe(0);
  });
});

describe('nearestEntry', () => {
  it('finds the nearest of the used ascending entries, ties to the lower one', () => {
    const lut = Float64Array.from([-1, 0, 0.5, 2, 0, 0]);
    const brute = (x: number): number => {
      let b = 0;
      for (let i = 1; i < 4; i++) if (Math.abs(lut[i] - x) < Math.abs(lut[b] - x)) b = i;
      return b;
    };
    for (const x of [-5, -1, -0.5, -0.2, 0, 0.25, 0.3, 1.25, 1.3, 2, 9]) expect(nearestEntry(lut, 4, x)).toBe(brute(x));
  });
});
