/**
 * Property tests (STYLE.md layer 4): random programs with 1–3 caches of random kinds
 * (slice_update at a position, concat + slice window, named accumulator) and sizes, some
 * of them also read after their update (the pass must leave those alone), with and
 * without padding. Each rewritten program must verify, convert exactly the convertible
 * caches, and compute what the explicit program computes over a decode loop.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Program, type Value, buildProgram, cloneProgram, pipeline, silentLogger, tensorType } from '@silica/ir';
import type { InputTensor } from '@silica/interpreter';
import statefulRewrite from '../src/index.js';
import { compareDecode, noise } from './helpers.js';

type Kind = 'slice_update' | 'concat_slice' | 'accumulator';

interface CacheSpec {
  readonly kind: Kind;
  readonly len: number;
  readonly width: number;
  /** Also read the old contents after the update: not convertible. */
  readonly readAfter: boolean;
}

const STEPS = 3;

const cacheSpec: fc.Arbitrary<CacheSpec> = fc.record({
  kind: fc.constantFrom<Kind>('slice_update', 'concat_slice', 'accumulator'),
  len: fc.integer({ min: STEPS, max: 12 }),
  width: fc.integer({ min: 1, max: 4 }),
  readAfter: fc.boolean(),
});

function updateShape(c: CacheSpec): number[] {
  return c.kind === 'accumulator' ? [1, c.len, c.width] : [1, 1, c.width];
}

function build(caches: readonly CacheSpec[]): Program {
  const inputs: Record<string, ReturnType<typeof tensorType>> = { pos: tensorType('int32', [1]) };
  caches.forEach((c, i) => {
    inputs[`u${i}`] = tensorType('fp16', updateShape(c));
    inputs[`c${i}`] = tensorType('fp16', [1, c.len, c.width]);
  });
  return buildProgram('iOS18', (p) => {
    p.function('main', inputs, (b, ins) => {
      const outs: Value[] = [];
      const late: Value[] = [];
      const zero = b.const([0], { dtype: 'int32' });
      const begin = b.concat({ values: [zero, ins.pos, zero], axis: 0 });
      caches.forEach((c, i) => {
        const old = ins[`c${i}`];
        const u = ins[`u${i}`];
        let next: Value;
        if (c.kind === 'slice_update') {
          const end = b.add({ x: begin, y: b.const([1, 1, c.width], { dtype: 'int32' }) });
          next = b.slice_update({ x: old, update: u, begin, end }, { name: `c${i}_out` });
        } else if (c.kind === 'concat_slice') {
          const joined = b.concat({ values: [old, u], axis: 1 });
          next = b.slice_by_index({ x: joined, begin: [0, 1, 0], end: [1, c.len + 1, c.width] }, { name: `c${i}_out` });
        } else {
          next = b.add({ x: old, y: u }, { name: `c${i}_out` });
        }
        outs.push(b.op('reduce_mean', { x: next, axes: [1], keep_dims: false }, { name: `m${i}` }) as Value);
        if (c.readAfter) late.push(b.relu({ x: old }, { name: `late${i}` }));
        outs.push(next);
      });
      return [...outs, ...late];
    });
  });
}

function inputsAt(caches: readonly CacheSpec[]) {
  return (step: number): Record<string, InputTensor> => {
    const out: Record<string, InputTensor> = { pos: { shape: [1], data: new Int32Array([step]) } };
    caches.forEach((c, i) => {
      const shape = updateShape(c);
      out[`u${i}`] = { shape, data: noise(shape.reduce((a, b) => a * b, 1), 31 * step + i) };
    });
    return out;
  };
}

describe('property: random cache programs', () => {
  it('convert exactly the convertible caches and keep every output, padded or not', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cacheSpec, { minLength: 1, maxLength: 3 }), fc.constantFrom(undefined, 4, 8, 32), async (caches, padTo) => {
        const explicit = build(caches);
        const p = cloneProgram(explicit);
        const { report } = await pipeline([statefulRewrite(padTo === undefined ? {} : { padTo })]).runWithReport(p, { logger: silentLogger, verify: true });
        const convertible = caches.map((c, i) => ({ c, i })).filter(({ c }) => !c.readAfter);
        const states = p.main.inputs.filter((v) => v.type.kind === 'state').map((v) => v.name);
        expect(states).toEqual(convertible.map(({ i }) => `c${i}`));
        expect(report[0].changed).toBe(convertible.length > 0);
        // caches with a sequence axis (axis 1) are padded to the next multiple of padTo; accumulators are not
        for (const { c, i } of convertible) {
          const t = p.main.inputs.find((v) => v.name === `c${i}`)!.type;
          const seq = padTo !== undefined && c.kind !== 'accumulator' ? Math.ceil(c.len / padTo) * padTo : c.len;
          expect(t).toEqual({ kind: 'state', wrapped: { kind: 'tensor', dtype: 'fp16', shape: [1, seq, c.width] } });
        }
        expect(report[0].stats.padded).toBe(convertible.filter(({ c }) => padTo !== undefined && c.kind !== 'accumulator' && c.len % padTo !== 0).length);
        // every cache is fed back: the converted ones by the state, the others by the caller
        const pairs = caches.map((_, i) => ({ input: `c${i}`, output: `c${i}_out` }));
        const r = compareDecode(explicit, p, pairs, inputsAt(caches), STEPS);
        expect(r.maxAbsError).toBe(0);
        expect(r.stateMaxAbsError).toBe(0);
      }),
      { numRuns: 40, seed: 20251125 },
    );
  });
});
