/**
 * MIL dtypes — every member of the `DataType` enum of mlpackage-format.md §7.8, with
 * its protobuf code, its blob-storage code (§10.4), bit width and value range.
 */

export const DTYPES = [
  'bool',
  'string',
  'fp16',
  'fp32',
  'fp64',
  'bf16',
  'int4',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint1',
  'uint2',
  'uint3',
  'uint4',
  'uint6',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'fp8e4m3fn',
  'fp8e5m2',
] as const;

export type DType = (typeof DTYPES)[number];

export type DTypeKind = 'bool' | 'string' | 'float' | 'int' | 'uint';

export interface DTypeInfo {
  readonly name: DType;
  readonly kind: DTypeKind;
  /** Storage bits per element (string: 0 — variable length). */
  readonly bits: number;
  /** `DataType` enum code in MIL.proto (§7.8). */
  readonly protoCode: number;
  /** `BlobDataType` code in weight.bin (§10.4), or undefined when the dtype cannot be a blob. */
  readonly blobCode: number | undefined;
  /** Smallest finite value (integers exact; floats the most negative finite value). */
  readonly min: number;
  /** Largest finite value. */
  readonly max: number;
  /** Packed below one byte per element (§11). */
  readonly subByte: boolean;
}

function intInfo(name: DType, bits: number, protoCode: number, blobCode: number | undefined): DTypeInfo {
  return {
    name,
    kind: 'int',
    bits,
    protoCode,
    blobCode,
    min: -(2 ** (bits - 1)),
    max: 2 ** (bits - 1) - 1,
    subByte: bits < 8,
  };
}

function uintInfo(name: DType, bits: number, protoCode: number, blobCode: number | undefined): DTypeInfo {
  return { name, kind: 'uint', bits, protoCode, blobCode, min: 0, max: 2 ** bits - 1, subByte: bits < 8 };
}

function floatInfo(name: DType, bits: number, protoCode: number, blobCode: number | undefined, max: number): DTypeInfo {
  return { name, kind: 'float', bits, protoCode, blobCode, min: -max, max, subByte: false };
}

/** mlpackage-format.md §7.8 (proto codes) and §10.4 (blob codes). */
export const DTYPE_INFO: Readonly<Record<DType, DTypeInfo>> = {
  bool: { name: 'bool', kind: 'bool', bits: 8, protoCode: 1, blobCode: undefined, min: 0, max: 1, subByte: false },
  string: { name: 'string', kind: 'string', bits: 0, protoCode: 2, blobCode: undefined, min: NaN, max: NaN, subByte: false },
  fp16: floatInfo('fp16', 16, 10, 1, 65504),
  fp32: floatInfo('fp32', 32, 11, 2, 3.4028234663852886e38),
  fp64: floatInfo('fp64', 64, 12, undefined, Number.MAX_VALUE),
  bf16: floatInfo('bf16', 16, 13, 5, 3.3895313892515355e38),
  int8: intInfo('int8', 8, 21, 4),
  int16: intInfo('int16', 16, 22, 6),
  int32: intInfo('int32', 32, 23, 14),
  int64: intInfo('int64', 64, 24, undefined),
  int4: intInfo('int4', 4, 25, 8),
  uint8: uintInfo('uint8', 8, 31, 3),
  uint16: uintInfo('uint16', 16, 32, 7),
  uint32: uintInfo('uint32', 32, 33, 15),
  uint64: uintInfo('uint64', 64, 34, undefined),
  uint4: uintInfo('uint4', 4, 35, 11),
  uint2: uintInfo('uint2', 2, 36, 10),
  uint1: uintInfo('uint1', 1, 37, 9),
  uint6: uintInfo('uint6', 6, 38, 13),
  uint3: uintInfo('uint3', 3, 39, 12),
  fp8e4m3fn: floatInfo('fp8e4m3fn', 8, 40, 16, 448),
  fp8e5m2: floatInfo('fp8e5m2', 8, 41, 17, 57344),
};

const BY_PROTO = new Map<number, DType>();
const BY_BLOB = new Map<number, DType>();
for (const d of DTYPES) {
  const info = DTYPE_INFO[d];
  BY_PROTO.set(info.protoCode, d);
  if (info.blobCode !== undefined) BY_BLOB.set(info.blobCode, d);
}

export function dtypeInfo(d: DType): DTypeInfo {
  return DTYPE_INFO[d];
}

export function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(DTYPE_INFO, s);
}

/** DType for a MIL.proto `DataType` code, or undefined for UNUSED_TYPE/unknown codes. */
export function dtypeFromProtoCode(code: number): DType | undefined {
  return BY_PROTO.get(code);
}

/** DType for a weight.bin `BlobDataType` code (§10.4), or undefined. */
export function dtypeFromBlobCode(code: number): DType | undefined {
  return BY_BLOB.get(code);
}

export const isFloat = (d: DType): boolean => DTYPE_INFO[d].kind === 'float';
export const isInteger = (d: DType): boolean => DTYPE_INFO[d].kind === 'int' || DTYPE_INFO[d].kind === 'uint';
export const isSubByte = (d: DType): boolean => DTYPE_INFO[d].subByte;
export const bitWidth = (d: DType): number => DTYPE_INFO[d].bits;

/** Bytes needed to store `count` elements of `d` (sub-byte types packed, §11). */
export function byteSize(d: DType, count: number): number {
  const bits = DTYPE_INFO[d].bits;
  if (d === 'string') throw new Error('string tensors have no fixed byte size');
  return Math.ceil((count * bits) / 8);
}

/** The `uint<n>` dtype for an LUT index width (§1.4: the dtype of `indices` *is* nbits). */
export function uintOfBits(nbits: number): DType {
  const d = ({ 1: 'uint1', 2: 'uint2', 3: 'uint3', 4: 'uint4', 6: 'uint6', 8: 'uint8', 16: 'uint16', 32: 'uint32' } as const)[
    nbits as 1
  ];
  if (!d) throw new Error(`no uint dtype of ${nbits} bits (expected 1, 2, 3, 4, 6, 8, 16 or 32)`);
  return d;
}
