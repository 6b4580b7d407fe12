/**
 * The IR: Program → Function → Block → Op → Value, in ordered SSA form
 * (ARCHITECTURE.md "IR decisions"). A Block keeps its ops topologically sorted; every
 * Value knows its producer and its uses (operand-level), so replacing a use is O(1).
 *
 * Representation choices:
 *  - Every op argument is a Value bound by name (MIL `Argument.Binding.name`). Constant
 *    data of constexpr ops (which MIL stores inline as attributes or value bindings) is
 *    held by `const` ops here too; the writer inlines them (mlpackage-format.md §9.4).
 *  - A `const` op carries its data in the attribute `val` (a Tensor).
 *  - Tuple-typed parameters (e.g. `concat.values`) bind several Values, in order.
 *  - States are function inputs of StateType; `read_state`/`write_state` touch them.
 */
import type { Tensor } from './tensor.js';
import { type Target } from './target.js';
import { type ValueType, formatType } from './types.js';

export type Use =
  | { readonly kind: 'op'; readonly op: Op; readonly param: string; readonly index: number }
  | { readonly kind: 'output'; readonly block: Block; readonly index: number };

export class Value {
  name: string;
  type: ValueType;
  /** The op that produces this value, or null for a function/block input. */
  producer: Op | null;
  /** Index among the producer's outputs (or among the block's inputs). */
  index: number;
  /** The block whose input this is (null when produced by an op). */
  ownerBlock: Block | null;
  /** Every place this value is read: op operands and block outputs. */
  readonly uses: Use[] = [];

  constructor(name: string, type: ValueType, producer: Op | null = null, index = 0) {
    this.name = name;
    this.type = type;
    this.producer = producer;
    this.index = index;
    this.ownerBlock = null;
  }

  get isInput(): boolean {
    return this.producer === null;
  }

  /** True if nothing reads this value. */
  get isDead(): boolean {
    return this.uses.length === 0;
  }

  /** The ops that read this value (each once, in use order). */
  get users(): Op[] {
    const out: Op[] = [];
    for (const u of this.uses) if (u.kind === 'op' && !out.includes(u.op)) out.push(u.op);
    return out;
  }

  /** Replaces every use of this value (operands and block outputs) by `other`. */
  replaceAllUsesWith(other: Value): void {
    if (other === this) return;
    for (const u of [...this.uses]) {
      if (u.kind === 'op') u.op.replaceInput(u.param, u.index, other);
      else u.block.setOutput(u.index, other);
    }
  }

  toString(): string {
    return `%${this.name}: ${formatType(this.type)}`;
  }
}

export interface OpInit {
  type: string;
  name?: string;
  inputs?: Record<string, Value | readonly Value[]>;
  outputs?: ReadonlyArray<{ name: string; type: ValueType }>;
  attributes?: Record<string, Tensor>;
  blocks?: Block[];
}

export class Op {
  type: string;
  /** The op's `name` attribute (§9.3). Defaults to the first output's name. */
  name: string;
  /** Parameter name → bound values, in insertion order. */
  readonly inputs = new Map<string, Value[]>();
  /** Non-input attributes (besides `name`); `const` ops hold `val` here. */
  readonly attributes = new Map<string, Tensor>();
  readonly outputs: Value[] = [];
  readonly blocks: Block[] = [];
  parent: Block | null = null;

  constructor(init: OpInit) {
    this.type = init.type;
    for (const [i, o] of (init.outputs ?? []).entries()) {
      this.outputs.push(new Value(o.name, o.type, this, i));
    }
    this.name = init.name ?? this.outputs[0]?.name ?? init.type;
    for (const [k, v] of Object.entries(init.inputs ?? {})) this.setInput(k, v);
    for (const [k, v] of Object.entries(init.attributes ?? {})) this.attributes.set(k, v);
    for (const b of init.blocks ?? []) this.addBlock(b);
  }

  get output(): Value {
    if (this.outputs.length !== 1) throw new Error(`op ${this.name} (${this.type}) has ${this.outputs.length} outputs, not 1`);
    return this.outputs[0];
  }

  /** The single value bound to `param`, or undefined if the parameter is absent. */
  input(param: string): Value | undefined {
    const vs = this.inputs.get(param);
    if (!vs) return undefined;
    if (vs.length !== 1) throw new Error(`parameter ${param} of op ${this.name} binds ${vs.length} values`);
    return vs[0];
  }

  /** Binds `param` to a value (or values for a tuple parameter), replacing any old binding. */
  setInput(param: string, value: Value | readonly Value[]): void {
    // an existing parameter keeps its position (Map.set on a present key does not move it)
    const old = this.inputs.get(param);
    if (old) for (const v of old) removeUse(v, (u) => u.kind === 'op' && u.op === this && u.param === param);
    const vs = Array.isArray(value) ? [...(value as readonly Value[])] : [value as Value];
    this.inputs.set(param, vs);
    vs.forEach((v, index) => v.uses.push({ kind: 'op', op: this, param, index }));
  }

  removeInput(param: string): void {
    const old = this.inputs.get(param);
    if (!old) return;
    for (const v of old) removeUse(v, (u) => u.kind === 'op' && u.op === this && u.param === param);
    this.inputs.delete(param);
  }

  replaceInput(param: string, index: number, value: Value): void {
    const vs = this.inputs.get(param);
    if (!vs || index >= vs.length) throw new Error(`op ${this.name} has no operand ${param}[${index}]`);
    const old = vs[index];
    removeUse(old, (u) => u.kind === 'op' && u.op === this && u.param === param && u.index === index);
    vs[index] = value;
    value.uses.push({ kind: 'op', op: this, param, index });
  }

  /** Drops all operand uses (call before discarding the op). */
  dropAllInputs(): void {
    for (const k of [...this.inputs.keys()]) this.removeInput(k);
  }

  addBlock(b: Block): void {
    b.parentOp = this;
    this.blocks.push(b);
  }

  /** All values this op reads, in parameter order. */
  operands(): Value[] {
    return [...this.inputs.values()].flat();
  }

  /** The `val` attribute of a `const` op. */
  get constValue(): Tensor | undefined {
    return this.type === 'const' ? this.attributes.get('val') : undefined;
  }

  get isConstexpr(): boolean {
    return this.type.startsWith('constexpr_');
  }

  toString(): string {
    return `${this.type} ${this.name}`;
  }
}

function removeUse(v: Value, pred: (u: Use) => boolean): void {
  const i = v.uses.findIndex(pred);
  if (i >= 0) v.uses.splice(i, 1);
}

export class Block {
  readonly inputs: Value[] = [];
  readonly ops: Op[] = [];
  readonly outputs: Value[] = [];
  parentOp: Op | null = null;
  /** The function this block belongs to (set for top blocks; nested blocks ask their parent). */
  fn: Function | null = null;

  constructor(inputs: readonly Value[] = []) {
    for (const v of inputs) this.addInput(v);
  }

  addInput(v: Value): void {
    v.producer = null;
    v.ownerBlock = this;
    v.index = this.inputs.length;
    this.inputs.push(v);
  }

  get function(): Function | null {
    let b: Block | null = this;
    while (b) {
      if (b.fn) return b.fn;
      b = b.parentOp?.parent ?? null;
    }
    return null;
  }

  /** Appends an op (its operands must already be defined). */
  append(op: Op): Op {
    return this.insertAt(this.ops.length, op);
  }

  insertAt(index: number, op: Op): Op {
    if (op.parent) throw new Error(`op ${op.name} is already in a block`);
    op.parent = this;
    this.ops.splice(index, 0, op);
    this.function?.noteNames(op);
    return op;
  }

  /** Inserts `op` immediately before `anchor` (keeps the block topologically ordered). */
  insertBefore(anchor: Op, op: Op): Op {
    const i = this.ops.indexOf(anchor);
    if (i < 0) throw new Error(`op ${anchor.name} is not in this block`);
    return this.insertAt(i, op);
  }

  insertAfter(anchor: Op, op: Op): Op {
    const i = this.ops.indexOf(anchor);
    if (i < 0) throw new Error(`op ${anchor.name} is not in this block`);
    return this.insertAt(i + 1, op);
  }

  /**
   * Removes an op. Its outputs must be unused unless `force` (then their uses must be
   * rewired by the caller). Operand uses are dropped.
   */
  remove(op: Op, force = false): void {
    const i = this.ops.indexOf(op);
    if (i < 0) throw new Error(`op ${op.name} is not in this block`);
    if (!force) {
      const used = op.outputs.find((v) => v.uses.length > 0);
      if (used) throw new Error(`cannot remove op ${op.name}: its output ${used.name} is still used`);
    }
    this.ops.splice(i, 1);
    op.dropAllInputs();
    op.parent = null;
  }

  setOutputs(values: readonly Value[]): void {
    for (let i = 0; i < this.outputs.length; i++) {
      const old = this.outputs[i];
      removeUse(old, (u) => u.kind === 'output' && u.block === this && u.index === i);
    }
    this.outputs.length = 0;
    values.forEach((v, i) => {
      this.outputs.push(v);
      v.uses.push({ kind: 'output', block: this, index: i });
    });
  }

  setOutput(index: number, value: Value): void {
    const old = this.outputs[index];
    if (!old) throw new Error(`block has no output ${index}`);
    removeUse(old, (u) => u.kind === 'output' && u.block === this && u.index === index);
    this.outputs[index] = value;
    value.uses.push({ kind: 'output', block: this, index });
  }

  /** Ops of this block and of nested blocks, depth first, in order. */
  *walk(): Generator<Op> {
    for (const op of this.ops) {
      yield op;
      for (const b of op.blocks) yield* b.walk();
    }
  }
}

/** Extra facts about a function input/output that the model description carries (§4.4, §5). */
export interface IODescription {
  shortDescription?: string;
  isOptional?: boolean;
  /** Default value for optional inputs (first element, as Core ML stores it). */
  defaultValue?: number;
  /** Shape flexibility of an input with symbolic dims. */
  enumeratedShapes?: number[][];
  shapeRange?: Array<[number, number]>;
  /** Default shape written in the description for inputs with symbolic dims. */
  defaultShape?: number[];
  /** Image feature (color space and size flexibility) when the input is an image. */
  image?: { colorSpace: 'GRAYSCALE' | 'RGB' | 'BGR' | 'GRAYSCALE_FLOAT16' };
}

export class Function {
  name: string;
  readonly inputs: Value[] = [];
  readonly block: Block;
  /** Per-input/output description details (by value name). */
  readonly io = new Map<string, IODescription>();
  /** `predictedFeatureName` / `predictedProbabilitiesName` of a classifier description. */
  predictedFeatureName?: string;
  predictedProbabilitiesName?: string;
  private names: Set<string> | null = null;

  constructor(name: string, inputs: ReadonlyArray<{ name: string; type: ValueType }> = []) {
    this.name = name;
    this.block = new Block();
    this.block.fn = this;
    for (const i of inputs) this.addInput(i.name, i.type);
  }

  addInput(name: string, type: ValueType): Value {
    const v = new Value(name, type);
    v.ownerBlock = this.block;
    v.index = this.inputs.length;
    this.inputs.push(v);
    this.names?.add(name);
    return v;
  }

  get outputs(): readonly Value[] {
    return this.block.outputs;
  }

  get ops(): readonly Op[] {
    return this.block.ops;
  }

  /** All ops, nested blocks included, in order. */
  walk(): Generator<Op> {
    return this.block.walk();
  }

  /** Every value name in scope (inputs, op outputs, nested block inputs). */
  allNames(): Set<string> {
    if (!this.names) {
      const s = new Set<string>(this.inputs.map((v) => v.name));
      for (const op of this.walk()) {
        for (const o of op.outputs) s.add(o.name);
        for (const b of op.blocks) for (const i of b.inputs) s.add(i.name);
      }
      this.names = s;
    }
    return this.names;
  }

  /** @internal — called when an op is inserted. */
  noteNames(op: Op): void {
    if (!this.names) return;
    for (const o of op.outputs) this.names.add(o.name);
  }

  /** A value name not used in this function: `base`, else `base_1`, `base_2`… */
  freshName(base: string): string {
    const names = this.allNames();
    let name = base;
    for (let i = 1; names.has(name); i++) name = `${base}_${i}`;
    names.add(name);
    return name;
  }

  /** Finds a value by name (inputs and op outputs). */
  findValue(name: string): Value | undefined {
    const i = this.inputs.find((v) => v.name === name);
    if (i) return i;
    for (const op of this.walk()) {
      for (const o of op.outputs) if (o.name === name) return o;
      for (const b of op.blocks) for (const bi of b.inputs) if (bi.name === name) return bi;
    }
    return undefined;
  }

  findOp(name: string): Op | undefined {
    for (const op of this.walk()) if (op.name === name) return op;
    return undefined;
  }
}

export interface ProgramMetadata {
  shortDescription?: string;
  versionString?: string;
  author?: string;
  license?: string;
  userDefined: Record<string, string>;
}

export class Program {
  target: Target;
  readonly functions = new Map<string, Function>();
  /** Default function of a multifunction model (§4.2 `defaultFunctionName`). */
  defaultFunction: string | undefined;
  metadata: ProgramMetadata = { userDefined: {} };
  /** `Program.attributes.buildInfo` key/value pairs (§6). */
  buildInfo: Record<string, string> = {};
  /** Whether the description uses the multifunction form (§4.2), even with one function. */
  multifunction = false;

  constructor(target: Target = 'iOS18') {
    this.target = target;
  }

  addFunction(fn: Function): Function {
    if (this.functions.has(fn.name)) throw new Error(`program already has a function named ${fn.name}`);
    this.functions.set(fn.name, fn);
    return fn;
  }

  /** The function named `name`, or the only/default/`main` function when omitted. */
  getFunction(name?: string): Function {
    if (name !== undefined) {
      const f = this.functions.get(name);
      if (!f) throw new Error(`no function "${name}" (functions: ${[...this.functions.keys()].join(', ')})`);
      return f;
    }
    const f =
      (this.defaultFunction && this.functions.get(this.defaultFunction)) ||
      this.functions.get('main') ||
      (this.functions.size === 1 ? [...this.functions.values()][0] : undefined);
    if (!f) throw new Error(`program has several functions (${[...this.functions.keys()].join(', ')}); name one`);
    return f;
  }

  get main(): Function {
    return this.getFunction();
  }

  *allOps(): Generator<Op> {
    for (const f of this.functions.values()) yield* f.walk();
  }
}

/**
 * Deep copy of a program. Tensors are immutable and shared (so lazy weights stay lazy);
 * everything else is copied. Value identity maps one-to-one.
 */
export function cloneProgram(p: Program): Program {
  const q = new Program(p.target);
  q.defaultFunction = p.defaultFunction;
  q.metadata = { ...p.metadata, userDefined: { ...p.metadata.userDefined } };
  q.buildInfo = { ...p.buildInfo };
  q.multifunction = p.multifunction;
  for (const f of p.functions.values()) q.addFunction(cloneFunction(f));
  return q;
}

export function cloneFunction(f: Function, name = f.name): Function {
  const g = new Function(name);
  const map = new Map<Value, Value>();
  for (const v of f.inputs) map.set(v, g.addInput(v.name, v.type));
  for (const [k, d] of f.io) g.io.set(k, structuredClone(d));
  g.predictedFeatureName = f.predictedFeatureName;
  g.predictedProbabilitiesName = f.predictedProbabilitiesName;
  cloneBlockInto(f.block, g.block, map);
  return g;
}

function cloneBlockInto(src: Block, dst: Block, map: Map<Value, Value>): void {
  for (const op of src.ops) {
    const inputs: Record<string, Value[]> = {};
    for (const [k, vs] of op.inputs) {
      inputs[k] = vs.map((v) => {
        const m = map.get(v);
        if (!m) throw new Error(`clone: operand ${v.name} of ${op.name} is not defined before it`);
        return m;
      });
    }
    const blocks = op.blocks.map((b) => {
      const nb = new Block(b.inputs.map((i) => new Value(i.name, i.type)));
      b.inputs.forEach((i, k) => map.set(i, nb.inputs[k]));
      return { src: b, dst: nb };
    });
    const copy = new Op({
      type: op.type,
      name: op.name,
      inputs,
      outputs: op.outputs.map((o) => ({ name: o.name, type: o.type })),
      attributes: Object.fromEntries(op.attributes),
    });
    op.outputs.forEach((o, i) => map.set(o, copy.outputs[i]));
    for (const { src: sb, dst: db } of blocks) {
      copy.addBlock(db);
      cloneBlockInto(sb, db, map);
    }
    dst.append(copy);
  }
  dst.setOutputs(
    src.outputs.map((v) => {
      const m = map.get(v);
      if (!m) throw new Error(`clone: block output ${v.name} is not defined`);
      return m;
    }),
  );
}
