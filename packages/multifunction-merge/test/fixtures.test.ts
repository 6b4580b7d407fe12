/**
 * Against coremltools: the multifunction fixture is `save_multifunction` of mf_head_a
 * (main → head_a, default) and mf_head_b (main → head_b). Merging the same sources gives
 * the same package (model.mlmodel and weight.bin byte for byte), each merged function read
 * back runs like its source, and older (iOS16) sources are moved to iOS18 forms.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpz } from '@silica/interpreter';
import { readMLPackage } from '@silica/mlpackage-reader';
import { writeMLPackage } from '@silica/mlpackage-writer';
import { type Function as Fn, type Program, printProgram } from '@silica/ir';
import { mergeFunctions } from '../src/index.js';
import { FIXTURES, WEIGHT_BIN, expectIdenticalOutputs, fixture, offsetOf, run, scratch, weightBinSize } from './helpers.js';

const MODEL = 'Data/com.apple.CoreML/model.mlmodel';
const tmp = scratch('fixtures');
afterAll(tmp.cleanup);

function inputsOf(name: string): Record<string, { shape: number[]; data: Float32Array }> {
  const npz = readNpz(join(FIXTURES, `${name}.inputs.npz`));
  return Object.fromEntries(Object.entries(npz).map(([k, v]) => [k, { shape: [...v.shape], data: v.data as Float32Array }]));
}

describe('mf_head_a + mf_head_b → multifunction (coremltools save_multifunction)', () => {
  let a: Program;
  let b: Program;
  let merged: ReturnType<typeof mergeFunctions>;
  let out: string;

  beforeAll(async () => {
    a = await readMLPackage(fixture('mf_head_a'));
    b = await readMLPackage(fixture('mf_head_b'));
    merged = mergeFunctions(
      [
        { program: a, functionName: 'main', targetName: 'head_a' },
        { program: b, functionName: 'main', targetName: 'head_b' },
      ],
      { defaultFunctionName: 'head_a' },
    );
    // the package name seeds the manifest identifiers; only the model and weights are compared
    out = join(tmp.dir, 'multifunction.mlpackage');
    await writeMLPackage(merged.program, out, { deterministic: true });
  });

  it('writes a weight.bin no larger than coremltools’ (277,952 bytes), the shared extractor once', () => {
    const size = weightBinSize(out);
    expect(size).toBeLessThanOrEqual(277_952);
    expect(size).toBe(weightBinSize(fixture('multifunction')));
    // the two sources store 273,748 + 267,520 bytes
    expect(size).toBeLessThan(weightBinSize(fixture('mf_head_a')) + weightBinSize(fixture('mf_head_b')) - 260_000);
  });

  it('reproduces coremltools’ model.mlmodel and weight.bin byte for byte', () => {
    for (const f of [MODEL, WEIGHT_BIN]) {
      expect(Buffer.compare(readFileSync(join(out, f)), readFileSync(join(fixture('multifunction'), f))), f).toBe(0);
    }
  });

  it('reads back as the fixture’s program: functions, default, descriptions, no metadata', async () => {
    const q = await readMLPackage(out);
    const ref = await readMLPackage(fixture('multifunction'));
    expect(printProgram(q)).toBe(printProgram(ref));
    expect([...q.functions.keys()]).toEqual(['head_a', 'head_b']);
    expect(q.defaultFunction).toBe('head_a');
    expect(q.multifunction).toBe(true);
    expect(q.target).toBe('iOS18');
    // save_multifunction does not carry the sources' metadata over (§13.2)
    expect(a.metadata.userDefined['com.github.apple.coremltools.version']).toBe('9.1.dev1');
    expect(q.metadata.userDefined).toEqual({});
    expect(q.buildInfo).toEqual({});
    // I/O of each function is its source's, renamed
    expect(q.getFunction('head_a').inputs.map((v) => v.name)).toEqual(['x']);
    expect(q.getFunction('head_a').outputs.map((v) => v.name)).toEqual(['y_a']);
    expect(q.getFunction('head_b').outputs.map((v) => v.name)).toEqual(['y_b']);
  });

  it('stores the shared weights once: both functions point at the same weight.bin offset', async () => {
    const q = await readMLPackage(out);
    for (const w of ['fe_weight_to_fp16', 'fe_bias_to_fp16']) {
      expect(offsetOf(q, 'head_b', w)).toBe(offsetOf(q, 'head_a', w));
    }
    expect(offsetOf(q, 'head_b', 'head_b_weight_to_fp16')).not.toBe(offsetOf(q, 'head_a', 'head_a_weight_to_fp16'));
  });

  it('makes equal tensors the same object in the merged program', () => {
    const p = merged.program;
    const t = (fn: string, name: string) => p.getFunction(fn).findOp(name)!.constValue!;
    expect(t('head_b', 'fe_weight_to_fp16')).toBe(t('head_a', 'fe_weight_to_fp16'));
    expect(t('head_b', 'fe_bias_to_fp16')).toBe(t('head_a', 'fe_bias_to_fp16'));
  });

  it('reports what was shared', () => {
    const r = merged.report;
    expect(r.target).toBe('iOS18');
    expect(r.specificationVersion).toBe(9);
    expect(r.defaultFunction).toBe('head_a');
    expect(r.metadata).toBe('dropped');
    expect(r.functions.map((f) => [f.name, f.sourceFunction, f.item])).toEqual([
      ['head_a', 'main', 0],
      ['head_b', 'main', 1],
    ]);
    const fe = 512 * 256 * 2 + 512 * 2;
    expect(r.functions[0].sharedBytes).toBe(0);
    expect(r.functions[1].sharedBytes).toBe(fe);
    expect(r.bytes.saved).toBe(fe);
    expect(r.bytes.savedByContent).toBe(fe);
    expect(r.bytes.savedByValue).toBe(0);
    expect(r.bytes.separate - r.bytes.merged).toBe(fe);
    expect(r.sharing.sharedTensors).toBe(2);
    expect(r.byValue).toBeUndefined();
  });

  it('runs each merged function (read back) exactly like its source', async () => {
    const q = await readMLPackage(out);
    const x = inputsOf('mf_head_a');
    expectIdenticalOutputs(run(q, 'head_a', x), run(a, 'main', x));
    expectIdenticalOutputs(run(q, 'head_b', x), run(b, 'main', x));
    // and head_a is the default
    expectIdenticalOutputs(run(q, q.defaultFunction!, x), run(a, 'main', x));
  });

  it('leaves the sources untouched', async () => {
    const fresh = await readMLPackage(fixture('mf_head_a'));
    expect(printProgram(a)).toBe(printProgram(fresh));
  });

  it('takes a function out of a multifunction source, under a new name', async () => {
    const mf = await readMLPackage(fixture('multifunction'));
    const { program, report } = mergeFunctions(
      [
        { program: a, functionName: 'main', targetName: 'first' },
        { program: mf, functionName: 'head_b', targetName: 'second' },
      ],
      { defaultFunctionName: 'second', metadata: { author: 'silica', userDefined: { purpose: 'test' } } },
    );
    expect(report.metadata).toBe('given');
    const pkg = join(tmp.dir, 'renamed.mlpackage');
    await writeMLPackage(program, pkg);
    const q = await readMLPackage(pkg);
    expect([...q.functions.keys()]).toEqual(['first', 'second']);
    expect(q.defaultFunction).toBe('second');
    expect(q.metadata.author).toBe('silica');
    expect(q.metadata.userDefined).toEqual({ purpose: 'test' });
    expect(offsetOf(q, 'second', 'fe_weight_to_fp16')).toBe(offsetOf(q, 'first', 'fe_weight_to_fp16'));
    expect(weightBinSize(pkg)).toBe(277_952);
    const x = inputsOf('mf_head_a');
    expectIdenticalOutputs(run(q, 'second', x), run(mf, 'head_b', x));
  });
});

describe('sources below iOS18', () => {
  it('moves iOS16 constexpr forms to iOS18 and shares them with the iOS18 compression of the same weights', async () => {
    const old = await readMLPackage(fixture('mlp_ios16_palette_4bit_kmeans'));
    const cur = await readMLPackage(fixture('mlp_palette_4bit_kmeans'));
    const { program, report } = mergeFunctions(
      [
        { program: old, functionName: 'main', targetName: 'ios16' },
        { program: cur, functionName: 'main', targetName: 'ios18' },
      ],
      { defaultFunctionName: 'ios18' },
    );
    expect(report.target).toBe('iOS18');
    expect(report.functions.map((f) => [f.sourceTarget, f.upgradedOps])).toEqual([
      ['iOS16', 2],
      ['iOS18', 0],
    ]);
    // coremltools' k-means gave the same palettes: after the move every blob is shared
    expect(report.functions[1].sharedBytes).toBe(report.functions[1].weightBytes);
    expect(report.sharing.sharedConstexprOps).toBe(2);
    const lut = program.getFunction('ios16').findOp('fc1_weight_to_fp16_palettized')!;
    expect(lut.inputs.has('shape')).toBe(false);
    expect(lut.input('indices')!.type).toEqual({ kind: 'tensor', dtype: 'uint4', shape: [1024, 256] });
    expect(lut.input('lut')!.type).toEqual({ kind: 'tensor', dtype: 'fp16', shape: [1, 1, 16, 1] });

    const pkg = join(tmp.dir, 'ios16_ios18.mlpackage');
    await writeMLPackage(program, pkg);
    expect(weightBinSize(pkg)).toBe(weightBinSize(fixture('mlp_palette_4bit_kmeans')));
    const q = await readMLPackage(pkg);
    expect(offsetOf(q, 'ios16', 'fc1_weight_to_fp16_palettized_indices')).toBe(offsetOf(q, 'ios18', 'fc1_weight_to_fp16_palettized_indices'));
    const x = inputsOf('mlp');
    expectIdenticalOutputs(run(q, 'ios16', x), run(old, 'main', x));
    expectIdenticalOutputs(run(q, 'ios18', x), run(cur, 'main', x));
  });

  it('keeps iOS16 sparse, affine and plain programs running identically after the move', async () => {
    const names = ['mlp_ios16', 'mlp_ios16_prune_50', 'mlp_ios16_int8_per_channel'];
    const sources = await Promise.all(names.map((n) => readMLPackage(fixture(n))));
    const { program, report } = mergeFunctions(
      sources.map((p, i) => ({ program: p, functionName: 'main', targetName: names[i] })),
      { defaultFunctionName: 'mlp_ios16' },
    );
    expect(report.functions.map((f) => f.upgradedOps)).toEqual([0, 2, 0]);
    const sparse = program.getFunction('mlp_ios16_prune_50');
    for (const op of sparse.walk()) {
      if (op.type !== 'constexpr_sparse_to_dense') continue;
      expect(op.inputs.has('shape')).toBe(false);
      expect(op.input('mask')!.type.kind === 'tensor' && op.input('mask')!.type).toMatchObject({ dtype: 'uint1' });
    }
    // the affine form has no iOS18 signature: unchanged
    expect([...program.getFunction('mlp_ios16_int8_per_channel').walk()].filter((o) => o.type === 'constexpr_affine_dequantize')).toHaveLength(2);
    const pkg = join(tmp.dir, 'ios16_all.mlpackage');
    await writeMLPackage(program, pkg);
    const q = await readMLPackage(pkg);
    expect(q.target).toBe('iOS18');
    const x = inputsOf('mlp');
    names.forEach((n, i) => expectIdenticalOutputs(run(q, n, x), run(sources[i], 'main', x)));
    // biases are equal across the three: stored once
    expect(offsetOf(q, 'mlp_ios16_prune_50', 'fc1_bias_to_fp16')).toBe(offsetOf(q, 'mlp_ios16', 'fc1_bias_to_fp16'));
  });
});

describe('stateful and explicit-cache functions of one decoder step', () => {
  it('keeps states in the stateful function’s description and shares every weight', async () => {
    const explicit = await readMLPackage(fixture('kv_cache_io'));
    const stateful = await readMLPackage(fixture('kv_cache_stateful'));
    const { program, report } = mergeFunctions(
      [
        { program: explicit, functionName: 'main', targetName: 'explicit_cache' },
        { program: stateful, functionName: 'main', targetName: 'stateful' },
      ],
      { defaultFunctionName: 'stateful' },
    );
    expect(report.functions[1].sharedBytes).toBe(report.functions[1].weightBytes);
    expect(report.functions[1].weightBytes).toBeGreaterThan(0);
    const pkg = join(tmp.dir, 'kv.mlpackage');
    await writeMLPackage(program, pkg);
    expect(weightBinSize(pkg)).toBe(weightBinSize(fixture('kv_cache_io')));
    const q = await readMLPackage(pkg);
    const states = (fn: Fn) => fn.inputs.filter((v) => v.type.kind === 'state').map((v) => v.name);
    expect(states(q.getFunction('stateful'))).toEqual(states(stateful.getFunction('main')));
    expect(states(q.getFunction('stateful')).length).toBeGreaterThan(0);
    expect(states(q.getFunction('explicit_cache'))).toEqual([]);
    expect(q.getFunction('explicit_cache').inputs.map((v) => v.name)).toEqual(explicit.getFunction('main').inputs.map((v) => v.name));
    const x = inputsOf('kv_cache_io');
    expectIdenticalOutputs(run(q, 'explicit_cache', x), run(explicit, 'main', x));
    const stepInputs = Object.fromEntries(
      stateful.getFunction('main').inputs.filter((v) => v.type.kind !== 'state').map((v) => [v.name, x[v.name]]),
    );
    expectIdenticalOutputs(run(q, 'stateful', stepInputs), run(stateful, 'main', stepInputs));
  });
});
