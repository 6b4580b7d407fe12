/**
 * The README's example is run exactly as the README says to run it
 * (`node --conditions=source --import tsx example.ts` from the repository root), so it
 * cannot rot; its report figures are checked against a real merge.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runReadmeExample } from '@silica/test-support';
import { readMLPackage } from '@silica/mlpackage-reader';
import { mergeFunctions } from '../src/index.js';
import { fixture } from './helpers.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('the Example block runs and prints what its last comment says', () => {
    const { printed, promised } = runReadmeExample(new URL('../README.md', import.meta.url));
    expect(printed).toBe(promised);
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
