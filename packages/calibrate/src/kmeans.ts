/**
 * Weighted 1-D k-means for sensitivity-weighted palettization (SqueezeLLM, Kim et al.
 * 2023): each weight element counts with a sensitivity (here the Hessian diagonal of its
 * input feature), and the LUT minimises
 *
 *     Σ_i s_i · (w_i − lut[idx_i])²
 *
 * Equal values are merged first (their sensitivities add up), which turns the problem into
 * the weighted 1-D k-means of the sorted distinct values — exactly what `@silica/palettize`'s
 * optimal 1-D k-means solves (`optimalKMeans1D`: the dynamic programme over runs of sorted
 * values, with weights as its counts), followed by its Lloyd polish on the LUT dtype's grid
 * (`lloyd1D`, never increasing the weighted cost). With unit sensitivities this is the
 * palettize pass's own `kmeans` mode.
 */
import { fp16BitsToNumber, numberToFp16Bits } from '@silica/ir';
import { lloyd1D, optimalKMeans1D } from '@silica/palettize';

export interface WeightedHistogram {
  /** Distinct values, strictly ascending. */
  readonly values: Float64Array;
  /** Total sensitivity of each value (> 0). */
  readonly weights: Float64Array;
}

/**
 * Merges (value, sensitivity) pairs into a weighted histogram: equal values (+0 and −0
 * alike) add their sensitivities. Sensitivities must be > 0. Values exactly representable
 * in fp16 (`fp16Exact`, true for the values of an fp16 weight) are binned by bit pattern
 * without sorting.
 */
export function weightedHistogram(values: ArrayLike<number>, sensitivity: ArrayLike<number>, fp16Exact = false): WeightedHistogram {
  const n = values.length;
  for (let i = 0; i < n; i++) {
    if (!(sensitivity[i] > 0)) throw new Error(`weightedHistogram: sensitivity ${i} is ${sensitivity[i]}, expected > 0`);
  }
  if (fp16Exact) {
    const bins = new Float64Array(65536);
    for (let i = 0; i < n; i++) bins[numberToFp16Bits(values[i]) & (values[i] === 0 ? 0 : 0xffff)] += sensitivity[i];
    const v: number[] = [];
    const w: number[] = [];
    // ascending: most negative pattern 0xFBFF down to 0x8001, zero, then 0x0001 … 0x7BFF
    for (let h = 0xfbff; h > 0x8000; h--) if (bins[h] > 0) v.push(fp16BitsToNumber(h)), w.push(bins[h]);
    if (bins[0] > 0) v.push(0), w.push(bins[0]);
    for (let h = 1; h <= 0x7bff; h++) if (bins[h] > 0) v.push(fp16BitsToNumber(h)), w.push(bins[h]);
    return { values: Float64Array.from(v), weights: Float64Array.from(w) };
  }
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const v: number[] = [];
  const w: number[] = [];
  for (const i of idx) {
    const x = values[i] === 0 ? 0 : values[i];
    if (v.length > 0 && v[v.length - 1] === x) w[w.length - 1] += sensitivity[i];
    else {
      v.push(x);
      w.push(sensitivity[i]);
    }
  }
  return { values: Float64Array.from(v), weights: Float64Array.from(w) };
}

export interface WeightedLut {
  /** 2^nbits entries, ascending among the used ones, zero-padded when there are fewer distinct values. */
  readonly lut: Float64Array;
  /** Entries in use (ascending); the rest are zero padding. */
  readonly used: number;
  /** Σ sensitivity · squared error of the histogram under nearest-entry assignment. */
  readonly cost: number;
}

/**
 * The LUT of `entries` values (rounded by `round` to the LUT dtype) minimising the
 * weighted squared error of the histogram (module comment). With no more distinct values
 * than entries, the values themselves, the rest of the LUT zero (as coremltools pads it).
 */
export function weightedLut(hist: WeightedHistogram, entries: number, round: (x: number) => number): WeightedLut {
  const n = hist.values.length;
  if (n === 0) throw new Error('weightedLut: empty histogram');
  const lut = new Float64Array(entries);
  if (n <= entries) {
    for (let i = 0; i < n; i++) lut[i] = round(hist.values[i]);
    return { lut, used: n, cost: 0 };
  }
  const opt = optimalKMeans1D(hist.values, hist.weights, entries);
  const polished = lloyd1D(hist.values, hist.weights, opt.centroids, round);
  lut.set(polished.centroids);
  return { lut, used: entries, cost: polished.cost };
}

/** Index of the nearest of the first `used` ascending LUT entries (ties to the lower entry). */
export function nearestEntry(lut: Float64Array, used: number, x: number): number {
  // first entry ≥ x
  let lo = 0;
  let hi = used;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (lut[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo === used) return used - 1;
  if (lo === 0) return 0;
  return x - lut[lo - 1] <= lut[lo] - x ? lo - 1 : lo;
}
