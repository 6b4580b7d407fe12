/**
 * Generates the TypeScript protobuf code of `@silica/coreml-format` from its `.proto`
 * files (`packages/coreml-format/proto/*.proto` → `packages/coreml-format/src/gen/*_pb.ts`).
 *
 * The compiler is the buf CLI from npm (`@bufbuild/buf`, whose binary ships inside the
 * registry package) driving the protobuf-es plugin (`@bufbuild/protoc-gen-es` 2.13.0,
 * matching the `@bufbuild/protobuf` 2.13.0 runtime the package depends on — 2.14+ needs
 * Node 22). Both are run through `node` by absolute path, so nothing depends on `PATH`.
 *
 * Run from the repository root: `npm run protogen`. The output is committed; a test
 * (`tools/protogen/test/generate.test.ts`) regenerates into a temporary directory and
 * fails when the committed files are stale.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Repository root (tools/protogen/src → ../../..). */
export const REPO_ROOT = resolve(here, '..', '..', '..');
/** Where the schema lives. */
export const PROTO_DIR = join(REPO_ROOT, 'packages', 'coreml-format', 'proto');
/** Where the generated code is committed. */
export const GEN_DIR = join(REPO_ROOT, 'packages', 'coreml-format', 'src', 'gen');

/** protoc-gen-es options: TypeScript output, `.js` import extensions for NodeNext ESM. */
export const PLUGIN_OPTIONS = ['target=ts', 'import_extension=js'] as const;

const require = createRequire(import.meta.url);

function binOf(pkg: string, bin: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'bin', bin);
}

/**
 * Compiles every `.proto` in `protoDir` into `outDir` (which is created; existing files
 * in it are left alone). Returns the generated file names, sorted.
 */
export function generateInto(outDir: string, protoDir: string = PROTO_DIR): string[] {
  mkdirSync(outDir, { recursive: true });
  const template = {
    version: 'v2',
    plugins: [
      {
        local: [process.execPath, binOf('@bufbuild/protoc-gen-es', 'protoc-gen-es')],
        out: '.',
        opt: [...PLUGIN_OPTIONS],
      },
    ],
  };
  execFileSync(
    process.execPath,
    [binOf('@bufbuild/buf', 'buf'), 'generate', protoDir, '--template', JSON.stringify(template), '--output', outDir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return readdirSync(outDir)
    .filter((f) => f.endsWith('_pb.ts'))
    .sort();
}

/**
 * Regenerates `GEN_DIR` from scratch: generates into a temporary directory first, so a
 * failed compile leaves the committed files untouched, then replaces the `*_pb.ts` files.
 */
export function regenerate(): string[] {
  const tmp = mkdtempSync(join(tmpdir(), 'silica-protogen-'));
  try {
    const files = generateInto(tmp);
    if (files.length === 0) throw new Error(`buf generated no files from ${PROTO_DIR}`);
    mkdirSync(GEN_DIR, { recursive: true });
    for (const old of readdirSync(GEN_DIR)) {
      if (old.endsWith('_pb.ts')) rmSync(join(GEN_DIR, old));
    }
    for (const f of files) writeFileSync(join(GEN_DIR, f), readFileSync(join(tmp, f)));
    return files;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const files = regenerate();
  console.log(`protogen: wrote ${files.map((f) => join('packages/coreml-format/src/gen', f)).join(', ')}`);
}
