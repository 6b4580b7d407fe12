/**
 * Bulk IEEE binary16 ↔ binary32 conversion over typed arrays (ARCHITECTURE.md: fp16 is a
 * hot path). fp16→fp32 is one table lookup per element (exact: every fp16 value is a
 * fp32 value). fp32→fp16 rounds to nearest, ties to even, with subnormals, ±inf and NaN
 * (payload kept, quiet bit preserved as NumPy does).
 */

// The table holds fp32 bit patterns as int32 and the output is written through an
// Int32Array: V8 keeps int32 values unboxed, whereas uint32 values ≥ 2^31 (every negative
// float) may leave the fast path — with a Uint32Array table the loop ran 3× slower on
// random bit patterns. (`ir` benchmark: random patterns now cost about what weights do.)
const F16_TO_F32_BITS = buildTable();

function buildTable(): Int32Array {
  const t = new Int32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const man = h & 0x3ff;
    if (exp === 0) {
      if (man === 0) {
        t[h] = sign;
      } else {
        // subnormal: normalise
        let e = -14;
        let m = man;
        while ((m & 0x400) === 0) {
          m <<= 1;
          e--;
        }
        t[h] = sign | ((e + 127) << 23) | ((m & 0x3ff) << 13);
      }
    } else if (exp === 31) {
      t[h] = sign | 0x7f800000 | (man << 13);
    } else {
      t[h] = sign | ((exp - 15 + 127) << 23) | (man << 13);
    }
  }
  return t;
}

/** fp16 bit patterns → Float32Array (exact). `out` may be given to avoid an allocation. */
export function fp16ToFp32Array(src: Uint16Array, out?: Float32Array): Float32Array {
  const n = src.length;
  const dst = out ?? new Float32Array(n);
  if (dst.length < n) throw new Error(`output has ${dst.length} elements, need ${n}`);
  const bits = new Int32Array(dst.buffer, dst.byteOffset, n);
  const t = F16_TO_F32_BITS;
  for (let i = 0; i < n; i++) bits[i] = t[src[i]];
  return dst;
}

/** One fp16 bit pattern → number. */
export function fp16BitsToNumber(h: number): number {
  F32_SCRATCH_U[0] = F16_TO_F32_BITS[h & 0xffff];
  return F32_SCRATCH_F[0];
}

const F32_SCRATCH_F = new Float32Array(1);
const F32_SCRATCH_U = new Uint32Array(F32_SCRATCH_F.buffer);

/** fp32 bits → fp16 bits, round to nearest even. */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const a = x & 0x7fffffff;
  if (a >= 0x47800000) {
    // ≥ 65536, inf or NaN
    if (a > 0x7f800000) {
      const m = (a & 0x7fffff) >>> 13;
      return sign | 0x7c00 | (m === 0 ? 1 : m);
    }
    return sign | 0x7c00;
  }
  if (a < 0x38800000) {
    // below the smallest normal fp16 (2^-14): subnormal or zero. Scale so one fp16 ulp
    // (2^-24) is 1 and round half to even on the integer.
    if (a < 0x33000000) return sign; // < 2^-25: rounds to zero (2^-25 itself is a tie, rounded to even 0 below)
    F32_SCRATCH_U[0] = a;
    const m = F32_SCRATCH_F[0] * 16777216; // exact in float64
    let r = Math.floor(m);
    const frac = m - r;
    if (frac > 0.5 || (frac === 0.5 && (r & 1) === 1)) r++;
    return sign | r; // r ≤ 0x400 (rounds up into the smallest normal correctly)
  }
  // normal: rebias exponent, round mantissa 23→10 bits half-to-even; carries propagate
  // into the exponent (and to inf for values ≥ 65520).
  const odd = (a >>> 13) & 1;
  return sign | ((a + 0xc8000fff + odd) >>> 13);
}

/** Float32Array → fp16 bit patterns (round to nearest even). `out` may be given. */
export function fp32ToFp16Array(src: Float32Array, out?: Uint16Array): Uint16Array {
  const n = src.length;
  const dst = out ?? new Uint16Array(n);
  if (dst.length < n) throw new Error(`output has ${dst.length} elements, need ${n}`);
  const bits = new Uint32Array(src.buffer, src.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const x = bits[i];
    const a = x & 0x7fffffff;
    // fast path: normal range
    if (a >= 0x38800000 && a < 0x47800000) {
      dst[i] = ((x >>> 16) & 0x8000) | ((a + 0xc8000fff + ((a >>> 13) & 1)) >>> 13);
    } else {
      dst[i] = f32BitsToF16Bits(x);
    }
  }
  return dst;
}

/** One number → fp16 bits (via fp32 rounding first, as Core ML stores fp32 → fp16). */
export function numberToFp16Bits(v: number): number {
  F32_SCRATCH_F[0] = v;
  return f32BitsToF16Bits(F32_SCRATCH_U[0]);
}

/** Rounds every element of a Float32Array to the nearest fp16 value, in place. */
export function roundToFp16InPlace(a: Float32Array): Float32Array {
  const bits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const t = F16_TO_F32_BITS;
  for (let i = 0; i < a.length; i++) {
    const x = bits[i];
    const ab = x & 0x7fffffff;
    const h =
      ab >= 0x38800000 && ab < 0x47800000
        ? ((x >>> 16) & 0x8000) | ((ab + 0xc8000fff + ((ab >>> 13) & 1)) >>> 13)
        : f32BitsToF16Bits(x);
    bits[i] = t[h];
  }
  return a;
}
