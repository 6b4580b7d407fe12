/** Test helpers: fixtures, temp dirs, the CLI in-process (collected streams) and as a subprocess. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURES } from '@silica/test-support';
import { afterAll } from 'vitest';
import { runCli } from '../src/cli.js';
import type { CliIO, TextStream } from '../src/ui.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export { FIXTURES };
export const BIN = join(REPO, 'packages', 'cli', 'bin', 'silica.js');

export function fixture(name: string): string {
  return join(FIXTURES, name.endsWith('.mlpackage') || name.includes('.') ? name : `${name}.mlpackage`);
}

/** A temp dir removed after the file's tests. */
export function tempDir(prefix = 'silica-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export class Collector implements TextStream {
  text = '';
  readonly isTTY: boolean;
  readonly columns = 120;
  constructor(tty = false) {
    this.isTTY = tty;
  }
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json<T = Record<string, unknown>>(): T;
}

/** Runs `silica …argv` in this process. */
export async function cli(argv: readonly string[], options: { cwd?: string; tty?: boolean; env?: Record<string, string>; now?: () => number; signal?: AbortSignal } = {}): Promise<CliRun> {
  const stdout = new Collector(options.tty);
  const stderr = new Collector(options.tty);
  const io: CliIO = { stdout, stderr, env: { ...process.env, ...(options.env ?? {}) }, cwd: options.cwd ?? REPO, now: options.now, signal: options.signal };
  const code = await runCli(argv, io);
  return {
    code,
    stdout: stdout.text,
    stderr: stderr.text,
    json: <T>() => JSON.parse(stdout.text) as T,
  };
}

/** Runs `node bin/silica.js …argv` as a subprocess (the way a user does). */
export function spawnCli(argv: readonly string[], options: { cwd?: string; env?: Record<string, string>; timeout?: number } = {}): CliRun {
  const r = spawnSync(process.execPath, [BIN, ...argv], {
    cwd: options.cwd ?? REPO,
    encoding: 'utf8',
    // the source, as CI runs it (a local dist/ may be stale; npm run check:publish runs the built one)
    env: { ...process.env, SILICA_CLI_SOURCE: '1', ...(options.env ?? {}) },
    timeout: options.timeout ?? 120_000,
  });
  if (r.error) throw r.error;
  return {
    code: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    json: <T>() => JSON.parse(r.stdout) as T,
  };
}
