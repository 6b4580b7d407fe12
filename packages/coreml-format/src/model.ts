/**
 * `model.mlmodel` is the raw protobuf serialization of `CoreML.Specification.Model`:
 * no header, no framing, no compression (mlpackage-format.md §1, §3).
 */
import { readFileSync } from 'node:fs';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { SilicaFormatError, errnoText } from './errors.js';
import { type Model, ModelSchema } from './gen/Model_pb.js';
import type { Program } from './gen/MIL_pb.js';

/** Parses `bytes` as a `Model`. Fields this schema does not know are kept and re-emitted by {@link encodeModel}. */
export function decodeModel(bytes: Uint8Array, file = 'model.mlmodel'): Model {
  try {
    return fromBinary(ModelSchema, bytes);
  } catch (err) {
    throw new SilicaFormatError(
      {
        file,
        where: 'CoreML.Specification.Model',
        expected: `a valid protobuf serialization of CoreML.Specification.Model (${bytes.byteLength} bytes)`,
        found: `a decoding error: ${err instanceof Error ? err.message : String(err)}`,
      },
      { cause: err },
    );
  }
}

/** Serializes a `Model` (fields in ascending field-number order, unknown fields kept). */
export function encodeModel(model: Model): Uint8Array {
  return toBinary(ModelSchema, model);
}

/** Reads and parses a `model.mlmodel` file. */
export function readModelFile(path: string): Model {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new SilicaFormatError(
      { file: path, where: 'model.mlmodel', expected: 'a readable protobuf file', found: errnoText(err) },
      { cause: err },
    );
  }
  return decodeModel(bytes, path);
}

/**
 * The `mlProgram` member of `Model.Type` (§4.1). Any other model type — or none — is an
 * error: Silica reads and writes ML Programs only.
 */
export function mlProgramOf(model: Model, file = 'model.mlmodel'): Program {
  if (model.Type.case === 'mlProgram') return model.Type.value;
  throw new SilicaFormatError({
    file,
    where: 'Model.Type',
    expected: 'an ML Program (oneof Type = mlProgram, field 502)',
    found: model.Type.case === undefined ? 'no model type set' : `model type ${model.Type.case}`,
  });
}
