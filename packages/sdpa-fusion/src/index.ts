/**
 * @silica/sdpa-fusion — decomposed attention ⇄ `scaled_dot_product_attention`
 * (mil-ops.md §4).
 *
 * * `sdpaFusion()` (default export, iOS18+): every
 *   `matmul(softmax(add(mul(matmul(q, k, transpose_y = true), c), mask)), v)` — with the
 *   scale on q, on k or on the scores, `mul` or `real_div`, an explicit transpose of k, a
 *   float or bool-converted mask, broadcasting batch dims — becomes one
 *   `scaled_dot_product_attention`. See fusion.ts and match.ts for the graphs.
 * * `sdpaLowering()`: the inverse, exactly as coremltools decomposes SDPA for targets
 *   below iOS18; optionally retargets the program (lowering.ts).
 * * `sdpaSlicedQ()`: coremltools' `scaled_dot_product_attention_sliced_q` — long-Q SDPA
 *   computed in chunks of Q (sliced-q.ts).
 *
 * Before:
 *
 * ```
 * func @main(%q: fp32[2, 8, 64], %k: fp32[2, 8, 64], %v: fp32[2, 8, 64], %mask: fp32[8, 8]) -> (fp32[2, 8, 64]) {
 *   %c = const() {val = 0.125} : fp32[]
 *   %qs = mul(x = %q, y = %c) : fp32[2, 8, 64]
 *   %s = matmul(x = %qs, y = %k, transpose_y = %t) : fp32[2, 8, 8]
 *   %a = add(x = %s, y = %mask) : fp32[2, 8, 8]
 *   %p = softmax(x = %a, axis = %ax) : fp32[2, 8, 8]
 *   %o = matmul(x = %p, y = %v) : fp32[2, 8, 64]
 * } -> (%o)
 * ```
 *
 * After `sdpaFusion()`:
 *
 * ```
 * func @main(%q: fp32[2, 8, 64], %k: fp32[2, 8, 64], %v: fp32[2, 8, 64], %mask: fp32[8, 8]) -> (fp32[2, 8, 64]) {
 *   %o = scaled_dot_product_attention(query = %q, key = %k, value = %v, attn_mask = %mask) : fp32[2, 8, 64]
 * } -> (%o)
 * ```
 */
import {
  type Pass,
  type PassContext,
  type PassResult,
  type Program,
  type Target,
  TARGETS,
  applyRules,
  collectProblems,
  compareTargets,
  targetAtLeast,
} from '@silica/ir';
import { checkOptionKeys, functionsOption, selectFunctions } from './common.js';
import { fusionRule, newFusionCounters } from './fusion.js';
import { loweringRule } from './lowering.js';
import { slicedQRule } from './sliced-q.js';

export { matchAttention, BOOL_MASK_FILL_LIMIT } from './match.js';
export type { AttentionMatch, MaskMatch, MatchOptions, Rebind } from './match.js';
export { BOOL_MASK_FILL } from './lowering.js';
export { splitToChunks } from './sliced-q.js';

/** SDPA exists from iOS18 (mil-ops.md §4). */
export const SDPA_MINIMUM_TARGET: Target = 'iOS18';

export interface SdpaFusionOptions {
  /**
   * Turn a bool mask that was made additive as `(1 - cast(m)) * -3e4` (or
   * `cast(logical_not(m)) * -3e4`; any fill ≤ -1e4) back into the bool `m` for the fused
   * op (default true). With false the additive mask is passed as a float mask.
   */
  readonly recoverBoolMasks?: boolean;
  /** Only these functions (default: every function). */
  readonly functions?: readonly string[];
}

export interface SdpaLoweringOptions {
  /**
   * Deployment target of the result. When older than the program's, the program is
   * retargeted after the lowering; every other op must be valid at that target, which is
   * checked before anything changes. Default: keep the program's target.
   */
  readonly target?: Target;
  /** Only these functions (default: every function; not allowed with a `target` below iOS18). */
  readonly functions?: readonly string[];
}

export interface SdpaSlicedQOptions {
  /** Only SDPA ops whose query length L is at least this are rewritten (default 1280, coremltools' default). */
  readonly minSeqLength?: number;
  /** Number of Q chunks (default 16); chunk sizes are ⌊L / n⌋, the first L mod n one longer. */
  readonly seqLengthDivider?: number;
  /** Only these functions (default: every function). */
  readonly functions?: readonly string[];
}

function requireTarget(pass: string, program: Program): void {
  if (!targetAtLeast(program.target, SDPA_MINIMUM_TARGET)) {
    throw new Error(
      `${pass}: scaled_dot_product_attention needs deployment target ${SDPA_MINIMUM_TARGET} or newer, but the program targets ${program.target}; raise the program's target to ${SDPA_MINIMUM_TARGET}, or keep the decomposed attention`,
    );
  }
}

/**
 * Creates the `sdpa-fusion` pass: decomposed attention → `scaled_dot_product_attention`.
 * Needs iOS18. Statistics: `fused` (blocks replaced), `boolMasks` / `floatMasks` (masks
 * handed to the fused op), `scaled` (a non-default scale folded into q), `tiled` (q/k/v
 * operands tiled to common batch dims).
 */
export default function sdpaFusion(options: SdpaFusionOptions = {}): Pass {
  const pass = 'sdpa-fusion';
  checkOptionKeys(pass, options, ['recoverBoolMasks', 'functions']);
  const recoverBoolMasks = options.recoverBoolMasks ?? true;
  if (typeof recoverBoolMasks !== 'boolean') {
    throw new Error(`${pass}: recoverBoolMasks must be a boolean, got ${JSON.stringify(options.recoverBoolMasks)}`);
  }
  const only = functionsOption(pass, options.functions);
  return {
    name: pass,
    minimumTarget: SDPA_MINIMUM_TARGET,
    run(program: Program, ctx: PassContext): PassResult {
      requireTarget(pass, program);
      const counters = newFusionCounters();
      const rules = [fusionRule(program.target, recoverBoolMasks, counters)];
      const fns = selectFunctions(pass, program, only);
      fns.forEach((fn, i) => {
        ctx.throwIfAborted();
        applyRules(fn, rules, { target: program.target, signal: ctx.signal });
        ctx.progress(i + 1, fns.length, fn.name);
      });
      return { changed: counters.fused > 0, stats: { ...counters } };
    },
  };
}

export { sdpaFusion };

/**
 * Creates the `sdpa-lowering` pass: every `scaled_dot_product_attention` → the
 * decomposition coremltools emits below iOS18 (`mul` by 1/√E, `matmul` with
 * `transpose_y`, `add` mask, `softmax`, `matmul`). Statistics: `lowered`, and `target`
 * when the program was retargeted.
 */
export function sdpaLowering(options: SdpaLoweringOptions = {}): Pass {
  const pass = 'sdpa-lowering';
  checkOptionKeys(pass, options, ['target', 'functions']);
  const target = options.target;
  if (target !== undefined && !(TARGETS as readonly string[]).includes(target)) {
    throw new Error(`${pass}: target must be one of ${TARGETS.join(', ')}, got ${JSON.stringify(target)}`);
  }
  const only = functionsOption(pass, options.functions);
  if (only && target !== undefined && !targetAtLeast(target, SDPA_MINIMUM_TARGET)) {
    throw new Error(`${pass}: a target below ${SDPA_MINIMUM_TARGET} needs every function lowered; drop the functions option or the target`);
  }
  return {
    name: pass,
    run(program: Program, ctx: PassContext): PassResult {
      const retarget = target !== undefined && target !== program.target;
      if (target !== undefined && compareTargets(target, program.target) > 0) {
        throw new Error(`${pass}: target ${target} is newer than the program's ${program.target}; the lowering only keeps or lowers the target`);
      }
      if (retarget) {
        // everything but the SDPA ops must already be valid at the new target
        const problems = collectProblems(program, { target }).filter((p) => p.op?.type !== 'scaled_dot_product_attention');
        if (problems.length > 0) {
          const shown = problems.slice(0, 5).map((p) => `  - ${p.message}`);
          if (problems.length > 5) shown.push(`  - … and ${problems.length - 5} more`);
          throw new Error(`${pass}: cannot retarget the program from ${program.target} to ${target}; besides attention, ${problems.length} problem(s) would remain:\n${shown.join('\n')}`);
        }
      }
      const counters = { lowered: 0 };
      const rules = [loweringRule(pass, counters)];
      const fns = selectFunctions(pass, program, only);
      fns.forEach((fn, i) => {
        ctx.throwIfAborted();
        applyRules(fn, rules, { target: program.target, signal: ctx.signal });
        ctx.progress(i + 1, fns.length, fn.name);
      });
      const stats: Record<string, number | string> = { lowered: counters.lowered };
      if (retarget) {
        program.target = target;
        stats.target = target;
      }
      return { changed: counters.lowered > 0 || retarget, stats };
    },
  };
}

/**
 * Creates the `sdpa-sliced-q` pass (coremltools' `scaled_dot_product_attention_sliced_q`,
 * off by default there too): every SDPA with a static query length L ≥ `minSeqLength` is
 * computed in `seqLengthDivider` chunks of Q and concatenated. Needs iOS18. Statistics:
 * `sliced` (SDPA ops rewritten), `chunks` (chunks built), `kept` (SDPA ops left whole).
 */
export function sdpaSlicedQ(options: SdpaSlicedQOptions = {}): Pass {
  const pass = 'sdpa-sliced-q';
  checkOptionKeys(pass, options, ['minSeqLength', 'seqLengthDivider', 'functions']);
  const minSeqLength = options.minSeqLength ?? 1280;
  const divider = options.seqLengthDivider ?? 16;
  if (!Number.isInteger(minSeqLength) || minSeqLength < 0) {
    throw new Error(`${pass}: minSeqLength must be an integer ≥ 0, got ${JSON.stringify(options.minSeqLength)}`);
  }
  if (!Number.isInteger(divider) || divider < 1) {
    throw new Error(`${pass}: seqLengthDivider must be an integer ≥ 1, got ${JSON.stringify(options.seqLengthDivider)}`);
  }
  const only = functionsOption(pass, options.functions);
  return {
    name: pass,
    minimumTarget: SDPA_MINIMUM_TARGET,
    run(program: Program, ctx: PassContext): PassResult {
      requireTarget(pass, program);
      const counters = { sliced: 0, chunks: 0 };
      const rules = [slicedQRule(pass, minSeqLength, divider, counters)];
      const fns = selectFunctions(pass, program, only);
      let kept = 0;
      fns.forEach((fn, i) => {
        ctx.throwIfAborted();
        applyRules(fn, rules, { target: program.target, signal: ctx.signal });
        for (const op of fn.walk()) if (op.type === 'scaled_dot_product_attention') kept++;
        ctx.progress(i + 1, fns.length, fn.name);
      });
      return { changed: counters.sliced > 0, stats: { ...counters, kept } };
    },
  };
}
