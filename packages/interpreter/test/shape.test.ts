import { describe, expect, it } from 'vitest';
import { tensorType } from '@silica/ir';
import { TestProgram, arange, b, f16, f32, i32, list } from './helpers.js';

/** A [2, 3, 4] fp32 const holding 0 … 23. */
function cube(p: TestProgram) {
  return p.c('fp32', arange(24), [2, 3, 4]);
}

describe('reshape, transpose, expand_dims, squeeze', () => {
  it('reshape infers -1 and copies 0 when the rank matches', () => {
    const p = new TestProgram();
    const x = p.c('fp32', arange(6), [2, 3]);
    const a = p.op('reshape', { x, shape: p.i32(3, -1) }, f32([3, 2]));
    const c = p.op('reshape', { x, shape: p.i32(0, -1) }, f32([2, 3]));
    const [ra, rc] = p.output(a, c).run();
    expect(ra.shape).toEqual([3, 2]);
    expect(list(ra)).toEqual(arange(6));
    expect(rc.shape).toEqual([2, 3]);
    const q = new TestProgram();
    const bad = q.op('reshape', { x: q.c('fp32', arange(6), [2, 3]), shape: q.i32(4, -1) }, f32([4, 2]));
    expect(() => q.output(bad).run()).toThrow(/cannot reshape fp32\[2, 3\] to \[4, -1\]/);
  });

  it('transpose permutes axes (negative entries allowed)', () => {
    const p = new TestProgram();
    const x = p.c('fp32', arange(6), [2, 3]);
    const t = p.op('transpose', { x, perm: p.i32(1, 0) }, f32([3, 2]));
    const t3 = p.op('transpose', { x: cube(p), perm: p.i32(-1, 0, 1) }, f32([4, 2, 3]));
    const [r, r3] = p.output(t, t3).run();
    expect(list(r)).toEqual([0, 3, 1, 4, 2, 5]);
    // out[k, i, j] = x[i, j, k] = 12i + 4j + k
    const want: number[] = [];
    for (let k = 0; k < 4; k++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) want.push(12 * i + 4 * j + k);
    expect(list(r3)).toEqual(want);
    const q = new TestProgram();
    const bad = q.op('transpose', { x: q.c('fp32', arange(6), [2, 3]), perm: q.i32(0, 0) }, f32([2, 2]));
    expect(() => q.output(bad).run()).toThrow(/is not a permutation/);
  });

  it('expand_dims counts axes in the output rank; squeeze ignores non-1 axes', () => {
    const p = new TestProgram();
    const x = p.c('fp32', arange(6), [2, 3]);
    const e = p.op('expand_dims', { x, axes: p.i32(0, -1) }, f32([1, 2, 3, 1]));
    const e1 = p.op('expand_dims', { x, axes: p.i32(1) }, f32([2, 1, 3]));
    const y = p.c('fp32', arange(6), [1, 2, 1, 3]);
    const s = p.op('squeeze', { x: y }, f32([2, 3]));
    const s0 = p.op('squeeze', { x: y, axes: p.i32(0) }, f32([2, 1, 3]));
    const s1 = p.op('squeeze', { x: y, axes: p.i32(1) }, f32([1, 2, 1, 3]));
    const rs = p.output(e, e1, s, s0, s1).run();
    expect(rs.map((r) => r.shape)).toEqual([[1, 2, 3, 1], [2, 1, 3], [2, 3], [2, 1, 3], [1, 2, 1, 3]]);
    for (const r of rs) expect(list(r)).toEqual(arange(6));
  });

  it('identity and shape', () => {
    const p = new TestProgram();
    const x = cube(p);
    const [r, s] = p.output(p.op('identity', { x }, f32([2, 3, 4])), p.op('shape', { x }, i32([3]))).run();
    expect(list(r)).toEqual(arange(24));
    expect(s.dtype).toBe('int32');
    expect(list(s)).toEqual([2, 3, 4]);
  });
});

describe('slice_by_index / slice_by_size', () => {
  function slice(inputs: (p: TestProgram) => Record<string, ReturnType<TestProgram['i32']>>, out: number[]) {
    const p = new TestProgram();
    const o = p.op('slice_by_index', { x: cube(p), ...inputs(p) }, f32(out));
    return p.output(o).run()[0];
  }

  it('takes begin:end ranges', () => {
    const r = slice((p) => ({ begin: p.i32(0, 1, 0), end: p.i32(2, 3, 4) }), [2, 2, 4]);
    expect(list(r)).toEqual([...arange(8, 4), ...arange(8, 16)]);
  });

  it('applies strides and end_mask: x[:, 1:, ::2]', () => {
    const r = slice((p) => ({ begin: p.i32(0, 1, 0), end: p.i32(0, 0, 0), stride: p.i32(1, 1, 2), end_mask: p.bools(true, true, true) }), [2, 2, 2]);
    expect(list(r)).toEqual([4, 6, 8, 10, 16, 18, 20, 22]);
  });

  it('counts negative begins from the end: x[-1:, :, -2:]', () => {
    const r = slice((p) => ({ begin: p.i32(-1, 0, -2), end: p.i32(0, 0, 0), end_mask: p.bools(true, true, true) }), [1, 3, 2]);
    expect(list(r)).toEqual([14, 15, 18, 19, 22, 23]);
  });

  it('squeeze_mask picks one index and drops the axis: x[1, :, 3]', () => {
    const r = slice((p) => ({ begin: p.i32(1, 0, 3), end: p.i32(2, 3, 4), squeeze_mask: p.bools(true, false, true) }), [3]);
    expect(r.shape).toEqual([3]);
    expect(list(r)).toEqual([15, 19, 23]);
  });

  it('walks backwards with a negative stride and begin_mask: x[0:1, ::-1, 0:1]', () => {
    const r = slice(
      (p) => ({ begin: p.i32(0, 0, 0), end: p.i32(1, 0, 1), stride: p.i32(1, -1, 1), begin_mask: p.bools(false, true, false), end_mask: p.bools(false, true, false) }),
      [1, 3, 1],
    );
    expect(list(r)).toEqual([8, 4, 0]);
  });

  it('gives empty slices for empty ranges and clamps out-of-range ends', () => {
    expect(slice((p) => ({ begin: p.i32(0, 2, 0), end: p.i32(2, 1, 4) }), [2, 0, 4]).data.length).toBe(0);
    expect(list(slice((p) => ({ begin: p.i32(1, 2, 0), end: p.i32(9, 9, 2) }), [1, 1, 2]))).toEqual([20, 21]);
  });

  it('masks omitted vs all-false are the same; wrong-length begin is an error', () => {
    const a = slice((p) => ({ begin: p.i32(0, 1, 1), end: p.i32(1, 2, 3) }), [1, 1, 2]);
    const c = slice((p) => ({ begin: p.i32(0, 1, 1), end: p.i32(1, 2, 3), begin_mask: p.bools(false, false, false), end_mask: p.bools(false, false, false) }), [1, 1, 2]);
    expect(list(a)).toEqual([5, 6]);
    expect(list(c)).toEqual([5, 6]);
    expect(() => slice((p) => ({ begin: p.i32(0, 1), end: p.i32(1, 2, 3) }), [1, 1, 2])).toThrow(/input "begin": must have 3 entries/);
  });

  it('slice_by_size with -1 = to the end and negative begins', () => {
    const p = new TestProgram();
    const x = cube(p);
    const a = p.op('slice_by_size', { x, begin: p.i32(1, 1, 0), size: p.i32(1, -1, 2) }, f32([1, 2, 2]));
    const c = p.op('slice_by_size', { x, begin: p.i32(-1, -1, -1), size: p.i32(1, 1, 1) }, f32([1, 1, 1]));
    const [ra, rc] = p.output(a, c).run();
    expect(list(ra)).toEqual([16, 17, 20, 21]);
    expect(list(rc)).toEqual([23]);
    const q = new TestProgram();
    const bad = q.op('slice_by_size', { x: cube(q), begin: q.i32(0, 2, 0), size: q.i32(1, 2, 1) }, f32([1, 2, 1]));
    expect(() => q.output(bad).run()).toThrow(/begin 2 with size 2 is out of range for axis 1 of size 3/);
  });
});

describe('slice_update', () => {
  it('writes a strided region', () => {
    const p = new TestProgram();
    const x = p.c('fp32', new Array(24).fill(0), [4, 6]);
    const o = p.op('slice_update', { x, update: p.c('fp32', [1, 2, 3, 4, 5, 6], [2, 3]), begin: p.i32(0, 0), end: p.i32(4, 6), stride: p.i32(2, 2) }, f32([4, 6]));
    const r = list(p.output(o).run()[0]);
    const want = new Array(24).fill(0);
    [[0, 0, 1], [0, 2, 2], [0, 4, 3], [2, 0, 4], [2, 2, 5], [2, 4, 6]].forEach(([i, j, v]) => (want[i * 6 + j] = v));
    expect(r).toEqual(want);
  });

  it('takes the squeezed shape when squeeze_mask is set, and leaves x untouched', () => {
    const p = new TestProgram();
    const x = p.c('fp32', arange(8), [2, 4]);
    const o = p.op('slice_update', { x, update: p.c('fp32', [-1, -2]), begin: p.i32(1, 1), end: p.i32(2, 3), squeeze_mask: p.bools(true, false) }, f32([2, 4]));
    const [r, rx] = p.output(o, x).run();
    expect(list(r)).toEqual([0, 1, 2, 3, 4, -1, -2, 7]);
    expect(list(rx)).toEqual(arange(8));
  });

  it('updates a KV cache at a runtime position', () => {
    const p = new TestProgram('iOS18', { pos: i32([1]) });
    const cache = p.c('fp16', new Array(20).fill(0), [1, 2, 5, 2]);
    const pos = p.input('pos');
    const zero = p.i32(0);
    const begin = p.op('concat', { values: [zero, zero, pos, zero], axis: p.int(0) }, i32([4]));
    const end = p.op('add', { x: begin, y: p.i32(1, 2, 1, 2) }, i32([4]));
    const o = p.op('slice_update', { x: cache, update: p.c('fp16', [1, 2, 3, 4], [1, 2, 1, 2]), begin, end }, f16([1, 2, 5, 2]));
    const [r] = p.output(o).run({ pos: { shape: [1], data: [3] } });
    const want = new Array(20).fill(0);
    want[6] = 1;
    want[7] = 2;
    want[16] = 3;
    want[17] = 4;
    expect(list(r)).toEqual(want);
  });

  it('rejects rank-0 updates and shape mismatches', () => {
    const p = new TestProgram();
    const x = p.c('fp32', arange(4), [4]);
    const o = p.op('slice_update', { x, update: p.f32(9), begin: p.i32(1), end: p.i32(2) }, f32([4]));
    expect(() => p.output(o).run()).toThrow(/rank-0 updates are not supported/);
    const q = new TestProgram();
    const o2 = q.op('slice_update', { x: q.c('fp32', arange(4), [4]), update: q.c('fp32', [1, 2]), begin: q.i32(0), end: q.i32(3) }, f32([4]));
    expect(() => q.output(o2).run()).toThrow(/shape \[2\] does not match the selected slice \[3\]/);
  });
});

describe('concat, split, stack, tile', () => {
  it('concatenates along an axis and interleaves', () => {
    const p = new TestProgram();
    const a = p.c('fp32', [1, 2, 3, 4], [2, 2]);
    const c = p.c('fp32', [5, 6, 7, 8], [2, 2]);
    const o = p.op('concat', { values: [a, p.c('fp32', [5, 6], [2, 1])], axis: p.int(-1) }, f32([2, 3]));
    const i0 = p.op('concat', { values: [a, c], axis: p.int(0), interleave: p.bool(true) }, f32([4, 2]));
    const i1 = p.op('concat', { values: [a, c], axis: p.int(1), interleave: p.bool(true) }, f32([2, 4]));
    const [r, r0, r1] = p.output(o, i0, i1).run();
    expect(list(r)).toEqual([1, 2, 5, 3, 4, 6]);
    expect(list(r0)).toEqual([1, 2, 5, 6, 3, 4, 7, 8]);
    expect(list(r1)).toEqual([1, 5, 2, 6, 3, 7, 4, 8]);
  });

  it('splits into equal parts or given sizes', () => {
    const p = new TestProgram();
    const x = p.c('fp32', arange(12), [2, 6]);
    const parts = p.ops('split', { x, num_splits: p.int(3), axis: p.int(1) }, [f32([2, 2]), f32([2, 2]), f32([2, 2])]);
    const sized = p.ops('split', { x, split_sizes: p.i32(1, 5), axis: p.int(-1) }, [f32([2, 1]), f32([2, 5])]);
    const rs = p.output(...parts, ...sized).run();
    expect(rs.map(list)).toEqual([[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11], [0, 6], [1, 2, 3, 4, 5, 7, 8, 9, 10, 11]]);
    const q = new TestProgram();
    const bad = q.ops('split', { x: q.c('fp32', arange(12), [2, 6]), num_splits: q.int(4), axis: q.int(1) }, [f32([2, 1])]);
    expect(() => q.output(...bad).run()).toThrow(/4 does not divide axis 1/);
  });

  it('stacks along a new axis and tiles', () => {
    const p = new TestProgram();
    const a = p.c('fp32', [1, 2]);
    const c = p.c('fp32', [3, 4]);
    const s0 = p.op('stack', { values: [a, c], axis: p.int(0) }, f32([2, 2]));
    const s1 = p.op('stack', { values: [a, c], axis: p.int(1) }, f32([2, 2]));
    const t = p.op('tile', { x: p.c('fp32', [1, 2], [1, 2]), reps: p.i32(2, 3) }, f32([2, 6]));
    const [r0, r1, rt] = p.output(s0, s1, t).run();
    expect(list(r0)).toEqual([1, 2, 3, 4]);
    expect(list(r1)).toEqual([1, 3, 2, 4]);
    expect(list(rt)).toEqual([1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2]);
  });
});

describe('gather', () => {
  const X = [1, 2, 3, 4, 5, 6]; // [[1,2],[3,4],[5,6]]

  it('takes rows or columns, output shape x[:axis] + indices + x[axis+1:]', () => {
    const p = new TestProgram();
    const x = p.c('fp32', X, [3, 2]);
    const g0 = p.op('gather', { x, indices: p.i32(2, 0) }, f32([2, 2]));
    const g1 = p.op('gather', { x, indices: p.c('int32', [1, 0], [2, 1]), axis: p.int(1) }, f32([3, 2, 1]));
    const [r0, r1] = p.output(g0, g1).run();
    expect(list(r0)).toEqual([5, 6, 1, 2]);
    expect(list(r1)).toEqual([2, 1, 4, 3, 6, 5]);
  });

  it('batch_dims pairs leading dims of x and indices', () => {
    const p = new TestProgram('iOS16');
    const x = p.c('fp32', X, [2, 3]);
    const o = p.op('gather', { x, indices: p.c('int32', [2, 0, 1, 1], [2, 2]), axis: p.int(1), batch_dims: p.int(1) }, f32([2, 2]));
    expect(list(p.output(o).run()[0])).toEqual([3, 1, 5, 5]);
  });

  function negative(target: 'iOS15' | 'iOS16' | 'iOS17' | 'iOS18') {
    const p = new TestProgram(target);
    const o = p.op('gather', { x: p.c('fp32', X, [3, 2]), indices: p.i32(-1, 0) }, f32([2, 2]));
    return () => list(p.output(o).run()[0]);
  }

  it('wraps negative indices before iOS17', () => {
    expect(negative('iOS15')()).toEqual([5, 6, 1, 2]);
    expect(negative('iOS16')()).toEqual([5, 6, 1, 2]);
  });

  it('treats negative indices as out of bounds from iOS17', () => {
    expect(negative('iOS17')).toThrow(/index -1 is out of bounds for axis 0 of size 3 \(from iOS17 negative indices are out of bounds/);
    expect(negative('iOS18')).toThrow(/out of bounds/);
  });

  it('rejects indices past the end on every target', () => {
    const p = new TestProgram('iOS15');
    const o = p.op('gather', { x: p.c('fp32', X, [3, 2]), indices: p.i32(3) }, f32([1, 2]));
    expect(() => p.output(o).run()).toThrow(/index 3 is out of bounds for axis 0 of size 3/);
  });

  it('gather_along_axis picks per position', () => {
    const p = new TestProgram();
    const o = p.op('gather_along_axis', { x: p.c('fp32', [1, 2, 3, 4], [2, 2]), indices: p.c('int32', [0, 0, 1, 0], [2, 2]), axis: p.int(1) }, f32([2, 2]));
    expect(list(p.output(o).run()[0])).toEqual([1, 1, 4, 3]);
  });
});

describe('band_part, fill, range_1d, cast', () => {
  it('builds the causal mask coremltools uses: band_part(fill([L, S], true), -1, 0)', () => {
    const p = new TestProgram();
    const ones = p.op('fill', { shape: p.i32(3, 3), value: p.bool(true) }, b([3, 3]));
    const causal = p.op('band_part', { x: ones, lower: p.int(-1), upper: p.int(0) }, b([3, 3]));
    const tri = p.op('band_part', { x: p.c('fp32', new Array(16).fill(1), [4, 4]), lower: p.int(1), upper: p.int(1) }, f32([4, 4]));
    const [r, t] = p.output(causal, tri).run();
    expect(r.dtype).toBe('bool');
    expect(list(r)).toEqual([1, 0, 0, 1, 1, 0, 1, 1, 1]);
    expect(list(t)).toEqual([1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1]);
  });

  it('fill takes a runtime shape; the value defaults to 0', () => {
    const p = new TestProgram('iOS18', { x: f32(['n', 2]) });
    const shp = p.op('shape', { x: p.input('x') }, i32([2]));
    const f = p.op('fill', { shape: shp, value: p.f32(7) }, f32(['n', 2]));
    const z = p.op('fill', { shape: p.i32(2) }, i32([2]));
    const [rf, rz] = p.output(f, z).run({ x: { shape: [3, 2], data: new Float32Array(6) } });
    expect(rf.shape).toEqual([3, 2]);
    expect(list(rf)).toEqual([7, 7, 7, 7, 7, 7]);
    expect(rz.dtype).toBe('int32');
    expect(list(rz)).toEqual([0, 0]);
  });

  it('range_1d has length ceil((end − start)/step)', () => {
    const p = new TestProgram();
    const a = p.op('range_1d', { end: p.int(10), start: p.int(0), step: p.int(3) }, i32([4]));
    const f = p.op('range_1d', { end: p.f32(1), start: p.f32(0), step: p.f32(0.25) }, f32([4]));
    const n = p.op('range_1d', { end: p.int(0), start: p.int(5), step: p.int(-2) }, i32([3]));
    const [ra, rf, rn] = p.output(a, f, n).run();
    expect(ra.dtype).toBe('int32');
    expect(list(ra)).toEqual([0, 3, 6, 9]);
    expect(list(rf)).toEqual([0, 0.25, 0.5, 0.75]);
    expect(list(rn)).toEqual([5, 3, 1]);
  });

  it('cast truncates toward zero, wraps to the target width, and rounds to fp16', () => {
    const p = new TestProgram();
    const x = p.c('fp32', [1.7, -1.7, 0, 300]);
    const toI = p.op('cast', { x, dtype: p.str('int32') }, i32([4]));
    const toI8 = p.op('cast', { x, dtype: p.str('int8') }, tensorType('int8', [4]));
    const toB = p.op('cast', { x, dtype: p.str('bool') }, b([4]));
    const toH = p.op('cast', { x: p.i32(2049, 3), dtype: p.str('fp16') }, f16([2]));
    const back = p.op('cast', { x: p.bools(true, false), dtype: p.str('fp32') }, f32([2]));
    const [ri, ri8, rb, rh, rback] = p.output(toI, toI8, toB, toH, back).run();
    expect(list(ri)).toEqual([1, -1, 0, 300]);
    expect(ri8.dtype).toBe('int8');
    expect(list(ri8)).toEqual([1, -1, 0, 44]);
    expect(list(rb)).toEqual([1, 1, 0, 1]);
    expect(rh.dtype).toBe('fp16');
    expect(list(rh)).toEqual([2048, 3]);
    expect(list(rback)).toEqual([1, 0]);
    const q = new TestProgram();
    const bad = q.op('cast', { x: q.c('fp32', [1]), dtype: q.str('uint4') }, tensorType('uint4', [1]));
    expect(() => q.output(bad).run()).toThrow(/unsupported target dtype "uint4"/);
  });
});
