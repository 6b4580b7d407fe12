/**
 * `npm run new-pass -- <name> [--description "…"] [--dry-run]`
 *
 * Scaffolds packages/<name>/ (see generate.ts). With --dry-run, prints every file it
 * would write and writes nothing.
 */
import { fileURLToPath } from 'node:url';
import { USAGE, parseCliArgs } from './cli-args.js';
import { generatePassPackage } from './generate.js';

function main(): number {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  try {
    const args = parseCliArgs(argv);
    const r = generatePassPackage({ name: args.name, root, description: args.description, dryRun: args.dryRun });
    if (args.dryRun) {
      for (const f of r.files) process.stdout.write(`--- ${f.path}\n${f.content}${f.content.endsWith('\n') || f.content === '' ? '' : '\n'}`);
      process.stdout.write(`\n(dry run: nothing written)\n`);
    } else {
      for (const f of r.files) process.stdout.write(`created ${f.path}\n`);
      process.stdout.write(`\nNext: run \`npm install\` to link @silica/${args.name} into the workspace, then \`npm test\`.\n`);
    }
    return 0;
  } catch (e) {
    process.stderr.write(`new-pass: ${(e as Error).message}\n`);
    return 1;
  }
}

process.exitCode = main();
