/**
 * Helpers shared by the workspace's tests and benchmark suites.
 *
 * Depends on `@silica/ir` only, so any package's tests (including `@silica/interpreter`'s
 * and `@silica/mlpackage-reader`'s) can use it without a project-graph cycle. Helpers that
 * need the reader or the interpreter (loading a fixture package, reading its `.npy`
 * files) stay with the tests that use them.
 */
export { FIXTURES, fixturePath } from './fixtures.js';
export { normalFloats, randomFloats, randomWeight } from './random.js';
export { bytesEqual, constOf, ctxFor, inputOf, linearChain, opTypes, program } from './programs.js';
export { runReadmeExample } from './readme.js';
export type { ReadmeExampleRun } from './readme.js';
