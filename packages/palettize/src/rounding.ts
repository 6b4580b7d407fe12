/**
 * Rounding a float64 to the grid of the LUT's dtype, exactly as NumPy's `astype` does
 * (coremltools builds LUTs in float64 and casts them with `lut.astype(weight.dtype)`).
 *
 * `@silica/ir`'s `numberToFp16Bits` goes through fp32 first (how Core ML stores fp32
 * weights as fp16); NumPy's float64 → float16 cast rounds once, directly. The two differ
 * on rare double-rounding ties, and the uniform mode must match coremltools bit for bit,
 * so the direct rounding lives here.
 */
import { fp16BitsToNumber } from '@silica/ir';

const TWO_POW_24 = 16777216;

/** Round half to even of a non-negative float64 (NumPy's `np.round` / `rint`). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; step back to the even neighbour on exact ties
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** float64 → fp16 bit pattern, one rounding (nearest, ties to even), as NumPy's cast. */
export function float64ToFp16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // 65520 is the tie between 65504 and 2^16: to even (inf)
  if (a < 6.103515625e-5) {
    // subnormal range (< 2^-14): one fp16 ulp is 2^-24
    return sign | roundHalfEven(a * TWO_POW_24); // may round up into the smallest normal (0x400)
  }
  let e = Math.floor(Math.log2(a));
  // Math.log2 may be off by one next to powers of two
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven((a / 2 ** e) * 1024); // in [1024, 2048]
  if (m === 2048) {
    m = 1024;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (m - 1024);
}

/** The fp16 value nearest to `x` (NumPy `np.float16(x)`). */
export function toFp16(x: number): number {
  return fp16BitsToNumber(float64ToFp16Bits(x));
}

/** A LUT element dtype: the dtype of the weight (or of the quantized data) being palettized. */
export type LutDType = 'fp16' | 'fp32' | 'int8' | 'uint8';

/**
 * Rounds `x` onto the grid of `dtype`: fp16 and fp32 to nearest (ties to even); int8/uint8
 * to the nearest integer (ties to even) clamped to the dtype's range. coremltools casts
 * integer LUTs with `astype`, which truncates; rounding to nearest is never worse for the
 * squared error of a cluster (its best integer centroid is the rounded mean).
 */
export function roundToDType(x: number, dtype: LutDType): number {
  switch (dtype) {
    case 'fp16':
      return toFp16(x);
    case 'fp32':
      return Math.fround(x);
    case 'int8':
      return Math.min(127, Math.max(-128, roundSigned(x)));
    case 'uint8':
      return Math.min(255, Math.max(0, roundSigned(x)));
  }
}

function roundSigned(x: number): number {
  return x < 0 ? -roundHalfEven(-x) : roundHalfEven(x);
}
