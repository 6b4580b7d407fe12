/**
 * Executes one function of a Program.
 *
 * At session creation:
 *  - every `const` and `constexpr_*` output that a real op reads is decoded once
 *    (fp16 weights widened to Float32Array; constexpr chains evaluated through the
 *    registry with `constValueOf`, mil-ops.md §1);
 *  - top-level ops whose operands are all constant are folded once with the kernels;
 *  - states (function inputs of state type, mil-ops.md §2) are allocated as zeros.
 *
 * `predict` then runs the remaining ops in block order. Each op output is checked
 * against its declared type (rank, static dims, dtype kind) and an fp16-typed output is
 * rounded to fp16, so an fp16 program computes like one; values are released after
 * their last use.
 */
import {
  type Block,
  type DType,
  type Function as IRFunction,
  type Op,
  type Program,
  type TensorType,
  type Value,
  clearConstCache,
  constValueOf,
  formatType,
  roundToFp16InPlace,
} from '@silica/ir';
import { type InputTensor, type OutputTensor, toOutput, toRuntimeInput } from './io.js';
import type { Kernel, KernelContext } from './kernel.js';
import { KERNELS } from './kernels/index.js';
import { type RData, type RTensor, copyOf, fmt, fromIRTensor, intsOf, kindOf, sizeOf } from './rtensor.js';

export interface SessionOptions {
  /** Function to run; default: the program's default function (or `main`, or the only one). */
  function?: string;
  /** After every op, fail naming the first op whose output contains a NaN. */
  checkNaN?: boolean;
}

export interface PredictOptions {
  /** Names of intermediate values (of the function's top-level block) to return besides the outputs. */
  extraOutputs?: readonly string[];
}

export interface TensorDescription {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly (number | string)[];
}

export interface Session {
  readonly program: Program;
  readonly functionName: string;
  /** Inputs to pass to `predict` (state inputs excluded). */
  readonly inputs: readonly TensorDescription[];
  readonly outputs: readonly TensorDescription[];
  /**
   * Runs the function. Synchronous: the result is returned directly (awaiting it works
   * too). Outputs are keyed by output value name; see `OutputTensor` for the data types.
   */
  predict(inputs: Readonly<Record<string, InputTensor>>, options?: PredictOptions): Record<string, OutputTensor>;
  /** Sets every state back to zeros. */
  resetStates(): void;
  /**
   * Overwrites one state's contents (like Core ML's state buffer access), e.g. to start
   * a decode from a given KV cache. Checked against the state's type like an input.
   */
  setState(name: string, value: InputTensor): void;
  /** A snapshot (copies) of the current state contents, by state input name. */
  readonly states: Record<string, OutputTensor>;
}

/** An error while executing an op; names the op and (when known) the parameter. */
export class InterpreterError extends Error {
  readonly opType: string | undefined;
  readonly opName: string | undefined;
  readonly param: string | undefined;
  constructor(message: string, op?: Op, param?: string, options?: { cause?: unknown }) {
    super(op ? `${op.type} "${op.name}"${param ? `, input "${param}"` : ''}: ${message}` : message, options);
    this.name = 'InterpreterError';
    this.opType = op?.type;
    this.opName = op?.name;
    this.param = param;
  }
}

/** Ops that touch states or carry blocks: never folded at session creation. */
const NOT_FOLDABLE = new Set(['read_state', 'write_state', 'coreml_update_state', 'cond', 'while_loop']);

class Env {
  readonly vars = new Map<Value, RTensor>();
  constructor(
    private readonly parent: Env | null,
    private readonly consts: ReadonlyMap<Value, RTensor>,
  ) {}
  get(v: Value): RTensor | undefined {
    let e: Env | null = this;
    while (e) {
      const t = e.vars.get(v);
      if (t) return t;
      e = e.parent;
    }
    return this.consts.get(v);
  }
}

/** Is the value read by anything other than a constexpr op (an op operand or a block output)? */
function readAtRuntime(v: Value): boolean {
  return v.uses.some((u) => u.kind === 'output' || !u.op.isConstexpr);
}

class Runner {
  readonly consts = new Map<Value, RTensor>();
  readonly folded = new Set<Op>();
  readonly memos = new Map<Op, Map<string, unknown>>();
  readonly states = new Map<Value, RTensor>();
  readonly stateInputs: Value[] = [];
  readonly dataInputs: Value[] = [];
  private readonly frees = new Map<Block, Value[][]>();

  constructor(
    readonly program: Program,
    readonly fn: IRFunction,
    readonly checkNaN: boolean,
  ) {
    for (const v of fn.inputs) {
      if (v.type.kind === 'state') this.stateInputs.push(v);
      else if (v.type.kind === 'tensor') this.dataInputs.push(v);
      else throw new InterpreterError(`input "${v.name}" has type ${formatType(v.type)}; only tensor and state inputs are supported`);
    }
    this.resetStates();
    this.prepareConstants();
  }

  get target() {
    return this.program.target;
  }

  resetStates(): void {
    for (const v of this.stateInputs) {
      if (v.type.kind !== 'state') continue;
      const w = v.type.wrapped;
      if (!w.shape.every((d) => typeof d === 'number')) {
        throw new InterpreterError(`state "${v.name}" has the non-static shape ${formatType(w)}`);
      }
      const shape = w.shape as number[];
      const kind = kindOf(w.dtype);
      if (kind === 'string') throw new InterpreterError(`state "${v.name}" cannot hold strings`);
      const n = sizeOf(shape);
      const data = kind === 'float' ? new Float32Array(n) : kind === 'int' ? new Int32Array(n) : new Uint8Array(n);
      this.states.set(v, { dtype: w.dtype, shape, data });
    }
  }

  setState(name: string, value: InputTensor): void {
    const v = this.stateInputs.find((s) => s.name === name);
    if (!v || v.type.kind !== 'state') {
      const names = this.stateInputs.map((s) => s.name).join(', ') || 'none';
      throw new InterpreterError(`function "${this.fn.name}" has no state "${name}" (states: ${names})`);
    }
    try {
      this.states.set(v, toRuntimeInput(name, value, v.type.wrapped, new Map()));
    } catch (e) {
      throw new InterpreterError(`state ${(e as Error).message.replace(/^input /, '')}`, undefined, undefined, { cause: e });
    }
  }

  private prepareConstants(): void {
    for (const op of this.fn.walk()) {
      if (op.type === 'const') {
        const val = op.attributes.get('val');
        if (!val) throw new InterpreterError('const op has no "val" attribute', op);
        if (readAtRuntime(op.output)) this.consts.set(op.output, this.checkedConst(op, fromIRTensor(val)));
        continue;
      }
      if (op.isConstexpr) {
        for (const v of op.outputs) {
          if (!readAtRuntime(v)) continue;
          let t;
          try {
            t = constValueOf(v, this.target);
          } catch (e) {
            throw new InterpreterError(`evaluating output "${v.name}" failed: ${(e as Error).message}`, op, undefined, { cause: e });
          }
          if (!t) {
            throw new InterpreterError(
              `output "${v.name}" could not be evaluated: the registry has no evaluator for ${op.type} at ${this.target}, or an input is not constant`,
              op,
            );
          }
          // the decoded copy lives in this session; drop the registry's cached tensor
          clearConstCache(v);
          this.consts.set(v, this.checkedConst(op, this.conform(op, v.index, fromIRTensor(t), [])));
        }
        continue;
      }
    }
    const root = new Env(null, this.consts);
    for (const op of this.fn.block.ops) {
      if (op.type === 'const' || op.isConstexpr || NOT_FOLDABLE.has(op.type) || op.blocks.length > 0) continue;
      const operands = op.operands();
      if (op.outputs.length === 0 || operands.length === 0 || !operands.every((v) => this.consts.has(v))) continue;
      const outs = this.execOp(op, root);
      op.outputs.forEach((v, i) => this.consts.set(v, outs[i]));
      this.folded.add(op);
    }
    // constants only the folding read (a weight that was transposed once) are not needed again
    for (const v of [...this.consts.keys()]) {
      if (v.uses.every((u) => u.kind === 'op' && (this.folded.has(u.op) || u.op.isConstexpr))) this.consts.delete(v);
    }
  }

  private checkedConst(op: Op, t: RTensor): RTensor {
    if (this.checkNaN) {
      const i = firstNaN(t.data);
      if (i >= 0) throw new InterpreterError(`checkNaN: constant value "${op.outputs[0]?.name}" contains NaN at flat index ${i}`, op);
    }
    return t;
  }

  predict(inputs: Readonly<Record<string, InputTensor>>, options: PredictOptions = {}): Record<string, OutputTensor> {
    if (inputs === null || typeof inputs !== 'object') throw new InterpreterError('predict expects an object of named inputs');
    const expected = this.dataInputs.map((v) => v.name);
    const list = this.dataInputs.map((v) => `${v.name}: ${formatType(v.type)}`).join(', ') || 'none';
    const given = Object.keys(inputs);
    const unknown = given.filter((n) => !expected.includes(n));
    if (unknown.length > 0) {
      const states = unknown.filter((n) => this.stateInputs.some((s) => s.name === n));
      const hint = states.length > 0 ? ` (${states.join(', ')} ${states.length > 1 ? 'are states' : 'is a state'}: states live in the session, see resetStates())` : '';
      throw new InterpreterError(`unknown input${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}${hint}; function "${this.fn.name}" expects: ${list}`);
    }
    const missing = expected.filter((n) => !(n in inputs));
    if (missing.length > 0) {
      throw new InterpreterError(`missing input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `"${n}"`).join(', ')}; function "${this.fn.name}" expects: ${list}`);
    }
    const env = new Env(null, this.consts);
    const symbols = new Map<string, number>();
    for (const v of this.dataInputs) {
      let t: RTensor;
      try {
        t = toRuntimeInput(v.name, inputs[v.name], v.type as TensorType, symbols);
      } catch (e) {
        throw new InterpreterError((e as Error).message, undefined, undefined, { cause: e });
      }
      if (this.checkNaN) {
        const i = firstNaN(t.data);
        if (i >= 0) throw new InterpreterError(`checkNaN: input "${v.name}" contains NaN at flat index ${i}`);
      }
      env.vars.set(v, t);
    }
    const keep = new Set<Value>();
    for (const name of options.extraOutputs ?? []) {
      const v = this.fn.block.ops.flatMap((op) => op.outputs).find((o) => o.name === name) ?? this.fn.inputs.find((i) => i.name === name);
      if (!v) throw new InterpreterError(`extraOutputs: no value "${name}" in the top-level block of function "${this.fn.name}"`);
      if (v.type.kind === 'state') throw new InterpreterError(`extraOutputs: "${name}" is a state; read session.states instead`);
      keep.add(v);
    }
    const saved = new Map(this.states);
    let outs: RTensor[];
    try {
      outs = this.runBlock(this.fn.block, [], env, keep);
    } catch (e) {
      // a failed prediction leaves the states as they were
      for (const [k, t] of saved) this.states.set(k, t);
      throw e;
    }
    const result: Record<string, OutputTensor> = {};
    this.fn.block.outputs.forEach((v, i) => (result[v.name] = toOutput(outs[i])));
    for (const v of keep) {
      const t = env.get(v);
      if (!t) throw new InterpreterError(`extraOutputs: value "${v.name}" was not computed`);
      result[v.name] = toOutput(t);
    }
    return result;
  }

  runBlock(block: Block, inputs: readonly RTensor[], parent: Env, keep?: ReadonlySet<Value>): RTensor[] {
    if (inputs.length !== block.inputs.length) {
      throw new InterpreterError(`internal: block expects ${block.inputs.length} inputs, got ${inputs.length}`);
    }
    const env = block === this.fn.block ? parent : new Env(parent, this.consts);
    block.inputs.forEach((v, i) => env.vars.set(v, inputs[i]));
    const frees = this.freesOf(block);
    for (let i = 0; i < block.ops.length; i++) {
      const op = block.ops[i];
      if (op.type !== 'const' && !op.isConstexpr && !this.folded.has(op)) {
        const outs = this.execOp(op, env);
        op.outputs.forEach((v, k) => env.vars.set(v, outs[k]));
      }
      for (const v of frees[i]) if (!keep?.has(v)) env.vars.delete(v);
    }
    return block.outputs.map((v) => {
      const t = env.get(v);
      if (!t) throw new InterpreterError(`block output "${v.name}" was never computed`);
      return t;
    });
  }

  /** For each op index of a block, the block values whose last reader is that op. */
  private freesOf(block: Block): Value[][] {
    let f = this.frees.get(block);
    if (f) return f;
    const index = new Map<Op, number>();
    block.ops.forEach((op, i) => index.set(op, i));
    /** The op of this block that (possibly through nested blocks) contains `op`. */
    const anchor = (op: Op): number | undefined => {
      let o: Op | null = op;
      while (o) {
        const i = index.get(o);
        if (i !== undefined) return i;
        o = o.parent?.parentOp ?? null;
      }
      return undefined;
    };
    const outputs = new Set(block.outputs);
    f = block.ops.map(() => [] as Value[]);
    const consider = (v: Value, defined: number): void => {
      if (outputs.has(v)) return;
      let last = defined;
      for (const u of v.uses) {
        if (u.kind !== 'op') continue;
        const i = anchor(u.op);
        if (i !== undefined && i > last) last = i;
      }
      if (last >= 0) f![last].push(v);
    };
    for (const v of block.inputs) consider(v, -1);
    if (block === this.fn.block) for (const v of this.dataInputs) consider(v, -1);
    block.ops.forEach((op, i) => op.outputs.forEach((v) => consider(v, i)));
    this.frees.set(block, f);
    return f;
  }

  execOp(op: Op, env: Env): RTensor[] {
    const kernel: Kernel | undefined = KERNELS[op.type];
    if (!kernel) throw new InterpreterError(`unknown op: the interpreter has no kernel for "${op.type}"`, op);
    const ctx = new Ctx(this, op, env);
    let outs: RTensor[];
    try {
      outs = kernel(ctx);
    } catch (e) {
      if (e instanceof InterpreterError) throw e;
      throw new InterpreterError((e as Error).message, op, undefined, { cause: e });
    }
    if (outs.length !== op.outputs.length) {
      throw new InterpreterError(`produced ${outs.length} outputs but the op declares ${op.outputs.length}`, op);
    }
    const result = outs.map((t, i) => this.conform(op, i, t, ctx.read));
    if (this.checkNaN) {
      result.forEach((t, i) => {
        const at = firstNaN(t.data);
        if (at < 0) return;
        const nanInputs = [...ctx.readBy.entries()].filter(([, r]) => firstNaN(r.data) >= 0).map(([p]) => p);
        const why = nanInputs.length > 0 ? ` (its input${nanInputs.length > 1 ? 's' : ''} ${nanInputs.join(', ')} already held NaN)` : ' (its inputs held no NaN)';
        throw new InterpreterError(`checkNaN: output "${op.outputs[i].name}" contains NaN at flat index ${at}${why}`, op);
      });
    }
    return result;
  }

  /**
   * Checks a computed output against the op's declared type and brings it to the
   * declared dtype: same kind required; fp16 outputs rounded to fp16 (copying first when
   * the kernel returned an input's storage).
   */
  conform(op: Op, i: number, t: RTensor, read: ReadonlyArray<RData>): RTensor {
    const declared = op.outputs[i].type;
    if (declared.kind !== 'tensor') return t;
    const name = op.outputs[i].name;
    const dk = kindOf(declared.dtype);
    if (dk !== kindOf(t.dtype)) {
      throw new InterpreterError(`output "${name}" is declared ${formatType(declared)} but the op computed ${fmt(t)}`, op);
    }
    if (declared.shape.length !== t.shape.length || declared.shape.some((d, k) => typeof d === 'number' && d !== t.shape[k])) {
      throw new InterpreterError(`output "${name}" is declared ${formatType(declared)} but the op computed shape [${t.shape.join(', ')}]`, op);
    }
    if (declared.dtype === 'fp16' && t.dtype !== 'fp16') {
      const f = t.data as Float32Array;
      const data = read.includes(f) ? copyOf(f) : f;
      roundToFp16InPlace(data);
      return { dtype: 'fp16', shape: t.shape, data };
    }
    return t.dtype === declared.dtype ? t : { ...t, dtype: declared.dtype };
  }
}

class Ctx implements KernelContext {
  /** Storage of every tensor the kernel read (to detect outputs that alias an input). */
  readonly read: RData[] = [];
  readonly readBy = new Map<string, RTensor>();
  constructor(
    private readonly runner: Runner,
    readonly op: Op,
    private readonly env: Env,
  ) {}

  get target() {
    return this.runner.program.target;
  }

  fail(message: string, param?: string): never {
    throw new InterpreterError(message, this.op, param);
  }

  has(param: string): boolean {
    return (this.op.inputs.get(param)?.length ?? 0) > 0;
  }

  private values(param: string): Value[] {
    return this.op.inputs.get(param) ?? [];
  }

  private lookup(param: string, v: Value): RTensor {
    if (v.type.kind === 'state') this.fail(`is the state "${v.name}"; only read_state/write_state take states`, param);
    const t = this.env.get(v);
    if (!t) throw new InterpreterError(`internal: value "${v.name}" read by parameter "${param}" has not been computed`, this.op);
    this.read.push(t.data);
    this.readBy.set(param, t);
    return t;
  }

  tensor(param: string): RTensor {
    const vs = this.values(param);
    if (vs.length === 0) this.fail('is required but missing', param);
    if (vs.length !== 1) this.fail(`expects one value, got ${vs.length}`, param);
    return this.lookup(param, vs[0]);
  }

  optional(param: string): RTensor | undefined {
    return this.has(param) ? this.tensor(param) : undefined;
  }

  tuple(param: string): RTensor[] {
    return this.values(param).map((v) => this.lookup(param, v));
  }

  ints(param: string, dflt?: readonly number[]): number[] {
    if (!this.has(param)) {
      if (dflt === undefined) this.fail('is required but missing', param);
      return [...dflt!];
    }
    const t = this.tensor(param);
    if (kindOf(t.dtype) !== 'int') this.fail(`must be an integer tensor, got ${fmt(t)}`, param);
    return intsOf(t, param);
  }

  private scalar(param: string): RTensor {
    const t = this.tensor(param);
    if (t.data.length !== 1) this.fail(`must be a scalar, got ${fmt(t)}`, param);
    return t;
  }

  int(param: string, dflt?: number): number {
    if (!this.has(param)) {
      if (dflt === undefined) this.fail('is required but missing', param);
      return dflt!;
    }
    const t = this.scalar(param);
    if (kindOf(t.dtype) !== 'int') this.fail(`must be an integer, got ${fmt(t)}`, param);
    return t.data[0];
  }

  float(param: string, dflt?: number): number {
    if (!this.has(param)) {
      if (dflt === undefined) this.fail('is required but missing', param);
      return dflt!;
    }
    const t = this.scalar(param);
    const k = kindOf(t.dtype);
    if (k !== 'float' && k !== 'int') this.fail(`must be a number, got ${fmt(t)}`, param);
    return t.data[0];
  }

  bool(param: string, dflt?: boolean): boolean {
    if (!this.has(param)) {
      if (dflt === undefined) this.fail('is required but missing', param);
      return dflt!;
    }
    const t = this.scalar(param);
    if (t.dtype !== 'bool') this.fail(`must be a bool, got ${fmt(t)}`, param);
    return t.data[0] !== 0;
  }

  bools(param: string, dflt?: readonly boolean[]): boolean[] {
    if (!this.has(param)) {
      if (dflt === undefined) this.fail('is required but missing', param);
      return [...dflt!];
    }
    const t = this.tensor(param);
    if (t.dtype !== 'bool') this.fail(`must be a bool tensor, got ${fmt(t)}`, param);
    return Array.from(t.data, (x) => x !== 0);
  }

  string(param: string, dflt?: string): string {
    if (!this.has(param)) {
      if (dflt === undefined) this.fail('is required but missing', param);
      return dflt!;
    }
    const t = this.tensor(param);
    if (t.dtype !== 'string' || !t.strings || t.strings.length !== 1) this.fail(`must be a string scalar, got ${fmt(t)}`, param);
    return t.strings![0];
  }

  isConst(param: string): boolean {
    const vs = this.values(param);
    return vs.length > 0 && vs.every((v) => this.runner.consts.has(v));
  }

  memo<T>(key: string, make: () => T): T {
    let m = this.runner.memos.get(this.op);
    if (!m) {
      m = new Map();
      this.runner.memos.set(this.op, m);
    }
    if (!m.has(key)) m.set(key, make());
    return m.get(key) as T;
  }

  outputType(i: number): TensorType {
    const t = this.op.outputs[i]?.type;
    if (!t || t.kind !== 'tensor') this.fail(`output ${i} is not a tensor`);
    return t as TensorType;
  }

  private stateValue(param: string): Value {
    const vs = this.values(param);
    if (vs.length !== 1) this.fail(`expects one state, got ${vs.length} values`, param);
    const v = vs[0];
    if (!this.runner.states.has(v)) this.fail(`"${v.name}" is not a state input of function "${this.runner.fn.name}"`, param);
    return v;
  }

  readState(param: string): RTensor {
    return this.runner.states.get(this.stateValue(param))!;
  }

  writeState(param: string, value: RTensor): void {
    const v = this.stateValue(param);
    const cur = this.runner.states.get(v)!;
    if (value.dtype !== cur.dtype || value.shape.length !== cur.shape.length || value.shape.some((d, i) => d !== cur.shape[i])) {
      this.fail(`data ${fmt(value)} does not match the state "${v.name}" ${fmt(cur)}`, param);
    }
    this.runner.states.set(v, value);
  }

  runBlock(index: number, inputs: readonly RTensor[]): RTensor[] {
    const b = this.op.blocks[index];
    if (!b) this.fail(`has no block ${index}`);
    return this.runner.runBlock(b, inputs, this.env);
  }
}

function firstNaN(d: RData): number {
  if (!(d instanceof Float32Array)) return -1;
  for (let i = 0; i < d.length; i++) if (d[i] !== d[i]) return i;
  return -1;
}

function describeValue(v: Value): TensorDescription {
  const t = v.type.kind === 'state' ? v.type.wrapped : (v.type as TensorType);
  return { name: v.name, dtype: t.dtype, shape: [...t.shape] };
}

/** Creates an execution session for one function of `program`. */
export function createSession(program: Program, options: SessionOptions = {}): Session {
  const fn = program.getFunction(options.function);
  const runner = new Runner(program, fn, options.checkNaN ?? false);
  return {
    program,
    functionName: fn.name,
    inputs: runner.dataInputs.map(describeValue),
    outputs: fn.block.outputs.map(describeValue),
    predict: (inputs, opts) => runner.predict(inputs, opts),
    resetStates: () => runner.resetStates(),
    setState: (name, value) => runner.setState(name, value),
    get states() {
      const out: Record<string, OutputTensor> = {};
      for (const [v, t] of runner.states) out[v.name] = toOutput(t);
      return out;
    },
  };
}

/** Op types the interpreter has a kernel for (const and constexpr ops are evaluated at session creation). */
export function implementedOps(): string[] {
  return [...Object.keys(KERNELS), 'const'].sort();
}
