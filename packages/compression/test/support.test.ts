import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { existsSync } from 'node:fs';
import { FileTensor, fromFloat32, numberToFp16Bits, tensorFromValues } from '@silica/ir';
import {
  BlockGrid,
  FloatSource,
  TensorSpill,
  errorMetrics,
  representationBytes,
  roundHalfEven,
  roundTo,
  summarizeStats,
  tensorData,
  type WeightStats,
} from '../src/index.js';
import { program, randomWeight as weight } from '@silica/test-support';

describe('BlockGrid', () => {
  it('gives every element the block id of its multi-index (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 5 }),
        (axes, chunk) => {
          // dim = blocks · size, block size 0 (whole axis) when the second number is 0
          const shape = axes.map(([blocks, s]) => blocks * Math.max(1, s));
          const sizes = axes.map(([, s]) => s);
          const g = new BlockGrid(shape, sizes);
          const strides: number[] = [];
          let st = 1;
          for (let k = shape.length - 1; k >= 0; k--) {
            strides[k] = st;
            st *= g.grid[k];
          }
          const seen: number[] = [];
          for (const run of g.chunks(chunk)) {
            for (let t = 0; t < run.count; t++) {
              const flat = run.start + t;
              let rest = flat;
              let id = 0;
              for (let k = shape.length - 1; k >= 0; k--) {
                const i = rest % shape[k];
                rest = Math.floor(rest / shape[k]);
                id += Math.floor(i / (sizes[k] > 0 ? sizes[k] : shape[k])) * strides[k];
              }
              expect(run.rowBase + g.lastMap[run.j0 + t]).toBe(id);
              seen.push(flat);
            }
          }
          expect(seen).toEqual(Array.from({ length: g.size }, (_, i) => i));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('rejects block sizes that do not divide', () => {
    expect(() => new BlockGrid([4, 6], [0, 4])).toThrow('BlockGrid: dim 1 (6) is not divisible by block size 4');
  });

  it('FloatSource decodes fp16, fp32, int8 and uint8 runs', () => {
    const f = Float32Array.from([0.5, -1.25, 3, 65504]);
    expect(Array.from(new FloatSource(tensorData(fromFloat32('fp16', [4], f)), 2).get(2, 2))).toEqual([3, 65504]);
    expect(Array.from(new FloatSource(tensorData(fromFloat32('fp32', [4], f))).get(0, 2))).toEqual([0.5, -1.25]);
    expect(Array.from(new FloatSource(tensorData(tensorFromValues('int8', [3], [-128, 0, 127]))).get(0, 3))).toEqual([-128, 0, 127]);
    expect(Array.from(new FloatSource(tensorData(tensorFromValues('uint8', [2], [0, 255]))).get(1, 1))).toEqual([255]);
  });
});

describe('numeric helpers', () => {
  it('roundHalfEven is NumPy rounding', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, -3.6, 7].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, -4, 7]);
  });

  it('roundTo rounds through fp32 to fp16 as NumPy', () => {
    expect(roundTo('fp16', 0.1)).toBe(0.0999755859375);
    expect(roundTo('fp16', 70000)).toBe(Infinity);
    expect(roundTo('fp32', 0.1)).toBe(Math.fround(0.1));
    expect(roundTo('fp16', 2049)).toBe(2048); // tie to even
    expect(numberToFp16Bits(roundTo('fp16', 1e-8))).toBe(0);
  });
});

describe('metrics', () => {
  it('errorMetrics: MSE, SNR and max abs error', () => {
    const m = errorMetrics([1, 2, 3, 4], [1, 2, 3, 5]);
    expect(m.mse).toBe(0.25);
    expect(m.maxAbsError).toBe(1);
    expect(m.snrDb).toBeCloseTo(10 * Math.log10(30 / 1), 12);
    expect(errorMetrics([1, 2], [1, 2]).snrDb).toBe(Infinity);
    expect(errorMetrics([0, 0], [0, 1]).snrDb).toBe(0);
    expect(errorMetrics([NaN, 1], [NaN, 1]).mse).toBe(0);
    expect(() => errorMetrics([1], [1, 2])).toThrow('errorMetrics: 1 reference values but 2 approximations');
  });

  it('summarizeStats aggregates bytes, bits per weight and the worst SNR', () => {
    const w = (name: string, elements: number, after: number, snrDb: number, mse: number): WeightStats => ({
      function: 'main',
      weight: name,
      dense: name,
      shape: [elements],
      dtype: 'fp16',
      elements,
      method: 'm',
      ops: [],
      bytesBefore: elements * 2,
      bytesAfter: after,
      bitsPerWeight: (8 * after) / elements,
      mse,
      snrDb,
      maxAbsError: mse * 10,
      inWorker: false,
      ms: 1,
    });
    const s = summarizeStats([w('a', 1000, 1000, 40, 1e-4), w('b', 3000, 1500, 30, 2e-4)], 3);
    expect(s).toMatchObject({ compressed: 2, skipped: 3, bytesBefore: 8000, bytesAfter: 2500, ratio: 3.2, bitsPerWeight: 5, minSnrDb: 30, worstWeight: 'b' });
    expect(s.mse).toBeCloseTo((1e-4 * 1000 + 2e-4 * 3000) / 4000, 15);
  });

  it('representationBytes counts the consts behind a dense value once', () => {
    const p = program('iOS18', [1, 16], (b, x) => {
      const data = b.const(tensorFromValues('int8', [16, 16], new Array(256).fill(1)), { name: 'd' });
      const scale = b.const(fromFloat32('fp16', [16, 1], new Float32Array(16).fill(1)), { name: 's' });
      return b.linear({ x, weight: b.constexpr_blockwise_shift_scale({ data, scale }, { name: 'wq' }) });
    });
    expect(representationBytes(p.main.findValue('wq')!)).toBe(256 + 32);
    expect(representationBytes(p.main.findValue('d')!)).toBe(256);
  });
});

describe('TensorSpill', () => {
  it('writes big tensors to a temp file and hands back FileTensors with the same bytes', () => {
    const spill = new TensorSpill({ minBytes: 100 });
    const small = weight([4, 4], 1);
    const big = weight([64, 64], 2);
    expect(spill.wants(small)).toBe(false);
    expect(spill.wants(big)).toBe(true);
    const a = spill.spill(big);
    const b = spill.spill(weight([8, 8], 3));
    expect(a).toBeInstanceOf(FileTensor);
    expect(a.contentEquals(big)).toBe(true);
    expect(b.offset).toBe(big.byteLength);
    expect(spill.bytesWritten).toBe(big.byteLength + 128);
    expect(spill.wants(a)).toBe(false); // already lazy
    spill.close();
    expect(a.contentEquals(big)).toBe(true);
    spill.remove();
    expect(existsSync(a.path)).toBe(false);
  });
});
