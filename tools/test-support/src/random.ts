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

/** Deterministic normal(0, σ) samples: mulberry32 uniforms in (0, 1) and Box–Muller. */
export function normalFloats(n: number, seed: number, sigma = 1): Float32Array {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = sigma * Math.sqrt(-2 * Math.log(uniform()));
    const a = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}
