/**
 * Test helpers: fixtures path, seeded random fp16 weights, running a function in the
 * interpreter, and the blob offsets a written package uses.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createSession, type InputTensor } from '@silica/interpreter';
import { FileTensor, type Program, type Tensor, fromFloat32 } from '@silica/ir';

export const FIXTURES = join(import.meta.dirname, '../../../../shared/fixtures');
export const WEIGHT_BIN = 'Data/com.apple.CoreML/weights/weight.bin';

export function fixture(name: string): string {
  return join(FIXTURES, `${name}.mlpackage`);
}

/** A scratch folder and its cleanup. */
export function scratch(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `silica-mfm-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function weightBinSize(pkg: string): number {
  return statSync(join(pkg, WEIGHT_BIN)).size;
}

/** Deterministic uniform numbers in [-scale, scale) (LCG), for reproducible weights. */
export function randomValues(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) / (1 << 24) - 0.5) * 2 * scale;
  }
  return out;
}

export function randomFp16(shape: readonly number[], seed: number, scale = 1): Tensor {
  return fromFloat32('fp16', shape, randomValues(shape.reduce((a, b) => a * b, 1), seed, scale));
}

/** Runs one function of `program` on `inputs` in the interpreter. */
export function run(program: Program, fn: string, inputs: Record<string, InputTensor>): Record<string, { shape: number[]; data: ArrayLike<number> }> {
  return createSession(program, { function: fn }).predict(inputs);
}

/** Asserts two output sets are identical element for element (bit patterns of the fp32 data). */
export function expectIdenticalOutputs(
  got: Record<string, { shape: number[]; data: ArrayLike<number> }>,
  want: Record<string, { shape: number[]; data: ArrayLike<number> }>,
): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) {
    expect(got[k].shape, k).toEqual(want[k].shape);
    const a = got[k].data as unknown as ArrayBufferView;
    const b = want[k].data as unknown as ArrayBufferView;
    expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), `output ${k} differs`).toBe(true);
  }
}

/**
 * `function/value → weight.bin offset` for every blob-backed const of a package read back
 * with readMLPackage (constexpr parameters included: the reader gives them const ops).
 */
export function blobOffsets(program: Program): Map<string, number> {
  const out = new Map<string, number>();
  for (const fn of program.functions.values()) {
    for (const op of fn.walk()) {
      const t = op.constValue;
      if (t instanceof FileTensor) out.set(`${fn.name}/${op.name}`, t.offset);
    }
  }
  return out;
}

/** The weight.bin offset of the tensor held by const `name` of function `fn`. */
export function offsetOf(program: Program, fn: string, name: string): number {
  const op = program.getFunction(fn).findOp(name);
  const t = op?.constValue;
  if (!(t instanceof FileTensor)) throw new Error(`${fn}/${name} is not a blob-backed const (${op ? op.type : 'missing'})`);
  return t.offset;
}
