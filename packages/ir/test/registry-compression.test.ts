/**
 * Signatures of mil-ops.md §1–4 (ops-compression.ts) and the constexpr evaluation of
 * constexpr-eval.ts. Expected values are worked by hand from the reference examples.
 */
import { describe, expect, it } from 'vitest';
import {
  DenseTensor,
  Function,
  Op,
  OpTypeError,
  Program,
  type Target,
  type Tensor,
  BlockCursor,
  blockwiseShiftScale,
  constValueOf,
  getSignature,
  isRegisteredOp,
  lutToDense,
  lutToDensePacked,
  scalar,
  sparseToDense,
  stateType,
  stringTensor,
  tensorFromValues,
  tensorType,
  typeCheckOp,
} from '../src/index.js';
import { type Operands, checkOp, evalOp } from './helpers/sig-test.js';

// ---------------------------------------------------------------------------------------
// helpers

const t = tensorFromValues;
const bytes = (...b: number[]): DenseTensor => new DenseTensor('uint8', [b.length], Uint8Array.from(b));
const u32 = (...v: number[]): DenseTensor => t('uint32', [v.length], v);
const i32 = (...v: number[]): DenseTensor => t('int32', [v.length], v);
const bools = (...v: boolean[]): DenseTensor => t('bool', [v.length], v);

function rejects(fn: () => unknown, param: string | null, reason: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an OpTypeError').toBeInstanceOf(OpTypeError);
  expect((err as OpTypeError).param).toBe(param);
  if (param) expect((err as Error).message).toContain(`input "${param}"`);
  expect((err as Error).message).toMatch(reason);
}

function rejectsCheck(target: Target, op: string, operands: Operands, param: string | null, reason: RegExp): void {
  rejects(() => checkOp(target, op, operands), param, reason);
}

const fmtShape = (s: readonly number[]): string => `[${s.join(', ')}]`;

function one(target: Target, op: string, operands: Operands): Tensor {
  const outs = evalOp(target, op, operands);
  expect(outs).toHaveLength(1);
  return outs[0];
}

// ---------------------------------------------------------------------------------------

describe('signature selection by target (mil-ops.md §0.1, §1.10)', () => {
  it('picks the iOS16 or iOS18 form of the re-defined constexpr ops', () => {
    for (const op of ['constexpr_lut_to_dense', 'constexpr_sparse_to_dense', 'constexpr_cast']) {
      expect(getSignature(op, 'iOS15')).toBeUndefined();
      expect(getSignature(op, 'iOS16')?.since).toBe('iOS16');
      expect(getSignature(op, 'iOS17')?.since).toBe('iOS16');
      expect(getSignature(op, 'iOS18')?.since).toBe('iOS18');
      expect(getSignature(op, 'iOS26')?.since).toBe('iOS18');
    }
  });

  it('stores iOS16-defined constexprs as attributes, iOS18-defined ones as inputs (mlpackage-format.md §9.4)', () => {
    expect(getSignature('constexpr_lut_to_dense', 'iOS17')?.storage).toBe('attributes');
    expect(getSignature('constexpr_lut_to_dense', 'iOS26')?.storage).toBe('inputs');
    expect(getSignature('constexpr_sparse_to_dense', 'iOS16')?.storage).toBe('attributes');
    expect(getSignature('constexpr_sparse_to_dense', 'iOS18')?.storage).toBe('inputs');
    expect(getSignature('constexpr_cast', 'iOS16')?.storage).toBe('attributes');
    expect(getSignature('constexpr_cast', 'iOS18')?.storage).toBe('inputs');
    // no iOS18 re-definition: attribute form even in iOS18+ programs (§8.1)
    expect(getSignature('constexpr_affine_dequantize', 'iOS18')?.since).toBe('iOS16');
    expect(getSignature('constexpr_affine_dequantize', 'iOS26')?.storage).toBe('attributes');
    for (const op of [
      'constexpr_blockwise_shift_scale',
      'constexpr_lut_to_sparse',
      'constexpr_sparse_blockwise_shift_scale',
      'read_state',
      'write_state',
      'slice_update',
      'scaled_dot_product_attention',
    ]) {
      expect(getSignature(op, 'iOS17'), op).toBeUndefined();
      expect(getSignature(op, 'iOS18')?.storage, op).toBe('inputs');
      expect(getSignature(op, 'iOS26')?.since, op).toBe('iOS18');
    }
  });

  it('declares the output counts: two for the sparse-producing constexprs, none for write_state', () => {
    expect(getSignature('constexpr_lut_to_sparse', 'iOS18')?.outputs).toBe(2);
    expect(getSignature('constexpr_sparse_blockwise_shift_scale', 'iOS18')?.outputs).toBe(2);
    expect(getSignature('write_state', 'iOS18')?.outputs).toBe(0);
  });

  it('leaves out coreml_update_state, a coremltools dialect op (§2.3)', () => {
    expect(isRegisteredOp('coreml_update_state')).toBe(false);
  });

  it('type-checks an iOS17 program with the iOS16 LUT form and rejects the iOS18 form there', () => {
    const lut = t('fp32', [4], [10, 20, 30, 40]);
    expect(checkOp('iOS17', 'constexpr_lut_to_dense', { indices: bytes(0x6c, 0x03), lut, shape: u32(5) })).toEqual([
      tensorType('fp32', [5]),
    ]);
    rejectsCheck(
      'iOS17',
      'constexpr_lut_to_dense',
      { indices: t('uint2', [5], [0, 3, 2, 1, 3]), lut: t('fp32', [1, 4, 1], [10, 20, 30, 40]) },
      'indices',
      /dtype uint2 is not allowed by the iOS16 signature/,
    );
    // and an iOS26 program takes the iOS18 form, which has no `shape`
    rejectsCheck('iOS26', 'constexpr_lut_to_dense', { indices: bytes(0x6c, 0x03), lut, shape: u32(5) }, 'shape', /is not a parameter/);
    expect(
      checkOp('iOS26', 'constexpr_lut_to_dense', { indices: t('uint2', [5], [0, 3, 2, 1, 3]), lut: t('fp32', [1, 4, 1], [10, 20, 30, 40]) }),
    ).toEqual([tensorType('fp32', [5])]);
  });

  it('rejects constexpr operands that are not compile-time constants', () => {
    rejectsCheck(
      'iOS18',
      'constexpr_blockwise_shift_scale',
      { data: tensorType('int8', [2, 2]), scale: t('fp16', [2, 1], [1, 2]) },
      'data',
      /must be a compile-time constant/,
    );
  });
});

// ---------------------------------------------------------------------------------------

describe('constexpr_affine_dequantize (§1.1)', () => {
  const q = t('uint8', [2, 3], [0, 128, 255, 10, 20, 30]);

  it('infers the quantized shape with the scale dtype', () => {
    expect(
      checkOp('iOS16', 'constexpr_affine_dequantize', { quantized_data: q, zero_point: t('uint8', [2], [128, 10]), scale: t('fp16', [2], [0.5, 2]), axis: scalar('int32', 0) }),
    ).toEqual([tensorType('fp16', [2, 3])]);
  });

  it('evaluates per-channel parameters along axis 0', () => {
    const out = one('iOS18', 'constexpr_affine_dequantize', {
      quantized_data: q,
      zero_point: t('uint8', [2], [128, 10]),
      scale: t('fp32', [2], [0.5, 2]),
      axis: scalar('int32', 0),
    });
    expect(out.dtype).toBe('fp32');
    expect(out.shape).toEqual([2, 3]);
    // row 0: 0.5·(q − 128); row 1: 2·(q − 10)
    expect(out.toNumbers()).toEqual([-64, 0, 63.5, 0, 20, 40]);
  });

  it('evaluates a vector scale along a negative axis with a scalar zero point, in fp16', () => {
    const out = one('iOS16', 'constexpr_affine_dequantize', {
      quantized_data: t('int8', [2, 3], [-3, 0, 5, 7, -8, 1]),
      zero_point: scalar('int8', 1),
      scale: t('fp16', [3], [0.5, 1, 0.25]),
      axis: scalar('int32', -1),
    });
    expect(out.dtype).toBe('fp16');
    // columns scaled by 0.5, 1, 0.25 after subtracting 1
    expect(out.toNumbers()).toEqual([-2, -1, 1, 3, -9, 0]);
  });

  it('computes in fp32 then casts to the fp16 scale dtype (one rounding)', () => {
    // fp16(0.1) · 6 = 0.599853515625, a tie between fp16 neighbours → 0.599609375 (even)
    const out = one('iOS16', 'constexpr_affine_dequantize', {
      quantized_data: t('uint8', [1], [7]),
      zero_point: t('fp32', [], [1]),
      scale: t('fp16', [], [0.1]),
      axis: scalar('int32', 0),
    });
    expect(out.toNumbers()).toEqual([0.599609375]);
  });

  it('rejects an out-of-range axis', () => {
    rejectsCheck(
      'iOS16',
      'constexpr_affine_dequantize',
      { quantized_data: q, zero_point: scalar('uint8', 0), scale: scalar('fp32', 1), axis: scalar('int32', 2) },
      'axis',
      /axis 2 is out of range for rank 2/,
    );
  });

  it('rejects a parameter vector whose length is not shape[axis]', () => {
    rejectsCheck(
      'iOS16',
      'constexpr_affine_dequantize',
      { quantized_data: q, zero_point: scalar('uint8', 0), scale: t('fp32', [2], [1, 2]), axis: scalar('int32', 1) },
      'scale',
      /vector of length 2 but quantized_data.shape\[1\] .* is 3/,
    );
    rejectsCheck(
      'iOS16',
      'constexpr_affine_dequantize',
      { quantized_data: q, zero_point: t('uint8', [1, 2], [0, 0]), scale: scalar('fp32', 1), axis: scalar('int32', 0) },
      'zero_point',
      /rank 2 is not allowed/,
    );
  });
});

// ---------------------------------------------------------------------------------------

describe('constexpr_cast (§1.2)', () => {
  it('infers fp32 of the source shape and evaluates exactly, in both forms', () => {
    for (const target of ['iOS16', 'iOS18'] as const) {
      const ops = { source_val: t('fp16', [2], [1.5, -0.1]), output_dtype: stringTensor([], ['fp32']) };
      expect(checkOp(target, 'constexpr_cast', ops)).toEqual([tensorType('fp32', [2])]);
      const out = one(target, 'constexpr_cast', ops);
      expect(out.dtype).toBe('fp32');
      expect(out.toNumbers()).toEqual([1.5, -0.0999755859375]);
    }
  });

  it('rejects an output dtype other than fp32', () => {
    rejectsCheck(
      'iOS18',
      'constexpr_cast',
      { source_val: t('fp16', [2], [1, 2]), output_dtype: stringTensor([], ['fp16']) },
      'output_dtype',
      /must be "fp32".*got "fp16"/,
    );
  });

  it('rejects a non-fp16 source', () => {
    rejectsCheck(
      'iOS16',
      'constexpr_cast',
      { source_val: t('fp32', [2], [1, 2]), output_dtype: stringTensor([], ['fp32']) },
      'source_val',
      /dtype fp32 is not allowed/,
    );
  });
});

// ---------------------------------------------------------------------------------------

describe('constexpr_lut_to_dense, iOS16 form (§1.3)', () => {
  const lut4 = t('fp32', [4], [10, 20, 30, 40]);

  it('unpacks LSB-first 2-bit indices (uint2 [0, 3, 2, 1, 3] = 6C 03, mlpackage-format.md §11)', () => {
    const ops = { indices: bytes(0x6c, 0x03), lut: lut4, shape: u32(5) };
    expect(checkOp('iOS16', 'constexpr_lut_to_dense', ops)).toEqual([tensorType('fp32', [5])]);
    expect(one('iOS16', 'constexpr_lut_to_dense', ops).toNumbers()).toEqual([10, 40, 30, 20, 40]);
  });

  it('unpacks 1-bit indices into a 2-D shape (uint1 [1,0,1,1,0,0,0,1,1] = 8D 01)', () => {
    const out = one('iOS17', 'constexpr_lut_to_dense', { indices: bytes(0x8d, 0x01), lut: t('int8', [2], [-1, 1]), shape: u32(3, 3) });
    expect(out.dtype).toBe('int8');
    expect(out.shape).toEqual([3, 3]);
    expect(out.toNumbers()).toEqual([1, -1, 1, 1, -1, -1, -1, 1, 1]);
  });

  it('unpacks 6-bit indices that straddle bytes (uint6 [63, 1] = 7F 00)', () => {
    const lut = t('fp16', [64], Array.from({ length: 64 }, (_, i) => i / 4));
    expect(one('iOS16', 'constexpr_lut_to_dense', { indices: bytes(0x7f, 0x00), lut, shape: u32(2) }).toNumbers()).toEqual([15.75, 0.25]);
  });

  it('rejects a 3-bit LUT (8 entries)', () => {
    rejectsCheck(
      'iOS16',
      'constexpr_lut_to_dense',
      { indices: bytes(0, 0), lut: t('fp32', [8], [0, 1, 2, 3, 4, 5, 6, 7]), shape: u32(5) },
      'lut',
      /has 8 entries; the iOS16 signature needs NUM_PALETTES ∈ \{2, 4, 16, 64, 256\}/,
    );
  });

  it('rejects indices whose byte count is not exactly ceil(nbits·prod(shape)/8)', () => {
    rejectsCheck(
      'iOS16',
      'constexpr_lut_to_dense',
      { indices: bytes(0x6c, 0x03, 0x00), lut: lut4, shape: u32(5) },
      'indices',
      /has 3 bytes but M = ceil\(nbits·prod\(shape\)\/8\) = ceil\(2·5\/8\) = 2/,
    );
  });

  it('rejects a rank-2 LUT', () => {
    rejectsCheck('iOS16', 'constexpr_lut_to_dense', { indices: bytes(0x6c, 0x03), lut: t('fp32', [1, 4], [1, 2, 3, 4]), shape: u32(5) }, 'lut', /rank 2 is not allowed \(expected rank 1\)/);
  });
});

// ---------------------------------------------------------------------------------------

describe('constexpr_lut_to_dense, iOS18 form (§1.4)', () => {
  // §1.4 example: [6, 2] uint2 with lut [2, 1, 4, 1] → rows 0–2 use table 0, rows 3–5 table 1
  const indices = t('uint2', [6, 2], [2, 3, 3, 0, 1, 0, 3, 0, 2, 1, 0, 3]);
  const lut = t('fp16', [2, 1, 4, 1], [1, 5, 9, 13, 2, 10, 18, 26]);

  it('evaluates per-group scalar palettization', () => {
    expect(checkOp('iOS18', 'constexpr_lut_to_dense', { indices, lut })).toEqual([tensorType('fp16', [6, 2])]);
    const out = one('iOS18', 'constexpr_lut_to_dense', { indices, lut });
    expect(out.toNumbers()).toEqual([9, 13, 13, 1, 5, 1, 26, 2, 18, 10, 2, 26]);
  });

  // coremltools docstring case 2: uint1 [2, 2, 2] indices, one LUT of two 3-vectors a, b
  const vIdx = t('uint1', [2, 2, 2], [0, 0, 1, 0, 1, 1, 0, 0]);
  const [a0, a1, a2, b0, b1, b2] = [1, 2, 3, -1, -2, -3];
  const vLut = t('int8', [1, 1, 1, 2, 3], [a0, a1, a2, b0, b1, b2]);

  it('expands each index into VECTOR_SIZE elements along a vector_axis that is not last', () => {
    const ops = { indices: vIdx, lut: vLut, vector_axis: scalar('int32', 1) };
    expect(checkOp('iOS18', 'constexpr_lut_to_dense', ops)).toEqual([tensorType('int8', [2, 6, 2])]);
    const out = one('iOS18', 'constexpr_lut_to_dense', ops);
    expect(out.shape).toEqual([2, 6, 2]);
    expect(out.toNumbers()).toEqual([
      a0, a0, a1, a1, a2, a2, b0, a0, b1, a1, b2, a2,
      b0, b0, b1, b1, b2, b2, a0, a0, a1, a1, a2, a2,
    ]);
    // a negative axis means the same axis
    expect(one('iOS18', 'constexpr_lut_to_dense', { ...ops, vector_axis: scalar('int32', -2) }).toNumbers()).toEqual(out.toNumbers());
  });

  it('expands along the last axis', () => {
    const out = one('iOS18', 'constexpr_lut_to_dense', { indices: vIdx, lut: vLut, vector_axis: scalar('int32', 2) });
    expect(out.shape).toEqual([2, 2, 6]);
    expect(out.toNumbers()).toEqual([
      a0, a1, a2, a0, a1, a2, b0, b1, b2, a0, a1, a2,
      b0, b1, b2, b0, b1, b2, a0, a1, a2, a0, a1, a2,
    ]);
  });

  it('measures LUT group blocks in index coordinates with vector palettization (§8.4)', () => {
    // indices [2, 4], two LUTs along axis 1 (B_1 = 2 index columns each), 2-vectors along axis 0
    const out = one('iOS18', 'constexpr_lut_to_dense', {
      indices: t('uint1', [2, 4], [0, 1, 0, 1, 1, 0, 1, 1]),
      lut: t('fp32', [1, 2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]),
      vector_axis: scalar('int32', 0),
    });
    expect(out.shape).toEqual([4, 4]);
    expect(out.toNumbers()).toEqual([1, 3, 5, 7, 2, 4, 6, 8, 3, 1, 7, 7, 4, 2, 8, 8]);
  });

  it('gives the iOS16 result for the same packed bytes with a [1, P, 1] LUT (§1.10, §11)', () => {
    const lut16 = Array.from({ length: 16 }, (_, i) => 100 + i);
    const a = lutToDensePacked(bytes(0xa3, 0x0f), t('uint8', [16], lut16), [3]);
    const b = lutToDense(t('uint4', [3], [3, 10, 15]), t('uint8', [1, 16, 1], lut16));
    expect(a.toNumbers()).toEqual([103, 110, 115]);
    expect(b.contentEquals(a)).toBe(true);
  });

  it('rejects a LUT whose rank is not indices rank + 2', () => {
    rejectsCheck('iOS18', 'constexpr_lut_to_dense', { indices, lut: t('fp16', [2, 4, 1], [1, 5, 9, 13, 2, 10, 18, 26]) }, 'lut', /has rank 3 but must have rank 4/);
  });

  it('rejects NUM_PALETTES ≠ 2^nbits of the index dtype', () => {
    rejectsCheck(
      'iOS18',
      'constexpr_lut_to_dense',
      { indices, lut: t('fp16', [1, 1, 8, 1], [0, 1, 2, 3, 4, 5, 6, 7]) },
      'lut',
      /NUM_PALETTES = 8 .* dtype uint2 needs 2\^2 = 4/,
    );
  });

  it('rejects group dims that do not divide the indices dims', () => {
    rejectsCheck(
      'iOS18',
      'constexpr_lut_to_dense',
      { indices, lut: t('fp16', [4, 1, 4, 1], new Array(16).fill(0)) },
      'lut',
      /group dim 0 \(4\) does not divide indices.shape\[0\] = 6/,
    );
  });

  it('requires vector_axis when VECTOR_SIZE > 1 and checks its range', () => {
    rejectsCheck('iOS18', 'constexpr_lut_to_dense', { indices: vIdx, lut: vLut }, 'vector_axis', /is required when VECTOR_SIZE .* is 3 > 1/);
    rejectsCheck('iOS18', 'constexpr_lut_to_dense', { indices: vIdx, lut: vLut, vector_axis: scalar('int32', 3) }, 'vector_axis', /axis 3 is out of range for rank 3/);
  });
});

// ---------------------------------------------------------------------------------------

describe('constexpr_sparse_to_dense, iOS16 form (§1.5)', () => {
  // shape [2, 3] → 6 flags; flat positions 1, 2, 5 set → 0b00100110 = 0x26
  const nz = t('fp16', [3], [1.5, -2, 4]);

  it('scatters the values to the set bits in increasing flat order', () => {
    const ops = { nonzero_data: nz, mask: bytes(0x26), shape: u32(2, 3) };
    expect(checkOp('iOS16', 'constexpr_sparse_to_dense', ops)).toEqual([tensorType('fp16', [2, 3])]);
    expect(one('iOS16', 'constexpr_sparse_to_dense', ops).toNumbers()).toEqual([0, 1.5, -2, 0, 0, 4]);
  });

  it('reads bits across bytes', () => {
    // 12 flags: bits 0, 7 (byte 0 = 0x81), 8, 11 (byte 1 = 0x09)
    const out = one('iOS17', 'constexpr_sparse_to_dense', { nonzero_data: t('int8', [4], [1, 2, 3, 4]), mask: bytes(0x81, 0x09), shape: u32(3, 4) });
    expect(out.toNumbers()).toEqual([1, 0, 0, 0, 0, 0, 0, 2, 3, 0, 0, 4]);
  });

  it('rejects set padding bits beyond prod(shape)', () => {
    // 0x66: bit 6 is beyond the 6 flags
    rejectsCheck('iOS16', 'constexpr_sparse_to_dense', { nonzero_data: t('fp16', [4], [1, 2, 3, 4]), mask: bytes(0x66), shape: u32(2, 3) }, 'mask', /padding bits beyond prod\(shape\) = 6.*must be 0/);
  });

  it('rejects D different from the number of set bits', () => {
    rejectsCheck('iOS16', 'constexpr_sparse_to_dense', { nonzero_data: t('fp16', [2], [1, 2]), mask: bytes(0x26), shape: u32(2, 3) }, 'nonzero_data', /has 2 values but mask has 3 set bits/);
  });

  it('rejects a mask whose byte count is not ceil(prod(shape)/8)', () => {
    rejectsCheck('iOS16', 'constexpr_sparse_to_dense', { nonzero_data: nz, mask: bytes(0x26, 0), shape: u32(2, 3) }, 'mask', /has 2 bytes but M = ceil\(prod\(shape\)\/8\) = ceil\(6\/8\) = 1/);
  });
});

describe('constexpr_sparse_to_dense, iOS18 form (§1.6)', () => {
  const mask = t('uint1', [2, 3], [0, 1, 1, 0, 0, 1]);

  it('scatters int4 values and keeps them packed', () => {
    const ops = { nonzero_data: t('int4', [3], [-8, 7, -1]), mask };
    expect(checkOp('iOS18', 'constexpr_sparse_to_dense', ops)).toEqual([tensorType('int4', [2, 3])]);
    const out = one('iOS18', 'constexpr_sparse_to_dense', ops);
    expect(out.toNumbers()).toEqual([0, -8, 7, 0, 0, -1]);
    // nibbles 0, 8, 7, 0, 0, F packed LSB-first
    expect([...out.bytes()]).toEqual([0x80, 0x07, 0xf0]);
  });

  it('scatters fp32 values', () => {
    expect(sparseToDense(t('fp32', [3], [0.5, 1.5, 2.5]), mask).toNumbers()).toEqual([0, 0.5, 1.5, 0, 0, 2.5]);
  });

  it('rejects D different from the number of ones in the mask', () => {
    rejectsCheck('iOS18', 'constexpr_sparse_to_dense', { nonzero_data: t('fp16', [2], [1, 2]), mask }, 'nonzero_data', /has 2 values but mask has 3 ones/);
  });

  it('rejects a uint8 (iOS16-style) mask', () => {
    rejectsCheck('iOS18', 'constexpr_sparse_to_dense', { nonzero_data: t('fp16', [3], [1, 2, 3]), mask: bytes(0x26) }, 'mask', /dtype uint8 is not allowed by the iOS18 signature/);
  });
});

// ---------------------------------------------------------------------------------------

describe('constexpr_blockwise_shift_scale (§1.7)', () => {
  it('dequantizes with per-block scale and offset', () => {
    // blocks B = [1, 2]
    const ops = {
      data: t('int4', [2, 4], [-8, -1, 0, 7, 1, 2, 3, 4]),
      scale: t('fp32', [2, 2], [0.5, 2, 1, 0.25]),
      offset: t('int4', [2, 2], [0, 1, -1, 4]),
    };
    expect(checkOp('iOS18', 'constexpr_blockwise_shift_scale', ops)).toEqual([tensorType('fp32', [2, 4])]);
    expect(one('iOS18', 'constexpr_blockwise_shift_scale', ops).toNumbers()).toEqual([-4, -0.5, -2, 12, 2, 3, -0.25, 0]);
  });

  it('applies a per-channel scale without offset along axis 0 (4-D conv weight)', () => {
    const out = one('iOS26', 'constexpr_blockwise_shift_scale', {
      data: t('uint8', [2, 3, 1, 1], [1, 2, 3, 4, 5, 6]),
      scale: t('fp16', [2, 1, 1, 1], [0.5, 2]),
    });
    expect(out.dtype).toBe('fp16');
    expect(out.shape).toEqual([2, 3, 1, 1]);
    expect(out.toNumbers()).toEqual([0.5, 1, 1.5, 8, 10, 12]);
  });

  it('converts fp32 data to the fp16 scale dtype before multiplying', () => {
    // x = 1 + 2^-11 + 2^-20 → fp16 1 + 2^-10; ·3 = 3 + 1.5·2^-9 → tie to even 3.00390625
    // (one fp32 product rounded once would give 3.001953125)
    const out = blockwiseShiftScale(t('fp32', [1], [1 + 2 ** -11 + 2 ** -20]), t('fp16', [1], [3]));
    expect(out.toNumbers()).toEqual([3.00390625]);
  });

  it('accepts a float offset with integer data', () => {
    const out = one('iOS18', 'constexpr_blockwise_shift_scale', {
      data: t('uint8', [1, 2], [3, 10]),
      scale: t('fp16', [1, 1], [2]),
      offset: t('fp16', [1, 1], [0.5]),
    });
    expect(out.toNumbers()).toEqual([5, 19]);
  });

  it('rejects a scale of another rank', () => {
    rejectsCheck('iOS18', 'constexpr_blockwise_shift_scale', { data: t('int8', [2, 4], new Array(8).fill(0)), scale: t('fp32', [2], [1, 1]) }, 'scale', /has rank 1 but must have the rank of data \(2\)/);
  });

  it('rejects scale dims that do not divide the data dims', () => {
    rejectsCheck('iOS18', 'constexpr_blockwise_shift_scale', { data: t('int8', [2, 4], new Array(8).fill(0)), scale: t('fp32', [1, 3], [1, 1, 1]) }, 'scale', /dim 1 \(3\) does not divide data.shape\[1\] = 4/);
  });

  it('rejects an offset whose shape differs from the scale', () => {
    rejectsCheck(
      'iOS18',
      'constexpr_blockwise_shift_scale',
      { data: t('int8', [2, 4], new Array(8).fill(0)), scale: t('fp32', [2, 2], [1, 1, 1, 1]), offset: t('int8', [2, 1], [0, 0]) },
      'offset',
      /shape \[2, 1\] must equal the scale shape \[2, 2\]/,
    );
  });

  it('rejects an integer offset of another dtype than the data', () => {
    rejectsCheck(
      'iOS18',
      'constexpr_blockwise_shift_scale',
      { data: t('int4', [2, 4], new Array(8).fill(0)), scale: t('fp32', [2, 1], [1, 1]), offset: t('int8', [2, 1], [0, 0]) },
      'offset',
      /is integer \(int8\) so its dtype must equal the data dtype \(int4\)/,
    );
  });
});

// ---------------------------------------------------------------------------------------

describe('constexpr_lut_to_sparse (§1.8)', () => {
  // coremltools docstring example: 9 ones in a [4, 6] mask, 1-bit indices
  const mask = t('uint1', [4, 6], [1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0]);
  const idx = t('uint1', [9], [0, 1, 1, 0, 1, 1, 0, 0, 1]);

  it('depalettizes the nonzero indices with a scalar LUT; the mask is unchanged', () => {
    const ops = { indices_mask: mask, indices_nonzero_data: idx, lut: t('fp16', [1, 1, 2, 1], [2, 3]) };
    expect(checkOp('iOS18', 'constexpr_lut_to_sparse', ops)).toEqual([tensorType('uint1', [4, 6]), tensorType('fp16', [9])]);
    const [m, v] = evalOp('iOS18', 'constexpr_lut_to_sparse', ops);
    expect(m.contentEquals(mask)).toBe(true);
    expect(v.toNumbers()).toEqual([2, 3, 3, 2, 3, 3, 2, 2, 3]);
  });

  // vector LUT [[2, 20], [3, 30]] along axis 0: each mask row is repeated twice
  const vOps = { indices_mask: mask, indices_nonzero_data: idx, lut: t('fp16', [1, 1, 2, 2], [2, 20, 3, 30]), vector_axis: scalar('int32', 0) };

  it('orders vector values row-major over the expanded mask (vector elements not adjacent)', () => {
    expect(checkOp('iOS18', 'constexpr_lut_to_sparse', vOps)).toEqual([tensorType('uint1', [8, 6]), tensorType('fp16', [18])]);
    const [m, v] = evalOp('iOS18', 'constexpr_lut_to_sparse', vOps);
    expect(m.dtype).toBe('uint1');
    expect(m.shape).toEqual([8, 6]);
    expect(m.toNumbers()).toEqual([
      1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0,
      1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1,
      0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0,
      0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0,
    ]);
    expect(v.toNumbers()).toEqual([2, 3, 20, 30, 3, 2, 3, 30, 20, 30, 3, 2, 2, 30, 20, 20, 3, 30]);
  });

  it('feeds constexpr_sparse_to_dense(nonzero_data = out[1], mask = out[0]) in a chain', () => {
    const program = new Program('iOS18');
    const fn = program.addFunction(new Function('main'));
    const c = (name: string, val: Tensor) =>
      fn.block.append(new Op({ type: 'const', outputs: [{ name, type: tensorType(val.dtype, val.shape) }], attributes: { val } })).output;
    const lts = fn.block.append(
      new Op({
        type: 'constexpr_lut_to_sparse',
        inputs: {
          indices_mask: c('m', vOps.indices_mask),
          indices_nonzero_data: c('i', vOps.indices_nonzero_data),
          lut: c('l', vOps.lut),
          vector_axis: c('a', vOps.vector_axis),
        },
        outputs: [
          { name: 'mask_out', type: tensorType('uint1', [8, 6]) },
          { name: 'nz_out', type: tensorType('fp16', [18]) },
        ],
      }),
    );
    const std = fn.block.append(
      new Op({
        type: 'constexpr_sparse_to_dense',
        inputs: { nonzero_data: lts.outputs[1], mask: lts.outputs[0] },
        outputs: [{ name: 'w', type: tensorType('fp16', [8, 6]) }],
      }),
    );
    expect(typeCheckOp(std, 'iOS18')).toEqual([tensorType('fp16', [8, 6])]);
    expect(constValueOf(std.output, 'iOS18')!.toNumbers()).toEqual([
      2, 3, 0, 0, 0, 0,
      20, 30, 0, 0, 0, 0,
      3, 2, 0, 0, 0, 3,
      30, 20, 0, 0, 0, 30,
      0, 3, 2, 0, 2, 0,
      0, 30, 20, 0, 20, 0,
      0, 0, 0, 3, 0, 0,
      0, 0, 0, 30, 0, 0,
    ]);
  });

  it('rejects D different from the number of ones in indices_mask', () => {
    rejectsCheck(
      'iOS18',
      'constexpr_lut_to_sparse',
      { indices_mask: mask, indices_nonzero_data: t('uint1', [8], new Array(8).fill(0)), lut: t('fp16', [1, 1, 2, 1], [2, 3]) },
      'indices_nonzero_data',
      /has 8 values but indices_mask has 9 ones/,
    );
  });

  it('requires vector_axis for a vector LUT', () => {
    const { vector_axis: _omit, ...noAxis } = vOps;
    rejectsCheck('iOS18', 'constexpr_lut_to_sparse', noAxis, 'vector_axis', /is required when VECTOR_SIZE .* is 2 > 1/);
  });

  it('groups the LUT against indices_mask.shape', () => {
    rejectsCheck(
      'iOS18',
      'constexpr_lut_to_sparse',
      { indices_mask: mask, indices_nonzero_data: idx, lut: t('fp16', [1, 4, 2, 1], new Array(8).fill(0)) },
      'lut',
      /group dim 1 \(4\) does not divide indices_mask.shape\[1\] = 6/,
    );
  });
});

// ---------------------------------------------------------------------------------------

describe('constexpr_sparse_blockwise_shift_scale (§1.9)', () => {
  // coremltools docstring example: per-column parameters on a [4, 4] mask with 9 ones
  const mask = t('uint1', [4, 4], [1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0]);
  const nz = t('int8', [9], [10, 11, 3, 4, 5, 6, 7, 8, 9]);
  const offset = t('int8', [1, 4], [1, 2, 3, 4]);

  it('dequantizes each value with the block parameters of its position', () => {
    const ops = { data_mask: mask, nonzero_data: nz, scale: t('fp16', [1, 4], [0.5, 0.25, 2, 1]), offset };
    expect(checkOp('iOS18', 'constexpr_sparse_blockwise_shift_scale', ops)).toEqual([tensorType('uint1', [4, 4]), tensorType('fp16', [9])]);
    const [m, v] = evalOp('iOS18', 'constexpr_sparse_blockwise_shift_scale', ops);
    expect(m.contentEquals(mask)).toBe(true);
    // columns 0,1,0,1,2,2,3,0,1: (10−1)·0.5, (11−2)·0.25, (3−1)·0.5, (4−2)·0.25, (5−3)·2, (6−3)·2, (7−4)·1, (8−1)·0.5, (9−2)·0.25
    expect(v.toNumbers()).toEqual([4.5, 2.25, 1, 0.5, 4, 6, 3, 3.5, 1.75]);
  });

  it('matches the fp32 docstring numbers', () => {
    const [, v] = evalOp('iOS18', 'constexpr_sparse_blockwise_shift_scale', { data_mask: mask, nonzero_data: nz, scale: t('fp32', [1, 4], [0.1, 0.2, 0.3, 0.4]), offset });
    const f = Math.fround;
    expect(v.dtype).toBe('fp32');
    expect(v.toNumbers()).toEqual([f(f(0.1) * 9), f(f(0.2) * 9), f(f(0.1) * 2), f(f(0.2) * 2), f(f(0.3) * 2), f(f(0.3) * 3), f(f(0.4) * 3), f(f(0.1) * 7), f(f(0.2) * 7)]);
  });

  it('rejects an integer offset of another dtype than nonzero_data', () => {
    rejectsCheck(
      'iOS18',
      'constexpr_sparse_blockwise_shift_scale',
      { data_mask: mask, nonzero_data: nz, scale: t('fp32', [1, 4], [1, 1, 1, 1]), offset: t('uint8', [1, 4], [1, 2, 3, 4]) },
      'offset',
      /dtype must equal the nonzero_data dtype \(int8\)/,
    );
  });

  it('rejects D different from the number of ones in data_mask', () => {
    rejectsCheck(
      'iOS18',
      'constexpr_sparse_blockwise_shift_scale',
      { data_mask: mask, nonzero_data: t('int8', [3], [1, 2, 3]), scale: t('fp32', [1, 4], [1, 1, 1, 1]) },
      'nonzero_data',
      /has 3 values but data_mask has 9 ones/,
    );
  });

  it('rejects scale dims that do not divide the mask dims', () => {
    rejectsCheck(
      'iOS18',
      'constexpr_sparse_blockwise_shift_scale',
      { data_mask: mask, nonzero_data: nz, scale: t('fp32', [3, 1], [1, 1, 1]) },
      'scale',
      /dim 0 \(3\) does not divide data_mask.shape\[0\] = 4/,
    );
  });
});

// ---------------------------------------------------------------------------------------

describe('read_state / write_state (§2)', () => {
  const st = stateType(tensorType('fp16', [1, 8, 16, 64]));

  it('read_state returns the wrapped tensor type', () => {
    expect(checkOp('iOS18', 'read_state', { input: st })).toEqual([tensorType('fp16', [1, 8, 16, 64])]);
  });

  it('read_state rejects a tensor input', () => {
    rejectsCheck('iOS18', 'read_state', { input: tensorType('fp16', [2]) }, 'input', /expects a state/);
  });

  it('write_state has no outputs', () => {
    expect(checkOp('iOS18', 'write_state', { input: st, data: tensorType('fp16', [1, 8, 16, 64]) })).toEqual([]);
  });

  it('write_state rejects data of another shape or dtype than the state', () => {
    rejectsCheck('iOS18', 'write_state', { input: st, data: tensorType('fp16', [1, 8, 17, 64]) }, 'data', /fp16\[1, 8, 17, 64\] must equal the state's wrapped type fp16\[1, 8, 16, 64\]/);
    rejectsCheck('iOS18', 'write_state', { input: st, data: tensorType('fp32', [1, 8, 16, 64]) }, 'data', /dtype fp32 must equal the other ST-typed inputs \(fp16\)/);
  });

  it('does not exist before iOS18', () => {
    rejectsCheck('iOS17', 'read_state', { input: st }, null, /not available at iOS17/);
  });
});

// ---------------------------------------------------------------------------------------

describe('slice_update (§3)', () => {
  it('accepts the KV-cache update pattern and returns the type of x', () => {
    const ops = {
      x: tensorType('fp16', [1, 8, 128, 64]),
      update: tensorType('fp16', [1, 8, 4, 64]),
      begin: i32(0, 0, 10, 0),
      end: i32(1, 8, 14, 64),
    };
    expect(checkOp('iOS18', 'slice_update', ops)).toEqual([tensorType('fp16', [1, 8, 128, 64])]);
    rejectsCheck('iOS18', 'slice_update', { ...ops, update: tensorType('fp16', [1, 8, 5, 64]) }, 'update', /shape \[1, 8, 5, 64\] does not match the selected slice shape \[1, 8, 4, 64\]/);
  });

  it('checks only what is known with runtime begin/end, using the masks', () => {
    const ops = {
      x: tensorType('fp16', [1, 8, 128, 64]),
      update: tensorType('fp16', [1, 8, 3, 64]),
      begin: tensorType('int32', [4]),
      end: tensorType('int32', [4]),
      begin_mask: bools(true, true, false, true),
      end_mask: bools(true, true, false, true),
    };
    expect(checkOp('iOS18', 'slice_update', ops)).toEqual([tensorType('fp16', [1, 8, 128, 64])]);
    rejectsCheck('iOS18', 'slice_update', { ...ops, update: tensorType('fp16', [1, 7, 3, 64]) }, 'update', /does not match the selected slice shape \[1, 8, \?, 64\]/);
  });

  it('applies negative indices, end masks and strides as slice_by_index', () => {
    // axis 0: x[-4::2] of 10 → [6, 8]; axis 1: x[0::3] of 6 → [0, 3]
    const ops = {
      x: tensorType('fp32', [10, 6]),
      update: tensorType('fp32', [2, 2]),
      begin: i32(-4, 0),
      end: i32(0, 0),
      stride: i32(2, 3),
      end_mask: bools(true, true),
    };
    expect(checkOp('iOS18', 'slice_update', ops)).toEqual([tensorType('fp32', [10, 6])]);
    rejectsCheck('iOS18', 'slice_update', { ...ops, update: tensorType('fp32', [3, 2]) }, 'update', /selected slice shape \[2, 2\]/);
    // negative stride: x[8:2:-3] of 10 → [8, 5]
    expect(checkOp('iOS18', 'slice_update', { x: tensorType('int32', [10]), update: tensorType('int32', [2]), begin: i32(8), end: i32(2), stride: i32(-3) })).toEqual([
      tensorType('int32', [10]),
    ]);
  });

  it('removes squeezed axes from the expected update shape', () => {
    const ops = { x: tensorType('fp16', [4, 5]), update: tensorType('fp16', [5]), begin: i32(2, 0), end: i32(3, 5), squeeze_mask: bools(true, false) };
    expect(checkOp('iOS18', 'slice_update', ops)).toEqual([tensorType('fp16', [4, 5])]);
    rejectsCheck('iOS18', 'slice_update', { ...ops, begin: i32(4, 0) }, 'begin', /squeezed axis 0 indexes 4, out of range for x.shape\[0\] = 4/);
  });

  it('rejects rank-0 updates', () => {
    rejectsCheck(
      'iOS18',
      'slice_update',
      { x: tensorType('fp16', [4]), update: tensorType('fp16', []), begin: i32(2), end: i32(3), squeeze_mask: bools(true) },
      'update',
      /rank-0 updates are not supported/,
    );
  });

  it('rejects a zero stride and begin of the wrong length', () => {
    rejectsCheck('iOS18', 'slice_update', { x: tensorType('fp16', [4]), update: tensorType('fp16', [1]), begin: i32(2), end: i32(3), stride: i32(0) }, 'stride', /entry 0 is 0/);
    rejectsCheck('iOS18', 'slice_update', { x: tensorType('fp16', [4, 4]), update: tensorType('fp16', [1]), begin: i32(2), end: i32(3, 4) }, 'begin', /has length 1 but must have one entry per axis of x \(2\)/);
  });

  it('rejects begin and end of different index dtypes', () => {
    rejectsCheck(
      'iOS18',
      'slice_update',
      { x: tensorType('fp16', [4]), update: tensorType('fp16', [1]), begin: i32(2), end: t('int16', [1], [3]) },
      'end',
      /dtype int16 must equal the other U-typed inputs \(int32\)/,
    );
  });
});

// ---------------------------------------------------------------------------------------

describe('scaled_dot_product_attention (§4)', () => {
  const q = tensorType('fp16', [2, 8, 16, 64]);
  const k = tensorType('fp16', [2, 8, 32, 64]);
  const v = tensorType('fp16', [2, 8, 32, 80]);

  it('infers [B…, L, EV] with the query dtype, with or without a mask', () => {
    expect(checkOp('iOS18', 'scaled_dot_product_attention', { query: q, key: k, value: v })).toEqual([tensorType('fp16', [2, 8, 16, 80])]);
    expect(checkOp('iOS18', 'scaled_dot_product_attention', { query: q, key: k, value: v, attn_mask: tensorType('bool', [16, 32]) })).toEqual([
      tensorType('fp16', [2, 8, 16, 80]),
    ]);
    expect(checkOp('iOS18', 'scaled_dot_product_attention', { query: q, key: k, value: v, attn_mask: tensorType('fp32', [1, 8, 1, 32]) })).toEqual([
      tensorType('fp16', [2, 8, 16, 80]),
    ]);
  });

  it('keeps symbolic dims', () => {
    const out = checkOp('iOS26', 'scaled_dot_product_attention', {
      query: tensorType('fp32', ['B', 4, 'L', 32]),
      key: tensorType('fp32', ['B', 4, 'S', 32]),
      value: tensorType('fp32', ['B', 4, 'S', 32]),
    });
    expect(out).toEqual([tensorType('fp32', ['B', 4, 'L', 32])]);
  });

  it('rejects batch dims that differ (no broadcasting among q/k/v)', () => {
    rejectsCheck('iOS18', 'scaled_dot_product_attention', { query: q, key: tensorType('fp16', [1, 8, 32, 64]), value: v }, 'key', /batch dims \[1, 8\] must equal the query batch dims \[2, 8\]/);
  });

  it('rejects E, S and rank mismatches', () => {
    rejectsCheck('iOS18', 'scaled_dot_product_attention', { query: q, key: tensorType('fp16', [2, 8, 32, 48]), value: v }, 'key', /embedding dim E = 48 must equal the query's E = 64/);
    rejectsCheck('iOS18', 'scaled_dot_product_attention', { query: q, key: k, value: tensorType('fp16', [2, 8, 31, 80]) }, 'value', /sequence length S = 31 must equal the key's S = 32/);
    rejectsCheck('iOS18', 'scaled_dot_product_attention', { query: q, key: k, value: tensorType('fp16', [8, 32, 80]) }, 'value', /has rank 3 but must have the rank of query \(4\)/);
    rejectsCheck('iOS18', 'scaled_dot_product_attention', { query: tensorType('fp16', [16, 64]), key: k, value: v }, 'query', /rank 2 is not allowed \(expected rank ≥ 3\)/);
  });

  it('rejects masks that do not broadcast to [B…, L, S]', () => {
    rejectsCheck('iOS18', 'scaled_dot_product_attention', { query: q, key: k, value: v, attn_mask: tensorType('bool', [16, 31]) }, 'attn_mask', /last dim 31 must equal the key sequence length S = 32/);
    rejectsCheck('iOS18', 'scaled_dot_product_attention', { query: q, key: k, value: v, attn_mask: tensorType('bool', [3, 16, 32]) }, 'attn_mask', /shape \[3, 16, 32\] does not broadcast to \[B…, L, S\] = \[2, 8, 16, 32\]/);
    rejectsCheck('iOS18', 'scaled_dot_product_attention', { query: q, key: k, value: v, attn_mask: tensorType('int32', [16, 32]) }, 'attn_mask', /dtype int32 is not allowed/);
  });

  it('rejects query/key/value of different dtypes', () => {
    rejectsCheck('iOS18', 'scaled_dot_product_attention', { query: q, key: tensorType('fp32', [2, 8, 32, 64]), value: v }, 'key', /dtype fp32 must equal the other T-typed inputs \(fp16\)/);
  });
});

// ---------------------------------------------------------------------------------------

describe('evaluation against a literal reading of §1.4 / §1.7 / §1.9 across chunk boundaries', () => {
  // deterministic pseudo-random integers
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const strides = (shape: readonly number[]): number[] => {
    const st = new Array<number>(shape.length).fill(1);
    for (let k = shape.length - 2; k >= 0; k--) st[k] = st[k + 1] * shape[k + 1];
    return st;
  };
  const unravel = (i: number, shape: readonly number[]): number[] => {
    const st = strides(shape);
    return shape.map((d, k) => Math.floor(i / st[k]) % d);
  };
  const ravel = (ix: readonly number[], shape: readonly number[]): number => {
    const st = strides(shape);
    return ix.reduce((a, x, k) => a + x * st[k], 0);
  };
  const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

  /** §1.4 pseudo-code: for each output position o, j = o with j[a] = o[a] // V, v = o[a] % V. */
  function literalLut(idx: number[], idxShape: number[], lut: number[], lutShape: number[], axis: number): number[] {
    const k = idxShape.length;
    const V = lutShape[k + 1];
    const P = lutShape[k];
    const outShape = idxShape.map((d, i) => (i === axis ? d * V : d));
    const out: number[] = [];
    for (let o = 0; o < size(outShape); o++) {
      const oi = unravel(o, outShape);
      const j = oi.map((x, i) => (i === axis ? Math.floor(x / V) : x));
      const v = oi[axis] % V;
      const g = j.map((x, i) => Math.floor(x / (idxShape[i] / lutShape[i])));
      out.push(lut[ravel([...g, idx[ravel(j, idxShape)], v], lutShape)]);
    }
    return out;
  }

  it('BlockCursor yields the block index of each element, merging whole and element-wise dims', () => {
    const fill = (shape: number[], pshape: number[], count: number, chunks: number[]): number[] => {
      const c = new BlockCursor(shape, pshape);
      const out: number[] = [];
      for (const n of chunks) {
        const p = new Int32Array(n);
        c.fill(p, n);
        out.push(...p);
      }
      expect(out).toHaveLength(count);
      return out;
    };
    // [2, 4] with [2, 2]: blocks of 2 along axis 1
    expect(fill([2, 4], [2, 2], 8, [3, 5])).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    // [2, 3, 2] with [1, 3, 1]: element (i, j, k) uses j
    expect(fill([2, 3, 2], [1, 3, 1], 12, [5, 1, 6])).toEqual([0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2]);
    // [4, 1, 2] with [2, 1, 1]: rows 0–1 use 0, rows 2–3 use 1
    expect(fill([4, 1, 2], [2, 1, 1], 8, [8])).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  const lutCases: Array<{ idx: number[]; lut: number[]; axis: number; bits: 1 | 2 | 3 | 4 | 6 | 8 }> = [
    { idx: [2, 35007], lut: [1, 7, 8, 1], axis: 0, bits: 3 },
    { idx: [6, 4, 5000], lut: [3, 2, 1, 4, 1], axis: 2, bits: 2 },
    { idx: [64, 40, 3, 3], lut: [8, 1, 1, 1, 16, 1], axis: 0, bits: 4 },
    { idx: [40, 1200, 2], lut: [5, 4, 1, 64, 2], axis: 1, bits: 6 },
    { idx: [2, 3, 12000], lut: [1, 3, 2, 2, 4], axis: 0, bits: 1 },
    { idx: [300, 270], lut: [1, 1, 256, 3], axis: -1, bits: 8 },
  ];
  for (const c of lutCases) {
    it(`lut_to_dense indices ${fmtShape(c.idx)} uint${c.bits}, lut ${fmtShape(c.lut)}, vector_axis ${c.axis}`, () => {
      const codes = Array.from({ length: size(c.idx) }, () => rand(2 ** c.bits));
      const lutVals = Array.from({ length: size(c.lut) }, () => rand(200) - 100);
      const axis = c.axis < 0 ? c.axis + c.idx.length : c.axis;
      const out = lutToDense(t(`uint${c.bits}`, c.idx, codes), t('fp32', c.lut, lutVals), c.axis);
      expect(out.shape).toEqual(c.idx.map((d, i) => (i === axis ? d * c.lut[c.lut.length - 1] : d)));
      expect(Array.from(out.toFloat32())).toEqual(literalLut(codes, c.idx, lutVals, c.lut, axis));
    });
  }

  /** §1.7: out[i] = s[i // B] · (data[i] − z[i // B]), fp32. */
  function literalShiftScale(data: number[], shape: number[], s: number[], sShape: number[], z: number[] | undefined): number[] {
    return data.map((x, i) => {
      const p = ravel(unravel(i, shape).map((v, k) => Math.floor(v / (shape[k] / sShape[k]))), sShape);
      return Math.fround(s[p] * Math.fround(x - (z ? z[p] : 0)));
    });
  }

  const ssCases: Array<{ shape: number[]; scale: number[] }> = [
    { shape: [130, 1100], scale: [130, 1] },
    { shape: [130, 1100], scale: [1, 1100] },
    { shape: [64, 2048], scale: [64, 64] },
    { shape: [5, 6, 7, 400], scale: [5, 3, 1, 100] },
    { shape: [70000, 2], scale: [1, 1] },
  ];
  for (const c of ssCases) {
    it(`blockwise_shift_scale int8 ${fmtShape(c.shape)} with scale ${fmtShape(c.scale)}`, () => {
      const data = Array.from({ length: size(c.shape) }, () => rand(256) - 128);
      const s = Array.from({ length: size(c.scale) }, () => Math.fround((rand(1000) + 1) / 37));
      const z = Array.from({ length: size(c.scale) }, () => rand(256) - 128);
      const out = blockwiseShiftScale(t('int8', c.shape, data), t('fp32', c.scale, s), t('int8', c.scale, z));
      expect(Array.from(out.toFloat32())).toEqual(literalShiftScale(data, c.shape, s, c.scale, z));
    });
  }

  it('sparse_blockwise_shift_scale picks the block of each set position', () => {
    const shape = [90, 1500];
    const sShape = [9, 30];
    const mask = Array.from({ length: size(shape) }, () => (rand(3) === 0 ? 1 : 0));
    const dense = mask.map((m) => (m ? rand(16) - 8 : 0));
    const nz = dense.filter((_, i) => mask[i]);
    const s = Array.from({ length: size(sShape) }, () => Math.fround((rand(1000) + 1) / 13));
    const [m, v] = evalOp('iOS18', 'constexpr_sparse_blockwise_shift_scale', {
      data_mask: t('uint1', shape, mask),
      nonzero_data: t('int4', [nz.length], nz),
      scale: t('fp32', sShape, s),
    });
    expect(m.shape).toEqual(shape);
    const want = literalShiftScale(dense, shape, s, sShape, undefined).filter((_, i) => mask[i]);
    expect(Array.from(v.toFloat32())).toEqual(want);
  });
});

describe('evaluation speed on 4096×4096 weights', () => {
  const N = 4096;
  const seq = (n: number, f: (i: number) => number): Uint8Array => {
    const a = new Uint8Array(n);
    for (let i = 0; i < n; i++) a[i] = f(i);
    return a;
  };

  it('depalettizes grouped 4-bit indices, dequantizes per-block int8 and densifies a mask in seconds', () => {
    // indices uint4: code (i·7) mod 16; 128 LUTs along axis 0 (B_0 = 32), lut[g, p] = g + p/16
    const codes = seq(N * N, (i) => (i * 7) & 15);
    const indices = t('uint4', [N, N], codes);
    const lutVals = new Float32Array(128 * 16);
    for (let g = 0; g < 128; g++) for (let p = 0; p < 16; p++) lutVals[g * 16 + p] = g + p / 16;
    const lut = t('fp16', [128, 1, 16, 1], lutVals);
    let t0 = performance.now();
    const w = lutToDense(indices, lut);
    const lutMs = performance.now() - t0;
    const wf = w.toFloat32();
    for (const [r, c] of [[0, 0], [31, 4095], [32, 1], [4095, 4095], [1000, 77]]) {
      const i = r * N + c;
      expect(wf[i]).toBe(Math.floor(r / 32) + ((i * 7) & 15) / 16);
    }

    // int8 data = (i mod 256) − 128, blocks of 32 along axis 1: scale [N, 128] = 2^-(c mod 4)
    const data = new DenseTensor('int8', [N, N], seq(N * N, (i) => i & 255));
    const scaleVals = new Float32Array(N * 128);
    for (let i = 0; i < scaleVals.length; i++) scaleVals[i] = 2 ** -(i & 3);
    t0 = performance.now();
    const deq = blockwiseShiftScale(data, t('fp16', [N, 128], scaleVals));
    const deqMs = performance.now() - t0;
    const df = deq.toFloat32();
    for (const [r, c] of [[0, 0], [5, 33], [4095, 4095], [17, 1000]]) {
      const i = r * N + c;
      const q = ((i & 255) << 24) >> 24;
      expect(df[i]).toBe(q * 2 ** -((r * 128 + Math.floor(c / 32)) & 3));
    }

    // every other element kept
    const mask = new DenseTensor('uint1', [N, N], new Uint8Array((N * N) / 8).fill(0x55));
    const nz = t('fp16', [(N * N) / 2], new Float32Array((N * N) / 2).fill(1.5));
    t0 = performance.now();
    const dense = sparseToDense(nz, mask);
    const sparseMs = performance.now() - t0;
    const sf = dense.toFloat32();
    expect([sf[0], sf[1], sf[N * N - 2], sf[N * N - 1]]).toEqual([1.5, 0, 1.5, 0]);

    // generous bounds for a shared 2-core machine; typical runs are far below
    expect(lutMs).toBeLessThan(5000);
    expect(deqMs).toBeLessThan(5000);
    expect(sparseMs).toBeLessThan(5000);
  });
});

describe('constValueOf keeps small results only', () => {
  it('remembers a small decompressed value and recomputes a large one', async () => {
    const { buildOp } = await import('./helpers/sig-test.js');
    const { Value: V, constValueOf, tensorFromValues, typeCheckOp, zeros } = await import('../src/index.js');
    const make = (rows: number) => {
      const built = buildOp('iOS18', 'constexpr_blockwise_shift_scale', {
        data: zeros('int8', [rows, 1024]),
        scale: tensorFromValues('fp16', [rows, 1], new Array(rows).fill(0.5)),
      });
      built.op.outputs.push(new V('y', typeCheckOp(built.op, 'iOS18')[0], built.op, 0));
      return built;
    };
    const small = make(8); // 16 KiB of fp16 output
    expect(constValueOf(small.op.output, 'iOS18')).toBe(constValueOf(small.op.output, 'iOS18'));
    const large = make(1024); // 2 MiB of fp16 output: not kept alive by the cache
    const a = constValueOf(large.op.output, 'iOS18')!;
    const b = constValueOf(large.op.output, 'iOS18')!;
    expect(a).not.toBe(b);
    expect(a.contentEquals(b)).toBe(true);
  });
});
