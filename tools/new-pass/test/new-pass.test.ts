/**
 * The pass-package generator: the files it writes, the package.json fields, name and
 * folder checks, --dry-run, and that the generated package type-checks against the real
 * @silica/ir.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { camelCase, generatePassPackage, nameProblem, pascalCase } from '../src/generate.js';
import { parseCliArgs } from '../src/cli-args.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const IR_PKG = JSON.parse(readFileSync(join(REPO, 'packages/ir/package.json'), 'utf8')) as { version: string; engines: unknown };

// Temp roots live under the repo's node_modules so the generated package resolves
// `@silica/ir`, `vitest` and `@types/node` exactly as a real workspace package does.
const SCRATCH = join(REPO, 'node_modules', '.silica-new-pass-test');
mkdirSync(SCRATCH, { recursive: true });
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  if (existsSync(SCRATCH) && readdirSync(SCRATCH).length === 0) rmSync(SCRATCH, { recursive: true, force: true });
});

/** A fake workspace root holding only packages/ir/package.json. */
function fakeRoot(): string {
  const root = mkdtempSync(join(SCRATCH, 'root-'));
  roots.push(root);
  mkdirSync(join(root, 'packages', 'ir'), { recursive: true });
  copyFileSync(join(REPO, 'packages/ir/package.json'), join(root, 'packages/ir/package.json'));
  return root;
}

function listTree(dir: string): string[] {
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(d, e.name)) : [relative(dir, join(d, e.name)).split('\\').join('/')],
    );
  return walk(dir).sort();
}

describe('generatePassPackage', () => {
  it('writes the standard layout of STYLE.md', () => {
    const root = fakeRoot();
    const r = generatePassPackage({ name: 'sdpa-fusion', root, description: 'Fuses decomposed attention into SDPA.' });
    expect(r.written).toBe(true);
    expect(r.dir).toBe(join(root, 'packages', 'sdpa-fusion'));
    expect(listTree(r.dir)).toEqual([
      'README.md',
      'package.json',
      'src/index.ts',
      'test/fixtures/.gitkeep',
      'test/sdpa-fusion.test.ts',
      'tsconfig.build.json',
    ]);
    expect(r.files.map((f) => f.path).sort()).toEqual(listTree(r.dir).map((f) => `packages/sdpa-fusion/${f}`));
    for (const f of r.files) expect(readFileSync(join(root, f.path), 'utf8')).toBe(f.content);
  });

  it('writes a package.json with the fields every Silica package has', () => {
    const root = fakeRoot();
    generatePassPackage({ name: 'sdpa-fusion', root, description: 'Fuses decomposed attention into SDPA.' });
    const pkg = JSON.parse(readFileSync(join(root, 'packages/sdpa-fusion/package.json'), 'utf8'));
    expect(pkg.name).toBe('@silica/sdpa-fusion');
    expect(pkg.description).toBe('Fuses decomposed attention into SDPA.');
    expect(pkg.type).toBe('module');
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.license).toBe('MIT');
    expect(pkg.main).toBe('./dist/index.js');
    expect(pkg.types).toBe('./dist/index.d.ts');
    expect(pkg.exports).toEqual({
      '.': { source: './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' },
      './package.json': './package.json',
    });
    // the `source` condition comes first, as in packages/ir/package.json
    expect(Object.keys(pkg.exports['.'])).toEqual(['source', 'types', 'default']);
    expect(pkg.files).toEqual(['dist', 'src', 'README.md']);
    expect(pkg.engines).toEqual(IR_PKG.engines);
    expect(pkg.scripts).toEqual({
      build: 'tsc -p tsconfig.build.json',
      test: 'vitest run --root ../.. packages/sdpa-fusion/',
    });
    expect(pkg.dependencies).toEqual({ '@silica/ir': `^${IR_PKG.version}` });
    expect(pkg.private).toBeUndefined();
  });

  it('writes a tsconfig.build.json like packages/ir', () => {
    const root = fakeRoot();
    generatePassPackage({ name: 'dead-code', root });
    const mine = JSON.parse(readFileSync(join(root, 'packages/dead-code/tsconfig.build.json'), 'utf8'));
    const ir = JSON.parse(readFileSync(join(REPO, 'packages/ir/tsconfig.build.json'), 'utf8'));
    expect(mine).toEqual(ir);
  });

  it('names the factory, the options type, the pass and the test after the package', () => {
    const root = fakeRoot();
    const r = generatePassPackage({ name: 'kv-cache2-rewrite', root, description: 'Rewrites KV caches.' });
    const file = (p: string): string => r.files.find((f) => f.path.endsWith(p))!.content;
    const index = file('src/index.ts');
    expect(index).toContain("import type { Pass } from '@silica/ir';");
    expect(index).toContain('export interface KvCache2RewriteOptions {');
    expect(index).toContain('export default function kvCache2Rewrite(options: KvCache2RewriteOptions = {}): Pass {');
    expect(index).toContain("name: 'kv-cache2-rewrite',");
    expect(index).toContain(' * @silica/kv-cache2-rewrite — Rewrites KV caches.');
    expect(index).toMatch(/ \* Before:\n/);
    expect(index).toMatch(/ \* After .*:\n/);
    const test = file('test/kv-cache2-rewrite.test.ts');
    expect(test).toContain("import kvCache2Rewrite from '../src/index.js';");
    expect(test).toContain("expect(kvCache2Rewrite().name).toBe('kv-cache2-rewrite');");
    const md = file('README.md');
    expect(md).toMatch(/^# @silica\/kv-cache2-rewrite\n\nRewrites KV caches\.\n/);
    expect(md).toContain('## Options\n\n| option | type | default | meaning |');
    expect(md).toContain('## Usage');
    expect(md).toContain('## Before and after');
    expect(md).toContain("import kvCache2Rewrite from '@silica/kv-cache2-rewrite';");
  });

  it('uses a default description when none is given', () => {
    const r = generatePassPackage({ name: 'noop', root: fakeRoot(), dryRun: true });
    const pkg = JSON.parse(r.files.find((f) => f.path.endsWith('package.json'))!.content);
    expect(pkg.description).toBe('The noop pass for Silica programs.');
  });

  it('--dry-run returns the files and writes nothing', () => {
    const root = fakeRoot();
    const r = generatePassPackage({ name: 'prune', root, dryRun: true });
    expect(r.written).toBe(false);
    expect(r.files).toHaveLength(6);
    expect(existsSync(join(root, 'packages/prune'))).toBe(false);
  });

  it('refuses invalid names with a clear message and writes nothing', () => {
    const root = fakeRoot();
    const cases: Array<[string, RegExp]> = [
      ['', /the pass name is empty/],
      ['Quantize', /"Quantize" is not a valid pass name: use kebab-case/],
      ['my_pass', /"my_pass" is not a valid pass name/],
      ['-pass', /not a valid pass name/],
      ['pass-', /not a valid pass name/],
      ['my--pass', /not a valid pass name/],
      ['2bit', /not a valid pass name/],
      ['@silica/foo', /not a valid pass name/],
      ['../escape', /not a valid pass name/],
      ['a'.repeat(51), /is longer than 50 characters/],
      ['delete', /would name the factory `delete`, a JavaScript reserved word/],
      ['new', /reserved word/],
    ];
    for (const [name, msg] of cases) {
      expect(nameProblem(name), name).toMatch(msg);
      expect(() => generatePassPackage({ name, root }), name).toThrow(msg);
    }
    expect(readdirSync(join(root, 'packages'))).toEqual(['ir']);
  });

  it('accepts kebab-case names', () => {
    for (const name of ['quantize', 'sdpa-fusion', 'int4-pack', 'a', 'x2', 'multi-function-merge']) {
      expect(nameProblem(name), name).toBeUndefined();
    }
    expect(camelCase('multi-function-merge')).toBe('multiFunctionMerge');
    expect(camelCase('int4-pack')).toBe('int4Pack');
    expect(camelCase('a-2b')).toBe('a2b');
    expect(pascalCase('sdpa-fusion')).toBe('SdpaFusion');
  });

  it('refuses an existing folder and leaves it untouched', () => {
    const root = fakeRoot();
    mkdirSync(join(root, 'packages/quantize'));
    writeFileSync(join(root, 'packages/quantize/keep.txt'), 'mine');
    expect(() => generatePassPackage({ name: 'quantize', root })).toThrow(
      `packages/quantize already exists (${join(root, 'packages', 'quantize')}); choose another name or remove it first`,
    );
    expect(readdirSync(join(root, 'packages/quantize'))).toEqual(['keep.txt']);
    // `ir` itself exists in every workspace
    expect(() => generatePassPackage({ name: 'ir', root })).toThrow('packages/ir already exists');
  });

  it('refuses a root that is not the workspace', () => {
    const root = mkdtempSync(join(SCRATCH, 'empty-'));
    roots.push(root);
    expect(() => generatePassPackage({ name: 'quantize', root })).toThrow(
      `${root} does not look like the Silica workspace root: ${join(root, 'packages', 'ir', 'package.json')} is missing`,
    );
  });

  it('refuses a multi-line description', () => {
    expect(() => generatePassPackage({ name: 'x', root: fakeRoot(), description: 'one\ntwo' })).toThrow(
      'the description must be one non-empty line',
    );
  });

  it('generates a package whose source and test type-check against the real @silica/ir', () => {
    const root = fakeRoot();
    const r = generatePassPackage({ name: 'check-me', root, description: 'Type-check fixture.' });
    const configPath = join(r.dir, 'tsconfig.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        extends: join(REPO, 'tsconfig.base.json'),
        compilerOptions: { noEmit: true },
        include: ['src/**/*.ts', 'test/**/*.ts'],
      }),
    );
    const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    });
    expect(parsed).toBeDefined();
    expect(parsed!.fileNames.map((f) => relative(r.dir, f).split('\\').join('/')).sort()).toEqual([
      'src/index.ts',
      'test/check-me.test.ts',
    ]);
    const program = ts.createProgram(parsed!.fileNames, parsed!.options);
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file === undefined || d.file.fileName.startsWith(r.dir))
      .map((d) => `${d.file ? relative(r.dir, d.file.fileName) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(diagnostics).toEqual([]);
  });
});

describe('CLI arguments', () => {
  it('parses a name, --description and --dry-run', () => {
    expect(parseCliArgs(['quantize'])).toEqual({ name: 'quantize', description: undefined, dryRun: false });
    expect(parseCliArgs(['quantize', '--description', 'Linear quantization.', '--dry-run'])).toEqual({
      name: 'quantize',
      description: 'Linear quantization.',
      dryRun: true,
    });
    expect(parseCliArgs(['--description=Prunes.', 'prune'])).toEqual({ name: 'prune', description: 'Prunes.', dryRun: false });
  });

  it('rejects a missing name, two names, unknown options and a missing description value', () => {
    expect(() => parseCliArgs([])).toThrow('no pass name given');
    expect(() => parseCliArgs(['a', 'b'])).toThrow('one pass name expected, got "a" and "b"');
    expect(() => parseCliArgs(['a', '--force'])).toThrow('unknown option --force');
    expect(() => parseCliArgs(['a', '--description'])).toThrow('--description needs a value');
  });
});
