/**
 * Analyses the pass needs before it changes anything: which (input, output) pairs of a
 * function are state updates, how the new value is computed from the old one, along
 * which axis a cache grows, and whether turning the pair into a state keeps the
 * function's meaning.
 *
 * The rewrite replaces "the caller feeds output O back as input I on the next call" by
 * "the function keeps O in a state and reads it back as I". That is exact for any
 * function, with one condition inside a call: every reader of the old contents must run
 * before the new contents are written (mil-ops.md §2.3 — Core ML updates a state in
 * place, so after `write_state` the old contents are gone).
 */
import { type Function as Fn, type Op, type Program, type Target, type TensorType, type Value, constValueOf, typesEqual } from '@silica/ir';

/** How the new contents of a state are computed from the old. */
export type UpdateKind = 'slice_update' | 'concat_slice' | 'elementwise' | 'other';

/** One (input, output) pair of a function that the pass turns into a state. */
export interface StatePair {
  readonly function: string;
  /** The input that receives the old contents; it becomes the state (and keeps its name). */
  readonly input: string;
  /** The output that returns the new contents; it disappears from the function's outputs. */
  readonly output: string;
  readonly kind: UpdateKind;
  /** The axis along which the cache is written position by position, when known. */
  readonly sequenceAxis?: number;
}

/** A pair the detection looked at and left alone, and why. */
export interface RejectedPair {
  readonly function: string;
  readonly input: string;
  readonly output: string;
  readonly reason: string;
  /** `warn`: the pair looks like a state but cannot be one as it is (the user should know); `info`: not a state. */
  readonly level: 'warn' | 'info';
}

/**
 * Ops through which detection follows an update, with the operands that carry data (index
 * operands such as `begin`/`end` are not followed). mil-ops.md §3, §6.
 */
export const DATA_OPERANDS: Readonly<Record<string, readonly string[]>> = {
  slice_update: ['x', 'update'],
  concat: ['values'],
  slice_by_index: ['x'],
  slice_by_size: ['x'],
  add: ['x', 'y'],
  sub: ['x', 'y'],
  mul: ['x', 'y'],
  real_div: ['x', 'y'],
  maximum: ['x', 'y'],
  minimum: ['x', 'y'],
  select: ['a', 'b'],
};

const ELEMENTWISE = new Set(['add', 'sub', 'mul', 'real_div', 'maximum', 'minimum', 'select']);

/** Longest chain of update ops detection follows from an output back to an input. */
const MAX_CHAIN = 6;

/** What links an output to the input it is computed from. */
export interface UpdatePath {
  /** The ops on a data path from the input to the output (the output's producer included). */
  readonly ops: ReadonlySet<Op>;
  readonly kind: UpdateKind;
  readonly sequenceAxis?: number;
}

function dataOperands(op: Op, all: boolean): Value[] {
  if (all) {
    const out = op.operands();
    // values captured by nested blocks are read by the op too
    for (const b of op.blocks) for (const inner of b.walk()) out.push(...inner.operands());
    return out;
  }
  const params = DATA_OPERANDS[op.type];
  if (!params) return [];
  return params.flatMap((p) => op.inputs.get(p) ?? []);
}

/**
 * The ops on data paths from `input` to `output`. With `restricted`, only the update
 * ops of DATA_OPERANDS are followed, at most MAX_CHAIN deep; otherwise every operand of
 * every op (explicit pairs: the user says the output is the new contents), skipping the
 * ops above the first reader of `input`, which cannot be on such a path — so a pair deep
 * in a long function costs the ops between its input's first reader and its output.
 */
export function pathOps(input: Value, output: Value, restricted: boolean, fn?: Fn, index?: ReadonlyMap<Op, number>): Set<Op> {
  let floor = -Infinity;
  if (!restricted && fn && index) {
    floor = Infinity;
    for (const u of input.uses) if (u.kind === 'op') floor = Math.min(floor, topLevelIndex(fn, u.op, index));
  }
  // op → (shallowest depth it was explored at, whether it reaches the input from there):
  // with the depth limit, a miss at depth d says nothing about depth < d
  const memo = new Map<Op, { depth: number; hit: boolean }>();
  const onPath = new Set<Op>();
  const reaches = (v: Value, depth: number): boolean => {
    if (v === input) return true;
    const op = v.producer;
    if (!op) return false;
    if (restricted && (depth >= MAX_CHAIN || !DATA_OPERANDS[op.type])) return false;
    const known = memo.get(op);
    if (known !== undefined && (known.hit || known.depth <= depth)) return known.hit;
    if (floor !== -Infinity && topLevelIndex(fn!, op, index!) < floor) {
      memo.set(op, { depth: -1, hit: false });
      return false;
    }
    let hit = false;
    for (const w of dataOperands(op, !restricted)) if (reaches(w, depth + 1)) hit = true;
    memo.set(op, { depth, hit });
    if (hit) onPath.add(op);
    return hit;
  };
  reaches(output, 0);
  return onPath;
}

/** Function inputs reached from `output` through update ops (restricted walk). */
function inputsReached(output: Value): Set<Value> {
  const found = new Set<Value>();
  const seen = new Map<Op, number>(); // op → shallowest depth explored
  const walk = (v: Value, depth: number): void => {
    const op = v.producer;
    if (!op) {
      found.add(v);
      return;
    }
    if (depth >= MAX_CHAIN || !DATA_OPERANDS[op.type] || (seen.get(op) ?? Infinity) <= depth) return;
    seen.set(op, depth);
    for (const w of dataOperands(op, false)) walk(w, depth + 1);
  };
  walk(output, 0);
  return found;
}

function intsOf(v: Value | undefined, target: Target): number[] | undefined {
  if (!v) return undefined;
  const t = constValueOf(v, target);
  return t ? t.toNumbers() : undefined;
}

/** Classifies an update path and finds the axis a cache is written along. */
export function describePath(input: Value, ops: ReadonlySet<Op>, target: Target): UpdatePath {
  const rank = (input.type as TensorType).shape.length;
  // slice_update writing into the old contents (or a value computed from them): the axis
  // where the update is narrower than the cache, when it is exactly one
  const carriesOld = (v: Value | undefined): boolean => v === input || (!!v?.producer && ops.has(v.producer));
  const su = [...ops].find((op) => op.type === 'slice_update' && carriesOld(op.input('x')));
  if (su) {
    const x = su.input('x')!.type as TensorType;
    const u = su.input('update')!.type as TensorType;
    let axis: number | undefined;
    if (u.shape.length === x.shape.length) {
      const diff = x.shape.map((_, i) => i).filter((i) => x.shape[i] !== u.shape[i]);
      if (diff.length === 1) axis = diff[0];
    }
    return { ops, kind: 'slice_update', sequenceAxis: axis };
  }
  const cat = [...ops].find((op) => op.type === 'concat');
  if (cat) {
    const a = intsOf(cat.input('axis'), target)?.[0];
    const axis = a === undefined ? undefined : a < 0 ? a + rank : a;
    const hasSlice = [...ops].some((op) => op.type === 'slice_by_index' || op.type === 'slice_by_size');
    return { ops, kind: hasSlice ? 'concat_slice' : 'other', sequenceAxis: axis !== undefined && axis >= 0 && axis < rank ? axis : undefined };
  }
  if (ops.size > 0 && [...ops].every((op) => ELEMENTWISE.has(op.type))) return { ops, kind: 'elementwise' };
  return { ops, kind: 'other' };
}

/** Index in the function's top block of the op that holds `op` (itself or an enclosing op). */
export function topLevelIndex(fn: Fn, op: Op, index: ReadonlyMap<Op, number>): number {
  let o: Op | null = op;
  while (o) {
    const i = index.get(o);
    if (i !== undefined && o.parent === fn.block) return i;
    o = o.parent?.parentOp ?? null;
  }
  throw new Error(`op ${op.type} "${op.name}" is not in function "${fn.name}"`);
}

export function opIndex(fn: Fn): Map<Op, number> {
  const m = new Map<Op, number>();
  fn.block.ops.forEach((op, i) => m.set(op, i));
  return m;
}

/**
 * Why reading the old contents through a state would change the function, or undefined:
 * every reader of `input` must run no later than the op that produces the new contents
 * (the write goes right after it), and the input must not be returned as an output.
 */
export function orderProblem(fn: Fn, input: Value, output: Value, index: ReadonlyMap<Op, number>): string | undefined {
  const producer = output.producer!;
  const at = index.get(producer)!;
  for (const u of input.uses) {
    if (u.kind === 'output') return `input "${input.name}" is also returned as output ${u.index}, so its old contents would be needed after the update`;
    const i = topLevelIndex(fn, u.op, index);
    if (i > at) {
      return `input "${input.name}" is also read by ${u.op.type} "${u.op.name}" after ${producer.type} "${producer.name}" computed the new contents; Core ML updates states in place (mil-ops.md §2.3), so that reader would see the updated cache`;
    }
  }
  return undefined;
}

/** Affixes that mark the old/new side of a state's name (`acc_in`/`acc_out`, `past_kv`/`present_kv`). */
const SIDE = '(?:in|out|old|new|prev|previous|next|past|present|cur|current|updated|update|input|output)';
const PREFIX_RE = new RegExp(`^${SIDE}_`);
const SUFFIX_RE = new RegExp(`_${SIDE}$`);

function stem(name: string): string {
  let s = name.toLowerCase();
  for (let prev = ''; prev !== s; ) {
    prev = s;
    s = s.replace(PREFIX_RE, '').replace(SUFFIX_RE, '');
  }
  return s;
}

/**
 * Whether two names look like the two sides of one state: the same after dropping
 * old/new affixes (`acc_in`/`acc_out`, `past_key`/`present_key`), or one is the other
 * plus a `_suffix` (`acc`/`acc_next`).
 */
export function namesPair(input: string, output: string): boolean {
  const a = input.toLowerCase();
  const b = output.toLowerCase();
  if (b.startsWith(`${a}_`) || a.startsWith(`${b}_`)) return true;
  const sa = stem(a);
  return sa !== '' && sa === stem(b);
}

/**
 * Finds the state pairs of every function: an output with the same dtype and static
 * shape as an input, computed from that input by `slice_update`, `concat` + slice, or an
 * elementwise update, where
 *  - the input feeds nothing but that update (an input that also feeds other work, such
 *    as the residual stream in `y = x + f(x)`, is not a state);
 *  - for an elementwise update (a weak signal: `y = x + b` is one too), the names pair up
 *    (`acc_in` → `acc_out`, `acc` → `acc_next`, see `namesPair`);
 *  - the output is not itself computed from another output computed from the input
 *    (`y = acc_out * acc_out` is a use of the new contents, not the new contents);
 *  - exactly one input and one output qualify (otherwise the pair is ambiguous);
 *  - every reader of the old contents runs before the new contents are computed.
 */
export function detectStatePairs(program: Program): { pairs: StatePair[]; rejected: RejectedPair[] } {
  const { found, rejected } = detect(program);
  const pairs = found.map(({ fn, input, output, path }) => ({
    function: fn.name,
    input: input.name,
    output: output.name,
    kind: path.kind,
    ...(path.sequenceAxis !== undefined ? { sequenceAxis: path.sequenceAxis } : {}),
  }));
  return { pairs, rejected };
}

/** A detected pair with its values and update path (what the pass works with). */
export interface DetectedPair {
  readonly fn: Fn;
  readonly input: Value;
  readonly output: Value;
  readonly path: UpdatePath;
}

/** detectStatePairs, keeping the values. */
export function detect(program: Program): { found: DetectedPair[]; rejected: RejectedPair[] } {
  const found: DetectedPair[] = [];
  const rejected: RejectedPair[] = [];
  for (const fn of program.functions.values()) {
    const r = detectInFunction(fn, program.target);
    found.push(...r.found);
    rejected.push(...r.rejected);
  }
  return { found, rejected };
}

interface Link {
  readonly input: Value;
  readonly output: Value;
  readonly ops: Set<Op>;
}

function detectInFunction(fn: Fn, target: Target): { found: DetectedPair[]; rejected: RejectedPair[] } {
  const found: DetectedPair[] = [];
  const rejected: RejectedPair[] = [];
  const reject = (input: Value | string, output: Value, reason: string, level: 'warn' | 'info'): void => {
    rejected.push({ function: fn.name, input: typeof input === 'string' ? input : input.name, output: output.name, reason, level });
  };
  const index = opIndex(fn);

  // every (input, output) linked by a chain of update ops, same type
  const links: Link[] = [];
  for (const out of fn.outputs) {
    if (out.type.kind !== 'tensor' || !out.producer || out.producer.parent !== fn.block) continue;
    if (fn.outputs.filter((o) => o === out).length > 1) continue;
    const type = out.type;
    for (const input of inputsReached(out)) {
      if (input.type.kind !== 'tensor' || !fn.inputs.includes(input) || !typesEqual(input.type, type)) continue;
      links.push({ input, output: out, ops: pathOps(input, out, true) });
    }
  }
  // an output computed from another output that is computed from the same input is downstream of it
  const downstream = (l: Link): boolean =>
    links.some((m) => m !== l && m.input === l.input && m.output.producer !== null && l.ops.has(m.output.producer));
  const eligible = new Map<Value, Link[]>();
  for (const l of links) {
    if (downstream(l)) continue;
    const { input, output } = l;
    const type = input.type as TensorType;
    if (!type.shape.every((d) => typeof d === 'number')) {
      reject(input, output, `a state needs a static shape, but "${input.name}" is ${type.dtype}[${type.shape.join(', ')}] (mlpackage-format.md §14)`, 'warn');
      continue;
    }
    const outside = input.uses.find((u) => u.kind === 'output' || !l.ops.has(u.op));
    if (outside) {
      const who = outside.kind === 'output' ? `returned as output ${outside.index}` : `read by ${outside.op.type} "${outside.op.name}"`;
      reject(input, output, `input "${input.name}" is also ${who}, outside the update that computes "${output.name}"; not treated as a state (name the pair in options.states to convert it anyway)`, 'info');
      continue;
    }
    const kind = describePath(input, l.ops, target).kind;
    if ((kind === 'elementwise' || kind === 'other') && !namesPair(input.name, output.name)) {
      reject(input, output, `"${output.name}" is an elementwise function of "${input.name}", but the names do not pair up as a state's (like acc_in → acc_out); name the pair in options.states to convert it`, 'info');
      continue;
    }
    const list = eligible.get(output) ?? [];
    list.push(l);
    eligible.set(output, list);
  }
  const byInput = new Map<Value, Link[]>();
  for (const [output, list] of eligible) {
    if (list.length > 1) {
      reject(list.map((l) => l.input.name).join(', '), output, `output "${output.name}" is computed from several inputs of its type (${list.map((l) => `"${l.input.name}"`).join(', ')}); name the pair in options.states`, 'warn');
      continue;
    }
    const l = list[0];
    byInput.set(l.input, [...(byInput.get(l.input) ?? []), l]);
  }
  for (const [input, list] of byInput) {
    if (list.length > 1) {
      for (const l of list) {
        reject(input, l.output, `outputs ${list.map((m) => `"${m.output.name}"`).join(' and ')} are all computed from input "${input.name}"; name the pair in options.states`, 'warn');
      }
      continue;
    }
    const { output, ops } = list[0];
    const order = orderProblem(fn, input, output, index);
    if (order) {
      reject(input, output, order, 'info');
      continue;
    }
    found.push({ fn, input, output, path: describePath(input, ops, target) });
  }
  // in the order of the function's outputs
  const at = (p: DetectedPair): number => fn.outputs.indexOf(p.output);
  found.sort((a, b) => at(a) - at(b));
  return { found, rejected };
}
