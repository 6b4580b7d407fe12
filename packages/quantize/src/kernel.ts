/**
 * The per-weight math of linear quantization (mil-ops.md §7.3), exactly as coremltools'
 * `compute_qparams_by_dtype` / `quantize_weight_by_dtype` compute it on a NumPy array of
 * the weight's own float dtype — for the fp16 weights of a converted model that means
 * float16 arithmetic, every operation rounded to fp16:
 *
 * ```
 * per block (the elements sharing one scale):
 *   symmetric: m = max(|min w|, |max w|);  rmin = −m, rmax = m
 *   linear:    rmin = min(0, min w);      rmax = max(0, max w)
 *   scale = fp(fp(rmax − rmin) / (qmax − qmin))
 *   zp    = none (signed symmetric) | qmax // 2 (unsigned symmetric)
 *         | clip(rint(fp(fp(fp(qmin·rmax) − fp(qmax·rmin)) / fp(rmax − rmin))), qmin, qmax)  (linear)
 * per element:
 *   q = clip(rint(fp(w / scale)) + zp, qmin, qmax)        rint = round half to even
 * ```
 *
 * where `fp(x)` rounds to the weight dtype (fp16: via float32, as NumPy's half loops).
 * A NaN code (a 0/0 in an all-zero block) becomes 0, as NumPy's float→int cast gives.
 *
 * Runs in a worker (`@silica/compression` WorkerPool) or in-thread; streams the weight by
 * runs, so its memory is the input, the codes and a few scratch buffers.
 */
import {
  BlockGrid,
  type ErrorMetrics,
  FloatSource,
  type Skip,
  type TensorData,
  roundHalfEven,
  roundArrayTo,
  roundTo,
} from '@silica/compression';
import { DTYPE_INFO, fp32ToFp16Array, packSubByte } from '@silica/ir';

export type QuantMode = 'linear_symmetric' | 'linear';
export type QuantDType = 'int8' | 'uint8' | 'int4' | 'uint4';

/** §7.3: signed [−2^(n−1), 2^(n−1)−1], unsigned [0, 2^n−1]; symmetric raises the signed min / lowers the unsigned max by 1. */
export function quantRange(dtype: QuantDType, mode: QuantMode): [number, number] {
  const info = DTYPE_INFO[dtype];
  let lo = info.min;
  let hi = info.max;
  if (mode === 'linear_symmetric') {
    if (info.kind === 'int') lo += 1;
    else hi -= 1;
  }
  return [lo, hi];
}

export interface QuantizeArgs {
  /** The array to quantize (fp16 or fp32; int8/uint8 weights are inspected and skipped). */
  readonly data: TensorData;
  /** Block size per axis of `data` (0 = the whole axis). */
  readonly blockSizes: readonly number[];
  readonly mode: QuantMode;
  readonly dtype: QuantDType;
  /**
   * Joint compression after pruning: one byte per element, 1 where the sparse weight holds a
   * value. The scales come from the whole (densified) array; only the kept codes are returned.
   */
  readonly keep?: Uint8Array;
}

export interface QuantizeResult {
  /** Codes: the data's shape, or `[D]` (the kept positions, row-major) when `keep` was given. */
  readonly data: TensorData;
  /** One scale per block: shape = blocks per axis, the data's float dtype. */
  readonly scale: TensorData;
  /** Zero points (scale's shape, the code dtype); absent for signed symmetric quantization. */
  readonly offset?: TensorData;
  /** Dequantized vs original. */
  readonly metrics: ErrorMetrics;
}

function packCodes(dtype: QuantDType, shape: readonly number[], raw: Uint8Array): TensorData {
  const bits = DTYPE_INFO[dtype].bits;
  return { dtype, shape: [...shape], bytes: bits < 8 ? packSubByte(raw, bits) : raw };
}

/** Float parameters (already rounded to `dtype`) as TensorData. */
function floatData(dtype: 'fp16' | 'fp32', shape: readonly number[], values: Float64Array): TensorData {
  const f = Float32Array.from(values);
  const bytes = dtype === 'fp32' ? new Uint8Array(f.buffer) : new Uint8Array(fp32ToFp16Array(f).buffer);
  return { dtype, shape: [...shape], bytes };
}

/**
 * Per-block min / max over one run (NaN poisons its block, as np.amin / np.amax). The run
 * is walked in segments of constant block id (`lastBlock` elements along the last axis).
 */
function minMax(x: Float32Array, count: number, rowBase: number, j0: number, map: Int32Array, lastBlock: number, mn: Float64Array, mx: Float64Array): void {
  let t = 0;
  while (t < count) {
    const j = j0 + t;
    const end = Math.min(count, t + lastBlock - (j % lastBlock));
    const b = rowBase + map[j];
    let lo = mn[b];
    let hi = mx[b];
    let nan = false;
    for (; t < end; t++) {
      const v = x[t];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (v !== v) nan = true;
    }
    mn[b] = nan ? NaN : lo;
    mx[b] = nan ? NaN : hi;
  }
}

/**
 * Codes of one run (written at `codes[start + t]`) and the error of their dequantization.
 * `quot` and `deq` are scratch; `acc` accumulates [Σ ref², Σ err², max |err|].
 */
function quantizeRun(
  x: Float32Array,
  count: number,
  rowBase: number,
  j0: number,
  map: Int32Array,
  lastBlock: number,
  scale: Float64Array,
  zp: Float64Array,
  qmin: number,
  qmax: number,
  codeMask: number,
  start: number,
  codes: Uint8Array,
  quot: Float32Array,
  deq: Float32Array,
  fdt: 'fp16' | 'fp32',
  acc: Float64Array,
): void {
  // w / scale, rounded to the weight dtype (NumPy computes fp16 / fp16 in fp16)
  let t = 0;
  while (t < count) {
    const j = j0 + t;
    const end = Math.min(count, t + lastBlock - (j % lastBlock));
    const s = scale[rowBase + map[j]];
    for (; t < end; t++) quot[t] = x[t] / s;
  }
  roundArrayTo(fdt, quot.subarray(0, count));
  t = 0;
  while (t < count) {
    const j = j0 + t;
    const end = Math.min(count, t + lastBlock - (j % lastBlock));
    const b = rowBase + map[j];
    const s = scale[b];
    const z = zp[b];
    for (; t < end; t++) {
      // np.round (half to even), + zero point, clip; a NaN (0/0 in an all-zero block) → 0
      const y = quot[t];
      let r = Math.round(y);
      if (r - y === 0.5) r -= r & 1;
      let q = r + z;
      q = (q < qmin ? qmin : q > qmax ? qmax : q) | 0;
      codes[start + t] = q & codeMask;
      // the dequantized value as constexpr_blockwise_shift_scale computes it (§1.7): an
      // fp16 scale times a small integer is exact in fp32, then one rounding to the dtype
      deq[t] = s * (q - z);
    }
  }
  roundArrayTo(fdt, deq.subarray(0, count));
  let sig = acc[0];
  let err = acc[1];
  let maxAbs = acc[2];
  for (t = 0; t < count; t++) {
    const ref = x[t];
    sig += ref * ref;
    const d = deq[t] - ref;
    if (d !== 0) {
      err += d * d;
      const ad = d < 0 ? -d : d;
      if (!(ad <= maxAbs)) maxAbs = ad;
    }
  }
  acc[0] = sig;
  acc[1] = err;
  acc[2] = maxAbs;
}

/** Quantizes one array (see the module comment). Returns a Skip for arrays quantization leaves alone (§7.3). */
export function quantizeKernel(args: QuantizeArgs): QuantizeResult | Skip {
  const { data, mode, dtype } = args;
  const src = new FloatSource(data);
  const grid = new BlockGrid(data.shape, args.blockSizes);
  const n = grid.size;
  const isInt = data.dtype === 'int8' || data.dtype === 'uint8';
  if (!isInt && data.dtype !== 'fp16' && data.dtype !== 'fp32') {
    return { skip: `dtype ${data.dtype} cannot be quantized (fp16 or fp32 weights only)` };
  }

  // pass 1: per-block min / max (NaN propagates, as np.amin/np.amax)
  const mn = new Float64Array(grid.blocks).fill(Infinity);
  const mx = new Float64Array(grid.blocks).fill(-Infinity);
  const map = grid.lastMap;
  const rank = data.shape.length;
  const lastBlock = rank === 0 || args.blockSizes[rank - 1] === 0 ? grid.rowLength : args.blockSizes[rank - 1];
  for (const run of grid.chunks()) {
    const x = src.get(run.start, run.count);
    minMax(x, run.count, run.rowBase, run.j0, map, lastBlock, mn, mx);
  }
  let hasInf = false;
  for (let b = 0; b < grid.blocks; b++) if (Math.abs(mn[b]) === Infinity || Math.abs(mx[b]) === Infinity) hasInf = true;
  if (isInt) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let b = 0; b < grid.blocks; b++) {
      lo = Math.min(lo, mn[b]);
      hi = Math.max(hi, mx[b]);
    }
    return hi - lo < 2
      ? { skip: `an integer ${data.dtype} weight with values in [${lo}, ${hi}] (a 0/1 mask) is left alone` }
      : { skip: `an integer ${data.dtype} weight cannot be quantized (only fp16/fp32 weights, mil-ops.md §7.3)` };
  }
  if (hasInf) return { skip: 'it holds ±inf, which linear quantization does not support (mil-ops.md §7.3)' };

  // pass 2: per-block scale and zero point, in the weight's float dtype
  const fdt = data.dtype as 'fp16' | 'fp32';
  const fp = (x: number): number => roundTo(fdt, x);
  const [qmin, qmax] = quantRange(dtype, mode);
  const signed = DTYPE_INFO[dtype].kind === 'int';
  const scale = new Float64Array(grid.blocks);
  const zp = mode === 'linear' || !signed ? new Float64Array(grid.blocks) : undefined;
  for (let b = 0; b < grid.blocks; b++) {
    let rmin: number;
    let rmax: number;
    if (mode === 'linear_symmetric') {
      const m = Math.max(Math.abs(mn[b]), Math.abs(mx[b]));
      rmin = -m;
      rmax = m;
    } else {
      rmin = Math.min(0, mn[b]);
      rmax = Math.max(0, mx[b]);
    }
    const range = fp(rmax - rmin);
    scale[b] = fp(range / (qmax - qmin));
    if (zp) {
      if (mode === 'linear_symmetric') zp[b] = Math.floor(qmax / 2);
      else {
        const z = roundHalfEven(fp(fp(fp(qmin * rmax) - fp(qmax * rmin)) / range));
        zp[b] = z !== z ? 0 : Math.min(qmax, Math.max(qmin, z));
      }
    }
  }

  // pass 3: codes, and the error of their dequantization
  const keep = args.keep;
  if (keep && keep.length !== n) throw new Error(`quantizeKernel: keep has ${keep.length} entries for ${n} elements`);
  const codes = new Uint8Array(n);
  const quot = new Float32Array(Math.min(n, 1 << 16));
  const deq = new Float32Array(quot.length);
  const acc = new Float64Array(3);
  const zeros = zp ?? new Float64Array(grid.blocks);
  const mask = dtype === 'int4' ? 0x0f : 0xff;
  for (const run of grid.chunks()) {
    const x = src.get(run.start, run.count);
    quantizeRun(x, run.count, run.rowBase, run.j0, map, lastBlock, scale, zeros, qmin, qmax, mask, run.start, codes, quot, deq, fdt, acc);
  }
  // joint (prune → quantize): only the codes at the mask's ones. The dropped positions hold
  // zeros of the densified weight, which dequantize to exactly 0, so the error is unchanged.
  let kept = n;
  let out = codes;
  if (keep) {
    kept = 0;
    for (let i = 0; i < n; i++) if (keep[i] !== 0) kept++;
    out = new Uint8Array(kept);
    for (let i = 0, k = 0; i < n; i++) if (keep[i] !== 0) out[k++] = codes[i];
  }
  const gridShape = grid.grid;
  return {
    data: packCodes(dtype, keep ? [kept] : data.shape, out),
    scale: floatData(fdt, gridShape, scale),
    ...(zp ? { offset: packCodes(dtype, gridShape, Uint8Array.from(zp, (z) => z & mask)) } : {}),
    metrics: { mse: n === 0 ? 0 : acc[1] / n, snrDb: acc[1] === 0 ? Infinity : acc[0] === 0 ? 0 : 10 * Math.log10(acc[0] / acc[1]), maxAbsError: acc[2] },
  };
}
