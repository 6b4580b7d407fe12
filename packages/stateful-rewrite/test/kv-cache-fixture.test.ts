/**
 * The coremltools fixtures: kv_cache_io (explicit cache I/O) rewritten by the pass must
 * have the structure of kv_cache_stateful (coremltools' stateful version of the same
 * step), compute the same outputs over a decode loop, and write a package whose
 * description lists the states.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeModel } from '@silica/coreml-format';
import { type Program, cloneProgram, pipeline, printProgram, silentLogger, verifyProgram } from '@silica/ir';
import { type InputTensor, type NpyArray, compareOutputs, createSession, npyToInput, readNpz } from '@silica/interpreter';
import { readMLPackage } from '@silica/mlpackage-reader';
import { writeMLPackage } from '@silica/mlpackage-writer';
import statefulRewrite, { detectStatePairs } from '../src/index.js';
import { FIXTURES, canonicalText, compareDecode, countOps, noise, opTypes, runPass, signature } from './helpers.js';

const PAIRS = [
  { input: 'k_cache', output: 'k_cache_out' },
  { input: 'v_cache', output: 'v_cache_out' },
];
const CACHE = [1, 4, 32, 64];

let explicit: Program;
let reference: Program;
let inputs: Record<string, NpyArray>;
let tmp: string;

beforeAll(async () => {
  explicit = await readMLPackage(join(FIXTURES, 'kv_cache_io.mlpackage'), { eager: true });
  reference = await readMLPackage(join(FIXTURES, 'kv_cache_stateful.mlpackage'), { eager: true });
  inputs = readNpz(join(FIXTURES, 'kv_cache_io.inputs.npz'));
  tmp = mkdtempSync(join(tmpdir(), 'silica-stateful-'));
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function rewritten(options: Parameters<typeof statefulRewrite>[0] = {}): Promise<Program> {
  const p = cloneProgram(explicit);
  await pipeline([statefulRewrite(options)]).run(p, { logger: silentLogger, verify: true });
  return p;
}

/**
 * Decode-step inputs from the fixture's: its `x` varied per step (x·cos + noise), `pos`
 * = the step, and a mask that lets position ≤ pos attend (the fixture's own convention:
 * 0 allowed, a large negative number masked — read from its mask at pos 5).
 */
function stepInputs(step: number): Record<string, InputTensor> {
  const x = inputs.x.data as Float32Array;
  const n = noise(x.length, 1000 + step);
  const xs = Float32Array.from(x, (v, i) => v * Math.cos(step) + 0.5 * n[i]);
  const fixtureMask = inputs.mask.data as Float32Array;
  const blocked = fixtureMask[31];
  expect(blocked).toBeLessThan(-1000);
  const mask = new Float32Array(32).map((_, j) => (j <= step ? 0 : blocked));
  return {
    x: { shape: inputs.x.shape, dtype: 'fp32', data: xs },
    pos: { shape: [1], dtype: 'int32', data: new Int32Array([step]) },
    mask: { shape: inputs.mask.shape, dtype: 'fp32', data: mask },
  };
}

describe('kv_cache_io → states', () => {
  it('detects the two caches', () => {
    const { pairs, rejected } = detectStatePairs(explicit);
    expect(pairs).toEqual([
      { function: 'main', input: 'k_cache', output: 'k_cache_out', kind: 'slice_update', sequenceAxis: 2 },
      { function: 'main', input: 'v_cache', output: 'v_cache_out', kind: 'slice_update', sequenceAxis: 2 },
    ]);
    expect(rejected).toEqual([]);
  });

  it('has the structure of kv_cache_stateful: same op type sequence, same signature', async () => {
    const p = await rewritten();
    const ours = p.main;
    const theirs = reference.main;
    expect(opTypes(ours)).toEqual(opTypes(theirs));
    expect(signature(ours)).toEqual(signature(theirs));
    expect(countOps(ours, 'read_state')).toBe(4);
    expect(countOps(ours, 'write_state')).toBe(2);
    // both printed, for the record of what the comparison looked at
    const oursText = printProgram(p);
    const theirsText = printProgram(reference);
    expect(oursText).toContain('%k_cache: state<fp16[1, 4, 32, 64]>');
    expect(theirsText).toContain('%k_cache: state<fp16[1, 4, 32, 64]>');
  });

  it('is op-for-op the same graph as kv_cache_stateful once written and read back (names aside)', async () => {
    const p = await rewritten();
    const path = join(tmp, 'kv_cache_rewritten.mlpackage');
    await writeMLPackage(p, path, { deterministic: true });
    const back = await readMLPackage(path, { eager: true });
    // metadata differs (coremltools' conversion info); compare the functions
    const fnText = (q: Program) => canonicalText(printProgram(q).split('\n').filter((l) => !l.startsWith('metadata') && !l.startsWith('buildInfo')).join('\n'));
    expect(fnText(back)).toBe(fnText(reference));
    // the comparison does see differences: the explicit model is another graph
    expect(fnText(explicit)).not.toBe(fnText(reference));
  });

  it('computes the same outputs as the explicit model over 10 decode steps (explicit fed its own cache)', async () => {
    const p = await rewritten();
    const r = compareDecode(explicit, p, PAIRS, stepInputs, 10);
    expect(r.steps).toBe(10);
    expect(r.maxAbsError).toBe(0);
    expect(r.stateMaxAbsError).toBe(0);
    // the outputs really change from step to step (the cache is being used)
    const y0 = r.explicitOutputs[0].y.data;
    const y9 = r.explicitOutputs[9].y.data;
    expect(y0.some((v, i) => Math.abs(v - y9[i]) > 1e-3)).toBe(true);
    // and coremltools' own stateful model agrees with ours step by step
    const a = createSession(reference);
    const b = createSession(p);
    for (let step = 0; step < 10; step++) {
      const m = compareOutputs(a.predict(stepInputs(step)), b.predict(stepInputs(step)));
      expect(m.y.maxAbsError).toBe(0);
    }
    expect(compareOutputs(a.states, b.states).k_cache.maxAbsError).toBe(0);
  });

  it('leaves the explicit fixture computing its expected output on the fixture inputs (sanity of the reference run)', () => {
    const expected = readNpz(join(FIXTURES, 'kv_cache_io.expected.npz'));
    const session = createSession(explicit);
    const out = session.predict(Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, npyToInput(v)])));
    const m = compareOutputs({ y: expected.y }, out);
    expect(m.y.relativeL2).toBeLessThan(1e-2);
  });

  it('writes a package whose description has the two states, and it reads back stateful', async () => {
    const p = await rewritten();
    const path = join(tmp, 'kv_cache_states.mlpackage');
    await writeMLPackage(p, path, { deterministic: true });
    const model = decodeModel(readFileSync(join(path, 'Data', 'com.apple.CoreML', 'model.mlmodel')));
    const d = model.description!;
    expect(model.specificationVersion).toBe(9);
    expect(d.input.map((f) => f.name)).toEqual(['x', 'pos', 'mask']);
    expect(d.output.map((f) => f.name)).toEqual(['y']);
    expect(d.state.map((f) => f.name)).toEqual(['k_cache', 'v_cache']);
    for (const s of d.state) {
      expect(s.type?.Type.case).toBe('stateType');
      const st = s.type?.Type.value as { Type: { case: string; value: { shape: bigint[]; dataType: number } } };
      expect(st.Type.case).toBe('arrayType');
      expect(st.Type.value.shape.map(Number)).toEqual(CACHE);
    }
    // the coremltools fixture describes its states the same way
    const ref = decodeModel(readFileSync(join(FIXTURES, 'kv_cache_stateful.mlpackage', 'Data', 'com.apple.CoreML', 'model.mlmodel')));
    expect(d.state).toEqual(ref.description!.state);

    const back = await readMLPackage(path, { eager: true });
    verifyProgram(back);
    expect(back.main.inputs.filter((v) => v.type.kind === 'state').map((v) => v.name)).toEqual(['k_cache', 'v_cache']);
    const r = compareDecode(explicit, back, PAIRS, stepInputs, 8);
    expect(r.maxAbsError).toBe(0);
    expect(r.stateMaxAbsError).toBe(0);
  });

  it('pads the 32-long caches not at all with padTo: 32, and to 64 with padTo: 64 with identical outputs', async () => {
    const same = await rewritten({ padTo: 32 });
    expect(opTypes(same.main)).toEqual(opTypes(reference.main));
    const p = cloneProgram(explicit);
    const result = await runPass(statefulRewrite({ padTo: 64 }), p);
    verifyProgram(p);
    expect(result.stats).toMatchObject({ states: 2, padded: 2 });
    expect(p.main.inputs.find((v) => v.name === 'k_cache')!.type).toEqual({ kind: 'state', wrapped: { kind: 'tensor', dtype: 'fp16', shape: [1, 4, 64, 64] } });
    const r = compareDecode(explicit, p, PAIRS, stepInputs, 10);
    expect(r.maxAbsError).toBe(0);
    expect(r.stateMaxAbsError).toBe(0);
  });
});
