/**
 * The per-weight math of pruning (mil-ops.md §7.5), as coremltools' `prune_weights`
 * computes it with NumPy on the weight's own dtype:
 *
 * - threshold: `w = 0` where `|w| ≤ threshold` (the threshold rounded to the weight dtype,
 *   as NumPy compares an fp16 array with a Python float); skipped when the fraction of
 *   zeros is below `minimumSparsityPercentile`;
 * - magnitude: `w = 0` where `|w| ≤ percentile(|w|, 100·p)`, NumPy's linear-interpolated
 *   percentile (see `percentile`); p = 1 multiplies by 0, p = 0 prunes nothing;
 * - block: the magnitude map is the L2 norm of each run of `blockSize` channels along
 *   `dim` (channels zero-padded to a multiple), in the weight dtype, then as magnitude;
 * - n:m: `dim` moved last (other channel axis second to last, spatial axes first), rows
 *   zero-padded to a multiple of m, and in every run of m the n smallest |w| zeroed (ties:
 *   the lower index first, as NumPy's argsort on such short runs).
 *
 * The result is the mask (`w ≠ 0` after pruning — pre-existing zeros are dropped too) as
 * uint1 and the remaining values in row-major order, with their raw bits (NaN payloads
 * and all). With `gather`, the same positions of another array (the integer codes of a
 * quantized weight, the indices of a palettized one) are returned too.
 */
import { type ErrorMetrics, type Skip, type TensorData, roundTo } from '@silica/compression';
import { DenseTensor, type DType, fp16ToFp32Array, fp32ToFp16Array, packSubByte, rawElements, tensorFromRaw } from '@silica/ir';

export type PruneMethod =
  | { readonly kind: 'threshold'; readonly threshold: number; readonly minimumSparsityPercentile: number }
  | { readonly kind: 'magnitude'; readonly targetSparsity: number; readonly blockSize?: number; readonly dim?: number }
  | { readonly kind: 'nm'; readonly n: number; readonly m: number; readonly dim: number };

export interface PruneArgs {
  /** The dense weight (fp16, fp32, int8 or uint8). */
  readonly data: TensorData;
  readonly method: PruneMethod;
  /** Another array of the same element count whose elements at the kept positions are returned as `gathered`. */
  readonly gather?: TensorData;
}

export interface PruneResult {
  /** uint1, the weight's shape. */
  readonly mask: TensorData;
  /** The kept values, row-major, the weight dtype: `[D]`. */
  readonly nonzero: TensorData;
  /** `gather`'s elements at the kept positions: `[D]`, `gather`'s dtype. */
  readonly gathered?: TensorData;
  readonly sparsity: number;
  readonly metrics: ErrorMetrics;
}

/** The weight's values as float32 (exact for fp16, int8 and uint8). */
function floats(d: TensorData): Float32Array {
  const n = d.shape.reduce((a, b) => a * b, 1);
  const b = d.bytes;
  if (d.dtype === 'fp16') {
    const h = b.byteOffset % 2 === 0 ? new Uint16Array(b.buffer, b.byteOffset, n) : new Uint16Array(b.slice().buffer, 0, n);
    return fp16ToFp32Array(h);
  }
  if (d.dtype === 'fp32') {
    return b.byteOffset % 4 === 0 ? new Float32Array(b.buffer, b.byteOffset, n).slice() : new Float32Array(b.slice().buffer, 0, n);
  }
  if (d.dtype === 'int8') return Float32Array.from(new Int8Array(b.buffer, b.byteOffset, n));
  if (d.dtype === 'uint8') return Float32Array.from(b.subarray(0, n));
  throw new Error(`pruneKernel: the weight must be fp16, fp32, int8 or uint8, got ${d.dtype}`);
}

/**
 * NumPy's `np.percentile(values, q)` with the default linear method: virtual index
 * `(n − 1)·(q / 100)`, its two neighbours in sorted order (NaN sorts last and makes the
 * result NaN), and `_lerp(a, b, γ) = a + (b − a)·γ` (from `b` when γ ≥ 0.5) in float64 —
 * NumPy 2.0–2.3 keep γ in float64, so the interpolation of an fp16 array is done in float64.
 * (NumPy 1.x and 2.4.0 interpolate in the array's dtype; the two differ only when the
 * neighbours differ and the fp16 rounding of the interpolated value reaches `b`.)
 */
export function percentile(values: Float32Array, q: number, dtype: DType): number {
  const n = values.length;
  if (n === 0) return NaN;
  const quantile = q / 100;
  const virtual = (n - 1) * quantile;
  let prev: number;
  let next: number;
  if (virtual >= n - 1) prev = next = n - 1;
  else if (virtual < 0) prev = next = 0;
  else {
    prev = Math.floor(virtual);
    next = prev + 1;
  }
  const stats = dtype === 'fp16' ? orderStatisticsFp16(values, prev, next) : orderStatisticsSorted(values, prev, next);
  if (stats === undefined) return NaN;
  const [a, b] = stats;
  const gamma = virtual - prev;
  const diff = b - a;
  // numpy's _lerp: a + diff·t, or b − diff·(1 − t) where t ≥ 0.5
  return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

/** The prev-th and next-th smallest of non-negative fp16 values by counting their bit patterns (NaN sorts last); undefined if any NaN. */
function orderStatisticsFp16(values: Float32Array, prev: number, next: number): [number, number] | undefined {
  const bits = fp32ToFp16Array(values);
  const hist = new Uint32Array(65536);
  for (let i = 0; i < bits.length; i++) hist[bits[i]]++;
  // non-negative fp16 values order like their bit patterns; NaN patterns (> 0x7c00) mean a NaN result
  for (let h = 0x7c01; h < 0x8000; h++) if (hist[h] !== 0) return undefined;
  const at = (k: number): number => {
    let c = 0;
    for (let h = 0; h <= 0x7c00; h++) {
      c += hist[h];
      if (c > k) return fp16Value(h);
    }
    return NaN;
  };
  return [at(prev), at(next)];
}

const F16 = new Uint16Array(1);
function fp16Value(h: number): number {
  F16[0] = h;
  return fp16ToFp32Array(F16)[0];
}

function orderStatisticsSorted(values: Float32Array, prev: number, next: number): [number, number] | undefined {
  const sorted = Float32Array.from(values).sort();
  if (sorted[sorted.length - 1] !== sorted[sorted.length - 1]) return undefined;
  return [sorted[prev], sorted[next]];
}

/** L2 norms of runs of `block` channels along `dim` (0/1), replicated back to the weight's shape (§7.5 block sparsity). */
function blockMagnitude(w: Float32Array, shape: readonly number[], block: number, dim: number, fp: (x: number) => number): Float32Array {
  const channels = shape[dim];
  const outer = shape.slice(0, dim).reduce((a, b) => a * b, 1);
  const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(w.length);
  const groups = Math.ceil(channels / block);
  for (let o = 0; o < outer; o++) {
    for (let g = 0; g < groups; g++) {
      const c0 = g * block;
      const c1 = Math.min(channels, c0 + block);
      for (let i = 0; i < inner; i++) {
        // NumPy sums the squares along the block axis one slice at a time, rounding each
        // partial sum to the weight dtype (padded channels add 0)
        let s = 0;
        for (let c = c0; c < c1; c++) {
          const v = w[(o * channels + c) * inner + i];
          s = fp(s + fp(v * v));
        }
        const norm = fp(Math.sqrt(s));
        for (let c = c0; c < c1; c++) out[(o * channels + c) * inner + i] = norm;
      }
    }
  }
  return out;
}

/** Positions n:m pruning removes (1 = prune), §7.5. */
function nmPruned(w: Float32Array, shape: readonly number[], n: number, m: number, dim: number): Uint8Array {
  const rank = shape.length;
  // perm = spatial axes, then the two channel axes with `dim` last
  const perm = [...Array.from({ length: rank - 2 }, (_, k) => k + 2), dim === 0 ? 1 : 0, dim === 0 ? 0 : 1];
  const tshape = perm.map((p) => shape[p]);
  const strides = new Array<number>(rank);
  let s = 1;
  for (let k = rank - 1; k >= 0; k--) {
    strides[k] = s;
    s *= shape[k];
  }
  const pstrides = perm.map((p) => strides[p]);
  const channel = tshape[rank - 1];
  const rows = w.length / channel;
  const pruned = new Uint8Array(w.length);
  const idx = new Int32Array(m);
  const mag = new Float64Array(m);
  const rowIndex = new Array<number>(rank - 1).fill(0);
  for (let r = 0; r < rows; r++) {
    // offset of (transposed) row r in the original layout
    let base = 0;
    for (let k = 0; k < rank - 1; k++) base += rowIndex[k] * pstrides[k];
    for (let g0 = 0; g0 < channel; g0 += m) {
      // a run of m (zero-padded past the end: padding has magnitude 0 and sorts first)
      for (let j = 0; j < m; j++) {
        const c = g0 + j;
        idx[j] = c < channel ? base + c * pstrides[rank - 1] : -1;
        mag[j] = c < channel ? Math.abs(w[idx[j]]) : 0;
      }
      // stable insertion sort by magnitude (NaN last, as NumPy)
      const order = Array.from({ length: m }, (_, j) => j);
      for (let a = 1; a < m; a++) {
        const cur = order[a];
        let b = a - 1;
        while (b >= 0 && greater(mag[order[b]], mag[cur])) {
          order[b + 1] = order[b];
          b--;
        }
        order[b + 1] = cur;
      }
      for (let j = 0; j < n; j++) {
        const p = idx[order[j]];
        if (p >= 0) pruned[p] = 1;
      }
    }
    for (let k = rank - 2; k >= 0; k--) {
      if (++rowIndex[k] < tshape[k]) break;
      rowIndex[k] = 0;
    }
  }
  return pruned;
}

/** NumPy's sort order for floats: NaN after everything. */
function greater(a: number, b: number): boolean {
  if (a !== a) return b === b;
  return a > b;
}

/** Values of the non-negative fp16 bit patterns 0 … 0x7c00 (0 … +inf). */
let FP16_VALUES: Float64Array | undefined;
function fp16Values(): Float64Array {
  if (!FP16_VALUES) FP16_VALUES = Float64Array.from(fp16ToFp32Array(Uint16Array.from({ length: 0x7c01 }, (_, i) => i)));
  return FP16_VALUES;
}

/**
 * Magnitude pruning of an fp16 weight on its bit patterns alone: |w| orders like
 * `bits & 0x7fff`, so one histogram gives the percentile's neighbours, the cut, and (weighted
 * by the counts) the error statistics — no per-element float work. Undefined when the weight
 * holds a NaN (the generic path handles it: NaN makes NumPy's percentile NaN).
 */
function magnitudeFp16(h: Uint16Array, q: number): { keep: Uint8Array; kept: number; sig: number; err: number; maxAbs: number } | undefined {
  const n = h.length;
  const hist = new Uint32Array(0x8000);
  for (let i = 0; i < n; i++) hist[h[i] & 0x7fff]++;
  for (let b = 0x7c01; b < 0x8000; b++) if (hist[b] !== 0) return undefined;
  const values = fp16Values();
  const virtual = (n - 1) * (q / 100);
  const prev = virtual >= n - 1 ? n - 1 : Math.floor(virtual);
  const next = virtual >= n - 1 ? n - 1 : prev + 1;
  let a = NaN;
  let bv = NaN;
  for (let b = 0, c = 0; b <= 0x7c00; b++) {
    c += hist[b];
    if (a !== a && c > prev) a = values[b];
    if (c > next) {
      bv = values[b];
      break;
    }
  }
  const gamma = virtual - prev;
  const diff = bv - a;
  const thr = gamma >= 0.5 ? bv - diff * (1 - gamma) : a + diff * gamma;
  let cut = -1;
  while (cut < 0x7c00 && values[cut + 1] <= thr) cut++;
  const keep = new Uint8Array(n);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    if ((h[i] & 0x7fff) > cut) {
      keep[i] = 1;
      kept++;
    }
  }
  let sig = 0;
  let err = 0;
  let maxAbs = 0;
  for (let b = 0; b <= 0x7c00; b++) {
    if (hist[b] === 0) continue;
    const v2 = values[b] * values[b] * hist[b];
    sig += v2;
    if (b <= cut) {
      err += v2;
      maxAbs = values[b];
    }
  }
  return { keep, kept, sig, err, maxAbs };
}

/** Prunes one weight (see the module comment). */
export function pruneKernel(args: PruneArgs): PruneResult | Skip {
  const { data, method } = args;
  const dtype = data.dtype;
  const n = data.shape.reduce((a, b) => a * b, 1);
  const raw = rawElements(new DenseTensor(dtype, data.shape, data.bytes));
  if (dtype === 'fp16' && method.kind === 'magnitude' && method.blockSize === undefined && method.targetSparsity > 0 && method.targetSparsity < 1) {
    const fast = magnitudeFp16(raw as Uint16Array, method.targetSparsity * 100);
    if (fast) return finish(args, raw, fast.keep, fast.kept, false, fast.sig, fast.err, fast.maxAbs);
  }
  const fp = (x: number): number => roundTo(dtype, x);
  const w = floats(data);
  // pruned[i] = 1 where the weight becomes zero; `timesZero` = the p = 1 case (w · 0)
  const pruned = new Uint8Array(n);
  let timesZero = false;
  if (method.kind === 'threshold') {
    const thr = fp(method.threshold);
    let zeros = 0;
    for (let i = 0; i < n; i++) {
      const v = w[i];
      if (Math.abs(v) <= thr) pruned[i] = 1;
      if (pruned[i] !== 0 || v === 0) zeros++;
    }
    const sparsity = n === 0 ? 0 : zeros / n;
    if (sparsity < method.minimumSparsityPercentile) {
      return { skip: `threshold ${method.threshold} gives sparsity ${sparsity}, below minimumSparsityPercentile ${method.minimumSparsityPercentile}` };
    }
  } else if (method.kind === 'magnitude') {
    const q = method.targetSparsity * 100;
    if (q === 100) {
      timesZero = true;
    } else if (q !== 0) {
      let map: Float32Array;
      if (method.blockSize !== undefined) {
        const dim = method.dim ?? 0;
        const channels = data.shape[dim];
        if (method.blockSize > channels / 2) {
          return { skip: `blockSize ${method.blockSize} > channels / 2 (${channels} channels along dim ${dim})` };
        }
        map = blockMagnitude(w, data.shape, method.blockSize, dim, fp);
      } else {
        map = new Float32Array(n);
        for (let i = 0; i < n; i++) map[i] = Math.abs(w[i]);
      }
      const thr = percentile(map, q, dtype);
      for (let i = 0; i < n; i++) if (map[i] <= thr) pruned[i] = 1;
    }
  } else {
    const rowLen = data.shape.length >= 2 ? data.shape[method.dim === 0 ? 0 : 1] : n;
    if (method.m > rowLen / 2) return { skip: `m = ${method.m} > channels / 2 (${rowLen} channels along dim ${method.dim})` };
    pruned.set(nmPruned(w, data.shape, method.n, method.m, method.dim));
  }

  // mask (w ≠ 0 after pruning) and the error statistics
  const keep = new Uint8Array(n);
  let kept = 0;
  let sig = 0;
  let err = 0;
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    const v = w[i];
    const after = timesZero ? v * 0 : pruned[i] !== 0 ? 0 : v;
    // NaN ≠ 0 is kept; −0 == 0 is dropped
    if (after !== 0) {
      keep[i] = 1;
      kept++;
    }
    sig += v * v;
    const d = (after !== 0 ? v : 0) - v;
    if (d !== 0 && d === d) {
      err += d * d;
      const ad = Math.abs(d);
      if (ad > maxAbs) maxAbs = ad;
    }
  }
  return finish(args, raw, keep, kept, timesZero, sig, err, maxAbs);
}

/** The result: uint1 mask, the kept raw values (w · 0 = NaN for p = 1), the gathered codes, the metrics. */
function finish(
  args: PruneArgs,
  raw: Uint8Array | Uint16Array | Uint32Array,
  keep: Uint8Array,
  kept: number,
  timesZero: boolean,
  sig: number,
  err: number,
  maxAbs: number,
): PruneResult {
  const { data } = args;
  const dtype = data.dtype;
  const n = keep.length;
  const values = raw instanceof Uint16Array ? new Uint16Array(kept) : raw instanceof Uint32Array ? new Uint32Array(kept) : new Uint8Array(kept);
  const nanBits = dtype === 'fp16' ? 0x7e00 : 0x7fc00000;
  for (let i = 0, k = 0; i < n; i++) {
    if (keep[i] === 0) continue;
    // p = 1 keeps w · 0 (NaN) — not the original bits
    values[k++] = timesZero ? nanBits : raw[i];
  }
  let gathered: TensorData | undefined;
  if (args.gather) {
    const g = args.gather;
    const gRaw = rawElements(new DenseTensor(g.dtype, g.shape, g.bytes));
    if (gRaw.length !== n) throw new Error(`pruneKernel: gather has ${gRaw.length} elements for a ${n}-element weight`);
    const out = gRaw instanceof Uint16Array ? new Uint16Array(kept) : gRaw instanceof Uint32Array ? new Uint32Array(kept) : new Uint8Array(kept);
    for (let i = 0, k = 0; i < n; i++) if (keep[i] !== 0) out[k++] = gRaw[i];
    gathered = tensorDataOf(g.dtype, [kept], out);
  }
  return {
    mask: { dtype: 'uint1', shape: [...data.shape], bytes: packSubByte(keep, 1) },
    nonzero: tensorDataOf(dtype, [kept], values),
    ...(gathered ? { gathered } : {}),
    sparsity: n === 0 ? 0 : 1 - kept / n,
    metrics: { mse: n === 0 ? 0 : err / n, snrDb: err === 0 ? Infinity : sig === 0 ? 0 : 10 * Math.log10(sig / err), maxAbsError: maxAbs },
  };
}

function tensorDataOf(dtype: DType, shape: readonly number[], raw: Uint8Array | Uint16Array | Uint32Array): TensorData {
  const t = tensorFromRaw(dtype, shape, raw);
  return { dtype, shape: [...shape], bytes: t.bytes() };
}

