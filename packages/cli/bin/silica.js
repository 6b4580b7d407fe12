#!/usr/bin/env node
// The `silica` command. Runs the built CLI (dist/) when there is one; otherwise — in a
// Silica checkout without a build — the TypeScript source through tsx, with the `source`
// export condition so every @silica/* package resolves to its src/ as well.
// SILICA_CLI_SOURCE=1 forces the source even when dist/ exists.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = fileURLToPath(new URL('../dist/entry.js', import.meta.url));
const source = fileURLToPath(new URL('../src/entry.ts', import.meta.url));
const forceSource = process.env.SILICA_CLI_SOURCE === '1';

if (existsSync(dist) && !forceSource) {
  await import(pathToFileURL(dist).href);
} else if (existsSync(source)) {
  let tsx;
  try {
    tsx = import.meta.resolve('tsx');
  } catch {
    process.stderr.write('silica: there is no build (dist/) and tsx is not installed to run the source; run "npm ci" (and "npm run build") in the Silica repository\n');
    process.exit(1);
  }
  const child = spawn(process.execPath, ['--conditions=source', '--import', tsx, source, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  // Ctrl-C reaches the child through the terminal's process group; keep this process alive for its exit code
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal === 'SIGINT' ? 130 : 1);
  });
} else {
  process.stderr.write(`silica: neither ${dist} nor ${source} exists; reinstall @silica/cli\n`);
  process.exit(1);
}
