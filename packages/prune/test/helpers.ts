/** Fixture packages for the prune tests (the rest comes from @silica/test-support). */
import { readFileSync } from 'node:fs';
import { readMLPackage } from '@silica/mlpackage-reader';
import { readNpy } from '@silica/interpreter';
import type { Program } from '@silica/ir';
import { fixturePath } from '@silica/test-support';

export function fixture(name: string): Promise<Program> {
  return readMLPackage(fixturePath(`${name}.mlpackage`));
}

/** A fixture's `.dense/<value>.npy` (coremltools' own decompression), as fp16 bits. */
export function denseNpy(fixtureName: string, value: string): Uint16Array {
  const a = readNpy(new Uint8Array(readFileSync(fixturePath(`${fixtureName}.dense/${value}.npy`))), value);
  if (a.dtype !== 'f2') throw new Error(`${value}.npy is ${a.dtype}, expected f2`);
  return a.data as Uint16Array;
}
