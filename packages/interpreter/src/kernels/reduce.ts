/**
 * Reductions, softmax and normalisations (mil-ops.md §5.3, §6; coremltools'
 * `reduction.py`, `normalization.py`). Sums run in float64.
 */
import type { Kernel, KernelContext } from '../kernel.js';
import { type RData, type RTensor, fmt, kindOf, rt, sizeOf } from '../rtensor.js';
import { normAxis, permute } from './shape.js';

/**
 * Brings the `axes` (sorted, normalised) of x to the end, so every reduced group is one
 * contiguous row of length R. No copy when they already are the trailing axes.
 */
function axesLast(data: RData, shape: readonly number[], axes: readonly number[]): { data: RData; kept: number[]; R: number; perm: number[] } {
  const rank = shape.length;
  const keptAxes = [...Array(rank).keys()].filter((i) => !axes.includes(i));
  const perm = [...keptAxes, ...axes];
  const kept = keptAxes.map((i) => shape[i]);
  const R = sizeOf(axes.map((i) => shape[i]));
  const trailing = perm.every((p, i) => p === i);
  return { data: trailing ? data : permute(data, shape, perm).data, kept, R, perm };
}

function reduceAxes(ctx: KernelContext, x: RTensor): number[] {
  const rank = x.shape.length;
  if (!ctx.has('axes')) return [...Array(rank).keys()];
  const axes = ctx.ints('axes').map((a) => normAxis(ctx, a, rank, 'axes'));
  if (new Set(axes).size !== axes.length) ctx.fail(`axes [${axes.join(', ')}] name an axis twice`, 'axes');
  return axes.sort((a, b) => a - b);
}

function outShape(shape: readonly number[], axes: readonly number[], keep: boolean): number[] {
  return keep ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

type Reducer = (d: RData, off: number, R: number) => number;

const REDUCERS: Record<string, Reducer> = {
  reduce_sum: (d, o, R) => {
    let s = 0;
    for (let i = 0; i < R; i++) s += d[o + i];
    return s;
  },
  reduce_mean: (d, o, R) => {
    let s = 0;
    for (let i = 0; i < R; i++) s += d[o + i];
    return s / R;
  },
  reduce_prod: (d, o, R) => {
    let s = 1;
    for (let i = 0; i < R; i++) s *= d[o + i];
    return s;
  },
  reduce_max: (d, o, R) => {
    let s = -Infinity;
    for (let i = 0; i < R; i++) {
      const v = d[o + i];
      if (v > s || Number.isNaN(v)) s = v;
      if (Number.isNaN(s)) break;
    }
    return s;
  },
  reduce_min: (d, o, R) => {
    let s = Infinity;
    for (let i = 0; i < R; i++) {
      const v = d[o + i];
      if (v < s || Number.isNaN(v)) s = v;
      if (Number.isNaN(s)) break;
    }
    return s;
  },
  reduce_sum_square: (d, o, R) => {
    let s = 0;
    for (let i = 0; i < R; i++) s += d[o + i] * d[o + i];
    return s;
  },
  reduce_l1_norm: (d, o, R) => {
    let s = 0;
    for (let i = 0; i < R; i++) s += Math.abs(d[o + i]);
    return s;
  },
  reduce_l2_norm: (d, o, R) => {
    let s = 0;
    for (let i = 0; i < R; i++) s += d[o + i] * d[o + i];
    return Math.sqrt(s);
  },
  reduce_log_sum: (d, o, R) => {
    let s = 0;
    for (let i = 0; i < R; i++) s += d[o + i];
    return Math.log(s);
  },
  reduce_log_sum_exp: (d, o, R) => {
    let m = -Infinity;
    for (let i = 0; i < R; i++) if (d[o + i] > m) m = d[o + i];
    if (!Number.isFinite(m)) return m;
    let s = 0;
    for (let i = 0; i < R; i++) s += Math.exp(d[o + i] - m);
    return m + Math.log(s);
  },
};

/** Reductions whose integer form stays integral (the others always produce floats). */
const INT_REDUCERS = new Set(['reduce_sum', 'reduce_mean', 'reduce_prod', 'reduce_max', 'reduce_min', 'reduce_sum_square', 'reduce_l1_norm']);

const reduceKernel =
  (op: string): Kernel =>
  (ctx) => {
    const x = ctx.tensor('x');
    const kind = kindOf(x.dtype);
    if (kind !== 'float' && kind !== 'int') ctx.fail(`expects a numeric tensor, got ${fmt(x)}`, 'x');
    const axes = reduceAxes(ctx, x);
    const keep = ctx.bool('keep_dims', false);
    const { data, kept, R } = axesLast(x.data, x.shape, axes);
    const n = sizeOf(kept);
    const f = REDUCERS[op];
    const shape = outShape(x.shape, axes, keep);
    if (kind === 'int' && INT_REDUCERS.has(op)) {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = Math.trunc(f(data, i * R, R));
      return [rt('int32', shape, out)];
    }
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = f(data, i * R, R);
    return [rt('fp32', shape, out)];
  };

/** reduce_argmax / reduce_argmin over one `axis` (default -1); the first extreme wins; int32 output. */
const argKernel =
  (max: boolean): Kernel =>
  (ctx) => {
    const x = ctx.tensor('x');
    const rank = x.shape.length;
    const axis = normAxis(ctx, ctx.int('axis', -1), rank, 'axis');
    const keep = ctx.bool('keep_dims', false);
    const { data, kept, R } = axesLast(x.data, x.shape, [axis]);
    const n = sizeOf(kept);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bv = data[i * R];
      for (let j = 1; j < R && !Number.isNaN(bv); j++) {
        const v = data[i * R + j];
        if (max ? v > bv || Number.isNaN(v) : v < bv || Number.isNaN(v)) {
          bv = v;
          best = j;
        }
      }
      out[i] = best;
    }
    return [rt('int32', outShape(x.shape, [axis], keep), out)];
  };

/** softmax(x, axis = -1) = exp(x − max) / Σ exp(x − max) (mil-ops.md §5.3). */
const softmax: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const X = x.data;
  const rank = x.shape.length;
  const axis = normAxis(ctx, ctx.int('axis', -1), rank, 'axis');
  const out = new Float32Array(X.length);
  const D = x.shape[axis];
  const inner = sizeOf(x.shape.slice(axis + 1));
  const outer = sizeOf(x.shape.slice(0, axis));
  softmaxStrided(X, out, outer, D, inner);
  return [rt('fp32', x.shape, out)];
};

/** Softmax of [outer, D, inner] along D, from `src` into `dst` (float64 sums). */
export function softmaxStrided(src: ArrayLike<number>, dst: Float32Array, outer: number, D: number, inner: number): void {
  const tmp = new Float64Array(D);
  for (let p = 0; p < outer; p++) {
    for (let q = 0; q < inner; q++) {
      const base = p * D * inner + q;
      let m = -Infinity;
      for (let i = 0; i < D; i++) {
        const v = src[base + i * inner];
        if (v > m || Number.isNaN(v)) m = v;
      }
      let s = 0;
      for (let i = 0; i < D; i++) {
        const e = Math.exp(src[base + i * inner] - m);
        tmp[i] = e;
        s += e;
      }
      for (let i = 0; i < D; i++) dst[base + i * inner] = tmp[i] / s;
    }
  }
}

/**
 * layer_norm (mil-ops.md §6): gamma·(x − mean)/√(var + eps) + beta with population mean
 * and variance over `axes` (default all); gamma/beta have shape x.shape[axes].
 */
const layerNorm: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const rank = x.shape.length;
  const axes = reduceAxes(ctx, x);
  const eps = ctx.float('epsilon', 1e-5);
  const gamma = ctx.optional('gamma');
  const beta = ctx.optional('beta');
  const pShape = axes.map((a) => x.shape[a]);
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t && (t.shape.length !== pShape.length || !t.shape.every((d, i) => d === pShape[i]))) {
      ctx.fail(`must have shape [${pShape.join(', ')}] (x.shape at axes [${axes.join(', ')}]), got ${fmt(t)}`, name);
    }
  }
  const { data, kept, R, perm } = axesLast(x.data, x.shape, axes);
  const n = sizeOf(kept);
  const normed = new Float32Array(n * R);
  const G = gamma?.data;
  const B = beta?.data;
  for (let i = 0; i < n; i++) {
    const o = i * R;
    let s = 0;
    for (let j = 0; j < R; j++) s += data[o + j];
    const mean = s / R;
    let v = 0;
    for (let j = 0; j < R; j++) {
      const d = data[o + j] - mean;
      v += d * d;
    }
    const inv = 1 / Math.sqrt(v / R + eps);
    for (let j = 0; j < R; j++) {
      const y = (data[o + j] - mean) * inv;
      normed[o + j] = (G ? G[j] * y : y) + (B ? B[j] : 0);
    }
  }
  if (perm.every((p, i) => p === i)) return [rt('fp32', x.shape, normed)];
  const inv = new Array<number>(rank);
  perm.forEach((p, i) => (inv[p] = i));
  const permShape = perm.map((p) => x.shape[p]);
  return [rt('fp32', x.shape, permute(normed, permShape, inv).data as Float32Array)];
};

/** batch_norm (mil-ops.md §6): per channel (axis 1) gamma_c·(x − mean_c)/√(var_c + eps) + beta_c. */
const batchNorm: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  if (x.shape.length < 2) ctx.fail(`x must be [N, C, *D], got ${fmt(x)}`, 'x');
  const C = x.shape[1];
  const param = (name: string, required: boolean): RData | undefined => {
    const t = required ? ctx.tensor(name) : ctx.optional(name);
    if (t && t.data.length !== C) ctx.fail(`must have ${C} elements (x.shape[1]), got ${fmt(t)}`, name);
    return t?.data;
  };
  const mean = param('mean', true)!;
  const variance = param('variance', true)!;
  const gamma = param('gamma', false);
  const beta = param('beta', false);
  const eps = ctx.float('epsilon', 1e-5);
  const inner = sizeOf(x.shape.slice(2));
  const out = new Float32Array(x.data.length);
  const N = x.shape[0];
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const scale = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + eps);
      const shift = beta ? beta[c] : 0;
      const base = (n * C + c) * inner;
      for (let i = 0; i < inner; i++) out[base + i] = (x.data[base + i] - mean[c]) * scale + shift;
    }
  }
  return [rt('fp32', x.shape, out)];
};

export const REDUCE_KERNELS: Record<string, Kernel> = {
  ...Object.fromEntries(Object.keys(REDUCERS).map((op) => [op, reduceKernel(op)])),
  reduce_argmax: argKernel(true),
  reduce_argmin: argKernel(false),
  softmax,
  layer_norm: layerNorm,
  batch_norm: batchNorm,
};
