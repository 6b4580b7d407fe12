/**
 * NumPy `.npz` archives: a zip of `.npy` members (stored or deflated, as `np.savez` /
 * `np.savez_compressed` write them), read with fflate.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { unzipSync, zipSync } from 'fflate';
import { type NpyArray, readNpy, writeNpy } from './npy.js';

/** Reads an `.npz` (path or bytes) into arrays keyed by member name without `.npy`. */
export function readNpz(source: string | Uint8Array): Record<string, NpyArray> {
  const label = typeof source === 'string' ? source : '.npz';
  const bytes = typeof source === 'string' ? new Uint8Array(readFileSync(source)) : source;
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new Error(`${label}: not a readable zip archive (${(e as Error).message})`, { cause: e });
  }
  const out: Record<string, NpyArray> = {};
  for (const [member, data] of Object.entries(files)) {
    if (member.endsWith('/')) continue;
    const key = member.endsWith('.npy') ? member.slice(0, -4) : member;
    out[key] = readNpy(data, `${label}:${member}`);
  }
  return out;
}

/** Writes arrays as an uncompressed `.npz` (like `np.savez`); returns the bytes, and writes `path` when given. */
export function writeNpz(arrays: Readonly<Record<string, NpyArray>>, path?: string): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const [k, a] of Object.entries(arrays)) files[`${k}.npy`] = writeNpy(a);
  // fixed timestamp: the same arrays give the same bytes
  const bytes = zipSync(files, { level: 0, mtime: new Date(1980, 0, 1) });
  if (path) writeFileSync(path, bytes);
  return bytes;
}
