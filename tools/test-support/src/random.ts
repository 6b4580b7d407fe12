import { type Tensor, fromFloat32 } from '@silica/ir';

/**
 * `n` deterministic pseudo-random floats, uniform in [-scale, scale) (xorshift32 13/17/5
 * from `seed`; seed 0 is treated as 1). Test expectations depend on the exact sequence.
 */
export function randomFloats(n: number, seed = 1, scale = 0.1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

/** A tensor of `shape` filled with {@link randomFloats}(size, seed, scale), stored as `dtype`. */
export function randomWeight(shape: readonly number[], seed = 1, dtype: 'fp16' | 'fp32' = 'fp16', scale = 0.1): Tensor {
  return fromFloat32(dtype, shape, randomFloats(shape.reduce((a, b) => a * b, 1), seed, scale));
}
