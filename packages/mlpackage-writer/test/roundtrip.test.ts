/**
 * Every fixture made by coremltools reads, writes back byte for byte, and reads again to
 * the same program (printed text) and the same tensors (by WeightHash).
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readMLPackage } from '@silica/mlpackage-reader';
import { formatManifest, readManifest } from '@silica/coreml-format';
import { type Program, printProgram, verifyProgram } from '@silica/ir';
import { writeMLPackage } from '../src/index.js';

const FIXTURES = join(import.meta.dirname, '../../../../shared/fixtures');
const names = readdirSync(FIXTURES).filter((f) => f.endsWith('.mlpackage')).sort();
const tmp = mkdtempSync(join(tmpdir(), 'silica-rt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const MODEL = 'Data/com.apple.CoreML/model.mlmodel';
const WEIGHTS = 'Data/com.apple.CoreML/weights/weight.bin';

function tensorHashes(p: Program): string[] {
  const out: string[] = [];
  for (const fn of p.functions.values()) for (const op of fn.walk()) if (op.constValue) out.push(`${fn.name}/${op.name}:${op.constValue.hash().hex}`);
  return out;
}

describe('fixture round trip (read → write → read)', () => {
  it('finds the 24 fixtures', () => {
    expect(names.length).toBe(24);
  });

  for (const name of names) {
    it(name, async () => {
      const src = join(FIXTURES, name);
      const p = await readMLPackage(src);
      verifyProgram(p);
      const out = join(tmp, name);
      const report = await writeMLPackage(p, out, { deterministic: true });
      // coremltools' bytes, reproduced exactly (the fixtures use sorted map keys)
      expect(Buffer.compare(readFileSync(join(out, MODEL)), readFileSync(join(src, MODEL)))).toBe(0);
      const srcWeights = join(src, WEIGHTS);
      if (existsSync(srcWeights)) {
        expect(Buffer.compare(readFileSync(join(out, WEIGHTS)), readFileSync(srcWeights))).toBe(0);
        expect(report.weightBytes).toBe(statSync(srcWeights).size);
      }
      // the manifest is in the exact textual form of §2.4
      expect(readFileSync(join(out, 'Manifest.json'), 'utf8')).toBe(formatManifest(readManifest(out)));
      const q = await readMLPackage(out);
      expect(printProgram(q)).toBe(printProgram(p));
      expect(tensorHashes(q)).toEqual(tensorHashes(p));
    });
  }

  it('deterministic output is byte-identical across writes', async () => {
    const p = await readMLPackage(join(FIXTURES, 'mlp_palette_4bit_kmeans.mlpackage'));
    const a = join(tmp, 'det_a', 'm.mlpackage');
    const b = join(tmp, 'det_b', 'm.mlpackage');
    await writeMLPackage(p, a, { deterministic: true });
    await writeMLPackage(p, b, { deterministic: true });
    for (const f of ['Manifest.json', MODEL, WEIGHTS]) {
      expect(Buffer.compare(readFileSync(join(a, f)), readFileSync(join(b, f)))).toBe(0);
    }
  });

  it('copied fixture packages read the same as the originals', async () => {
    const src = join(FIXTURES, 'kv_cache_stateful.mlpackage');
    const copy = join(tmp, 'copy.mlpackage');
    cpSync(src, copy, { recursive: true });
    expect(printProgram(await readMLPackage(copy))).toBe(printProgram(await readMLPackage(src)));
  });
});
