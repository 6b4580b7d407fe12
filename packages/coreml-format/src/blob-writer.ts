/**
 * Streaming writer for blob storage v2 (`weight.bin`, mlpackage-format.md §10).
 *
 * ```
 * 0      storage_header  {count, version = 2}
 * 64     blob_metadata #0 {0xDEADBEEF, dtype code, sizeInBytes, data offset, padding bits}
 * 128    data #0
 *        zeros up to the next multiple of 64
 * M1     blob_metadata #1 …
 * ```
 *
 * Each blob goes straight to the file descriptor, chunk by chunk, with positional
 * writes; the writer never holds more than one caller-provided chunk and one 64-byte
 * record, so a multi-GB weight file never sits in memory. Offsets are kept as JS
 * numbers (exact up to 2^53) and written as uint64 through BigInt.
 *
 * Per blob: data is written first, then the gap + metadata record, then the header with
 * the new count (§10.2: "the writer rewrites the header after every blob"). If the data
 * is not the size the dtype and shape require, the file is truncated back to where it
 * was and the blob is not counted. The file ends at the last data byte (no trailing
 * padding, §10.1).
 */
import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { type DType, DTYPE_INFO, FileTensor, type Tensor } from '@silica/ir';
import {
  BLOB_HEADER_SIZE,
  BLOB_METADATA_SIZE,
  align64,
  encodeBlobMetadata,
  encodeStorageHeader,
} from './blob-format.js';
import { BlobReader } from './blob-reader.js';
import { blobDTypes, blobPaddingBits, blobSizeInBytes, elementCount } from './blob-shape.js';
import { SilicaFormatError, errnoText } from './errors.js';

/** Blob payload: all bytes at once, or chunks in order (e.g. `FileTensor.chunks()`). */
export type BlobData = Uint8Array | Iterable<Uint8Array>;

export class BlobWriter {
  readonly path: string;
  private fd: number | undefined;
  private blobCount: number;
  /** File length = end of the last blob's data (or of the header). */
  private end: number;

  private constructor(path: string, fd: number, count: number, end: number) {
    this.path = path;
    this.fd = fd;
    this.blobCount = count;
    this.end = end;
  }

  /** Creates (or truncates) `path` and writes an empty storage header. */
  static create(path: string): BlobWriter {
    let fd: number;
    try {
      fd = openSync(path, 'w');
    } catch (err) {
      throw new SilicaFormatError(
        { file: path, where: 0, expected: 'a writable blob storage file', found: errnoText(err) },
        { cause: err },
      );
    }
    const writer = new BlobWriter(path, fd, 0, BLOB_HEADER_SIZE);
    try {
      writer.writeAt(encodeStorageHeader(0), 0);
    } catch (err) {
      writer.close();
      throw err;
    }
    return writer;
  }

  /**
   * Opens an existing blob file to add blobs after its last one. The file is fully
   * validated first (header and every record, §10.7 walk) and must end exactly at the
   * last blob's data.
   */
  static openForAppend(path: string): BlobWriter {
    const reader = BlobReader.open(path);
    let end = BLOB_HEADER_SIZE;
    let count = 0;
    let fileSize: number;
    try {
      for (const meta of reader.entries()) {
        end = meta.dataOffset + meta.sizeInBytes;
        count++;
      }
      fileSize = reader.fileSize;
    } finally {
      reader.close();
    }
    if (fileSize !== end) {
      throw new SilicaFormatError({
        file: path,
        where: end,
        expected: `the file to end at the last blob's data (byte ${end}) before appending`,
        found: `${fileSize} bytes`,
      });
    }
    let fd: number;
    try {
      fd = openSync(path, 'r+');
    } catch (err) {
      throw new SilicaFormatError({ file: path, where: 0, expected: 'a writable blob storage file', found: errnoText(err) }, { cause: err });
    }
    return new BlobWriter(path, fd, count, end);
  }

  /** Blobs written so far. */
  get count(): number {
    return this.blobCount;
  }

  /** Current file length in bytes. */
  get size(): number {
    return this.end;
  }

  /** Metadata offset the next blob will get. */
  get nextOffset(): number {
    return align64(this.end);
  }

  /**
   * Appends one blob of `dtype` holding `shape` (or a plain element count) elements and
   * returns the offset of its metadata record — the `BlobFileValue.offset` to put in
   * the program (§10.5). `data` must be exactly the stored size: packed LSB-first for
   * sub-byte dtypes (§11); the unused high bits of the last byte are written as zero.
   */
  append(dtype: DType, shape: readonly number[] | number, data: BlobData): number {
    const fd = this.requireOpen();
    const info = DTYPE_INFO[dtype];
    if (info === undefined || info.blobCode === undefined) {
      throw new SilicaFormatError({
        file: this.path,
        where: this.nextOffset + 4,
        expected: `a dtype that has a blob storage code (§10.4): ${blobDTypes().join(', ')}`,
        found: String(dtype),
      });
    }
    const count = elementCount(shape, this.path, `shape of blob #${this.blobCount}`);
    const size = blobSizeInBytes(dtype, count);
    const padding = blobPaddingBits(dtype, count);
    const metaOffset = align64(this.end);
    const dataOffset = metaOffset + BLOB_METADATA_SIZE;
    const sizeNum = Number(size);
    if (!Number.isSafeInteger(dataOffset + sizeNum)) {
      throw new SilicaFormatError({
        file: this.path,
        where: dataOffset,
        expected: 'a file size below 2^53 bytes',
        found: `a blob of ${size} bytes at byte ${dataOffset}`,
      });
    }

    let written = 0;
    try {
      const chunks: Iterable<Uint8Array> = data instanceof Uint8Array ? [data] : data;
      for (const chunk of chunks) {
        if (written + chunk.byteLength > sizeNum) {
          throw new SilicaFormatError({
            file: this.path,
            where: dataOffset + written,
            expected: `${sizeNum} data bytes for ${count} ${dtype} elements`,
            found: `at least ${written + chunk.byteLength} bytes`,
          });
        }
        let out = chunk;
        if (padding > 0 && written + chunk.byteLength === sizeNum && chunk.byteLength > 0) {
          // §11: unused high bits of the last byte are zero.
          const last = chunk[chunk.byteLength - 1];
          const masked = last & ((1 << (8 - padding)) - 1);
          if (masked !== last) {
            out = chunk.slice();
            out[out.byteLength - 1] = masked;
          }
        }
        this.writeAt(out, dataOffset + written);
        written += chunk.byteLength;
      }
      if (written !== sizeNum) {
        throw new SilicaFormatError({
          file: this.path,
          where: dataOffset + written,
          expected: `${sizeNum} data bytes for ${count} ${dtype} elements`,
          found: `${written} bytes`,
        });
      }
      // gap zeros + metadata record in one write (§10.1: the gap is zero-filled)
      const gap = metaOffset - this.end;
      const record = new Uint8Array(gap + BLOB_METADATA_SIZE);
      record.set(
        encodeBlobMetadata({ blobCode: info.blobCode, sizeInBytes: size, dataOffset: BigInt(dataOffset), paddingBits: padding }),
        gap,
      );
      this.writeAt(record, this.end);
      this.writeAt(encodeStorageHeader(this.blobCount + 1), 0);
    } catch (err) {
      this.rollback(fd);
      throw err;
    }
    this.blobCount++;
    this.end = dataOffset + sizeNum;
    return metaOffset;
  }

  /**
   * Appends a tensor's stored bytes. A FileTensor is streamed in chunks (never read
   * whole); a DenseTensor is written from memory.
   */
  appendTensor(tensor: Tensor): number {
    const data = tensor instanceof FileTensor ? tensor.chunks() : tensor.bytes();
    return this.append(tensor.dtype, tensor.shape, data);
  }

  /** Closes the file. The header is already current; closing twice is harmless. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }

  private requireOpen(): number {
    if (this.fd === undefined) {
      throw new SilicaFormatError({ file: this.path, where: this.end, expected: 'an open BlobWriter', found: 'a closed writer' });
    }
    return this.fd;
  }

  /** Undoes a failed append: the file goes back to ending at the last good blob. */
  private rollback(fd: number): void {
    try {
      if (fstatSync(fd).size !== this.end) ftruncateSync(fd, this.end);
      this.writeAt(encodeStorageHeader(this.blobCount), 0);
    } catch {
      // The file could not be restored: close the writer so nothing is appended after a
      // torn blob. The caller still gets the original error.
      this.close();
    }
  }

  private writeAt(bytes: Uint8Array, position: number): void {
    const fd = this.requireOpen();
    let done = 0;
    while (done < bytes.byteLength) {
      let n: number;
      try {
        n = writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
      } catch (err) {
        throw new SilicaFormatError(
          { file: this.path, where: position + done, expected: `to write ${bytes.byteLength - done} bytes`, found: errnoText(err) },
          { cause: err },
        );
      }
      done += n;
    }
  }
}
