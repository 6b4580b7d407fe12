/**
 * Helpers the three passes share: reading small constants, option checks, function
 * selection, and keeping an op's name when a rewrite replaces it.
 */
import {
  type DType,
  type Function as Fn,
  type Op,
  type Program,
  type Rewriter,
  type Target,
  type TensorType,
  type Value,
  constValueOf,
  isConst,
  numElements,
  tensorFromValues,
} from '@silica/ir';

/** Constants larger than this are never read as a scale, a mask fill value or a flag. */
const SMALL_CONST = 64;

/** The tensor type of `v`, or undefined for states, tuples, lists and dicts. */
export function tensorTypeOf(v: Value): TensorType | undefined {
  return v.type.kind === 'tensor' ? v.type : undefined;
}

/**
 * The elements of `v` when it is a small compile-time constant (a `const`, or ops over
 * consts that the registry can fold), else undefined.
 */
export function smallConstValues(v: Value, target: Target): { dtype: DType; values: number[] } | undefined {
  const t = tensorTypeOf(v);
  if (!t || !t.shape.every((d) => typeof d === 'number')) return undefined;
  if (numElements(t.shape) > SMALL_CONST || !isConst(v)) return undefined;
  const tensor = constValueOf(v, target);
  if (!tensor || tensor.dtype === 'string') return undefined;
  return { dtype: tensor.dtype, values: tensor.toNumbers() };
}

/** The single value every element of a small constant `v` holds, or undefined (not const, empty, or not uniform). */
export function uniformConst(v: Value, target: Target): { dtype: DType; value: number } | undefined {
  const c = smallConstValues(v, target);
  if (!c || c.values.length === 0) return undefined;
  const first = c.values[0];
  if (!c.values.every((x) => x === first)) return undefined;
  return { dtype: c.dtype, value: first };
}

/** Whether the optional bool parameter `param` of `op` is `expected` (absent = false, the MIL default). */
export function flagIs(op: Op, param: string, expected: boolean, target: Target): boolean {
  const v = op.inputs.get(param);
  if (!v) return expected === false;
  if (v.length !== 1) return false;
  const c = uniformConst(v[0], target);
  return c !== undefined && c.dtype === 'bool' && (c.value !== 0) === expected;
}

/** The integer value of the scalar const parameter `param` of `op` (or `fallback` when absent). */
export function intParam(op: Op, param: string, fallback: number, target: Target): number | undefined {
  const v = op.inputs.get(param);
  if (!v) return fallback;
  if (v.length !== 1) return undefined;
  const c = uniformConst(v[0], target);
  return c && Number.isInteger(c.value) && (tensorTypeOf(v[0])?.shape.length ?? 1) === 0 ? c.value : undefined;
}

/** A rank-0 tensor of `dtype` holding `value` (rounded to the dtype). */
export function scalarOf(dtype: DType, value: number) {
  return tensorFromValues(dtype, [], [value]);
}

/** Unit roundoff of a float dtype: the largest relative error of rounding a real to it. */
export function unitRoundoff(dtype: DType): number {
  switch (dtype) {
    case 'fp16':
      return 2 ** -11;
    case 'bf16':
      return 2 ** -8;
    case 'fp32':
      return 2 ** -24;
    case 'fp64':
      return 2 ** -53;
    default:
      return 0; // integer constants are exact
  }
}

/**
 * Replaces `op` by `replacement` through the rewriter, then gives the replacement's op
 * and value the replaced op's names, so function output names (the signature) and the
 * names other tools refer to survive the rewrite.
 */
export function replaceKeepingName(rw: Rewriter, op: Op, replacement: Value): void {
  const opName = op.name;
  const valueName = op.output.name;
  rw.replaceOp(op, replacement);
  replacement.name = valueName;
  if (replacement.producer) replacement.producer.name = opName;
}

/** Checks an optional `functions` option against the program and returns the functions to rewrite. */
export function selectFunctions(pass: string, program: Program, only: ReadonlySet<string> | undefined): Fn[] {
  if (!only) return [...program.functions.values()];
  const missing = [...only].filter((n) => !program.functions.has(n));
  if (missing.length > 0) {
    throw new Error(
      `${pass}: no function named ${missing.map((n) => `"${n}"`).join(', ')} (functions: ${[...program.functions.keys()].join(', ')})`,
    );
  }
  return [...program.functions.values()].filter((f) => only.has(f.name));
}

/** Validates a `functions` option when the pass is built. */
export function functionsOption(pass: string, functions: readonly string[] | undefined): ReadonlySet<string> | undefined {
  if (functions === undefined) return undefined;
  if (!Array.isArray(functions) || functions.length === 0) {
    throw new Error(`${pass}: functions must be a non-empty array of function names, got ${JSON.stringify(functions)}`);
  }
  for (const f of functions) {
    if (typeof f !== 'string' || f === '') throw new Error(`${pass}: functions must be non-empty function names, got ${JSON.stringify(f)}`);
  }
  return new Set(functions);
}

/** Throws unless `options` is undefined or a plain object whose keys are all in `known`. */
export function checkOptionKeys(pass: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new Error(`${pass}: options must be an object, got ${JSON.stringify(options)}`);
  }
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new Error(`${pass}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} (options: ${known.join(', ')})`);
  }
}
