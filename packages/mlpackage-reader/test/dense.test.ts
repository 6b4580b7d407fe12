/**
 * The decoded dense value of every weight that feeds a real op — consts and constexpr
 * chains alike, both iOS16 and iOS18 forms — equals the value coremltools decompressed
 * into the fixture's NAME.dense/ folder, bit for bit.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { constValueOf } from '@silica/ir';
import { readNpy } from '@silica/interpreter';
import { readMLPackage } from '../src/index.js';

const FIXTURES = join(import.meta.dirname, '../../../../shared/fixtures');

interface DenseIndex {
  values: Array<{ file: string; name: string; function: string; shape: number[]; dtype: string; producer: string }>;
}

describe('decoded weights equal coremltools’ dense weights', () => {
  const names = readdirSync(FIXTURES).filter((f) => f.endsWith('.dense')).map((f) => f.replace('.dense', '')).sort();
  it('covers every fixture', () => {
    expect(names.length).toBe(24);
  });
  for (const name of names) {
    it(name, async () => {
      const dir = join(FIXTURES, `${name}.dense`);
      const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as DenseIndex;
      const p = await readMLPackage(join(FIXTURES, `${name}.mlpackage`));
      let constexprs = 0;
      for (const entry of index.values) {
        const v = p.getFunction(entry.function).findValue(entry.name);
        expect(v, `${entry.function}/${entry.name}`).toBeDefined();
        if (v!.producer!.isConstexpr) constexprs++;
        const dense = constValueOf(v!, p.target);
        expect(dense, `${entry.name} is const`).toBeDefined();
        const npy = readNpy(readFileSync(join(dir, entry.file)), entry.file);
        expect(npy.dtype).toBe('f2');
        expect(dense!.shape).toEqual(npy.shape);
        expect(dense!.dtype).toBe('fp16');
        const got = Buffer.from(dense!.bytes());
        const want = Buffer.from(npy.data.buffer, npy.data.byteOffset, npy.data.byteLength);
        expect(got.equals(want), `${entry.name} bytes`).toBe(true);
      }
      const compressed = index.values.filter((e) => e.producer !== 'const').length;
      expect(constexprs).toBe(compressed);
    });
  }
});
