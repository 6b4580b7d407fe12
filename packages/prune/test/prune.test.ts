import { describe, expect, it } from 'vitest';
import { constValueOf, fromFloat32, pipeline, tensorFromValues, verifyProgram, type Program } from '@silica/ir';
import { CompressionConfigError, tensorData } from '@silica/compression';
import prune, { percentile, pruneKernel, type PruneMethod, type PruneOptions } from '../src/index.js';
import { ctxFor, linearChain, program, randomFloats, randomWeight as weight } from '@silica/test-support';

const run = async (p: Program, options: PruneOptions) => {
  const r = await prune({ workers: 0, ...options }).run(p, ctxFor(p));
  verifyProgram(p);
  return r;
};

/** Prunes a small fp32 tensor with the kernel and returns the pruned values. */
function pruneValues(shape: number[], values: number[], method: PruneMethod): number[] {
  const r = pruneKernel({ data: tensorData(fromFloat32('fp32', shape, Float32Array.from(values))), method });
  if ('skip' in r) throw new Error(r.skip);
  const bits = constBits(r.mask.bytes, values.length);
  const nz = new Float32Array(r.nonzero.bytes.slice().buffer);
  let k = 0;
  return values.map((_, i) => (bits[i] ? nz[k++] : 0));
}
function constBits(bytes: Uint8Array, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (bytes[i >> 3] >> (i & 7)) & 1);
}

describe('options are checked when the pass is built', () => {
  it.each([
    [{}, 'prune: say how to prune: targetSparsity or nmRatio (magnitude pruning), or threshold (threshold pruning)'],
    [{ targetSparsity: 1.5 }, 'prune: targetSparsity must be in [0, 1], got 1.5'],
    [{ targetSparsity: 0.5, nmRatio: [1, 2] }, 'prune: give exactly one of targetSparsity and nmRatio (got both)'],
    [{ blockSize: 4 }, 'prune: give exactly one of targetSparsity and nmRatio (got neither)'],
    [{ targetSparsity: 0.5, blockSize: 1 }, 'prune: blockSize must be an integer > 1, got 1'],
    [{ nmRatio: [3, 2] }, 'prune: nmRatio must be [n, m] with integers 0 ≤ n ≤ m, m ≥ 1 (n = how many of every m are removed), got [3,2]'],
    [{ nmRatio: [1, 2], blockSize: 4 }, 'prune: blockSize and nmRatio cannot be set together'],
    [{ targetSparsity: 0.5, dim: 1 }, 'prune: dim only applies with blockSize or nmRatio'],
    [{ nmRatio: [1, 4], dim: 2 }, 'prune: dim must be 0 or 1, got 2'],
    [{ threshold: -1 }, 'prune: threshold must be a number ≥ 0, got -1'],
    [{ threshold: 0.1, minimumSparsityPercentile: 2 }, 'prune: minimumSparsityPercentile must be in [0, 1], got 2'],
    [{ threshold: 0.1, targetSparsity: 0.5 }, 'prune: threshold/minimumSparsityPercentile (threshold pruning) cannot be combined with targetSparsity/nmRatio/blockSize/dim (magnitude pruning)'],
    [{ targetSparsity: 0.5, weightThreshold: -2 }, 'prune: weightThreshold must be an integer ≥ 0, got -2'],
    [{ targetSparsity: 0.5, sparsity: 0.5 }, 'prune: unknown option "sparsity"'],
    [{ opType: { linear: { nmRatio: [1] } } }, 'prune: opType.linear: nmRatio must be [n, m]'],
    [{ targetSparsity: 0.5, joint: 1 }, 'prune: joint must be a boolean, got 1'],
  ])('%j', (options, message) => {
    expect(() => prune(options as PruneOptions)).toThrow(CompressionConfigError);
    expect(() => prune(options as PruneOptions)).toThrow(message);
  });

  it('accepts each method', () => {
    for (const o of [{ targetSparsity: 0 }, { threshold: 0.01 }, { nmRatio: [2, 4], dim: 0 }, { targetSparsity: 0.75, blockSize: 4, dim: 1 }, { opName: { w: { targetSparsity: 1 } } }] as PruneOptions[]) {
      expect(prune(o).name).toBe('prune');
    }
  });
});

describe('the methods (coremltools docstring examples and NumPy percentile)', () => {
  it('NumPy linear percentile', () => {
    const f = (xs: number[], q: number) => percentile(Float32Array.from(xs), q, 'fp32');
    expect(f([1, 2, 3, 4], 50)).toBe(2.5);
    expect(f([1, 2, 3, 4, 5], 40)).toBeCloseTo(2.6, 12);
    expect(f([4, 1, 3, 2], 0)).toBe(1);
    expect(f([4, 1, 3, 2], 100)).toBe(4);
    expect(f([1, NaN, 3], 50)).toBeNaN();
    // fp16 data goes through the bit-pattern histogram: same answer
    const h = fromFloat32('fp16', [6], Float32Array.from([0.5, 0.25, 2, 0.125, 1, 4])).toFloat32();
    expect(percentile(h, 30, 'fp16')).toBe(percentile(h, 30, 'fp32'));
  });

  it('magnitude: [0.3, −0.2, −0.01, 0.05] at 75 % → [0.3, 0, 0, 0]', () => {
    expect(pruneValues([4], [0.3, -0.2, -0.01, 0.05], { kind: 'magnitude', targetSparsity: 0.75 })).toEqual([Math.fround(0.3), 0, 0, 0]);
  });

  it('magnitude: p = 0 prunes nothing but drops existing zeros from the mask; p = 1 prunes everything', () => {
    const r = pruneKernel({ data: tensorData(fromFloat32('fp32', [4], Float32Array.from([1, 0, -2, 3]))), method: { kind: 'magnitude', targetSparsity: 0 } });
    if ('skip' in r) throw new Error(r.skip);
    expect(constBits(r.mask.bytes, 4)).toEqual([1, 0, 1, 1]);
    expect(r.sparsity).toBe(0.25);
    expect(pruneValues([4], [1, 5, -2, 3], { kind: 'magnitude', targetSparsity: 1 })).toEqual([0, 0, 0, 0]);
  });

  it('block sparsity: the 4×2 docstring example with blockSize 2, dim 0, 50 %', () => {
    expect(pruneValues([4, 2], [1, 3, -6, -7, 0, 3, -9, 2], { kind: 'magnitude', targetSparsity: 0.5, blockSize: 2, dim: 0 })).toEqual([0, 3, 0, -7, 0, 0, -9, 0]);
  });

  it('n:m: the 4×4 docstring example for (1, 2) along dim 1 and dim 0', () => {
    const w = [3, 4, 7, 6, 1, 8, -3, -8, -2, -3, -4, 0, 5, 4, -3, -2];
    expect(pruneValues([4, 4], w, { kind: 'nm', n: 1, m: 2, dim: 1 })).toEqual([0, 4, 7, 0, 0, 8, 0, -8, 0, -3, -4, 0, 5, 0, -3, 0]);
    expect(pruneValues([4, 4], w, { kind: 'nm', n: 1, m: 2, dim: 0 })).toEqual([3, 0, 7, 0, 0, 8, 0, -8, 0, 0, -4, 0, 5, 4, 0, -2]);
  });

  it('n:m on a 4-D conv weight zeroes n of every m along the input channels, ties at the lower index', () => {
    const shape = [2, 8, 1, 2];
    const vals = Array.from(randomFloats(32, 5), (x) => x + Math.sign(x) * 0.01);
    const out = pruneValues(shape, vals, { kind: 'nm', n: 2, m: 4, dim: 1 });
    // per (out, kw) the input channels c of one run of 4 sit at o·16 + c·2 + kw; the 2 largest survive
    for (let o = 0; o < 2; o++) {
      for (let kw = 0; kw < 2; kw++) {
        for (const run of [0, 4]) {
          const idx = [0, 1, 2, 3].map((c) => o * 16 + (run + c) * 2 + kw);
          const kept = idx.filter((i) => out[i] !== 0);
          const largest = [...idx].sort((a, b) => Math.abs(vals[b]) - Math.abs(vals[a])).slice(0, 2).sort((a, b) => a - b);
          expect(kept).toEqual(largest);
        }
      }
    }
    // |1| ties |−1|: the lower index is pruned first
    expect(pruneValues([1, 4], [1, -1, 5, 6], { kind: 'nm', n: 1, m: 2, dim: 1 })).toEqual([0, -1, 0, 6]);
  });

  it('n:m and block sizes too large for the channel count are skipped', () => {
    const d = tensorData(fromFloat32('fp32', [4, 6], randomFloats(24)));
    expect(pruneKernel({ data: d, method: { kind: 'nm', n: 2, m: 4, dim: 1 } })).toEqual({ skip: 'm = 4 > channels / 2 (6 channels along dim 1)' });
    expect(pruneKernel({ data: d, method: { kind: 'magnitude', targetSparsity: 0.5, blockSize: 3, dim: 0 } })).toEqual({
      skip: 'blockSize 3 > channels / 2 (4 channels along dim 0)',
    });
  });

  it('threshold: |w| ≤ threshold (rounded to the weight dtype) is zeroed; too little sparsity skips', () => {
    const vals = [0.001, -0.002, 0.5, -0.7, 0.0005, 0.9];
    expect(pruneValues([6], vals, { kind: 'threshold', threshold: 0.002, minimumSparsityPercentile: 0.5 })).toEqual([0, 0, Math.fround(0.5), Math.fround(-0.7), 0, Math.fround(0.9)]);
    expect(pruneKernel({ data: tensorData(fromFloat32('fp32', [6], Float32Array.from(vals))), method: { kind: 'threshold', threshold: 0.002, minimumSparsityPercentile: 0.6 } })).toEqual({
      skip: 'threshold 0.002 gives sparsity 0.5, below minimumSparsityPercentile 0.6',
    });
    // the default 1e-12 is 0 in fp16: only exact zeros are pruned in fp16 weights
    const h = tensorData(fromFloat32('fp16', [4], Float32Array.from([0, 1e-7, 0, 2])));
    const r = pruneKernel({ data: h, method: { kind: 'threshold', threshold: 1e-12, minimumSparsityPercentile: 0.5 } });
    if ('skip' in r) throw new Error(r.skip);
    expect(constBits(r.mask.bytes, 4)).toEqual([0, 1, 0, 1]);
  });

  it('the fp16 histogram path gives the same mask as the generic path on the same values', () => {
    // few distinct magnitudes ⇒ many ties at the percentile
    const vals = Float32Array.from(randomFloats(64 * 96, 11, 1), (x) => Math.round(x * 40) / 64);
    for (const p of [0.1, 0.3, 0.5, 0.77, 0.9]) {
      const a = pruneKernel({ data: tensorData(fromFloat32('fp16', [64, 96], vals)), method: { kind: 'magnitude', targetSparsity: p } });
      const b = pruneKernel({ data: tensorData(fromFloat32('fp32', [64, 96], fromFloat32('fp16', [64, 96], vals).toFloat32())), method: { kind: 'magnitude', targetSparsity: p } });
      if ('skip' in a || 'skip' in b) throw new Error('skipped');
      expect(Buffer.from(a.mask.bytes).equals(Buffer.from(b.mask.bytes)), `p = ${p}`).toBe(true);
      expect(a.sparsity).toBe(b.sparsity);
      expect(a.metrics.maxAbsError).toBe(b.metrics.maxAbsError);
      expect(a.metrics.mse).toBeCloseTo(b.metrics.mse, 12);
    }
  });

  it('keeps NaN values (NaN ≠ 0) and their bits', () => {
    const h = fromFloat32('fp16', [4], Float32Array.from([NaN, 0.5, -0.25, 4]));
    const r = pruneKernel({ data: tensorData(h), method: { kind: 'magnitude', targetSparsity: 0.5 } });
    if ('skip' in r) throw new Error(r.skip);
    // a NaN makes the percentile NaN: nothing is pruned
    expect(constBits(r.mask.bytes, 4)).toEqual([1, 1, 1, 1]);
    expect(Array.from(new Uint16Array(r.nonzero.bytes.slice().buffer))[0]).toBe(new Uint16Array(h.bytes().slice().buffer)[0]);
  });
});

describe('the pass', () => {
  it('prunes weights above the threshold, skips rank-1 and small ones', async () => {
    const p = program('iOS18', [1, 32], (b, x) => {
      const h = b.linear({ x, weight: b.const(weight([64, 32], 1), { name: 'w2048' }), bias: b.const(fromFloat32('fp16', [64], randomFloats(64)), { name: 'bias' }) });
      return b.linear({ x: h, weight: b.const(weight([40, 64], 2), { name: 'w2560' }) });
    });
    const r = await run(p, { targetSparsity: 0.5 });
    expect([...p.main.ops].filter((o) => o.isConstexpr).map((o) => o.name)).toEqual(['w2560_sparsified']);
    expect(r.skipped.map((s) => [s.weight, s.reason])).toEqual([
      ['w2048', '2048 elements, not more than weightThreshold 2048'],
      ['bias', 'rank 1 < 2 (rank-0/1 weights are left alone, mil-ops.md §7.1)'],
    ]);
  });

  it('block and n:m sparsity only for linear/conv weights, unless the weight is named in opName', async () => {
    const build = () => program('iOS18', [4, 64], (b, x) => b.matmul({ x, y: b.const(weight([64, 64], 1), { name: 'y' }) }, { name: 'mm' }));
    const p = build();
    const r = await run(p, { nmRatio: [1, 2], weightThreshold: 0 });
    expect(r.skipped).toEqual([{ function: 'main', weight: 'y', reason: 'n:m sparsity applies to linear/conv weights only, but matmul "mm" reads it' }]);
    const q = build();
    const s = await run(q, { opName: { y: { nmRatio: [1, 2], weightThreshold: 0 } } });
    expect(s.stats.compressed).toBe(1);
    const t = build();
    expect((await run(t, { targetSparsity: 0.5, blockSize: 4, weightThreshold: 0 })).skipped[0].reason).toBe(
      'block sparsity applies to linear/conv weights only, but matmul "mm" reads it',
    );
  });

  it('threshold pruning through the pass, with a skip reported when sparsity is too low', async () => {
    const p = linearChain('iOS18', [[64, 64]]);
    const r = await run(p, { threshold: 0.05, minimumSparsityPercentile: 0.3, weightThreshold: 0 });
    expect(r.stats.compressed).toBe(1);
    const out = constValueOf(p.main.findValue('w0_sparsified')!, p.target)!.toFloat32();
    expect(out.every((v) => v === 0 || Math.abs(v) > 0.05)).toBe(true);
    const q = linearChain('iOS18', [[64, 64]]);
    const s = await run(q, { threshold: 0.01, weightThreshold: 0 });
    expect(s.changed).toBe(false);
    expect(s.warnings[0]).toMatch(/^weight "w0" \(function "main"\) skipped: threshold 0.01 gives sparsity 0\.\d+, below minimumSparsityPercentile 0.5$/);
  });

  it('iOS16 programs get the packed-mask form; in a pipeline it reports bytes in/out', async () => {
    const p = linearChain('iOS16', [[64, 64]]);
    const { report } = await pipeline([prune({ targetSparsity: 0.75, weightThreshold: 0, workers: 0 })]).runWithReport(p);
    const op = p.main.findOp('w0_sparsified')!;
    expect(constValueOf(op.input('mask')!, p.target)!.dtype).toBe('uint8');
    expect(report[0]).toMatchObject({ pass: 'prune', changed: true, stats: { compressed: 1 } });
    expect(report[0].bytesOut).toBeLessThan(report[0].bytesIn);
  });

  it('fp32 and int8 weights keep their dtype in nonzero_data', async () => {
    const p = linearChain('iOS18', [[64, 64]], 'fp32');
    await run(p, { targetSparsity: 0.5, weightThreshold: 0 });
    expect(p.main.findOp('w0_sparsified_nonzero_data')!.constValue!.dtype).toBe('fp32');
    const q = program('iOS18', [64, 64], (b, x) => b.add({ x, y: b.cast({ x: b.const(tensorFromValues('int8', [64, 64], Array.from({ length: 4096 }, (_, i) => (i % 11) - 5)), { name: 'ints' }), dtype: 'fp16' }) }));
    await run(q, { targetSparsity: 0.5, weightThreshold: 0 });
    expect(q.main.findOp('ints_sparsified_nonzero_data')!.constValue!.dtype).toBe('int8');
  });
});
