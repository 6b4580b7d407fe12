/**
 * `mergeFunctions`: several programs/functions → one multifunction Program, Silica's
 * `save_multifunction` (mlpackage-format.md §13).
 *
 * 1. Items are checked: target names are valid identifiers and unique, every source
 *    function exists, the default function is one of the target names.
 * 2. Target = max(iOS18, every source target, `minimumTarget`) — multifunction
 *    descriptions need spec ≥ 9 (§13.1). Each source function is copied under its target
 *    name (`cloneFunction`: its I/O description details come along, §13.2 step 2);
 *    iOS16-form constexpr ops are moved to the iOS18 form (upgrade.ts).
 * 3. Sharing by content at every size (§13.2 steps 3–4): equal tensors become one tensor
 *    object (one blob, one offset in weight.bin); inside each function duplicate const ops
 *    and constexpr ops with the same type and identical inputs are merged.
 * 4. Optionally (`shareByValue`) weights with equal decompressed values but different
 *    encodings are rewritten to one encoding (by-value.ts).
 * 5. Source metadata is not carried over (as save_multifunction); `metadata` sets it.
 *    Source `buildInfo` is not carried over either. The result is verified.
 *
 * Sources are never modified; their tensors are shared with the result (tensors are
 * immutable), so lazy weights stay lazy: merging reads each weight once to hash it,
 * and only when another weight of the same dtype and shape exists.
 */
import {
  type Function as Fn,
  Program,
  type ProgramMetadata,
  type Target,
  type Tensor,
  VerificationError,
  cloneFunction,
  isValidIdentifier,
  maxTarget,
  specVersionOf,
  verifyProgram,
} from '@silica/ir';
import { type ValueShare, restoreNames, shareByValue } from './by-value.js';
import { MergeError } from './errors.js';
import { ConstKeys, TensorPool, bytesOf, canonicalizeTensors, dedupeConstOps, removeDeadConstOps, tensorsOf } from './share.js';
import { upgradeConstexprForms } from './upgrade.js';

export interface MergeItem {
  /** The source program (not modified: its function is copied). */
  readonly program: Program;
  /** The function to take from it (`main` for a single-function package). */
  readonly functionName: string;
  /** The function's name in the merged program. */
  readonly targetName: string;
}

export interface MergeOptions {
  /** The function Core ML runs when the caller names none (§4.2); one of the target names. */
  readonly defaultFunctionName: string;
  /**
   * Also share weights whose decompressed values are equal although their encodings
   * differ (e.g. the same weight palettized separately with a permuted LUT). Default false.
   */
  readonly shareByValue?: boolean;
  /**
   * Metadata of the merged model. Default: none — as `save_multifunction`, the sources'
   * metadata is not carried over (§13.2).
   */
  readonly metadata?: Partial<ProgramMetadata>;
  /** Lowest deployment target of the result; it is raised to iOS18 and to the newest source target. */
  readonly minimumTarget?: Target;
  /** Verify the merged program (default true). */
  readonly verify?: boolean;
}

export interface MergedFunctionReport {
  /** Name in the merged program. */
  readonly name: string;
  /** Index of the item it came from. */
  readonly item: number;
  /** Name in its source program. */
  readonly sourceFunction: string;
  readonly sourceTarget: Target;
  /** Ops of the merged function (nested blocks included). */
  readonly ops: number;
  /** Bytes of the distinct tensors the function holds in the merged program. */
  readonly weightBytes: number;
  /** Of `weightBytes`, the bytes of tensors an earlier function already holds (stored once). */
  readonly sharedBytes: number;
  /** iOS16-form constexpr ops rewritten to their iOS18 form (sources below iOS18 only). */
  readonly upgradedOps: number;
}

export interface MergeReport {
  readonly target: Target;
  readonly specificationVersion: number;
  readonly defaultFunction: string;
  /** One entry per merged function, in program order. */
  readonly functions: readonly MergedFunctionReport[];
  /** `dropped`: the sources' metadata was not carried over; `given`: `options.metadata` was set. */
  readonly metadata: 'dropped' | 'given';
  /**
   * Stored tensor bytes (packed element bytes, before weight.bin's 64-byte headers and
   * alignment; small tensors the writer keeps inline count too).
   */
  readonly bytes: {
    /** Σ over functions of the distinct tensors each holds before sharing by value: separate packages. */
    readonly separate: number;
    /** Distinct tensors of the merged program. */
    readonly merged: number;
    /** `separate − merged`. */
    readonly saved: number;
    /** Saved by sharing byte-identical tensors across functions. */
    readonly savedByContent: number;
    /** Saved by `shareByValue` (0 when off). */
    readonly savedByValue: number;
  };
  readonly sharing: {
    /** Distinct tensors in the merged program. */
    readonly tensors: number;
    /** Distinct tensors held by more than one function. */
    readonly sharedTensors: number;
    /** constexpr ops identical (same type, identical inputs) to one in an earlier function. */
    readonly sharedConstexprOps: number;
    /** Duplicate const / constexpr ops merged inside functions. */
    readonly dedupedOps: number;
  };
  /** Present when `shareByValue` was on. */
  readonly byValue?: {
    /** Groups of equal weights that were held under several encodings. */
    readonly groups: number;
    /** Weights rewritten to the kept encoding. */
    readonly rewritten: number;
    readonly bytesSaved: number;
    readonly shares: readonly ValueShare[];
  };
}

export interface MergeResult {
  readonly program: Program;
  readonly report: MergeReport;
}

/** Merges `items` into one multifunction Program; see the module comment. */
export function mergeFunctions(items: readonly MergeItem[], options: MergeOptions): MergeResult {
  const sources = checkItems(items, options);

  let target: Target = options.minimumTarget ? maxTarget(options.minimumTarget, 'iOS18') : 'iOS18';
  for (const it of items) target = maxTarget(target, it.program.target);

  const program = new Program(target);
  program.multifunction = true;
  program.defaultFunction = options.defaultFunctionName;
  program.metadata = options.metadata ? { ...options.metadata, userDefined: { ...(options.metadata.userDefined ?? {}) } } : { userDefined: {} };

  const fns: Fn[] = [];
  const upgraded: number[] = [];
  items.forEach((it, i) => {
    const fn = cloneFunction(sources[i], it.targetName);
    const up = upgradeConstexprForms(fn, it.program.target, target);
    removeDeadConstOps(up.orphans);
    upgraded.push(up.upgraded);
    program.addFunction(fn);
    fns.push(fn);
  });

  // sharing by content
  const pool = new TensorPool();
  for (const fn of fns) canonicalizeTensors(fn, pool);
  let keys = new ConstKeys(pool);
  let dedupedOps = 0;
  for (const fn of fns) dedupedOps += dedupeConstOps(fn, keys);
  const separate = fns.reduce((n, fn) => n + bytesOf(tensorsOf(fn)), 0);
  const mergedByContent = bytesOf(allTensors(fns));

  // sharing by value
  let byValue: MergeReport['byValue'];
  if (options.shareByValue) {
    const r = shareByValue(fns, target, keys);
    removeDeadConstOps(r.orphans);
    restoreNames(r.renames);
    // the rewrites changed operands: recompute keys, merge copies with what was already there
    keys = new ConstKeys(pool);
    for (const fn of fns) dedupedOps += dedupeConstOps(fn, keys);
    byValue = { groups: r.shares.length, rewritten: r.rewritten, bytesSaved: mergedByContent - bytesOf(allTensors(fns)), shares: r.shares };
  }

  if (options.verify ?? true) {
    try {
      verifyProgram(program);
    } catch (e) {
      if (!(e instanceof VerificationError)) throw e;
      throw new MergeError(
        `the merged program does not verify at ${target} (a source below ${target} may use an op whose signature changed; mlpackage-format.md §12): ${e.message}`,
        { cause: e },
      );
    }
  }

  const merged = bytesOf(allTensors(fns));
  const report: MergeReport = {
    target,
    specificationVersion: specVersionOf(target),
    defaultFunction: options.defaultFunctionName,
    functions: functionReports(items, fns, upgraded),
    metadata: options.metadata ? 'given' : 'dropped',
    bytes: {
      separate,
      merged,
      saved: separate - merged,
      savedByContent: separate - mergedByContent,
      savedByValue: mergedByContent - merged,
    },
    sharing: { ...sharingStats(fns, keys), dedupedOps },
    ...(byValue ? { byValue } : {}),
  };
  return { program, report };
}

/** Validates items and options; returns each item's source function. */
function checkItems(items: readonly MergeItem[], options: MergeOptions): Fn[] {
  if (!Array.isArray(items) || items.length === 0) throw new MergeError('mergeFunctions: no functions to merge (items is empty)');
  if (!options || typeof options.defaultFunctionName !== 'string') {
    throw new MergeError('mergeFunctions: options.defaultFunctionName is required (the function Core ML runs when none is named, mlpackage-format.md §4.2)');
  }
  const seen = new Map<string, number>();
  const sources = items.map((it, i) => {
    const where = `mergeFunctions: item ${i}`;
    if (!(it?.program instanceof Program)) throw new MergeError(`${where}: "program" is not a Program (read one with readMLPackage or build one)`);
    if (typeof it.targetName !== 'string' || !isValidIdentifier(it.targetName)) {
      throw new MergeError(
        `${where}: target name ${JSON.stringify(it.targetName)} is not a valid function name (must match [A-Za-z_][A-Za-z0-9_@]* and not be a reserved word, mlpackage-format.md §7)`,
      );
    }
    const prev = seen.get(it.targetName);
    if (prev !== undefined) throw new MergeError(`${where}: duplicate target name "${it.targetName}" (already used by item ${prev}); function names must be unique`);
    seen.set(it.targetName, i);
    const fn = it.program.functions.get(it.functionName);
    if (!fn) {
      throw new MergeError(
        `${where}: the source program has no function "${String(it.functionName)}" (it has: ${[...it.program.functions.keys()].join(', ') || 'none'})`,
      );
    }
    return fn;
  });
  if (!seen.has(options.defaultFunctionName)) {
    throw new MergeError(
      `mergeFunctions: the default function "${options.defaultFunctionName}" is not one of the merged functions (${[...seen.keys()].join(', ')})`,
    );
  }
  return sources;
}

function allTensors(fns: readonly Fn[]): Set<Tensor> {
  const s = new Set<Tensor>();
  for (const fn of fns) for (const t of tensorsOf(fn)) s.add(t);
  return s;
}

function functionReports(items: readonly MergeItem[], fns: readonly Fn[], upgraded: readonly number[]): MergedFunctionReport[] {
  const earlier = new Set<Tensor>();
  return fns.map((fn, i) => {
    const mine = tensorsOf(fn);
    const shared = [...mine].filter((t) => earlier.has(t));
    for (const t of mine) earlier.add(t);
    let ops = 0;
    for (const _ of fn.walk()) ops++;
    return {
      name: fn.name,
      item: i,
      sourceFunction: items[i].functionName,
      sourceTarget: items[i].program.target,
      ops,
      weightBytes: bytesOf(mine),
      sharedBytes: bytesOf(shared),
      upgradedOps: upgraded[i],
    };
  });
}

function sharingStats(fns: readonly Fn[], keys: ConstKeys): { tensors: number; sharedTensors: number; sharedConstexprOps: number } {
  const holders = new Map<Tensor, number>();
  for (const fn of fns) for (const t of tensorsOf(fn)) holders.set(t, (holders.get(t) ?? 0) + 1);
  const seenKeys = new Set<string>();
  let sharedConstexprOps = 0;
  for (const fn of fns) {
    const mine = new Set<string>();
    for (const op of fn.walk()) {
      if (!op.isConstexpr) continue;
      const k = keys.opKey(op);
      if (k === null) continue;
      if (seenKeys.has(k)) sharedConstexprOps++;
      mine.add(k);
    }
    for (const k of mine) seenKeys.add(k);
  }
  return { tensors: holders.size, sharedTensors: [...holders.values()].filter((n) => n > 1).length, sharedConstexprOps };
}
