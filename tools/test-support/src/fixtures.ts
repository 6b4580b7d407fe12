import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The shared coremltools fixtures: `shared/fixtures/` beside the repository root (absolute, with a trailing separator). */
export const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/', import.meta.url));

/** The absolute path of `name` (a file or package, e.g. `"linear.mlpackage"`) under {@link FIXTURES}. */
export function fixturePath(name: string): string {
  return join(FIXTURES, name);
}
