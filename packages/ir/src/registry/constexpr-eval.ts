/**
 * Dense evaluation of the `constexpr_*` compression ops (mil-ops.md §1), on Tensors.
 * Each function returns exactly what coremltools' value inference returns for the op
 * (`materialized_val_inference` / `decompress`), restated from the reference.
 *
 * Performance and memory: everything runs over typed arrays with no per-element
 * allocation. The dequantizing and depalettizing ops stream their input in chunks of
 * `CHUNK` elements through small reused scratch buffers (decoded values, parameter
 * indices), so the only large allocation is the output itself — a 4096×4096 fp16 weight
 * costs its 32 MiB, not the 64 MiB fp32 intermediates a whole-tensor approach would add.
 * Element copies (LUT lookups, sparse scatter) move raw bit patterns (fp16/fp32 as
 * uint16/uint32), so values — NaN payloads included — are reproduced bit for bit.
 * Block-wise parameters are followed by a cursor (`BlockCursor`) instead of a multi-index
 * per element.
 *
 * These functions assume operands that already passed the op signature's checks
 * (`ops-compression.ts`); they re-check what they need to stay memory-safe and throw a
 * plain Error naming the function and the inconsistency otherwise.
 */
import { type DType, DTYPE_INFO } from '../dtype.js';
import { fp16ToFp32Array, fp32ToFp16Array, roundToFp16InPlace } from '../fp16.js';
import { packSubByte, unpackSubByte } from '../packing.js';
import { DenseTensor, type Tensor } from '../tensor.js';

/** Elements per streamed chunk: a multiple of 8, so a sub-byte chunk starts on a byte boundary. */
const CHUNK = 1 << 16;

// ---------------------------------------------------------------------------------------
// Raw element access

/** Raw element codes: bit patterns for byte-aligned dtypes, unpacked codes for sub-byte ones. */
export type RawElements = Uint8Array | Uint16Array | Uint32Array;

function alignedView<T>(
  ctor: new (b: ArrayBuffer, o: number, n: number) => T,
  bytes: Uint8Array,
  elemBytes: number,
  count: number,
): T {
  if (bytes.byteOffset % elemBytes === 0) return new ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, count);
  const copy = bytes.slice(0, count * elemBytes);
  return new ctor(copy.buffer, 0, count);
}

/**
 * The elements of `t` as raw codes: 1-, 2- and 4-byte dtypes as Uint8/Uint16/Uint32 views of
 * the stored bits; sub-byte dtypes (int4, uint1…uint6) unpacked to one code per byte (int4 as
 * its 4-bit two's-complement pattern, mlpackage-format.md §11). May share memory with `t`.
 */
export function rawElements(t: Tensor): RawElements {
  const info = DTYPE_INFO[t.dtype];
  const n = t.size;
  const bytes = t.bytes();
  if (info.subByte) return unpackSubByte(bytes, info.bits, n);
  switch (info.bits) {
    case 8:
      return bytes.subarray(0, n);
    case 16:
      return alignedView(Uint16Array, bytes, 2, n);
    case 32:
      return alignedView(Uint32Array, bytes, 4, n);
    default:
      throw new Error(`rawElements: dtype ${t.dtype} (${info.bits} bits) is not a constexpr element type`);
  }
}

/** A zeroed raw array able to hold `count` elements of `dtype` (see rawElements). */
function newRaw(dtype: DType, count: number): RawElements {
  const info = DTYPE_INFO[dtype];
  if (info.subByte || info.bits === 8) return new Uint8Array(count);
  if (info.bits === 16) return new Uint16Array(count);
  if (info.bits === 32) return new Uint32Array(count);
  throw new Error(`dtype ${dtype} (${info.bits} bits) is not a constexpr element type`);
}

/** Builds a DenseTensor from raw codes (packing sub-byte dtypes LSB-first, §11). */
export function tensorFromRaw(dtype: DType, shape: readonly number[], raw: RawElements): DenseTensor {
  const info = DTYPE_INFO[dtype];
  if (info.subByte) return new DenseTensor(dtype, shape, packSubByte(raw, info.bits));
  return new DenseTensor(dtype, shape, new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
}

/** Reads the unsigned codes of elements [start, start + count) (start a multiple of 8). */
type CodeReader = (start: number, count: number) => Uint8Array;

function codeReader(t: Tensor): CodeReader {
  const info = DTYPE_INFO[t.dtype];
  const bytes = t.bytes();
  if (info.bits === 8 && info.kind !== 'float') return (s, c) => bytes.subarray(s, s + c);
  if (!info.subByte) throw new Error(`codeReader: dtype ${t.dtype} has no integer codes of ≤ 8 bits`);
  const bits = info.bits;
  return (s, c) => unpackSubByte(bytes.subarray((s * bits) >>> 3), bits, c);
}

/** Decodes elements [start, start + count) to floats in `out` (start a multiple of 8). */
type FloatReader = (start: number, count: number, out: Float32Array) => void;

function floatReader(t: Tensor): FloatReader {
  const n = t.size;
  const bytes = t.bytes();
  switch (t.dtype) {
    case 'fp32': {
      const f = alignedView(Float32Array, bytes, 4, n);
      return (s, c, out) => out.set(f.subarray(s, s + c));
    }
    case 'fp16': {
      const h = alignedView(Uint16Array, bytes, 2, n);
      return (s, c, out) => {
        fp16ToFp32Array(h.subarray(s, s + c), out);
      };
    }
    case 'int8': {
      const v = new Int8Array(bytes.buffer, bytes.byteOffset, n);
      return (s, c, out) => {
        for (let j = 0; j < c; j++) out[j] = v[s + j];
      };
    }
    case 'uint8': {
      return (s, c, out) => {
        for (let j = 0; j < c; j++) out[j] = bytes[s + j];
      };
    }
    case 'int4': {
      const codes = codeReader(t);
      return (s, c, out) => {
        const u = codes(s, c);
        for (let j = 0; j < c; j++) out[j] = (u[j] << 28) >> 28;
      };
    }
    case 'uint1':
    case 'uint2':
    case 'uint3':
    case 'uint4':
    case 'uint6': {
      const codes = codeReader(t);
      return (s, c, out) => {
        const u = codes(s, c);
        for (let j = 0; j < c; j++) out[j] = u[j];
      };
    }
    default:
      throw new Error(`floatReader: dtype ${t.dtype} is not a constexpr data type`);
  }
}

/** Float32 values of a small parameter tensor (scale, offset, zero point). */
function paramFloats(t: Tensor): Float32Array {
  const out = new Float32Array(t.size);
  floatReader(t)(0, t.size, out);
  return out;
}

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1];

/** Number of set bits among the first `count` bits of an LSB-first bit stream. */
export function countSetBits(bytes: Uint8Array, count: number): number {
  const full = count >>> 3;
  if (bytes.byteLength < Math.ceil(count / 8)) {
    throw new Error(`countSetBits: ${count} bits need ${Math.ceil(count / 8)} bytes, got ${bytes.byteLength}`);
  }
  let n = 0;
  for (let i = 0; i < full; i++) n += POPCOUNT[bytes[i]];
  const rest = count & 7;
  if (rest) n += POPCOUNT[bytes[full] & ((1 << rest) - 1)];
  return n;
}

/** Number of ones in a mask tensor: a uint1 tensor (iOS18) or any integer/bool tensor. */
export function countMaskOnes(mask: Tensor): number {
  if (mask.dtype === 'uint1') return countSetBits(mask.bytes(), mask.size);
  const v = rawElements(mask);
  let n = 0;
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) n++;
  return n;
}

// ---------------------------------------------------------------------------------------
// Block cursors

/** Produces the flat parameter index of each next element, `count` at a time. */
interface ParamCursor {
  fill(pidx: Int32Array, count: number): void;
}

/**
 * Follows a row-major tensor of `shape` and yields, element by element, the flat index of
 * the block of a parameter of shape `pshape` that the element uses (`pshape[k]` divides
 * `shape[k]`; block size `B_k = shape[k] / pshape[k]`, mil-ops.md §1.4 / §1.7): element `i`
 * uses parameter `[i_0 // B_0, …, i_{R-1} // B_{R-1}]`.
 *
 * The shape pair is first simplified without changing flat indices of either tensor:
 * size-1 dims are dropped, a dim whose parameter extent is 1 is merged into the dim before
 * it (that block grows by the factor), and adjacent element-wise dims (B = 1) are merged.
 * Per-tensor, per-channel and per-block layouts thus collapse to one or two dims, and the
 * cursor walks runs of equal parameter index rather than multi-indices.
 */
export class BlockCursor implements ParamCursor {
  /** Parameter extent and block size of the simplified last dim. */
  private readonly lastParams: number;
  private readonly lastBlock: number;
  private readonly dims: number[];
  private readonly blocks: number[];
  private readonly pstrides: number[];
  private readonly counter: number[];
  /** Flat parameter index of the current row's first run, run index in the row, offset in the run. */
  private base = 0;
  private g = 0;
  private t = 0;

  constructor(shape: readonly number[], pshape: readonly number[]) {
    if (shape.length !== pshape.length) {
      throw new Error(`BlockCursor: parameter rank ${pshape.length} differs from tensor rank ${shape.length}`);
    }
    const ds: number[] = [];
    const ps: number[] = [];
    for (let k = 0; k < shape.length; k++) {
      const d = shape[k];
      const p = pshape[k];
      if (!(p >= 1) || d % p !== 0) {
        throw new Error(`BlockCursor: parameter dim ${k} (${p}) does not divide the tensor dim (${d})`);
      }
      if (d === 1) continue;
      const top = ds.length - 1;
      if (top >= 0 && p === 1) {
        ds[top] *= d;
      } else if (top >= 0 && p === d && ps[top] === ds[top]) {
        ds[top] *= d;
        ps[top] *= p;
      } else {
        ds.push(d);
        ps.push(p);
      }
    }
    if (ds.length === 0) {
      ds.push(1);
      ps.push(1);
    }
    const n = ds.length;
    this.dims = ds.slice(0, n - 1);
    this.blocks = this.dims.map((d, k) => d / ps[k]);
    const pstrides = new Array<number>(n);
    pstrides[n - 1] = 1;
    for (let k = n - 2; k >= 0; k--) pstrides[k] = pstrides[k + 1] * ps[k + 1];
    this.pstrides = pstrides;
    this.counter = new Array<number>(n - 1).fill(0);
    this.lastParams = ps[n - 1];
    this.lastBlock = ds[n - 1] / ps[n - 1];
  }

  private nextRow(): void {
    const c = this.counter;
    for (let k = c.length - 1; k >= 0; k--) {
      if (++c[k] < this.dims[k]) break;
      c[k] = 0;
    }
    let b = 0;
    for (let k = 0; k < c.length; k++) b += Math.floor(c[k] / this.blocks[k]) * this.pstrides[k];
    this.base = b;
  }

  /** Writes the parameter index of the next `count` elements to `pidx[0..count)`. */
  fill(pidx: Int32Array, count: number): void {
    const B = this.lastBlock;
    const G = this.lastParams;
    let g = this.g;
    let t = this.t;
    let k = 0;
    while (k < count) {
      const n = Math.min(B - t, count - k);
      const p = this.base + g;
      if (n > 16) {
        pidx.fill(p, k, k + n);
        k += n;
      } else {
        for (const end = k + n; k < end; k++) pidx[k] = p;
      }
      t += n;
      if (t === B) {
        t = 0;
        if (++g === G) {
          g = 0;
          this.nextRow();
        }
      }
    }
    this.g = g;
    this.t = t;
  }
}

/**
 * The parameter indices of the set positions of an LSB-first bit mask only (the k-th value
 * of sparse data sits at the k-th set position, mil-ops.md §1.9).
 */
class MaskedCursor implements ParamCursor {
  private readonly buf = new Int32Array(CHUNK);
  private pos = 0;
  private len = 0;
  private at = 0;

  constructor(
    private readonly dense: BlockCursor,
    private readonly bits: Uint8Array,
    private readonly n: number,
  ) {}

  fill(pidx: Int32Array, count: number): void {
    let k = 0;
    while (k < count) {
      if (this.at === this.len) {
        this.pos += this.len;
        const len = Math.min(CHUNK, this.n - this.pos);
        if (len <= 0) throw new Error('MaskedCursor: the mask has fewer ones than there are values');
        this.dense.fill(this.buf, len);
        this.len = len;
        this.at = 0;
      }
      const bits = this.bits;
      const buf = this.buf;
      const pos = this.pos;
      const len = this.len;
      let a = this.at;
      for (; a < len && k < count; a++) {
        const q = pos + a;
        if ((bits[q >>> 3] >>> (q & 7)) & 1) pidx[k++] = buf[a];
      }
      this.at = a;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Shared arithmetic

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function normalizeAxis(fn: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new Error(`${fn}: axis ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

function floatDType(fn: string, t: Tensor): 'fp16' | 'fp32' {
  if (t.dtype !== 'fp16' && t.dtype !== 'fp32') throw new Error(`${fn}: scale must be fp16 or fp32, got ${t.dtype}`);
  return t.dtype;
}

interface ShiftScaleRounding {
  /** Round the data to fp16 before the subtraction (fp32 data with an fp16 scale). */
  readonly data: boolean;
  /** Round the difference to fp16 on its own (fp16 compute with a float offset). */
  readonly diff: boolean;
}

/**
 * `out[k] = s[p_k] · (data[k] − z[p_k])` streamed in chunks, `p_k` from `cursor`. The
 * difference is an fp32 subtraction (`Math.fround`), the product an fp32 product (rounded by
 * the Float32Array store), then a single cast to the output dtype — unless `rounding` asks for
 * fp16 rounding of the data or of the difference first.
 */
function shiftScale(
  n: number,
  read: FloatReader,
  cursor: ParamCursor,
  s: Float32Array,
  z: Float32Array | undefined,
  dst: 'fp16' | 'fp32',
  shape: readonly number[],
  rounding: ShiftScaleRounding,
): DenseTensor {
  const out32 = dst === 'fp32' ? new Float32Array(n) : undefined;
  const out16 = dst === 'fp16' ? new Uint16Array(n) : undefined;
  const size = Math.min(CHUNK, n);
  const buf = new Float32Array(size);
  const pidx = new Int32Array(size);
  for (let start = 0; start < n; start += CHUNK) {
    const c = Math.min(CHUNK, n - start);
    const d = c === size ? buf : buf.subarray(0, c);
    read(start, c, d);
    if (rounding.data) roundToFp16InPlace(d);
    cursor.fill(pidx, c);
    if (z && rounding.diff) {
      for (let j = 0; j < c; j++) d[j] -= z[pidx[j]];
      roundToFp16InPlace(d);
      for (let j = 0; j < c; j++) d[j] *= s[pidx[j]];
    } else if (z) {
      for (let j = 0; j < c; j++) {
        const p = pidx[j];
        d[j] = s[p] * Math.fround(d[j] - z[p]);
      }
    } else {
      for (let j = 0; j < c; j++) d[j] *= s[pidx[j]];
    }
    if (out32) out32.set(d, start);
    else fp32ToFp16Array(d, out16!.subarray(start, start + c));
  }
  const out = (out32 ?? out16)!;
  return new DenseTensor(dst, shape, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
}

// ---------------------------------------------------------------------------------------
// §1.1 constexpr_affine_dequantize

/**
 * `constexpr_affine_dequantize` (mil-ops.md §1.1):
 * `out[i] = scale[i[axis]] · (float(q[i]) − float(zp[i[axis]]))`, computed in fp32 and
 * cast to the scale dtype (as coremltools' `decompress`). Rank-0 parameters apply everywhere.
 */
export function affineDequantize(quantizedData: Tensor, zeroPoint: Tensor, scale: Tensor, axis: number): DenseTensor {
  const fn = 'affineDequantize';
  const dst = floatDType(fn, scale);
  const shape = quantizedData.shape;
  const a = normalizeAxis(fn, axis, shape.length);
  const axisDim = shape[a];
  for (const [name, p] of [['scale', scale], ['zero_point', zeroPoint]] as const) {
    if (p.rank > 1 || (p.rank === 1 && p.shape[0] !== axisDim)) {
      throw new Error(`${fn}: ${name} of shape [${p.shape.join(', ')}] is neither a scalar nor a vector of length ${axisDim}`);
    }
  }
  const perChannel = scale.rank === 1 || zeroPoint.rank === 1;
  const width = perChannel ? axisDim : 1;
  const widen = (p: Tensor): Float32Array => {
    const f = paramFloats(p);
    return p.rank === 1 || width === 1 ? f : new Float32Array(width).fill(f[0]);
  };
  const pshape = shape.map((d, k) => (k === a ? width : 1));
  return shiftScale(quantizedData.size, floatReader(quantizedData), new BlockCursor(shape, pshape), widen(scale), widen(zeroPoint), dst, shape, {
    data: false,
    diff: false,
  });
}

// ---------------------------------------------------------------------------------------
// §1.2 constexpr_cast

/** `constexpr_cast` (mil-ops.md §1.2): fp16 → fp32, exact. */
export function castFp16ToFp32(source: Tensor): DenseTensor {
  if (source.dtype !== 'fp16') throw new Error(`castFp16ToFp32: source must be fp16, got ${source.dtype}`);
  const f = fp16ToFp32Array(rawElements(source) as Uint16Array);
  return new DenseTensor('fp32', source.shape, new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
}

// ---------------------------------------------------------------------------------------
// §1.3 / §1.4 constexpr_lut_to_dense

/**
 * iOS16 `constexpr_lut_to_dense` (mil-ops.md §1.3): `indices` are packed `log2(lut.size)`-bit
 * codes (LSB-first, §11); `flat_out[k] = lut[idx_k]` for `k < prod(shape)`, reshaped to `shape`.
 */
export function lutToDensePacked(indices: Tensor, lut: Tensor, shape: readonly number[]): DenseTensor {
  const fn = 'lutToDensePacked';
  const nbits = Math.log2(lut.size);
  if (lut.rank !== 1 || ![1, 2, 4, 6, 8].includes(nbits)) {
    throw new Error(`${fn}: lut must be a vector of 2, 4, 16, 64 or 256 entries, got shape [${lut.shape.join(', ')}]`);
  }
  const n = product(shape);
  const bytes = indices.bytes();
  if (bytes.byteLength < Math.ceil((n * nbits) / 8)) {
    throw new Error(`${fn}: ${n} ${nbits}-bit indices need ${Math.ceil((n * nbits) / 8)} bytes, got ${bytes.byteLength}`);
  }
  const table = rawElements(lut);
  const out = newRaw(lut.dtype, n);
  for (let start = 0; start < n; start += CHUNK) {
    const c = Math.min(CHUNK, n - start);
    const idx = unpackSubByte(bytes.subarray((start * nbits) >>> 3), nbits, c);
    for (let j = 0; j < c; j++) out[start + j] = table[idx[j]];
  }
  return tensorFromRaw(lut.dtype, shape, out);
}

interface LutLayout {
  readonly palettes: number;
  readonly vectorSize: number;
  /** Normalized vector axis (0 when the LUT is scalar and no axis was given). */
  readonly axis: number;
  readonly groupShape: readonly number[];
  readonly outShape: number[];
}

function lutLayout(fn: string, idxShape: readonly number[], idxBits: number, lut: Tensor, vectorAxis: number | undefined): LutLayout {
  const k = idxShape.length;
  if (k < 1 || lut.rank !== k + 2) {
    throw new Error(`${fn}: lut must have rank ${k + 2} (indices rank + 2), got [${lut.shape.join(', ')}]`);
  }
  const palettes = lut.shape[k];
  const vectorSize = lut.shape[k + 1];
  if (palettes !== 2 ** idxBits) throw new Error(`${fn}: lut has ${palettes} palettes, ${idxBits}-bit indices need ${2 ** idxBits}`);
  if (vectorSize > 1 && vectorAxis === undefined) throw new Error(`${fn}: vector_axis is required when VECTOR_SIZE (${vectorSize}) > 1`);
  const axis = vectorAxis === undefined ? 0 : normalizeAxis(fn, vectorAxis, k);
  const groupShape = lut.shape.slice(0, k);
  const outShape = [...idxShape];
  outShape[axis] *= vectorSize;
  return { palettes, vectorSize, axis, groupShape, outShape };
}

/**
 * Core of §1.4 on raw codes: `codes(start, count)` yields the index of each element of
 * `idxShape`, `table` holds the raw LUT elements. Returns the raw output (`layout.outShape`).
 */
function expandLut(codes: CodeReader, idxShape: readonly number[], table: RawElements, lutDType: DType, layout: LutLayout): RawElements {
  const { palettes: P, vectorSize: V, axis } = layout;
  const n = product(idxShape);
  const out = newRaw(lutDType, n * V);
  const cursor = new BlockCursor(idxShape, layout.groupShape);
  const pidx = new Int32Array(Math.min(CHUNK, n));
  // Vector palettization: index position i = (q, in) with q over the dims up to the vector
  // axis and `in` over the dims after it; its V values go to output positions
  // (q·V + v)·inner + in (mil-ops.md §1.4).
  const inner = product(idxShape.slice(axis + 1));
  for (let start = 0; start < n; start += CHUNK) {
    const c = Math.min(CHUNK, n - start);
    const idx = codes(start, c);
    cursor.fill(pidx, c);
    if (V === 1) {
      for (let j = 0; j < c; j++) out[start + j] = table[pidx[j] * P + idx[j]];
      continue;
    }
    for (let j = 0; j < c; j++) {
      const i = start + j;
      const e = (pidx[j] * P + idx[j]) * V;
      const q = Math.floor(i / inner);
      let o = q * V * inner + (i - q * inner);
      for (let v = 0; v < V; v++, o += inner) out[o] = table[e + v];
    }
  }
  return out;
}

/**
 * iOS18 `constexpr_lut_to_dense` (mil-ops.md §1.4): per-group LUTs
 * (`lut[j_0 // B_0, …, j_{K-1} // B_{K-1}, indices[j], v]`) and vector palettization
 * (each index expands into VECTOR_SIZE consecutive elements along `vectorAxis`).
 */
export function lutToDense(indices: Tensor, lut: Tensor, vectorAxis?: number): DenseTensor {
  const info = DTYPE_INFO[indices.dtype];
  if (info.kind !== 'uint' || info.bits > 8) throw new Error(`lutToDense: indices must be uint1..uint8, got ${indices.dtype}`);
  const layout = lutLayout('lutToDense', indices.shape, info.bits, lut, vectorAxis);
  const out = expandLut(codeReader(indices), indices.shape, rawElements(lut), lut.dtype, layout);
  return tensorFromRaw(lut.dtype, layout.outShape, out);
}

// ---------------------------------------------------------------------------------------
// §1.5 / §1.6 constexpr_sparse_to_dense

/** Scatters raw nonzero values to the set bits (LSB-first) of `maskBytes`, first `n` bits. */
function scatterBits(maskBytes: Uint8Array, n: number, values: RawElements, out: RawElements, fn: string): void {
  if (maskBytes.byteLength < Math.ceil(n / 8)) {
    throw new Error(`${fn}: a mask of ${n} bits needs ${Math.ceil(n / 8)} bytes, got ${maskBytes.byteLength}`);
  }
  const d = values.length;
  const ones = countSetBits(maskBytes, n);
  if (ones !== d) throw new Error(`${fn}: the mask has ${ones} ones but there are ${d} nonzero values`);
  let c = 0;
  const full = n >>> 3;
  for (let b = 0; b <= full; b++) {
    let byte = b < full ? maskBytes[b] : n & 7 ? maskBytes[b] & ((1 << (n & 7)) - 1) : 0;
    while (byte !== 0) {
      const bit = 31 - Math.clz32(byte & -byte);
      out[b * 8 + bit] = values[c++];
      byte &= byte - 1;
    }
  }
}

/**
 * iOS16 `constexpr_sparse_to_dense` (mil-ops.md §1.5): bit k of the packed uint8 `mask`
 * (byte k // 8, bit k % 8) flags flat output element k; set positions receive
 * `nonzero_data[0], [1], …` in increasing flat order; zeros elsewhere.
 */
export function sparseToDensePacked(nonzeroData: Tensor, mask: Tensor, shape: readonly number[]): DenseTensor {
  const n = product(shape);
  const out = newRaw(nonzeroData.dtype, n);
  scatterBits(mask.bytes(), n, rawElements(nonzeroData), out, 'sparseToDensePacked');
  return tensorFromRaw(nonzeroData.dtype, shape, out);
}

/**
 * iOS18 `constexpr_sparse_to_dense` (mil-ops.md §1.6): `mask` is a uint1 tensor of the output
 * shape (packed exactly like the iOS16 mask bytes); same fill rule.
 */
export function sparseToDense(nonzeroData: Tensor, mask: Tensor): DenseTensor {
  if (mask.dtype !== 'uint1') throw new Error(`sparseToDense: mask must be uint1, got ${mask.dtype}`);
  const n = mask.size;
  const out = newRaw(nonzeroData.dtype, n);
  scatterBits(mask.bytes(), n, rawElements(nonzeroData), out, 'sparseToDense');
  return tensorFromRaw(nonzeroData.dtype, mask.shape, out);
}

// ---------------------------------------------------------------------------------------
// §1.7 / §1.9 constexpr_(sparse_)blockwise_shift_scale

function checkShiftScale(fn: string, shape: readonly number[], dataDType: DType, scale: Tensor, offset: Tensor | undefined): 'fp16' | 'fp32' {
  const dst = floatDType(fn, scale);
  if (scale.rank !== shape.length) throw new Error(`${fn}: scale rank ${scale.rank} differs from data rank ${shape.length}`);
  for (let k = 0; k < shape.length; k++) {
    if (!(scale.shape[k] >= 1) || shape[k] % scale.shape[k] !== 0) {
      throw new Error(`${fn}: scale dim ${k} (${scale.shape[k]}) does not divide the data dim (${shape[k]})`);
    }
  }
  if (offset) {
    if (offset.rank !== scale.rank || offset.shape.some((d, k) => d !== scale.shape[k])) {
      throw new Error(`${fn}: offset shape [${offset.shape.join(', ')}] differs from scale shape [${scale.shape.join(', ')}]`);
    }
    if (DTYPE_INFO[offset.dtype].kind !== 'float' && offset.dtype !== dataDType) {
      throw new Error(`${fn}: integer offset dtype ${offset.dtype} differs from data dtype ${dataDType}`);
    }
  }
  return dst;
}

/**
 * How §1.7's "data (and offset) converted to the scale dtype" rounds: with an fp16 scale,
 * fp32 data is rounded to fp16 first, and a float offset makes the difference round to fp16
 * on its own. Everything else is exact before the product: ≤ 8-bit integers and fp16 values
 * are fp16 values, an integer offset has the data dtype (so |q − z| ≤ 255), and an fp16
 * scale times an fp16 value is exact in fp32 — leaving one rounding, to the output dtype.
 * With an fp32 scale the fp32 subtraction and product are the reference's own.
 */
function shiftScaleRounding(dst: 'fp16' | 'fp32', dataDType: DType, offset: Tensor | undefined): ShiftScaleRounding {
  const half = dst === 'fp16';
  return {
    data: half && DTYPE_INFO[dataDType].kind === 'float' && dataDType !== 'fp16',
    diff: half && offset !== undefined && DTYPE_INFO[offset.dtype].kind === 'float',
  };
}

/** An fp16 offset is rounded to fp16 already; an fp32 one is converted to the fp16 scale dtype (§1.7). */
function offsetFloats(offset: Tensor | undefined, dst: 'fp16' | 'fp32'): Float32Array | undefined {
  if (!offset) return undefined;
  const z = paramFloats(offset);
  if (dst === 'fp16' && offset.dtype === 'fp32') roundToFp16InPlace(z);
  return z;
}

/**
 * `constexpr_blockwise_shift_scale` (mil-ops.md §1.7):
 * `out[i] = scale[i // B] · (data[i] − offset[i // B])` with `B_k = data.shape[k] / scale.shape[k]`.
 * As coremltools' reference, `data` and `offset` are first converted to the scale dtype, and
 * the subtraction and the product are each rounded to it.
 */
export function blockwiseShiftScale(data: Tensor, scale: Tensor, offset?: Tensor): DenseTensor {
  const dst = checkShiftScale('blockwiseShiftScale', data.shape, data.dtype, scale, offset);
  return shiftScale(
    data.size,
    floatReader(data),
    new BlockCursor(data.shape, scale.shape),
    paramFloats(scale),
    offsetFloats(offset, dst),
    dst,
    data.shape,
    shiftScaleRounding(dst, data.dtype, offset),
  );
}

/**
 * `constexpr_sparse_blockwise_shift_scale` (mil-ops.md §1.9): the k-th nonzero value sits
 * at the k-th set position p of `dataMask` (row-major) and is dequantized with the block
 * parameters of p. Returns `[dataMask, nonzero values in the scale dtype]`.
 */
export function sparseBlockwiseShiftScale(dataMask: Tensor, nonzeroData: Tensor, scale: Tensor, offset?: Tensor): [Tensor, DenseTensor] {
  const fn = 'sparseBlockwiseShiftScale';
  if (dataMask.dtype !== 'uint1') throw new Error(`${fn}: data_mask must be uint1, got ${dataMask.dtype}`);
  const dst = checkShiftScale(fn, dataMask.shape, nonzeroData.dtype, scale, offset);
  const count = nonzeroData.size;
  const bits = dataMask.bytes();
  const ones = countSetBits(bits, dataMask.size);
  if (ones !== count) throw new Error(`${fn}: the mask has ${ones} ones but there are ${count} nonzero values`);
  const cursor = new MaskedCursor(new BlockCursor(dataMask.shape, scale.shape), bits, dataMask.size);
  const values = shiftScale(
    count,
    floatReader(nonzeroData),
    cursor,
    paramFloats(scale),
    offsetFloats(offset, dst),
    dst,
    [count],
    shiftScaleRounding(dst, nonzeroData.dtype, offset),
  );
  return [dataMask, values];
}

// ---------------------------------------------------------------------------------------
// §1.8 constexpr_lut_to_sparse

/** Repeats every element of a raw tensor `times` times consecutively along `axis`. */
function repeatAlongAxis(raw: RawElements, shape: readonly number[], axis: number, times: number): Uint8Array {
  const outer = product(shape.slice(0, axis));
  const dim = shape[axis];
  const inner = product(shape.slice(axis + 1));
  const out = new Uint8Array(raw.length * times);
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (let c = 0; c < dim; c++) {
      const src = (a * dim + c) * inner;
      for (let v = 0; v < times; v++) {
        for (let t = 0; t < inner; t++) out[o++] = raw[src + t];
      }
    }
  }
  return out;
}

/**
 * `constexpr_lut_to_sparse` (mil-ops.md §1.8): densify the sparse indices (zeros elsewhere),
 * depalettize as §1.4, expand the mask VECTOR_SIZE× along `vectorAxis`, and return
 * `[mask_out, values at the ones of mask_out in row-major order]`. With a vector LUT whose
 * axis is not the last, the V values of one LUT vector are not adjacent in the result.
 */
export function lutToSparse(indicesMask: Tensor, indicesNonzeroData: Tensor, lut: Tensor, vectorAxis?: number): [Tensor, DenseTensor] {
  const fn = 'lutToSparse';
  if (indicesMask.dtype !== 'uint1') throw new Error(`${fn}: indices_mask must be uint1, got ${indicesMask.dtype}`);
  const info = DTYPE_INFO[indicesNonzeroData.dtype];
  if (info.kind !== 'uint' || info.bits > 8) throw new Error(`${fn}: indices must be uint1..uint8, got ${indicesNonzeroData.dtype}`);
  const shape = indicesMask.shape;
  const layout = lutLayout(fn, shape, info.bits, lut, vectorAxis);
  const n = indicesMask.size;
  const codes = new Uint8Array(n);
  scatterBits(indicesMask.bytes(), n, rawElements(indicesNonzeroData), codes, fn);
  const dense = expandLut((s, c) => codes.subarray(s, s + c), shape, rawElements(lut), lut.dtype, layout);
  const V = layout.vectorSize;
  let maskOut: Tensor = indicesMask;
  let maskCodes: RawElements = rawElements(indicesMask);
  if (V > 1) {
    maskCodes = repeatAlongAxis(maskCodes, shape, layout.axis, V);
    maskOut = tensorFromRaw('uint1', layout.outShape, maskCodes);
  }
  const count = indicesNonzeroData.size * V;
  const values = newRaw(lut.dtype, count);
  let k = 0;
  for (let i = 0; i < maskCodes.length; i++) if (maskCodes[i] !== 0) values[k++] = dense[i];
  return [maskOut, tensorFromRaw(lut.dtype, [count], values)];
}
