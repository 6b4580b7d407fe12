/**
 * Building the constexpr ops of a compressed weight, in the form the program's target
 * needs (mil-ops.md §1.10, §7.3–§7.6), through the IR Builder: every op is type-checked by
 * the registry as it is built, and inserted before the first op that reads the weight, so
 * the block stays topologically ordered.
 *
 * | helper                            | iOS16 / iOS17                                                     | iOS18+ |
 * |-----------------------------------|-------------------------------------------------------------------|--------|
 * | `emitQuantized`                   | `constexpr_affine_dequantize` (8-bit, per-tensor/per-channel only) | `constexpr_blockwise_shift_scale` |
 * | `emitSparse`                      | `constexpr_sparse_to_dense` (packed uint8 mask + uint32 `shape`)  | `constexpr_sparse_to_dense` (uint1 mask) |
 * | `emitLut`                         | `constexpr_lut_to_dense` (packed indices, rank-1 LUT, `shape`)     | `constexpr_lut_to_dense` (uint<n> indices, rank K+2 LUT) |
 * | `emitLutToSparse`, `emitSparseQuantized` | (joint compression: error)                                 | two-output ops, `[mask, nonzero_data]` |
 *
 * Constant data is passed as Tensors (each becomes a `const` op named
 * `<op name>_<param>`, the names coremltools' exported models carry) or as Values (outputs
 * of existing ops, e.g. a mask shared by two constexpr ops).
 */
import {
  Builder,
  type DType,
  DTYPE_INFO,
  DenseTensor,
  type Function,
  type Op,
  type Target,
  type Tensor,
  type Value,
  clearConstCache,
  packSubByte,
  scalar,
  tensorFromValues,
  unpackSubByte,
} from '@silica/ir';
import { CompressionTargetError, usesIOS18Ops } from './targets.js';
import type { Weight } from './weights.js';

/** Where new ops go: a builder inserting before an anchor, and a name allocator. */
export interface Emitter {
  readonly builder: Builder;
  readonly fn: Function;
  readonly target: Target;
  /** Who the ops are for, in messages (`quantize: weight "w" (function "main")`). */
  readonly where: string;
}

/** A name not yet used in `fn`: `base`, else `base_1`, `base_2`… (not reserved — the builder claims it). */
export function freeName(fn: Function, base: string): string {
  const names = fn.allNames();
  let name = base;
  for (let i = 1; names.has(name); i++) name = `${base}_${i}`;
  return name;
}

/** The op of `block` that is or contains `op` (for users inside nested blocks). */
function ancestorIn(op: Op, block: Op['parent']): Op | undefined {
  let cur: Op | undefined = op;
  while (cur && cur.parent !== block) cur = cur.parent?.parentOp ?? undefined;
  return cur;
}

/** The first op of the weight's block (in block order) that reads `v`, or contains a reader. */
export function firstReaderIn(weight: Pick<Weight, 'block'>, v: Value): Op {
  let best: Op | undefined;
  let bestIndex = Infinity;
  for (const u of v.users) {
    const a = ancestorIn(u, weight.block);
    if (!a) continue;
    const i = weight.block.ops.indexOf(a);
    if (i >= 0 && i < bestIndex) {
      best = a;
      bestIndex = i;
    }
  }
  if (!best) throw new Error(`no op of the weight's block reads "${v.name}"`);
  return best;
}

export interface EmitterOptions {
  /** Insert before this op (default: the first op of the weight's block that reads the weight). */
  readonly anchor?: Op;
  /** Called with every op inserted (consts included). */
  readonly onInsert?: (op: Op) => void;
}

/** An Emitter inserting before the first reader of the weight's compressed value (or before `options.anchor`). */
export function emitterFor(weight: Weight, target: Target, pass: string, options: EmitterOptions = {}): Emitter {
  const before = options.anchor ?? firstReaderIn(weight, weight.value);
  return {
    builder: new Builder(weight.block, target, { before, onInsert: options.onInsert }),
    fn: weight.fn,
    target,
    where: `${pass}: ${weight.label}`,
  };
}

function operand(e: Emitter, x: Tensor | Value, name: string): Value {
  if ('producer' in x) return x;
  return e.builder.const(x, { name: freeName(e.fn, name) });
}

function build(e: Emitter, type: string, name: string, inputs: Record<string, Tensor | Value | undefined>): Op {
  const opName = freeName(e.fn, name);
  const bound: Record<string, Value> = {};
  for (const [k, v] of Object.entries(inputs)) if (v !== undefined) bound[k] = operand(e, v, `${opName}_${k}`);
  return e.builder.create(type, bound, { name: opName });
}

// ---------------------------------------------------------------------------------------
// Quantization (§1.1, §1.7, §7.3)

/** Quantization parameters in iOS18 layout: `scale`/`offset` have the data's rank (blocks per axis). */
export interface QuantParams {
  /** int8 | uint8 | int4 | uint4 codes, the weight's shape. */
  readonly data: Tensor;
  /** fp16 | fp32, one entry per block, rank = data rank. */
  readonly scale: Tensor | Value;
  /** Zero point with `scale`'s shape and `data`'s dtype; omitted when there is none. */
  readonly offset?: Tensor | Value;
}

export interface AffineParams {
  readonly quantizedData: Tensor;
  /** Rank 0 or 1 (length of `quantizedData.shape[axis]`), dtype of the data. */
  readonly zeroPoint: Tensor;
  /** Rank 0 or 1, fp16 | fp32. */
  readonly scale: Tensor;
  readonly axis: number;
}

/**
 * iOS18 → iOS16 quantization parameters (mil-ops.md §1.10, `ios18_quant_params_to_ios16`):
 * `axis` = the single non-1 scale dim (0 when none); scale/offset squeezed to rank ≤ 1; a
 * missing offset becomes zeros of the data dtype. Throws CompressionTargetError for 4-bit
 * data or more than one non-1 scale dim (per-block).
 */
export function toAffineParams(data: Tensor, scale: Tensor, offset: Tensor | undefined, target: Target, where?: string): AffineParams {
  if (data.dtype === 'int4' || data.dtype === 'uint4') {
    throw new CompressionTargetError(data.dtype === 'int4' ? 'int4 quantization' : 'uint4 quantization', target, where);
  }
  if (data.dtype !== 'int8' && data.dtype !== 'uint8') {
    throw new Error(`${where ?? 'toAffineParams'}: constexpr_affine_dequantize needs int8 or uint8 data, got ${data.dtype}`);
  }
  const nonUnit = scale.shape.flatMap((d, k) => (d > 1 ? [k] : []));
  if (nonUnit.length > 1) throw new CompressionTargetError('per-block quantization', target, where);
  const axis = nonUnit.length === 0 ? 0 : nonUnit[0];
  const squeezed = nonUnit.length === 0 ? [] : [scale.shape[axis]];
  const zp = offset ? offset.reshape(squeezed) : new DenseTensor(data.dtype, squeezed, new Uint8Array(squeezed.length === 0 ? 1 : squeezed[0]));
  return { quantizedData: data, zeroPoint: zp, scale: scale.reshape(squeezed), axis };
}

/** `constexpr_blockwise_shift_scale(data, scale[, offset])` (iOS18, §1.7). */
export function emitBlockwiseShiftScale(e: Emitter, p: QuantParams, name: string): Value {
  return build(e, 'constexpr_blockwise_shift_scale', name, { data: p.data, scale: p.scale, offset: p.offset }).output;
}

/** `constexpr_affine_dequantize(quantized_data, zero_point, scale, axis)` (iOS16 form, §1.1). */
export function emitAffineDequantize(e: Emitter, p: AffineParams, name: string): Value {
  return build(e, 'constexpr_affine_dequantize', name, {
    quantized_data: p.quantizedData,
    zero_point: p.zeroPoint,
    scale: p.scale,
    axis: scalar('int32', p.axis),
  }).output;
}

/** The dequantizing op for the target: blockwise_shift_scale at iOS18+, affine_dequantize below (§7.3). */
export function emitQuantized(e: Emitter, p: QuantParams, name: string): Value {
  if (usesIOS18Ops(e.target)) return emitBlockwiseShiftScale(e, p, name);
  if ('producer' in p.scale || (p.offset && 'producer' in p.offset)) {
    throw new Error(`${e.where}: the iOS16 quantization op needs scale and offset as constant tensors`);
  }
  return emitAffineDequantize(e, toAffineParams(p.data, p.scale as Tensor, p.offset as Tensor | undefined, e.target, e.where), name);
}

// ---------------------------------------------------------------------------------------
// Sparsity (§1.5, §1.6, §7.5)

/** Packs a uint1 mask's bits into the iOS16 uint8 mask (same bytes, LSB first, §11). */
export function packedMaskOf(mask: Tensor): DenseTensor {
  if (mask.dtype !== 'uint1') throw new Error(`packedMaskOf: mask must be uint1, got ${mask.dtype}`);
  return new DenseTensor('uint8', [Math.ceil(mask.size / 8)], mask.bytes());
}

/** A uint1 mask of `shape` from one 0/1 byte per element. */
export function maskFromBytes(shape: readonly number[], bits: Uint8Array): DenseTensor {
  return new DenseTensor('uint1', shape, packSubByte(bits, 1));
}

/** One 0/1 byte per element of a uint1 mask. */
export function maskBits(mask: Tensor): Uint8Array {
  return unpackSubByte(mask.bytes(), 1, mask.size);
}

export interface SparseParams {
  readonly nonzeroData: Tensor | Value;
  /** uint1 mask of the weight shape (Tensor), or a Value holding it (iOS18 only). */
  readonly mask: Tensor | Value;
}

/** `constexpr_sparse_to_dense` in the target's form (§1.5 packed mask + shape; §1.6 uint1 mask). */
export function emitSparse(e: Emitter, p: SparseParams, name: string): Value {
  if (usesIOS18Ops(e.target)) return build(e, 'constexpr_sparse_to_dense', name, { nonzero_data: p.nonzeroData, mask: p.mask }).output;
  if ('producer' in p.mask) throw new Error(`${e.where}: the iOS16 sparse op needs the mask as a constant tensor`);
  const mask = p.mask;
  return build(e, 'constexpr_sparse_to_dense', name, {
    nonzero_data: p.nonzeroData,
    mask: packedMaskOf(mask),
    shape: tensorFromValues('uint32', [mask.rank], mask.shape),
  }).output;
}

/** `constexpr_sparse_blockwise_shift_scale` (iOS18, §1.9): returns `[mask, nonzero_data]`. */
export function emitSparseQuantized(
  e: Emitter,
  p: { readonly dataMask: Tensor | Value; readonly nonzeroData: Tensor; readonly scale: Tensor | Value; readonly offset?: Tensor | Value },
  name: string,
): [Value, Value] {
  if (!usesIOS18Ops(e.target)) throw new CompressionTargetError('joint compression', e.target, e.where);
  const op = build(e, 'constexpr_sparse_blockwise_shift_scale', name, {
    data_mask: p.dataMask,
    nonzero_data: p.nonzeroData,
    scale: p.scale,
    offset: p.offset,
  });
  return [op.outputs[0], op.outputs[1]];
}

// ---------------------------------------------------------------------------------------
// Palettization (§1.3, §1.4, §1.8, §7.4)

export interface LutParams {
  /** uint1…uint8 indices in iOS18 layout (the weight shape, vector axis divided by VECTOR_SIZE). */
  readonly indices: Tensor;
  /** Rank K + 2: `[G_0, …, G_{K-1}, 2^nbits, VECTOR_SIZE]`. */
  readonly lut: Tensor | Value;
  readonly vectorAxis?: number;
}

const IOS16_LUT_BITS = new Set([1, 2, 4, 6, 8]);

/**
 * `constexpr_lut_to_dense` in the target's form. Below iOS18 only a per-tensor scalar LUT of
 * 1/2/4/6/8 bits is expressible (`ios18_lut_params_to_ios16`); grouped, vector and 3-bit
 * LUTs throw CompressionTargetError.
 */
export function emitLut(e: Emitter, p: LutParams, name: string): Value {
  if (usesIOS18Ops(e.target)) {
    return build(e, 'constexpr_lut_to_dense', name, {
      indices: p.indices,
      lut: p.lut,
      vector_axis: p.vectorAxis === undefined ? undefined : scalar('int32', p.vectorAxis),
    }).output;
  }
  if ('producer' in p.lut) throw new Error(`${e.where}: the iOS16 LUT op needs the LUT as a constant tensor`);
  const lut = p.lut;
  const k = p.indices.rank;
  const nbits = DTYPE_INFO[p.indices.dtype].bits;
  if (lut.shape[k + 1] > 1) throw new CompressionTargetError('vector LUTs', e.target, e.where);
  if (lut.shape.slice(0, k).some((g) => g > 1)) throw new CompressionTargetError('grouped LUTs', e.target, e.where);
  if (!IOS16_LUT_BITS.has(nbits)) throw new CompressionTargetError('3-bit palettization', e.target, e.where);
  return build(e, 'constexpr_lut_to_dense', name, {
    indices: new DenseTensor('uint8', [Math.ceil((p.indices.size * nbits) / 8)], p.indices.bytes()),
    lut: lut.reshape([lut.shape[k]]),
    shape: tensorFromValues('uint32', [k], p.indices.shape),
  }).output;
}

/** `constexpr_lut_to_sparse` (iOS18, §1.8): returns `[mask, nonzero_data]`. */
export function emitLutToSparse(
  e: Emitter,
  p: { readonly indicesMask: Tensor | Value; readonly indicesNonzeroData: Tensor; readonly lut: Tensor | Value; readonly vectorAxis?: number },
  name: string,
): [Value, Value] {
  if (!usesIOS18Ops(e.target)) throw new CompressionTargetError('joint compression', e.target, e.where);
  const op = build(e, 'constexpr_lut_to_sparse', name, {
    indices_mask: p.indicesMask,
    indices_nonzero_data: p.indicesNonzeroData,
    lut: p.lut,
    vector_axis: p.vectorAxis === undefined ? undefined : scalar('int32', p.vectorAxis),
  });
  return [op.outputs[0], op.outputs[1]];
}

// ---------------------------------------------------------------------------------------
// Rewiring

/**
 * Removes `op` if none of its outputs is used, then every const/constexpr producer of its
 * operands that became unused, transitively. Returns the removed ops.
 */
export function removeIfDead(op: Op): Op[] {
  const removed: Op[] = [];
  const visit = (o: Op): void => {
    if (!o.parent || o.outputs.some((v) => v.uses.length > 0)) return;
    const producers = o.operands().flatMap((v) => (v.producer ? [v.producer] : []));
    o.parent.remove(o);
    removed.push(o);
    for (const p of producers) if (p.type === 'const' || p.isConstexpr) visit(p);
  };
  visit(op);
  return removed;
}

/**
 * Points every op that read `old` at `replacement` (block-output uses of a const are kept:
 * a constexpr output must not feed a block output, mil-ops.md §1), forgets cached constant
 * values downstream (`downstream`: chain ops whose value changes), and removes `old`'s
 * producer and its inputs when they became unused. Returns the removed ops.
 */
export function replaceValue(old: Value, replacement: Value, downstream: readonly Op[] = []): Op[] {
  for (const u of [...old.uses]) {
    if (u.kind === 'op') u.op.replaceInput(u.param, u.index, replacement);
  }
  for (const op of downstream) for (const v of op.outputs) clearConstCache(v);
  return old.producer ? removeIfDead(old.producer) : [];
}

/** dtype test helper: the integer dtypes quantized data may have (§1.7). */
export function isQuantDType(d: DType): d is 'int8' | 'uint8' | 'int4' | 'uint4' {
  return d === 'int8' || d === 'uint8' || d === 'int4' || d === 'uint4';
}
