/** Small matrix helpers for the tests. */
import { normals } from './models.js';

/** A random symmetric positive-definite matrix 2/T·XᵀX + εI from correlated rows. */
export function spd(n: number, seed: number, tokens = 4 * n): { h: Float64Array; x: Float64Array } {
  const x = correlatedRows(tokens, n, seed);
  const h = new Float64Array(n * n);
  for (let t = 0; t < tokens; t++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) h[i * n + j] += (2 / tokens) * x[t * n + i] * x[t * n + j];
  for (let i = 0; i < n; i++) h[i * n + i] += 1e-6;
  return { h, x };
}

/** Rows with correlated features and a few outlier channels. */
export function correlatedRows(tokens: number, n: number, seed: number): Float64Array {
  const latent = Math.max(2, n >> 2);
  const mix = normals(latent * n, seed);
  const z = normals(tokens * latent, seed + 1);
  const noise = normals(tokens * n, seed + 2, 0.1);
  const x = new Float64Array(tokens * n);
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < n; i++) {
      let s = noise[t * n + i];
      for (let l = 0; l < latent; l++) s += (z[t * latent + l] * mix[l * n + i]) / (1 + l);
      x[t * n + i] = s * (i % 7 === 3 ? 8 : 1);
    }
  }
  return x;
}

export function matmul(a: Float64Array, b: Float64Array, n: number, m: number, p: number): Float64Array {
  const c = new Float64Array(n * p);
  for (let i = 0; i < n; i++) for (let k = 0; k < m; k++) {
    const v = a[i * m + k];
    if (v !== 0) for (let j = 0; j < p; j++) c[i * p + j] += v * b[k * p + j];
  }
  return c;
}

export function transpose(a: Float64Array, n: number, m: number): Float64Array {
  const t = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) t[j * n + i] = a[i * m + j];
  return t;
}

/** The layer objective tr(ΔW H ΔWᵀ) of a change ΔW [R, C]. */
export function objective(dw: Float64Array, h: Float64Array, R: number, C: number): number {
  let s = 0;
  for (let r = 0; r < R; r++) {
    for (let i = 0; i < C; i++) {
      const a = dw[r * C + i];
      if (a === 0) continue;
      let t = 0;
      for (let j = 0; j < C; j++) t += h[i * C + j] * dw[r * C + j];
      s += a * t;
    }
  }
  return s;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function sub(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => a[i] - b[i]);
}
