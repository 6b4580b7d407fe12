import { describe, expect, it } from 'vitest';
import { DiagonalAccumulator, HessianAccumulator } from '../src/index.js';
import { correlatedRows } from './helpers.js';

function naive(x: ArrayLike<number>, T: number, n: number): Float64Array {
  const h = new Float64Array(n * n);
  for (let t = 0; t < T; t++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) h[i * n + j] += x[t * n + i] * x[t * n + j];
  return h.map((v) => (2 * v) / T);
}

describe('HessianAccumulator', () => {
  it.each([
    [1, 3],
    [5, 9],
    [8, 300],
    [13, 257],
    [70, 40],
  ])('n = %i, %i tokens: equals 2/T·XᵀX, symmetric, in float64', (n, T) => {
    const x = Float32Array.from(correlatedRows(T, n, n + T));
    const acc = new HessianAccumulator(n);
    // in two uneven batches
    const first = Math.floor(T / 3);
    acc.addRows(x, first);
    acc.addRows(x, T - first, first * n);
    expect(acc.tokens).toBe(T);
    const h = acc.hessian();
    const ref = naive(x, T, n);
    for (let k = 0; k < n * n; k++) expect(h[k]).toBeCloseTo(ref[k], 9);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(h[i * n + j]).toBe(h[j * n + i]);
    expect(Array.from(acc.diagonal())).toEqual(Array.from({ length: n }, (_, i) => h[i * n + i]));
  });

  it('addColumns (features × tokens) equals addRows of the transpose', () => {
    const n = 11;
    const T = 270;
    const x = Float32Array.from(correlatedRows(T, n, 3));
    const xt = new Float32Array(n * T);
    for (let t = 0; t < T; t++) for (let i = 0; i < n; i++) xt[i * T + t] = x[t * n + i];
    const a = new HessianAccumulator(n);
    const b = new HessianAccumulator(n);
    a.addRows(x, T);
    b.addColumns(xt, T);
    expect(Array.from(b.hessian())).toEqual(Array.from(a.hessian()));
  });

  it('accumulates exactly: products of float32 values summed in float64', () => {
    // 2^24 + 1 is not a float32, but 4097² summed over tokens is exact in float64
    const n = 4;
    const T = 1000;
    const x = new Float32Array(T * n).fill(4097);
    const acc = new HessianAccumulator(n);
    acc.addRows(x, T);
    expect(acc.hessian()[0]).toBe(2 * 4097 * 4097);
  });

  it('rejects short input', () => {
    expect(() => new HessianAccumulator(4).addRows(new Float32Array(7), 2)).toThrow('2 rows of 4 need 8 elements, got 7');
    expect(() => new HessianAccumulator(0)).toThrow('n must be a positive integer');
  });
});

describe('DiagonalAccumulator', () => {
  it('equals the diagonal of the full accumulator', () => {
    const n = 9;
    const T = 100;
    const x = Float32Array.from(correlatedRows(T, n, 9));
    const full = new HessianAccumulator(n);
    const diag = new DiagonalAccumulator(n);
    full.addRows(x, 60);
    diag.addRows(x, 60);
    const xt = new Float32Array(n * 40);
    for (let t = 0; t < 40; t++) for (let i = 0; i < n; i++) xt[i * 40 + t] = x[(60 + t) * n + i];
    full.addColumns(xt, 40);
    diag.addColumns(xt, 40);
    const a = full.diagonal();
    const b = diag.diagonal();
    for (let i = 0; i < n; i++) expect(b[i]).toBeCloseTo(a[i], 10);
    expect(diag.tokens).toBe(100);
  });
});
