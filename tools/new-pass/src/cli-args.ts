/** Command-line arguments of `npm run new-pass` (kept apart from cli.ts so tests can import it). */

export const USAGE = 'usage: npm run new-pass -- <name> [--description "one sentence"] [--dry-run]';

export interface CliArgs {
  readonly name: string;
  readonly description: string | undefined;
  readonly dryRun: boolean;
}

export function parseCliArgs(argv: readonly string[]): CliArgs {
  let name: string | undefined;
  let description: string | undefined;
  let dryRun = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dry-run') dryRun = true;
    else if (a === '--description' || a === '-d') {
      const v = argv[++i];
      if (v === undefined) throw new Error(`--description needs a value\n${USAGE}`);
      description = v;
    } else if (a.startsWith('--description=')) description = a.slice('--description='.length);
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${USAGE}`);
    else if (name !== undefined) throw new Error(`one pass name expected, got "${name}" and "${a}"\n${USAGE}`);
    else name = a;
  }
  if (name === undefined) throw new Error(`no pass name given\n${USAGE}`);
  return { name, description, dryRun };
}
