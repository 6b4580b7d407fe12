import { describe, expect, it } from 'vitest';
import { tensorFromValues } from '@silica/ir';
import { TestProgram, b, close, f16, f32, i32, list } from './helpers.js';

/** Runs `type(x, y)` on two consts and returns the output. */
function binary(type: string, x: { dtype: 'fp32' | 'int32' | 'bool'; shape: number[]; v: Array<number | boolean> }, y: typeof x, out: ReturnType<typeof f32>) {
  const p = new TestProgram();
  const o = p.op(type, { x: p.c(x.dtype, x.v, x.shape), y: p.c(y.dtype, y.v, y.shape) }, out);
  return p.output(o).run()[0];
}

describe('binary ops with NumPy broadcasting', () => {
  it('adds a row vector to every row of a matrix', () => {
    const r = binary('add', { dtype: 'fp32', shape: [2, 3], v: [1, 2, 3, 4, 5, 6] }, { dtype: 'fp32', shape: [3], v: [10, 20, 30] }, f32([2, 3]));
    expect(r.shape).toEqual([2, 3]);
    expect(list(r)).toEqual([11, 22, 33, 14, 25, 36]);
  });

  it('broadcasts a column against a row into an outer table', () => {
    const r = binary('sub', { dtype: 'fp32', shape: [3, 1], v: [10, 20, 30] }, { dtype: 'fp32', shape: [1, 2], v: [1, 2] }, f32([3, 2]));
    expect(list(r)).toEqual([9, 8, 19, 18, 29, 28]);
  });

  it('broadcasts a scalar and a middle axis of size 1', () => {
    const s = binary('mul', { dtype: 'fp32', shape: [], v: [2] }, { dtype: 'fp32', shape: [2, 2], v: [1, 2, 3, 4] }, f32([2, 2]));
    expect(list(s)).toEqual([2, 4, 6, 8]);
    // [2,1,2] * [3,1] -> [2,3,2]
    const m = binary('mul', { dtype: 'fp32', shape: [2, 1, 2], v: [1, 2, 3, 4] }, { dtype: 'fp32', shape: [3, 1], v: [1, 10, 100] }, f32([2, 3, 2]));
    expect(list(m)).toEqual([1, 2, 10, 20, 100, 200, 3, 4, 30, 40, 300, 400]);
  });

  it('rejects shapes that do not broadcast, naming the op', () => {
    expect(() => binary('add', { dtype: 'fp32', shape: [2, 3], v: [1, 2, 3, 4, 5, 6] }, { dtype: 'fp32', shape: [2], v: [1, 2] }, f32([2, 3]))).toThrow(
      /add "add_\d+": shapes \[2, 3\] and \[2\] do not broadcast/,
    );
  });

  it('real_div, pow, maximum, minimum, floor_div and mod on floats', () => {
    const x = { dtype: 'fp32' as const, shape: [4], v: [7, -7, 2, 9] };
    const y = { dtype: 'fp32' as const, shape: [4], v: [2, 2, 3, -4] };
    expect(list(binary('real_div', x, y, f32([4])))).toEqual([3.5, -3.5, Math.fround(2 / 3), -2.25]);
    expect(list(binary('pow', x, y, f32([4])))).toEqual([49, 49, 8, Math.fround(1 / 6561)]);
    expect(list(binary('maximum', x, y, f32([4])))).toEqual([7, 2, 3, 9]);
    expect(list(binary('minimum', x, y, f32([4])))).toEqual([2, -7, 2, -4]);
    expect(list(binary('floor_div', x, y, f32([4])))).toEqual([3, -4, 0, -3]);
    // NumPy mod: sign of the divisor
    expect(list(binary('mod', x, y, f32([4])))).toEqual([1, 1, 2, -3]);
  });

  it('integer arithmetic stays integral and wraps like int32', () => {
    const x = { dtype: 'int32' as const, shape: [4], v: [7, -7, 2147483647, 6] };
    const y = { dtype: 'int32' as const, shape: [4], v: [2, 2, 1, -4] };
    const add = binary('add', x, y, i32([4]));
    expect(add.dtype).toBe('int32');
    expect(list(add)).toEqual([9, -5, -2147483648, 2]);
    expect(list(binary('real_div', x, y, i32([4])))).toEqual([3, -3, 2147483647, -1]);
    expect(list(binary('floor_div', x, y, i32([4])))).toEqual([3, -4, 2147483647, -2]);
    expect(list(binary('mod', x, y, i32([4])))).toEqual([1, 1, 0, -2]);
    expect(list(binary('mul', x, y, i32([4])))).toEqual([14, -14, 2147483647, -24]);
    expect(() => binary('real_div', x, { dtype: 'int32', shape: [], v: [0] }, i32([4]))).toThrow(/integer division by zero/);
  });

  it('comparisons give bool, logical ops need bools', () => {
    const x = { dtype: 'fp32' as const, shape: [3], v: [1, 2, 3] };
    const y = { dtype: 'fp32' as const, shape: [], v: [2] };
    const cases: Record<string, number[]> = {
      equal: [0, 1, 0],
      not_equal: [1, 0, 1],
      less: [1, 0, 0],
      less_equal: [1, 1, 0],
      greater: [0, 0, 1],
      greater_equal: [0, 1, 1],
    };
    for (const [op, want] of Object.entries(cases)) {
      const r = binary(op, x, y, b([3]));
      expect(r.dtype).toBe('bool');
      expect(list(r), op).toEqual(want);
    }
    const p = { dtype: 'bool' as const, shape: [4], v: [true, true, false, false] };
    const q = { dtype: 'bool' as const, shape: [4], v: [true, false, true, false] };
    expect(list(binary('logical_and', p, q, b([4])))).toEqual([1, 0, 0, 0]);
    expect(list(binary('logical_or', p, q, b([4])))).toEqual([1, 1, 1, 0]);
    expect(list(binary('logical_xor', p, q, b([4])))).toEqual([0, 1, 1, 0]);
    expect(() => binary('logical_and', x, p, b([3]))).toThrow(/expects bool operands/);
    const t = new TestProgram();
    expect(list(t.output(t.op('logical_not', { x: t.bools(true, false) }, b([2]))).run()[0])).toEqual([0, 1]);
  });

  it('select broadcasts cond, a and b', () => {
    const p = new TestProgram();
    const cond = p.c('bool', [true, false], [2, 1]);
    const a = p.c('fp32', [1, 2, 3], [3]);
    const bb = p.c('fp32', [-1], []);
    const o = p.op('select', { cond, a, b: bb }, f32([2, 3]));
    expect(list(p.output(o).run()[0])).toEqual([1, 2, 3, -1, -1, -1]);
  });
});

describe('unary ops and activations', () => {
  function unary(type: string, values: number[], extra: (p: TestProgram) => Record<string, ReturnType<TestProgram['f32']>> = () => ({})) {
    const p = new TestProgram();
    const o = p.op(type, { x: p.c('fp32', values), ...extra(p) }, f32([values.length]));
    return list(p.output(o).run()[0]);
  }
  const xs = [-3, -1, -0.5, 0, 0.5, 1, 2];

  it('gelu in all three modes (reference values from math.erf / tanh / exp)', () => {
    close(unary('gelu', xs), [-0.00404969409489031, -0.15865525393145707, -0.15426876936299344, 0, 0.34573123063700656, 0.8413447460685429, 1.9544997361036416]);
    close(unary('gelu', xs, (p) => ({ mode: p.str('EXACT') })), unary('gelu', xs));
    close(unary('gelu', xs, (p) => ({ mode: p.str('TANH_APPROXIMATION') })), [
      -0.0036373920817729943, -0.15880800939172324, -0.15428599017485606, 0, 0.34571400982514394, 0.8411919906082768, 1.954597694087775,
    ]);
    close(unary('gelu', xs, (p) => ({ mode: p.str('SIGMOID_APPROXIMATION') })), [
      -0.01807130970778597, -0.1542042340671787, -0.1496115633936199, 0, 0.35038843660638014, 0.8457957659328212, 1.9356586231442083,
    ]);
    expect(() => unary('gelu', xs, (p) => ({ mode: p.str('FAST') }))).toThrow(/gelu "gelu_\d+", input "mode": unknown mode "FAST"/);
  });

  it('relu, sigmoid, silu, tanh, exp, sqrt, abs, erf', () => {
    expect(unary('relu', xs)).toEqual([0, 0, 0, 0, 0.5, 1, 2]);
    close(unary('sigmoid', [0, 2, -2]), [0.5, 0.8807970779778823, 0.11920292202211755]);
    close(unary('silu', [0, 2, -2]), [0, 1.7615941559557646, -0.2384058440442351]);
    close(unary('tanh', [0, 1]), [0, 0.7615941559557649]);
    close(unary('exp', [0, 1, -1]), [1, Math.E, 1 / Math.E]);
    close(unary('sqrt', [0, 4, 2]), [0, 2, Math.SQRT2]);
    expect(unary('abs', [-2, 0, 3])).toEqual([2, 0, 3]);
    close(unary('erf', [0, 0.5, -1, 3]), [0, 0.5204998778130465, -0.8427007929497149, 0.9999779095030014]);
    // large magnitudes saturate instead of overflowing
    expect(unary('sigmoid', [-1000, 1000])).toEqual([0, 1]);
  });

  it('rsqrt adds epsilon (default 1e-12), log adds epsilon (default 1e-45)', () => {
    close(unary('rsqrt', [4, 0.25]), [0.5, 2]);
    close(unary('rsqrt', [3], (p) => ({ epsilon: p.f32(1) })), [0.5]);
    // 1/sqrt(0 + 1e-12) = 1e6
    close(unary('rsqrt', [0]), [1e6]);
    close(unary('log', [1, Math.E]), [0, 1]);
    close(unary('log', [0], (p) => ({ epsilon: p.f32(1) })), [0]);
    expect(Number.isFinite(unary('log', [0])[0])).toBe(true);
  });

  it('round is half-to-even; floor, ceil, sign, square; integers stay integers', () => {
    expect(unary('round', [0.5, 1.5, 2.5, -0.5, -1.5, 2.4])).toEqual([0, 2, 2, -0, -2, 2]);
    expect(unary('floor', [1.5, -1.5])).toEqual([1, -2]);
    expect(unary('ceil', [1.5, -1.5])).toEqual([2, -1]);
    expect(unary('sign', [-3, 0, 2])).toEqual([-1, 0, 1]);
    expect(unary('square', [-3, 0.5])).toEqual([9, 0.25]);
    const p = new TestProgram();
    const o = p.op('abs', { x: p.i32(-5, 7) }, i32([2]));
    const r = p.output(o).run()[0];
    expect(r.dtype).toBe('int32');
    expect(list(r)).toEqual([5, 7]);
  });

  it('parametrised activations use their documented defaults', () => {
    close(unary('leaky_relu', [-2, 3]), [-0.02, 3]);
    close(unary('leaky_relu', [-2], (p) => ({ alpha: p.f32(0.5) })), [-1]);
    close(unary('elu', [-1, 1]), [Math.expm1(-1), 1]);
    expect(unary('relu6', [-1, 3, 9])).toEqual([0, 3, 6]);
    close(unary('clip', [-5, 0.5, 5], (p) => ({ alpha: p.f32(-1), beta: p.f32(1) })), [-1, 0.5, 1]);
    close(unary('threshold', [-5, 3], (p) => ({ alpha: p.f32(0) })), [0, 3]);
    close(unary('softplus', [0, 50]), [Math.LN2, 50]);
    close(unary('sigmoid_hard', [-10, 0, 10]), [0, 0.5, 1]);
    close(unary('inverse', [1]), [1 / 1.0001]);
  });

  it('prelu applies one slope per channel (axis 1)', () => {
    const p = new TestProgram();
    const x = p.c('fp32', [-1, 1, -1, 1], [1, 2, 2]);
    const o = p.op('prelu', { x, alpha: p.c('fp32', [0.5, 2]) }, f32([1, 2, 2]));
    expect(list(p.output(o).run()[0])).toEqual([-0.5, 1, -2, 1]);
  });
});

describe('fp16 semantics', () => {
  it('rounds every fp16-typed op output to fp16, so errors compound like on device', () => {
    // 1 + 2^-11 is not an fp16 number: it rounds (ties to even) back to 1 at every step
    const p = new TestProgram('iOS18', { x: f16([1]) });
    const eps = p.tensor(tensorFromValues('fp32', [], [2 ** -11]));
    const a = p.op('add', { x: p.input('x'), y: eps }, f16([1]));
    const a2 = p.op('add', { x: a, y: eps }, f16([1]));
    // the same chain typed fp32 keeps both increments
    const x32 = p.op('cast', { x: p.input('x'), dtype: p.str('fp32') }, f32([1]));
    const c = p.op('add', { x: x32, y: eps }, f32([1]));
    const c2 = p.op('add', { x: c, y: eps }, f32([1]));
    const [h, s] = p.output(a2, c2).run({ x: { shape: [1], data: new Float32Array([1]) } });
    expect(h.dtype).toBe('fp16');
    expect(list(h)).toEqual([1]);
    expect(list(s)).toEqual([1 + 2 ** -10]);
  });

  it('rounds results to the nearest fp16 and overflows to infinity past 65504', () => {
    const p = new TestProgram('iOS18', { x: f16([3]) });
    const o = p.op('mul', { x: p.input('x'), y: p.tensor(tensorFromValues('fp16', [], [3])) }, f16([3]));
    const [r] = p.output(o).run({ x: { shape: [3], data: [0.1, 30000, 1 / 3] } });
    // fp16(0.1) = 0.0999755859375; ×3 = 0.2999267578125 → fp16 0.2998046875
    // fp16(1/3) = 0.333251953125; ×3 = 0.999755859375, halfway between 0x3BFF
    // (0.99951171875, odd mantissa) and 0x3C00 (1.0): ties to even → 1
    expect(list(r)).toEqual([0.2998046875, Infinity, 1]);
  });

  it('view ops on fp16 data keep the values and the dtype', () => {
    const p = new TestProgram('iOS18', { x: f16([2, 2]) });
    const o = p.op('reshape', { x: p.input('x'), shape: p.i32(4) }, f16([4]));
    const [r] = p.output(o).run({ x: { shape: [2, 2], data: new Uint16Array([0x3c00, 0x4000, 0xc000, 0x3555]) } });
    expect(r.dtype).toBe('fp16');
    expect(list(r)).toEqual([1, 2, -2, 0.333251953125]);
  });
});
