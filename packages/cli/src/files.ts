/**
 * Reading packages and writing outputs safely: an input that is missing is named with
 * what to do; an output is never written over an input, and an existing output is
 * replaced only with `--force`.
 */
import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Program } from '@silica/ir';
import { readMLPackage } from '@silica/mlpackage-reader';
import { type WriteReport, writeMLPackage } from '@silica/mlpackage-writer';
import { InputError, OutputError, UsageError } from './errors.js';

/** `p` resolved against the command's working directory. */
export function resolveFrom(cwd: string, p: string): string {
  return isAbsolute(p) ? p : resolve(cwd, p);
}

/** Reads an `.mlpackage`, with a clear error when the path is not one. */
export async function readPackage(path: string, what = 'input package'): Promise<Program> {
  if (!existsSync(path)) {
    throw new InputError(`${what} ${path} does not exist; give the path of an .mlpackage directory`);
  }
  if (!statSync(path).isDirectory()) {
    throw new InputError(`${what} ${path} is a file, not an .mlpackage directory (a Core ML package is a folder with Manifest.json and Data/)`);
  }
  if (!existsSync(join(path, 'Manifest.json'))) {
    throw new InputError(`${what} ${path} has no Manifest.json, so it is not an .mlpackage; give the package folder itself (e.g. Model.mlpackage)`);
  }
  return readMLPackage(path);
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    // not there yet: resolve the nearest existing parent
    const parent = dirname(p);
    return parent === p ? p : join(real(parent), basename(p));
  }
}

function inside(child: string, parent: string): boolean {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/**
 * Checks an output path before any work is done: it must end in `.mlpackage` (when
 * `kind` is a package), must not be an input or contain one or be inside one, and must
 * not exist unless `force`.
 */
export function checkOutput(out: string, inputs: readonly string[], force: boolean, kind: 'package' | 'file' | 'directory' = 'package'): void {
  if (kind === 'package' && !out.endsWith('.mlpackage')) {
    throw new UsageError(`output ${out} must end in ".mlpackage" (Core ML recognises packages by that extension); e.g. -o ${basename(out)}.mlpackage`);
  }
  const o = real(out);
  for (const input of inputs) {
    const i = real(input);
    if (inside(o, i) || inside(i, o)) {
      throw new OutputError(`refusing to write ${out}: it would overwrite the input ${input}; choose another output path (inputs are never overwritten, not even with --force)`);
    }
  }
  if (existsSync(out) && !force) {
    throw new OutputError(`${out} already exists; pass --force to replace it, or choose another output path`);
  }
  if (existsSync(out) && kind === 'directory' && !lstatSync(out).isDirectory()) {
    throw new OutputError(`${out} exists and is not a directory; choose another output directory`);
  }
}

/** Writes a package (after `checkOutput`); file-system failures become exit code 5. */
export async function writePackage(program: Program, out: string, options: { force: boolean; deterministic?: boolean | string }): Promise<WriteReport> {
  try {
    return await writeMLPackage(program, out, { overwrite: options.force, deterministic: options.deterministic ?? false });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (typeof code === 'string') throw new OutputError(`cannot write ${out}: ${(e as Error).message}`, { cause: e });
    throw e;
  }
}

/** Bytes of every file under `path` (a package folder), or of the file itself. */
export function diskSize(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) n += diskSize(p);
    else if (entry.isFile()) n += statSync(p).size;
  }
  return n;
}
