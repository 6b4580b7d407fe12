/**
 * k-means for vector palettization (`clusterDim > 1`, mil-ops.md §7.4): k-means++
 * initialisation followed by Lloyd iterations, deterministic for a given seed (coremltools
 * uses scikit-learn's `KMeans(init="k-means++", n_init=1, random_state=0, tol=1e-2)`).
 *
 * There is no exact polynomial algorithm for k-means in more than one dimension; this is
 * the standard local method. Cost per iteration O(n · k · V) for n points of dimension V.
 */
import { seededRandom } from '@silica/ir';


export interface VectorKMeansOptions {
  /** PRNG seed (default 0). */
  readonly seed?: number;
  /** Most Lloyd iterations (default 100). */
  readonly maxIter?: number;
  /**
   * Stop when the summed squared movement of the centres is at most `tol` × the mean
   * per-dimension variance of the data (scikit-learn's rule; default 1e-4).
   */
  readonly tol?: number;
}

export interface VectorClustering {
  /** `k × V` centres, row-major; rows past the number of distinct points are zeros. */
  readonly centroids: Float64Array;
  /** The centre of each point. */
  readonly labels: Int32Array;
  /** Σ ‖p − c‖². */
  readonly cost: number;
  readonly iterations: number;
}

/** Squared distance between point `i` of `points` and row `j` of `centres`. */
function dist2(points: Float64Array, i: number, centres: Float64Array, j: number, dim: number): number {
  let s = 0;
  const a = i * dim;
  const b = j * dim;
  for (let v = 0; v < dim; v++) {
    const d = points[a + v] - centres[b + v];
    s += d * d;
  }
  return s;
}

/**
 * k-means++ + Lloyd on `n = points.length / dim` points. When the points have fewer than
 * `k` distinct values, k-means++ runs out of candidates (every remaining point sits on a
 * centre): the remaining centres are left at zero, as coremltools pads its LUTs.
 */
export function vectorKMeans(points: Float64Array, dim: number, k: number, options: VectorKMeansOptions = {}): VectorClustering {
  if (!Number.isInteger(dim) || dim < 1 || points.length % dim !== 0) {
    throw new Error(`vectorKMeans: ${points.length} numbers do not form points of dimension ${dim}`);
  }
  const n = points.length / dim;
  if (n === 0) throw new Error('vectorKMeans: no points to cluster');
  if (!Number.isInteger(k) || k < 1) throw new Error(`vectorKMeans: k must be a positive integer, got ${k}`);
  const rand = seededRandom(options.seed ?? 0);
  const maxIter = options.maxIter ?? 100;
  const centres = new Float64Array(k * dim);

  // k-means++: first centre uniform, then each with probability ∝ squared distance to the
  // nearest chosen centre
  const d2 = new Float64Array(n);
  const first = Math.min(n - 1, Math.floor(rand() * n));
  for (let v = 0; v < dim; v++) centres[v] = points[first * dim + v];
  let total = 0;
  for (let i = 0; i < n; i++) {
    d2[i] = dist2(points, i, centres, 0, dim);
    total += d2[i];
  }
  let used = 1;
  while (used < k && total > 0) {
    let r = rand() * total;
    let pick = -1;
    for (let i = 0; i < n; i++) {
      if (d2[i] === 0) continue;
      pick = i;
      r -= d2[i];
      if (r < 0) break;
    }
    for (let v = 0; v < dim; v++) centres[used * dim + v] = points[pick * dim + v];
    total = 0;
    for (let i = 0; i < n; i++) {
      const d = dist2(points, i, centres, used, dim);
      if (d < d2[i]) d2[i] = d;
      total += d2[i];
    }
    used++;
  }

  // tolerance from the data's per-dimension variance
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let v = 0; v < dim; v++) mean[v] += points[i * dim + v];
  for (let v = 0; v < dim; v++) mean[v] /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) {
    for (let v = 0; v < dim; v++) {
      const d = points[i * dim + v] - mean[v];
      variance += d * d;
    }
  }
  const tol = (options.tol ?? 1e-4) * (variance / (n * dim));

  const labels = new Int32Array(n);
  const sums = new Float64Array(used * dim);
  const sizes = new Float64Array(used);
  let iterations = 0;
  let cost = assign(points, dim, centres, used, labels);
  for (; iterations < maxIter; iterations++) {
    sums.fill(0);
    sizes.fill(0);
    for (let i = 0; i < n; i++) {
      const c = labels[i];
      sizes[c]++;
      for (let v = 0; v < dim; v++) sums[c * dim + v] += points[i * dim + v];
    }
    let shift = 0;
    for (let c = 0; c < used; c++) {
      if (sizes[c] === 0) continue; // an empty cluster keeps its centre
      for (let v = 0; v < dim; v++) {
        const next = sums[c * dim + v] / sizes[c];
        const d = next - centres[c * dim + v];
        shift += d * d;
        centres[c * dim + v] = next;
      }
    }
    cost = assign(points, dim, centres, used, labels);
    if (shift <= tol) {
      iterations++;
      break;
    }
  }
  return { centroids: centres, labels, cost, iterations };
}

/** Nearest centre (lowest index on ties) of every point among the first `k` rows; returns the cost. */
export function assign(points: Float64Array, dim: number, centres: Float64Array, k: number, labels: Int32Array): number {
  const n = points.length / dim;
  let cost = 0;
  for (let i = 0; i < n; i++) {
    let best = Infinity;
    let bj = 0;
    for (let j = 0; j < k; j++) {
      const d = dist2(points, i, centres, j, dim);
      if (d < best) {
        best = d;
        bj = j;
      }
    }
    labels[i] = bj;
    cost += best;
  }
  return cost;
}
