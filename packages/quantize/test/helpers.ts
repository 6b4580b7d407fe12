/** Fixture access and small programs for the quantize tests. */
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMLPackage } from '@silica/mlpackage-reader';
import { readNpy } from '@silica/interpreter';
import {
  type Builder,
  type PassContext,
  type Program,
  type Tensor,
  type Value,
  buildProgram,
  createPassContext,
  fromFloat32,
  silentLogger,
  tensorType,
  type Target,
} from '@silica/ir';

export const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/', import.meta.url));

export function fixture(name: string): Promise<Program> {
  return readMLPackage(join(FIXTURES, `${name}.mlpackage`));
}

/** A const's tensor by op name (throws naming the op when absent). */
export function constOf(p: Program, name: string): Tensor {
  const t = p.main.findOp(name)?.constValue;
  if (!t) throw new Error(`no const "${name}" in ${[...p.main.ops].map((o) => o.name).join(', ')}`);
  return t;
}

/** The tensor bound to `param` of the op named `op` (through a const). */
export function inputOf(p: Program, op: string, param: string): Tensor {
  const o = p.main.findOp(op);
  if (!o) throw new Error(`no op "${op}"`);
  const v = o.input(param);
  const t = v?.producer?.constValue;
  if (!t) throw new Error(`op "${op}" has no const input "${param}"`);
  return t;
}

/** A fixture's `.dense/<value>.npy` (coremltools' own decompression), as fp16 bits. */
export function denseNpy(fixtureName: string, value: string): Uint16Array {
  const a = readNpy(new Uint8Array(readFileSync(join(FIXTURES, `${fixtureName}.dense`, `${value}.npy`))), value);
  if (a.dtype !== 'f2') throw new Error(`${value}.npy is ${a.dtype}, expected f2`);
  return a.data as Uint16Array;
}

export function ctxFor(p: Program): PassContext {
  return createPassContext({ target: p.target, logger: silentLogger });
}

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

export function weight(shape: readonly number[], seed = 1, dtype: 'fp16' | 'fp32' = 'fp16', scale = 0.1): Tensor {
  return fromFloat32(dtype, shape, randomFloats(shape.reduce((a, b) => a * b, 1), seed, scale));
}

/** main(x: fp16[xShape]) with a body. */
export function program(target: Target, xShape: readonly number[], body: (b: Builder, x: Value) => Value | Value[], dtype: 'fp16' | 'fp32' = 'fp16'): Program {
  return buildProgram(target, (p) => {
    p.function('main', { x: tensorType(dtype, xShape) }, (b, { x }) => body(b, x));
  });
}

/** x[1, in] → linear(w0) → linear(w1) … with consts w0, w1, … */
export function linearChain(target: Target, shapes: ReadonlyArray<readonly [number, number]>, dtype: 'fp16' | 'fp32' = 'fp16'): Program {
  return program(
    target,
    [1, shapes[0][1]],
    (b, x) => {
      let h = x;
      shapes.forEach(([o, i], k) => {
        h = b.linear({ x: h, weight: b.const(weight([o, i], k + 1, dtype), { name: `w${k}` }) }, { name: `fc${k}` });
      });
      return h;
    },
    dtype,
  );
}

export function bytesEqual(a: Tensor, b: Tensor): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]) && Buffer.from(a.bytes()).equals(Buffer.from(b.bytes()));
}
