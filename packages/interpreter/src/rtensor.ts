/**
 * The interpreter's runtime tensor. One representation per dtype kind, chosen so every
 * kernel is a loop over a plain typed array:
 *
 * | dtype kind | storage | note |
 * |---|---|---|
 * | float (fp16, fp32) | `Float32Array` | fp16 values are kept as the fp32 number they equal; every fp16-typed op output is rounded to fp16 (`roundToFp16InPlace`) |
 * | int / uint (int4 … int32, uint1 … uint32, int64 within ±2^31) | `Int32Array` | |
 * | bool | `Uint8Array` | 0 / 1 |
 * | string | `strings` | only const parameters (gelu `mode`, cast `dtype`, conv `pad_type`) |
 *
 * Runtime tensors are immutable once produced: kernels never write into an input, so a
 * view op (reshape, squeeze, identity, read_state) may return its input's array.
 */
import { type DType, DTYPE_INFO, type Tensor, decodeToFloat32, fromFloat32, tensorFromValues, DenseTensor } from '@silica/ir';

export type RData = Float32Array | Int32Array | Uint8Array;
export type Kind = 'float' | 'int' | 'bool' | 'string';

export interface RTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: RData;
  /** Elements of a string tensor (then `data` is empty). */
  readonly strings?: readonly string[];
}

export function kindOf(dtype: DType): Kind {
  const k = DTYPE_INFO[dtype].kind;
  return k === 'uint' ? 'int' : k;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Allocates storage for `n` elements of the given kind. */
export function alloc(kind: Kind, n: number): RData {
  if (kind === 'float') return new Float32Array(n);
  if (kind === 'int') return new Int32Array(n);
  if (kind === 'bool') return new Uint8Array(n);
  throw new Error('cannot allocate storage for string tensors');
}

/** Builds a runtime tensor, checking that storage and element count fit the dtype and shape. */
export function rt(dtype: DType, shape: readonly number[], data: RData): RTensor {
  const kind = kindOf(dtype);
  const ok =
    (kind === 'float' && data instanceof Float32Array) ||
    (kind === 'int' && data instanceof Int32Array) ||
    (kind === 'bool' && data instanceof Uint8Array);
  if (!ok) throw new Error(`internal: ${dtype} tensor stored in a ${data.constructor.name}`);
  const n = sizeOf(shape);
  if (data.length !== n) throw new Error(`internal: ${dtype}[${shape.join(', ')}] needs ${n} elements, storage has ${data.length}`);
  return { dtype, shape: [...shape], data };
}

export function fmt(t: { dtype: string; shape: readonly number[] }): string {
  return `${t.dtype}[${t.shape.join(', ')}]`;
}

/**
 * A fresh copy of a storage array. (`new` + `set` rather than `TypedArray#slice`, which
 * V8 runs several times slower until it has been called many times.)
 */
export function copyOf<T extends RData>(data: T): T {
  const out = new (data.constructor as new (n: number) => T)(data.length);
  out.set(data as never);
  return out;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Decodes an IR tensor (const values, constexpr results) into the runtime form. */
export function fromIRTensor(t: Tensor): RTensor {
  const kind = kindOf(t.dtype);
  const shape = [...t.shape];
  switch (kind) {
    case 'string':
      return { dtype: 'string', shape, data: new Uint8Array(0), strings: t.strings() };
    case 'float':
      if (t.dtype !== 'fp16' && t.dtype !== 'fp32') {
        throw new Error(`${t.dtype} tensors are not supported by the interpreter (only fp16 and fp32 floats)`);
      }
      return rt(t.dtype, shape, decodeToFloat32(t.dtype, t.bytes(), t.size));
    case 'bool': {
      const v = t.values() as Uint8Array;
      const out = new Uint8Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = v[i] ? 1 : 0;
      return rt('bool', shape, out);
    }
    case 'int': {
      const v = t.values();
      const out = new Int32Array(v.length);
      if (v instanceof BigInt64Array || v instanceof BigUint64Array) {
        for (let i = 0; i < v.length; i++) out[i] = toInt32Checked(Number(v[i]), t.dtype, i);
      } else if (v instanceof Uint32Array) {
        for (let i = 0; i < v.length; i++) out[i] = toInt32Checked(v[i], t.dtype, i);
      } else {
        out.set(v as ArrayLike<number>);
      }
      return rt(t.dtype, shape, out);
    }
  }
}

function toInt32Checked(x: number, dtype: DType, i: number): number {
  if (x < -2147483648 || x > 2147483647) {
    throw new Error(`${dtype} value ${x} at index ${i} does not fit the interpreter's int32 storage`);
  }
  return x;
}

/** Encodes a runtime tensor back into an IR DenseTensor of its dtype. */
export function toIRTensor(r: RTensor): DenseTensor {
  if (r.dtype === 'string') return new DenseTensor('string', r.shape, new Uint8Array(0), r.strings ?? []);
  if (r.data instanceof Float32Array) return fromFloat32(r.dtype, r.shape, r.data);
  if (r.dtype === 'bool') return tensorFromValues('bool', r.shape, r.data);
  return tensorFromValues(r.dtype, r.shape, r.data);
}

/** The single number of a size-1 tensor. */
export function scalarOf(t: RTensor, what: string): number {
  if (t.data.length !== 1) throw new Error(`${what} must hold one element, got ${fmt(t)}`);
  return t.data[0];
}

/** Integers of an int tensor (checked), e.g. axes, perm, shape. */
export function intsOf(t: RTensor, what: string): number[] {
  if (kindOf(t.dtype) !== 'int') throw new Error(`${what} must be an integer tensor, got ${fmt(t)}`);
  return Array.from(t.data);
}
