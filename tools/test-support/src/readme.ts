/**
 * Runs a package README's `## Example` block exactly as the README says to run it
 * (`node --conditions=source --import tsx example.ts` from the repository root), so the
 * example cannot rot. Returns what it printed and what its last `// → …` comment promises.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface ReadmeExampleRun {
  /** The example's trimmed standard output. */
  readonly printed: string;
  /** The text after the block's final `// → ` comment. */
  readonly promised: string;
}

/**
 * `readmeUrl`: the README file; the example is written next to it (`.readme-example-<pid>.ts`)
 * so its relative imports resolve, and removed afterwards. Outputs the example writes under
 * the OS temp folder go to a scratch folder that is deleted too.
 */
export function runReadmeExample(readmeUrl: URL): ReadmeExampleRun {
  const readme = readFileSync(readmeUrl, 'utf8');
  const at = readme.indexOf('## Example');
  if (at < 0) throw new Error(`${fileURLToPath(readmeUrl)} has no "## Example" section`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error(`${fileURLToPath(readmeUrl)}: the Example section has no \`\`\`ts block`);
  const code = block[1];
  const promised = /\/\/ → (.*)\n$/.exec(code);
  if (!promised) throw new Error(`${fileURLToPath(readmeUrl)}: the example's last line is not a "// → expected output" comment`);
  const file = fileURLToPath(new URL(`./.readme-example-${process.pid}.ts`, readmeUrl));
  const scratch = mkdtempSync(join(tmpdir(), 'silica-readme-'));
  writeFileSync(file, code);
  try {
    const out = execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', file], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, TMPDIR: scratch }, // the example's package goes here
    });
    return { printed: out.trim(), promised: promised[1] };
  } finally {
    rmSync(file, { force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}
