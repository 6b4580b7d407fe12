/**
 * Dense evaluation of the `constexpr_*` compression ops (mil-ops.md §1), on Tensors.
 * Each function returns exactly what coremltools' value inference returns for the op
 * (`materialized_val_inference` / `decompress`), restated from the reference.
 *
 * Performance: everything runs over typed arrays with no per-element allocation, so a
 * 4096×4096 weight decompresses in tens of milliseconds. Element copies (LUT lookups,
 * sparse scatter) move raw bit patterns (fp16/fp32 as uint16/uint32), so values — NaN
 * payloads included — are reproduced bit for bit. Block-wise parameters are walked run by
 * run (`BlockWalk`) instead of computing a multi-index per element.
 *
 * These functions assume operands that already passed the op signature's checks
 * (`ops-compression.ts`); they re-check only what they need to stay memory-safe and
 * throw a plain Error naming the function and the inconsistency otherwise.
 */
import { type DType, DTYPE_INFO } from '../dtype.js';
import { fp16ToFp32Array, fp32ToFp16Array, roundToFp16InPlace } from '../fp16.js';
import { packSubByte, unpackSubByte } from '../packing.js';
import { DenseTensor, type Tensor } from '../tensor.js';

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
// Block walking

/**
 * Walks a row-major tensor of `shape` in runs of elements that share one block of a
 * parameter of shape `pshape` (`pshape[k]` divides `shape[k]`; block size
 * `B_k = shape[k] / pshape[k]`, mil-ops.md §1.4 / §1.7).
 *
 * The shape pair is first simplified without changing flat indices of either tensor:
 * size-1 dims are dropped, a dim whose parameter extent is 1 is merged into the dim before
 * it (its block grows by that factor), and adjacent element-wise dims (B = 1) are merged.
 * Per-channel, per-block and per-tensor layouts thus collapse to one or two dims.
 *
 * Usage (element `i` of the tensor uses parameter element `p`):
 * ```
 * let i = 0;
 * for (let r = 0; r < w.rows; r++, w.next())
 *   for (let g = 0; g < w.lastParams; g++) { const p = w.base + g;
 *     for (let t = 0; t < w.lastBlock; t++, i++) … }
 * ```
 */
export class BlockWalk {
  /** Number of rows (product of the simplified leading dims). */
  readonly rows: number;
  /** Parameter extent of the simplified last dim. */
  readonly lastParams: number;
  /** Block size of the simplified last dim (elements per parameter run). */
  readonly lastBlock: number;
  /** Flat parameter index of the current row's first run. */
  base = 0;
  private readonly dims: number[];
  private readonly blocks: number[];
  private readonly pstrides: number[];
  private readonly counter: number[];

  constructor(shape: readonly number[], pshape: readonly number[]) {
    if (shape.length !== pshape.length) {
      throw new Error(`BlockWalk: parameter rank ${pshape.length} differs from tensor rank ${shape.length}`);
    }
    const ds: number[] = [];
    const ps: number[] = [];
    for (let k = 0; k < shape.length; k++) {
      const d = shape[k];
      const p = pshape[k];
      if (!(p >= 1) || d % p !== 0) {
        throw new Error(`BlockWalk: parameter dim ${k} (${p}) does not divide the tensor dim (${d})`);
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
    this.rows = this.dims.reduce((a, b) => a * b, 1);
    this.lastParams = ps[n - 1];
    this.lastBlock = ds[n - 1] / ps[n - 1];
  }

  /** Advances to the next row. */
  next(): void {
    const c = this.counter;
    for (let k = c.length - 1; k >= 0; k--) {
      if (++c[k] < this.dims[k]) break;
      c[k] = 0;
    }
    let b = 0;
    for (let k = 0; k < c.length; k++) b += Math.floor(c[k] / this.blocks[k]) * this.pstrides[k];
    this.base = b;
  }
}

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

/** A fresh Float32Array of the values of `t` (typed-array loops; no per-element callbacks). */
function toFloat32Fast(t: Tensor): Float32Array {
  const n = t.size;
  switch (t.dtype) {
    case 'fp16':
      return fp16ToFp32Array(rawElements(t) as Uint16Array);
    case 'fp32': {
      const u = rawElements(t) as Uint32Array;
      const out = new Float32Array(n);
      new Uint32Array(out.buffer).set(u);
      return out;
    }
    case 'int8':
    case 'uint8':
    case 'uint1':
    case 'uint2':
    case 'uint3':
    case 'uint4':
    case 'uint6': {
      const raw = rawElements(t) as Uint8Array;
      const out = new Float32Array(n);
      if (t.dtype === 'int8') for (let i = 0; i < n; i++) out[i] = (raw[i] << 24) >> 24;
      else for (let i = 0; i < n; i++) out[i] = raw[i];
      return out;
    }
    case 'int4': {
      const raw = rawElements(t) as Uint8Array;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = (raw[i] << 28) >> 28;
      return out;
    }
    default:
      return t.toFloat32();
  }
}

/**
 * Values of `t` converted to the compute dtype: fp32, or fp16 precision when `half`
 * (integers of ≤ 8 bits are exact in fp16, so only wider floats need rounding).
 */
function floatsIn(t: Tensor, half: boolean): Float32Array {
  const f = toFloat32Fast(t);
  if (half && DTYPE_INFO[t.dtype].kind === 'float' && t.dtype !== 'fp16') roundToFp16InPlace(f);
  return f;
}

function floatTensor(dtype: 'fp16' | 'fp32', shape: readonly number[], f: Float32Array): DenseTensor {
  if (dtype === 'fp32') return new DenseTensor('fp32', shape, new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
  const h = fp32ToFp16Array(f);
  return new DenseTensor('fp16', shape, new Uint8Array(h.buffer, h.byteOffset, h.byteLength));
}

function floatDType(fn: string, t: Tensor): 'fp16' | 'fp32' {
  if (t.dtype !== 'fp16' && t.dtype !== 'fp32') throw new Error(`${fn}: scale must be fp16 or fp32, got ${t.dtype}`);
  return t.dtype;
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
  const q = toFloat32Fast(quantizedData); // uint8/int8: exact
  const s = toFloat32Fast(scale);
  const z = toFloat32Fast(zeroPoint);
  const sStep = scale.rank === 1 ? 1 : 0;
  const zStep = zeroPoint.rank === 1 ? 1 : 0;
  const outer = product(shape.slice(0, a));
  const inner = product(shape.slice(a + 1));
  const out = new Float32Array(q.length);
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < axisDim; c++) {
      const sc = s[c * sStep];
      const zp = z[c * zStep];
      // fp32 subtraction then fp32 product (each rounded by the Float32Array store / fround)
      for (let t = 0; t < inner; t++, i++) out[i] = sc * Math.fround(q[i] - zp);
    }
  }
  return floatTensor(dst, shape, out);
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
  const p = lut.size;
  const nbits = Math.log2(p);
  if (lut.rank !== 1 || ![1, 2, 4, 6, 8].includes(nbits)) {
    throw new Error(`${fn}: lut must be a vector of 2, 4, 16, 64 or 256 entries, got shape [${lut.shape.join(', ')}]`);
  }
  const n = product(shape);
  const idx = unpackSubByte(indices.bytes(), nbits, n);
  const table = rawElements(lut);
  const out = newRaw(lut.dtype, n);
  for (let k = 0; k < n; k++) out[k] = table[idx[k]];
  return tensorFromRaw(lut.dtype, shape, out);
}

interface LutLayout {
  readonly k: number;
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
  return { k, palettes, vectorSize, axis, groupShape, outShape };
}

/**
 * Core of §1.4 on raw codes: `codes` (one index per element of `idxShape`), `table` = raw LUT
 * elements. Returns the raw output (shape `layout.outShape`).
 */
function expandLut(codes: Uint8Array, idxShape: readonly number[], table: RawElements, lutDType: DType, layout: LutLayout): RawElements {
  const { palettes: P, vectorSize: V, axis } = layout;
  const n = codes.length;
  const out = newRaw(lutDType, n * V);
  const w = new BlockWalk(idxShape, layout.groupShape);
  const rows = w.rows;
  const lastParams = w.lastParams;
  const lastBlock = w.lastBlock;
  let i = 0;
  if (V === 1) {
    for (let r = 0; r < rows; r++, w.next()) {
      for (let g = 0; g < lastParams; g++) {
        const tb = (w.base + g) * P;
        for (let t = 0; t < lastBlock; t++, i++) out[i] = table[tb + codes[i]];
      }
    }
    return out;
  }
  // Vector palettization: index position i = (q, in) with q over dims ≤ axis and `in` over the
  // dims after it; its V values go to output positions (q·V + v)·inner + in (mil-ops.md §1.4).
  const inner = product(idxShape.slice(axis + 1));
  for (let r = 0; r < rows; r++, w.next()) {
    for (let g = 0; g < lastParams; g++) {
      const tb = (w.base + g) * P;
      for (let t = 0; t < lastBlock; t++, i++) {
        const e = (tb + codes[i]) * V;
        const q = Math.floor(i / inner);
        let o = q * V * inner + (i - q * inner);
        for (let v = 0; v < V; v++, o += inner) out[o] = table[e + v];
      }
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
  const codes = rawElements(indices) as Uint8Array;
  const out = expandLut(codes, indices.shape, rawElements(lut), lut.dtype, layout);
  return tensorFromRaw(lut.dtype, layout.outShape, out);
}

// ---------------------------------------------------------------------------------------
// §1.5 / §1.6 constexpr_sparse_to_dense

/** Scatters raw nonzero values to the set bits (LSB-first) of `maskBytes`, first `n` bits. */
function scatterBits(maskBytes: Uint8Array, n: number, values: RawElements, out: RawElements, fn: string): void {
  if (maskBytes.byteLength < Math.ceil(n / 8)) {
    throw new Error(`${fn}: a mask of ${n} bits needs ${Math.ceil(n / 8)} bytes, got ${maskBytes.byteLength}`);
  }
  let c = 0;
  const full = n >>> 3;
  const d = values.length;
  for (let b = 0; b <= full; b++) {
    let byte = b < full ? maskBytes[b] : n & 7 ? maskBytes[b] & ((1 << (n & 7)) - 1) : 0;
    while (byte !== 0) {
      const bit = 31 - Math.clz32(byte & -byte);
      if (c >= d) throw new Error(`${fn}: the mask has more ones than the ${d} nonzero values`);
      out[b * 8 + bit] = values[c++];
      byte &= byte - 1;
    }
  }
  if (c !== d) throw new Error(`${fn}: the mask has ${c} ones but there are ${d} nonzero values`);
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
 * `constexpr_blockwise_shift_scale` (mil-ops.md §1.7):
 * `out[i] = scale[i // B] · (data[i] − offset[i // B])` with `B_k = data.shape[k] / scale.shape[k]`.
 * As coremltools' reference, `data` and `offset` are first converted to the scale dtype, and
 * the subtraction and the product are each rounded to it.
 */
export function blockwiseShiftScale(data: Tensor, scale: Tensor, offset?: Tensor): DenseTensor {
  const fn = 'blockwiseShiftScale';
  const dst = checkShiftScale(fn, data.shape, data.dtype, scale, offset);
  const half = dst === 'fp16';
  const d = floatsIn(data, half);
  const s = toFloat32Fast(scale);
  const z = offset ? floatsIn(offset, half) : undefined;
  const w = new BlockWalk(data.shape, scale.shape);
  const { rows, lastParams, lastBlock } = w;
  let i = 0;
  if (z && half && DTYPE_INFO[offset!.dtype].kind === 'float') {
    // fp16 compute with a float offset: the difference is rounded to fp16 on its own
    for (let r = 0; r < rows; r++, w.next()) {
      for (let g = 0; g < lastParams; g++) {
        const zp = z[w.base + g];
        for (let t = 0; t < lastBlock; t++, i++) d[i] -= zp;
      }
    }
    roundToFp16InPlace(d);
    const w2 = new BlockWalk(data.shape, scale.shape);
    i = 0;
    for (let r = 0; r < rows; r++, w2.next()) {
      for (let g = 0; g < lastParams; g++) {
        const sc = s[w2.base + g];
        for (let t = 0; t < lastBlock; t++, i++) d[i] *= sc;
      }
    }
  } else if (z) {
    // fp32 compute (fp32 difference, fp32 product), or integer data minus an integer offset
    // of the same dtype, whose difference (|q − z| ≤ 255) is exact in fp16
    for (let r = 0; r < rows; r++, w.next()) {
      for (let g = 0; g < lastParams; g++) {
        const p = w.base + g;
        const sc = s[p];
        const zp = z[p];
        for (let t = 0; t < lastBlock; t++, i++) d[i] = sc * Math.fround(d[i] - zp);
      }
    }
  } else {
    for (let r = 0; r < rows; r++, w.next()) {
      for (let g = 0; g < lastParams; g++) {
        const sc = s[w.base + g];
        for (let t = 0; t < lastBlock; t++, i++) d[i] *= sc;
      }
    }
  }
  // an fp16 scale times a value exact in fp16 is exact in fp32, so this is the one rounding
  return floatTensor(dst, data.shape, d);
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
  const half = dst === 'fp16';
  const count = nonzeroData.size;
  const mask = rawElements(dataMask);
  // parameter index of every nonzero value
  const pidx = new Int32Array(count);
  const w = new BlockWalk(dataMask.shape, scale.shape);
  let i = 0;
  let k = 0;
  for (let r = 0; r < w.rows; r++, w.next()) {
    for (let g = 0; g < w.lastParams; g++) {
      const p = w.base + g;
      for (let t = 0; t < w.lastBlock; t++, i++) {
        if (mask[i] !== 0) {
          if (k >= count) throw new Error(`${fn}: the mask has more ones than the ${count} nonzero values`);
          pidx[k++] = p;
        }
      }
    }
  }
  if (k !== count) throw new Error(`${fn}: the mask has ${k} ones but there are ${count} nonzero values`);
  const d = floatsIn(nonzeroData, half);
  if (offset) {
    const z = floatsIn(offset, half);
    for (let j = 0; j < count; j++) d[j] -= z[pidx[j]];
    if (half) roundToFp16InPlace(d);
  }
  const s = toFloat32Fast(scale);
  for (let j = 0; j < count; j++) d[j] *= s[pidx[j]];
  return [dataMask, floatTensor(dst, [count], d)];
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
  const dense = expandLut(codes, shape, rawElements(lut), lut.dtype, layout);
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
  if (k !== count) throw new Error(`${fn}: the mask has ${k / V} ones but there are ${indicesNonzeroData.size} nonzero indices`);
  return [maskOut, tensorFromRaw(lut.dtype, [count], values)];
}
