/**
 * The verifier: checks a Program against the rules Core ML and coremltools enforce, and
 * lists every problem it finds (not just the first one).
 *
 *  - names: every value name, op name and function name is a valid identifier and not a
 *    reserved word (mlpackage-format.md §7); value names and op names are unique in their
 *    function;
 *  - order and scope: every operand and block output is defined before it is used, in
 *    the same block or an enclosing one (ops are topologically ordered); use lists agree
 *    with the operands;
 *  - availability: every op exists at the program's target (mil-ops.md §0.1,
 *    mlpackage-format.md §12);
 *  - types: operands satisfy the op's signature for the target (dtypes, ranks, constness
 *    — mil-ops.md §0.2) and the stored output types equal the inferred ones;
 *  - states: state values are function inputs, touched only by `read_state` / `write_state`
 *    (mlpackage-format.md §14);
 *  - function I/O: at least one output, outputs distinct, no constexpr output returned
 *    directly (mil-ops.md §1), feature gates for states and input-less functions (§12).
 *
 * Every message names the function, the op (type and name), the input, and why.
 */
import { type Block, type Function as Fn, type Op, type Program, type Value } from './ir.js';
import { type Target, targetAtLeast } from './target.js';
import {
  type ValueType,
  type Shape,
  IDENTIFIER_RE,
  RESERVED_WORDS,
  formatType,
  tensorType,
  typesEqual,
} from './types.js';
import { getSignature, introducedAt, isRegisteredOp } from './registry/index.js';
import { OpTypeError } from './registry/signature.js';
import { typeCheckOp } from './registry/args.js';

export type ProblemKind =
  | 'program'
  | 'identifier'
  | 'duplicate-name'
  | 'order'
  | 'uses'
  | 'target'
  | 'unknown-op'
  | 'type'
  | 'const'
  | 'state'
  | 'io'
  | 'structure';

export interface Problem {
  readonly kind: ProblemKind;
  /** The function the problem is in (null for program-level problems). */
  readonly function: string | null;
  /** The op at fault, if any. */
  readonly op: { readonly type: string; readonly name: string } | null;
  /** The op parameter at fault, if any. */
  readonly input: string | null;
  /** Why, without the location prefix. */
  readonly reason: string;
  /** `function "main", op linear "lin", input "weight": <reason>` */
  readonly message: string;
}

export interface VerifyOptions {
  /** Verify against this target instead of `program.target`. */
  readonly target?: Target;
}

export class VerificationError extends Error {
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[]) {
    const n = problems.length;
    super(`program fails verification (${n} problem${n === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p.message}`).join('\n')}`);
    this.name = 'VerificationError';
    this.problems = problems;
  }
}

/** Throws a VerificationError listing every problem, or returns when the program is valid. */
export function verifyProgram(program: Program, options: VerifyOptions = {}): void {
  const problems = collectProblems(program, options);
  if (problems.length > 0) throw new VerificationError(problems);
}

/** Every problem of the program, in function order then op order. */
export function collectProblems(program: Program, options: VerifyOptions = {}): Problem[] {
  const target = options.target ?? program.target;
  const out: Problem[] = [];
  if (program.functions.size === 0) {
    out.push(problem('program', null, null, null, 'has no functions'));
  }
  if (program.defaultFunction !== undefined && !program.functions.has(program.defaultFunction)) {
    out.push(
      problem('program', null, null, null, `default function "${program.defaultFunction}" does not exist (functions: ${[...program.functions.keys()].join(', ') || 'none'})`),
    );
  }
  for (const [key, fn] of program.functions) {
    if (key !== fn.name) {
      out.push(problem('program', fn.name, null, null, `is registered under the key "${key}" but is named "${fn.name}"`));
    }
    const bad = identifierProblem(fn.name);
    if (bad) out.push(problem('identifier', fn.name, null, null, `function name ${bad}`));
    new FunctionVerifier(fn, target, out).run();
  }
  return out;
}

/**
 * Whether a stored type agrees with an inferred one: same kind, dtype and rank, and equal
 * dims wherever both are fixed. A symbolic dim on either side matches any dim (names of
 * symbolic dims are not significant across inference).
 */
export function typesCompatible(stored: ValueType, inferred: ValueType): boolean {
  if (stored.kind !== inferred.kind) return false;
  switch (stored.kind) {
    case 'tensor': {
      const b = inferred as typeof stored;
      return stored.dtype === b.dtype && shapesCompatible(stored.shape, b.shape);
    }
    case 'state':
      return typesCompatible(stored.wrapped, (inferred as typeof stored).wrapped);
    case 'tuple': {
      const b = inferred as typeof stored;
      return stored.types.length === b.types.length && stored.types.every((t, i) => typesCompatible(t, b.types[i]));
    }
    case 'list': {
      const b = inferred as typeof stored;
      return dimsCompatible(stored.length, b.length) && typesCompatible(stored.elem, b.elem);
    }
    case 'dict': {
      const b = inferred as typeof stored;
      return typesCompatible(stored.key, b.key) && typesCompatible(stored.value, b.value);
    }
  }
}

function shapesCompatible(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => dimsCompatible(d, b[i]));
}

function dimsCompatible(a: number | string, b: number | string): boolean {
  return typeof a === 'string' || typeof b === 'string' || a === b;
}

/** Why `name` is not a valid MIL identifier (§7), or undefined when it is. */
export function identifierProblem(name: string): string | undefined {
  if (!IDENTIFIER_RE.test(name)) return `"${name}" is not a valid identifier (must match [A-Za-z_][A-Za-z0-9_@]*)`;
  if (RESERVED_WORDS.has(name)) return `"${name}" is a reserved word (coremltools renames it to "${name}_workaround")`;
  return undefined;
}

function opRef(op: Op): { type: string; name: string } {
  return { type: op.type, name: op.name };
}

function problem(
  kind: ProblemKind,
  fn: string | null,
  op: { type: string; name: string } | null,
  input: string | null,
  reason: string,
): Problem {
  let where = fn === null ? 'program' : `function "${fn}"`;
  if (op) where += `, op ${op.type} "${op.name}"`;
  if (input !== null) where += `, input "${input}"`;
  return { kind, function: fn, op, input, reason, message: `${where}: ${reason}` };
}

function describeDefiner(v: Value): string {
  if (v.producer) return `op ${v.producer.type} "${v.producer.name}"`;
  if (v.ownerBlock?.parentOp) return `a block input of op ${v.ownerBlock.parentOp.type} "${v.ownerBlock.parentOp.name}"`;
  return 'a function input';
}

const STATE_OPS: ReadonlySet<string> = new Set(['read_state', 'write_state']);

/** Where a value is defined, for scope error messages. */
interface Definition {
  /** Walk position of the defining op (-1 for function inputs). */
  readonly position: number;
  /** The op whose nested block defines the value (null at function level). */
  readonly nestedIn: Op | null;
}

class FunctionVerifier {
  private readonly defs = new Map<Value, Definition>();
  private readonly opSet = new Set<Op>();
  private readonly blocks = new Set<Block>();
  private readonly positions = new Map<Op, number>();
  /** Walk position just past the last op of each nested block. */
  private readonly blockEnd = new Map<Block, number>();
  /** Values in scope at the current point of the walk. */
  private readonly scope = new Set<Value>();

  constructor(
    private readonly fn: Fn,
    private readonly target: Target,
    private readonly out: Problem[],
  ) {}

  run(): void {
    this.index();
    this.checkNames();
    this.checkInputs();
    for (const v of this.fn.inputs) this.scope.add(v);
    this.checkBlock(this.fn.block);
    this.checkOutputs();
    this.checkUseLists();
  }

  private report(kind: ProblemKind, op: Op | null, input: string | null, reason: string): void {
    this.out.push(problem(kind, this.fn.name, op ? opRef(op) : null, input, reason));
  }

  /** Positions of every op and definitions of every value, nested blocks included. */
  private index(): void {
    for (const v of this.fn.inputs) this.defs.set(v, { position: -1, nestedIn: null });
    this.blocks.add(this.fn.block);
    let pos = 0;
    const visit = (block: Block, nestedIn: Op | null): void => {
      for (const op of block.ops) {
        const here = pos++;
        this.opSet.add(op);
        this.positions.set(op, here);
        for (const o of op.outputs) this.defs.set(o, { position: here, nestedIn });
        for (const b of op.blocks) {
          this.blocks.add(b);
          for (const i of b.inputs) this.defs.set(i, { position: here, nestedIn: op });
          visit(b, op);
          this.blockEnd.set(b, pos);
        }
      }
    };
    visit(this.fn.block, null);
  }

  private checkNames(): void {
    const seen = new Map<string, Value>();
    const seenOps = new Map<string, Op>();
    const checkValue = (v: Value, op: Op | null, what: string): void => {
      const bad = identifierProblem(v.name);
      if (bad) this.report('identifier', op, null, `${what} name ${bad}`);
      const prev = seen.get(v.name);
      if (prev && prev !== v) {
        this.report('duplicate-name', op, null, `${what} name "${v.name}" is already defined by ${describeDefiner(prev)}; value names must be unique in a function`);
      } else {
        seen.set(v.name, v);
      }
    };
    for (const v of this.fn.inputs) checkValue(v, null, 'input');
    for (const op of this.fn.walk()) {
      const bad = identifierProblem(op.name);
      if (bad) this.report('identifier', op, null, `op name ${bad}`);
      const prevOp = seenOps.get(op.name);
      if (prevOp && prevOp !== op) {
        this.report('duplicate-name', op, null, `op name "${op.name}" is already used by op ${prevOp.type} "${prevOp.name}" at an earlier position; op names must be unique in a function`);
      } else {
        seenOps.set(op.name, op);
      }
      for (const o of op.outputs) checkValue(o, op, 'output');
      for (const b of op.blocks) for (const i of b.inputs) checkValue(i, op, 'block input');
    }
  }

  private checkInputs(): void {
    for (const v of this.fn.inputs) {
      if (v.type.kind === 'state') {
        if (!targetAtLeast(this.target, 'iOS18')) {
          this.report('target', null, null, `input "${v.name}" is a state, which needs target iOS18 or newer (the program targets ${this.target}; mlpackage-format.md §12)`);
        }
        continue;
      }
      if (v.type.kind !== 'tensor') {
        this.report('io', null, null, `input "${v.name}" has type ${formatType(v.type)}; function inputs must be tensors or states`);
      }
    }
    if (this.fn.inputs.length === 0 && !targetAtLeast(this.target, 'iOS18')) {
      this.report('io', null, null, `has no inputs, which needs target iOS18 or newer (the program targets ${this.target}; mlpackage-format.md §12)`);
    }
  }

  private checkBlock(block: Block): void {
    for (const op of block.ops) {
      if (op.parent !== block) {
        this.report('structure', op, null, 'its parent link does not point at the block that holds it (insert ops with Block.insertBefore/append)');
      }
      for (const [param, vs] of op.inputs) {
        vs.forEach((v, i) => {
          const input = vs.length > 1 ? `${param}[${i}]` : param;
          if (!this.scope.has(v)) this.report('order', op, input, this.scopeReason(v, this.positions.get(op) ?? Infinity));
          if (!v.uses.some((u) => u.kind === 'op' && u.op === op && u.param === param && u.index === i)) {
            this.report('uses', op, input, `value "${v.name}" does not list this use (use lists are out of sync; change operands with Op.setInput/replaceInput)`);
          }
        });
      }
      this.checkStates(op);
      this.checkTypes(op);
      op.outputs.forEach((o, i) => {
        if (o.producer !== op || o.index !== i) {
          this.report('structure', op, null, `output ${i} "${o.name}" does not point back at its producer`);
        }
      });
      for (const b of op.blocks) {
        for (const v of b.inputs) this.scope.add(v);
        this.checkBlock(b);
        // what the nested block defined is not visible after the op
        for (const v of b.inputs) this.scope.delete(v);
        for (const inner of b.walk()) for (const o of inner.outputs) this.scope.delete(o);
      }
      for (const o of op.outputs) this.scope.add(o);
    }
    if (block !== this.fn.block) {
      const parent = block.parentOp;
      const idx = parent ? parent.blocks.indexOf(block) : -1;
      block.outputs.forEach((v, i) => {
        if (!this.scope.has(v)) {
          this.report('order', parent, null, `output ${i} of nested block ${idx}: ${this.scopeReason(v, this.blockEnd.get(block) ?? Infinity)}`);
        }
        this.checkOutputUse(block, v, i, parent);
      });
    }
  }

  /** Why `v` is not visible at walk position `userPos` (Infinity = the function outputs). */
  private scopeReason(v: Value, userPos: number): string {
    const def = this.defs.get(v);
    if (def) {
      if (def.position >= userPos) {
        return `value "${v.name}" is used before it is defined (${describeDefiner(v)} comes later; ops must be in topological order)`;
      }
      if (def.nestedIn) {
        return `value "${v.name}" is defined inside a nested block of op ${def.nestedIn.type} "${def.nestedIn.name}" and is not visible here`;
      }
      return `value "${v.name}" is not in scope here`;
    }
    if (v.producer && v.producer.parent === null) {
      return `value "${v.name}" comes from op ${v.producer.type} "${v.producer.name}", which is not in any block (removed or never inserted)`;
    }
    const owner = v.producer?.parent?.function ?? v.ownerBlock?.function ?? null;
    if (owner && owner !== this.fn) return `value "${v.name}" belongs to function "${owner.name}", not to this function`;
    return `value "${v.name}" is not defined in this function`;
  }

  private checkStates(op: Op): void {
    op.outputs.forEach((o) => {
      if (o.type.kind === 'state') {
        this.report('state', op, null, `output "${o.name}" has state type ${formatType(o.type)}; states can only be function inputs`);
      }
    });
    for (const [param, vs] of op.inputs) {
      vs.forEach((v, i) => {
        if (v.type.kind !== 'state') return;
        if (STATE_OPS.has(op.type) && param === 'input') return;
        const input = vs.length > 1 ? `${param}[${i}]` : param;
        this.report('state', op, input, `uses the state "${v.name}" directly; a state may only be read by read_state and written by write_state (mlpackage-format.md §14)`);
      });
    }
  }

  /** read_state/write_state need a state function input; returns false when that fails. */
  private stateOperandOk(op: Op): boolean {
    if (!STATE_OPS.has(op.type)) return true;
    const vs = op.inputs.get('input');
    if (!vs || vs.length !== 1) return true; // the signature check reports the arity
    const v = vs[0];
    if (v.type.kind !== 'state') {
      this.report('state', op, 'input', `must be a state (a function input of state type), got ${formatType(v.type)} "${v.name}"`);
      return false;
    }
    if (!this.fn.inputs.includes(v)) {
      this.report('state', op, 'input', `state "${v.name}" is not an input of this function`);
      return false;
    }
    return true;
  }

  private checkTypes(op: Op): void {
    if (op.type === 'const') {
      this.checkConst(op);
      return;
    }
    const sig = getSignature(op.type, this.target);
    if (!sig) {
      if (isRegisteredOp(op.type)) {
        const since = introducedAt(op.type);
        this.report('target', op, null, `not available at target ${this.target}: ${op.type} is introduced in ${since}, so the program target must be ${since} or newer`);
      } else {
        this.report('unknown-op', op, null, `unknown op type "${op.type}" (not in the op registry)`);
      }
      return;
    }
    const nBlocks = sig.blocks ?? 0;
    if (op.blocks.length !== nBlocks) {
      this.report('structure', op, null, `has ${op.blocks.length} nested block(s) but the ${sig.since} signature expects ${nBlocks}`);
    }
    if (!this.stateOperandOk(op)) return;
    let inferred: readonly ValueType[];
    try {
      inferred = typeCheckOp(op, this.target);
    } catch (e) {
      if (e instanceof OpTypeError) {
        const prefix = `${e.opType} "${e.opName}"${e.param ? `, input "${e.param}"` : ''}: `;
        const reason = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
        const kind: ProblemKind = /compile-time constant/.test(reason) ? 'const' : 'type';
        this.report(kind, op, e.param, reason);
      } else {
        this.report('type', op, null, `type inference failed: ${(e as Error).message}`);
      }
      return;
    }
    if (inferred.length !== op.outputs.length) {
      this.report('type', op, null, `has ${op.outputs.length} output(s) but the ${sig.since} signature infers ${inferred.length}`);
      return;
    }
    op.outputs.forEach((o, i) => {
      if (!typesCompatible(o.type, inferred[i])) {
        this.report('type', op, null, `output ${i} "${o.name}" is stored as ${formatType(o.type)} but the ${sig.since} signature infers ${formatType(inferred[i])}`);
      }
    });
  }

  private checkConst(op: Op): void {
    if (op.inputs.size > 0) {
      this.report('structure', op, [...op.inputs.keys()][0], 'const ops take no inputs (the value is the attribute "val")');
    }
    const val = op.attributes.get('val');
    if (!val) {
      this.report('type', op, null, 'const op has no "val" attribute');
      return;
    }
    if (op.outputs.length !== 1) {
      this.report('type', op, null, `const ops have exactly 1 output, this one has ${op.outputs.length}`);
      return;
    }
    const want = tensorType(val.dtype, val.shape);
    if (!typesEqual(op.outputs[0].type, want)) {
      this.report('type', op, null, `output 0 "${op.outputs[0].name}" is stored as ${formatType(op.outputs[0].type)} but its value is ${formatType(want)}`);
    }
  }

  private checkOutputs(): void {
    const outs = this.fn.block.outputs;
    if (outs.length === 0) {
      this.report('io', null, null, 'has no outputs (a function must return at least one value)');
    }
    const first = new Map<Value, number>();
    outs.forEach((v, i) => {
      if (!this.scope.has(v)) {
        this.report('order', null, null, `output ${i}: ${this.scopeReason(v, Infinity)}`);
      }
      this.checkOutputUse(this.fn.block, v, i, null);
      if (v.type.kind === 'state') {
        this.report('state', null, null, `output ${i} is the state "${v.name}"; states cannot be returned (read them with read_state)`);
      }
      const p = v.producer;
      if (p?.isConstexpr) {
        this.report('io', null, null, `output ${i} "${v.name}" comes straight from op ${p.type} "${p.name}"; keep a real op between a constexpr output and a function output (mil-ops.md §1)`);
      }
      const prev = first.get(v);
      if (prev !== undefined) {
        this.report('io', null, null, `output ${i} repeats value "${v.name}" (already output ${prev}); output names must be distinct`);
      } else {
        first.set(v, i);
      }
    });
  }

  private checkOutputUse(block: Block, v: Value, i: number, parent: Op | null): void {
    if (!v.uses.some((u) => u.kind === 'output' && u.block === block && u.index === i)) {
      const where = parent ? `output ${i} of a nested block` : `output ${i}`;
      this.report('uses', parent, null, `${where}: value "${v.name}" does not list this use (use lists are out of sync; set outputs with Block.setOutputs/setOutput)`);
    }
  }

  /** Every recorded use of a function value points at a live operand or block output. */
  private checkUseLists(): void {
    for (const [v] of this.defs) {
      for (const u of v.uses) {
        if (u.kind === 'op') {
          if (!this.opSet.has(u.op)) {
            this.report('uses', null, null, `value "${v.name}" lists a use by op ${u.op.type} "${u.op.name}", which is not in this function (erase ops with Block.remove or Rewriter.erase)`);
          } else if (u.op.inputs.get(u.param)?.[u.index] !== v) {
            this.report('uses', u.op, u.param, `value "${v.name}" lists a use as operand ${u.param}[${u.index}], but the op does not read it there`);
          }
        } else if (!this.blocks.has(u.block)) {
          this.report('uses', null, null, `value "${v.name}" lists a use as output ${u.index} of a block that is not in this function`);
        } else if (u.block.outputs[u.index] !== v) {
          this.report('uses', null, null, `value "${v.name}" lists a use as block output ${u.index}, but that output is "${u.block.outputs[u.index]?.name ?? 'missing'}"`);
        }
      }
    }
  }
}
