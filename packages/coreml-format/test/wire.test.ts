/**
 * The generated protobuf code against the wire examples of mlpackage-format.md §8, byte
 * for byte, and the oneof presence rules of §3 (a selected empty sub-message is still
 * emitted as a zero-length field).
 */
import { describe, expect, it } from 'vitest';
import {
  ArrayFeatureType_ArrayDataType,
  DataType,
  DimensionSchema,
  FeatureTypeSchema,
  ModelSchema,
  SilicaFormatError,
  TensorValueSchema,
  ValueSchema,
  ValueTypeSchema,
  create,
  decodeModel,
  encodeModel,
  fromBinary,
  mlProgramOf,
  toBinary,
} from '../src/index.js';

function hex(s: string): Uint8Array {
  return Uint8Array.from(s.trim().split(/\s+/), (b) => parseInt(b, 16));
}

function show(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').replace(/(..)(?!$)/g, '$1 ');
}

describe('§8 wire examples, byte for byte', () => {
  it('Dimension{ constant{ size: 3 } } = 0a 02 08 03', () => {
    const msg = create(DimensionSchema, { dimension: { case: 'constant', value: { size: 3n } } });
    expect(show(toBinary(DimensionSchema, msg))).toBe('0a 02 08 03');
    const back = fromBinary(DimensionSchema, hex('0a 02 08 03'));
    expect(back.dimension.case).toBe('constant');
    expect(back.dimension.case === 'constant' && back.dimension.value.size).toBe(3n);
  });

  it('Dimension{ unknown{} } (variadic false) = 12 00 — the empty member is emitted', () => {
    const msg = create(DimensionSchema, { dimension: { case: 'unknown', value: {} } });
    expect(show(toBinary(DimensionSchema, msg))).toBe('12 00');
    const back = fromBinary(DimensionSchema, hex('12 00'));
    expect(back.dimension.case).toBe('unknown');
    expect(back.dimension.case === 'unknown' && back.dimension.value.variadic).toBe(false);
  });

  it('op name attribute Value "relu_0" (rank-0 STRING tensorType present, rank omitted)', () => {
    const msg = create(ValueSchema, {
      type: { type: { case: 'tensorType', value: { dataType: DataType.STRING } } },
      value: {
        case: 'immediateValue',
        value: { value: { case: 'tensor', value: { value: { case: 'strings', value: { values: ['relu_0'] } } } } },
      },
    });
    const want = '12 04 0a 02 08 02 1a 0c 0a 0a 22 08 0a 06 72 65 6c 75 5f 30';
    expect(show(toBinary(ValueSchema, msg))).toBe(want);
    expect(toBinary(ValueSchema, fromBinary(ValueSchema, hex(want)))).toEqual(hex(want));
  });

  it('fp16 scalar 1.0 as bytes 00 3c', () => {
    const msg = create(ValueSchema, {
      type: { type: { case: 'tensorType', value: { dataType: DataType.FLOAT16 } } },
      value: {
        case: 'immediateValue',
        value: { value: { case: 'tensor', value: { value: { case: 'bytes', value: { values: Uint8Array.of(0x00, 0x3c) } } } } },
      },
    });
    expect(show(toBinary(ValueSchema, msg))).toBe('12 04 0a 02 08 0a 1a 08 0a 06 3a 04 0a 02 00 3c');
  });

  it('int32 tensor [-1] of shape [1]: negative int32 as a 10-byte varint', () => {
    const msg = create(ValueSchema, {
      type: {
        type: {
          case: 'tensorType',
          value: { dataType: DataType.INT32, rank: 1n, dimensions: [{ dimension: { case: 'constant', value: { size: 1n } } }] },
        },
      },
      value: {
        case: 'immediateValue',
        value: { value: { case: 'tensor', value: { value: { case: 'ints', value: { values: [-1] } } } } },
      },
    });
    const want = '12 0c 0a 0a 08 17 10 01 1a 04 0a 02 08 01 1a 10 0a 0e 12 0c 0a 0a ff ff ff ff ff ff ff ff ff 01';
    expect(show(toBinary(ValueSchema, msg))).toBe(want);
    const back = fromBinary(ValueSchema, hex(want));
    const tensor = back.value.case === 'immediateValue' && back.value.value.value.case === 'tensor' ? back.value.value.value.value : undefined;
    expect(tensor?.value.case === 'ints' && tensor.value.value.values).toEqual([-1]);
  });

  it('fp16 [4096, 4096] blob value at metadata offset 64', () => {
    const dim = { dimension: { case: 'constant' as const, value: { size: 4096n } } };
    const msg = create(ValueSchema, {
      type: { type: { case: 'tensorType', value: { dataType: DataType.FLOAT16, rank: 2n, dimensions: [dim, dim] } } },
      value: { case: 'blobFileValue', value: { fileName: '@model_path/weights/weight.bin', offset: 64n } },
    });
    const want = `12 14 0a 12 08 0a 10 02 1a 05 0a 03 08 80 20 1a 05 0a 03 08 80 20 2a 22 0a 1e ${show(
      new TextEncoder().encode('@model_path/weights/weight.bin'),
    )} 10 40`;
    expect(show(toBinary(ValueSchema, msg))).toBe(want);
    const back = fromBinary(ValueSchema, hex(want));
    expect(back.value.case).toBe('blobFileValue');
    expect(back.value.case === 'blobFileValue' && back.value.value.offset).toBe(64n);
  });
});

describe('§3 empty sub-messages selected in a oneof are emitted', () => {
  it('a rank-0 tensorType with default dataType is still present', () => {
    const msg = create(ValueTypeSchema, { type: { case: 'tensorType', value: {} } });
    expect(show(toBinary(ValueTypeSchema, msg))).toBe('0a 00');
    expect(fromBinary(ValueTypeSchema, hex('0a 00')).type.case).toBe('tensorType');
  });

  it('empty feature type tags (int64Type, doubleType, stringType)', () => {
    expect(show(toBinary(FeatureTypeSchema, create(FeatureTypeSchema, { Type: { case: 'int64Type', value: {} } })))).toBe('0a 00');
    expect(show(toBinary(FeatureTypeSchema, create(FeatureTypeSchema, { Type: { case: 'doubleType', value: {} } })))).toBe('12 00');
    expect(show(toBinary(FeatureTypeSchema, create(FeatureTypeSchema, { Type: { case: 'stringType', value: {} } })))).toBe('1a 00');
    expect(fromBinary(FeatureTypeSchema, hex('1a 00')).Type.case).toBe('stringType');
  });

  it('an empty tensor value (zero-sized dim) keeps its member, and an empty ConstantDimension stays', () => {
    const empty = create(TensorValueSchema, { value: { case: 'bytes', value: {} } });
    expect(show(toBinary(TensorValueSchema, empty))).toBe('3a 00');
    expect(fromBinary(TensorValueSchema, hex('3a 00')).value.case).toBe('bytes');
    const zeroDim = create(DimensionSchema, { dimension: { case: 'constant', value: { size: 0n } } });
    expect(show(toBinary(DimensionSchema, zeroDim))).toBe('0a 00');
  });

  it('isOptional (field 1000) and ArrayDataType codes', () => {
    const ft = create(FeatureTypeSchema, {
      Type: { case: 'multiArrayType', value: { shape: [1n, 4n], dataType: ArrayFeatureType_ArrayDataType.FLOAT16 } },
      isOptional: true,
    });
    // 2a 08: multiArrayType; 0a 02 01 04: packed shape; 10 90 80 04: dataType 65552; c0 3e 01: field 1000 = true
    expect(show(toBinary(FeatureTypeSchema, ft))).toBe('2a 08 0a 02 01 04 10 90 80 04 c0 3e 01');
  });
});

describe('Model: opaque pass-through and errors', () => {
  it('keeps a non-ML-Program member (declared as bytes) verbatim', () => {
    const payload = Uint8Array.of(0x0a, 0x03, 0x01, 0x02, 0x03);
    const model = create(ModelSchema, { specificationVersion: 4, Type: { case: 'neuralNetwork', value: payload } });
    const bytes = encodeModel(model);
    // field 500, wire type 2: tag varint a2 1f
    expect(show(bytes)).toBe('08 04 a2 1f 05 0a 03 01 02 03');
    const back = decodeModel(bytes);
    expect(back.Type.case).toBe('neuralNetwork');
    expect(encodeModel(back)).toEqual(bytes);
    expect(() => mlProgramOf(back, 'x/model.mlmodel')).toThrow(/x\/model\.mlmodel: at field Model\.Type: expected an ML Program .* found model type neuralNetwork/);
  });

  it('keeps a oneof member the schema does not name (unknown field) on re-encode', () => {
    // field 300 (glmRegressor in Core ML), wire type 2, 2 bytes payload: tag e2 12
    const bytes = hex('08 05 e2 12 02 08 01');
    const model = decodeModel(bytes);
    expect(model.specificationVersion).toBe(5);
    expect(model.Type.case).toBeUndefined();
    expect(encodeModel(model)).toEqual(bytes);
    expect(() => mlProgramOf(model)).toThrow(/found no model type set/);
  });

  it('a truncated protobuf is a SilicaFormatError naming the file', () => {
    const bytes = hex('12 14 0a 12 08 0a');
    let err: unknown;
    try {
      decodeModel(bytes, '/pkg/model.mlmodel');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SilicaFormatError);
    const e = err as SilicaFormatError;
    expect(e.file).toBe('/pkg/model.mlmodel');
    expect(e.where).toBe('CoreML.Specification.Model');
    expect(e.message).toMatch(/^\/pkg\/model\.mlmodel: at field CoreML\.Specification\.Model: expected a valid protobuf serialization/);
  });
});
