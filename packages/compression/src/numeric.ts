/**
 * Numeric helpers that make the compressors reproduce coremltools' NumPy arithmetic bit
 * for bit: NumPy's rounding (half to even), float16 arithmetic (every fp16 ⊕ fp16 operation
 * is computed in float32 and rounded to float16, as NumPy's half loops do), and
 * materializing a weight's dense value without caching it.
 */
import {
  type DType,
  type Program,
  type Target,
  type Tensor,
  type Value,
  fp16BitsToNumber,
  getSignature,
  numberToFp16Bits,
  opArgs,
  roundToFp16InPlace,
} from '@silica/ir';

/** NumPy's `np.round` / `np.rint`: round half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds halves up; at an exact .5 pick the even neighbour
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Rounds a number to the nearest value of a float dtype: fp16 (via fp32, as NumPy), fp32, or unchanged for fp64. */
export function roundTo(dtype: DType, x: number): number {
  if (dtype === 'fp16') return fp16BitsToNumber(numberToFp16Bits(x));
  if (dtype === 'fp32') return Math.fround(x);
  return x;
}

/** Rounds every element to `dtype` in place (fp16 / fp32; other dtypes unchanged). */
export function roundArrayTo(dtype: DType, a: Float32Array): Float32Array {
  if (dtype === 'fp16') roundToFp16InPlace(a);
  return a;
}

/**
 * The value of a const or constexpr output as a Tensor, evaluating the constexpr chain
 * through the registry — without leaving the result in the IR's constant cache (a
 * decompressed multi-GB weight must not stay alive with the program).
 */
export function materialize(v: Value, target: Target): Tensor {
  const p = v.producer;
  if (!p) throw new Error(`materialize: "${v.name}" is a function input, not a constant`);
  if (p.type === 'const') {
    const t = p.constValue;
    if (!t) throw new Error(`materialize: const "${p.name}" has no value`);
    return t;
  }
  const sig = getSignature(p.type, target);
  if (!sig?.evaluate) throw new Error(`materialize: ${p.type} "${p.name}" cannot be evaluated at ${target}`);
  const outs = sig.evaluate(opArgs(p, target));
  const t = outs[v.index];
  if (!t) throw new Error(`materialize: ${p.type} "${p.name}" produced no output ${v.index}`);
  return t;
}

/** The dense weight behind a value of `program` (see `materialize`). */
export function denseValueOf(program: Program, v: Value): Tensor {
  return materialize(v, program.target);
}
