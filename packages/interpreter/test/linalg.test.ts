import { describe, expect, it } from 'vitest';
import { tensorFromValues } from '@silica/ir';
import { gemmNT, gemmNaive } from '../src/index.js';
import { TestProgram, close, f32, i32, list, randoms } from './helpers.js';

describe('gemmNT', () => {
  it('matches the naive triple loop for every tile remainder', () => {
    for (const M of [1, 3, 4, 5, 13]) {
      for (const N of [1, 5, 64, 67]) {
        for (const K of [1, 7, 256, 300]) {
          const A = randoms(M * K, M * 7 + K);
          const B = randoms(N * K, N * 13 + K);
          const want = new Float32Array(M * N);
          gemmNaive(M, N, K, A, B, want);
          const got = new Float32Array(M * N);
          gemmNT(M, N, K, A, 0, B, 0, got, 0);
          close(got, want, 1e-5);
        }
      }
    }
  });

  it('honours offsets, a row stride, bias and accumulation', () => {
    // A = [[1, 2]], B = [[1, 0], [0, 1], [1, 1]] → [1, 2, 3]
    const A = new Float32Array([9, 1, 2]);
    const B = new Float32Array([9, 9, 1, 0, 0, 1, 1, 1]);
    const C = new Float32Array([5, 5, 5, 5, 5, 5]);
    gemmNT(1, 3, 2, A, 1, B, 2, C, 1, 3, false, new Float32Array([10, 20, 30]));
    expect(Array.from(C)).toEqual([5, 11, 22, 33, 5, 5]);
    gemmNT(1, 3, 2, A, 1, B, 2, C, 1, 3, true);
    expect(Array.from(C)).toEqual([5, 12, 24, 36, 5, 5]);
  });
});

describe('linear', () => {
  it('computes x · Wᵀ + b for rank 1–3 inputs', () => {
    const p = new TestProgram('iOS18', { x: f32([2, 1, 3]), v: f32([3]) });
    const w = p.c('fp32', [1, 0, -1, 2, 1, 0], [2, 3]);
    const bias = p.c('fp32', [10, 20]);
    const o = p.op('linear', { x: p.input('x'), weight: w, bias }, f32([2, 1, 2]));
    const o1 = p.op('linear', { x: p.input('v'), weight: w }, f32([2]));
    const [r, r1] = p.output(o, o1).run({ x: { shape: [2, 1, 3], data: [1, 2, 3, 4, 5, 6] }, v: { shape: [3], data: [1, 1, 1] } });
    // row [1,2,3]: [1-3, 2+2] + [10, 20] = [8, 24]; row [4,5,6]: [-2, 13] + b = [8, 33]
    expect(r.shape).toEqual([2, 1, 2]);
    expect(list(r)).toEqual([8, 24, 8, 33]);
    expect(list(r1)).toEqual([0, 3]);
  });

  it('takes fp16 weights with an fp32 activation (iOS17) and keeps x dtype', () => {
    const p = new TestProgram('iOS17', { x: f32([1, 2]) });
    const w = p.tensor(tensorFromValues('fp16', [1, 2], [0.1, 1]));
    const o = p.op('linear', { x: p.input('x'), weight: w }, f32([1, 1]));
    const [r] = p.output(o).run({ x: { shape: [1, 2], data: [1, 1] } });
    expect(r.dtype).toBe('fp32');
    // fp16(0.1) = 0.0999755859375
    expect(list(r)).toEqual([Math.fround(1.0999755859375)]);
  });

  it('rejects a weight whose D_in does not match x', () => {
    const p = new TestProgram('iOS18', { x: f32([1, 4]) });
    const o = p.op('linear', { x: p.input('x'), weight: p.c('fp32', [1, 2, 3, 4, 5, 6], [2, 3]) }, f32([1, 2]));
    expect(() => p.output(o).run({ x: { shape: [1, 4], data: [1, 2, 3, 4] } })).toThrow(
      /linear "linear_\d+", input "x": last dim of x fp32\[1, 4\] must equal D_in = 3/,
    );
  });
});

describe('matmul', () => {
  const X = [1, 2, 3, 4, 5, 6]; // [[1,2,3],[4,5,6]]
  const Y = [7, 8, 9, 10, 11, 12]; // [[7,8],[9,10],[11,12]]

  it('multiplies matrices, with transposes', () => {
    const p = new TestProgram();
    const x = p.c('fp32', X, [2, 3]);
    const y = p.c('fp32', Y, [3, 2]);
    const xT = p.c('fp32', [1, 4, 2, 5, 3, 6], [3, 2]);
    const yT = p.c('fp32', [7, 9, 11, 8, 10, 12], [2, 3]);
    const o = p.op('matmul', { x, y }, f32([2, 2]));
    const o2 = p.op('matmul', { x: xT, y: yT, transpose_x: p.bool(true), transpose_y: p.bool(true) }, f32([2, 2]));
    const o3 = p.op('matmul', { x, y: yT, transpose_y: p.bool(true) }, f32([2, 2]));
    const rs = p.output(o, o2, o3).run();
    for (const r of rs) expect(list(r)).toEqual([58, 64, 139, 154]);
  });

  it('follows the rank-1 rules (inserted dims are removed)', () => {
    const p = new TestProgram();
    const v3 = p.c('fp32', [1, 2, 3]);
    const o1 = p.op('matmul', { x: v3, y: p.c('fp32', Y, [3, 2]) }, f32([2]));
    const o2 = p.op('matmul', { x: p.c('fp32', X, [2, 3]), y: p.c('fp32', [1, 1, 1]) }, f32([2]));
    const o3 = p.op('matmul', { x: v3, y: p.c('fp32', [4, 5, 6]) }, f32([]));
    const [r1, r2, r3] = p.output(o1, o2, o3).run();
    expect(list(r1)).toEqual([58, 64]);
    expect(list(r2)).toEqual([6, 15]);
    expect(r3.shape).toEqual([]);
    expect(list(r3)).toEqual([32]);
    const q = new TestProgram();
    const bad = q.op('matmul', { x: q.c('fp32', [1, 2]), y: q.c('fp32', [1, 2]), transpose_x: q.bool(true) }, f32([]));
    expect(() => q.output(bad).run()).toThrow(/transpose_x is not allowed for a rank-1 x/);
  });

  it('broadcasts batch dims like NumPy', () => {
    // x [2,1,2,3] · y [3,3,2] → [2,3,2,2]
    const xs = randoms(12, 3);
    const ys = randoms(18, 4);
    const p = new TestProgram('iOS18', { x: f32([2, 1, 2, 3]), y: f32([3, 3, 2]) });
    const o = p.op('matmul', { x: p.input('x'), y: p.input('y') }, f32([2, 3, 2, 2]));
    const [r] = p.output(o).run({ x: { shape: [2, 1, 2, 3], data: xs }, y: { shape: [3, 3, 2], data: ys } });
    const want: number[] = [];
    for (let a = 0; a < 2; a++) {
      for (let c = 0; c < 3; c++) {
        for (let m = 0; m < 2; m++) {
          for (let n = 0; n < 2; n++) {
            let s = 0;
            for (let k = 0; k < 3; k++) s += xs[a * 6 + m * 3 + k] * ys[c * 6 + k * 2 + n];
            want.push(s);
          }
        }
      }
    }
    close(list(r), want, 1e-6);
  });

  it('reuses a const y across predictions and gives the same answers', () => {
    const p = new TestProgram('iOS18', { x: f32([2, 3]) });
    const o = p.op('matmul', { x: p.input('x'), y: p.c('fp32', Y, [3, 2]) }, f32([2, 2]));
    const s = p.output(o).session();
    const name = p.fn.block.outputs[0].name;
    expect(list(s.predict({ x: { shape: [2, 3], data: X } })[name])).toEqual([58, 64, 139, 154]);
    expect(list(s.predict({ x: { shape: [2, 3], data: [1, 0, 0, 0, 0, 1] } })[name])).toEqual([7, 8, 11, 12]);
  });

  it('multiplies int32 matrices exactly', () => {
    const p = new TestProgram();
    const o = p.op('matmul', { x: p.c('int32', X, [2, 3]), y: p.c('int32', Y, [3, 2]) }, i32([2, 2]));
    const [r] = p.output(o).run();
    expect(r.dtype).toBe('int32');
    expect(list(r)).toEqual([58, 64, 139, 154]);
  });

  it('rejects mismatched inner dims and non-broadcasting batches', () => {
    const p = new TestProgram();
    const o = p.op('matmul', { x: p.c('fp32', X, [2, 3]), y: p.c('fp32', X, [2, 3]) }, f32([2, 3]));
    expect(() => p.output(o).run()).toThrow(/inner dims differ/);
    const q = new TestProgram();
    const o2 = q.op('matmul', { x: q.c('fp32', randoms(12), [2, 2, 3]), y: q.c('fp32', randoms(18), [3, 3, 2]) }, f32([2, 2, 2]));
    expect(() => q.output(o2).run()).toThrow(/batch dims do not broadcast/);
  });
});

// ---------------------------------------------------------------------------------------
// conv

/** Direct N-d convolution with explicit pads, for comparison. */
function refConv(
  x: Float32Array,
  xs: number[],
  w: Float32Array,
  ws: number[],
  bias: Float32Array | undefined,
  strides: number[],
  dil: number[],
  pads: Array<[number, number]>,
  groups: number,
): { data: number[]; shape: number[] } {
  const [N, Cin] = xs;
  const Cout = ws[0];
  const sp = xs.slice(2);
  const ks = ws.slice(2);
  const out = sp.map((d, i) => Math.floor((d + pads[i][0] + pads[i][1] - (ks[i] - 1) * dil[i] - 1) / strides[i]) + 1);
  const CinG = Cin / groups;
  const CoutG = Cout / groups;
  const prod = (a: number[]) => a.reduce((p, q) => p * q, 1);
  const unravel = (i: number, dims: number[]) => {
    const r = new Array(dims.length);
    for (let d = dims.length - 1; d >= 0; d--) {
      r[d] = i % dims[d];
      i = Math.floor(i / dims[d]);
    }
    return r as number[];
  };
  const data: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let oc = 0; oc < Cout; oc++) {
      const g = Math.floor(oc / CoutG);
      for (let o = 0; o < prod(out); o++) {
        const oi = unravel(o, out);
        let s = bias ? bias[oc] : 0;
        for (let ic = 0; ic < CinG; ic++) {
          for (let k = 0; k < prod(ks); k++) {
            const ki = unravel(k, ks);
            const ii = oi.map((v, d) => v * strides[d] - pads[d][0] + ki[d] * dil[d]);
            if (ii.some((v, d) => v < 0 || v >= sp[d])) continue;
            let xo = n * Cin + g * CinG + ic;
            for (let d = 0; d < sp.length; d++) xo = xo * sp[d] + ii[d];
            let wo = oc * CinG + ic;
            for (let d = 0; d < ks.length; d++) wo = wo * ks[d] + ki[d];
            s += x[xo] * w[wo];
          }
        }
        data.push(s);
      }
    }
  }
  return { data, shape: [N, Cout, ...out] };
}

interface ConvCase {
  xs: number[];
  ws: number[];
  bias?: boolean;
  strides?: number[];
  dilations?: number[];
  padType?: string;
  pad?: number[];
  groups?: number;
}

function runConv(c: ConvCase, x: Float32Array, w: Float32Array, bias: Float32Array | undefined, outShape: number[]) {
  const p = new TestProgram('iOS18', { x: f32(c.xs) });
  const o = p.op(
    'conv',
    {
      x: p.input('x'),
      weight: p.c('fp32', Array.from(w), c.ws),
      bias: bias ? p.c('fp32', Array.from(bias)) : undefined,
      strides: c.strides ? p.i32(...c.strides) : undefined,
      dilations: c.dilations ? p.i32(...c.dilations) : undefined,
      pad_type: c.padType ? p.str(c.padType) : undefined,
      pad: c.pad ? p.i32(...c.pad) : undefined,
      groups: c.groups ? p.int(c.groups) : undefined,
    },
    f32(outShape),
  );
  return p.output(o).run({ x: { shape: c.xs, data: x } })[0];
}

describe('conv', () => {
  const conv1d = (x: number[], w: number[], extra: Omit<ConvCase, 'xs' | 'ws'>, outLen: number) =>
    list(runConv({ xs: [1, 1, x.length], ws: [1, 1, w.length], ...extra }, new Float32Array(x), new Float32Array(w), undefined, [1, 1, outLen]));

  it('valid 1-d cross-correlation (not convolution: the kernel is not flipped)', () => {
    expect(conv1d([1, 2, 3, 4, 5], [1, 0, -1], {}, 3)).toEqual([-2, -2, -2]);
  });

  it('same / same_lower put the odd pad at the end / the beginning', () => {
    // total pad 1: same → [0, 1], same_lower → [1, 0]
    expect(conv1d([1, 2, 3, 4], [1, 10], { padType: 'same' }, 4)).toEqual([21, 32, 43, 4]);
    expect(conv1d([1, 2, 3, 4], [1, 10], { padType: 'same_lower' }, 4)).toEqual([10, 21, 32, 43]);
    // stride 2: out = ceil(5/2) = 3, total pad = (3−1)·2 + 3 − 5 = 2 → [1, 1]
    expect(conv1d([1, 2, 3, 4, 5], [1, 1, 1], { padType: 'same', strides: [2] }, 3)).toEqual([3, 9, 9]);
  });

  it('custom pads, strides and dilations', () => {
    // dilation 3: out[i] = x[i] + x[i+3]
    expect(conv1d([1, 2, 3, 4, 5, 6, 7], [1, 1], { dilations: [3] }, 4)).toEqual([5, 7, 9, 11]);
    // pad [2, 1], stride 2: padded [0,0,1,2,3,0], K = 2 windows at 0, 2, 4 → [0, 3, 3]
    expect(conv1d([1, 2, 3], [1, 1], { padType: 'custom', pad: [2, 1], strides: [2] }, 3)).toEqual([0, 3, 3]);
  });

  it('depthwise groups: each channel has its own filter', () => {
    const x = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]); // [1, 2, 2, 2]
    const w = new Float32Array([2, 3]); // [2, 1, 1, 1]
    const r = runConv({ xs: [1, 2, 2, 2], ws: [2, 1, 1, 1], groups: 2, bias: true }, x, w, new Float32Array([100, 0]), [1, 2, 2, 2]);
    expect(list(r)).toEqual([102, 104, 106, 108, 15, 18, 21, 24]);
  });

  const cases: Array<ConvCase & { name: string }> = [
    { name: '2-d same, stride 2, dilation 2, groups 2, bias', xs: [2, 4, 7, 6], ws: [6, 2, 3, 3], bias: true, strides: [2, 2], dilations: [2, 2], padType: 'same', groups: 2 },
    { name: '2-d same_lower, stride (2, 1)', xs: [1, 3, 6, 5], ws: [4, 3, 2, 4], padType: 'same_lower', strides: [2, 1] },
    { name: '2-d custom pads, dilation (1, 3)', xs: [1, 2, 5, 9], ws: [3, 2, 3, 2], padType: 'custom', pad: [1, 2, 0, 3], dilations: [1, 3], bias: true },
    { name: '2-d valid 3×3 (the convnet fixture layer shape)', xs: [1, 3, 8, 8], ws: [8, 3, 3, 3], padType: 'valid', bias: true },
    { name: '3-d same with stride', xs: [1, 2, 4, 5, 3], ws: [3, 2, 2, 3, 2], padType: 'same', strides: [2, 2, 1] },
    { name: '1-d groups 3, custom', xs: [2, 6, 10], ws: [3, 2, 4], groups: 3, padType: 'custom', pad: [3, 0], strides: [3] },
  ];
  for (const c of cases) {
    it(`matches a direct convolution: ${c.name}`, () => {
      const x = randoms(c.xs.reduce((a, b) => a * b, 1), 11);
      const w = randoms(c.ws.reduce((a, b) => a * b, 1), 12);
      const bias = c.bias ? randoms(c.ws[0], 13) : undefined;
      const nsp = c.xs.length - 2;
      const strides = c.strides ?? new Array(nsp).fill(1);
      const dil = c.dilations ?? new Array(nsp).fill(1);
      const pads: Array<[number, number]> = c.xs.slice(2).map((d, i) => {
        if (c.padType === 'custom') return [c.pad![2 * i], c.pad![2 * i + 1]];
        if (c.padType === 'same' || c.padType === 'same_lower') {
          const o = Math.ceil(d / strides[i]);
          const t = Math.max((o - 1) * strides[i] + (c.ws[i + 2] - 1) * dil[i] + 1 - d, 0);
          return c.padType === 'same' ? [Math.floor(t / 2), t - Math.floor(t / 2)] : [t - Math.floor(t / 2), Math.floor(t / 2)];
        }
        return [0, 0];
      });
      const want = refConv(x, c.xs, w, c.ws, bias, strides, dil, pads, c.groups ?? 1);
      const got = runConv(c, x, w, bias, want.shape);
      expect(got.shape).toEqual(want.shape);
      close(list(got), want.data, 1e-5);
    });
  }

  it('rejects groups that do not divide the channels', () => {
    expect(() => runConv({ xs: [1, 3, 4, 4], ws: [4, 1, 1, 1], groups: 2 }, randoms(48), randoms(4), undefined, [1, 4, 4, 4])).toThrow(
      /groups 2 must divide C_in 3 and C_out 4/,
    );
  });
});
