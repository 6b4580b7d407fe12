/**
 * GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative
 * Pre-trained Transformers", 2022) on one canonical weight matrix W [R, C] with its
 * layer Hessian H [C, C] — the algorithm of the reference `fasterquant` and of
 * coremltools' `GPTQ` layer-wise compressor:
 *
 *  1. quantization parameters that GPTQ fixes up front are computed from the original W:
 *     per tensor (one scale) and per channel (one scale per row);
 *  2. dead inputs (H[i, i] = 0) get H[i, i] = 1 and W[:, i] = 0;
 *  3. optional activation order (`actOrder`): columns sorted by decreasing H[i, i];
 *  4. H += percentDamp · mean(diag H) · I; U = upper Cholesky factor of H⁻¹;
 *  5. the column sweep (sweep.ts): each column is rounded to the grid and the rounding
 *     error is fed back into the columns not yet quantized, in blocks of `blockSize`
 *     columns with lazy batch updates;
 *  6. per-block scales are fixed when the sweep first reaches a column of the block, from
 *     the current (error-corrected) values of all the block's columns — GPTQ's `groupsize`
 *     rule, generalised so that blocks stay in the weight's original column order (what
 *     `constexpr_blockwise_shift_scale` can express) even under activation order.
 *
 * The result is the integer data and the per-block parameters in the exact form the
 * quantize pass emits (quant.ts holds the coremltools formulas).
 */
import { prepareInverseHessian } from './linalg.js';
import {
  type BlockParams,
  type FloatDType,
  type QuantDType,
  type QuantMode,
  blockParams,
  dequantizeValue,
  quantRange,
  quantizeValue,
} from './quant.js';
import { sweep, uniformBlocks } from './sweep.js';

export type QuantGranularity = 'per_tensor' | 'per_channel' | 'per_block';

export interface GptqQuantSpec {
  readonly dtype: QuantDType;
  readonly mode: QuantMode;
  /** Dtype of the weight and of the stored scale. */
  readonly floatDType: FloatDType;
  readonly granularity: QuantGranularity;
  /**
   * per_block: the block (scale group) of every column, in the weight's column order, and
   * the number of blocks per row.
   */
  readonly columnGroups?: Int32Array;
  readonly groupCount?: number;
  /** per_tensor / per_channel parameters to use instead of computing them from W (1 or R entries). */
  readonly initialParams?: readonly BlockParams[];
}

export interface GptqOptions {
  /** Damping as a fraction of the mean Hessian diagonal (default 0.01). */
  readonly percentDamp?: number;
  /** Columns per lazy-update block (default 128). */
  readonly blockSize?: number;
  /** Process columns in order of decreasing Hessian diagonal (default false). */
  readonly actOrder?: boolean;
  readonly signal?: AbortSignal;
}

export interface GptqResult {
  /** Quantized integers, [R, C] in the original column order. */
  readonly q: Int32Array;
  /** The dequantized weight the deployed model computes with, [R, C]. */
  readonly dequantized: Float64Array;
  /** Parameters: 1 (per tensor), R (per channel) or R·groupCount (per block, row-major). */
  readonly params: readonly BlockParams[];
  /** GPTQ's estimate of the increase of the layer objective (Σ (w − q)² / 2U[i,i]²). */
  readonly loss: number;
  readonly damp: number;
  readonly dampRetries: number;
  readonly deadColumns: number;
}

/** Column permutation sorting the Hessian diagonal in decreasing order (stable). */
export function activationOrder(h: Float64Array, n: number): Int32Array {
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => h[b * n + b] - h[a * n + a] || a - b);
  return Int32Array.from(idx);
}

function permuteSquare(h: Float64Array, n: number, perm: Int32Array): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const src = perm[i] * n;
    const dst = i * n;
    for (let j = 0; j < n; j++) out[dst + j] = h[src + perm[j]];
  }
  return out;
}

function permuteColumns(w: Float64Array, R: number, C: number, perm: Int32Array): Float64Array {
  const out = new Float64Array(R * C);
  for (let r = 0; r < R; r++) for (let j = 0; j < C; j++) out[r * C + j] = w[r * C + perm[j]];
  return out;
}

/** Runs GPTQ on W [R, C] (not modified) with Hessian H [C, C]. */
export async function gptq(w: Float64Array, R: number, C: number, h: Float64Array, spec: GptqQuantSpec, options: GptqOptions = {}): Promise<GptqResult> {
  if (w.length !== R * C) throw new Error(`gptq: W has ${w.length} elements, expected ${R}×${C}`);
  if (h.length !== C * C) throw new Error(`gptq: H has ${h.length} elements, expected ${C}×${C}`);
  const percentDamp = options.percentDamp ?? 0.01;
  const blockSize = options.blockSize ?? 128;
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`gptq: blockSize must be a positive integer, got ${blockSize}`);
  const range = quantRange(spec.dtype, spec.mode);
  const { granularity, floatDType, mode } = spec;

  // 1. parameters fixed up front (from the original weight)
  const params: BlockParams[] = [];
  const groupCount = granularity === 'per_block' ? (spec.groupCount ?? 0) : 1;
  const groupOf = spec.columnGroups;
  if (granularity === 'per_block') {
    if (!groupOf || groupOf.length !== C || !(groupCount >= 1)) {
      throw new Error(`gptq: per_block needs columnGroups (one per column, ${C}) and groupCount ≥ 1`);
    }
  }
  if (spec.initialParams && granularity !== 'per_block') {
    const want = granularity === 'per_tensor' ? 1 : R;
    if (spec.initialParams.length !== want) throw new Error(`gptq: ${granularity} needs ${want} initial parameter sets, got ${spec.initialParams.length}`);
    params.push(...spec.initialParams);
  } else if (granularity === 'per_tensor') {
    let lo = Infinity;
    let hi = -Infinity;
    for (let k = 0; k < w.length; k++) {
      if (w[k] < lo) lo = w[k];
      if (w[k] > hi) hi = w[k];
    }
    params.push(blockParams(lo, hi, range, mode, floatDType));
  } else if (granularity === 'per_channel') {
    for (let r = 0; r < R; r++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let j = 0; j < C; j++) {
        const v = w[r * C + j];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      params.push(blockParams(lo, hi, range, mode, floatDType));
    }
  }

  // 2–4. dead columns, order, damping, inverse factor
  const diag = new Float64Array(C);
  for (let i = 0; i < C; i++) diag[i] = h[i * C + i];
  const perm = options.actOrder ? activationOrder(h, C) : null;
  const hp = perm ? permuteSquare(h, C, perm) : h;
  const work = perm ? permuteColumns(w, R, C, perm) : Float64Array.from(w);
  const prepared = prepareInverseHessian(hp, C, percentDamp);
  let deadColumns = 0;
  for (let j = 0; j < C; j++) {
    if (!prepared.dead[j]) continue;
    deadColumns++;
    for (let r = 0; r < R; r++) work[r * C + j] = 0;
  }

  // columns of each block, in sweep (permuted) positions
  let groupColumns: number[][] = [];
  const groupOfPos = new Int32Array(C);
  if (granularity === 'per_block') {
    groupColumns = Array.from({ length: groupCount }, () => []);
    for (let j = 0; j < C; j++) {
      const g = groupOf![perm ? perm[j] : j];
      if (!(g >= 0 && g < groupCount)) throw new Error(`gptq: column ${perm ? perm[j] : j} has block ${g}, outside 0..${groupCount - 1}`);
      groupOfPos[j] = g;
      groupColumns[g].push(j);
    }
    params.length = R * groupCount;
  }
  const ready = new Uint8Array(groupCount);
  const qPos = new Int32Array(R * C);

  const paramsOf = (r: number, j: number): BlockParams =>
    granularity === 'per_tensor' ? params[0] : granularity === 'per_channel' ? params[r] : params[r * groupCount + groupOfPos[j]];

  const loss = await sweep(
    work,
    R,
    C,
    prepared.u,
    {
      compressColumn(j, col, out, view) {
        if (granularity === 'per_block') {
          const g = groupOfPos[j];
          if (!ready[g]) {
            // 6. first touch: fix the block's scale from its current values
            const cols = groupColumns[g];
            for (let r = 0; r < R; r++) {
              let lo = Infinity;
              let hi = -Infinity;
              for (const c of cols) {
                const v = c === j ? col[r] : view.value(r, c);
                if (v < lo) lo = v;
                if (v > hi) hi = v;
              }
              params[r * groupCount + g] = blockParams(lo, hi, range, mode, floatDType);
            }
            ready[g] = 1;
          }
        }
        for (let r = 0; r < R; r++) {
          const p = paramsOf(r, j);
          const qi = quantizeValue(col[r], p, range);
          qPos[r * C + j] = qi;
          out[r] = dequantizeValue(qi, p, floatDType);
        }
      },
    },
    { blocks: uniformBlocks(C, blockSize), signal: options.signal },
  );

  // back to the original column order
  let q = qPos;
  let dequantized = work;
  if (perm) {
    q = new Int32Array(R * C);
    dequantized = new Float64Array(R * C);
    for (let r = 0; r < R; r++) {
      for (let j = 0; j < C; j++) {
        q[r * C + perm[j]] = qPos[r * C + j];
        dequantized[r * C + perm[j]] = work[r * C + j];
      }
    }
  }
  return { q, dequantized, params, loss, damp: prepared.damp, dampRetries: prepared.retries, deadColumns };
}

/**
 * Round-to-nearest with the same parameters as `gptq` would fix without calibration
 * (per-block scales from the original weight) — the baseline GPTQ is measured against,
 * and GPTQ's result when H is the identity.
 */
export function roundToNearest(w: Float64Array, R: number, C: number, spec: GptqQuantSpec): { q: Int32Array; dequantized: Float64Array; params: BlockParams[] } {
  const range = quantRange(spec.dtype, spec.mode);
  const { granularity, floatDType, mode } = spec;
  const groupCount = granularity === 'per_block' ? (spec.groupCount ?? 0) : 1;
  const params: BlockParams[] = [];
  const lo = new Float64Array(granularity === 'per_tensor' ? 1 : R * groupCount).fill(Infinity);
  const hi = new Float64Array(lo.length).fill(-Infinity);
  const slot = (r: number, j: number): number => (granularity === 'per_tensor' ? 0 : granularity === 'per_channel' ? r : r * groupCount + spec.columnGroups![j]);
  for (let r = 0; r < R; r++) {
    for (let j = 0; j < C; j++) {
      const s = slot(r, j);
      const v = w[r * C + j];
      if (v < lo[s]) lo[s] = v;
      if (v > hi[s]) hi[s] = v;
    }
  }
  for (let s = 0; s < lo.length; s++) params.push(blockParams(lo[s], hi[s], range, mode, floatDType));
  const q = new Int32Array(R * C);
  const dequantized = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    for (let j = 0; j < C; j++) {
      const p = params[slot(r, j)];
      const qi = quantizeValue(w[r * C + j], p, range);
      q[r * C + j] = qi;
      dequantized[r * C + j] = dequantizeValue(qi, p, floatDType);
    }
  }
  return { q, dequantized, params };
}
