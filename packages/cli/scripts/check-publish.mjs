#!/usr/bin/env node
// `npm run check:publish`: what npm would publish, checked — every workspace package is
// built (nx, cached), then
//   1. publint (package.json fields, exports, files that would be published),
//   2. @arethetypeswrong/cli on the packed tarball (types resolve for ESM consumers;
//      profile esm-only: these packages are ESM-only, CommonJS `require` is not a target),
//   3. the built `silica` executable (dist/, no tsx, no source condition) runs.
// Exits 1 when any package has a publint error or warning, an attw problem, or the smoke
// run fails. `--no-build` skips the build (dist/ must be there).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const args = process.argv.slice(2);
const build = !args.includes('--no-build');

function run(cmd, argv, options = {}) {
  const r = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', ...options });
  if (r.error) throw r.error;
  return r;
}

// the tools' own engines must accept this Node (the project supports ≥ 20.19)
for (const tool of ['publint', '@arethetypeswrong/cli']) {
  const pkg = JSON.parse(readFileSync(join(root, 'node_modules', tool, 'package.json'), 'utf8'));
  const min = /^>=\s*(\d+)(?:\.(\d+))?/.exec(pkg.engines?.node ?? '>=0');
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (min && (major < Number(min[1]) || (major === Number(min[1]) && minor < Number(min[2] ?? 0)))) {
    console.error(`${tool} ${pkg.version} needs Node ${pkg.engines.node}, this is ${process.version}`);
    process.exit(1);
  }
  console.log(`${tool} ${pkg.version} (engines: node ${pkg.engines?.node ?? 'any'})`);
}

if (build) {
  console.log('building every package (npx nx run-many -t build)…');
  const b = run(process.execPath, [join(root, 'node_modules', 'nx', 'bin', 'nx.js'), 'run-many', '-t', 'build', '--outputStyle=static'], { stdio: 'inherit' });
  if (b.status !== 0) {
    console.error('the build failed; fix it first (npm run build)');
    process.exit(1);
  }
}

const packagesDir = join(root, 'packages');
const packages = readdirSync(packagesDir).filter((p) => existsSync(join(packagesDir, p, 'package.json'))).sort();
const attw = join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');
const rows = [];
let failed = 0;
for (const name of packages) {
  const dir = join(packagesDir, name);
  const pkgJson = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (pkgJson.private) continue;
  const problems = [];
  if (!existsSync(join(dir, 'dist'))) problems.push('no dist/: the build did not produce it');
  const { messages, pkg } = await publint({ pkgDir: dir, pack: 'npm' });
  for (const m of messages) {
    const text = `publint ${m.type}: ${formatMessage(m, pkg, { color: false })}`;
    if (m.type === 'suggestion') console.log(`  ${pkgJson.name}: ${text}`);
    else problems.push(text);
  }
  const a = run(process.execPath, [attw, '--pack', dir, '--profile', 'esm-only', '--format', 'table-flipped', '--no-color']);
  if (a.status !== 0) problems.push(`attw:\n${(a.stdout + a.stderr).trim()}`);
  rows.push([pkgJson.name, messages.filter((m) => m.type !== 'suggestion').length === 0 ? 'ok' : 'problems', a.status === 0 ? 'ok' : 'problems']);
  if (problems.length > 0) {
    failed++;
    console.error(`\n${pkgJson.name}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

// the built executable, as an installed package runs it
const env = { ...process.env };
delete env.SILICA_CLI_SOURCE;
const smoke = [
  ['--version'],
  ['inspect', join(root, '..', 'shared', 'fixtures', 'mlp.mlpackage'), '--json'],
];
let cliOk = true;
for (const argv of smoke) {
  const r = run(process.execPath, [join(packagesDir, 'cli', 'bin', 'silica.js'), ...argv], { env });
  const ok = r.status === 0 && (argv[0] !== 'inspect' || JSON.parse(r.stdout).weights.count === 4);
  if (!ok) {
    cliOk = false;
    failed++;
    console.error(`\nbuilt silica ${argv.join(' ')} failed (exit ${r.status}):\n${r.stderr}`);
  }
}

const width = Math.max(...rows.map((r) => r[0].length));
console.log(`\n${'package'.padEnd(width)}  publint   attw`);
for (const [n, p, t] of rows) console.log(`${n.padEnd(width)}  ${p.padEnd(8)}  ${t}`);
console.log(`built silica executable: ${cliOk ? 'ok' : 'FAILED'}`);
console.log(failed === 0 ? `\n${rows.length} packages pass publint and attw` : `\n${failed} problem(s); see above`);
process.exit(failed === 0 ? 0 : 1);
