/**
 * Sub-byte packing (mlpackage-format.md §11): the worked examples byte for byte, in both
 * directions, through the low-level packer and through tensors.
 */
import { describe, expect, it } from 'vitest';
import {
  DTYPE_INFO,
  DenseTensor,
  type DType,
  decodeValues,
  packSubByte,
  paddingBits,
  tensorFromValues,
  unpackSubByte,
} from '../src/index.js';

/** §11 worked examples: [dtype, values, bytes, padding bits]. */
const WORKED: ReadonlyArray<[DType, number[], number[], number]> = [
  ['uint2', [0, 3, 2, 1, 3], [0x6c, 0x03], 6],
  ['int4', [-8, 7, -1], [0x78, 0x0f], 4],
  ['uint4', [3, 10, 15], [0xa3, 0x0f], 4],
  ['uint3', [5, 1, 7], [0xcd, 0x01], 7],
  ['uint6', [63, 1], [0x7f, 0x00], 4],
  ['uint1', [1, 0, 1, 1, 0, 0, 0, 1, 1], [0x8d, 0x01], 7],
];

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('§11 worked examples', () => {
  it.each(WORKED)('%s %j ↔ %j (padding %i)', (dtype, values, bytes, pad) => {
    const nbits = DTYPE_INFO[dtype].bits;
    // values → bytes through tensorFromValues
    const t = tensorFromValues(dtype, [values.length], values);
    expect(hex(t.bytes())).toBe(hex(Uint8Array.from(bytes)));
    expect(t.byteLength).toBe(bytes.length);
    expect(paddingBits(values.length, nbits)).toBe(pad);
    // bytes → values through DenseTensor.values()
    const d = new DenseTensor(dtype, [values.length], Uint8Array.from(bytes));
    const back = d.values();
    expect(back).toBeInstanceOf(dtype === 'int4' ? Int8Array : Uint8Array);
    expect(Array.from(back as ArrayLike<number>)).toEqual(values);
    expect(d.toNumbers()).toEqual(values);
    // and the same through the low-level functions (int4 as its 4-bit pattern)
    const low = values.map((v) => v & ((1 << nbits) - 1));
    expect(Array.from(packSubByte(low, nbits))).toEqual(bytes);
    expect(Array.from(unpackSubByte(Uint8Array.from(bytes), nbits, values.length))).toEqual(low);
  });

  it('walks uint3 [5, 1, 7] bit by bit as §11 describes', () => {
    const [b0, b1] = packSubByte([5, 1, 7], 3);
    expect(b0 & 0b111).toBe(5); // element 0 in bits 0–2
    expect((b0 >> 3) & 0b111).toBe(1); // element 1 in bits 3–5
    expect(b0 >> 6).toBe(0b11); // low two bits of element 2 in bits 6–7
    expect(b1).toBe(0b1); // its top bit in bit 0 of byte 1
  });

  it('ignores nonzero padding bits when reading (readers must ignore them, §11)', () => {
    const d = new DenseTensor('uint3', [3], Uint8Array.from([0xcd, 0xff]));
    expect(Array.from(d.values() as Uint8Array)).toEqual([5, 1, 7]);
    const i4 = new DenseTensor('int4', [3], Uint8Array.from([0x78, 0xff]));
    expect(Array.from(i4.values() as Int8Array)).toEqual([-8, 7, -1]);
  });
});

describe('packSubByte / unpackSubByte', () => {
  /** Reference packer: one bit at a time, straight from the §11 definition. */
  function referencePack(values: number[], nbits: number): Uint8Array {
    const out = new Uint8Array(Math.ceil((values.length * nbits) / 8));
    values.forEach((v, i) => {
      for (let b = 0; b < nbits; b++) {
        const k = i * nbits + b;
        if ((v >> b) & 1) out[k >> 3] |= 1 << (k & 7);
      }
    });
    return out;
  }

  for (const nbits of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`round-trips and matches a bit-at-a-time reference for ${nbits}-bit elements at every length 0..67`, () => {
      let seed = nbits * 7919;
      for (let n = 0; n <= 67; n++) {
        const values = Array.from({ length: n }, () => {
          seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
          return (seed >>> 16) & ((1 << nbits) - 1);
        });
        const packed = packSubByte(values, nbits);
        expect(hex(packed), `n=${n}`).toBe(hex(referencePack(values, nbits)));
        expect(packed.byteLength).toBe(Math.ceil((n * nbits) / 8));
        expect(Array.from(unpackSubByte(packed, nbits, n)), `n=${n}`).toEqual(values);
        // unused high bits of the last byte are zero
        const pad = paddingBits(n, nbits);
        if (pad > 0) expect(packed[packed.length - 1] >> (8 - pad)).toBe(0);
      }
    });
  }

  it('packs the maximum value in every slot', () => {
    expect(hex(packSubByte(new Array(8).fill(7), 3))).toBe('ffffff');
    expect(hex(packSubByte(new Array(4).fill(63), 6))).toBe('ffffff');
    expect(hex(packSubByte(new Array(3).fill(63), 6))).toBe('ffff03');
  });

  it('rejects values that do not fit, negative or non-integral values', () => {
    expect(() => packSubByte([0, 4], 2)).toThrow('value 4 at index 1 does not fit in 2 bits');
    expect(() => packSubByte([8], 3)).toThrow('value 8 at index 0 does not fit in 3 bits');
    expect(() => packSubByte([64], 6)).toThrow('value 64 at index 0 does not fit in 6 bits');
    expect(() => packSubByte([2], 1)).toThrow('value 2 at index 0 does not fit in 1 bits');
    expect(() => packSubByte([-1], 4)).toThrow('value -1 at index 0 does not fit in 4 bits');
    expect(() => packSubByte([0.5], 4)).toThrow('value 0.5 at index 0 does not fit in 4 bits');
    expect(() => packSubByte([1.5], 3)).toThrow('value 1.5 at index 0 does not fit in 3 bits');
    expect(() => packSubByte([NaN], 2)).toThrow('value NaN at index 0 does not fit in 2 bits');
    expect(() => packSubByte([256], 8)).toThrow('value 256 at index 0 does not fit in 8 bits');
    expect(() => packSubByte([1.5], 8)).toThrow('value 1.5 at index 0 does not fit in 8 bits');
  });

  it('rejects bit widths outside 1..8', () => {
    expect(() => packSubByte([1], 0)).toThrow('cannot pack 0-bit elements');
    expect(() => packSubByte([1], 9)).toThrow('cannot pack 9-bit elements');
    expect(() => unpackSubByte(new Uint8Array(1), 16, 1)).toThrow('cannot unpack 16-bit elements');
  });

  it('rejects a byte buffer too short for the element count', () => {
    expect(() => unpackSubByte(new Uint8Array(1), 3, 3)).toThrow('3 3-bit elements need 2 bytes, got 1');
    expect(() => unpackSubByte(new Uint8Array(4), 4, 9)).toThrow('9 4-bit elements need 5 bytes, got 4');
  });

  it('unpacks from a subarray at a byte offset', () => {
    const buf = Uint8Array.from([0xee, 0xcd, 0x01]);
    expect(Array.from(unpackSubByte(buf.subarray(1), 3, 3))).toEqual([5, 1, 7]);
  });

  it('paddingBits is 8·ceil(count·bits/8) − count·bits', () => {
    expect(paddingBits(0, 3)).toBe(0);
    expect(paddingBits(8, 3)).toBe(0);
    expect(paddingBits(1, 1)).toBe(7);
    expect(paddingBits(10, 6)).toBe(4);
    expect(paddingBits(5, 8)).toBe(0);
  });
});

describe('sub-byte tensors: range checks', () => {
  const cases: ReadonlyArray<[DType, number, number]> = [
    ['uint1', 0, 1],
    ['uint2', 0, 3],
    ['uint3', 0, 7],
    ['uint4', 0, 15],
    ['uint6', 0, 63],
    ['int4', -8, 7],
  ];
  it.each(cases)('%s accepts %i..%i and rejects one past each end', (dtype, min, max) => {
    const all = Array.from({ length: max - min + 1 }, (_, i) => min + i);
    const t = tensorFromValues(dtype, [all.length], all);
    expect(Array.from(t.values() as ArrayLike<number>)).toEqual(all);
    expect(() => tensorFromValues(dtype, [1], [max + 1])).toThrow(
      `value ${max + 1} at index 0 is not a valid ${dtype} (range ${min}..${max})`,
    );
    expect(() => tensorFromValues(dtype, [2], [min, min - 1])).toThrow(
      `value ${min - 1} at index 1 is not a valid ${dtype} (range ${min}..${max})`,
    );
    expect(() => tensorFromValues(dtype, [1], [0.5])).toThrow(`value 0.5 at index 0 is not a valid ${dtype}`);
  });

  it('decodeValues sign-extends int4 nibbles', () => {
    const all = Uint8Array.from([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
    expect(Array.from(decodeValues('int4', all, 16) as Int8Array)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1,
    ]);
  });

  it('a multi-dimensional sub-byte tensor packs in row-major order', () => {
    const t = tensorFromValues('uint2', [2, 3], [1, 2, 3, 0, 1, 2]);
    // stream: 01 10 11 00 | 01 10 → byte0 = 0b00111001, byte1 = 0b1001
    expect(hex(t.bytes())).toBe('3909');
    expect(t.reshape([3, 2]).bytes()).toBe(t.bytes());
  });
});
