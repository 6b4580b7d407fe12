/**
 * Dense float64 linear algebra for the Hessian-based compressors: Cholesky factorisation
 * and the upper Cholesky factor of the inverse Hessian that GPTQ and SparseGPT sweep
 * over.
 *
 * GPTQ (Frantar et al. 2022, §"Cholesky reformulation") needs `U`, upper triangular with
 * `UᵀU = H⁻¹` — PyTorch's `cholesky(cholesky_inverse(cholesky(H)), upper=True)`. That is
 * three O(n³) steps; the same factor comes out of two:
 *
 *     J = the reversal permutation,  J·H·J = L'·L'ᵀ           (lower Cholesky, n³/3)
 *     ⇒ H = V·Vᵀ with V = J·L'·J upper triangular
 *     ⇒ H⁻¹ = V⁻ᵀ·V⁻¹ = UᵀU with U = V⁻¹ = J·L'⁻¹·J             (triangular inverse, n³/3)
 *
 * U has a positive diagonal, so by uniqueness of the Cholesky factor it is exactly the
 * factor PyTorch computes. Matrices are row-major `Float64Array`s of n·n; every inner loop
 * walks a contiguous row.
 */

/** A symmetric positive-definite solve failed: the matrix is not positive definite. */
export class NotPositiveDefiniteError extends Error {
  readonly pivot: number;
  constructor(pivot: number, value: number) {
    super(`matrix is not positive definite (pivot ${pivot} is ${value})`);
    this.name = 'NotPositiveDefiniteError';
    this.pivot = pivot;
  }
}

/** A pivot at most this fraction of its original diagonal entry counts as zero. */
const PIVOT_TOLERANCE = 1e-12;

/** Rows handled together by the blocked kernels: each load of a shared row feeds four dot products. */
const RB = 4;

/**
 * Lower Cholesky factor of the symmetric positive-definite `a` (n×n row-major; only the
 * lower triangle is read). Returns a new matrix with zeros above the diagonal.
 *
 * Left-looking, four rows at a time: L[i, j] = (A[i, j] − L[i, :j]·L[j, :j]) / L[j, j], and
 * the rows i0…i0+3 share every load of row j — a quarter of the memory traffic of the
 * row-by-row loop, which is what bounds this kernel.
 */
export function choleskyLower(a: Float64Array, n: number): Float64Array {
  if (a.length !== n * n) throw new Error(`choleskyLower: expected ${n}×${n} = ${n * n} elements, got ${a.length}`);
  const l = new Float64Array(n * n);
  for (let i0 = 0; i0 < n; i0 += RB) {
    const rows = Math.min(RB, n - i0);
    // rows past the end alias the last real row (their results are discarded)
    const r0 = i0 * n;
    const r1 = (i0 + Math.min(1, rows - 1)) * n;
    const r2 = (i0 + Math.min(2, rows - 1)) * n;
    const r3 = (i0 + Math.min(3, rows - 1)) * n;
    for (let j = 0; j < i0; j++) {
      const rj = j * n;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < j; k++) {
        const v = l[rj + k];
        s0 += l[r0 + k] * v;
        s1 += l[r1 + k] * v;
        s2 += l[r2 + k] * v;
        s3 += l[r3 + k] * v;
      }
      const d = l[rj + j];
      l[r0 + j] = (a[r0 + j] - s0) / d;
      if (rows > 1) l[r1 + j] = (a[r1 + j] - s1) / d;
      if (rows > 2) l[r2 + j] = (a[r2 + j] - s2) / d;
      if (rows > 3) l[r3 + j] = (a[r3 + j] - s3) / d;
    }
    // the diagonal block, row by row
    for (let i = i0; i < i0 + rows; i++) {
      const ri = i * n;
      for (let j = i0; j <= i; j++) {
        const rj = j * n;
        let s = a[ri + j];
        for (let k = 0; k < j; k++) s -= l[ri + k] * l[rj + k];
        if (i === j) {
          // a pivot lost to cancellation (relative to the diagonal) means "not positive definite" too
          if (!(s > PIVOT_TOLERANCE * Math.abs(a[ri + i]))) throw new NotPositiveDefiniteError(i, s);
          l[ri + i] = Math.sqrt(s);
        } else {
          l[ri + j] = s / l[rj + j];
        }
      }
    }
  }
  return l;
}

/**
 * Inverse of a lower-triangular matrix with a non-zero diagonal, returned transposed:
 * `xt[j·n + i] = (L⁻¹)[i, j]` (upper triangular). Row i of L⁻¹ follows from the rows
 * before it, X[i, j] = −(Σ_{j≤k<i} L[i, k]·X[k, j]) / L[i, i]; with X kept transposed both
 * operands of that dot product are contiguous, and four rows i share each load of Xᵀ[j].
 */
export function invertLowerTransposed(l: Float64Array, n: number): Float64Array {
  const xt = new Float64Array(n * n);
  for (let i0 = 0; i0 < n; i0 += RB) {
    const rows = Math.min(RB, n - i0);
    const r0 = i0 * n;
    const r1 = (i0 + Math.min(1, rows - 1)) * n;
    const r2 = (i0 + Math.min(2, rows - 1)) * n;
    const r3 = (i0 + Math.min(3, rows - 1)) * n;
    // columns j < i0: every k in [j, i0) is an earlier row
    for (let j = 0; j < i0; j++) {
      const cj = j * n;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = j; k < i0; k++) {
        const v = xt[cj + k];
        s0 += l[r0 + k] * v;
        s1 += l[r1 + k] * v;
        s2 += l[r2 + k] * v;
        s3 += l[r3 + k] * v;
      }
      // then the rows of this group before i
      xt[cj + i0] = -s0 / l[r0 + i0];
      if (rows > 1) xt[cj + i0 + 1] = -(s1 + l[r1 + i0] * xt[cj + i0]) / l[r1 + i0 + 1];
      if (rows > 2) xt[cj + i0 + 2] = -(s2 + l[r2 + i0] * xt[cj + i0] + l[r2 + i0 + 1] * xt[cj + i0 + 1]) / l[r2 + i0 + 2];
      if (rows > 3) {
        xt[cj + i0 + 3] = -(s3 + l[r3 + i0] * xt[cj + i0] + l[r3 + i0 + 1] * xt[cj + i0 + 1] + l[r3 + i0 + 2] * xt[cj + i0 + 2]) / l[r3 + i0 + 3];
      }
    }
    // the diagonal block
    for (let i = i0; i < i0 + rows; i++) {
      const ri = i * n;
      for (let j = i0; j <= i; j++) {
        const cj = j * n;
        if (j === i) {
          xt[cj + i] = 1 / l[ri + i];
          continue;
        }
        let s = 0;
        for (let k = j; k < i; k++) s += l[ri + k] * xt[cj + k];
        xt[cj + i] = -s / l[ri + i];
      }
    }
  }
  return xt;
}

/** Inverse of a lower-triangular matrix with a non-zero diagonal (result lower triangular). */
export function invertLower(l: Float64Array, n: number): Float64Array {
  const xt = invertLowerTransposed(l, n);
  const x = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) x[i * n + j] = xt[j * n + i];
  return x;
}

/**
 * The upper triangular `U` with `UᵀU = H⁻¹` for a symmetric positive-definite `H`
 * (module comment). Throws NotPositiveDefiniteError when `H` is not.
 */
export function inverseCholeskyUpper(h: Float64Array, n: number): Float64Array {
  if (h.length !== n * n) throw new Error(`inverseCholeskyUpper: expected ${n}×${n} = ${n * n} elements, got ${h.length}`);
  // J·H·J: reverse rows and columns
  const r = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const src = (n - 1 - i) * n;
    const dst = i * n;
    for (let j = 0; j < n; j++) r[dst + j] = h[src + (n - 1 - j)];
  }
  const lr = choleskyLower(r, n);
  const invT = invertLowerTransposed(lr, n);
  // U[a, b] = inv[n−1−a, n−1−b] = invT[n−1−b, n−1−a]
  const u = r; // reuse the buffer
  for (let a = 0; a < n; a++) {
    const dst = a * n;
    const col = n - 1 - a;
    for (let b = 0; b < n; b++) u[dst + b] = invT[(n - 1 - b) * n + col];
  }
  return u;
}

/** The damped inverse Hessian factor a sweep needs, and what it took to get it. */
export interface PreparedHessian {
  /** Upper triangular U with UᵀU = (H + damp·I)⁻¹ (dead columns' diagonal set to 1 first). */
  readonly u: Float64Array;
  /** 1 for a column whose input was always zero (H[i, i] = 0). */
  readonly dead: Uint8Array;
  /** The damping added to the diagonal. */
  readonly damp: number;
  /** How many times the damping was multiplied by 10 because H + damp·I was not positive definite. */
  readonly retries: number;
}

const MAX_DAMP_RETRIES = 6;

/**
 * GPTQ's preparation of H (`fasterquant`): a column with H[i, i] = 0 is dead (its input is
 * always zero) and gets H[i, i] = 1; then `percentDamp` × the mean diagonal is added to the
 * diagonal, and U is the upper Cholesky factor of the inverse. If rounding leaves the damped
 * matrix indefinite, the damping is multiplied by 10 and the factorisation retried (at most
 * six times) — reported in `retries`.
 */
export function prepareInverseHessian(h: Float64Array, n: number, percentDamp: number): PreparedHessian {
  if (h.length !== n * n) throw new Error(`prepareInverseHessian: expected ${n}×${n} = ${n * n} elements, got ${h.length}`);
  if (!(percentDamp >= 0)) throw new Error(`prepareInverseHessian: percentDamp must be ≥ 0, got ${percentDamp}`);
  const dead = new Uint8Array(n);
  const work = Float64Array.from(h);
  let mean = 0;
  for (let i = 0; i < n; i++) {
    const k = i * n + i;
    if (work[k] === 0) {
      dead[i] = 1;
      // a dead input contributes nothing: drop its correlations too
      for (let j = 0; j < n; j++) {
        work[i * n + j] = 0;
        work[j * n + i] = 0;
      }
      work[k] = 1;
    }
    mean += work[k];
  }
  mean /= n;
  let damp = percentDamp * mean;
  if (damp === 0) damp = 1e-12 * (mean || 1);
  for (let retries = 0; ; retries++) {
    const m = Float64Array.from(work);
    for (let i = 0; i < n; i++) m[i * n + i] += damp;
    try {
      return { u: inverseCholeskyUpper(m, n), dead, damp, retries };
    } catch (e) {
      if (!(e instanceof NotPositiveDefiniteError) || retries >= MAX_DAMP_RETRIES) throw e;
      damp *= 10;
    }
  }
}
