/**
 * `shareByValue`: weights whose decompressed values are equal although their bytes are
 * not (compressed separately: a permuted LUT with re-mapped indices, a dense copy beside a
 * palettized one) are stored once — and the functions still compute exactly what their
 * sources compute.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readMLPackage } from '@silica/mlpackage-reader';
import { writeMLPackage } from '@silica/mlpackage-writer';
import { FileTensor, type Program, type Tensor, buildProgram, constValueOf, fromFloat32, tensorFromValues, tensorType } from '@silica/ir';
import { mergeFunctions } from '../src/index.js';
import { expectIdenticalOutputs, randomValues, run, scratch, weightBinSize } from './helpers.js';

const R = 64;
const C = 128;
const N = R * C;
const tmp = scratch('by-value');
afterAll(tmp.cleanup);

/** A 16-entry fp16 LUT (distinct values) and indices into it. */
const LUT = Float32Array.from({ length: 16 }, (_, i) => (i - 7.5) / 64);
const INDICES = Uint8Array.from(randomValues(N, 11), (v) => Math.floor((v + 1) * 8) & 15);
/** A sparsity pattern (about half the positions) and the indices at the kept positions. */
const MASK = Uint8Array.from(randomValues(N, 12), (v) => (v > 0 ? 1 : 0));
const NONZERO = INDICES.filter((_, i) => MASK[i] === 1);
/** A fixed permutation of the 16 palette entries. */
const PERM = [5, 12, 0, 9, 15, 3, 7, 1, 14, 2, 10, 6, 13, 4, 11, 8];

/** `lut[perm]` with indices re-mapped so that every decompressed element is unchanged. */
function encode(perm: readonly number[] | null, changeEntry = false): { lut: Tensor; indices: Tensor; nonzero: Tensor } {
  const p = perm ?? PERM.map((_, i) => i);
  const inv = new Array<number>(16);
  p.forEach((src, dst) => (inv[src] = dst));
  const lut = Float32Array.from(p, (src) => LUT[src]);
  if (changeEntry) lut[inv[INDICES[0]]] += 1 / 32; // one used palette entry differs
  return {
    lut: fromFloat32('fp16', [1, 1, 16, 1], lut),
    indices: tensorFromValues('uint4', [R, C], Array.from(INDICES, (i) => inv[i])),
    nonzero: tensorFromValues('uint4', [NONZERO.length], Array.from(NONZERO, (i) => inv[i])),
  };
}

/** x → linear(palettized w1) → linear(joint sparse+palettized w2ᵀ-shaped) → y. */
function palettized(perm: readonly number[] | null, changeEntry = false): Program {
  const e = encode(perm, changeEntry);
  return buildProgram('iOS18', (p) => {
    p.function('main', { x: tensorType('fp16', [1, C]) }, (b, { x }) => {
      const w1 = b.constexpr_lut_to_dense({ indices: b.const(e.indices, { name: 'w1_indices' }), lut: b.const(e.lut, { name: 'w1_lut' }) }, { name: 'w1' });
      const h = b.relu({ x: b.linear({ x, weight: w1 }, { name: 'fc1' }) }, { name: 'act' });
      const [mask, nz] = b.constexpr_lut_to_sparse(
        {
          indices_mask: b.const(tensorFromValues('uint1', [R, C], MASK), { name: 'w2_mask' }),
          indices_nonzero_data: b.const(e.nonzero, { name: 'w2_nonzero' }),
          lut: b.const(e.lut, { name: 'w2_lut' }),
        },
        { name: 'w2_sparse' },
      );
      const w2 = b.constexpr_sparse_to_dense({ nonzero_data: nz, mask }, { name: 'w2' });
      // y = h · w2 (w2 is [R, C]: use it as the weight of a C→R linear on a [1, C] slice of h)
      const hc = b.linear({ x: h, weight: b.const(tensorFromValues('fp16', [C, R], Array.from(randomValues(C * R, 13, 0.1))), { name: 'proj' }) }, { name: 'proj_fc' });
      return b.linear({ x: hc, weight: w2 }, { name: 'fc2' });
    });
  });
}

/** The same weights stored dense (fp16 consts holding the decompressed values). */
function dense(): Program {
  const ref = palettized(null);
  const fn = ref.getFunction('main');
  const w1 = constValueOf(fn.findValue('w1')!, 'iOS18')!;
  const w2 = constValueOf(fn.findValue('w2')!, 'iOS18')!;
  return buildProgram('iOS18', (p) => {
    p.function('main', { x: tensorType('fp16', [1, C]) }, (b, { x }) => {
      const h = b.relu({ x: b.linear({ x, weight: b.const(w1, { name: 'w1' }) }, { name: 'fc1' }) }, { name: 'act' });
      const hc = b.linear({ x: h, weight: b.const(tensorFromValues('fp16', [C, R], Array.from(randomValues(C * R, 13, 0.1))), { name: 'proj' }) }, { name: 'proj_fc' });
      return b.linear({ x: hc, weight: b.const(w2, { name: 'w2' }) }, { name: 'fc2' });
    });
  });
}

const input = { x: { shape: [1, C], data: randomValues(C, 21) } };

/** weight.bin offset of parameter `param` of the constexpr op producing value `name` (read back). */
function paramOffset(p: Program, fn: string, name: string, param: string): number {
  const op = p.getFunction(fn).findValue(name)!.producer!;
  const t = op.input(param)!.producer!.constValue;
  if (!(t instanceof FileTensor)) throw new Error(`${fn}/${name}.${param} is not in weight.bin`);
  return t.offset;
}

async function writeAndRead(program: Program, name: string): Promise<{ pkg: string; q: Program }> {
  const pkg = join(tmp.dir, `${name}.mlpackage`);
  await writeMLPackage(program, pkg);
  return { pkg, q: await readMLPackage(pkg) };
}

describe('shareByValue', () => {
  it('stores a weight palettized twice with permuted LUTs once', async () => {
    const a = palettized(null);
    const b = palettized(PERM);
    // the encodings really differ byte for byte, the dense values do not
    const fa = a.getFunction('main');
    const fb = b.getFunction('main');
    expect(fa.findOp('w1_indices')!.constValue!.contentEquals(fb.findOp('w1_indices')!.constValue!)).toBe(false);
    expect(constValueOf(fa.findValue('w1')!, 'iOS18')!.contentEquals(constValueOf(fb.findValue('w1')!, 'iOS18')!)).toBe(true);
    expect(constValueOf(fa.findValue('w2')!, 'iOS18')!.contentEquals(constValueOf(fb.findValue('w2')!, 'iOS18')!)).toBe(true);

    const items = [
      { program: a, functionName: 'main', targetName: 'first' },
      { program: b, functionName: 'main', targetName: 'second' },
    ];
    const plain = mergeFunctions(items, { defaultFunctionName: 'first' });
    const shared = mergeFunctions(items, { defaultFunctionName: 'first', shareByValue: true });

    // by bytes only the mask is shared; by value both weights are
    expect(plain.report.byValue).toBeUndefined();
    expect(plain.report.bytes.savedByValue).toBe(0);
    const r = shared.report.byValue!;
    expect(r.groups).toBe(2);
    expect(r.rewritten).toBe(2);
    expect(r.shares.map((s) => [s.kept, s.rewritten])).toEqual([
      ['first/w1', ['second/w1']],
      ['first/w2', ['second/w2']],
    ]);
    // second's indices (N/2 bytes), its nonzero indices and its LUT (32 bytes) are gone
    const saved = N / 2 + Math.ceil((NONZERO.length * 4) / 8) + 32;
    expect(r.bytesSaved).toBe(saved);
    expect(shared.report.bytes.savedByValue).toBe(saved);
    expect(shared.report.bytes.merged).toBe(plain.report.bytes.merged - saved);
    expect(shared.report.sharing.sharedConstexprOps).toBe(3);

    // the rewritten function keeps its value names and now reads the first's tensors
    const s = shared.program.getFunction('second');
    expect(s.findValue('w1')!.producer!.type).toBe('constexpr_lut_to_dense');
    expect(s.findValue('w1')!.producer!.input('indices')!.producer!.constValue).toBe(
      shared.program.getFunction('first').findOp('w1_indices')!.constValue,
    );

    const p0 = await writeAndRead(plain.program, 'plain');
    const p1 = await writeAndRead(shared.program, 'shared');
    expect(weightBinSize(p0.pkg) - weightBinSize(p1.pkg)).toBeGreaterThanOrEqual(saved);
    for (const [w, param] of [['w1', 'indices'], ['w1', 'lut']] as const) {
      expect(paramOffset(p1.q, 'second', w, param)).toBe(paramOffset(p1.q, 'first', w, param));
      expect(paramOffset(p0.q, 'second', w, param)).not.toBe(paramOffset(p0.q, 'first', w, param));
    }
    for (const param of ['indices_nonzero_data', 'lut', 'indices_mask']) {
      expect(paramOffset(p1.q, 'second', 'w2_sparse_0', param)).toBe(paramOffset(p1.q, 'first', 'w2_sparse_0', param));
    }
    // identical outputs, from the merged package, for both functions
    expectIdenticalOutputs(run(p1.q, 'first', input), run(a, 'main', input));
    expectIdenticalOutputs(run(p1.q, 'second', input), run(b, 'main', input));
  });

  it('keeps the smaller encoding: a dense copy is rewritten to the palettized one', async () => {
    const d = dense();
    const c = palettized(PERM);
    const { program, report } = mergeFunctions(
      [
        { program: d, functionName: 'main', targetName: 'dense' },
        { program: c, functionName: 'main', targetName: 'compressed' },
      ],
      { defaultFunctionName: 'dense', shareByValue: true },
    );
    const r = report.byValue!;
    expect(r.shares.map((s) => [s.kept, s.rewritten])).toEqual([
      ['compressed/w1', ['dense/w1']],
      ['compressed/w2', ['dense/w2']],
    ]);
    // both dense fp16 weights are gone
    expect(r.bytesSaved).toBe(2 * N * 2);
    const fd = program.getFunction('dense');
    expect(fd.findValue('w1')!.producer!.type).toBe('constexpr_lut_to_dense');
    expect(fd.findValue('w2')!.producer!.type).toBe('constexpr_sparse_to_dense');
    const { q } = await writeAndRead(program, 'dense_vs_compressed');
    expectIdenticalOutputs(run(q, 'dense', input), run(d, 'main', input));
    expectIdenticalOutputs(run(q, 'compressed', input), run(c, 'main', input));
  });

  it('does not fire when one used palette entry differs', () => {
    const { program, report } = mergeFunctions(
      [
        { program: palettized(null), functionName: 'main', targetName: 'first' },
        { program: palettized(PERM, true), functionName: 'main', targetName: 'second' },
      ],
      { defaultFunctionName: 'first', shareByValue: true },
    );
    expect(report.byValue).toEqual({ groups: 0, rewritten: 0, bytesSaved: 0, shares: [] });
    expect(report.bytes.savedByValue).toBe(0);
    expect(program.getFunction('second').findOp('w1_indices')).toBeDefined();
  });

  it('does not touch weights that are already byte-identical', () => {
    const { report } = mergeFunctions(
      [
        { program: palettized(PERM), functionName: 'main', targetName: 'first' },
        { program: palettized(PERM), functionName: 'main', targetName: 'second' },
      ],
      { defaultFunctionName: 'first', shareByValue: true },
    );
    expect(report.byValue!.rewritten).toBe(0);
    expect(report.functions[1].sharedBytes).toBe(report.functions[1].weightBytes);
    expect(report.sharing.sharedConstexprOps).toBe(3);
  });
});
