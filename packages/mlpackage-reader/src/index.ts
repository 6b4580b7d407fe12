/**
 * @silica/mlpackage-reader — `.mlpackage` → IR Program, following the reader checklist of
 * mlpackage-format.md §15. Weights stay lazy: blob values become FileTensors (path,
 * offset, length) whose bytes are read only when a pass asks for them.
 *
 * Every malformed input is a SilicaFormatError naming the file, the field path or byte
 * offset, and what was expected.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  BlobReader,
  SilicaFormatError,
  decodeModel,
  itemPath,
  mlProgramOf,
  readManifest,
  rootModelEntry,
  resolveBlobFile,
} from '@silica/coreml-format';
import { Program, type Tensor, targetFromSpec, specVersionOf } from '@silica/ir';
import { applyDescription, functionDescriptions, readMetadata } from './description.js';
import { convertProgram } from './program.js';
import { type BlobResolver, type Loc, at, fail } from './values.js';

export { SilicaFormatError } from '@silica/coreml-format';

/** Largest model.mlmodel accepted (protobuf messages are limited to 2 GiB). */
const MAX_MODEL_BYTES = 2 ** 31 - 1;

export interface ReadOptions {
  /**
   * Read blob tensors into memory instead of keeping them lazy (for small models in
   * tests; never for large ones).
   */
  eager?: boolean;
}

/** Reads an `.mlpackage` directory into a Program. */
export async function readMLPackage(path: string, options: ReadOptions = {}): Promise<Program> {
  return readMLPackageSync(path, options);
}

/** Synchronous form of {@link readMLPackage}. */
export function readMLPackageSync(path: string, options: ReadOptions = {}): Program {
  const pkg = resolve(path);
  if (!existsSync(pkg) || !statSync(pkg).isDirectory()) {
    throw new SilicaFormatError({ file: pkg, where: '(directory)', expected: 'an .mlpackage directory', found: existsSync(pkg) ? 'a file' : 'nothing' });
  }
  // §15.1: manifest, root model item, weights item
  const manifest = readManifest(pkg);
  const root = rootModelEntry(manifest, join(pkg, 'Manifest.json'));
  const modelFile = itemPath(pkg, root.item);

  const size = statSync(modelFile).size;
  if (size > MAX_MODEL_BYTES) {
    throw new SilicaFormatError({ file: modelFile, where: '(file)', expected: 'a protobuf of at most 2 GiB', found: `${size} bytes` });
  }
  // §15.2
  const model = decodeModel(readFileSync(modelFile), modelFile);
  const loc: Loc = { file: modelFile, path: 'Model' };
  const spec = model.specificationVersion;
  if (spec < 6 || spec > 10) {
    fail(at(loc, 'specificationVersion'), 'an ML Program specification version 6…10 (§12)', `${spec}`);
  }
  if (model.isUpdatable) fail(at(loc, 'isUpdatable'), 'false for an ML Program (§4.1)', 'true');
  const mil = mlProgramOf(model, modelFile);

  const readers = new Map<string, BlobReader>();
  const resolveBlob: BlobResolver = (fileName, offset, dtype, shape, bloc) => {
    const file = resolveBlobFile(pkg, manifest, fileName, `${bloc.file} (${bloc.path}.fileName)`);
    let r = readers.get(file);
    if (!r) {
      r = BlobReader.open(file);
      readers.set(file, r);
    }
    const t: Tensor = r.tensorAt(offset, dtype, shape);
    return options.eager ? t.toDense() : t;
  };

  let converted;
  try {
    converted = convertProgram(mil, modelFile, resolveBlob);
  } finally {
    for (const r of readers.values()) r.close();
  }
  const opsetSpec = specVersionOf(converted.target);
  if (spec < opsetSpec) {
    fail(at(loc, 'specificationVersion'), `at least ${opsetSpec}, the version of opset "${converted.opset}" (§12)`, `${spec}`);
  }
  if (!targetFromSpec(spec)) fail(at(loc, 'specificationVersion'), 'a known specification version', `${spec}`);

  // §15.3: descriptions
  const desc = model.description;
  if (!desc) fail(at(loc, 'description'), 'a ModelDescription (§4.2)', 'none');
  const dloc = at(loc, 'description');
  const fd = functionDescriptions(desc!, dloc);
  if (fd.multifunction && spec < 9) fail(at(loc, 'specificationVersion'), 'at least 9 for a multifunction description (§4.2)', `${spec}`);
  const byName = new Map(converted.functions.map((f) => [f.name, f]));
  const program = new Program(converted.target);
  program.multifunction = fd.multifunction;
  program.defaultFunction = fd.defaultFunction;
  fd.fns.forEach((io, i) => {
    const fn = byName.get(io.name);
    if (!fn) {
      fail(
        at(dloc, fd.multifunction ? `functions[${i}].name` : 'input'),
        `a function of the ML Program named "${io.name}"${fd.multifunction ? '' : ' (the single-function form uses "main", §4.2)'}`,
        `functions ${JSON.stringify([...byName.keys()])}`,
      );
    }
    applyDescription(fn!, io, at(dloc, fd.multifunction ? `functions[${i}]` : ''));
    program.addFunction(fn!);
    byName.delete(io.name);
  });
  if (byName.size > 0) {
    fail(dloc, 'a description for every function of the ML Program', `no description for ${JSON.stringify([...byName.keys()])}`);
  }
  program.metadata = readMetadata(desc!.metadata);
  program.buildInfo = converted.buildInfo;
  return program;
}
