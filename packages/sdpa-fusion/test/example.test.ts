/**
 * The README's runnable example (examples/fuse-package.ts) works on the coremltools fixture.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readMLPackageSync } from '@silica/mlpackage-reader';
import { fusePackage } from '../examples/fuse-package.js';
import { FIXTURES, canonicalText } from './helpers.js';

const input = join(FIXTURES, 'attention_decomposed.mlpackage');

describe('examples/fuse-package.ts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdpa-example-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fuses the fixture, checks it and writes a package equal in graph to attention_sdpa', async () => {
    const out = join(dir, 'fused.mlpackage');
    const r = await fusePackage(input, out);
    expect(r.fused).toBe(1);
    expect(r.relativeL2.y).toBeLessThan(1e-2);
    expect(canonicalText(readMLPackageSync(out))).toBe(canonicalText(readMLPackageSync(join(FIXTURES, 'attention_sdpa.mlpackage'))));
  });
});
