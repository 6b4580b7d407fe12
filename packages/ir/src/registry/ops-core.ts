/**
 * Signatures of mil-ops.md §5–6 (linear, matmul, softmax and the transformer-block ops),
 * plus the iOS15 elementwise / comparison / logical / reduction ops coremltools emits
 * beside them (exp, log, tanh, erf, abs, floor, ceil, square, maximum, minimum, the six
 * comparisons, logical_not/and/or/xor, reduce_sum/max/min/prod) — those follow coremltools'
 * `iOS15/elementwise_unary.py`, `iOS15/elementwise_binary.py`, `iOS15/reduction.py` and
 * `iOS17/elementwise_unary.py` (`log`).
 *
 * Defaults: "default X (materialized)" and plain "default X" (coremltools writes every
 * concrete default as a const, mlpackage-format.md §9.3) are `materialized: true`;
 * defaults that mean "none" (slice masks, layer_norm gamma/beta, conv bias) are
 * `materialized: false`. Defaults that depend on the other operands (zeros of `[D_out]`,
 * ones per spatial dim, an epsilon in x's dtype) carry a `resolve`.
 *
 * Shape rules live in shape-infer.ts, constant evaluation in fold.ts.
 */
import type { DType } from '../dtype.js';
import { type Tensor, scalar, tensorFromValues, zeros } from '../tensor.js';
import { type Dim, type TensorType, tensorType } from '../types.js';
import type { OpArgs, OpSignature, ParamSpec } from './signature.js';
import {
  BOOL,
  FLOAT,
  FLOAT_INT32,
  FLOAT_INT32_BOOL,
  INDEX_IOS17,
  INT32,
  STRING,
  WIDE,
  opt,
  optConst,
  req,
  reqConst,
} from './helpers.js';
import {
  CAST_DTYPES_IOS15,
  CAST_DTYPES_IOS17,
  batchNormShape,
  broadcastOperands,
  castTarget,
  concatType,
  constBoolOf,
  constScalarOf,
  requiredScalarOf,
  constStringOf,
  convShape,
  convSpatialDims,
  expandDimsShape,
  fillShape,
  fmtShape,
  gatherAxes,
  gatherShape,
  isNum,
  knownScalarOf,
  layerNormAxes,
  layerNormShape,
  linearShape,
  matmulShape,
  rangeLength,
  rangeShape,
  reduceShape,
  reshapeShape,
  sliceByIndexPlan,
  sliceBySizePlan,
  softmaxShape,
  splitTypes,
  squeezeShape,
  tileShape,
  transposePerm,
} from './shape-infer.js';
import {
  type BinaryKind,
  binaryFold,
  concatTensors,
  gatherTensor,
  numbersOf,
  selectFold,
  stridedIndex,
  takeElements,
  tensorFromNumbers,
  tileTensor,
  transposeTensor,
} from './fold.js';

type Default = NonNullable<ParamSpec['default']>;

/** A default coremltools writes as a const (mil-ops.md §0.2 "materialized"). */
const mat = (value: Default['value'], dtype: DType, resolve?: Default['resolve']): Default => ({
  value,
  dtype,
  materialized: true,
  resolve,
});
/** A default coremltools leaves out of `Operation.inputs` (Core ML applies it). */
const omit = (value: Default['value'], dtype: DType, resolve?: Default['resolve']): Default => ({
  value,
  dtype,
  materialized: false,
  resolve,
});

/** A scalar of x's dtype (defaults typed `const T`, e.g. epsilons). */
const scalarLikeX =
  (v: number) =>
  (a: OpArgs): Tensor =>
    scalar(a.tensor('x').dtype, v);
/** int32 `[n]` filled with `v`, n from the operands (undefined while n is unknown). */
const int32Fill =
  (n: (a: OpArgs) => number | undefined, v: number) =>
  (a: OpArgs): Tensor | undefined => {
    const k = n(a);
    return k === undefined ? undefined : tensorFromValues('int32', [k], new Array<number>(k).fill(v));
  };
/** A tensor of `dtype` and static `shape` filled with `v`; undefined for symbolic shapes. */
function filled(dtype: DType, shape: readonly Dim[], v: number): Tensor | undefined {
  if (!shape.every(isNum)) return undefined;
  const s = shape as number[];
  return v === 0 ? zeros(dtype, s) : tensorFromNumbers(dtype, s, new Float64Array(s.reduce((a, b) => a * b, 1)).fill(v));
}

const same = (t: TensorType, shape: readonly Dim[] = t.shape): TensorType => tensorType(t.dtype, shape);

/** Fields every signature here shares. */
function sig(s: Omit<OpSignature, 'storage' | 'outputs'> & { outputs?: OpSignature['outputs'] }): OpSignature {
  return { storage: 'inputs', outputs: 1, ...s };
}

/** Constant operands of an evaluation, or undefined when one is not known (then nothing is folded). */
function consts(a: OpArgs, ...params: string[]): Tensor[] | undefined {
  const out: Tensor[] = [];
  for (const p of params) {
    const t = a.constValue(p);
    if (!t) return undefined;
    out.push(t);
  }
  return out;
}

const staticShape = (a: OpArgs, shape: readonly Dim[]): number[] => {
  if (!shape.every(isNum)) a.fail(null, `cannot evaluate: output shape ${fmtShape(shape)} is not static`);
  return shape as number[];
};

// ---------------------------------------------------------------------------------------
// const

/**
 * `const` (mil-ops.md §6): no inputs, its value is the attribute `val`. OpArgs cannot see
 * attributes, so `infer` cannot type it: the verifier types a const from `val` directly
 * and never calls this signature's `infer`.
 */
const CONST: OpSignature = sig({
  op: 'const',
  since: 'iOS15',
  params: [],
  doc: 'a constant: the value of the attribute "val" (mil-ops.md §6)',
  infer: (a) => a.fail(null, 'the type of a const is the type of its "val" attribute; it cannot be inferred from operands'),
});

// ---------------------------------------------------------------------------------------
// §5 linear, matmul, softmax

const LINEAR_IOS15: OpSignature = sig({
  op: 'linear',
  since: 'iOS15',
  doc: 'x · weightᵀ + bias (mil-ops.md §5.1)',
  typeVars: { T: FLOAT_INT32 },
  params: [
    req('x', 'T', { rank: [1, 3], doc: '[*D, D_in]; rank 1–3 (documented limit)' }),
    reqConst('weight', 'T', { rank: 2, doc: '[D_out, D_in]' }),
    optConst(
      'bias',
      'T',
      mat(0, 'fp32', (a) => filled(a.tensor('weight').dtype, [a.tensor('weight').shape[0]], 0)),
      {
        rank: 1,
        doc: '[D_out], default zeros',
      },
    ),
  ],
  infer: (a) => [same(a.tensor('x'), linearShape(a))],
});

// iOS17: weight/bias may have a different dtype U than x; the output keeps x's dtype.
const LINEAR_IOS17: OpSignature = {
  ...LINEAR_IOS15,
  since: 'iOS17',
  typeVars: { T: FLOAT_INT32, U: FLOAT_INT32 },
  params: [LINEAR_IOS15.params[0], { ...LINEAR_IOS15.params[1], dtypes: 'U' }, { ...LINEAR_IOS15.params[2], dtypes: 'U' }],
};

const MATMUL_PARAMS = (y: string): ParamSpec[] => [
  req('x', 'T', { rank: [1, Infinity] }),
  req('y', y, { rank: [1, Infinity] }),
  optConst('transpose_x', BOOL, mat(false, 'bool'), { rank: 0, doc: 'not allowed true for rank-1 x' }),
  optConst('transpose_y', BOOL, mat(false, 'bool'), { rank: 0, doc: 'not allowed true for rank-1 y' }),
];

const matmulFold = (a: OpArgs, outDtype: DType): Tensor[] => {
  const c = consts(a, 'x', 'y');
  if (!c) return [];
  const shape = staticShape(a, matmulShape(a));
  const [x, y] = c;
  const tx = constBoolOf(a, 'transpose_x') ?? false;
  const ty = constBoolOf(a, 'transpose_y') ?? false;
  const xs = x.rank === 1 ? [1, x.shape[0]] : [...x.shape];
  const ys = y.rank === 1 ? [y.shape[0], 1] : [...y.shape];
  const xv = numbersOf(x);
  const yv = numbersOf(y);
  const [m, k] = tx ? [xs[xs.length - 1], xs[xs.length - 2]] : [xs[xs.length - 2], xs[xs.length - 1]];
  const n = ty ? ys[ys.length - 2] : ys[ys.length - 1];
  const batch = shape.slice(0, Math.max(xs.length, ys.length) - 2);
  const nb = batch.reduce((p, d) => p * d, 1);
  const bIndex = (s: number[]): Int32Array => {
    const lead = s.slice(0, -2);
    const r = batch.length;
    const off = r - lead.length;
    const st: number[] = [];
    let acc = 1;
    for (let i = lead.length - 1; i >= 0; i--) {
      st[i] = lead[i] === 1 ? 0 : acc;
      acc *= lead[i];
    }
    const out = new Int32Array(nb);
    for (let b = 0; b < nb; b++) {
      let rem = b;
      let src = 0;
      for (let i = r - 1; i >= 0; i--) {
        const p = rem % batch[i];
        rem = Math.floor(rem / batch[i]);
        if (i >= off) src += p * st[i - off];
      }
      out[b] = src;
    }
    return out;
  };
  const bx = bIndex(xs);
  const by = bIndex(ys);
  const out = new Float64Array(nb * m * n);
  const int = outDtype === 'int32';
  for (let b = 0; b < nb; b++) {
    const xo = bx[b] * m * k;
    const yo = by[b] * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const xe = xv[xo + (tx ? q * m + i : i * k + q)];
          const ye = yv[yo + (ty ? j * k + q : q * n + j)];
          s = int ? (s + Math.imul(xe, ye)) | 0 : s + xe * ye;
        }
        out[(b * m + i) * n + j] = s;
      }
    }
  }
  return [tensorFromNumbers(outDtype, shape, out)];
};

const MATMUL_IOS15: OpSignature = sig({
  op: 'matmul',
  since: 'iOS15',
  doc: 'NumPy matmul with optional transposes of the last two axes (mil-ops.md §5.2)',
  typeVars: { T: FLOAT_INT32 },
  params: MATMUL_PARAMS('T'),
  infer: (a) => [same(a.tensor('x'), matmulShape(a))],
  evaluate: (a) => matmulFold(a, a.tensor('x').dtype),
});

/** iOS17 matmul dtype rule (mil-ops.md §5.2): x and y may differ only if exactly one is const; the output takes the non-const dtype. */
function matmulDtypeIOS17(a: OpArgs): DType {
  const x = a.tensor('x');
  const y = a.tensor('y');
  if (x.dtype === y.dtype) return x.dtype;
  const cx = a.isConst('x');
  const cy = a.isConst('y');
  if (cx === cy) {
    a.fail(
      'y',
      `dtype ${y.dtype} differs from x's ${x.dtype}; that needs exactly one of x, y to be const (both are ${
        cx ? 'const' : 'non-const'
      })`,
    );
  }
  return cx ? y.dtype : x.dtype;
}

const MATMUL_IOS17: OpSignature = sig({
  ...MATMUL_IOS15,
  since: 'iOS17',
  typeVars: { T: FLOAT_INT32, U: FLOAT_INT32 },
  params: MATMUL_PARAMS('U'),
  infer: (a) => [tensorType(matmulDtypeIOS17(a), matmulShape(a))],
  evaluate: (a) => matmulFold(a, matmulDtypeIOS17(a)),
});

const SOFTMAX: OpSignature = sig({
  op: 'softmax',
  since: 'iOS15',
  doc: 'exp(x − max) / sum(exp(x − max)) along axis (mil-ops.md §5.3)',
  typeVars: { T: FLOAT },
  params: [req('x', 'T'), optConst('axis', INT32, mat(-1, 'int32'), { rank: 0 })],
  infer: (a) => [same(a.tensor('x'), softmaxShape(a))],
});

// ---------------------------------------------------------------------------------------
// §6 elementwise

/** A unary op `x → same type`; `extra` params follow x. */
function unary(
  op: string,
  dtypes: readonly DType[],
  doc: string,
  extra: ParamSpec[] = [],
  typeVars: Record<string, readonly DType[]> = {},
): OpSignature {
  return sig({
    op,
    since: 'iOS15',
    doc,
    typeVars: { T: dtypes, ...typeVars },
    params: [req('x', 'T'), ...extra],
    infer: (a) => [same(a.tensor('x'))],
  });
}

/** An epsilon param typed like x (iOS15) or any float (iOS17, `U`), default in x's dtype. */
const epsilon = (value: number, dtypes: ParamSpec['dtypes']): ParamSpec =>
  optConst('epsilon', dtypes, mat(value, 'fp32', scalarLikeX(value)), { rank: 0, doc: `default ${value} in x's dtype` });

/**
 * An elementwise binary op with NumPy broadcasting (mil-ops.md §6): x and y share the
 * type variable T (iOS15 has no implicit promotion: mixed dtypes are rejected).
 */
function binary(op: BinaryKind, dtypes: readonly DType[], doc: string, outBool = false): OpSignature {
  const outDtype = (a: OpArgs): DType => {
    const x = a.tensor('x');
    const y = a.tensor('y');
    if (x.dtype !== y.dtype) a.fail('y', `dtype ${y.dtype} must equal x's dtype ${x.dtype} (no implicit promotion)`);
    return outBool ? 'bool' : x.dtype;
  };
  return sig({
    op,
    since: 'iOS15',
    doc,
    typeVars: { T: dtypes },
    params: [req('x', 'T'), req('y', 'T')],
    infer: (a) => [tensorType(outDtype(a), broadcastOperands(a, ['x', 'y']))],
    evaluate: (a) => {
      const c = consts(a, 'x', 'y');
      if (!c) return [];
      return [binaryFold(op, c[0], c[1], staticShape(a, broadcastOperands(a, ['x', 'y'])), outDtype(a), a.fail)];
    },
  });
}

const ARITH: OpSignature[] = [
  binary('add', FLOAT_INT32, 'x + y with broadcasting (mil-ops.md §6)'),
  binary('sub', FLOAT_INT32, 'x − y with broadcasting (mil-ops.md §6)'),
  binary('mul', FLOAT_INT32, 'x · y with broadcasting (mil-ops.md §6)'),
  binary('real_div', FLOAT_INT32, 'x / y with broadcasting (mil-ops.md §6)'),
  binary('pow', FLOAT_INT32, 'x ^ y with broadcasting (mil-ops.md §6)'),
  binary('maximum', FLOAT_INT32, 'max(x, y) with broadcasting (coremltools iOS15 elementwise_binary)'),
  binary('minimum', FLOAT_INT32, 'min(x, y) with broadcasting (coremltools iOS15 elementwise_binary)'),
  binary('equal', FLOAT_INT32, 'x == y → bool (coremltools iOS15 elementwise_binary)', true),
  binary('not_equal', FLOAT_INT32, 'x != y → bool (coremltools iOS15 elementwise_binary)', true),
  binary('less', FLOAT_INT32, 'x < y → bool (coremltools iOS15 elementwise_binary)', true),
  binary('less_equal', FLOAT_INT32, 'x <= y → bool (coremltools iOS15 elementwise_binary)', true),
  binary('greater', FLOAT_INT32, 'x > y → bool (coremltools iOS15 elementwise_binary)', true),
  binary('greater_equal', FLOAT_INT32, 'x >= y → bool (coremltools iOS15 elementwise_binary)', true),
  binary('logical_and', BOOL, 'x AND y (coremltools iOS15 elementwise_binary)', true),
  binary('logical_or', BOOL, 'x OR y (coremltools iOS15 elementwise_binary)', true),
  binary('logical_xor', BOOL, 'x XOR y (coremltools iOS15 elementwise_binary)', true),
];

const RSQRT_IOS15 = unary('rsqrt', FLOAT, '1/√(x + epsilon) (mil-ops.md §6)', [epsilon(1e-12, 'T')]);
// iOS17: epsilon may have a different float dtype than x (mil-ops.md §6 "later").
const RSQRT_IOS17: OpSignature = {
  ...unary('rsqrt', FLOAT, RSQRT_IOS15.doc, [epsilon(1e-12, 'U')], { U: FLOAT }),
  since: 'iOS17',
};
const LOG_IOS15 = unary('log', FLOAT, 'log(x + epsilon) (coremltools iOS15 elementwise_unary)', [epsilon(1e-45, 'T')]);
// iOS17: epsilon dtype may differ from x (coremltools iOS17/elementwise_unary.py).
const LOG_IOS17: OpSignature = { ...unary('log', FLOAT, LOG_IOS15.doc, [epsilon(1e-45, 'U')], { U: FLOAT }), since: 'iOS17' };

const GELU_MODES = ['EXACT', 'TANH_APPROXIMATION', 'SIGMOID_APPROXIMATION'];

const UNARY: OpSignature[] = [
  unary('sqrt', FLOAT, '√x (mil-ops.md §6)'),
  RSQRT_IOS15,
  RSQRT_IOS17,
  unary('relu', FLOAT, 'max(x, 0) (mil-ops.md §6)'),
  unary('sigmoid', FLOAT, '1/(1 + e^−x) (mil-ops.md §6)'),
  unary('silu', FLOAT, 'x · sigmoid(x) (mil-ops.md §6)'),
  sig({
    op: 'gelu',
    since: 'iOS15',
    doc: 'GELU, exact or approximated per mode (mil-ops.md §6)',
    typeVars: { T: FLOAT },
    params: [req('x', 'T'), optConst('mode', STRING, mat('EXACT', 'string'), { rank: 0, doc: GELU_MODES.join(' | ') })],
    infer: (a) => {
      const mode = constStringOf(a, 'mode') ?? 'EXACT';
      if (!GELU_MODES.includes(mode)) a.fail('mode', `"${mode}" is not one of ${GELU_MODES.map((m) => `"${m}"`).join(', ')}`);
      return [same(a.tensor('x'))];
    },
  }),
  unary('exp', FLOAT, 'e^x (coremltools iOS15 elementwise_unary)'),
  LOG_IOS15,
  LOG_IOS17,
  unary('tanh', FLOAT, 'tanh(x) (coremltools iOS15 elementwise_unary)'),
  unary('erf', FLOAT, 'erf(x) (coremltools iOS15 elementwise_unary)'),
  unary('abs', FLOAT_INT32, '|x| (coremltools iOS15 elementwise_unary)'),
  unary('floor', FLOAT, 'floor(x) (coremltools iOS15 elementwise_unary)'),
  unary('ceil', FLOAT, 'ceil(x) (coremltools iOS15 elementwise_unary)'),
  unary('square', FLOAT_INT32, 'x² (coremltools iOS15 elementwise_unary)'),
  unary('logical_not', BOOL, 'NOT x (coremltools iOS15 elementwise_unary)'),
  sig({
    op: 'identity',
    since: 'iOS15',
    doc: 'a copy of x (mil-ops.md §6)',
    typeVars: { T: WIDE },
    params: [req('x', 'T')],
    infer: (a) => [same(a.tensor('x'))],
    evaluate: (a) => consts(a, 'x') ?? [],
  }),
];

// ---------------------------------------------------------------------------------------
// §6 reductions and normalisations

const reduce = (op: string, doc: string): OpSignature =>
  sig({
    op,
    since: 'iOS15',
    doc,
    typeVars: { T: FLOAT_INT32 },
    params: [
      req('x', 'T'),
      { name: 'axes', dtypes: INT32, const: true, optional: true, rank: 1, doc: 'absent ⇒ all axes' },
      optConst('keep_dims', BOOL, mat(false, 'bool'), { rank: 0 }),
    ],
    infer: (a) => [same(a.tensor('x'), reduceShape(a))],
  });

const REDUCTIONS: OpSignature[] = [
  reduce('reduce_mean', 'mean over axes (mil-ops.md §6)'),
  reduce('reduce_sum', 'sum over axes (coremltools iOS15 reduction)'),
  reduce('reduce_max', 'max over axes (coremltools iOS15 reduction)'),
  reduce('reduce_min', 'min over axes (coremltools iOS15 reduction)'),
  reduce('reduce_prod', 'product over axes (coremltools iOS15 reduction)'),
];

const normShape = (a: OpArgs): Dim[] => {
  const x = a.tensor('x').shape;
  return layerNormAxes(a).map((i) => x[i]);
};

const layerNorm = (since: 'iOS15' | 'iOS17', p: string): OpSignature =>
  sig({
    op: 'layer_norm',
    since,
    doc: 'gamma·(x − mean)/√(var + eps) + beta over axes (mil-ops.md §6)',
    typeVars: since === 'iOS15' ? { T: FLOAT } : { T: FLOAT, U: FLOAT },
    params: [
      req('x', 'T'),
      optConst(
        'axes',
        INT32,
        mat([], 'int32', (a) => {
          const r = a.tensor('x').shape.length;
          return tensorFromValues(
            'int32',
            [r],
            Array.from({ length: r }, (_, i) => i),
          );
        }),
        { rank: 1, doc: 'default all axes of x' },
      ),
      optConst(
        'gamma',
        p,
        omit(1, 'fp32', (a) => filled(a.tensor('x').dtype, normShape(a), 1)),
        { doc: 'x.shape[axes], default ones' },
      ),
      optConst(
        'beta',
        p,
        omit(0, 'fp32', (a) => filled(a.tensor('x').dtype, normShape(a), 0)),
        { doc: 'x.shape[axes], default zeros' },
      ),
      epsilon(1e-5, p),
    ],
    infer: (a) => [same(a.tensor('x'), layerNormShape(a))],
  });

const channelParam = (name: string, p: string, v: number | undefined): ParamSpec =>
  v === undefined
    ? reqConst(name, p, { rank: 1, doc: '[C]' })
    : optConst(
        name,
        p,
        omit(v, 'fp32', (a) => filled(a.tensor('x').dtype, [a.tensor('x').shape[1]], v)),
        { rank: 1, doc: `[C], default ${v === 1 ? 'ones' : 'zeros'}` },
      );

const batchNorm = (since: 'iOS15' | 'iOS17', p: string): OpSignature =>
  sig({
    op: 'batch_norm',
    since,
    doc: 'per-channel gamma·(x − mean)/√(var + eps) + beta (mil-ops.md §6)',
    typeVars: since === 'iOS15' ? { T: FLOAT } : { T: FLOAT, U: FLOAT },
    params: [
      req('x', 'T', { rank: [3, 5], doc: '[N, C, *D]' }),
      channelParam('mean', p, undefined),
      channelParam('variance', p, undefined),
      channelParam('gamma', p, 1),
      channelParam('beta', p, 0),
      epsilon(1e-5, p),
    ],
    infer: (a) => [same(a.tensor('x'), batchNormShape(a))],
  });

const NORMS: OpSignature[] = [layerNorm('iOS15', 'T'), layerNorm('iOS17', 'U'), batchNorm('iOS15', 'T'), batchNorm('iOS17', 'U')];

// ---------------------------------------------------------------------------------------
// conv

const conv = (since: 'iOS15' | 'iOS17'): OpSignature => {
  const w = since === 'iOS15' ? 'T' : 'U';
  const n = convSpatialDims;
  return sig({
    op: 'conv',
    since,
    doc: 'N-d cross-correlation with strides, padding, dilations and groups (mil-ops.md §6)',
    typeVars: since === 'iOS15' ? { T: FLOAT } : { T: FLOAT, U: FLOAT },
    params: [
      req('x', 'T', { rank: [3, 5], doc: '[N, C_in, *d], 1–3 spatial dims' }),
      req('weight', w, { rank: [3, 5], doc: '[C_out, C_in/groups, *K]; const required when dilations ≠ 1' }),
      // iOS17: bias no longer must be const (mil-ops.md §6 "later").
      {
        ...opt('bias', w, { rank: 1, doc: '[C_out]' }),
        const: since === 'iOS15',
        default: omit(0, 'fp32', (a) => filled(a.tensor('x').dtype, [a.tensor('weight').shape[0]], 0)),
      },
      optConst('strides', INT32, mat(1, 'int32', int32Fill(n, 1)), { rank: 1, doc: 'default 1 per spatial dim' }),
      optConst('pad_type', STRING, mat('valid', 'string'), { rank: 0, doc: 'valid | same | same_lower | custom' }),
      optConst(
        'pad',
        INT32,
        mat(
          0,
          'int32',
          int32Fill((a) => 2 * n(a), 0),
        ),
        { rank: 1, doc: '[2·spatial dims], default 0s; used by custom' },
      ),
      optConst('dilations', INT32, mat(1, 'int32', int32Fill(n, 1)), { rank: 1, doc: 'default 1 per spatial dim' }),
      optConst('groups', INT32, mat(1, 'int32'), { rank: 0 }),
    ],
    infer: (a) => [same(a.tensor('x'), convShape(a))],
  });
};

// ---------------------------------------------------------------------------------------
// concat, split

const CONCAT: OpSignature = sig({
  op: 'concat',
  since: 'iOS15',
  doc: 'join values along axis; interleave alternates slices (mil-ops.md §6)',
  // coremltools declares `values` as a tuple without a dtype domain; all elements share one dtype.
  typeVars: { T: WIDE },
  params: [
    { name: 'values', kind: 'tuple', dtypes: 'T', doc: 'one binding per tensor' },
    reqConst('axis', INT32, { rank: 0 }),
    optConst('interleave', BOOL, mat(false, 'bool'), { rank: 0 }),
  ],
  infer: (a) => [concatType(a)],
  evaluate: (a) => {
    const vs = a.constValues('values');
    if (vs.length === 0 || vs.some((v) => !v)) return [];
    const t = concatType(a);
    const axis = requiredScalarOf(a, 'axis');
    return [concatTensors(vs as Tensor[], axis < 0 ? axis + t.shape.length : axis, constBoolOf(a, 'interleave') ?? false)];
  },
});

const SPLIT: OpSignature = sig({
  op: 'split',
  since: 'iOS15',
  outputs: 'variadic',
  doc: 'split x along axis into num_splits equal parts or split_sizes parts (mil-ops.md §6)',
  typeVars: { T: FLOAT_INT32_BOOL },
  params: [
    req('x', 'T'),
    { name: 'num_splits', dtypes: INT32, const: true, optional: true, rank: 0 },
    { name: 'split_sizes', dtypes: INT32, const: true, optional: true, rank: 1 },
    reqConst('axis', INT32, { rank: 0 }),
  ],
  infer: (a) => splitTypes(a),
  evaluate: (a) => {
    const c = consts(a, 'x');
    if (!c) return [];
    const outs = splitTypes(a);
    const x = c[0];
    const axis = requiredScalarOf(a, 'axis');
    const ax = axis < 0 ? axis + x.rank : axis;
    let start = 0;
    return outs.map((o) => {
      const shape = staticShape(a, o.shape);
      const plan = x.shape.map((d, i) => ({ first: i === ax ? start : 0, step: 1, count: shape[i] }));
      start += shape[ax];
      return takeElements(x, shape, stridedIndex(x.shape, plan));
    });
  },
});

// ---------------------------------------------------------------------------------------
// reshape, transpose, expand_dims, squeeze

const reshape = (since: 'iOS15' | 'iOS17'): OpSignature =>
  sig({
    op: 'reshape',
    since,
    doc: 'same elements, new shape; -1 inferred, 0 copies the input dim (mil-ops.md §6)',
    typeVars: since === 'iOS15' ? { T: FLOAT_INT32_BOOL, U: INT32 } : { T: WIDE, U: INDEX_IOS17 },
    params: [req('x', 'T'), req('shape', 'U', { rank: 1, doc: '[K], may be a runtime value' })],
    infer: (a) => [same(a.tensor('x'), reshapeShape(a, since === 'iOS17'))],
    evaluate: (a) => {
      const c = consts(a, 'x', 'shape');
      if (!c) return [];
      return [c[0].reshape(staticShape(a, reshapeShape(a, since === 'iOS17')))];
    },
  });

const transpose = (since: 'iOS15' | 'iOS17'): OpSignature =>
  sig({
    op: 'transpose',
    since,
    doc: 'permute the axes of x (mil-ops.md §6)',
    typeVars: { T: since === 'iOS15' ? FLOAT_INT32_BOOL : WIDE },
    params: [req('x', 'T'), reqConst('perm', INT32, { rank: 1, doc: '[rank(x)]' })],
    infer: (a) => {
      const x = a.tensor('x');
      return [
        same(
          x,
          transposePerm(a).map((p) => x.shape[p]),
        ),
      ];
    },
    evaluate: (a) => {
      const c = consts(a, 'x');
      return c ? [transposeTensor(c[0], transposePerm(a))] : [];
    },
  });

const expandDims = (since: 'iOS15' | 'iOS17'): OpSignature =>
  sig({
    op: 'expand_dims',
    since,
    doc: 'insert size-1 dims at axes (mil-ops.md §6)',
    typeVars: { T: since === 'iOS15' ? FLOAT_INT32_BOOL : WIDE },
    params: [req('x', 'T'), reqConst('axes', INT32, { rank: 1, doc: '[K], positions in the output; negative allowed' })],
    infer: (a) => [same(a.tensor('x'), expandDimsShape(a))],
    evaluate: (a) => {
      const c = consts(a, 'x');
      return c ? [c[0].reshape(staticShape(a, expandDimsShape(a)))] : [];
    },
  });

const squeeze = (since: 'iOS15' | 'iOS17'): OpSignature =>
  sig({
    op: 'squeeze',
    since,
    doc: 'remove size-1 dims (all, or those in axes) (mil-ops.md §6)',
    typeVars: { T: since === 'iOS15' ? FLOAT_INT32_BOOL : WIDE },
    params: [
      req('x', 'T', { rank: [1, Infinity] }),
      { name: 'axes', dtypes: INT32, const: true, optional: true, rank: 1, doc: 'absent ⇒ every size-1 dim' },
    ],
    infer: (a) => [same(a.tensor('x'), squeezeShape(a))],
    evaluate: (a) => {
      const c = consts(a, 'x');
      return c ? [c[0].reshape(staticShape(a, squeezeShape(a)))] : [];
    },
  });

// ---------------------------------------------------------------------------------------
// slice_by_index, slice_by_size

const sliceByIndex = (since: 'iOS15' | 'iOS17'): OpSignature => {
  const mask = (name: string): ParamSpec =>
    optConst(
      name,
      BOOL,
      omit(false, 'bool', (a) =>
        tensorFromValues('bool', [a.tensor('x').shape.length], new Array<boolean>(a.tensor('x').shape.length).fill(false)),
      ),
      {
        rank: 1,
        doc: '[rank(x)], default all false',
      },
    );
  return sig({
    op: 'slice_by_index',
    since,
    doc: 'x[begin:end:stride, …] with masks and squeeze (mil-ops.md §6)',
    typeVars: since === 'iOS15' ? { T: FLOAT_INT32_BOOL, U: INT32 } : { T: WIDE, U: INDEX_IOS17 },
    params: [
      req('x', 'T'),
      req('begin', 'U', { rank: 1, doc: '[rank(x)], may be runtime' }),
      req('end', 'U', { rank: 1, doc: '[rank(x)], may be runtime' }),
      optConst(
        'stride',
        'U',
        omit(1, 'int32', (a) => {
          const r = a.tensor('x').shape.length;
          return tensorFromNumbers(a.tensor('begin').dtype, [r], new Float64Array(r).fill(1));
        }),
        { rank: 1, doc: '[rank(x)], default all 1' },
      ),
      mask('begin_mask'),
      mask('end_mask'),
      mask('squeeze_mask'),
    ],
    infer: (a) => [same(a.tensor('x'), sliceByIndexPlan(a).shape)],
    evaluate: (a) => {
      const c = consts(a, 'x', 'begin', 'end');
      if (!c) return [];
      const plan = sliceByIndexPlan(a);
      const axes = plan.axes.map((ax) => ({ first: ax.first, step: ax.step, count: ax.count as number }));
      return [takeElements(c[0], staticShape(a, plan.shape), stridedIndex(c[0].shape, axes))];
    },
  });
};

const sliceBySize = (since: 'iOS15' | 'iOS17'): OpSignature =>
  sig({
    op: 'slice_by_size',
    since,
    doc: 'x[begin : begin + size] per axis; size -1 ⇒ to the end (mil-ops.md §6)',
    typeVars: since === 'iOS15' ? { T: FLOAT_INT32_BOOL, U: INT32 } : { T: WIDE, U: INDEX_IOS17 },
    params: [req('x', 'T'), req('begin', 'U', { rank: 1, doc: '[rank(x)]' }), req('size', 'U', { rank: 1, doc: '[rank(x)]' })],
    infer: (a) => [same(a.tensor('x'), sliceBySizePlan(a).shape)],
    evaluate: (a) => {
      const c = consts(a, 'x', 'begin', 'size');
      if (!c) return [];
      const plan = sliceBySizePlan(a);
      const shape = staticShape(a, plan.shape);
      const axes = shape.map((count, i) => ({ first: plan.begin![i], step: 1, count }));
      return [takeElements(c[0], shape, stridedIndex(c[0].shape, axes))];
    },
  });

// ---------------------------------------------------------------------------------------
// gather

const GATHER_X_IOS17: readonly DType[] = ['fp16', 'fp32', 'int8', 'uint8', 'int16', 'uint16', 'int32'];

const gather = (since: 'iOS15' | 'iOS16' | 'iOS17'): OpSignature => {
  const indices: readonly DType[] =
    since === 'iOS15' ? INT32 : since === 'iOS16' ? ['int32', 'int16', 'uint16'] : ['int32', 'int16', 'uint16', 'int8', 'uint8'];
  const withBatch = since !== 'iOS15';
  const params: ParamSpec[] = [
    req('x', since === 'iOS17' ? GATHER_X_IOS17 : FLOAT_INT32, { rank: [1, Infinity] }),
    req('indices', indices, { doc: 'may be runtime' }),
    optConst('axis', INT32, mat(0, 'int32'), { rank: 0 }),
  ];
  if (withBatch) params.push(optConst('batch_dims', INT32, mat(0, 'int32'), { rank: 0 }));
  // iOS17 only: validate_indices; negative indices become out of bounds (mil-ops.md §6, §8.9).
  if (since === 'iOS17') params.push(optConst('validate_indices', BOOL, mat(false, 'bool'), { rank: 0 }));
  return sig({
    op: 'gather',
    since,
    doc: 'take x along axis at indices (mil-ops.md §6)',
    params,
    infer: (a) => [same(a.tensor('x'), gatherShape(a, withBatch))],
    evaluate: (a) => {
      const c = consts(a, 'x', 'indices');
      if (!c) return [];
      const [x, ind] = c;
      const { axis, batchDims } = gatherAxes(a, withBatch);
      staticShape(a, gatherShape(a, withBatch));
      const dim = x.shape[axis];
      const idx = ind.toNumbers().map((v, i) => {
        const w = v < 0 && since !== 'iOS17' ? v + dim : v;
        if (w < 0 || w >= dim) {
          a.fail(
            'indices',
            `index ${v} (element ${i}) is out of bounds for axis ${axis} of size ${dim}${
              v < 0 && since === 'iOS17' ? ' (iOS17 gather treats negative indices as out of bounds)' : ''
            }`,
          );
        }
        return w;
      });
      return [gatherTensor(x, idx, ind.shape, axis, batchDims)];
    },
  });
};

// ---------------------------------------------------------------------------------------
// cast, fill, range_1d, band_part, select, tile

const cast = (since: 'iOS15' | 'iOS17'): OpSignature => {
  const to = since === 'iOS15' ? CAST_DTYPES_IOS15 : CAST_DTYPES_IOS17;
  return sig({
    op: 'cast',
    since,
    doc: 'x converted to dtype (mil-ops.md §6)',
    params: [req('x', since === 'iOS15' ? FLOAT_INT32_BOOL : WIDE), reqConst('dtype', STRING, { rank: 0, doc: to.join(' | ') })],
    infer: (a) => [tensorType(castTarget(a, to), a.tensor('x').shape)],
    evaluate: (a) => {
      const c = consts(a, 'x');
      if (!c) return [];
      const d = castTarget(a, to);
      return [c[0].dtype === d ? c[0] : tensorFromNumbers(d, c[0].shape, numbersOf(c[0]))];
    },
  });
};

const FILL: OpSignature = sig({
  op: 'fill',
  since: 'iOS15',
  doc: 'a tensor of shape filled with value (mil-ops.md §6)',
  params: [
    req('shape', INT32, { rank: 1, doc: '[K], may be runtime' }),
    optConst('value', FLOAT_INT32_BOOL, mat(0, 'fp32'), { rank: 0 }),
  ],
  infer: (a) => [tensorType(a.has('value') ? a.tensor('value').dtype : 'fp32', fillShape(a))],
  evaluate: (a) => {
    const v = a.constOrDefault('value');
    if (!v || !a.constValue('shape')) return [];
    const shape = staticShape(a, fillShape(a));
    return [takeElements(v, shape, new Int32Array(shape.reduce((p, d) => p * d, 1)))];
  },
});

const RANGE_1D: OpSignature = sig({
  op: 'range_1d',
  since: 'iOS15',
  doc: '[start, start + step, …) up to end, exclusive (mil-ops.md §6)',
  typeVars: { T: FLOAT_INT32 },
  params: [req('end', 'T', { rank: 0 }), req('start', 'T', { rank: 0 }), req('step', 'T', { rank: 0 })],
  infer: (a) => [tensorType(a.tensor('start').dtype, rangeShape(a))],
  evaluate: (a) => {
    const end = knownScalarOf(a, 'end');
    const start = knownScalarOf(a, 'start');
    const step = knownScalarOf(a, 'step');
    if (end === undefined || start === undefined || step === undefined) return [];
    const n = rangeLength(a, end, start, step);
    return [
      tensorFromNumbers(
        a.tensor('start').dtype,
        [n],
        Float64Array.from({ length: n }, (_, i) => start + i * step),
      ),
    ];
  },
});

const BAND_PART: OpSignature = sig({
  op: 'band_part',
  since: 'iOS15',
  doc: 'keep x[…, m, n] inside the band lower/upper, zero elsewhere (mil-ops.md §6)',
  typeVars: { T: FLOAT_INT32_BOOL },
  params: [
    req('x', 'T', { rank: [2, Infinity], doc: '[*, M, N]' }),
    optConst('lower', INT32, mat(-1, 'int32'), { rank: 0, doc: 'sub-diagonals kept; < 0 keeps all' }),
    optConst('upper', INT32, mat(-1, 'int32'), { rank: 0, doc: 'super-diagonals kept; < 0 keeps all' }),
  ],
  infer: (a) => {
    for (const p of ['lower', 'upper']) constScalarOf(a, p); // bound values must be known scalars
    return [same(a.tensor('x'))];
  },
});

const SELECT: OpSignature = sig({
  op: 'select',
  since: 'iOS15',
  doc: 'cond ? a : b with broadcasting (mil-ops.md §6)',
  typeVars: { T: FLOAT_INT32_BOOL },
  params: [req('cond', BOOL), req('a', 'T'), req('b', 'T')],
  infer: (a) => {
    if (a.tensor('a').dtype !== a.tensor('b').dtype)
      a.fail('b', `dtype ${a.tensor('b').dtype} must equal a's dtype ${a.tensor('a').dtype}`);
    return [tensorType(a.tensor('a').dtype, broadcastOperands(a, ['cond', 'a', 'b']))];
  },
  evaluate: (a) => {
    const c = consts(a, 'cond', 'a', 'b');
    if (!c) return [];
    return [selectFold(c[0], c[1], c[2], staticShape(a, broadcastOperands(a, ['cond', 'a', 'b'])))];
  },
});

const TILE: OpSignature = sig({
  op: 'tile',
  since: 'iOS15',
  doc: 'repeat dim i of x reps[i] times (mil-ops.md §6)',
  typeVars: { T: FLOAT_INT32_BOOL },
  params: [req('x', 'T'), req('reps', INT32, { rank: 1, doc: '[rank(x)], may be runtime' })],
  infer: (a) => [same(a.tensor('x'), tileShape(a))],
  evaluate: (a) => {
    const c = consts(a, 'x', 'reps');
    if (!c) return [];
    staticShape(a, tileShape(a));
    return [tileTensor(c[0], c[1].toNumbers())];
  },
});

export const CORE_OPS: readonly OpSignature[] = [
  CONST,
  LINEAR_IOS15,
  LINEAR_IOS17,
  MATMUL_IOS15,
  MATMUL_IOS17,
  SOFTMAX,
  ...ARITH,
  ...UNARY,
  ...REDUCTIONS,
  ...NORMS,
  conv('iOS15'),
  conv('iOS17'),
  CONCAT,
  SPLIT,
  reshape('iOS15'),
  reshape('iOS17'),
  transpose('iOS15'),
  transpose('iOS17'),
  expandDims('iOS15'),
  expandDims('iOS17'),
  squeeze('iOS15'),
  squeeze('iOS17'),
  sliceByIndex('iOS15'),
  sliceByIndex('iOS17'),
  sliceBySize('iOS15'),
  sliceBySize('iOS17'),
  gather('iOS15'),
  gather('iOS16'),
  gather('iOS17'),
  cast('iOS15'),
  cast('iOS17'),
  FILL,
  RANGE_1D,
  BAND_PART,
  SELECT,
  TILE,
];
