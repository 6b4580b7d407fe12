/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0): little-endian, C order, dtypes
 * `<f2 <f4 <f8 <i1 <i2 <i4 <i8 |u1 <u2 |b1`. Big-endian data and Fortran order are
 * rejected with a clear error rather than silently reordered.
 *
 * Layout: magic `\x93NUMPY`, major, minor, header length (uint16 LE for 1.0, uint32 LE
 * for 2.0/3.0), then a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and
 * a final `\n` so the data starts on a 64-byte boundary, then the raw elements.
 */
import { type DType, fp16ToFp32Array } from '@silica/ir';
import type { InputTensor } from './io.js';

/** Element type codes, without the byte-order character. */
export type NpyDType = 'f2' | 'f4' | 'f8' | 'i1' | 'i2' | 'i4' | 'i8' | 'u1' | 'u2' | 'b1';

export type NpyData = Uint16Array | Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array;

/** One array. `f2` data is raw fp16 bits (Uint16Array); `b1` is a Uint8Array of 0/1. */
export interface NpyArray {
  readonly dtype: NpyDType;
  readonly shape: number[];
  readonly data: NpyData;
}

interface DTypeInfo {
  readonly bytes: number;
  readonly ctor: new (buf: ArrayBuffer, off: number, n: number) => NpyData;
  readonly ir: DType;
}

const INFO: Readonly<Record<NpyDType, DTypeInfo>> = {
  f2: { bytes: 2, ctor: Uint16Array, ir: 'fp16' },
  f4: { bytes: 4, ctor: Float32Array, ir: 'fp32' },
  f8: { bytes: 8, ctor: Float64Array, ir: 'fp64' },
  i1: { bytes: 1, ctor: Int8Array, ir: 'int8' },
  i2: { bytes: 2, ctor: Int16Array, ir: 'int16' },
  i4: { bytes: 4, ctor: Int32Array, ir: 'int32' },
  i8: { bytes: 8, ctor: BigInt64Array, ir: 'int64' },
  u1: { bytes: 1, ctor: Uint8Array, ir: 'uint8' },
  u2: { bytes: 2, ctor: Uint16Array, ir: 'uint16' },
  b1: { bytes: 1, ctor: Uint8Array, ir: 'bool' },
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Parses a `.npy` file. `name` only labels errors. */
export function readNpy(bytes: Uint8Array, name = '.npy'): NpyArray {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) throw new Error(`${name}: not a .npy file (bad magic)`);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new Error(`${name}: truncated header`);
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new Error(`${name}: unsupported .npy format version ${major}.${bytes[7]} (expected 1.0, 2.0 or 3.0)`);
  }
  if (start + headerLen > bytes.length) throw new Error(`${name}: truncated header`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`${name}: cannot parse the header ${JSON.stringify(header.trim())}`);
  }
  if (fortran === 'True') throw new Error(`${name}: Fortran-order arrays are not supported (save with np.ascontiguousarray)`);
  const order = descr[0];
  const code = descr.slice(1) as NpyDType;
  const info = INFO[code];
  if (info && order === '>' && info.bytes > 1) {
    throw new Error(`${name}: big-endian data (${descr}) is not supported; convert with arr.astype('<${code}')`);
  }
  if (!info || !['<', '|', '=', '>'].includes(order)) {
    throw new Error(`${name}: unsupported dtype ${descr} (supported: ${Object.keys(INFO).map((k) => (INFO[k as NpyDType].bytes > 1 ? '<' : '|') + k).join(' ')})`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const d = Number(s.replace(/L$/, ''));
      if (!Number.isInteger(d) || d < 0) throw new Error(`${name}: invalid shape (${shapeText})`);
      return d;
    });
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLen;
  const byteLength = count * info.bytes;
  if (dataStart + byteLength > bytes.length) {
    throw new Error(`${name}: ${descr} [${shape.join(', ')}] needs ${byteLength} data bytes, the file has ${bytes.length - dataStart}`);
  }
  // copy: the element view must be aligned, and the caller may drop the file buffer.
  // (Uint8Array's slice, not Buffer's: Buffer#slice is a view into the same memory)
  const copy = Uint8Array.prototype.slice.call(bytes, dataStart, dataStart + byteLength);
  const data = new info.ctor(copy.buffer, 0, count);
  return { dtype: code, shape, data };
}

/** Serialises an array as `.npy` (version 1.0, or 2.0 when the header needs it). */
export function writeNpy(arr: NpyArray): Uint8Array {
  const info = INFO[arr.dtype];
  if (!info) throw new Error(`unsupported npy dtype ${String(arr.dtype)}`);
  const count = arr.shape.reduce((a, b) => a * b, 1);
  if (arr.data.length !== count) throw new Error(`npy: shape [${arr.shape.join(', ')}] needs ${count} elements, data has ${arr.data.length}`);
  if (!(arr.data instanceof info.ctor)) throw new Error(`npy: ${arr.dtype} data must be a ${info.ctor.name}, got ${arr.data.constructor.name}`);
  const descr = `${info.bytes > 1 ? '<' : '|'}${arr.dtype}`;
  const shape = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  const base = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const padded = (prefix: number): string => base + ' '.repeat((64 - ((prefix + base.length + 1) % 64)) % 64) + '\n';
  // version 1.0 stores the header length as uint16; longer headers need 2.0
  let major = 1;
  let prefix = 10;
  let dict = padded(prefix);
  if (dict.length > 65535) {
    major = 2;
    prefix = 12;
    dict = padded(prefix);
  }
  const out = new Uint8Array(prefix + dict.length + count * info.bytes);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, dict.length, true);
  else dv.setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i);
  out.set(new Uint8Array(arr.data.buffer, arr.data.byteOffset, count * info.bytes), prefix + dict.length);
  return out;
}

/** The IR dtype of an npy dtype (`f2` → `fp16`, `b1` → `bool`…). */
export function npyDTypeToIR(d: NpyDType): DType {
  return INFO[d].ir;
}

/** The npy dtype for an IR dtype, or undefined when NumPy has no plain equivalent. */
export function irDTypeToNpy(d: DType): NpyDType | undefined {
  return (Object.keys(INFO) as NpyDType[]).find((k) => INFO[k].ir === d);
}

/**
 * An npy array as an interpreter input: fp16 stays as raw bits (Uint16Array, which the
 * interpreter reads as fp16 bits), other dtypes pass their typed array through.
 */
export function npyToInput(arr: NpyArray): InputTensor {
  return { shape: arr.shape, dtype: INFO[arr.dtype].ir, data: arr.data };
}

/** An npy array's values as a Float32Array (fp16 widened, ints converted, bools 0/1). */
export function npyToFloat32(arr: NpyArray): Float32Array {
  if (arr.dtype === 'f2') return fp16ToFp32Array(arr.data as Uint16Array);
  if (arr.data instanceof BigInt64Array) return Float32Array.from(arr.data, (x) => Number(x));
  return Float32Array.from(arr.data as ArrayLike<number>);
}
