/**
 * @silica/quantize — linear weight quantization, as coremltools'
 * `linear_quantize_weights` (mil-ops.md §7.3): int8 / uint8 / int4 / uint4 codes,
 * symmetric or affine, per tensor, per output channel or per block, bit for bit the codes,
 * scales and zero points coremltools computes.
 *
 * ```ts
 * import quantize from '@silica/quantize';
 * const { stats, weights } = await quantize({ dtype: 'int4', granularity: 'per_block', blockSize: 32 }).run(program, ctx);
 * ```
 *
 * Before (iOS18):
 *
 * ```
 * %fc1_weight = const() {val = #sha256:…} : fp16[1024, 256]
 * %fc1 = linear(bias = %fc1_bias, weight = %fc1_weight, x = %x) : fp16[1, 1024]
 * ```
 *
 * After `quantize({ dtype: 'int4', granularity: 'per_block', blockSize: 32 })`:
 *
 * ```
 * %fc1_weight_quantized_data = const() {val = #sha256:…} : int4[1024, 256]
 * %fc1_weight_quantized_scale = const() {val = #sha256:…} : fp16[1024, 8]
 * %fc1_weight_quantized = constexpr_blockwise_shift_scale(data = %fc1_weight_quantized_data, scale = %fc1_weight_quantized_scale) : fp16[1024, 256]
 * %fc1 = linear(bias = %fc1_bias, weight = %fc1_weight_quantized, x = %x) : fp16[1, 1024]
 * ```
 *
 * iOS16/iOS17 programs get `constexpr_affine_dequantize(quantized_data, zero_point, scale,
 * axis)` instead (8-bit per-tensor/per-channel only; int4 and per-block need iOS18).
 *
 * Joint compression (`joint: true`, iOS18): the nonzero values of an existing
 * `constexpr_sparse_to_dense` are quantized with scales fitted on the densified weight —
 * `constexpr_sparse_blockwise_shift_scale(data_mask, nonzero_data, scale) →
 * constexpr_sparse_to_dense(nonzero_data = out[1], mask)` — and the LUT of an existing
 * `constexpr_lut_to_dense` / `constexpr_lut_to_sparse` is quantized per tensor
 * (`constexpr_blockwise_shift_scale(int LUT) → lut`).
 */
import {
  type CompressionResult,
  type Compressor,
  CompressionConfigError,
  type Emitter,
  type Skip,
  type Weight,
  channelAxes,
  defineKernel,
  emitQuantized,
  emitSparseQuantized,
  inferBlockSizes,
  maskBits,
  materialize,
  requireFeature,
  runCompression,
  siblingModule,
  tensorData,
  tensorFromData,
} from '@silica/compression';
import type { Pass, PassContext, Program, Tensor, Value } from '@silica/ir';
import { type QuantizeArgs, type QuantizeResult, quantizeKernel } from './kernel.js';
import { type QuantizeOptions, type ResolvedQuantizeConfig, validateOptions } from './options.js';

export type { QuantizeOptions, QuantizeConfig, QuantGranularity, ResolvedQuantizeConfig } from './options.js';
export { resolveQuantizeConfig, validateOptions } from './options.js';
export { quantizeKernel, quantRange } from './kernel.js';
export type { QuantizeArgs, QuantizeResult, QuantMode, QuantDType } from './kernel.js';

/** The quantize pass: `run` resolves to a CompressionResult (PassResult + per-weight stats). */
export interface QuantizePass extends Pass {
  run(program: Program, ctx: PassContext): Promise<CompressionResult>;
}

const KERNEL = defineKernel(siblingModule(import.meta.url, 'kernel'), 'quantizeKernel', quantizeKernel);

const isLutRole = (w: Weight): boolean => w.role !== undefined && w.role.param === 'lut';
const isSparseRole = (w: Weight): boolean => w.role?.op.type === 'constexpr_sparse_to_dense' && w.role.param === 'nonzero_data';

function describe(c: ResolvedQuantizeConfig): string {
  const block = c.granularity === 'per_block' ? ` ${Array.isArray(c.blockSize) ? `[${c.blockSize.join(', ')}]` : c.blockSize}` : '';
  return `${c.dtype} ${c.mode} ${c.granularity}${block}`;
}

/** The freshly read bytes of a file-backed tensor may be handed to a worker; in-memory data is copied. */
function transferOf(t: Tensor, data: { bytes: Uint8Array }): ArrayBuffer[] {
  return t.isLazy && data.bytes.buffer instanceof ArrayBuffer ? [data.bytes.buffer] : [];
}

const compressor: Compressor<ResolvedQuantizeConfig, QuantizeArgs, QuantizeResult> = {
  pass: 'quantize',
  kernel: KERNEL,
  jointRoles: [
    { opType: 'constexpr_sparse_to_dense', param: 'nonzero_data' },
    { opType: 'constexpr_lut_to_dense', param: 'lut' },
    { opType: 'constexpr_lut_to_sparse', param: 'lut' },
  ],
  threshold: (c) => c.weightThreshold,
  describe: (c, w) => (isLutRole(w) ? `${describe(c)} (LUT)` : describe(c)),

  prepare(weight, c, ctx) {
    // coremltools checks per-block before 4-bit (`linear_quantize_weights.transform_op`)
    if (c.granularity === 'per_block') requireFeature('per-block quantization', ctx.target, ctx.where);
    if (c.dtype === 'int4' || c.dtype === 'uint4') requireFeature(`${c.dtype} quantization`, ctx.target, ctx.where);
    let source: Tensor;
    let keep: Uint8Array | undefined;
    let blockSizes: number[];
    if (isLutRole(weight)) {
      if (c.granularity !== 'per_tensor') {
        throw new CompressionConfigError(
          `${ctx.where}: joint palettize → quantize quantizes the LUT of ${weight.role!.op.type} "${weight.role!.op.name}", which needs granularity "per_tensor" (got "${c.granularity}")`,
        );
      }
      source = materialize(weight.value, ctx.target);
      blockSizes = source.shape.map(() => 0);
    } else {
      if (isSparseRole(weight)) {
        // prune → quantize: scales from the densified weight, codes kept at the mask's ones
        source = materialize(weight.role!.op.output, ctx.target);
        keep = maskBits(materialize(weight.role!.op.input('mask')!, ctx.target));
      } else {
        source = materialize(weight.value, ctx.target);
      }
      const bs = inferBlockSizes(weight.label, source.shape, channelAxes(weight, ctx.target), {
        granularity: c.granularity,
        blockSize: c.blockSize,
      });
      if (!bs.ok) return { skip: bs.reason } satisfies Skip;
      blockSizes = bs.blockSizes;
    }
    const data = tensorData(source);
    return {
      args: { data, blockSizes, mode: c.mode, dtype: c.dtype, ...(keep ? { keep } : {}) },
      transfer: [...transferOf(source, data), ...(keep ? [keep.buffer as ArrayBuffer] : [])],
      work: source.size,
    };
  },

  commit(weight, _c, r, e: Emitter): Value {
    const name = `${weight.name}_quantized`;
    const data = tensorFromData(r.data);
    const scale = tensorFromData(r.scale);
    const offset = r.offset ? tensorFromData(r.offset) : undefined;
    if (isSparseRole(weight)) {
      const [, nonzero] = emitSparseQuantized(e, { dataMask: weight.role!.op.input('mask')!, nonzeroData: data, scale, offset }, name);
      return nonzero;
    }
    return emitQuantized(e, { data, scale, offset }, name);
  },
};

/**
 * Creates the `quantize` pass. Options are validated here (an unknown key, a bad dtype or
 * block size fails before any program is read); target requirements (int4, per-block and
 * joint need iOS18) are checked when the pass meets a weight that needs them.
 */
export default function quantize(options: QuantizeOptions = {}): QuantizePass {
  const o = validateOptions(options);
  return {
    name: 'quantize',
    run(program, ctx) {
      return runCompression(program, ctx, compressor, { global: o.global, opType: o.opType, opName: o.opName }, { ...o.run, joint: o.joint });
    },
  };
}
