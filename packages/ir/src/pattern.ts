/**
 * Rewrites as data (STYLE.md "Rewrites are rules as data"): patterns that match op trees,
 * a Rewriter through which every change goes, and a worklist driver that applies
 * `(pattern, rewrite)` rules to a fixpoint with an iteration cap — tinygrad's
 * PatternMatcher and MLIR's greedy driver, on our ordered SSA.
 *
 * A rule carries one comment in the form `lhs -> rhs`:
 *
 * ```ts
 * const rules = [
 *   // add(linear(x, w, b), c) -> linear(x, w, b + c)
 *   rule('fold-add-into-linear',
 *     pat.op('add', { x: pat.op('linear', { x: 'x', weight: 'w', bias: pat.const('b') }, { bind: 'lin', oneUse: true }),
 *                     y: pat.const('c') }),
 *     (m, rw) => rw.builder(m.root).linear({ x: m.value('x'), weight: m.value('w'), bias: … })),
 * ];
 * applyRules(program, rules);
 * ```
 *
 * Patterns: `pat.op(type, inputs, options)` matches an op (and, as an operand, the value
 * it produces); `pat.any(name)` / a bare string matches any value; `pat.const(name)` a
 * compile-time constant (mil-ops.md §0.2); `pat.absent()` an unbound optional parameter;
 * an array matches a tuple parameter element by element. A name bound twice must bind the
 * same value. `add`, `mul` and the other commutative binary ops also match with `x` and
 * `y` swapped, unless the pattern says `commutative: false`.
 */
import { Builder } from './builder.js';
import type { Function as Fn, Op, Program, Value } from './ir.js';
import type { Target } from './target.js';
import type { Tensor } from './tensor.js';
import { formatType } from './types.js';
import { clearConstCache, constValueOf, isConst } from './registry/args.js';
import { typesCompatible } from './verifier.js';

// ---------------------------------------------------------------------------------------
// Patterns

/** Bindings collected so far, as seen by predicates. */
export interface Bindings {
  readonly values: Readonly<Record<string, Value>>;
  readonly ops: Readonly<Record<string, Op>>;
}

export interface ValuePattern {
  readonly kind: 'value';
  readonly bind?: string;
  /** The value must be a compile-time constant. */
  readonly const?: boolean;
  readonly where?: (v: Value, b: Bindings) => boolean;
}

export interface OpPattern {
  readonly kind: 'op';
  /** Op type, or several alternatives. */
  readonly op: string | readonly string[];
  /** Sub-patterns by parameter name; parameters not named here are not looked at. */
  readonly inputs?: Readonly<Record<string, PatternArg>>;
  /** Binds the op in `ops` and (when matched as an operand, or as a single-output root) its value in `values`. */
  readonly bind?: string;
  /** When matched as an operand: which output of the producer (default: any). */
  readonly output?: number;
  /** Also match with `x` and `y` swapped (default: true for commutative binary ops). */
  readonly commutative?: boolean;
  /** The matched output (the root's only output) has exactly one use. */
  readonly oneUse?: boolean;
  /** Checked after the inputs matched, with their bindings. */
  readonly where?: (op: Op, b: Bindings) => boolean;
}

export interface AbsentPattern {
  readonly kind: 'absent';
}

export type Pattern = ValuePattern | OpPattern | AbsentPattern;

/** A pattern, a binding name (any value), or a list of them for a tuple parameter. */
export type PatternArg = Pattern | string | readonly (Pattern | string)[];

export interface OpPatternOptions {
  readonly bind?: string;
  readonly output?: number;
  readonly commutative?: boolean;
  readonly oneUse?: boolean;
  readonly where?: (op: Op, b: Bindings) => boolean;
}

/** Pattern constructors. */
export const pat = {
  op(type: string | readonly string[], inputs: Readonly<Record<string, PatternArg>> = {}, options: OpPatternOptions = {}): OpPattern {
    return { kind: 'op', op: type, inputs, ...options };
  },
  any(bind?: string, where?: (v: Value, b: Bindings) => boolean): ValuePattern {
    return { kind: 'value', bind, where };
  },
  const(bind?: string, where?: (v: Value, b: Bindings) => boolean): ValuePattern {
    return { kind: 'value', bind, const: true, where };
  },
  absent(): AbsentPattern {
    return { kind: 'absent' };
  },
} as const;

/** Elementwise binary ops for which `op(x, y) = op(y, x)`. */
export const COMMUTATIVE_OPS: ReadonlySet<string> = new Set([
  'add',
  'mul',
  'maximum',
  'minimum',
  'equal',
  'not_equal',
  'logical_and',
  'logical_or',
  'logical_xor',
]);

export interface Match extends Bindings {
  readonly root: Op;
  /** The value bound to `name` (throws naming the rule's binding when absent). */
  value(name: string): Value;
  /** The op bound to `name`. */
  op(name: string): Op;
  has(name: string): boolean;
}

interface State {
  readonly values: Readonly<Record<string, Value>>;
  readonly ops: Readonly<Record<string, Op>>;
}

function bindValue(s: State, name: string | undefined, v: Value): State | undefined {
  if (name === undefined) return s;
  const prev = s.values[name];
  if (prev) return prev === v ? s : undefined;
  return { values: { ...s.values, [name]: v }, ops: s.ops };
}

function bindOp(s: State, name: string | undefined, op: Op): State | undefined {
  if (name === undefined) return s;
  const prev = s.ops[name];
  if (prev) return prev === op ? s : undefined;
  return { values: s.values, ops: { ...s.ops, [name]: op } };
}

function typeMatches(p: OpPattern, type: string): boolean {
  return typeof p.op === 'string' ? p.op === type : p.op.includes(type);
}

function* matchArg(arg: Pattern | string, v: Value | undefined, s: State): Generator<State> {
  if (typeof arg === 'string') {
    if (!v) return;
    const t = bindValue(s, arg, v);
    if (t) yield t;
    return;
  }
  switch (arg.kind) {
    case 'absent':
      if (!v) yield s;
      return;
    case 'value': {
      if (!v) return;
      if (arg.const && !isConst(v)) return;
      const t = bindValue(s, arg.bind, v);
      if (t && (!arg.where || arg.where(v, t))) yield t;
      return;
    }
    case 'op': {
      if (!v || !v.producer) return;
      if (arg.output !== undefined && v.index !== arg.output) return;
      yield* matchOp(arg, v.producer, s, v);
      return;
    }
  }
}

function* matchOp(p: OpPattern, op: Op, s0: State, via: Value | undefined): Generator<State> {
  if (!typeMatches(p, op.type)) return;
  const out = via ?? (op.outputs.length === 1 ? op.outputs[0] : undefined);
  if (p.oneUse && (!out || out.uses.length !== 1)) return;
  let s: State | undefined = bindOp(s0, p.bind, op);
  if (s && out) s = bindValue(s, p.bind, out);
  if (!s) return;
  const entries = Object.entries(p.inputs ?? {});
  const orders: Array<Array<[string, PatternArg]>> = [entries];
  const commutative = p.commutative ?? COMMUTATIVE_OPS.has(op.type);
  if (commutative && entries.some(([k]) => k === 'x' || k === 'y')) {
    const swap = (k: string): string => (k === 'x' ? 'y' : k === 'y' ? 'x' : k);
    orders.push(entries.map(([k, a]) => [swap(k), a]));
  }
  for (const order of orders) {
    for (const t of matchInputs(op, order, 0, s)) {
      if (!p.where || p.where(op, t)) yield t;
    }
  }
}

function* matchInputs(op: Op, entries: ReadonlyArray<[string, PatternArg]>, i: number, s: State): Generator<State> {
  if (i === entries.length) {
    yield s;
    return;
  }
  const [param, arg] = entries[i];
  const vs = op.inputs.get(param);
  if (Array.isArray(arg)) {
    const list = arg as readonly (Pattern | string)[];
    if (!vs || vs.length !== list.length) return;
    for (const t of matchTuple(list, vs, 0, s)) yield* matchInputs(op, entries, i + 1, t);
    return;
  }
  if (vs && vs.length > 1) return;
  for (const t of matchArg(arg as Pattern | string, vs?.[0], s)) yield* matchInputs(op, entries, i + 1, t);
}

function* matchTuple(list: readonly (Pattern | string)[], vs: readonly Value[], i: number, s: State): Generator<State> {
  if (i === list.length) {
    yield s;
    return;
  }
  for (const t of matchArg(list[i], vs[i], s)) yield* matchTuple(list, vs, i + 1, t);
}

function toMatch(root: Op, s: State): Match {
  return {
    root,
    values: s.values,
    ops: s.ops,
    value(name) {
      const v = s.values[name];
      if (!v) throw new Error(`match at ${root.type} "${root.name}": no value bound to "${name}" (bound: ${Object.keys(s.values).join(', ') || 'none'})`);
      return v;
    },
    op(name) {
      const o = s.ops[name];
      if (!o) throw new Error(`match at ${root.type} "${root.name}": no op bound to "${name}" (bound: ${Object.keys(s.ops).join(', ') || 'none'})`);
      return o;
    },
    has: (name) => name in s.values || name in s.ops,
  };
}

/** Matches `pattern` rooted at `op`: the first consistent bindings, or undefined. */
export function match(pattern: OpPattern, op: Op): Match | undefined {
  for (const s of matchOp(pattern, op, { values: {}, ops: {} }, undefined)) return toMatch(op, s);
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Rewriter

/** Ops with effects beyond their outputs: `write_state`, ops without outputs, and ops holding such ops. */
export function hasSideEffects(op: Op): boolean {
  if (op.type === 'write_state' || op.outputs.length === 0) return true;
  for (const b of op.blocks) for (const inner of b.walk()) if (inner.type === 'write_state' || inner.outputs.length === 0) return true;
  return false;
}

/** No side effects and no output is used. */
export function isTriviallyDead(op: Op): boolean {
  return !hasSideEffects(op) && op.outputs.every((o) => o.uses.length === 0);
}

/**
 * Removes `op` from its block, dropping its operand uses and those of every op nested in
 * its blocks (so no use list keeps a reference to it). Its outputs must be unused.
 */
export function eraseOp(op: Op): void {
  const block = op.parent;
  if (!block) throw new Error(`cannot erase op ${op.type} "${op.name}": it is not in any block`);
  const used = op.outputs.find((o) => o.uses.length > 0);
  if (used) {
    const users = used.uses.map((u) => (u.kind === 'op' ? `${u.op.type} "${u.op.name}"` : `block output ${u.index}`));
    throw new Error(`cannot erase op ${op.type} "${op.name}": its output "${used.name}" is still used by ${users.join(', ')}`);
  }
  dropNested(op);
  block.remove(op);
}

function dropNested(op: Op): void {
  for (const b of op.blocks) {
    b.setOutputs([]);
    for (const inner of [...b.ops].reverse()) {
      dropNested(inner);
      inner.dropAllInputs();
    }
  }
}

export interface RewriteListener {
  /** An op was inserted (by the rewriter or a builder it handed out). */
  inserted?(op: Op): void;
  /** An op's operands changed. */
  modified?(op: Op): void;
  /** An op is about to be erased. */
  erased?(op: Op): void;
}

/**
 * Every change a rewrite makes goes through here, so use lists stay right, the block
 * stays topologically ordered (new ops go before an anchor), cached constant values are
 * dropped, and the driver learns which ops to revisit.
 */
export class Rewriter {
  readonly target: Target;
  /** Number of changes made so far (inserts, operand changes, erasures). */
  changes = 0;
  private readonly listener: RewriteListener;

  constructor(target: Target, listener: RewriteListener = {}) {
    this.target = target;
    this.listener = listener;
  }

  /** A builder inserting before `anchor`; what it builds is reported as inserted. */
  builder(anchor: Op): Builder {
    if (!anchor.parent) throw new Error(`rewriter: anchor op ${anchor.type} "${anchor.name}" is not in any block`);
    return new Builder(anchor.parent, this.target, { before: anchor, onInsert: (op) => this.noteInserted(op) });
  }

  /** Inserts a ready-made op immediately before `anchor`. */
  insertBefore(anchor: Op, op: Op): Op {
    if (!anchor.parent) throw new Error(`rewriter: anchor op ${anchor.type} "${anchor.name}" is not in any block`);
    anchor.parent.insertBefore(anchor, op);
    this.noteInserted(op);
    return op;
  }

  /** Replaces every use of `from` by `to` (types must agree). */
  replaceAllUsesWith(from: Value, to: Value): void {
    if (from === to) return;
    if (!typesCompatible(from.type, to.type)) {
      throw new Error(`rewriter: cannot replace "${from.name}" (${formatType(from.type)}) by "${to.name}" (${formatType(to.type)}): the types differ`);
    }
    const users = from.users;
    if (from.uses.length === 0) return;
    from.replaceAllUsesWith(to);
    this.changes++;
    for (const u of users) this.noteModified(u);
  }

  /**
   * Replaces the outputs of `op` by `replacements` (one per output), erases `op`, then
   * erases the producers of its operands that became dead.
   */
  replaceOp(op: Op, replacements: Value | readonly Value[]): void {
    const list = Array.isArray(replacements) ? (replacements as readonly Value[]) : [replacements as Value];
    if (list.length !== op.outputs.length) {
      throw new Error(`rewriter: op ${op.type} "${op.name}" has ${op.outputs.length} output(s) but ${list.length} replacement(s) were given`);
    }
    list.forEach((v, i) => {
      if (v === op.outputs[i]) throw new Error(`rewriter: op ${op.type} "${op.name}" cannot be replaced by its own output "${v.name}"`);
      if (v.producer === op) throw new Error(`rewriter: op ${op.type} "${op.name}" cannot be replaced by its own output "${v.name}"`);
    });
    list.forEach((v, i) => this.replaceAllUsesWith(op.outputs[i], v));
    this.eraseDead(op);
  }

  /** Erases `op` (its outputs must be unused). */
  erase(op: Op): void {
    const producers = operandProducers(op);
    this.listener.erased?.(op);
    eraseOp(op);
    this.changes++;
    for (const p of producers) if (p.parent) this.listener.modified?.(p);
  }

  /**
   * Erases `op` if it is trivially dead, then every producer of its operands that became
   * trivially dead, transitively. Returns the number of ops erased.
   */
  eraseDead(op: Op): number {
    let n = 0;
    const stack = [op];
    while (stack.length > 0) {
      const o = stack.pop()!;
      if (!o.parent || !isTriviallyDead(o)) continue;
      const producers = operandProducers(o);
      this.erase(o);
      n++;
      stack.push(...producers);
    }
    return n;
  }

  /**
   * Rebinds one operand of `op` in place — element `index` of `param` — keeping the
   * parameter order (unlike `setInput`, which rebinds the whole parameter). Types are not
   * checked, as with `setInput`; the caller keeps the op valid.
   */
  replaceOperand(op: Op, param: string, index: number, value: Value): void {
    const vs = op.inputs.get(param);
    if (!vs || index < 0 || index >= vs.length) {
      throw new Error(`rewriter: op ${op.type} "${op.name}" has no operand ${param}[${index}]`);
    }
    const old = vs[index];
    if (old === value) return;
    op.replaceInput(param, index, value);
    this.changes++;
    this.noteModified(op);
    if (old.producer && old.producer.parent) this.listener.modified?.(old.producer);
  }

  /** Rebinds a parameter of `op`. */
  setInput(op: Op, param: string, value: Value | readonly Value[]): void {
    const old = operandProducers(op);
    op.setInput(param, value);
    this.changes++;
    this.noteModified(op);
    for (const p of old) if (p.parent) this.listener.modified?.(p);
  }

  /** Unbinds an optional parameter of `op`. */
  removeInput(op: Op, param: string): void {
    const old = operandProducers(op);
    op.removeInput(param);
    this.changes++;
    this.noteModified(op);
    for (const p of old) if (p.parent) this.listener.modified?.(p);
  }

  /** The constant value of `v` at the rewriter's target (evaluating constexpr chains), or undefined. */
  constValue(v: Value): Tensor | undefined {
    return constValueOf(v, this.target);
  }

  private noteInserted(op: Op): void {
    this.changes++;
    this.listener.inserted?.(op);
  }

  private noteModified(op: Op): void {
    // the op's operands changed: constant values cached for its outputs may be stale
    for (const o of op.outputs) clearConstCache(o);
    this.listener.modified?.(op);
  }
}

function operandProducers(op: Op): Op[] {
  const out: Op[] = [];
  const add = (v: Value): void => {
    if (v.producer && !out.includes(v.producer)) out.push(v.producer);
  };
  for (const v of op.operands()) add(v);
  for (const b of op.blocks) for (const inner of b.walk()) for (const v of inner.operands()) add(v);
  return out;
}

// ---------------------------------------------------------------------------------------
// Rules and the worklist driver

/**
 * What a rule's rewrite returns: the replacement value(s) for the root op's outputs (the
 * driver replaces and erases the root), `true` when it made its changes itself through
 * the rewriter, or nothing when it declines (then it must not have changed anything).
 */
export type RewriteResult = Value | readonly Value[] | boolean | null | undefined | void;

export interface Rule {
  readonly name: string;
  readonly pattern: OpPattern;
  readonly rewrite: (m: Match, rw: Rewriter) => RewriteResult;
}

export function rule(name: string, pattern: OpPattern, rewrite: Rule['rewrite']): Rule {
  return { name, pattern, rewrite };
}

export interface ApplyRulesOptions {
  /** Target for type checks and constant evaluation (taken from the program when given a Program). */
  readonly target?: Target;
  /** Maximum number of sweeps over the worklist (default 10). */
  readonly maxIterations?: number;
  readonly signal?: AbortSignal;
}

export interface ApplyRulesResult {
  readonly changed: boolean;
  /** Number of rewrites that fired. */
  readonly rewrites: number;
  /** Sweeps run. */
  readonly iterations: number;
  /** False when the iteration cap stopped the driver with work left. */
  readonly converged: boolean;
  /** Rewrites per rule name. */
  readonly fired: Readonly<Record<string, number>>;
}

/**
 * Applies `rules` to a fixpoint. The first sweep visits every op (nested blocks included)
 * in order; each later sweep revisits only the ops a rewrite touched (inserted ops,
 * users of replaced values, producers of erased ops' operands). Stops when a sweep
 * changes nothing, or after `maxIterations` sweeps (`converged: false`).
 */
export function applyRules(program: Program, rules: readonly Rule[], options?: ApplyRulesOptions): ApplyRulesResult;
export function applyRules(fn: Fn, rules: readonly Rule[], options: ApplyRulesOptions & { readonly target: Target }): ApplyRulesResult;
export function applyRules(where: Program | Fn, rules: readonly Rule[], options: ApplyRulesOptions = {}): ApplyRulesResult {
  if ('functions' in where) {
    const fired: Record<string, number> = {};
    let rewrites = 0;
    let iterations = 0;
    let converged = true;
    for (const fn of where.functions.values()) {
      const r = applyRulesToFunction(fn, rules, { ...options, target: options.target ?? where.target });
      rewrites += r.rewrites;
      iterations = Math.max(iterations, r.iterations);
      converged &&= r.converged;
      for (const [k, n] of Object.entries(r.fired)) fired[k] = (fired[k] ?? 0) + n;
    }
    return { changed: rewrites > 0, rewrites, iterations, converged, fired };
  }
  if (!options.target) throw new Error(`applyRules: a target is needed to rewrite function "${where.name}" (pass options.target, or pass the Program)`);
  return applyRulesToFunction(where, rules, { ...options, target: options.target });
}

/** Whether `op` is still in `fn` (its block chain reaches the function's top block). */
function isLive(op: Op, fn: Fn): boolean {
  let b = op.parent;
  while (b) {
    if (b === fn.block) return true;
    const parent: Op | null = b.parentOp;
    if (!parent) return false;
    b = parent.parent;
  }
  return false;
}

function applyRulesToFunction(fn: Fn, rules: readonly Rule[], options: ApplyRulesOptions & { target: Target }): ApplyRulesResult {
  const maxIterations = options.maxIterations ?? 10;
  if (!Number.isInteger(maxIterations) || maxIterations < 1) {
    throw new Error(`applyRules: maxIterations must be a positive integer, got ${maxIterations}`);
  }
  const names = new Set<string>();
  const byType = new Map<string, Rule[]>();
  for (const r of rules) {
    if (names.has(r.name)) throw new Error(`applyRules: two rules are named "${r.name}"`);
    names.add(r.name);
    for (const t of typeof r.pattern.op === 'string' ? [r.pattern.op] : r.pattern.op) {
      const list = byType.get(t) ?? [];
      list.push(r);
      byType.set(t, list);
    }
  }

  let next: Op[] = [];
  let queued = new Set<Op>();
  const enqueue = (op: Op): void => {
    if (!queued.has(op)) {
      queued.add(op);
      next.push(op);
    }
  };
  const rw = new Rewriter(options.target, {
    inserted: (op) => {
      enqueue(op);
      for (const o of op.outputs) for (const u of o.users) enqueue(u);
    },
    modified: (op) => {
      enqueue(op);
      for (const o of op.outputs) for (const u of o.users) enqueue(u);
    },
  });

  const fired: Record<string, number> = {};
  let rewrites = 0;
  let iterations = 0;
  let worklist: Op[] = [...fn.walk()];
  while (worklist.length > 0 && iterations < maxIterations) {
    iterations++;
    next = [];
    queued = new Set();
    for (const op of worklist) {
      options.signal?.throwIfAborted();
      if (!isLive(op, fn)) continue; // erased earlier in this sweep
      for (const r of byType.get(op.type) ?? []) {
        const m = match(r.pattern, op);
        if (!m) continue;
        const before = rw.changes;
        const result = r.rewrite(m, rw);
        if (result === undefined || result === null || result === false) {
          if (rw.changes !== before) {
            throw new Error(`applyRules: rule "${r.name}" changed the program at ${op.type} "${op.name}" but returned nothing (return the replacement or true)`);
          }
          continue;
        }
        if (result !== true) rw.replaceOp(op, result as Value | readonly Value[]);
        fired[r.name] = (fired[r.name] ?? 0) + 1;
        rewrites++;
        break;
      }
    }
    worklist = next.filter((op) => isLive(op, fn));
  }
  return { changed: rewrites > 0, rewrites, iterations, converged: worklist.length === 0, fired };
}
