/**
 * Sorted distinct values with their counts — the input of the 1-D k-means DP
 * (kmeans1d.ts), so that its cost depends on the number of distinct values, not on the
 * weight's size.
 *
 * fp16 weights are histogrammed over their bit patterns directly (one counter per pattern,
 * no sort): the patterns are then read back in value order — negative patterns from the
 * most negative (0xFBFF) up to 0x8001, zero (+0 and −0 merged into one value), positive
 * patterns 0x0001…0x7BFF. Other dtypes (fp32 data, integer data under joint compression)
 * are sorted.
 */

export interface Histogram {
  /** Distinct values, strictly ascending. */
  readonly values: Float64Array;
  /** How often each value occurs (> 0). */
  readonly counts: Float64Array;
  /** Number of elements counted (Σ counts). */
  readonly total: number;
}

/** An fp16 histogram also knows the bit pattern of each value (+0 for zero). */
export interface Fp16Histogram extends Histogram {
  readonly patterns: Uint16Array;
}

/** The float64 value of every fp16 bit pattern (NaN/±inf included), for bulk lookups. */
export const FP16_VALUE: Float64Array = buildFp16Values();

function buildFp16Values(): Float64Array {
  const out = new Float64Array(65536);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const man = h & 0x3ff;
    if (exp === 31) {
      out[h] = man === 0 ? (sign ? -Infinity : Infinity) : NaN;
      continue;
    }
    if (exp === 0) {
      out[h] = (sign ? -1 : 1) * man * 2 ** -24;
      continue;
    }
    u[0] = sign | ((exp - 15 + 127) << 23) | (man << 13);
    out[h] = f[0];
  }
  return out;
}

/** The value of an fp16 bit pattern as a float64. */
export function fp16Value(bits: number): number {
  return FP16_VALUE[bits & 0xffff];
}

/**
 * Patterns of every finite fp16 value in ascending order (−0 omitted: it is counted with +0).
 * 63,487 entries.
 */
const FP16_ASCENDING: Uint16Array = (() => {
  const out = new Uint16Array(0x7bff * 2 + 1);
  let k = 0;
  for (let h = 0xfbff; h >= 0x8001; h--) out[k++] = h;
  for (let h = 0; h <= 0x7bff; h++) out[k++] = h;
  return out;
})();

/**
 * Reusable 65,536-bin counter for fp16 patterns: `add` the elements of a group, then
 * `take` the histogram (which also clears the counter for the next group). The histogram
 * lists the pattern of each value, so elements map to clusters through a 65,536-entry
 * table instead of a search.
 */
export class Fp16Counter {
  readonly counts = new Uint32Array(65536);

  /** Counts `bits[start .. start + length)`. */
  add(bits: Uint16Array, start = 0, length = bits.length - start): void {
    const c = this.counts;
    for (let i = start, end = start + length; i < end; i++) c[bits[i]]++;
  }

  /** Number of NaN or ±inf patterns counted so far. */
  nonFinite(): number {
    let n = 0;
    for (let h = 0x7c00; h <= 0x7fff; h++) n += this.counts[h] + this.counts[h | 0x8000];
    return n;
  }

  /** The histogram of everything added since the last take; resets the counter. */
  take(): Fp16Histogram {
    const c = this.counts;
    c[0] += c[0x8000];
    c[0x8000] = 0;
    let n = 0;
    for (let k = 0; k < FP16_ASCENDING.length; k++) if (c[FP16_ASCENDING[k]] !== 0) n++;
    const values = new Float64Array(n);
    const counts = new Float64Array(n);
    const patterns = new Uint16Array(n);
    let total = 0;
    let j = 0;
    for (let k = 0; k < FP16_ASCENDING.length; k++) {
      const h = FP16_ASCENDING[k];
      const count = c[h];
      if (count === 0) continue;
      values[j] = FP16_VALUE[h];
      counts[j] = count;
      patterns[j] = h;
      total += count;
      j++;
    }
    c.fill(0);
    return { values, counts, total, patterns };
  }
}

/** Histogram of arbitrary finite numbers (sorts a copy). */
export function histogramOf(data: ArrayLike<number>): Histogram {
  const sorted = Float64Array.from(data).sort();
  let n = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) n++;
  const values = new Float64Array(n);
  const counts = new Float64Array(n);
  let j = -1;
  for (let i = 0; i < sorted.length; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) values[++j] = sorted[i];
    counts[j]++;
  }
  return { values, counts, total: sorted.length };
}

/** Index of `x` in the ascending distinct `values` (binary search; x must be present). */
export function indexOfValue(values: Float64Array, x: number): number {
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
