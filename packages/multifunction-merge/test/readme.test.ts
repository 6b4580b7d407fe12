/**
 * The README's example is run exactly as the README says to run it
 * (`node --conditions=source --import tsx example.ts` from the repository root), so it
 * cannot rot; its report figures are checked against a real merge.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readMLPackage } from '@silica/mlpackage-reader';
import { mergeFunctions } from '../src/index.js';
import { fixture } from './helpers.js';

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
    const scratch = mkdtempSync(join(tmpdir(), 'silica-mfm-readme-'));
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

  it('the report figures it quotes are the real ones', async () => {
    const { report } = mergeFunctions(
      [
        { program: await readMLPackage(fixture('mf_head_a')), functionName: 'main', targetName: 'head_a' },
        { program: await readMLPackage(fixture('mf_head_b')), functionName: 'main', targetName: 'head_b' },
      ],
      { defaultFunctionName: 'head_a' },
    );
    const f = report.functions;
    const b = report.bytes;
    const s = report.sharing;
    const text = [
      `functions: ${f[0].name}  weightBytes ${f[0].weightBytes}  sharedBytes ${f[0].sharedBytes}`,
      `           ${f[1].name}  weightBytes ${f[1].weightBytes}  sharedBytes ${f[1].sharedBytes}`,
      `bytes:     separate ${b.separate}  merged ${b.merged}  saved ${b.saved} (by content ${b.savedByContent}, by value ${b.savedByValue})`,
      `sharing:   tensors ${s.tensors}  sharedTensors ${s.sharedTensors}  sharedConstexprOps ${s.sharedConstexprOps}  dedupedOps ${s.dedupedOps}`,
    ].join('\n');
    expect(readme).toContain('```\n' + text + '\n```');
  });
});
