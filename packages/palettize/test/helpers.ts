/** Shared test helpers: fixtures, small programs, fp16 data and error measures. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from '@silica/interpreter';
import {
  type Program,
  type Target,
  type Tensor,
  type Value,
  buildProgram,
  constValueOf,
  createPassContext,
  fp32ToFp16Array,
  silentLogger,
  tensorFromValues,
  tensorType,
} from '@silica/ir';
import { readMLPackageSync } from '@silica/mlpackage-reader';
import { fp16Value } from '../src/histogram.js';
import { seededRandom } from '@silica/ir';

export const FIXTURES = join(import.meta.dirname, '../../../../shared/fixtures');

export function readFixture(name: string): Program {
  return readMLPackageSync(join(FIXTURES, `${name}.mlpackage`));
}

/** A value of `NAME.dense/` (coremltools' fully decompressed weights) as fp16 bits. */
export function fixtureDense(fixture: string, value: string): { bits: Uint16Array; shape: number[] } {
  const a = readNpy(readFileSync(join(FIXTURES, `${fixture}.dense`, `${value}.npy`)), value);
  if (a.dtype !== 'f2') throw new Error(`${fixture}.dense/${value}.npy is ${a.dtype}, expected f2`);
  return { bits: a.data as Uint16Array, shape: a.shape };
}

export const ctx = (p: Program) => createPassContext({ target: p.target, logger: silentLogger });

/** The weight a `linear` reads, found by the prefix of its value name, decompressed. */
export function linearWeight(p: Program, prefix: string): { value: Value; tensor: Tensor } {
  const op = p.main.ops.find((o) => o.type === 'linear' && o.input('weight')!.name.startsWith(prefix));
  if (!op) throw new Error(`no linear reads a weight named ${prefix}…`);
  const value = op.input('weight')!;
  const tensor = constValueOf(value, p.target);
  if (!tensor) throw new Error(`${value.name} is not constant`);
  return { value, tensor };
}

/** Mean squared error between two fp16 bit arrays, in float64. */
export function mseFp16(a: Uint16Array, b: Uint16Array): number {
  if (a.length !== b.length) throw new Error(`mseFp16: ${a.length} vs ${b.length} elements`);
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = fp16Value(a[i]) - fp16Value(b[i]);
    s += d * d;
  }
  return s / a.length;
}

/** Normal samples (Box–Muller), seeded. */
export function gaussian(n: number, std: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()) * std;
  return out;
}

export function fp16Bits(values: Float32Array): Uint16Array {
  return fp32ToFp16Array(values);
}

/**
 * x[1, in] → linear(w1 [hidden, in]) → relu → linear(w2 [out, hidden]), fp16, with
 * Gaussian weights (or the given ones).
 */
export function mlp(
  target: Target,
  dims: { in: number; hidden: number; out: number } = { in: 64, hidden: 128, out: 32 },
  weights: { w1?: Float32Array; w2?: Float32Array } = {},
): Program {
  const w1 = weights.w1 ?? gaussian(dims.hidden * dims.in, 0.05, 1);
  const w2 = weights.w2 ?? gaussian(dims.out * dims.hidden, 0.05, 2);
  return buildProgram(target, (p) => {
    p.function('main', { x: tensorType('fp16', [1, dims.in]) }, (b, { x }) => {
      const a = b.const(tensorFromValues('fp16', [dims.hidden, dims.in], w1), { name: 'w1' });
      const h = b.relu({ x: b.linear({ x, weight: a }, { name: 'fc1' }) });
      const c = b.const(tensorFromValues('fp16', [dims.out, dims.hidden], w2), { name: 'w2' });
      return b.linear({ x: h, weight: c }, { name: 'fc2' });
    });
  });
}

/** Op types of the main function, in order. */
export function opTypes(p: Program): string[] {
  return p.main.ops.map((o) => o.type);
}
