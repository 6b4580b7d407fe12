/**
 * Writer rules: §9.2 immediate-vs-blob, blob dedup by WeightHash across functions, §12
 * gates, §7 identifier sanitising, safe writes (temp folder + rename, no overwrite, never
 * over its own input).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readMLPackage } from '@silica/mlpackage-reader';
import { BlobReader, decodeModel } from '@silica/coreml-format';
import {
  FileTensor,
  Function,
  Op,
  Program,
  buildProgram,
  fromFloat32,
  tensorFromValues,
  tensorType,
} from '@silica/ir';
import { writeMLPackage } from '../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'silica-writer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const FIXTURES = join(import.meta.dirname, '../../../../shared/fixtures');
const MODEL = 'Data/com.apple.CoreML/model.mlmodel';
const WEIGHTS = 'Data/com.apple.CoreML/weights/weight.bin';

const ramp = (n: number, k = 1): Float32Array => Float32Array.from({ length: n }, (_, i) => ((i * k) % 97) / 97 - 0.5);

function mlp(target: 'iOS15' | 'iOS16' | 'iOS17' | 'iOS18', inDtype: 'fp32' | 'fp16' = 'fp32') {
  return buildProgram(target, (p) => {
    p.function('main', { x: tensorType(inDtype, [1, 16]) }, (b, { x }) => {
      const w = b.const(fromFloat32(inDtype, [8, 16], ramp(128)));
      const bias = b.const(fromFloat32(inDtype, [8], ramp(8, 3)));
      return b.relu({ x: b.linear({ x, weight: w, bias }) });
    });
  });
}

function blobCount(pkg: string): number {
  const f = join(pkg, WEIGHTS);
  if (!existsSync(f)) return 0;
  const r = BlobReader.open(f);
  try {
    return r.count;
  } finally {
    r.close();
  }
}

describe('const storage (§9.2)', () => {
  it('puts ≥ 10-element fp16/fp32 consts in weight.bin and smaller ones inline', async () => {
    const p = buildProgram('iOS18', (pb) => {
      pb.function('main', { x: tensorType('fp32', [10]) }, (b, { x }) => {
        const nine = b.const(fromFloat32('fp32', [9], ramp(9)));
        const ten = b.const(fromFloat32('fp32', [10], ramp(10)));
        const y = b.add({ x, y: ten });
        return b.concat({ values: [y, nine], axis: 0 });
      });
    });
    const out = join(tmp, 'storage.mlpackage');
    await writeMLPackage(p, out);
    const model = decodeModel(readFileSync(join(out, MODEL)));
    const ops = model.Type.case === 'mlProgram' ? model.Type.value.functions.main.blockSpecializations.CoreML8.operations : [];
    const kinds = Object.fromEntries(
      ops.filter((o) => o.type === 'const').map((o) => [o.outputs[0].name, o.attributes.val.value.case]),
    );
    expect(Object.values(kinds).filter((k) => k === 'blobFileValue')).toHaveLength(1);
    expect(blobCount(out)).toBe(1);
  });

  it('stores int32 consts in the blob file only from spec 9', async () => {
    const make = (target: 'iOS17' | 'iOS18') =>
      buildProgram(target, (pb) => {
        pb.function('main', { x: tensorType('int32', [12]) }, (b, { x }) => b.add({ x, y: b.const(tensorFromValues('int32', [12], Array.from({ length: 12 }, (_, i) => i))) }));
      });
    const a = join(tmp, 'int17.mlpackage');
    const b = join(tmp, 'int18.mlpackage');
    await writeMLPackage(make('iOS17'), a);
    await writeMLPackage(make('iOS18'), b);
    expect(blobCount(a)).toBe(0);
    expect(existsSync(join(a, 'Data/com.apple.CoreML/weights'))).toBe(true); // registered even when empty (§1)
    expect(blobCount(b)).toBe(1);
  });
});

describe('blob dedup by WeightHash', () => {
  it('stores a tensor shared by two functions once', async () => {
    const w = fromFloat32('fp16', [64, 64], ramp(4096));
    const p = buildProgram('iOS18', (pb) => {
      for (const name of ['a', 'b']) {
        pb.function(name, { x: tensorType('fp16', [1, 64]) }, (b, { x }) => b.linear({ x, weight: b.const(w) }));
      }
    });
    p.multifunction = true;
    p.defaultFunction = 'a';
    const out = join(tmp, 'dedup.mlpackage');
    const report = await writeMLPackage(p, out);
    expect(report.blobs).toBe(1);
    expect(report.sharedBlobs).toBe(1);
    // 64 header + 64 metadata + 8192 data
    expect(statSync(join(out, WEIGHTS)).size).toBe(64 + 64 + 4096 * 2);
    const q = await readMLPackage(out);
    expect(q.functions.size).toBe(2);
    expect(q.defaultFunction).toBe('a');
  });

  it('does not share tensors with equal bytes but a different shape', async () => {
    const data = ramp(4096);
    const p = buildProgram('iOS18', (pb) => {
      pb.function('main', { x: tensorType('fp16', [1, 64]), z: tensorType('fp16', [1, 32]) }, (b, { x, z }) => [
        b.linear({ x, weight: b.const(fromFloat32('fp16', [64, 64], data)) }),
        b.linear({ x: z, weight: b.const(fromFloat32('fp16', [128, 32], data)) }),
      ]);
    });
    const report = await writeMLPackage(p, join(tmp, 'noshare.mlpackage'));
    expect(report.blobs).toBe(2);
    expect(report.sharedBlobs).toBe(0);
  });
});

describe('deployment target gates (§12)', () => {
  it('refuses fp16 inputs below iOS16 and names the feature', async () => {
    const p = mlp('iOS16', 'fp16');
    p.target = 'iOS15';
    await expect(writeMLPackage(p, join(tmp, 'gate.mlpackage'))).rejects.toThrow(/FLOAT16 input "x".*needs iOS16/);
    expect(existsSync(join(tmp, 'gate.mlpackage'))).toBe(false);
  });

  it('raises the target when asked', async () => {
    const p = mlp('iOS16', 'fp16');
    p.target = 'iOS15';
    const out = join(tmp, 'raised.mlpackage');
    const report = await writeMLPackage(p, out, { raiseTarget: true });
    expect(report.specificationVersion).toBe(7);
    expect(p.target).toBe('iOS15'); // the program itself is unchanged
    expect((await readMLPackage(out)).target).toBe('iOS16');
  });

  it('refuses states below iOS18', async () => {
    const fn = new Function('main');
    const s = fn.addInput('k', { kind: 'state', wrapped: tensorType('fp16', [1, 4]) });
    const r = fn.block.append(new Op({ type: 'read_state', inputs: { input: s }, outputs: [{ name: 'r', type: tensorType('fp16', [1, 4]) }] }));
    fn.block.setOutputs([r.output]);
    const p = new Program('iOS17');
    p.addFunction(fn);
    await expect(writeMLPackage(p, join(tmp, 'state17.mlpackage'))).rejects.toThrow(/state input "k".*needs iOS18/);
  });
});

describe('identifiers (§7)', () => {
  it('sanitises invalid and reserved names consistently in program and description', async () => {
    const p = mlp('iOS18');
    const fn = p.main;
    fn.inputs[0].name = 'input-1';
    fn.outputs[0].name = 'fp16';
    const out = join(tmp, 'names.mlpackage');
    await writeMLPackage(p, out);
    const q = await readMLPackage(out);
    expect(q.main.inputs.map((v) => v.name)).toEqual(['input_1']);
    expect(q.main.outputs.map((v) => v.name)).toEqual(['fp16_workaround']);
  });
});

describe('safe writes', () => {
  it('refuses to overwrite an existing package unless asked', async () => {
    const out = join(tmp, 'exists.mlpackage');
    await writeMLPackage(mlp('iOS18'), out);
    const before = readFileSync(join(out, MODEL));
    await expect(writeMLPackage(mlp('iOS17'), out)).rejects.toThrow(/already exists/);
    expect(Buffer.compare(readFileSync(join(out, MODEL)), before)).toBe(0);
    await writeMLPackage(mlp('iOS17'), out, { overwrite: true });
    expect((await readMLPackage(out)).target).toBe('iOS17');
  });

  it('leaves nothing behind when writing fails', async () => {
    const dir = join(tmp, 'fail');
    mkdirSync(dir);
    const p = buildProgram('iOS18', (pb) => {
      pb.function('main', { x: tensorType('fp32', [4]) }, (b, { x }) => b.cast({ x, dtype: 'bool' }));
    });
    await expect(writeMLPackage(p, join(dir, 'bad.mlpackage'))).rejects.toThrow(/dtype bool cannot be a model input or output/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses to write over the package a program was read from', async () => {
    const copy = join(tmp, 'self.mlpackage');
    await writeMLPackage(await readMLPackage(join(FIXTURES, 'mlp.mlpackage')), copy);
    const p = await readMLPackage(copy);
    expect([...p.allOps()].some((o) => o.constValue instanceof FileTensor)).toBe(true);
    await expect(writeMLPackage(p, copy, { overwrite: true })).rejects.toThrow(/refusing to write .* read from/);
    expect((await readMLPackage(copy)).main.ops.length).toBe(p.main.ops.length);
  });

  it('requires the .mlpackage extension', async () => {
    await expect(writeMLPackage(mlp('iOS18'), join(tmp, 'model.bin'))).rejects.toThrow(/must end in "\.mlpackage"/);
  });

  it('writes unrelated files next to nothing: only Manifest.json and Data/', async () => {
    const out = join(tmp, 'layout.mlpackage');
    writeFileSync(join(tmp, 'neighbour.txt'), 'x');
    await writeMLPackage(mlp('iOS18'), out);
    expect(readdirSync(out).sort()).toEqual(['Data', 'Manifest.json']);
    expect(readdirSync(join(out, 'Data/com.apple.CoreML')).sort()).toEqual(['model.mlmodel', 'weights']);
  });
});
