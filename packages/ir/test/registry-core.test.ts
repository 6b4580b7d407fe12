/**
 * Signatures of mil-ops.md §5–6 (registry/ops-core.ts): for every signature (op × version)
 * a valid case with the exact inferred type and a rejected case naming the param and the
 * reason; shape-rule edge cases; constant evaluation; the registry against the doc.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  type DType,
  DenseTensor,
  type Dim,
  FileTensor,
  Function,
  Op,
  OpTypeError,
  Program,
  type Target,
  type Tensor,
  type Value,
  constValueOf,
  formatType,
  getSignature,
  opArgs,
  registeredOps,
  scalar,
  signaturesOf,
  stringTensor,
  tensorFromValues,
  tensorType,
  typeCheckOp,
  zeros,
} from '../src/index.js';
import { concatTensors, transposeTensor } from '../src/registry/fold.js';
import { CORE_OPS } from '../src/registry/ops-core.js';
import { type Operands, buildOp, checkOp, evalOp } from './helpers/sig-test.js';

// ---------------------------------------------------------------------------------------
// Operand shorthands: `rt` = runtime function input (a type), the rest are const tensors.

const rt = (dtype: DType, ...shape: Dim[]) => tensorType(dtype, shape);
const c = (dtype: DType, shape: number[], values?: number[] | boolean[]): Tensor =>
  values ? tensorFromValues(dtype, shape, values) : zeros(dtype, shape);
const i32 = (...v: number[]) => tensorFromValues('int32', [v.length], v);
const si = (v: number) => scalar('int32', v);
const sb = (v: boolean) => scalar('bool', v);
const ss = (v: string) => scalar('string', v);
const bools = (...v: boolean[]) => tensorFromValues('bool', [v.length], v);

const VALID = new Set<string>();
const INVALID = new Set<string>();
const mark = (set: Set<string>, op: string, target: Target): void => {
  const s = getSignature(op, target);
  if (!s) throw new Error(`no signature of ${op} at ${target}`);
  set.add(`${op}@${s.since}`);
};

/** The op type-checks at `target` with exactly the `expected` output types. */
function ok(target: Target, op: string, operands: Operands, expected: string[]): void {
  const types = checkOp(target, op, operands);
  expect(types.map(formatType)).toEqual(expected);
  mark(VALID, op, target);
}

/** The op is rejected with an OpTypeError naming `param` and matching `reason`. */
function bad(target: Target, op: string, operands: Operands, param: string | null, reason: RegExp): void {
  let err: unknown;
  try {
    checkOp(target, op, operands);
  } catch (e) {
    err = e;
  }
  expect(err, `${op}@${target} should be rejected`).toBeInstanceOf(OpTypeError);
  const e = err as OpTypeError;
  expect(e.opType).toBe(op);
  expect(e.param).toBe(param);
  expect(e.message).toMatch(reason);
  mark(INVALID, op, target);
}

const NOT_ALLOWED = /is not allowed by the/;
const NOT_CONST = /must be a compile-time constant/;

// ---------------------------------------------------------------------------------------

describe('const', () => {
  it('has no params, one output, and an infer that refuses (the verifier types it from "val")', () => {
    const s = getSignature('const', 'iOS15')!;
    expect(s.params).toEqual([]);
    expect(s.outputs).toBe(1);
    bad('iOS15', 'const', {}, null, /type of its "val" attribute/);
  });
});

describe('linear (§5.1)', () => {
  it('iOS15: [*D, D_in]·[D_out, D_in]ᵀ + bias', () => {
    ok('iOS15', 'linear', { x: rt('fp16', 2, 5, 8), weight: c('fp16', [4, 8]), bias: c('fp16', [4]) }, ['fp16[2, 5, 4]']);
    ok('iOS15', 'linear', { x: rt('fp32', 8), weight: c('fp32', [3, 8]) }, ['fp32[3]']);
    ok('iOS15', 'linear', { x: rt('fp16', 'B', 8), weight: c('fp16', [4, 8]) }, ['fp16[B, 4]']);
  });
  it('iOS15: rejects a runtime weight, D_in mismatch, bad bias, mixed dtypes, rank 4', () => {
    bad('iOS15', 'linear', { x: rt('fp16', 2, 8), weight: rt('fp16', 4, 8) }, 'weight', NOT_CONST);
    bad('iOS15', 'linear', { x: rt('fp16', 2, 8), weight: c('fp16', [4, 7]) }, 'weight', /D_in = 7.*last dim 8/);
    bad(
      'iOS15',
      'linear',
      { x: rt('fp16', 2, 8), weight: c('fp16', [4, 8]), bias: c('fp16', [5]) },
      'bias',
      /must be \[D_out\] = \[4\]/,
    );
    bad(
      'iOS15',
      'linear',
      { x: rt('fp32', 2, 8), weight: c('fp16', [4, 8]) },
      'weight',
      /dtype fp16 must equal the other T-typed inputs \(fp32\)/,
    );
    bad(
      'iOS15',
      'linear',
      { x: rt('fp16', 1, 2, 3, 8), weight: c('fp16', [4, 8]) },
      'x',
      /rank 4 is not allowed \(expected rank 1\.\.3\)/,
    );
  });
  it('iOS17: weight/bias may use another dtype; output keeps x dtype', () => {
    ok('iOS17', 'linear', { x: rt('fp32', 3, 8), weight: c('fp16', [4, 8]), bias: c('fp16', [4]) }, ['fp32[3, 4]']);
    bad(
      'iOS17',
      'linear',
      { x: rt('fp32', 3, 8), weight: c('fp16', [4, 8]), bias: c('fp32', [4]) },
      'bias',
      /must equal the other U-typed inputs \(fp16\)/,
    );
    bad('iOS17', 'linear', { x: rt('fp32', 3, 8), weight: c('int8', [4, 8]) }, 'weight', NOT_ALLOWED);
  });
});

describe('matmul (§5.2)', () => {
  it('iOS15: batch broadcasting, transposes, rank-1 promotion', () => {
    ok('iOS15', 'matmul', { x: rt('fp32', 2, 3, 4), y: rt('fp32', 4, 5) }, ['fp32[2, 3, 5]']);
    ok('iOS15', 'matmul', { x: rt('fp32', 4, 3), y: rt('fp32', 5, 4), transpose_x: sb(true), transpose_y: sb(true) }, [
      'fp32[3, 5]',
    ]);
    ok('iOS15', 'matmul', { x: rt('fp16', 2, 1, 3, 4), y: rt('fp16', 5, 4, 6) }, ['fp16[2, 5, 3, 6]']);
    ok('iOS15', 'matmul', { x: rt('fp16', 4), y: rt('fp16', 2, 4, 5) }, ['fp16[2, 5]']);
    ok('iOS15', 'matmul', { x: rt('fp16', 3, 4), y: rt('fp16', 4) }, ['fp16[3]']);
    ok('iOS15', 'matmul', { x: rt('int32', 4), y: rt('int32', 4) }, ['int32[]']);
    ok('iOS15', 'matmul', { x: rt('fp16', 'B', 8, 'S', 64), y: rt('fp16', 'B', 8, 'T', 64), transpose_y: sb(true) }, [
      'fp16[B, 8, S, T]',
    ]);
  });
  it('iOS15: rejects transpose of rank-1, inner-dim mismatch, mixed dtypes, batch mismatch', () => {
    bad(
      'iOS15',
      'matmul',
      { x: rt('fp32', 4), y: rt('fp32', 4, 5), transpose_x: sb(true) },
      'transpose_x',
      /must be false when x has rank 1/,
    );
    bad(
      'iOS15',
      'matmul',
      { x: rt('fp32', 3, 4), y: rt('fp32', 5), transpose_y: sb(true) },
      'transpose_y',
      /must be false when y has rank 1/,
    );
    bad('iOS15', 'matmul', { x: rt('fp32', 3, 4), y: rt('fp32', 5, 6) }, 'y', /inner dimension 5 of y \[5, 6\] does not match 4/);
    bad(
      'iOS15',
      'matmul',
      { x: rt('fp32', 3, 4), y: rt('fp32', 4, 5), transpose_y: sb(true) },
      'y',
      /inner dimension 5 of y \[4, 5\] \(transposed\)/,
    );
    bad('iOS15', 'matmul', { x: rt('fp32', 3, 4), y: rt('fp16', 4, 5) }, 'y', /must equal the other T-typed inputs/);
    bad(
      'iOS15',
      'matmul',
      { x: rt('fp32', 2, 3, 4), y: rt('fp32', 3, 4, 5) },
      'y',
      /batch dims \[3\] do not broadcast with the batch dims \[2\]/,
    );
    bad('iOS15', 'matmul', { x: rt('fp32', 3, 4), y: rt('fp32', 4, 5), transpose_x: rt('bool') }, 'transpose_x', NOT_CONST);
  });
  it('iOS17: x and y may differ when exactly one is const; the output takes the non-const dtype', () => {
    ok('iOS17', 'matmul', { x: rt('fp16', 2, 8), y: c('fp32', [8, 3]) }, ['fp16[2, 3]']);
    ok('iOS17', 'matmul', { x: c('fp32', [2, 8]), y: rt('fp16', 8, 3) }, ['fp16[2, 3]']);
    ok('iOS17', 'matmul', { x: rt('fp32', 2, 8), y: rt('fp32', 8, 3) }, ['fp32[2, 3]']);
    bad(
      'iOS17',
      'matmul',
      { x: rt('fp16', 2, 8), y: rt('fp32', 8, 3) },
      'y',
      /exactly one of x, y to be const \(both are non-const\)/,
    );
    bad('iOS17', 'matmul', { x: c('fp16', [2, 8]), y: c('fp32', [8, 3]) }, 'y', /both are const/);
  });
});

describe('softmax (§5.3)', () => {
  it('same type; axis default -1 or given', () => {
    ok('iOS15', 'softmax', { x: rt('fp16', 2, 3) }, ['fp16[2, 3]']);
    ok('iOS15', 'softmax', { x: rt('fp32', 2, 3), axis: si(-2) }, ['fp32[2, 3]']);
    bad('iOS15', 'softmax', { x: rt('fp32', 2, 3), axis: si(2) }, 'axis', /axis 2 is out of range for rank 2/);
    bad('iOS15', 'softmax', { x: rt('int32', 2, 3) }, 'x', NOT_ALLOWED);
    bad('iOS15', 'softmax', { x: rt('fp32', 2, 3), axis: rt('int32') }, 'axis', NOT_CONST);
  });
});

describe('elementwise binary ops (§6)', () => {
  const arith = ['add', 'sub', 'mul', 'real_div', 'pow', 'maximum', 'minimum'];
  const compare = ['equal', 'not_equal', 'less', 'less_equal', 'greater', 'greater_equal'];
  const logical = ['logical_and', 'logical_or', 'logical_xor'];
  it.each(arith)('%s: NumPy broadcasting, same dtype out; mixed dtypes / bad shapes rejected', (op) => {
    ok('iOS15', op, { x: rt('fp16', 2, 1, 3), y: rt('fp16', 4, 1) }, ['fp16[2, 4, 3]']);
    ok('iOS15', op, { x: rt('int32', 'B', 1), y: c('int32', [1, 5]) }, ['int32[B, 5]']);
    ok('iOS15', op, { x: rt('fp32'), y: rt('fp32', 3) }, ['fp32[3]']);
    bad('iOS15', op, { x: rt('fp16', 3), y: rt('fp32', 3) }, 'y', /dtype fp32 must equal the other T-typed inputs \(fp16\)/);
    bad(
      'iOS15',
      op,
      { x: rt('fp16', 2, 3), y: rt('fp16', 4) },
      'y',
      /shape \[4\] does not broadcast with \[2, 3\] \(the shape of x\)/,
    );
    bad('iOS15', op, { x: rt('bool', 3), y: rt('bool', 3) }, 'x', NOT_ALLOWED);
  });
  it.each(compare)('%s: outputs bool', (op) => {
    ok('iOS15', op, { x: rt('fp32', 2, 3), y: rt('fp32', 3) }, ['bool[2, 3]']);
    bad('iOS15', op, { x: rt('int32', 3), y: rt('fp32', 3) }, 'y', /must equal the other T-typed inputs/);
  });
  it.each(logical)('%s: bool inputs, bool output', (op) => {
    ok('iOS15', op, { x: rt('bool', 4, 1), y: rt('bool', 3) }, ['bool[4, 3]']);
    bad('iOS15', op, { x: rt('fp16', 3), y: rt('fp16', 3) }, 'x', NOT_ALLOWED);
  });
  it('symbolic dims: a fixed size wins over a symbol, two symbols give a fresh one', () => {
    ok('iOS15', 'add', { x: rt('fp32', 'S', 4), y: rt('fp32', 7, 1) }, ['fp32[7, 4]']);
    ok('iOS15', 'add', { x: rt('fp32', 'S'), y: rt('fp32', 'T') }, ['fp32[op_d0]']);
    ok('iOS15', 'add', { x: rt('fp32', 'S'), y: rt('fp32', 'S') }, ['fp32[S]']);
  });
});

describe('elementwise unary ops (§6)', () => {
  const floatOnly = ['sqrt', 'relu', 'sigmoid', 'silu', 'exp', 'tanh', 'erf', 'floor', 'ceil'];
  it.each(floatOnly)('%s: fp16/fp32 only', (op) => {
    ok('iOS15', op, { x: rt('fp16', 3, 'N') }, ['fp16[3, N]']);
    ok('iOS17', op, { x: rt('fp32') }, ['fp32[]']);
    bad('iOS15', op, { x: rt('int32', 3) }, 'x', NOT_ALLOWED);
  });
  it.each(['abs', 'square'])('%s: also int32', (op) => {
    ok('iOS15', op, { x: rt('int32', 2) }, ['int32[2]']);
    bad('iOS15', op, { x: rt('bool', 2) }, 'x', NOT_ALLOWED);
  });
  it('logical_not: bool only', () => {
    ok('iOS15', 'logical_not', { x: rt('bool', 2) }, ['bool[2]']);
    bad('iOS15', 'logical_not', { x: rt('fp16', 2) }, 'x', NOT_ALLOWED);
  });
  it('identity: any wide dtype', () => {
    ok('iOS15', 'identity', { x: rt('int32', 2) }, ['int32[2]']);
    ok('iOS15', 'identity', { x: rt('uint8', 4) }, ['uint8[4]']);
    bad('iOS15', 'identity', { x: rt('int64', 2) }, 'x', NOT_ALLOWED);
  });
  it.each(['rsqrt', 'log'])('%s: iOS15 epsilon is const T; iOS17 epsilon may be another float dtype', (op) => {
    ok('iOS15', op, { x: rt('fp16', 2), epsilon: scalar('fp16', 1e-3) }, ['fp16[2]']);
    ok('iOS15', op, { x: rt('fp32', 2) }, ['fp32[2]']);
    bad(
      'iOS15',
      op,
      { x: rt('fp16', 2), epsilon: scalar('fp32', 1e-3) },
      'epsilon',
      /must equal the other T-typed inputs \(fp16\)/,
    );
    bad('iOS15', op, { x: rt('fp16', 2), epsilon: rt('fp16') }, 'epsilon', NOT_CONST);
    ok('iOS17', op, { x: rt('fp16', 2), epsilon: scalar('fp32', 1e-3) }, ['fp16[2]']);
    bad('iOS17', op, { x: rt('fp16', 2), epsilon: si(1) }, 'epsilon', NOT_ALLOWED);
    bad('iOS17', op, { x: rt('fp16', 2), epsilon: c('fp32', [2]) }, 'epsilon', /rank 1 is not allowed \(expected rank 0\)/);
  });
  it('gelu: mode must be one of the three', () => {
    ok('iOS15', 'gelu', { x: rt('fp16', 4) }, ['fp16[4]']);
    ok('iOS15', 'gelu', { x: rt('fp16', 4), mode: ss('TANH_APPROXIMATION') }, ['fp16[4]']);
    bad(
      'iOS15',
      'gelu',
      { x: rt('fp16', 4), mode: ss('FAST') },
      'mode',
      /"FAST" is not one of "EXACT", "TANH_APPROXIMATION", "SIGMOID_APPROXIMATION"/,
    );
    bad('iOS15', 'gelu', { x: rt('fp16', 4), mode: si(1) }, 'mode', NOT_ALLOWED);
  });
});

describe('reductions (§6)', () => {
  it.each(['reduce_mean', 'reduce_sum', 'reduce_max', 'reduce_min', 'reduce_prod'])('%s: axes / keep_dims / all axes', (op) => {
    ok('iOS15', op, { x: rt('fp32', 2, 3, 4), axes: i32(-1) }, ['fp32[2, 3]']);
    ok('iOS15', op, { x: rt('fp32', 2, 3, 4), axes: i32(0, 2), keep_dims: sb(true) }, ['fp32[1, 3, 1]']);
    ok('iOS15', op, { x: rt('int32', 2, 3) }, ['int32[]']);
    ok('iOS15', op, { x: rt('fp16', 2, 3), keep_dims: sb(true) }, ['fp16[1, 1]']);
    bad('iOS15', op, { x: rt('fp32', 2, 3, 4), axes: i32(3) }, 'axes', /axis 3 is out of range for rank 3/);
    bad('iOS15', op, { x: rt('fp32', 2, 3, 4), axes: i32(1, -2) }, 'axes', /names axis 1 more than once/);
    bad('iOS15', op, { x: rt('fp32', 2, 3), keep_dims: rt('bool') }, 'keep_dims', NOT_CONST);
    bad('iOS15', op, { x: rt('bool', 2) }, 'x', NOT_ALLOWED);
  });
});

describe('layer_norm / batch_norm (§6)', () => {
  it('layer_norm iOS15: gamma/beta shaped like x.shape[axes], same dtype', () => {
    ok(
      'iOS15',
      'layer_norm',
      { x: rt('fp16', 2, 5, 8), axes: i32(-1), gamma: c('fp16', [8]), beta: c('fp16', [8]), epsilon: scalar('fp16', 1e-5) },
      ['fp16[2, 5, 8]'],
    );
    ok('iOS15', 'layer_norm', { x: rt('fp32', 2, 5, 8), axes: i32(2, 1), gamma: c('fp32', [5, 8]) }, ['fp32[2, 5, 8]']);
    ok('iOS15', 'layer_norm', { x: rt('fp32', 3, 4), gamma: c('fp32', [3, 4]) }, ['fp32[3, 4]']);
    bad(
      'iOS15',
      'layer_norm',
      { x: rt('fp16', 2, 5, 8), axes: i32(-1), gamma: c('fp16', [5]) },
      'gamma',
      /shape \[5\] must be \[8\]/,
    );
    bad(
      'iOS15',
      'layer_norm',
      { x: rt('fp16', 2, 8), axes: i32(-1), gamma: c('fp32', [8]) },
      'gamma',
      /must equal the other T-typed inputs/,
    );
    bad('iOS15', 'layer_norm', { x: rt('fp16', 2, 8), axes: i32(2) }, 'axes', /out of range for rank 2/);
  });
  it('layer_norm iOS17: gamma/beta/epsilon may use another float dtype', () => {
    ok(
      'iOS17',
      'layer_norm',
      { x: rt('fp16', 2, 8), axes: i32(-1), gamma: c('fp32', [8]), beta: c('fp32', [8]), epsilon: scalar('fp32', 1e-5) },
      ['fp16[2, 8]'],
    );
    bad('iOS17', 'layer_norm', { x: rt('fp16', 2, 8), axes: i32(-1), gamma: rt('fp32', 8) }, 'gamma', NOT_CONST);
  });
  it('batch_norm iOS15: x [N, C, *D] rank 3–5, params [C]', () => {
    ok(
      'iOS15',
      'batch_norm',
      {
        x: rt('fp32', 1, 3, 4, 4),
        mean: c('fp32', [3]),
        variance: c('fp32', [3]),
        gamma: c('fp32', [3]),
        epsilon: scalar('fp32', 1e-3),
      },
      ['fp32[1, 3, 4, 4]'],
    );
    bad(
      'iOS15',
      'batch_norm',
      { x: rt('fp32', 1, 3, 4, 4), mean: c('fp32', [4]), variance: c('fp32', [3]) },
      'mean',
      /shape \[4\] must be \[3\]/,
    );
    bad(
      'iOS15',
      'batch_norm',
      { x: rt('fp32', 1, 3), mean: c('fp32', [3]), variance: c('fp32', [3]) },
      'x',
      /rank 2 is not allowed \(expected rank 3\.\.5\)/,
    );
    bad(
      'iOS15',
      'batch_norm',
      { x: rt('fp32', 1, 3, 4), mean: c('fp16', [3]), variance: c('fp16', [3]) },
      'mean',
      /must equal the other T-typed inputs/,
    );
  });
  it('batch_norm iOS17: params may use another float dtype', () => {
    ok('iOS17', 'batch_norm', { x: rt('fp32', 2, 3, 5), mean: c('fp16', [3]), variance: c('fp16', [3]), beta: c('fp16', [3]) }, [
      'fp32[2, 3, 5]',
    ]);
    bad('iOS17', 'batch_norm', { x: rt('fp32', 2, 3, 5), mean: rt('fp16', 3), variance: c('fp16', [3]) }, 'mean', NOT_CONST);
  });
});

describe('conv (§6)', () => {
  const w = c('fp32', [8, 3, 3, 3]);
  it('valid padding, strides and dilations', () => {
    ok('iOS15', 'conv', { x: rt('fp32', 1, 3, 32, 32), weight: w }, ['fp32[1, 8, 30, 30]']);
    ok('iOS15', 'conv', { x: rt('fp32', 1, 3, 15, 15), weight: w, strides: i32(2, 2), dilations: i32(2, 2) }, [
      'fp32[1, 8, 6, 6]',
    ]);
  });
  it('same padding with stride 2 and dilation: ceil(d / stride)', () => {
    ok(
      'iOS15',
      'conv',
      { x: rt('fp32', 1, 3, 15, 15), weight: w, pad_type: ss('same'), strides: i32(2, 2), dilations: i32(2, 2) },
      ['fp32[1, 8, 8, 8]'],
    );
    ok('iOS15', 'conv', { x: rt('fp32', 1, 3, 10, 11), weight: w, pad_type: ss('same_lower'), strides: i32(3, 1) }, [
      'fp32[1, 8, 4, 11]',
    ]);
  });
  it('custom pads, groups, 1-D and 3-D, symbolic spatial dims', () => {
    ok(
      'iOS15',
      'conv',
      { x: rt('fp32', 1, 3, 10, 10), weight: w, pad_type: ss('custom'), pad: i32(1, 2, 0, 0), strides: i32(2, 1) },
      ['fp32[1, 8, 6, 8]'],
    );
    ok('iOS15', 'conv', { x: rt('fp16', 1, 4, 10), weight: c('fp16', [6, 2, 3]), groups: si(2) }, ['fp16[1, 6, 8]']);
    ok('iOS15', 'conv', { x: rt('fp32', 2, 2, 4, 5, 6), weight: c('fp32', [3, 2, 2, 2, 2]) }, ['fp32[2, 3, 3, 4, 5]']);
    ok('iOS15', 'conv', { x: rt('fp32', 'N', 3, 'H', 'W'), weight: w, pad_type: ss('same') }, ['fp32[N, 8, H, W]']);
    ok('iOS15', 'conv', { x: rt('fp32', 1, 3, 'H', 'W'), weight: w }, ['fp32[1, 8, op_d2, op_d3]']);
    ok('iOS15', 'conv', { x: rt('fp32', 1, 3, 'H', 8), weight: w, pad_type: ss('custom'), pad: i32(1, 1, 1, 1) }, [
      'fp32[1, 8, H, 8]',
    ]);
    ok('iOS15', 'conv', { x: rt('fp32', 1, 3, 8, 8), weight: rt('fp32', 8, 3, 3, 3) }, ['fp32[1, 8, 6, 6]']);
  });
  it('iOS15 rejections', () => {
    const x = rt('fp32', 1, 3, 8, 8);
    bad(
      'iOS15',
      'conv',
      { x, weight: rt('fp32', 8, 3, 3, 3), dilations: i32(2, 2) },
      'weight',
      /must be a compile-time constant when dilations ≠ 1/,
    );
    bad('iOS15', 'conv', { x, weight: w, bias: rt('fp32', 8) }, 'bias', NOT_CONST);
    bad('iOS15', 'conv', { x, weight: c('fp32', [8, 4, 3, 3]) }, 'weight', /4 input channels per group.*C_in = 4, got 3/);
    bad(
      'iOS15',
      'conv',
      { x, weight: w, pad_type: ss('full') },
      'pad_type',
      /"full" is not one of "valid", "same", "same_lower", "custom"/,
    );
    bad('iOS15', 'conv', { x, weight: w, strides: i32(1, 1, 1) }, 'strides', /has 3 entries, expected 2/);
    bad('iOS15', 'conv', { x, weight: w, strides: i32(0, 1) }, 'strides', /integers ≥ 1, got 0/);
    bad('iOS15', 'conv', { x, weight: w, pad_type: ss('custom'), pad: i32(1, 1) }, 'pad', /has 2 entries, expected 4/);
    bad('iOS15', 'conv', { x: rt('fp32', 1, 3, 2, 8), weight: w }, 'x', /smaller than the dilated kernel extent 3/);
    bad('iOS15', 'conv', { x, weight: w, groups: si(3) }, 'weight', /with groups = 3/);
    bad('iOS15', 'conv', { x, weight: c('fp32', [8, 3, 3]) }, 'weight', /rank 4 like x/);
    bad('iOS15', 'conv', { x, weight: w, bias: c('fp32', [4]) }, 'bias', /must be \[C_out\] = \[8\]/);
  });
  it('iOS17: weight/bias dtype may differ; bias may be runtime', () => {
    ok('iOS17', 'conv', { x: rt('fp32', 1, 3, 8, 8), weight: c('fp16', [8, 3, 3, 3]), bias: rt('fp16', 8) }, [
      'fp32[1, 8, 6, 6]',
    ]);
    bad(
      'iOS17',
      'conv',
      { x: rt('fp32', 1, 3, 8, 8), weight: c('fp16', [8, 3, 3, 3]), bias: c('fp32', [8]) },
      'bias',
      /must equal the other U-typed inputs/,
    );
  });
});

describe('concat / split (§6)', () => {
  it('concat: join along axis, interleave, symbolic', () => {
    ok('iOS15', 'concat', { values: [rt('fp16', 2, 3), rt('fp16', 2, 5)], axis: si(1) }, ['fp16[2, 8]']);
    ok('iOS15', 'concat', { values: [rt('fp16', 2, 3), c('fp16', [2, 5]), rt('fp16', 2, 1)], axis: si(-1) }, ['fp16[2, 9]']);
    ok('iOS15', 'concat', { values: [rt('fp32', 2, 3), rt('fp32', 2, 3)], axis: si(0), interleave: sb(true) }, ['fp32[4, 3]']);
    ok('iOS15', 'concat', { values: [rt('fp32', 'B', 'S', 4), rt('fp32', 'B', 1, 4)], axis: si(1) }, ['fp32[B, op_d1, 4]']);
    ok('iOS17', 'concat', { values: [rt('int8', 2), rt('int8', 3)], axis: si(0) }, ['int8[5]']);
  });
  it('concat: rejections', () => {
    bad(
      'iOS15',
      'concat',
      { values: [rt('fp16', 2, 3), rt('fp16', 3, 3)], axis: si(1) },
      'values',
      /element 1 \[3, 3\] differs from \[2, 3\] at axis 0/,
    );
    bad(
      'iOS15',
      'concat',
      { values: [rt('fp16', 2, 3), rt('fp16', 2, 4)], axis: si(1), interleave: sb(true) },
      'values',
      /interleave needs equal shapes/,
    );
    bad(
      'iOS15',
      'concat',
      { values: [rt('fp16', 2, 3), rt('fp16', 2, 3)], axis: si(2) },
      'axis',
      /axis 2 is out of range for rank 2/,
    );
    bad(
      'iOS15',
      'concat',
      { values: [rt('fp16', 2), rt('fp32', 2)], axis: si(0) },
      'values',
      /element 1\) must equal the other T-typed inputs/,
    );
    bad('iOS15', 'concat', { values: [rt('fp16', 2), rt('fp16', 2)], axis: rt('int32') }, 'axis', NOT_CONST);
  });
  it('split: variadic outputs from num_splits or split_sizes', () => {
    ok('iOS15', 'split', { x: rt('fp16', 6, 4), num_splits: si(3), axis: si(0) }, ['fp16[2, 4]', 'fp16[2, 4]', 'fp16[2, 4]']);
    ok('iOS15', 'split', { x: rt('fp16', 6, 4), split_sizes: i32(1, 3), axis: si(-1) }, ['fp16[6, 1]', 'fp16[6, 3]']);
    ok('iOS15', 'split', { x: rt('int32', 'S', 4), num_splits: si(2), axis: si(0) }, ['int32[op_d0, 4]', 'int32[op_d0, 4]']);
    ok('iOS15', 'split', { x: rt('bool', 'S'), split_sizes: i32(2, 5), num_splits: si(2), axis: si(0) }, ['bool[2]', 'bool[5]']);
  });
  it('split: rejections', () => {
    bad(
      'iOS15',
      'split',
      { x: rt('fp16', 6, 4), num_splits: si(4), axis: si(0) },
      'num_splits',
      /4 does not divide axis 0 .* \(size 6\)/,
    );
    bad(
      'iOS15',
      'split',
      { x: rt('fp16', 6, 4), split_sizes: i32(1, 2), axis: si(1) },
      'split_sizes',
      /\[1, 2\] sums to 3, but axis 1 .* has size 4/,
    );
    bad('iOS15', 'split', { x: rt('fp16', 6, 4), axis: si(1) }, 'num_splits', /either num_splits or split_sizes must be given/);
    bad(
      'iOS15',
      'split',
      { x: rt('fp16', 6, 4), split_sizes: i32(2, 2), num_splits: si(3), axis: si(1) },
      'split_sizes',
      /has 2 entries but num_splits is 3/,
    );
    bad('iOS15', 'split', { x: rt('fp16', 6, 4), num_splits: si(2) }, 'axis', /is required but missing/);
  });
});

describe('reshape (§6)', () => {
  it('iOS15: -1 and 0 (0 needs len(shape) = rank(x)), runtime shape', () => {
    ok('iOS15', 'reshape', { x: rt('fp16', 2, 3, 4), shape: i32(0, -1, 1) }, ['fp16[2, 12, 1]']);
    ok('iOS15', 'reshape', { x: rt('fp16', 2, 3, 4), shape: i32(-1) }, ['fp16[24]']);
    ok('iOS15', 'reshape', { x: rt('bool', 2, 3, 4), shape: i32(6, -1) }, ['bool[6, 4]']);
    ok('iOS15', 'reshape', { x: rt('fp16', 'B', 12, 64), shape: i32(0, -1, 1) }, ['fp16[B, 768, 1]']);
    ok('iOS15', 'reshape', { x: rt('fp16', 'B', 12, 64), shape: i32(-1, 64) }, ['fp16[op_d0, 64]']);
    ok('iOS15', 'reshape', { x: rt('fp16', 2, 3), shape: rt('int32', 3) }, ['fp16[op_d0, op_d1, op_d2]']);
    ok('iOS15', 'reshape', { x: rt('fp32', 1, 1), shape: c('int32', [0], []) }, ['fp32[]']);
  });
  it('iOS15: rejections', () => {
    bad(
      'iOS15',
      'reshape',
      { x: rt('fp16', 2, 3, 4), shape: i32(5, 5) },
      'shape',
      /\[5, 5\] has 25 elements, but x \[2, 3, 4\] has 24/,
    );
    bad('iOS15', 'reshape', { x: rt('fp16', 2, 3, 4), shape: i32(-1, -1) }, 'shape', /has 2 entries of -1/);
    bad('iOS15', 'reshape', { x: rt('fp16', 2, 3, 4), shape: i32(0, -1) }, 'shape', /needs len\(shape\) = rank\(x\) = 3/);
    bad('iOS15', 'reshape', { x: rt('fp16', 2, 3, 4), shape: i32(5, -1) }, 'shape', /cannot hold the 24 elements/);
    bad('iOS15', 'reshape', { x: rt('int8', 4), shape: i32(2, 2) }, 'x', NOT_ALLOWED);
    bad('iOS15', 'reshape', { x: rt('fp16', 4), shape: c('int16', [2], [2, 2]) }, 'shape', NOT_ALLOWED);
    bad('iOS15', 'reshape', { x: rt('fp16', 4), shape: rt('int32', 'K') }, 'shape', /must have a static length/);
  });
  it('iOS17: right-aligned 0s, wide x, int8/int16 shape', () => {
    ok('iOS17', 'reshape', { x: rt('fp16', 2, 50), shape: i32(1, 0, -1, 0) }, ['fp16[1, 1, 2, 50]']);
    ok('iOS17', 'reshape', { x: rt('fp16', 2, 3, 4), shape: i32(0, -1) }, ['fp16[3, 8]']);
    ok('iOS17', 'reshape', { x: rt('int8', 4), shape: c('int16', [2], [2, 2]) }, ['int8[2, 2]']);
    bad('iOS17', 'reshape', { x: rt('int8', 4), shape: c('uint8', [2], [2, 2]) }, 'shape', NOT_ALLOWED);
    bad('iOS17', 'reshape', { x: rt('fp16', 2, 3), shape: i32(4, 2) }, 'shape', /has 8 elements, but x \[2, 3\] has 6/);
  });
});

describe('transpose / expand_dims / squeeze (§6)', () => {
  it('transpose: perm validation, negative entries', () => {
    ok('iOS15', 'transpose', { x: rt('fp16', 2, 3, 4), perm: i32(2, 0, 1) }, ['fp16[4, 2, 3]']);
    ok('iOS15', 'transpose', { x: rt('fp16', 'B', 3, 4), perm: i32(-1, 0, 1) }, ['fp16[4, B, 3]']);
    bad(
      'iOS15',
      'transpose',
      { x: rt('fp16', 2, 3, 4), perm: i32(0, 0, 1) },
      'perm',
      /\[0, 0, 1\] is not a permutation of the 3 axes/,
    );
    bad('iOS15', 'transpose', { x: rt('fp16', 2, 3, 4), perm: i32(1, 0) }, 'perm', /has 2 entries, expected rank\(x\) = 3/);
    bad('iOS15', 'transpose', { x: rt('fp16', 2, 3), perm: i32(0, 2) }, 'perm', /entry 2 is out of range for rank 2/);
    bad('iOS15', 'transpose', { x: rt('fp16', 2, 3), perm: rt('int32', 2) }, 'perm', NOT_CONST);
    bad('iOS15', 'transpose', { x: rt('uint8', 2, 3), perm: i32(1, 0) }, 'x', NOT_ALLOWED);
    ok('iOS17', 'transpose', { x: rt('uint8', 2, 3), perm: i32(1, 0) }, ['uint8[3, 2]']);
    bad('iOS17', 'transpose', { x: rt('fp16', 2, 3), perm: i32(1, 1) }, 'perm', /not a permutation/);
  });
  it('expand_dims: positions in the output, negative allowed', () => {
    ok('iOS15', 'expand_dims', { x: rt('fp16', 2, 3), axes: i32(0, -1) }, ['fp16[1, 2, 3, 1]']);
    ok('iOS15', 'expand_dims', { x: rt('int32'), axes: i32(0) }, ['int32[1]']);
    ok('iOS15', 'expand_dims', { x: rt('fp32', 2, 3), axes: i32(1, 2) }, ['fp32[2, 1, 1, 3]']);
    bad('iOS15', 'expand_dims', { x: rt('fp16', 2, 3), axes: i32(3) }, 'axes', /axis 3 is out of range for rank 3/);
    bad('iOS15', 'expand_dims', { x: rt('fp16', 2, 3), axes: i32(0, -4) }, 'axes', /names axis 0 more than once/);
    ok('iOS17', 'expand_dims', { x: rt('uint16', 2), axes: i32(-2) }, ['uint16[1, 2]']);
    bad('iOS17', 'expand_dims', { x: rt('fp16', 2), axes: rt('int32', 1) }, 'axes', NOT_CONST);
  });
  it('squeeze: all size-1 dims, named axes, non-1 named dims ignored', () => {
    ok('iOS15', 'squeeze', { x: rt('fp16', 1, 3, 1) }, ['fp16[3]']);
    ok('iOS15', 'squeeze', { x: rt('fp16', 1, 3, 1), axes: i32(0) }, ['fp16[3, 1]']);
    ok('iOS15', 'squeeze', { x: rt('fp16', 1, 3, 1), axes: i32(1, -1) }, ['fp16[1, 3]']);
    ok('iOS15', 'squeeze', { x: rt('fp16', 1, 'S') }, ['fp16[S]']);
    ok('iOS15', 'squeeze', { x: rt('fp16', 1, 'S'), axes: i32(1) }, ['fp16[1]']);
    ok('iOS15', 'squeeze', { x: rt('bool', 1) }, ['bool[]']);
    bad('iOS15', 'squeeze', { x: rt('fp16', 1, 3), axes: i32(2) }, 'axes', /axis 2 is out of range for rank 2/);
    bad('iOS15', 'squeeze', { x: rt('fp16') }, 'x', /rank 0 is not allowed/);
    ok('iOS17', 'squeeze', { x: rt('int16', 1, 2) }, ['int16[2]']);
    bad('iOS17', 'squeeze', { x: rt('fp16', 1, 2), axes: i32(0, 0) }, 'axes', /more than once/);
  });
});

describe('slice_by_index / slice_by_size (§6)', () => {
  const x = rt('fp16', 4, 6, 8);
  it('begin/end/stride with negative indices and clamping', () => {
    ok('iOS15', 'slice_by_index', { x, begin: i32(1, 0, 0), end: i32(3, 6, 8) }, ['fp16[2, 6, 8]']);
    ok('iOS15', 'slice_by_index', { x, begin: i32(-3, 0, 0), end: i32(-1, 6, 100) }, ['fp16[2, 6, 8]']);
    ok('iOS15', 'slice_by_index', { x, begin: i32(0, 0, 0), end: i32(4, 6, 8), stride: i32(1, 1, 3) }, ['fp16[4, 6, 3]']);
    ok('iOS15', 'slice_by_index', { x, begin: i32(3, 0, 0), end: i32(1, 6, 8) }, ['fp16[0, 6, 8]']);
  });
  it('masks and squeeze', () => {
    ok(
      'iOS15',
      'slice_by_index',
      {
        x,
        begin: i32(9, 2, 0),
        end: i32(0, 0, 5),
        stride: i32(1, 2, 1),
        begin_mask: bools(true, false, false),
        end_mask: bools(true, true, false),
      },
      ['fp16[4, 2, 5]'],
    );
    ok('iOS15', 'slice_by_index', { x, begin: i32(1, 0, 0), end: i32(2, 6, 8), squeeze_mask: bools(true, false, false) }, [
      'fp16[6, 8]',
    ]);
    ok('iOS15', 'slice_by_index', { x, begin: i32(-1, 0, 7), end: i32(0, 6, 8), squeeze_mask: bools(true, false, true) }, [
      'fp16[6]',
    ]);
    ok(
      'iOS15',
      'slice_by_index',
      {
        x,
        begin: i32(0, 0, 0),
        end: i32(0, 0, 0),
        stride: i32(-1, 1, -2),
        begin_mask: bools(true, true, true),
        end_mask: bools(true, true, true),
      },
      ['fp16[4, 6, 4]'],
    );
  });
  it('runtime begin/end give symbolic dims except fully masked axes', () => {
    ok(
      'iOS15',
      'slice_by_index',
      {
        x,
        begin: rt('int32', 3),
        end: rt('int32', 3),
        begin_mask: bools(false, true, false),
        end_mask: bools(false, true, false),
      },
      ['fp16[op_d0, 6, op_d2]'],
    );
    ok('iOS15', 'slice_by_index', { x: rt('fp16', 'S', 8), begin: i32(0, 0), end: i32(0, 4), end_mask: bools(true, false) }, [
      'fp16[S, 4]',
    ]);
    ok('iOS15', 'slice_by_index', { x: rt('fp16', 'S', 8), begin: i32(1, 0), end: i32(0, 4), end_mask: bools(true, false) }, [
      'fp16[op_d0, 4]',
    ]);
  });
  it('slice_by_index rejections', () => {
    bad('iOS15', 'slice_by_index', { x, begin: i32(0, 0, 0), end: i32(1, 1, 1), stride: i32(1, 0, 1) }, 'stride', /entry 1 is 0/);
    bad('iOS15', 'slice_by_index', { x, begin: i32(0, 0), end: i32(1, 1, 1) }, 'begin', /has 2 entries, expected 3/);
    bad('iOS15', 'slice_by_index', { x, begin: i32(0, 0, 0), end: i32(1, 1, 1), stride: rt('int32', 3) }, 'stride', NOT_CONST);
    bad(
      'iOS15',
      'slice_by_index',
      { x, begin: i32(4, 0, 0), end: i32(5, 1, 1), squeeze_mask: bools(true, false, false) },
      'begin',
      /index 4 squeezed from axis 0 is out of range for size 4/,
    );
    bad(
      'iOS15',
      'slice_by_index',
      { x, begin: i32(0, 0, 0), end: i32(1, 1, 1), begin_mask: bools(true) },
      'begin_mask',
      /has 1 entries, expected rank\(x\) = 3/,
    );
    bad('iOS15', 'slice_by_index', { x, begin: c('int16', [3], [0, 0, 0]), end: i32(1, 1, 1) }, 'begin', NOT_ALLOWED);
  });
  it('slice_by_index iOS17: wide x, int8/int16 indices sharing one dtype', () => {
    ok('iOS17', 'slice_by_index', { x: rt('int8', 4, 6), begin: c('int16', [2], [1, 2]), end: c('int16', [2], [3, 6]) }, [
      'int8[2, 4]',
    ]);
    bad(
      'iOS17',
      'slice_by_index',
      { x: rt('int8', 4, 6), begin: c('int16', [2], [1, 2]), end: i32(3, 6) },
      'end',
      /must equal the other U-typed inputs \(int16\)/,
    );
  });
  it('slice_by_size: size -1 to the end, negative begin, runtime size', () => {
    ok('iOS15', 'slice_by_size', { x: rt('fp32', 4, 6), begin: i32(1, 2), size: i32(2, -1) }, ['fp32[2, 4]']);
    ok('iOS15', 'slice_by_size', { x: rt('fp32', 4, 6), begin: i32(-1, 0), size: i32(1, -1) }, ['fp32[1, 6]']);
    ok('iOS15', 'slice_by_size', { x: rt('fp32', 4, 6), begin: rt('int32', 2), size: i32(2, 3) }, ['fp32[2, 3]']);
    ok('iOS15', 'slice_by_size', { x: rt('fp32', 4, 6), begin: i32(0, 0), size: rt('int32', 2) }, ['fp32[op_d0, op_d1]']);
    bad(
      'iOS15',
      'slice_by_size',
      { x: rt('fp32', 4, 6), begin: i32(3, 0), size: i32(2, 1) },
      'size',
      /2 elements from index 3 exceed axis 0 of size 4/,
    );
    bad('iOS15', 'slice_by_size', { x: rt('fp32', 4, 6), begin: i32(0), size: i32(1, 1) }, 'begin', /has 1 entries, expected 2/);
    ok('iOS17', 'slice_by_size', { x: rt('uint8', 4), begin: c('int8', [1], [1]), size: c('int8', [1], [-1]) }, ['uint8[3]']);
    bad(
      'iOS17',
      'slice_by_size',
      { x: rt('uint8', 4), begin: c('int8', [1], [1]), size: c('int8', [1], [-2]) },
      'size',
      /entry -2 for axis 0 is invalid/,
    );
  });
});

describe('gather (§6): iOS15 / iOS16 / iOS17 signatures', () => {
  it('iOS15: axis, output x[:axis] + indices.shape + x[axis+1:]', () => {
    ok('iOS15', 'gather', { x: rt('fp16', 5, 4), indices: rt('int32', 2, 3), axis: si(1) }, ['fp16[5, 2, 3]']);
    ok('iOS15', 'gather', { x: rt('fp16', 5, 4), indices: rt('int32', 2, 3) }, ['fp16[2, 3, 4]']);
    ok('iOS15', 'gather', { x: rt('int32', 5, 4), indices: rt('int32'), axis: si(-1) }, ['int32[5]']);
    bad('iOS15', 'gather', { x: rt('fp16', 5, 4), indices: rt('int16', 2) }, 'indices', NOT_ALLOWED);
    bad(
      'iOS15',
      'gather',
      { x: rt('fp16', 5, 4), indices: rt('int32', 2), batch_dims: si(0) },
      'batch_dims',
      /is not a parameter of gather \(iOS15 signature/,
    );
    bad('iOS15', 'gather', { x: rt('fp16', 5, 4), indices: rt('int32', 2), axis: si(2) }, 'axis', /out of range for rank 2/);
  });
  it('iOS16: int16/uint16 indices and batch_dims; no validate_indices', () => {
    ok('iOS16', 'gather', { x: rt('fp16', 2, 5, 4), indices: rt('int16', 2, 3), axis: si(1), batch_dims: si(1) }, [
      'fp16[2, 3, 4]',
    ]);
    ok('iOS16', 'gather', { x: rt('fp16', 2, 5, 4), indices: rt('uint16', 2, 3), axis: si(2), batch_dims: si(-1) }, [
      'fp16[2, 5, 3]',
    ]);
    bad(
      'iOS16',
      'gather',
      { x: rt('fp16', 2, 5, 4), indices: rt('int32', 2, 3), axis: si(0), batch_dims: si(1) },
      'batch_dims',
      /1 must not exceed axis 0/,
    );
    bad(
      'iOS16',
      'gather',
      { x: rt('fp16', 2, 5, 4), indices: rt('int32', 3, 3), axis: si(1), batch_dims: si(1) },
      'indices',
      /batch dim 0 is 3, but x \[2, 5, 4\] has 2/,
    );
    bad(
      'iOS16',
      'gather',
      { x: rt('fp16', 5), indices: rt('int32', 2), validate_indices: sb(true) },
      'validate_indices',
      /is not a parameter of gather \(iOS16 signature/,
    );
    bad('iOS16', 'gather', { x: rt('fp16', 5), indices: rt('uint8', 2) }, 'indices', NOT_ALLOWED);
  });
  it('iOS17: wider x and indices, validate_indices', () => {
    ok('iOS17', 'gather', { x: rt('int8', 5, 4), indices: rt('uint8', 3), validate_indices: sb(true) }, ['int8[3, 4]']);
    ok('iOS18', 'gather', { x: rt('uint16', 5), indices: rt('int8', 2, 2), axis: si(0), batch_dims: si(0) }, ['uint16[2, 2]']);
    bad('iOS17', 'gather', { x: rt('bool', 5), indices: rt('int32', 2) }, 'x', NOT_ALLOWED);
    bad(
      'iOS17',
      'gather',
      { x: rt('fp16', 5), indices: rt('int32', 2), validate_indices: rt('bool') },
      'validate_indices',
      NOT_CONST,
    );
    const names = (t: Target) => getSignature('gather', t)!.params.map((p) => p.name);
    expect(names('iOS15')).toEqual(['x', 'indices', 'axis']);
    expect(names('iOS16')).toEqual(['x', 'indices', 'axis', 'batch_dims']);
    expect(names('iOS17')).toEqual(['x', 'indices', 'axis', 'batch_dims', 'validate_indices']);
  });
});

describe('cast / fill / range_1d / band_part / select / tile (§6)', () => {
  it('cast: dtype strings per version', () => {
    ok('iOS15', 'cast', { x: rt('fp32', 2, 3), dtype: ss('fp16') }, ['fp16[2, 3]']);
    ok('iOS15', 'cast', { x: rt('bool', 2), dtype: ss('int32') }, ['int32[2]']);
    bad(
      'iOS15',
      'cast',
      { x: rt('fp32', 2), dtype: ss('int8') },
      'dtype',
      /"int8" is not a dtype this signature casts to \(allowed: int32, fp16, fp32, bool\)/,
    );
    bad('iOS15', 'cast', { x: rt('int8', 2), dtype: ss('fp16') }, 'x', NOT_ALLOWED);
    bad('iOS15', 'cast', { x: rt('fp32', 2), dtype: rt('string') }, 'dtype', NOT_CONST);
    ok('iOS17', 'cast', { x: rt('uint8', 2), dtype: ss('int8') }, ['int8[2]']);
    ok('iOS17', 'cast', { x: rt('fp16', 2), dtype: ss('uint16') }, ['uint16[2]']);
    bad('iOS17', 'cast', { x: rt('fp16', 2), dtype: ss('int64') }, 'dtype', /"int64" is not a dtype/);
  });
  it('fill: const shape → static, runtime → symbolic; dtype of value (default fp32)', () => {
    ok('iOS15', 'fill', { shape: i32(2, 3), value: scalar('fp16', 1) }, ['fp16[2, 3]']);
    ok('iOS15', 'fill', { shape: i32(4) }, ['fp32[4]']);
    ok('iOS15', 'fill', { shape: rt('int32', 3), value: sb(true) }, ['bool[op_d0, op_d1, op_d2]']);
    bad('iOS15', 'fill', { shape: i32(2, -1) }, 'shape', /has the invalid size -1/);
    bad('iOS15', 'fill', { shape: i32(2), value: rt('fp16') }, 'value', NOT_CONST);
    bad('iOS15', 'fill', { shape: i32(2), value: c('fp16', [2]) }, 'value', /rank 1 is not allowed \(expected rank 0\)/);
  });
  it('range_1d: static length for consts, symbolic otherwise', () => {
    ok('iOS15', 'range_1d', { end: si(10), start: si(0), step: si(3) }, ['int32[4]']);
    ok('iOS15', 'range_1d', { end: scalar('fp32', 1), start: scalar('fp32', 0), step: scalar('fp32', 0.25) }, ['fp32[4]']);
    ok('iOS15', 'range_1d', { end: si(0), start: si(5), step: si(-2) }, ['int32[3]']);
    ok('iOS15', 'range_1d', { end: si(0), start: si(5), step: si(1) }, ['int32[0]']);
    ok('iOS15', 'range_1d', { end: rt('int32'), start: si(0), step: si(1) }, ['int32[op_d0]']);
    bad('iOS15', 'range_1d', { end: si(10), start: si(0), step: si(0) }, 'step', /must be a non-zero finite number, got 0/);
    bad(
      'iOS15',
      'range_1d',
      { end: si(10), start: scalar('fp32', 0), step: si(1) },
      'start',
      /must equal the other T-typed inputs/,
    );
  });
  it('band_part: rank ≥ 2, const lower/upper', () => {
    ok('iOS15', 'band_part', { x: rt('bool', 4, 4), lower: si(-1), upper: si(0) }, ['bool[4, 4]']);
    ok('iOS15', 'band_part', { x: rt('fp16', 2, 'S', 'S') }, ['fp16[2, S, S]']);
    bad('iOS15', 'band_part', { x: rt('fp16', 4) }, 'x', /rank 1 is not allowed \(expected rank ≥ 2\)/);
    bad('iOS15', 'band_part', { x: rt('fp16', 4, 4), lower: rt('int32') }, 'lower', NOT_CONST);
  });
  it('select: cond bool, a/b same dtype, all three broadcast', () => {
    ok('iOS15', 'select', { cond: rt('bool', 4, 1), a: rt('fp16', 1, 3), b: rt('fp16', 3) }, ['fp16[4, 3]']);
    ok('iOS15', 'select', { cond: rt('bool', 'L', 'S'), a: rt('fp32'), b: rt('fp32', 'L', 'S') }, ['fp32[L, S]']);
    bad('iOS15', 'select', { cond: rt('fp16', 3), a: rt('fp16', 3), b: rt('fp16', 3) }, 'cond', NOT_ALLOWED);
    bad(
      'iOS15',
      'select',
      { cond: rt('bool', 3), a: rt('fp16', 3), b: rt('fp32', 3) },
      'b',
      /must equal the other T-typed inputs/,
    );
    bad(
      'iOS15',
      'select',
      { cond: rt('bool', 3), a: rt('fp16', 3), b: rt('fp16', 4) },
      'b',
      /\[4\] does not broadcast with \[3\] \(the shape of cond and a\)/,
    );
  });
  it('tile: reps per axis; runtime reps give symbolic dims', () => {
    ok('iOS15', 'tile', { x: rt('fp16', 2, 3), reps: i32(2, 1) }, ['fp16[4, 3]']);
    ok('iOS15', 'tile', { x: rt('fp16', 'S', 3), reps: i32(1, 4) }, ['fp16[S, 12]']);
    ok('iOS15', 'tile', { x: rt('fp16', 2, 3), reps: rt('int32', 2) }, ['fp16[op_d0, op_d1]']);
    bad('iOS15', 'tile', { x: rt('fp16', 2, 3), reps: i32(1, 1, 1) }, 'reps', /has 3 entries, expected 2/);
    bad('iOS15', 'tile', { x: rt('fp16', 2, 3), reps: i32(1, 0) }, 'reps', /entry 0 for axis 1 must be a positive integer/);
  });
});

// ---------------------------------------------------------------------------------------

describe('defaults (mil-ops.md §0.2 materialized vs omitted)', () => {
  const def = (op: string, target: Target, param: string) =>
    getSignature(op, target)!.params.find((p) => p.name === param)!.default;
  it('flags follow the doc', () => {
    const cases: Array<[string, Target, string, boolean]> = [
      ['linear', 'iOS15', 'bias', true],
      ['matmul', 'iOS17', 'transpose_x', true],
      ['softmax', 'iOS15', 'axis', true],
      ['rsqrt', 'iOS15', 'epsilon', true],
      ['gelu', 'iOS15', 'mode', true],
      ['reduce_mean', 'iOS15', 'keep_dims', true],
      ['layer_norm', 'iOS15', 'axes', true],
      ['layer_norm', 'iOS15', 'gamma', false],
      ['layer_norm', 'iOS17', 'beta', false],
      ['layer_norm', 'iOS15', 'epsilon', true],
      ['batch_norm', 'iOS15', 'gamma', false],
      ['batch_norm', 'iOS15', 'epsilon', true],
      ['conv', 'iOS15', 'bias', false],
      ['conv', 'iOS15', 'strides', true],
      ['conv', 'iOS17', 'pad_type', true],
      ['concat', 'iOS15', 'interleave', true],
      ['slice_by_index', 'iOS15', 'stride', false],
      ['slice_by_index', 'iOS17', 'squeeze_mask', false],
      ['gather', 'iOS15', 'axis', true],
      ['gather', 'iOS16', 'batch_dims', true],
      ['gather', 'iOS17', 'validate_indices', true],
      ['fill', 'iOS15', 'value', true],
      ['band_part', 'iOS15', 'lower', true],
    ];
    for (const [op, t, p, m] of cases) expect(def(op, t, p)?.materialized, `${op}@${t}.${p}`).toBe(m);
    expect(def('reduce_mean', 'iOS15', 'axes')).toBeUndefined();
    expect(def('squeeze', 'iOS15', 'axes')).toBeUndefined();
    expect(def('gelu', 'iOS15', 'mode')?.value).toBe('EXACT');
    expect(def('band_part', 'iOS15', 'upper')?.value).toBe(-1);
  });
  it('operand-dependent defaults resolve through constOrDefault', () => {
    const conv = opArgs(buildOp('iOS15', 'conv', { x: rt('fp32', 1, 3, 8, 8), weight: c('fp32', [4, 3, 3, 3]) }).op, 'iOS15');
    expect(conv.constOrDefault('strides')!.toNumbers()).toEqual([1, 1]);
    expect(conv.constOrDefault('pad')!.toNumbers()).toEqual([0, 0, 0, 0]);
    expect(conv.constOrDefault('dilations')!.toNumbers()).toEqual([1, 1]);
    expect(conv.constOrDefault('groups')!.toNumbers()).toEqual([1]);
    expect(conv.constOrDefault('pad_type')!.strings()).toEqual(['valid']);
    const bias = conv.constOrDefault('bias')!;
    expect([bias.dtype, bias.shape, bias.toNumbers()]).toEqual(['fp32', [4], [0, 0, 0, 0]]);

    const lin = opArgs(buildOp('iOS15', 'linear', { x: rt('fp16', 2, 8), weight: c('fp16', [3, 8]) }).op, 'iOS15');
    const lb = lin.constOrDefault('bias')!;
    expect([lb.dtype, lb.shape, lb.toNumbers()]).toEqual(['fp16', [3], [0, 0, 0]]);

    const rs = opArgs(buildOp('iOS17', 'rsqrt', { x: rt('fp32', 2) }).op, 'iOS17').constOrDefault('epsilon')!;
    expect([rs.dtype, rs.shape, rs.toNumbers()]).toEqual(['fp32', [], [Math.fround(1e-12)]]);
    const rs16 = opArgs(buildOp('iOS15', 'rsqrt', { x: rt('fp16', 2) }).op, 'iOS15').constOrDefault('epsilon')!;
    expect([rs16.dtype, rs16.toNumbers()]).toEqual(['fp16', [0]]); // 1e-12 underflows fp16, as np.float16(1e-12)

    const ln = opArgs(buildOp('iOS15', 'layer_norm', { x: rt('fp16', 2, 5, 8) }).op, 'iOS15');
    expect(ln.constOrDefault('axes')!.toNumbers()).toEqual([0, 1, 2]);
    const g = ln.constOrDefault('gamma')!;
    expect([g.dtype, g.shape, g.toNumbers().every((v) => v === 1)]).toEqual(['fp16', [2, 5, 8], true]);

    const sl = opArgs(
      buildOp('iOS17', 'slice_by_index', { x: rt('fp16', 4, 6), begin: c('int16', [2], [0, 0]), end: c('int16', [2], [1, 1]) })
        .op,
      'iOS17',
    );
    const st = sl.constOrDefault('stride')!;
    expect([st.dtype, st.toNumbers()]).toEqual(['int16', [1, 1]]);
    expect(sl.constOrDefault('end_mask')!.toNumbers()).toEqual([0, 0]);
  });
});

// ---------------------------------------------------------------------------------------

describe('constant evaluation', () => {
  const vals = (t: Tensor) => ({ dtype: t.dtype, shape: t.shape, values: t.toNumbers() });
  const iota = (n: number) => Array.from({ length: n }, (_, i) => i);

  it('cast (truncation toward zero, saturation, bool)', () => {
    expect(vals(evalOp('iOS15', 'cast', { x: c('fp32', [3], [1.7, -2.5, 3e10]), dtype: ss('int32') })[0])).toEqual({
      dtype: 'int32',
      shape: [3],
      values: [1, -2, 2147483647],
    });
    expect(vals(evalOp('iOS15', 'cast', { x: c('fp32', [2], [0, 0.5]), dtype: ss('bool') })[0]).values).toEqual([0, 1]);
    expect(vals(evalOp('iOS15', 'cast', { x: c('int32', [2], [2049, -3]), dtype: ss('fp16') })[0])).toEqual({
      dtype: 'fp16',
      shape: [2],
      values: [2048, -3],
    });
    expect(vals(evalOp('iOS17', 'cast', { x: c('fp16', [2], [300, -1]), dtype: ss('uint8') })[0]).values).toEqual([255, 0]);
  });

  it('reshape / expand_dims / squeeze keep the bytes (a file-backed tensor stays lazy)', () => {
    const x = c('int32', [2, 3], iota(6));
    expect(vals(evalOp('iOS15', 'reshape', { x, shape: i32(3, -1) })[0])).toEqual({
      dtype: 'int32',
      shape: [3, 2],
      values: iota(6),
    });
    expect(evalOp('iOS15', 'expand_dims', { x, axes: i32(0, -1) })[0].shape).toEqual([1, 2, 3, 1]);
    expect(evalOp('iOS15', 'squeeze', { x: c('fp16', [1, 3, 1], [1, 2, 3]) })[0].toNumbers()).toEqual([1, 2, 3]);
    const dir = mkdtempSync(join(tmpdir(), 'silica-core-'));
    try {
      const path = join(dir, 'w.bin');
      writeFileSync(path, new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer));
      const ft = new FileTensor('fp32', [2, 3], path, 0, 24);
      const r = evalOp('iOS15', 'reshape', { x: ft, shape: i32(6) })[0];
      expect(r.isLazy).toBe(true);
      expect(vals(r)).toEqual({ dtype: 'fp32', shape: [6], values: [1, 2, 3, 4, 5, 6] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('transpose', () => {
    const r = evalOp('iOS15', 'transpose', { x: c('int32', [2, 3], [1, 2, 3, 4, 5, 6]), perm: i32(1, 0) })[0];
    expect(vals(r)).toEqual({ dtype: 'int32', shape: [3, 2], values: [1, 4, 2, 5, 3, 6] });
    const r3 = evalOp('iOS15', 'transpose', { x: c('fp16', [2, 3, 4], iota(24)), perm: i32(2, 0, 1) })[0];
    expect(r3.shape).toEqual([4, 2, 3]);
    // r3[k, i, j] = x[i, j, k] = 12 i + 4 j + k
    expect(r3.toNumbers().slice(0, 6)).toEqual([0, 4, 8, 12, 16, 20]);
    expect(r3.toNumbers()[6]).toBe(1);
  });

  it('data movement is bit-exact for sub-byte and string tensors (fold.ts)', () => {
    const u4 = concatTensors([c('uint4', [3], [1, 15, 7]), c('uint4', [2], [9, 0])], 0, false);
    expect(vals(u4)).toEqual({ dtype: 'uint4', shape: [5], values: [1, 15, 7, 9, 0] });
    const i4 = transposeTensor(c('int4', [2, 2], [-8, 7, -1, 3]), [1, 0]);
    expect(vals(i4)).toEqual({ dtype: 'int4', shape: [2, 2], values: [-8, -1, 7, 3] });
    const st = transposeTensor(stringTensor([2, 2], ['a', 'b', 'c', 'd']), [1, 0]);
    expect(st.strings()).toEqual(['a', 'c', 'b', 'd']);
    // a NaN payload survives a transpose untouched
    const nan = new DenseTensor('fp32', [2], new Uint8Array(new Uint32Array([0x7fc00123, 0x3f800000]).buffer));
    expect([...new Uint32Array(transposeTensor(nan, [0]).bytes().slice().buffer)]).toEqual([0x7fc00123, 0x3f800000]);
  });

  it('concat, with interleave, and of bool tensors', () => {
    const a = c('int32', [2, 2], [1, 2, 3, 4]);
    expect(vals(evalOp('iOS15', 'concat', { values: [a, c('int32', [2, 1], [5, 6])], axis: si(1) })[0])).toEqual({
      dtype: 'int32',
      shape: [2, 3],
      values: [1, 2, 5, 3, 4, 6],
    });
    expect(
      evalOp('iOS15', 'concat', {
        values: [a, c('int32', [2, 2], [5, 6, 7, 8])],
        axis: si(0),
        interleave: sb(true),
      })[0].toNumbers(),
    ).toEqual([1, 2, 5, 6, 3, 4, 7, 8]);
    const b = evalOp('iOS15', 'concat', { values: [bools(true, false), bools(false, true, true)], axis: si(0) })[0];
    expect(vals(b)).toEqual({ dtype: 'bool', shape: [5], values: [1, 0, 0, 1, 1] });
  });

  it('slice_by_index with stride, negative stride, masks and squeeze', () => {
    const x = c('int32', [4, 6], iota(24));
    expect(vals(evalOp('iOS15', 'slice_by_index', { x, begin: i32(1, 1), end: i32(4, 6), stride: i32(2, 2) })[0])).toEqual({
      dtype: 'int32',
      shape: [2, 3],
      values: [7, 9, 11, 19, 21, 23],
    });
    const rev = evalOp('iOS15', 'slice_by_index', {
      x,
      begin: i32(0, 0),
      end: i32(0, 0),
      stride: i32(-1, -2),
      begin_mask: bools(true, true),
      end_mask: bools(true, true),
    })[0];
    expect(vals(rev)).toEqual({ dtype: 'int32', shape: [4, 3], values: [23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1] });
    const row = evalOp('iOS15', 'slice_by_index', { x, begin: i32(-2, 0), end: i32(0, 6), squeeze_mask: bools(true, false) })[0];
    expect(vals(row)).toEqual({ dtype: 'int32', shape: [6], values: [12, 13, 14, 15, 16, 17] });
    const el = evalOp('iOS15', 'slice_by_index', { x, begin: i32(1, -1), end: i32(0, 0), squeeze_mask: bools(true, true) })[0];
    expect(vals(el)).toEqual({ dtype: 'int32', shape: [], values: [11] });
    const f16 = evalOp('iOS15', 'slice_by_index', { x: c('fp16', [4], [0.5, 1.5, 2.5, 3.5]), begin: i32(-3), end: i32(-1) })[0];
    expect(vals(f16)).toEqual({ dtype: 'fp16', shape: [2], values: [1.5, 2.5] });
  });

  it('slice_by_size, split, tile, gather, select', () => {
    const x = c('int32', [4, 6], iota(24));
    expect(evalOp('iOS15', 'slice_by_size', { x, begin: i32(2, -2), size: i32(-1, 2) })[0].toNumbers()).toEqual([16, 17, 22, 23]);
    const parts = evalOp('iOS15', 'split', { x: c('int32', [6], iota(6)), split_sizes: i32(2, 4), axis: si(0) });
    expect(parts.map((p) => p.toNumbers())).toEqual([
      [0, 1],
      [2, 3, 4, 5],
    ]);
    const cols = evalOp('iOS15', 'split', { x: c('int32', [2, 4], iota(8)), num_splits: si(2), axis: si(1) });
    expect(cols.map(vals)).toEqual([
      { dtype: 'int32', shape: [2, 2], values: [0, 1, 4, 5] },
      { dtype: 'int32', shape: [2, 2], values: [2, 3, 6, 7] },
    ]);
    expect(vals(evalOp('iOS15', 'tile', { x: c('int32', [1, 2], [1, 2]), reps: i32(2, 3) })[0])).toEqual({
      dtype: 'int32',
      shape: [2, 6],
      values: [1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2],
    });
    const table = c('fp32', [3, 2], [1, 2, 3, 4, 5, 6]);
    expect(vals(evalOp('iOS15', 'gather', { x: table, indices: i32(2, -1, 0) })[0])).toEqual({
      dtype: 'fp32',
      shape: [3, 2],
      values: [5, 6, 5, 6, 1, 2],
    });
    expect(evalOp('iOS15', 'gather', { x: table, indices: i32(1), axis: si(1) })[0].toNumbers()).toEqual([2, 4, 6]);
    // batch_dims = 1: out[b, j] = x[b, idx[b, j]]
    const bd = evalOp('iOS16', 'gather', {
      x: c('int32', [2, 3], [10, 11, 12, 20, 21, 22]),
      indices: c('int32', [2, 2], [2, 0, 1, 1]),
      axis: si(1),
      batch_dims: si(1),
    })[0];
    expect(vals(bd)).toEqual({ dtype: 'int32', shape: [2, 2], values: [12, 10, 21, 21] });
    expect(() => evalOp('iOS17', 'gather', { x: table, indices: i32(-1) })).toThrow(
      /input "indices": index -1 .*\(iOS17 gather treats negative indices as out of bounds\)/,
    );
    const s = evalOp('iOS15', 'select', {
      cond: c('bool', [2, 1], [true, false]),
      a: c('fp16', [3], [1, 2, 3]),
      b: scalar('fp16', -1),
    })[0];
    expect(vals(s)).toEqual({ dtype: 'fp16', shape: [2, 3], values: [1, 2, 3, -1, -1, -1] });
  });

  it('fill and range_1d', () => {
    expect(vals(evalOp('iOS15', 'fill', { shape: i32(2, 2), value: si(7) })[0])).toEqual({
      dtype: 'int32',
      shape: [2, 2],
      values: [7, 7, 7, 7],
    });
    expect(vals(evalOp('iOS15', 'fill', { shape: i32(3) })[0])).toEqual({ dtype: 'fp32', shape: [3], values: [0, 0, 0] });
    expect(vals(evalOp('iOS15', 'range_1d', { end: si(10), start: si(0), step: si(3) })[0])).toEqual({
      dtype: 'int32',
      shape: [4],
      values: [0, 3, 6, 9],
    });
    expect(evalOp('iOS15', 'range_1d', { end: si(0), start: si(5), step: si(-2) })[0].toNumbers()).toEqual([5, 3, 1]);
    expect(
      evalOp('iOS15', 'range_1d', {
        end: scalar('fp32', 1),
        start: scalar('fp32', 0),
        step: scalar('fp32', 0.25),
      })[0].toNumbers(),
    ).toEqual([0, 0.25, 0.5, 0.75]);
  });

  it('add / sub / mul / real_div on consts with broadcasting and dtype rounding', () => {
    const col = c('fp16', [2, 1], [1, 2]);
    const row = c('fp16', [3], [10, 20, 30]);
    expect(vals(evalOp('iOS15', 'add', { x: col, y: row })[0])).toEqual({
      dtype: 'fp16',
      shape: [2, 3],
      values: [11, 21, 31, 12, 22, 32],
    });
    expect(evalOp('iOS15', 'sub', { x: col, y: row })[0].toNumbers()).toEqual([-9, -19, -29, -8, -18, -28]);
    expect(evalOp('iOS15', 'mul', { x: col, y: row })[0].toNumbers()).toEqual([10, 20, 30, 20, 40, 60]);
    // fp16: 2048 + 1 = 2049 is not representable; round half to even gives 2048
    expect(evalOp('iOS15', 'add', { x: scalar('fp16', 2048), y: scalar('fp16', 1) })[0].toNumbers()).toEqual([2048]);
    expect(evalOp('iOS15', 'real_div', { x: scalar('fp32', 1), y: scalar('fp32', 3) })[0].toNumbers()).toEqual([
      Math.fround(1 / 3),
    ]);
    expect(evalOp('iOS15', 'real_div', { x: c('int32', [2], [7, -7]), y: si(2) })[0].toNumbers()).toEqual([3, -3]);
    expect(evalOp('iOS15', 'mul', { x: si(65536), y: si(65536) })[0].toNumbers()).toEqual([0]); // int32 wraps
    expect(() => evalOp('iOS15', 'real_div', { x: si(1), y: si(0) })).toThrow(/input "y": integer division by zero/);
    expect(vals(evalOp('iOS15', 'less', { x: c('int32', [3], [1, 5, 3]), y: si(3) })[0])).toEqual({
      dtype: 'bool',
      shape: [3],
      values: [1, 0, 0],
    });
    expect(evalOp('iOS15', 'pow', { x: c('int32', [2], [3, -2]), y: si(3) })[0].toNumbers()).toEqual([27, -8]);
    expect(evalOp('iOS15', 'maximum', { x: c('fp32', [2], [1, 5]), y: scalar('fp32', 3) })[0].toNumbers()).toEqual([3, 5]);
  });

  it('matmul on consts, with transposes and rank-1 operands', () => {
    const a = c('fp32', [2, 2], [1, 2, 3, 4]);
    const b = c('fp32', [2, 2], [5, 6, 7, 8]);
    expect(evalOp('iOS15', 'matmul', { x: a, y: b })[0].toNumbers()).toEqual([19, 22, 43, 50]);
    expect(evalOp('iOS15', 'matmul', { x: a, y: b, transpose_y: sb(true) })[0].toNumbers()).toEqual([17, 23, 39, 53]);
    expect(evalOp('iOS15', 'matmul', { x: a, y: b, transpose_x: sb(true) })[0].toNumbers()).toEqual([26, 30, 38, 44]);
    const v = evalOp('iOS15', 'matmul', { x: c('int32', [2], [1, 2]), y: c('int32', [2, 2, 2], [1, 0, 0, 1, 2, 0, 0, 2]) })[0];
    expect(vals(v)).toEqual({ dtype: 'int32', shape: [2, 2], values: [1, 2, 2, 4] });
  });

  it('constValueOf folds through a chain of ops', () => {
    const target: Target = 'iOS15';
    const program = new Program(target);
    const fn = program.addFunction(new Function('main'));
    const cst = (name: string, t: Tensor): Value =>
      fn.block.append(new Op({ type: 'const', outputs: [{ name, type: tensorType(t.dtype, t.shape) }], attributes: { val: t } }))
        .output;
    const add = (type: string, name: string, inputs: Record<string, Value | Value[]>): Value => {
      const probe = new Op({ type, name, inputs });
      const types = typeCheckOp(probe, target);
      probe.dropAllInputs();
      return fn.block.append(
        new Op({ type, name, inputs, outputs: types.map((t, i) => ({ name: i === 0 ? name : `${name}_${i}`, type: t })) }),
      ).output;
    };
    const x = cst('x', c('fp32', [6], [1, 2, 3, 4, 5, 6]));
    const r = add('reshape', 'r', { x, shape: cst('s', i32(2, 3)) });
    const t = add('transpose', 't', { x: r, perm: cst('p', i32(1, 0)) });
    const a = add('add', 'a', { x: t, y: cst('one', scalar('fp32', 1)) });
    const cast = add('cast', 'k', { x: a, dtype: cst('d', ss('int32')) });
    const folded = constValueOf(cast, target)!;
    expect(vals(folded)).toEqual({ dtype: 'int32', shape: [3, 2], values: [2, 5, 3, 6, 4, 7] });
    const dyn = fn.addInput('dyn', rt('fp32', 3, 2));
    expect(constValueOf(add('add', 'b', { x: t, y: dyn }), target)).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------

/** mil-ops.md, found beside the repository (../shared/reference) as ARCHITECTURE.md describes. */
function readMilOps(): string {
  const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
  return readFileSync(resolve(root, '../shared/reference/mil-ops.md'), 'utf8');
}

describe('registry vs mil-ops.md §5–6', () => {
  const doc = readMilOps();
  const s5 = doc.slice(doc.indexOf('## 5.'), doc.indexOf('## 6.'));
  const s6 = doc.slice(doc.indexOf('## 6.'), doc.indexOf('## 7.'));
  const headings = [...s5.matchAll(/^### 5\.\d+ `(\w+)` — (.*)$/gm)].map((m) => ({
    op: m[1],
    versions: m[2].match(/iOS1\d/g) ?? [],
  }));
  const rows = s6
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => {
      const cells = l.split('|').map((x) => x.trim());
      return { ops: [...cells[1].matchAll(/`(\w+)`/g)].map((m) => m[1]), since: cells[2], later: cells[cells.length - 2] };
    });

  it('parses the doc (sanity)', () => {
    expect(headings.map((h) => h.op)).toEqual(['linear', 'matmul', 'softmax']);
    expect(rows.length).toBeGreaterThan(25);
    expect(rows.flatMap((r) => r.ops)).toContain('slice_by_index');
  });

  it('registeredOps() contains every op of §5 and §6', () => {
    const names = [...headings.map((h) => h.op), ...rows.flatMap((r) => r.ops)];
    const missing = names.filter((n) => !registeredOps().includes(n));
    expect(missing).toEqual([]);
  });

  it('every version named in §5 headings and in the §6 "since"/"later" columns has a signature', () => {
    const want: Array<[string, string]> = [];
    for (const h of headings) for (const v of h.versions) want.push([h.op, v]);
    for (const r of rows) {
      for (const op of r.ops) {
        want.push([op, r.since]);
        for (const v of r.later.match(/iOS1[67](?=:)/g) ?? []) want.push([op, v]);
      }
    }
    const missing = want.filter(([op, v]) => !signaturesOf(op).some((s) => s.since === v)).map(([op, v]) => `${op}@${v}`);
    expect(missing).toEqual([]);
    expect(want).toContainEqual(['gather', 'iOS16']);
    expect(want).toContainEqual(['conv', 'iOS17']);
  });
});

// Runs last (tests of a file run in order): every signature (op × version) had a valid
// case and a rejected case above. `const` has no valid case: its type comes from the
// "val" attribute, not from `infer`.
describe('coverage', () => {
  it('every signature in CORE_OPS was accepted and rejected by the cases above', () => {
    const all = CORE_OPS.map((s) => `${s.op}@${s.since}`);
    const noValid = all.filter((k) => !VALID.has(k) && k !== 'const@iOS15');
    const noInvalid = all.filter((k) => !INVALID.has(k));
    expect({ noValid, noInvalid }).toEqual({ noValid: [], noInvalid: [] });
  });
});
