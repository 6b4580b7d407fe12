/**
 * Reader for blob storage v2 (`weight.bin`, mlpackage-format.md §10).
 *
 * Opening reads only the 64-byte header; `readMetadata` reads one 64-byte record; a
 * blob's data is never read here — `tensorAt` returns a lazy `FileTensor` that reads its
 * bytes when asked. Every size and offset field is checked against the file size before
 * it is used, so a corrupt or hostile file cannot drive an allocation or a read past the
 * end. The 64-bit fields are compared as BigInt and converted to numbers only once they
 * are known to be within the file.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type DType, DTYPE_INFO, FileTensor, dtypeFromBlobCode } from '@silica/ir';
import {
  BLOB_HEADER_SIZE,
  BLOB_METADATA_SIZE,
  BLOB_SENTINEL,
  BLOB_STORAGE_VERSION,
  align64,
  decodeBlobMetadata,
  decodeStorageHeader,
} from './blob-format.js';
import { blobDTypes, blobSizeInBytes, elementCount } from './blob-shape.js';
import { SilicaFormatError, errnoText } from './errors.js';

/** A validated `blob_metadata` record. All offsets are absolute file offsets. */
export interface BlobMetadata {
  /** Where the record itself is (what `BlobFileValue.offset` holds). */
  readonly metadataOffset: number;
  readonly dtype: DType;
  /** `BlobDataType` code as stored (§10.4). */
  readonly blobCode: number;
  readonly sizeInBytes: number;
  readonly dataOffset: number;
  /** `padding_size_in_bits`: 0 for byte-sized dtypes, 0..7 for sub-byte ones. */
  readonly paddingBits: number;
  /** Elements stored: `sizeInBytes / element size`, or `(8·size − padding) / bits` for sub-byte dtypes. */
  readonly elementCount: number;
}

const hex32 = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;

export class BlobReader {
  readonly path: string;
  /** File length at open time; every offset is checked against it. */
  readonly fileSize: number;
  /** `storage_header.count`. */
  readonly count: number;
  private fd: number | undefined;

  private constructor(path: string, fd: number, fileSize: number, count: number) {
    this.path = path;
    this.fd = fd;
    this.fileSize = fileSize;
    this.count = count;
  }

  /** Opens `path` and checks its storage header (size, version 2, plausible count). */
  static open(path: string): BlobReader {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw new SilicaFormatError({ file: path, where: 0, expected: 'a readable blob storage file', found: errnoText(err) }, { cause: err });
    }
    try {
      const fileSize = fstatSync(fd).size;
      if (fileSize < BLOB_HEADER_SIZE) {
        throw new SilicaFormatError({
          file: path,
          where: 0,
          expected: `a ${BLOB_HEADER_SIZE}-byte storage_header`,
          found: `a file of ${fileSize} bytes`,
        });
      }
      const header = new Uint8Array(BLOB_HEADER_SIZE);
      readExactly(fd, header, 0, path);
      const { count, version } = decodeStorageHeader(header);
      if (version !== BLOB_STORAGE_VERSION) {
        throw new SilicaFormatError({
          file: path,
          where: 4,
          expected: `storage_header.version ${BLOB_STORAGE_VERSION} (blob storage v2${version === 1 ? '; version 1 is the old Espresso format' : ''})`,
          found: `version ${version}`,
        });
      }
      // Every blob needs at least its 64-byte record after the header.
      const maxCount = Math.floor((fileSize - BLOB_HEADER_SIZE) / BLOB_METADATA_SIZE);
      if (count > maxCount) {
        throw new SilicaFormatError({
          file: path,
          where: 0,
          expected: `storage_header.count of at most ${maxCount} blobs for a file of ${fileSize} bytes`,
          found: `count ${count}`,
        });
      }
      return new BlobReader(path, fd, fileSize, count);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /**
   * Reads and validates the metadata record at `offset` (a `BlobFileValue.offset`):
   * sentinel, dtype code, size and data offset within the file, padding rules (§10.3–§10.5).
   */
  readMetadata(offset: number | bigint): BlobMetadata {
    const fd = this.requireOpen();
    const size = BigInt(this.fileSize);
    const off = typeof offset === 'bigint' ? offset : Number.isSafeInteger(offset) ? BigInt(offset) : -1n;
    if (off < BigInt(BLOB_HEADER_SIZE) || off + BigInt(BLOB_METADATA_SIZE) > size) {
      throw new SilicaFormatError({
        file: this.path,
        where: off >= 0n ? offset : 'BlobFileValue.offset',
        expected: `a ${BLOB_METADATA_SIZE}-byte blob_metadata record after the ${BLOB_HEADER_SIZE}-byte header and within the file (${this.fileSize} bytes)`,
        found: `metadata offset ${String(offset)}`,
      });
    }
    const at = Number(off);
    const bytes = new Uint8Array(BLOB_METADATA_SIZE);
    readExactly(fd, bytes, at, this.path);
    const rec = decodeBlobMetadata(bytes);

    if (rec.sentinel !== BLOB_SENTINEL) {
      throw new SilicaFormatError({
        file: this.path,
        where: at,
        expected: `blob_metadata.sentinel ${hex32(BLOB_SENTINEL)} (bytes EF BE AD DE)`,
        found: hex32(rec.sentinel),
      });
    }
    const dtype = dtypeFromBlobCode(rec.blobCode);
    if (dtype === undefined) {
      throw new SilicaFormatError({
        file: this.path,
        where: at + 4,
        expected: `a known blob data-type code (§10.4: 1..17 for ${blobDTypes().join(', ')})`,
        found: `code ${rec.blobCode}`,
      });
    }
    if (rec.sizeInBytes > size) {
      throw new SilicaFormatError({
        file: this.path,
        where: at + 8,
        expected: `blob_metadata.sizeInBytes within the file size (${this.fileSize} bytes)`,
        found: `${rec.sizeInBytes} bytes`,
      });
    }
    if (rec.dataOffset < BigInt(BLOB_HEADER_SIZE) || rec.dataOffset > size) {
      throw new SilicaFormatError({
        file: this.path,
        where: at + 16,
        expected: `blob_metadata.offset after the storage header and within the file (${BLOB_HEADER_SIZE}..${this.fileSize})`,
        found: `data offset ${rec.dataOffset}`,
      });
    }
    if (rec.dataOffset + rec.sizeInBytes > size) {
      throw new SilicaFormatError({
        file: this.path,
        where: at + 8,
        expected: `data bytes [${rec.dataOffset}, ${rec.dataOffset + rec.sizeInBytes}) within the file (${this.fileSize} bytes)`,
        found: `the file truncated ${rec.dataOffset + rec.sizeInBytes - size} bytes short`,
      });
    }
    const sizeInBytes = Number(rec.sizeInBytes);
    const info = DTYPE_INFO[dtype];
    let count: number;
    if (info.subByte) {
      // §10.5: padding < 8; for 1/2/4-bit types a multiple of the width; and the
      // remaining bits must hold a whole number of elements.
      const bits = BigInt(info.bits);
      const p = rec.paddingBits;
      const widthRule = info.bits === 1 || info.bits === 2 || info.bits === 4 ? ` and a multiple of ${info.bits}` : '';
      if (p >= 8n || (widthRule !== '' && p % bits !== 0n) || (rec.sizeInBytes === 0n && p !== 0n)) {
        throw new SilicaFormatError({
          file: this.path,
          where: at + 24,
          expected: `padding_size_in_bits below 8${widthRule} for ${dtype}${rec.sizeInBytes === 0n ? ' (0 for an empty blob)' : ''}`,
          found: `${p} bits`,
        });
      }
      const payloadBits = rec.sizeInBytes * 8n - p;
      if (payloadBits % bits !== 0n) {
        throw new SilicaFormatError({
          file: this.path,
          where: at + 24,
          expected: `8 × sizeInBytes − padding_size_in_bits to be a multiple of ${info.bits} for ${dtype}`,
          found: `${rec.sizeInBytes} bytes with ${p} padding bits (${payloadBits} bits)`,
        });
      }
      count = Number(payloadBits / bits);
    } else {
      if (rec.paddingBits !== 0n) {
        throw new SilicaFormatError({
          file: this.path,
          where: at + 24,
          expected: `padding_size_in_bits 0 for the byte-sized dtype ${dtype}`,
          found: `${rec.paddingBits} bits`,
        });
      }
      const elem = info.bits / 8;
      if (sizeInBytes % elem !== 0) {
        throw new SilicaFormatError({
          file: this.path,
          where: at + 8,
          expected: `sizeInBytes a multiple of ${elem} (the ${dtype} element size)`,
          found: `${sizeInBytes} bytes`,
        });
      }
      count = sizeInBytes / elem;
    }
    return {
      metadataOffset: at,
      dtype,
      blobCode: rec.blobCode,
      sizeInBytes,
      dataOffset: Number(rec.dataOffset),
      paddingBits: Number(rec.paddingBits),
      elementCount: count,
    };
  }

  /**
   * The blob at metadata offset `offset` as a lazy FileTensor, after checking that its
   * stored dtype is `expectedDtype` and that it holds exactly the shape's element count
   * (§10.5, §15 step 5). No data is read.
   */
  tensorAt(offset: number | bigint, expectedDtype: DType, shape: readonly number[]): FileTensor {
    const meta = this.readMetadata(offset);
    if (meta.dtype !== expectedDtype) {
      const want = DTYPE_INFO[expectedDtype]?.blobCode;
      throw new SilicaFormatError({
        file: this.path,
        where: meta.metadataOffset + 4,
        expected: `blob dtype ${expectedDtype}${want === undefined ? ' (which has no blob code)' : ` (code ${want})`} as the program declares`,
        found: `${meta.dtype} (code ${meta.blobCode})`,
      });
    }
    const count = elementCount(shape, this.path, `shape of the blob at byte ${meta.metadataOffset}`);
    if (count !== meta.elementCount || blobSizeInBytes(expectedDtype, count) !== BigInt(meta.sizeInBytes)) {
      throw new SilicaFormatError({
        file: this.path,
        where: meta.metadataOffset + 8,
        expected: `${count} ${expectedDtype} elements (${blobSizeInBytes(expectedDtype, count)} bytes) for shape [${shape.join(', ')}]`,
        found: `${meta.sizeInBytes} bytes holding ${meta.elementCount} elements`,
      });
    }
    return new FileTensor(meta.dtype, shape, this.path, meta.dataOffset, meta.sizeInBytes);
  }

  /**
   * Every blob in file order, without the program (§10.7): start at 64, read a record,
   * continue at `align64(record.offset + sizeInBytes)`, `count` times.
   */
  *entries(): Generator<BlobMetadata> {
    let pos = BLOB_HEADER_SIZE;
    for (let i = 0; i < this.count; i++) {
      if (pos + BLOB_METADATA_SIZE > this.fileSize) {
        throw new SilicaFormatError({
          file: this.path,
          where: pos,
          expected: `blob_metadata record ${i} of ${this.count} (storage_header.count) within the file (${this.fileSize} bytes)`,
          found: 'the end of the file',
        });
      }
      const meta = this.readMetadata(pos);
      yield meta;
      pos = align64(meta.dataOffset + meta.sizeInBytes);
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }

  private requireOpen(): number {
    if (this.fd === undefined) {
      throw new SilicaFormatError({ file: this.path, where: 0, expected: 'an open BlobReader', found: 'a closed reader' });
    }
    return this.fd;
  }
}

function readExactly(fd: number, out: Uint8Array, position: number, path: string): void {
  let got = 0;
  while (got < out.byteLength) {
    let n: number;
    try {
      n = readSync(fd, out, got, out.byteLength - got, position + got);
    } catch (err) {
      throw new SilicaFormatError({ file: path, where: position + got, expected: `${out.byteLength - got} readable bytes`, found: errnoText(err) }, { cause: err });
    }
    if (n === 0) {
      throw new SilicaFormatError({ file: path, where: position + got, expected: `${out.byteLength - got} more bytes`, found: 'the end of the file' });
    }
    got += n;
  }
}
