/**
 * Dead-code elimination: removes every op whose results reach neither a function output
 * nor a side effect (`write_state`, ops without outputs), nested blocks included. Built
 * on the graphology data-flow view (`reachableFromOutputs`).
 *
 * ```
 * func @main(%x: fp16[4]) -> (fp16[4]) {          func @main(%x: fp16[4]) -> (fp16[4]) {
 *   %a = relu(x = %x) : fp16[4]                      %a = relu(x = %x) : fp16[4]
 *   %w = const() {val = …} : fp16[4]          ->   } -> (%a)
 *   %dead = add(x = %x, y = %w) : fp16[4]
 * } -> (%a)
 * ```
 *
 * Function inputs are kept even when unused (the signature does not change).
 */
import type { Function as Fn, Op, Program } from './ir.js';
import type { Pass, PassContext, PassResult } from './pass.js';
import { reachableFromOutputs } from './graph.js';
import { eraseOp } from './pattern.js';

/** Removes the dead ops of `fn`; returns how many were removed (nested ones included). */
export function eliminateDeadCode(fn: Fn): number {
  const live = reachableFromOutputs(fn, { sideEffects: true });
  const all = [...fn.walk()];
  const dead = new Set(all.filter((op) => !live.has(op)));
  let removed = 0;
  // users come after producers: erase from the back, so every dead op's outputs are unused
  // by the time it is erased. Ops nested in a dead op go with it.
  for (let i = all.length - 1; i >= 0; i--) {
    const op = all[i];
    if (!dead.has(op) || insideDead(op, dead)) continue;
    removed += 1 + countNested(op);
    eraseOp(op);
  }
  return removed;
}

function insideDead(op: Op, dead: ReadonlySet<Op>): boolean {
  for (let p = op.parent?.parentOp ?? null; p; p = p.parent?.parentOp ?? null) if (dead.has(p)) return true;
  return false;
}

function countNested(op: Op): number {
  let n = 0;
  for (const b of op.blocks) for (const _ of b.walk()) n++;
  return n;
}

export interface DeadCodeEliminationOptions {
  /** Only these functions (default: all). */
  readonly functions?: readonly string[];
}

/** The dead-code-elimination pass: stats `{ removed }`; establishes `no-dead-code`. */
export function deadCodeElimination(options: DeadCodeEliminationOptions = {}): Pass {
  const only = options.functions ? new Set(options.functions) : undefined;
  return {
    name: 'dead-code-elimination',
    establishes: ['no-dead-code'],
    run(program: Program, ctx: PassContext): PassResult {
      const fns = [...program.functions.values()].filter((f) => !only || only.has(f.name));
      if (only) {
        const missing = [...only].filter((n) => !program.functions.has(n));
        if (missing.length > 0) {
          throw new Error(`dead-code-elimination: no function named ${missing.map((n) => `"${n}"`).join(', ')} (functions: ${[...program.functions.keys()].join(', ')})`);
        }
      }
      let removed = 0;
      fns.forEach((fn, i) => {
        ctx.throwIfAborted();
        removed += eliminateDeadCode(fn);
        ctx.progress(i + 1, fns.length, fn.name);
      });
      return { changed: removed > 0, stats: { removed } };
    },
  };
}

export default deadCodeElimination;
