/**
 * Base + adapters: a base model of 8 linear layers and three adapter variants, each with
 * its own weights for 2 middle layers (3 and 4). Every variant is written as its own
 * package and read back (lazy weights from four different files), then merged. The merged
 * weight.bin must cost base + adapters (within 5 %), not 4 × base, and every function read
 * back from the merged package must run exactly like its source.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMLPackage } from '@silica/mlpackage-reader';
import { writeMLPackage } from '@silica/mlpackage-writer';
import { type Program, type Tensor, buildProgram, tensorType } from '@silica/ir';
import { mergeFunctions } from '../src/index.js';
import { expectIdenticalOutputs, offsetOf, randomFp16, randomValues, run, scratch, weightBinSize } from './helpers.js';

const D = 256;
const LAYERS = 8;
const ADAPTED = [3, 4];
const ADAPTERS = 3;
const tmp = scratch('adapters');
afterAll(tmp.cleanup);

/** Fresh tensors on every call (so sharing must come from content, not identity). */
function weightFor(layer: number, adapter: number | null): Tensor {
  const seed = adapter === null || !ADAPTED.includes(layer) ? 1000 + layer : 5000 + 100 * adapter + layer;
  return randomFp16([D, D], seed, 1 / Math.sqrt(D));
}

function variant(adapter: number | null): Program {
  return buildProgram('iOS18', (p) => {
    p.function('main', { x: tensorType('fp16', [1, D]) }, (b, { x }) => {
      let h = x;
      for (let l = 0; l < LAYERS; l++) {
        const weight = b.const(weightFor(l, adapter), { name: `layer${l}_weight` });
        const bias = b.const(randomFp16([D], 2000 + l, 0.1), { name: `layer${l}_bias` });
        h = b.linear({ x: h, weight, bias }, { name: `layer${l}` });
        if (l < LAYERS - 1) h = b.relu({ x: h }, { name: `layer${l}_relu` });
      }
      return h;
    });
  });
}

describe('base + 3 adapters', () => {
  const names = ['base', ...Array.from({ length: ADAPTERS }, (_, i) => `adapter_${i + 1}`)];
  const sources: Program[] = [];
  let merged: ReturnType<typeof mergeFunctions>;
  let out: string;
  let basePkg: string;

  beforeAll(async () => {
    for (const [i, name] of names.entries()) {
      const pkg = join(tmp.dir, `${name}.mlpackage`);
      await writeMLPackage(variant(i === 0 ? null : i), pkg);
      sources.push(await readMLPackage(pkg));
      if (i === 0) basePkg = pkg;
    }
    merged = mergeFunctions(
      names.map((n, i) => ({ program: sources[i], functionName: 'main', targetName: n })),
      { defaultFunctionName: 'base' },
    );
    out = join(tmp.dir, 'merged.mlpackage');
    await writeMLPackage(merged.program, out);
  });

  it('costs base + adapters (within 5 %), not 4 × base', () => {
    const base = weightBinSize(basePkg);
    // each adapter adds 2 weights of D×D fp16, each a blob with its 64-byte metadata record
    const adapters = ADAPTERS * ADAPTED.length * (D * D * 2 + 64);
    const size = weightBinSize(out);
    expect(Math.abs(size - (base + adapters)) / (base + adapters)).toBeLessThan(0.05);
    expect(size).toBeLessThan(0.5 * 4 * base);
  });

  it('reports the bytes each function shares with the earlier ones', () => {
    const r = merged.report;
    const layer = D * D * 2;
    const bias = D * 2;
    expect(r.functions.map((f) => f.weightBytes)).toEqual(names.map(() => LAYERS * (layer + bias)));
    expect(r.functions.map((f) => f.sharedBytes)).toEqual([0, ...names.slice(1).map(() => (LAYERS - ADAPTED.length) * layer + LAYERS * bias)]);
    expect(r.bytes.merged).toBe(LAYERS * (layer + bias) + ADAPTERS * ADAPTED.length * layer);
    expect(r.bytes.saved).toBe(r.bytes.separate - r.bytes.merged);
    expect(r.sharing.tensors).toBe(2 * LAYERS + ADAPTERS * ADAPTED.length);
  });

  it('shares the untouched layers (one offset) and keeps the adapted ones apart', async () => {
    const q = await readMLPackage(out);
    for (const name of names.slice(1)) {
      for (let l = 0; l < LAYERS; l++) {
        const same = offsetOf(q, name, `layer${l}_weight`) === offsetOf(q, 'base', `layer${l}_weight`);
        expect(same, `${name} layer ${l}`).toBe(!ADAPTED.includes(l));
        expect(offsetOf(q, name, `layer${l}_bias`)).toBe(offsetOf(q, 'base', `layer${l}_bias`));
      }
    }
  });

  it('runs every function (read back) exactly like its source', async () => {
    const q = await readMLPackage(out);
    const x = { x: { shape: [1, D], data: randomValues(D, 77) } };
    const results = names.map((n, i) => {
      const got = run(q, n, x);
      expectIdenticalOutputs(got, run(sources[i], 'main', x));
      return got;
    });
    // the adapters really change the function
    const first = Object.values(results[0])[0].data as Float32Array;
    const second = Object.values(results[1])[0].data as Float32Array;
    expect(Buffer.from(first.buffer).equals(Buffer.from(second.buffer))).toBe(false);
  });
});
