/**
 * The per-weight work of palettization, runnable in a worker thread (`@silica/compression`
 * kernel contract: structured-cloneable arguments and result).
 *
 *  1. optional per-channel scale (divide by `max |w|` over the channel axis);
 *  2. fit LUTs and indices per group (fit.ts);
 *  3. the error of the decompressed weight against the weight it replaces, in real units
 *     (through the per-channel scale, or through the existing dequantization when the data
 *     is the integer data of a quantized weight);
 *  4. pack the indices LSB-first (mlpackage-format.md §11) — only at the mask's set
 *     positions when the weight is pruned (joint compression feeds `constexpr_lut_to_sparse`).
 */
import { type ErrorMetrics, type KernelOutput } from '@silica/compression';
import { BlockCursor, roundToFp16InPlace, unpackSubByte } from '@silica/ir';
import { type LutFunction, type Nbits, type PalettizeMode, type WeightData, applyPerChannelScale, fitWeight } from './fit.js';
import { groupLayout, type GroupLayout } from './groups.js';
import { FP16_VALUE } from './histogram.js';
import { packIndices } from './packing.js';
import type { LutDType } from './rounding.js';

export interface PalettizeArgs {
  /** Const name (for messages). */
  readonly name: string;
  readonly dtype: LutDType;
  readonly shape: readonly number[];
  /** Raw little-endian elements: fp16 bit patterns, fp32, int8 or uint8. */
  readonly bytes: Uint8Array;
  readonly mode: PalettizeMode;
  readonly nbits?: Nbits;
  /** Normalised channel axis (grouping and vector axis). */
  readonly axis: number;
  /** Channels per LUT group along `axis`. */
  readonly groupSize: number;
  readonly clusterDim: number;
  readonly perChannelScale: boolean;
  readonly seed: number;
  /** `custom` mode only — never crosses a thread (the pass runs custom mode in its own thread). */
  readonly lutFunction?: LutFunction;
  /** Pruned weight (joint): the uint1 mask bits (LSB-first, the weight's shape); zeros elsewhere in `bytes`. */
  readonly mask?: Uint8Array;
  /** Quantized data (joint): its dequantization, so the error is measured in real units. */
  readonly dequant?: {
    readonly scale: Float32Array;
    readonly scaleShape: readonly number[];
    readonly offset?: Float32Array;
  };
}

export interface PalettizeResult extends KernelOutput {
  /** Why the weight cannot be palettized (coremltools skips it with a warning). */
  readonly skip?: string;
  readonly nbits: Nbits;
  /** `groups × 2^nbits × clusterDim` LUT values on the LUT dtype's grid. */
  readonly lut: Float64Array;
  /** Shape of the LUT tensor (rank + 2). */
  readonly lutShape: number[];
  /** Indices packed to `nbits` (LSB-first): all of them, or only those at the mask's set positions. */
  readonly indices: Uint8Array;
  /** How many indices `indices` holds. */
  readonly indexCount: number;
  /** Shape of the full indices tensor. */
  readonly indicesShape: number[];
  /** The channel axis, when the LUT holds vectors (`vector_axis` of the LUT op). */
  readonly vectorAxis?: number;
  /** Per-channel scale (weight dtype values) and its shape, when requested. */
  readonly scale?: Float64Array;
  readonly scaleShape?: number[];
  /** Whether every scalar k-means was the exact DP. */
  readonly exact: boolean;
}

/** Typed view of the raw bytes for the LUT dtype. */
function dataView(a: PalettizeArgs): WeightData['data'] {
  const b = a.bytes;
  const n = a.shape.reduce((x, y) => x * y, 1);
  const aligned = (size: number): ArrayBuffer => {
    if (b.byteOffset % size === 0) return b.buffer as ArrayBuffer;
    return b.slice().buffer;
  };
  switch (a.dtype) {
    case 'fp16':
      return b.byteOffset % 2 === 0 ? new Uint16Array(b.buffer, b.byteOffset, n) : new Uint16Array(aligned(2), 0, n);
    case 'fp32':
      return b.byteOffset % 4 === 0 ? new Float32Array(b.buffer, b.byteOffset, n) : new Float32Array(aligned(4), 0, n);
    case 'int8':
      return new Int8Array(b.buffer, b.byteOffset, n);
    case 'uint8':
      return b.subarray(0, n);
  }
}

const NO_ERROR: ErrorMetrics = { mse: 0, snrDb: Infinity, maxAbsError: 0 };

/** MSE, SNR and max |error| from Σ ref², Σ err² and max |err| over n elements (`@silica/compression`'s definitions). */
function errorOf(sig: number, err: number, maxAbs: number, n: number): ErrorMetrics {
  return { mse: n === 0 ? 0 : err / n, snrDb: err === 0 ? Infinity : sig === 0 ? 0 : 10 * Math.log10(sig / err), maxAbsError: maxAbs };
}

export function palettizeKernel(a: PalettizeArgs): PalettizeResult {
  const original: WeightData = { name: a.name, dtype: a.dtype, shape: a.shape, data: dataView(a) };
  let work = original;
  let scale: { values: Float64Array; shape: number[] } | undefined;
  if (a.perChannelScale) {
    const s = applyPerChannelScale(original, a.axis);
    work = s.weight;
    scale = { values: s.scale, shape: s.scaleShape };
  }
  const layout = groupLayout(a.shape, a.axis, a.groupSize, a.clusterDim);
  const fit = fitWeight(work, { mode: a.mode, nbits: a.nbits, layout, lutFunction: a.lutFunction, seed: a.seed });
  if ('skip' in fit) {
    const none = { nbits: 1 as const, lut: new Float64Array(0), lutShape: [], indices: new Uint8Array(0), indexCount: 0, indicesShape: [] };
    return { skip: fit.skip, metrics: NO_ERROR, ...none, exact: true };
  }
  const n = a.shape.reduce((x, y) => x * y, 1);
  const metrics =
    fit.error && !scale && !a.dequant
      ? errorOf(fit.error.sig, fit.error.err, fit.error.maxAbs, n)
      : measure(a, original, layout, fit.lut, fit.indices, 2 ** fit.nbits, scale);
  let indices = fit.indices;
  if (a.mask) indices = atMask(indices, a.mask, layout);
  return {
    metrics,
    nbits: fit.nbits,
    lut: fit.lut,
    lutShape: layout.lutShape(fit.nbits),
    indices: packIndices(indices, fit.nbits),
    indexCount: indices.length,
    indicesShape: [...layout.indicesShape],
    vectorAxis: a.clusterDim > 1 ? a.axis : undefined,
    scale: scale?.values,
    scaleShape: scale?.shape,
    exact: fit.exact,
  };
}

/**
 * Error of the decompressed weight against the original, in real units, one row of
 * `inner` elements at a time (no weight-sized scratch): the LUT value of every element,
 * then
 *  - through the per-channel scale: `s · lut` rounded to the weight dtype, as
 *    `constexpr_blockwise_shift_scale` computes it (an fp16 × fp16 product is exact in fp32);
 *  - through the dequantization of quantized data: `s · (q − z)` on both sides.
 */
function measure(
  a: PalettizeArgs,
  original: WeightData,
  layout: GroupLayout,
  lut: Float64Array,
  indices: Uint8Array,
  P: number,
  scale: { values: Float64Array; shape: number[] } | undefined,
): ErrorMetrics {
  const { outer, channels: C, inner, clusterDim: V, groupSize } = layout;
  const n = outer * C * inner;
  if (!scale && !a.dequant && V === 1 && original.dtype === 'fp16') {
    return measureFp16(original.data as Uint16Array, layout, lut, indices, P);
  }
  const half = original.dtype === 'fp16';
  const bits = half ? (original.data as Uint16Array) : undefined;
  const data = original.data;
  const row = new Float32Array(inner);
  const ref = new Float64Array(inner);
  const cursor = a.dequant ? new BlockCursor(a.shape, a.dequant.scaleShape) : undefined;
  const pidx = cursor ? new Int32Array(inner) : undefined;
  const perRow = C / V;
  let sig = 0;
  let err = 0;
  let maxAbs = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const f0 = (o * C + c) * inner;
      const cv = Math.floor(c / V);
      const v = c - cv * V;
      const lbase = Math.floor(c / groupSize) * P;
      const irow = (o * perRow + cv) * inner;
      if (V === 1) for (let i = 0; i < inner; i++) row[i] = lut[lbase + indices[irow + i]];
      else for (let i = 0; i < inner; i++) row[i] = lut[(lbase + indices[irow + i]) * V + v];
      if (bits) for (let i = 0; i < inner; i++) ref[i] = FP16_VALUE[bits[f0 + i]];
      else for (let i = 0; i < inner; i++) ref[i] = data[f0 + i];
      if (scale) {
        const sv = scale.values;
        const sb = o * inner;
        for (let i = 0; i < inner; i++) row[i] *= sv[sb + i];
        if (half) roundToFp16InPlace(row);
      }
      if (cursor && pidx && a.dequant) {
        cursor.fill(pidx, inner);
        const { scale: s, offset: z } = a.dequant;
        for (let i = 0; i < inner; i++) {
          const p = pidx[i];
          const zp = z ? z[p] : 0;
          ref[i] = s[p] * (ref[i] - zp);
          row[i] = s[p] * (row[i] - zp);
        }
      }
      for (let i = 0; i < inner; i++) {
        const r = ref[i];
        const d = row[i] - r;
        sig += r * r;
        err += d * d;
        const ad = d < 0 ? -d : d;
        if (ad > maxAbs) maxAbs = ad;
      }
    }
  }
  return errorOf(sig, err, maxAbs, n);
}

/** `measure` for the common case — fp16 scalar LUTs, no scale — in one monomorphic loop. */
function measureFp16(bits: Uint16Array, layout: GroupLayout, lut: Float64Array, indices: Uint8Array, P: number): ErrorMetrics {
  const { outer, channels: C, inner, groupSize } = layout;
  const n = outer * C * inner;
  const table = FP16_VALUE;
  let sig = 0;
  let err = 0;
  let maxAbs = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const f0 = (o * C + c) * inner;
      const lbase = Math.floor(c / groupSize) * P;
      for (let f = f0, end = f0 + inner; f < end; f++) {
        const r = table[bits[f]];
        const d = lut[lbase + indices[f]] - r;
        sig += r * r;
        err += d * d;
        const ad = d < 0 ? -d : d;
        if (ad > maxAbs) maxAbs = ad;
      }
    }
  }
  return errorOf(sig, err, maxAbs, n);
}

/** The depalettized weight (LUT values before any scale), row-major over the weight's shape. */
export function reconstruct(layout: GroupLayout, lut: Float64Array, indices: Uint8Array, P: number): Float32Array {
  const { outer, channels: C, inner, clusterDim: V, groupSize } = layout;
  const out = new Float32Array(outer * C * inner);
  const perRow = C / V;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const cv = Math.floor(c / V);
      const v = c - cv * V;
      const lbase = Math.floor(c / groupSize) * P;
      const irow = (o * perRow + cv) * inner;
      const orow = (o * C + c) * inner;
      for (let i = 0; i < inner; i++) out[orow + i] = lut[(lbase + indices[irow + i]) * V + v];
    }
  }
  return out;
}

/**
 * The indices at the set positions of the mask (row-major), for `constexpr_lut_to_sparse`.
 * With vector LUTs the mask is over weight elements; an index position is kept when its
 * vector's elements are set (the caller checked that every vector is wholly set or clear).
 */
function atMask(indices: Uint8Array, mask: Uint8Array, layout: GroupLayout): Uint8Array {
  const V = layout.clusterDim;
  const n = layout.outer * layout.channels * layout.inner;
  const bits = unpackSubByte(mask, 1, n);
  if (V === 1) {
    let d = 0;
    for (let i = 0; i < n; i++) d += bits[i];
    const out = new Uint8Array(d);
    let k = 0;
    for (let i = 0; i < n; i++) if (bits[i]) out[k++] = indices[i];
    return out;
  }
  const { outer, channels: C, inner } = layout;
  const perRow = C / V;
  const keep: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let cv = 0; cv < perRow; cv++) {
      for (let i = 0; i < inner; i++) {
        if (bits[(o * C + cv * V) * inner + i]) keep.push(indices[(o * perRow + cv) * inner + i]);
      }
    }
  }
  return Uint8Array.from(keep);
}
