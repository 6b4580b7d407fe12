/**
 * Bulk fp16 ↔ fp32 conversion checked exhaustively against @petamoriken/float16, a
 * well-kept independent implementation. The library returns JS numbers, so NaN payloads
 * (which it cannot carry) are checked against the IEEE bit layout instead.
 */
import { describe, expect, it } from 'vitest';
import { f16round, getFloat16, setFloat16 } from '@petamoriken/float16';
import {
  fp16BitsToNumber,
  fp16ToFp32Array,
  fp32ToFp16Array,
  numberToFp16Bits,
  roundToFp16InPlace,
} from '../src/index.js';

const ALL_FP16 = Uint16Array.from({ length: 65536 }, (_, i) => i);

function f32FromBits(bits: number): number {
  return new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0];
}

function bitsOfF32(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** fp16 bits → fp32 bits by the IEEE layout, for NaN patterns (payload shifted up 13). */
function expectedNaNBits(h: number): number {
  return (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0;
}

const isFp16NaN = (h: number): boolean => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isFp32NaN = (x: number): boolean => (x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0;

/** The library's fp16 bits for a number (round to nearest even). */
function libraryFp16Bits(v: number): number {
  const dv = new DataView(new ArrayBuffer(2));
  setFloat16(dv, 0, v, true);
  return dv.getUint16(0, true);
}

/** fp32 NaN → fp16 NaN as NumPy does: keep sign and the top 10 payload bits, never produce inf. */
function expectedFp16NaN(x: number): number {
  const m = (x & 0x7fffff) >>> 13;
  return ((x >>> 16) & 0x8000) | 0x7c00 | (m === 0 ? 1 : m);
}

/** Deterministic 32-bit PRNG (mulberry32). */
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

describe('fp16ToFp32Array', () => {
  it('agrees with the library on all 65,536 bit patterns (NaNs bit-exact by layout)', () => {
    const out = fp16ToFp32Array(ALL_FP16);
    const bits = bitsOfF32(out);
    const dv = new DataView(ALL_FP16.buffer);
    let nans = 0;
    const mismatches: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const lib = getFloat16(dv, 2 * h, true);
      if (isFp16NaN(h)) {
        nans++;
        if (!Number.isNaN(lib) || bits[h] !== expectedNaNBits(h)) {
          mismatches.push(`0x${h.toString(16)} → 0x${bits[h].toString(16)}`);
        }
        continue;
      }
      // Object.is distinguishes -0 from +0.
      if (!Object.is(out[h], lib)) mismatches.push(`0x${h.toString(16)}: ${out[h]} vs ${lib}`);
    }
    expect(mismatches).toEqual([]);
    expect(nans).toBe(2 * 1023);
  });

  it('decodes landmark values exactly', () => {
    const h = Uint16Array.from([0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0400, 0x03ff, 0x0001, 0x7c00, 0xfc00, 0x3555]);
    const f = fp16ToFp32Array(h);
    expect(Object.is(f[0], 0)).toBe(true);
    expect(Object.is(f[1], -0)).toBe(true);
    expect(f[2]).toBe(1);
    expect(f[3]).toBe(-2);
    expect(f[4]).toBe(65504);
    expect(f[5]).toBe(2 ** -14);
    expect(f[6]).toBe(1023 * 2 ** -24);
    expect(f[7]).toBe(2 ** -24);
    expect(f[8]).toBe(Infinity);
    expect(f[9]).toBe(-Infinity);
    expect(f[10]).toBe(0.333251953125);
  });

  it('keeps NaN sign and payload, including the quiet bit', () => {
    const h = Uint16Array.from([0x7e00, 0x7c01, 0xfe00, 0x7d55, 0xffff]);
    expect(Array.from(bitsOfF32(fp16ToFp32Array(h)))).toEqual([0x7fc00000, 0x7f802000, 0xffc00000, 0x7faaa000, 0xffffe000]);
  });

  it('writes into a given output, including a subarray at an offset', () => {
    const big = new Float32Array(8).fill(-7);
    const out = big.subarray(2, 6);
    const ret = fp16ToFp32Array(Uint16Array.from([0x3c00, 0x4000, 0x4200]), out);
    expect(ret).toBe(out);
    expect(Array.from(big)).toEqual([-7, -7, 1, 2, 3, -7, -7, -7]);
  });

  it('reads from a source subarray at an odd element offset', () => {
    const src = Uint16Array.from([0xffff, 0x3c00, 0xc400]).subarray(1);
    expect(Array.from(fp16ToFp32Array(src))).toEqual([1, -4]);
  });

  it('rejects an output that is too short', () => {
    expect(() => fp16ToFp32Array(new Uint16Array(4), new Float32Array(3))).toThrow('output has 3 elements, need 4');
  });

  it('fp16BitsToNumber matches the bulk converter on every non-NaN pattern', () => {
    const bulk = fp16ToFp32Array(ALL_FP16);
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const v = fp16BitsToNumber(h);
      if (isFp16NaN(h) ? !Number.isNaN(v) : !Object.is(v, bulk[h])) bad.push(h);
    }
    expect(bad).toEqual([]);
    // only the low 16 bits count
    expect(fp16BitsToNumber(0x13c00)).toBe(1);
  });
});

describe('fp32ToFp16Array', () => {
  it('round-trips all 65,536 fp16 bit patterns through fp32 bit-exactly (NaN payloads included)', () => {
    const back = fp32ToFp16Array(fp16ToFp32Array(ALL_FP16));
    let firstBad = -1;
    for (let h = 0; h < 65536; h++) {
      if (back[h] !== h) {
        firstBad = h;
        break;
      }
    }
    expect(firstBad).toBe(-1);
  });

  /** [description, fp32 bits, expected fp16 bits]. */
  const EDGES: ReadonlyArray<[string, number, number]> = [
    ['+0', 0x00000000, 0x0000],
    ['-0', 0x80000000, 0x8000],
    ['1', 0x3f800000, 0x3c00],
    ['-2', 0xc0000000, 0xc000],
    ['65504 (max finite)', 0x477fe000, 0x7bff],
    ['-65504', 0xc77fe000, 0xfbff],
    ['65519.99 (just below the halfway point) → 65504', 0x477fefff, 0x7bff],
    ['65520 (halfway, ties to even) → inf', 0x477ff000, 0x7c00],
    ['-65520 → -inf', 0xc77ff000, 0xfc00],
    ['65536 → inf', 0x47800000, 0x7c00],
    ['fp32 max → inf', 0x7f7fffff, 0x7c00],
    ['+inf', 0x7f800000, 0x7c00],
    ['-inf', 0xff800000, 0xfc00],
    ['smallest normal 2^-14', 0x38800000, 0x0400],
    ['largest subnormal 1023·2^-24', 0x387fc000, 0x03ff],
    ['just below the smallest normal rounds up into it', 0x387fffff, 0x0400],
    ['halfway between largest subnormal and smallest normal → even (normal)', 0x387fe000, 0x0400],
    ['smallest subnormal 2^-24', 0x33800000, 0x0001],
    ['-2^-24', 0xb3800000, 0x8001],
    ['2^-25 (tie between 0 and 2^-24) → 0 (even)', 0x33000000, 0x0000],
    ['-2^-25 → -0', 0xb3000000, 0x8000],
    ['just above 2^-25 → 2^-24', 0x33000001, 0x0001],
    ['1.5·2^-24 (tie between 1 and 2 ulps) → 2 (even)', 0x33c00000, 0x0002],
    ['2.5·2^-24 (tie between 2 and 3 ulps) → 2 (even)', 0x34200000, 0x0002],
    ['just below 2^-25 → 0', 0x32ffffff, 0x0000],
    ['fp32 smallest subnormal → 0', 0x00000001, 0x0000],
    ['1 + 2^-11 (tie) → 1 (even)', 0x3f801000, 0x3c00],
    ['1 + 3·2^-11 (tie) → 1 + 2^-9 (even)', 0x3f803000, 0x3c02],
    ['1 + 2^-11 + 2^-23 (above the tie) → 1 + 2^-10', 0x3f801001, 0x3c01],
    ['2048 + 1 (tie in [2048, 4096)) → 2048', 0x45001000, 0x6800],
    ['2048 + 3 (tie) → 2052', 0x45003000, 0x6802],
    ['mantissa carry into the exponent: 2 - 2^-12 → 2', 0x3ffff000, 0x4000],
    ['quiet NaN 0x7fc00000 keeps the quiet bit', 0x7fc00000, 0x7e00],
    ['negative quiet NaN', 0xffc00000, 0xfe00],
    ['NaN payload: top 10 bits kept', 0x7fd56000, 0x7eab],
    ['signalling NaN whose payload is only in the low 13 bits stays NaN', 0x7f800001, 0x7c01],
    ['-NaN with low payload', 0xff801fff, 0xfc01],
  ];

  it.each(EDGES)('%s', (_name, f32bits, f16bits) => {
    const src = new Float32Array(new Uint32Array([f32bits]).buffer);
    expect(fp32ToFp16Array(src)[0]).toBe(f16bits);
    // the library agrees on every non-NaN edge case (its NaN payload depends on the engine)
    if (!isFp32NaN(f32bits)) expect(libraryFp16Bits(src[0])).toBe(f16bits);
    else expect(isFp16NaN(libraryFp16Bits(src[0]))).toBe(true);
  });

  it('agrees with the library on 1,048,576 random fp32 bit patterns (NaNs by layout)', () => {
    const n = 1 << 20;
    const bits = new Uint32Array(n);
    const rnd = mulberry32(0x5111ca);
    for (let i = 0; i < n; i++) bits[i] = rnd();
    const src = new Float32Array(bits.buffer);
    const ours = fp32ToFp16Array(src);
    const dv = new DataView(new ArrayBuffer(2));
    let mismatches = 0;
    let nans = 0;
    let firstBad = '';
    for (let i = 0; i < n; i++) {
      const x = bits[i];
      let want: number;
      if (isFp32NaN(x)) {
        nans++;
        want = expectedFp16NaN(x);
      } else {
        setFloat16(dv, 0, src[i], true);
        want = dv.getUint16(0, true);
      }
      if (ours[i] !== want) {
        if (mismatches === 0) firstBad = `0x${x.toString(16)}: 0x${ours[i].toString(16)} vs 0x${want.toString(16)}`;
        mismatches++;
      }
    }
    expect(firstBad).toBe('');
    expect(mismatches).toBe(0);
    // uniform bit patterns: about 1/256 have an all-ones exponent
    expect(nans).toBeGreaterThan(n / 300);
  });

  it('agrees with the library on 1,048,576 random values spread over the fp16 range', () => {
    // Uniform bit patterns mostly land outside fp16's range; this set lands inside it,
    // with many exact ties (values with few mantissa bits).
    const n = 1 << 20;
    const rnd = mulberry32(42);
    const bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const r = rnd();
      const exp = 100 + (r % 44); // 2^-27 .. 2^16
      const mant = rnd() & (r & 0x100 ? 0x7fe000 | 0x1000 : 0x7fffff);
      bits[i] = ((r & 0x80000000) | (exp << 23) | mant) >>> 0;
    }
    const src = new Float32Array(bits.buffer);
    const ours = fp32ToFp16Array(src);
    const dv = new DataView(new ArrayBuffer(2));
    let firstBad = '';
    for (let i = 0; i < n && firstBad === ''; i++) {
      setFloat16(dv, 0, src[i], true);
      const want = dv.getUint16(0, true);
      if (ours[i] !== want) firstBad = `0x${bits[i].toString(16)}: 0x${ours[i].toString(16)} vs 0x${want.toString(16)}`;
    }
    expect(firstBad).toBe('');
  });

  it('writes into a given output and reads a source subarray', () => {
    const src = Float32Array.from([9, 1, 2, 3]).subarray(1);
    const out = new Uint16Array(5);
    expect(fp32ToFp16Array(src, out.subarray(1, 4))).toEqual(Uint16Array.from([0x3c00, 0x4000, 0x4200]));
    expect(Array.from(out)).toEqual([0, 0x3c00, 0x4000, 0x4200, 0]);
    expect(() => fp32ToFp16Array(new Float32Array(4), new Uint16Array(2))).toThrow('output has 2 elements, need 4');
  });
});

describe('scalar helpers', () => {
  it('numberToFp16Bits rounds via fp32 like the bulk converter', () => {
    for (const v of [0, -0, 1, 0.1, -3.14159, 65504, 65519.99, 65520, 1e-8, 2 ** -24, 2 ** -25, Infinity, -Infinity]) {
      expect(numberToFp16Bits(v), String(v)).toBe(fp32ToFp16Array(Float32Array.of(v))[0]);
      expect(numberToFp16Bits(v), String(v)).toBe(libraryFp16Bits(Math.fround(v)));
    }
    // NaN is the canonical quiet NaN once stored as fp32
    expect(numberToFp16Bits(NaN)).toBe(0x7e00);
  });

  it('roundToFp16InPlace equals f16round of the fp32 value for 262,144 random values', () => {
    const n = 1 << 18;
    const rnd = mulberry32(7);
    const bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) bits[i] = rnd();
    const a = new Float32Array(bits.buffer);
    const before = Float32Array.from(a);
    const ret = roundToFp16InPlace(a);
    expect(ret).toBe(a);
    let firstBad = '';
    for (let i = 0; i < n && firstBad === ''; i++) {
      const want = f16round(before[i]);
      if (Number.isNaN(want) ? !Number.isNaN(a[i]) : !Object.is(a[i], want)) firstBad = `${before[i]}: ${a[i]} vs ${want}`;
    }
    expect(firstBad).toBe('');
  });

  it('roundToFp16InPlace only touches its own view', () => {
    const big = Float32Array.from([0.1, 0.1, 0.1, 0.1]);
    roundToFp16InPlace(big.subarray(1, 3));
    expect(big[0]).toBe(Math.fround(0.1));
    expect(big[1]).toBe(f16round(0.1));
    expect(big[2]).toBe(f16round(0.1));
    expect(big[3]).toBe(Math.fround(0.1));
  });
});
