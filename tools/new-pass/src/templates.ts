/**
 * The files of a new pass package (STYLE.md "Package layout"). Each function returns a
 * file's full text; `generate.ts` decides where it goes.
 */

export interface TemplateInput {
  /** Package folder and pass name, kebab-case: `sdpa-fusion`. */
  readonly name: string;
  /** The factory's identifier, camelCase: `sdpaFusion`. */
  readonly factory: string;
  /** The options interface name, PascalCase + `Options`: `SdpaFusionOptions`. */
  readonly optionsType: string;
  /** One sentence: what the pass does. */
  readonly description: string;
  /** The version range of @silica/ir to depend on, e.g. `^0.1.0`. */
  readonly irRange: string;
  /** Fields copied from packages/ir/package.json so every package says the same. */
  readonly license: string;
  readonly engines: Readonly<Record<string, string>>;
}

export function packageJson(t: TemplateInput): string {
  const pkg = {
    name: `@silica/${t.name}`,
    version: '0.0.0',
    description: t.description,
    license: t.license,
    type: 'module',
    sideEffects: false,
    main: './dist/index.js',
    types: './dist/index.d.ts',
    exports: {
      '.': {
        source: './src/index.ts',
        types: './dist/index.d.ts',
        default: './dist/index.js',
      },
      './package.json': './package.json',
    },
    files: ['dist', 'src', 'README.md'],
    engines: t.engines,
    scripts: {
      build: 'tsc -p tsconfig.build.json',
      test: `vitest run --root ../.. packages/${t.name}/`,
    },
    dependencies: {
      '@silica/ir': t.irRange,
    },
  };
  return JSON.stringify(pkg, null, 2) + '\n';
}

export function tsconfigBuild(): string {
  return (
    JSON.stringify(
      {
        extends: '../../tsconfig.base.json',
        compilerOptions: { rootDir: 'src', outDir: 'dist', customConditions: [] },
        include: ['src/**/*.ts'],
      },
      null,
      2,
    ) + '\n'
  );
}

export function indexTs(t: TemplateInput): string {
  return `/**
 * @silica/${t.name} — ${t.description}
 *
 * STYLE.md: a pass's module comment shows the graph before and after, in the text form
 * of \`printProgram\`, and cites the reference section the rewrite relies on
 * (\`mil-ops.md §…\`, \`mlpackage-format.md §…\`). Replace the two graphs below with the
 * pattern this pass matches and what it turns it into.
 *
 * Before:
 *
 * \`\`\`
 * func @main(%x: fp32[1, 4]) -> (fp32[1, 4]) {
 *   %y = relu(x = %x) : fp32[1, 4]
 * } -> (%y)
 * \`\`\`
 *
 * After (the skeleton changes nothing; it counts the ops it would rewrite):
 *
 * \`\`\`
 * func @main(%x: fp32[1, 4]) -> (fp32[1, 4]) {
 *   %y = relu(x = %x) : fp32[1, 4]
 * } -> (%y)
 * \`\`\`
 */
import type { Pass } from '@silica/ir';

export interface ${t.optionsType} {
  /** Op types the pass looks at (default: every op). */
  readonly opTypes?: readonly string[];
}

/**
 * Creates the \`${t.name}\` pass. Options are checked here, when the pass is built, so a
 * bad option fails before any program is read.
 */
export default function ${t.factory}(options: ${t.optionsType} = {}): Pass {
  const opTypes = options.opTypes === undefined ? undefined : new Set(options.opTypes);
  for (const type of opTypes ?? []) {
    if (typeof type !== 'string' || type === '') {
      throw new Error(\`${t.name}: opTypes must be non-empty op type names, got \${JSON.stringify(type)}\`);
    }
  }
  return {
    name: '${t.name}',
    run(program, ctx) {
      let visited = 0;
      for (const op of program.allOps()) {
        ctx.throwIfAborted();
        if (opTypes && !opTypes.has(op.type)) continue;
        visited++;
      }
      return { changed: false, stats: { visited } };
    },
  };
}
`;
}

export function testTs(t: TemplateInput): string {
  return `import { describe, expect, it } from 'vitest';
import { Function, Op, Program, createPassContext, pipeline, tensorType } from '@silica/ir';
import ${t.factory} from '../src/index.js';

/** main(x: fp32[1, 4]) -> relu(x) */
function reluProgram(): Program {
  const program = new Program('iOS18');
  const fn = program.addFunction(new Function('main', [{ name: 'x', type: tensorType('fp32', [1, 4]) }]));
  const relu = fn.block.append(
    new Op({ type: 'relu', inputs: { x: fn.inputs[0] }, outputs: [{ name: 'y', type: tensorType('fp32', [1, 4]) }] }),
  );
  fn.block.setOutputs([relu.output]);
  return program;
}

describe('${t.name}', () => {
  it('is named ${t.name}', () => {
    expect(${t.factory}().name).toBe('${t.name}');
  });

  it('rejects invalid options when the pass is built', () => {
    expect(() => ${t.factory}({ opTypes: [''] })).toThrow('${t.name}: opTypes must be non-empty op type names, got ""');
  });

  it('counts the ops of the selected types and leaves the program unchanged', async () => {
    const program = reluProgram();
    const ctx = createPassContext({ target: program.target });
    expect(await ${t.factory}({ opTypes: ['relu'] }).run(program, ctx)).toEqual({ changed: false, stats: { visited: 1 } });
    expect(await ${t.factory}({ opTypes: ['conv'] }).run(program, ctx)).toEqual({ changed: false, stats: { visited: 0 } });
  });

  it('runs in a pipeline', async () => {
    const program = reluProgram();
    const { report } = await pipeline([${t.factory}()]).runWithReport(program);
    expect(report.map((r) => [r.pass, r.changed])).toEqual([['${t.name}', false]]);
  });
});
`;
}

export function readme(t: TemplateInput): string {
  return `# @silica/${t.name}

${t.description}

A Silica pass: a factory that takes typed options and returns a \`Pass\` to run on an IR
\`Program\` (see \`@silica/ir\`), alone or in a \`pipeline([...])\`.

## Usage

\`\`\`ts
import { pipeline } from '@silica/ir';
import ${t.factory} from '@silica/${t.name}';

// program: an IR Program, e.g. read with @silica/mlpackage-reader or built with the builder
const out = await pipeline([${t.factory}({ opTypes: ['relu'] })]).run(program);
\`\`\`

## Options

| option | type | default | meaning |
|---|---|---|---|
| \`opTypes\` | \`string[]\` | every op | op types the pass looks at |

## Before and after

Before:

\`\`\`
func @main(%x: fp32[1, 4]) -> (fp32[1, 4]) {
  %y = relu(x = %x) : fp32[1, 4]
} -> (%y)
\`\`\`

After:

\`\`\`
func @main(%x: fp32[1, 4]) -> (fp32[1, 4]) {
  %y = relu(x = %x) : fp32[1, 4]
} -> (%y)
\`\`\`

## Statistics

| stat | meaning |
|---|---|
| \`visited\` | ops of the selected types the pass looked at |

## Tests

\`npm test\` at the repository root runs them; \`test/fixtures/<case>/\` holds
\`input.sil\`, \`output.sil\` and \`options.json\` per golden case (STYLE.md).
`;
}
