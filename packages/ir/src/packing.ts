/**
 * Sub-byte packing (mlpackage-format.md §11): elements concatenated into an LSB-first
 * bit stream, element i at stream bits [i·nbits, (i+1)·nbits); bit k in byte k/8 at
 * position k%8; unused high bits of the last byte are zero.
 */

/** Packs `values` (each < 2^nbits; int4 callers pass the low 4 bits) into bytes. */
export function packSubByte(values: ArrayLike<number>, nbits: number): Uint8Array {
  if (!(nbits >= 1 && nbits <= 8)) throw new Error(`cannot pack ${nbits}-bit elements`);
  const n = values.length;
  const out = new Uint8Array(Math.ceil((n * nbits) / 8));
  const limit = 1 << nbits;
  if (nbits === 8) {
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (!(v >= 0 && v < 256) || !Number.isInteger(v)) throw new Error(`value ${v} at index ${i} does not fit in 8 bits`);
      out[i] = v;
    }
    return out;
  }
  const perByte = 8 / nbits;
  if (Number.isInteger(perByte)) {
    // 1, 2, 4 bits: elements never straddle bytes
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (!(v >= 0 && v < limit) || !Number.isInteger(v)) throw new Error(`value ${v} at index ${i} does not fit in ${nbits} bits`);
      out[(i / perByte) | 0] |= v << ((i % perByte) * nbits);
    }
    return out;
  }
  // 3, 5, 6, 7 bits: an element may continue into the next byte
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!(v >= 0 && v < limit) || !Number.isInteger(v)) throw new Error(`value ${v} at index ${i} does not fit in ${nbits} bits`);
    const bit = i * nbits;
    const byte = bit >>> 3;
    const shift = bit & 7;
    out[byte] |= (v << shift) & 0xff;
    if (shift + nbits > 8) out[byte + 1] |= v >>> (8 - shift);
  }
  return out;
}

/** Unpacks `count` unsigned `nbits`-bit elements. Throws if `bytes` is too short. */
export function unpackSubByte(bytes: Uint8Array, nbits: number, count: number): Uint8Array {
  if (!(nbits >= 1 && nbits <= 8)) throw new Error(`cannot unpack ${nbits}-bit elements`);
  const need = Math.ceil((count * nbits) / 8);
  if (bytes.byteLength < need) {
    throw new Error(`${count} ${nbits}-bit elements need ${need} bytes, got ${bytes.byteLength}`);
  }
  const out = new Uint8Array(count);
  if (nbits === 8) {
    out.set(bytes.subarray(0, count));
    return out;
  }
  const mask = (1 << nbits) - 1;
  if (nbits === 4) {
    const half = count >>> 1;
    for (let j = 0; j < half; j++) {
      const b = bytes[j];
      out[2 * j] = b & 0xf;
      out[2 * j + 1] = b >>> 4;
    }
    if (count & 1) out[count - 1] = bytes[half] & 0xf;
    return out;
  }
  const perByte = 8 / nbits;
  if (Number.isInteger(perByte)) {
    for (let i = 0; i < count; i++) out[i] = (bytes[(i / perByte) | 0] >>> ((i % perByte) * nbits)) & mask;
    return out;
  }
  for (let i = 0; i < count; i++) {
    const bit = i * nbits;
    const byte = bit >>> 3;
    const shift = bit & 7;
    let v = bytes[byte] >>> shift;
    if (shift + nbits > 8) v |= bytes[byte + 1] << (8 - shift);
    out[i] = v & mask;
  }
  return out;
}

/** Number of unused bits at the end of the last byte (`padding_size_in_bits`, §10.3). */
export function paddingBits(count: number, nbits: number): number {
  return Math.ceil((count * nbits) / 8) * 8 - count * nbits;
}
