/** The `silica` executable as a user runs it: a subprocess through bin/silica.js (source through tsx, no build). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../src/version.js';
import { cli, fixture, spawnCli, tempDir } from './helpers.js';

describe('bin/silica.js', { timeout: 180_000 }, () => {
  const dir = tempDir();

  it('--version, --help (with the exit codes), and usage errors exit 2', () => {
    const v = spawnCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toBe(VERSION);
    const h = spawnCli(['--help']);
    expect(h.code).toBe(0);
    for (const c of ['demo', 'inspect', 'compress', 'stateful', 'fuse-sdpa', 'merge', 'run', 'eval', 'pipeline', 'bench']) expect(h.stdout).toContain(`  ${c} `);
    expect(h.stdout).toMatch(/Exit codes:\n\s+0 {2}success/);
    const u = spawnCli(['compres', 'x']);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("unknown command 'compres'");
    expect(u.stderr).toContain('(Did you mean compress?)');
  });

  it('inspect --json is one JSON document on stdout', () => {
    const r = spawnCli(['inspect', fixture('mlp_palette_4bit_kmeans'), '--json']);
    expect(r.code).toBe(0);
    expect(r.json<{ weights: { byKind: { palettized: { count: number } } } }>().weights.byKind.palettized.count).toBe(2);
  });

  it('compress from another working directory: plain progress lines on a pipe, exit 5 when the output exists', () => {
    const args = ['compress', fixture('mlp'), '-o', 'out.mlpackage', '--palettize', '4', '--workers', '0'];
    const r = spawnCli(args, { cwd: dir });
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'out.mlpackage'))).toBe(true);
    expect(r.stderr).toMatch(/\[1\/1\] palettize: 1\/2 weights \(50%\)/);
    expect(r.stderr).not.toContain('\x1b[');
    expect(r.stdout).toContain('compressed weights:');
    const again = spawnCli(args, { cwd: dir });
    expect(again.code).toBe(5);
    expect(again.stderr).toContain('already exists; pass --force to replace it');
    const quiet = spawnCli([...args, '--force', '--quiet'], { cwd: dir });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  });

  it('--verbose shows the stack of an error', () => {
    const r = spawnCli(['inspect', join(dir, 'missing.mlpackage'), '--verbose']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/InputError: input package .* does not exist[\s\S]*at /);
  });

  it('bench --list names the suites of this checkout', () => {
    const r = spawnCli(['bench', '--list']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['interpreter', 'ir']));
  });

  it('Ctrl-C (an aborted signal) stops a command with exit 130', async () => {
    const controller = new AbortController();
    controller.abort(new DOMException('interrupted', 'AbortError'));
    const r = await cli(['compress', fixture('mlp'), '-o', join(dir, 'never.mlpackage'), '--quantize', 'int8'], { signal: controller.signal });
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('interrupted');
    expect(existsSync(join(dir, 'never.mlpackage'))).toBe(false);
  });
});
