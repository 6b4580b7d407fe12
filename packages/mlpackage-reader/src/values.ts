/**
 * MIL.proto types and values → IR types and tensors (mlpackage-format.md §7.7–§7.11).
 * Every check names the file and the field path; no size taken from the file drives an
 * allocation before it is checked against the data actually present.
 */
import type {
  TensorValue,
  Value as PValue,
  ValueType as PValueType,
} from '@silica/coreml-format';
import { SilicaFormatError } from '@silica/coreml-format';
import {
  DTYPE_INFO,
  type DType,
  DenseTensor,
  type Dim,
  type Tensor,
  type TensorType,
  type ValueType,
  byteSize,
  dtypeFromProtoCode,
  numElements,
  tensorFromValues,
} from '@silica/ir';

/** Where we are: the file and a field path inside it. */
export interface Loc {
  readonly file: string;
  readonly path: string;
}

export const at = (loc: Loc, sub: string): Loc => ({ file: loc.file, path: `${loc.path}${sub.startsWith('[') ? '' : '.'}${sub}` });

export function fail(loc: Loc, expected: string, found?: string): never {
  throw new SilicaFormatError({ file: loc.file, where: loc.path, expected, found });
}

/** Largest element count accepted for any tensor (2^40): beyond this a shape is nonsense. */
const MAX_ELEMENTS = 2 ** 40;

/** Names symbolic dims (`unknown` Dimensions, §7.9): `<prefix>_d<i>`. */
export type DimNamer = (index: number) => string;

export function typeFromProto(vt: PValueType | undefined, loc: Loc, namer: DimNamer): ValueType {
  if (!vt) fail(loc, 'a ValueType', 'no type');
  const t = vt!.type;
  switch (t.case) {
    case 'tensorType': {
      const tt = t.value;
      const dtype = dtypeFromProtoCode(tt.dataType);
      if (!dtype) fail(at(loc, 'tensorType.dataType'), 'a known MIL DataType code (§7.8)', `code ${tt.dataType}`);
      const rank = Number(tt.rank);
      if (rank < 0) fail(at(loc, 'tensorType.rank'), 'a known rank ≥ 0 (unknown rank -1 is not supported)', `${tt.rank}`);
      if (rank !== tt.dimensions.length) {
        fail(at(loc, 'tensorType.dimensions'), `exactly rank = ${rank} dimensions`, `${tt.dimensions.length}`);
      }
      const shape: Dim[] = tt.dimensions.map((d, i) => {
        const dl = at(loc, `tensorType.dimensions[${i}]`);
        switch (d.dimension.case) {
          case 'constant': {
            const size = d.dimension.value.size;
            if (size > BigInt(MAX_ELEMENTS)) fail(dl, `a dimension ≤ 2^40`, `${size}`);
            return Number(size);
          }
          case 'unknown':
            if (d.dimension.value.variadic) fail(dl, 'a fixed or symbolic dimension (variadic rank is not supported)', 'unknown{variadic: true}');
            return namer(i);
          default:
            return fail(dl, 'a Dimension with constant or unknown set', 'an empty Dimension');
        }
      });
      return { kind: 'tensor', dtype: dtype!, shape };
    }
    case 'stateType': {
      const inner = typeFromProto(t.value.wrappedType, at(loc, 'stateType.wrappedType'), namer);
      if (inner.kind !== 'tensor') fail(at(loc, 'stateType.wrappedType'), 'a tensor type', inner.kind);
      return { kind: 'state', wrapped: inner as TensorType };
    }
    case 'tupleType':
      return {
        kind: 'tuple',
        types: t.value.types.map((x, i) => typeFromProto(x, at(loc, `tupleType.types[${i}]`), (k) => `${namer(k)}_${i}`)),
      };
    case 'listType': {
      const len = t.value.length?.dimension;
      return {
        kind: 'list',
        elem: typeFromProto(t.value.type, at(loc, 'listType.type'), namer),
        length: len?.case === 'constant' ? Number(len.value.size) : namer(-1),
      };
    }
    case 'dictionaryType':
      return {
        kind: 'dict',
        key: typeFromProto(t.value.keyType, at(loc, 'dictionaryType.keyType'), namer),
        value: typeFromProto(t.value.valueType, at(loc, 'dictionaryType.valueType'), namer),
      };
    default:
      return fail(loc, 'a ValueType with one of tensorType, listType, tupleType, dictionaryType, stateType', 'none set');
  }
}

/** Static element count of a const's tensor type; symbolic dims are an error here. */
export function staticShape(t: TensorType, loc: Loc): number[] {
  const shape = t.shape.map((d) => {
    if (typeof d !== 'number') fail(loc, 'a fixed shape for a constant value', `symbolic dim in [${t.shape.join(', ')}]`);
    return d as number;
  });
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > MAX_ELEMENTS) fail(loc, 'at most 2^40 elements', `shape [${shape.join(', ')}]`);
  }
  return shape;
}

/** Which TensorValue member coremltools writes for each dtype (§7.11). */
export function memberFor(dtype: DType): 'floats' | 'ints' | 'bools' | 'strings' | 'longInts' | 'doubles' | 'bytes' {
  switch (dtype) {
    case 'bool':
      return 'bools';
    case 'string':
      return 'strings';
    case 'fp32':
      return 'floats';
    case 'fp64':
      return 'doubles';
    case 'int16':
    case 'uint16':
    case 'int32':
      return 'ints';
    case 'int64':
    case 'uint64':
      return 'longInts';
    default:
      return 'bytes';
  }
}

/** An immediate TensorValue of the given type → tensor (§7.11). */
export function tensorFromImmediate(tv: TensorValue | undefined, type: TensorType, loc: Loc): Tensor {
  if (!tv) fail(loc, 'a TensorValue', 'none');
  const shape = staticShape(type, loc);
  const count = numElements(shape);
  const want = memberFor(type.dtype);
  const v = tv!.value;
  if (v.case !== want) {
    fail(at(loc, 'value'), `the "${want}" member for a ${type.dtype} tensor (§7.11)`, v.case ? `"${v.case}"` : 'no member set');
  }
  const payload = v.value!.values;
  const checkCount = (n: number): void => {
    if (n !== count) fail(at(loc, `${want}.values`), `${count} elements for shape [${shape.join(', ')}]`, `${n}`);
  };
  switch (v.case) {
    case 'strings': {
      const s = payload as string[];
      checkCount(s.length);
      return new DenseTensor('string', shape, new Uint8Array(0), s);
    }
    case 'bools':
      checkCount((payload as boolean[]).length);
      return tensorFromValues('bool', shape, payload as boolean[]);
    case 'floats': {
      const f = payload as number[];
      checkCount(f.length);
      return new DenseTensor('fp32', shape, new Uint8Array(Float32Array.from(f).buffer));
    }
    case 'doubles': {
      const f = payload as number[];
      checkCount(f.length);
      return new DenseTensor('fp64', shape, new Uint8Array(Float64Array.from(f).buffer));
    }
    case 'ints': {
      const ints = payload as number[];
      checkCount(ints.length);
      const info = DTYPE_INFO[type.dtype];
      const bad = ints.findIndex((x) => x < info.min || x > info.max);
      if (bad >= 0) fail(at(loc, `ints.values[${bad}]`), `a ${type.dtype} value in ${info.min}..${info.max}`, `${ints[bad]}`);
      return tensorFromValues(type.dtype, shape, ints);
    }
    case 'longInts': {
      const ls = payload as bigint[];
      checkCount(ls.length);
      const arr = type.dtype === 'int64' ? BigInt64Array.from(ls) : BigUint64Array.from(ls, (x) => BigInt.asUintN(64, x));
      return new DenseTensor(type.dtype, shape, new Uint8Array(arr.buffer));
    }
    case 'bytes': {
      const bytes = payload as Uint8Array;
      if (type.dtype === 'string' || type.dtype === 'bool') fail(loc, `no bytes payload for ${type.dtype}`);
      const need = byteSize(type.dtype, count);
      if (bytes.byteLength !== need) {
        fail(
          at(loc, 'bytes.values'),
          `${need} bytes for ${count} ${type.dtype} elements${DTYPE_INFO[type.dtype].subByte ? ' (bit-packed, §11)' : ''}`,
          `${bytes.byteLength} bytes`,
        );
      }
      // copy into an aligned buffer of our own (the protobuf buffer may be shared and unaligned)
      return new DenseTensor(type.dtype, shape, Uint8Array.from(bytes));
    }
  }
  return fail(loc, 'a supported TensorValue');
}

/** Resolves a BlobFileValue to a lazy tensor (checked against the blob's metadata record). */
export type BlobResolver = (fileName: string, offset: bigint, dtype: DType, shape: number[], loc: Loc) => Tensor;

/** A `Value` holding a tensor (immediate or blob) → Tensor. */
export function tensorFromValue(v: PValue, loc: Loc, resolveBlob: BlobResolver): Tensor {
  if (v.docString) fail(at(loc, 'docString'), 'an empty docString (unused field)', JSON.stringify(v.docString));
  const type = typeFromProto(v.type, at(loc, 'type'), (i) => `d${i}`);
  if (type.kind !== 'tensor') fail(at(loc, 'type'), 'a tensor-typed value', type.kind);
  const tt = type as TensorType;
  switch (v.value.case) {
    case 'immediateValue': {
      const iv = v.value.value.value;
      if (iv.case !== 'tensor') fail(at(loc, 'immediateValue'), 'a tensor immediate value', iv.case ?? 'none');
      return tensorFromImmediate(iv.value as TensorValue, tt, at(loc, 'immediateValue.tensor'));
    }
    case 'blobFileValue': {
      const b = v.value.value;
      return resolveBlob(b.fileName, b.offset, tt.dtype, staticShape(tt, loc), at(loc, 'blobFileValue'));
    }
    default:
      return fail(loc, 'a Value with immediateValue or blobFileValue', 'neither');
  }
}

/** A string scalar Value (e.g. an op's `name` attribute). */
export function stringFromValue(v: PValue, loc: Loc): string {
  const t = tensorFromValue(v, loc, () => fail(loc, 'an immediate string value', 'a blob reference'));
  if (t.dtype !== 'string' || t.size !== 1) fail(loc, 'a string scalar', `${t.dtype}[${t.shape.join(', ')}]`);
  return t.strings()[0];
}
