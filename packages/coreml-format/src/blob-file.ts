/**
 * Where a `BlobFileValue.fileName` points (mlpackage-format.md §1, §15 step 5).
 *
 * coremltools writes `@model_path/weights/weight.bin` (`@model_path` = the directory of
 * `model.mlmodel`) and its reader ignores the directory part: it takes the last path
 * component and looks for it in the weights directory found through the manifest. We do
 * the same, honouring whatever file name the value carries (pipelines use
 * `<i>-weight.bin`), and refuse a name that is not a plain file name or that resolves
 * (through a symlink) outside the weights directory.
 */
import { realpathSync, statSync } from 'node:fs';
import { join, relative, isAbsolute, sep } from 'node:path';
import { SilicaFormatError, errnoText } from './errors.js';
import { type Manifest, itemPath, weightsEntry } from './manifest.js';

/** The file name coremltools puts in every `BlobFileValue` of a single-model package. */
export const DEFAULT_BLOB_FILE_NAME = '@model_path/weights/weight.bin';

/**
 * Absolute path of the blob file a `BlobFileValue.fileName` refers to, inside the
 * package's weights directory. `file` names the source of the value for error messages
 * (usually the `model.mlmodel` path).
 */
export function resolveBlobFile(pkgPath: string, manifest: Manifest, fileName: string, file = 'model.mlmodel'): string {
  const name = fileName.slice(fileName.lastIndexOf('/') + 1);
  if (name === '' || name === '.' || name === '..' || name.includes('\\') || name.includes('\0')) {
    throw new SilicaFormatError({
      file,
      where: 'BlobFileValue.fileName',
      expected: 'a path whose last component is a plain file name, e.g. "@model_path/weights/weight.bin"',
      found: JSON.stringify(fileName),
    });
  }
  const weights = weightsEntry(manifest);
  if (weights === undefined) {
    throw new SilicaFormatError({
      file,
      where: 'BlobFileValue.fileName',
      expected: `a weights directory item (name "weights", author "com.apple.CoreML") in Manifest.json to hold ${JSON.stringify(name)}`,
      found: 'no such item',
    });
  }
  const dir = itemPath(pkgPath, weights.item);
  const path = join(dir, name);
  let real: string;
  let realDir: string;
  try {
    realDir = realpathSync(dir);
    real = realpathSync(path);
  } catch (err) {
    throw new SilicaFormatError(
      { file, where: 'BlobFileValue.fileName', expected: `an existing blob file ${path}`, found: errnoText(err) },
      { cause: err },
    );
  }
  const rel = relative(realDir, real);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) || !statSync(real).isFile()) {
    throw new SilicaFormatError({
      file,
      where: 'BlobFileValue.fileName',
      expected: `${path} to be a regular file inside the weights directory ${realDir}`,
      found: real,
    });
  }
  return path;
}
