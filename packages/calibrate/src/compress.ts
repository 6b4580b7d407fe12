/**
 * Per-layer compression from a layer's Hessian(s), and the constexpr ops of the result —
 * built with `@silica/compression`'s emitters, so each algorithm's output has exactly the
 * form of the plain pass with the same config (mil-ops.md §7.7):
 *
 * | algorithm | ops (iOS18+) | ops (iOS16/17) |
 * |---|---|---|
 * | GPTQ | `constexpr_blockwise_shift_scale(data, scale[, offset])` | `constexpr_affine_dequantize` (8-bit, per tensor/channel) |
 * | SparseGPT | `constexpr_sparse_to_dense(nonzero_data, mask)` | the iOS16 form (packed mask, `shape`) |
 * | sensitivity-weighted k-means | `constexpr_lut_to_dense(indices, lut)` | the iOS16 form (per tensor, 1/2/4/6/8 bits) |
 *
 * Before / after for GPTQ int4 per-block (32) on an fp16 linear weight:
 *
 * ```
 * %w = const() {val = #sha256:…} : fp16[256, 64]
 * %y = linear(weight = %w, x = %x) : fp16[1, 16, 256]
 * ```
 * ```
 * %w_quantized_data = const() {val = #sha256:…} : int4[256, 64]
 * %w_quantized_scale = const() {val = #sha256:…} : fp16[256, 2]
 * %w_quantized = constexpr_blockwise_shift_scale(data = %w_quantized_data, scale = %w_quantized_scale) : fp16[256, 64]
 * %y = linear(weight = %w_quantized, x = %x) : fp16[1, 16, 256]
 * ```
 */
import {
  type BlockSizes,
  type Emitter,
  type Weight,
  blockGridShape,
  emitLut,
  emitQuantized,
  emitSparse,
  inferBlockSizes,
  maskFromBytes,
  requireFeature,
} from '@silica/compression';
import { type Target, type Value, tensorFromValues, uintOfBits } from '@silica/ir';
import { type GptqResult, gptq } from './gptq.js';
import type { ActivationSink, HessianAccumulator } from './hessian.js';
import { nearestEntry, weightedHistogram, weightedLut } from './kmeans.js';
import type { Layer } from './layers.js';
import type { ResolvedPalettization, ResolvedPruning, ResolvedQuantization } from './options.js';
import { type BlockParams, type FloatDType, blockParams, quantRange, roundToFloat } from './quant.js';
import { sparseGpt } from './sparsegpt.js';

/** A layer's compressed form: the dense values the deployed model computes with, and how to emit it. */
export interface CompressedLayer {
  /** Decompressed weight in the tensor layout (what the constexpr ops evaluate to). */
  readonly dense: Float64Array;
  /** Short description for stats, e.g. `gptq int4 per_block(32)`. */
  readonly method: string;
  /** The algorithm's estimate of the layer-objective increase (GPTQ / SparseGPT), or the weighted k-means cost. */
  readonly loss: number;
  /** Builds the constexpr ops; returns the value replacing the weight. */
  emit(e: Emitter): Value;
}

export interface HessianOptions {
  readonly percentDamp: number;
  readonly blockSize: number;
  readonly signal?: AbortSignal;
}

/** A reason to leave the weight alone. */
export interface LayerSkip {
  readonly skip: string;
}

function floatDTypeOf(layer: Layer): FloatDType {
  return layer.weight.denseDType === 'fp16' ? 'fp16' : 'fp32';
}

/** The weight's values, as numbers in the tensor layout. */
export function weightValues(weight: Weight): Float32Array {
  const t = weight.op.constValue;
  if (!t) throw new Error(`${weight.label}: not a const`);
  return t.toFloat32();
}

function blockSizesOf(layer: Layer, req: Parameters<typeof inferBlockSizes>[3]): BlockSizes {
  return inferBlockSizes(layer.weight.label, layer.weight.denseShape, { output: layer.outAxis, input: layer.inAxis }, req);
}

/** Flat index in the parameter grid of (output channel r, input block g). */
function gridIndex(grid: readonly number[], axis: number, index: number): number {
  let stride = 1;
  for (let k = grid.length - 1; k > axis; k--) stride *= grid[k];
  return index * stride;
}

// ---------------------------------------------------------------------------------------
// GPTQ

/** Checks, before any work, that the target can hold the result (mil-ops.md §7.3). */
export function gateQuantization(c: ResolvedQuantization, target: Target, where: string): void {
  if (c.dtype === 'int4') requireFeature('int4 quantization', target, where);
  if (c.dtype === 'uint4') requireFeature('uint4 quantization', target, where);
  if (c.granularity === 'per_block') requireFeature('per-block quantization', target, where);
}

export async function compressGptq(
  layer: Layer,
  hessians: readonly HessianAccumulator[],
  c: ResolvedQuantization,
  o: HessianOptions & { readonly actOrder: boolean },
): Promise<CompressedLayer | LayerSkip> {
  const shape = layer.weight.denseShape;
  const bs = blockSizesOf(layer, { granularity: c.granularity, blockSize: c.blockSize });
  if (!bs.ok) return { skip: bs.reason };
  const grid = blockGridShape(shape, bs.blockSizes);
  const { rows: R, cols: C, rowGroups } = layer;
  const floatDType = floatDTypeOf(layer);
  const range = quantRange(c.dtype, c.mode);
  const w = layer.toCanonical(weightValues(layer.weight));

  // per_block: the block of every canonical column along the input axis
  let columnGroups: Int32Array | undefined;
  let groupCount = 1;
  if (c.granularity === 'per_block') {
    const b = bs.blockSizes[layer.inAxis];
    groupCount = b > 0 ? shape[layer.inAxis] / b : 1;
    columnGroups = Int32Array.from(layer.inputIndex, (i) => (b > 0 ? Math.floor(i / b) : 0));
  }
  // per-tensor parameters must be shared by every conv group: fix them here
  let tensorParams: BlockParams | undefined;
  if (c.granularity === 'per_tensor') {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of w) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    tensorParams = blockParams(lo, hi, range, c.mode, floatDType);
  }

  const Rg = R / rowGroups;
  const q = new Int32Array(R * C);
  const deq = new Float64Array(R * C);
  const params: BlockParams[] = new Array(c.granularity === 'per_tensor' ? 1 : R * groupCount);
  let loss = 0;
  for (let g = 0; g < rowGroups; g++) {
    const sub = w.subarray(g * Rg * C, (g + 1) * Rg * C);
    const r: GptqResult = await gptq(
      sub,
      Rg,
      C,
      hessians[g].hessian(),
      {
        dtype: c.dtype,
        mode: c.mode,
        floatDType,
        granularity: c.granularity,
        columnGroups,
        groupCount,
        initialParams: tensorParams ? [tensorParams] : undefined,
      },
      { percentDamp: o.percentDamp, blockSize: o.blockSize, actOrder: o.actOrder, signal: o.signal },
    );
    q.set(r.q, g * Rg * C);
    deq.set(r.dequantized, g * Rg * C);
    if (c.granularity === 'per_tensor') params[0] = r.params[0];
    else for (let k = 0; k < Rg * groupCount; k++) params[g * Rg * groupCount + k] = r.params[k];
    loss += r.loss;
  }

  const n = R * C;
  const gridSize = grid.reduce((a, b) => a * b, 1);
  const scales = new Float64Array(gridSize);
  const zps = new Float64Array(gridSize);
  if (c.granularity === 'per_tensor') {
    scales.fill(params[0].scale);
    zps.fill(params[0].zeroPoint);
  } else {
    for (let r = 0; r < R; r++) {
      for (let g = 0; g < groupCount; g++) {
        const p = params[r * groupCount + g];
        const k = gridIndex(grid, layer.outAxis, r) + (groupCount > 1 ? gridIndex(grid, layer.inAxis, g) : 0);
        scales[k] = p.scale;
        zps[k] = p.zeroPoint;
      }
    }
  }
  const data = layer.fromCanonical(q, new Int32Array(n));
  const dense = layer.fromCanonical(deq, new Float64Array(n));
  // a zero point exists for unsigned symmetric and for affine quantization (mil-ops.md §7.3)
  const hasOffset = c.mode === 'linear' || !range.signed;
  const method = `gptq ${c.dtype} ${c.mode} ${c.granularity}${c.granularity === 'per_block' ? `(${c.blockSize})` : ''}`;
  return {
    dense,
    method,
    loss,
    emit(e) {
      return emitQuantized(
        e,
        {
          data: tensorFromValues(c.dtype, shape, data),
          scale: tensorFromValues(floatDType, grid, scales),
          offset: hasOffset ? tensorFromValues(c.dtype, grid, zps) : undefined,
        },
        `${layer.weight.name}_quantized`,
      );
    },
  };
}

// ---------------------------------------------------------------------------------------
// SparseGPT

export async function compressSparseGpt(layer: Layer, hessians: readonly HessianAccumulator[], c: ResolvedPruning, o: HessianOptions): Promise<CompressedLayer | LayerSkip> {
  const shape = layer.weight.denseShape;
  const { rows: R, cols: C, rowGroups } = layer;
  if (c.nmRatio) {
    if (layer.kind === 'matmul') return { skip: 'n:m pruning applies to linear and conv weights only (mil-ops.md §7.5)' };
    const channels = c.dim === 1 ? shape[1] : shape[0];
    if (c.nmRatio[1] > channels / 2) return { skip: `n:m with m = ${c.nmRatio[1]} needs at least ${2 * c.nmRatio[1]} channels along dim ${c.dim}, the weight has ${channels}` };
  }
  const floatDType = floatDTypeOf(layer);
  const w = layer.toCanonical(weightValues(layer.weight));
  const Rg = R / rowGroups;
  const pruned = new Float64Array(R * C);
  let loss = 0;
  for (let g = 0; g < rowGroups; g++) {
    const r = await sparseGpt(
      w.subarray(g * Rg * C, (g + 1) * Rg * C),
      Rg,
      C,
      hessians[g].hessian(),
      c.nmRatio ? { nm: { n: c.nmRatio[0], m: c.nmRatio[1], dim: c.dim }, segments: layer.segments } : { sparsity: c.targetSparsity },
      { percentDamp: o.percentDamp, blockSize: o.blockSize, signal: o.signal },
    );
    pruned.set(r.pruned, g * Rg * C);
    loss += r.loss;
  }
  const n = R * C;
  const dense = layer.fromCanonical(pruned, new Float64Array(n));
  // the stored values: rounded to the weight dtype; the mask marks what is still non-zero (§7.5)
  const bits = new Uint8Array(n);
  const nonzero: number[] = [];
  for (let k = 0; k < n; k++) {
    const v = roundToFloat(dense[k], floatDType);
    dense[k] = v;
    if (v !== 0) {
      bits[k] = 1;
      nonzero.push(v);
    }
  }
  const method = c.nmRatio ? `sparsegpt ${c.nmRatio[0]}:${c.nmRatio[1]} (dim ${c.dim})` : `sparsegpt ${Math.round(c.targetSparsity! * 1000) / 10}%`;
  return {
    dense,
    method,
    loss,
    emit(e) {
      return emitSparse(e, { nonzeroData: tensorFromValues(floatDType, [nonzero.length], nonzero), mask: maskFromBytes(shape, bits) }, `${layer.weight.name}_sparsified`);
    },
  };
}

// ---------------------------------------------------------------------------------------
// Sensitivity-weighted palettization

/** Checks, before any work, that the target can hold the LUTs (mil-ops.md §7.4). */
export function gatePalettization(nbits: number, granularity: string, target: Target, where: string): void {
  if (nbits === 3) requireFeature('3-bit palettization', target, where);
  if (granularity === 'per_grouped_channel') requireFeature('grouped LUTs', target, where);
}

/** Per-column sensitivities of each row group: the Hessian diagonal, floored at 1e-6 of its mean (> 0 for the DP). */
export function sensitivities(hessians: readonly Pick<ActivationSink, 'diagonal'>[]): Float64Array[] {
  return hessians.map((h) => {
    const d = h.diagonal();
    let mean = 0;
    for (const x of d) mean += x;
    mean /= d.length;
    const floor = mean > 0 ? mean * 1e-6 : 1;
    return Float64Array.from(d, (x) => (x > floor ? x : floor));
  });
}

/** A fitted palettization of a layer: LUT per group and indices, in canonical order. */
export interface LayerLut {
  readonly nbits: number;
  readonly groups: number;
  /** groups × 2^nbits entries. */
  readonly lut: Float64Array;
  /** Canonical [R, C] indices. */
  readonly indices: Uint8Array;
  /** Canonical [R, C] decompressed values. */
  readonly values: Float64Array;
  /** Σ sensitivity · squared error. */
  readonly cost: number;
}

/**
 * Fits LUTs to a canonical weight: one per group of `groupRows` rows (all rows for per
 * tensor), each element weighted by the sensitivity of its column (`sens[rowGroup][col]`,
 * or 1 everywhere for plain k-means when `sens` is null).
 */
export function fitLayerLut(
  w: Float64Array,
  R: number,
  C: number,
  rowGroups: number,
  sens: readonly Float64Array[] | null,
  nbits: number,
  groupRows: number,
  floatDType: FloatDType,
): LayerLut {
  const P = 2 ** nbits;
  const groups = R / groupRows;
  const lut = new Float64Array(groups * P);
  const indices = new Uint8Array(R * C);
  const values = new Float64Array(R * C);
  const Rg = R / rowGroups;
  const round = (x: number): number => roundToFloat(x, floatDType);
  let cost = 0;
  for (let g = 0; g < groups; g++) {
    const start = g * groupRows * C;
    const n = groupRows * C;
    const vals = w.subarray(start, start + n);
    const s = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const r = g * groupRows + Math.floor(k / C);
      s[k] = sens ? sens[Math.floor(r / Rg)][k % C] : 1;
    }
    const fit = weightedLut(weightedHistogram(vals, s, floatDType === 'fp16'), P, round);
    lut.set(fit.lut, g * P);
    cost += fit.cost;
    for (let k = 0; k < n; k++) {
      const i = nearestEntry(fit.lut, fit.used, vals[k]);
      indices[start + k] = i;
      values[start + k] = fit.lut[i];
    }
  }
  return { nbits, groups, lut, indices, values, cost };
}

/** The LUT op of a fitted layer (`constexpr_lut_to_dense`, groups along the output axis). */
export function emitLayerLut(layer: Layer, fit: LayerLut, e: Emitter): Value {
  const shape = layer.weight.denseShape;
  const P = 2 ** fit.nbits;
  const lutShape = [...shape.map((_, k) => (k === layer.outAxis ? fit.groups : 1)), P, 1];
  const indices = layer.fromCanonical(fit.indices, new Uint8Array(fit.indices.length));
  return emitLut(
    e,
    { indices: tensorFromValues(uintOfBits(fit.nbits), shape, indices), lut: tensorFromValues(floatDTypeOf(layer), lutShape, fit.lut) },
    `${layer.weight.name}_palettized`,
  );
}

/** Rows per LUT group, or why the weight cannot be grouped so. */
export function lutGroupRows(layer: Layer, granularity: 'per_tensor' | 'per_grouped_channel', groupSize: number): number | LayerSkip {
  if (granularity === 'per_tensor') return layer.rows;
  const bs = blockSizesOf(layer, { granularity: 'per_grouped_channel', groupSize });
  if (!bs.ok) return { skip: bs.reason };
  return groupSize;
}

export async function compressSensitiveKMeans(layer: Layer, hessians: readonly Pick<ActivationSink, 'diagonal'>[], c: ResolvedPalettization): Promise<CompressedLayer | LayerSkip> {
  const groupRows = lutGroupRows(layer, c.granularity, c.groupSize);
  if (typeof groupRows !== 'number') return groupRows;
  const { rows: R, cols: C } = layer;
  const floatDType = floatDTypeOf(layer);
  const w = layer.toCanonical(weightValues(layer.weight));
  const fit = fitLayerLut(w, R, C, layer.rowGroups, sensitivities(hessians), c.nbits, groupRows, floatDType);
  const dense = layer.fromCanonical(fit.values, new Float64Array(R * C));
  return {
    dense,
    method: `sensitive k-means ${c.nbits}-bit ${c.granularity}${c.granularity === 'per_grouped_channel' ? `(${c.groupSize})` : ''}`,
    loss: fit.cost,
    emit: (e) => emitLayerLut(layer, fit, e),
  };
}
