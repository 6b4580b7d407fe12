/** The README's runnable example runs and does what it says. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { FIXTURES } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

it('examples/kv-cache.ts converts the fixture and decodes with states', () => {
  const dir = mkdtempSync(join(tmpdir(), 'silica-example-'));
  try {
    const out = join(dir, 'out.mlpackage');
    const r = spawnSync(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'packages/stateful-rewrite/examples/kv-cache.ts', join(FIXTURES, 'kv_cache_io.mlpackage'), out],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('function main: states k_cache, v_cache; outputs y');
    expect(r.stdout).toContain(`wrote ${out} (spec 9)`);
    expect(r.stdout.match(/^pos \d: y\[0\.\.3\] = /gm)).toHaveLength(4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
