/**
 * Test helper: builds programs straight from the IR classes (no registry involved), so
 * each test states every op, operand and output type itself.
 */
import {
  type DType,
  Function,
  Op,
  Program,
  type Target,
  type Tensor,
  type TensorType,
  type Value,
  type ValueType,
  scalar,
  stringTensor,
  tensorFromValues,
  tensorType,
} from '@silica/ir';
import { FIXTURES, randomFloats } from '@silica/test-support';
import { type InputTensor, type OutputTensor, type SessionOptions, createSession } from '../src/index.js';

export type Arg = Value | readonly Value[];

export class TestProgram {
  readonly program: Program;
  readonly fn: Function;
  private n = 0;

  constructor(target: Target = 'iOS18', inputs: Record<string, ValueType> = {}) {
    this.program = new Program(target);
    this.fn = this.program.addFunction(new Function('main'));
    for (const [k, t] of Object.entries(inputs)) this.fn.addInput(k, t);
  }

  input(name: string): Value {
    const v = this.fn.inputs.find((i) => i.name === name);
    if (!v) throw new Error(`no input ${name}`);
    return v;
  }

  tensor(t: Tensor, name?: string): Value {
    const op = new Op({
      type: 'const',
      outputs: [{ name: name ?? `c${this.n++}`, type: tensorType(t.dtype, t.shape) }],
      attributes: { val: t },
    });
    this.fn.block.append(op);
    return op.output;
  }

  /** A const of `dtype` and `shape` (shape defaults to [values.length]; scalar when `shape` is []). */
  c(dtype: DType, values: ArrayLike<number | boolean>, shape: readonly number[] = [values.length]): Value {
    return this.tensor(tensorFromValues(dtype, shape, Array.from(values) as number[]));
  }

  i32(...values: number[]): Value {
    return this.c('int32', values);
  }

  int(v: number): Value {
    return this.tensor(scalar('int32', v));
  }

  f32(v: number): Value {
    return this.tensor(scalar('fp32', v));
  }

  bool(v: boolean): Value {
    return this.tensor(scalar('bool', v));
  }

  bools(...values: boolean[]): Value {
    return this.c('bool', values);
  }

  str(s: string): Value {
    return this.tensor(stringTensor([], [s]));
  }

  /** Appends an op with the given operands and declared output types; returns its outputs. */
  ops(type: string, inputs: Record<string, Arg | undefined>, outs: readonly TensorType[], opts: { blocks?: Op['blocks'] } = {}): Value[] {
    const bound: Record<string, Value | readonly Value[]> = {};
    for (const [k, v] of Object.entries(inputs)) if (v !== undefined) bound[k] = v;
    const base = `${type}_${this.n++}`;
    const op = new Op({
      type,
      name: base,
      inputs: bound,
      outputs: outs.map((t, i) => ({ name: outs.length === 1 ? base : `${base}_${i}`, type: t })),
      blocks: opts.blocks ? [...opts.blocks] : undefined,
    });
    this.fn.block.append(op);
    return op.outputs;
  }

  op(type: string, inputs: Record<string, Arg | undefined>, out: TensorType): Value {
    return this.ops(type, inputs, [out])[0];
  }

  output(...values: Value[]): this {
    this.fn.block.setOutputs(values);
    return this;
  }

  session(options: SessionOptions = {}) {
    return createSession(this.program, options);
  }

  /** Runs once and returns the outputs in order. */
  run(inputs: Record<string, InputTensor> = {}, options: SessionOptions = {}): OutputTensor[] {
    const r = this.session(options).predict(inputs);
    return this.fn.block.outputs.map((v) => r[v.name]);
  }
}

export const f32 = (shape: readonly (number | string)[]): TensorType => tensorType('fp32', shape);
export const f16 = (shape: readonly (number | string)[]): TensorType => tensorType('fp16', shape);
export const i32 = (shape: readonly (number | string)[]): TensorType => tensorType('int32', shape);
export const b = (shape: readonly (number | string)[]): TensorType => tensorType('bool', shape);

/** An fp32 input object. */
export function inF32(shape: number[], data: number[] | Float32Array): InputTensor {
  return { shape, dtype: 'fp32', data };
}

/** [start, start + step, …] of length n. */
export function arange(n: number, start = 0, step = 1): number[] {
  return Array.from({ length: n }, (_, i) => start + i * step);
}

/** Deterministic pseudo-random floats in [-1, 1) (xorshift32; {@link randomFloats} at scale 1). */
export function randoms(n: number, seed = 1): Float32Array {
  return randomFloats(n, seed, 1);
}

export function list(t: OutputTensor): number[] {
  return Array.from(t.data);
}

/** Expects every element of `got` to be within `tol` of `want`. */
export function close(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-6): void {
  if (got.length !== want.length) throw new Error(`length ${got.length} vs ${want.length}`);
  for (let i = 0; i < got.length; i++) {
    const ok = Math.abs(got[i] - want[i]) <= tol * Math.max(1, Math.abs(want[i])) || (Number.isNaN(got[i]) && Number.isNaN(want[i]));
    if (!ok) throw new Error(`element ${i}: got ${got[i]}, want ${want[i]} (tol ${tol})`);
  }
}

/** The shared coremltools fixtures (`shared/fixtures`, beside the project root). */
export const fixturesDir = FIXTURES;
