/**
 * Constant evaluation of the foldable core ops (mil-ops.md §5–6), as coremltools' value
 * inference does, so `constValueOf` sees through cast / reshape / transpose / slice /
 * concat / arithmetic on constants.
 *
 * Data movement (transpose, slice, concat, tile, gather) copies stored element codes, so
 * it is bit-exact for every dtype (fp16 stays raw binary16, sub-byte dtypes are unpacked
 * and repacked, strings are strings). Arithmetic works on decoded numbers and rounds the
 * way NumPy does for the output dtype: fp32 results are the float64 result rounded once
 * (exact for + − × ÷); fp16 results are computed in fp32 and rounded to fp16, as NumPy's
 * half-precision loops do; int32 arithmetic wraps like int32 NumPy arrays.
 */
import { type DType, DTYPE_INFO } from '../dtype.js';
import { packSubByte, unpackSubByte } from '../packing.js';
import { DenseTensor, type Tensor, stringTensor, tensorFromValues } from '../tensor.js';
import { numElements } from '../types.js';

type Codes = Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[];

/** Row-major strides of a static shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let k = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = k;
    k *= shape[i];
  }
  return s;
}

function aligned<T>(ctor: new (b: ArrayBuffer, o: number, n: number) => T, bytes: Uint8Array, width: number, n: number): T {
  if (bytes.byteOffset % width === 0) return new ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  return new ctor(bytes.slice(0, n * width).buffer, 0, n);
}

/** The stored element codes of a tensor (unsigned, one per element). */
function codesOf(t: Tensor): Codes {
  if (t.dtype === 'string') return [...t.strings()];
  const n = t.size;
  const bits = DTYPE_INFO[t.dtype].bits;
  const bytes = t.bytes();
  if (bits < 8) return unpackSubByte(bytes, bits, n);
  switch (bits) {
    case 8:
      return bytes.subarray(0, n);
    case 16:
      return aligned(Uint16Array, bytes, 2, n);
    case 32:
      return aligned(Uint32Array, bytes, 4, n);
    default:
      return aligned(BigUint64Array, bytes, 8, n);
  }
}

function newCodes(dtype: DType, n: number): Codes {
  if (dtype === 'string') return new Array<string>(n);
  const bits = DTYPE_INFO[dtype].bits;
  if (bits <= 8) return new Uint8Array(n);
  if (bits === 16) return new Uint16Array(n);
  if (bits === 32) return new Uint32Array(n);
  return new BigUint64Array(n);
}

function tensorOfCodes(dtype: DType, shape: readonly number[], codes: Codes): Tensor {
  if (dtype === 'string') return stringTensor(shape, codes as string[]);
  const bits = DTYPE_INFO[dtype].bits;
  if (bits < 8) return new DenseTensor(dtype, shape, packSubByte(codes as Uint8Array, bits));
  const c = codes as Exclude<Codes, string[]>;
  return new DenseTensor(dtype, shape, new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
}

/** A tensor of `shape` whose element i is element `index[i]` of `t` (bit-exact copy). */
export function takeElements(t: Tensor, shape: readonly number[], index: ArrayLike<number>): Tensor {
  const src = codesOf(t) as unknown as ArrayLike<unknown>;
  const out = newCodes(t.dtype, index.length);
  const o = out as unknown as unknown[];
  for (let i = 0; i < index.length; i++) o[i] = src[index[i]];
  return tensorOfCodes(t.dtype, shape, out);
}

/** Flat source index of every output element of a strided view: out[i…] = src[first + i·step per axis]. */
export function stridedIndex(
  srcShape: readonly number[],
  axes: ReadonlyArray<{ first: number; step: number; count: number }>,
): Int32Array {
  const st = stridesOf(srcShape);
  const counts = axes.map((a) => a.count);
  const n = numElements(counts);
  const out = new Int32Array(n);
  const r = axes.length;
  const pos = new Array<number>(r).fill(0);
  let base = axes.reduce((acc, a, i) => acc + a.first * st[i], 0);
  for (let k = 0; k < n; k++) {
    out[k] = base;
    for (let i = r - 1; i >= 0; i--) {
      pos[i]++;
      base += axes[i].step * st[i];
      if (pos[i] < counts[i]) break;
      base -= axes[i].step * st[i] * counts[i];
      pos[i] = 0;
    }
  }
  return out;
}

/** `np.transpose(t, perm)`. */
export function transposeTensor(t: Tensor, perm: readonly number[]): Tensor {
  const st = stridesOf(t.shape);
  const shape = perm.map((p) => t.shape[p]);
  // Output axis i walks input axis perm[i]: its source stride is st[perm[i]].
  const n = t.size;
  const idx = new Int32Array(n);
  const pos = new Array<number>(shape.length).fill(0);
  let base = 0;
  for (let k = 0; k < n; k++) {
    idx[k] = base;
    for (let i = shape.length - 1; i >= 0; i--) {
      pos[i]++;
      base += st[perm[i]];
      if (pos[i] < shape[i]) break;
      base -= st[perm[i]] * shape[i];
      pos[i] = 0;
    }
  }
  return takeElements(t, shape, idx);
}

/** `np.concatenate(ts, axis)`, or with `interleave` the slices of the inputs alternated along `axis`. */
export function concatTensors(ts: readonly Tensor[], axis: number, interleave: boolean): Tensor {
  const dtype = ts[0].dtype;
  const outer = numElements(ts[0].shape.slice(0, axis));
  const inner = numElements(ts[0].shape.slice(axis + 1));
  const shape = [...ts[0].shape];
  shape[axis] = interleave ? ts[0].shape[axis] * ts.length : ts.reduce((a, t) => a + t.shape[axis], 0);
  const srcs = ts.map((t) => codesOf(t) as unknown as ArrayLike<unknown>);
  const out = newCodes(dtype, numElements(shape));
  const o = out as unknown as unknown[];
  let k = 0;
  for (let a = 0; a < outer; a++) {
    if (interleave) {
      const d = ts[0].shape[axis];
      for (let j = 0; j < d; j++) {
        for (const s of srcs) {
          const from = (a * d + j) * inner;
          for (let e = 0; e < inner; e++) o[k++] = s[from + e];
        }
      }
    } else {
      ts.forEach((t, ti) => {
        const chunk = t.shape[axis] * inner;
        const from = a * chunk;
        const s = srcs[ti];
        for (let e = 0; e < chunk; e++) o[k++] = s[from + e];
      });
    }
  }
  return tensorOfCodes(dtype, shape, out);
}

/** `np.tile(t, reps)` with len(reps) = rank. */
export function tileTensor(t: Tensor, reps: readonly number[]): Tensor {
  const shape = t.shape.map((d, i) => d * reps[i]);
  const st = stridesOf(t.shape);
  const n = numElements(shape);
  const idx = new Int32Array(n);
  const outSt = stridesOf(shape);
  for (let k = 0; k < n; k++) {
    let rem = k;
    let src = 0;
    for (let i = 0; i < shape.length; i++) {
      const p = Math.floor(rem / outSt[i]);
      rem -= p * outSt[i];
      src += (p % t.shape[i]) * st[i];
    }
    idx[k] = src;
  }
  return takeElements(t, shape, idx);
}

/**
 * gather along `axis` with `batchDims` leading batch dims (mil-ops.md §6): output
 * `x.shape[:axis] + indices.shape[batchDims:] + x.shape[axis+1:]`. Indices are already
 * normalised and in range.
 */
export function gatherTensor(
  x: Tensor,
  indices: readonly number[],
  indShape: readonly number[],
  axis: number,
  batchDims: number,
): Tensor {
  const shape = [...x.shape.slice(0, axis), ...indShape.slice(batchDims), ...x.shape.slice(axis + 1)];
  const xs = stridesOf(x.shape);
  const is = stridesOf(indShape);
  const outSt = stridesOf(shape);
  const n = numElements(shape);
  const idx = new Int32Array(n);
  const nInd = indShape.length - batchDims;
  for (let k = 0; k < n; k++) {
    let rem = k;
    const pos = outSt.map((s) => {
      const p = Math.floor(rem / s);
      rem -= p * s;
      return p;
    });
    // pos = [x lead (axis) | indices tail (nInd) | x trail]
    let indFlat = 0;
    for (let i = 0; i < batchDims; i++) indFlat += pos[i] * is[i];
    for (let j = 0; j < nInd; j++) indFlat += pos[axis + j] * is[batchDims + j];
    let src = indices[indFlat] * xs[axis];
    for (let i = 0; i < axis; i++) src += pos[i] * xs[i];
    for (let i = axis + 1; i < x.shape.length; i++) src += pos[nInd + i - 1] * xs[i];
    idx[k] = src;
  }
  return takeElements(x, shape, idx);
}

// ---------------------------------------------------------------------------------------
// Numbers

/** Elements as float64 numbers (floats decoded, ints exact, bools 0/1). */
export function numbersOf(t: Tensor): Float64Array {
  const kind = DTYPE_INFO[t.dtype].kind;
  if (kind === 'string') throw new Error('string tensors have no numeric values');
  if (kind === 'float' && t.dtype !== 'fp64') return Float64Array.from(t.toFloat32());
  const v = t.values();
  if (v instanceof BigInt64Array || v instanceof BigUint64Array) return Float64Array.from(v, (x) => Number(x));
  return Float64Array.from(v as ArrayLike<number>);
}

/**
 * A tensor of `dtype` from numbers, converting like NumPy's `astype`: floats round to the
 * dtype, integers truncate toward zero (NaN → 0, out-of-range values saturate — NumPy
 * leaves those undefined), bool is `v ≠ 0`.
 */
export function tensorFromNumbers(dtype: DType, shape: readonly number[], vals: ArrayLike<number>): Tensor {
  const info = DTYPE_INFO[dtype];
  if (info.kind === 'float') {
    if (dtype === 'fp16') return tensorFromValues('fp16', shape, Float32Array.from(vals as ArrayLike<number>));
    return tensorFromValues(dtype, shape, vals as ArrayLike<number>);
  }
  if (info.kind === 'bool')
    return tensorFromValues(
      'bool',
      shape,
      Array.from(vals as ArrayLike<number>, (v) => v !== 0),
    );
  if (info.kind === 'string') throw new Error('cannot build a string tensor from numbers');
  const out = new Float64Array(vals.length);
  for (let i = 0; i < vals.length; i++) {
    const v = vals[i];
    out[i] = Number.isNaN(v) ? 0 : Math.min(info.max, Math.max(info.min, Math.trunc(v)));
  }
  return tensorFromValues(dtype, shape, out);
}

/** Index of the element of `inShape` that broadcasts to each element of `outShape`. */
export function broadcastIndex(outShape: readonly number[], inShape: readonly number[]): Int32Array {
  const n = numElements(outShape);
  const r = outShape.length;
  const off = r - inShape.length;
  const inSt = stridesOf(inShape);
  const step = outShape.map((_, i) => (i < off || inShape[i - off] === 1 ? 0 : inSt[i - off]));
  const out = new Int32Array(n);
  const pos = new Array<number>(r).fill(0);
  let base = 0;
  for (let k = 0; k < n; k++) {
    out[k] = base;
    for (let i = r - 1; i >= 0; i--) {
      pos[i]++;
      base += step[i];
      if (pos[i] < outShape[i]) break;
      base -= step[i] * outShape[i];
      pos[i] = 0;
    }
  }
  return out;
}

export type BinaryKind =
  | 'add'
  | 'sub'
  | 'mul'
  | 'real_div'
  | 'pow'
  | 'maximum'
  | 'minimum'
  | 'equal'
  | 'not_equal'
  | 'less'
  | 'less_equal'
  | 'greater'
  | 'greater_equal'
  | 'logical_and'
  | 'logical_or'
  | 'logical_xor';

function intPow(a: number, b: number): number {
  let r = 1;
  let base = a | 0;
  let e = b;
  while (e > 0) {
    if (e & 1) r = Math.imul(r, base);
    base = Math.imul(base, base);
    e >>>= 1;
  }
  return r;
}

/**
 * Elementwise binary op with broadcasting. `fail` reports operand errors (integer division
 * by zero, negative integer powers — both errors in NumPy too).
 */
export function binaryFold(
  kind: BinaryKind,
  a: Tensor,
  b: Tensor,
  outShape: readonly number[],
  outDtype: DType,
  fail: (param: string, message: string) => never,
): Tensor {
  const ia = broadcastIndex(outShape, a.shape);
  const ib = broadcastIndex(outShape, b.shape);
  const va = numbersOf(a);
  const vb = numbersOf(b);
  const int = a.dtype === 'int32';
  const n = ia.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = va[ia[i]];
    const y = vb[ib[i]];
    let r: number;
    switch (kind) {
      case 'add':
        r = int ? (x + y) | 0 : x + y;
        break;
      case 'sub':
        r = int ? (x - y) | 0 : x - y;
        break;
      case 'mul':
        r = int ? Math.imul(x, y) : x * y;
        break;
      case 'real_div':
        if (int && y === 0) fail('y', `integer division by zero at element ${i}`);
        r = int ? Math.trunc(x / y) | 0 : x / y;
        break;
      case 'pow':
        if (int && y < 0) fail('y', `integer power with the negative exponent ${y} at element ${i}`);
        r = int ? intPow(x, y) : Math.pow(x, y);
        break;
      case 'maximum':
        r = Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.max(x, y);
        break;
      case 'minimum':
        r = Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.min(x, y);
        break;
      case 'equal':
        r = x === y ? 1 : 0;
        break;
      case 'not_equal':
        r = x !== y ? 1 : 0;
        break;
      case 'less':
        r = x < y ? 1 : 0;
        break;
      case 'less_equal':
        r = x <= y ? 1 : 0;
        break;
      case 'greater':
        r = x > y ? 1 : 0;
        break;
      case 'greater_equal':
        r = x >= y ? 1 : 0;
        break;
      case 'logical_and':
        r = x !== 0 && y !== 0 ? 1 : 0;
        break;
      case 'logical_or':
        r = x !== 0 || y !== 0 ? 1 : 0;
        break;
      case 'logical_xor':
        r = (x !== 0) !== (y !== 0) ? 1 : 0;
        break;
    }
    out[i] = r;
  }
  return tensorFromNumbers(outDtype, outShape, out);
}

/** `select(cond, a, b)` with broadcasting (bit-exact copy of the chosen elements). */
export function selectFold(cond: Tensor, a: Tensor, b: Tensor, outShape: readonly number[]): Tensor {
  const ic = broadcastIndex(outShape, cond.shape);
  const ia = broadcastIndex(outShape, a.shape);
  const ib = broadcastIndex(outShape, b.shape);
  const c = numbersOf(cond);
  const ca = codesOf(a) as unknown as ArrayLike<unknown>;
  const cb = codesOf(b) as unknown as ArrayLike<unknown>;
  const out = newCodes(a.dtype, ic.length);
  const o = out as unknown as unknown[];
  for (let i = 0; i < ic.length; i++) o[i] = c[ic[i]] !== 0 ? ca[ia[i]] : cb[ib[i]];
  return tensorOfCodes(a.dtype, outShape, out);
}
