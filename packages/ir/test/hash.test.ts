/**
 * WeightHash (ARCHITECTURE.md "Content hash"): SHA-256 of (dtype, shape, bytes). Equal
 * content → equal hash; same bytes under another dtype or shape → different hash; equal
 * hashes are confirmed by a byte compare (Tensor.contentEquals).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  DenseTensor,
  WeightHash,
  hashTensorBytes,
  stringTensor,
  type Tensor,
  tensorFromValues,
} from '../src/index.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

describe('hashTensorBytes', () => {
  it('is SHA-256 over the header `dtype[d0,d1,…]\\n` followed by the bytes', () => {
    const data = bytes(0x00, 0x3c, 0x00, 0x40);
    const want = createHash('sha256').update('fp16[2]\n').update(data).digest('hex');
    expect(hashTensorBytes('fp16', [2], data).hex).toBe(want);
    expect(hashTensorBytes('fp32', [], new Uint8Array(4)).hex).toBe(
      createHash('sha256').update('fp32[]\n').update(new Uint8Array(4)).digest('hex'),
    );
  });

  it('pins known digests (computed independently with sha256sum)', () => {
    // printf 'fp32[0]\n' | sha256sum
    expect(hashTensorBytes('fp32', [0], new Uint8Array(0)).hex).toBe(
      '9da687c6e7e9c72d849007d31aee77e23a6995dbdfdb55be3b9b5a542e0b94c1',
    );
    // (printf 'fp16[2]\n'; printf '\x00\x3c\x00\x40') | sha256sum — fp16 [1, 2]
    expect(tensorFromValues('fp16', [2], [1, 2]).hash().hex).toBe(
      'ed1fb27cdb2ce4dc169f75916eae2fe4ef01662e027903478ba1cca1fb922bcb',
    );
  });

  it('gives the same hash for one buffer or any split of it into chunks', () => {
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff);
    const whole = hashTensorBytes('uint8', [10, 100], data).hex;
    expect(hashTensorBytes('uint8', [10, 100], [data.subarray(0, 1), data.subarray(1, 999), data.subarray(999)]).hex).toBe(whole);
    expect(hashTensorBytes('uint8', [10, 100], [data.subarray(0, 500), new Uint8Array(0), data.subarray(500)]).hex).toBe(whole);
    function* gen(): Generator<Uint8Array> {
      for (let i = 0; i < data.length; i += 3) yield data.subarray(i, i + 3);
    }
    expect(hashTensorBytes('uint8', [10, 100], gen()).hex).toBe(whole);
  });

  it('differs when only the dtype differs (same bytes)', () => {
    const data = bytes(1, 2, 3, 4);
    const hashes = (['uint8', 'int8', 'bool', 'fp8e4m3fn'] as const).map((d) => hashTensorBytes(d, [4], data).hex);
    expect(new Set(hashes).size).toBe(4);
    expect(hashTensorBytes('fp16', [2], data).hex).not.toBe(hashTensorBytes('bf16', [2], data).hex);
    expect(hashTensorBytes('fp32', [1], data).hex).not.toBe(hashTensorBytes('int32', [1], data).hex);
  });

  it('differs when only the shape differs (same bytes, same dtype)', () => {
    const data = new Uint8Array(24);
    const shapes = [[24], [2, 12], [12, 2], [1, 24], [24, 1], [2, 3, 4], [4, 3, 2], [1, 2, 12]];
    const hashes = shapes.map((s) => hashTensorBytes('uint8', s, data).hex);
    expect(new Set(hashes).size).toBe(shapes.length);
    // dims are separated, so [1, 12] and [11, 2] and [112] cannot collide textually
    expect(hashTensorBytes('uint8', [1, 12], new Uint8Array(12)).hex).not.toBe(
      hashTensorBytes('uint8', [11, 2], new Uint8Array(12)).hex,
    );
    expect(hashTensorBytes('fp16', [], new Uint8Array(2)).hex).not.toBe(hashTensorBytes('fp16', [1], new Uint8Array(2)).hex);
  });

  it('differs when one byte differs', () => {
    const a = new Uint8Array(4096);
    const b = a.slice();
    b[4095] = 1;
    expect(hashTensorBytes('uint8', [4096], a).hex).not.toBe(hashTensorBytes('uint8', [4096], b).hex);
  });
});

describe('WeightHash', () => {
  it('prints as sha256:<hex> and a 16-digit short form', () => {
    const h = hashTensorBytes('fp16', [2], bytes(0, 0x3c, 0, 0x40));
    expect(h.toString()).toBe(`sha256:${h.hex}`);
    expect(h.short()).toBe(`sha256:${h.hex.slice(0, 16)}`);
    expect(h.short()).toHaveLength(7 + 16);
  });

  it('equals compares the digests', () => {
    const a = new WeightHash('ab'.repeat(32));
    expect(a.equals(new WeightHash('ab'.repeat(32)))).toBe(true);
    expect(a.equals(new WeightHash('cd'.repeat(32)))).toBe(false);
  });
});

describe('Tensor.hash and contentEquals', () => {
  it('equal content in different objects gives equal hashes and contentEquals', () => {
    const a = tensorFromValues('fp16', [2, 2], [1, 2, 3, 4]);
    const b = new DenseTensor('fp16', [2, 2], a.bytes().slice());
    expect(a).not.toBe(b);
    expect(a.hash().equals(b.hash())).toBe(true);
    expect(a.hash().hex).toBe(hashTensorBytes('fp16', [2, 2], a.bytes()).hex);
    expect(a.contentEquals(b)).toBe(true);
    expect(a.contentEquals(a)).toBe(true);
  });

  it('the hash is computed once and cached', () => {
    const a = tensorFromValues('int8', [3], [1, 2, 3]);
    expect(a.hash()).toBe(a.hash());
  });

  it('same bytes under another dtype or shape: different hash, not contentEquals', () => {
    const data = bytes(1, 2, 3, 4, 5, 6);
    const u8 = new DenseTensor('uint8', [6], data);
    const i8 = new DenseTensor('int8', [6], data);
    const u8b = new DenseTensor('uint8', [2, 3], data);
    const f16 = new DenseTensor('fp16', [3], data);
    expect(u8.hash().equals(i8.hash())).toBe(false);
    expect(u8.hash().equals(u8b.hash())).toBe(false);
    expect(u8.hash().equals(f16.hash())).toBe(false);
    expect(u8.contentEquals(i8)).toBe(false);
    expect(u8.contentEquals(u8b)).toBe(false);
    expect(u8.contentEquals(f16)).toBe(false);
  });

  it('different bytes: not contentEquals', () => {
    expect(tensorFromValues('fp32', [2], [1, 2]).contentEquals(tensorFromValues('fp32', [2], [1, 3]))).toBe(false);
    // -0 and +0 are different bytes, so different content
    expect(tensorFromValues('fp32', [1], [0]).contentEquals(tensorFromValues('fp32', [1], [-0]))).toBe(false);
  });

  it('contentEquals confirms equal hashes by comparing bytes', () => {
    // Simulate a hash collision: give b the hash of a. The byte compare must still say no.
    const a = tensorFromValues('fp32', [2], [1, 2]);
    const b = tensorFromValues('fp32', [2], [1, 3]);
    (b as unknown as { _hash: WeightHash })._hash = a.hash();
    expect(a.hash().equals(b.hash())).toBe(true);
    expect(a.contentEquals(b)).toBe(false);
    expect(b.contentEquals(a)).toBe(false);
  });

  it('contentEquals rejects on a hash mismatch before reading bytes', () => {
    const a = tensorFromValues('uint8', [2], [1, 2]);
    let bytesRead = 0;
    const b = new (class extends DenseTensor {
      override bytes(): Uint8Array {
        bytesRead++;
        return super.bytes();
      }
    })('uint8', [2], bytes(1, 3));
    b.hash();
    bytesRead = 0;
    expect(a.contentEquals(b)).toBe(false);
    expect(bytesRead).toBe(0);
  });

  it('sub-byte tensors hash their packed bytes', () => {
    const t = tensorFromValues('int4', [3], [-8, 7, -1]);
    expect(t.hash().hex).toBe(hashTensorBytes('int4', [3], bytes(0x78, 0x0f)).hex);
    expect(t.hash().equals(tensorFromValues('uint4', [3], [8, 7, 15]).hash())).toBe(false);
  });

  it('string tensors hash and compare their strings', () => {
    const a = stringTensor([2], ['a', 'bc']);
    const b = stringTensor([2], ['a', 'bc']);
    const c = stringTensor([2], ['ab', 'c']);
    expect(a.hash().equals(b.hash())).toBe(true);
    expect(a.hash().equals(c.hash())).toBe(false);
    expect(a.contentEquals(b)).toBe(true);
    expect(a.contentEquals(c)).toBe(false);
    const asTensor: Tensor = a;
    expect(asTensor.contentEquals(stringTensor([1, 2], ['a', 'bc']))).toBe(false);
  });
});
