import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { SilicaFormatError } from '../src/index.js';

/** shared/fixtures beside the repository (tests read them from `../shared/fixtures/`). */
export const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/', import.meta.url));

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `silica-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function hexBytes(s: string): Uint8Array {
  const parts = s.trim().split(/\s+/).filter((p) => p !== '');
  return Uint8Array.from(parts, (b) => parseInt(b, 16));
}

/** Runs `fn`, asserts it throws a SilicaFormatError, and returns it. */
export function formatError(fn: () => unknown): SilicaFormatError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a SilicaFormatError to be thrown').toBeInstanceOf(SilicaFormatError);
  return caught as SilicaFormatError;
}
