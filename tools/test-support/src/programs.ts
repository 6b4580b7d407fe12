import {
  type Builder,
  type PassContext,
  type Program,
  type Target,
  type Tensor,
  type Value,
  buildProgram,
  createPassContext,
  silentLogger,
  tensorType,
} from '@silica/ir';
import { randomWeight } from './random.js';

/** A const's tensor by op name (throws naming the ops present when absent). */
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

/** A pass context for `p`'s target with a silent logger. */
export function ctxFor(p: Program): PassContext {
  return createPassContext({ target: p.target, logger: silentLogger });
}

/** main(x: dtype[xShape]) whose body is written by `body`. */
export function program(target: Target, xShape: readonly number[], body: (b: Builder, x: Value) => Value | Value[], dtype: 'fp16' | 'fp32' = 'fp16'): Program {
  return buildProgram(target, (p) => {
    p.function('main', { x: tensorType(dtype, xShape) }, (b, { x }) => body(b, x));
  });
}

/** x[1, in] → linear(w0) → linear(w1) … per `[out, in]` shape; consts w0, w1, … (seeds 1, 2, …), ops fc0, fc1, … */
export function linearChain(target: Target, shapes: ReadonlyArray<readonly [number, number]>, dtype: 'fp16' | 'fp32' = 'fp16'): Program {
  return program(
    target,
    [1, shapes[0][1]],
    (b, x) => {
      let h = x;
      shapes.forEach(([o, i], k) => {
        h = b.linear({ x: h, weight: b.const(randomWeight([o, i], k + 1, dtype), { name: `w${k}` }) }, { name: `fc${k}` });
      });
      return h;
    },
    dtype,
  );
}

/** The op types of `p`'s main function, in order. */
export function opTypes(p: Program): string[] {
  return [...p.main.ops].map((o) => o.type);
}

/** Same dtype, shape and stored bytes. */
export function bytesEqual(a: Tensor, b: Tensor): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]) && Buffer.from(a.bytes()).equals(Buffer.from(b.bytes()));
}
