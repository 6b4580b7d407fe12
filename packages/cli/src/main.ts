/**
 * The process entry of `silica` (loaded by bin/silica.js, from dist/ or through tsx from
 * src/): Ctrl-C cancels the running command between units of work (exit 130); a second
 * Ctrl-C exits at once.
 */
import { runCli } from './cli.js';

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write('\ninterrupting… (press Ctrl-C again to exit at once)\n');
    controller.abort(new DOMException('interrupted', 'AbortError'));
  };
  process.on('SIGINT', onSigint);
  try {
    const code = await runCli(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), signal: controller.signal });
    process.exitCode = code;
    return code;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
