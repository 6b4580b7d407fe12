/** Small programs for the compression tests, built with the IR builder. */
import { type Program, type Tensor, type Value, buildProgram, fromFloat32, tensorType, type Target, type Builder } from '@silica/ir';

/** Deterministic pseudo-random floats in [-scale, scale). */
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

export function weight(shape: readonly number[], seed = 1, dtype: 'fp16' | 'fp32' = 'fp16'): Tensor {
  return fromFloat32(dtype, shape, randomFloats(shape.reduce((a, b) => a * b, 1), seed));
}

/** main(x: fp16[1, in]) -> linear(x, w[out, in]) per shape, chained; consts named w0, w1, … */
export function linearChain(target: Target, shapes: ReadonlyArray<readonly [number, number]>, dtype: 'fp16' | 'fp32' = 'fp16'): Program {
  return buildProgram(target, (p) => {
    p.function('main', { x: tensorType(dtype, [1, shapes[0][1]]) }, (b, { x }) => {
      let h: Value = x;
      shapes.forEach(([o, i], k) => {
        const w = b.const(weight([o, i], k + 1, dtype), { name: `w${k}` });
        h = b.linear({ x: h, weight: w }, { name: `fc${k}` });
      });
      return h;
    });
  });
}

/** A program whose body is written by `body` (function main with input x of `xType` shape). */
export function program(target: Target, xShape: readonly number[], body: (b: Builder, x: Value) => Value | Value[], dtype: 'fp16' | 'fp32' = 'fp16'): Program {
  return buildProgram(target, (p) => {
    p.function('main', { x: tensorType(dtype, xShape) }, (b, { x }) => body(b, x));
  });
}

export function opTypes(p: Program): string[] {
  return [...p.main.ops].map((o) => o.type);
}
