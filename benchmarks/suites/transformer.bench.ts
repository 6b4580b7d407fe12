/**
 * `transformer` suite: the transformer-model rewrites — stateful KV-cache rewrite, SDPA
 * fusion and multifunction merge — on model-sized synthetic programs.
 *
 * The file is shared: each package appends its cases to `cases` in its own section
 * below (one `cases.push(...)` per section, section order = run order, smallest first
 * within a section). The suite runs every case in order and concatenates their rows; the
 * suite description is assembled from the cases' own descriptions. Keep the assembly
 * block at the end of the file.
 */
import type { BenchRow, SuiteContext } from '../lib/bench.js';

export interface TransformerCase {
  /** Short title, used as the heading of the case's description. */
  readonly name: string;
  /** The package whose code the case measures, e.g. `@silica/multifunction-merge`. */
  readonly owner: string;
  /** What the rows measure and on which data (markdown). */
  readonly description: string;
  run(ctx: SuiteContext): BenchRow[] | Promise<BenchRow[]>;
}

/** Every case of the suite, in run order. Sections below append to it. */
export const cases: TransformerCase[] = [];

// ---------------------------------------------------------------------------------------
// (sections of the packages go here, each starting with a comment naming its owner)

// ---------------------------------------------------------------------------------------
// Assembly — keep at the end of the file.

export const description = cases.map((c) => `### ${c.name} (\`${c.owner}\`)\n\n${c.description.trim()}`).join('\n\n');

export default async function suite(ctx: SuiteContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const c of cases) {
    ctx.log(`case: ${c.name}`);
    rows.push(...(await c.run(ctx)));
  }
  return rows;
}
