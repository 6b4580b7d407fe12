/**
 * Operand access for inference and evaluation, constness (mil-ops.md §0.2) and constant
 * evaluation of constexpr ops (as coremltools' value inference does).
 */
import type { Op, Value } from '../ir.js';
import type { Target } from '../target.js';
import { type Tensor, tensorFromValues, scalar } from '../tensor.js';
import { type TensorType, type ValueType, formatType } from '../types.js';
import { getSignature } from './index.js';
import { type OpArgs, type OpSignature, OpTypeError, type ParamSpec } from './signature.js';
import { checkOperands } from './check.js';

/** Inputs of ops, keyed by [op type, param], and fixed values per generated op name. */
export interface ArgSource {
  readonly opType: string;
  readonly opName: string;
  types(param: string): readonly ValueType[] | undefined;
  consts(param: string): ReadonlyArray<Tensor | undefined> | undefined;
  /** Constness of each bound value without evaluating it; when absent, `consts` decides. */
  isConst?(param: string): readonly boolean[] | undefined;
}

export function makeArgs(src: ArgSource, sig: OpSignature | undefined): OpArgs {
  const spec = (p: string): ParamSpec | undefined => sig?.params.find((s) => s.name === p);
  const fail = (param: string | null, message: string): never => {
    throw new OpTypeError(src.opType, src.opName, param, message);
  };
  const one = <T>(param: string, xs: readonly T[] | undefined): T => {
    if (!xs || xs.length === 0) fail(param, 'is required but missing');
    if (xs!.length !== 1) fail(param, `expects one value, got ${xs!.length}`);
    return xs![0];
  };
  const args: OpArgs = {
    opType: src.opType,
    opName: src.opName,
    has: (p) => (src.types(p)?.length ?? 0) > 0,
    type: (p) => one(p, src.types(p)),
    tensor: (p) => {
      const t = one(p, src.types(p));
      if (t.kind !== 'tensor') fail(p, `expects a tensor, got ${formatType(t)}`);
      return t as TensorType;
    },
    types: (p) => src.types(p) ?? [],
    isConst: (p) => {
      const cs = src.isConst ? src.isConst(p) : src.consts(p)?.map((c) => c !== undefined);
      return cs !== undefined && cs.length > 0 && cs.every((c) => c);
    },
    constValue: (p) => {
      const cs = src.consts(p);
      if (!cs || cs.length !== 1) return undefined;
      return cs[0];
    },
    constOrDefault: (p) => {
      if (args.has(p)) return args.constValue(p);
      const d = spec(p)?.default;
      if (!d) return undefined;
      return d.resolve ? d.resolve(args) : defaultTensor(d);
    },
    constValues: (p) => src.consts(p) ?? [],
    fail,
  };
  return args;
}

export function defaultTensor(d: NonNullable<ParamSpec['default']>): Tensor {
  const v = d.value;
  if (Array.isArray(v)) return tensorFromValues(d.dtype, [v.length], v as number[]);
  return scalar(d.dtype, v as number | boolean | string);
}

const CONST_CACHE = new WeakMap<Value, Tensor | null>();
/** Largest evaluated constant kept in the cache (1 MiB). */
const MAX_CACHED_BYTES = 1 << 20;

/**
 * True when `v` is known at compile time: the output of `const`, of a `constexpr_*` op,
 * or of an op whose inputs are all const (mil-ops.md §0.2). Function inputs and states
 * are never const; `read_state` never is.
 */
export function isConst(v: Value): boolean {
  const seen = new Set<Op>();
  const visit = (x: Value): boolean => {
    const p = x.producer;
    if (!p) return false;
    if (p.type === 'const' || p.isConstexpr) return true;
    if (p.type === 'read_state' || p.type === 'write_state' || p.blocks.length > 0) return false;
    if (seen.has(p)) return true;
    seen.add(p);
    return p.operands().every(visit);
  };
  return visit(v);
}

/**
 * The constant value of `v`, evaluating constexpr ops and foldable ops through their
 * signature's `evaluate` (small results cached per value). Undefined when not const or not evaluable.
 */
export function constValueOf(v: Value, target: Target): Tensor | undefined {
  const p = v.producer;
  if (!p) return undefined;
  if (p.type === 'const') return p.attributes.get('val');
  const cached = CONST_CACHE.get(v);
  if (cached !== undefined) return cached ?? undefined;
  let result: Tensor | undefined;
  if (isConst(v)) {
    const sig = getSignature(p.type, target);
    if (sig?.evaluate) {
      const outs = sig.evaluate(opArgs(p, target));
      result = outs[v.index];
    }
  }
  // Only small results (shape and axis parameters, LUTs, scales) are remembered: a
  // decompressed weight is recomputed when asked for again rather than kept alive for as
  // long as the program, which would put every dense weight of a model in memory.
  if (result === undefined || result.isLazy || result.byteLength <= MAX_CACHED_BYTES) CONST_CACHE.set(v, result ?? null);
  return result;
}

/** Forgets cached constant values (after a pass changed a constexpr chain in place). */
export function clearConstCache(v: Value): void {
  CONST_CACHE.delete(v);
}

/** OpArgs over an Op of the IR. */
export function opArgs(op: Op, target: Target): OpArgs {
  const sig = getSignature(op.type, target);
  return makeArgs(
    {
      opType: op.type,
      opName: op.name,
      types: (p) => op.inputs.get(p)?.map((v) => v.type),
      consts: (p) => op.inputs.get(p)?.map((v) => constValueOf(v, target)),
      isConst: (p) => op.inputs.get(p)?.map((v) => isConst(v)),
    },
    sig,
  );
}

/** Infers the output types of `op` for `target` (throws OpTypeError on bad operands). */
export function inferOutputTypes(op: Op, target: Target): ValueType[] {
  const sig = getSignature(op.type, target);
  if (!sig) throw new OpTypeError(op.type, op.name, null, `unknown op, or not available at ${target}`);
  return sig.infer(opArgs(op, target));
}

/**
 * Full type check of an op for a target: the op exists at the target, operands match the
 * signature's ParamSpecs (dtypes, type variables, ranks, constness), and `infer`
 * accepts them. Returns the inferred output types.
 */
export function typeCheckOp(op: Op, target: Target): ValueType[] {
  const sig = getSignature(op.type, target);
  if (!sig) throw new OpTypeError(op.type, op.name, null, `unknown op, or not available at ${target}`);
  const args = opArgs(op, target);
  checkOperands(
    sig,
    {
      types: (p) => op.inputs.get(p)?.map((v) => v.type),
      isConst: (p) => op.inputs.get(p)?.map((v) => isConst(v)),
      params: () => [...op.inputs.keys()],
    },
    args,
  );
  return sig.infer(args);
}
