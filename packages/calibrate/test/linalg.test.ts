import { describe, expect, it } from 'vitest';
import { NotPositiveDefiniteError, choleskyLower, inverseCholeskyUpper, invertLower, prepareInverseHessian } from '../src/index.js';
import { matmul, maxAbsDiff, spd, transpose } from './helpers.js';

describe('choleskyLower', () => {
  it.each([1, 2, 3, 4, 5, 7, 8, 13, 33])('factors an n×n SPD matrix (n = %i): L·Lᵀ = A, L lower with a positive diagonal', (n) => {
    const { h } = spd(n, n);
    const l = choleskyLower(h, n);
    for (let i = 0; i < n; i++) {
      expect(l[i * n + i]).toBeGreaterThan(0);
      for (let j = i + 1; j < n; j++) expect(l[i * n + j]).toBe(0);
    }
    const back = matmul(l, transpose(l, n, n), n, n, n);
    expect(maxAbsDiff(back, h)).toBeLessThan(1e-9 * Math.max(...h));
  });

  it('rejects a matrix that is not positive definite, naming the pivot', () => {
    const a = Float64Array.from([4, 2, 2, 1]); // rank 1
    expect(() => choleskyLower(a, 2)).toThrow(NotPositiveDefiniteError);
    expect(() => choleskyLower(a, 2)).toThrow(/pivot 1/);
  });
});

describe('invertLower', () => {
  it.each([1, 4, 6, 17])('inverts a lower-triangular n×n matrix (n = %i)', (n) => {
    const l = choleskyLower(spd(n, 100 + n).h, n);
    const x = invertLower(l, n);
    const id = matmul(l, x, n, n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(id[i * n + j]).toBeCloseTo(i === j ? 1 : 0, 9);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(x[i * n + j]).toBe(0);
  });
});

describe('inverseCholeskyUpper', () => {
  it.each([1, 3, 4, 9, 24])('gives the upper U with UᵀU = H⁻¹ and a positive diagonal (n = %i)', (n) => {
    const { h } = spd(n, 7 * n);
    const u = inverseCholeskyUpper(h, n);
    for (let i = 0; i < n; i++) {
      expect(u[i * n + i]).toBeGreaterThan(0);
      for (let j = 0; j < i; j++) expect(u[i * n + j]).toBe(0);
    }
    // (UᵀU)·H = I
    const hinv = matmul(transpose(u, n, n), u, n, n, n);
    const id = matmul(hinv, h, n, n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(id[i * n + j]).toBeCloseTo(i === j ? 1 : 0, 6);
  });

  it('equals the factor of the three-step route cholesky(cholesky_inverse(cholesky(H)), upper)', () => {
    const n = 12;
    const { h } = spd(n, 5);
    const l = choleskyLower(h, n);
    const li = invertLower(l, n);
    const hinv = matmul(transpose(li, n, n), li, n, n, n); // H⁻¹ = L⁻ᵀL⁻¹
    // upper Cholesky of H⁻¹: Uᵀ = lower Cholesky factor
    const ut = choleskyLower(hinv, n);
    const expected = transpose(ut, n, n);
    expect(maxAbsDiff(inverseCholeskyUpper(h, n), expected)).toBeLessThan(1e-8 * Math.max(...expected.map(Math.abs)));
  });
});

describe('prepareInverseHessian', () => {
  it('marks dead inputs, sets their diagonal to 1 and damps by percentDamp × mean diagonal', () => {
    const n = 4;
    const h = new Float64Array(n * n);
    // inputs 0, 2, 3 live; input 1 always zero
    const diag = [2, 0, 4, 6];
    diag.forEach((d, i) => (h[i * n + i] = d));
    const p = prepareInverseHessian(h, n, 0.1);
    expect(Array.from(p.dead)).toEqual([0, 1, 0, 0]);
    // mean of [2, 1, 4, 6] = 3.25 → damp 0.325
    expect(p.damp).toBeCloseTo(0.325, 12);
    expect(p.retries).toBe(0);
    // diagonal H: U[i, i] = 1/√(H[i, i] + damp)
    expect(p.u[0]).toBeCloseTo(1 / Math.sqrt(2.325), 12);
    expect(p.u[1 * n + 1]).toBeCloseTo(1 / Math.sqrt(1.325), 12);
    expect(h[1 * n + 1]).toBe(0); // the input is not modified
  });

  it('raises the damping until an indefinite matrix factors', () => {
    const n = 2;
    const h = Float64Array.from([1, 2, 2, 1]); // eigenvalues 3 and −1
    const p = prepareInverseHessian(h, n, 0.01);
    expect(p.retries).toBeGreaterThan(0);
    expect(p.damp).toBeGreaterThan(1);
  });

  it('rejects a negative percentDamp', () => {
    expect(() => prepareInverseHessian(new Float64Array(1).fill(1), 1, -1)).toThrow('percentDamp must be ≥ 0');
  });
});
