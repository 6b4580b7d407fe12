import { describe, expect, it } from 'vitest';
import { constValueOf, fromFloat32, tensorFromValues, verifyProgram, type Program } from '@silica/ir';
import {
  CompressionTargetError,
  emitLut,
  emitQuantized,
  emitSparse,
  emitterFor,
  maskBits,
  maskFromBytes,
  packedMaskOf,
  replaceValue,
  requireFeature,
  selectWeights,
  supports,
  toAffineParams,
  type Weight,
} from '../src/index.js';
import { linearChain, opTypes, program, randomWeight as weight } from '@silica/test-support';

function theWeight(p: Program): Weight {
  const r = selectWeights(p, { pass: 't', configs: { global: {} }, threshold: () => 0, joint: false });
  return r.selected[0].weight;
}

const codes = (shape: number[], f: (i: number) => number, dtype: 'int8' | 'int4' | 'uint8' = 'int8') =>
  tensorFromValues(dtype, shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i)));

describe('target gating', () => {
  it('names the feature and the target it needs', () => {
    expect(() => requireFeature('int4 quantization', 'iOS17')).toThrow('int4 quantization needs iOS18 (the program targets iOS17)');
    expect(() => requireFeature('grouped LUTs', 'iOS16', 'palettize: weight "w"')).toThrow(
      'palettize: weight "w": grouped LUTs needs iOS18 (the program targets iOS16)',
    );
    expect(() => requireFeature('joint compression', 'iOS18')).not.toThrow();
    expect(supports('iOS26', 'vector LUTs')).toBe(true);
    const e = (() => {
      try {
        requireFeature('per-channel scale', 'iOS17');
      } catch (x) {
        return x as CompressionTargetError;
      }
    })()!;
    expect([e.feature, e.needs, e.target]).toEqual(['per-channel scale', 'iOS18', 'iOS17']);
  });
});

describe('quantization ops per target', () => {
  it('iOS18: constexpr_blockwise_shift_scale before the first reader, old const removed', () => {
    const p = linearChain('iOS18', [[8, 16]]);
    const w = theWeight(p);
    const e = emitterFor(w, p.target, 'q');
    const data = codes([8, 16], (i) => (i % 9) - 4);
    const scale = fromFloat32('fp16', [8, 1], Float32Array.from({ length: 8 }, (_, i) => 0.125 * (i + 1)));
    const v = emitQuantized(e, { data, scale }, 'w0_quantized');
    const removed = replaceValue(w.value, v);
    expect(removed.map((o) => o.name)).toEqual(['w0']);
    expect(opTypes(p)).toEqual(['const', 'const', 'constexpr_blockwise_shift_scale', 'linear']);
    expect(p.main.ops.map((o) => o.name).slice(0, 3)).toEqual(['w0_quantized_data', 'w0_quantized_scale', 'w0_quantized']);
    verifyProgram(p);
    const dense = constValueOf(v, p.target)!.toFloat32();
    expect(dense[16 + 3]).toBe(0.25 * ((19 % 9) - 4));
  });

  it('iOS16: constexpr_affine_dequantize with squeezed scale, zero zero-points and the axis', () => {
    const p = linearChain('iOS16', [[8, 16]]);
    const w = theWeight(p);
    const data = codes([8, 16], (i) => (i % 9) - 4);
    const scale = fromFloat32('fp16', [8, 1], Float32Array.from({ length: 8 }, (_, i) => 0.5 * (i + 1)));
    const v = emitQuantized(emitterFor(w, p.target, 'q'), { data, scale }, 'w0_quantized');
    replaceValue(w.value, v);
    verifyProgram(p);
    const op = v.producer!;
    expect(op.type).toBe('constexpr_affine_dequantize');
    expect(constValueOf(op.input('axis')!, p.target)!.toNumbers()).toEqual([0]);
    expect(constValueOf(op.input('scale')!, p.target)!.shape).toEqual([8]);
    const zp = constValueOf(op.input('zero_point')!, p.target)!;
    expect([zp.dtype, zp.shape, zp.toNumbers().every((z) => z === 0)]).toEqual(['int8', [8], true]);
    expect(constValueOf(v, p.target)!.toFloat32()[17]).toBe(1.0 * ((17 % 9) - 4));
  });

  it('toAffineParams: per-tensor gives scalars; 4-bit and per-block need iOS18', () => {
    const data = codes([4, 4], (i) => i - 8);
    const a = toAffineParams(data, fromFloat32('fp16', [1, 1], new Float32Array([2])), codes([1, 1], () => 3), 'iOS16');
    expect([a.axis, a.scale.shape, a.zeroPoint.shape, a.zeroPoint.toNumbers()]).toEqual([0, [], [], [3]]);
    const col = toAffineParams(data, fromFloat32('fp16', [1, 4], new Float32Array(4).fill(1)), undefined, 'iOS17');
    expect([col.axis, col.scale.shape]).toEqual([1, [4]]);
    expect(() => toAffineParams(codes([4, 4], () => 1, 'int4'), fromFloat32('fp16', [4, 1], new Float32Array(4)), undefined, 'iOS17', 'quantize: weight "w"')).toThrow(
      'quantize: weight "w": int4 quantization needs iOS18 (the program targets iOS17)',
    );
    expect(() => toAffineParams(data, fromFloat32('fp16', [2, 2], new Float32Array(4)), undefined, 'iOS16')).toThrow(
      'per-block quantization needs iOS18 (the program targets iOS16)',
    );
  });
});

describe('sparse ops per target', () => {
  const bits = Uint8Array.from({ length: 8 * 16 }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const build = (target: 'iOS16' | 'iOS18') => {
    const p = linearChain(target, [[8, 16]]);
    const w = theWeight(p);
    const dense = w.op.constValue!.toFloat32();
    const kept = Float32Array.from(dense.filter((_, i) => bits[i] === 1));
    const v = emitSparse(emitterFor(w, p.target, 'prune'), { nonzeroData: fromFloat32('fp16', [kept.length], kept), mask: maskFromBytes([8, 16], bits) }, 'w0_sparsified');
    replaceValue(w.value, v);
    verifyProgram(p);
    return { p, v, dense };
  };

  it('iOS18: uint1 mask of the weight shape', () => {
    const { p, v, dense } = build('iOS18');
    const mask = constValueOf(v.producer!.input('mask')!, p.target)!;
    expect([mask.dtype, mask.shape]).toEqual(['uint1', [8, 16]]);
    const out = constValueOf(v, p.target)!.toFloat32();
    expect(Array.from(out)).toEqual(Array.from(dense, (x, i) => (bits[i] ? x : 0)));
  });

  it('iOS16: packed uint8 mask and a uint32 shape, same values', () => {
    const { p, v, dense } = build('iOS16');
    const op = v.producer!;
    const mask = constValueOf(op.input('mask')!, p.target)!;
    expect([mask.dtype, mask.shape]).toEqual(['uint8', [16]]);
    expect(constValueOf(op.input('shape')!, p.target)!.toNumbers()).toEqual([8, 16]);
    expect(Array.from(constValueOf(v, p.target)!.toFloat32())).toEqual(Array.from(dense, (x, i) => (bits[i] ? x : 0)));
  });

  it('mask helpers pack LSB first (mlpackage-format.md §11)', () => {
    const m = maskFromBytes([9], Uint8Array.from([1, 0, 1, 1, 0, 0, 0, 1, 1]));
    expect(Array.from(m.bytes())).toEqual([0x8d, 0x01]);
    expect(Array.from(packedMaskOf(m).bytes())).toEqual([0x8d, 0x01]);
    expect(Array.from(maskBits(m))).toEqual([1, 0, 1, 1, 0, 0, 0, 1, 1]);
  });
});

describe('LUT ops per target', () => {
  const indices = (nbits: 2 | 3 | 4) => tensorFromValues(`uint${nbits}`, [8, 16], Array.from({ length: 128 }, (_, i) => i % 2 ** nbits));
  const lutOf = (shape: number[]) => fromFloat32('fp16', shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i / 8));

  it('iOS18 form keeps uint<n> indices and the rank K+2 LUT; iOS16 packs indices and flattens the LUT', () => {
    for (const target of ['iOS18', 'iOS16'] as const) {
      const p = linearChain(target, [[8, 16]]);
      const w = theWeight(p);
      const v = emitLut(emitterFor(w, p.target, 'pal'), { indices: indices(4), lut: lutOf([1, 1, 16, 1]) }, 'w0_palettized');
      replaceValue(w.value, v);
      verifyProgram(p);
      const op = v.producer!;
      const idx = constValueOf(op.input('indices')!, p.target)!;
      expect([idx.dtype, idx.shape]).toEqual(target === 'iOS18' ? ['uint4', [8, 16]] : ['uint8', [64]]);
      expect(constValueOf(op.input('lut')!, p.target)!.shape).toEqual(target === 'iOS18' ? [1, 1, 16, 1] : [16]);
      const out = constValueOf(v, p.target)!.toFloat32();
      expect(out[5]).toBe(5 / 8);
    }
  });

  it('below iOS18: 3-bit, grouped and vector LUTs fail naming the feature', () => {
    const p = linearChain('iOS17', [[8, 16]]);
    const w = theWeight(p);
    const e = emitterFor(w, p.target, 'palettize');
    expect(() => emitLut(e, { indices: indices(3), lut: lutOf([1, 1, 8, 1]) }, 'x')).toThrow(
      'palettize: weight "w0" (function "main"): 3-bit palettization needs iOS18 (the program targets iOS17)',
    );
    expect(() => emitLut(e, { indices: indices(2), lut: lutOf([2, 1, 4, 1]) }, 'x')).toThrow('grouped LUTs needs iOS18 (the program targets iOS17)');
    expect(() => emitLut(e, { indices: indices(2), lut: lutOf([1, 1, 4, 2]), vectorAxis: 0 }, 'x')).toThrow('vector LUTs needs iOS18 (the program targets iOS17)');
    // nothing was inserted by the failed attempts
    expect(opTypes(p)).toEqual(['const', 'linear']);
  });
});

describe('replaceValue', () => {
  it('keeps block-output uses of a const (a constexpr op must not feed a block output)', () => {
    const p = program('iOS18', [1, 16], (b, x) => {
      const w = b.const(weight([16, 16], 1), { name: 'w' });
      return [b.linear({ x, weight: w }), w];
    });
    const r = selectWeights(p, { pass: 't', configs: { global: {} }, threshold: () => 0, joint: false });
    const w = r.selected[0].weight;
    const v = emitQuantized(emitterFor(w, p.target, 'q'), { data: codes([16, 16], () => 1), scale: fromFloat32('fp16', [16, 1], new Float32Array(16).fill(1)) }, 'wq');
    expect(replaceValue(w.value, v)).toEqual([]);
    expect(p.main.outputs[1].name).toBe('w');
    expect(p.main.ops.find((o) => o.type === 'linear')!.input('weight')).toBe(v);
    verifyProgram(p);
  });
});
