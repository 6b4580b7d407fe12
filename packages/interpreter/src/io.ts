/**
 * Model inputs and outputs as plain objects: `{ shape, dtype, data }`.
 *
 * Input data accepted per declared dtype:
 *  - fp16: `Uint16Array` = raw IEEE binary16 bits; `Float32Array`, `Float64Array` or
 *    `number[]` = values (rounded to the nearest fp16).
 *  - fp32: `Float32Array`, `Float64Array` or `number[]`.
 *  - int8 … int32, uint8, uint16: any integer typed array (incl. `BigInt64Array`) or
 *    `number[]`; values must be integers in the dtype's range.
 *  - bool: `Uint8Array`, `boolean[]` or `number[]` (non-zero = true).
 *
 * Outputs are always `Float32Array` for fp16/fp32 (an fp16 output holds values exactly
 * representable in fp16), `Int32Array` for integer dtypes and `Uint8Array` (0/1) for bool.
 */
import { type DType, DTYPE_INFO, type Dim, type TensorType, isDType, fp16ToFp32Array, roundToFp16InPlace } from '@silica/ir';
import { type RTensor, copyOf, kindOf, rt } from './rtensor.js';

export type IOData =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | BigInt64Array
  | readonly number[]
  | readonly boolean[];

export interface InputTensor {
  readonly shape: readonly number[];
  /** Optional; when given it must equal the declared dtype (`float32`-style NumPy names are accepted). */
  readonly dtype?: string;
  readonly data: IOData;
}

export interface OutputTensor {
  readonly shape: number[];
  readonly dtype: DType;
  readonly data: Float32Array | Int32Array | Uint8Array;
}

const ALIASES: Readonly<Record<string, DType>> = {
  float16: 'fp16',
  half: 'fp16',
  float32: 'fp32',
  float: 'fp32',
  float64: 'fp64',
  double: 'fp64',
  int: 'int32',
  boolean: 'bool',
};

/** Normalises a dtype name (`float32` → `fp32`); undefined when unknown. */
export function normalizeDType(name: string): DType | undefined {
  if (isDType(name)) return name;
  return ALIASES[name.toLowerCase()];
}

function describe(data: IOData): string {
  return Array.isArray(data) ? 'Array' : (data as object).constructor.name;
}

/**
 * Checks an input against its declared tensor type and converts it to the runtime form.
 * `symbols` binds symbolic dims across inputs (the same name must get the same size).
 */
export function toRuntimeInput(name: string, input: InputTensor, declared: TensorType, symbols: Map<string, number>): RTensor {
  const where = `input "${name}"`;
  const want = `${declared.dtype}[${declared.shape.join(', ')}]`;
  if (input === null || typeof input !== 'object' || !('data' in input) || !('shape' in input)) {
    throw new Error(`${where} must be an object { shape, dtype?, data }`);
  }
  const shape = [...input.shape];
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`${where}: invalid shape [${shape.join(', ')}]`);
  if (shape.length !== declared.shape.length) {
    throw new Error(`${where}: shape [${shape.join(', ')}] has rank ${shape.length}, but the function declares ${want} (rank ${declared.shape.length})`);
  }
  declared.shape.forEach((d: Dim, i) => {
    if (typeof d === 'number') {
      if (d !== shape[i]) throw new Error(`${where}: shape [${shape.join(', ')}] does not match the declared ${want} (axis ${i}: ${shape[i]} vs ${d})`);
    } else {
      const bound = symbols.get(d);
      if (bound !== undefined && bound !== shape[i]) {
        throw new Error(`${where}: axis ${i} is the symbolic dim "${d}", already bound to ${bound} by another input, but is ${shape[i]} here`);
      }
      symbols.set(d, shape[i]);
    }
  });
  const n = shape.reduce((a, b) => a * b, 1);
  const data = input.data;
  if (data === null || typeof data !== 'object' || typeof (data as ArrayLike<unknown>).length !== 'number') {
    throw new Error(`${where}: data must be a typed array or an array`);
  }
  if (data.length !== n) throw new Error(`${where}: shape [${shape.join(', ')}] needs ${n} elements, data has ${data.length}`);
  const dtype = declared.dtype;
  if (input.dtype !== undefined) {
    const given = normalizeDType(input.dtype);
    if (given !== dtype) {
      throw new Error(`${where} is declared ${want} but was given dtype "${input.dtype}"${dtype === 'fp16' ? ' (pass fp16 values as Float32Array or fp16 bits as Uint16Array with dtype "fp16")' : ''}`);
    }
  }
  const kind = kindOf(dtype);
  if (kind === 'float') {
    if (dtype !== 'fp16' && dtype !== 'fp32') throw new Error(`${where}: ${dtype} inputs are not supported (only fp16 and fp32)`);
    if (data instanceof Uint16Array) {
      if (dtype !== 'fp16') throw new Error(`${where}: Uint16Array data is read as fp16 bits, but the input is ${want}; pass a Float32Array`);
      return rt(dtype, shape, fp16ToFp32Array(data));
    }
    if (!(data instanceof Float32Array || data instanceof Float64Array || Array.isArray(data))) {
      throw new Error(`${where}: ${want} needs Float32Array, Float64Array or number[] data${dtype === 'fp16' ? ' (or Uint16Array fp16 bits)' : ''}, got ${describe(data)}`);
    }
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const v = (data as ArrayLike<unknown>)[i];
      if (typeof v !== 'number') throw new Error(`${where}: element ${i} is not a number`);
      out[i] = v;
    }
    if (dtype === 'fp16') roundToFp16InPlace(out);
    return rt(dtype, shape, out);
  }
  if (kind === 'bool') {
    if (!(data instanceof Uint8Array || Array.isArray(data))) throw new Error(`${where}: ${want} needs Uint8Array, boolean[] or number[] data, got ${describe(data)}`);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = (data as ArrayLike<unknown>)[i] ? 1 : 0;
    return rt('bool', shape, out);
  }
  if (kind === 'int') {
    if (data instanceof Float32Array || data instanceof Float64Array) {
      throw new Error(`${where}: ${want} needs integer data (Int32Array or another integer array), got ${describe(data)}`);
    }
    const info = DTYPE_INFO[dtype];
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const raw = (data as ArrayLike<unknown>)[i];
      const v = typeof raw === 'bigint' ? Number(raw) : raw;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < info.min || v > info.max || v < -2147483648 || v > 2147483647) {
        throw new Error(`${where}: element ${i} (${String(raw)}) is not a valid ${dtype}`);
      }
      out[i] = v;
    }
    return rt(dtype, shape, out);
  }
  throw new Error(`${where}: ${dtype} inputs are not supported`);
}

/** A defensive copy of a runtime tensor as an output. */
export function toOutput(t: RTensor): OutputTensor {
  if (t.dtype === 'string') throw new Error('string tensors cannot be returned as outputs');
  return { shape: [...t.shape], dtype: t.dtype, data: copyOf(t.data) };
}
