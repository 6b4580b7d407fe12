/**
 * Shape rules of the core ops (mil-ops.md §5–6). The generic checks (dtype domains, type
 * variables, ranks, constness) already ran from the ParamSpecs (check.ts); what is here
 * is what only the op knows: how output shapes follow from input shapes and constant
 * operands, and which operand combinations are invalid.
 *
 * Symbolic dims: a size that cannot be known at compile time (a runtime `shape`, a slice
 * of a symbolic dim…) becomes a fresh symbolic name `${opName}_d${axis}` — deterministic,
 * so inferring the same op twice gives the same type. A symbolic input dim is carried
 * through unchanged wherever the output size provably equals it.
 *
 * Never call `constValue` on a data operand (x, weight…): it may be a large constexpr
 * whose evaluation decompresses a whole weight. Constant *operands that configure* the op
 * (axes, perm, shape, begin…) are small and are read through `constValue`.
 */
import type { DType } from '../dtype.js';
import type { Dim, Shape, TensorType } from '../types.js';
import { tensorType } from '../types.js';
import type { OpArgs } from './signature.js';

export const isNum = (d: Dim): d is number => typeof d === 'number';

export const fmtShape = (s: Shape): string => `[${s.join(', ')}]`;

/** The fresh symbolic dim of output axis `axis` (tag distinguishes outputs of multi-output ops). */
export const symDim = (args: OpArgs, axis: number, tag = ''): string => `${args.opName}${tag}_d${axis}`;

// ---------------------------------------------------------------------------------------
// Reading configuration operands

/**
 * Integers of a const param, or of its default when absent; undefined when absent with no
 * default. Fails when the param is bound but its value is not known at compile time.
 */
export function constIntsOf(args: OpArgs, param: string): number[] | undefined {
  if (!args.has(param)) return args.constOrDefault(param)?.toNumbers();
  const t = args.constValue(param);
  if (!t) args.fail(param, 'must be a compile-time constant with a known value');
  return t!.toNumbers();
}

/** A const scalar param (or its default); fails when bound to a non-scalar or an unknown value. */
export function constScalarOf(args: OpArgs, param: string): number | undefined {
  const v = constIntsOf(args, param);
  if (v === undefined) return undefined;
  if (v.length !== 1) args.fail(param, `expects a scalar, got ${v.length} values`);
  return v[0];
}

/** A required const param's integers; fails naming it when it is missing. */
export function requiredIntsOf(args: OpArgs, param: string): number[] {
  const v = constIntsOf(args, param);
  if (v === undefined) args.fail(param, 'is required but missing');
  return v!;
}

/** A required const scalar param; fails naming it when it is missing. */
export function requiredScalarOf(args: OpArgs, param: string): number {
  const v = constScalarOf(args, param);
  if (v === undefined) args.fail(param, 'is required but missing');
  return v!;
}

/** A const bool scalar param (or its default). */
export function constBoolOf(args: OpArgs, param: string): boolean | undefined {
  const v = constScalarOf(args, param);
  return v === undefined ? undefined : v !== 0;
}

/** A const string scalar param (or its default). */
export function constStringOf(args: OpArgs, param: string): string | undefined {
  const t = args.has(param) ? args.constValue(param) : args.constOrDefault(param);
  if (args.has(param) && !t) args.fail(param, 'must be a compile-time constant with a known value');
  if (!t) return undefined;
  if (t.dtype !== 'string' || t.size !== 1) args.fail(param, `expects a string scalar, got ${t.dtype}${fmtShape(t.shape)}`);
  return t.strings()[0];
}

/** Integers of a param that may be a runtime value: undefined when not known at compile time. */
export function knownIntsOf(args: OpArgs, param: string): number[] | undefined {
  if (!args.has(param)) return undefined;
  return args.constValue(param)?.toNumbers();
}

/** A scalar of a param that may be a runtime value (any numeric dtype). */
export function knownScalarOf(args: OpArgs, param: string): number | undefined {
  const v = knownIntsOf(args, param);
  return v && v.length === 1 ? v[0] : undefined;
}

/** Normalises an axis against `rank`; fails naming the param when out of range. */
export function axisOf(args: OpArgs, param: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    args.fail(param, `axis ${axis} is out of range for rank ${rank} (expected ${-rank} ≤ axis < ${rank})`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalises a list of distinct axes against `rank`. */
export function axesOf(args: OpArgs, param: string, axes: readonly number[], rank: number): number[] {
  const out = axes.map((a) => axisOf(args, param, a, rank));
  const dup = out.find((a, i) => out.indexOf(a) !== i);
  if (dup !== undefined) args.fail(param, `[${axes.join(', ')}] names axis ${dup} more than once`);
  return out;
}

/** Checks that a rank-1 index-vector param has `rank` entries (when its length is static). */
export function expectLength(args: OpArgs, param: string, want: number, what: string): void {
  const t = args.tensor(param);
  if (t.shape.length !== 1) args.fail(param, `must be a 1-D tensor, got shape ${fmtShape(t.shape)}`);
  const n = t.shape[0];
  if (isNum(n) && n !== want) args.fail(param, `has ${n} entries, expected ${want} (${what})`);
}

// ---------------------------------------------------------------------------------------
// Dims

/**
 * Two dims that must be equal (concat's other axes, gather's batch dims): equal → it;
 * a fixed size wins over a symbol; two symbols → the first. Undefined when two fixed sizes differ.
 */
export function unifyDims(a: Dim, b: Dim): Dim | undefined {
  if (a === b) return a;
  if (isNum(a) && isNum(b)) return undefined;
  return isNum(a) ? a : isNum(b) ? b : a;
}

/**
 * NumPy broadcasting of two shapes (mil-ops.md §0.2). Symbolic dims: against 1 or itself
 * the symbol stays; against a fixed size > 1 the fixed size wins (the symbol must equal it
 * or be 1 at runtime); two different symbols give a fresh symbol. Undefined when two fixed
 * sizes are incompatible.
 */
export function broadcastTwo(a: Shape, b: Shape, fresh: (axis: number) => string): Dim[] | undefined {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const x = i < n - a.length ? 1 : a[i - (n - a.length)];
    const y = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (x === y) out[i] = x;
    else if (x === 1) out[i] = y;
    else if (y === 1) out[i] = x;
    else if (isNum(x) && isNum(y)) return undefined;
    else if (isNum(x)) out[i] = x;
    else if (isNum(y)) out[i] = y;
    else out[i] = fresh(i);
  }
  return out;
}

/** Broadcasts the tensors bound to `params`; fails naming the param whose shape does not fit. */
export function broadcastOperands(args: OpArgs, params: readonly string[]): Dim[] {
  let shape: Dim[] = [];
  let from: string[] = [];
  for (const p of params) {
    const t = args.tensor(p);
    const s = broadcastTwo(shape, t.shape, (i) => symDim(args, i));
    if (!s) {
      args.fail(p, `shape ${fmtShape(t.shape)} does not broadcast with ${fmtShape(shape)} (the shape of ${from.join(' and ')})`);
    }
    shape = s!;
    from = [...from, p];
  }
  return shape;
}

// ---------------------------------------------------------------------------------------
// §5: linear, matmul, softmax

/** mil-ops.md §5.1: `[*D, D_in] · [D_out, D_in]ᵀ (+ [D_out]) → [*D, D_out]`. */
export function linearShape(args: OpArgs): Dim[] {
  const x = args.tensor('x').shape;
  const w = args.tensor('weight').shape;
  if (w.length !== 2) args.fail('weight', `must be [D_out, D_in] (rank 2), got ${fmtShape(w)}`);
  const [dout, win] = w;
  const din = x[x.length - 1];
  if (isNum(din) && isNum(win) && din !== win) {
    args.fail('weight', `shape ${fmtShape(w)} has D_in = ${win}, but x ${fmtShape(x)} has last dim ${din}`);
  }
  if (args.has('bias')) {
    const b = args.tensor('bias').shape;
    if (b.length !== 1 || (isNum(b[0]) && isNum(dout) && b[0] !== dout)) {
      args.fail('bias', `shape ${fmtShape(b)} must be [D_out] = [${dout}] (weight ${fmtShape(w)})`);
    }
  }
  return [...x.slice(0, -1), dout];
}

function swapLast(s: Shape): Dim[] {
  const o = [...s];
  [o[o.length - 2], o[o.length - 1]] = [o[o.length - 1], o[o.length - 2]];
  return o;
}

/**
 * mil-ops.md §5.2: NumPy matmul after the optional transposes of the last two axes; a
 * rank-1 x is [1, K], a rank-1 y is [K, 1], and the inserted dim is removed again; batch
 * dims broadcast.
 */
export function matmulShape(args: OpArgs): Dim[] {
  const x = args.tensor('x').shape;
  const y = args.tensor('y').shape;
  const tx = constBoolOf(args, 'transpose_x') ?? false;
  const ty = constBoolOf(args, 'transpose_y') ?? false;
  if (x.length === 0) args.fail('x', 'must have rank ≥ 1, got a scalar');
  if (y.length === 0) args.fail('y', 'must have rank ≥ 1, got a scalar');
  if (tx && x.length === 1) args.fail('transpose_x', 'must be false when x has rank 1 (mil-ops.md §5.2)');
  if (ty && y.length === 1) args.fail('transpose_y', 'must be false when y has rank 1 (mil-ops.md §5.2)');
  const xs = x.length === 1 ? [1, x[0]] : tx ? swapLast(x) : [...x];
  const ys = y.length === 1 ? [y[0], 1] : ty ? swapLast(y) : [...y];
  const k1 = xs[xs.length - 1];
  const k2 = ys[ys.length - 2];
  if (isNum(k1) && isNum(k2) && k1 !== k2) {
    args.fail(
      'y',
      `inner dimension ${k2} of y ${fmtShape(y)}${ty ? ' (transposed)' : ''} does not match ${k1} of x ${fmtShape(x)}${
        tx ? ' (transposed)' : ''
      }`,
    );
  }
  const bx = xs.slice(0, -2);
  const by = ys.slice(0, -2);
  const batch = broadcastTwo(bx, by, (i) => symDim(args, i));
  if (!batch) args.fail('y', `batch dims ${fmtShape(by)} do not broadcast with the batch dims ${fmtShape(bx)} of x`);
  const out = [...batch!, xs[xs.length - 2], ys[ys.length - 1]];
  if (y.length === 1) out.pop();
  if (x.length === 1) out.splice(out.length - (y.length === 1 ? 1 : 2), 1);
  return out;
}

/** mil-ops.md §5.3: same shape; the axis must be in range. */
export function softmaxShape(args: OpArgs): Dim[] {
  const x = args.tensor('x').shape;
  const axis = constScalarOf(args, 'axis') ?? -1;
  axisOf(args, 'axis', axis, Math.max(x.length, 1));
  return [...x];
}

// ---------------------------------------------------------------------------------------
// §6: reductions and normalisations

/** mil-ops.md §6 `reduce_*`: reduce `axes` (none ⇒ all), keep them as 1 with `keep_dims`. */
export function reduceShape(args: OpArgs): Dim[] {
  const x = args.tensor('x').shape;
  const given = constIntsOf(args, 'axes');
  const axes = given === undefined ? x.map((_, i) => i) : axesOf(args, 'axes', given, x.length);
  const keep = constBoolOf(args, 'keep_dims') ?? false;
  const set = new Set(axes);
  return keep ? x.map((d, i) => (set.has(i) ? 1 : d)) : x.filter((_, i) => !set.has(i));
}

/** Checks that an optional per-axis parameter (gamma, beta…) has shape `want`. */
function expectParamShape(args: OpArgs, param: string, want: Shape, what: string): void {
  if (!args.has(param)) return;
  const s = args.tensor(param).shape;
  const ok = s.length === want.length && s.every((d, i) => unifyDims(d, want[i]) !== undefined);
  if (!ok) args.fail(param, `shape ${fmtShape(s)} must be ${fmtShape(want)} (${what})`);
}

/** The normalised layer_norm axes, ascending (default: every axis of x). */
export function layerNormAxes(args: OpArgs): number[] {
  const x = args.tensor('x').shape;
  const given = constIntsOf(args, 'axes');
  const axes = given === undefined ? x.map((_, i) => i) : axesOf(args, 'axes', given, x.length);
  return [...axes].sort((a, b) => a - b);
}

/** mil-ops.md §6 `layer_norm`: same shape; gamma/beta shaped like `x.shape[axes]`. */
export function layerNormShape(args: OpArgs): Dim[] {
  const x = args.tensor('x').shape;
  const norm = layerNormAxes(args).map((a) => x[a]);
  expectParamShape(args, 'gamma', norm, 'x.shape at the normalised axes');
  expectParamShape(args, 'beta', norm, 'x.shape at the normalised axes');
  return [...x];
}

/** mil-ops.md §6 `batch_norm`: x `[N, C, *D]`; mean/variance/gamma/beta `[C]`. */
export function batchNormShape(args: OpArgs): Dim[] {
  const x = args.tensor('x').shape;
  const c = x[1];
  for (const p of ['mean', 'variance', 'gamma', 'beta']) expectParamShape(args, p, [c], 'the channel dim C of x [N, C, *D]');
  return [...x];
}

// ---------------------------------------------------------------------------------------
// conv

export const PAD_TYPES = ['valid', 'same', 'same_lower', 'custom'] as const;

/** Number of spatial dims of a conv (rank(x) − 2). */
export const convSpatialDims = (args: OpArgs): number => Math.max(args.tensor('x').shape.length - 2, 0);

function convVector(args: OpArgs, param: string, n: number, min: number): number[] {
  const v = constIntsOf(args, param) ?? new Array<number>(n).fill(min === 0 ? 0 : 1);
  if (v.length !== n) args.fail(param, `has ${v.length} entries, expected ${n} (one per spatial dim of x)`);
  const bad = v.find((e) => !Number.isInteger(e) || e < min);
  if (bad !== undefined) args.fail(param, `entries must be integers ≥ ${min}, got ${bad}`);
  return v;
}

/**
 * mil-ops.md §6 `conv`: x `[N, C_in, *d]` (1–3 spatial dims), weight `[C_out, C_in/groups, *K]`;
 * `d_out = floor((d_in + pad_b + pad_e − (K−1)·dil − 1)/stride) + 1`, where `same` and
 * `same_lower` pad so that `d_out = ceil(d_in / stride)`.
 */
export function convShape(args: OpArgs): Dim[] {
  const x = args.tensor('x').shape;
  const w = args.tensor('weight').shape;
  const n = x.length - 2;
  if (n < 1 || n > 3) args.fail('x', `must be [N, C_in, *d] with 1–3 spatial dims, got ${fmtShape(x)}`);
  if (w.length !== x.length) {
    args.fail('weight', `must be [C_out, C_in/groups, *K] with rank ${x.length} like x ${fmtShape(x)}, got ${fmtShape(w)}`);
  }
  const groups = constScalarOf(args, 'groups') ?? 1;
  if (!Number.isInteger(groups) || groups < 1) args.fail('groups', `must be a positive integer, got ${groups}`);
  const cin = x[1];
  const cout = w[0];
  if (isNum(cin) && isNum(w[1]) && w[1] * groups !== cin) {
    args.fail(
      'weight',
      `has ${w[1]} input channels per group; with groups = ${groups} x needs C_in = ${w[1] * groups}, got ${cin}`,
    );
  }
  if (isNum(cout) && cout % groups !== 0)
    args.fail('groups', `${groups} does not divide C_out = ${cout} of weight ${fmtShape(w)}`);
  const strides = convVector(args, 'strides', n, 1);
  const dilations = convVector(args, 'dilations', n, 1);
  const padType = constStringOf(args, 'pad_type') ?? 'valid';
  if (!(PAD_TYPES as readonly string[]).includes(padType)) {
    args.fail('pad_type', `"${padType}" is not one of ${PAD_TYPES.map((p) => `"${p}"`).join(', ')}`);
  }
  const pad = convVector(args, 'pad', 2 * n, 0);
  if (dilations.some((d) => d !== 1) && !args.isConst('weight')) {
    args.fail('weight', `must be a compile-time constant when dilations ≠ 1 (dilations = [${dilations.join(', ')}])`);
  }
  if (args.has('bias')) {
    const b = args.tensor('bias').shape;
    if (b.length !== 1 || unifyDims(b[0], cout) === undefined)
      args.fail('bias', `shape ${fmtShape(b)} must be [C_out] = [${cout}]`);
  }
  const out: Dim[] = [x[0], cout];
  for (let i = 0; i < n; i++) {
    const d = x[2 + i];
    const k = w[2 + i];
    const s = strides[i];
    const dil = dilations[i];
    if (padType === 'same' || padType === 'same_lower') {
      out.push(isNum(d) ? Math.ceil(d / s) : s === 1 ? d : symDim(args, 2 + i));
      continue;
    }
    const [pb, pe] = padType === 'custom' ? [pad[2 * i], pad[2 * i + 1]] : [0, 0];
    if (!isNum(k)) {
      out.push(symDim(args, 2 + i));
      continue;
    }
    const span = (k - 1) * dil + 1; // dilated kernel extent
    if (!isNum(d)) {
      out.push(s === 1 && span - pb - pe === 1 ? d : symDim(args, 2 + i));
      continue;
    }
    const size = Math.floor((d + pb + pe - span) / s) + 1;
    if (size < 1) {
      args.fail(
        'x',
        `spatial dim ${i} of size ${d} (padded by ${pb}+${pe}) is smaller than the dilated kernel extent ${span} (K = ${k}, dilation ${dil})`,
      );
    }
    out.push(size);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// concat, split

/** mil-ops.md §6 `concat`: join along `axis`; `interleave` alternates equal-shaped slices. */
export function concatType(args: OpArgs): TensorType {
  const ts = args.types('values');
  if (ts.length === 0) args.fail('values', 'needs at least one tensor');
  const tensors = ts.map((t, i) => {
    if (t.kind !== 'tensor') args.fail('values', `element ${i} is not a tensor`);
    return t as TensorType;
  });
  const first = tensors[0];
  const rank = first.shape.length;
  if (rank === 0) args.fail('values', 'cannot concatenate scalars (rank 0)');
  const axis = axisOf(args, 'axis', requiredScalarOf(args, 'axis'), rank);
  const interleave = constBoolOf(args, 'interleave') ?? false;
  const shape: Dim[] = [...first.shape];
  tensors.forEach((t, i) => {
    if (t.dtype !== first.dtype) args.fail('values', `element ${i} has dtype ${t.dtype}, element 0 has ${first.dtype}`);
    if (t.shape.length !== rank) args.fail('values', `element ${i} has rank ${t.shape.length}, element 0 has rank ${rank}`);
    for (let a = 0; a < rank; a++) {
      if (a === axis && !interleave) continue;
      const u = unifyDims(shape[a], t.shape[a]);
      if (u === undefined) {
        args.fail(
          'values',
          `element ${i} ${fmtShape(t.shape)} differs from ${fmtShape(first.shape)} at axis ${a}${
            a === axis ? ' (interleave needs equal shapes)' : ''
          }`,
        );
      }
      shape[a] = u!;
    }
  });
  if (interleave) {
    const d = shape[axis];
    shape[axis] = isNum(d) ? d * tensors.length : tensors.length === 1 ? d : symDim(args, axis);
  } else {
    const ds = tensors.map((t) => t.shape[axis]);
    shape[axis] = ds.every(isNum) ? (ds as number[]).reduce((a, b) => a + b, 0) : ds.length === 1 ? ds[0] : symDim(args, axis);
  }
  return tensorType(first.dtype, shape);
}

/** mil-ops.md §6 `split`: one output per split; sizes from `num_splits` (even) or `split_sizes`. */
export function splitTypes(args: OpArgs): TensorType[] {
  const x = args.tensor('x');
  const rank = x.shape.length;
  if (rank === 0) args.fail('x', 'cannot split a scalar');
  const axis = axisOf(args, 'axis', requiredScalarOf(args, 'axis'), rank);
  const dim = x.shape[axis];
  const n = constScalarOf(args, 'num_splits');
  const sizes = constIntsOf(args, 'split_sizes');
  if (n === undefined && sizes === undefined) args.fail('num_splits', 'either num_splits or split_sizes must be given');
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) args.fail('num_splits', `must be a positive integer, got ${n}`);
  let out: Dim[];
  if (sizes !== undefined) {
    if (sizes.length === 0) args.fail('split_sizes', 'must have at least one entry');
    if (n !== undefined && n !== sizes.length) {
      args.fail('split_sizes', `has ${sizes.length} entries but num_splits is ${n}`);
    }
    const bad = sizes.find((s) => !Number.isInteger(s) || s < 0);
    if (bad !== undefined) args.fail('split_sizes', `entries must be non-negative integers, got ${bad}`);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (isNum(dim) && total !== dim) {
      args.fail(
        'split_sizes',
        `[${sizes.join(', ')}] sums to ${total}, but axis ${axis} of x ${fmtShape(x.shape)} has size ${dim}`,
      );
    }
    out = sizes;
  } else {
    if (isNum(dim) && dim % n! !== 0) {
      args.fail('num_splits', `${n} does not divide axis ${axis} of x ${fmtShape(x.shape)} (size ${dim})`);
    }
    const each: Dim = isNum(dim) ? dim / n! : n === 1 ? dim : symDim(args, axis);
    out = new Array<Dim>(n!).fill(each);
  }
  return out.map((d) =>
    tensorType(
      x.dtype,
      x.shape.map((s, i) => (i === axis ? d : s)),
    ),
  );
}

// ---------------------------------------------------------------------------------------
// reshape, transpose, expand_dims, squeeze

/**
 * mil-ops.md §6 `reshape`: `-1` = inferred dim; `0` = copy the input dim. iOS15 allows `0`
 * only when len(shape) = rank(x); the iOS17 signature matches each `0` to the input dim
 * counted from the right and uses 1 where there is none (coremltools
 * `iOS17/tensor_transformation.py` `reshape.replace_zeros_in_shape`) — identical when
 * len(shape) = rank(x). A runtime `shape` gives symbolic dims (its length is the rank).
 */
export function reshapeShape(args: OpArgs, rightAlignedZeros: boolean): Dim[] {
  const x = args.tensor('x').shape;
  const st = args.tensor('shape');
  if (st.shape.length !== 1) args.fail('shape', `must be a 1-D tensor, got shape ${fmtShape(st.shape)}`);
  const k = st.shape[0];
  if (!isNum(k)) args.fail('shape', `must have a static length (the output rank), got ${fmtShape(st.shape)}`);
  const vals = knownIntsOf(args, 'shape');
  if (!vals) return Array.from({ length: k as number }, (_, i) => symDim(args, i));
  const negs = vals.filter((v) => v === -1).length;
  if (negs > 1) args.fail('shape', `[${vals.join(', ')}] has ${negs} entries of -1 (at most one dim can be inferred)`);
  const bad = vals.find((v) => !Number.isInteger(v) || v < -1);
  if (bad !== undefined) args.fail('shape', `[${vals.join(', ')}] has the invalid entry ${bad} (expected sizes ≥ 0 or -1)`);
  if (!rightAlignedZeros && vals.includes(0) && vals.length !== x.length) {
    args.fail('shape', `[${vals.join(', ')}] uses 0 (copy the input dim), which needs len(shape) = rank(x) = ${x.length}`);
  }
  const dims: Dim[] = vals.map((v, i) => {
    if (v !== 0) return v;
    const j = rightAlignedZeros ? x.length - (vals.length - i) : i;
    return j >= 0 ? x[j] : 1;
  });
  // Element count: symbols of x copied into the output cancel out; the rest must be fixed.
  const xSyms = x.filter((d) => !isNum(d)) as string[];
  const leftover = [...xSyms];
  let foreign = false;
  for (const d of dims) {
    if (isNum(d)) continue;
    const at = leftover.indexOf(d);
    if (at >= 0) leftover.splice(at, 1);
    else foreign = true;
  }
  const inI = dims.indexOf(-1);
  if (leftover.length > 0 || foreign) {
    if (inI >= 0) dims[inI] = symDim(args, inI);
    return dims;
  }
  const xCount = (x.filter(isNum) as number[]).reduce((a, b) => a * b, 1);
  const known = (dims.filter((d, i) => isNum(d) && i !== inI) as number[]).reduce((a, b) => a * b, 1);
  if (inI >= 0) {
    if (known === 0 || xCount % known !== 0) {
      args.fail('shape', `[${vals.join(', ')}] cannot hold the ${xCount} elements of x ${fmtShape(x)}`);
    }
    dims[inI] = xCount / known;
  } else if (known !== xCount) {
    args.fail('shape', `[${vals.join(', ')}] has ${known} elements, but x ${fmtShape(x)} has ${xCount}`);
  }
  return dims;
}

/** mil-ops.md §6 `transpose`: `perm` must be a permutation of the axes (negative entries allowed). */
export function transposePerm(args: OpArgs): number[] {
  const x = args.tensor('x').shape;
  const perm = requiredIntsOf(args, 'perm');
  if (perm.length !== x.length) args.fail('perm', `has ${perm.length} entries, expected rank(x) = ${x.length}`);
  const p = perm.map((a) => {
    if (!Number.isInteger(a) || a < -x.length || a >= x.length) {
      args.fail('perm', `entry ${a} is out of range for rank ${x.length}`);
    }
    return a < 0 ? a + x.length : a;
  });
  if (new Set(p).size !== p.length) args.fail('perm', `[${perm.join(', ')}] is not a permutation of the ${x.length} axes`);
  return p;
}

/** The normalised, ascending output positions of expand_dims' new axes. */
export function expandDimsAxes(args: OpArgs): number[] {
  const r = args.tensor('x').shape.length;
  const axes = requiredIntsOf(args, 'axes');
  const outRank = r + axes.length;
  return axesOf(args, 'axes', axes, outRank).sort((a, b) => a - b);
}

/** mil-ops.md §6 `expand_dims`: size-1 dims inserted at `axes` (positions in the output, negative allowed). */
export function expandDimsShape(args: OpArgs): Dim[] {
  const out: Dim[] = [...args.tensor('x').shape];
  for (const a of expandDimsAxes(args)) out.splice(a, 0, 1);
  return out;
}

/**
 * mil-ops.md §6 `squeeze`: removes size-1 dims — all of them without `axes` (symbolic dims
 * are kept), else those named; a named fixed dim ≠ 1 is ignored (PyTorch-like). A named
 * symbolic dim is removed (it must be 1 at runtime), as coremltools does.
 */
export function squeezeShape(args: OpArgs): Dim[] {
  const x = args.tensor('x').shape;
  const given = constIntsOf(args, 'axes');
  if (given === undefined) return x.filter((d) => d !== 1);
  const set = new Set(axesOf(args, 'axes', given, x.length));
  return x.filter((d, i) => !(set.has(i) && (d === 1 || !isNum(d))));
}

// ---------------------------------------------------------------------------------------
// slice_by_index, slice_by_size

/**
 * Python slice arithmetic (`slice(start, stop, step).indices(length)`): the first index and
 * the element count. `null` = masked (begin_mask / end_mask: from the start / to the end in
 * the direction of `step`, as coremltools' value inference uses `None`).
 */
export function pySlice(
  start: number | null,
  stop: number | null,
  step: number,
  length: number,
): { first: number; count: number } {
  const lo = step < 0 ? -1 : 0;
  const hi = step < 0 ? length - 1 : length;
  const adjust = (v: number | null, dflt: number): number => {
    if (v === null) return dflt;
    if (v < 0) return Math.max(v + length, lo);
    return Math.min(v, hi);
  };
  const b = adjust(start, step < 0 ? hi : lo);
  const e = adjust(stop, step < 0 ? lo : hi);
  const count = step < 0 ? (e < b ? Math.floor((b - e - 1) / -step) + 1 : 0) : b < e ? Math.floor((e - b - 1) / step) + 1 : 0;
  return { first: b, count };
}

export interface SlicePlan {
  /** Per input axis: first index, step and element count (squeezed axes: count 1). */
  readonly axes: ReadonlyArray<{ first: number; step: number; count: Dim }>;
  /** Input axes removed by squeeze_mask. */
  readonly squeezed: ReadonlySet<number>;
  /** Output shape (squeezed axes removed). */
  readonly shape: Dim[];
}

function boolsOf(args: OpArgs, param: string, rank: number): boolean[] {
  const v = constIntsOf(args, param);
  if (v === undefined) return new Array<boolean>(rank).fill(false);
  if (v.length !== rank) args.fail(param, `has ${v.length} entries, expected rank(x) = ${rank}`);
  return v.map((b) => b !== 0);
}

/**
 * mil-ops.md §6 `slice_by_index`: `x[begin:end:stride, …]` with NumPy semantics (negative
 * indices count from the end, out-of-range bounds clamp); `begin_mask`/`end_mask` ignore
 * begin/end; `squeeze_mask` picks `x[begin]` and drops the axis. Runtime begin/end give
 * symbolic output dims (an axis with both masks and |stride| = 1 keeps its size).
 */
export function sliceByIndexPlan(args: OpArgs): SlicePlan {
  const x = args.tensor('x').shape;
  const r = x.length;
  expectLength(args, 'begin', r, 'one per axis of x');
  expectLength(args, 'end', r, 'one per axis of x');
  const begin = knownIntsOf(args, 'begin');
  const end = knownIntsOf(args, 'end');
  const stride = constIntsOf(args, 'stride') ?? new Array<number>(r).fill(1);
  if (stride.length !== r) args.fail('stride', `has ${stride.length} entries, expected rank(x) = ${r}`);
  const zero = stride.indexOf(0);
  if (zero >= 0) args.fail('stride', `entry ${zero} is 0 (strides must be non-zero)`);
  const bm = boolsOf(args, 'begin_mask', r);
  const em = boolsOf(args, 'end_mask', r);
  const sm = boolsOf(args, 'squeeze_mask', r);
  const axes: Array<{ first: number; step: number; count: Dim }> = [];
  const squeezed = new Set<number>();
  const shape: Dim[] = [];
  for (let i = 0; i < r; i++) {
    const d = x[i];
    const s = stride[i];
    if (sm[i]) {
      squeezed.add(i);
      let first = 0;
      if (!bm[i] && begin && isNum(d)) {
        first = begin[i] < 0 ? begin[i] + d : begin[i];
        if (first < 0 || first >= d)
          args.fail('begin', `index ${begin[i]} squeezed from axis ${i} is out of range for size ${d}`);
      }
      axes.push({ first, step: 1, count: 1 });
      continue;
    }
    const b = bm[i] ? null : begin ? begin[i] : undefined;
    const e = em[i] ? null : end ? end[i] : undefined;
    let count: Dim;
    let first = 0;
    if (b !== undefined && e !== undefined && isNum(d)) {
      const p = pySlice(b, e, s, d);
      first = p.first;
      count = p.count;
    } else if (b === null && e === null && Math.abs(s) === 1) {
      count = d; // the whole axis, forwards or backwards
      first = s < 0 && isNum(d) ? d - 1 : 0;
    } else if (b === 0 && e === null && s === 1) {
      count = d;
    } else {
      count = symDim(args, shape.length);
    }
    axes.push({ first, step: s, count });
    shape.push(count);
  }
  return { axes, squeezed, shape };
}

/** mil-ops.md §6 `slice_by_size`: `size[i] = -1` ⇒ to the end; negative begin counts from the end. */
export function sliceBySizePlan(args: OpArgs): { begin: number[] | undefined; shape: Dim[] } {
  const x = args.tensor('x').shape;
  const r = x.length;
  expectLength(args, 'begin', r, 'one per axis of x');
  expectLength(args, 'size', r, 'one per axis of x');
  const begin = knownIntsOf(args, 'begin');
  const size = knownIntsOf(args, 'size');
  const firsts = begin?.map((b, i) => {
    const d = x[i];
    if (!isNum(d)) return b;
    const f = b < 0 ? b + d : b;
    if (f < 0 || f > d) args.fail('begin', `index ${b} is out of range for axis ${i} of size ${d}`);
    return f;
  });
  const shape = x.map((d, i): Dim => {
    if (!size) return symDim(args, i);
    const s = size[i];
    if (!Number.isInteger(s) || s < -1) args.fail('size', `entry ${s} for axis ${i} is invalid (expected ≥ 0 or -1)`);
    if (s !== -1) {
      if (firsts && isNum(d) && firsts[i] + s > d) {
        args.fail('size', `${s} elements from index ${firsts[i]} exceed axis ${i} of size ${d}`);
      }
      return s;
    }
    if (firsts && isNum(d) && firsts[i] >= 0) return d - firsts[i];
    if (firsts && firsts[i] === 0) return d;
    return symDim(args, i);
  });
  return { begin: firsts, shape };
}

// ---------------------------------------------------------------------------------------
// gather, tile, fill, range_1d

/** Normalised gather axis and batch_dims. */
export function gatherAxes(args: OpArgs, withBatchDims: boolean): { axis: number; batchDims: number } {
  const x = args.tensor('x').shape;
  const ind = args.tensor('indices').shape;
  if (x.length === 0) args.fail('x', 'cannot gather from a scalar');
  const axis = axisOf(args, 'axis', constScalarOf(args, 'axis') ?? 0, x.length);
  let batchDims = withBatchDims ? constScalarOf(args, 'batch_dims') ?? 0 : 0;
  if (batchDims < 0) batchDims += ind.length;
  if (!Number.isInteger(batchDims) || batchDims < 0 || batchDims > ind.length) {
    args.fail('batch_dims', `${batchDims} is out of range for indices of rank ${ind.length}`);
  }
  if (batchDims > axis) args.fail('batch_dims', `${batchDims} must not exceed axis ${axis}`);
  return { axis, batchDims };
}

/**
 * mil-ops.md §6 `gather`: `x.shape[:axis] + indices.shape[batch_dims:] + x.shape[axis+1:]`;
 * the first `batch_dims` dims of x and indices must agree (iOS16+).
 */
export function gatherShape(args: OpArgs, withBatchDims: boolean): Dim[] {
  const x = args.tensor('x').shape;
  const ind = args.tensor('indices').shape;
  const { axis, batchDims } = gatherAxes(args, withBatchDims);
  const lead: Dim[] = [];
  for (let i = 0; i < axis; i++) {
    if (i < batchDims) {
      const u = unifyDims(x[i], ind[i]);
      if (u === undefined) {
        args.fail('indices', `batch dim ${i} is ${ind[i]}, but x ${fmtShape(x)} has ${x[i]} (batch_dims = ${batchDims})`);
      }
      lead.push(u!);
    } else lead.push(x[i]);
  }
  return [...lead, ...ind.slice(batchDims), ...x.slice(axis + 1)];
}

/** mil-ops.md §6 `tile`: dim i repeated `reps[i]` times; runtime reps give symbolic dims. */
export function tileShape(args: OpArgs): Dim[] {
  const x = args.tensor('x').shape;
  expectLength(args, 'reps', x.length, 'one per axis of x');
  const reps = knownIntsOf(args, 'reps');
  return x.map((d, i) => {
    if (!reps) return symDim(args, i);
    const r = reps[i];
    if (!Number.isInteger(r) || r < 1) args.fail('reps', `entry ${r} for axis ${i} must be a positive integer`);
    return isNum(d) ? d * r : r === 1 ? d : symDim(args, i);
  });
}

/** mil-ops.md §6 `fill`: the output shape is `shape` (symbolic dims when it is a runtime value). */
export function fillShape(args: OpArgs): Dim[] {
  const st = args.tensor('shape');
  if (st.shape.length !== 1) args.fail('shape', `must be a 1-D tensor, got shape ${fmtShape(st.shape)}`);
  const k = st.shape[0];
  if (!isNum(k)) args.fail('shape', `must have a static length (the output rank), got ${fmtShape(st.shape)}`);
  const vals = knownIntsOf(args, 'shape');
  if (!vals) return Array.from({ length: k as number }, (_, i) => symDim(args, i));
  const bad = vals.find((v) => !Number.isInteger(v) || v < 0);
  if (bad !== undefined) args.fail('shape', `[${vals.join(', ')}] has the invalid size ${bad}`);
  return vals;
}

/** The length of `range_1d(end, start, step)`: `max(0, ceil((end − start)/step))` (mil-ops.md §6). */
export function rangeLength(args: OpArgs, end: number, start: number, step: number): number {
  if (step === 0 || !Number.isFinite(step)) args.fail('step', `must be a non-zero finite number, got ${step}`);
  const n = Math.ceil((end - start) / step);
  if (!Number.isFinite(n)) args.fail('end', `range [${start}, ${end}) with step ${step} is not finite`);
  return Math.max(0, n);
}

/** mil-ops.md §6 `range_1d`: rank 1; static length when end/start/step are known. */
export function rangeShape(args: OpArgs): Dim[] {
  const end = knownScalarOf(args, 'end');
  const start = knownScalarOf(args, 'start');
  const step = knownScalarOf(args, 'step');
  if (end === undefined || start === undefined || step === undefined) return [symDim(args, 0)];
  return [rangeLength(args, end, start, step)];
}

// ---------------------------------------------------------------------------------------
// cast

/** Allowed `cast.dtype` strings per signature (mil-ops.md §6). */
export const CAST_DTYPES_IOS15: readonly DType[] = ['int32', 'fp16', 'fp32', 'bool'];
export const CAST_DTYPES_IOS17: readonly DType[] = ['int8', 'uint8', 'int16', 'uint16', 'int32', 'fp16', 'fp32', 'bool'];

export function castTarget(args: OpArgs, allowed: readonly DType[]): DType {
  const s = constStringOf(args, 'dtype');
  if (s === undefined) args.fail('dtype', 'is required but missing');
  if (!(allowed as readonly string[]).includes(s!)) {
    args.fail('dtype', `"${s}" is not a dtype this signature casts to (allowed: ${allowed.join(', ')})`);
  }
  return s as DType;
}
