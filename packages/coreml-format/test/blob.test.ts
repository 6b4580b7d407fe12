/**
 * Blob storage v2 (mlpackage-format.md §10): the §10.6 worked example byte for byte,
 * round trips of every blob dtype, the reader's checks on corrupted files, and offsets
 * past 4 GiB (a sparse file: nothing close to 4 GiB is written).
 */
import { closeSync, openSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DTYPE_INFO, type DType, DenseTensor, FileTensor, packSubByte, readRange, tensorFromValues } from '@silica/ir';
import {
  BLOB_SENTINEL,
  BlobReader,
  BlobWriter,
  align64,
  blobDTypes,
  decodeBlobMetadata,
  decodeStorageHeader,
  encodeBlobMetadata,
  encodeStorageHeader,
} from '../src/index.js';
import { formatError, hexBytes, tempDir } from './helpers.js';

const tmp = tempDir('blob');
afterAll(() => tmp.cleanup());
let fileNo = 0;
const newPath = (): string => join(tmp.dir, `weight-${fileNo++}.bin`);

/** The file of §10.6, transcribed from the reference's hex dump. */
function section106Bytes(): Uint8Array {
  const out = new Uint8Array(258);
  out.set(hexBytes('02 00 00 00 02 00 00 00'), 0x00);
  out.set(hexBytes('ef be ad de 01 00 00 00 14 00 00 00 00 00 00 00'), 0x40);
  out.set(hexBytes('80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00'), 0x50);
  out.set(hexBytes('00 00 00 3c 00 40 00 42 00 44 00 45 00 46 00 47'), 0x80);
  out.set(hexBytes('00 48 80 48'), 0x90);
  out.set(hexBytes('ef be ad de 08 00 00 00 02 00 00 00 00 00 00 00'), 0xc0);
  out.set(hexBytes('00 01 00 00 00 00 00 00 04 00 00 00 00 00 00 00'), 0xd0);
  out.set(hexBytes('78 0f'), 0x100);
  return out;
}

describe('§10.6 worked example', () => {
  it('the writer produces it byte for byte', () => {
    const path = newPath();
    const w = BlobWriter.create(path);
    const fp16 = tensorFromValues('fp16', [10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const int4 = tensorFromValues('int4', [3], [-8, 7, -1]);
    expect(w.append('fp16', [10], fp16.bytes())).toBe(64);
    expect(w.append('int4', [3], int4.bytes())).toBe(192);
    expect(w.count).toBe(2);
    expect(w.size).toBe(258);
    w.close();
    const bytes = readFileSync(path);
    expect(bytes.byteLength).toBe(258); // EOF at 258: no padding after the last blob
    expect(Buffer.from(bytes).equals(Buffer.from(section106Bytes()))).toBe(true);
  });

  it('the reader reads it back', () => {
    const path = newPath();
    writeFileSync(path, section106Bytes());
    const r = BlobReader.open(path);
    try {
      expect(r.count).toBe(2);
      expect(r.fileSize).toBe(258);
      const entries = [...r.entries()];
      expect(entries).toEqual([
        { metadataOffset: 64, dtype: 'fp16', blobCode: 1, sizeInBytes: 20, dataOffset: 128, paddingBits: 0, elementCount: 10 },
        { metadataOffset: 192, dtype: 'int4', blobCode: 8, sizeInBytes: 2, dataOffset: 256, paddingBits: 4, elementCount: 3 },
      ]);
      const a = r.tensorAt(64, 'fp16', [10]);
      expect(a).toBeInstanceOf(FileTensor);
      expect(a.isLazy).toBe(true);
      expect(a.toNumbers()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const b = r.tensorAt(192n, 'int4', [3]);
      expect(b.toNumbers()).toEqual([-8, 7, -1]);
      expect(Array.from(b.bytes())).toEqual([0x78, 0x0f]);
    } finally {
      r.close();
    }
  });
});

/** Deterministic pseudo-random bytes (xorshift32). */
function pseudoRandom(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Stored bytes of `count` elements of `dtype` (sub-byte: packed, high bits of the last byte zero). */
function sampleBytes(dtype: DType, count: number, seed: number): Uint8Array {
  const info = DTYPE_INFO[dtype];
  const raw = pseudoRandom(info.subByte ? count : (count * info.bits) / 8, seed);
  if (!info.subByte) return raw;
  return packSubByte(Uint8Array.from(raw, (v) => v & ((1 << info.bits) - 1)), info.bits);
}

describe('BlobWriter / BlobReader round trip', () => {
  it('covers all 17 blob dtypes, in code order', () => {
    expect(blobDTypes()).toEqual([
      'fp16', 'fp32', 'uint8', 'int8', 'bf16', 'int16', 'uint16', 'int4', 'uint1',
      'uint2', 'uint4', 'uint3', 'uint6', 'int32', 'uint32', 'fp8e4m3fn', 'fp8e5m2',
    ]);
  });

  it('every blob dtype, with sub-byte padding, alignment and no trailing padding', () => {
    const path = newPath();
    const w = BlobWriter.create(path);
    const count = 13; // odd: every sub-byte width leaves padding bits
    const written: { dtype: DType; offset: number; bytes: Uint8Array }[] = [];
    blobDTypes().forEach((dtype, i) => {
      const bytes = sampleBytes(dtype, count, i + 1);
      const offset = w.append(dtype, [count], bytes);
      expect(offset % 64).toBe(0);
      written.push({ dtype, offset, bytes });
    });
    const end = w.size;
    w.close();
    expect(statSync(path).size).toBe(end);
    const last = written[written.length - 1];
    expect(end).toBe(last.offset + 64 + last.bytes.byteLength);

    const expectedPadding: Partial<Record<DType, number>> = { int4: 4, uint1: 3, uint2: 6, uint3: 1, uint4: 4, uint6: 2 };
    const r = BlobReader.open(path);
    try {
      expect(r.count).toBe(written.length);
      const entries = [...r.entries()];
      expect(entries.map((e) => e.metadataOffset)).toEqual(written.map((x) => x.offset));
      for (const [i, { dtype, offset, bytes }] of written.entries()) {
        const meta = entries[i];
        expect(meta.dtype).toBe(dtype);
        expect(meta.blobCode).toBe(DTYPE_INFO[dtype].blobCode);
        expect(meta.dataOffset).toBe(offset + 64);
        expect(meta.sizeInBytes).toBe(bytes.byteLength);
        expect(meta.paddingBits).toBe(expectedPadding[dtype] ?? 0);
        expect(meta.elementCount).toBe(count);
        const t = r.tensorAt(offset, dtype, [count]);
        expect(Buffer.from(t.bytes()).equals(Buffer.from(bytes))).toBe(true);
        // the gap before every record after the first is zeros
        if (i > 0) {
          const prevEnd = written[i - 1].offset + 64 + written[i - 1].bytes.byteLength;
          const gap = new Uint8Array(offset - prevEnd);
          readRange(path, prevEnd, gap);
          expect(gap.every((b) => b === 0)).toBe(true);
        }
      }
    } finally {
      r.close();
    }
  });

  it('§11 packing table: sizes and padding_size_in_bits of each example', () => {
    const table: [DType, number[], string, number][] = [
      ['uint2', [0, 3, 2, 1, 3], '6c 03', 6],
      ['int4', [-8, 7, -1], '78 0f', 4],
      ['uint4', [3, 10, 15], 'a3 0f', 4],
      ['uint3', [5, 1, 7], 'cd 01', 7],
      ['uint6', [63, 1], '7f 00', 4],
      ['uint1', [1, 0, 1, 1, 0, 0, 0, 1, 1], '8d 01', 7],
    ];
    const path = newPath();
    const w = BlobWriter.create(path);
    const offsets = table.map(([dtype, values]) => w.appendTensor(tensorFromValues(dtype, [values.length], values)));
    w.close();
    const r = BlobReader.open(path);
    try {
      table.forEach(([dtype, values, hex, padding], i) => {
        const meta = r.readMetadata(offsets[i]);
        expect(meta.paddingBits).toBe(padding);
        const t = r.tensorAt(offsets[i], dtype, [values.length]);
        expect(Array.from(t.bytes())).toEqual(Array.from(hexBytes(hex)));
        expect(t.toNumbers()).toEqual(values);
      });
    } finally {
      r.close();
    }
  });

  it('streams chunks, and copies a FileTensor chunk by chunk', () => {
    const src = newPath();
    const data = pseudoRandom(3000, 7);
    const w = BlobWriter.create(src);
    const chunks = [data.subarray(0, 1), data.subarray(1, 1000), data.subarray(1000, 1000), data.subarray(1000)];
    const off = w.append('fp16', [30, 50], chunks);
    w.close();
    const r = BlobReader.open(src);
    const t = r.tensorAt(off, 'fp16', [30, 50]);
    r.close();
    const dst = newPath();
    const w2 = BlobWriter.create(dst);
    w2.append('uint8', 5, Uint8Array.of(1, 2, 3, 4, 5));
    let chunkCalls = 0;
    const copied = w2.append('fp16', [30, 50], (function* () {
      for (const c of t.chunks(256)) {
        chunkCalls++;
        yield c;
      }
    })());
    w2.close();
    expect(chunkCalls).toBe(Math.ceil(3000 / 256));
    expect(copied).toBe(192);
    const r2 = BlobReader.open(dst);
    expect(Buffer.from(r2.tensorAt(copied, 'fp16', [30, 50]).bytes()).equals(Buffer.from(data))).toBe(true);
    r2.close();
  });

  it('appendTensor streams a FileTensor and writes a DenseTensor', () => {
    const path = newPath();
    const w = BlobWriter.create(path);
    const dense = tensorFromValues('int8', [2, 6], [-1, 2, -3, 4, -5, 6, -7, 8, -9, 10, -11, 12]);
    const a = w.appendTensor(dense);
    w.close();
    const r = BlobReader.open(path);
    const lazy = r.tensorAt(a, 'int8', [2, 6]);
    r.close();
    const path2 = newPath();
    const w2 = BlobWriter.create(path2);
    const b = w2.appendTensor(lazy);
    w2.close();
    expect(readFileSync(path2).equals(readFileSync(path))).toBe(true);
    const r2 = BlobReader.open(path2);
    expect(r2.tensorAt(b, 'int8', [2, 6]).contentEquals(dense)).toBe(true);
    r2.close();
  });

  it('zeroes the unused high bits of the last sub-byte byte (§11)', () => {
    const path = newPath();
    const w = BlobWriter.create(path);
    const input = Uint8Array.of(0xa3, 0xff); // uint4 [3, 10, 15] with garbage in the high nibble
    const off = w.append('uint4', [3], input);
    w.close();
    expect(Array.from(input)).toEqual([0xa3, 0xff]); // the caller's buffer is not modified
    const r = BlobReader.open(path);
    expect(Array.from(r.tensorAt(off, 'uint4', [3]).bytes())).toEqual([0xa3, 0x0f]);
    r.close();
  });

  it('an empty writer is just the header; zero-element blobs are allowed', () => {
    const path = newPath();
    const w = BlobWriter.create(path);
    expect(readFileSync(path)).toEqual(Buffer.from(encodeStorageHeader(0)));
    const off = w.append('fp32', [0, 4], new Uint8Array(0));
    w.close();
    expect(off).toBe(64);
    expect(statSync(path).size).toBe(128);
    const r = BlobReader.open(path);
    const t = r.tensorAt(64, 'fp32', [0, 4]);
    expect(t.byteLength).toBe(0);
    expect([...r.entries()]).toHaveLength(1);
    r.close();
  });

  it('openForAppend continues a file after its last blob', () => {
    const path = newPath();
    writeFileSync(path, section106Bytes());
    const w = BlobWriter.openForAppend(path);
    expect(w.count).toBe(2);
    expect(w.nextOffset).toBe(320);
    expect(w.append('uint8', [3], Uint8Array.of(9, 8, 7))).toBe(320);
    w.close();
    const bytes = readFileSync(path);
    const before = Buffer.from(section106Bytes());
    before[0] = 3; // storage_header.count 2 → 3, everything else unchanged
    expect(bytes.subarray(0, 258).equals(before)).toBe(true);
    expect(decodeStorageHeader(bytes).count).toBe(3);
    const r = BlobReader.open(path);
    expect([...r.entries()].map((e) => e.metadataOffset)).toEqual([64, 192, 320]);
    r.close();
  });
});

describe('BlobWriter errors', () => {
  it('refuses dtypes without a blob code', () => {
    const path = newPath();
    const w = BlobWriter.create(path);
    for (const dtype of ['int64', 'bool', 'fp64', 'uint64', 'string'] as const) {
      const e = formatError(() => w.append(dtype, [1], new Uint8Array(8)));
      expect(e.file).toBe(path);
      expect(e.message).toContain(`expected a dtype that has a blob storage code (§10.4)`);
      expect(e.found).toBe(dtype);
    }
    w.close();
  });

  it('wrong data length: error, file rolled back, writer still usable', () => {
    const path = newPath();
    const w = BlobWriter.create(path);
    w.append('fp16', [3], new Uint8Array(6));
    const short = formatError(() => w.append('fp32', [4], [new Uint8Array(10)]));
    expect(short.message).toMatch(/expected 16 data bytes for 4 fp32 elements, found 10 bytes$/);
    expect(short.where).toBe(192 + 64 + 10);
    const long = formatError(() => w.append('fp32', [4], [new Uint8Array(12), new Uint8Array(8)]));
    expect(long.message).toMatch(/expected 16 data bytes for 4 fp32 elements, found at least 20 bytes$/);
    expect(statSync(path).size).toBe(134);
    expect(decodeStorageHeader(readFileSync(path)).count).toBe(1);
    expect(w.append('fp32', [4], new Uint8Array(16))).toBe(192);
    w.close();
    const r = BlobReader.open(path);
    expect([...r.entries()].map((e) => [e.metadataOffset, e.dtype])).toEqual([[64, 'fp16'], [192, 'fp32']]);
    r.close();
  });

  it('refuses bad shapes and a closed writer', () => {
    const path = newPath();
    const w = BlobWriter.create(path);
    expect(formatError(() => w.append('fp16', [2, -1], new Uint8Array(0))).message).toMatch(/expected a static shape of non-negative integer dims, found \[2, -1\]/);
    expect(formatError(() => w.append('fp16', 1.5, new Uint8Array(3))).message).toMatch(/non-negative safe integer/);
    w.close();
    expect(formatError(() => w.append('fp16', [1], new Uint8Array(2))).message).toMatch(/expected an open BlobWriter/);
  });

  it('openForAppend refuses a file with bytes after its last blob', () => {
    const path = newPath();
    const bytes = new Uint8Array(300);
    bytes.set(section106Bytes());
    writeFileSync(path, bytes);
    const e = formatError(() => BlobWriter.openForAppend(path));
    expect(e.where).toBe(258);
    expect(e.message).toMatch(/expected the file to end at the last blob's data \(byte 258\) before appending, found 300 bytes/);
  });
});

/** Writes the §10.6 file with `patch` applied (offset → bytes). */
function corrupted(patches: [number, Uint8Array][], length = 258): string {
  const path = newPath();
  const bytes = new Uint8Array(Math.max(length, 0));
  bytes.set(section106Bytes().subarray(0, bytes.byteLength));
  for (const [at, b] of patches) bytes.set(b, at);
  writeFileSync(path, bytes);
  return path;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

function u64(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
}

function withReader<T>(path: string, fn: (r: BlobReader) => T): T {
  const r = BlobReader.open(path);
  try {
    return fn(r);
  } finally {
    r.close();
  }
}

describe('BlobReader errors on corrupted files', () => {
  it('bad sentinel', () => {
    const path = corrupted([[0xc0, u32(0xdeadbeee)]]);
    const e = formatError(() => withReader(path, (r) => r.readMetadata(192)));
    expect(e.file).toBe(path);
    expect(e.where).toBe(192);
    expect(e.message).toBe(
      `${path}: at byte offset 192 (0xc0): expected blob_metadata.sentinel 0xDEADBEEF (bytes EF BE AD DE), found 0xDEADBEEE`,
    );
    // the walk hits it too
    expect(formatError(() => withReader(path, (r) => [...r.entries()])).where).toBe(192);
  });

  it('header version 1', () => {
    const path = corrupted([[4, u32(1)]]);
    const e = formatError(() => BlobReader.open(path));
    expect(e.where).toBe(4);
    expect(e.message).toBe(
      `${path}: at byte offset 4 (0x4): expected storage_header.version 2 (blob storage v2; version 1 is the old Espresso format), found version 1`,
    );
  });

  it('truncated data', () => {
    const path = corrupted([], 257);
    const e = formatError(() => withReader(path, (r) => r.tensorAt(192, 'int4', [3])));
    expect(e.where).toBe(192 + 8);
    expect(e.message).toBe(
      `${path}: at byte offset 200 (0xc8): expected data bytes [256, 258) within the file (257 bytes), found the file truncated 1 bytes short`,
    );
  });

  it('metadata offset past EOF, or inside the header', () => {
    const path = corrupted([]);
    const past = formatError(() => withReader(path, (r) => r.readMetadata(4096)));
    expect(past.where).toBe(4096);
    expect(past.message).toMatch(/at byte offset 4096 \(0x1000\): expected a 64-byte blob_metadata record after the 64-byte header and within the file \(258 bytes\), found metadata offset 4096$/);
    expect(formatError(() => withReader(path, (r) => r.readMetadata(2n ** 63n))).where).toBe(2n ** 63n);
    expect(formatError(() => withReader(path, (r) => r.readMetadata(0))).where).toBe(0);
    expect(formatError(() => withReader(path, (r) => r.readMetadata(-64))).where).toBe('BlobFileValue.offset');
    // a record whose 64 bytes straddle EOF
    expect(formatError(() => withReader(path, (r) => r.readMetadata(256))).where).toBe(256);
  });

  it('data offset past EOF (size and offset fields are checked before use)', () => {
    const huge = formatError(() => withReader(corrupted([[0xc8, u64(2n ** 63n)]]), (r) => r.readMetadata(192)));
    expect(huge.where).toBe(200);
    expect(huge.message).toMatch(/expected blob_metadata\.sizeInBytes within the file size \(258 bytes\), found 9223372036854775808 bytes$/);
    const off = formatError(() => withReader(corrupted([[0xd0, u64(0x1_0000_0000n)]]), (r) => r.readMetadata(192)));
    expect(off.where).toBe(208);
    expect(off.message).toMatch(/expected blob_metadata\.offset after the storage header and within the file \(64\.\.258\), found data offset 4294967296$/);
    const inHeader = formatError(() => withReader(corrupted([[0xd0, u64(8n)]]), (r) => r.readMetadata(192)));
    expect(inHeader.where).toBe(208);
  });

  it('dtype mismatch and element-count mismatch', () => {
    const path = corrupted([]);
    const dt = formatError(() => withReader(path, (r) => r.tensorAt(64, 'fp32', [5])));
    expect(dt.where).toBe(68);
    expect(dt.message).toBe(`${path}: at byte offset 68 (0x44): expected blob dtype fp32 (code 2) as the program declares, found fp16 (code 1)`);
    const shape = formatError(() => withReader(path, (r) => r.tensorAt(64, 'fp16', [3, 4])));
    expect(shape.where).toBe(72);
    expect(shape.message).toMatch(/expected 12 fp16 elements \(24 bytes\) for shape \[3, 4\], found 20 bytes holding 10 elements$/);
    // int4 [3] vs [4]: same 2 bytes, but the padding says 3 elements
    const sub = formatError(() => withReader(path, (r) => r.tensorAt(192, 'int4', [4])));
    expect(sub.message).toMatch(/expected 4 int4 elements \(2 bytes\) for shape \[4\], found 2 bytes holding 3 elements$/);
  });

  it('unknown dtype code', () => {
    const path = corrupted([[0x44, u32(99)]]);
    const e = formatError(() => withReader(path, (r) => r.readMetadata(64)));
    expect(e.where).toBe(68);
    expect(e.message).toMatch(/expected a known blob data-type code \(§10\.4: 1\.\.17 for fp16, fp32, .*\), found code 99$/);
  });

  it('padding rules of §10.5', () => {
    const p8 = formatError(() => withReader(corrupted([[0xd8, u64(8n)]]), (r) => r.readMetadata(192)));
    expect(p8.where).toBe(216);
    expect(p8.message).toMatch(/expected padding_size_in_bits below 8 and a multiple of 4 for int4, found 8 bits$/);
    const p3 = formatError(() => withReader(corrupted([[0xd8, u64(3n)]]), (r) => r.readMetadata(192)));
    expect(p3.message).toMatch(/multiple of 4 for int4, found 3 bits$/);
    const fp16 = formatError(() => withReader(corrupted([[0x58, u64(1n)]]), (r) => r.readMetadata(64)));
    expect(fp16.message).toMatch(/expected padding_size_in_bits 0 for the byte-sized dtype fp16, found 1 bits$/);
    // the int4 record relabelled uint3 (code 12): 2 bytes − 5 padding bits = 11 bits, not whole 3-bit elements
    const u3 = formatError(() => withReader(corrupted([[0xc4, u32(12)], [0xd8, u64(5n)]]), (r) => r.readMetadata(192)));
    expect(u3.message).toMatch(/expected 8 × sizeInBytes − padding_size_in_bits to be a multiple of 3 for uint3, found 2 bytes with 5 padding bits \(11 bits\)$/);
    const odd = formatError(() => withReader(corrupted([[0x48, u64(19n)]]), (r) => r.readMetadata(64)));
    expect(odd.message).toMatch(/expected sizeInBytes a multiple of 2 \(the fp16 element size\), found 19 bytes$/);
  });

  it('header problems: short file, impossible count, records missing', () => {
    const short = newPath();
    writeFileSync(short, new Uint8Array(10));
    expect(formatError(() => BlobReader.open(short)).message).toBe(`${short}: at byte offset 0 (0x0): expected a 64-byte storage_header, found a file of 10 bytes`);
    const many = corrupted([[0, u32(1000)]]);
    expect(formatError(() => BlobReader.open(many)).message).toMatch(/expected storage_header\.count of at most 3 blobs for a file of 258 bytes, found count 1000$/);
    // count 3, but after the two blobs the walk (next record at align64(258) = 320) finds zeros
    const three = corrupted([[0, u32(3)]], 400);
    const e = formatError(() => withReader(three, (r) => [...r.entries()]));
    expect(e.where).toBe(320);
    expect(e.message).toMatch(/expected blob_metadata\.sentinel 0xDEADBEEF/);
    const missing = formatError(() => BlobReader.open(join(tmp.dir, 'nope.bin')));
    expect(missing.message).toMatch(/expected a readable blob storage file, found ENOENT/);
  });
});

describe('offsets past 4 GiB', () => {
  it('uint64 fields encode and decode exactly (BigInt)', () => {
    const rec = { blobCode: 1, sizeInBytes: 0x1_2345_6789n, dataOffset: 0x100_0000_0040n, paddingBits: 0n };
    const bytes = encodeBlobMetadata(rec);
    expect(Array.from(bytes.subarray(16, 24))).toEqual([0x40, 0, 0, 0, 0, 0x01, 0, 0]);
    expect(decodeBlobMetadata(bytes)).toEqual({ sentinel: BLOB_SENTINEL, ...rec });
    expect(align64(0x1_0000_0001n)).toBe(0x1_0000_0040n);
    expect(align64(2 ** 32 + 100 + 128)).toBe(2 ** 32 + 256);
  });

  it('a sparse 4 GiB file: the reader follows and the writer appends past 4 GiB', () => {
    const path = newPath();
    const big = 2 ** 32 + 100; // one uint8 blob of 4 GiB + 100 bytes, never written: a hole
    const fd = openSync(path, 'w');
    try {
      writeSync(fd, encodeStorageHeader(1), 0, 64, 0);
      const meta = encodeBlobMetadata({ blobCode: 3, sizeInBytes: BigInt(big), dataOffset: 128n, paddingBits: 0 });
      writeSync(fd, meta, 0, 64, 64);
      writeSync(fd, Uint8Array.of(0xaa, 0xbb), 0, 2, 128 + big - 2); // the last two data bytes
    } finally {
      closeSync(fd);
    }
    truncateSync(path, 128 + big);
    expect(statSync(path).size).toBe(128 + big);
    expect(statSync(path).blocks * 512).toBeLessThan(1 << 20); // really sparse

    const r = BlobReader.open(path);
    const first = r.readMetadata(64);
    expect(first.sizeInBytes).toBe(big);
    const lazy = r.tensorAt(64, 'uint8', [big]);
    expect(lazy.byteLength).toBe(big);
    r.close();

    const w = BlobWriter.openForAppend(path);
    const off = w.append('fp16', [3], tensorFromValues('fp16', [3], [1, 2, 3]).bytes());
    w.close();
    expect(off).toBe(2 ** 32 + 256);
    expect(off).toBeGreaterThan(2 ** 32);

    // the raw record past 4 GiB carries the full 64-bit data offset
    const raw = new Uint8Array(64);
    readRange(path, off, raw);
    expect(decodeBlobMetadata(raw)).toEqual({
      sentinel: BLOB_SENTINEL,
      blobCode: 1,
      sizeInBytes: 6n,
      dataOffset: BigInt(off + 64),
      paddingBits: 0n,
    });
    expect(statSync(path).size).toBe(off + 64 + 6);

    const r2 = BlobReader.open(path);
    try {
      expect(r2.count).toBe(2);
      expect([...r2.entries()].map((e) => e.metadataOffset)).toEqual([64, off]);
      const t = r2.tensorAt(BigInt(off), 'fp16', [3]);
      expect(t.offset).toBe(off + 64);
      expect(t.toNumbers()).toEqual([1, 2, 3]);
      const tail = new Uint8Array(2);
      readRange(path, 128 + big - 2, tail);
      expect(Array.from(tail)).toEqual([0xaa, 0xbb]);
    } finally {
      r2.close();
    }
  });
});

describe('DenseTensor input', () => {
  it('append accepts a DenseTensor built from raw bytes for fp8 dtypes', () => {
    const path = newPath();
    const w = BlobWriter.create(path);
    const t = new DenseTensor('fp8e4m3fn', [4], Uint8Array.of(0x38, 0x40, 0xb8, 0x00));
    const off = w.appendTensor(t);
    w.close();
    const r = BlobReader.open(path);
    expect(r.tensorAt(off, 'fp8e4m3fn', [4]).toNumbers()).toEqual([1, 2, -1, 0]);
    r.close();
  });
});
