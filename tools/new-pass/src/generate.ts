/**
 * `generatePassPackage` — scaffolds `packages/<name>/` with the layout of STYLE.md
 * "Package layout": package.json, tsconfig.build.json, src/index.ts (a default-export
 * factory `(options) => Pass`), test/<name>.test.ts, test/fixtures/.gitkeep, README.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type TemplateInput, indexTs, packageJson, readme, testTs, tsconfigBuild } from './templates.js';

export interface GenerateOptions {
  /** Kebab-case package name without the scope: `sdpa-fusion` → `@silica/sdpa-fusion`. */
  readonly name: string;
  /** The workspace root (holds `packages/ir/package.json`). */
  readonly root: string;
  /** One sentence for package.json, the README and the module comment. */
  readonly description?: string;
  /** Return the files without writing them. */
  readonly dryRun?: boolean;
}

export interface GeneratedFile {
  /** Path relative to the workspace root, with `/` separators. */
  readonly path: string;
  readonly content: string;
}

export interface GenerateResult {
  /** The package folder, absolute. */
  readonly dir: string;
  readonly files: readonly GeneratedFile[];
  readonly written: boolean;
}

/** Words that cannot be a function name (the factory is named after the package). */
const RESERVED = new Set(
  (
    'await break case catch class const continue debugger default delete do else enum export extends false finally for ' +
    'function if implements import in instanceof interface let new null package private protected public return static ' +
    'super switch this throw true try typeof var void while with yield arguments eval'
  ).split(' '),
);

const NAME_RE = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const MAX_NAME = 50;

/** Why `name` cannot name a pass package, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  if (name === '') return 'the pass name is empty';
  if (name.length > MAX_NAME) return `"${name}" is longer than ${MAX_NAME} characters`;
  if (!NAME_RE.test(name)) {
    return `"${name}" is not a valid pass name: use kebab-case — lowercase letters and digits in words joined by single hyphens, starting with a letter (e.g. "sdpa-fusion")`;
  }
  const factory = camelCase(name);
  if (RESERVED.has(factory)) return `"${name}" would name the factory \`${factory}\`, a JavaScript reserved word; choose another name`;
  return undefined;
}

/** `sdpa-fusion` → `sdpaFusion`. */
export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `sdpa-fusion` → `SdpaFusion`. */
export function pascalCase(name: string): string {
  const c = camelCase(name);
  return c.charAt(0).toUpperCase() + c.slice(1);
}

interface IrFacts {
  readonly version: string;
  readonly license: string;
  readonly engines: Readonly<Record<string, string>>;
}

function readIrPackage(root: string): IrFacts {
  const path = join(root, 'packages', 'ir', 'package.json');
  if (!existsSync(path)) {
    throw new Error(`${root} does not look like the Silica workspace root: ${path} is missing`);
  }
  const pkg = JSON.parse(readFileSync(path, 'utf8')) as { version?: string; license?: string; engines?: Record<string, string> };
  if (typeof pkg.version !== 'string') throw new Error(`${path} has no version`);
  return { version: pkg.version, license: pkg.license ?? 'MIT', engines: pkg.engines ?? { node: '>=20.19' } };
}

/** The files of the package, relative to the workspace root. */
export function passPackageFiles(input: TemplateInput): GeneratedFile[] {
  const base = `packages/${input.name}`;
  return [
    { path: `${base}/package.json`, content: packageJson(input) },
    { path: `${base}/tsconfig.build.json`, content: tsconfigBuild() },
    { path: `${base}/src/index.ts`, content: indexTs(input) },
    { path: `${base}/test/${input.name}.test.ts`, content: testTs(input) },
    { path: `${base}/test/fixtures/.gitkeep`, content: '' },
    { path: `${base}/README.md`, content: readme(input) },
  ];
}

/**
 * Creates `packages/<name>/` under `root`. Throws, writing nothing, when the name is
 * invalid or the folder already exists.
 */
export function generatePassPackage(options: GenerateOptions): GenerateResult {
  const { name, root } = options;
  const problem = nameProblem(name);
  if (problem) throw new Error(problem);
  const dir = join(root, 'packages', name);
  if (existsSync(dir)) throw new Error(`packages/${name} already exists (${dir}); choose another name or remove it first`);
  const ir = readIrPackage(root);
  const description = (options.description ?? `The ${name} pass for Silica programs.`).trim();
  if (description === '' || description.includes('\n')) throw new Error('the description must be one non-empty line');
  const files = passPackageFiles({
    name,
    factory: camelCase(name),
    optionsType: `${pascalCase(name)}Options`,
    description,
    irRange: `^${ir.version}`,
    license: ir.license,
    engines: ir.engines,
  });
  if (options.dryRun) return { dir, files, written: false };
  for (const f of files) {
    const abs = join(root, f.path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, f.content, { flag: 'wx' });
  }
  return { dir, files, written: true };
}
