/**
 * `silica bench [SUITE…] [--quick] [--list]`: runs the repository's benchmark harness
 * (`benchmarks/run.ts`, each suite in its own process) and prints its table. The
 * benchmarks are part of the Silica repository, not of the npm package: the command
 * looks for them above the working directory and above the CLI itself.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, EXIT, InputError, UsageError } from '../errors.js';
import type { Ui } from '../ui.js';

export interface BenchArgs {
  readonly suites?: readonly string[];
  readonly quick?: boolean;
  readonly list?: boolean;
}

function findUp(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, 'benchmarks', 'run.ts'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The repository root that holds `benchmarks/run.ts`, from `cwd` or from this file. */
export function findBenchmarks(cwd: string): string | undefined {
  return findUp(cwd) ?? findUp(dirname(fileURLToPath(import.meta.url)));
}

function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    throw new InputError('silica bench runs the TypeScript benchmark suites through tsx, which is not installed; run npm ci in the Silica repository');
  }
}

export async function benchCommand(ui: Ui, args: BenchArgs): Promise<Record<string, unknown>> {
  const root = findBenchmarks(ui.io.cwd);
  if (!root) {
    throw new InputError('no benchmarks/run.ts found above the working directory: silica bench runs the benchmark suites of a Silica repository checkout; cd into one (git clone, npm ci) and rerun');
  }
  if (args.list && args.quick) throw new UsageError('--list and --quick do not go together: --list only names the suites');
  if (ui.flags.json && (args.quick || args.list)) throw new UsageError('--json prints the recorded results (benchmarks/results/<suite>.json), which --quick and --list do not write; drop --json');
  const argv = [...(args.suites ?? []), ...(args.quick ? ['--quick'] : []), ...(args.list ? ['--list'] : [])];
  const nodeArgs = ['--conditions=source', '--import', tsxLoader(), join(root, 'benchmarks', 'run.ts'), ...argv];
  ui.info(`running the benchmark harness in ${root}${args.quick ? ' (--quick: small sizes, nothing recorded)' : ''}`);
  let captured = '';
  const code = await new Promise<number>((resolvePromise, reject) => {
    const child = spawn(process.execPath, nodeArgs, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...ui.io.env } });
    const onAbort = (): void => {
      child.kill('SIGINT');
    };
    ui.io.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      captured += s;
      if (!ui.flags.json) ui.io.stdout.write(s);
    });
    child.stderr.on('data', (s: string) => {
      if (!ui.flags.quiet) ui.io.stderr.write(s);
    });
    child.on('error', reject);
    child.on('close', (c, signal) => {
      ui.io.signal?.removeEventListener('abort', onAbort);
      resolvePromise(c ?? (signal ? EXIT.interrupted : EXIT.internal));
    });
  });
  if (code !== 0) {
    if (code === EXIT.interrupted) throw new CliError('benchmarks interrupted', EXIT.interrupted);
    throw new CliError(`the benchmark harness failed (exit ${code}); its output above says which suite`, EXIT.internal);
  }
  const all = args.list ? captured.split('\n').filter(Boolean) : undefined;
  const written = [...captured.matchAll(/wrote (\S+\.json)/g)].map((m) => join(root, m[1].replace(/,$/, '')));
  const results = written.filter(existsSync).map((f) => JSON.parse(readFileSync(f, 'utf8')) as unknown);
  const summary = { command: 'bench', root, ...(all ? { suites: all } : {}), quick: args.quick ?? false, results };
  ui.json(summary);
  return summary;
}
