/**
 * Sharing at every size, const and constexpr: equal tensors of any size (LUTs, masks,
 * 10-element biases) become one tensor; inside a function duplicate const ops and
 * constexpr ops with the same type and identical inputs are merged; across functions
 * such chains read the same blobs (one offset each in weight.bin).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readMLPackage } from '@silica/mlpackage-reader';
import { writeMLPackage } from '@silica/mlpackage-writer';
import { FileTensor, type Program, buildProgram, fromFloat32, printProgram, tensorFromValues, tensorType } from '@silica/ir';
import { mergeFunctions } from '../src/index.js';
import { expectIdenticalOutputs, randomValues, run, scratch } from './helpers.js';

const R = 32;
const C = 64;
const tmp = scratch('dedupe');
afterAll(tmp.cleanup);

/** Fresh tensors with fixed contents each call. */
const indices = () => tensorFromValues('uint4', [R, C], Array.from(randomValues(R * C, 3), (v) => Math.floor((v + 1) * 8) & 15));
const lut = () => fromFloat32('fp16', [1, 1, 16, 1], Float32Array.from({ length: 16 }, (_, i) => (i - 8) / 32));
const bias = () => fromFloat32('fp16', [R], randomValues(R, 4, 0.1));

/** Two linears whose weights are the same palettized weight, built twice from separate tensors. */
function twin(): Program {
  return buildProgram('iOS18', (p) => {
    p.function('main', { x: tensorType('fp16', [1, C]) }, (b, { x }) => {
      const wa = b.constexpr_lut_to_dense({ indices: b.const(indices(), { name: 'wa_indices' }), lut: b.const(lut(), { name: 'wa_lut' }) }, { name: 'wa' });
      const wb = b.constexpr_lut_to_dense({ indices: b.const(indices(), { name: 'wb_indices' }), lut: b.const(lut(), { name: 'wb_lut' }) }, { name: 'wb' });
      const ya = b.linear({ x, weight: wa, bias: b.const(bias(), { name: 'ba' }) }, { name: 'ya' });
      const yb = b.linear({ x, weight: wb, bias: b.const(bias(), { name: 'bb' }) }, { name: 'yb' });
      return [ya, yb];
    });
  });
}

const input = { x: { shape: [1, C], data: randomValues(C, 9) } };

describe('dedupe of const and constexpr ops', () => {
  it('merges a duplicated constexpr chain inside a function (same type + identical inputs)', () => {
    const src = twin();
    const { program, report } = mergeFunctions([{ program: src, functionName: 'main', targetName: 'f' }], { defaultFunctionName: 'f' });
    const f = program.getFunction('f');
    // wb_indices, wb_lut, bb and the wb constexpr op are folded into their twins
    expect(report.sharing.dedupedOps).toBe(4);
    expect([...f.walk()].filter((o) => o.type === 'constexpr_lut_to_dense').map((o) => o.name)).toEqual(['wa']);
    expect(f.findOp('yb')!.input('weight')).toBe(f.findValue('wa'));
    expect(f.findOp('yb')!.input('bias')).toBe(f.findValue('ba'));
    // output names are the source's
    expect(f.outputs.map((v) => v.name)).toEqual(['ya', 'yb']);
    expectIdenticalOutputs(run(program, 'f', input), run(src, 'main', input));
    // the source is untouched
    expect(printProgram(src)).toBe(printProgram(twin()));
  });

  it('shares constexpr chains across functions: one blob per tensor, one offset in every function', async () => {
    const a = twin();
    const b = twin();
    const { program, report } = mergeFunctions(
      [
        { program: a, functionName: 'main', targetName: 'a' },
        { program: b, functionName: 'main', targetName: 'b' },
      ],
      { defaultFunctionName: 'a' },
    );
    expect(report.sharing.sharedConstexprOps).toBe(1);
    expect(report.functions[1].sharedBytes).toBe(report.functions[1].weightBytes);
    const t = (fn: string, name: string) => program.getFunction(fn).findOp(name)!.constValue;
    // the 16-entry LUT and the 32-element bias too: sharing happens at every size
    for (const name of ['wa_indices', 'wa_lut', 'ba']) expect(t('b', name)).toBe(t('a', name));

    const pkg = join(tmp.dir, 'twins.mlpackage');
    const w = await writeMLPackage(program, pkg);
    // indices, LUT and bias: three blobs for two functions × two linears
    expect(w.blobs).toBe(3);
    const q = await readMLPackage(pkg);
    const offsets = new Set<number>();
    for (const fn of ['a', 'b']) {
      const op = q.getFunction(fn).findValue('wa')!.producer!;
      const ind = op.input('indices')!.producer!.constValue;
      const l = op.input('lut')!.producer!.constValue;
      expect(ind).toBeInstanceOf(FileTensor);
      expect(l).toBeInstanceOf(FileTensor);
      offsets.add((ind as FileTensor).offset).add((l as FileTensor).offset);
    }
    expect(offsets.size).toBe(2);
    expectIdenticalOutputs(run(q, 'a', input), run(a, 'main', input));
    expectIdenticalOutputs(run(q, 'b', input), run(b, 'main', input));
  });

  it('never merges away a value that is a function output', () => {
    const src = buildProgram('iOS18', (p) => {
      p.function('main', { x: tensorType('fp16', [1, 12]) }, (b, { x }) => {
        const c1 = b.const(fromFloat32('fp16', [1, 12], randomValues(12, 5)), { name: 'c1' });
        const c2 = b.const(fromFloat32('fp16', [1, 12], randomValues(12, 5)), { name: 'c2' });
        return [b.add({ x, y: c1 }, { name: 'sum' }), c2];
      });
    });
    const { program, report } = mergeFunctions([{ program: src, functionName: 'main', targetName: 'f' }], { defaultFunctionName: 'f' });
    const f = program.getFunction('f');
    expect(report.sharing.dedupedOps).toBe(0);
    expect(f.outputs.map((v) => v.name)).toEqual(['sum', 'c2']);
    // the tensor is still shared (one blob), only the op stays
    expect(f.findOp('c2')!.constValue).toBe(f.findOp('c1')!.constValue);
  });
});
