/**
 * Compressible layers: a selected weight (`@silica/compression`'s `Weight`, mil-ops.md
 * §7.1) whose every reader is a `linear`, a `conv` or a `matmul` with the weight as one
 * operand, seen as the canonical matrix the Hessian methods work on:
 *
 *     W [R, C]:  R = output channels, C = input features,   layer output = X · Wᵀ
 *
 * | reader | weight layout | canonical W | activation rows X |
 * |---|---|---|---|
 * | `linear(x, weight)` | [O, I] | the weight | `x` as [·, I] |
 * | `matmul(x, y = w)`, `transpose_y` false | [K, N] | wᵀ | `x` as [·, K] (columns of each batch when `transpose_x`) |
 * | `matmul(x, y = w)`, `transpose_y` true | [N, K] | the weight | as above |
 * | `matmul(x = w, y)`, `transpose_x` false | [M, K] | the weight | columns of each batch of `y` (rows when `transpose_y`) |
 * | `matmul(x = w, y)`, `transpose_x` true | [K, M] | wᵀ | as above |
 * | `conv(x, weight)`, `groups` g | [O, I/g, *K] | [O, ΠK · I/g], column `k·(I/g) + i` | im2col patches of `x`, one Hessian per group |
 *
 * (matmul weights of rank > 2 are accepted when their leading dims are all 1.) The conv
 * column order — kernel position major, input channel minor — makes the prune pass's n:m
 * runs (m consecutive input channels at one kernel position, §7.5) contiguous columns.
 *
 * The output and input channel axes agree with §7.2 (`channelAxes`), so per-channel,
 * per-block and per-grouped-channel parameters map one to one onto canonical rows and
 * column blocks.
 */
import { type Weight, channelAxes } from '@silica/compression';
import type { OutputTensor } from '@silica/interpreter';
import { type Op, type Target, type Value, constValueOf } from '@silica/ir';
import type { ActivationSink } from './hessian.js';

export type LayerKind = 'linear' | 'conv' | 'matmul';

/** One reader of the weight and how its activation feeds the Hessian. */
export interface Site {
  readonly op: Op;
  /** The value whose samples are the layer's input activations. */
  readonly activation: Value;
  /** Adds one sample of the activation to the layer's accumulators (one per row group); returns the tokens added. */
  accumulate(act: OutputTensor, hessians: readonly ActivationSink[]): number;
}

export interface Layer {
  readonly weight: Weight;
  readonly kind: LayerKind;
  /** Output channels. */
  readonly rows: number;
  /** Input features per row (per conv group). */
  readonly cols: number;
  /** Rows split into this many equal groups, each with its own Hessian (conv `groups`; 1 otherwise). */
  readonly rowGroups: number;
  /** Normalised output / input channel axes of the weight tensor (§7.2). */
  readonly outAxis: number;
  readonly inAxis: number;
  /** For every canonical column, its position along the tensor's input axis. */
  readonly inputIndex: Int32Array;
  /** Contiguous column runs along the input axis at fixed other coordinates (n:m runs stay inside). */
  readonly segments: ReadonlyArray<readonly [number, number]>;
  /** Canonical matrix [rows, cols] of the weight's values (tensor layout, row-major). */
  toCanonical(values: ArrayLike<number>): Float64Array;
  /** Writes a canonical matrix back in the tensor layout. */
  fromCanonical<T extends { [i: number]: number; length: number }>(m: ArrayLike<number>, out: T): T;
  readonly sites: readonly Site[];
}

export type LayerOrSkip = { readonly layer: Layer } | { readonly skip: string };

function flag(op: Op, param: string, target: Target): boolean | undefined {
  const v = op.input(param);
  if (!v) return false;
  const t = constValueOf(v, target);
  return t === undefined ? undefined : t.toNumbers()[0] !== 0;
}

function ints(op: Op, param: string, target: Target): number[] | null | undefined {
  const v = op.input(param);
  if (!v) return null;
  const t = constValueOf(v, target);
  return t === undefined ? undefined : t.toNumbers();
}

function str(op: Op, param: string, target: Target): string | null | undefined {
  const v = op.input(param);
  if (!v) return null;
  const t = constValueOf(v, target);
  return t === undefined || t.dtype !== 'string' ? undefined : t.strings()[0];
}

interface Geometry {
  readonly kind: LayerKind;
  /** canonical = transpose of the last two dims */
  readonly transposed: boolean;
  readonly groups: number;
}

/** What one reader implies, or why the weight cannot be calibrated through it. */
function readerGeometry(op: Op, w: Value, shape: readonly number[], target: Target): { geometry: Geometry; activation: Value; param: string } | string {
  const rank = shape.length;
  if (op.type === 'linear') {
    if (op.input('weight') !== w) return `linear "${op.name}" reads it as its ${op.input('x') === w ? 'x' : 'bias'}, not as the weight`;
    if (rank !== 2) return `linear "${op.name}" weight has rank ${rank}`;
    return { geometry: { kind: 'linear', transposed: false, groups: 1 }, activation: op.input('x')!, param: 'weight' };
  }
  if (op.type === 'conv') {
    if (op.input('weight') !== w) return `conv "${op.name}" reads it as its ${op.input('x') === w ? 'x' : 'bias'}, not as the weight`;
    const groups = ints(op, 'groups', target);
    if (groups === undefined) return `conv "${op.name}" has a non-constant groups`;
    const g = groups === null ? 1 : groups[0];
    if (!(g >= 1) || shape[0] % g !== 0) return `conv "${op.name}" groups ${g} does not divide the ${shape[0]} output channels`;
    return { geometry: { kind: 'conv', transposed: false, groups: g }, activation: op.input('x')!, param: 'weight' };
  }
  if (op.type === 'matmul') {
    const isY = op.input('y') === w;
    const isX = op.input('x') === w;
    if (isX && isY) return `matmul "${op.name}" reads it as both operands`;
    if (rank < 2) return `matmul "${op.name}" operand has rank ${rank}`;
    if (shape.slice(0, -2).some((d) => d !== 1)) return `matmul "${op.name}" operand [${shape.join(', ')}] is batched (leading dims must be 1)`;
    if (isY) {
      const ty = flag(op, 'transpose_y', target);
      if (ty === undefined) return `matmul "${op.name}" has a non-constant transpose_y`;
      return { geometry: { kind: 'matmul', transposed: !ty, groups: 1 }, activation: op.input('x')!, param: 'y' };
    }
    const tx = flag(op, 'transpose_x', target);
    if (tx === undefined) return `matmul "${op.name}" has a non-constant transpose_x`;
    return { geometry: { kind: 'matmul', transposed: tx, groups: 1 }, activation: op.input('y')!, param: 'x' };
  }
  return `${op.type} "${op.name}" reads it (only linear, conv and matmul layers are calibrated)`;
}

/** The conv parameters needed to build im2col patches (mil-ops.md §6, coremltools' shape rules). */
interface ConvParams {
  readonly strides: number[];
  readonly dilations: number[];
  readonly padType: string;
  readonly pad: number[] | null;
  readonly groups: number;
}

function convParams(op: Op, nsp: number, groups: number, target: Target): ConvParams | string {
  const strides = ints(op, 'strides', target);
  const dilations = ints(op, 'dilations', target);
  const padType = str(op, 'pad_type', target);
  const pad = ints(op, 'pad', target);
  if (strides === undefined || dilations === undefined || padType === undefined || pad === undefined) {
    return `conv "${op.name}" has non-constant strides, dilations or padding`;
  }
  return {
    strides: strides ?? new Array(nsp).fill(1),
    dilations: dilations ?? new Array(nsp).fill(1),
    padType: padType ?? 'valid',
    pad,
    groups,
  };
}

/** [begin, end] padding per spatial dim (the interpreter's `convPads`). */
function convPads(p: ConvParams, spatial: readonly number[], kernel: readonly number[], where: string): Array<[number, number]> {
  switch (p.padType) {
    case 'valid':
      return spatial.map(() => [0, 0]);
    case 'custom': {
      const pad = p.pad ?? new Array(2 * spatial.length).fill(0);
      return spatial.map((_, i) => [pad[2 * i], pad[2 * i + 1]]);
    }
    case 'same':
    case 'same_lower':
      return spatial.map((d, i) => {
        const out = Math.ceil(d / p.strides[i]);
        const total = Math.max((out - 1) * p.strides[i] + (kernel[i] - 1) * p.dilations[i] + 1 - d, 0);
        const small = Math.floor(total / 2);
        return p.padType === 'same' ? [small, total - small] : [total - small, small];
      });
    default:
      throw new Error(`${where}: unknown pad_type "${p.padType}"`);
  }
}

/** Positions of output pixels per im2col chunk. */
const CONV_CHUNK = 256;

function convSite(op: Op, activation: Value, shape: readonly number[], p: ConvParams): Site {
  const kernel = shape.slice(2);
  const nsp = kernel.length;
  const CinG = shape[1];
  const KK = kernel.reduce((a, b) => a * b, 1);
  const Kc = CinG * KK;
  return {
    op,
    activation,
    accumulate(act, hessians) {
      const where = `conv "${op.name}"`;
      if (act.shape.length !== nsp + 2) throw new Error(`${where}: activation has shape [${act.shape.join(', ')}], expected rank ${nsp + 2}`);
      const [N, Cin] = act.shape;
      if (Cin !== CinG * p.groups) throw new Error(`${where}: activation has ${Cin} channels, expected ${CinG * p.groups}`);
      const spatial = act.shape.slice(2);
      const pads = convPads(p, spatial, kernel, where);
      const outSp = spatial.map((d, i) => Math.floor((d + pads[i][0] + pads[i][1] - (kernel[i] - 1) * p.dilations[i] - 1) / p.strides[i]) + 1);
      const to3 = (a: readonly number[], fill: number): number[] => [...new Array(3 - nsp).fill(fill), ...a];
      const [ID, IH, IW] = to3(spatial, 1);
      const [KD, KH, KW] = to3(kernel, 1);
      const [OD, OH, OW] = to3(outSp, 1);
      const [SD, SH, SW] = to3(p.strides, 1);
      const [DD, DH, DW] = to3(p.dilations, 1);
      const [PD, PH, PW] = to3(pads.map((x) => x[0]), 0);
      const P = OD * OH * OW;
      const plane = ID * IH * IW;
      const X = act.data as Float32Array;
      const xt = new Float32Array(Kc * CONV_CHUNK);
      for (let n = 0; n < N; n++) {
        for (let g = 0; g < p.groups; g++) {
          for (let p0 = 0; p0 < P; p0 += CONV_CHUNK) {
            const T = Math.min(CONV_CHUNK, P - p0);
            // xt[(kpos·CinG + ci), t] = x[n, g·CinG + ci, position of output p0 + t shifted by kpos]
            for (let t = 0; t < T; t++) {
              const pos = p0 + t;
              const ow = pos % OW;
              const oh = ((pos - ow) / OW) % OH;
              const od = (pos - ow - oh * OW) / (OW * OH);
              let kpos = 0;
              for (let kd = 0; kd < KD; kd++) {
                const id = od * SD - PD + kd * DD;
                for (let kh = 0; kh < KH; kh++) {
                  const ih = oh * SH - PH + kh * DH;
                  for (let kw = 0; kw < KW; kw++, kpos++) {
                    const iw = ow * SW - PW + kw * DW;
                    const inside = id >= 0 && id < ID && ih >= 0 && ih < IH && iw >= 0 && iw < IW;
                    const off = (id * IH + ih) * IW + iw;
                    const rowBase = kpos * CinG;
                    for (let ci = 0; ci < CinG; ci++) {
                      xt[(rowBase + ci) * T + t] = inside ? X[(n * Cin + g * CinG + ci) * plane + off] : 0;
                    }
                  }
                }
              }
            }
            hessians[g].addColumns(xt, T);
          }
        }
      }
      return N * P;
    },
  };
}

/** How the activation of a linear/matmul reader becomes rows of X. */
function matrixSite(op: Op, activation: Value, features: number, columnsPerBatch: boolean): Site {
  return {
    op,
    activation,
    accumulate(act, hessians) {
      const data = act.data as Float32Array;
      const shape = act.shape;
      if (!columnsPerBatch) {
        const last = shape.length === 0 ? 1 : shape[shape.length - 1];
        if (last !== features) throw new Error(`${op.type} "${op.name}": activation [${shape.join(', ')}] does not end in the ${features} input features`);
        const rows = data.length / features;
        hessians[0].addRows(data, rows);
        return rows;
      }
      // features along axis −2: each batch is Xᵀ [features, tokens]
      if (shape.length < 2 || shape[shape.length - 2] !== features) {
        throw new Error(`${op.type} "${op.name}": activation [${shape.join(', ')}] does not have the ${features} input features at axis −2`);
      }
      const tokens = shape[shape.length - 1];
      const batches = data.length / (features * tokens);
      for (let b = 0; b < batches; b++) hessians[0].addColumns(data, tokens, b * features * tokens);
      return batches * tokens;
    },
  };
}

/**
 * The layer view of a selected weight, or why it cannot be calibrated (a reader that is
 * not a linear/conv/matmul weight operand, readers that disagree, non-constant conv
 * parameters, an integer weight).
 */
export function layerOf(weight: Weight, target: Target): LayerOrSkip {
  const shape = weight.denseShape;
  if (weight.chain.length > 0) return { skip: 'already compressed (a constexpr chain produces it)' };
  if (weight.denseDType !== 'fp16' && weight.denseDType !== 'fp32') return { skip: `${weight.denseDType} weights are not calibrated (only fp16/fp32)` };
  const dense = weight.dense;
  if (dense.uses.some((u) => u.kind === 'output')) return { skip: 'it is also a block output' };
  const readers: Array<{ op: Op; geometry: Geometry; activation: Value; param: string }> = [];
  for (const op of weight.consumers) {
    const r = readerGeometry(op, dense, shape, target);
    if (typeof r === 'string') return { skip: r };
    if (r.activation.producer?.parent && r.activation.producer.parent !== weight.fn.block) return { skip: `the input of ${op.type} "${op.name}" is inside a nested block` };
    if (op.parent !== weight.fn.block) return { skip: `${op.type} "${op.name}" is inside a nested block` };
    readers.push({ op, ...r });
  }
  if (readers.length === 0) return { skip: 'no op reads it' };
  const g0 = readers[0].geometry;
  for (const r of readers) {
    if (r.geometry.kind !== g0.kind || r.geometry.transposed !== g0.transposed || r.geometry.groups !== g0.groups) {
      return { skip: `its readers use it differently (${readers[0].op.type} "${readers[0].op.name}" vs ${r.op.type} "${r.op.name}")` };
    }
  }
  const axes = channelAxes(weight, target);
  if (axes.output === undefined || axes.input === undefined) return { skip: 'its readers disagree on the channel axes' };

  const rank = shape.length;
  let rows: number;
  let cols: number;
  let rowGroups = 1;
  let inputIndex: Int32Array;
  let segments: Array<[number, number]>;
  let toCanonical: (v: ArrayLike<number>) => Float64Array;
  let fromCanonical: <T extends { [i: number]: number; length: number }>(m: ArrayLike<number>, out: T) => T;
  const sites: Site[] = [];

  if (g0.kind === 'conv') {
    const [O, CinG] = shape;
    const KK = shape.slice(2).reduce((a, b) => a * b, 1);
    rows = O;
    cols = CinG * KK;
    rowGroups = g0.groups;
    inputIndex = new Int32Array(cols);
    for (let c = 0; c < cols; c++) inputIndex[c] = c % CinG;
    segments = [];
    for (let k = 0; k < KK; k++) segments.push([k * CinG, (k + 1) * CinG]);
    toCanonical = (v) => {
      const m = new Float64Array(O * cols);
      for (let o = 0; o < O; o++) for (let ci = 0; ci < CinG; ci++) for (let k = 0; k < KK; k++) m[o * cols + k * CinG + ci] = v[(o * CinG + ci) * KK + k];
      return m;
    };
    fromCanonical = (m, out) => {
      for (let o = 0; o < O; o++) for (let ci = 0; ci < CinG; ci++) for (let k = 0; k < KK; k++) out[(o * CinG + ci) * KK + k] = m[o * cols + k * CinG + ci];
      return out;
    };
    for (const r of readers) {
      const p = convParams(r.op, rank - 2, g0.groups, target);
      if (typeof p === 'string') return { skip: p };
      if (!['valid', 'same', 'same_lower', 'custom'].includes(p.padType)) return { skip: `conv "${r.op.name}" has pad_type "${p.padType}"` };
      sites.push(convSite(r.op, r.activation, shape, p));
    }
  } else {
    const a = shape[rank - 2];
    const b = shape[rank - 1];
    const transposed = g0.transposed;
    rows = transposed ? b : a;
    cols = transposed ? a : b;
    inputIndex = new Int32Array(cols);
    for (let c = 0; c < cols; c++) inputIndex[c] = c;
    segments = [[0, cols]];
    toCanonical = (v) => {
      const m = new Float64Array(rows * cols);
      if (!transposed) for (let k = 0; k < m.length; k++) m[k] = v[k];
      else for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) m[j * cols + i] = v[i * b + j];
      return m;
    };
    fromCanonical = (m, out) => {
      if (!transposed) for (let k = 0; k < rows * cols; k++) out[k] = m[k];
      else for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[i * b + j] = m[j * cols + i];
      return out;
    };
    for (const r of readers) {
      if (g0.kind === 'linear') {
        sites.push(matrixSite(r.op, r.activation, cols, false));
        continue;
      }
      // matmul: the activation is the other operand; is its feature axis last or −2?
      const actIsX = r.param === 'y';
      const actFlag = flag(r.op, actIsX ? 'transpose_x' : 'transpose_y', target);
      if (actFlag === undefined) return { skip: `matmul "${r.op.name}" has a non-constant transpose flag` };
      const actRank = r.activation.type.kind === 'tensor' ? r.activation.type.shape.length : 0;
      // x·y contracts x's last axis (−2 when transpose_x) with y's −2 axis (last when transpose_y)
      const featuresLast = actRank === 1 ? true : actIsX ? !actFlag : actFlag;
      sites.push(matrixSite(r.op, r.activation, cols, !featuresLast));
    }
  }

  return {
    layer: {
      weight,
      kind: g0.kind,
      rows,
      cols,
      rowGroups,
      outAxis: axes.output,
      inAxis: axes.input,
      inputIndex,
      segments,
      toCanonical,
      fromCanonical,
      sites,
    },
  };
}
