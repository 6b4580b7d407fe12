/**
 * The coremltools fixtures: `attention_decomposed` (mul(1/√d) → matmul(transpose_y) → add
 * mask → softmax → matmul, fp16) must fuse to one SDPA and then be the same graph as
 * `attention_sdpa` (coremltools' own fused form), and compute the same outputs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Program, cloneProgram, pipeline } from '@silica/ir';
import { type InputTensor, compareOutputs, createSession, npyToInput, readNpz } from '@silica/interpreter';
import { readMLPackageSync } from '@silica/mlpackage-reader';
import { writeMLPackageSync } from '@silica/mlpackage-writer';
import sdpaFusion, { sdpaLowering } from '../src/index.js';
import { FIXTURES, canonicalText, compareRuns, countOps, opCounts, randomInputs, runPass, signature } from './helpers.js';

const decomposedPath = join(FIXTURES, 'attention_decomposed.mlpackage');
const sdpaPath = join(FIXTURES, 'attention_sdpa.mlpackage');

/** Fixture tolerance for fp16 programs (fixtures/README.md): relative L2 < 1e-2 per output. */
const FP16_REL_L2 = 1e-2;

describe('attention_decomposed fixture', () => {
  let decomposed: Program;
  let reference: Program;
  let fused: Program;
  let stats: Record<string, number | string>;
  let fixtureInputs: Record<string, InputTensor>;

  beforeAll(async () => {
    decomposed = readMLPackageSync(decomposedPath);
    reference = readMLPackageSync(sdpaPath);
    ({ program: fused, stats } = await runPass(sdpaFusion(), decomposed));
    const npz = readNpz(join(FIXTURES, 'attention_decomposed.inputs.npz'));
    fixtureInputs = Object.fromEntries(Object.entries(npz).map(([k, a]) => [k, npyToInput(a)]));
  });

  it('fuses the one attention block into one SDPA with the float mask', () => {
    expect(countOps(decomposed, 'softmax')).toBe(1);
    expect(stats).toEqual({ fused: 1, boolMasks: 0, floatMasks: 1, scaled: 0, tiled: 0 });
    expect(countOps(fused, 'scaled_dot_product_attention')).toBe(1);
    for (const gone of ['softmax', 'matmul', 'mul', 'add']) expect(countOps(fused, gone)).toBe(0);
    expect(signature(fused)).toEqual(signature(decomposed));
  });

  it('has the op types of attention_sdpa, consts included', () => {
    expect(opCounts(fused)).toEqual(opCounts(reference));
  });

  it('is the same graph as attention_sdpa modulo names and op order', () => {
    expect(canonicalText(fused)).toBe(canonicalText(reference));
    // …and the decomposed one is not (the comparison can fail)
    expect(canonicalText(decomposed)).not.toBe(canonicalText(reference));
  });

  it('computes what the decomposed block computes on the fixture inputs (fp16: relative L2 ≤ 1e-2)', () => {
    const m = compareRuns(decomposed, fused, [fixtureInputs]).y;
    expect(m.relativeL2).toBeLessThanOrEqual(FP16_REL_L2);
    // measured: relative L2 3.7e-4, max abs 2.0e-3 (one fp16 rounding of the fused op vs four)
    expect(m.relativeL2).toBeLessThan(1e-3);
  });

  it('computes exactly what attention_sdpa computes', () => {
    const m = compareRuns(reference, fused, [fixtureInputs]).y;
    expect(m.maxAbsError).toBe(0);
  });

  it('stays within the fixture tolerance of the NumPy fp32 reference outputs', () => {
    const expected = readNpz(join(FIXTURES, 'attention_decomposed.expected.npz'));
    for (const p of [decomposed, fused]) {
      const got = createSession(p).predict(fixtureInputs);
      expect(compareOutputs(expected, got).y.relativeL2).toBeLessThan(FP16_REL_L2);
    }
  });

  it('computes what the decomposed block computes on random inputs (5 seeds)', () => {
    const inputs = [11, 12, 13, 14, 15].map((s) => randomInputs(decomposed, s));
    const m = compareRuns(decomposed, fused, inputs).y;
    expect(m.relativeL2).toBeLessThanOrEqual(FP16_REL_L2);
  });

  it('fusion → lowering in a pipeline gives back the decomposition, bit for bit on the fixture inputs', async () => {
    const lowered = await pipeline([sdpaFusion(), sdpaLowering()]).run(cloneProgram(decomposed));
    expect(countOps(lowered, 'scaled_dot_product_attention')).toBe(0);
    expect(countOps(lowered, 'softmax')).toBe(1);
    const m = compareRuns(decomposed, lowered, [fixtureInputs]).y;
    // the scale 1/√64 = 0.125 is a power of two: scaling before or after the head transpose rounds alike
    expect(m.maxAbsError).toBe(0);
  });

  describe('through the writer and reader', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'sdpa-fusion-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('the fused program writes to a package that reads back as the same graph', () => {
      const path = join(dir, 'fused.mlpackage');
      writeMLPackageSync(fused, path);
      const back = readMLPackageSync(path);
      expect(canonicalText(back)).toBe(canonicalText(reference));
    });
  });
});
