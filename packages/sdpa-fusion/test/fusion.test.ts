/**
 * Layers 2 and 3 for the fusion: every decomposition variant the pass must recognise
 * becomes exactly one SDPA (structure, signature unchanged), and computes the same
 * outputs in the interpreter on seeded inputs with causal masks.
 */
import { describe, expect, it } from 'vitest';
import { tensorFromValues } from '@silica/ir';
import sdpaFusion from '../src/index.js';
import {
  type AttentionSpec,
  buildAttention,
  canonicalText,
  compareRuns,
  countOps,
  opTypes,
  randomInputs,
  runPass,
  signature,
  withinTolerance,
} from './helpers.js';

interface Case {
  readonly name: string;
  readonly spec: AttentionSpec;
  /** Expected non-const op types after fusion, in order. */
  readonly after: readonly string[];
  readonly stats?: Record<string, number>;
}

const SDPA = 'scaled_dot_product_attention';

const CASES: readonly Case[] = [
  { name: 'scale on the scores (mul), float mask', spec: {}, after: [SDPA], stats: { fused: 1, floatMasks: 1, scaled: 0, tiled: 0 } },
  { name: 'scale on the scores (real_div)', spec: { scaleOp: 'real_div' }, after: [SDPA] },
  { name: 'scale constant on the x side of mul', spec: { scaleConstFirst: true }, after: [SDPA] },
  { name: 'scale on q', spec: { scaleSite: 'q' }, after: [SDPA] },
  { name: 'scale on q (real_div)', spec: { scaleSite: 'q', scaleOp: 'real_div' }, after: [SDPA] },
  { name: 'scale on k', spec: { scaleSite: 'k' }, after: [SDPA] },
  { name: 'scale split between q and k (E^-1/4 each)', spec: { scaleSite: 'q-and-k' }, after: [SDPA] },
  {
    name: 'scale on q below a layout transpose (the coremltools fixture form)',
    spec: { scaleSite: 'q-before-transpose' },
    after: ['transpose', 'transpose', SDPA],
  },
  { name: 'explicit transpose of k', spec: { kTranspose: 'explicit' }, after: [SDPA] },
  { name: 'explicit transpose of k with the scale on k', spec: { kTranspose: 'explicit', scaleSite: 'k' }, after: [SDPA] },
  { name: 'mask on the x side of add', spec: { maskFirst: true }, after: [SDPA] },
  { name: 'no mask', spec: { mask: 'none' }, after: [SDPA], stats: { fused: 1, floatMasks: 0, boolMasks: 0 } },
  { name: 'mask broadcast over batch dims [1, 1, L, S]', spec: { maskShape: [1, 1, 8, 8] }, after: [SDPA] },
  { name: 'mask of one row per head [4, 1, S]', spec: { maskShape: [4, 1, 8] }, after: [SDPA] },
  { name: 'mask [S] (rank 1)', spec: { maskShape: [8] }, after: [SDPA] },
  {
    name: 'bool-converted mask (1 - cast(m)) * -3e4 → bool mask',
    spec: { mask: 'bool-sub' },
    after: [SDPA],
    stats: { fused: 1, boolMasks: 1, floatMasks: 0 },
  },
  { name: 'bool-converted mask cast(logical_not(m)) * -3e4 → bool mask', spec: { mask: 'bool-not' }, after: [SDPA], stats: { boolMasks: 1 } },
  {
    name: 'non-default scale 0.5 folded into q as q·(c·√E)',
    spec: { scale: 0.5 },
    after: ['mul', SDPA],
    stats: { fused: 1, scaled: 1 },
  },
  { name: 'no scale at all (c = 1) folded into q', spec: { scaleSite: 'none' }, after: ['mul', SDPA], stats: { scaled: 1 } },
  {
    name: 'k and v broadcast over heads (GQA-like) → tile',
    spec: { qBatch: [2, 4], kBatch: [2, 1], vBatch: [2, 1] },
    after: ['tile', 'tile', SDPA],
    stats: { tiled: 2 },
  },
  {
    name: 'k and v of lower rank → expand_dims + tile',
    spec: { qBatch: [2, 4], kBatch: [], vBatch: [] },
    after: ['expand_dims', 'tile', 'expand_dims', 'tile', SDPA],
    stats: { tiled: 2 },
  },
  {
    name: 'q broadcast against k → q tiled',
    spec: { qBatch: [1, 4], kBatch: [3, 4], vBatch: [3, 4], scale: 0.3 },
    after: ['mul', 'tile', SDPA],
    stats: { tiled: 1, scaled: 1 },
  },
  { name: 'L ≠ S and E ≠ EV', spec: { L: 5, S: 11, E: 8, EV: 12 }, after: [SDPA] },
  { name: 'rank 3 (one batch dim)', spec: { qBatch: [3] }, after: [SDPA] },
  { name: 'softmax axis written as rank - 1', spec: { softmaxAxis: 3 }, after: [SDPA] },
  { name: 'fp16 program', spec: { dtype: 'fp16' }, after: [SDPA] },
  { name: 'fp16, E = 80 (1/√80 rounded to fp16 is still the default scale)', spec: { dtype: 'fp16', E: 80, scaleSite: 'q' }, after: [SDPA], stats: { scaled: 0 } },
  { name: 'fp16 bool-converted mask and non-default scale', spec: { dtype: 'fp16', mask: 'bool-sub', scale: 0.2 }, after: ['mul', SDPA] },
];

describe('sdpa-fusion fuses every decomposition variant into one SDPA', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const { program, spec } = buildAttention(c.spec);
      const { program: fused, changed, stats } = await runPass(sdpaFusion(), program);
      expect(changed).toBe(true);
      expect(opTypes(fused)).toEqual(c.after);
      expect(countOps(fused, SDPA)).toBe(1);
      expect(signature(fused)).toEqual(signature(program));
      if (c.stats) expect(stats).toMatchObject(c.stats);
      const inputs = [1, 2, 3].map((seed) => randomInputs(program, seed));
      const metrics = compareRuns(program, fused, inputs);
      expect(withinTolerance(spec.dtype, metrics.out), JSON.stringify(metrics.out)).toBe(true);
    });
  }
});

describe('sdpa-fusion details', () => {
  it('hands SDPA the bool mask input itself and drops the conversion ops', async () => {
    const { program } = buildAttention({ mask: 'bool-sub' });
    const { program: fused } = await runPass(sdpaFusion(), program);
    const sdpa = [...fused.main.walk()].find((op) => op.type === SDPA)!;
    expect(sdpa.input('attn_mask')).toBe(fused.main.inputs.find((v) => v.name === 'mask'));
    expect(countOps(fused, 'cast') + countOps(fused, 'sub') + countOps(fused, 'mul')).toBe(0);
  });

  it('with recoverBoolMasks: false keeps the additive mask as a float mask', async () => {
    const { program, spec } = buildAttention({ mask: 'bool-sub' });
    const { program: fused, stats } = await runPass(sdpaFusion({ recoverBoolMasks: false }), program);
    expect(stats).toMatchObject({ fused: 1, boolMasks: 0, floatMasks: 1 });
    expect(opTypes(fused)).toEqual(['cast', 'sub', 'mul', SDPA]);
    const metrics = compareRuns(program, fused, [randomInputs(program, 7)]);
    expect(withinTolerance(spec.dtype, metrics.out)).toBe(true);
  });

  it('a fill of -1e3 is not taken for a bool conversion (the mask stays a float mask)', async () => {
    const { program } = buildAttention({ mask: 'bool-sub' });
    const fill = [...program.main.walk()].find((op) => op.constValue?.dtype === 'fp32' && op.constValue.toNumbers()[0] === -3e4)!;
    fill.attributes.set('val', tensorFromValues('fp32', [], [-1e3]));
    const { stats } = await runPass(sdpaFusion(), program);
    expect(stats).toMatchObject({ fused: 1, boolMasks: 0, floatMasks: 1 });
  });

  it('the fused op keeps the root matmul’s name, so a function output keeps its name', async () => {
    const { program } = buildAttention();
    const { program: fused } = await runPass(sdpaFusion(), program);
    const out = fused.main.outputs[0];
    expect(out.name).toBe('out');
    expect(out.producer?.type).toBe(SDPA);
    expect(out.producer?.name).toBe('out');
  });

  it('the non-default scale multiplier is c·√E in the query dtype', async () => {
    const { program } = buildAttention({ scale: 0.5, E: 16 });
    const { program: fused } = await runPass(sdpaFusion(), program);
    const mul = [...fused.main.walk()].find((op) => op.type === 'mul')!;
    const c = mul.input('y')!.producer!.constValue!;
    expect(c.dtype).toBe('fp32');
    expect(c.toNumbers()).toEqual([2]); // 0.5 · √16
    expect(mul.input('x')!.name).toBe('q');
  });

  it('fuses every block of a function, and several functions', async () => {
    const a = buildAttention({ qBatch: [1] }).program;
    const b = buildAttention({ qBatch: [2], mask: 'bool-sub' }).program;
    // two functions: rename b's function and move it into a
    const fb = b.main;
    b.functions.delete(fb.name);
    fb.name = 'second';
    a.addFunction(fb);
    const { program: fused, stats } = await runPass(sdpaFusion(), a);
    expect(stats).toMatchObject({ fused: 2, boolMasks: 1, floatMasks: 1 });
    expect(countOps(fused.getFunction('main'), SDPA)).toBe(1);
    expect(countOps(fused.getFunction('second'), SDPA)).toBe(1);
    const only = await runPass(sdpaFusion({ functions: ['second'] }), a);
    expect(countOps(only.program.getFunction('main'), SDPA)).toBe(0);
    expect(countOps(only.program.getFunction('second'), SDPA)).toBe(1);
  });

  it('running the fusion twice changes nothing the second time', async () => {
    const { program } = buildAttention({ scale: 0.7, qBatch: [2, 4], kBatch: [2, 1], vBatch: [2, 1] });
    const once = await runPass(sdpaFusion(), program);
    const twice = await runPass(sdpaFusion(), once.program);
    expect(twice.changed).toBe(false);
    expect(canonicalText(twice.program)).toBe(canonicalText(once.program));
  });
});
