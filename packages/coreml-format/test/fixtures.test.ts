/**
 * Every coremltools fixture package through this package: its model.mlmodel decodes with
 * the generated code and re-encodes to the same bytes, and every blob reference in the
 * program resolves in weight.bin with the declared dtype and shape.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dtypeFromProtoCode } from '@silica/ir';
import {
  ArrayFeatureType_ArrayDataType,
  type Block,
  BlobReader,
  DataType,
  DEFAULT_BLOB_FILE_NAME,
  type Manifest,
  type Model,
  type Value,
  decodeModel,
  encodeModel,
  itemPath,
  mlProgramOf,
  readManifest,
  resolveBlobFile,
  rootModelEntry,
  weightsEntry,
} from '../src/index.js';
import { FIXTURES } from './helpers.js';

const packages = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.mlpackage'))
  .sort();

interface Loaded {
  pkg: string;
  manifest: Manifest;
  modelPath: string;
  model: Model;
  bytes: Uint8Array;
  weightsDir: string | undefined;
}

function load(name: string): Loaded {
  const pkg = join(FIXTURES, name);
  const manifest = readManifest(pkg);
  const modelPath = itemPath(pkg, rootModelEntry(manifest).item);
  const bytes = readFileSync(modelPath);
  const weights = weightsEntry(manifest);
  return { pkg, manifest, modelPath, model: decodeModel(bytes, modelPath), bytes, weightsDir: weights && itemPath(pkg, weights.item) };
}

/** Every Value in a block: op attributes, value bindings of inputs, nested blocks. */
function* valuesOf(block: Block): Generator<Value> {
  for (const op of block.operations) {
    yield* Object.values(op.attributes);
    for (const arg of Object.values(op.inputs)) {
      for (const b of arg.arguments) if (b.binding.case === 'value') yield b.binding.value;
    }
    for (const inner of op.blocks) yield* valuesOf(inner);
  }
}

describe('fixture models decode with the generated code', () => {
  it('finds the fixtures', () => {
    expect(packages.length).toBeGreaterThanOrEqual(24);
    expect(packages).toContain('multifunction.mlpackage');
  });

  it.each(packages)('%s: decodes, is an ML Program, re-encodes byte for byte', (name) => {
    const { model, bytes } = load(name);
    expect(model.specificationVersion).toBeGreaterThanOrEqual(7);
    const program = mlProgramOf(model);
    expect(program.version).toBe(1n);
    const opset = { 7: 'CoreML6', 8: 'CoreML7', 9: 'CoreML8', 10: 'CoreML9' }[model.specificationVersion];
    for (const fn of Object.values(program.functions)) {
      expect(fn.opset).toBe(opset);
      expect(Object.keys(fn.blockSpecializations)).toEqual([opset]);
    }
    // The fixtures were re-serialised with sorted map keys (fixtures/README.md), which is
    // also the order protobuf-es keeps on decode, so re-encoding is byte-identical.
    expect(Buffer.from(encodeModel(model)).equals(Buffer.from(bytes))).toBe(true);
  });

  it.each(packages)('%s: every blob reference resolves in its weight file with the declared dtype and shape', (name) => {
    const { pkg, manifest, modelPath, model, weightsDir } = load(name);
    const program = mlProgramOf(model);
    const readers = new Map<string, BlobReader>();
    let blobs = 0;
    try {
      for (const fn of Object.values(program.functions)) {
        for (const value of valuesOf(fn.blockSpecializations[fn.opset])) {
          if (value.value.case !== 'blobFileValue') continue;
          const { fileName, offset } = value.value.value;
          expect(fileName).toBe(DEFAULT_BLOB_FILE_NAME);
          const file = resolveBlobFile(pkg, manifest, fileName, modelPath);
          expect(file).toBe(join(weightsDir as string, 'weight.bin'));
          let reader = readers.get(file);
          if (!reader) readers.set(file, (reader = BlobReader.open(file)));
          const tt = value.type?.type;
          expect(tt?.case).toBe('tensorType');
          if (tt?.case !== 'tensorType') continue;
          const dtype = dtypeFromProtoCode(tt.value.dataType);
          expect(dtype).toBeDefined();
          const shape = tt.value.dimensions.map((d) => {
            expect(d.dimension.case).toBe('constant');
            return d.dimension.case === 'constant' ? Number(d.dimension.value.size) : -1;
          });
          expect(shape.length).toBe(Number(tt.value.rank));
          const t = reader.tensorAt(offset, dtype!, shape);
          expect(t.offset).toBe(Number(offset) + 64); // coremltools puts the data right after its record
          blobs++;
        }
      }
      // the sequential walk agrees with the header and ends exactly at EOF
      for (const [file, reader] of readers) {
        const entries = [...reader.entries()];
        expect(entries).toHaveLength(reader.count);
        const last = entries[entries.length - 1];
        expect(last.dataOffset + last.sizeInBytes).toBe(statSync(file).size);
      }
    } finally {
      for (const r of readers.values()) r.close();
    }
    if (weightsDir && existsSync(join(weightsDir, 'weight.bin'))) expect(blobs).toBeGreaterThan(0);
  });
});

describe('fixture facts', () => {
  it('multifunction: spec 9, opset CoreML8, functions head_a (default) and head_b, shared weight.bin', () => {
    const { model, weightsDir } = load('multifunction.mlpackage');
    expect(model.specificationVersion).toBe(9);
    const d = model.description!;
    expect(d.defaultFunctionName).toBe('head_a');
    expect(d.functions.map((f) => f.name)).toEqual(['head_a', 'head_b']);
    expect(d.input).toEqual([]);
    expect(d.output).toEqual([]);
    expect(d.functions.map((f) => f.output.map((o) => o.name))).toEqual([['y_a'], ['y_b']]);
    const program = mlProgramOf(model);
    expect(Object.keys(program.functions)).toEqual(['head_a', 'head_b']);
    expect(Object.values(program.functions).map((f) => f.opset)).toEqual(['CoreML8', 'CoreML8']);
    expect(program.functions.head_a.blockSpecializations.CoreML8.outputs).toEqual(['y_a']);
    expect(program.functions.head_b.blockSpecializations.CoreML8.outputs).toEqual(['y_b']);
    expect(statSync(join(weightsDir!, 'weight.bin')).size).toBe(277_952);
  });

  it('mlp: single-function form with fp32 I/O and coremltools metadata', () => {
    const { model } = load('mlp.mlpackage');
    const d = model.description!;
    expect(d.functions).toEqual([]);
    expect(d.input.map((f) => f.name)).toEqual(['x']);
    const x = d.input[0].type!.Type;
    expect(x.case).toBe('multiArrayType');
    if (x.case === 'multiArrayType') {
      expect(x.value.shape).toEqual([1n, 256n]);
      expect(x.value.dataType).toBe(ArrayFeatureType_ArrayDataType.FLOAT32);
    }
    expect(d.metadata?.userDefined['com.github.apple.coremltools.version']).toBe('9.1.dev1');
    const main = mlProgramOf(model).functions.main;
    const ops = main.blockSpecializations.CoreML8.operations;
    expect(ops.map((o) => o.type).filter((t) => t !== 'const')).toEqual(['cast', 'linear', 'gelu', 'linear', 'cast']);
    // every op carries its name attribute as a rank-0 STRING tensor value (§9.3)
    for (const op of ops) {
      const nameType = op.attributes.name.type?.type;
      expect(nameType?.case === 'tensorType' && nameType.value.dataType).toBe(DataType.STRING);
      expect(nameType?.case === 'tensorType' && nameType.value.rank).toBe(0n);
    }
  });

  it('kv_cache_stateful: states in the description as stateType over FLOAT16 arrays', () => {
    const { model } = load('kv_cache_stateful.mlpackage');
    const d = model.description!;
    expect(d.state.map((s) => s.name)).toEqual(['k_cache', 'v_cache']);
    for (const s of d.state) {
      const t = s.type!.Type;
      expect(t.case).toBe('stateType');
      const arr = t.case === 'stateType' && t.value.Type.case === 'arrayType' ? t.value.Type.value : undefined;
      expect(arr?.shape).toEqual([1n, 4n, 32n, 64n]);
      expect(arr?.dataType).toBe(ArrayFeatureType_ArrayDataType.FLOAT16);
    }
    const main = mlProgramOf(model).functions.main;
    const kInput = main.inputs.find((i) => i.name === 'k_cache')!;
    expect(kInput.type?.type.case).toBe('stateType');
    const writes = main.blockSpecializations.CoreML8.operations.filter((o) => o.type === 'write_state');
    expect(writes).toHaveLength(2);
    for (const w of writes) expect(w.outputs).toEqual([]);
  });

  it('mlp_ios16: spec 7 and opset CoreML6', () => {
    const { model } = load('mlp_ios16.mlpackage');
    expect(model.specificationVersion).toBe(7);
    expect(Object.values(mlProgramOf(model).functions).map((f) => f.opset)).toEqual(['CoreML6']);
  });
});
