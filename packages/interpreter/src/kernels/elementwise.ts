/**
 * Elementwise ops: binary arithmetic with NumPy broadcasting, comparisons and logic,
 * `select`, unary math and activations (mil-ops.md §6 and coremltools'
 * `elementwise_binary.py`, `elementwise_unary.py`, `activation.py`).
 *
 * Floats are computed in float64 and stored to fp32 (an fp16-typed output is then
 * rounded to fp16 by the runtime); integer arithmetic wraps like int32.
 */
import { forEachRow, broadcastShapes } from '../broadcast.js';
import type { Kernel, KernelContext } from '../kernel.js';
import { erf, roundHalfEven } from '../math.js';
import { type Kind, type RData, type RTensor, alloc, fmt, kindOf, rt, sizeOf } from '../rtensor.js';

type F2 = (x: number, y: number) => number;

function binaryLoop(a: RTensor, b: RTensor, outKind: Kind, f: F2): { shape: number[]; data: RData } {
  const shape = broadcastShapes([a.shape, b.shape]);
  const out = alloc(outKind, sizeOf(shape));
  const A = a.data;
  const B = b.data;
  forEachRow(shape, [a.shape, b.shape], (o, offs, n, inner) => {
    const sa = inner[0];
    const sb = inner[1];
    let ia = offs[0];
    let ib = offs[1];
    for (let i = 0; i < n; i++, ia += sa, ib += sb) out[o + i] = f(A[ia], B[ib]);
  });
  return { shape, data: out };
}

function numericKinds(ctx: KernelContext, a: RTensor, b: RTensor): 'float' | 'int' {
  const ka = kindOf(a.dtype);
  const kb = kindOf(b.dtype);
  if (ka === 'string' || kb === 'string' || ka === 'bool' || kb === 'bool') {
    ctx.fail(`expects numeric operands, got ${fmt(a)} and ${fmt(b)}`);
  }
  return ka === 'float' || kb === 'float' ? 'float' : 'int';
}

function intDivisor(ctx: KernelContext, y: number): number {
  if (y === 0) ctx.fail('integer division by zero', 'y');
  return y;
}

/** [float semantics, int semantics] of each arithmetic op. */
function arithmetic(ctx: KernelContext, op: string): [F2, F2] {
  switch (op) {
    case 'add':
      return [(x, y) => x + y, (x, y) => (x + y) | 0];
    case 'sub':
      return [(x, y) => x - y, (x, y) => (x - y) | 0];
    case 'mul':
      return [(x, y) => x * y, (x, y) => Math.imul(x, y)];
    case 'real_div':
      // integer real_div truncates toward zero (NumPy true division cast back to int)
      return [(x, y) => x / y, (x, y) => Math.trunc(x / intDivisor(ctx, y))];
    case 'floor_div':
      return [(x, y) => Math.floor(x / y), (x, y) => Math.floor(x / intDivisor(ctx, y))];
    case 'mod':
      // NumPy mod: the result has the sign of the divisor
      return [(x, y) => x - Math.floor(x / y) * y, (x, y) => (x - Math.floor(x / intDivisor(ctx, y)) * y) | 0];
    case 'pow':
      return [(x, y) => Math.pow(x, y), (x, y) => Math.pow(x, y) | 0];
    case 'maximum':
      return [(x, y) => (x > y || Number.isNaN(x) ? x : y), (x, y) => (x > y ? x : y)];
    case 'minimum':
      return [(x, y) => (x < y || Number.isNaN(x) ? x : y), (x, y) => (x < y ? x : y)];
    default:
      return ctx.fail(`internal: ${op} is not an arithmetic op`);
  }
}

const arithmeticKernel =
  (op: string): Kernel =>
  (ctx) => {
    const a = ctx.tensor('x');
    const b = ctx.tensor('y');
    const kind = numericKinds(ctx, a, b);
    const [ff, fi] = arithmetic(ctx, op);
    const r = binaryLoop(a, b, kind, kind === 'float' ? ff : fi);
    return [rt(kind === 'float' ? 'fp32' : 'int32', r.shape, r.data)];
  };

const COMPARE: Record<string, F2> = {
  equal: (x, y) => (x === y ? 1 : 0),
  not_equal: (x, y) => (x !== y ? 1 : 0),
  less: (x, y) => (x < y ? 1 : 0),
  less_equal: (x, y) => (x <= y ? 1 : 0),
  greater: (x, y) => (x > y ? 1 : 0),
  greater_equal: (x, y) => (x >= y ? 1 : 0),
};

const compareKernel =
  (op: string): Kernel =>
  (ctx) => {
    const r = binaryLoop(ctx.tensor('x'), ctx.tensor('y'), 'bool', COMPARE[op]);
    return [rt('bool', r.shape, r.data)];
  };

const LOGICAL: Record<string, F2> = {
  logical_and: (x, y) => (x && y ? 1 : 0),
  logical_or: (x, y) => (x || y ? 1 : 0),
  logical_xor: (x, y) => ((x ? 1 : 0) ^ (y ? 1 : 0)),
};

const logicalKernel =
  (op: string): Kernel =>
  (ctx) => {
    const a = ctx.tensor('x');
    const b = ctx.tensor('y');
    if (a.dtype !== 'bool' || b.dtype !== 'bool') ctx.fail(`expects bool operands, got ${fmt(a)} and ${fmt(b)}`);
    const r = binaryLoop(a, b, 'bool', LOGICAL[op]);
    return [rt('bool', r.shape, r.data)];
  };

const logicalNot: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  if (x.dtype !== 'bool') ctx.fail(`expects a bool operand, got ${fmt(x)}`, 'x');
  const out = new Uint8Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = x.data[i] ? 0 : 1;
  return [rt('bool', x.shape, out)];
};

/** select(cond, a, b): broadcast `cond ? a : b` (mil-ops.md §6). */
const select: Kernel = (ctx) => {
  const c = ctx.tensor('cond');
  const a = ctx.tensor('a');
  const b = ctx.tensor('b');
  const ka = kindOf(a.dtype);
  const kb = kindOf(b.dtype);
  if (ka !== kb) ctx.fail(`a and b must have the same dtype kind, got ${fmt(a)} and ${fmt(b)}`);
  const shape = broadcastShapes([c.shape, a.shape, b.shape]);
  const out = alloc(ka, sizeOf(shape));
  const C = c.data;
  const A = a.data;
  const B = b.data;
  forEachRow(shape, [c.shape, a.shape, b.shape], (o, offs, n, inner) => {
    let ic = offs[0];
    let ia = offs[1];
    let ib = offs[2];
    for (let i = 0; i < n; i++, ic += inner[0], ia += inner[1], ib += inner[2]) out[o + i] = C[ic] ? A[ia] : B[ib];
  });
  return [rt(ka === 'float' ? 'fp32' : ka === 'int' ? 'int32' : 'bool', shape, out)];
};

// ---------------------------------------------------------------------------------------
// Unary

type F1 = (x: number) => number;

function mapFloat(x: RTensor, f: F1): RTensor {
  const out = new Float32Array(x.data.length);
  const d = x.data;
  for (let i = 0; i < out.length; i++) out[i] = f(d[i]);
  return rt('fp32', x.shape, out);
}

function numericInput(ctx: KernelContext): RTensor {
  const x = ctx.tensor('x');
  const k = kindOf(x.dtype);
  if (k !== 'float' && k !== 'int') ctx.fail(`expects a numeric operand, got ${fmt(x)}`, 'x');
  return x;
}

/** Unary math ops of coremltools' elementwise_unary.py. `eps` ops read their epsilon default. */
const UNARY: Record<string, F1> = {
  acos: Math.acos,
  asin: Math.asin,
  atan: Math.atan,
  atanh: Math.atanh,
  cos: Math.cos,
  cosh: Math.cosh,
  sin: Math.sin,
  sinh: Math.sinh,
  tan: Math.tan,
  tanh: Math.tanh,
  exp: Math.exp,
  exp2: (x) => Math.pow(2, x),
  sqrt: Math.sqrt,
  erf,
  relu: (x) => (x > 0 ? x : Number.isNaN(x) ? x : 0),
  relu6: (x) => (Number.isNaN(x) ? x : Math.min(Math.max(x, 0), 6)),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  silu: (x) => x / (1 + Math.exp(-x)),
  softplus: (x) => (x > 30 ? x : Math.log1p(Math.exp(x))),
  softsign: (x) => x / (1 + Math.abs(x)),
};

const unaryKernel =
  (f: F1): Kernel =>
  (ctx) => [mapFloat(numericInput(ctx), f)];

/** Ops that keep integers integral: abs, sign, square, floor, ceil, round. */
const INT_PRESERVING: Record<string, [F1, F1]> = {
  abs: [Math.abs, (x) => Math.abs(x) | 0],
  sign: [(x) => (Number.isNaN(x) ? x : Math.sign(x)), Math.sign],
  square: [(x) => x * x, (x) => Math.imul(x, x)],
  floor: [Math.floor, (x) => x],
  ceil: [Math.ceil, (x) => x],
  round: [roundHalfEven, (x) => x],
};

const intPreservingKernel =
  (op: string): Kernel =>
  (ctx) => {
    const x = numericInput(ctx);
    const [ff, fi] = INT_PRESERVING[op];
    if (kindOf(x.dtype) === 'float') return [mapFloat(x, ff)];
    const out = new Int32Array(x.data.length);
    for (let i = 0; i < out.length; i++) out[i] = fi(x.data[i]);
    return [rt('int32', x.shape, out)];
  };

/** log(x + epsilon), epsilon default 1e-45 (coremltools `log`). */
const log: Kernel = (ctx) => {
  const eps = ctx.float('epsilon', 1e-45);
  return [mapFloat(numericInput(ctx), (x) => Math.log(x + eps))];
};

/** rsqrt(x) = 1/√(x + epsilon), epsilon default 1e-12 (mil-ops.md §6). */
const rsqrt: Kernel = (ctx) => {
  const eps = ctx.float('epsilon', 1e-12);
  return [mapFloat(numericInput(ctx), (x) => 1 / Math.sqrt(x + eps))];
};

/** inverse(x) = 1/(x + epsilon), epsilon default 1e-4 (coremltools `inverse`). */
const inverse: Kernel = (ctx) => {
  const eps = ctx.float('epsilon', 1e-4);
  return [mapFloat(numericInput(ctx), (x) => 1 / (x + eps))];
};

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** gelu with its three modes (mil-ops.md §6), default EXACT. */
const gelu: Kernel = (ctx) => {
  const mode = ctx.string('mode', 'EXACT');
  const x = numericInput(ctx);
  switch (mode) {
    case 'EXACT':
      return [mapFloat(x, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)))];
    case 'TANH_APPROXIMATION':
      return [mapFloat(x, (v) => 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))))];
    case 'SIGMOID_APPROXIMATION':
      return [mapFloat(x, (v) => v / (1 + Math.exp(-1.702 * v)))];
    default:
      return ctx.fail(`unknown mode "${mode}" (expected EXACT, TANH_APPROXIMATION or SIGMOID_APPROXIMATION)`, 'mode');
  }
};

const leakyRelu: Kernel = (ctx) => {
  const alpha = ctx.float('alpha', 0.01);
  return [mapFloat(numericInput(ctx), (v) => (v >= 0 ? v : alpha * v))];
};

const elu: Kernel = (ctx) => {
  const alpha = ctx.float('alpha', 1);
  return [mapFloat(numericInput(ctx), (v) => (v > 0 ? v : alpha * Math.expm1(v)))];
};

const sigmoidHard: Kernel = (ctx) => {
  const alpha = ctx.float('alpha', 0.2);
  const beta = ctx.float('beta', 0.5);
  return [mapFloat(numericInput(ctx), (v) => Math.min(Math.max(alpha * v + beta, 0), 1))];
};

const linearActivation: Kernel = (ctx) => {
  const alpha = ctx.float('alpha', 1);
  const beta = ctx.float('beta', 0);
  return [mapFloat(numericInput(ctx), (v) => alpha * v + beta)];
};

const scaledTanh: Kernel = (ctx) => {
  const alpha = ctx.float('alpha', 1);
  const beta = ctx.float('beta', 1);
  return [mapFloat(numericInput(ctx), (v) => alpha * Math.tanh(beta * v))];
};

const thresholdedRelu: Kernel = (ctx) => {
  const alpha = ctx.float('alpha', 1);
  return [mapFloat(numericInput(ctx), (v) => (v > alpha ? v : 0))];
};

const clampedRelu: Kernel = (ctx) => {
  const alpha = ctx.float('alpha', 0);
  const beta = ctx.float('beta', 6);
  return [mapFloat(numericInput(ctx), (v) => Math.min(beta, v >= 0 ? v : alpha * v))];
};

/** clip(x, alpha, beta) = min(max(x, alpha), beta). */
const clip: Kernel = (ctx) => {
  const lo = ctx.float('alpha');
  const hi = ctx.float('beta');
  return [mapFloat(numericInput(ctx), (v) => Math.min(Math.max(v, lo), hi))];
};

/** threshold(x, alpha) = max(x, alpha). */
const threshold: Kernel = (ctx) => {
  const alpha = ctx.float('alpha');
  return [mapFloat(numericInput(ctx), (v) => Math.max(v, alpha))];
};

/** prelu(x, alpha[C]): per-channel (axis 1) slope for negative inputs. */
const prelu: Kernel = (ctx) => {
  const x = numericInput(ctx);
  const alpha = ctx.tensor('alpha');
  if (x.shape.length < 3) ctx.fail(`x must have rank ≥ 3, got ${fmt(x)}`, 'x');
  const C = x.shape[1];
  if (alpha.data.length !== C) ctx.fail(`alpha must have ${C} elements (x.shape[1]), got ${fmt(alpha)}`, 'alpha');
  const inner = sizeOf(x.shape.slice(2));
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = x.data[i];
    out[i] = v >= 0 ? v : alpha.data[Math.floor(i / inner) % C] * v;
  }
  return [rt('fp32', x.shape, out)];
};

export const ELEMENTWISE_KERNELS: Record<string, Kernel> = {
  ...Object.fromEntries(
    ['add', 'sub', 'mul', 'real_div', 'floor_div', 'mod', 'pow', 'maximum', 'minimum'].map((op) => [op, arithmeticKernel(op)]),
  ),
  ...Object.fromEntries(Object.keys(COMPARE).map((op) => [op, compareKernel(op)])),
  ...Object.fromEntries(Object.keys(LOGICAL).map((op) => [op, logicalKernel(op)])),
  logical_not: logicalNot,
  select,
  ...Object.fromEntries(Object.entries(UNARY).map(([op, f]) => [op, unaryKernel(f)])),
  ...Object.fromEntries(Object.keys(INT_PRESERVING).map((op) => [op, intPreservingKernel(op)])),
  log,
  rsqrt,
  inverse,
  gelu,
  leaky_relu: leakyRelu,
  elu,
  sigmoid_hard: sigmoidHard,
  linear_activation: linearActivation,
  scaled_tanh: scaledTanh,
  thresholded_relu: thresholdedRelu,
  clamped_relu: clampedRelu,
  clip,
  threshold,
  prelu,
};
