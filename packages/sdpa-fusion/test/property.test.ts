/**
 * Layer 4: property tests (fast-check) over random attention blocks — small shapes,
 * broadcasting batch dims, scales, scale sites, mask kinds and shapes, both dtypes.
 *
 * * the fusion fires once and the outputs are unchanged (fp32: max abs error ≤ 1e-5;
 *   fp16: relative L2 ≤ 1e-2);
 * * with a change that makes the block not exactly attention, the program is unchanged;
 * * fuse → lower → fuse gives the first fused graph again.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { printProgram } from '@silica/ir';
import sdpaFusion, { sdpaLowering } from '../src/index.js';
import {
  type AttentionSpec,
  type MaskKind,
  type ScaleSite,
  buildAttention,
  canonicalText,
  compareRuns,
  countOps,
  randomInputs,
  runPass,
  signature,
  withinTolerance,
} from './helpers.js';

const SDPA = 'scaled_dot_product_attention';

/** A batch shape for k or v that broadcasts to q's: equal, some dims set to 1, or leading dims dropped. */
function broadcastOf(q: readonly number[]): fc.Arbitrary<number[]> {
  return fc.oneof<fc.Arbitrary<number[]>[]>(
    fc.constant([...q]),
    fc.array(fc.boolean(), { minLength: q.length, maxLength: q.length }).map((ones) => q.map((d, i) => (ones[i] ? 1 : d))),
    fc.integer({ min: 0, max: q.length }).map((drop) => q.slice(drop)),
  );
}

const specArb: fc.Arbitrary<AttentionSpec> = fc
  .record({
    dtype: fc.constantFrom<'fp16' | 'fp32'>('fp32', 'fp16'),
    qBatch: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }),
    L: fc.integer({ min: 1, max: 6 }),
    S: fc.integer({ min: 1, max: 6 }),
    E: fc.integer({ min: 1, max: 12 }),
    EV: fc.integer({ min: 1, max: 8 }),
    /** scale = 1/√E times this (1 = SDPA's own scale) */
    scaleFactor: fc.oneof(fc.constant(1), fc.double({ min: 0.25, max: 2, noNaN: true })),
    scaleSite: fc.constantFrom<ScaleSite>('none', 'q', 'k', 'scores', 'q-and-k', 'q-before-transpose'),
    scaleOp: fc.constantFrom<'mul' | 'real_div'>('mul', 'real_div'),
    scaleConstFirst: fc.boolean(),
    kTranspose: fc.constantFrom<'transpose_y' | 'explicit'>('transpose_y', 'explicit'),
    mask: fc.constantFrom<MaskKind>('none', 'float', 'bool-sub', 'bool-not'),
    maskForm: fc.constantFrom('full', 'row', 'vector', 'batched'),
    maskFirst: fc.boolean(),
  })
  .chain((r) =>
    fc.record({ kBatch: broadcastOf(r.qBatch), vBatch: broadcastOf(r.qBatch) }).map(({ kBatch, vBatch }): AttentionSpec => {
      const maskShape =
        r.maskForm === 'full' ? [r.L, r.S] : r.maskForm === 'row' ? [1, r.S] : r.maskForm === 'vector' ? [r.S] : [...r.qBatch.map(() => 1), r.L, r.S];
      // q-and-k needs √scale; explicit transpose of k and a rank-2 k are fine; q-before-transpose needs rank ≥ 3
      return {
        dtype: r.dtype,
        qBatch: r.qBatch,
        kBatch,
        vBatch,
        L: r.L,
        S: r.S,
        E: r.E,
        EV: r.EV,
        scale: r.scaleFactor / Math.sqrt(r.E),
        scaleSite: r.scaleSite,
        scaleOp: r.scaleOp,
        scaleConstFirst: r.scaleConstFirst,
        kTranspose: r.kTranspose,
        mask: r.mask,
        maskShape,
        maskFirst: r.maskFirst,
      };
    }),
  );

describe('properties', () => {
  it('fusion fires once and preserves the outputs', async () => {
    await fc.assert(
      fc.asyncProperty(specArb, fc.integer({ min: 1, max: 1 << 30 }), async (spec, seed) => {
        const { program, spec: s } = buildAttention(spec);
        const { program: fused, stats } = await runPass(sdpaFusion(), program);
        expect(stats.fused).toBe(1);
        expect(countOps(fused, SDPA)).toBe(1);
        expect(countOps(fused, 'softmax')).toBe(0);
        expect(signature(fused)).toEqual(signature(program));
        const m = compareRuns(program, fused, [randomInputs(program, seed)]).out;
        expect(withinTolerance(s.dtype, m), JSON.stringify({ spec, m })).toBe(true);
      }),
      { numRuns: 150, seed: 20250101 },
    );
  });

  it('a block that is not exactly attention is left unchanged', async () => {
    const breaker = fc.constantFrom<NonNullable<AttentionSpec['breaker']> | 'softmax-axis'>(
      'scores-output',
      'probs-output',
      'runtime-scale',
      'softmax-axis',
    );
    await fc.assert(
      fc.asyncProperty(specArb, breaker, async (spec, b) => {
        const s: AttentionSpec = b === 'softmax-axis' ? { ...spec, softmaxAxis: -2 } : { ...spec, breaker: b };
        const { program } = buildAttention(s);
        const { program: out, changed } = await runPass(sdpaFusion(), program);
        expect(changed).toBe(false);
        expect(printProgram(out)).toBe(printProgram(program));
      }),
      { numRuns: 100, seed: 20250102 },
    );
  });

  it('fuse → lower → fuse is stable and every stage computes the same', async () => {
    await fc.assert(
      fc.asyncProperty(specArb, async (spec) => {
        const { program, spec: s } = buildAttention(spec);
        const fused = (await runPass(sdpaFusion(), program)).program;
        const lowered = (await runPass(sdpaLowering(), fused)).program;
        const again = await runPass(sdpaFusion(), lowered);
        expect(again.stats.fused).toBe(1);
        expect(canonicalText(again.program)).toBe(canonicalText(fused));
        const m = compareRuns(program, lowered, [randomInputs(program, 5)]).out;
        expect(withinTolerance(s.dtype, m), JSON.stringify({ spec, m })).toBe(true);
      }),
      { numRuns: 60, seed: 20250103 },
    );
  });
});
