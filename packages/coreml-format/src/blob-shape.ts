/**
 * Element counts and byte sizes of blob payloads (mlpackage-format.md §10.4): byte-sized
 * dtypes store `count × element size` bytes; sub-byte dtypes store
 * `ceil(count × bits / 8)` bytes with `8 × sizeInBytes − count × bits` padding bits.
 */
import { type DType, DTYPE_INFO } from '@silica/ir';
import { SilicaFormatError } from './errors.js';

/** Product of a static shape, checked: every dim a non-negative integer, the product a safe integer. */
export function elementCount(shape: readonly number[] | number, file: string, where: string): number {
  if (typeof shape === 'number') {
    if (!Number.isSafeInteger(shape) || shape < 0) {
      throw new SilicaFormatError({ file, where, expected: 'an element count that is a non-negative safe integer', found: String(shape) });
    }
    return shape;
  }
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new SilicaFormatError({
        file,
        where,
        expected: 'a static shape of non-negative integer dims',
        found: `[${shape.join(', ')}]`,
      });
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n)) {
    throw new SilicaFormatError({ file, where, expected: 'a shape whose element count is a safe integer', found: `[${shape.join(', ')}]` });
  }
  return n;
}

/** `sizeInBytes` of `count` elements, computed exactly in BigInt. */
export function blobSizeInBytes(dtype: DType, count: number): bigint {
  const bits = BigInt(DTYPE_INFO[dtype].bits);
  return (BigInt(count) * bits + 7n) / 8n;
}

/** `padding_size_in_bits` of `count` elements: 0 for byte-sized dtypes. */
export function blobPaddingBits(dtype: DType, count: number): number {
  const info = DTYPE_INFO[dtype];
  if (!info.subByte) return 0;
  return Number(blobSizeInBytes(dtype, count) * 8n - BigInt(count) * BigInt(info.bits));
}

/** Dtypes that have a `BlobDataType` code (§10.4), in code order. */
export function blobDTypes(): DType[] {
  return (Object.keys(DTYPE_INFO) as DType[])
    .filter((d) => DTYPE_INFO[d].blobCode !== undefined)
    .sort((a, b) => (DTYPE_INFO[a].blobCode as number) - (DTYPE_INFO[b].blobCode as number));
}
