/**
 * The layer-wise Hessian H = 2/T · Σ_t x_t x_tᵀ of the reconstruction objective
 * ‖X·Wᵀ − X·Ŵᵀ‖² (GPTQ, SparseGPT; T = tokens seen), accumulated over the calibration
 * activations in float64.
 *
 * The accumulation is a symmetric rank-T update (SYRK): only the upper triangle is
 * computed — half the multiply-adds of the layer's forward pass per token when the layer
 * is square — and mirrored at the end. The activations come as rows `X[t, :]` and are
 * transposed once per chunk of tokens, so every dot product H[i, j] += Σ_t X[t,i]·X[t,j]
 * walks two contiguous rows of Xᵀ. Products of two float32 values are exact in float64,
 * and the 4×4 register tile sums in float64 before adding into H.
 *
 * Blocking: columns j in panels of PANEL (a panel of Xᵀ rows stays in cache) and tokens
 * in chunks of CHUNK; rows i stream past the panel. Dimensions are padded to a multiple
 * of 4 inside (zero rows add nothing).
 */

const PANEL = 64;
const CHUNK = 256;

export class HessianAccumulator implements ActivationSink {
  /** Number of input features (columns of the canonical weight). */
  readonly n: number;
  /** Tokens (rows of X) accumulated so far. */
  tokens = 0;
  private readonly n4: number;
  /** Unnormalised Σ XᵀX, upper triangle (n4 × n4, row-major). */
  private readonly acc: Float64Array;
  private scratch = new Float32Array(0);

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`HessianAccumulator: n must be a positive integer, got ${n}`);
    this.n = n;
    this.n4 = (n + 3) & ~3;
    this.acc = new Float64Array(this.n4 * this.n4);
  }

  /** Adds `rows` activation rows X[t, :] (row-major, `n` per row, starting at `offset`). */
  addRows(x: ArrayLike<number>, rows: number, offset = 0): void {
    const n = this.n;
    if (offset + rows * n > x.length) throw new Error(`HessianAccumulator.addRows: ${rows} rows of ${n} need ${offset + rows * n} elements, got ${x.length}`);
    for (let t0 = 0; t0 < rows; t0 += CHUNK) {
      const t1 = Math.min(rows, t0 + CHUNK);
      const T = t1 - t0;
      const xt = this.scratchFor(T);
      for (let t = 0; t < T; t++) {
        const src = offset + (t0 + t) * n;
        for (let i = 0; i < n; i++) xt[i * T + t] = x[src + i];
      }
      this.addTransposedChunk(xt, T);
    }
  }

  /**
   * Adds activations given transposed: `xt[i, t]` (row-major [n, rows], starting at
   * `offset`) — the layout of a matmul operand whose features run along axis −2, and of
   * im2col patches built feature-major.
   */
  addColumns(xt: ArrayLike<number>, rows: number, offset = 0): void {
    const n = this.n;
    if (offset + rows * n > xt.length) throw new Error(`HessianAccumulator.addColumns: ${n} features × ${rows} tokens need ${offset + rows * n} elements, got ${xt.length}`);
    for (let t0 = 0; t0 < rows; t0 += CHUNK) {
      const t1 = Math.min(rows, t0 + CHUNK);
      const T = t1 - t0;
      const buf = this.scratchFor(T);
      for (let i = 0; i < n; i++) {
        const src = offset + i * rows + t0;
        const dst = i * T;
        for (let t = 0; t < T; t++) buf[dst + t] = xt[src + t];
      }
      this.addTransposedChunk(buf, T);
    }
  }

  private scratchFor(T: number): Float32Array {
    const need = this.n4 * T;
    if (this.scratch.length < need) this.scratch = new Float32Array(need);
    else this.scratch.fill(0, this.n * T, need);
    return this.scratch;
  }

  /** acc[i, j] += Σ_t xt[i, t]·xt[j, t] for j ≥ i (block-wise), xt is [n4, T]. */
  private addTransposedChunk(xt: Float32Array, T: number): void {
    const n4 = this.n4;
    const acc = this.acc;
    for (let j0 = 0; j0 < n4; j0 += PANEL) {
      const j1 = Math.min(n4, j0 + PANEL);
      for (let i = 0; i < j1; i += 4) {
        const a0 = i * T;
        const a1 = a0 + T;
        const a2 = a1 + T;
        const a3 = a2 + T;
        for (let j = Math.max(j0, i); j < j1; j += 4) {
          const b0 = j * T;
          const b1 = b0 + T;
          const b2 = b1 + T;
          const b3 = b2 + T;
          let s00 = 0, s01 = 0, s02 = 0, s03 = 0;
          let s10 = 0, s11 = 0, s12 = 0, s13 = 0;
          let s20 = 0, s21 = 0, s22 = 0, s23 = 0;
          let s30 = 0, s31 = 0, s32 = 0, s33 = 0;
          for (let t = 0; t < T; t++) {
            const x0 = xt[a0 + t];
            const x1 = xt[a1 + t];
            const x2 = xt[a2 + t];
            const x3 = xt[a3 + t];
            const y0 = xt[b0 + t];
            const y1 = xt[b1 + t];
            const y2 = xt[b2 + t];
            const y3 = xt[b3 + t];
            s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
            s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
            s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
            s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
          }
          let r = i * n4 + j;
          acc[r] += s00; acc[r + 1] += s01; acc[r + 2] += s02; acc[r + 3] += s03;
          r += n4;
          acc[r] += s10; acc[r + 1] += s11; acc[r + 2] += s12; acc[r + 3] += s13;
          r += n4;
          acc[r] += s20; acc[r + 1] += s21; acc[r + 2] += s22; acc[r + 3] += s23;
          r += n4;
          acc[r] += s30; acc[r + 1] += s31; acc[r + 2] += s32; acc[r + 3] += s33;
        }
      }
    }
    this.tokens += T;
  }

  /** The diagonal of H = 2/T · Σ XᵀX (zeros before any token was added). */
  diagonal(): Float64Array {
    const d = new Float64Array(this.n);
    const f = this.tokens > 0 ? 2 / this.tokens : 0;
    for (let i = 0; i < this.n; i++) d[i] = this.acc[i * this.n4 + i] * f;
    return d;
  }

  /** The full symmetric H = 2/T · Σ XᵀX (n × n, row-major, a new array). */
  hessian(): Float64Array {
    const n = this.n;
    const n4 = this.n4;
    const f = this.tokens > 0 ? 2 / this.tokens : 0;
    const h = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const v = this.acc[i * n4 + j] * f;
        h[i * n + j] = v;
        h[j * n + i] = v;
      }
    }
    return h;
  }
}

/** Where a layer's activations go: a full Hessian or only its diagonal. */
export interface ActivationSink {
  readonly n: number;
  readonly tokens: number;
  addRows(x: ArrayLike<number>, rows: number, offset?: number): void;
  addColumns(xt: ArrayLike<number>, rows: number, offset?: number): void;
  /** The diagonal of H = 2/T · Σ XᵀX. */
  diagonal(): Float64Array;
}

/**
 * Only the diagonal of the Hessian, 2/T · Σ_t x_t,i² — all that sensitivity-weighted
 * k-means needs, at O(n) per token instead of O(n²).
 */
export class DiagonalAccumulator implements ActivationSink {
  readonly n: number;
  tokens = 0;
  private readonly acc: Float64Array;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`DiagonalAccumulator: n must be a positive integer, got ${n}`);
    this.n = n;
    this.acc = new Float64Array(n);
  }

  addRows(x: ArrayLike<number>, rows: number, offset = 0): void {
    const n = this.n;
    if (offset + rows * n > x.length) throw new Error(`DiagonalAccumulator.addRows: ${rows} rows of ${n} need ${offset + rows * n} elements, got ${x.length}`);
    const acc = this.acc;
    for (let t = 0; t < rows; t++) {
      const base = offset + t * n;
      for (let i = 0; i < n; i++) {
        const v = x[base + i];
        acc[i] += v * v;
      }
    }
    this.tokens += rows;
  }

  addColumns(xt: ArrayLike<number>, rows: number, offset = 0): void {
    const n = this.n;
    if (offset + rows * n > xt.length) throw new Error(`DiagonalAccumulator.addColumns: ${n} features × ${rows} tokens need ${offset + rows * n} elements, got ${xt.length}`);
    const acc = this.acc;
    for (let i = 0; i < n; i++) {
      const base = offset + i * rows;
      let s = 0;
      for (let t = 0; t < rows; t++) {
        const v = xt[base + t];
        s += v * v;
      }
      acc[i] += s;
    }
    this.tokens += rows;
  }

  diagonal(): Float64Array {
    const f = this.tokens > 0 ? 2 / this.tokens : 0;
    return Float64Array.from(this.acc, (x) => x * f);
  }
}
