/**
 * Palettization as a `@silica/compression` Compressor: `prepare` (main thread: target
 * gates, channel axis and groups, the dense data), the kernel (kernel.ts, in a worker for
 * large weights) and `commit` (main thread: the constexpr ops for the target).
 *
 * What a weight becomes (mil-ops.md §7.4, §7.6):
 *
 * | weight                                   | iOS16 / iOS17                                  | iOS18+ |
 * |------------------------------------------|------------------------------------------------|--------|
 * | const                                    | `constexpr_lut_to_dense(indices = packed uint8, lut = [2^n], shape = uint32)` | `constexpr_lut_to_dense(indices = uint<n> [weight shape], lut = [G…, 2^n, V][, vector_axis])` |
 * | const + per-channel scale                | error (needs iOS18)                             | `… → constexpr_blockwise_shift_scale(data, scale = max|w| over the channel axis)` |
 * | `sparse_to_dense.nonzero_data` (pruned)  | error (joint needs iOS18)                       | `constexpr_lut_to_sparse(indices_mask = mask, indices_nonzero_data, lut) → constexpr_sparse_to_dense(nonzero_data = out[1], mask = out[0])` |
 * | `blockwise_shift_scale.data` (quantized) | error (joint needs iOS18)                       | `constexpr_lut_to_dense(int LUT) → constexpr_blockwise_shift_scale` (then put in the target's canonical order, canonicalize.ts) |
 */
import {
  type Compressor,
  type CompressorContext,
  CompressionConfigError,
  type Emitter,
  type Prepared,
  type Skip,
  type Weight,
  channelAxes,
  defineKernel,
  freeName,
  emitLut,
  emitLutToSparse,
  inferBlockSizes,
  materialize,
  maskBits,
  maskFromBytes,
  removeIfDead,
  requireFeature,
  siblingModule,
} from '@silica/compression';
import { DenseTensor, type Op, type Tensor, type Value, constValueOf, tensorFromValues, uintOfBits } from '@silica/ir';
import { type PalettizeArgs, type PalettizeResult, palettizeKernel } from './kernel.js';
import { type ResolvedConfig, describeConfig, sameConfig } from './options.js';
import type { LutDType } from './rounding.js';

export const PALETTIZE_KERNEL = defineKernel(siblingModule(import.meta.url, 'kernel'), 'palettizeKernel', palettizeKernel);

/** How the const being palettized is used. */
type Kind = 'plain' | 'pruned' | 'quantized';

function kindOf(weight: Weight): Kind {
  const role = weight.role;
  if (!role) return 'plain';
  if (role.op.type === 'constexpr_sparse_to_dense' && role.param === 'nonzero_data') return 'pruned';
  if (role.op.type === 'constexpr_blockwise_shift_scale' && role.param === 'data') return 'quantized';
  throw new Error(`palettize: ${weight.label} feeds ${role.op.type}.${role.param}, which palettization cannot compress further`);
}

const LUT_DTYPES: readonly LutDType[] = ['fp16', 'fp32', 'int8', 'uint8'];

function normAxis(axis: number, rank: number, where: string): number {
  if (axis < -rank || axis >= rank) throw new CompressionConfigError(`${where}: channelAxis ${axis} is out of range for the weight's rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** The channel axis and channels per group of a weight (mil-ops.md §7.2, coremltools' `blockwise_compress`). */
function groupsOf(weight: Weight, c: ResolvedConfig, target: CompressorContext['target'], where: string): { axis: number; groupSize: number } | Skip {
  const shape = weight.denseShape;
  const rank = shape.length;
  const axes = channelAxes(weight, target);
  const request =
    c.granularity === 'per_grouped_channel'
      ? { granularity: c.granularity, groupSize: c.groupSize, channelAxis: c.channelAxis }
      : { granularity: c.granularity };
  if (c.channelAxis !== undefined) normAxis(c.channelAxis, rank, where);
  const sizes = inferBlockSizes(weight.label, shape, axes, request);
  if (!sizes.ok) return { skip: sizes.reason };
  let axis: number | undefined;
  let groupSize = 0;
  sizes.blockSizes.forEach((b, k) => {
    if (b !== 0 && b !== shape[k]) {
      axis = k;
      groupSize = b;
    }
  });
  if (axis === undefined) {
    // one group: the axis matters only for vector LUTs
    axis = c.channelAxis !== undefined ? normAxis(c.channelAxis, rank, where) : sizes.channelAxis;
    if (axis === undefined) {
      if (c.clusterDim > 1) return { skip: 'its consumers disagree on the channel axis, which vector palettization needs (set channelAxis)' };
      axis = 0;
    }
    groupSize = shape[axis];
  }
  return { axis, groupSize };
}

/**
 * coremltools' `is_cluster_dim_valid`: a grouped conv's weight holds `groups` independent
 * blocks of output channels, so V must divide the per-group channel count.
 */
function clusterDimFits(weight: Weight, axis: number, V: number, target: CompressorContext['target']): boolean {
  for (const op of weight.consumers) {
    if (op.type !== 'conv' && op.type !== 'conv_transpose') continue;
    const gv = op.input('groups');
    const groups = gv ? Number(constValueOf(gv, target)?.toNumbers()[0] ?? 1) : 1;
    const effective = [...weight.denseShape];
    if (groups > 1) effective[0] = Math.floor(effective[0] / groups);
    if (effective[axis] % V !== 0) return false;
  }
  return true;
}

/** True when every run of V mask bits along `axis` is all set or all clear (a vector is pruned whole). */
function wholeVectors(bits: Uint8Array, shape: readonly number[], axis: number, V: number): boolean {
  let outer = 1;
  for (let k = 0; k < axis; k++) outer *= shape[k];
  let inner = 1;
  for (let k = axis + 1; k < shape.length; k++) inner *= shape[k];
  const C = shape[axis];
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c += V) {
      for (let i = 0; i < inner; i++) {
        const first = bits[(o * C + c) * inner + i];
        for (let v = 1; v < V; v++) if (bits[(o * C + c + v) * inner + i] !== first) return false;
      }
    }
  }
  return true;
}

/** The mask over index positions: one bit per vector (its first element's). */
function vectorMask(bits: Uint8Array, shape: readonly number[], axis: number, V: number): DenseTensor {
  let outer = 1;
  for (let k = 0; k < axis; k++) outer *= shape[k];
  let inner = 1;
  for (let k = axis + 1; k < shape.length; k++) inner *= shape[k];
  const C = shape[axis];
  const out = new Uint8Array((outer * C * inner) / V);
  let p = 0;
  for (let o = 0; o < outer; o++) for (let cv = 0; cv < C / V; cv++) for (let i = 0; i < inner; i++) out[p++] = bits[(o * C + cv * V) * inner + i];
  const s = [...shape];
  s[axis] = C / V;
  return maskFromBytes(s, out);
}

/** Fresh bytes of a tensor (a FileTensor read, or a copy of a dense tensor's memory) — safe to transfer. */
function ownBytes(t: Tensor): Uint8Array {
  return t.isLazy ? t.bytes() : t.bytes().slice();
}

export function palettizeCompressor(): Compressor<ResolvedConfig, PalettizeArgs, PalettizeResult> {
  return {
    pass: 'palettize',
    kernel: PALETTIZE_KERNEL,
    jointRoles: [
      { opType: 'constexpr_sparse_to_dense', param: 'nonzero_data' },
      { opType: 'constexpr_blockwise_shift_scale', param: 'data' },
    ],
    threshold: (c) => c.weightThreshold,
    same: sameConfig,
    describe: (c) => describeConfig(c),

    prepare(weight, c, ctx): Prepared<PalettizeArgs> | Skip {
      const { target, where } = ctx;
      const kind = kindOf(weight);
      // mil-ops.md §7.4 / §7.7: what iOS16/iOS17 programs cannot express
      if (c.nbits === 3) requireFeature('3-bit palettization', target, where);
      if (c.granularity === 'per_grouped_channel') requireFeature('grouped LUTs', target, where);
      if (c.clusterDim > 1) requireFeature('vector LUTs', target, where);
      if (c.enablePerChannelScale) {
        requireFeature('per-channel scale', target, where);
        if (kind !== 'plain') {
          throw new CompressionConfigError(`${where}: enablePerChannelScale cannot be combined with joint palettization of a ${kind} weight`);
        }
      }
      const dtype = (kind === 'quantized' ? weight.dtype : weight.denseDType) as LutDType;
      if (!LUT_DTYPES.includes(dtype)) return { skip: `its dtype ${dtype} cannot be a LUT element type (fp16, fp32, int8, uint8)` };
      if (c.enablePerChannelScale && dtype !== 'fp16' && dtype !== 'fp32') {
        throw new CompressionConfigError(`${where}: enablePerChannelScale needs a float weight, got ${dtype}`);
      }

      const groups = groupsOf(weight, c, target, where);
      if ('skip' in groups) return groups;
      const { axis, groupSize } = groups;
      const V = c.clusterDim;
      if (groupSize % V !== 0) return { skip: `its group of ${groupSize} channels along axis ${axis} is not divisible by clusterDim ${V}` };
      if (V > 1 && !clusterDimFits(weight, axis, V, target)) {
        return { skip: `clusterDim ${V} does not divide the channels of each conv group along axis ${axis}` };
      }

      let data: Tensor;
      let mask: Uint8Array | undefined;
      let dequant: PalettizeArgs['dequant'];
      if (kind === 'pruned') {
        // the LUT is fitted on the densified weight, zeros included (§7.6)
        data = materialize(weight.dense, target);
        const m = materialize(weight.role!.op.input('mask')!, target);
        if (V > 1 && !wholeVectors(maskBits(m), weight.denseShape, axis, V)) {
          return {
            skip: `its pruning mask splits LUT vectors of ${V} channels along axis ${axis}; vector palettization of a pruned weight needs whole vectors pruned`,
          };
        }
        mask = m.bytes().slice();
      } else {
        data = materialize(weight.value, target);
        if (kind === 'quantized') {
          const bss = weight.role!.op;
          const s = materialize(bss.input('scale')!, target);
          const z = bss.input('offset');
          dequant = { scale: s.toFloat32(), scaleShape: [...s.shape], offset: z ? materialize(z, target).toFloat32() : undefined };
        }
      }
      const bytes = kind === 'pruned' ? data.bytes() : ownBytes(data);
      const args: PalettizeArgs = {
        name: weight.name,
        dtype,
        shape: weight.denseShape,
        bytes,
        mode: c.mode,
        nbits: c.nbits,
        axis,
        groupSize,
        clusterDim: V,
        perChannelScale: c.enablePerChannelScale,
        seed: c.seed,
        lutFunction: c.lutFunction,
        mask,
        dequant,
      };
      const elements = weight.denseShape.reduce((a, b) => a * b, 1);
      return {
        args,
        transfer: [bytes.buffer as ArrayBuffer],
        // a lutFunction cannot cross a thread boundary: custom mode always runs in this thread
        work: c.mode === 'custom' ? -1 : elements,
      };
    },

    commit(weight, c, r, e): Value | Skip {
      if (r.skip !== undefined) return { skip: r.skip };
      const kind = kindOf(weight);
      const dtype = (kind === 'quantized' ? weight.dtype : weight.denseDType) as LutDType;
      const lut = tensorFromValues(dtype, r.lutShape, r.lut);
      const va = r.vectorAxis;
      const name = `${weight.name}_palettized`;
      const idxType = uintOfBits(r.nbits);
      if (kind === 'pruned') return commitPruned(weight, e, r, lut, va, name);
      const indices = new DenseTensor(idxType, r.indicesShape, r.indices);
      let v = emitLut(e, { indices, lut, vectorAxis: va }, name);
      if (r.scale && r.scaleShape) {
        v = emitPerChannelScale(e, v, tensorFromValues(dtype, r.scaleShape, r.scale), `${name}_pcs`);
      }
      return v;
    },
  };
}

/**
 * `constexpr_blockwise_shift_scale(data = <lut_to_dense output>, scale)` with no offset —
 * the per-channel scale of §7.4 (the scale const is named `<op>_scale`, as coremltools'
 * exported models name inline values).
 */
function emitPerChannelScale(e: Emitter, data: Value, scale: Tensor, name: string): Value {
  const opName = freeName(e.fn, name);
  const s = e.builder.const(scale, { name: freeName(e.fn, `${opName}_scale`) });
  return e.builder.constexpr_blockwise_shift_scale({ data, scale: s }, { name: opName });
}

/**
 * prune → palettize (§7.6): `constexpr_lut_to_sparse(indices_mask, indices_nonzero_data, lut)`
 * feeds the existing `constexpr_sparse_to_dense` both its outputs (as coremltools rebuilds
 * it: `mask = out[0]`, `nonzero_data = out[1]`); returns `out[1]`, which replaces the old
 * nonzero data.
 */
function commitPruned(weight: Weight, e: Emitter, r: PalettizeResult, lut: Tensor, vectorAxis: number | undefined, name: string): Value {
  const sparse: Op = weight.role!.op;
  const oldMask = sparse.input('mask')!;
  let indicesMask: Tensor | Value = oldMask;
  if (vectorAxis !== undefined) {
    const m = materialize(oldMask, e.target);
    indicesMask = vectorMask(maskBits(m), weight.denseShape, vectorAxis, lut.shape[lut.rank - 1]);
  }
  const indices = new DenseTensor(uintOfBits(r.nbits), [r.indexCount], r.indices);
  const [mask, nonzero] = emitLutToSparse(e, { indicesMask, indicesNonzeroData: indices, lut, vectorAxis }, name);
  sparse.setInput('mask', mask);
  if (oldMask.producer) removeIfDead(oldMask.producer);
  return nonzero;
}
