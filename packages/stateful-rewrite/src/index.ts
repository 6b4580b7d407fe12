/**
 * @silica/stateful-rewrite — turns explicit state inputs/outputs (a KV cache passed in as
 * `k_cache` and returned as `k_cache_out`, a running accumulator `acc_in` → `acc_out`)
 * into Core ML states: the input becomes a `state<tensor<fp16, …>>` function input, the
 * output disappears, and the function updates the state in place with the canonical
 * `read_state → slice_update → write_state → read_state` pattern (mil-ops.md §2–§3,
 * mlpackage-format.md §14).
 *
 * Before (fixture kv_cache_io, abridged):
 *
 * ```
 * func @main(%x: fp32[1, 1, 256], %pos: int32[1], %mask: fp32[1, 1, 1, 32],
 *            %k_cache: fp16[1, 4, 32, 64], %v_cache: fp16[1, 4, 32, 64])
 *     -> (fp32[1, 1, 256], fp16[1, 4, 32, 64], fp16[1, 4, 32, 64]) {
 *   %k_heads_cast_fp16 = transpose(perm = %k_heads_perm_0, x = %k_reshape_cast_fp16) : fp16[1, 4, 1, 64]
 *   %k_cache_out = slice_update(begin = %begin, end = %end, update = %k_heads_cast_fp16, x = %k_cache) : fp16[1, 4, 32, 64]
 *   …
 *   %scores_cast_fp16 = matmul(…, x = %q_scaled_cast_fp16, y = %k_cache_out) : fp16[1, 4, 1, 32]
 *   …
 * } -> (%y, %k_cache_out, %v_cache_out)
 * ```
 *
 * After (the structure of fixture kv_cache_stateful):
 *
 * ```
 * func @main(%x: fp32[1, 1, 256], %pos: int32[1], %mask: fp32[1, 1, 1, 32],
 *            %k_cache: state<fp16[1, 4, 32, 64]>, %v_cache: state<fp16[1, 4, 32, 64]>) -> (fp32[1, 1, 256]) {
 *   %k_cache_read = read_state(input = %k_cache) : fp16[1, 4, 32, 64]
 *   %k_heads_cast_fp16 = transpose(perm = %k_heads_perm_0, x = %k_reshape_cast_fp16) : fp16[1, 4, 1, 64]
 *   %k_cache_out = slice_update(begin = %begin, end = %end, update = %k_heads_cast_fp16, x = %k_cache_read) : fp16[1, 4, 32, 64]
 *   write_state(data = %k_cache_out, input = %k_cache) {name = "k_cache_write_state"}
 *   %k_cache_updated = read_state(input = %k_cache) : fp16[1, 4, 32, 64]
 *   …
 *   %scores_cast_fp16 = matmul(…, x = %q_scaled_cast_fp16, y = %k_cache_updated) : fp16[1, 4, 1, 32]
 *   …
 * } -> (%y)
 * ```
 *
 * Which pairs: the ones named in `options.states`, or — when omitted — every output
 * with the dtype and static shape of an input, computed from it by `slice_update`,
 * `concat` + slice, or an elementwise update, where that input feeds nothing but the
 * update (analysis.ts). Core ML states are fp16 (mil-ops.md §2): an fp32 cache is cast at
 * the boundary with `convertDtype`, refused otherwise. States need iOS18 (§12): the
 * target is raised with `allowTargetRaise`, refused otherwise. The Neural Engine wants
 * state dims that are multiples of 32: the pass warns, and `padTo` pads a cache's
 * sequence axis without changing any output (rewrite.ts).
 */
import {
  type Function as Fn,
  type Op,
  type Pass,
  type PassContext,
  type PassResult,
  type Program,
  type Target,
  type TensorType,
  type Value,
  Rewriter,
  compareTargets,
  constValueOf,
  formatType,
  typesEqual,
} from '@silica/ir';
import { type RejectedPair, type UpdatePath, describePath, detect, opIndex, orderProblem, pathOps } from './analysis.js';
import { type Padding, type Plan, applyPlan, removeOutputs } from './rewrite.js';

export { detectStatePairs } from './analysis.js';
export type { StatePair, RejectedPair, UpdateKind } from './analysis.js';

const PASS = 'stateful-rewrite';

/** The first deployment target with states (mlpackage-format.md §12). */
export const STATE_TARGET: Target = 'iOS18';

/** The multiple the Neural Engine wants state dims to be. */
export const ANE_STATE_MULTIPLE = 32;

/** One explicit state: the input that receives the old contents and the output that returns the new. */
export interface StateSpec {
  readonly input: string;
  readonly output: string;
  /**
   * The axis the cache is written along (the sequence axis), for `padTo` and the
   * multiple-of-32 check. Default: found from the update (the axis where a
   * `slice_update` writes less than the whole cache, or the `concat` axis).
   */
  readonly sequenceAxis?: number;
}

export interface StatefulRewriteOptions {
  /** The pairs to convert. Default: detect them (see the module comment). */
  readonly states?: readonly StateSpec[];
  /** Raise a program that targets less than iOS18 to iOS18 instead of failing (default false). */
  readonly allowTargetRaise?: boolean;
  /** Convert fp32 caches to fp16 states with casts at the boundary instead of refusing them (default false). */
  readonly convertDtype?: boolean;
  /** Pad each state's sequence axis up to a multiple of this (e.g. 32); outputs are unchanged. Default: no padding. */
  readonly padTo?: number;
}

function checkOptions(options: StatefulRewriteOptions): void {
  if (options === null || typeof options !== 'object') throw new Error(`${PASS}: options must be an object, got ${JSON.stringify(options)}`);
  const known = new Set(['states', 'allowTargetRaise', 'convertDtype', 'padTo']);
  for (const k of Object.keys(options)) {
    if (!known.has(k)) throw new Error(`${PASS}: unknown option "${k}" (options: ${[...known].join(', ')})`);
  }
  for (const k of ['allowTargetRaise', 'convertDtype'] as const) {
    if (options[k] !== undefined && typeof options[k] !== 'boolean') {
      throw new Error(`${PASS}: ${k} must be a boolean, got ${JSON.stringify(options[k])}`);
    }
  }
  if (options.padTo !== undefined && (!Number.isInteger(options.padTo) || options.padTo < 1)) {
    throw new Error(`${PASS}: padTo must be a positive integer (e.g. 32), got ${JSON.stringify(options.padTo)}`);
  }
  if (options.states !== undefined) {
    if (!Array.isArray(options.states)) throw new Error(`${PASS}: states must be an array of { input, output }, got ${JSON.stringify(options.states)}`);
    const inputs = new Set<string>();
    const outputs = new Set<string>();
    options.states.forEach((s: StateSpec, i: number) => {
      const where = `${PASS}: states[${i}]`;
      if (s === null || typeof s !== 'object') throw new Error(`${where} must be { input, output }, got ${JSON.stringify(s)}`);
      if (typeof s.input !== 'string' || s.input === '') throw new Error(`${where}.input must be a non-empty input name, got ${JSON.stringify(s.input)}`);
      if (typeof s.output !== 'string' || s.output === '') throw new Error(`${where}.output must be a non-empty output name, got ${JSON.stringify(s.output)}`);
      if (s.sequenceAxis !== undefined && (!Number.isInteger(s.sequenceAxis) || s.sequenceAxis < 0)) {
        throw new Error(`${where}.sequenceAxis must be a non-negative integer, got ${JSON.stringify(s.sequenceAxis)}`);
      }
      for (const k of Object.keys(s)) {
        if (k !== 'input' && k !== 'output' && k !== 'sequenceAxis') throw new Error(`${where} has the unknown key "${k}" (keys: input, output, sequenceAxis)`);
      }
      if (inputs.has(s.input)) throw new Error(`${where}: the input "${s.input}" is named by two states`);
      if (outputs.has(s.output)) throw new Error(`${where}: the output "${s.output}" is named by two states`);
      inputs.add(s.input);
      outputs.add(s.output);
    });
  }
}

/** A pair to convert, before the dtype, padding and signature checks. */
interface Candidate {
  readonly fn: Fn;
  readonly input: Value;
  readonly output: Value;
  readonly path: UpdatePath;
  readonly sequenceAxis?: number;
  /** Named in options.states: problems are errors. Detected: problems are warnings and the pair is skipped. */
  readonly explicit: boolean;
}

function names(values: readonly Value[]): string {
  return values.map((v) => v.name).join(', ') || 'none';
}

/** Resolves options.states to candidates in every function that has them; throws on anything wrong. */
function explicitCandidates(program: Program, specs: readonly StateSpec[]): Candidate[] {
  const out: Candidate[] = [];
  const indexes = new Map<Fn, Map<Op, number>>();
  for (const spec of specs) {
    let found = 0;
    for (const fn of program.functions.values()) {
      const input = fn.inputs.find((v) => v.name === spec.input);
      const output = fn.outputs.find((v) => v.name === spec.output);
      if (!input && !output) continue;
      const where = `${PASS}: function "${fn.name}", state ${spec.input} → ${spec.output}`;
      if (!input) throw new Error(`${where}: the function returns "${spec.output}" but has no input "${spec.input}" (inputs: ${names(fn.inputs)})`);
      if (!output) throw new Error(`${where}: the function has the input "${spec.input}" but returns no "${spec.output}" (outputs: ${names(fn.outputs)})`);
      found++;
      if (input.type.kind === 'state') throw new Error(`${where}: "${spec.input}" is already a state`);
      if (input.type.kind !== 'tensor' || output.type.kind !== 'tensor') {
        throw new Error(`${where}: both must be tensors, got ${formatType(input.type)} and ${formatType(output.type)}`);
      }
      if (!output.producer) throw new Error(`${where}: the output "${spec.output}" is the function input "${output.name}" returned unchanged, not new contents`);
      if (!typesEqual(input.type, output.type)) {
        throw new Error(`${where}: the output is ${formatType(output.type)} but the input is ${formatType(input.type)}; a state's new contents must have the type of its old contents`);
      }
      if (!input.type.shape.every((d) => typeof d === 'number')) {
        throw new Error(`${where}: a state needs a static shape, got ${formatType(input.type)} (mlpackage-format.md §14)`);
      }
      const index = indexes.get(fn) ?? opIndex(fn);
      indexes.set(fn, index);
      const ops = pathOps(input, output, false, fn, index);
      if (ops.size === 0) throw new Error(`${where}: "${spec.output}" is not computed from "${spec.input}", so it is not the input's updated contents`);
      const order = orderProblem(fn, input, output, index);
      if (order) throw new Error(`${where}: ${order}`);
      if (spec.sequenceAxis !== undefined && spec.sequenceAxis >= input.type.shape.length) {
        throw new Error(`${where}: sequenceAxis ${spec.sequenceAxis} is out of range for ${formatType(input.type)}`);
      }
      out.push({ fn, input, output, path: describePath(input, ops, program.target), sequenceAxis: spec.sequenceAxis, explicit: true });
    }
    if (found === 0) {
      const fns = [...program.functions.values()].map((f) => `"${f.name}" (inputs: ${names(f.inputs)}; outputs: ${names(f.outputs)})`);
      throw new Error(`${PASS}: no function has the input "${spec.input}" and the output "${spec.output}"; functions: ${fns.join('; ')}`);
    }
  }
  return out;
}

function detectedCandidates(program: Program, rejected: RejectedPair[]): Candidate[] {
  const { found, rejected: r } = detect(program);
  rejected.push(...r);
  return found.map((p) => ({ ...p, explicit: false }));
}

/**
 * Whether the slice_update producing the new contents can write into the padded state
 * as it is: on the padded axis its stride is positive, its end is not masked (a mask
 * would mean "to the end", which moves) and constant indices lie in [0, size]. Runtime
 * indices (a decode position) are taken to be positions in the cache, as every KV cache
 * uses them; negative runtime indices would count from the padded end.
 */
function canWriteDirectly(c: Candidate, axis: number, size: number, target: Target): boolean {
  const op = c.output.producer!;
  if (op.type !== 'slice_update' || op.input('x') !== c.input) return false;
  const at = (param: string): number | boolean | undefined | null => {
    const v = op.inputs.get(param)?.[0];
    if (!v) return undefined;
    const t = constValueOf(v, target);
    if (!t) return null; // runtime
    const xs = t.toNumbers();
    return t.dtype === 'bool' ? xs[axis] !== 0 : xs[axis];
  };
  const stride = at('stride');
  if (stride === null || (typeof stride === 'number' && stride < 1)) return false;
  const endMask = at('end_mask');
  if (endMask === null || endMask === true) return false;
  for (const p of ['begin', 'end']) {
    const x = at(p);
    if (typeof x === 'number' && (x < 0 || x > size)) return false;
  }
  return true;
}

/** Creates the `stateful-rewrite` pass; options are checked here. */
export default function statefulRewrite(options: StatefulRewriteOptions = {}): Pass {
  checkOptions(options);
  const specs = options.states ? options.states.map((s) => ({ ...s })) : undefined;
  const allowTargetRaise = options.allowTargetRaise ?? false;
  const convertDtype = options.convertDtype ?? false;
  const padTo = options.padTo;
  return {
    name: PASS,
    establishes: ['stateful-kv-cache'],
    run(program: Program, ctx: PassContext): PassResult {
      ctx.throwIfAborted();
      const warnings: string[] = [];
      const rejected: RejectedPair[] = [];
      const candidates = specs ? explicitCandidates(program, specs) : detectedCandidates(program, rejected);
      for (const r of rejected) {
        const text = `function "${r.function}": not converted: ${r.reason}`;
        if (r.level === 'warn') warnings.push(text);
        else ctx.logger.info(`${PASS}: ${text}`);
      }
      let skipped = rejected.filter((r) => r.level === 'warn').length;

      // dtype (mil-ops.md §2: Core ML states are fp16) and padding, per pair
      let plans: Plan[] = [];
      /** Warnings about a planned state, reported only if it is converted. */
      const notes = new Map<Plan, string[]>();
      for (const c of candidates) {
        const t = c.input.type as TensorType;
        const where = `function "${c.fn.name}", state ${c.input.name} → ${c.output.name}`;
        let convert = false;
        if (t.dtype === 'fp32' && convertDtype) convert = true;
        else if (t.dtype !== 'fp16') {
          const why =
            t.dtype === 'fp32'
              ? `the cache is fp32, but Core ML states are fp16 (mil-ops.md §2); pass convertDtype: true to cast it at the boundary (fp32 → fp16 state → fp32), or convert the model to fp16`
              : `the cache is ${t.dtype}, but Core ML states are fp16 (mil-ops.md §2) and convertDtype only converts fp32 caches`;
          if (c.explicit) throw new Error(`${PASS}: ${where}: ${why}`);
          warnings.push(`${where}: not converted: ${why}`);
          skipped++;
          continue;
        }
        const shape = t.shape as readonly number[];
        const axis = c.sequenceAxis ?? c.path.sequenceAxis;
        let pad: Padding | undefined;
        const mine: string[] = [];
        if (padTo !== undefined && padTo > 1) {
          if (axis === undefined) {
            mine.push(`${where}: not padded: padTo needs the cache's sequence axis and none was found (the update is ${c.path.kind}); give sequenceAxis in options.states to pad it`);
          } else if (shape[axis] % padTo !== 0) {
            const to = Math.ceil(shape[axis] / padTo) * padTo;
            pad = { axis, from: shape[axis], to, direct: !convert && canWriteDirectly(c, axis, shape[axis], program.target) };
          }
        }
        // the Neural Engine's preference (the sequence axis, or the innermost axis of a state without one)
        const checked = axis ?? shape.length - 1;
        const size = pad && pad.axis === checked ? pad.to : shape[checked];
        if (shape.length > 0 && size % ANE_STATE_MULTIPLE !== 0) {
          mine.push(
            `${where}: the state's ${axis !== undefined ? 'sequence' : 'innermost'} dim (axis ${checked}) is ${size}, not a multiple of ${ANE_STATE_MULTIPLE}; the Neural Engine wants state dims that are multiples of ${ANE_STATE_MULTIPLE}${axis !== undefined ? ` — pass padTo: ${ANE_STATE_MULTIPLE} to pad it (outputs are unchanged)` : ''}`,
          );
        }
        const plan: Plan = { fn: c.fn, input: c.input, output: c.output, path: c.path, convert, pad };
        plans.push(plan);
        notes.set(plan, mine);
      }

      // Core ML needs at least one output per function (mlpackage-format.md §4.6)
      for (const fn of new Set(plans.map((p) => p.fn))) {
        const mine = plans.filter((p) => p.fn === fn);
        if (mine.length < fn.outputs.length) continue;
        const why = `function "${fn.name}" would have no outputs left: every output (${names(fn.outputs)}) is a state's new contents, and Core ML needs at least one output (mlpackage-format.md §4.6)`;
        if (mine.some((p) => candidates.find((c) => c.input === p.input)?.explicit)) throw new Error(`${PASS}: ${why}`);
        warnings.push(`not converted: ${why}`);
        skipped += mine.length;
        plans = plans.filter((p) => p.fn !== fn);
      }

      for (const p of plans) warnings.push(...notes.get(p)!);
      const stats: Record<string, number | string> = { states: 0, functions: 0, converted: 0, padded: 0, skipped };
      if (plans.length === 0) return { changed: false, stats, warnings };

      // mlpackage-format.md §12: states need iOS18 (spec 9, opset CoreML8)
      if (compareTargets(program.target, STATE_TARGET) < 0) {
        if (!allowTargetRaise) {
          throw new Error(
            `${PASS}: Core ML states need deployment target ${STATE_TARGET} or newer (mlpackage-format.md §12), but the program targets ${program.target}; pass allowTargetRaise: true to raise it to ${STATE_TARGET}`,
          );
        }
        stats.targetRaised = `${program.target} → ${STATE_TARGET}`;
        warnings.push(`raised the deployment target from ${program.target} to ${STATE_TARGET}: Core ML states need ${STATE_TARGET} (mlpackage-format.md §12)`);
        program.target = STATE_TARGET;
      }

      const rw = new Rewriter(program.target);
      removeOutputs(plans);
      plans.forEach((plan, i) => {
        ctx.throwIfAborted();
        applyPlan(plan, rw);
        ctx.progress(i + 1, plans.length, `${plan.fn.name}: ${plan.input.name}`);
      });
      stats.states = plans.length;
      stats.functions = new Set(plans.map((p) => p.fn)).size;
      stats.converted = plans.filter((p) => p.convert).length;
      stats.padded = plans.filter((p) => p.pad).length;
      return { changed: true, stats, warnings };
    },
  };
}
