/**
 * Signatures of mil-ops.md §1–4: the `constexpr_*` compression ops (every version), the
 * iOS18 state ops, `slice_update` and `scaled_dot_product_attention`.
 *
 * Storage (mlpackage-format.md §9.4, mil-ops.md §1.10 / §8.1): the iOS16-defined constexpr
 * signatures (`constexpr_affine_dequantize`, iOS16 `constexpr_cast`, iOS16
 * `constexpr_lut_to_dense`, iOS16 `constexpr_sparse_to_dense`) keep their arguments in
 * `attributes` — `constexpr_affine_dequantize` has no iOS18 form, so it stays in attribute
 * form even in iOS18+ programs. Every iOS18-defined signature uses `inputs`.
 *
 * `infer` implements each op's shape rules (the generic dtype/rank/const checks come from
 * the ParamSpecs, registry/check.ts); `evaluate` of every constexpr op returns the dense
 * value(s) via constexpr-eval.ts.
 *
 * Not here: `coreml_update_state` (mil-ops.md §2.3) is a coremltools dialect op, not a
 * Core ML op; on disk it is `write_state` (+ `read_state`), which is what the registry holds.
 */
import type { DType } from '../dtype.js';
import { DTYPE_INFO } from '../dtype.js';
import type { Tensor } from '../tensor.js';
import { type Dim, type Shape, type TensorType, type ValueType, isStaticShape, tensorType } from '../types.js';
import {
  affineDequantize,
  blockwiseShiftScale,
  castFp16ToFp32,
  countMaskOnes,
  countSetBits,
  lutToDense,
  lutToDensePacked,
  lutToSparse,
  sparseBlockwiseShiftScale,
  sparseToDense,
  sparseToDensePacked,
} from './constexpr-eval.js';
import { FLOAT, INT32, STRING, UINT_INDICES, constScalar, constString, normAxis, opt, optConst, req, reqConst } from './helpers.js';
import type { OpArgs, OpSignature } from './signature.js';

// ---------------------------------------------------------------------------------------
// dtype sets

/** LUT / iOS16 sparse element types (mil-ops.md §1.3–§1.5, §1.8). */
const LUT_T: readonly DType[] = ['uint8', 'int8', 'fp16', 'fp32'];
/** iOS18 quantized / sparse element types (§1.6, §1.7, §1.9). */
const QUANT_T: readonly DType[] = ['int4', 'uint4', 'int8', 'uint8', 'fp16', 'fp32'];
/** State-wrapped tensor dtypes (§2.3). */
const STATE_T: readonly DType[] = ['fp16', 'fp32', 'int8', 'int16', 'int32', 'uint8', 'uint16', 'bool'];
/** iOS16 LUT sizes: 1/2/4/6/8-bit, no 3-bit (§1.3, §8.3). */
const IOS16_PALETTES: readonly number[] = [2, 4, 16, 64, 256];

// ---------------------------------------------------------------------------------------
// small helpers

const fmt = (s: Shape): string => `[${s.join(', ')}]`;

/** The static shape of a tensor param (constexpr operands are const, so always static). */
function staticShape(args: OpArgs, param: string): number[] {
  const t = args.tensor(param);
  if (!isStaticShape(t.shape)) args.fail(param, `must have a static shape, got ${fmt(t.shape)}`);
  return t.shape as number[];
}

function requireRank(args: OpArgs, param: string, shape: Shape, lo: number, hi = lo): void {
  if (shape.length < lo || shape.length > hi) {
    const want = lo === hi ? `${lo}` : hi === Infinity ? `≥ ${lo}` : `${lo}..${hi}`;
    args.fail(param, `rank ${shape.length} is not allowed (expected rank ${want})`);
  }
}

/** The compile-time value of a param; fails when it is not known. */
function needConst(args: OpArgs, param: string): Tensor {
  const t = args.constValue(param);
  if (!t) args.fail(param, 'must be a compile-time constant (const or constexpr output) with a known value');
  return t!;
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Two dims that are both known and different (symbolic dims are never proven unequal). */
const conflict = (a: Dim, b: Dim): boolean => typeof a === 'number' && typeof b === 'number' && a !== b;

const isFloatDType = (d: DType): boolean => DTYPE_INFO[d].kind === 'float';

// ---------------------------------------------------------------------------------------
// shared shape rules

interface LutRules {
  readonly vectorSize: number;
  readonly outShape: number[];
}

/**
 * mil-ops.md §1.4 (also §1.8 with the indices shape taken from `indices_mask`): lut rank
 * K + 2, NUM_PALETTES = 2^nbits of the index dtype, every indices dim divisible by the LUT
 * group dim, vector_axis required when VECTOR_SIZE > 1 and in [-K, K), output dim
 * `vector_axis` multiplied by VECTOR_SIZE.
 */
function lutRules(args: OpArgs, shapeParam: string, idxShape: readonly number[], idxDType: DType, idxParam: string): LutRules {
  const k = idxShape.length;
  requireRank(args, shapeParam, idxShape, 1, Infinity);
  const lut = staticShape(args, 'lut');
  if (lut.length !== k + 2) {
    args.fail('lut', `has rank ${lut.length} but must have rank ${k + 2} ([G_0, …, G_${k - 1}, NUM_PALETTES, VECTOR_SIZE] for rank-${k} ${shapeParam})`);
  }
  const nbits = DTYPE_INFO[idxDType].bits;
  const palettes = lut[k];
  if (palettes !== 2 ** nbits) {
    args.fail('lut', `has NUM_PALETTES = ${palettes} (dim ${k}) but ${idxParam} of dtype ${idxDType} needs 2^${nbits} = ${2 ** nbits}`);
  }
  for (let i = 0; i < k; i++) {
    if (lut[i] < 1 || idxShape[i] % lut[i] !== 0) {
      args.fail('lut', `group dim ${i} (${lut[i]}) does not divide ${shapeParam}.shape[${i}] = ${idxShape[i]} (shape ${fmt(lut)} vs ${fmt(idxShape)})`);
    }
  }
  const vectorSize = lut[k + 1];
  if (vectorSize < 1) args.fail('lut', `VECTOR_SIZE (last dim) must be ≥ 1, got ${vectorSize}`);
  const outShape = [...idxShape];
  if (args.has('vector_axis')) {
    const v = constScalar(args, 'vector_axis');
    if (v === undefined) args.fail('vector_axis', 'must be a compile-time constant');
    const a = normAxis(args, 'vector_axis', v!, k);
    outShape[a] *= vectorSize;
  } else if (vectorSize > 1) {
    args.fail('vector_axis', `is required when VECTOR_SIZE (lut's last dim) is ${vectorSize} > 1`);
  }
  return { vectorSize, outShape };
}

/** D = number of ones in the mask (checked when the mask value is known; §1.6, §1.8, §1.9). */
function checkOnes(args: OpArgs, maskParam: string, dataParam: string, d: number): void {
  const mask = args.constValue(maskParam);
  if (!mask) return;
  const ones = countMaskOnes(mask);
  if (ones !== d) args.fail(dataParam, `has ${d} values but ${maskParam} has ${ones} ones (D must equal the number of ones in the mask)`);
}

/**
 * mil-ops.md §1.7 / §1.9: scale rank = data rank, scale dims divide data dims, offset shape
 * = scale shape, an integer offset has the dtype of the data.
 */
function shiftScaleRules(args: OpArgs, shapeParam: string, shape: readonly number[], dataParam: string, dataDType: DType): void {
  requireRank(args, shapeParam, shape, 1, Infinity);
  const scale = staticShape(args, 'scale');
  if (scale.length !== shape.length) {
    args.fail('scale', `has rank ${scale.length} but must have the rank of ${shapeParam} (${shape.length})`);
  }
  for (let i = 0; i < shape.length; i++) {
    if (scale[i] < 1 || shape[i] % scale[i] !== 0) {
      args.fail('scale', `dim ${i} (${scale[i]}) does not divide ${shapeParam}.shape[${i}] = ${shape[i]} (shape ${fmt(scale)} vs ${fmt(shape)})`);
    }
  }
  if (args.has('offset')) {
    const off = args.tensor('offset');
    if (off.shape.length !== scale.length || off.shape.some((d, i) => d !== scale[i])) {
      args.fail('offset', `shape ${fmt(off.shape)} must equal the scale shape ${fmt(scale)}`);
    }
    if (!isFloatDType(off.dtype) && off.dtype !== dataDType) {
      args.fail('offset', `is integer (${off.dtype}) so its dtype must equal the ${dataParam} dtype (${dataDType})`);
    }
  }
}

function vectorAxisOf(args: OpArgs): number | undefined {
  return args.has('vector_axis') ? needConst(args, 'vector_axis').toNumbers()[0] : undefined;
}

function optionalConst(args: OpArgs, param: string): Tensor | undefined {
  return args.has(param) ? needConst(args, param) : undefined;
}

// ---------------------------------------------------------------------------------------
// §1 constexpr ops

/** §1.1 — iOS16, the only signature; attributes in every program version. */
const constexprAffineDequantize: OpSignature = {
  op: 'constexpr_affine_dequantize',
  since: 'iOS16',
  storage: 'attributes',
  outputs: 1,
  doc: 'scale · (quantized_data − zero_point), per tensor or per `axis` channel (8-bit)',
  params: [
    reqConst('quantized_data', ['uint8', 'int8'], { rank: [1, Infinity], doc: 'quantized values' }),
    reqConst('zero_point', ['uint8', 'int8', 'fp32'], { rank: [0, 1], doc: 'scalar or vector of length shape[axis]' }),
    reqConst('scale', FLOAT, { rank: [0, 1], doc: 'scalar or vector of length shape[axis]; output dtype' }),
    reqConst('axis', INT32, { rank: 0, doc: 'channel axis of vector parameters' }),
  ],
  infer(args) {
    const q = args.tensor('quantized_data');
    requireRank(args, 'quantized_data', q.shape, 1, Infinity);
    const axis = constScalar(args, 'axis');
    if (axis === undefined) args.fail('axis', 'must be a compile-time constant');
    const a = normAxis(args, 'axis', axis!, q.shape.length);
    for (const p of ['scale', 'zero_point']) {
      const t = args.tensor(p);
      requireRank(args, p, t.shape, 0, 1);
      if (t.shape.length === 1 && conflict(t.shape[0], q.shape[a])) {
        args.fail(p, `is a vector of length ${t.shape[0]} but quantized_data.shape[${a}] (axis ${axis}) is ${q.shape[a]}`);
      }
    }
    return [tensorType(args.tensor('scale').dtype, q.shape)];
  },
  evaluate(args) {
    return [
      affineDequantize(
        needConst(args, 'quantized_data'),
        needConst(args, 'zero_point'),
        needConst(args, 'scale'),
        needConst(args, 'axis').toNumbers()[0],
      ),
    ];
  },
};

function castSignature(since: 'iOS16' | 'iOS18'): OpSignature {
  return {
    op: 'constexpr_cast',
    since,
    storage: since === 'iOS16' ? 'attributes' : 'inputs',
    outputs: 1,
    doc: 'fp16 → fp32 cast of a constant',
    params: [
      reqConst('source_val', ['fp16'], { doc: 'fp16 constant' }),
      reqConst('output_dtype', STRING, { rank: 0, doc: 'only "fp32"' }),
    ],
    infer(args) {
      const src = args.tensor('source_val');
      const dt = constString(args, 'output_dtype');
      if (dt === undefined) args.fail('output_dtype', 'must be a compile-time constant string');
      if (dt !== 'fp32') args.fail('output_dtype', `must be "fp32" (the only output dtype of constexpr_cast), got "${dt}"`);
      return [tensorType('fp32', src.shape)];
    },
    evaluate(args) {
      return [castFp16ToFp32(needConst(args, 'source_val'))];
    },
  };
}

/** The `shape` argument of the iOS16 LUT / sparse forms as numbers. */
function shapeArg(args: OpArgs): number[] {
  const shape = args.tensor('shape');
  requireRank(args, 'shape', shape.shape, 1);
  return needConst(args, 'shape').toNumbers();
}

/** §1.3 — iOS16 form: packed uint8 indices, rank-1 LUT of 2/4/16/64/256 entries, uint32 shape. */
const lutToDenseIOS16: OpSignature = {
  op: 'constexpr_lut_to_dense',
  since: 'iOS16',
  storage: 'attributes',
  outputs: 1,
  doc: 'palettized weight: packed n-bit indices into a rank-1 LUT, reshaped to `shape`',
  params: [
    reqConst('indices', ['uint8'], { rank: 1, doc: 'packed n-bit indices, M = ceil(nbits·prod(shape)/8) bytes' }),
    reqConst('lut', LUT_T, { rank: 1, doc: 'NUM_PALETTES ∈ {2, 4, 16, 64, 256}' }),
    reqConst('shape', ['uint32'], { rank: 1, doc: 'output shape' }),
  ],
  infer(args) {
    const lut = staticShape(args, 'lut');
    requireRank(args, 'lut', lut, 1);
    const palettes = lut[0];
    if (!IOS16_PALETTES.includes(palettes)) {
      args.fail('lut', `has ${palettes} entries; the iOS16 signature needs NUM_PALETTES ∈ {2, 4, 16, 64, 256} (no 3-bit LUTs; use the iOS18 form)`);
    }
    const nbits = Math.log2(palettes);
    const shape = shapeArg(args);
    const indices = staticShape(args, 'indices');
    requireRank(args, 'indices', indices, 1);
    const n = product(shape);
    const m = Math.ceil((nbits * n) / 8);
    if (indices[0] !== m) {
      args.fail('indices', `has ${indices[0]} bytes but M = ceil(nbits·prod(shape)/8) = ceil(${nbits}·${n}/8) = ${m}`);
    }
    return [tensorType(args.tensor('lut').dtype, shape)];
  },
  evaluate(args) {
    return [lutToDensePacked(needConst(args, 'indices'), needConst(args, 'lut'), needConst(args, 'shape').toNumbers())];
  },
};

/** §1.4 — iOS18 form: uint1..uint8 indices of the logical shape, per-group rank K+2 LUT, vector palettization. */
const lutToDenseIOS18: OpSignature = {
  op: 'constexpr_lut_to_dense',
  since: 'iOS18',
  storage: 'inputs',
  outputs: 1,
  doc: 'palettized weight: per-group (and optionally vector) LUT lookup',
  params: [
    reqConst('indices', UINT_INDICES, { rank: [1, Infinity], doc: 'unpacked logical shape; dtype = nbits' }),
    reqConst('lut', LUT_T, { rank: [3, Infinity], doc: '[G_0, …, G_{K-1}, NUM_PALETTES, VECTOR_SIZE]' }),
    optConst('vector_axis', INT32, undefined, { rank: 0, doc: 'required when VECTOR_SIZE > 1 (omitted otherwise)' }),
  ],
  infer(args) {
    const idx = staticShape(args, 'indices');
    const { outShape } = lutRules(args, 'indices', idx, args.tensor('indices').dtype, 'indices');
    return [tensorType(args.tensor('lut').dtype, outShape)];
  },
  evaluate(args) {
    return [lutToDense(needConst(args, 'indices'), needConst(args, 'lut'), vectorAxisOf(args))];
  },
};

/** §1.5 — iOS16 form: packed uint8 bitmask + uint32 shape. */
const sparseToDenseIOS16: OpSignature = {
  op: 'constexpr_sparse_to_dense',
  since: 'iOS16',
  storage: 'attributes',
  outputs: 1,
  doc: 'pruned weight: nonzero values scattered to the set bits of a packed bitmask',
  params: [
    reqConst('nonzero_data', LUT_T, { rank: 1, doc: '[D] values, D = set bits of mask' }),
    reqConst('mask', ['uint8'], { rank: 1, doc: 'LSB-first bitmask, M = ceil(prod(shape)/8) bytes' }),
    reqConst('shape', ['uint32'], { rank: 1, doc: 'output shape' }),
  ],
  infer(args) {
    const shape = shapeArg(args);
    const n = product(shape);
    const mask = staticShape(args, 'mask');
    requireRank(args, 'mask', mask, 1);
    const m = Math.ceil(n / 8);
    if (mask[0] !== m) args.fail('mask', `has ${mask[0]} bytes but M = ceil(prod(shape)/8) = ceil(${n}/8) = ${m}`);
    const nz = staticShape(args, 'nonzero_data');
    requireRank(args, 'nonzero_data', nz, 1);
    const mv = args.constValue('mask');
    if (mv) {
      const bytes = mv.bytes();
      if (n % 8 !== 0 && bytes[m - 1] >>> (n % 8) !== 0) {
        args.fail('mask', `has set padding bits beyond prod(shape) = ${n} in its last byte; they must be 0 (mil-ops.md §1.5)`);
      }
      const ones = countSetBits(bytes, n);
      if (ones !== nz[0]) args.fail('nonzero_data', `has ${nz[0]} values but mask has ${ones} set bits (D must equal the number of set bits)`);
    }
    return [tensorType(args.tensor('nonzero_data').dtype, shape)];
  },
  evaluate(args) {
    return [sparseToDensePacked(needConst(args, 'nonzero_data'), needConst(args, 'mask'), needConst(args, 'shape').toNumbers())];
  },
};

/** §1.6 — iOS18 form: uint1 mask of the output shape. */
const sparseToDenseIOS18: OpSignature = {
  op: 'constexpr_sparse_to_dense',
  since: 'iOS18',
  storage: 'inputs',
  outputs: 1,
  doc: 'pruned weight: nonzero values scattered to the ones of a uint1 mask',
  params: [
    reqConst('nonzero_data', QUANT_T, { rank: 1, doc: '[D] values, D = ones in mask' }),
    reqConst('mask', ['uint1'], { rank: [1, Infinity], doc: 'presence bits; its shape is the output shape' }),
  ],
  infer(args) {
    const nz = staticShape(args, 'nonzero_data');
    requireRank(args, 'nonzero_data', nz, 1);
    const mask = staticShape(args, 'mask');
    requireRank(args, 'mask', mask, 1, Infinity);
    checkOnes(args, 'mask', 'nonzero_data', nz[0]);
    return [tensorType(args.tensor('nonzero_data').dtype, mask)];
  },
  evaluate(args) {
    return [sparseToDense(needConst(args, 'nonzero_data'), needConst(args, 'mask'))];
  },
};

/** §1.7 — iOS18 block-wise dequantization (also the per-channel scale of palettization). */
const blockwiseShiftScaleSig: OpSignature = {
  op: 'constexpr_blockwise_shift_scale',
  since: 'iOS18',
  storage: 'inputs',
  outputs: 1,
  doc: 'scale · (data − offset) with per-block scale/offset',
  params: [
    reqConst('data', QUANT_T, { rank: [1, Infinity], doc: 'quantized (or float) data' }),
    reqConst('scale', FLOAT, { rank: [1, Infinity], doc: 'rank of data; each dim divides data; output dtype' }),
    optConst('offset', QUANT_T, undefined, { rank: [1, Infinity], doc: 'shape of scale; integer offset has the data dtype (omitted = 0)' }),
  ],
  infer(args) {
    const data = staticShape(args, 'data');
    shiftScaleRules(args, 'data', data, 'data', args.tensor('data').dtype);
    return [tensorType(args.tensor('scale').dtype, data)];
  },
  evaluate(args) {
    return [blockwiseShiftScale(needConst(args, 'data'), needConst(args, 'scale'), optionalConst(args, 'offset'))];
  },
};

/** §1.8 — iOS18 palettization of sparse indices; outputs (mask, nonzero_data). */
const lutToSparseSig: OpSignature = {
  op: 'constexpr_lut_to_sparse',
  since: 'iOS18',
  storage: 'inputs',
  outputs: 2,
  doc: 'depalettizes sparse indices; returns (mask, nonzero_data) for constexpr_sparse_to_dense',
  params: [
    reqConst('indices_mask', ['uint1'], { rank: [1, Infinity], doc: 'sparsity pattern of the indices' }),
    reqConst('indices_nonzero_data', UINT_INDICES, { rank: 1, doc: '[D] LUT indices, D = ones in indices_mask' }),
    reqConst('lut', LUT_T, { rank: [3, Infinity], doc: 'as constexpr_lut_to_dense, grouped against indices_mask.shape' }),
    optConst('vector_axis', INT32, undefined, { rank: 0, doc: 'required when VECTOR_SIZE > 1' }),
  ],
  infer(args) {
    const mask = staticShape(args, 'indices_mask');
    const nz = staticShape(args, 'indices_nonzero_data');
    requireRank(args, 'indices_nonzero_data', nz, 1);
    const { vectorSize, outShape } = lutRules(args, 'indices_mask', mask, args.tensor('indices_nonzero_data').dtype, 'indices_nonzero_data');
    checkOnes(args, 'indices_mask', 'indices_nonzero_data', nz[0]);
    return [tensorType('uint1', outShape), tensorType(args.tensor('lut').dtype, [nz[0] * vectorSize])];
  },
  evaluate(args) {
    return lutToSparse(needConst(args, 'indices_mask'), needConst(args, 'indices_nonzero_data'), needConst(args, 'lut'), vectorAxisOf(args));
  },
};

/** §1.9 — iOS18 dequantization of sparse data; outputs (data_mask, nonzero_data). */
const sparseBlockwiseShiftScaleSig: OpSignature = {
  op: 'constexpr_sparse_blockwise_shift_scale',
  since: 'iOS18',
  storage: 'inputs',
  outputs: 2,
  doc: 'dequantizes sparse data with the block parameters of each set position; returns (data_mask, nonzero_data)',
  params: [
    reqConst('data_mask', ['uint1'], { rank: [1, Infinity], doc: 'sparsity pattern' }),
    reqConst('nonzero_data', QUANT_T, { rank: 1, doc: '[D] quantized values, D = ones in data_mask' }),
    reqConst('scale', FLOAT, { rank: [1, Infinity], doc: 'rank of data_mask; each dim divides it; output dtype' }),
    optConst('offset', QUANT_T, undefined, { rank: [1, Infinity], doc: 'shape of scale; integer offset has the nonzero_data dtype' }),
  ],
  infer(args) {
    const mask = staticShape(args, 'data_mask');
    const nz = staticShape(args, 'nonzero_data');
    requireRank(args, 'nonzero_data', nz, 1);
    shiftScaleRules(args, 'data_mask', mask, 'nonzero_data', args.tensor('nonzero_data').dtype);
    checkOnes(args, 'data_mask', 'nonzero_data', nz[0]);
    return [tensorType('uint1', mask), tensorType(args.tensor('scale').dtype, nz)];
  },
  evaluate(args) {
    return sparseBlockwiseShiftScale(
      needConst(args, 'data_mask'),
      needConst(args, 'nonzero_data'),
      needConst(args, 'scale'),
      optionalConst(args, 'offset'),
    );
  },
};

// ---------------------------------------------------------------------------------------
// §2 state ops

function wrappedState(args: OpArgs, param: string): TensorType {
  const t: ValueType = args.type(param);
  if (t.kind !== 'state') args.fail(param, `expects a state (a function input of type state<…>), got ${t.kind}`);
  return (t as Extract<ValueType, { kind: 'state' }>).wrapped;
}

/** §2.1 */
const readState: OpSignature = {
  op: 'read_state',
  since: 'iOS18',
  storage: 'inputs',
  outputs: 1,
  doc: 'copy of the current contents of a state',
  params: [{ name: 'input', kind: 'state', dtypes: STATE_T, doc: 'a state-typed function input' }],
  infer(args) {
    return [wrappedState(args, 'input')];
  },
};

/** §2.2 — Core ML op with no outputs. */
const writeState: OpSignature = {
  op: 'write_state',
  since: 'iOS18',
  storage: 'inputs',
  outputs: 0,
  typeVars: { ST: STATE_T },
  doc: 'overwrites a state with `data` (no outputs)',
  params: [
    { name: 'input', kind: 'state', dtypes: 'ST', doc: 'the state to overwrite' },
    req('data', 'ST', { doc: 'new contents: dtype and shape of the wrapped tensor' }),
  ],
  infer(args) {
    const st = wrappedState(args, 'input');
    const data = args.tensor('data');
    if (data.dtype !== st.dtype || data.shape.length !== st.shape.length || data.shape.some((d, i) => d !== st.shape[i])) {
      args.fail('data', `type ${data.dtype}${fmt(data.shape)} must equal the state's wrapped type ${st.dtype}${fmt(st.shape)}`);
    }
    return [];
  },
};

// ---------------------------------------------------------------------------------------
// §3 slice_update

const SLICE_T: readonly DType[] = ['fp16', 'fp32', 'int8', 'int16', 'int32', 'uint8', 'uint16', 'bool'];
const SLICE_INDEX_T: readonly DType[] = ['int8', 'int16', 'int32'];

/**
 * Length of `x[b:e:s]` along a dim of size `dim` with Python/NumPy slice semantics (negative
 * indices count from the end, out-of-range bounds clamp; `bm`/`em` = begin/end masked).
 */
function sliceLength(dim: number, b: number, e: number, s: number, bm: boolean, em: boolean): number {
  if (s > 0) {
    const start = bm ? 0 : Math.min(Math.max(b < 0 ? b + dim : b, 0), dim);
    const stop = em ? dim : Math.min(Math.max(e < 0 ? e + dim : e, 0), dim);
    return Math.max(0, Math.ceil((stop - start) / s));
  }
  const start = bm ? dim - 1 : Math.min(Math.max(b < 0 ? b + dim : b, -1), dim - 1);
  const stop = em ? -1 : Math.min(Math.max(e < 0 ? e + dim : e, -1), dim - 1);
  return Math.max(0, Math.ceil((start - stop) / -s));
}

/** Const vector param (or `fallback` when absent); undefined when bound but not const. */
function vectorArg<T>(args: OpArgs, param: string, rank: number, fallback: T[], map: (n: number) => T): T[] | undefined {
  if (!args.has(param)) return fallback;
  const t = args.tensor(param);
  requireRank(args, param, t.shape, 1);
  if (conflict(t.shape[0], rank)) args.fail(param, `has length ${t.shape[0]} but must have one entry per axis of x (${rank})`);
  const v = args.constValue(param);
  return v ? v.toNumbers().map(map) : undefined;
}

/** §3 — iOS18. */
const sliceUpdate: OpSignature = {
  op: 'slice_update',
  since: 'iOS18',
  storage: 'inputs',
  outputs: 1,
  typeVars: { T: SLICE_T, U: SLICE_INDEX_T },
  doc: 'copy of x with the slice selected as by slice_by_index replaced by update',
  params: [
    req('x', 'T', { doc: 'source tensor' }),
    req('update', 'T', { doc: 'shape of the selected slice (squeezed dims removed); rank 0 not supported' }),
    req('begin', 'U', { rank: 1, doc: '[rank(x)] start indices; may be runtime' }),
    req('end', 'U', { rank: 1, doc: '[rank(x)] end indices; may be runtime' }),
    optConst('stride', 'U', undefined, { rank: 1, doc: '[rank(x)], default all 1 (omitted)' }),
    optConst('begin_mask', ['bool'], undefined, { rank: 1, doc: '[rank(x)], default all false (omitted)' }),
    optConst('end_mask', ['bool'], undefined, { rank: 1, doc: '[rank(x)], default all false (omitted)' }),
    optConst('squeeze_mask', ['bool'], undefined, { rank: 1, doc: '[rank(x)], default all false (omitted)' }),
  ],
  infer(args) {
    const x = args.tensor('x');
    const update = args.tensor('update');
    if (update.dtype !== x.dtype) args.fail('update', `dtype ${update.dtype} must equal the dtype of x (${x.dtype})`);
    const r = x.shape.length;
    const toBool = (n: number): boolean => n !== 0;
    const begin = vectorArg(args, 'begin', r, [], (n) => n);
    const end = vectorArg(args, 'end', r, [], (n) => n);
    const stride = vectorArg(args, 'stride', r, new Array<number>(r).fill(1), (n) => n);
    const bm = vectorArg(args, 'begin_mask', r, new Array<boolean>(r).fill(false), toBool);
    const em = vectorArg(args, 'end_mask', r, new Array<boolean>(r).fill(false), toBool);
    const sm = vectorArg(args, 'squeeze_mask', r, new Array<boolean>(r).fill(false), toBool);
    for (const [p, v] of [['stride', stride], ['begin_mask', bm], ['end_mask', em], ['squeeze_mask', sm]] as const) {
      if (!v) args.fail(p, 'must be a compile-time constant');
    }
    const stride_ = stride!;
    const i0 = stride_.findIndex((s) => s === 0);
    if (i0 >= 0) args.fail('stride', `entry ${i0} is 0; strides must be non-zero`);
    // the shape slice_by_index would select; null = not known at compile time
    const selected: (Dim | null)[] = [];
    for (let i = 0; i < r; i++) {
      const dim = x.shape[i];
      if (sm![i]) {
        if (begin && typeof dim === 'number' && (begin[i] < -dim || begin[i] >= dim)) {
          args.fail('begin', `squeezed axis ${i} indexes ${begin[i]}, out of range for x.shape[${i}] = ${dim}`);
        }
        continue;
      }
      const s = stride_[i];
      if (typeof dim !== 'number') {
        selected.push(bm![i] && em![i] && Math.abs(s) === 1 ? dim : null);
      } else if ((bm![i] || begin) && (em![i] || end)) {
        selected.push(sliceLength(dim, begin ? begin[i] : 0, end ? end[i] : 0, s, bm![i], em![i]));
      } else {
        selected.push(null);
      }
    }
    const want = `[${selected.map((d) => (d === null ? '?' : d)).join(', ')}]`;
    if (update.shape.length === 0) {
      args.fail('update', `rank-0 updates are not supported by slice_update (mil-ops.md §3); use a 1-element tensor of shape ${want === '[]' ? '[1]' : want} and a length-1 slice instead of a squeezed axis`);
    }
    if (update.shape.length !== selected.length || selected.some((d, i) => d !== null && conflict(d, update.shape[i]))) {
      args.fail('update', `shape ${fmt(update.shape)} does not match the selected slice shape ${want}`);
    }
    return [x];
  },
};

// ---------------------------------------------------------------------------------------
// §4 scaled_dot_product_attention

/** §4 — iOS18. No scale / is_causal / dropout arguments. */
const sdpa: OpSignature = {
  op: 'scaled_dot_product_attention',
  since: 'iOS18',
  storage: 'inputs',
  outputs: 1,
  typeVars: { T: FLOAT },
  doc: 'softmax(query · keyᵀ / sqrt(E) + mask) · value',
  params: [
    req('query', 'T', { rank: [3, Infinity], doc: '[B…, L, E]' }),
    req('key', 'T', { rank: [3, Infinity], doc: '[B…, S, E]' }),
    req('value', 'T', { rank: [3, Infinity], doc: '[B…, S, EV]' }),
    opt('attn_mask', ['bool', 'fp16', 'fp32'], { rank: [1, Infinity], doc: '[…, S] broadcastable to [B…, L, S]; bool true = attend' }),
  ],
  infer(args) {
    const q = args.tensor('query');
    const k = args.tensor('key');
    const v = args.tensor('value');
    const r = q.shape.length;
    requireRank(args, 'query', q.shape, 3, Infinity);
    for (const [p, t] of [['key', k], ['value', v]] as const) {
      if (t.shape.length !== r) args.fail(p, `has rank ${t.shape.length} but must have the rank of query (${r})`);
      const tb = t.shape.slice(0, r - 2);
      const qb = q.shape.slice(0, r - 2);
      if (tb.some((d, i) => conflict(d, qb[i]))) {
        args.fail(p, `batch dims ${fmt(tb)} must equal the query batch dims ${fmt(qb)} (no broadcasting among query/key/value)`);
      }
    }
    const e = q.shape[r - 1];
    if (conflict(k.shape[r - 1], e)) args.fail('key', `embedding dim E = ${k.shape[r - 1]} must equal the query's E = ${e}`);
    const s = k.shape[r - 2];
    if (conflict(v.shape[r - 2], s)) args.fail('value', `sequence length S = ${v.shape[r - 2]} must equal the key's S = ${s}`);
    if (args.has('attn_mask')) {
      const m = args.tensor('attn_mask').shape;
      const target: Dim[] = [...q.shape.slice(0, r - 1), s];
      if (m.length < 1) args.fail('attn_mask', 'must have rank ≥ 1 ([…, S])');
      if (conflict(m[m.length - 1], s)) args.fail('attn_mask', `last dim ${m[m.length - 1]} must equal the key sequence length S = ${s}`);
      const off = target.length - m.length;
      if (off < 0 || m.some((d, i) => d !== 1 && conflict(d, target[off + i]))) {
        args.fail('attn_mask', `shape ${fmt(m)} does not broadcast to [B…, L, S] = ${fmt(target)}`);
      }
    }
    return [tensorType(q.dtype, [...q.shape.slice(0, r - 1), v.shape[r - 1]])];
  },
};

export const COMPRESSION_OPS: readonly OpSignature[] = [
  constexprAffineDequantize,
  castSignature('iOS16'),
  castSignature('iOS18'),
  lutToDenseIOS16,
  lutToDenseIOS18,
  sparseToDenseIOS16,
  sparseToDenseIOS18,
  blockwiseShiftScaleSig,
  lutToSparseSig,
  sparseBlockwiseShiftScaleSig,
  readState,
  writeState,
  sliceUpdate,
  sdpa,
];
