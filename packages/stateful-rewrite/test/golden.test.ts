/**
 * Golden text tests (STYLE.md): every folder of test/fixtures holds `input.sil`,
 * `output.sil` and, when the pass takes options, `options.json`; `result.json` records
 * the pass's `changed`, statistics and warnings. `UPDATE=1 npx vitest run
 * packages/stateful-rewrite` rewrites output.sil and result.json — review the diff.
 *
 * Each case that converts something is also run: the input program fed its own cache
 * outputs against the output program keeping them in states, over 8 calls.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type Program, type TensorType, parseProgram, pipeline, printProgram, silentLogger } from '@silica/ir';
import type { InputTensor } from '@silica/interpreter';
import statefulRewrite, { type StatefulRewriteOptions, detectStatePairs } from '../src/index.js';
import { compareDecode, noise } from './helpers.js';

const DIR = fileURLToPath(new URL('./fixtures/', import.meta.url));
const UPDATE = process.env.UPDATE === '1';
const cases = readdirSync(DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

function stepInputs(program: Program, states: ReadonlySet<string>) {
  const fn = program.main;
  return (step: number): Record<string, InputTensor> => {
    const out: Record<string, InputTensor> = {};
    fn.inputs.forEach((v, k) => {
      if (states.has(v.name)) return;
      const t = v.type as TensorType;
      const shape = t.shape as number[];
      const n = shape.reduce((a, b) => a * b, 1);
      out[v.name] = t.dtype.startsWith('int')
        ? { shape, data: new Int32Array(n).fill(step) } // positions: the step
        : { shape, data: noise(n, 7919 * (step + 1) + k) };
    });
    return out;
  };
}

describe('golden cases', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
  });

  for (const name of cases) {
    it(name, async () => {
      const dir = join(DIR, name);
      const inputText = readFileSync(join(dir, 'input.sil'), 'utf8');
      const optionsPath = join(dir, 'options.json');
      const options = (existsSync(optionsPath) ? JSON.parse(readFileSync(optionsPath, 'utf8')) : {}) as StatefulRewriteOptions;
      const program = parseProgram(inputText);
      const original = parseProgram(inputText);
      const { report } = await pipeline([statefulRewrite(options)]).runWithReport(program, { logger: silentLogger, verify: true });
      const got = printProgram(program);
      const result = { changed: report[0].changed, stats: report[0].stats, warnings: report[0].warnings };
      const outputPath = join(dir, 'output.sil');
      const resultPath = join(dir, 'result.json');
      if (UPDATE || !existsSync(outputPath)) {
        writeFileSync(outputPath, got);
        writeFileSync(resultPath, JSON.stringify(result, null, 2) + '\n');
      }
      expect(got).toBe(readFileSync(outputPath, 'utf8'));
      expect(result).toEqual(JSON.parse(readFileSync(resultPath, 'utf8')));
      // a case changes the program exactly when its output differs from its input
      expect(result.changed).toBe(got !== printProgram(original));
      if (name.startsWith('no-fire-')) expect(result.changed).toBe(false);

      if (!result.changed) return;
      const states = new Set(program.main.inputs.filter((v) => v.type.kind === 'state').map((v) => v.name));
      const pairs = (options.states ?? detectStatePairs(original).pairs).filter((p) => states.has(p.input));
      expect(pairs.length).toBe(states.size);
      const r = compareDecode(original, program, pairs, stepInputs(original, states), 8);
      if (options.convertDtype) {
        // the state holds fp16: the outputs differ from the fp32 model by fp16 rounding
        expect(r.maxRelativeL2).toBeLessThan(2e-3);
      } else {
        expect(r.maxAbsError).toBe(0);
        expect(r.stateMaxAbsError).toBe(0);
      }
    });
  }
});
