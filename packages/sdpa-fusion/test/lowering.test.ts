/**
 * The lowering (SDPA → coremltools' decomposition): structure, numbers, the round trip
 * fuse → lower → fuse, and retargeting below iOS18.
 */
import { describe, expect, it } from 'vitest';
import { type Program, buildProgram, tensorType } from '@silica/ir';
import sdpaFusion, { sdpaLowering } from '../src/index.js';
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

const SDPA = 'scaled_dot_product_attention';

/** A program that is one SDPA over inputs q, k, v (and mask when `maskType` is given). */
function sdpaProgram(dtype: 'fp16' | 'fp32', maskType?: ReturnType<typeof tensorType>, target: Program['target'] = 'iOS18'): Program {
  const t = tensorType(dtype, [2, 3, 5, 8]);
  const inputs: Record<string, ReturnType<typeof tensorType>> = { q: t, k: tensorType(dtype, [2, 3, 7, 8]), v: tensorType(dtype, [2, 3, 7, 6]) };
  if (maskType) inputs.mask = maskType;
  return buildProgram(target, (p) =>
    p.function('main', inputs, (b, io) =>
      b.scaled_dot_product_attention({ query: io.q, key: io.k, value: io.v, attn_mask: io.mask }, { name: 'out' }),
    ),
  );
}

describe('sdpa-lowering', () => {
  const variants: Array<[string, 'fp16' | 'fp32', ReturnType<typeof tensorType> | undefined, string[]]> = [
    ['fp32, no mask', 'fp32', undefined, ['mul', 'matmul', 'softmax', 'matmul']],
    ['fp32, float mask [5, 7]', 'fp32', tensorType('fp32', [5, 7]), ['mul', 'matmul', 'add', 'softmax', 'matmul']],
    ['fp32, bool mask [1, 1, 5, 7]', 'fp32', tensorType('bool', [1, 1, 5, 7]), ['mul', 'matmul', 'cast', 'sub', 'mul', 'add', 'softmax', 'matmul']],
    ['fp16, bool mask [5, 7]', 'fp16', tensorType('bool', [5, 7]), ['mul', 'matmul', 'cast', 'sub', 'mul', 'add', 'softmax', 'matmul']],
    ['fp16 with an fp32 mask: the mask is cast to fp16', 'fp16', tensorType('fp32', [3, 5, 7]), ['mul', 'matmul', 'cast', 'add', 'softmax', 'matmul']],
  ];
  for (const [name, dtype, mask, ops] of variants) {
    it(`${name}: decomposes as coremltools does and computes the same`, async () => {
      const program = sdpaProgram(dtype, mask);
      const { program: lowered, stats } = await runPass(sdpaLowering(), program);
      expect(stats).toEqual({ lowered: 1 });
      expect(opTypes(lowered)).toEqual(ops);
      expect(signature(lowered)).toEqual(signature(program));
      expect(lowered.main.outputs[0].producer?.name).toBe('out');
      const m = compareRuns(program, lowered, [1, 2, 3].map((s) => randomInputs(program, s))).out;
      expect(withinTolerance(dtype, m), JSON.stringify(m)).toBe(true);
    });
  }

  it('writes the scale 1/√E in the query dtype (fp16-rounded for fp16)', async () => {
    const t = tensorType('fp16', [1, 2, 3, 80]);
    const program = buildProgram('iOS18', (p) =>
      p.function('main', { q: t, k: t, v: t }, (b, io) => b.scaled_dot_product_attention({ query: io.q, key: io.k, value: io.v })),
    );
    const { program: lowered } = await runPass(sdpaLowering(), program);
    const mul = [...lowered.main.walk()].find((op) => op.type === 'mul')!;
    const c = mul.input('y')!.producer!.constValue!;
    expect(c.dtype).toBe('fp16');
    expect(c.toNumbers()[0]).toBeCloseTo(1 / Math.sqrt(80), 4);
    expect(c.toNumbers()[0]).not.toBe(Math.fround(1 / Math.sqrt(80)));
  });

  it('retargets to iOS17 when asked, and the result verifies there', async () => {
    const program = sdpaProgram('fp32', tensorType('bool', [5, 7]));
    const { program: lowered, stats } = await runPass(sdpaLowering({ target: 'iOS17' }), program);
    expect(lowered.target).toBe('iOS17');
    expect(stats).toEqual({ lowered: 1, target: 'iOS17' });
    expect(countOps(lowered, SDPA)).toBe(0);
  });

  it('refuses to retarget, changing nothing, when another op needs iOS18', async () => {
    const t = tensorType('fp32', [1, 2, 4, 8]);
    const program = buildProgram('iOS18', (p) =>
      p.function('main', { q: t, k: t, v: t, u: tensorType('fp32', [1, 2, 1, 8]) }, (b, io) => {
        const o = b.scaled_dot_product_attention({ query: io.q, key: io.k, value: io.v });
        return b.slice_update({ x: o, update: io.u, begin: [0, 0, 1, 0], end: [1, 2, 2, 8] });
      }),
    );
    const before = canonicalText(program);
    await expect(runPass(sdpaLowering({ target: 'iOS16' }), program)).rejects.toThrow(
      /sdpa-lowering: cannot retarget the program from iOS18 to iOS16; besides attention, 1 problem\(s\) would remain:\n {2}- function "main", op slice_update/,
    );
    expect(canonicalText(program)).toBe(before);
  });

  it('refuses a target newer than the program’s', async () => {
    const program = sdpaProgram('fp32');
    await expect(runPass(sdpaLowering({ target: 'iOS26' }), program)).rejects.toThrow(
      "sdpa-lowering: target iOS26 is newer than the program's iOS18; the lowering only keeps or lowers the target",
    );
  });

  it('fails clearly when E is symbolic (the scale 1/√E cannot be written)', async () => {
    const program = buildProgram('iOS18', (p) =>
      p.function('main', { q: tensorType('fp32', [1, 4, 'e']), k: tensorType('fp32', [1, 4, 'e']), v: tensorType('fp32', [1, 4, 8]) }, (b, io) =>
        b.scaled_dot_product_attention({ query: io.q, key: io.k, value: io.v }, { name: 'att' }),
      ),
    );
    await expect(runPass(sdpaLowering(), program)).rejects.toThrow(
      'sdpa-lowering: scaled_dot_product_attention "att": the embedding size E (last dim of query) is the symbol "e"; the decomposition needs it static to write the scale 1/√E',
    );
  });
});

describe('round trip fuse → lower → fuse', () => {
  const specs: Array<[string, AttentionSpec]> = [
    ['float mask, scale on the scores', {}],
    ['bool-converted mask', { mask: 'bool-sub' }],
    ['fp16, bool-converted mask, scale on q', { dtype: 'fp16', mask: 'bool-sub', scaleSite: 'q' }],
    ['non-default scale', { scale: 0.3 }],
    ['tiled k and v', { qBatch: [2, 4], kBatch: [2, 1], vBatch: [] }],
    ['no mask, explicit k transpose', { mask: 'none', kTranspose: 'explicit' }],
  ];
  for (const [name, spec] of specs) {
    it(`${name}: the second fusion gives the first fused graph again, and every stage computes the same`, async () => {
      const { program, spec: s } = buildAttention(spec);
      const fused = (await runPass(sdpaFusion(), program)).program;
      const lowered = await runPass(sdpaLowering(), fused);
      expect(countOps(lowered.program, SDPA)).toBe(0);
      const refused = await runPass(sdpaFusion(), lowered.program);
      expect(refused.stats.fused).toBe(1);
      expect(canonicalText(refused.program)).toBe(canonicalText(fused));
      const inputs = [1, 2].map((seed) => randomInputs(program, seed));
      for (const p of [fused, lowered.program, refused.program]) {
        const m = compareRuns(program, p, inputs).out;
        expect(withinTolerance(s.dtype, m), JSON.stringify(m)).toBe(true);
      }
    });
  }
});
