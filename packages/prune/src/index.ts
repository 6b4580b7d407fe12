/**
 * @silica/prune — weight pruning, as coremltools' `prune_weights` (mil-ops.md §7.5):
 * threshold, magnitude (NumPy percentile), block and n:m sparsity, bit for bit the masks
 * and nonzero values coremltools computes.
 *
 * ```ts
 * import prune from '@silica/prune';
 * const { stats } = await prune({ targetSparsity: 0.5 }).run(program, ctx);
 * ```
 *
 * Before (iOS18):
 *
 * ```
 * %fc1_weight = const() {val = #sha256:…} : fp16[1024, 256]
 * %fc1 = linear(bias = %fc1_bias, weight = %fc1_weight, x = %x) : fp16[1, 1024]
 * ```
 *
 * After `prune({ targetSparsity: 0.5 })`:
 *
 * ```
 * %fc1_weight_sparsified_mask = const() {val = #sha256:…} : uint1[1024, 256]
 * %fc1_weight_sparsified_nonzero_data = const() {val = #sha256:…} : fp16[131007]
 * %fc1_weight_sparsified = constexpr_sparse_to_dense(mask = %fc1_weight_sparsified_mask, nonzero_data = %fc1_weight_sparsified_nonzero_data) : fp16[1024, 256]
 * %fc1 = linear(bias = %fc1_bias, weight = %fc1_weight_sparsified, x = %x) : fp16[1, 1024]
 * ```
 *
 * iOS16/iOS17 programs get the iOS16 op: `mask` packed into uint8 bytes (LSB first) and a
 * uint32 `shape`.
 *
 * Joint compression (`joint: true`, iOS18) prunes already-compressed weights:
 * `constexpr_blockwise_shift_scale(data, scale, offset)` becomes
 * `constexpr_sparse_blockwise_shift_scale(data_mask, nonzero_data = data at the mask, scale,
 * offset) → constexpr_sparse_to_dense`, and `constexpr_lut_to_dense(indices, lut)` becomes
 * `constexpr_lut_to_sparse(indices_mask, indices at the mask, lut) → constexpr_sparse_to_dense`;
 * the mask comes from pruning the decompressed values.
 */
import {
  type CompressionResult,
  type Compressor,
  type Emitter,
  type Skip,
  type Weight,
  defineKernel,
  emitLutToSparse,
  emitSparse,
  emitSparseQuantized,
  materialize,
  paramOf,
  runCompression,
  siblingModule,
  tensorData,
  tensorFromData,
} from '@silica/compression';
import type { Pass, PassContext, Program, Tensor, Value } from '@silica/ir';
import { type PruneArgs, type PruneMethod, type PruneResult, pruneKernel } from './kernel.js';
import { type PruneOptions, type ResolvedPruneConfig, validateOptions } from './options.js';

export type { PruneOptions, PruneConfig, ResolvedPruneConfig } from './options.js';
export { resolvePruneConfig, validateOptions } from './options.js';
export { pruneKernel, percentile } from './kernel.js';
export type { PruneArgs, PruneResult, PruneMethod } from './kernel.js';

/** The prune pass: `run` resolves to a CompressionResult (PassResult + per-weight stats). */
export interface PrunePass extends Pass {
  run(program: Program, ctx: PassContext): Promise<CompressionResult>;
}

const KERNEL = defineKernel(siblingModule(import.meta.url, 'kernel'), 'pruneKernel', pruneKernel);

/** coremltools' `_SUPPORTED_OPS_FOR_STRUCTURAL_PRUNING`: block and n:m sparsity only for these (op, param) readers. */
const STRUCTURAL_READERS: Readonly<Record<string, string>> = { conv: 'weight', linear: 'weight' };

function describe(m: PruneMethod): string {
  switch (m.kind) {
    case 'threshold':
      return `threshold ${m.threshold} (minimum sparsity ${m.minimumSparsityPercentile})`;
    case 'magnitude':
      return m.blockSize !== undefined
        ? `block ${m.blockSize} along dim ${m.dim ?? 0}, ${m.targetSparsity * 100}%`
        : `magnitude ${m.targetSparsity * 100}%`;
    case 'nm':
      return `n:m ${m.n}:${m.m} along dim ${m.dim}`;
  }
}

function transferOf(t: Tensor, data: { bytes: Uint8Array }): ArrayBuffer[] {
  return t.isLazy && data.bytes.buffer instanceof ArrayBuffer ? [data.bytes.buffer] : [];
}

function makeCompressor(opNames: ReadonlySet<string>): Compressor<ResolvedPruneConfig, PruneArgs, PruneResult> {
  return {
    pass: 'prune',
    kernel: KERNEL,
    constexprWeights: ['constexpr_blockwise_shift_scale', 'constexpr_lut_to_dense'],
    threshold: (c) => c.weightThreshold,
    describe: (c) => describe(c.method),

    prepare(weight, c, ctx) {
      const m = c.method;
      const structural = m.kind === 'nm' || (m.kind === 'magnitude' && m.blockSize !== undefined);
      if (structural) {
        // block / n:m sparsity only for linear/conv weights, unless the weight is named in opName
        const bad = weight.consumers.find((op) => STRUCTURAL_READERS[op.type] !== paramOf(op, weight.dense));
        if (bad && !opNames.has(weight.name)) {
          return { skip: `${m.kind === 'nm' ? 'n:m' : 'block'} sparsity applies to linear/conv weights only, but ${bad.type} "${bad.name}" reads it` };
        }
        if (weight.denseShape.length < 2 || weight.denseShape.length > 5) {
          return { skip: `${m.kind === 'nm' ? 'n:m' : 'block'} sparsity needs a weight of rank 2 to 5, got rank ${weight.denseShape.length}` };
        }
      }
      let gather: Tensor | undefined;
      if (weight.op.isConstexpr) {
        // joint: prune the decompressed values, keep the codes/indices at the mask
        const param = weight.op.type === 'constexpr_lut_to_dense' ? 'indices' : 'data';
        const src = weight.op.input(param);
        if (!src || src.producer?.type !== 'const') {
          return { skip: `its ${param} comes from ${src?.producer ? `${src.producer.type} "${src.producer.name}"` : 'no const'}; pruning it would decompress that op` };
        }
        if (weight.op.type === 'constexpr_lut_to_dense') {
          const lut = weight.op.input('lut')!;
          const shape = lut.type.kind === 'tensor' ? lut.type.shape : [];
          if (shape.length > 0 && shape[shape.length - 1] !== 1) return { skip: 'a vector-palettized weight (VECTOR_SIZE > 1) cannot be pruned jointly' };
        }
        gather = materialize(src, ctx.target);
      }
      const source = materialize(weight.value, ctx.target);
      const data = tensorData(source);
      const g = gather ? tensorData(gather) : undefined;
      return {
        args: { data, method: m, ...(g ? { gather: g } : {}) },
        transfer: [...transferOf(source, data), ...(gather && g ? transferOf(gather, g) : [])],
        work: source.size,
      };
    },

    commit(weight, _c, r, e: Emitter): Value | Skip {
      const name = `${weight.name}_sparsified`;
      const mask = tensorFromData(r.mask);
      const op = weight.op;
      if (op.type === 'constexpr_blockwise_shift_scale') {
        const [m, nonzero] = emitSparseQuantized(
          e,
          { dataMask: mask, nonzeroData: tensorFromData(r.gathered!), scale: op.input('scale')!, offset: op.input('offset') },
          `${op.name}_sparse`,
        );
        return emitSparse(e, { nonzeroData: nonzero, mask: m }, name);
      }
      if (op.type === 'constexpr_lut_to_dense') {
        const axis = op.input('vector_axis');
        const vectorAxis = axis ? materialize(axis, e.target).toNumbers()[0] : undefined;
        const [m, nonzero] = emitLutToSparse(
          e,
          { indicesMask: mask, indicesNonzeroData: tensorFromData(r.gathered!), lut: op.input('lut')!, vectorAxis },
          `${op.name}_sparse`,
        );
        return emitSparse(e, { nonzeroData: nonzero, mask: m }, name);
      }
      return emitSparse(e, { nonzeroData: tensorFromData(r.nonzero), mask }, name);
    },
  };
}

/**
 * Creates the `prune` pass. Options are validated here (exactly one pruning method per
 * config, ranges, unknown keys); joint compression needs iOS18 and is checked when the
 * pass runs.
 */
export default function prune(options: PruneOptions): PrunePass {
  const o = validateOptions(options);
  const compressor = makeCompressor(new Set(Object.keys(o.opName)));
  return {
    name: 'prune',
    run(program, ctx) {
      return runCompression(program, ctx, compressor, { global: o.global, opType: o.opType, opName: o.opName }, { ...o.run, joint: o.joint });
    },
  };
}

