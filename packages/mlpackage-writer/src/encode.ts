/**
 * IR types and tensors → MIL.proto messages (mlpackage-format.md §7.7–§7.11, §8).
 * protobuf-es emits a selected oneof member even when its message is empty, which is
 * what §3 requires (e.g. `Dimension{unknown{}}` = `12 00`).
 */
import {
  DataType,
  type Dimension,
  DimensionSchema,
  type TensorValue,
  TensorValueSchema,
  type Value as PValue,
  ValueSchema,
  type ValueType as PValueType,
  ValueTypeSchema,
  create,
} from '@silica/coreml-format';
import { DTYPE_INFO, type Tensor, type TensorType, type ValueType } from '@silica/ir';

export function dimensionProto(d: number | string): Dimension {
  return typeof d === 'number'
    ? create(DimensionSchema, { dimension: { case: 'constant', value: { size: BigInt(d) } } })
    : create(DimensionSchema, { dimension: { case: 'unknown', value: { variadic: false } } });
}

export function dataTypeCode(dtype: TensorType['dtype']): DataType {
  return DTYPE_INFO[dtype].protoCode as DataType;
}

export function valueTypeProto(t: ValueType): PValueType {
  switch (t.kind) {
    case 'tensor':
      return create(ValueTypeSchema, {
        type: {
          case: 'tensorType',
          value: { dataType: dataTypeCode(t.dtype), rank: BigInt(t.shape.length), dimensions: t.shape.map(dimensionProto) },
        },
      });
    case 'state':
      return create(ValueTypeSchema, { type: { case: 'stateType', value: { wrappedType: valueTypeProto(t.wrapped) } } });
    case 'tuple':
      return create(ValueTypeSchema, { type: { case: 'tupleType', value: { types: t.types.map(valueTypeProto) } } });
    case 'list':
      return create(ValueTypeSchema, {
        type: { case: 'listType', value: { type: valueTypeProto(t.elem), length: dimensionProto(t.length) } },
      });
    case 'dict':
      return create(ValueTypeSchema, {
        type: { case: 'dictionaryType', value: { keyType: valueTypeProto(t.key), valueType: valueTypeProto(t.value) } },
      });
  }
}

/** The TensorValue member and payload coremltools writes for a tensor (§7.11 table). */
export function tensorValueProto(t: Tensor): TensorValue {
  const v = t.dtype === 'string' ? undefined : t.values();
  switch (t.dtype) {
    case 'string':
      return create(TensorValueSchema, { value: { case: 'strings', value: { values: [...t.strings()] } } });
    case 'bool':
      return create(TensorValueSchema, { value: { case: 'bools', value: { values: Array.from(v as Uint8Array, (x) => x !== 0) } } });
    case 'fp32':
      return create(TensorValueSchema, { value: { case: 'floats', value: { values: Array.from(v as Float32Array) } } });
    case 'fp64':
      return create(TensorValueSchema, { value: { case: 'doubles', value: { values: Array.from(v as Float64Array) } } });
    case 'int16':
    case 'uint16':
    case 'int32':
      return create(TensorValueSchema, { value: { case: 'ints', value: { values: Array.from(v as Int32Array) } } });
    case 'int64':
    case 'uint64':
      return create(TensorValueSchema, {
        value: { case: 'longInts', value: { values: Array.from(v as BigInt64Array, (x) => BigInt.asIntN(64, x)) } },
      });
    default:
      // fp16/bf16/fp8 raw, int8/uint8 one byte each, uint32 raw LE, sub-byte packed (§11)
      return create(TensorValueSchema, { value: { case: 'bytes', value: { values: Uint8Array.from(t.bytes()) } } });
  }
}

export function immediateValueProto(t: Tensor): PValue {
  return create(ValueSchema, {
    type: valueTypeProto({ kind: 'tensor', dtype: t.dtype, shape: t.shape }),
    value: { case: 'immediateValue', value: { value: { case: 'tensor', value: tensorValueProto(t) } } },
  });
}

export const BLOB_FILE_NAME = '@model_path/weights/weight.bin';

export function blobValueProto(t: Tensor, offset: number): PValue {
  return create(ValueSchema, {
    type: valueTypeProto({ kind: 'tensor', dtype: t.dtype, shape: t.shape }),
    value: { case: 'blobFileValue', value: { fileName: BLOB_FILE_NAME, offset: BigInt(offset) } },
  });
}

export function stringValueProto(s: string): PValue {
  return create(ValueSchema, {
    type: valueTypeProto({ kind: 'tensor', dtype: 'string', shape: [] }),
    value: { case: 'immediateValue', value: { value: { case: 'tensor', value: { value: { case: 'strings', value: { values: [s] } } } } } },
  });
}

/**
 * §9.2: a constant goes to the blob file when it has ≥ 10 elements and its dtype is
 * fp16, fp32, uint8 or int8 (sub-byte types count as 8-bit), plus uint16, int16, int32,
 * uint32 from spec 9.
 */
export function usesBlob(t: Tensor, spec: number): boolean {
  if (t.size < 10) return false;
  switch (t.dtype) {
    case 'fp16':
    case 'fp32':
    case 'uint8':
    case 'int8':
    case 'int4':
    case 'uint1':
    case 'uint2':
    case 'uint3':
    case 'uint4':
    case 'uint6':
      return true;
    case 'uint16':
    case 'int16':
    case 'int32':
    case 'uint32':
      return spec >= 9;
    default:
      return false;
  }
}
