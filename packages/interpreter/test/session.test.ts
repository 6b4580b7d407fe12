import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Block, FileTensor, Function, Op, Program, Value, registeredOps, stateType, tensorFromValues, tensorType } from '@silica/ir';
import { InterpreterError, createSession, implementedOps } from '../src/index.js';
import { TestProgram, b, f16, f32, i32, list } from './helpers.js';

describe('inputs', () => {
  function addProgram() {
    const p = new TestProgram('iOS18', { x: f32([1, 3]), y: f16(['n']) });
    const s = p.op('reduce_sum', { x: p.input('y') }, f16([]));
    return p.output(p.op('add', { x: p.input('x'), y: s }, f32([1, 3])));
  }
  const good = { x: { shape: [1, 3], data: [1, 2, 3] }, y: { shape: [2], data: new Uint16Array([0x3c00, 0x4000]) } };

  it('reads fp16 inputs from Uint16Array bits or float values', () => {
    const s = addProgram().session();
    const name = s.outputs[0].name;
    expect(list(s.predict(good)[name])).toEqual([4, 5, 6]);
    // 0.1 becomes fp16(0.1) = 0.0999755859375 before the sum
    expect(list(s.predict({ ...good, y: { shape: [1], dtype: 'float16', data: new Float32Array([0.1]) } })[name])).toEqual(
      [1, 2, 3].map((v) => Math.fround(v + 0.0999755859375)),
    );
  });

  it('describes inputs and outputs', () => {
    const s = addProgram().session();
    expect(s.functionName).toBe('main');
    expect(s.inputs).toEqual([
      { name: 'x', dtype: 'fp32', shape: [1, 3] },
      { name: 'y', dtype: 'fp16', shape: ['n'] },
    ]);
    expect(s.outputs.map((o) => o.dtype)).toEqual(['fp32']);
  });

  it('names missing and unknown inputs and lists the expected ones', () => {
    const s = addProgram().session();
    expect(() => s.predict({ x: good.x })).toThrow('missing input "y"; function "main" expects: x: fp32[1, 3], y: fp16[n]');
    expect(() => s.predict({ ...good, z: good.x })).toThrow('unknown input "z"; function "main" expects: x: fp32[1, 3], y: fp16[n]');
  });

  it('rejects wrong shapes, element counts and dtypes', () => {
    const s = addProgram().session();
    expect(() => s.predict({ ...good, x: { shape: [3], data: [1, 2, 3] } })).toThrow(/input "x": shape \[3\] has rank 1, but the function declares fp32\[1, 3\]/);
    expect(() => s.predict({ ...good, x: { shape: [1, 4], data: [1, 2, 3, 4] } })).toThrow(/does not match the declared fp32\[1, 3\] \(axis 1: 4 vs 3\)/);
    expect(() => s.predict({ ...good, x: { shape: [1, 3], data: [1, 2] } })).toThrow(/needs 3 elements, data has 2/);
    expect(() => s.predict({ ...good, x: { shape: [1, 3], dtype: 'int32', data: [1, 2, 3] } })).toThrow(/input "x" is declared fp32\[1, 3\] but was given dtype "int32"/);
    expect(() => s.predict({ ...good, x: { shape: [1, 3], data: new Int32Array(3) } })).toThrow(/needs Float32Array, Float64Array or number\[\] data, got Int32Array/);
    expect(() => s.predict({ ...good, x: { shape: [1, 3], data: new Uint16Array(3) } })).toThrow(/Uint16Array data is read as fp16 bits/);
  });

  it('binds a symbolic dim consistently across inputs', () => {
    const p = new TestProgram('iOS18', { a: f32(['s', 2]), c: f32(['s']) });
    const o = p.op('reduce_sum', { x: p.input('a'), axes: p.i32(1) }, f32(['s']));
    const s = p.output(p.op('add', { x: o, y: p.input('c') }, f32(['s']))).session();
    expect(list(s.predict({ a: { shape: [2, 2], data: [1, 2, 3, 4] }, c: { shape: [2], data: [10, 20] } })[s.outputs[0].name])).toEqual([13, 27]);
    expect(() => s.predict({ a: { shape: [2, 2], data: [1, 2, 3, 4] }, c: { shape: [3], data: [1, 2, 3] } })).toThrow(
      /axis 0 is the symbolic dim "s", already bound to 2 by another input, but is 3 here/,
    );
  });

  it('checks integer input ranges against the declared dtype', () => {
    const p = new TestProgram('iOS18', { i: tensorType('int8', [2]) });
    const s = p.output(p.op('cast', { x: p.input('i'), dtype: p.str('int32') }, i32([2]))).session();
    expect(list(s.predict({ i: { shape: [2], data: new Int8Array([-128, 127]) } })[s.outputs[0].name])).toEqual([-128, 127]);
    expect(() => s.predict({ i: { shape: [2], data: [1, 300] } })).toThrow(/element 1 \(300\) is not a valid int8/);
  });
});

describe('errors while running', () => {
  it('names an unknown op', () => {
    const p = new TestProgram('iOS18', { x: f32([2]) });
    p.output(p.op('frobnicate', { x: p.input('x') }, f32([2])));
    expect(() => p.run({ x: { shape: [2], data: [1, 2] } })).toThrow(/frobnicate "frobnicate_\d+": unknown op: the interpreter has no kernel for "frobnicate"/);
  });

  it('reports an output whose computed shape contradicts its declared type', () => {
    const p = new TestProgram('iOS18', { x: f32([2, 3]) });
    p.output(p.op('transpose', { x: p.input('x'), perm: p.i32(1, 0) }, f32([2, 3])));
    expect(() => p.run({ x: { shape: [2, 3], data: new Float32Array(6) } })).toThrow(/is declared fp32\[2, 3\] but the op computed shape \[3, 2\]/);
  });

  it('carries the op type, op name and parameter on InterpreterError', () => {
    const p = new TestProgram('iOS18', { x: f32([2]) });
    p.output(p.op('gelu', { x: p.input('x'), mode: p.str('NOPE') }, f32([2])));
    try {
      p.run({ x: { shape: [2], data: [1, 2] } });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InterpreterError);
      expect((e as InterpreterError).opType).toBe('gelu');
      expect((e as InterpreterError).param).toBe('mode');
    }
  });

  it('checkNaN names the first op that produced a NaN', () => {
    const p = new TestProgram('iOS18', { x: f32([2]) });
    const r = p.op('sqrt', { x: p.input('x') }, f32([2]));
    const m = p.op('mul', { x: r, y: p.f32(2) }, f32([2]));
    p.output(m);
    const opName = p.fn.block.ops.find((o) => o.type === 'sqrt')!.name;
    // without the check the NaN flows through silently
    expect(list(p.run({ x: { shape: [2], data: [4, -1] } })[0])).toEqual([4, NaN]);
    expect(() => p.run({ x: { shape: [2], data: [4, -1] } }, { checkNaN: true })).toThrow(
      `sqrt "${opName}": checkNaN: output "${opName}" contains NaN at flat index 1 (its inputs held no NaN)`,
    );
    expect(() => p.run({ x: { shape: [2], data: [NaN, 1] } }, { checkNaN: true })).toThrow('checkNaN: input "x" contains NaN at flat index 0');
  });

  it('fails at session creation when a const subgraph is broken', () => {
    const p = new TestProgram();
    p.output(p.op('reshape', { x: p.c('fp32', [1, 2, 3]), shape: p.i32(2, 2) }, f32([2, 2])));
    expect(() => p.session()).toThrow(/cannot reshape fp32\[3\] \(3 elements\) to \[2, 2\]/);
  });
});

describe('constants', () => {
  it('decodes file-backed weights once per session (the file is not read again)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-interp-'));
    try {
      const path = join(dir, 'weight.bin');
      const w = tensorFromValues('fp16', [2, 2], [1, 2, 3, 4]);
      writeFileSync(path, w.bytes());
      const p = new TestProgram('iOS18', { x: f32([1, 2]) });
      const weight = p.tensor(new FileTensor('fp16', [2, 2], path, 0, 8));
      p.output(p.op('linear', { x: p.input('x'), weight }, f32([1, 2])));
      const s = p.session();
      rmSync(path);
      const name = s.outputs[0].name;
      expect(list(s.predict({ x: { shape: [1, 2], data: [1, 1] } })[name])).toEqual([3, 7]);
      expect(list(s.predict({ x: { shape: [1, 2], data: [1, 0] } })[name])).toEqual([1, 3]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('evaluates constexpr chains once, through the registry (mil-ops.md §1.7)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-interp-'));
    try {
      const path = join(dir, 'q.bin');
      writeFileSync(path, new Uint8Array(new Int8Array([1, -2, 3, 4]).buffer));
      const p = new TestProgram('iOS18', { x: f32([1, 2]) });
      const data = p.tensor(new FileTensor('int8', [2, 2], path, 0, 4));
      const scale = p.tensor(tensorFromValues('fp16', [2, 1], [0.5, 2]));
      const [w] = p.ops('constexpr_blockwise_shift_scale', { data, scale }, [f16([2, 2])]);
      p.output(p.op('linear', { x: p.input('x'), weight: w }, f32([1, 2])));
      const s = p.session();
      rmSync(path);
      // weight = [[0.5, −1], [6, 8]]
      expect(list(s.predict({ x: { shape: [1, 2], data: [1, 1] } })[s.outputs[0].name])).toEqual([-0.5, 14]);
      expect(list(s.predict({ x: { shape: [1, 2], data: [2, 0] } })[s.outputs[0].name])).toEqual([1, 12]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names a constexpr op the registry cannot evaluate', () => {
    const p = new TestProgram('iOS18', { x: f32([2]) });
    const [w] = p.ops('constexpr_frobnicate', { data: p.c('fp16', [1, 2]) }, [f16([2])]);
    p.output(p.op('add', { x: p.input('x'), y: w }, f32([2])));
    expect(() => p.session()).toThrow(/constexpr_frobnicate "constexpr_frobnicate_\d+": output "constexpr_frobnicate_\d+" could not be evaluated: the registry has no evaluator/);
  });

  it('folds ops on constants at session creation', () => {
    const p = new TestProgram('iOS18', { x: f32([2]) });
    const k = p.op('mul', { x: p.c('fp32', [1, 2]), y: p.f32(3) }, f32([2]));
    p.output(p.op('add', { x: p.input('x'), y: k }, f32([2])));
    expect(list(p.run({ x: { shape: [2], data: [10, 20] } })[0])).toEqual([13, 26]);
  });

  it('has a kernel for every op in the registry (constexprs are evaluated by the registry)', () => {
    const ops = implementedOps();
    const registered = registeredOps();
    expect(registered.length).toBeGreaterThan(0);
    expect(registered.filter((op) => !op.startsWith('constexpr_') && !ops.includes(op))).toEqual([]);
  });
});

describe('states', () => {
  /** acc ← acc + x, returns the new acc; the state is fp16[1, 2]. */
  function accumulator(useUpdateOp: boolean) {
    const p = new TestProgram('iOS18', { x: f16([1, 2]), acc: stateType(f16([1, 2])) });
    const cur = p.op('read_state', { input: p.input('acc') }, f16([1, 2]));
    const next = p.op('add', { x: cur, y: p.input('x') }, f16([1, 2]));
    if (useUpdateOp) {
      p.output(p.op('coreml_update_state', { state: p.input('acc'), value: next }, f16([1, 2])));
    } else {
      p.ops('write_state', { input: p.input('acc'), data: next }, []);
      p.output(p.op('read_state', { input: p.input('acc') }, f16([1, 2])));
    }
    return p;
  }

  for (const useUpdateOp of [false, true]) {
    it(`start at zero, persist across predictions and reset (${useUpdateOp ? 'coreml_update_state' : 'write_state + read_state'})`, () => {
      const s = accumulator(useUpdateOp).session();
      const out = s.outputs[0].name;
      expect(s.inputs.map((i) => i.name)).toEqual(['x']);
      expect(list(s.states.acc)).toEqual([0, 0]);
      expect(list(s.predict({ x: { shape: [1, 2], data: [1, 2] } })[out])).toEqual([1, 2]);
      expect(list(s.predict({ x: { shape: [1, 2], data: [1, 2] } })[out])).toEqual([2, 4]);
      expect(s.states.acc.dtype).toBe('fp16');
      expect(list(s.states.acc)).toEqual([2, 4]);
      s.resetStates();
      expect(list(s.states.acc)).toEqual([0, 0]);
      expect(list(s.predict({ x: { shape: [1, 2], data: [5, 5] } })[out])).toEqual([5, 5]);
    });
  }

  it('keeps states per session and unchanged by a failed prediction', () => {
    const p = accumulator(false);
    const a = p.session();
    const c = p.session();
    a.predict({ x: { shape: [1, 2], data: [1, 1] } });
    expect(list(c.states.acc)).toEqual([0, 0]);
    // the snapshot is a copy
    a.states.acc.data[0] = 99;
    expect(list(a.states.acc)).toEqual([1, 1]);
    expect(() => a.predict({ x: { shape: [1, 2], data: [1] } })).toThrow();
    expect(list(a.states.acc)).toEqual([1, 1]);
  });

  it('setState overwrites a state, checked like an input', () => {
    const s = accumulator(false).session();
    s.setState('acc', { shape: [1, 2], data: new Uint16Array([0x4000, 0x3c00]) });
    expect(list(s.predict({ x: { shape: [1, 2], data: [1, 1] } })[s.outputs[0].name])).toEqual([3, 2]);
    expect(() => s.setState('acc', { shape: [2], data: [1, 2] })).toThrow(/state "acc": shape \[2\] has rank 1, but the function declares fp16\[1, 2\]/);
    expect(() => s.setState('k', { shape: [1, 2], data: [1, 2] })).toThrow('function "main" has no state "k" (states: acc)');
  });

  it('points out that a state is not an input', () => {
    const s = accumulator(false).session();
    expect(() => s.predict({ x: { shape: [1, 2], data: [1, 2] }, acc: { shape: [1, 2], data: [0, 0] } })).toThrow(/acc is a state: states live in the session/);
  });

  it('rejects a write whose shape does not match the state', () => {
    const p = new TestProgram('iOS18', { x: f16([2]), acc: stateType(f16([1, 2])) });
    p.ops('write_state', { input: p.input('acc'), data: p.input('x') }, []);
    p.output(p.op('identity', { x: p.input('x') }, f16([2])));
    expect(() => p.run({ x: { shape: [2], data: [1, 2] } })).toThrow(/data fp16\[2\] does not match the state "acc" fp16\[1, 2\]/);
  });
});

describe('nested blocks, extra outputs, functions', () => {
  it('cond runs the branch the predicate selects; branches read outer values', () => {
    const p = new TestProgram('iOS18', { pred: b([]), x: f32([2]) });
    const x = p.input('x');
    const mk = (type: string) => {
      const blk = new Block();
      const one = new Op({ type: 'const', outputs: [{ name: `one_${type}`, type: f32([]) }], attributes: { val: tensorFromValues('fp32', [], [1]) } });
      blk.append(one);
      const o = new Op({ type, name: `br_${type}`, inputs: { x, y: one.output }, outputs: [{ name: `br_${type}`, type: f32([2]) }] });
      blk.append(o);
      blk.setOutputs([o.output]);
      return blk;
    };
    const [r] = p.ops('cond', { pred: p.input('pred') }, [f32([2])], { blocks: [mk('add'), mk('sub')] });
    const s = p.output(r).session();
    expect(list(s.predict({ pred: { shape: [], data: [true] }, x: { shape: [2], data: [5, 6] } })[r.name])).toEqual([6, 7]);
    expect(list(s.predict({ pred: { shape: [], data: [false] }, x: { shape: [2], data: [5, 6] } })[r.name])).toEqual([4, 5]);
  });

  it('while_loop iterates the body until cond is false', () => {
    const p = new TestProgram('iOS18', { acc: f32([]) });
    const i0 = p.tensor(tensorFromValues('int32', [], [0]));
    const condB = new Block([new Value('ci', i32([])), new Value('cacc', f32([]))]);
    const five = new Op({ type: 'const', outputs: [{ name: 'five', type: i32([]) }], attributes: { val: tensorFromValues('int32', [], [5]) } });
    condB.append(five);
    const lt = new Op({ type: 'less', inputs: { x: condB.inputs[0], y: five.output }, outputs: [{ name: 'lt', type: b([]) }] });
    condB.append(lt);
    condB.setOutputs([lt.output]);
    const body = new Block([new Value('bi', i32([])), new Value('bacc', f32([]))]);
    const k1 = new Op({ type: 'const', outputs: [{ name: 'k1', type: i32([]) }], attributes: { val: tensorFromValues('int32', [], [1]) } });
    const k2 = new Op({ type: 'const', outputs: [{ name: 'k2', type: f32([]) }], attributes: { val: tensorFromValues('fp32', [], [2]) } });
    body.append(k1);
    body.append(k2);
    const inc = new Op({ type: 'add', inputs: { x: body.inputs[0], y: k1.output }, outputs: [{ name: 'inc', type: i32([]) }] });
    const dbl = new Op({ type: 'mul', inputs: { x: body.inputs[1], y: k2.output }, outputs: [{ name: 'dbl', type: f32([]) }] });
    body.append(inc);
    body.append(dbl);
    body.setOutputs([inc.output, dbl.output]);
    const [iOut, accOut] = p.ops('while_loop', { loop_vars: [i0, p.input('acc')] }, [i32([]), f32([])], { blocks: [condB, body] });
    const [ri, racc] = p.output(iOut, accOut).run({ acc: { shape: [], data: [3] } });
    expect(list(ri)).toEqual([5]);
    expect(list(racc)).toEqual([96]);
  });

  it('returns requested intermediate values', () => {
    const p = new TestProgram('iOS18', { x: f32([2]) });
    const h = p.op('relu', { x: p.input('x') }, f32([2]));
    p.output(p.op('mul', { x: h, y: p.f32(2) }, f32([2])));
    const s = p.session();
    const r = s.predict({ x: { shape: [2], data: [-1, 3] } }, { extraOutputs: [h.name] });
    expect(list(r[h.name])).toEqual([0, 3]);
    expect(list(r[s.outputs[0].name])).toEqual([0, 6]);
    expect(() => s.predict({ x: { shape: [2], data: [1, 2] } }, { extraOutputs: ['nope'] })).toThrow(/no value "nope"/);
  });

  it('runs the named function of a multifunction program', () => {
    const program = new Program('iOS18');
    for (const [name, op] of [['head_a', 'relu'], ['head_b', 'abs']] as const) {
      const fn = program.addFunction(new Function(name, [{ name: 'x', type: f32([2]) }]));
      const o = new Op({ type: op, inputs: { x: fn.inputs[0] }, outputs: [{ name: 'y', type: f32([2]) }] });
      fn.block.append(o);
      fn.block.setOutputs([o.output]);
    }
    program.defaultFunction = 'head_a';
    const x = { x: { shape: [2], data: [-1, 2] } };
    expect(list(createSession(program).predict(x).y)).toEqual([0, 2]);
    expect(list(createSession(program, { function: 'head_b' }).predict(x).y)).toEqual([1, 2]);
    expect(() => createSession(program, { function: 'head_c' })).toThrow(/no function "head_c"/);
  });
});
