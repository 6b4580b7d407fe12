/**
 * Inputs for `run`, `eval` and the checks: from `.npy` / `.npz` files, or random and
 * seeded — floats from N(0, 1), integers from [0, 4) (or the decode step, for position
 * inputs), bools 0/1. Symbolic dims take the description's default shape, else 1.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { type InputTensor, type NpyArray, type TensorDescription, npyToInput, readNpy, readNpz } from '@silica/interpreter';
import { type Function as Fn, seededRandom } from '@silica/ir';
import { InputError, UsageError } from './errors.js';

/** Standard normal samples (Box–Muller) from a uniform source. */
export function normal(next: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** The static shape to use for an input: symbolic dims from the description's default shape, else 1. */
export function concreteShape(desc: TensorDescription, fn?: Fn): number[] {
  const def = fn?.io.get(desc.name)?.defaultShape;
  return desc.shape.map((d, i) => (typeof d === 'number' ? d : (def?.[i] ?? 1)));
}

const POSITION = /(^|_)(pos|position|positions|step|index|offset|cache_position)(_|$)/i;

export interface RandomInputOptions {
  readonly seed: number;
  /** The decode step: integer inputs named like a position (`pos`, `position`, `step`…) get it. */
  readonly step?: number;
  readonly fn?: Fn;
}

/** One random input set for `inputs` (see the module comment). */
export function randomInputs(inputs: readonly TensorDescription[], options: RandomInputOptions): Record<string, InputTensor> {
  const u = seededRandom(options.seed);
  const n = normal(u);
  const out: Record<string, InputTensor> = {};
  for (const d of inputs) {
    const shape = concreteShape(d, options.fn);
    const size = shape.reduce((a, b) => a * b, 1);
    if (d.dtype === 'fp16' || d.dtype === 'fp32' || d.dtype === 'fp64') {
      const data = new Float32Array(size);
      for (let i = 0; i < size; i++) data[i] = n();
      out[d.name] = { shape, data };
    } else if (d.dtype === 'bool') {
      out[d.name] = { shape, data: Uint8Array.from({ length: size }, () => (u() < 0.5 ? 1 : 0)) };
    } else if (d.dtype === 'int64') {
      out[d.name] = { shape, data: BigInt64Array.from({ length: size }, () => BigInt(Math.floor(u() * 4))) };
    } else {
      const position = options.step !== undefined && POSITION.test(d.name);
      out[d.name] = { shape, data: Int32Array.from({ length: size }, () => (position ? options.step! : Math.floor(u() * 4))) };
    }
  }
  return out;
}

function readArrayFile(path: string): NpyArray {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return readNpy(bytes, path);
  } catch (e) {
    throw new InputError(`${path}: ${(e as Error).message}`, { cause: e });
  }
}

function readArchive(path: string): Record<string, NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return readNpz(bytes);
  } catch (e) {
    throw new InputError(`${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** `name=file.npy` pairs → inputs. */
export function inputsFromFlags(pairs: readonly string[], cwd: string): Record<string, InputTensor> {
  const out: Record<string, InputTensor> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0 || eq === p.length - 1) throw new UsageError(`--input ${p}: expected NAME=FILE.npy, e.g. --input x=x.npy`);
    const name = p.slice(0, eq);
    const file = p.slice(eq + 1);
    const path = file.startsWith('/') ? file : join(cwd, file);
    if (name in out) throw new UsageError(`--input ${name} is given twice`);
    out[name] = npyToInput(readArrayFile(path));
  }
  return out;
}

/**
 * Samples from a path: an `.npz` (one sample, members named after the inputs), an `.npy`
 * (the only input), or a directory — `<input>.npy` files (one sample), else every `.npz`
 * (one sample each, in name order).
 */
export function samplesFromPath(path: string, inputs: readonly TensorDescription[]): Array<Record<string, InputTensor>> {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new InputError(`${path} does not exist; give a directory of .npz samples (or <input>.npy files), an .npz or an .npy`);
  }
  const fromArchive = (file: string): Record<string, InputTensor> => {
    const members = readArchive(file);
    const names = Object.keys(members);
    if (inputs.length === 1 && names.length === 1) return { [inputs[0].name]: npyToInput(members[names[0]]) };
    return Object.fromEntries(Object.entries(members).map(([k, a]) => [k, npyToInput(a)]));
  };
  if (!isDir) {
    const ext = extname(path).toLowerCase();
    if (ext === '.npz') return [fromArchive(path)];
    if (ext === '.npy') {
      if (inputs.length !== 1) {
        throw new InputError(`${path} is one array, but the function has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); give an .npz or a directory of <input>.npy files`);
      }
      return [{ [inputs[0].name]: npyToInput(readArrayFile(path)) }];
    }
    throw new InputError(`${path} is neither .npy nor .npz`);
  }
  const files = readdirSync(path).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (inputs.length > 0 && inputs.every((i) => files.includes(`${i.name}.npy`))) {
    return [Object.fromEntries(inputs.map((i) => [i.name, npyToInput(readArrayFile(join(path, `${i.name}.npy`)))]))];
  }
  const npz = files.filter((f) => extname(f).toLowerCase() === '.npz');
  if (npz.length > 0) return npz.map((f) => fromArchive(join(path, f)));
  throw new InputError(
    `${path} has no ${inputs.map((i) => `${i.name}.npy`).join(' + ') || 'input files'} and no .npz files; put one .npz per sample (members named after the inputs) in it`,
  );
}

/** Checks that `given` covers `inputs` exactly; names what is missing or unknown. */
export function checkInputNames(given: Readonly<Record<string, unknown>>, inputs: readonly TensorDescription[], where: string): void {
  const names = inputs.map((i) => i.name);
  const missing = names.filter((n) => !(n in given));
  const unknown = Object.keys(given).filter((n) => !names.includes(n));
  if (unknown.length > 0) throw new InputError(`${where}: unknown input ${unknown.map((u) => `"${u}"`).join(', ')}; the function's inputs are ${names.join(', ') || 'none'}`);
  if (missing.length > 0) {
    throw new InputError(
      `${where}: no data for ${missing.map((m) => `"${m}"`).join(', ')} (${inputs
        .filter((i) => missing.includes(i.name))
        .map((i) => `${i.dtype}[${i.shape.join(', ')}]`)
        .join(', ')}); give --input NAME=FILE.npy for each, or --random-inputs`,
    );
  }
}
