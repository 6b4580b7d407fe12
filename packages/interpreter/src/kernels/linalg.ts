/**
 * linear, matmul (mil-ops.md §5.1–5.2) and conv (§6), all on top of gemmNT.
 */
import { broadcastShapes } from '../broadcast.js';
import { gemmNT, transpose2d } from '../gemm.js';
import type { Kernel, KernelContext } from '../kernel.js';
import { type RTensor, fmt, kindOf, rt, sizeOf, stridesOf } from '../rtensor.js';

function floatData(ctx: KernelContext, t: RTensor, param: string): Float32Array {
  if (!(t.data instanceof Float32Array)) ctx.fail(`expects a float tensor here, got ${fmt(t)}`, param);
  return t.data as Float32Array;
}

/** Exact integer GEMM (int32 linear/matmul): C[m,n] = Σ A[m,k]·B[n,k] with int32 wrap. */
function gemmIntNT(M: number, N: number, K: number, A: ArrayLike<number>, aOff: number, B: ArrayLike<number>, bOff: number, C: Int32Array, cOff: number, bias?: ArrayLike<number>): void {
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n] : 0;
      for (let k = 0; k < K; k++) s = (s + Math.imul(A[aOff + m * K + k], B[bOff + n * K + k])) | 0;
      C[cOff + m * N + n] = s;
    }
  }
}

/** linear(x, weight, bias): x [*D, D_in] · weight[D_out, D_in]ᵀ + bias (mil-ops.md §5.1). */
const linear: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const w = ctx.tensor('weight');
  const b = ctx.optional('bias');
  if (x.shape.length < 1) ctx.fail(`x must have rank ≥ 1, got ${fmt(x)}`, 'x');
  if (w.shape.length !== 2) ctx.fail(`weight must be [D_out, D_in], got ${fmt(w)}`, 'weight');
  const [N, K] = w.shape;
  if (x.shape[x.shape.length - 1] !== K) ctx.fail(`last dim of x ${fmt(x)} must equal D_in = ${K} of weight ${fmt(w)}`, 'x');
  if (b && (b.shape.length !== 1 || b.shape[0] !== N)) ctx.fail(`bias must be [${N}], got ${fmt(b)}`, 'bias');
  const M = x.data.length / (K || 1);
  const shape = [...x.shape.slice(0, -1), N];
  if (kindOf(x.dtype) === 'int' && kindOf(w.dtype) === 'int') {
    const out = new Int32Array(M * N);
    gemmIntNT(M, N, K, x.data, 0, w.data, 0, out, 0, b?.data);
    return [rt('int32', shape, out)];
  }
  const out = new Float32Array(M * N);
  const bias = b ? floatData(ctx, b, 'bias') : undefined;
  if (K === 0) {
    if (bias) for (let m = 0; m < M; m++) out.set(bias, m * N);
  } else {
    gemmNT(M, N, K, floatData(ctx, x, 'x'), 0, floatData(ctx, w, 'weight'), 0, out, 0, N, false, bias);
  }
  return [rt('fp32', shape, out)];
};

/**
 * matmul (mil-ops.md §5.2): NumPy matmul after optional transposes of the last two axes;
 * batch dims broadcast; a rank-1 x is [1, K], a rank-1 y is [K, 1], and the inserted
 * dim is dropped from the result.
 *
 * Every batch runs gemmNT, which wants y as [N, K]: y with transpose_y already is;
 * otherwise it is transposed — once per session when y is const.
 */
const matmul: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const y = ctx.tensor('y');
  const tx = ctx.bool('transpose_x', false);
  const ty = ctx.bool('transpose_y', false);
  if (x.shape.length === 0 || y.shape.length === 0) ctx.fail(`operands must have rank ≥ 1, got ${fmt(x)} and ${fmt(y)}`);
  if (x.shape.length === 1 && tx) ctx.fail('transpose_x is not allowed for a rank-1 x', 'transpose_x');
  if (y.shape.length === 1 && ty) ctx.fail('transpose_y is not allowed for a rank-1 y', 'transpose_y');
  const xs = x.shape.length === 1 ? [1, x.shape[0]] : [...x.shape];
  const ys = y.shape.length === 1 ? [y.shape[0], 1] : [...y.shape];
  const xr = xs.length;
  const yr = ys.length;
  // stored matrix dims
  const xRows = xs[xr - 2];
  const xCols = xs[xr - 1];
  const yRows = ys[yr - 2];
  const yCols = ys[yr - 1];
  const M = tx ? xCols : xRows;
  const K = tx ? xRows : xCols;
  const Ky = ty ? yCols : yRows;
  const N = ty ? yRows : yCols;
  if (K !== Ky) {
    ctx.fail(`inner dims differ: x ${fmt(x)}${tx ? ' (transposed)' : ''} has K = ${K}, y ${fmt(y)}${ty ? ' (transposed)' : ''} has K = ${Ky}`);
  }
  let batch: number[];
  try {
    batch = broadcastShapes([xs.slice(0, -2), ys.slice(0, -2)]);
  } catch (e) {
    return ctx.fail(`batch dims do not broadcast: ${(e as Error).message}`);
  }
  const outShape = [...batch];
  if (x.shape.length > 1) outShape.push(M);
  if (y.shape.length > 1) outShape.push(N);
  const nb = sizeOf(batch);
  // batch offsets of x and y (in matrices) for each output batch
  const bx = batchIndex(batch, xs.slice(0, -2));
  const by = batchIndex(batch, ys.slice(0, -2));
  const intPath = kindOf(x.dtype) === 'int' && kindOf(y.dtype) === 'int';
  if (intPath) {
    const out = new Int32Array(nb * M * N);
    const xm = x.shape.length > 1 && tx ? transposeBatches(Int32Array, x.data, xRows, xCols) : x.data;
    const ym = ty ? y.data : transposeBatches(Int32Array, y.data, yRows, yCols);
    for (let b = 0; b < nb; b++) gemmIntNT(M, N, K, xm, bx[b] * M * K, ym, by[b] * N * K, out, b * M * N);
    return [rt('int32', outShape, out)];
  }
  const X = floatData(ctx, x, 'x');
  const Y = floatData(ctx, y, 'y');
  const xm = tx ? transposeBatches(Float32Array, X, xRows, xCols) : X;
  const ym = ty ? Y : ctx.isConst('y') ? ctx.memo('yT', () => transposeBatches(Float32Array, Y, yRows, yCols)) : transposeBatches(Float32Array, Y, yRows, yCols);
  const out = new Float32Array(nb * M * N);
  for (let b = 0; b < nb; b++) gemmNT(M, N, K, xm, bx[b] * M * K, ym, by[b] * N * K, out, b * M * N);
  return [rt('fp32', outShape, out)];
};

/** For every index of the broadcast batch shape, the flat batch index into an operand of batch shape `own`. */
function batchIndex(batch: readonly number[], own: readonly number[]): Int32Array {
  const n = sizeOf(batch);
  const out = new Int32Array(n);
  const r = batch.length;
  const pad = r - own.length;
  const ownStrides = stridesOf(own);
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let d = pad; d < r; d++) if (own[d - pad] !== 1) off += idx[d] * ownStrides[d - pad];
    out[i] = off;
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

function transposeBatches<T extends Float32Array | Int32Array>(ctor: new (n: number) => T, src: ArrayLike<number>, rows: number, cols: number): T {
  const out = new ctor(src.length);
  const per = rows * cols;
  const nb = per === 0 ? 0 : src.length / per;
  if (src instanceof Float32Array && out instanceof Float32Array) {
    for (let b = 0; b < nb; b++) transpose2d(src, b * per, rows, cols, out, b * per);
    return out;
  }
  for (let b = 0; b < nb; b++) {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[b * per + c * rows + r] = src[b * per + r * cols + c];
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// conv

/**
 * Per spatial dim [pad_begin, pad_end] (coremltools' conv shape rules): `valid` — none;
 * `custom` — `pad`; `same` — total = max((ceil(d/s)−1)·s + (K−1)·dil + 1 − d, 0) split
 * with the smaller half first; `same_lower` — the larger half first.
 */
export function convPads(
  ctx: KernelContext,
  padType: string,
  spatial: readonly number[],
  kernel: readonly number[],
  strides: readonly number[],
  dilations: readonly number[],
): Array<[number, number]> {
  const n = spatial.length;
  switch (padType) {
    case 'valid':
      return spatial.map(() => [0, 0]);
    case 'custom': {
      const pad = ctx.ints('pad', new Array(2 * n).fill(0));
      if (pad.length !== 2 * n) ctx.fail(`must have ${2 * n} entries (begin, end per spatial dim), got ${pad.length}`, 'pad');
      if (pad.some((p) => p < 0)) ctx.fail(`pads must be ≥ 0, got [${pad.join(', ')}]`, 'pad');
      return spatial.map((_, i) => [pad[2 * i], pad[2 * i + 1]]);
    }
    case 'same':
    case 'same_lower':
      return spatial.map((d, i) => {
        const out = Math.ceil(d / strides[i]);
        const total = Math.max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - d, 0);
        const small = Math.floor(total / 2);
        return padType === 'same' ? [small, total - small] : [total - small, small];
      });
    default:
      return ctx.fail(`unknown pad_type "${padType}" (expected valid, same, same_lower or custom)`, 'pad_type');
  }
}

/**
 * conv (mil-ops.md §6): N-d cross-correlation over 1–3 spatial dims, with groups,
 * strides, dilations and padding. Each (batch, group) is an im2col patch matrix
 * [P, C_in/groups·ΠK] times the group's filters [C_out/groups, C_in/groups·ΠK]ᵀ; the
 * product [C_out/groups, P] lands directly in the NC… output.
 */
const conv: Kernel = (ctx) => {
  const x = ctx.tensor('x');
  const w = ctx.tensor('weight');
  const b = ctx.optional('bias');
  const X = floatData(ctx, x, 'x');
  const W = floatData(ctx, w, 'weight');
  const rank = x.shape.length;
  const nsp = rank - 2;
  if (nsp < 1 || nsp > 3) ctx.fail(`x must be [N, C_in, *spatial] with 1–3 spatial dims, got ${fmt(x)}`, 'x');
  if (w.shape.length !== rank) ctx.fail(`weight must be [C_out, C_in/groups, *kernel] (rank ${rank}), got ${fmt(w)}`, 'weight');
  const groups = ctx.int('groups', 1);
  const [N, Cin] = x.shape;
  const Cout = w.shape[0];
  const spatial = x.shape.slice(2);
  const kernel = w.shape.slice(2);
  if (groups < 1 || Cin % groups !== 0 || Cout % groups !== 0) {
    ctx.fail(`groups ${groups} must divide C_in ${Cin} and C_out ${Cout}`, 'groups');
  }
  const CinG = Cin / groups;
  const CoutG = Cout / groups;
  if (w.shape[1] !== CinG) ctx.fail(`weight ${fmt(w)} must have C_in/groups = ${CinG} at axis 1`, 'weight');
  if (b && (b.shape.length !== 1 || b.shape[0] !== Cout)) ctx.fail(`bias must be [${Cout}], got ${fmt(b)}`, 'bias');
  const strides = ctx.ints('strides', new Array(nsp).fill(1));
  const dilations = ctx.ints('dilations', new Array(nsp).fill(1));
  if (strides.length !== nsp || strides.some((s) => s < 1)) ctx.fail(`must be ${nsp} positive integers, got [${strides.join(', ')}]`, 'strides');
  if (dilations.length !== nsp || dilations.some((s) => s < 1)) ctx.fail(`must be ${nsp} positive integers, got [${dilations.join(', ')}]`, 'dilations');
  const pads = convPads(ctx, ctx.string('pad_type', 'valid'), spatial, kernel, strides, dilations);
  const outSp = spatial.map((d, i) => Math.floor((d + pads[i][0] + pads[i][1] - (kernel[i] - 1) * dilations[i] - 1) / strides[i]) + 1);
  if (outSp.some((d) => d <= 0)) ctx.fail(`output spatial size [${outSp.join(', ')}] is empty for input ${fmt(x)} and kernel [${kernel.join(', ')}]`);
  // pad everything to 3 spatial dims: [D, H, W]
  const to3 = (a: readonly number[], fillV: number): number[] => [...new Array(3 - nsp).fill(fillV), ...a];
  const [ID, IH, IW] = to3(spatial, 1);
  const [KD, KH, KW] = to3(kernel, 1);
  const [OD, OH, OW] = to3(outSp, 1);
  const [SD, SH, SW] = to3(strides, 1);
  const [DD, DH, DW] = to3(dilations, 1);
  const [PD, PH, PW] = to3(pads.map((p) => p[0]), 0);
  const P = OD * OH * OW;
  const KK = KD * KH * KW;
  const Kc = CinG * KK;
  const inPlane = ID * IH * IW;
  const out = new Float32Array(N * Cout * P);
  const patches = new Float32Array(P * Kc);
  const bias = b ? floatData(ctx, b, 'bias') : undefined;
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      // im2col: patches[p, ic·KK + kd·KH·KW + kh·KW + kw]
      let p = 0;
      for (let od = 0; od < OD; od++) {
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++, p++) {
            let q = p * Kc;
            for (let ic = 0; ic < CinG; ic++) {
              const plane = (n * Cin + g * CinG + ic) * inPlane;
              for (let kd = 0; kd < KD; kd++) {
                const id = od * SD - PD + kd * DD;
                const dOk = id >= 0 && id < ID;
                for (let kh = 0; kh < KH; kh++) {
                  const ih = oh * SH - PH + kh * DH;
                  const hOk = dOk && ih >= 0 && ih < IH;
                  const rowBase = plane + (id * IH + ih) * IW;
                  for (let kw = 0; kw < KW; kw++, q++) {
                    const iw = ow * SW - PW + kw * DW;
                    patches[q] = hOk && iw >= 0 && iw < IW ? X[rowBase + iw] : 0;
                  }
                }
              }
            }
          }
        }
      }
      const cOff = (n * Cout + g * CoutG) * P;
      gemmNT(CoutG, P, Kc, W, g * CoutG * Kc, patches, 0, out, cOff);
      if (bias) {
        for (let oc = 0; oc < CoutG; oc++) {
          const bv = bias[g * CoutG + oc];
          const row = cOff + oc * P;
          for (let i = 0; i < P; i++) out[row + i] += bv;
        }
      }
    }
  }
  return [rt('fp32', [N, Cout, ...outSp], out)];
};

export const LINALG_KERNELS: Record<string, Kernel> = { linear, matmul, conv };
