/**
 * Small shared helpers for writing op signatures: dtype sets, param-spec shorthands and
 * shape arithmetic (NumPy broadcasting, axis normalisation).
 */
import type { DType } from '../dtype.js';
import type { Dim, Shape, TensorType } from '../types.js';
import { tensorType } from '../types.js';
import type { OpArgs, ParamSpec } from './signature.js';

export const FLOAT: readonly DType[] = ['fp16', 'fp32'];
export const FLOAT_INT32: readonly DType[] = ['fp16', 'fp32', 'int32'];
export const FLOAT_INT32_BOOL: readonly DType[] = ['fp16', 'fp32', 'int32', 'bool'];
/** iOS17 "wide" set (mil-ops.md §6 preamble). */
export const WIDE: readonly DType[] = ['fp16', 'fp32', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'bool'];
export const INT32: readonly DType[] = ['int32'];
export const INDEX_IOS17: readonly DType[] = ['int8', 'int16', 'int32'];
export const BOOL: readonly DType[] = ['bool'];
export const STRING: readonly DType[] = ['string'];
export const UINT_INDICES: readonly DType[] = ['uint1', 'uint2', 'uint3', 'uint4', 'uint6', 'uint8'];

type Extra = Omit<ParamSpec, 'name' | 'dtypes'>;

/** A required tensor parameter. */
export const req = (name: string, dtypes: ParamSpec['dtypes'], extra: Extra = {}): ParamSpec => ({ name, dtypes, ...extra });

/** A required const parameter. */
export const reqConst = (name: string, dtypes: ParamSpec['dtypes'], extra: Extra = {}): ParamSpec => ({
  name,
  dtypes,
  const: true,
  ...extra,
});

/** An optional const parameter with a default. */
export const optConst = (
  name: string,
  dtypes: ParamSpec['dtypes'],
  def: ParamSpec['default'] | undefined,
  extra: Extra = {},
): ParamSpec => ({ name, dtypes, const: true, optional: true, default: def, ...extra });

/** An optional (possibly runtime) parameter. */
export const opt = (name: string, dtypes: ParamSpec['dtypes'], extra: Extra = {}): ParamSpec => ({
  name,
  dtypes,
  optional: true,
  ...extra,
});

/** Default helper: `dflt(-1, 'int32')` (materialized by coremltools) or `dflt(0, 'int32', false)`. */
export const dflt = (
  value: NonNullable<ParamSpec['default']>['value'],
  dtype: DType,
  materialized = true,
): NonNullable<ParamSpec['default']> => ({ value, dtype, materialized });

/** Normalises a possibly negative axis against `rank`; fails via args when out of range. */
export function normAxis(args: OpArgs, param: string | null, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    args.fail(param, `axis ${axis} is out of range for rank ${rank} (expected ${-rank} ≤ axis < ${rank})`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** NumPy broadcasting of two shapes (symbolic dims broadcast only against 1 or themselves). */
export function broadcastShapes(a: Shape, b: Shape): Dim[] | undefined {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const x = i < n - a.length ? 1 : a[i - (n - a.length)];
    const y = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (x === y) out[i] = x;
    else if (x === 1) out[i] = y;
    else if (y === 1) out[i] = x;
    else return undefined;
  }
  return out;
}

/** Broadcasts the tensors bound to `params`; fails naming both shapes when they don't broadcast. */
export function broadcastParams(args: OpArgs, params: readonly string[]): Dim[] {
  let shape: Dim[] = [];
  let from = '';
  for (const p of params) {
    const t = args.tensor(p);
    const s = broadcastShapes(shape, t.shape);
    if (!s) args.fail(p, `shape [${t.shape.join(', ')}] does not broadcast with [${shape.join(', ')}]${from ? ` (${from})` : ''}`);
    shape = s!;
    from = p;
  }
  return shape;
}

/** Same element type, new shape. */
export function withShape(t: TensorType, shape: Shape): TensorType {
  return tensorType(t.dtype, shape);
}

/** Integer list from a const tensor param (e.g. axes, perm); undefined when not const. */
export function constInts(args: OpArgs, param: string): number[] | undefined {
  const t = args.constOrDefault(param);
  return t ? t.toNumbers() : undefined;
}

/** A const scalar (number/bool) param or its default. */
export function constScalar(args: OpArgs, param: string): number | undefined {
  const t = args.constOrDefault(param);
  if (!t) return undefined;
  if (t.size !== 1) args.fail(param, `expects a scalar, got shape [${t.shape.join(', ')}]`);
  return t.toNumbers()[0];
}

/** A const string param or its default. */
export function constString(args: OpArgs, param: string): string | undefined {
  const t = args.constOrDefault(param);
  if (!t) return undefined;
  if (t.dtype !== 'string') args.fail(param, `expects a string, got ${t.dtype}`);
  return t.strings()[0];
}
