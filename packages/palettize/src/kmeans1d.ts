/**
 * Optimal 1-D k-means over a weighted histogram — the scalar LUT fit of `mode: 'kmeans'`
 * (mil-ops.md §7.4: "a 1-D optimal k-means is used for large fp16 scalar weights").
 *
 * In one dimension every optimal k-means partition splits the sorted values into k
 * consecutive runs, so the optimum is a dynamic programme over the n sorted *distinct*
 * values (each weighted by how often it occurs):
 *
 *     D[1][i] = SSE(0, i)
 *     D[m][i] = min_{m-1 ≤ j < i} D[m-1][j] + SSE(j, i)        (runs [j, i) of sorted values)
 *
 * `SSE(j, i)` costs O(1) from prefix sums of w, w·x and w·x² (values shifted by their
 * weighted mean first, so the x² sums stay well conditioned). The SSE of a run is a Monge
 * cost, so the leftmost minimiser j*(i) of each layer is non-decreasing in i, and a layer is
 * solved by divide and conquer in O(n log n): solve the middle row over its whole candidate
 * range, then each half over the candidates on its side of the middle row's minimiser. The
 * Knuth–Yao inequality j*_{m−1}(i) ≤ j*_m(i) also bounds every row from below by the previous
 * layer's minimiser (1.15× fewer candidates at k = 16, 1.9× at k = 256).
 * Total O(k · n · log n) time and O(k · n) memory for the backtracking table, with n the
 * number of distinct values — an fp16 weight has at most 63,487 finite ones whatever its
 * size. The result is the exact minimum (up to float64 rounding of the prefix sums), which
 * the tests check against brute force over all partitions and against Lloyd's algorithm
 * from many seeds.
 *
 * When n ≤ k every distinct value gets its own entry (the caller pads the LUT with zeros,
 * as coremltools does). When the table would exceed `MAX_TABLE_ENTRIES` (only fp32 weights
 * with millions of distinct values and many entries get there), the values are first merged
 * into `MAX_TABLE_ENTRIES / (k − 1)` runs of equal weight, the DP runs on the runs' means,
 * and Lloyd iterations on the full histogram refine the result; this is reported as
 * `exact: false`.
 */

/** Largest backtracking table (entries) the exact DP may allocate: 2^25 (64–128 MiB). */
export const MAX_TABLE_ENTRIES = 1 << 25;

export interface Clustering1D {
  /** Cluster centres, ascending (length min(k, n)). */
  readonly centroids: Float64Array;
  /** The cluster of each distinct value (non-decreasing). */
  readonly labels: Int32Array;
  /** Total weighted squared error Σ w·(x − c)². */
  readonly cost: number;
  /** Whether the DP ran on the full histogram (always, except in the coarsened fallback). */
  readonly exact: boolean;
}

/**
 * Optimal weighted k-means of sorted distinct `values` with positive `weights` (counts).
 * Throws on unsorted/duplicate values or non-positive weights, which would make the DP
 * meaningless.
 */
export function optimalKMeans1D(values: Float64Array, weights: Float64Array, k: number): Clustering1D {
  const n = values.length;
  if (weights.length !== n) throw new Error(`optimalKMeans1D: ${n} values but ${weights.length} weights`);
  if (!Number.isInteger(k) || k < 1) throw new Error(`optimalKMeans1D: k must be a positive integer, got ${k}`);
  if (n === 0) throw new Error('optimalKMeans1D: no values to cluster');
  for (let i = 0; i < n; i++) {
    if (!(weights[i] > 0)) throw new Error(`optimalKMeans1D: weight ${i} is ${weights[i]}, expected > 0`);
    if (i > 0 && !(values[i] > values[i - 1])) {
      throw new Error(`optimalKMeans1D: values must be sorted and distinct (value ${i} = ${values[i]} follows ${values[i - 1]})`);
    }
  }
  if (n <= k) {
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) labels[i] = i;
    return { centroids: Float64Array.from(values), labels, cost: 0, exact: true };
  }
  if ((k - 1) * (n - k + 1) <= MAX_TABLE_ENTRIES) {
    const labels = dpLabels(values, weights, k);
    return { ...finish(values, weights, labels, k), exact: true };
  }
  return coarsened(values, weights, k);
}

/** Prefix sums of w, w·x', w·x'² with x' = x − (weighted mean of x). */
interface Prefix {
  readonly p0: Float64Array;
  readonly p1: Float64Array;
  readonly p2: Float64Array;
}

function prefixSums(values: Float64Array, weights: Float64Array): Prefix {
  const n = values.length;
  let sw = 0;
  let swx = 0;
  for (let i = 0; i < n; i++) {
    sw += weights[i];
    swx += weights[i] * values[i];
  }
  const shift = swx / sw;
  const p0 = new Float64Array(n + 1);
  const p1 = new Float64Array(n + 1);
  const p2 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const w = weights[i];
    const x = values[i] - shift;
    p0[i + 1] = p0[i] + w;
    p1[i + 1] = p1[i] + w * x;
    p2[i + 1] = p2[i] + w * x * x;
  }
  return { p0, p1, p2 };
}

/** The DP with divide-and-conquer layers; returns the cluster of each distinct value. */
function dpLabels(values: Float64Array, weights: Float64Array, k: number): Int32Array {
  const n = values.length;
  const { p0, p1, p2 } = prefixSums(values, weights);
  let prev = new Float64Array(n + 1);
  let cur = new Float64Array(n + 1);
  // layer 1: one run [0, i)
  for (let i = 1; i <= n; i++) {
    const s = p1[i];
    prev[i] = p2[i] - (s * s) / p0[i];
  }
  // Layer m (2 ≤ m ≤ k) needs rows i ∈ [m, n − k + m]; its argmin j ∈ [m − 1, i − 1] is stored
  // as j − (m − 1) ≤ n − k, in 16 bits when that fits.
  const width = n - k + 1;
  // prev[j] − p2[j], the part of a candidate's cost that depends on j alone (p2[i] is added back per row)
  const base = new Float64Array(n + 1);
  const table: Uint16Array | Int32Array = n - k < 65536 ? new Uint16Array((k - 1) * width) : new Int32Array((k - 1) * width);

  for (let m = 2; m <= k; m++) {
    const rowBase = (m - 2) * width;
    // layer m − 1's rows start at i = m − 1, one before this layer's
    const prevBase = (m - 3) * width;
    const jMin = m - 1;
    const iLo = m;
    const iHi = n - k + m;
    for (let j = m - 1; j <= n - k + m - 1; j++) base[j] = prev[j] - p2[j];
    if (m === k) {
      // the last layer needs row n only
      const bj = scan(p0, p1, base, p0[n], p1[n], jMin, n - 1);
      cur[n] = scanBest + p2[n];
      table[rowBase + (n - iLo)] = bj - jMin;
    } else {
      // Divide and conquer over rows [iLo, iHi] with candidate columns [jMin, iHi − 1]; an
      // explicit stack of (lo, hi, optLo, optHi) keeps deep layers off the call stack.
      const stack: number[] = [iLo, iHi, jMin, iHi - 1];
      while (stack.length > 0) {
        const optHi = stack.pop()!;
        const optLo = stack.pop()!;
        const hi = stack.pop()!;
        const lo = stack.pop()!;
        const mid = (lo + hi) >>> 1;
        const jEnd = Math.min(optHi, mid - 1);
        // Knuth–Yao: the last run of the best m-partition of [0, mid) starts no earlier than
        // that of the best (m − 1)-partition
        const below = m === 2 ? 0 : table[prevBase + (mid - iLo + 1)] + (m - 2);
        const bj = scan(p0, p1, base, p0[mid], p1[mid], Math.max(optLo, below), jEnd);
        cur[mid] = scanBest + p2[mid];
        table[rowBase + (mid - iLo)] = bj - jMin;
        if (lo < mid) stack.push(lo, mid - 1, optLo, bj);
        if (mid < hi) stack.push(mid + 1, hi, bj, optHi);
      }
    }
    const t = prev;
    prev = cur;
    cur = t;
  }

  // backtrack: cluster m − 1 is the run [j, i) with j the stored argmin of row i in layer m
  const labels = new Int32Array(n);
  let i = n;
  for (let m = k; m >= 2; m--) {
    const j = table[(m - 2) * width + (i - m)] + (m - 1);
    labels.fill(m - 1, j, i);
    i = j;
  }
  labels.fill(0, 0, i);
  return labels;
}

/** The minimum found by the last `scan` (a module slot instead of an allocated pair). */
let scanBest = 0;

/**
 * The leftmost j in [lo, hi] minimising `base[j] − (q1 − p1[j])² / (q0 − p0[j])` — the cost
 * of row i's candidates up to the row constant p2[i]; sets `scanBest`. Unrolled by two so
 * two divisions are in flight (ties still go to the lower j).
 */
function scan(p0: Float64Array, p1: Float64Array, base: Float64Array, q0: number, q1: number, lo: number, hi: number): number {
  let best = Infinity;
  let bj = lo;
  let j = lo;
  for (; j < hi; j += 2) {
    const s = q1 - p1[j];
    const c = base[j] - (s * s) / (q0 - p0[j]);
    const t = q1 - p1[j + 1];
    const d = base[j + 1] - (t * t) / (q0 - p0[j + 1]);
    if (c < best) {
      best = c;
      bj = j;
    }
    if (d < best) {
      best = d;
      bj = j + 1;
    }
  }
  if (j === hi) {
    const s = q1 - p1[j];
    const c = base[j] - (s * s) / (q0 - p0[j]);
    if (c < best) {
      best = c;
      bj = j;
    }
  }
  scanBest = best;
  return bj;
}

/** Centroids (weighted means) and cost of a labelling with `k` non-empty clusters. */
function finish(values: Float64Array, weights: Float64Array, labels: Int32Array, k: number): { centroids: Float64Array; labels: Int32Array; cost: number } {
  const sw = new Float64Array(k);
  const swx = new Float64Array(k);
  for (let i = 0; i < values.length; i++) {
    sw[labels[i]] += weights[i];
    swx[labels[i]] += weights[i] * values[i];
  }
  const centroids = new Float64Array(k);
  for (let c = 0; c < k; c++) centroids[c] = swx[c] / sw[c];
  let cost = 0;
  for (let i = 0; i < values.length; i++) {
    const d = values[i] - centroids[labels[i]];
    cost += weights[i] * d * d;
  }
  return { centroids, labels, cost };
}

/**
 * Fallback for histograms too large for the exact table: merge the sorted values into runs
 * of about equal weight, solve the DP on the runs' weighted means, map back and refine with
 * Lloyd iterations (which never increase the cost).
 */
function coarsened(values: Float64Array, weights: Float64Array, k: number): Clustering1D {
  const n = values.length;
  const runs = Math.max(k + 1, Math.floor(MAX_TABLE_ENTRIES / (k - 1)));
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i];
  const runOf = new Int32Array(n);
  const rw: number[] = [];
  const rx: number[] = [];
  let acc = 0;
  let w = 0;
  let wx = 0;
  for (let i = 0; i < n; i++) {
    w += weights[i];
    wx += weights[i] * values[i];
    acc += weights[i];
    runOf[i] = rw.length;
    if (acc >= ((rw.length + 1) * total) / runs || i === n - 1) {
      rw.push(w);
      rx.push(wx / w);
      w = 0;
      wx = 0;
    }
  }
  const coarse = dpLabels(Float64Array.from(rx), Float64Array.from(rw), Math.min(k, rx.length));
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = coarse[runOf[i]];
  const start = finish(values, weights, labels, Math.min(k, rx.length));
  const refined = lloyd1D(values, weights, start.centroids, (x) => x);
  return { ...refined, exact: false };
}

/**
 * Lloyd iterations on a sorted weighted histogram, starting from `centroids` and passing
 * every centroid (the starting ones included) through `round` (the LUT dtype's grid;
 * identity for none). Assignment is
 * to the nearest centroid (ties to the lower entry). For a fixed assignment the best grid
 * value of a cluster is the rounded mean, and for fixed centroids the nearest assignment is
 * best, so the cost never increases; iteration stops when it no longer decreases (at most
 * `maxIter` rounds). Empty clusters keep their centroid. Returns the best state seen.
 */
export function lloyd1D(
  values: Float64Array,
  weights: Float64Array,
  centroids: Float64Array,
  round: (x: number) => number,
  maxIter = 64,
): { centroids: Float64Array; labels: Int32Array; cost: number } {
  const k = centroids.length;
  let c = Float64Array.from(centroids, round).sort();
  let labels = new Int32Array(values.length);
  let cost = assignNearest(values, weights, c, labels);
  const sw = new Float64Array(k);
  const swx = new Float64Array(k);
  for (let it = 0; it < maxIter; it++) {
    sw.fill(0);
    swx.fill(0);
    for (let i = 0; i < values.length; i++) {
      sw[labels[i]] += weights[i];
      swx[labels[i]] += weights[i] * values[i];
    }
    const next = new Float64Array(k);
    for (let j = 0; j < k; j++) next[j] = sw[j] > 0 ? round(swx[j] / sw[j]) : c[j];
    next.sort();
    const nextLabels = new Int32Array(values.length);
    const nextCost = assignNearest(values, weights, next, nextLabels);
    if (!(nextCost < cost)) break;
    c = next;
    labels = nextLabels;
    cost = nextCost;
  }
  return { centroids: c, labels, cost };
}

/**
 * Assigns each sorted value to its nearest ascending centroid (ties between distinct
 * centroids to the lower one; among equal centroids the last) with one merge-like sweep;
 * returns the weighted squared error.
 */
export function assignNearest(values: Float64Array, weights: Float64Array, centroids: Float64Array, labels: Int32Array): number {
  const k = centroids.length;
  let j = 0;
  let cost = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    while (j + 1 < k) {
      const here = Math.abs(centroids[j] - x);
      const next = Math.abs(centroids[j + 1] - x);
      // step over equal centroids too, or the sweep would stop at a duplicate
      if (next < here || (next === here && centroids[j + 1] === centroids[j])) j++;
      else break;
    }
    labels[i] = j;
    const d = x - centroids[j];
    cost += weights[i] * d * d;
  }
  return cost;
}
