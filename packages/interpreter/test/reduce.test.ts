import { describe, expect, it } from 'vitest';
import { TestProgram, arange, close, f32, i32, list } from './helpers.js';

const M = [1, 2, 3, 4, 5, 6]; // [[1,2,3],[4,5,6]]

function reduce(type: string, values: number[], shape: number[], params: (p: TestProgram) => Record<string, ReturnType<TestProgram['i32']>>, out: number[]) {
  const p = new TestProgram();
  const o = p.op(type, { x: p.c('fp32', values, shape), ...params(p) }, f32(out));
  return p.output(o).run()[0];
}

describe('reductions', () => {
  it('reduce_sum over given axes, all axes, with keep_dims', () => {
    expect(list(reduce('reduce_sum', M, [2, 3], (p) => ({ axes: p.i32(1) }), [2]))).toEqual([6, 15]);
    expect(list(reduce('reduce_sum', M, [2, 3], (p) => ({ axes: p.i32(-1) }), [2]))).toEqual([6, 15]);
    expect(list(reduce('reduce_sum', M, [2, 3], (p) => ({ axes: p.i32(0) }), [3]))).toEqual([5, 7, 9]);
    const all = reduce('reduce_sum', M, [2, 3], () => ({}), []);
    expect(all.shape).toEqual([]);
    expect(list(all)).toEqual([21]);
    const kept = reduce('reduce_sum', M, [2, 3], (p) => ({ axes: p.i32(1), keep_dims: p.bool(true) }), [2, 1]);
    expect(kept.shape).toEqual([2, 1]);
  });

  it('reduces non-adjacent axes: sum over axes 0 and 2 of 12i + 4j + k', () => {
    // Σ_i Σ_k (12i + 4j + k) = 4·12 + 8·4j + 2·6 = 60 + 32j
    expect(list(reduce('reduce_sum', arange(24), [2, 3, 4], (p) => ({ axes: p.i32(0, 2) }), [3]))).toEqual([60, 92, 124]);
  });

  it('mean, max, min, prod, sum_square, l1, l2, log_sum, log_sum_exp', () => {
    expect(list(reduce('reduce_mean', M, [2, 3], (p) => ({ axes: p.i32(0, 1) }), []))).toEqual([3.5]);
    expect(list(reduce('reduce_max', M, [2, 3], (p) => ({ axes: p.i32(1) }), [2]))).toEqual([3, 6]);
    expect(list(reduce('reduce_min', M, [2, 3], (p) => ({ axes: p.i32(0) }), [3]))).toEqual([1, 2, 3]);
    expect(list(reduce('reduce_prod', M, [2, 3], (p) => ({ axes: p.i32(1) }), [2]))).toEqual([6, 120]);
    expect(list(reduce('reduce_sum_square', M, [2, 3], (p) => ({ axes: p.i32(1) }), [2]))).toEqual([14, 77]);
    expect(list(reduce('reduce_l1_norm', [-1, 2, -3], [3], () => ({}), []))).toEqual([6]);
    expect(list(reduce('reduce_l2_norm', [3, -4], [2], () => ({}), []))).toEqual([5]);
    close(list(reduce('reduce_log_sum', M, [2, 3], (p) => ({ axes: p.i32(1) }), [2])), [Math.log(6), Math.log(15)]);
    // stable: no overflow for large inputs
    close(list(reduce('reduce_log_sum_exp', [1000, 1000], [2], () => ({}), [])), [1000 + Math.LN2]);
  });

  it('argmax / argmin return int32 and the first extreme', () => {
    const p = new TestProgram();
    const x = p.c('fp32', [1, 3, 3, 7, 0, 2], [2, 3]);
    const a = p.op('reduce_argmax', { x, axis: p.int(1) }, i32([2]));
    const c = p.op('reduce_argmin', { x, axis: p.int(0), keep_dims: p.bool(true) }, i32([1, 3]));
    const [ra, rc] = p.output(a, c).run();
    expect(ra.dtype).toBe('int32');
    expect(list(ra)).toEqual([1, 0]);
    expect(list(rc)).toEqual([0, 1, 1]);
  });

  it('integer sums stay int32', () => {
    const p = new TestProgram();
    const o = p.op('reduce_sum', { x: p.c('int32', M, [2, 3]), axes: p.i32(1) }, i32([2]));
    const [r] = p.output(o).run();
    expect(r.dtype).toBe('int32');
    expect(list(r)).toEqual([6, 15]);
  });

  it('rejects repeated or out-of-range axes', () => {
    expect(() => reduce('reduce_sum', M, [2, 3], (p) => ({ axes: p.i32(1, -1) }), [2])).toThrow(/name an axis twice/);
    expect(() => reduce('reduce_sum', M, [2, 3], (p) => ({ axes: p.i32(2) }), [2])).toThrow(/axis 2 is out of range for rank 2/);
  });
});

describe('softmax', () => {
  it('normalises along the last axis by default, stably', () => {
    const e = Math.E;
    close(list(reduce('softmax', [1, 2, 3], [3], () => ({}), [3])), [e / (e + e * e + e ** 3), (e * e) / (e + e * e + e ** 3), e ** 3 / (e + e * e + e ** 3)]);
    close(list(reduce('softmax', [1000, 1001], [2], () => ({}), [2])), [0.2689414213699951, 0.7310585786300049]);
  });

  it('normalises along another axis', () => {
    // columns: softmax([0, ln 3]) = [0.25, 0.75], softmax([0, 0]) = [0.5, 0.5]
    close(list(reduce('softmax', [0, 0, Math.log(3), 0], [2, 2], (p) => ({ axis: p.int(0) }), [2, 2])), [0.25, 0.5, 0.75, 0.5]);
  });
});

describe('layer_norm and batch_norm', () => {
  it('layer_norm over the last axis with gamma, beta and epsilon', () => {
    const p = new TestProgram();
    const x = p.c('fp32', [1, 2, 3, 4, 2, 2, 2, 2], [2, 4]);
    const plain = p.op('layer_norm', { x, axes: p.i32(-1), epsilon: p.f32(0) }, f32([2, 4]));
    const affine = p.op('layer_norm', { x, axes: p.i32(-1), gamma: p.c('fp32', [1, 2, 1, 1]), beta: p.c('fp32', [0, 0, 0, 1]) }, f32([2, 4]));
    const [r, ra] = p.output(plain, affine).run();
    // mean 2.5, population variance 1.25
    const s = 1 / Math.sqrt(1.25);
    close(list(r).slice(0, 4), [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s]);
    // a constant row has zero variance: with epsilon 0 that is 0/0 (NaN, as in NumPy);
    // with the default epsilon (below) it normalises to 0
    expect(list(r).slice(4).every(Number.isNaN)).toBe(true);
    const s2 = 1 / Math.sqrt(1.25 + 1e-5);
    close(list(ra), [-1.5 * s2, -1 * s2, 0.5 * s2, 1.5 * s2 + 1, 0, 0, 0, 1], 1e-6);
  });

  it('layer_norm over a leading axis (gamma shaped like x.shape[axes])', () => {
    const p = new TestProgram();
    const x = p.c('fp32', M, [2, 3]);
    const o = p.op('layer_norm', { x, axes: p.i32(0), gamma: p.c('fp32', [1, 3]), epsilon: p.f32(0) }, f32([2, 3]));
    // each column is [a, a + 3]: normalised to [-1, 1], then scaled by gamma [1, 3] along axis 0
    expect(list(p.output(o).run()[0])).toEqual([-1, -1, -1, 3, 3, 3]);
  });

  it('layer_norm defaults to all axes', () => {
    const r = reduce('layer_norm', [1, 3, 1, 3], [2, 2], (p) => ({ epsilon: p.f32(0) }), [2, 2]);
    expect(list(r)).toEqual([-1, 1, -1, 1]);
  });

  it('batch_norm normalises per channel (axis 1)', () => {
    const p = new TestProgram();
    const x = p.c('fp32', [1, 3, 10, 20], [1, 2, 2]);
    const o = p.op(
      'batch_norm',
      { x, mean: p.c('fp32', [2, 15]), variance: p.c('fp32', [1, 25]), gamma: p.c('fp32', [2, 1]), beta: p.c('fp32', [0, 1]), epsilon: p.f32(0) },
      f32([1, 2, 2]),
    );
    expect(list(p.output(o).run()[0])).toEqual([-2, 2, 0, 2]);
  });
});
