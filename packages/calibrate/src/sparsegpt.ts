/**
 * SparseGPT (Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be Accurately
 * Pruned in One-Shot", 2023) on one canonical weight W [R, C] with its layer Hessian H:
 * the reference `fasterprune` and coremltools' `SparseGPT` layer-wise compressor.
 *
 * With U the upper Cholesky factor of the damped H⁻¹ (linalg.ts), the OBS saliency of
 * removing w[r, c] is w[r, c]² / U[c, c]². The sweep (sweep.ts) zeroes the selected weights
 * column by column and feeds each removal's error into the columns not yet processed, so
 * the surviving weights compensate for the pruned ones.
 *
 *  - Unstructured (`sparsity` p): at the start of every block of columns the p·|block|
 *    lowest-saliency entries of the block (current, error-corrected values) are masked —
 *    SparseGPT's adaptive mask selection. Exactly round(p · R · |block|) entries per block
 *    (ties broken by position), so the weight ends at the requested sparsity.
 *  - n:m along the input dimension (`nm` with dim 1, coremltools' default): each row is cut
 *    into runs of m consecutive columns (within a segment — for a conv weight the runs of
 *    C_in/groups columns at one kernel position, as the prune pass lays them out; a short
 *    last run counts as zero-padded to m, so its padding is "removed" first); when the
 *    sweep reaches a run, the n lowest-saliency entries of every row's run are masked.
 *    Blocks never split a run.
 *  - n:m along the output dimension (dim 0): in every column, each run of m consecutive
 *    rows loses its n lowest-magnitude entries (they share U[c, c]).
 *
 * n counts the weights removed per m, as coremltools' `n_m_ratio` (1:2 prunes half).
 */
import { prepareInverseHessian } from './linalg.js';
import { groupAlignedBlocks, sweep, uniformBlocks } from './sweep.js';

export interface NMPattern {
  /** Weights removed per run. */
  readonly n: number;
  /** Run length. */
  readonly m: number;
  /** 1: runs along the input dimension (columns); 0: along the output dimension (rows). */
  readonly dim: 0 | 1;
}

export interface SparseGptSpec {
  /** Unstructured target sparsity in [0, 1]. Exactly one of `sparsity` and `nm`. */
  readonly sparsity?: number;
  readonly nm?: NMPattern;
  /**
   * For `nm` with dim 1: the column segments runs must stay inside, as [start, end)
   * (default: one segment of all columns). Conv weights pass one per kernel position.
   */
  readonly segments?: ReadonlyArray<readonly [number, number]>;
}

export interface SparseGptOptions {
  readonly percentDamp?: number;
  readonly blockSize?: number;
  readonly signal?: AbortSignal;
}

export interface SparseGptResult {
  /** The pruned and compensated weight [R, C] (zeros where pruned). */
  readonly pruned: Float64Array;
  /** 1 where the weight was kept. */
  readonly mask: Uint8Array;
  readonly loss: number;
  readonly damp: number;
  readonly dampRetries: number;
  readonly deadColumns: number;
}

/** The n:m runs of columns: [start, end) per run, inside the segments. */
export function nmColumnRuns(C: number, m: number, segments?: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const segs = segments ?? [[0, C] as const];
  const runs: Array<[number, number]> = [];
  let expect = 0;
  for (const [a, b] of segs) {
    if (a !== expect || b <= a) throw new Error(`nmColumnRuns: segments must tile 0..${C} in order, got [${a}, ${b}) after ${expect}`);
    for (let s = a; s < b; s += m) runs.push([s, Math.min(b, s + m)]);
    expect = b;
  }
  if (expect !== C) throw new Error(`nmColumnRuns: segments end at ${expect}, not ${C}`);
  return runs;
}

/** Indices of the `count` smallest of `scores[0..len)` (ties: lower index first); selection for short runs. */
function smallest(scores: Float64Array, len: number, count: number, out: Int32Array, taken: Uint8Array): number {
  const k = Math.min(count, len);
  taken.fill(0, 0, len);
  for (let t = 0; t < k; t++) {
    let best = -1;
    for (let i = 0; i < len; i++) if (!taken[i] && (best < 0 || scores[i] < scores[best])) best = i;
    taken[best] = 1;
    out[t] = best;
  }
  return k;
}

export async function sparseGpt(w: Float64Array, R: number, C: number, h: Float64Array, spec: SparseGptSpec, options: SparseGptOptions = {}): Promise<SparseGptResult> {
  if (w.length !== R * C) throw new Error(`sparseGpt: W has ${w.length} elements, expected ${R}×${C}`);
  if (h.length !== C * C) throw new Error(`sparseGpt: H has ${h.length} elements, expected ${C}×${C}`);
  if ((spec.sparsity === undefined) === (spec.nm === undefined)) throw new Error('sparseGpt: give exactly one of sparsity and nm');
  if (spec.sparsity !== undefined && !(spec.sparsity >= 0 && spec.sparsity <= 1)) throw new Error(`sparseGpt: sparsity must be in [0, 1], got ${spec.sparsity}`);
  const nm = spec.nm;
  if (nm && !(Number.isInteger(nm.n) && Number.isInteger(nm.m) && nm.m >= 1 && nm.n >= 0 && nm.n <= nm.m)) {
    throw new Error(`sparseGpt: n:m needs integers 0 ≤ n ≤ m, m ≥ 1; got ${nm.n}:${nm.m}`);
  }
  const blockSize = options.blockSize ?? 128;
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`sparseGpt: blockSize must be a positive integer, got ${blockSize}`);

  const work = Float64Array.from(w);
  const prepared = prepareInverseHessian(h, C, options.percentDamp ?? 0.01);
  const u = prepared.u;
  let deadColumns = 0;
  for (let j = 0; j < C; j++) {
    if (!prepared.dead[j]) continue;
    deadColumns++;
    for (let r = 0; r < R; r++) work[r * C + j] = 0;
  }
  const invD2 = new Float64Array(C);
  for (let j = 0; j < C; j++) invD2[j] = 1 / (u[j * C + j] * u[j * C + j]);

  // pruned[r·C + c] = 1 when (r, c) is to be zeroed
  const prune = new Uint8Array(R * C);
  let blocks: number[];
  let runStart: Int32Array | null = null;
  let runs: Array<[number, number]> = [];
  if (nm && nm.dim === 1) {
    runs = nmColumnRuns(C, nm.m, spec.segments);
    runStart = new Int32Array(C).fill(-1);
    runs.forEach(([a], k) => (runStart![a] = k));
    blocks = groupAlignedBlocks(runs, blockSize);
  } else {
    blocks = uniformBlocks(C, blockSize);
  }

  const scores = new Float64Array(Math.max(nm?.m ?? 0, R));
  const picked = new Int32Array(Math.max(nm?.m ?? 0, R));
  const taken = new Uint8Array(Math.max(nm?.m ?? 0, R));

  const loss = await sweep(
    work,
    R,
    C,
    u,
    {
      beginBlock(i1, i2) {
        if (spec.sparsity === undefined) return;
        const B = i2 - i1;
        const total = R * B;
        const count = Math.round(total * spec.sparsity);
        if (count === 0) return;
        // saliency of the block, then the `count` smallest (ties by position)
        const sal = new Float64Array(total);
        for (let r = 0; r < R; r++) {
          for (let j = i1; j < i2; j++) {
            const v = work[r * C + j];
            sal[r * B + (j - i1)] = v * v * invD2[j];
          }
        }
        let threshold: number;
        if (count >= total) threshold = Infinity;
        else {
          const sorted = Float64Array.from(sal).sort();
          threshold = sorted[count - 1];
        }
        // everything strictly below the threshold, then ties in position order up to `count`
        let below = 0;
        for (let k = 0; k < total; k++) if (sal[k] < threshold) below++;
        let ties = count - below;
        for (let k = 0; k < total; k++) {
          const r = (k / B) | 0;
          const j = i1 + (k - r * B);
          if (sal[k] < threshold || (sal[k] === threshold && ties-- > 0)) prune[r * C + j] = 1;
        }
      },
      compressColumn(j, col, out, view) {
        if (nm && nm.dim === 1 && runStart![j] >= 0) {
          const [a, b] = runs[runStart![j]];
          const len = b - a;
          // a short run is zero-padded to m: the padding takes the first removals
          const remove = Math.max(0, nm.n - (nm.m - len));
          if (remove > 0) {
            for (let r = 0; r < R; r++) {
              const row = r * C;
              for (let c = a; c < b; c++) {
                const v = c === j ? col[r] : view.value(r, c);
                scores[c - a] = v * v * invD2[c];
              }
              const k = smallest(scores, len, remove, picked, taken);
              for (let t = 0; t < k; t++) prune[row + a + picked[t]] = 1;
            }
          }
        }
        if (nm && nm.dim === 0) {
          for (let r0 = 0; r0 < R; r0 += nm.m) {
            const len = Math.min(nm.m, R - r0);
            const remove = Math.max(0, nm.n - (nm.m - len));
            if (remove === 0) continue;
            for (let t = 0; t < len; t++) scores[t] = Math.abs(col[r0 + t]);
            const k = smallest(scores, len, remove, picked, taken);
            for (let t = 0; t < k; t++) prune[(r0 + picked[t]) * C + j] = 1;
          }
        }
        for (let r = 0; r < R; r++) out[r] = prune[r * C + j] ? 0 : col[r];
      },
    },
    { blocks, signal: options.signal },
  );

  const mask = new Uint8Array(R * C);
  for (let k = 0; k < R * C; k++) mask[k] = prune[k] ? 0 : 1;
  return { pruned: work, mask, loss, damp: prepared.damp, dampRetries: prepared.retries, deadColumns };
}
