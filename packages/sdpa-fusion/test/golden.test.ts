/**
 * Layer 1: golden text fixtures, `test/fixtures/<case>/{input.sil, output.sil, options.json}`.
 *
 * `options.json` holds `pass` (`sdpaFusion`, `sdpaLowering` or `sdpaSlicedQ`), the pass's
 * `options`, `why` (what the case shows) and `unchanged: true` for the cases where the pass
 * must not fire — there the output must print exactly as the input.
 *
 * Every case is also run in the interpreter before and after (layer 3) on seeded inputs
 * with causal masks. Regenerate outputs with `UPDATE=1` and review the diff.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type Pass, type Program, parseProgram, printProgram, verifyProgram } from '@silica/ir';
import sdpaFusion, { sdpaLowering, sdpaSlicedQ } from '../src/index.js';
import { compareRuns, randomInputs, runPass, signature, withinTolerance } from './helpers.js';

const DIR = fileURLToPath(new URL('./fixtures/', import.meta.url));
const UPDATE = process.env.UPDATE === '1';

interface CaseOptions {
  readonly pass: 'sdpaFusion' | 'sdpaLowering' | 'sdpaSlicedQ';
  readonly options?: Record<string, unknown>;
  readonly unchanged?: boolean;
  readonly why: string;
}

const FACTORIES: Record<CaseOptions['pass'], (o: never) => Pass> = {
  sdpaFusion: sdpaFusion as (o: never) => Pass,
  sdpaLowering: sdpaLowering as (o: never) => Pass,
  sdpaSlicedQ: sdpaSlicedQ as (o: never) => Pass,
};

const cases = readdirSync(DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

function outputDtype(p: Program): 'fp16' | 'fp32' {
  const t = p.main.outputs[0].type;
  return t.kind === 'tensor' && t.dtype === 'fp16' ? 'fp16' : 'fp32';
}

describe('golden fixtures', () => {
  it('there are fusion, lowering, sliced-Q and does-not-fire cases', () => {
    for (const prefix of ['fuse-', 'lower-', 'sliced-q', 'no-fire-']) {
      expect(cases.some((c) => c.startsWith(prefix)), prefix).toBe(true);
    }
  });

  for (const name of cases) {
    const dir = join(DIR, name);
    const opts = JSON.parse(readFileSync(join(dir, 'options.json'), 'utf8')) as CaseOptions;
    it(`${name}: ${opts.why}`, async () => {
      const input = parseProgram(readFileSync(join(dir, 'input.sil'), 'utf8'));
      verifyProgram(input);
      const pass = FACTORIES[opts.pass]((opts.options ?? {}) as never);
      const { program: output, changed } = await runPass(pass, input);
      const text = printProgram(output);
      const expectedPath = join(dir, 'output.sil');
      if (UPDATE) writeFileSync(expectedPath, text);
      else if (!existsSync(expectedPath)) throw new Error(`${expectedPath} is missing: run the test with UPDATE=1 and review the new file`);
      expect(text).toBe(readFileSync(expectedPath, 'utf8'));
      expect(signature(output)).toEqual(signature(input));
      if (opts.unchanged) {
        expect(changed).toBe(false);
        expect(text).toBe(printProgram(input));
      } else {
        expect(changed).toBe(true);
        expect(text).not.toBe(printProgram(input));
      }
      const metrics = compareRuns(input, output, [randomInputs(input, 1), randomInputs(input, 2)]);
      for (const m of Object.values(metrics)) expect(withinTolerance(outputDtype(input), m), JSON.stringify(m)).toBe(true);
    });
  }
});
