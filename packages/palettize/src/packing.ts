/**
 * Packing LUT indices LSB-first (mlpackage-format.md §11) — the hot end of every
 * palettization (one index per weight). The byte-aligned widths 1, 2, 4 and 8 pack whole
 * bytes at a time here; 3 and 6 bits, whose elements straddle bytes, use `@silica/ir`'s
 * general packer.
 */
import { packSubByte } from '@silica/ir';

export function packIndices(indices: Uint8Array, nbits: number): Uint8Array {
  const n = indices.length;
  switch (nbits) {
    case 8:
      return indices.slice();
    case 4: {
      const out = new Uint8Array(Math.ceil(n / 2));
      const full = n >>> 1;
      for (let j = 0; j < full; j++) out[j] = (indices[2 * j] & 0xf) | ((indices[2 * j + 1] & 0xf) << 4);
      if (n & 1) out[full] = indices[n - 1] & 0xf;
      return out;
    }
    case 2: {
      const out = new Uint8Array(Math.ceil(n / 4));
      const full = n >>> 2;
      for (let j = 0; j < full; j++) {
        const k = 4 * j;
        out[j] = (indices[k] & 3) | ((indices[k + 1] & 3) << 2) | ((indices[k + 2] & 3) << 4) | ((indices[k + 3] & 3) << 6);
      }
      for (let k = full * 4; k < n; k++) out[full] |= (indices[k] & 3) << (2 * (k & 3));
      return out;
    }
    case 1: {
      const out = new Uint8Array(Math.ceil(n / 8));
      for (let k = 0; k < n; k++) out[k >>> 3] |= (indices[k] & 1) << (k & 7);
      return out;
    }
    default:
      return packSubByte(indices, nbits);
  }
}
