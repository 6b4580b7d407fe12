import { describe, expect, it } from 'vitest';
import {
  Block,
  Function,
  Op,
  Program,
  type Target,
  type Tensor,
  Value,
  type ValueType,
  VerificationError,
  collectProblems,
  stateType,
  tensorFromValues,
  tensorType,
  typesCompatible,
  verifyProgram,
} from '../src/index.js';

const f16 = (...shape: number[]): ValueType => tensorType('fp16', shape);

function program(target: Target = 'iOS18', inputs: Record<string, ValueType> = { x: f16(1, 4) }): { p: Program; fn: Function } {
  const p = new Program(target);
  const fn = p.addFunction(new Function('main', Object.entries(inputs).map(([name, type]) => ({ name, type }))));
  return { p, fn };
}

function konst(fn: Function, name: string, t: Tensor): Value {
  return fn.block.append(new Op({ type: 'const', name, outputs: [{ name, type: tensorType(t.dtype, t.shape) }], attributes: { val: t } })).output;
}

function op(fn: Function | Block, type: string, name: string, inputs: Record<string, Value | Value[]>, outputs: ValueType[]): Op {
  const block = fn instanceof Function ? fn.block : fn;
  return block.append(
    new Op({ type, name, inputs, outputs: outputs.map((t, i) => ({ name: outputs.length === 1 ? name : `${name}_${i}`, type: t })) }),
  );
}

const weight = (): Tensor => tensorFromValues('fp16', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);

/** A valid program: y = relu(linear(x, w, b)). */
function valid(target: Target = 'iOS18'): { p: Program; fn: Function } {
  const { p, fn } = program(target);
  const w = konst(fn, 'w', weight());
  const b = konst(fn, 'b', tensorFromValues('fp16', [2], [0.5, -0.5]));
  const lin = op(fn, 'linear', 'lin', { x: fn.inputs[0], weight: w, bias: b }, [f16(1, 2)]);
  const y = op(fn, 'relu', 'y', { x: lin.output }, [f16(1, 2)]);
  fn.block.setOutputs([y.output]);
  return { p, fn };
}

const messages = (p: Program): string[] => collectProblems(p).map((x) => x.message);

describe('verifyProgram', () => {
  it('accepts a valid program', () => {
    const { p } = valid();
    expect(collectProblems(p)).toEqual([]);
    expect(() => verifyProgram(p)).not.toThrow();
  });

  it('reports a stored output type that differs from the inferred one', () => {
    const { p, fn } = program();
    const r = op(fn, 'relu', 'r', { x: fn.inputs[0] }, [tensorType('fp32', [1, 4])]);
    fn.block.setOutputs([r.output]);
    expect(messages(p)).toEqual(['function "main", op relu "r": output 0 "r" is stored as fp32[1, 4] but the iOS15 signature infers fp16[1, 4]']);
    expect(collectProblems(p)[0]).toMatchObject({ kind: 'type', function: 'main', op: { type: 'relu', name: 'r' }, input: null });
  });

  it('reports operands the signature rejects, naming the input', () => {
    const { p, fn } = program('iOS18', { x: f16(1, 4), n: tensorType('int32', [1, 4]) });
    const a = op(fn, 'add', 'a', { x: fn.inputs[0], y: fn.inputs[1] }, [f16(1, 4)]);
    fn.block.setOutputs([a.output]);
    const [only, ...rest] = collectProblems(p);
    expect(rest).toEqual([]);
    expect(only.kind).toBe('type');
    expect(only.input).toBe('y');
    expect(only.message).toMatch(/^function "main", op add "a", input "y": dtype int32 /);
  });

  it('reports a non-const weight', () => {
    const { p, fn } = program('iOS18', { x: f16(1, 4), w: f16(2, 4) });
    const lin = op(fn, 'linear', 'lin', { x: fn.inputs[0], weight: fn.inputs[1] }, [f16(1, 2)]);
    fn.block.setOutputs([lin.output]);
    expect(messages(p)).toEqual(['function "main", op linear "lin", input "weight": must be a compile-time constant (const or constexpr output)']);
    expect(collectProblems(p)[0].kind).toBe('const');
  });

  it('accepts a constexpr output where a const is required', () => {
    const { p, fn } = program();
    const data = konst(fn, 'q', tensorFromValues('int8', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]));
    const scale = konst(fn, 's', tensorFromValues('fp16', [2, 1], [0.5, 0.25]));
    const w = op(fn, 'constexpr_blockwise_shift_scale', 'w', { data, scale }, [f16(2, 4)]);
    const lin = op(fn, 'linear', 'lin', { x: fn.inputs[0], weight: w.output }, [f16(1, 2)]);
    fn.block.setOutputs([lin.output]);
    expect(messages(p)).toEqual([]);
  });

  it('reports invalid identifiers and reserved words', () => {
    const { p, fn } = program('iOS18', { '1x': f16(4) });
    const r = op(fn, 'relu', 'bad-name', { x: fn.inputs[0] }, [f16(4)]);
    const s = op(fn, 'relu', 'fp16', { x: r.output }, [f16(4)]);
    fn.block.setOutputs([s.output]);
    expect(messages(p)).toEqual([
      'function "main": input name "1x" is not a valid identifier (must match [A-Za-z_][A-Za-z0-9_@]*)',
      'function "main", op relu "bad-name": op name "bad-name" is not a valid identifier (must match [A-Za-z_][A-Za-z0-9_@]*)',
      'function "main", op relu "bad-name": output name "bad-name" is not a valid identifier (must match [A-Za-z_][A-Za-z0-9_@]*)',
      'function "main", op relu "fp16": op name "fp16" is a reserved word (coremltools renames it to "fp16_workaround")',
      'function "main", op relu "fp16": output name "fp16" is a reserved word (coremltools renames it to "fp16_workaround")',
    ]);
    expect(new Set(collectProblems(p).map((x) => x.kind))).toEqual(new Set(['identifier']));
  });

  it('reports a duplicate value name', () => {
    const { p, fn } = program();
    const a = op(fn, 'relu', 'a', { x: fn.inputs[0] }, [f16(1, 4)]);
    const b = fn.block.append(new Op({ type: 'relu', name: 'b', inputs: { x: a.output }, outputs: [{ name: 'a', type: f16(1, 4) }] }));
    fn.block.setOutputs([b.output]);
    expect(messages(p)).toEqual([
      'function "main", op relu "b": output name "a" is already defined by op relu "a"; value names must be unique in a function',
    ]);
  });

  it('reports a name shared with a function input, and duplicate op names', () => {
    const { p, fn } = program();
    const a = fn.block.append(new Op({ type: 'relu', name: 'r', inputs: { x: fn.inputs[0] }, outputs: [{ name: 'x', type: f16(1, 4) }] }));
    const b = fn.block.append(new Op({ type: 'relu', name: 'r', inputs: { x: a.output }, outputs: [{ name: 'y', type: f16(1, 4) }] }));
    fn.block.setOutputs([b.output]);
    expect(messages(p)).toEqual([
      'function "main", op relu "r": output name "x" is already defined by a function input; value names must be unique in a function',
      'function "main", op relu "r": op name "r" is already used by op relu "r" at an earlier position; op names must be unique in a function',
    ]);
  });

  it('reports a use before the definition', () => {
    const { p, fn } = program();
    const late = new Op({ type: 'relu', name: 'late', inputs: { x: fn.inputs[0] }, outputs: [{ name: 'late', type: f16(1, 4) }] });
    const early = op(fn, 'relu', 'early', { x: late.output }, [f16(1, 4)]);
    fn.block.append(late);
    fn.block.setOutputs([early.output]);
    expect(messages(p)).toEqual([
      'function "main", op relu "early", input "x": value "late" is used before it is defined (op relu "late" comes later; ops must be in topological order)',
    ]);
    expect(collectProblems(p)[0].kind).toBe('order');
  });

  it('reports operands from removed ops and from other functions', () => {
    const { p, fn } = program();
    const other = p.addFunction(new Function('other', [{ name: 'z', type: f16(1, 4) }]));
    const gone = op(fn, 'relu', 'gone', { x: fn.inputs[0] }, [f16(1, 4)]);
    fn.block.remove(gone);
    const a = op(fn, 'add', 'a', { x: gone.output, y: other.inputs[0] }, [f16(1, 4)]);
    fn.block.setOutputs([a.output]);
    const r = op(other, 'relu', 'r', { x: other.inputs[0] }, [f16(1, 4)]);
    other.block.setOutputs([r.output]);
    expect(collectProblems(p).filter((x) => x.kind === 'order').map((x) => x.message)).toEqual([
      'function "main", op add "a", input "x": value "gone" comes from op relu "gone", which is not in any block (removed or never inserted)',
      'function "main", op add "a", input "y": value "z" belongs to function "other", not to this function',
    ]);
    // other's input lists a use by an op that is not in "other"
    expect(messages(p)).toContain(
      'function "other": value "z" lists a use by op add "a", which is not in this function (erase ops with Block.remove or Rewriter.erase)',
    );
  });

  it('checks scoping of nested blocks', () => {
    const { p, fn } = program();
    const holder = fn.block.append(new Op({ type: 'relu', name: 'holder', inputs: { x: fn.inputs[0] }, outputs: [{ name: 'holder', type: f16(1, 4) }] }));
    const inner = new Block([new Value('bi', f16(1, 4))]);
    holder.addBlock(inner);
    const n = op(inner, 'relu', 'n', { x: inner.inputs[0] }, [f16(1, 4)]);
    const m = op(inner, 'add', 'm', { x: n.output, y: fn.inputs[0] }, [f16(1, 4)]);
    inner.setOutputs([m.output]);
    const after = op(fn, 'relu', 'after', { x: n.output }, [f16(1, 4)]);
    fn.block.setOutputs([after.output]);
    const order = collectProblems(p).filter((x) => x.kind === 'order');
    expect(order.map((x) => x.message)).toEqual([
      'function "main", op relu "after", input "x": value "n" is defined inside a nested block of op relu "holder" and is not visible here',
    ]);
    // relu's signature has no blocks
    expect(messages(p)).toContain('function "main", op relu "holder": has 1 nested block(s) but the iOS15 signature expects 0');
  });

  it('reports an undefined nested block output', () => {
    const { p, fn } = program();
    const holder = fn.block.append(new Op({ type: 'relu', name: 'holder', inputs: { x: fn.inputs[0] }, outputs: [{ name: 'holder', type: f16(1, 4) }] }));
    const inner = new Block();
    holder.addBlock(inner);
    const later = op(fn, 'relu', 'later', { x: holder.output }, [f16(1, 4)]);
    inner.setOutputs([later.output]);
    fn.block.setOutputs([later.output]);
    expect(messages(p)).toContain(
      'function "main", op relu "holder": output 0 of nested block 0: value "later" is used before it is defined (op relu "later" comes later; ops must be in topological order)',
    );
  });

  it('reports an op that is not available at the target', () => {
    const { p, fn } = program('iOS17');
    const x = fn.inputs[0];
    const u = konst(fn, 'u', tensorFromValues('fp16', [1, 2], [1, 2]));
    const begin = konst(fn, 'begin', tensorFromValues('int32', [2], [0, 0]));
    const end = konst(fn, 'end', tensorFromValues('int32', [2], [1, 2]));
    const upd = op(fn, 'slice_update', 'upd', { x, update: u, begin, end }, [f16(1, 4)]);
    fn.block.setOutputs([upd.output]);
    expect(messages(p)).toEqual([
      'function "main", op slice_update "upd": not available at target iOS17: slice_update is introduced in iOS18, so the program target must be iOS18 or newer',
    ]);
    expect(collectProblems(p)[0].kind).toBe('target');
    // the same program is fine at iOS18
    p.target = 'iOS18';
    expect(messages(p)).toEqual([]);
    // and an explicit target overrides the program's
    expect(collectProblems(p, { target: 'iOS16' })[0].reason).toMatch(/^not available at target iOS16/);
  });

  it('reports an unknown op', () => {
    const { p, fn } = program();
    const z = op(fn, 'frobnicate', 'z', { x: fn.inputs[0] }, [f16(1, 4)]);
    fn.block.setOutputs([z.output]);
    expect(messages(p)).toEqual(['function "main", op frobnicate "z": unknown op type "frobnicate" (not in the op registry)']);
  });

  it('reports write_state on a non-state', () => {
    const { p, fn } = program('iOS18', { x: f16(1, 4), k: stateType(tensorType('fp16', [1, 4])) });
    op(fn, 'write_state', 'ws', { input: fn.inputs[0], data: fn.inputs[0] }, []);
    const r = op(fn, 'read_state', 'r', { input: fn.inputs[1] }, [f16(1, 4)]);
    fn.block.setOutputs([r.output]);
    expect(messages(p)).toEqual(['function "main", op write_state "ws", input "input": must be a state (a function input of state type), got fp16[1, 4] "x"']);
    expect(collectProblems(p)[0].kind).toBe('state');
  });

  it('accepts read_state / write_state on a state and rejects other uses of the state', () => {
    const { p, fn } = program('iOS18', { x: f16(1, 4), k: stateType(tensorType('fp16', [1, 4])) });
    const [x, k] = fn.inputs;
    const old = op(fn, 'read_state', 'old', { input: k }, [f16(1, 4)]);
    const sum = op(fn, 'add', 'sum', { x: old.output, y: x }, [f16(1, 4)]);
    op(fn, 'write_state', 'ws', { input: k, data: sum.output }, []);
    const now = op(fn, 'read_state', 'now', { input: k }, [f16(1, 4)]);
    fn.block.setOutputs([now.output]);
    expect(messages(p)).toEqual([]);

    op(fn, 'relu', 'bad', { x: k }, [f16(1, 4)]);
    const problems = collectProblems(p);
    expect(problems[0].message).toBe(
      'function "main", op relu "bad", input "x": uses the state "k" directly; a state may only be read by read_state and written by write_state (mlpackage-format.md §14)',
    );
    expect(problems[0].kind).toBe('state');
  });

  it('gates states and input-less functions on iOS18', () => {
    const { p, fn } = program('iOS17', { k: stateType(tensorType('fp16', [4])) });
    const c = konst(fn, 'c', tensorFromValues('fp16', [4], [1, 2, 3, 4]));
    const r = op(fn, 'relu', 'r', { x: c }, [f16(4)]);
    fn.block.setOutputs([r.output]);
    expect(messages(p)).toEqual([
      'function "main": input "k" is a state, which needs target iOS18 or newer (the program targets iOS17; mlpackage-format.md §12)',
    ]);
    const q = program('iOS17', {});
    const c2 = konst(q.fn, 'c', tensorFromValues('fp16', [4], [1, 2, 3, 4]));
    q.fn.block.setOutputs([op(q.fn, 'relu', 'r', { x: c2 }, [f16(4)]).output]);
    expect(messages(q.p)).toEqual(['function "main": has no inputs, which needs target iOS18 or newer (the program targets iOS17; mlpackage-format.md §12)']);
    q.p.target = 'iOS18';
    expect(messages(q.p)).toEqual([]);
  });

  it('reports a function without outputs, repeated outputs and a constexpr returned directly', () => {
    const { p, fn } = program();
    expect(messages(p)).toEqual(['function "main": has no outputs (a function must return at least one value)']);
    const data = konst(fn, 'q', tensorFromValues('int8', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]));
    const scale = konst(fn, 's', tensorFromValues('fp16', [2, 1], [0.5, 0.25]));
    const w = op(fn, 'constexpr_blockwise_shift_scale', 'w', { data, scale }, [f16(2, 4)]);
    const r = op(fn, 'relu', 'r', { x: fn.inputs[0] }, [f16(1, 4)]);
    fn.block.setOutputs([r.output, r.output, w.output]);
    expect(messages(p)).toEqual([
      'function "main": output 1 repeats value "r" (already output 0); output names must be distinct',
      'function "main": output 2 "w" comes straight from op constexpr_blockwise_shift_scale "w"; keep a real op between a constexpr output and a function output (mil-ops.md §1)',
    ]);
  });

  it('checks const ops', () => {
    const { p, fn } = program();
    const t = tensorFromValues('fp16', [2], [1, 2]);
    const c = fn.block.append(new Op({ type: 'const', name: 'c', outputs: [{ name: 'c', type: tensorType('fp32', [2]) }], attributes: { val: t } }));
    const r = op(fn, 'relu', 'r', { x: c.output }, [tensorType('fp32', [2])]);
    fn.block.setOutputs([r.output]);
    expect(messages(p)).toEqual(['function "main", op const "c": output 0 "c" is stored as fp32[2] but its value is fp16[2]']);
  });

  it('reports use lists out of sync with the operands', () => {
    const { p, fn } = valid();
    const y = fn.findOp('y')!;
    const lin = fn.findOp('lin')!;
    // drop the recorded use behind the op's back
    lin.output.uses.length = 0;
    expect(messages(p)).toEqual([
      'function "main", op relu "y", input "x": value "lin" does not list this use (use lists are out of sync; change operands with Op.setInput/replaceInput)',
    ]);
    expect(y.input('x')).toBe(lin.output);
  });

  it('reports program-level problems', () => {
    const p = new Program('iOS18');
    p.defaultFunction = 'main';
    expect(messages(p)).toEqual(['program: has no functions', 'program: default function "main" does not exist (functions: none)']);
  });

  it('throws a VerificationError listing every problem', () => {
    const { p, fn } = program('iOS17', { x: f16(1, 4), w: f16(2, 4) });
    const lin = op(fn, 'linear', 'lin', { x: fn.inputs[0], weight: fn.inputs[1] }, [f16(1, 2)]);
    const r = op(fn, 'relu', '2r', { x: lin.output }, [f16(1, 2)]);
    fn.block.setOutputs([r.output]);
    let err: unknown;
    try {
      verifyProgram(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VerificationError);
    const ve = err as VerificationError;
    expect(ve.problems).toHaveLength(3);
    expect(ve.message).toBe(
      [
        'program fails verification (3 problems):',
        '  - function "main", op relu "2r": op name "2r" is not a valid identifier (must match [A-Za-z_][A-Za-z0-9_@]*)',
        '  - function "main", op relu "2r": output name "2r" is not a valid identifier (must match [A-Za-z_][A-Za-z0-9_@]*)',
        '  - function "main", op linear "lin", input "weight": must be a compile-time constant (const or constexpr output)',
      ].join('\n'),
    );
  });
});

describe('typesCompatible', () => {
  it('compares dtype, rank and fixed dims; symbolic dims match anything', () => {
    expect(typesCompatible(tensorType('fp16', [1, 'S']), tensorType('fp16', [1, 7]))).toBe(true);
    expect(typesCompatible(tensorType('fp16', [1, 7]), tensorType('fp16', [1, 'n']))).toBe(true);
    expect(typesCompatible(tensorType('fp16', [1, 7]), tensorType('fp16', [1, 8]))).toBe(false);
    expect(typesCompatible(tensorType('fp16', [1, 7]), tensorType('fp32', [1, 7]))).toBe(false);
    expect(typesCompatible(tensorType('fp16', [7]), tensorType('fp16', [1, 7]))).toBe(false);
    expect(typesCompatible(stateType(tensorType('fp16', [2])), tensorType('fp16', [2]))).toBe(false);
    expect(typesCompatible(stateType(tensorType('fp16', [2])), stateType(tensorType('fp16', [2])))).toBe(true);
  });
});
