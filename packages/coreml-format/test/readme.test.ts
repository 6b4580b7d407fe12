/**
 * The README's example is run exactly as the README says to run it
 * (`node --conditions=source --import tsx example.ts`), so it cannot rot.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

describe('README', () => {
  it('the Example block runs and prints what its last comment says', () => {
    const section = readme.slice(readme.indexOf('## Example'));
    const block = /```ts\n([\s\S]*?)```/.exec(section);
    expect(block).not.toBeNull();
    const code = block![1];
    const promised = /\/\/ → (.*)\n$/.exec(code);
    expect(promised).not.toBeNull();
    const file = fileURLToPath(new URL(`./.readme-example-${process.pid}.ts`, import.meta.url));
    const scratch = mkdtempSync(join(tmpdir(), 'silica-readme-'));
    writeFileSync(file, code);
    try {
      const out = execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', file], {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, TMPDIR: scratch }, // the example's package goes here
      });
      expect(out.trim()).toBe(promised![1]);
    } finally {
      rmSync(file, { force: true });
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
