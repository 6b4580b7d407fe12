/**
 * Data-movement ops: reshape, transpose, expand_dims, squeeze, slicing (slice_by_index,
 * slice_by_size, slice_update), concat, split, stack, tile, gather, gather_along_axis,
 * band_part, fill, range_1d, cast, identity, shape (mil-ops.md §3, §6).
 */
import { type DType, isDType, targetAtLeast } from '@silica/ir';
import type { Kernel, KernelContext } from '../kernel.js';
import { type RData, type RTensor, alloc, copyOf, fmt, kindOf, rt, sizeOf, stridesOf } from '../rtensor.js';

export function normAxis(ctx: KernelContext, axis: number, rank: number, param: string): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    ctx.fail(`axis ${axis} is out of range for rank ${rank} (expected ${-rank} ≤ axis < ${rank})`, param);
  }
  return axis < 0 ? axis + rank : axis;
}

function newLike(data: RData, n: number): RData {
  return new (data.constructor as new (n: number) => RData)(n);
}

/** Permuted copy: out axis i is input axis perm[i]. */
export function permute(data: RData, shape: readonly number[], perm: readonly number[]): { shape: number[]; data: RData } {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const n = data.length;
  const out = newLike(data, n);
  if (n === 0) return { shape: outShape, data: out };
  const inStrides = stridesOf(shape);
  const st = perm.map((p) => inStrides[p]);
  if (rank === 0) {
    out[0] = data[0];
    return { shape: outShape, data: out };
  }
  const last = rank - 1;
  const len = outShape[last];
  const s = st[last];
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  let o = 0;
  for (;;) {
    for (let i = 0, j = src; i < len; i++, j += s) out[o + i] = data[j];
    o += len;
    let d = last - 1;
    for (; d >= 0; d--) {
      idx[d]++;
      src += st[d];
      if (idx[d] < outShape[d]) break;
      src -= st[d] * outShape[d];
      idx[d] = 0;
    }
    if (d < 0) break;
  }
  return { shape: outShape, data: out };
}

const reshape: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const spec = ctx.ints('shape');
  const out = spec.map((d, i) => (d === 0 && spec.length === x.shape.length ? x.shape[i] : d));
  const inferred = out.filter((d) => d === -1).length;
  if (inferred > 1) ctx.fail(`shape [${spec.join(', ')}] has more than one -1`, 'shape');
  if (out.some((d) => d < -1 || !Number.isInteger(d))) ctx.fail(`shape [${spec.join(', ')}] has an invalid dim`, 'shape');
  const known = out.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const n = x.data.length;
  if (inferred === 1) {
    if (known === 0 || n % known !== 0) ctx.fail(`cannot reshape ${fmt(x)} to [${spec.join(', ')}]`, 'shape');
    out[out.indexOf(-1)] = n / known;
  } else if (known !== n) {
    ctx.fail(`cannot reshape ${fmt(x)} (${n} elements) to [${spec.join(', ')}] (${known} elements)`, 'shape');
  }
  return [{ dtype: x.dtype, shape: out, data: x.data }];
};

const transpose: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const rank = x.shape.length;
  const perm = ctx.ints('perm').map((p) => normAxis(ctx, p, rank, 'perm'));
  if (perm.length !== rank || new Set(perm).size !== rank) {
    ctx.fail(`perm [${perm.join(', ')}] is not a permutation of the ${rank} axes of ${fmt(x)}`, 'perm');
  }
  const r = permute(x.data, x.shape, perm);
  return [{ dtype: x.dtype, shape: r.shape, data: r.data }];
};

const expandDims: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const axesIn = ctx.ints('axes');
  const outRank = x.shape.length + axesIn.length;
  const axes = axesIn.map((a) => normAxis(ctx, a, outRank, 'axes')).sort((a, b) => a - b);
  if (new Set(axes).size !== axes.length) ctx.fail(`axes [${axesIn.join(', ')}] name an axis twice`, 'axes');
  const shape: number[] = [];
  let k = 0;
  for (let i = 0; i < outRank; i++) shape.push(axes.includes(i) ? 1 : x.shape[k++]);
  return [{ dtype: x.dtype, shape, data: x.data }];
};

/** squeeze: without axes removes every size-1 dim; named non-1 dims are ignored (mil-ops.md §6). */
const squeeze: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const rank = x.shape.length;
  const axes = ctx.has('axes') ? ctx.ints('axes').map((a) => normAxis(ctx, a, rank, 'axes')) : undefined;
  const shape = x.shape.filter((d, i) => !(d === 1 && (axes === undefined || axes.includes(i))));
  return [{ dtype: x.dtype, shape, data: x.data }];
};

const identity: Kernel = (ctx) => [ctx.tensor('x')];

const shapeOf: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  return [rt('int32', [x.shape.length], Int32Array.from(x.shape))];
};

// ---------------------------------------------------------------------------------------
// Slicing

interface AxisSlice {
  start: number;
  step: number;
  len: number;
}

/** Python's slice(begin, end, step).indices(dim) (coremltools evaluates slices with NumPy). */
function pySlice(ctx: KernelContext, dim: number, begin: number | null, end: number | null, step: number): AxisSlice {
  if (step === 0) ctx.fail('stride must not be 0', 'stride');
  const lower = step > 0 ? 0 : -1;
  const upper = step > 0 ? dim : dim - 1;
  const clampIdx = (v: number): number => {
    if (v < 0) {
      v += dim;
      return v < lower ? lower : v;
    }
    return v > upper ? upper : v;
  };
  const start = begin === null ? (step < 0 ? upper : lower) : clampIdx(begin);
  const stop = end === null ? (step < 0 ? lower : upper) : clampIdx(end);
  const len = step > 0 ? (stop > start ? Math.ceil((stop - start) / step) : 0) : start > stop ? Math.ceil((start - stop) / -step) : 0;
  return { start, step, len };
}

/**
 * The region slice_by_index selects (mil-ops.md §6): `begin_mask[i]` ⇒ begin from the
 * start, `end_mask[i]` ⇒ to the end, `squeeze_mask[i]` ⇒ the single index `begin[i]`
 * with the axis dropped. Negative indices count from the end.
 */
function indexSlices(ctx: KernelContext, x: RTensor): { slices: AxisSlice[]; squeezed: boolean[] } {
  const rank = x.shape.length;
  const begin = ctx.ints('begin');
  const end = ctx.ints('end');
  const stride = ctx.ints('stride', new Array(rank).fill(1));
  const beginMask = ctx.bools('begin_mask', new Array(rank).fill(false));
  const endMask = ctx.bools('end_mask', new Array(rank).fill(false));
  const squeezeMask = ctx.bools('squeeze_mask', new Array(rank).fill(false));
  for (const [name, v] of [['begin', begin], ['end', end], ['stride', stride], ['begin_mask', beginMask], ['end_mask', endMask], ['squeeze_mask', squeezeMask]] as const) {
    if (v.length !== rank) ctx.fail(`must have ${rank} entries (the rank of x ${fmt(x)}), got ${v.length}`, name);
  }
  const slices = x.shape.map((dim, i) => {
    const b = beginMask[i] ? null : begin[i];
    if (squeezeMask[i]) {
      const s = pySlice(ctx, dim, b, null, 1);
      if (s.len === 0) ctx.fail(`squeezed index ${begin[i]} is out of range for axis ${i} of size ${dim}`, 'begin');
      return { start: s.start, step: 1, len: 1 };
    }
    return pySlice(ctx, dim, b, endMask[i] ? null : end[i], stride[i]);
  });
  return { slices, squeezed: squeezeMask };
}

/** Copies the strided region out of `src` (row-major, shape `shape`). */
function stridedRead(src: RData, shape: readonly number[], slices: readonly AxisSlice[]): RData {
  const lens = slices.map((s) => s.len);
  const n = sizeOf(lens);
  const out = newLike(src, n);
  if (n === 0) return out;
  stridedWalk(shape, slices, (o, s, len, step) => {
    for (let i = 0, j = s; i < len; i++, j += step) out[o + i] = src[j];
  });
  return out;
}

/** Calls `row(outOffset, srcOffset, len, srcStep)` for every innermost row of the region. */
function stridedWalk(shape: readonly number[], slices: readonly AxisSlice[], row: (o: number, s: number, len: number, step: number) => void): void {
  const rank = shape.length;
  const strides = stridesOf(shape);
  if (rank === 0) {
    row(0, 0, 1, 1);
    return;
  }
  if (slices.some((s) => s.len === 0)) return;
  const last = rank - 1;
  const idx = new Array<number>(rank).fill(0);
  let src = slices.reduce((a, s, i) => a + s.start * strides[i], 0);
  let o = 0;
  const len = slices[last].len;
  const step = slices[last].step * strides[last];
  for (;;) {
    row(o, src, len, step);
    o += len;
    let d = last - 1;
    for (; d >= 0; d--) {
      idx[d]++;
      src += slices[d].step * strides[d];
      if (idx[d] < slices[d].len) break;
      src -= slices[d].step * strides[d] * slices[d].len;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

const sliceByIndex: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const { slices, squeezed } = indexSlices(ctx, x);
  const data = stridedRead(x.data, x.shape, slices);
  const shape = slices.map((s) => s.len).filter((_, i) => !squeezed[i]);
  return [{ dtype: x.dtype, shape, data }];
};

const sliceBySize: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const rank = x.shape.length;
  const begin = ctx.ints('begin');
  const size = ctx.ints('size');
  if (begin.length !== rank) ctx.fail(`must have ${rank} entries, got ${begin.length}`, 'begin');
  if (size.length !== rank) ctx.fail(`must have ${rank} entries, got ${size.length}`, 'size');
  const slices = x.shape.map((dim, i) => {
    const b = begin[i] < 0 ? begin[i] + dim : begin[i];
    const len = size[i] === -1 ? dim - b : size[i];
    if (b < 0 || b > dim || len < 0 || b + len > dim) {
      ctx.fail(`begin ${begin[i]} with size ${size[i]} is out of range for axis ${i} of size ${dim}`, 'size');
    }
    return { start: b, step: 1, len };
  });
  const data = stridedRead(x.data, x.shape, slices);
  return [{ dtype: x.dtype, shape: slices.map((s) => s.len), data }];
};

/**
 * slice_update (mil-ops.md §3): a copy of `x` whose slice_by_index region is replaced
 * by `update`. `update` has the sliced shape with squeezed axes removed (the unsqueezed
 * shape, same elements in the same order, is accepted too).
 */
const sliceUpdate: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const update = ctx.tensor('update');
  if (update.shape.length === 0) ctx.fail('rank-0 updates are not supported (mil-ops.md §3); pass a 1-element tensor', 'update');
  if (kindOf(update.dtype) !== kindOf(x.dtype)) ctx.fail(`dtype ${update.dtype} does not match x ${fmt(x)}`, 'update');
  const { slices, squeezed } = indexSlices(ctx, x);
  const full = slices.map((s) => s.len);
  const expect = full.filter((_, i) => !squeezed[i]);
  const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
  if (!same(update.shape, expect) && !same(update.shape, full)) {
    ctx.fail(`shape [${update.shape.join(', ')}] does not match the selected slice [${expect.join(', ')}]`, 'update');
  }
  const out = copyOf(x.data);
  const u = update.data;
  stridedWalk(x.shape, slices, (o, s, len, step) => {
    for (let i = 0, j = s; i < len; i++, j += step) out[j] = u[o + i];
  });
  return [{ dtype: x.dtype, shape: x.shape, data: out }];
};

// ---------------------------------------------------------------------------------------
// Joining and splitting

function joinKind(ctx: KernelContext, values: readonly RTensor[], param: string): RTensor {
  if (values.length === 0) ctx.fail('needs at least one tensor', param);
  const first = values[0];
  for (const v of values) {
    if (kindOf(v.dtype) !== kindOf(first.dtype)) ctx.fail(`mixes ${fmt(first)} and ${fmt(v)}`, param);
    if (v.shape.length !== first.shape.length) ctx.fail(`mixes ranks: ${fmt(first)} and ${fmt(v)}`, param);
  }
  return first;
}

/** concat (mil-ops.md §6): join along `axis`; `interleave` alternates slices of the inputs. */
const concat: Kernel = (ctx) => {
  const values = ctx.tuple('values');
  const first = joinKind(ctx, values, 'values');
  const rank = first.shape.length;
  if (rank === 0) ctx.fail('cannot concatenate rank-0 tensors', 'values');
  const axis = normAxis(ctx, ctx.int('axis'), rank, 'axis');
  const interleave = ctx.bool('interleave', false);
  for (const v of values) {
    for (let i = 0; i < rank; i++) {
      if (i !== axis && v.shape[i] !== first.shape[i]) {
        ctx.fail(`shapes ${fmt(first)} and ${fmt(v)} differ outside axis ${axis}`, 'values');
      }
    }
    if (interleave && v.shape[axis] !== first.shape[axis]) ctx.fail(`interleave needs equal shapes, got ${fmt(first)} and ${fmt(v)}`, 'values');
  }
  const outer = sizeOf(first.shape.slice(0, axis));
  const inner = sizeOf(first.shape.slice(axis + 1));
  const total = values.reduce((a, v) => a + v.shape[axis], 0);
  const shape = [...first.shape];
  shape[axis] = total;
  const out = newLike(first.data, sizeOf(shape));
  if (!interleave) {
    let o = 0;
    for (let p = 0; p < outer; p++) {
      for (const v of values) {
        const block = v.shape[axis] * inner;
        out.set(v.data.subarray(p * block, (p + 1) * block) as never, o);
        o += block;
      }
    }
  } else {
    const d = first.shape[axis];
    let o = 0;
    for (let p = 0; p < outer; p++) {
      for (let i = 0; i < d; i++) {
        for (const v of values) {
          const s = (p * d + i) * inner;
          out.set(v.data.subarray(s, s + inner) as never, o);
          o += inner;
        }
      }
    }
  }
  return [{ dtype: first.dtype, shape, data: out }];
};

const stack: Kernel = (ctx) => {
  const values = ctx.tuple('values');
  const first = joinKind(ctx, values, 'values');
  for (const v of values) {
    if (!v.shape.every((d, i) => d === first.shape[i])) ctx.fail(`needs equal shapes, got ${fmt(first)} and ${fmt(v)}`, 'values');
  }
  const rank = first.shape.length + 1;
  const axis = normAxis(ctx, ctx.int('axis'), rank, 'axis');
  const outer = sizeOf(first.shape.slice(0, axis));
  const inner = sizeOf(first.shape.slice(axis));
  const out = newLike(first.data, outer * inner * values.length);
  let o = 0;
  for (let p = 0; p < outer; p++) {
    for (const v of values) {
      out.set(v.data.subarray(p * inner, (p + 1) * inner) as never, o);
      o += inner;
    }
  }
  const shape = [...first.shape.slice(0, axis), values.length, ...first.shape.slice(axis)];
  return [{ dtype: first.dtype, shape, data: out }];
};

/** split (mil-ops.md §6): `num_splits` equal parts or explicit `split_sizes` along `axis`. */
const split: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const rank = x.shape.length;
  const axis = normAxis(ctx, ctx.int('axis'), rank, 'axis');
  const dim = x.shape[axis];
  let sizes: number[];
  if (ctx.has('split_sizes')) {
    sizes = ctx.ints('split_sizes');
    const sum = sizes.reduce((a, b) => a + b, 0);
    if (sizes.some((s) => s < 0) || sum !== dim) ctx.fail(`sizes [${sizes.join(', ')}] do not add up to ${dim} (axis ${axis} of ${fmt(x)})`, 'split_sizes');
  } else if (ctx.has('num_splits')) {
    const n = ctx.int('num_splits');
    if (n <= 0 || dim % n !== 0) ctx.fail(`${n} does not divide axis ${axis} of ${fmt(x)}`, 'num_splits');
    sizes = new Array(n).fill(dim / n);
  } else {
    return ctx.fail('needs num_splits or split_sizes');
  }
  if (sizes.length !== ctx.op.outputs.length) {
    ctx.fail(`produces ${sizes.length} tensors but the op declares ${ctx.op.outputs.length} outputs`);
  }
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  let start = 0;
  return sizes.map((s) => {
    const out = newLike(x.data, outer * s * inner);
    for (let p = 0; p < outer; p++) {
      const from = (p * dim + start) * inner;
      out.set(x.data.subarray(from, from + s * inner) as never, p * s * inner);
    }
    start += s;
    const shape = [...x.shape];
    shape[axis] = s;
    return { dtype: x.dtype, shape, data: out };
  });
};

/** tile: dim i repeated reps[i] times. */
const tile: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const reps = ctx.ints('reps');
  const rank = x.shape.length;
  if (reps.length !== rank) ctx.fail(`must have ${rank} entries (the rank of x ${fmt(x)}), got ${reps.length}`, 'reps');
  if (reps.some((r) => r < 0 || !Number.isInteger(r))) ctx.fail(`reps [${reps.join(', ')}] must be non-negative integers`, 'reps');
  const shape = x.shape.map((d, i) => d * reps[i]);
  const n = sizeOf(shape);
  const out = newLike(x.data, n);
  if (n === 0) return [{ dtype: x.dtype, shape, data: out }];
  const inStrides = stridesOf(x.shape);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < n; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += (idx[d] % x.shape[d]) * inStrides[d];
    out[o] = x.data[src];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return [{ dtype: x.dtype, shape, data: out }];
};

// ---------------------------------------------------------------------------------------
// Gather

/**
 * Resolves an index against a dim. iOS15/iOS16 wrap negative indices once; from iOS17 a
 * negative index is out of bounds (mil-ops.md §6 and §8 item 9). Out-of-bounds indices
 * are an error here (Core ML leaves them undefined).
 */
function indexResolver(ctx: KernelContext, dim: number, axis: number): (i: number) => number {
  const wraps = !targetAtLeast(ctx.target, 'iOS17');
  return (i) => {
    const j = i < 0 && wraps ? i + dim : i;
    if (j < 0 || j >= dim) {
      const why =
        i < 0 && !wraps
          ? ` (from iOS17 negative indices are out of bounds; this program targets ${ctx.target} — coremltools guards them with select(indices >= 0, indices, indices + dim))`
          : '';
      ctx.fail(`index ${i} is out of bounds for axis ${axis} of size ${dim}${why}`, 'indices');
    }
    return j;
  };
}

/** gather (mil-ops.md §6): out shape x.shape[:axis] + indices.shape[batch_dims:] + x.shape[axis+1:]. */
const gather: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const indices = ctx.tensor('indices');
  if (kindOf(indices.dtype) !== 'int') ctx.fail(`must be an integer tensor, got ${fmt(indices)}`, 'indices');
  const rank = x.shape.length;
  const axis = normAxis(ctx, ctx.int('axis', 0), rank, 'axis');
  let bd = ctx.int('batch_dims', 0);
  if (bd < 0) bd += indices.shape.length;
  if (bd < 0 || bd > axis || bd > indices.shape.length) {
    ctx.fail(`batch_dims ${bd} must be in [0, min(axis ${axis}, rank of indices ${indices.shape.length})]`, 'batch_dims');
  }
  for (let i = 0; i < bd; i++) {
    if (x.shape[i] !== indices.shape[i]) ctx.fail(`batch dims of x ${fmt(x)} and indices ${fmt(indices)} differ at axis ${i}`, 'indices');
  }
  const dim = x.shape[axis];
  const resolve = indexResolver(ctx, dim, axis);
  const batch = sizeOf(x.shape.slice(0, bd));
  const mid = sizeOf(x.shape.slice(bd, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const nIdx = sizeOf(indices.shape.slice(bd));
  const shape = [...x.shape.slice(0, axis), ...indices.shape.slice(bd), ...x.shape.slice(axis + 1)];
  const out = newLike(x.data, sizeOf(shape));
  let o = 0;
  for (let b = 0; b < batch; b++) {
    for (let m = 0; m < mid; m++) {
      const base = (b * mid + m) * dim;
      for (let p = 0; p < nIdx; p++) {
        const j = resolve(indices.data[b * nIdx + p]);
        const s = (base + j) * inner;
        out.set(x.data.subarray(s, s + inner) as never, o);
        o += inner;
      }
    }
  }
  return [{ dtype: x.dtype, shape, data: out }];
};

/** gather_along_axis: out[…, i, …] = x[…, indices[…, i, …], …]; out shape = indices shape. */
const gatherAlongAxis: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const indices = ctx.tensor('indices');
  if (kindOf(indices.dtype) !== 'int') ctx.fail(`must be an integer tensor, got ${fmt(indices)}`, 'indices');
  const rank = x.shape.length;
  if (indices.shape.length !== rank) ctx.fail(`rank must equal the rank of x ${fmt(x)}, got ${fmt(indices)}`, 'indices');
  const axis = normAxis(ctx, ctx.int('axis', 0), rank, 'axis');
  for (let i = 0; i < rank; i++) {
    if (i !== axis && indices.shape[i] !== x.shape[i]) ctx.fail(`shape ${fmt(indices)} must match x ${fmt(x)} outside axis ${axis}`, 'indices');
  }
  const resolve = indexResolver(ctx, x.shape[axis], axis);
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const dIn = x.shape[axis];
  const dIdx = indices.shape[axis];
  const out = newLike(x.data, indices.data.length);
  for (let p = 0; p < outer; p++) {
    for (let i = 0; i < dIdx; i++) {
      for (let q = 0; q < inner; q++) {
        const o = (p * dIdx + i) * inner + q;
        out[o] = x.data[(p * dIn + resolve(indices.data[o])) * inner + q];
      }
    }
  }
  return [{ dtype: x.dtype, shape: indices.shape, data: out }];
};

// ---------------------------------------------------------------------------------------
// Creation and conversion

/** band_part (mil-ops.md §6): keep x[…, m, n] where (lower < 0 or m−n ≤ lower) and (upper < 0 or n−m ≤ upper). */
const bandPart: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const lower = ctx.int('lower', -1);
  const upper = ctx.int('upper', -1);
  const rank = x.shape.length;
  if (rank < 2) ctx.fail(`x must have rank ≥ 2, got ${fmt(x)}`, 'x');
  const M = x.shape[rank - 2];
  const N = x.shape[rank - 1];
  const out = copyOf(x.data);
  const mats = x.data.length / (M * N || 1);
  for (let b = 0; b < mats; b++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        const keep = (lower < 0 || m - n <= lower) && (upper < 0 || n - m <= upper);
        if (!keep) out[(b * M + m) * N + n] = 0;
      }
    }
  }
  return [{ dtype: x.dtype, shape: x.shape, data: out }];
};

/** fill(shape, value = 0.0): the output dtype is the value's (or the declared output's when omitted). */
const fill: Kernel = (ctx) => {
  const shape = ctx.ints('shape');
  if (shape.some((d) => d < 0 || !Number.isInteger(d))) ctx.fail(`shape [${shape.join(', ')}] has a negative dim`, 'shape');
  const v = ctx.optional('value');
  const dtype: DType = v ? v.dtype : ctx.outputType(0).dtype;
  const kind = kindOf(dtype);
  if (kind === 'string') ctx.fail('cannot fill with strings', 'value');
  const value = v ? v.data[0] : 0;
  if (v && v.data.length !== 1) ctx.fail(`must be a scalar, got ${fmt(v)}`, 'value');
  const data = alloc(kind, sizeOf(shape));
  data.fill(value);
  return [{ dtype, shape, data }];
};

/** range_1d(end, start, step): [start, start+step, …) up to end exclusive, length ceil((end−start)/step). */
const range1d: Kernel = (ctx) => {
  const endT = ctx.tensor('end');
  const start = ctx.float('start');
  const end = ctx.float('end');
  const step = ctx.float('step');
  if (step === 0) ctx.fail('step must not be 0', 'step');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const kind = kindOf(endT.dtype);
  const data = alloc(kind === 'int' ? 'int' : 'float', n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return [{ dtype: kind === 'int' ? 'int32' : 'fp32', shape: [n], data }];
};

const CAST_TARGETS: readonly DType[] = ['fp16', 'fp32', 'int32', 'bool', 'int8', 'uint8', 'int16', 'uint16'];

/**
 * cast(x, dtype) (mil-ops.md §6): float → int truncates toward zero and wraps to the
 * target width (NumPy `astype`); anything → bool is `x != 0`.
 */
const cast: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const to = ctx.string('dtype');
  if (!isDType(to) || !CAST_TARGETS.includes(to)) ctx.fail(`unsupported target dtype "${to}" (expected one of ${CAST_TARGETS.join(', ')})`, 'dtype');
  const dtype = to as DType;
  const kind = kindOf(dtype);
  const n = x.data.length;
  const src = x.data;
  if (kind === 'float') {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = src[i];
    return [{ dtype: 'fp32', shape: x.shape, data: out }];
  }
  if (kind === 'bool') {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = src[i] !== 0 ? 1 : 0;
    return [{ dtype, shape: x.shape, data: out }];
  }
  const wrap =
    dtype === 'int8' ? new Int8Array(1) : dtype === 'uint8' ? new Uint8Array(1) : dtype === 'int16' ? new Int16Array(1) : dtype === 'uint16' ? new Uint16Array(1) : new Int32Array(1);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = src[i];
    if (!Number.isFinite(v)) ctx.fail(`cannot cast ${v} (element ${i}) to ${dtype}`, 'x');
    wrap[0] = Math.trunc(v);
    out[i] = wrap[0];
  }
  return [{ dtype, shape: x.shape, data: out }];
};

export const SHAPE_KERNELS: Record<string, Kernel> = {
  reshape,
  transpose,
  expand_dims: expandDims,
  squeeze,
  identity,
  shape: shapeOf,
  slice_by_index: sliceByIndex,
  slice_by_size: sliceBySize,
  slice_update: sliceUpdate,
  concat,
  stack,
  split,
  tile,
  gather,
  gather_along_axis: gatherAlongAxis,
  band_part: bandPart,
  fill,
  range_1d: range1d,
  cast,
};
