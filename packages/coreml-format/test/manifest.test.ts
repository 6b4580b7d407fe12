/**
 * Manifest.json (mlpackage-format.md §2): byte-identical formatting against every
 * fixture and the §2.4 example, validation (§2.3), hostile item paths, lookups and
 * identifiers.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_BLOB_FILE_NAME,
  type Manifest,
  createManifest,
  deterministicIdentifier,
  findItem,
  formatManifest,
  isUuid,
  itemPath,
  parseManifest,
  randomIdentifier,
  readManifest,
  resolveBlobFile,
  rootModelEntry,
  uuidV5,
  weightsEntry,
  writeManifest,
} from '../src/index.js';
import { FIXTURES, formatError, tempDir } from './helpers.js';

const tmp = tempDir('manifest');
afterAll(() => tmp.cleanup());
let pkgNo = 0;

/** The §2.4 example, verbatim. */
const EXAMPLE = `{
    "fileFormatVersion": "1.0.0",
    "itemInfoEntries": {
        "2B6F0C71-9A4E-4C55-8C8E-0D7E3B0B9A11": {
            "author": "com.apple.CoreML",
            "description": "CoreML Model Weights",
            "name": "weights",
            "path": "com.apple.CoreML/weights"
        },
        "9D0E5A42-1F3B-4B7A-9E0C-5A6B7C8D9E0F": {
            "author": "com.apple.CoreML",
            "description": "CoreML Model Specification",
            "name": "model.mlmodel",
            "path": "com.apple.CoreML/model.mlmodel"
        }
    },
    "rootModelIdentifier": "9D0E5A42-1F3B-4B7A-9E0C-5A6B7C8D9E0F"
}
`;

/** A package directory with Data/com.apple.CoreML/{model.mlmodel, weights/} and the given manifest text. */
function makePackage(manifestText?: string): string {
  const pkg = join(tmp.dir, `p${pkgNo++}.mlpackage`);
  mkdirSync(join(pkg, 'Data', 'com.apple.CoreML', 'weights'), { recursive: true });
  writeFileSync(join(pkg, 'Data', 'com.apple.CoreML', 'model.mlmodel'), Uint8Array.of(8, 9));
  if (manifestText !== undefined) writeFileSync(join(pkg, 'Manifest.json'), manifestText);
  return pkg;
}

/** The §2.4 example with the model item's path replaced. */
function withModelPath(path: string): string {
  const m = parseManifest(EXAMPLE);
  const id = m.rootModelIdentifier;
  const raw = JSON.parse(EXAMPLE) as { itemInfoEntries: Record<string, { path: string }> };
  raw.itemInfoEntries[id].path = path;
  return JSON.stringify(raw);
}

describe('exact textual form (§2.4)', () => {
  const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.mlpackage')).sort();

  it.each(fixtures)('%s: formatManifest(readManifest(x)) equals the file bytes', (name) => {
    const pkg = join(FIXTURES, name);
    const bytes = readFileSync(join(pkg, 'Manifest.json'));
    expect(Buffer.from(formatManifest(readManifest(pkg)), 'utf8').equals(bytes)).toBe(true);
  });

  it('reproduces the reference example (weights item first: entries sorted by identifier)', () => {
    expect(formatManifest(parseManifest(EXAMPLE))).toBe(EXAMPLE);
  });

  it('sorts keys by byte order and escapes like nlohmann::json (ensure_ascii off, "/" unescaped)', () => {
    const m: Manifest = {
      fileFormatVersion: '1.0.0',
      itemInfoEntries: {
        b: { author: 'x', description: 'quote " backslash \\ slash / nl \n tab \t ctl \u0001 del \u007f é 😀', name: 'n', path: 'x/n' },
        B: { author: 'x', description: '', name: 'm', path: 'x/m' },
        a: { author: 'x', description: '\b\f\r', name: 'l', path: 'x/l' },
      },
      rootModelIdentifier: 'b',
    };
    expect(formatManifest(m)).toBe(
      [
        '{',
        '    "fileFormatVersion": "1.0.0",',
        '    "itemInfoEntries": {',
        '        "B": {',
        '            "author": "x",',
        '            "description": "",',
        '            "name": "m",',
        '            "path": "x/m"',
        '        },',
        '        "a": {',
        '            "author": "x",',
        '            "description": "\\b\\f\\r",',
        '            "name": "l",',
        '            "path": "x/l"',
        '        },',
        '        "b": {',
        '            "author": "x",',
        '            "description": "quote \\" backslash \\\\ slash / nl \\n tab \\t ctl \\u0001 del \u007f é 😀",',
        '            "name": "n",',
        '            "path": "x/n"',
        '        }',
        '    },',
        '    "rootModelIdentifier": "b"',
        '}',
        '',
      ].join('\n'),
    );
    expect(parseManifest(formatManifest(m))).toEqual(m);
  });

  it('an empty object is {}; a lone surrogate is refused', () => {
    const m: Manifest = { fileFormatVersion: '1.0.0', itemInfoEntries: {}, rootModelIdentifier: 'r' };
    expect(formatManifest(m)).toBe('{\n    "fileFormatVersion": "1.0.0",\n    "itemInfoEntries": {},\n    "rootModelIdentifier": "r"\n}\n');
    const e = formatError(() => formatManifest({ ...m, rootModelIdentifier: 'x\ud800' }));
    expect(e.message).toMatch(/expected a string of valid Unicode, found a lone surrogate at index 1$/);
  });
});

describe('create, write, read, look up', () => {
  it('createManifest: the two coremltools items, upper-case UUIDs, random by default', () => {
    const a = createManifest();
    const b = createManifest();
    expect(a.rootModelIdentifier).not.toBe(b.rootModelIdentifier);
    for (const id of Object.keys(a.itemInfoEntries)) {
      expect(isUuid(id)).toBe(true);
      expect(id).toBe(id.toUpperCase());
      expect(id[14]).toBe('4');
    }
    expect(rootModelEntry(a).item).toEqual({
      author: 'com.apple.CoreML',
      description: 'CoreML Model Specification',
      name: 'model.mlmodel',
      path: 'com.apple.CoreML/model.mlmodel',
    });
    expect(weightsEntry(a)?.item).toEqual({
      author: 'com.apple.CoreML',
      description: 'CoreML Model Weights',
      name: 'weights',
      path: 'com.apple.CoreML/weights',
    });
    expect(Object.keys(createManifest({ weights: false }).itemInfoEntries)).toHaveLength(1);
  });

  it('createManifest({ seed }) is deterministic', () => {
    const a = createManifest({ seed: 'my-model' });
    const b = createManifest({ seed: 'my-model' });
    const c = createManifest({ seed: 'other-model' });
    expect(formatManifest(a)).toBe(formatManifest(b));
    expect(a.rootModelIdentifier).not.toBe(c.rootModelIdentifier);
    expect(a.rootModelIdentifier).toBe(deterministicIdentifier('my-model', 'model.mlmodel'));
    expect(weightsEntry(a)?.identifier).toBe(deterministicIdentifier('my-model', 'weights'));
    expect(a.rootModelIdentifier[14]).toBe('5');
    expect(isUuid(a.rootModelIdentifier)).toBe(true);
  });

  it('uuidV5 matches the RFC 4122 test vector; randomIdentifier is upper case', () => {
    expect(uuidV5('python.org', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('886313E1-3B8A-5372-9B90-0C9AEE199E5D');
    const r = randomIdentifier();
    expect(r).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
  });

  it('writeManifest → readManifest round trip, and item lookup', () => {
    const pkg = makePackage();
    const m = createManifest({ seed: 'round-trip' });
    writeManifest(pkg, m);
    const text = readFileSync(join(pkg, 'Manifest.json'), 'utf8');
    expect(text).toBe(formatManifest(m));
    expect(text.endsWith('}\n')).toBe(true);
    const back = readManifest(pkg);
    expect(back).toEqual(m);
    expect(itemPath(pkg, rootModelEntry(back).item)).toBe(join(pkg, 'Data', 'com.apple.CoreML', 'model.mlmodel'));
    expect(itemPath(pkg, weightsEntry(back)!.item)).toBe(join(pkg, 'Data', 'com.apple.CoreML', 'weights'));
    expect(findItem(back, 'weights', 'com.example')).toBeUndefined();
    expect(findItem(back, 'model.mlmodel')?.identifier).toBe(back.rootModelIdentifier);
  });

  it('writeManifest refuses an invalid manifest and leaves no file', () => {
    const pkg = makePackage();
    const m = createManifest();
    const e = formatError(() => writeManifest(pkg, { ...m, rootModelIdentifier: 'missing' }));
    expect(e.where).toBe('rootModelIdentifier');
    expect(readdirSync(pkg)).toEqual(['Data']);
  });

  it('findItem picks the first match in identifier byte order', () => {
    const item = { author: 'com.apple.CoreML', description: 'd', name: 'weights', path: 'com.apple.CoreML/weights' };
    const m: Manifest = { fileFormatVersion: '1.0.0', itemInfoEntries: { b: item, B: item, a: item }, rootModelIdentifier: 'a' };
    expect(weightsEntry(m)?.identifier).toBe('B');
  });
});

describe('validation (§2.3)', () => {
  it('a missing Manifest.json', () => {
    const pkg = makePackage();
    const e = formatError(() => readManifest(pkg));
    expect(e.file).toBe(join(pkg, 'Manifest.json'));
    expect(e.message).toMatch(/expected a Manifest\.json at the package root, found ENOENT/);
  });

  it('not JSON, not an object', () => {
    const bad = formatError(() => readManifest(makePackage('{"fileFormatVersion": "1.0.0",}')));
    expect(bad.message).toMatch(/expected a JSON document, found a syntax error/);
    expect(typeof bad.where).toBe('number');
    expect(formatError(() => parseManifest('[1]', 'M.json')).message).toBe('M.json: at (document): expected a JSON object at the top level, found an array');
  });

  it.each([
    ['1.0.1', /not newer than 1\.0\.0/],
    ['1.1.0', /not newer than 1\.0\.0/],
    ['2.0.0', /not newer than 1\.0\.0/],
    ['1.0', /three dot-separated non-negative integers/],
    ['1.0.0-beta', /three dot-separated non-negative integers/],
    ['-1.0.0', /three dot-separated non-negative integers/],
  ])('fileFormatVersion %s is refused', (version, re) => {
    const e = formatError(() => parseManifest(EXAMPLE.replace('"1.0.0"', JSON.stringify(version))));
    expect(e.where).toBe('fileFormatVersion');
    expect(e.message).toMatch(re);
  });

  it('older versions are accepted', () => {
    expect(parseManifest(EXAMPLE.replace('"1.0.0"', '"0.9.12"')).fileFormatVersion).toBe('0.9.12');
  });

  it('every item needs the four string keys', () => {
    const raw = JSON.parse(EXAMPLE);
    delete raw.itemInfoEntries['2B6F0C71-9A4E-4C55-8C8E-0D7E3B0B9A11'].author;
    const e = formatError(() => parseManifest(JSON.stringify(raw), 'x/Manifest.json'));
    expect(e.where).toBe('itemInfoEntries["2B6F0C71-9A4E-4C55-8C8E-0D7E3B0B9A11"].author');
    expect(e.message).toBe(
      'x/Manifest.json: at field itemInfoEntries["2B6F0C71-9A4E-4C55-8C8E-0D7E3B0B9A11"].author: expected a string (every item needs author, description, name, path), found nothing (key missing)',
    );
    raw.itemInfoEntries['2B6F0C71-9A4E-4C55-8C8E-0D7E3B0B9A11'].author = 7;
    expect(formatError(() => parseManifest(JSON.stringify(raw))).found).toBe('the number 7');
  });

  it('rootModelIdentifier must name an item', () => {
    const e = formatError(() => parseManifest(EXAMPLE.replace(/"rootModelIdentifier": "[^"]+"/, '"rootModelIdentifier": "NOPE"')));
    expect(e.where).toBe('rootModelIdentifier');
    expect(e.message).toMatch(/expected the identifier of an item in itemInfoEntries \(2B6F0C71-.*, 9D0E5A42-.*\), found "NOPE"$/);
  });

  it('every item must exist under Data/', () => {
    const pkg = makePackage(EXAMPLE);
    rmSync(join(pkg, 'Data', 'com.apple.CoreML', 'weights'), { recursive: true });
    const e = formatError(() => readManifest(pkg));
    expect(e.where).toBe('itemInfoEntries["2B6F0C71-9A4E-4C55-8C8E-0D7E3B0B9A11"].path');
    expect(e.message).toMatch(/expected an existing file or directory at Data\/com\.apple\.CoreML\/weights, found ENOENT/);
  });

  it('the root model must be a file', () => {
    const pkg = makePackage(withModelPath('com.apple.CoreML/weights'));
    expect(formatError(() => readManifest(pkg)).message).toMatch(/expected the root model Data\/com\.apple\.CoreML\/weights to be a file/);
  });

  it('a package without Data/', () => {
    const pkg = join(tmp.dir, `p${pkgNo++}.mlpackage`);
    mkdirSync(pkg);
    writeFileSync(join(pkg, 'Manifest.json'), EXAMPLE);
    expect(formatError(() => readManifest(pkg)).message).toMatch(/expected a Data\/ directory next to Manifest\.json, found ENOENT/);
  });
});

describe('hostile item paths', () => {
  it.each([
    '../../../etc/passwd',
    'com.apple.CoreML/../../Manifest.json',
    '/etc/passwd',
    'C:\\Windows\\win.ini',
    'C:/Windows/win.ini',
    'com.apple.CoreML\\model.mlmodel',
    '',
    './com.apple.CoreML/model.mlmodel',
    'com.apple.CoreML//model.mlmodel',
    'com.apple.CoreML/model.mlmodel/',
    'com.apple.CoreML/model.mlmodel\0.txt',
  ])('refuses %j before touching the disk', (path) => {
    const e = formatError(() => readManifest(makePackage(withModelPath(path))));
    expect(e.where).toBe('itemInfoEntries["9D0E5A42-1F3B-4B7A-9E0C-5A6B7C8D9E0F"].path');
    expect(e.expected).toMatch(/^a relative path inside Data\/ made of plain names/);
    expect(e.found).toBe(JSON.stringify(path));
  });

  it('refuses a symlink that points outside the package', () => {
    const outside = join(tmp.dir, 'outside-secret.bin');
    writeFileSync(outside, 'secret');
    const pkg = makePackage(EXAMPLE);
    const model = join(pkg, 'Data', 'com.apple.CoreML', 'model.mlmodel');
    rmSync(model);
    symlinkSync(outside, model);
    const e = formatError(() => readManifest(pkg));
    expect(e.where).toBe('itemInfoEntries["9D0E5A42-1F3B-4B7A-9E0C-5A6B7C8D9E0F"].path');
    expect(e.message).toMatch(/expected Data\/com\.apple\.CoreML\/model\.mlmodel to resolve inside .*\/Data, found a link to .*outside-secret\.bin$/);
  });

  it('refuses a symlinked directory on the way out, and a Data/ that is a link outside', () => {
    const outsideDir = join(tmp.dir, `outside-dir-${pkgNo}`);
    mkdirSync(join(outsideDir, 'weights'), { recursive: true });
    writeFileSync(join(outsideDir, 'model.mlmodel'), 'x');
    const pkg = makePackage(EXAMPLE);
    rmSync(join(pkg, 'Data', 'com.apple.CoreML'), { recursive: true });
    symlinkSync(outsideDir, join(pkg, 'Data', 'com.apple.CoreML'));
    expect(formatError(() => readManifest(pkg)).message).toMatch(/to resolve inside/);

    const pkg2 = join(tmp.dir, `p${pkgNo++}.mlpackage`);
    mkdirSync(pkg2);
    writeFileSync(join(pkg2, 'Manifest.json'), EXAMPLE);
    mkdirSync(join(outsideDir, 'com.apple.CoreML'), { recursive: true });
    symlinkSync(outsideDir, join(pkg2, 'Data'));
    expect(formatError(() => readManifest(pkg2)).message).toMatch(/expected a Data\/ directory inside the package/);
  });

  it('refuses a dangling symlink as a missing item', () => {
    const pkg = makePackage(EXAMPLE);
    const model = join(pkg, 'Data', 'com.apple.CoreML', 'model.mlmodel');
    rmSync(model);
    symlinkSync(join(tmp.dir, 'does-not-exist'), model);
    expect(formatError(() => readManifest(pkg)).message).toMatch(/expected an existing file or directory at Data\/com\.apple\.CoreML\/model\.mlmodel, found ENOENT/);
  });

  it('accepts a symlink that stays inside Data/', () => {
    const pkg = makePackage(EXAMPLE);
    const dir = join(pkg, 'Data', 'com.apple.CoreML');
    writeFileSync(join(dir, 'real.mlmodel'), 'x');
    rmSync(join(dir, 'model.mlmodel'));
    symlinkSync('real.mlmodel', join(dir, 'model.mlmodel'));
    expect(readManifest(pkg).rootModelIdentifier).toBe('9D0E5A42-1F3B-4B7A-9E0C-5A6B7C8D9E0F');
  });
});

describe('resolveBlobFile (BlobFileValue.fileName → path)', () => {
  function pkgWithBlob(): { pkg: string; manifest: Manifest; weights: string } {
    const pkg = makePackage(EXAMPLE);
    const weights = join(pkg, 'Data', 'com.apple.CoreML', 'weights');
    writeFileSync(join(weights, 'weight.bin'), new Uint8Array(64));
    writeFileSync(join(weights, '1-weight.bin'), new Uint8Array(64));
    return { pkg, manifest: readManifest(pkg), weights };
  }

  it('takes the last component and looks in the weights item, like coremltools', () => {
    const { pkg, manifest, weights } = pkgWithBlob();
    expect(resolveBlobFile(pkg, manifest, DEFAULT_BLOB_FILE_NAME)).toBe(join(weights, 'weight.bin'));
    expect(resolveBlobFile(pkg, manifest, '@model_path/weights/1-weight.bin')).toBe(join(weights, '1-weight.bin'));
    // the directory part is ignored, so it cannot lead elsewhere
    expect(resolveBlobFile(pkg, manifest, '/etc/../../weight.bin')).toBe(join(weights, 'weight.bin'));
  });

  it.each(['', '@model_path/weights/', '@model_path/..', 'a/.', 'x\\weight.bin'])('refuses the file name %j', (fileName) => {
    const { pkg, manifest } = pkgWithBlob();
    const e = formatError(() => resolveBlobFile(pkg, manifest, fileName, '/m/model.mlmodel'));
    expect(e.file).toBe('/m/model.mlmodel');
    expect(e.where).toBe('BlobFileValue.fileName');
    expect(e.expected).toMatch(/last component is a plain file name/);
  });

  it('refuses a missing file, a missing weights item and a symlink out of the weights directory', () => {
    const { pkg, manifest, weights } = pkgWithBlob();
    expect(formatError(() => resolveBlobFile(pkg, manifest, '@model_path/weights/nope.bin')).found).toMatch(/^ENOENT/);
    const noWeights = { ...manifest, itemInfoEntries: { [manifest.rootModelIdentifier]: rootModelEntry(manifest).item } };
    expect(formatError(() => resolveBlobFile(pkg, noWeights, DEFAULT_BLOB_FILE_NAME)).message).toMatch(/expected a weights directory item/);
    symlinkSync(join(pkg, 'Data', 'com.apple.CoreML', 'model.mlmodel'), join(weights, 'link.bin'));
    expect(formatError(() => resolveBlobFile(pkg, manifest, '@model_path/weights/link.bin')).message).toMatch(
      /to be a regular file inside the weights directory/,
    );
  });
});
