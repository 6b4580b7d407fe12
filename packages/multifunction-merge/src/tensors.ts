/**
 * Tensor helpers the merge needs beyond `Tensor.contentEquals`: a byte comparison that
 * streams two file-backed tensors chunk by chunk (so confirming that two multi-GB weights
 * are equal never holds either whole), and re-typing a tensor's stored bytes (an iOS16
 * packed `uint8` index tensor *is* a `uint<n>` tensor with the same bytes,
 * mlpackage-format.md §11).
 */
import { DenseTensor, type DType, FileTensor, type Tensor, byteSize, numElements, shapesEqual } from '@silica/ir';

/** Chunk size of the streamed comparison of two file-backed tensors. */
const COMPARE_CHUNK = 8 << 20;

/**
 * True when `a` and `b` have the same dtype, shape and stored bytes. The WeightHashes are
 * compared first (cached per tensor, so each tensor is hashed at most once); equal hashes
 * are confirmed by the bytes (ARCHITECTURE.md "Content hash": never trust the hash alone).
 */
export function sameContent(a: Tensor, b: Tensor): boolean {
  if (a === b) return true;
  if (a.dtype !== b.dtype || !shapesEqual(a.shape, b.shape)) return false;
  if (a.dtype === 'string') return a.contentEquals(b);
  if (a.byteLength !== b.byteLength) return false;
  if (!a.hash().equals(b.hash())) return false;
  if (a instanceof FileTensor && b instanceof FileTensor) {
    if (a.path === b.path && a.offset === b.offset) return true;
    return sameFileBytes(a, b);
  }
  return bytesOf(a).equals(bytesOf(b));
}

function bytesOf(t: Tensor): Buffer {
  const u = t.bytes();
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** Streams both ranges in lock-step (equal byte lengths give equal chunk sequences). */
function sameFileBytes(a: FileTensor, b: FileTensor): boolean {
  const ia = a.chunks(COMPARE_CHUNK);
  const ib = b.chunks(COMPARE_CHUNK);
  try {
    for (;;) {
      const x = ia.next();
      const y = ib.next();
      if (x.done || y.done) return x.done === y.done;
      // both generators reuse their buffer: compare before asking for the next chunk
      if (!Buffer.from(x.value.buffer, x.value.byteOffset, x.value.byteLength).equals(Buffer.from(y.value.buffer, y.value.byteOffset, y.value.byteLength))) {
        return false;
      }
    }
  } finally {
    ia.return(undefined);
    ib.return(undefined);
  }
}

/**
 * The same stored bytes declared as another dtype and shape (no copy: a FileTensor stays
 * lazy over the same file range). The byte length must match exactly.
 */
export function retype(t: Tensor, dtype: DType, shape: readonly number[]): Tensor {
  const need = byteSize(dtype, numElements(shape));
  if (need !== t.byteLength) {
    throw new Error(
      `cannot re-read ${t.dtype}[${t.shape.join(', ')}] (${t.byteLength} bytes) as ${dtype}[${shape.join(', ')}], which needs ${need} bytes`,
    );
  }
  if (t instanceof FileTensor) return new FileTensor(dtype, shape, t.path, t.offset, t.byteLength);
  return new DenseTensor(dtype, shape, t.bytes());
}
