/**
 * Blob storage v2 (`weight.bin`) layout constants and the byte encoding of its two
 * fixed-size records (mlpackage-format.md §10.1–§10.3). All integers are little-endian;
 * the 64-bit fields are read and written as BigInt through DataView so offsets past
 * 4 GiB (and past 2^53, where they are refused) are exact.
 */

/** Alignment of every metadata record (and so of every blob's data), §10.1. */
export const BLOB_ALIGNMENT = 64;
/** `storage_header` size, §10.2. */
export const BLOB_HEADER_SIZE = 64;
/** `blob_metadata` size, §10.3. */
export const BLOB_METADATA_SIZE = 64;
/** `blob_metadata.sentinel`, bytes `EF BE AD DE` on disk. */
export const BLOB_SENTINEL = 0xdeadbeef;
/** `storage_header.version`; 1 was the old Espresso format and is refused. */
export const BLOB_STORAGE_VERSION = 2;

/** The raw fields of a `storage_header` (reserved words are not interpreted). */
export interface BlobStorageHeaderRecord {
  readonly count: number;
  readonly version: number;
}

/** The raw fields of a `blob_metadata` record, unvalidated. */
export interface BlobMetadataRecord {
  readonly sentinel: number;
  /** `mil_dtype`: a `BlobDataType` code (§10.4). */
  readonly blobCode: number;
  readonly sizeInBytes: bigint;
  /** Absolute file offset of the data. */
  readonly dataOffset: bigint;
  readonly paddingBits: bigint;
}

/** Smallest multiple of 64 that is ≥ `n` (`GetNextAlignedOffset`). */
export function align64(n: bigint): bigint;
export function align64(n: number): number;
export function align64(n: number | bigint): number | bigint {
  if (typeof n === 'bigint') return (n + 63n) & ~63n;
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`cannot align ${n}: not a non-negative safe integer`);
  return Math.ceil(n / BLOB_ALIGNMENT) * BLOB_ALIGNMENT;
}

export function encodeStorageHeader(count: number): Uint8Array {
  if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) {
    throw new RangeError(`blob count ${count} does not fit the uint32 storage_header.count`);
  }
  const out = new Uint8Array(BLOB_HEADER_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, count, true);
  v.setUint32(4, BLOB_STORAGE_VERSION, true);
  return out;
}

export function decodeStorageHeader(bytes: Uint8Array): BlobStorageHeaderRecord {
  if (bytes.byteLength < BLOB_HEADER_SIZE) throw new RangeError(`storage_header needs ${BLOB_HEADER_SIZE} bytes, got ${bytes.byteLength}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, BLOB_HEADER_SIZE);
  return { count: v.getUint32(0, true), version: v.getUint32(4, true) };
}

export function encodeBlobMetadata(record: {
  readonly blobCode: number;
  readonly sizeInBytes: bigint;
  readonly dataOffset: bigint;
  readonly paddingBits: bigint | number;
}): Uint8Array {
  const out = new Uint8Array(BLOB_METADATA_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, BLOB_SENTINEL, true);
  v.setUint32(4, record.blobCode, true);
  v.setBigUint64(8, record.sizeInBytes, true);
  v.setBigUint64(16, record.dataOffset, true);
  v.setBigUint64(24, BigInt(record.paddingBits), true);
  // bytes 32..63: reserved_1 … reserved_4, always zero (§10.3)
  return out;
}

export function decodeBlobMetadata(bytes: Uint8Array): BlobMetadataRecord {
  if (bytes.byteLength < BLOB_METADATA_SIZE) throw new RangeError(`blob_metadata needs ${BLOB_METADATA_SIZE} bytes, got ${bytes.byteLength}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, BLOB_METADATA_SIZE);
  return {
    sentinel: v.getUint32(0, true),
    blobCode: v.getUint32(4, true),
    sizeInBytes: v.getBigUint64(8, true),
    dataOffset: v.getBigUint64(16, true),
    paddingBits: v.getBigUint64(24, true),
  };
}
