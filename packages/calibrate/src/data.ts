/**
 * Calibration data: where the samples come from and how they become interpreter inputs.
 *
 * Accepted forms (`samples` option):
 *
 * | form | meaning |
 * |---|---|
 * | `[{ x: {shape, data}, … }, …]` | one record per sample, input name → array |
 * | `{ x: {shape, data}, … }` | input name → array; an array with one more axis than the input declares is a stack of samples along axis 0 |
 * | `'file.npy'` | the only input of the function (a stack when it has the extra leading axis) |
 * | `'file.npz'` | members named after the inputs (a single-input function also takes a lone member of any name) |
 * | `'dir/'` | `<input>.npy` for every input; otherwise every `.npz` in it is a sample (or a stack); otherwise, for a single-input function, every `.npy` is one |
 * | `['a.npz', 'b.npy', …]` | each file as above, samples concatenated in order |
 *
 * Arrays are interpreter inputs (`{ shape, data, dtype? }`) or `.npy` arrays
 * (`readNpy`): fp16 `.npy` data stays as fp16 bits; a float array given for an input of
 * the other float dtype is converted (rounded to fp16 when the input is fp16). An input
 * whose stack holds one sample is reused for every sample (e.g. a constant mask).
 * Directory listings are sorted by name with numbers compared numerically.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { type InputTensor, type NpyArray, type TensorDescription, readNpy, readNpz } from '@silica/interpreter';
import { fp16ToFp32Array } from '@silica/ir';

/** An array of calibration data: an interpreter input or a `.npy` array. */
export type SampleArray = InputTensor | NpyArray;

export type CalibrationSamples =
  | string
  | readonly string[]
  | ReadonlyArray<Readonly<Record<string, SampleArray>>>
  | Readonly<Record<string, SampleArray>>;

/** A problem with the calibration data: names the source and what was expected. */
export class CalibrationDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CalibrationDataError';
  }
}

const NPY_CODES = new Set(['f2', 'f4', 'f8', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'b1']);

function isNpyArray(a: SampleArray): a is NpyArray {
  return typeof a.dtype === 'string' && NPY_CODES.has(a.dtype);
}

const naturalOrder = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

type NamedArrays = Record<string, SampleArray>;

/** Reads one file into named arrays (`.npy` → the single input, `.npz` → its members). */
function readFile(path: string, inputs: readonly TensorDescription[]): NamedArrays {
  const ext = extname(path).toLowerCase();
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new CalibrationDataError(`calibration data: cannot read ${path}: ${(e as Error).message}`);
  }
  if (ext === '.npy') {
    if (inputs.length !== 1) {
      throw new CalibrationDataError(
        `calibration data: ${path} is a single .npy array, but the function has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); use an .npz or a directory of <input>.npy files`,
      );
    }
    return { [inputs[0].name]: readNpy(bytes, path) };
  }
  if (ext === '.npz') {
    const members = readNpz(bytes);
    const names = Object.keys(members);
    if (inputs.length === 1 && names.length === 1 && names[0] !== inputs[0].name) return { [inputs[0].name]: members[names[0]] };
    return members;
  }
  throw new CalibrationDataError(`calibration data: ${path} is neither .npy nor .npz`);
}

/** The arrays of a directory (see the module comment). */
function readDirectory(dir: string, inputs: readonly TensorDescription[]): NamedArrays[] {
  const files = readdirSync(dir).sort(naturalOrder);
  const npy = files.filter((f) => extname(f).toLowerCase() === '.npy');
  const npz = files.filter((f) => extname(f).toLowerCase() === '.npz');
  const byInput = inputs.every((i) => npy.includes(`${i.name}.npy`));
  if (byInput) {
    const out: NamedArrays = {};
    for (const i of inputs) out[i.name] = readNpy(new Uint8Array(readFileSync(join(dir, `${i.name}.npy`))), join(dir, `${i.name}.npy`));
    return [out];
  }
  if (npz.length > 0) return npz.map((f) => readFile(join(dir, f), inputs));
  if (inputs.length === 1 && npy.length > 0) return npy.map((f) => readFile(join(dir, f), inputs));
  throw new CalibrationDataError(
    `calibration data: directory ${dir} has no ${inputs.map((i) => `${i.name}.npy`).join(' + ')}, no .npz files${inputs.length === 1 ? ' and no .npy files' : ''}`,
  );
}

function readPath(path: string, inputs: readonly TensorDescription[]): NamedArrays[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new CalibrationDataError(`calibration data: cannot read ${path}: ${(e as Error).message}`);
  }
  return isDir ? readDirectory(path, inputs) : [readFile(path, inputs)];
}

/**
 * The data of an array for an input of dtype `declared`, and the dtype name to pass along
 * (user arrays keep theirs; npy arrays are converted to what the interpreter reads).
 */
function dataFor(a: SampleArray, declared: string, where: string): { data: InputTensor['data']; dtype?: string } {
  if (!isNpyArray(a)) return { data: a.data, dtype: a.dtype };
  const floatInput = declared === 'fp16' || declared === 'fp32';
  if (a.dtype === 'f2') {
    // raw fp16 bits: the interpreter reads a Uint16Array as fp16 bits for an fp16 input
    if (declared === 'fp16') return { data: a.data };
    if (declared === 'fp32') return { data: fp16ToFp32Array(a.data as Uint16Array) };
    throw new CalibrationDataError(`${where}: fp16 data for a ${declared} input`);
  }
  if (floatInput && !(a.data instanceof Float32Array || a.data instanceof Float64Array)) {
    // integer arrays for a float input: their values (a Uint16Array would read as fp16 bits)
    return { data: a.data instanceof BigInt64Array ? Float64Array.from(a.data, (x) => Number(x)) : Float64Array.from(a.data as ArrayLike<number>) };
  }
  return { data: a.data };
}

interface Stack {
  readonly count: number;
  /** Sample i as an interpreter input. */
  at(i: number): InputTensor;
}

/** Interprets an array as one sample or a stack of samples of `input`. */
function stackOf(a: SampleArray, input: TensorDescription, where: string): Stack {
  if (a === null || typeof a !== 'object' || !Array.isArray(a.shape) || a.data === undefined || a.data === null) {
    throw new CalibrationDataError(`${where} must be an array { shape, data } or an .npy array`);
  }
  const rank = input.shape.length;
  const shape = [...a.shape];
  const { data, dtype } = dataFor(a, input.dtype, where);
  const stacked = shape.length === rank + 1;
  if (!stacked && shape.length !== rank) {
    throw new CalibrationDataError(
      `${where}: shape [${shape.join(', ')}] fits neither one sample of the input (rank ${rank}, declared [${input.shape.join(', ')}]) nor a stack of them (rank ${rank + 1})`,
    );
  }
  const count = stacked ? shape[0] : 1;
  const sampleShape = stacked ? shape.slice(1) : shape;
  const per = sampleShape.reduce((x, y) => x * y, 1);
  if (data.length !== per * count) throw new CalibrationDataError(`${where}: shape [${shape.join(', ')}] needs ${per * count} elements, data has ${data.length}`);
  return {
    count,
    at(i) {
      const slice = !stacked
        ? data
        : Array.isArray(data)
          ? (data as readonly number[]).slice(i * per, (i + 1) * per)
          : (data as Float32Array).subarray(i * per, (i + 1) * per);
      return dtype === undefined ? { shape: sampleShape, data: slice as InputTensor['data'] } : { shape: sampleShape, dtype, data: slice as InputTensor['data'] };
    },
  };
}

/** Splits named arrays (each one sample or a stack) into samples. */
function unstack(named: Readonly<NamedArrays>, inputs: readonly TensorDescription[], source: string): Array<Record<string, InputTensor>> {
  const names = inputs.map((i) => i.name);
  const unknown = Object.keys(named).filter((k) => !names.includes(k));
  if (unknown.length > 0) {
    throw new CalibrationDataError(`${source}: ${unknown.map((k) => `"${k}"`).join(', ')} ${unknown.length > 1 ? 'are not inputs' : 'is not an input'} of the function (inputs: ${names.join(', ')})`);
  }
  const missing = names.filter((n) => !(n in named));
  if (missing.length > 0) throw new CalibrationDataError(`${source}: no data for input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `"${n}"`).join(', ')}`);
  const stacks = inputs.map((i) => stackOf(named[i.name], i, `${source}, input "${i.name}"`));
  const counts = new Set(stacks.map((s) => s.count).filter((c) => c !== 1));
  if (counts.size > 1) {
    throw new CalibrationDataError(`${source}: the inputs hold different numbers of samples (${inputs.map((i, k) => `${i.name}: ${stacks[k].count}`).join(', ')})`);
  }
  const n = counts.size === 0 ? 1 : [...counts][0];
  const out: Array<Record<string, InputTensor>> = [];
  for (let s = 0; s < n; s++) {
    const rec: Record<string, InputTensor> = {};
    inputs.forEach((i, k) => (rec[i.name] = stacks[k].at(stacks[k].count === 1 ? 0 : s)));
    out.push(rec);
  }
  return out;
}

function isRecordOfArrays(x: object): x is Readonly<NamedArrays> {
  return Object.values(x).every((v) => v !== null && typeof v === 'object' && 'shape' in v && 'data' in v);
}

/**
 * The first `limit` samples of `samples` as interpreter inputs of a function with
 * `inputs`. Throws CalibrationDataError naming the source of any problem.
 */
export function loadSamples(samples: CalibrationSamples, inputs: readonly TensorDescription[], limit = Infinity): Array<Record<string, InputTensor>> {
  if (samples === undefined || samples === null) throw new CalibrationDataError('calibration data: samples is required');
  const out: Array<Record<string, InputTensor>> = [];
  const push = (records: Array<Record<string, InputTensor>>): boolean => {
    for (const r of records) {
      if (out.length >= limit) return false;
      out.push(r);
    }
    return out.length < limit;
  };
  if (typeof samples === 'string') {
    for (const named of readPath(samples, inputs)) if (!push(unstack(named, inputs, samples))) break;
  } else if (Array.isArray(samples)) {
    for (const [k, s] of (samples as ReadonlyArray<string | Readonly<NamedArrays>>).entries()) {
      if (typeof s === 'string') {
        let more = true;
        for (const named of readPath(s, inputs)) if (!(more = push(unstack(named, inputs, s)))) break;
        if (!more) break;
      } else if (s !== null && typeof s === 'object') {
        if (!push(unstack(s, inputs, `samples[${k}]`))) break;
      } else {
        throw new CalibrationDataError(`calibration data: samples[${k}] must be a record of arrays or a path, got ${typeof s}`);
      }
    }
  } else if (typeof samples === 'object' && isRecordOfArrays(samples)) {
    push(unstack(samples, inputs, 'samples'));
  } else {
    throw new CalibrationDataError('calibration data: samples must be a path, a list of paths, a list of records or a record of arrays');
  }
  if (out.length === 0) throw new CalibrationDataError(`calibration data: no samples found in ${typeof samples === 'string' ? samples : 'the given data'}`);
  return out;
}
