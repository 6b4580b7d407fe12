/**
 * @silica/mlpackage-writer — IR Program → `.mlpackage` (mlpackage-format.md §1, §2, §6,
 * §9, §10, §12).
 *
 * - Spec version and opset follow the program's target; the target must be at least
 *   what the program's features need (§12 gates) — or is raised with `raiseTarget`.
 * - Blobs are streamed one tensor at a time from lazy tensors into `weight.bin`; a
 *   content-hash cache (confirmed by bytes) stores identical tensors once.
 * - Safe: everything is written into a temporary folder beside the target and renamed
 *   into place at the end; a failure leaves nothing behind; a package is never written
 *   over one of its own inputs.
 */
import { existsSync, mkdirSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  BlobWriter,
  ModelSchema,
  createManifest,
  create,
  encodeModel,
  writeManifest,
} from '@silica/coreml-format';
import {
  FileTensor,
  type Function,
  type Program,
  type Target,
  type Tensor,
  compareTargets,
  specVersionOf,
} from '@silica/ir';
import { encodeDescription } from './description.js';
import { minimumTarget, requirements } from './gates.js';
import { Names, WriteError, encodeProgram } from './program.js';

export { WriteError } from './program.js';
export { requirements, minimumTarget } from './gates.js';
export type { Requirement } from './gates.js';

export interface WriteOptions {
  /** Replace an existing package at the path (default false: refuse). */
  overwrite?: boolean;
  /** Raise the program's target to what its features need instead of failing (default false). */
  raiseTarget?: boolean;
  /**
   * Fixed manifest identifiers (derived from this seed, or from the package name when
   * `true`) so the same Program gives byte-identical packages.
   */
  deterministic?: boolean | string;
}

export interface WriteReport {
  readonly path: string;
  readonly target: Target;
  readonly specificationVersion: number;
  /** Blobs written to weight.bin and bytes of the file (0 when none was needed). */
  readonly blobs: number;
  readonly weightBytes: number;
  /** Blob references that reused an identical tensor already written. */
  readonly sharedBlobs: number;
}

/** Writes `program` as an `.mlpackage` at `path`. */
export async function writeMLPackage(program: Program, path: string, options: WriteOptions = {}): Promise<WriteReport> {
  return writeMLPackageSync(program, path, options);
}

export function writeMLPackageSync(program: Program, path: string, options: WriteOptions = {}): WriteReport {
  const target = resolve(path);
  if (!target.endsWith('.mlpackage')) throw new WriteError(`${target}: a package path must end in ".mlpackage" (mlpackage-format.md §1)`);
  if (program.functions.size === 0) throw new WriteError('the program has no functions');
  if (existsSync(target) && !options.overwrite) {
    throw new WriteError(`${target} already exists; pass { overwrite: true } to replace it`);
  }
  refuseOwnInputs(program, target);

  // §12: the target must cover every feature
  const need = minimumTarget(program);
  let programTarget = program.target;
  if (need && compareTargets(need.target, programTarget) > 0) {
    if (!options.raiseTarget) {
      throw new WriteError(
        `the program targets ${programTarget}, but ${need.feature} needs ${need.target} or later (mlpackage-format.md §12); raise the target or pass { raiseTarget: true }`,
      );
    }
    programTarget = need.target;
  }
  const spec = specVersionOf(programTarget);
  const originalTarget = program.target;
  program.target = programTarget;

  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `.${basename(target)}.silica-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const dataDir = join(tmp, 'Data', 'com.apple.CoreML');
  const weightsDir = join(dataDir, 'weights');
  let blobWriter: BlobWriter | undefined;
  let blobs = 0;
  let sharedBlobs = 0;
  try {
    mkdirSync(weightsDir, { recursive: true });
    // blob cache: WeightHash → written tensors with their offsets (bytes compared before sharing)
    const cache = new Map<string, Array<{ t: Tensor; offset: number }>>();
    const sink = {
      put(t: Tensor): number {
        const key = t.hash().hex;
        const bucket = cache.get(key) ?? [];
        for (const e of bucket) {
          if (e.t === t || e.t.contentEquals(t)) {
            sharedBlobs++;
            return e.offset;
          }
        }
        blobWriter ??= BlobWriter.create(join(weightsDir, 'weight.bin'));
        const offset = blobWriter.appendTensor(t);
        blobs++;
        bucket.push({ t, offset });
        cache.set(key, bucket);
        return offset;
      },
    };
    const namesByFn = new Map<Function, Names>();
    for (const fn of program.functions.values()) namesByFn.set(fn, new Names());
    const mil = encodeProgram(program, sink, namesByFn);
    const description = encodeDescription(program, namesByFn, spec);
    const model = create(ModelSchema, {
      specificationVersion: spec,
      description,
      isUpdatable: false,
      Type: { case: 'mlProgram', value: mil },
    });
    const weightBytes = blobWriter?.size ?? 0;
    blobWriter?.close();
    blobWriter = undefined;
    writeFileSync(join(dataDir, 'model.mlmodel'), encodeModel(model));
    const seed = options.deterministic === true ? basename(target) : options.deterministic || undefined;
    writeManifest(tmp, createManifest(seed === undefined ? {} : { seed }));

    // rename into place (replacing an old package only once the new one is complete)
    if (existsSync(target)) {
      const old = `${tmp}.old`;
      renameSync(target, old);
      try {
        renameSync(tmp, target);
      } catch (err) {
        renameSync(old, target);
        throw err;
      }
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, target);
    }
    return { path: target, target: programTarget, specificationVersion: spec, blobs, weightBytes, sharedBlobs };
  } catch (err) {
    try {
      blobWriter?.close();
    } catch {
      /* already failing */
    }
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    program.target = originalTarget;
  }
}

/** Refuses to write a package over a file one of the program's lazy tensors reads from. */
function refuseOwnInputs(program: Program, target: string): void {
  if (!existsSync(target)) return;
  const realTarget = realpathSync(target);
  for (const op of program.allOps()) {
    const t = op.constValue;
    if (t instanceof FileTensor) {
      const src = existsSync(t.path) ? realpathSync(t.path) : t.path;
      const r = relative(realTarget, src);
      if (!r.startsWith('..') && !isAbsolute(r)) {
        throw new WriteError(
          `refusing to write ${target}: it is the package the program was read from (const "${op.name}" reads ${t.path}); write to another path`,
        );
      }
    }
  }
}
