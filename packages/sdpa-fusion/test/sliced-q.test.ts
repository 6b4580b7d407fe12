/**
 * The sliced-Q variant: chunking, thresholds, masks, and the numbers against the whole SDPA.
 */
import { describe, expect, it } from 'vitest';
import { type Program, type TensorType, buildProgram, tensorType } from '@silica/ir';
import { sdpaSlicedQ, splitToChunks } from '../src/index.js';
import { compareRuns, countOps, randomInputs, runPass, signature, withinTolerance } from './helpers.js';

const SDPA = 'scaled_dot_product_attention';

function sdpaProgram(dtype: 'fp16' | 'fp32', L: number, S: number, mask?: TensorType, E = 16): Program {
  const inputs: Record<string, TensorType> = {
    q: tensorType(dtype, [1, 2, L, E]),
    k: tensorType(dtype, [1, 2, S, E]),
    v: tensorType(dtype, [1, 2, S, 8]),
  };
  if (mask) inputs.mask = mask;
  return buildProgram('iOS18', (p) =>
    p.function('main', inputs, (b, io) =>
      b.scaled_dot_product_attention({ query: io.q, key: io.k, value: io.v, attn_mask: io.mask }, { name: 'out' }),
    ),
  );
}

describe('splitToChunks (coremltools _split_to_chunks)', () => {
  it('gives ⌊n/count⌋ rows per chunk, the first n mod count one longer', () => {
    expect(splitToChunks(8, 3)).toEqual([
      [0, 3],
      [3, 6],
      [6, 8],
    ]);
    expect(splitToChunks(1280, 16)).toEqual(Array.from({ length: 16 }, (_, i) => [80 * i, 80 * (i + 1)]));
    expect(splitToChunks(5, 16)).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
      [4, 5],
    ]);
    expect(splitToChunks(7, 1)).toEqual([[0, 7]]);
    expect(splitToChunks(0, 4)).toEqual([]);
  });
});

describe('sdpa-sliced-q', () => {
  const cases: Array<[string, 'fp16' | 'fp32', number, number, TensorType | undefined, number]> = [
    ['fp32, no mask, 24 rows in 5 chunks', 'fp32', 24, 10, undefined, 5],
    ['fp32, float mask [L, S] sliced per chunk', 'fp32', 24, 24, tensorType('fp32', [24, 24]), 4],
    ['fp32, float mask [1, 1, S] added whole', 'fp32', 12, 9, tensorType('fp32', [1, 1, 9]), 3],
    ['fp32, bool mask [1, L, S] → select(m, 0, -inf), sliced', 'fp32', 16, 16, tensorType('bool', [1, 16, 16]), 16],
    ['fp16, bool mask [L, S]', 'fp16', 20, 20, tensorType('bool', [20, 20]), 6],
    ['fp16 with an fp32 mask: cast once', 'fp16', 12, 12, tensorType('fp32', [12, 12]), 3],
    ['fp32, L = 5 with 16 chunks: one row per chunk', 'fp32', 5, 7, tensorType('fp32', [5, 7]), 16],
  ];
  for (const [name, dtype, L, S, mask, divider] of cases) {
    it(`${name}: equal to the whole SDPA`, async () => {
      const program = sdpaProgram(dtype, L, S, mask);
      const { program: sliced, stats } = await runPass(sdpaSlicedQ({ minSeqLength: L, seqLengthDivider: divider }), program);
      const chunks = splitToChunks(L, divider).length;
      expect(stats).toEqual({ sliced: 1, chunks, kept: 0 });
      expect(countOps(sliced, SDPA)).toBe(0);
      expect(countOps(sliced, 'softmax')).toBe(chunks);
      expect(countOps(sliced, 'concat')).toBe(chunks > 1 ? 1 : 0);
      expect(signature(sliced)).toEqual(signature(program));
      expect(sliced.main.outputs[0].producer?.name).toBe('out');
      const m = compareRuns(program, sliced, [1, 2].map((s) => randomInputs(program, s))).out;
      expect(withinTolerance(dtype, m), JSON.stringify(m)).toBe(true);
    });
  }

  it('with the defaults, slices L = 1280 into 16 chunks and leaves L = 1279 whole', async () => {
    const long = await runPass(sdpaSlicedQ(), sdpaProgram('fp32', 1280, 4, undefined, 4));
    expect(long.stats).toEqual({ sliced: 1, chunks: 16, kept: 0 });
    const m = compareRuns(sdpaProgram('fp32', 1280, 4, undefined, 4), long.program, [randomInputs(long.program, 3)]).out;
    expect(m.maxAbsError).toBeLessThanOrEqual(1e-5);
    const short = await runPass(sdpaSlicedQ(), sdpaProgram('fp32', 1279, 4, undefined, 4));
    expect(short.changed).toBe(false);
    expect(short.stats).toEqual({ sliced: 0, chunks: 0, kept: 1 });
  });

  it('leaves an SDPA with a symbolic query length whole', async () => {
    const t = tensorType('fp32', [1, 'len', 8]);
    const program = buildProgram('iOS18', (p) =>
      p.function('main', { q: t, k: tensorType('fp32', [1, 4, 8]), v: tensorType('fp32', [1, 4, 8]) }, (b, io) =>
        b.scaled_dot_product_attention({ query: io.q, key: io.k, value: io.v }),
      ),
    );
    const { changed, stats } = await runPass(sdpaSlicedQ({ minSeqLength: 0 }), program);
    expect(changed).toBe(false);
    expect(stats).toEqual({ sliced: 0, chunks: 0, kept: 1 });
  });

  it('divider 1 computes the whole Q in one chunk without a concat', async () => {
    const program = sdpaProgram('fp32', 6, 6);
    const { program: sliced, stats } = await runPass(sdpaSlicedQ({ minSeqLength: 1, seqLengthDivider: 1 }), program);
    expect(stats).toEqual({ sliced: 1, chunks: 1, kept: 0 });
    expect(countOps(sliced, 'concat')).toBe(0);
    expect(compareRuns(program, sliced, [randomInputs(program, 1)]).out.maxAbsError).toBeLessThanOrEqual(1e-5);
  });
});
