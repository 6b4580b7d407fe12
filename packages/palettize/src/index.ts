/**
 * @silica/palettize — Palettization of Core ML weights: optimal 1-D k-means, vector k-means, uniform, unique and custom LUTs; per-tensor or per-grouped-channel; 1/2/3/4/6/8 bits; per-channel scale; joint prune/quantize chains
 *
 * STYLE.md: a pass's module comment shows the graph before and after, in the text form
 * of `printProgram`, and cites the reference section the rewrite relies on
 * (`mil-ops.md §…`, `mlpackage-format.md §…`). Replace the two graphs below with the
 * pattern this pass matches and what it turns it into.
 *
 * Before:
 *
 * ```
 * func @main(%x: fp32[1, 4]) -> (fp32[1, 4]) {
 *   %y = relu(x = %x) : fp32[1, 4]
 * } -> (%y)
 * ```
 *
 * After (the skeleton changes nothing; it counts the ops it would rewrite):
 *
 * ```
 * func @main(%x: fp32[1, 4]) -> (fp32[1, 4]) {
 *   %y = relu(x = %x) : fp32[1, 4]
 * } -> (%y)
 * ```
 */
import type { Pass } from '@silica/ir';

export interface PalettizeOptions {
  /** Op types the pass looks at (default: every op). */
  readonly opTypes?: readonly string[];
}

/**
 * Creates the `palettize` pass. Options are checked here, when the pass is built, so a
 * bad option fails before any program is read.
 */
export default function palettize(options: PalettizeOptions = {}): Pass {
  const opTypes = options.opTypes === undefined ? undefined : new Set(options.opTypes);
  for (const type of opTypes ?? []) {
    if (typeof type !== 'string' || type === '') {
      throw new Error(`palettize: opTypes must be non-empty op type names, got ${JSON.stringify(type)}`);
    }
  }
  return {
    name: 'palettize',
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
