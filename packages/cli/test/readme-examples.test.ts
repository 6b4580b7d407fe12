/**
 * Workspace check: every package README has a runnable example, and every example runs.
 *
 * A package's example is the first ```ts block under an "Example"/"Usage"/"Quick start"
 * heading (else the first ```ts block). A package whose own tests already run its README
 * example (a test that mentions the README and runs code with `--conditions=source` or
 * from `examples/`) is not run again here; every other example is run here, as its README
 * says to run one — `node --conditions=source --import tsx example.ts` — in a scratch
 * folder laid out like the repository (`../shared/fixtures` resolves, the workspace's
 * node_modules is linked), with the packages it reads by bare name (`Model.mlpackage`)
 * copied from a fixture. When the README shows what the example prints (a "prints" block
 * right after it), the output must be exactly that; a closing `// → …` comment must be
 * what the last line prints.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, REPO } from './helpers.js';

const PACKAGES = join(REPO, 'packages');

interface Example {
  readonly pkg: string;
  readonly code: string;
  /** What the README says it prints, when it says. */
  readonly prints?: string;
  /** What its last line prints, from a closing `// → …` comment. */
  readonly last?: string;
}

/** The example block of a README (see the module comment). */
export function exampleOf(pkg: string, readme: string): Example | undefined {
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)];
  if (blocks.length === 0) return undefined;
  const heading = /^#{2,3} .*(Example|Usage|Quick start|Node API)/im.exec(readme);
  const chosen = (heading && blocks.find((b) => b.index! > heading.index)) || blocks[0];
  const after = readme.slice(chosen.index! + chosen[0].length);
  const prints = /^\s*\n?prints\s*\n\s*```\w*\n([\s\S]*?)```/.exec(after);
  const last = /\/\/ → (.*)\n$/.exec(chosen[1]);
  return { pkg, code: chosen[1], prints: prints?.[1], last: last?.[1] };
}

/** Test files of the package that run its README example themselves. */
function ownTests(pkg: string, readme: string): string[] {
  const dir = join(PACKAGES, pkg, 'test');
  if (!existsSync(dir)) return [];
  const examples = [...readme.matchAll(/examples\/([\w-]+)\.ts/g)].map((m) => m[1]);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts') && !(pkg === 'cli' && f === 'readme-examples.test.ts')) // this check does not count as its own test
    .filter((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      const runsReadme = /README/.test(text) && /--conditions=source/.test(text);
      const runsExample = examples.some((e) => text.includes(`examples/${e}`));
      return runsReadme || runsExample;
    });
}

const packages = readdirSync(PACKAGES).filter((p) => existsSync(join(PACKAGES, p, 'package.json')));

const scratch = mkdtempSync(join(tmpdir(), 'silica-readmes-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The fixture behind a bare package name an example reads. */
function fixtureFor(name: string): string {
  const stem = name.replace(/\.mlpackage$/, '');
  if (existsSync(join(FIXTURES, name))) return join(FIXTURES, name);
  if (/kv|decoder/i.test(stem)) return join(FIXTURES, 'kv_cache_io.mlpackage');
  return join(FIXTURES, 'mlp.mlpackage');
}

function runExample(ex: Example): { status: number | null; stdout: string; stderr: string } {
  const root = join(scratch, ex.pkg);
  const work = join(root, 'work');
  mkdirSync(work, { recursive: true });
  symlinkSync(join(REPO, '..', 'shared'), join(root, 'shared'));
  symlinkSync(join(REPO, 'node_modules'), join(work, 'node_modules'));
  writeFileSync(join(work, 'package.json'), '{ "private": true, "type": "module" }\n'); // ESM, as in the repository
  for (const m of ex.code.matchAll(/readMLPackage(?:Sync)?\(\s*'([^'/]+\.mlpackage)'/g)) {
    if (!existsSync(join(work, m[1]))) cpSync(fixtureFor(m[1]), join(work, m[1]), { recursive: true });
  }
  for (const m of ex.code.matchAll(/'([^'/]+\.npz)'/g)) {
    if (existsSync(join(FIXTURES, m[1]))) cpSync(join(FIXTURES, m[1]), join(work, m[1]));
  }
  writeFileSync(join(work, 'example.ts'), ex.code);
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'example.ts'], {
    cwd: work,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, TMPDIR: join(root, 'tmp') },
  });
  mkdirSync(join(root, 'tmp'), { recursive: true });
  // absolute /tmp outputs some examples write
  for (const m of ex.code.matchAll(/'(\/tmp\/[^']+\.mlpackage)'/g)) rmSync(m[1], { recursive: true, force: true });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('package READMEs', () => {
  it('every package has a README with a ```ts example', () => {
    const missing = packages.filter((p) => {
      const file = join(PACKAGES, p, 'README.md');
      return !existsSync(file) || !exampleOf(p, readFileSync(file, 'utf8'));
    });
    expect(missing, 'packages whose README has no ```ts example block').toEqual([]);
  });

  for (const pkg of packages) {
    const file = join(PACKAGES, pkg, 'README.md');
    if (!existsSync(file)) continue;
    const readme = readFileSync(file, 'utf8');
    const ex = exampleOf(pkg, readme);
    if (!ex) continue;
    const own = ownTests(pkg, readme);
    if (own.length > 0) {
      it(`${pkg}: its example is run by its own tests (${own.join(', ')})`, () => {
        expect(own.length).toBeGreaterThan(0);
      });
      continue;
    }
    it(`${pkg}: the README example runs${ex.prints ? ' and prints what the README shows' : ''}`, () => {
      mkdirSync(join(scratch, pkg, 'tmp'), { recursive: true });
      const r = runExample(ex);
      expect(r.stderr, `${pkg} example stderr`).not.toMatch(/Error|error:/);
      expect(r.status, `${pkg} example exit code; stderr:\n${r.stderr}`).toBe(0);
      if (ex.prints) expect(r.stdout.trim()).toBe(ex.prints.trim());
      if (ex.last) expect(r.stdout.trim().split('\n').pop()).toBe(ex.last.trim());
    }, 240_000);
  }
});
