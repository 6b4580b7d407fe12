/**
 * Tensors: element encoding/decoding for every dtype, range checks, and the lazy
 * FileTensor (reads only its range, never caches, hashes in chunks, clear errors).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { f16round } from '@petamoriken/float16';

// Count every read the tensor module makes, passing it through to the real readSync.
const reads = vi.hoisted(() => ({ log: [] as Array<{ position: number; length: number }> }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const readSync = ((fd: number, buffer: NodeJS.ArrayBufferView, offset: number, length: number, position: number) => {
    reads.log.push({ position, length });
    return real.readSync(fd, buffer, offset, length, position);
  }) as typeof real.readSync;
  return { ...real, readSync, default: { ...real, readSync } };
});

import {
  DenseTensor,
  FileTensor,
  decodeToFloat32,
  decodeValues,
  fromFloat32,
  hashTensorBytes,
  readRange,
  scalar,
  stringTensor,
  tensorFromValues,
  zeros,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'silica-tensor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  reads.log.length = 0;
});

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A file of `prefix` bytes 0xAA, then `body`, then `suffix` bytes 0xBB. */
function fileWith(name: string, prefix: number, body: Uint8Array, suffix: number): string {
  const path = join(dir, name);
  const all = new Uint8Array(prefix + body.byteLength + suffix);
  all.fill(0xaa, 0, prefix);
  all.set(body, prefix);
  all.fill(0xbb, prefix + body.byteLength);
  writeFileSync(path, all);
  return path;
}

describe('tensorFromValues ↔ values() for every numeric dtype', () => {
  it('fp32 and fp64 store IEEE little-endian values', () => {
    const f = tensorFromValues('fp32', [3], [1, -2.5, 0.1]);
    expect(hex(f.bytes())).toBe('0000803f000020c0cdcccc3d');
    expect(Array.from(f.values() as Float32Array)).toEqual([1, -2.5, Math.fround(0.1)]);
    const d = tensorFromValues('fp64', [2], [0.1, -1]);
    expect(hex(d.bytes())).toBe('9a9999999999b93f000000000000f0bf');
    expect(Array.from(d.values() as Float64Array)).toEqual([0.1, -1]);
  });

  it('fp16 rounds to nearest even and stores raw bits', () => {
    const t = tensorFromValues('fp16', [2, 2], [1, 65519.99, 0.1, 2 ** -25]);
    expect(Array.from(t.values() as Uint16Array)).toEqual([0x3c00, 0x7bff, 0x2e66, 0x0000]);
    expect(t.toNumbers()).toEqual([1, 65504, f16round(0.1), 0]);
    expect(hex(t.bytes())).toBe('003cff7b662e0000');
    // a Float32Array source goes straight to the bulk converter
    expect(hex(tensorFromValues('fp16', [2], Float32Array.of(1, 65520)).bytes())).toBe('003c007c');
  });

  it('bf16 keeps the top 16 bits of fp32, rounded to nearest even', () => {
    const t = tensorFromValues('bf16', [4], [1, -2, 1 + 2 ** -8, 1 + 3 * 2 ** -8]);
    // 1 + 2^-8 is a tie → 1 (even); 1 + 3·2^-8 is a tie → 1 + 2^-6 (even)
    expect(Array.from(t.values() as Uint16Array)).toEqual([0x3f80, 0xc000, 0x3f80, 0x3f82]);
    expect(Array.from(t.toFloat32())).toEqual([1, -2, 1, 1 + 2 ** -6]);
    const nan = tensorFromValues('bf16', [1], [NaN]);
    expect((nan.values() as Uint16Array)[0]).toBe(0x7fc0);
  });

  it('integers of 8, 16 and 32 bits use their two\'s-complement / unsigned little-endian bytes', () => {
    expect(hex(tensorFromValues('int8', [3], [-128, 127, -1]).bytes())).toBe('807fff');
    expect(hex(tensorFromValues('uint8', [2], [0, 255]).bytes())).toBe('00ff');
    expect(hex(tensorFromValues('int16', [2], [-32768, 258]).bytes())).toBe('00800201');
    expect(hex(tensorFromValues('uint16', [1], [65535]).bytes())).toBe('ffff');
    expect(hex(tensorFromValues('int32', [2], [-2147483648, 1]).bytes())).toBe('0000008001000000');
    expect(hex(tensorFromValues('uint32', [1], [4294967295]).bytes())).toBe('ffffffff');
    expect(Array.from(tensorFromValues('uint32', [2], [4294967295, 7]).values() as Uint32Array)).toEqual([4294967295, 7]);
    expect(Array.from(tensorFromValues('int16', [2], [-32768, 32767]).values() as Int16Array)).toEqual([-32768, 32767]);
    expect(Array.from(tensorFromValues('int8', [2], [-128, 127]).values() as Int8Array)).toEqual([-128, 127]);
  });

  it('int64 and uint64 take bigints or integral numbers and come back as bigints', () => {
    const i = tensorFromValues('int64', [3], [-(2n ** 63n), 2n ** 63n - 1n, -1n]);
    expect(Array.from(i.values() as BigInt64Array)).toEqual([-(2n ** 63n), 2n ** 63n - 1n, -1n]);
    expect(hex(i.bytes())).toBe('0000000000000080ffffffffffffff7fffffffffffffffff');
    const u = tensorFromValues('uint64', [2], [2n ** 64n - 1n, 5n]);
    expect(Array.from(u.values() as BigUint64Array)).toEqual([2n ** 64n - 1n, 5n]);
    expect(Array.from(u.toFloat64())).toEqual([2 ** 64, 5]);
    expect(tensorFromValues('int64', [2], [-3, 2 ** 53]).toNumbers()).toEqual([-3, 2 ** 53]);
  });

  it('bool stores one byte per element, 0 or 1', () => {
    const b = tensorFromValues('bool', [4], [true, false, true, true]);
    expect(hex(b.bytes())).toBe('01000101');
    expect(b.toNumbers()).toEqual([1, 0, 1, 1]);
    expect(scalar('bool', true).toNumbers()).toEqual([1]);
  });

  it('rejects out-of-range and non-integral integers, naming the value, index, dtype and range', () => {
    const bad: Array<[Parameters<typeof tensorFromValues>[0], number, string]> = [
      ['int8', 128, '-128..127'],
      ['int8', -129, '-128..127'],
      ['uint8', -1, '0..255'],
      ['uint8', 256, '0..255'],
      ['int16', 32768, '-32768..32767'],
      ['uint16', 65536, '0..65535'],
      ['int32', 2 ** 31, '-2147483648..2147483647'],
      ['uint32', 2 ** 32, '0..4294967295'],
      ['uint32', -1, '0..4294967295'],
      ['int8', 1.5, '-128..127'],
      ['int32', NaN, '-2147483648..2147483647'],
    ];
    for (const [dtype, v, range] of bad) {
      expect(() => tensorFromValues(dtype, [2], [0, v]), `${dtype} ${v}`).toThrow(
        `value ${v} at index 1 is not a valid ${dtype} (range ${range})`,
      );
    }
  });

  it('rejects 64-bit values outside the exact bigint range instead of wrapping', () => {
    expect(() => tensorFromValues('int64', [1], [2n ** 63n])).toThrow(
      'value 9223372036854775808 at index 0 is not a valid int64 (range -9223372036854775808..9223372036854775807)',
    );
    expect(() => tensorFromValues('int64', [1], [-(2n ** 63n) - 1n])).toThrow('is not a valid int64');
    expect(() => tensorFromValues('uint64', [2], [0, -1])).toThrow(
      'value -1 at index 1 is not a valid uint64 (range 0..18446744073709551615)',
    );
    expect(() => tensorFromValues('uint64', [1], [2n ** 64n])).toThrow('is not a valid uint64');
    expect(() => tensorFromValues('int64', [1], [0.5])).toThrow('value 0.5 at index 0 is not a valid int64');
  });

  it('rejects a value count that does not match the shape', () => {
    expect(() => tensorFromValues('fp32', [2, 3], [1, 2, 3])).toThrow('tensor of shape [2, 3] needs 6 values, got 3');
  });

  it('refuses to build string and fp8 tensors from numbers', () => {
    expect(() => tensorFromValues('string', [1], [1])).toThrow(/use new DenseTensor\("string"/);
    expect(() => tensorFromValues('fp8e4m3fn', [1], [1])).toThrow(
      'building fp8e4m3fn tensors from numbers is not supported; pass raw bytes to DenseTensor',
    );
  });
});

describe('decoding', () => {
  it('decodes fp8 e4m3fn and e5m2 (subnormal, max, NaN, inf)', () => {
    const e4 = new DenseTensor('fp8e4m3fn', [6], Uint8Array.from([0x00, 0x01, 0x38, 0x7e, 0xfe, 0x7f]));
    const f4 = e4.toFloat32();
    expect(Array.from(f4.subarray(0, 5))).toEqual([0, 2 ** -9, 1, 448, -448]);
    expect(f4[5]).toBeNaN();
    const e5 = new DenseTensor('fp8e5m2', [6], Uint8Array.from([0x01, 0x3c, 0x7b, 0x7c, 0xfc, 0x7d]));
    const f5 = e5.toFloat32();
    expect(Array.from(f5.subarray(0, 5))).toEqual([2 ** -16, 1, 57344, Infinity, -Infinity]);
    expect(f5[5]).toBeNaN();
    expect(Array.from(e5.values() as Uint8Array)).toEqual([0x01, 0x3c, 0x7b, 0x7c, 0xfc, 0x7d]);
  });

  it('decodes 2- and 4-byte elements from a buffer at an unaligned byte offset', () => {
    const raw = Uint8Array.from([0xee, 0x00, 0x3c, 0x00, 0xc0]);
    expect(Array.from(decodeToFloat32('fp16', raw.subarray(1), 2))).toEqual([1, -2]);
    const f = Uint8Array.from([0xee, ...new Uint8Array(Float32Array.of(1.5, -3).buffer)]);
    expect(Array.from(decodeValues('fp32', f.subarray(1), 2) as Float32Array)).toEqual([1.5, -3]);
    const t = new DenseTensor('int16', [2], Uint8Array.from([0, 0xff, 0xff, 0x01, 0x00]).subarray(1));
    expect(t.toNumbers()).toEqual([-1, 1]);
  });

  it('toFloat32 converts every integer dtype and bool', () => {
    expect(Array.from(tensorFromValues('int4', [3], [-8, 7, -1]).toFloat32())).toEqual([-8, 7, -1]);
    expect(Array.from(tensorFromValues('uint32', [1], [4294967295]).toFloat32())).toEqual([4294967296]);
    expect(Array.from(tensorFromValues('bool', [2], [true, false]).toFloat32())).toEqual([1, 0]);
    expect(Array.from(tensorFromValues('int64', [1], [-5n]).toFloat32())).toEqual([-5]);
  });

  it('toFloat64 of fp16, bf16 and fp8 gives numbers, not bit patterns', () => {
    expect(Array.from(tensorFromValues('fp16', [3], [1.5, -2, 65504]).toFloat64())).toEqual([1.5, -2, 65504]);
    expect(Array.from(tensorFromValues('bf16', [2], [1, -0.5]).toFloat64())).toEqual([1, -0.5]);
    expect(Array.from(new DenseTensor('fp8e4m3fn', [2], Uint8Array.from([0x38, 0x7e])).toFloat64())).toEqual([1, 448]);
    expect(Array.from(tensorFromValues('int32', [2], [-7, 2147483647]).toFloat64())).toEqual([-7, 2147483647]);
  });

  it('toFloat32 of an fp32 tensor is a copy', () => {
    const t = tensorFromValues('fp32', [2], [1, 2]);
    const f = t.toFloat32();
    f[0] = 99;
    expect(t.toNumbers()).toEqual([1, 2]);
  });
});

describe('DenseTensor', () => {
  it('checks the byte length against dtype and shape', () => {
    expect(() => new DenseTensor('fp16', [3], new Uint8Array(5))).toThrow('fp16 tensor of shape [3] needs 6 bytes, got 5');
    expect(() => new DenseTensor('uint3', [3], new Uint8Array(1))).toThrow('uint3 tensor of shape [3] needs 2 bytes, got 1');
  });

  it('rejects negative and fractional dims', () => {
    expect(() => new DenseTensor('fp32', [2, -1], new Uint8Array(0))).toThrow('invalid tensor dim -1 in shape [2, -1]');
    expect(() => new DenseTensor('fp32', [1.5], new Uint8Array(6))).toThrow('invalid tensor dim 1.5 in shape [1.5]');
    expect(() => zeros('fp32', [1.5])).toThrow('invalid tensor dim 1.5 in shape [1.5]');
  });

  it('has size, rank, byteLength and is not lazy', () => {
    const t = zeros('uint6', [2, 3, 5]);
    expect(t.size).toBe(30);
    expect(t.rank).toBe(3);
    expect(t.byteLength).toBe(23);
    expect(t.isLazy).toBe(false);
    expect(t.toDense()).toBe(t);
    expect(scalar('fp32', 2).shape).toEqual([]);
    expect(scalar('fp32', 2).size).toBe(1);
  });

  it('reshape keeps the bytes and checks the element count', () => {
    const t = tensorFromValues('fp32', [2, 3], [1, 2, 3, 4, 5, 6]);
    const r = t.reshape([3, 2]);
    expect(r.shape).toEqual([3, 2]);
    expect(r.bytes()).toBe(t.bytes());
    expect(() => t.reshape([4, 2])).toThrow('cannot reshape [2, 3] to [4, 2]');
  });

  it('copies its shape so later changes to the caller\'s array do not leak in', () => {
    const shape = [2, 2];
    const t = zeros('fp32', shape);
    shape[0] = 5;
    expect(t.shape).toEqual([2, 2]);
  });

  it('string tensors hold strings, not bytes', () => {
    const s = stringTensor([2], ['a', 'bc']);
    expect(s.strings()).toEqual(['a', 'bc']);
    expect(scalar('string', 'EXACT').strings()).toEqual(['EXACT']);
    expect(() => stringTensor([3], ['a'])).toThrow('string tensor of shape [3] needs 3 strings');
    expect(() => s.values()).toThrow('string tensors have no numeric values');
    expect(() => zeros('fp32', [1]).strings()).toThrow('tensor of dtype fp32 has no string elements');
  });

  it('fromFloat32 stores fp32 without copying, converts fp16, and checks integer ranges', () => {
    const f = Float32Array.of(1, 2, 3, 4);
    const t = fromFloat32('fp32', [4], f);
    expect(t.bytes().buffer).toBe(f.buffer);
    expect(Array.from(fromFloat32('fp16', [2], Float32Array.of(1, -2)).values() as Uint16Array)).toEqual([0x3c00, 0xc000]);
    expect(fromFloat32('int8', [2], Float32Array.of(3, -4)).toNumbers()).toEqual([3, -4]);
    expect(() => fromFloat32('uint4', [1], Float32Array.of(16))).toThrow('value 16 at index 0 is not a valid uint4');
    expect(() => fromFloat32('fp32', [3], f)).toThrow('need 3 values, got 4');
  });
});

describe('FileTensor', () => {
  const body = new Uint8Array(Float32Array.of(1, -2, 3.5, 0.25, 1e6, -0).buffer); // 24 bytes
  const path = fileWith('six-fp32.bin', 1000, body, 500);

  it('reads exactly its range: the bytes between the surrounding junk', () => {
    const t = new FileTensor('fp32', [2, 3], path, 1000, 24);
    expect(t.isLazy).toBe(true);
    reads.log.length = 0;
    expect(hex(t.bytes())).toBe(hex(body));
    expect(Array.from(t.values() as Float32Array)).toEqual([1, -2, 3.5, 0.25, 1e6, -0]);
    // every read stayed inside [1000, 1024) and the bytes read add up to two full reads
    expect(reads.log.length).toBeGreaterThan(0);
    for (const r of reads.log) {
      expect(r.position).toBeGreaterThanOrEqual(1000);
      expect(r.position + r.length).toBeLessThanOrEqual(1024);
    }
    expect(reads.log.reduce((a, r) => a + r.length, 0)).toBe(48);
  });

  it('does not cache bytes: each call reads the file again and sees its current content', () => {
    const p = fileWith('changing.bin', 8, Uint8Array.from([1, 2, 3, 4]), 8);
    const t = new FileTensor('uint8', [4], p, 8, 4);
    expect(Array.from(t.bytes())).toEqual([1, 2, 3, 4]);
    fileWith('changing.bin', 8, Uint8Array.from([9, 9, 9, 9]), 8);
    expect(Array.from(t.bytes())).toEqual([9, 9, 9, 9]);
  });

  it('a sub-byte range decodes like the in-memory tensor', () => {
    const p = fileWith('uint3.bin', 3, Uint8Array.from([0xcd, 0x01]), 3);
    const t = new FileTensor('uint3', [3], p, 3, 2);
    expect(Array.from(t.values() as Uint8Array)).toEqual([5, 1, 7]);
    expect(t.toDense()).toBeInstanceOf(DenseTensor);
    expect(t.toDense().contentEquals(tensorFromValues('uint3', [3], [5, 1, 7]))).toBe(true);
  });

  it('hashes equal to a DenseTensor with the same dtype, shape and bytes', () => {
    const t = new FileTensor('fp32', [2, 3], path, 1000, 24);
    const d = new DenseTensor('fp32', [2, 3], body.slice());
    expect(t.hash().hex).toBe(d.hash().hex);
    expect(t.hash().hex).toBe(hashTensorBytes('fp32', [2, 3], body).hex);
    expect(t.contentEquals(d)).toBe(true);
    expect(d.contentEquals(t)).toBe(true);
  });

  it('streams its hash in chunks; every chunk size gives the same hash', () => {
    // 20,011 bytes (a prime) so chunks never divide evenly
    const big = new Uint8Array(20_011);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    const p = fileWith('big.bin', 77, big, 13);
    const t = new FileTensor('uint8', [big.length], p, 77, big.length);
    const want = hashTensorBytes('uint8', [big.length], big).hex;
    reads.log.length = 0;
    expect(t.hash().hex).toBe(want);
    for (const chunk of [1, 7, 4096, 20_010, 20_011, 1 << 20]) {
      const sizes: number[] = [];
      const chunks = (function* () {
        for (const c of t.chunks(chunk)) {
          sizes.push(c.byteLength);
          yield c;
        }
      })();
      expect(hashTensorBytes('uint8', [big.length], chunks).hex, `chunk ${chunk}`).toBe(want);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(big.length);
      expect(Math.max(...sizes)).toBe(Math.min(chunk, big.length));
    }
  });

  it('caches the hash: hashing twice reads the file once', () => {
    const t = new FileTensor('fp32', [6], path, 1000, 24);
    reads.log.length = 0;
    const h1 = t.hash();
    const n = reads.log.length;
    expect(t.hash()).toBe(h1);
    expect(reads.log.length).toBe(n);
  });

  it('a truncated file gives an error naming the path and the offset', () => {
    const p = fileWith('short.bin', 16, new Uint8Array(10), 0); // 26 bytes
    const t = new FileTensor('fp16', [8], p, 16, 16); // wants bytes 16..32
    const msg = `${p}: unexpected end of file at byte 26 while reading 16 bytes at offset 16 (the range ends at byte 32)`;
    expect(() => t.bytes()).toThrow(msg);
    expect(() => t.hash()).toThrow(msg);
    expect(() => [...t.chunks(4)]).toThrow(msg);
    expect(() => readRange(p, 20, new Uint8Array(8))).toThrow(`${p}: unexpected end of file at byte 26 while reading 8 bytes at offset 20`);
  });

  it('a missing file names the path', () => {
    const p = join(dir, 'no-such-file.bin');
    expect(() => new FileTensor('uint8', [1], p, 0, 1).bytes()).toThrow(p);
  });

  it('checks the byte length and offset when built', () => {
    expect(() => new FileTensor('fp16', [4], path, 0, 7)).toThrow(
      `fp16 tensor of shape [4] needs 8 bytes, but ${path} holds 7 at offset 0`,
    );
    expect(() => new FileTensor('fp16', [4], path, -1, 8)).toThrow(`invalid file offset -1 for ${path}`);
    expect(() => new FileTensor('string', [1], path, 0, 0)).toThrow('string tensors cannot be file-backed');
  });

  it('reshape stays lazy and points at the same range', () => {
    const t = new FileTensor('fp32', [2, 3], path, 1000, 24).reshape([6]);
    expect(t).toBeInstanceOf(FileTensor);
    expect((t as FileTensor).offset).toBe(1000);
    expect(t.toNumbers()).toEqual([1, -2, 3.5, 0.25, 1e6, -0]);
  });

  it('does not touch the file until asked', () => {
    reads.log.length = 0;
    const t = new FileTensor('fp32', [6], join(dir, 'not-yet-written.bin'), 0, 24);
    expect(t.byteLength).toBe(24);
    expect(reads.log).toEqual([]);
    expect(fs.existsSync(join(dir, 'not-yet-written.bin'))).toBe(false);
  });
});
