/**
 * Linear quantization arithmetic (mil-ops.md §7.3), shared by GPTQ and the emission of
 * its result: quantized ranges, per-block parameters, and the round/clip/dequantize of
 * one value. The formulas are coremltools' (`get_quant_range`, `compute_qparams_by_dtype`):
 *
 *  - range for n bits: signed [−2^(n−1), 2^(n−1)−1], unsigned [0, 2^n−1]; in symmetric mode
 *    the signed minimum is raised by one (int8 → [−127, 127], int4 → [−7, 7]) and the
 *    unsigned maximum lowered by one (uint8 → [0, 254], uint4 → [0, 14]);
 *  - symmetric: m = max(|min w|, |max w|), real range [−m, m]; zero point none (signed)
 *    or qmax // 2 (unsigned);
 *  - linear (affine): real range [min(0, min w), max(0, max w)], zero point
 *    round((qmin·rmax − qmax·rmin) / (rmax − rmin)) clipped to the range;
 *  - scale = (rmax − rmin) / (qmax − qmin), stored in the weight's float dtype;
 *  - q = clip(round_half_even(w / scale) + zp, qmin, qmax); w' = scale · (q − zp).
 *
 * GPTQ quantizes with the scale *as stored* (rounded to fp16 for an fp16 weight), so the
 * error it feeds back is the error the deployed model sees.
 */
import { fp16BitsToNumber, numberToFp16Bits } from '@silica/ir';
import { quantRange as quantizeRange } from '@silica/quantize';

export type QuantDType = 'int8' | 'uint8' | 'int4' | 'uint4';
export type QuantMode = 'linear_symmetric' | 'linear';
export type FloatDType = 'fp16' | 'fp32';

export const QUANT_DTYPES: readonly QuantDType[] = ['int8', 'uint8', 'int4', 'uint4'];

export interface QuantRange {
  readonly qmin: number;
  readonly qmax: number;
  readonly signed: boolean;
  readonly nbits: number;
}

/** The quantized range of a dtype in a mode (module comment; `@silica/quantize`'s `quantRange`). */
export function quantRange(dtype: QuantDType, mode: QuantMode): QuantRange {
  const [qmin, qmax] = quantizeRange(dtype, mode);
  return { qmin, qmax, signed: dtype.startsWith('int'), nbits: dtype.endsWith('8') ? 8 : 4 };
}

/** Round half to even (NumPy `np.round`). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds ties up; step back to the even neighbour on exact ties
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** Rounds a number to the grid of a float dtype (fp16: via fp32, as Core ML stores fp32 → fp16). */
export function roundToFloat(x: number, dtype: FloatDType): number {
  return dtype === 'fp16' ? fp16BitsToNumber(numberToFp16Bits(x)) : Math.fround(x);
}

/** Quantization parameters of one block: the stored scale and the zero point (0 when none). */
export interface BlockParams {
  readonly scale: number;
  readonly zeroPoint: number;
}

/**
 * Parameters for a block whose values span [lo, hi] (module comment). A block whose
 * range is empty (all zeros) gets scale 1, so every value quantizes to the zero point
 * and dequantizes to exactly 0; a scale that rounds to 0 in the float dtype is raised to
 * the dtype's smallest positive normal value.
 */
export function blockParams(lo: number, hi: number, range: QuantRange, mode: QuantMode, floatDType: FloatDType): BlockParams {
  const { qmin, qmax, signed } = range;
  let rmin: number;
  let rmax: number;
  if (mode === 'linear_symmetric') {
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    rmin = -m;
    rmax = m;
  } else {
    rmin = Math.min(0, lo);
    rmax = Math.max(0, hi);
  }
  if (!(rmax > rmin)) return { scale: 1, zeroPoint: mode === 'linear_symmetric' && !signed ? Math.floor(qmax / 2) : 0 };
  let scale = roundToFloat((rmax - rmin) / (qmax - qmin), floatDType);
  if (scale === 0) scale = floatDType === 'fp16' ? 2 ** -14 : 2 ** -126;
  let zeroPoint: number;
  if (mode === 'linear_symmetric') zeroPoint = signed ? 0 : Math.floor(qmax / 2);
  else zeroPoint = Math.min(qmax, Math.max(qmin, roundHalfEven((qmin * rmax - qmax * rmin) / (rmax - rmin))));
  return { scale, zeroPoint };
}

/** The quantized integer of `w` under (scale, zeroPoint), clipped to the range. */
export function quantizeValue(w: number, p: BlockParams, range: QuantRange): number {
  const q = roundHalfEven(w / p.scale) + p.zeroPoint;
  return q < range.qmin ? range.qmin : q > range.qmax ? range.qmax : q;
}

/**
 * The dequantized value `scale · (q − zp)` as the runtime computes it: in the scale's
 * float dtype (coremltools' reference converts the data to the scale dtype before the
 * subtraction and multiplication).
 */
export function dequantizeValue(q: number, p: BlockParams, floatDType: FloatDType): number {
  return roundToFloat(p.scale * (q - p.zeroPoint), floatDType);
}
