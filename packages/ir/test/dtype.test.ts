/**
 * Every MIL dtype against the tables of mlpackage-format.md §7.8 (proto `DataType` codes)
 * and §10.4 (weight.bin `BlobDataType` codes), with bit widths and value ranges.
 */
import { describe, expect, it } from 'vitest';
import {
  DTYPES,
  DTYPE_INFO,
  type DType,
  bitWidth,
  byteSize,
  dtypeFromBlobCode,
  dtypeFromProtoCode,
  dtypeInfo,
  isDType,
  isFloat,
  isInteger,
  isSubByte,
  uintOfBits,
} from '../src/index.js';

/** §7.8 rows: [our name, proto enum name, proto code, blob code or undefined]. */
const SECTION_7_8: ReadonlyArray<[DType, string, number, number | undefined]> = [
  ['bool', 'BOOL', 1, undefined],
  ['string', 'STRING', 2, undefined],
  ['fp16', 'FLOAT16', 10, 1],
  ['fp32', 'FLOAT32', 11, 2],
  ['fp64', 'FLOAT64', 12, undefined],
  ['bf16', 'BFLOAT16', 13, 5],
  ['int8', 'INT8', 21, 4],
  ['int16', 'INT16', 22, 6],
  ['int32', 'INT32', 23, 14],
  ['int64', 'INT64', 24, undefined],
  ['int4', 'INT4', 25, 8],
  ['uint8', 'UINT8', 31, 3],
  ['uint16', 'UINT16', 32, 7],
  ['uint32', 'UINT32', 33, 15],
  ['uint64', 'UINT64', 34, undefined],
  ['uint4', 'UINT4', 35, 11],
  ['uint2', 'UINT2', 36, 10],
  ['uint1', 'UINT1', 37, 9],
  ['uint6', 'UINT6', 38, 13],
  ['uint3', 'UINT3', 39, 12],
  ['fp8e4m3fn', 'FLOAT8E4M3FN', 40, 16],
  ['fp8e5m2', 'FLOAT8E5M2', 41, 17],
];

/** §10.4 rows: [blob code, blob name, element size in bits, MIL DataType code]. */
const SECTION_10_4: ReadonlyArray<[number, string, number, number]> = [
  [1, 'Float16', 16, 10],
  [2, 'Float32', 32, 11],
  [3, 'UInt8', 8, 31],
  [4, 'Int8', 8, 21],
  [5, 'BFloat16', 16, 13],
  [6, 'Int16', 16, 22],
  [7, 'UInt16', 16, 32],
  [8, 'Int4', 4, 25],
  [9, 'UInt1', 1, 37],
  [10, 'UInt2', 2, 36],
  [11, 'UInt4', 4, 35],
  [12, 'UInt3', 3, 39],
  [13, 'UInt6', 6, 38],
  [14, 'Int32', 32, 23],
  [15, 'UInt32', 32, 33],
  [16, 'Float8E4M3FN', 8, 40],
  [17, 'Float8E5M2', 8, 41],
];

/** [dtype, bits, kind, min, max] — the exact ranges. */
const RANGES: ReadonlyArray<[DType, number, string, number, number]> = [
  ['bool', 8, 'bool', 0, 1],
  ['fp16', 16, 'float', -65504, 65504],
  ['fp32', 32, 'float', -(2 - 2 ** -23) * 2 ** 127, (2 - 2 ** -23) * 2 ** 127],
  ['fp64', 64, 'float', -Number.MAX_VALUE, Number.MAX_VALUE],
  ['bf16', 16, 'float', -(2 - 2 ** -7) * 2 ** 127, (2 - 2 ** -7) * 2 ** 127],
  ['fp8e4m3fn', 8, 'float', -448, 448],
  ['fp8e5m2', 8, 'float', -57344, 57344],
  ['int4', 4, 'int', -8, 7],
  ['int8', 8, 'int', -128, 127],
  ['int16', 16, 'int', -32768, 32767],
  ['int32', 32, 'int', -2147483648, 2147483647],
  // 64-bit bounds are the nearest doubles of -2^63 and 2^63 - 1.
  ['int64', 64, 'int', Number(-(2n ** 63n)), Number(2n ** 63n - 1n)],
  ['uint1', 1, 'uint', 0, 1],
  ['uint2', 2, 'uint', 0, 3],
  ['uint3', 3, 'uint', 0, 7],
  ['uint4', 4, 'uint', 0, 15],
  ['uint6', 6, 'uint', 0, 63],
  ['uint8', 8, 'uint', 0, 255],
  ['uint16', 16, 'uint', 0, 65535],
  ['uint32', 32, 'uint', 0, 4294967295],
  ['uint64', 64, 'uint', 0, Number(2n ** 64n - 1n)],
];

describe('DTYPES', () => {
  it('lists exactly the 22 non-UNUSED members of the §7.8 DataType enum', () => {
    expect(DTYPES).toHaveLength(22);
    expect(new Set(DTYPES)).toEqual(new Set(SECTION_7_8.map((r) => r[0])));
    expect(Object.keys(DTYPE_INFO).sort()).toEqual([...DTYPES].sort());
  });

  it.each(SECTION_7_8)('%s (%s) has proto code %i and blob code %s', (d, _enumName, proto, blob) => {
    const info = dtypeInfo(d);
    expect(info.name).toBe(d);
    expect(info.protoCode).toBe(proto);
    expect(info.blobCode).toBe(blob);
    expect(dtypeFromProtoCode(proto)).toBe(d);
    if (blob !== undefined) expect(dtypeFromBlobCode(blob)).toBe(d);
  });

  it('maps every §10.4 blob code to the dtype of the listed MIL DataType and element size', () => {
    for (const [blob, blobName, bits, proto] of SECTION_10_4) {
      const d = dtypeFromBlobCode(blob);
      expect(d, `blob code ${blob} (${blobName})`).toBeDefined();
      expect(DTYPE_INFO[d!].protoCode, blobName).toBe(proto);
      expect(bitWidth(d!), blobName).toBe(bits);
    }
    const withBlob = DTYPES.filter((d) => DTYPE_INFO[d].blobCode !== undefined);
    expect(withBlob).toHaveLength(SECTION_10_4.length);
  });

  it('has no blob code for bool, string, int64, uint64 or fp64 (§10.4: those must be immediate)', () => {
    const none = DTYPES.filter((d) => DTYPE_INFO[d].blobCode === undefined).sort();
    expect(none).toEqual(['bool', 'fp64', 'int64', 'string', 'uint64']);
  });

  it('returns undefined for UNUSED_TYPE (0) and codes outside the enum', () => {
    for (const code of [0, 3, 9, 14, 20, 26, 30, 42, -1, 1000]) expect(dtypeFromProtoCode(code)).toBeUndefined();
    for (const code of [0, 18, 255, -1]) expect(dtypeFromBlobCode(code)).toBeUndefined();
  });

  it('keeps the sub-byte unsigned codes out of bit-width order, as the enum does', () => {
    expect(['uint4', 'uint2', 'uint1', 'uint6', 'uint3'].map((d) => DTYPE_INFO[d as DType].protoCode)).toEqual([
      35, 36, 37, 38, 39,
    ]);
  });

  it('proto codes and blob codes are each unique', () => {
    const proto = DTYPES.map((d) => DTYPE_INFO[d].protoCode);
    expect(new Set(proto).size).toBe(proto.length);
    const blob = DTYPES.map((d) => DTYPE_INFO[d].blobCode).filter((c) => c !== undefined);
    expect(new Set(blob).size).toBe(blob.length);
  });
});

describe('bit widths and value ranges', () => {
  it.each(RANGES)('%s: %i bits, kind %s, range %d..%d', (d, bits, kind, min, max) => {
    const info = DTYPE_INFO[d];
    expect(info.bits).toBe(bits);
    expect(info.kind).toBe(kind);
    expect(info.min).toBe(min);
    expect(info.max).toBe(max);
    expect(info.subByte).toBe(bits < 8);
    expect(isSubByte(d)).toBe(bits < 8);
  });

  it('fp32 max is the largest finite float32 and fp16 max the largest finite binary16', () => {
    expect(Math.fround(DTYPE_INFO.fp32.max)).toBe(DTYPE_INFO.fp32.max);
    expect(new Float32Array(new Uint32Array([0x7f7fffff]).buffer)[0]).toBe(DTYPE_INFO.fp32.max);
    expect(new Float32Array(new Uint32Array([0x7f7f0000]).buffer)[0]).toBe(DTYPE_INFO.bf16.max);
    expect(2 ** 15 * (2 - 2 ** -10)).toBe(DTYPE_INFO.fp16.max);
  });

  it('string has no fixed width and no numeric range', () => {
    const s = DTYPE_INFO.string;
    expect(s.kind).toBe('string');
    expect(s.bits).toBe(0);
    expect(s.min).toBeNaN();
    expect(s.max).toBeNaN();
    expect(() => byteSize('string', 3)).toThrow(/string tensors have no fixed byte size/);
  });

  it('classifies floats and integers', () => {
    expect(DTYPES.filter(isFloat).sort()).toEqual(['bf16', 'fp16', 'fp32', 'fp64', 'fp8e4m3fn', 'fp8e5m2']);
    expect(DTYPES.filter(isInteger)).toHaveLength(14);
    expect(isInteger('bool')).toBe(false);
    expect(isFloat('bool')).toBe(false);
    expect(isInteger('string')).toBe(false);
  });
});

describe('byteSize', () => {
  it('is count × size for byte-sized dtypes', () => {
    expect(byteSize('fp16', 10)).toBe(20);
    expect(byteSize('fp32', 3)).toBe(12);
    expect(byteSize('int64', 2)).toBe(16);
    expect(byteSize('bool', 5)).toBe(5);
    expect(byteSize('fp8e5m2', 7)).toBe(7);
    expect(byteSize('fp32', 0)).toBe(0);
  });

  it('is ceil(count × bits / 8) for sub-byte dtypes (§10.4)', () => {
    expect(byteSize('int4', 3)).toBe(2);
    expect(byteSize('uint2', 5)).toBe(2);
    expect(byteSize('uint3', 3)).toBe(2);
    expect(byteSize('uint6', 2)).toBe(2);
    expect(byteSize('uint1', 9)).toBe(2);
    expect(byteSize('uint1', 8)).toBe(1);
    expect(byteSize('uint3', 8)).toBe(3);
    expect(byteSize('uint6', 4)).toBe(3);
  });
});

describe('helpers', () => {
  it('isDType accepts exactly the dtype names', () => {
    for (const d of DTYPES) expect(isDType(d)).toBe(true);
    for (const s of ['float16', 'FP16', 'int', 'uint5', 'toString', 'constructor', '']) expect(isDType(s)).toBe(false);
  });

  it('uintOfBits maps LUT index widths to uint dtypes', () => {
    expect([1, 2, 3, 4, 6, 8, 16, 32].map(uintOfBits)).toEqual([
      'uint1', 'uint2', 'uint3', 'uint4', 'uint6', 'uint8', 'uint16', 'uint32',
    ]);
    for (const bad of [0, 5, 7, 12, 64]) {
      expect(() => uintOfBits(bad)).toThrow(`no uint dtype of ${bad} bits (expected 1, 2, 3, 4, 6, 8, 16 or 32)`);
    }
  });
});
