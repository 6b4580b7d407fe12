/**
 * The column sweep with optimal-brain-surgeon error feedback that GPTQ and SparseGPT
 * share (Frantar & Alistarh 2022/2023, "lazy batch updates").
 *
 * W is the canonical weight [R rows = output channels, C columns = input features],
 * row-major float64, and U the upper Cholesky factor of the damped inverse Hessian
 * (linalg.ts). Columns are processed left to right in blocks; for column i with
 * compressed values q (chosen by the caller from the current, already error-corrected w):
 *
 *     err      = (w − q) / U[i, i]
 *     W[:, j] -= err · U[i, j]            for the remaining columns j of the block
 *
 * and when a block [i1, i2) is done, the columns after it get the block's accumulated
 * update at once: W[:, i2:] −= Err · U[i1:i2, i2:] (a GEMM instead of C rank-1 updates).
 * At the end W holds the compressed weight. The returned loss is Σ (w − q)² / (2·U[i,i]²),
 * GPTQ's estimate of the increase of the layer-wise objective.
 */
import { yieldToEventLoop } from './util.js';

/** The current (error-corrected) value of any weight during the sweep. */
export interface SweepView {
  /** W[r, c] with every update so far applied — including the pending lazy update for columns after the block. */
  value(r: number, c: number): number;
}

export interface SweepHooks {
  /** Called before the columns [i1, i2) are processed (W is up to date for them). */
  beginBlock?(i1: number, i2: number): void;
  /**
   * Chooses the compressed values of column `i`: `w[r]` is the current value of row r;
   * write the compressed value to `out[r]`. `view` reads other columns' current values.
   */
  compressColumn(i: number, w: Float64Array, out: Float64Array, view: SweepView): void;
}

export interface SweepOptions {
  /** Block boundaries: ascending, starting at 0 and ending at C. */
  readonly blocks: readonly number[];
  readonly signal?: AbortSignal;
}

/** Block boundaries of `blockSize` columns: [0, b, 2b, …, C]. */
export function uniformBlocks(columns: number, blockSize: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < columns; i += blockSize) out.push(i);
  out.push(columns);
  return out;
}

/**
 * Block boundaries that never split a group: whole consecutive `groups` (contiguous
 * column ranges [start, end), in order, covering 0..C) are packed into blocks of at most
 * `blockSize` columns (a group longer than that is a block of its own).
 */
export function groupAlignedBlocks(groups: ReadonlyArray<readonly [number, number]>, blockSize: number): number[] {
  const out: number[] = [0];
  let start = 0;
  for (const [a, b] of groups) {
    if (a !== out[out.length - 1] && b - start > blockSize) {
      out.push(a);
      start = a;
    }
  }
  const end = groups.length > 0 ? groups[groups.length - 1][1] : 0;
  if (out[out.length - 1] !== end) out.push(end);
  return out;
}

export async function sweep(w: Float64Array, R: number, C: number, u: Float64Array, hooks: SweepHooks, options: SweepOptions): Promise<number> {
  const blocks = options.blocks;
  if (blocks[0] !== 0 || blocks[blocks.length - 1] !== C) throw new Error(`sweep: blocks must run from 0 to ${C}, got [${blocks.join(', ')}]`);
  const col = new Float64Array(R);
  const q = new Float64Array(R);
  let loss = 0;
  for (let b = 0; b + 1 < blocks.length; b++) {
    options.signal?.throwIfAborted();
    const i1 = blocks[b];
    const i2 = blocks[b + 1];
    const B = i2 - i1;
    if (B <= 0) throw new Error(`sweep: empty or descending block [${i1}, ${i2})`);
    hooks.beginBlock?.(i1, i2);
    // Err[r, k] for the block, row-major [R, B]
    const errs = new Float64Array(R * B);
    let done = 0;
    const view: SweepView = {
      value(r, c) {
        let v = w[r * C + c];
        // columns after the block have not received this block's updates yet
        if (c >= i2) for (let k = 0; k < done; k++) v -= errs[r * B + k] * u[(i1 + k) * C + c];
        return v;
      },
    };
    for (let i = i1; i < i2; i++) {
      for (let r = 0; r < R; r++) col[r] = w[r * C + i];
      done = i - i1;
      hooks.compressColumn(i, col, q, view);
      const ui = i * C;
      const d = u[ui + i];
      const k = i - i1;
      for (let r = 0; r < R; r++) {
        const diff = col[r] - q[r];
        const e = diff / d;
        loss += (diff * diff) / (2 * d * d);
        errs[r * B + k] = e;
        const row = r * C;
        w[row + i] = q[r];
        if (e === 0) continue;
        for (let j = i + 1; j < i2; j++) w[row + j] -= e * u[ui + j];
      }
    }
    if (i2 < C) lazyUpdate(w, R, C, u, errs, i1, i2);
    // keep long sweeps cancellable and the event loop alive
    if (R * (C - i2) * B > 1 << 24) await yieldToEventLoop();
  }
  return loss;
}

/** Columns of W updated together by the lazy update (a B × JC panel of U stays in cache). */
const JC = 128;

/**
 * W[:, i2:] −= Err · U[i1:i2, i2:]: column panels of JC, then rows, four rows of U per pass
 * over a row segment of W.
 */
function lazyUpdate(w: Float64Array, R: number, C: number, u: Float64Array, errs: Float64Array, i1: number, i2: number): void {
  const B = i2 - i1;
  for (let j0 = i2; j0 < C; j0 += JC) {
    const j1 = Math.min(C, j0 + JC);
    for (let r = 0; r < R; r++) {
      const row = r * C;
      const er = r * B;
      let k = 0;
      for (; k + 3 < B; k += 4) {
        const e0 = errs[er + k];
        const e1 = errs[er + k + 1];
        const e2 = errs[er + k + 2];
        const e3 = errs[er + k + 3];
        if (e0 === 0 && e1 === 0 && e2 === 0 && e3 === 0) continue;
        const u0 = (i1 + k) * C;
        const u1 = u0 + C;
        const u2 = u1 + C;
        const u3 = u2 + C;
        for (let j = j0; j < j1; j++) w[row + j] -= e0 * u[u0 + j] + e1 * u[u1 + j] + e2 * u[u2 + j] + e3 * u[u3 + j];
      }
      for (; k < B; k++) {
        const e = errs[er + k];
        if (e === 0) continue;
        const uk = (i1 + k) * C;
        for (let j = j0; j < j1; j++) w[row + j] -= e * u[uk + j];
      }
    }
  }
}
