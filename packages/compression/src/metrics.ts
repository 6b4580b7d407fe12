/**
 * What a compression pass reports per weight and for the model: bytes before/after, bits
 * per weight, and the error of the decompressed weight against the dense weight it replaced
 * (MSE, SNR in dB, max |error|).
 */
import type { DType, Op, Tensor, Value } from '@silica/ir';
import { producerChain } from './weights.js';

export interface ErrorMetrics {
  /** Mean squared error. */
  readonly mse: number;
  /** 10·log10(Σ ref² / Σ err²); Infinity when the error is zero; 0 when the reference is all zeros but the error is not. */
  readonly snrDb: number;
  readonly maxAbsError: number;
}

/**
 * Error of `approx` against `reference` (same length), accumulated in float64. NaN elements
 * at the same position in both count as equal; a NaN on one side only makes the metrics NaN.
 */
export function errorMetrics(reference: ArrayLike<number>, approx: ArrayLike<number>): ErrorMetrics {
  const n = reference.length;
  if (approx.length !== n) throw new Error(`errorMetrics: ${n} reference values but ${approx.length} approximations`);
  let sig = 0;
  let err = 0;
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    const r = reference[i];
    const a = approx[i];
    if (r !== r && a !== a) continue;
    sig += r * r;
    if (r === a) continue;
    const d = a - r;
    err += d * d;
    const ad = Math.abs(d);
    if (!(ad <= maxAbs)) maxAbs = ad;
  }
  const mse = n === 0 ? 0 : err / n;
  const snrDb = err === 0 ? Infinity : sig === 0 ? 0 : 10 * Math.log10(sig / err);
  return { mse, snrDb, maxAbsError: maxAbs };
}

export interface WeightStats {
  readonly function: string;
  /** The const (or constexpr op) that was compressed. */
  readonly weight: string;
  /** The value the real ops read (differs from `weight` under joint compression, e.g. `w_sparsified`). */
  readonly dense: string;
  /** Shape and dtype of the dense weight. */
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly elements: number;
  /** e.g. `int8 linear_symmetric per_channel`, `magnitude 50%`. */
  readonly method: string;
  /** Types of the constexpr ops that now produce the weight, producer first. */
  readonly ops: readonly string[];
  /** Const bytes behind the weight before and after (data, scales, masks, LUTs; see representationBytes). */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** 8 · bytesAfter / elements. */
  readonly bitsPerWeight: number;
  readonly mse: number;
  readonly snrDb: number;
  readonly maxAbsError: number;
  /** Where the per-weight math ran. */
  readonly inWorker: boolean;
  /** Wall time of the per-weight math, ms. */
  readonly ms: number;
}

/**
 * Bytes of constant data behind a dense value: the `val` tensors of the consts reached by
 * walking back through constexpr producers (each tensor once). For a plain const, its own
 * bytes. Lazy tensors are not read.
 */
export function representationBytes(dense: Value): number {
  const seen = new Set<Tensor>();
  let n = 0;
  for (const c of producerChain(dense).consts) {
    const t = (c as Op).constValue;
    if (t && !seen.has(t) && t.dtype !== 'string') {
      seen.add(t);
      n += t.byteLength;
    }
  }
  return n;
}

/** Model-level summary for `PassResult.stats`. */
export function summarizeStats(weights: readonly WeightStats[], skipped: number): Record<string, number | string> {
  let before = 0;
  let after = 0;
  let elements = 0;
  let sqErr = 0;
  let minSnr = Infinity;
  let worst = '';
  let maxAbs = 0;
  for (const w of weights) {
    before += w.bytesBefore;
    after += w.bytesAfter;
    elements += w.elements;
    sqErr += w.mse * w.elements;
    if (w.snrDb < minSnr || worst === '') {
      minSnr = w.snrDb;
      worst = w.weight;
    }
    if (w.maxAbsError > maxAbs) maxAbs = w.maxAbsError;
  }
  const stats: Record<string, number | string> = {
    compressed: weights.length,
    skipped,
    bytesBefore: before,
    bytesAfter: after,
    ratio: after === 0 ? 0 : before / after,
    bitsPerWeight: elements === 0 ? 0 : (8 * after) / elements,
    mse: elements === 0 ? 0 : sqErr / elements,
    minSnrDb: weights.length === 0 ? 0 : minSnr,
    maxAbsError: maxAbs,
  };
  if (worst !== '') stats.worstWeight = worst;
  return stats;
}
