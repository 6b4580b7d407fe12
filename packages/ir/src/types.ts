/**
 * Value types of the IR — the MIL `ValueType` of mlpackage-format.md §7.7, restricted to
 * what ML Programs use: tensors (rank 0 = scalar) with fixed or symbolic dims, states
 * wrapping a tensor type, tuples, lists and dictionaries.
 */
import { type DType } from './dtype.js';

/** A dimension: a fixed size, or a symbolic name (an `unknown` Dimension, §7.9). */
export type Dim = number | string;
export type Shape = readonly Dim[];

export interface TensorType {
  readonly kind: 'tensor';
  readonly dtype: DType;
  readonly shape: Shape;
}

export interface StateType {
  readonly kind: 'state';
  readonly wrapped: TensorType;
}

export interface TupleType {
  readonly kind: 'tuple';
  readonly types: readonly ValueType[];
}

export interface ListType {
  readonly kind: 'list';
  readonly elem: ValueType;
  readonly length: Dim;
}

export interface DictType {
  readonly kind: 'dict';
  readonly key: ValueType;
  readonly value: ValueType;
}

export type ValueType = TensorType | StateType | TupleType | ListType | DictType;

export function tensorType(dtype: DType, shape: Shape = []): TensorType {
  return { kind: 'tensor', dtype, shape: [...shape] };
}

export function stateType(wrapped: TensorType): StateType {
  return { kind: 'state', wrapped };
}

export function isTensorType(t: ValueType): t is TensorType {
  return t.kind === 'tensor';
}

export function isStateType(t: ValueType): t is StateType {
  return t.kind === 'state';
}

export function isStaticShape(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === 'number');
}

/** Element count of a static shape (1 for rank 0); throws on symbolic dims. */
export function numElements(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') throw new Error(`shape [${shape.join(', ')}] has the symbolic dim "${d}"`);
    n *= d;
  }
  return n;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function typesEqual(a: ValueType, b: ValueType): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'tensor': {
      const bt = b as TensorType;
      return a.dtype === bt.dtype && shapesEqual(a.shape, bt.shape);
    }
    case 'state':
      return typesEqual(a.wrapped, (b as StateType).wrapped);
    case 'tuple': {
      const bt = b as TupleType;
      return a.types.length === bt.types.length && a.types.every((t, i) => typesEqual(t, bt.types[i]));
    }
    case 'list': {
      const bl = b as ListType;
      return a.length === bl.length && typesEqual(a.elem, bl.elem);
    }
    case 'dict': {
      const bd = b as DictType;
      return typesEqual(a.key, bd.key) && typesEqual(a.value, bd.value);
    }
  }
}

/** `fp16[1, 128, 768]`, `fp32[]` for a scalar, `state<fp16[1, 8, 2048, 64]>`. */
export function formatType(t: ValueType): string {
  switch (t.kind) {
    case 'tensor':
      return `${t.dtype}[${t.shape.join(', ')}]`;
    case 'state':
      return `state<${formatType(t.wrapped)}>`;
    case 'tuple':
      return `tuple<${t.types.map(formatType).join(', ')}>`;
    case 'list':
      return `list<${formatType(t.elem)}, ${t.length}>`;
    case 'dict':
      return `dict<${formatType(t.key)}, ${formatType(t.value)}>`;
  }
}

/** Valid MIL identifier (mlpackage-format.md §7): `[A-Za-z_][A-Za-z0-9_@]*`. */
export const IDENTIFIER_RE = /^[A-Za-z_][A-Za-z0-9_@]*$/;

/** Reserved words coremltools avoids by suffixing `_workaround` (§7). */
export const RESERVED_WORDS: ReadonlySet<string> = new Set([
  'any', 'bool', 'program', 'func', 'tensor', 'list', 'dict', 'tuple', 'true', 'false', 'string',
  'bf16', 'fp16', 'fp32', 'fp64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
  'uint64', 'state',
]);

export function isValidIdentifier(name: string): boolean {
  return IDENTIFIER_RE.test(name) && !RESERVED_WORDS.has(name);
}

/**
 * Sanitises a name into a valid identifier the way coremltools' NameSanitizer does:
 * invalid characters become `_`, a leading digit gets a `_` prefix, reserved words get
 * `_workaround`.
 */
export function sanitizeIdentifier(name: string): string {
  let s = name.replace(/[^A-Za-z0-9_@]/g, '_');
  if (s === '' || !/^[A-Za-z_]/.test(s)) s = `_${s}`;
  if (RESERVED_WORDS.has(s)) s = `${s}_workaround`;
  return s;
}
