/**
 * The hot path of `linear` / `matmul` / `conv`: C = A · Bᵀ over Float32Arrays.
 *
 * Layout: A is [M, K] row-major, B is [N, K] row-major — the layout of a `linear`
 * weight (mil-ops.md §5.1, `[D_out, D_in]`) — so both operands of every dot product are
 * contiguous in k. Other layouts (matmul's non-transposed `y`, conv filters) are brought
 * to this one once per session when the operand is const.
 *
 * Blocking: C is walked in panels of NB columns (NB rows of B, NB·KB·4 bytes stay in
 * L2) and K in chunks of KB; inside a panel a 4×4 register tile keeps 16 accumulators
 * live, so each k step loads 8 floats for 16 multiply-adds. Rows left over when M is
 * not a multiple of 4 (and the M < 4 decode case, which is memory-bound) use a 1×4 tile
 * with the k loop unrolled by 4. Accumulation is in float64 (JS numbers), stored to fp32.
 */

const NB = 64;
const KB = 256;

/**
 * C[m·ldc + n] (+)= Σ_k A[aOff + m·K + k] · B[bOff + n·K + k] for m < M, n < N.
 * With `accumulate` false C is overwritten; `bias` (length N, at `biasOff`) is added to
 * every row.
 */
export function gemmNT(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  aOff: number,
  B: Float32Array,
  bOff: number,
  C: Float32Array,
  cOff: number,
  ldc: number = N,
  accumulate = false,
  bias?: Float32Array,
  biasOff = 0,
): void {
  if (!accumulate) {
    for (let m = 0; m < M; m++) {
      const row = cOff + m * ldc;
      if (bias) for (let n = 0; n < N; n++) C[row + n] = bias[biasOff + n];
      else C.fill(0, row, row + N);
    }
  } else if (bias) {
    for (let m = 0; m < M; m++) {
      const row = cOff + m * ldc;
      for (let n = 0; n < N; n++) C[row + n] += bias[biasOff + n];
    }
  }
  if (K === 0 || M === 0 || N === 0) return;
  if (M < 4) {
    rowsTimesPanel(0, M, 0, N, 0, K, K, A, aOff, B, bOff, C, cOff, ldc);
    return;
  }
  const M4 = M & ~3;
  for (let n0 = 0; n0 < N; n0 += NB) {
    const n1 = Math.min(N, n0 + NB);
    const n4 = n0 + ((n1 - n0) & ~3);
    for (let k0 = 0; k0 < K; k0 += KB) {
      const k1 = Math.min(K, k0 + KB);
      for (let m = 0; m < M4; m += 4) {
        const a0 = aOff + m * K;
        const a1 = a0 + K;
        const a2 = a1 + K;
        const a3 = a2 + K;
        let n = n0;
        for (; n < n4; n += 4) {
          const b0 = bOff + n * K;
          const b1 = b0 + K;
          const b2 = b1 + K;
          const b3 = b2 + K;
          let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
          let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
          let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
          let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
          for (let k = k0; k < k1; k++) {
            const x0 = A[a0 + k];
            const x1 = A[a1 + k];
            const x2 = A[a2 + k];
            const x3 = A[a3 + k];
            const w0 = B[b0 + k];
            const w1 = B[b1 + k];
            const w2 = B[b2 + k];
            const w3 = B[b3 + k];
            c00 += x0 * w0; c01 += x0 * w1; c02 += x0 * w2; c03 += x0 * w3;
            c10 += x1 * w0; c11 += x1 * w1; c12 += x1 * w2; c13 += x1 * w3;
            c20 += x2 * w0; c21 += x2 * w1; c22 += x2 * w2; c23 += x2 * w3;
            c30 += x3 * w0; c31 += x3 * w1; c32 += x3 * w2; c33 += x3 * w3;
          }
          let o = cOff + m * ldc + n;
          C[o] += c00; C[o + 1] += c01; C[o + 2] += c02; C[o + 3] += c03;
          o += ldc;
          C[o] += c10; C[o + 1] += c11; C[o + 2] += c12; C[o + 3] += c13;
          o += ldc;
          C[o] += c20; C[o + 1] += c21; C[o + 2] += c22; C[o + 3] += c23;
          o += ldc;
          C[o] += c30; C[o + 1] += c31; C[o + 2] += c32; C[o + 3] += c33;
        }
        for (; n < n1; n++) {
          const b0 = bOff + n * K;
          let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
          for (let k = k0; k < k1; k++) {
            const w = B[b0 + k];
            c0 += A[a0 + k] * w;
            c1 += A[a1 + k] * w;
            c2 += A[a2 + k] * w;
            c3 += A[a3 + k] * w;
          }
          const o = cOff + m * ldc + n;
          C[o] += c0;
          C[o + ldc] += c1;
          C[o + 2 * ldc] += c2;
          C[o + 3 * ldc] += c3;
        }
      }
      if (M4 < M) rowsTimesPanel(M4, M, n0, n1, k0, k1, K, A, aOff, B, bOff, C, cOff, ldc);
    }
  }
}

/** C[m, n0:n1] += A[m, k0:k1] · B[n0:n1, k0:k1]ᵀ for m in [m0, m1): 1×4 tiles, k unrolled by 4. */
function rowsTimesPanel(
  m0: number,
  m1: number,
  n0: number,
  n1: number,
  k0: number,
  k1: number,
  K: number,
  A: Float32Array,
  aOff: number,
  B: Float32Array,
  bOff: number,
  C: Float32Array,
  cOff: number,
  ldc: number,
): void {
  const n4 = n0 + ((n1 - n0) & ~3);
  const k4 = k0 + ((k1 - k0) & ~3);
  for (let m = m0; m < m1; m++) {
    const a = aOff + m * K;
    let n = n0;
    for (; n < n4; n += 4) {
      const b0 = bOff + n * K;
      const b1 = b0 + K;
      const b2 = b1 + K;
      const b3 = b2 + K;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      let k = k0;
      for (; k < k4; k += 4) {
        const x0 = A[a + k];
        const x1 = A[a + k + 1];
        const x2 = A[a + k + 2];
        const x3 = A[a + k + 3];
        c0 += x0 * B[b0 + k] + x1 * B[b0 + k + 1] + x2 * B[b0 + k + 2] + x3 * B[b0 + k + 3];
        c1 += x0 * B[b1 + k] + x1 * B[b1 + k + 1] + x2 * B[b1 + k + 2] + x3 * B[b1 + k + 3];
        c2 += x0 * B[b2 + k] + x1 * B[b2 + k + 1] + x2 * B[b2 + k + 2] + x3 * B[b2 + k + 3];
        c3 += x0 * B[b3 + k] + x1 * B[b3 + k + 1] + x2 * B[b3 + k + 2] + x3 * B[b3 + k + 3];
      }
      for (; k < k1; k++) {
        const x = A[a + k];
        c0 += x * B[b0 + k];
        c1 += x * B[b1 + k];
        c2 += x * B[b2 + k];
        c3 += x * B[b3 + k];
      }
      const o = cOff + m * ldc + n;
      C[o] += c0;
      C[o + 1] += c1;
      C[o + 2] += c2;
      C[o + 3] += c3;
    }
    for (; n < n1; n++) {
      const b = bOff + n * K;
      let c = 0;
      for (let k = k0; k < k1; k++) c += A[a + k] * B[b + k];
      C[cOff + m * ldc + n] += c;
    }
  }
}

/**
 * The textbook triple loop C[m, n] = Σ_k A[m, k] · B[n, k] (same layouts as gemmNT, one
 * accumulator, no blocking). The benchmark's baseline and the tests' reference.
 */
export function gemmNaive(M: number, N: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array): void {
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A[m * K + k] * B[n * K + k];
      C[m * N + n] = s;
    }
  }
}

/** Transposes a row-major [rows, cols] matrix (at `off`) into `out` as [cols, rows]; 32×32 tiles. */
export function transpose2d(
  src: Float32Array,
  off: number,
  rows: number,
  cols: number,
  out: Float32Array = new Float32Array(rows * cols),
  outOff = 0,
): Float32Array {
  const T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let r = r0; r < r1; r++) {
        const s = off + r * cols;
        for (let c = c0; c < c1; c++) out[outOff + c * rows + r] = src[s + c];
      }
    }
  }
  return out;
}
