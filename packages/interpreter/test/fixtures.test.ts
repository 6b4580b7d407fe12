/**
 * The coremltools fixtures (shared/fixtures/README.md) read with @silica/mlpackage-reader
 * and run: outputs against the NumPy fp32 reference, compressed variants against the
 * same graph built from coremltools' own decompressed weights (`NAME.dense/`), and the
 * stateful KV-cache model against the explicit-cache one.
 *
 * The reader is loaded with a dynamic import of a computed specifier: its own tests
 * depend on this package (readNpy), and a static import here would make the two
 * packages depend on each other in the workspace graph.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DenseTensor, type Program, type Value } from '@silica/ir';
import { type InputTensor, type NpyArray, type OutputTensor, compareTensors, createSession, npyToInput, readNpy, readNpz } from '../src/index.js';
import { TestProgram, f16, f32, fixturesDir } from './helpers.js';

interface Reader {
  readMLPackageSync(path: string): Program;
}
const READER = '@silica/mlpackage-reader';
// no fallback: a missing reader or fixture folder must fail, not skip
const reader = (await import(READER)) as Reader;

const load = (name: string): Program => reader!.readMLPackageSync(join(fixturesDir, `${name}.mlpackage`));
const npz = (file: string): Record<string, NpyArray> => readNpz(join(fixturesDir, file));
const asInputs = (a: Record<string, NpyArray>, names: readonly string[]): Record<string, InputTensor> =>
  Object.fromEntries(names.map((n) => [n, npyToInput(a[n])]));

/** Runs the default (or named) function on the inputs of fixture `base`. */
function run(name: string, base: string, fn?: string): Record<string, OutputTensor> {
  const s = createSession(load(name), { function: fn, checkNaN: true });
  return s.predict(asInputs(npz(`${base}.inputs.npz`), s.inputs.map((i) => i.name)));
}

const relL2 = (want: NpyArray | OutputTensor, got: OutputTensor): number => compareTensors(want, got).relativeL2;

describe('coremltools fixtures', () => {
  // fixture → the fixture whose inputs/expected outputs it shares (README "Files per fixture")
  const uncompressed: Array<[string, string]> = [
    ['mlp', 'mlp'],
    ['mlp_ios16', 'mlp'],
    ['convnet', 'convnet'],
    ['convnet_ios16', 'convnet'],
    ['attention_decomposed', 'attention_decomposed'],
    ['attention_sdpa', 'attention_decomposed'],
    ['kv_cache_io', 'kv_cache_io'],
    ['mf_head_a', 'mf_head_a'],
  ];
  for (const [name, base] of uncompressed) {
    it(`${name}: every output within the fixture tolerance (relative L2 < 1e-2) of the fp32 reference`, () => {
      const got = run(name, base);
      const want = npz(`${base}.expected.npz`);
      expect(Object.keys(got).length).toBeGreaterThan(0);
      for (const [k, v] of Object.entries(got)) expect(relL2(want[k], v), `${name}.${k}`).toBeLessThan(1e-2);
    });
  }

  it('mf_head_b and the multifunction model: each function matches its head', () => {
    const x = asInputs(npz('mf_head_a.inputs.npz'), ['x']);
    const b = createSession(load('mf_head_b')).predict(x);
    expect(relL2(npz('mf_head_b.expected.npz').y_b, b.y_b)).toBeLessThan(1e-2);
    const mf = load('multifunction');
    expect([...mf.functions.keys()].sort()).toEqual(['head_a', 'head_b']);
    const ya = createSession(mf).predict(x).y_a;
    const yb = createSession(mf, { function: 'head_b' }).predict(x).y_b;
    // shared weights, same ops: identical to the single-function models
    expect(Array.from(ya.data)).toEqual(Array.from(createSession(load('mf_head_a')).predict(x).y_a.data));
    expect(Array.from(yb.data)).toEqual(Array.from(b.y_b.data));
  });

  it('kv_cache_stateful (states) equals kv_cache_io (cache as inputs/outputs) on the same step', () => {
    const inputs = npz('kv_cache_io.inputs.npz');
    const io = run('kv_cache_io', 'kv_cache_io');
    const s = createSession(load('kv_cache_stateful'), { checkNaN: true });
    expect(s.inputs.map((i) => i.name).sort()).toEqual(['mask', 'pos', 'x']);
    s.setState('k_cache', npyToInput(inputs.k_cache));
    s.setState('v_cache', npyToInput(inputs.v_cache));
    const st = s.predict(asInputs(inputs, ['x', 'pos', 'mask']));
    const want = npz('kv_cache_stateful.expected.npz');
    expect(relL2(want.y, st.y)).toBeLessThan(1e-2);
    expect(relL2(want.k_cache_after, s.states.k_cache)).toBeLessThan(1e-2);
    expect(relL2(want.v_cache_after, s.states.v_cache)).toBeLessThan(1e-2);
    // the rewrite changes where the cache lives, not the arithmetic
    expect(compareTensors(io.y, st.y).maxAbsError).toBe(0);
    expect(Array.from(s.states.k_cache.data)).toEqual(Array.from(io.k_cache_out.data));
    expect(Array.from(s.states.v_cache.data)).toEqual(Array.from(io.v_cache_out.data));
    // a second step continues from the written state: row pos+1 gets written too
    const pos6 = { ...asInputs(inputs, ['x', 'mask']), pos: { shape: [1], data: new Int32Array([6]) } };
    s.predict(pos6);
    const k = s.states.k_cache.data;
    const row = (p: number) => Array.from(k.subarray(p * 64, (p + 1) * 64));
    expect(row(6)).toEqual(row(5));
  });

  /**
   * The mlp graph built by hand from a fixture's decompressed weights (what coremltools
   * computes for the compressed model): the packaged constexpr chain must give the same
   * numbers.
   */
  function mlpFromDense(name: string): Program {
    const index = JSON.parse(readFileSync(join(fixturesDir, `${name}.dense`, 'index.json'), 'utf8')) as { values: Array<{ name: string; file: string }> };
    const p = new TestProgram('iOS18', { x: f32([1, 256]) });
    const w = (prefix: string): Value => {
      const e = index.values.find((v) => v.name.startsWith(prefix))!;
      const a = readNpy(new Uint8Array(readFileSync(join(fixturesDir, `${name}.dense`, e.file))));
      return p.tensor(new DenseTensor('fp16', a.shape, new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength)));
    };
    const x16 = p.op('cast', { x: p.input('x'), dtype: p.str('fp16') }, f16([1, 256]));
    const h = p.op('linear', { x: x16, weight: w('fc1_weight'), bias: w('fc1_bias') }, f16([1, 1024]));
    const g = p.op('gelu', { x: h, mode: p.str('EXACT') }, f16([1, 1024]));
    const o = p.op('linear', { x: g, weight: w('fc2_weight'), bias: w('fc2_bias') }, f16([1, 256]));
    return p.output(p.op('cast', { x: o, dtype: p.str('fp32') }, f32([1, 256]))).program;
  }

  // relative L2 error against the uncompressed fp32 reference, as measured (the weights
  // are random, so 2-bit and 50 % pruning lose most of the signal); each bound is the
  // measured value rounded up, a regression guard rather than a quality claim
  const compressed: Array<[string, number]> = [
    ['mlp_int8_per_channel', 0.011],
    ['mlp_ios16_int8_per_channel', 0.011],
    ['mlp_int4_per_block32', 0.15],
    ['mlp_palette_4bit_kmeans', 0.16],
    ['mlp_palette_4bit_grouped16', 0.16],
    ['mlp_ios16_palette_4bit_kmeans', 0.16],
    ['mlp_palette_3bit_kmeans', 0.27],
    ['mlp_palette_2bit_uniform', 2.1],
    ['mlp_prune_50', 0.4],
    ['mlp_ios16_prune_50', 0.4],
    ['mlp_prune_1_2', 0.6],
    ['mlp_prune50_palette4', 0.41],
    ['mlp_prune50_int8', 0.4],
  ];
  for (const [name, bound] of compressed) {
    it(`${name}: the constexpr chain computes exactly what coremltools' decompressed weights give`, () => {
      const x = asInputs(npz('mlp.inputs.npz'), ['x']);
      const got = createSession(load(name), { checkNaN: true }).predict(x).y;
      const dense = createSession(mlpFromDense(name)).predict(x);
      expect(Array.from(got.data)).toEqual(Array.from(Object.values(dense)[0].data));
      expect(relL2(npz('mlp.expected.npz').y, got)).toBeLessThan(bound);
    });
  }
});
