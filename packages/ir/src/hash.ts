/**
 * WeightHash: a content hash of (dtype, shape, bytes) — ARCHITECTURE.md "Content hash".
 * SHA-256 from node:crypto over a small header (dtype and shape) then the stored bytes.
 * Equal hashes are still confirmed by a byte compare before any sharing
 * (Tensor.contentEquals); the hash only buckets.
 */
import { createHash } from 'node:crypto';
import type { DType } from './dtype.js';

export class WeightHash {
  readonly hex: string;
  constructor(hex: string) {
    this.hex = hex;
  }
  equals(other: WeightHash): boolean {
    return this.hex === other.hex;
  }
  /** Short form used by the printer: `sha256:9f2c…` (first 16 hex digits). */
  short(): string {
    return `sha256:${this.hex.slice(0, 16)}`;
  }
  toString(): string {
    return `sha256:${this.hex}`;
  }
}

export function hashTensorBytes(
  dtype: DType,
  shape: readonly number[],
  bytes: Uint8Array | Iterable<Uint8Array>,
): WeightHash {
  const h = createHash('sha256');
  h.update(`${dtype}[${shape.join(',')}]\n`);
  if (bytes instanceof Uint8Array) h.update(bytes);
  else for (const chunk of bytes) h.update(chunk);
  return new WeightHash(h.digest('hex'));
}
