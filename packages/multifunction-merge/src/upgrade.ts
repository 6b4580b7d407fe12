/**
 * Moving a function from an iOS16/iOS17 program into an iOS18+ program.
 *
 * A multifunction model needs spec ≥ 9 (mlpackage-format.md §13.1), and in an iOS18+
 * program the op types `constexpr_lut_to_dense` and `constexpr_sparse_to_dense` always
 * mean their iOS18 signatures (§9.4, mil-ops.md §1.10). A function read from an older
 * program holds them in the iOS16 form, so they are rewritten the way coremltools'
 * `ios16_*_to_ios18` helpers do — the stored bytes do not change (§11: packed iOS16
 * indices/masks and `uint<n>` tensors are the same bytes), only the declared dtype/shape:
 *
 * ```
 * %i = const() {val = …} : uint8[131072]              %i = const() {val = …} : uint4[1024, 256]
 * %l = const() {val = …} : fp16[16]             ->    %l = const() {val = …} : fp16[1, 1, 16, 1]
 * %s = const() {val = [1024, 256]} : uint32[2]
 * %w = constexpr_lut_to_dense(indices = %i,           %w = constexpr_lut_to_dense(indices = %i,
 *        lut = %l, shape = %s) : fp16[1024, 256]             lut = %l) : fp16[1024, 256]
 *
 * %m = const() : uint8[M]   (packed bits)             %m = const() : uint1[shape]
 * %w = constexpr_sparse_to_dense(nonzero_data = %d,   %w = constexpr_sparse_to_dense(
 *        mask = %m, shape = %s)                              nonzero_data = %d, mask = %m)
 * ```
 *
 * `constexpr_cast` keeps its parameters (only their storage changes, which the writer
 * decides from the target), and `constexpr_affine_dequantize` has no iOS18 signature: it
 * stays in the attribute form in every program (§9.4).
 */
import {
  type Function as Fn,
  Op,
  type Target,
  type Tensor,
  type Value,
  clearConstCache,
  opsetVersionOf,
  tensorType,
} from '@silica/ir';
import { MergeError } from './errors.js';
import { retype } from './tensors.js';

/** The iOS16 palette sizes and their index dtypes (mil-ops.md §1.3: no 3-bit in iOS16). */
const INDEX_DTYPE: Readonly<Record<number, 'uint1' | 'uint2' | 'uint4' | 'uint6' | 'uint8'>> = {
  2: 'uint1',
  4: 'uint2',
  16: 'uint4',
  64: 'uint6',
  256: 'uint8',
};

/**
 * Rewrites the iOS16-form constexpr ops of `fn` (which came from a program targeting
 * `sourceTarget`) into their iOS18 form when `target` uses the iOS18 signatures. Returns
 * the number of ops rewritten and the const ops it left unused (for the caller to drop).
 */
export function upgradeConstexprForms(fn: Fn, sourceTarget: Target, target: Target): { upgraded: number; orphans: Op[] } {
  const orphans: Op[] = [];
  if (opsetVersionOf(sourceTarget) === 'iOS18' || opsetVersionOf(target) !== 'iOS18') return { upgraded: 0, orphans };
  let upgraded = 0;
  for (const op of [...fn.walk()]) {
    if (op.type !== 'constexpr_lut_to_dense' && op.type !== 'constexpr_sparse_to_dense') continue;
    const where = `function "${fn.name}", ${op.type} "${op.name}"`;
    const shapeValue = op.inputs.get('shape')?.[0];
    if (!shapeValue) {
      throw new MergeError(`${where}: expected the iOS16 form (with a "shape" input) in a function from an ${sourceTarget} program (mil-ops.md §1.3, §1.5)`);
    }
    const shape = constTensor(op, 'shape', where).toNumbers();
    if (op.type === 'constexpr_lut_to_dense') {
      const lut = constTensor(op, 'lut', where);
      const dtype = INDEX_DTYPE[lut.size];
      if (lut.rank !== 1 || !dtype) {
        throw new MergeError(`${where}: an iOS16 LUT must be rank 1 with 2, 4, 16, 64 or 256 entries (mil-ops.md §1.3), got [${lut.shape.join(', ')}]`);
      }
      // mil-ops.md §1.10: indices → uint<nbits>[shape]; lut → [1, …, 1, NUM_PALETTES, 1]
      setConstInput(fn, op, 'indices', retypeOrFail(constTensor(op, 'indices', where), dtype, shape, where), orphans);
      setConstInput(fn, op, 'lut', lut.reshape([...shape.map(() => 1), lut.size, 1]), orphans);
    } else {
      setConstInput(fn, op, 'mask', retypeOrFail(constTensor(op, 'mask', where), 'uint1', shape, where), orphans);
    }
    op.removeInput('shape');
    if (shapeValue.producer) orphans.push(shapeValue.producer);
    for (const o of op.outputs) clearConstCache(o);
    upgraded++;
  }
  return { upgraded, orphans };
}

function constTensor(op: Op, param: string, where: string): Tensor {
  const t = op.inputs.get(param)?.[0]?.producer?.constValue;
  if (!t) throw new MergeError(`${where}: input "${param}" must come from a const op (iOS16 constexpr parameters are constants, mil-ops.md §1)`);
  return t;
}

function retypeOrFail(t: Tensor, dtype: Parameters<typeof retype>[1], shape: number[], where: string): Tensor {
  try {
    return retype(t, dtype, shape);
  } catch (e) {
    throw new MergeError(`${where}: ${(e as Error).message} (mlpackage-format.md §11)`);
  }
}

/**
 * Binds `param` of `op` to a const holding `t`: the existing const op is updated in place
 * when `op` is its only user (names stay as in the source), else a new const is added.
 */
function setConstInput(fn: Fn, op: Op, param: string, t: Tensor, orphans: Op[]): void {
  const v: Value = op.inputs.get(param)![0];
  const producer = v.producer!;
  if (v.uses.length === 1) {
    producer.attributes.set('val', t);
    v.type = tensorType(t.dtype, t.shape);
    clearConstCache(v);
    return;
  }
  const name = fn.freshName(v.name);
  const c = new Op({ type: 'const', name, outputs: [{ name, type: tensorType(t.dtype, t.shape) }], attributes: { val: t } });
  op.parent!.insertBefore(op, c);
  op.setInput(param, c.output);
  orphans.push(producer);
}
