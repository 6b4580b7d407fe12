/**
 * Bad items and options fail with a MergeError that says what is wrong; targets are chosen
 * as §13.1 says; description details travel with their function (§13.2 step 2).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readMLPackage } from '@silica/mlpackage-reader';
import { writeMLPackage } from '@silica/mlpackage-writer';
import { type Program, buildProgram, fromFloat32, tensorType } from '@silica/ir';
import { MergeError, mergeFunctions } from '../src/index.js';
import { randomValues, scratch } from './helpers.js';

function small(target: 'iOS15' | 'iOS18' | 'iOS26' = 'iOS18', fnName = 'main'): Program {
  return buildProgram(target, (p) => {
    p.function(fnName, { x: tensorType('fp32', [1, 16]) }, (b, { x }) => b.relu({ x: b.linear({ x, weight: b.const(fromFloat32('fp32', [8, 16], randomValues(128, 1))) }) }));
  });
}

function mergeError(f: () => unknown): MergeError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MergeError);
    return e as MergeError;
  }
  throw new Error('expected a MergeError');
}

describe('errors', () => {
  const p = small();

  it('refuses duplicate target names', () => {
    const e = mergeError(() =>
      mergeFunctions(
        [
          { program: p, functionName: 'main', targetName: 'f' },
          { program: small(), functionName: 'main', targetName: 'f' },
        ],
        { defaultFunctionName: 'f' },
      ),
    );
    expect(e.message).toBe('mergeFunctions: item 1: duplicate target name "f" (already used by item 0); function names must be unique');
  });

  it('refuses an unknown source function, naming the ones there are', () => {
    const e = mergeError(() => mergeFunctions([{ program: p, functionName: 'decode', targetName: 'f' }], { defaultFunctionName: 'f' }));
    expect(e.message).toBe('mergeFunctions: item 0: the source program has no function "decode" (it has: main)');
  });

  it('refuses a default function that is not among the merged ones', () => {
    const e = mergeError(() =>
      mergeFunctions(
        [
          { program: p, functionName: 'main', targetName: 'a' },
          { program: p, functionName: 'main', targetName: 'b' },
        ],
        { defaultFunctionName: 'main' },
      ),
    );
    expect(e.message).toBe('mergeFunctions: the default function "main" is not one of the merged functions (a, b)');
  });

  it('refuses invalid function names and reserved words', () => {
    for (const bad of ['1st', 'has space', 'fp16', '']) {
      const e = mergeError(() => mergeFunctions([{ program: p, functionName: 'main', targetName: bad }], { defaultFunctionName: bad }));
      expect(e.message).toContain(`target name ${JSON.stringify(bad)} is not a valid function name`);
    }
  });

  it('refuses an empty list, a missing default and a non-Program source', () => {
    expect(mergeError(() => mergeFunctions([], { defaultFunctionName: 'a' })).message).toContain('no functions to merge');
    expect(
      mergeError(() => mergeFunctions([{ program: p, functionName: 'main', targetName: 'a' }], {} as { defaultFunctionName: string })).message,
    ).toContain('options.defaultFunctionName is required');
    expect(
      mergeError(() => mergeFunctions([{ program: {} as Program, functionName: 'main', targetName: 'a' }], { defaultFunctionName: 'a' })).message,
    ).toContain('item 0: "program" is not a Program');
  });

  it('reports a merged program that does not verify (unless verify: false)', () => {
    const broken = small();
    // a stored output type that disagrees with inference
    broken.getFunction('main').outputs[0].type = tensorType('fp32', [1, 9]);
    const e = mergeError(() => mergeFunctions([{ program: broken, functionName: 'main', targetName: 'f' }], { defaultFunctionName: 'f' }));
    expect(e.message).toMatch(/^the merged program does not verify at iOS18/);
    expect(e.cause).toBeDefined();
    expect(() => mergeFunctions([{ program: broken, functionName: 'main', targetName: 'f' }], { defaultFunctionName: 'f', verify: false })).not.toThrow();
  });
});

describe('target', () => {
  it('is at least iOS18 (multifunction descriptions need spec 9)', () => {
    const { program, report } = mergeFunctions([{ program: small('iOS15'), functionName: 'main', targetName: 'only' }], { defaultFunctionName: 'only' });
    expect(program.target).toBe('iOS18');
    expect(report.specificationVersion).toBe(9);
    expect(program.multifunction).toBe(true);
    expect(program.defaultFunction).toBe('only');
  });

  it('is the newest source target, or minimumTarget when higher', () => {
    const mixed = mergeFunctions(
      [
        { program: small('iOS18'), functionName: 'main', targetName: 'a' },
        { program: small('iOS26', 'step'), functionName: 'step', targetName: 'b' },
      ],
      { defaultFunctionName: 'b' },
    );
    expect(mixed.report.target).toBe('iOS26');
    expect(mixed.report.specificationVersion).toBe(10);
    const raised = mergeFunctions([{ program: small('iOS18'), functionName: 'main', targetName: 'a' }], { defaultFunctionName: 'a', minimumTarget: 'iOS26' });
    expect(raised.program.target).toBe('iOS26');
  });
});

describe('descriptions', () => {
  const tmp = scratch('descriptions');
  afterAll(tmp.cleanup);

  it('carries each function’s I/O details (renamed with the function), not the metadata', async () => {
    const src = small();
    const fn = src.getFunction('main');
    fn.io.set('x', { shortDescription: 'input features' });
    fn.io.set(fn.outputs[0].name, { shortDescription: 'activations' });
    src.metadata = { author: 'someone', userDefined: { 'com.github.apple.coremltools.version': '9.1.dev1' } };
    const { program } = mergeFunctions(
      [
        { program: src, functionName: 'main', targetName: 'described' },
        { program: small(), functionName: 'main', targetName: 'plain' },
      ],
      { defaultFunctionName: 'plain' },
    );
    const pkg = join(tmp.dir, 'described.mlpackage');
    await writeMLPackage(program, pkg);
    const q = await readMLPackage(pkg);
    const d = q.getFunction('described');
    expect(d.io.get('x')?.shortDescription).toBe('input features');
    expect(d.io.get(d.outputs[0].name)?.shortDescription).toBe('activations');
    expect(q.getFunction('plain').io.get('x')?.shortDescription ?? '').toBe('');
    expect(q.metadata.author ?? '').toBe('');
    expect(q.metadata.userDefined).toEqual({});
  });
});
