import { describe, expect, it } from 'vitest';
import { fp16BitsToNumber } from '@silica/ir';
import { MAX_TABLE_ENTRIES, assignNearest, lloyd1D, optimalKMeans1D } from '../src/kmeans1d.js';
import { Fp16Counter, histogramOf } from '../src/histogram.js';
import { seededRandom } from '@silica/ir';
import { toFp16 } from '../src/rounding.js';

/** Weighted SSE of sorted values split at `cuts` (cluster c = [cuts[c], cuts[c+1])). */
function partitionCost(values: Float64Array, weights: Float64Array, cuts: number[]): number {
  let cost = 0;
  for (let c = 0; c + 1 < cuts.length; c++) {
    let w = 0;
    let wx = 0;
    for (let i = cuts[c]; i < cuts[c + 1]; i++) {
      w += weights[i];
      wx += weights[i] * values[i];
    }
    const mean = wx / w;
    for (let i = cuts[c]; i < cuts[c + 1]; i++) cost += weights[i] * (values[i] - mean) ** 2;
  }
  return cost;
}

/** Minimum SSE over every partition of n sorted values into k runs (all C(n−1, k−1) cut sets). */
function bruteForce(values: Float64Array, weights: Float64Array, k: number): number {
  const n = values.length;
  let best = Infinity;
  const cuts = [0];
  const rec = (start: number, left: number): void => {
    if (left === 1) {
      best = Math.min(best, partitionCost(values, weights, [...cuts, n]));
      return;
    }
    for (let c = start + 1; c <= n - left + 1; c++) {
      cuts.push(c);
      rec(c, left - 1);
      cuts.pop();
    }
  };
  rec(0, k);
  return best;
}

/** Lloyd's algorithm on raw (unweighted) samples from k-means++ seeds; returns its SSE. */
function lloydFromSeed(samples: Float64Array, k: number, seed: number): number {
  const rand = seededRandom(seed);
  const n = samples.length;
  const c = new Float64Array(k);
  c[0] = samples[Math.floor(rand() * n)];
  const d2 = new Float64Array(n).fill(Infinity);
  for (let m = 1; m <= k; m++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      d2[i] = Math.min(d2[i], (samples[i] - c[m - 1]) ** 2);
      total += d2[i];
    }
    if (m === k) break;
    let r = rand() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      r -= d2[i];
      if (r < 0) {
        pick = i;
        break;
      }
    }
    c[m] = samples[pick];
  }
  const hist = histogramOf(samples);
  return lloyd1D(hist.values, hist.counts, c, (x) => x, 500).cost;
}

describe('optimalKMeans1D', () => {
  it('matches brute force over every partition on small weighted inputs', () => {
    const rand = seededRandom(7);
    let cases = 0;
    for (let n = 2; n <= 11; n++) {
      for (let k = 1; k <= Math.min(n, 5); k++) {
        for (let rep = 0; rep < 6; rep++) {
          const raw = Array.from({ length: n }, () => (rand() - 0.5) * (rep % 2 ? 10 : 0.01) + (rand() < 0.3 ? 3 : 0));
          const values = Float64Array.from(new Set(raw)).sort();
          if (values.length < n) continue;
          const weights = Float64Array.from({ length: n }, () => 1 + Math.floor(rand() * 20));
          const got = optimalKMeans1D(values, weights, k);
          const want = bruteForce(values, weights, k);
          expect(got.exact).toBe(true);
          expect(got.cost).toBeCloseTo(want, 12);
          // the reported cost is the cost of the reported clustering
          const cuts = [0];
          for (let i = 1; i < n; i++) if (got.labels[i] !== got.labels[i - 1]) cuts.push(i);
          cuts.push(n);
          expect(cuts.length - 1).toBe(Math.min(k, n));
          expect(partitionCost(values, weights, cuts)).toBeCloseTo(got.cost, 12);
          cases++;
        }
      }
    }
    expect(cases).toBeGreaterThan(200);
  });

  it('stays optimal on evenly spaced, equally weighted values, where many partitions tie', () => {
    for (let n = 2; n <= 12; n++) {
      const values = Float64Array.from({ length: n }, (_, i) => i);
      const weights = new Float64Array(n).fill(1);
      for (let k = 1; k <= Math.min(n, 6); k++) {
        expect(optimalKMeans1D(values, weights, k).cost).toBeCloseTo(bruteForce(values, weights, k), 12);
        // symmetric weights too
        const sym = Float64Array.from({ length: n }, (_, i) => 1 + Math.min(i, n - 1 - i));
        expect(optimalKMeans1D(values, sym, k).cost).toBeCloseTo(bruteForce(values, sym, k), 12);
      }
    }
  });

  it('is never worse than Lloyd from 40 k-means++ seeds on fp16 data', () => {
    const rand = seededRandom(11);
    for (const [k, shape] of [
      [4, 'gauss'],
      [8, 'mixture'],
      [16, 'gauss'],
      [16, 'heavy'],
    ] as const) {
      const n = 3000;
      const samples = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const g = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
        const v = shape === 'gauss' ? g * 0.02 : shape === 'mixture' ? g * 0.01 + (i % 3) * 0.1 : g * 0.02 * (rand() < 0.05 ? 20 : 1);
        samples[i] = toFp16(v);
      }
      const hist = histogramOf(samples);
      const ours = optimalKMeans1D(hist.values, hist.counts, k).cost;
      let bestLloyd = Infinity;
      for (let seed = 0; seed < 40; seed++) {
        const l = lloydFromSeed(samples, k, seed);
        expect(ours).toBeLessThanOrEqual(l * (1 + 1e-12));
        bestLloyd = Math.min(bestLloyd, l);
      }
      expect(ours).toBeLessThanOrEqual(bestLloyd * (1 + 1e-12));
    }
  });

  it('gives every value its own centre when there are no more values than clusters', () => {
    const r = optimalKMeans1D(Float64Array.of(-1, 0.5, 2), Float64Array.of(3, 1, 2), 4);
    expect([...r.centroids]).toEqual([-1, 0.5, 2]);
    expect([...r.labels]).toEqual([0, 1, 2]);
    expect(r.cost).toBe(0);
  });

  it('puts an isolated heavy value in a cluster of its own (the zeros of a pruned weight)', () => {
    const values = Float64Array.of(-1.2, -1.1, -1, 0, 1, 1.1, 1.2);
    const weights = Float64Array.of(1, 1, 1, 100, 1, 1, 1);
    const r = optimalKMeans1D(values, weights, 3);
    expect(r.centroids[1]).toBe(0);
    expect([...r.labels]).toEqual([0, 0, 0, 1, 2, 2, 2]);
  });

  it('rejects unsorted values, duplicate values and non-positive weights with the offending index', () => {
    expect(() => optimalKMeans1D(Float64Array.of(1, 0), Float64Array.of(1, 1), 1)).toThrow('value 1 = 0 follows 1');
    expect(() => optimalKMeans1D(Float64Array.of(1, 1), Float64Array.of(1, 1), 1)).toThrow('sorted and distinct');
    expect(() => optimalKMeans1D(Float64Array.of(1, 2), Float64Array.of(1, 0), 1)).toThrow('weight 1 is 0, expected > 0');
    expect(() => optimalKMeans1D(Float64Array.of(1, 2), Float64Array.of(1, 1), 0)).toThrow('k must be a positive integer, got 0');
  });

  it('falls back to a coarsened DP refined by Lloyd beyond the table budget, still beating Lloyd', () => {
    // 256 entries over 140,000 distinct values exceed the 2^25-entry table
    const n = 140_000;
    expect(255 * (n - 255)).toBeGreaterThan(MAX_TABLE_ENTRIES);
    const rand = seededRandom(3);
    const values = new Float64Array(n);
    let x = -1;
    for (let i = 0; i < n; i++) values[i] = x += 1e-5 + rand() * 1e-5;
    const weights = new Float64Array(n).fill(1);
    const r = optimalKMeans1D(values, weights, 256);
    expect(r.exact).toBe(false);
    expect(r.centroids.length).toBe(256);
    // evenly spread data: near the uniform quantizer's SSE (n · (range/256)² / 12)
    const range = values[n - 1] - values[0];
    const uniform = (n * (range / 256) ** 2) / 12;
    expect(r.cost).toBeLessThan(uniform * 1.05);
    const labels = new Int32Array(n);
    expect(assignNearest(values, weights, r.centroids, labels)).toBeCloseTo(r.cost, 6);
  });
});

describe('Fp16Counter', () => {
  it('lists distinct fp16 values in ascending order with counts, merging +0 and −0', () => {
    const bits = Uint16Array.of(0x3c00, 0xbc00, 0x0000, 0x8000, 0x3c00, 0x0001, 0xfbff, 0x7bff);
    const c = new Fp16Counter();
    c.add(bits);
    expect(c.nonFinite()).toBe(0);
    const h = c.take();
    expect([...h.values]).toEqual([-65504, -1, 0, fp16BitsToNumber(1), 1, 65504]);
    expect([...h.counts]).toEqual([1, 1, 2, 1, 2, 1]);
    expect(h.total).toBe(8);
    expect([...h.patterns]).toEqual([0xfbff, 0xbc00, 0x0000, 0x0001, 0x3c00, 0x7bff]);
    // take() cleared the counter
    c.add(Uint16Array.of(0x4000));
    expect([...c.take().values]).toEqual([2]);
  });

  it('counts NaN and infinities separately', () => {
    const c = new Fp16Counter();
    c.add(Uint16Array.of(0x7c00, 0xfc00, 0x7e00, 0x3c00));
    expect(c.nonFinite()).toBe(3);
  });
});
