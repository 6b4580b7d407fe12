/**
 * Manifest item identifiers (mlpackage-format.md §2.2): 36-character 8-4-4-4-12 UUID
 * strings. Packages made on macOS carry upper-case ones, so Silica writes upper case.
 */
import { createHash, randomUUID } from 'node:crypto';

/** RFC 4122 URL namespace, used for Silica's name-based identifiers. */
export const UUID_NAMESPACE_URL = '6BA7B811-9DAD-11D1-80B4-00C04FD430C8';

const UUID_RE = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** A fresh random (version 4) UUID, upper case. */
export function randomIdentifier(): string {
  return randomUUID().toUpperCase();
}

/** RFC 4122 version-5 (SHA-1, name-based) UUID of `name` in `namespace`, upper case. */
export function uuidV5(name: string, namespace: string = UUID_NAMESPACE_URL): string {
  if (!isUuid(namespace)) throw new RangeError(`namespace ${JSON.stringify(namespace)} is not a UUID`);
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const digest = createHash('sha1').update(ns).update(name, 'utf8').digest();
  const b = digest.subarray(0, 16);
  b[6] = (b[6] & 0x0f) | 0x50;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * A deterministic identifier for item `itemName` of a package identified by `seed`:
 * the same (seed, item) always gives the same UUID, different ones differ.
 */
export function deterministicIdentifier(seed: string, itemName: string): string {
  return uuidV5(`silica:mlpackage:${seed}:${itemName}`);
}
