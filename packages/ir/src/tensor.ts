/**
 * Tensor storage. Every tensor keeps its bytes exactly as Core ML stores them:
 * little-endian elements, fp16 as raw binary16 bits, sub-byte dtypes packed LSB-first
 * (mlpackage-format.md §11), strings as JS strings. Reading or writing a tensor is a
 * copy; decoding to numbers happens only on request.
 *
 * Two kinds:
 *  - DenseTensor: bytes in memory.
 *  - FileTensor: (path, offset, byteLength) in a file; bytes are read when asked for and
 *    never cached, so a model's weights are never all in memory.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { type DType, DTYPE_INFO, byteSize } from './dtype.js';
import { type Shape, numElements } from './types.js';
import { fp16ToFp32Array, fp32ToFp16Array } from './fp16.js';
import { packSubByte, unpackSubByte } from './packing.js';
import { WeightHash, hashTensorBytes } from './hash.js';

export type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export abstract class Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  private _hash: WeightHash | undefined;

  protected constructor(dtype: DType, shape: readonly number[]) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`invalid tensor dim ${d} in shape [${shape.join(', ')}]`);
    }
    this.dtype = dtype;
    this.shape = [...shape];
  }

  get size(): number {
    return numElements(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Stored byte length (packed for sub-byte dtypes). */
  abstract get byteLength(): number;

  /** The stored bytes. For a FileTensor this reads the file each call: do not hold on to it longer than needed. */
  abstract bytes(): Uint8Array;

  /** Whether the bytes live in memory (DenseTensor) or in a file (FileTensor). */
  abstract get isLazy(): boolean;

  /** String elements (dtype `string` only). */
  strings(): readonly string[] {
    throw new Error(`tensor of dtype ${this.dtype} has no string elements`);
  }

  /** Content hash of (dtype, shape, bytes), computed once and cached (ARCHITECTURE.md "Content hash"). */
  hash(): WeightHash {
    if (!this._hash) this._hash = this.computeHash();
    return this._hash;
  }

  protected computeHash(): WeightHash {
    return hashTensorBytes(this.dtype, this.shape, this.bytes());
  }

  /** Decodes to a Float32Array (fp16/bf16/fp8 widened, ints converted, bools 0/1). */
  toFloat32(): Float32Array {
    return decodeToFloat32(this.dtype, this.bytes(), this.size);
  }

  /** Decodes to a Float64Array (exact for every dtype except int64/uint64 beyond 2^53). */
  toFloat64(): Float64Array {
    if (this.dtype === 'fp16' || this.dtype === 'bf16' || this.dtype.startsWith('fp8')) return Float64Array.from(this.toFloat32());
    const v = this.values();
    if (v instanceof BigInt64Array || v instanceof BigUint64Array) return Float64Array.from(v, (x) => Number(x));
    return Float64Array.from(v as ArrayLike<number>);
  }

  /**
   * The elements as the natural typed array of the dtype: Uint16Array of raw bits for
   * fp16/bf16, Int8Array for int4 (sign-extended), Uint8Array for uint1..uint6, bool and
   * fp8 (raw), etc.
   */
  values(): NumericArray {
    return decodeValues(this.dtype, this.bytes(), this.size);
  }

  /** A scalar or small tensor as plain numbers (convenience for attributes and tests). */
  toNumbers(): number[] {
    if (this.dtype === 'fp16' || this.dtype === 'bf16' || this.dtype.startsWith('fp8')) return Array.from(this.toFloat32());
    const v = this.values();
    return Array.from(v as ArrayLike<number | bigint>, (x) => Number(x));
  }

  /** Materialises the bytes in memory. */
  toDense(): DenseTensor {
    return this instanceof DenseTensor ? this : new DenseTensor(this.dtype, this.shape, this.bytes());
  }

  /** Same bytes, new shape (element count must match). */
  reshape(shape: readonly number[]): Tensor {
    if (numElements(shape) !== this.size) {
      throw new Error(`cannot reshape [${this.shape.join(', ')}] to [${shape.join(', ')}]`);
    }
    return this.withShape(shape);
  }

  protected abstract withShape(shape: readonly number[]): Tensor;

  /** True when dtype, shape and bytes are identical (hash first, bytes to confirm). */
  contentEquals(other: Tensor): boolean {
    if (this === other) return true;
    if (this.dtype !== other.dtype || this.shape.length !== other.shape.length) return false;
    if (!this.shape.every((d, i) => d === other.shape[i])) return false;
    if (this.dtype === 'string') {
      const a = this.strings();
      const b = other.strings();
      return a.length === b.length && a.every((s, i) => s === b[i]);
    }
    if (!this.hash().equals(other.hash())) return false;
    return Buffer.from(this.bytes()).equals(Buffer.from(other.bytes()));
  }
}

export class DenseTensor extends Tensor {
  readonly data: Uint8Array;
  private readonly _strings: readonly string[] | undefined;

  constructor(dtype: DType, shape: readonly number[], data: Uint8Array, strings?: readonly string[]) {
    super(dtype, shape);
    if (dtype === 'string') {
      if (!strings || strings.length !== this.size) {
        throw new Error(`string tensor of shape [${shape.join(', ')}] needs ${this.size} strings`);
      }
      this._strings = [...strings];
      this.data = new Uint8Array(0);
      return;
    }
    const expected = byteSize(dtype, this.size);
    if (data.byteLength !== expected) {
      throw new Error(
        `${dtype} tensor of shape [${shape.join(', ')}] needs ${expected} bytes, got ${data.byteLength}`,
      );
    }
    this.data = data;
    this._strings = undefined;
  }

  get byteLength(): number {
    return this.data.byteLength;
  }

  get isLazy(): boolean {
    return false;
  }

  bytes(): Uint8Array {
    return this.data;
  }

  override strings(): readonly string[] {
    if (!this._strings) return super.strings();
    return this._strings;
  }

  protected override computeHash(): WeightHash {
    if (this._strings) {
      return hashTensorBytes(this.dtype, this.shape, new TextEncoder().encode(JSON.stringify(this._strings)));
    }
    return super.computeHash();
  }

  protected withShape(shape: readonly number[]): Tensor {
    return new DenseTensor(this.dtype, shape, this.data, this._strings);
  }
}

/**
 * A tensor whose bytes sit at (path, offset, byteLength) in a file. The bytes are read
 * synchronously when asked for and are not cached; the hash is computed by streaming
 * the range in chunks, so hashing a multi-GB weight never holds it whole.
 */
export class FileTensor extends Tensor {
  readonly path: string;
  readonly offset: number;
  private readonly _byteLength: number;

  constructor(dtype: DType, shape: readonly number[], path: string, offset: number, byteLength: number) {
    super(dtype, shape);
    if (dtype === 'string') throw new Error('string tensors cannot be file-backed');
    const expected = byteSize(dtype, this.size);
    if (byteLength !== expected) {
      throw new Error(
        `${dtype} tensor of shape [${shape.join(', ')}] needs ${expected} bytes, but ${path} holds ${byteLength} at offset ${offset}`,
      );
    }
    if (!Number.isSafeInteger(offset) || offset < 0) throw new Error(`invalid file offset ${offset} for ${path}`);
    this.path = path;
    this.offset = offset;
    this._byteLength = byteLength;
  }

  get byteLength(): number {
    return this._byteLength;
  }

  get isLazy(): boolean {
    return true;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this._byteLength);
    readRange(this.path, this.offset, out);
    return out;
  }

  /** Streams the bytes in chunks of at most `chunkSize` (default 8 MiB). */
  *chunks(chunkSize = 8 << 20): Generator<Uint8Array> {
    const fd = openSync(this.path, 'r');
    try {
      const buf = new Uint8Array(Math.min(chunkSize, Math.max(1, this._byteLength)));
      let done = 0;
      while (done < this._byteLength) {
        const want = Math.min(buf.byteLength, this._byteLength - done);
        const n = readFully(fd, buf, want, this.offset + done, this.path, this.offset, this._byteLength);
        done += n;
        yield buf.subarray(0, n);
      }
    } finally {
      closeSync(fd);
    }
  }

  protected override computeHash(): WeightHash {
    return hashTensorBytes(this.dtype, this.shape, this.chunks());
  }

  protected withShape(shape: readonly number[]): Tensor {
    return new FileTensor(this.dtype, shape, this.path, this.offset, this._byteLength);
  }
}

/**
 * Reads `want` bytes at `position` into `buf`. `rangeOffset`/`rangeLength` name the whole
 * range the caller is after (a tensor's bytes), so a truncated file is reported by the
 * range that could not be read, not by an internal chunk.
 */
function readFully(
  fd: number,
  buf: Uint8Array,
  want: number,
  position: number,
  path: string,
  rangeOffset = position,
  rangeLength = want,
): number {
  let got = 0;
  while (got < want) {
    const n = readSync(fd, buf, got, want - got, position + got);
    if (n === 0) {
      throw new Error(
        `${path}: unexpected end of file at byte ${position + got} while reading ${rangeLength} bytes at offset ${rangeOffset}` +
          ` (the range ends at byte ${rangeOffset + rangeLength})`,
      );
    }
    got += n;
  }
  return got;
}

/** Reads `out.byteLength` bytes of `path` starting at `offset`. */
export function readRange(path: string, offset: number, out: Uint8Array): void {
  const fd = openSync(path, 'r');
  try {
    readFully(fd, out, out.byteLength, offset, path);
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------
// Element decoding / encoding

function view<T>(ctor: new (b: ArrayBuffer, o: number, n: number) => T, bytes: Uint8Array, elemBytes: number, count: number): T {
  if (bytes.byteOffset % elemBytes === 0) return new ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, count);
  const copy = bytes.slice(0, count * elemBytes);
  return new ctor(copy.buffer, 0, count);
}

/** Natural typed-array view/copy of stored bytes (see Tensor.values). */
export function decodeValues(dtype: DType, bytes: Uint8Array, count: number): NumericArray {
  switch (dtype) {
    case 'fp16':
    case 'bf16':
    case 'uint16':
      return view(Uint16Array, bytes, 2, count);
    case 'fp32':
      return view(Float32Array, bytes, 4, count);
    case 'fp64':
      return view(Float64Array, bytes, 8, count);
    case 'int8':
      return new Int8Array(bytes.buffer, bytes.byteOffset, count);
    case 'int16':
      return view(Int16Array, bytes, 2, count);
    case 'int32':
      return view(Int32Array, bytes, 4, count);
    case 'int64':
      return view(BigInt64Array, bytes, 8, count);
    case 'uint32':
      return view(Uint32Array, bytes, 4, count);
    case 'uint64':
      return view(BigUint64Array, bytes, 8, count);
    case 'uint8':
    case 'bool':
    case 'fp8e4m3fn':
    case 'fp8e5m2':
      return bytes.subarray(0, count);
    case 'int4': {
      const u = unpackSubByte(bytes, 4, count);
      const out = new Int8Array(count);
      for (let i = 0; i < count; i++) out[i] = (u[i] << 28) >> 28;
      return out;
    }
    case 'uint1':
    case 'uint2':
    case 'uint3':
    case 'uint4':
    case 'uint6':
      return unpackSubByte(bytes, DTYPE_INFO[dtype].bits, count);
    case 'string':
      throw new Error('string tensors have no numeric values');
  }
}

export function decodeToFloat32(dtype: DType, bytes: Uint8Array, count: number): Float32Array {
  switch (dtype) {
    case 'fp16':
      return fp16ToFp32Array(view(Uint16Array, bytes, 2, count));
    case 'fp32':
      return Float32Array.from(view(Float32Array, bytes, 4, count));
    case 'bf16': {
      const u = view(Uint16Array, bytes, 2, count);
      const out = new Uint32Array(count);
      for (let i = 0; i < count; i++) out[i] = u[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'fp8e4m3fn':
    case 'fp8e5m2': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = decodeFp8(dtype, bytes[i]);
      return out;
    }
    default: {
      const v = decodeValues(dtype, bytes, count);
      return Float32Array.from(v as ArrayLike<number | bigint>, (x) => Number(x));
    }
  }
}

function decodeFp8(dtype: 'fp8e4m3fn' | 'fp8e5m2', b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  if (dtype === 'fp8e4m3fn') {
    const e = (b >> 3) & 0xf;
    const m = b & 7;
    if (e === 15 && m === 7) return NaN;
    return e === 0 ? sign * m * 2 ** -9 : sign * (1 + m / 8) * 2 ** (e - 7);
  }
  const e = (b >> 2) & 0x1f;
  const m = b & 3;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return e === 0 ? sign * m * 2 ** -16 : sign * (1 + m / 4) * 2 ** (e - 15);
}

/**
 * Builds a DenseTensor from numbers. Floats are rounded to the dtype (fp16: round to
 * nearest even); integers must be in range (checked) and are truncated toward zero only if
 * they are integral already — non-integral values are an error.
 */
export function tensorFromValues(
  dtype: DType,
  shape: readonly number[],
  values: ArrayLike<number> | ArrayLike<bigint> | readonly boolean[],
): DenseTensor {
  const count = numElements(shape);
  if (values.length !== count) {
    throw new Error(`tensor of shape [${shape.join(', ')}] needs ${count} values, got ${values.length}`);
  }
  const num = (i: number): number => Number((values as ArrayLike<unknown>)[i] as number);
  const info = DTYPE_INFO[dtype];
  switch (dtype) {
    case 'fp16': {
      const f = values instanceof Float32Array ? values : Float32Array.from({ length: count }, (_, i) => num(i));
      return new DenseTensor(dtype, shape, new Uint8Array(fp32ToFp16Array(f).buffer));
    }
    case 'fp32':
      return new DenseTensor(dtype, shape, new Uint8Array(Float32Array.from({ length: count }, (_, i) => num(i)).buffer));
    case 'fp64':
      return new DenseTensor(dtype, shape, new Uint8Array(Float64Array.from({ length: count }, (_, i) => num(i)).buffer));
    case 'bf16': {
      const f = Float32Array.from({ length: count }, (_, i) => num(i));
      const u = new Uint32Array(f.buffer);
      const out = new Uint16Array(count);
      for (let i = 0; i < count; i++) {
        const x = u[i];
        if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) out[i] = (x >>> 16) | 0x40;
        else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
      }
      return new DenseTensor(dtype, shape, new Uint8Array(out.buffer));
    }
    case 'bool': {
      const out = new Uint8Array(count);
      for (let i = 0; i < count; i++) out[i] = (values as ArrayLike<unknown>)[i] ? 1 : 0;
      return new DenseTensor(dtype, shape, out);
    }
    case 'int64':
    case 'uint64': {
      // Checked against the exact bigint bounds: typed-array stores would wrap silently.
      const lo = dtype === 'int64' ? -(2n ** 63n) : 0n;
      const hi = dtype === 'int64' ? 2n ** 63n - 1n : 2n ** 64n - 1n;
      const out = dtype === 'int64' ? new BigInt64Array(count) : new BigUint64Array(count);
      for (let i = 0; i < count; i++) {
        const v = (values as ArrayLike<unknown>)[i];
        const b = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : undefined;
        if (b === undefined || b < lo || b > hi) {
          throw new Error(`value ${String(v)} at index ${i} is not a valid ${dtype} (range ${lo}..${hi})`);
        }
        out[i] = b;
      }
      return new DenseTensor(dtype, shape, new Uint8Array(out.buffer));
    }
    case 'string':
      throw new Error('use new DenseTensor("string", shape, new Uint8Array(0), strings) for string tensors');
    case 'fp8e4m3fn':
    case 'fp8e5m2':
      throw new Error(`building ${dtype} tensors from numbers is not supported; pass raw bytes to DenseTensor`);
    default: {
      const ints = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = num(i);
        if (!Number.isInteger(v) || v < info.min || v > info.max) {
          throw new Error(`value ${v} at index ${i} is not a valid ${dtype} (range ${info.min}..${info.max})`);
        }
        ints[i] = v;
      }
      return new DenseTensor(dtype, shape, encodeInts(dtype, ints));
    }
  }
}

function encodeInts(dtype: DType, ints: Int32Array): Uint8Array {
  const count = ints.length;
  switch (dtype) {
    case 'int8':
      return new Uint8Array(Int8Array.from(ints).buffer);
    case 'uint8':
      return Uint8Array.from(ints);
    case 'int16':
      return new Uint8Array(Int16Array.from(ints).buffer);
    case 'uint16':
      return new Uint8Array(Uint16Array.from(ints).buffer);
    case 'int32':
      return new Uint8Array(Int32Array.from(ints).buffer);
    case 'uint32':
      return new Uint8Array(Uint32Array.from(ints).buffer);
    case 'int4': {
      const u = new Uint8Array(count);
      for (let i = 0; i < count; i++) u[i] = ints[i] & 0xf;
      return packSubByte(u, 4);
    }
    default:
      return packSubByte(Uint8Array.from(ints), DTYPE_INFO[dtype].bits);
  }
}

/** Scalar convenience: `scalar('fp32', 1.5)`, `scalar('bool', true)`, `scalar('string', 'EXACT')`. */
export function scalar(dtype: DType, value: number | boolean | string): DenseTensor {
  if (dtype === 'string') return new DenseTensor('string', [], new Uint8Array(0), [String(value)]);
  return tensorFromValues(dtype, [], [value as number]);
}

export function stringTensor(shape: readonly number[], strings: readonly string[]): DenseTensor {
  return new DenseTensor('string', shape, new Uint8Array(0), strings);
}

export function zeros(dtype: DType, shape: readonly number[]): DenseTensor {
  return new DenseTensor(dtype, shape, new Uint8Array(byteSize(dtype, numElements(shape))));
}

export function fromFloat32(dtype: DType, shape: readonly number[], data: Float32Array): DenseTensor {
  if (dtype === 'fp32') {
    if (data.length !== numElements(shape)) throw new Error(`need ${numElements(shape)} values, got ${data.length}`);
    return new DenseTensor('fp32', shape, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  if (dtype === 'fp16') return new DenseTensor('fp16', shape, new Uint8Array(fp32ToFp16Array(data).buffer));
  return tensorFromValues(dtype, shape, data);
}

export type { Shape };
