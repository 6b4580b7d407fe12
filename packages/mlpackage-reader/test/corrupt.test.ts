/**
 * A corpus of corrupted packages, generated from a fixture, each giving a clear
 * SilicaFormatError that names the file and the field or byte offset; and a property
 * test over random corruptions that never crashes or hangs.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelSchema, SilicaFormatError, create, decodeModel, encodeModel, toBinary } from '@silica/coreml-format';
import { readMLPackage } from '../src/index.js';

const FIXTURES = join(import.meta.dirname, '../../../../shared/fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'silica-corrupt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const MODEL = 'Data/com.apple.CoreML/model.mlmodel';
const WEIGHTS = 'Data/com.apple.CoreML/weights/weight.bin';
let n = 0;
/** A fresh writable copy of a fixture. */
function copy(name = 'mlp'): string {
  const dst = join(tmp, `c${n++}.mlpackage`);
  cpSync(join(FIXTURES, `${name}.mlpackage`), dst, { recursive: true });
  return dst;
}
function patch(file: string, at: number, bytes: number[]): void {
  const b = readFileSync(file);
  bytes.forEach((x, i) => (b[at + i] = x));
  writeFileSync(file, b);
}
function editModel(pkg: string, edit: (m: ReturnType<typeof decodeModel>) => void): void {
  const f = join(pkg, MODEL);
  const m = decodeModel(readFileSync(f));
  edit(m);
  writeFileSync(f, encodeModel(m));
}
function ops(m: ReturnType<typeof decodeModel>) {
  if (m.Type.case !== 'mlProgram') throw new Error('not a program');
  return m.Type.value.functions.main.blockSpecializations[m.Type.value.functions.main.opset].operations;
}

async function expectFormatError(pkg: string, file: RegExp, message: RegExp): Promise<SilicaFormatError> {
  try {
    await readMLPackage(pkg);
  } catch (e) {
    expect(e).toBeInstanceOf(SilicaFormatError);
    const err = e as SilicaFormatError;
    expect(err.file).toMatch(file);
    expect(err.message).toMatch(message);
    return err;
  }
  throw new Error(`${pkg} read without error`);
}

describe('corrupted packages give clear errors', () => {
  it('not a directory', async () => {
    await expectFormatError(join(tmp, 'nothing.mlpackage'), /nothing\.mlpackage$/, /expected an \.mlpackage directory/);
  });

  it('missing Manifest.json', async () => {
    const p = copy();
    rmSync(join(p, 'Manifest.json'));
    await expectFormatError(p, /Manifest\.json$/, /Manifest\.json/);
  });

  it('Manifest.json that is not JSON', async () => {
    const p = copy();
    writeFileSync(join(p, 'Manifest.json'), '{"fileFormatVersion": "1.0.0", ');
    await expectFormatError(p, /Manifest\.json$/, /JSON/i);
  });

  it('a manifest version newer than 1.0.0', async () => {
    const p = copy();
    const f = join(p, 'Manifest.json');
    writeFileSync(f, readFileSync(f, 'utf8').replace('"1.0.0"', '"1.1.0"'));
    await expectFormatError(p, /Manifest\.json$/, /fileFormatVersion/);
  });

  for (const [label, path] of [
    ['a path with ..', 'com.apple.CoreML/../../../../etc/passwd'],
    ['an absolute path', '/etc/passwd'],
  ] as const) {
    it(`a manifest item path that escapes the package: ${label}`, async () => {
      const p = copy();
      const f = join(p, 'Manifest.json');
      writeFileSync(f, readFileSync(f, 'utf8').replace('"com.apple.CoreML/model.mlmodel"', JSON.stringify(path)));
      await expectFormatError(p, /Manifest\.json$/, /path/);
    });
  }

  it('a weights directory that is a symlink out of the package', async () => {
    const p = copy();
    const outside = join(tmp, 'outside-weights');
    renameSync(join(p, 'Data/com.apple.CoreML/weights'), outside);
    symlinkSync(outside, join(p, 'Data/com.apple.CoreML/weights'));
    await expectFormatError(p, /Manifest\.json$/, /resolve inside/);
  });

  it('a truncated model.mlmodel (bad protobuf)', async () => {
    const p = copy();
    truncateSync(join(p, MODEL), 1000);
    await expectFormatError(p, /model\.mlmodel$/, /protobuf/);
  });

  it('a model that is not an ML Program', async () => {
    const p = copy();
    editModel(p, (m) => {
      m.Type = { case: undefined };
    });
    await expectFormatError(p, /model\.mlmodel$/, /ML Program/);
  });

  it('a specification version below ML Programs', async () => {
    const p = copy();
    editModel(p, (m) => {
      m.specificationVersion = 5;
    });
    await expectFormatError(p, /model\.mlmodel$/, /specificationVersion.*6…10.*found 5/);
  });

  it('a wrong blob sentinel', async () => {
    const p = copy();
    patch(join(p, WEIGHTS), 64, [0, 0, 0, 0]);
    const e = await expectFormatError(p, /weight\.bin$/, /0xDEADBEEF|sentinel/i);
    expect(e.where).toBe(64);
  });

  it('a blob storage header version other than 2', async () => {
    const p = copy();
    patch(join(p, WEIGHTS), 4, [1, 0, 0, 0]);
    await expectFormatError(p, /weight\.bin$/, /version/);
  });

  it('a truncated weight.bin', async () => {
    const p = copy();
    truncateSync(join(p, WEIGHTS), 5000);
    await expectFormatError(p, /weight\.bin$/, /end of the file|past the end|beyond|bytes/);
  });

  it('a blob offset past the end of the file', async () => {
    const p = copy();
    editModel(p, (m) => {
      const c = ops(m).find((o) => o.attributes.val?.value.case === 'blobFileValue')!;
      (c.attributes.val.value.value as { offset: bigint }).offset = 1n << 40n;
    });
    const e = await expectFormatError(p, /weight\.bin$/, /past the end|beyond|file size|bytes/);
    expect(String(e.where)).toMatch(/1099511627776|offset/);
  });

  it('a blob dtype code that does not match the value type', async () => {
    const p = copy();
    patch(join(p, WEIGHTS), 64 + 4, [2, 0, 0, 0]); // Float16 → Float32
    await expectFormatError(p, /weight\.bin$/, /fp16|Float16|dtype/i);
  });

  it('a const whose shape does not match its blob', async () => {
    const p = copy();
    editModel(p, (m) => {
      const c = ops(m).find((o) => o.attributes.val?.value.case === 'blobFileValue')!;
      const t = c.attributes.val.type!.type;
      if (t.case === 'tensorType') t.value.dimensions[0] = { ...t.value.dimensions[0], dimension: { case: 'constant', value: { $typeName: 'CoreML.Specification.MILSpec.Dimension.ConstantDimension', size: 7n } } };
    });
    await expectFormatError(p, /weight\.bin$/, /bytes|size|elements/);
  });

  it('unknown ops, listed together', async () => {
    const p = copy();
    editModel(p, (m) => {
      const o = ops(m);
      o.find((x) => x.type === 'gelu')!.type = 'frobnicate';
      o.find((x) => x.type === 'linear')!.type = 'twist';
    });
    await expectFormatError(p, /model\.mlmodel$/, /unknown op type\(s\): frobnicate, twist/);
  });

  it('an immediate value with the wrong element count', async () => {
    const p = copy();
    editModel(p, (m) => {
      const c = ops(m).find((o) => o.type === 'const' && o.attributes.val?.value.case === 'immediateValue' && o.attributes.val.type?.type.case === 'tensorType' && o.attributes.val.type.type.value.dataType === 10)!;
      void c;
      const s = ops(m).find((o) => o.type === 'const' && o.attributes.val?.value.case === 'immediateValue')!;
      const t = s.attributes.val.type!.type;
      if (t.case === 'tensorType') {
        t.value.rank = 1n;
        t.value.dimensions = [{ $typeName: 'CoreML.Specification.MILSpec.Dimension', dimension: { case: 'constant', value: { $typeName: 'CoreML.Specification.MILSpec.Dimension.ConstantDimension', size: 3n } } }];
      }
    });
    await expectFormatError(p, /model\.mlmodel$/, /3 elements|element/);
  });

  it('a reference to an undefined value', async () => {
    const p = copy();
    editModel(p, (m) => {
      const lin = ops(m).find((x) => x.type === 'linear')!;
      lin.inputs.x.arguments[0].binding = { case: 'name', value: 'nowhere' };
    });
    await expectFormatError(p, /model\.mlmodel$/, /"nowhere"/);
  });

  it('a description that disagrees with the program', async () => {
    const p = copy();
    editModel(p, (m) => {
      m.description!.input[0].name = 'not_x';
    });
    await expectFormatError(p, /model\.mlmodel$/, /inputs \["x"\]/);
  });
});

describe('random corruption never crashes or hangs', () => {
  const base = copy('mlp_palette_4bit_kmeans');
  const modelBytes = readFileSync(join(base, MODEL));
  const weightBytes = readFileSync(join(base, WEIGHTS));

  it('model.mlmodel: byte flips and truncations', async () => {
    const dir = copy('mlp_palette_4bit_kmeans');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(modelBytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.option(fc.nat(modelBytes.length), { nil: undefined }),
        async (flips, cut) => {
          const b = Buffer.from(modelBytes);
          for (const [i, v] of flips) b[i] = v;
          writeFileSync(join(dir, MODEL), cut === undefined ? b : b.subarray(0, cut));
          try {
            const p = await readMLPackage(dir);
            for (const op of p.allOps()) op.constValue?.bytes();
          } catch (e) {
            if (!(e instanceof SilicaFormatError)) throw e;
          }
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  });

  it('weight.bin: header and metadata corruption', async () => {
    const dir = copy('mlp_palette_4bit_kmeans');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(255), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.option(fc.nat(weightBytes.length), { nil: undefined }),
        async (flips, cut) => {
          const b = Buffer.from(weightBytes);
          for (const [i, v] of flips) b[i] = v;
          writeFileSync(join(dir, WEIGHTS), cut === undefined ? b : b.subarray(0, cut));
          try {
            const p = await readMLPackage(dir);
            for (const op of p.allOps()) op.constValue?.bytes();
          } catch (e) {
            if (!(e instanceof SilicaFormatError) && !/unexpected end of file/.test(String(e))) throw e;
          }
        },
      ),
      { numRuns: 200, seed: 7 },
    );
  });
});
