/**
 * Runnable example: turn the explicit KV cache of coremltools' kv_cache_io fixture into
 * Core ML states, write the package, and run a few decode steps in the interpreter.
 *
 *   node --conditions=source --import tsx packages/stateful-rewrite/examples/kv-cache.ts [in.mlpackage] [out.mlpackage]
 *
 * (from the repository root; defaults: ../shared/fixtures/kv_cache_io.mlpackage and a
 * temporary output folder).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from '@silica/ir';
import { createSession } from '@silica/interpreter';
import { readMLPackage } from '@silica/mlpackage-reader';
import { writeMLPackage } from '@silica/mlpackage-writer';
import statefulRewrite from '@silica/stateful-rewrite';

const input = resolve(process.argv[2] ?? '../shared/fixtures/kv_cache_io.mlpackage');
const output = resolve(process.argv[3] ?? join(mkdtempSync(join(tmpdir(), 'silica-')), 'kv_cache_stateful.mlpackage'));

const program = await readMLPackage(input);
const { report } = await pipeline([statefulRewrite({ padTo: 32 })]).runWithReport(program);
console.log('stateful-rewrite:', report[0].stats, report[0].warnings);
for (const fn of program.functions.values()) {
  const states = fn.inputs.filter((v) => v.type.kind === 'state').map((v) => v.name);
  console.log(`function ${fn.name}: states ${states.join(', ')}; outputs ${fn.outputs.map((v) => v.name).join(', ')}`);
}
const written = await writeMLPackage(program, output);
console.log(`wrote ${written.path} (spec ${written.specificationVersion})`);

// decode four tokens: the caches live in the session
const session = createSession(program);
for (let pos = 0; pos < 4; pos++) {
  const y = session.predict({
    x: { shape: [1, 1, 256], data: new Float32Array(256).map((_, i) => Math.sin(i + pos)) },
    pos: { shape: [1], data: [pos] },
    mask: { shape: [1, 1, 1, 32], data: new Float32Array(32).map((_, j) => (j <= pos ? 0 : -30000)) },
  }).y;
  console.log(`pos ${pos}: y[0..3] = ${Array.from(y.data.slice(0, 4), (v) => v.toFixed(4)).join(', ')}`);
}
