import { describe, expect, it } from 'vitest';
import {
  Builder,
  Function,
  type Op,
  OpTypeError,
  Program,
  type Value,
  buildProgram,
  collectProblems,
  formatType,
  stateType,
  tensorFromValues,
  tensorType,
} from '../src/index.js';

const f16 = (...shape: number[]) => tensorType('fp16', shape);
const opTypes = (fn: Function): string[] => [...fn.walk()].map((o) => o.type);
const typeOf = (v: Value): string => formatType(v.type);

function fresh(target: 'iOS15' | 'iOS16' | 'iOS17' | 'iOS18' = 'iOS18', inputs: Record<string, ReturnType<typeof f16>> = { x: f16(1, 4) }) {
  const p = new Program(target);
  const fn = p.addFunction(new Function('main', Object.entries(inputs).map(([name, type]) => ({ name, type }))));
  return { p, fn, b: new Builder(fn, target), x: fn.inputs[0] };
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

describe('Builder', () => {
  it('builds typed ops with types inferred by the registry', () => {
    const program = buildProgram('iOS18', (p) => {
      p.function('main', { x: f16(1, 4) }, (b, { x }) => {
        const w = b.const(tensorFromValues('fp16', [3, 4], new Array(12).fill(0.5)));
        const y = b.linear({ x, weight: w, bias: [1, 2, 3] });
        expect(typeOf(y)).toBe('fp16[1, 3]');
        const s = b.softmax({ x: b.relu({ x: y }) });
        expect(typeOf(s)).toBe('fp16[1, 3]');
        const t = b.transpose({ x: s, perm: [1, 0] });
        expect(typeOf(t)).toBe('fp16[3, 1]');
        return b.matmul({ x: s, y: t }, { name: 'logits' });
      });
    });
    const fn = program.main;
    expect(opTypes(fn)).toEqual(['const', 'const', 'linear', 'relu', 'softmax', 'const', 'transpose', 'matmul']);
    expect(fn.outputs.map((v) => `${v.name}: ${typeOf(v)}`)).toEqual(['logits: fp16[1, 1]']);
    expect(collectProblems(program)).toEqual([]);
  });

  it('turns inline numbers into consts of the declared dtype', () => {
    const { p, fn, b, x } = fresh('iOS18');
    const lin = b.linear({ x, weight: tensorFromValues('fp16', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]), bias: [0, 1] });
    const bias = lin.producer!.input('bias')!;
    // bias shares linear's type variable with the weight: fp16, named after the op and the param
    expect(bias.name).toBe('linear_bias');
    expect(typeOf(bias)).toBe('fp16[2]');
    expect(bias.producer!.constValue!.toNumbers()).toEqual([0, 1]);
    // y of add takes x's dtype (type variable T)
    const sum = b.add({ x, y: 0.5 });
    expect(typeOf(sum.producer!.input('y')!)).toBe('fp16[]');
    // integer lists for index parameters become int32; booleans bool; strings string
    const r = b.reshape({ x: sum, shape: [2, -1] });
    expect(typeOf(r.producer!.input('shape')!)).toBe('int32[2]');
    expect(typeOf(r)).toBe('fp16[2, 2]');
    const m = b.matmul({ x: r, y: r, transpose_y: true });
    expect(typeOf(m.producer!.input('transpose_y')!)).toBe('bool[]');
    const g = b.gelu({ x: m, mode: 'TANH_APPROXIMATION' });
    expect(typeOf(g.producer!.input('mode')!)).toBe('string[]');
    expect(g.producer!.input('mode')!.producer!.constValue!.strings()).toEqual(['TANH_APPROXIMATION']);
    // a nested array keeps its shape
    const c = b.add({ x: r, y: [[1, 2], [3, 4]] });
    expect(typeOf(c.producer!.input('y')!)).toBe('fp16[2, 2]');
    fn.block.setOutputs([g, c]);
    expect(collectProblems(p)).toEqual([]);
  });

  it('builds const ops from tensors and inline data', () => {
    const { b } = fresh();
    expect(typeOf(b.const(3))).toBe('fp32[]');
    expect(typeOf(b.const([true, false]))).toBe('bool[2]');
    expect(typeOf(b.const([1, 2, 3, 4], { dtype: 'int8', shape: [2, 2] }))).toBe('int8[2, 2]');
    const t = b.const(tensorFromValues('fp16', [2], [1, 2]), { name: 'my_const' });
    expect(t.name).toBe('my_const');
    expect(t.producer!.name).toBe('my_const');
    expect(thrown(() => b.const([[1, 2], [3]])).message).toBe('const: ragged inline array (expected 2 elements at depth 1)');
    expect(thrown(() => b.const([300], { dtype: 'int8' })).message).toBe(
      'const: cannot make a int8[1] const: value 300 at index 0 is not a valid int8 (range -128..127)',
    );
  });

  it('names ops with fn.freshName unless a name is given, and rejects bad or taken names', () => {
    const { fn, b, x } = fresh();
    const a = b.relu({ x });
    const c = b.relu({ x: a });
    const d = b.relu({ x: c }, { name: 'act' });
    expect([a.name, c.name, d.name]).toEqual(['relu', 'relu_1', 'act']);
    expect([a.producer!.name, c.producer!.name, d.producer!.name]).toEqual(['relu', 'relu_1', 'act']);
    expect(thrown(() => b.relu({ x }, { name: 'act' })).message).toBe('builder: relu name "act" is already used in function "main"');
    expect(thrown(() => b.relu({ x }, { name: 'x' })).message).toBe('builder: relu name "x" is already used in function "main"');
    expect(thrown(() => b.relu({ x }, { name: '9lives' })).message).toBe(
      'builder: relu name "9lives" is not a valid identifier (must match [A-Za-z_][A-Za-z0-9_@]* and not be a reserved word)',
    );
    expect(thrown(() => b.relu({ x }, { name: 'tensor' })).message).toMatch(/not a valid identifier/);
    expect(opTypes(fn)).toEqual(['relu', 'relu', 'relu']);
  });

  it('rejects bad operands with the registry message and leaves the function unchanged', () => {
    const { fn, b, x } = fresh('iOS18', { x: f16(1, 4), w: f16(2, 4) });
    const w = fn.inputs[1];
    const e1 = thrown(() => b.linear({ x, weight: w, bias: [0, 0] }));
    expect(e1).toBeInstanceOf(OpTypeError);
    expect(e1.message).toBe('linear "linear", input "weight": must be a compile-time constant (const or constexpr output)');
    // nothing inserted, no use left behind on the operands
    expect(opTypes(fn)).toEqual([]);
    expect(x.uses).toEqual([]);
    expect(w.uses).toEqual([]);

    const e2 = thrown(() => b.add({ x, y: tensorFromValues('int32', [4], [1, 2, 3, 4]) }));
    expect(e2.message).toMatch(/^add "add", input "y": dtype int32 /);
    const e3 = thrown(() => b.op('relu', { x, alpha: 1 }));
    expect(e3.message).toBe('relu "relu", input "alpha": is not a parameter of relu (iOS15 signature has: x)');
    const e4 = thrown(() => b.softmax({ x, axis: 5 }));
    expect(e4).toBeInstanceOf(OpTypeError);
    expect(e4.message).toMatch(/^softmax "softmax", input "axis": /);
    expect(opTypes(fn)).toEqual([]);
    // failed builds took no names: the first successful op gets the plain name
    expect(b.linear({ x, weight: tensorFromValues('fp16', [2, 4], new Array(8).fill(1)), bias: [0, 0] }).name).toBe('linear');
    expect(fn.allNames().has('add')).toBe(false);
  });

  it('rejects ops that are unknown or not available at the target', () => {
    const { b, x } = fresh('iOS17');
    expect(thrown(() => b.slice_update({ x, update: [[1, 2]], begin: [0, 0], end: [1, 2] })).message).toBe(
      'slice_update "slice_update": not available at target iOS17 (introduced in iOS18)',
    );
    expect(thrown(() => b.op('frobnicate', { x })).message).toBe('frobnicate "frobnicate": unknown op type (not in the op registry)');
    expect(thrown(() => b.op('const', {})).message).toBe('builder: build const ops with b.const(value), not b.op("const", …)');
  });

  it('rejects values from another function or from removed ops', () => {
    const { p, b, x } = fresh();
    const other = p.addFunction(new Function('other', [{ name: 'z', type: f16(1, 4) }]));
    expect(thrown(() => b.relu({ x: other.inputs[0] })).message).toBe(
      'relu "relu", input "x": value "z" belongs to function "other", not to function "main"',
    );
    const r = b.relu({ x });
    r.producer!.parent!.remove(r.producer!);
    expect(thrown(() => b.relu({ x: r })).message).toBe('relu "relu_1", input "x": value "relu" comes from op relu "relu", which is not in any block');
  });

  it('inserts before an anchor, keeping topological order', () => {
    const { p, fn, b, x } = fresh();
    const a = b.relu({ x }, { name: 'a' });
    const z = b.sigmoid({ x: a }, { name: 'z' });
    const before = b.insertBefore(z.producer!);
    const s = before.mul({ x: a, y: 2 }, { name: 's' });
    z.producer!.setInput('x', s);
    expect([...fn.walk()].map((o) => o.name)).toEqual(['a', 's_y', 's', 'z']);
    // a builder made with { before } does the same, and atEnd() appends again
    const b2 = new Builder(fn, 'iOS18', { before: a.producer! });
    b2.silu({ x }, { name: 'first' });
    b2.atEnd().relu({ x: z }, { name: 'last' });
    expect([...fn.walk()].map((o) => o.name)).toEqual(['first', 'a', 's_y', 's', 'z', 'last']);
    fn.block.setOutputs([fn.findValue('last')!]);
    expect(collectProblems(p)).toEqual([]);
  });

  it('reports inserted ops through onInsert', () => {
    const { fn, x } = fresh();
    const seen: string[] = [];
    const b = new Builder(fn, 'iOS18', { onInsert: (op: Op) => seen.push(`${op.type}:${op.name}`) });
    b.add({ x, y: 1 }, { name: 'inc' });
    expect(seen).toEqual(['const:inc_y', 'add:inc']);
  });

  it('builds multi-output, tuple, state, attention and constexpr ops', () => {
    const program = buildProgram('iOS18', (p) => {
      p.function(
        'main',
        { x: f16(1, 4, 8), k: stateType(tensorType('fp16', [1, 4, 8])) },
        (b, { x, k }) => {
          const parts = b.split({ x, num_splits: 2, axis: -1 });
          expect(parts.map(typeOf)).toEqual(['fp16[1, 4, 4]', 'fp16[1, 4, 4]']);
          expect(parts.map((v) => v.name)).toEqual(['split_0', 'split_1']);
          const joined = b.concat({ values: [parts[1], parts[0]], axis: -1 });
          expect(typeOf(joined)).toBe('fp16[1, 4, 8]');
          const cache = b.read_state({ input: k });
          const updated = b.slice_update({ x: cache, update: joined, begin: [0, 0, 0], end: [1, 4, 8] });
          const ws = b.write_state({ input: k, data: updated });
          expect(ws.outputs).toEqual([]);
          const q = b.constexpr_blockwise_shift_scale({
            data: tensorFromValues('int8', [8, 8], new Array(64).fill(3)),
            scale: tensorFromValues('fp16', [8, 1], new Array(8).fill(0.5)),
          });
          expect(typeOf(q)).toBe('fp16[8, 8]');
          const proj = b.linear({ x: joined, weight: q });
          const attn = b.scaled_dot_product_attention({ query: proj, key: b.read_state({ input: k }), value: joined });
          expect(typeOf(attn)).toBe('fp16[1, 4, 8]');
          const ln = b.layer_norm({ x: attn, axes: [-1], epsilon: 1e-5 });
          const sl = b.slice_by_index({ x: ln, begin: [0, 0, 0], end: [1, 2, 8] });
          return b.cast({ x: sl, dtype: 'fp32' });
        },
      );
    });
    const fn = program.main;
    expect(fn.outputs.map(typeOf)).toEqual(['fp32[1, 2, 8]']);
    expect(opTypes(fn).filter((t) => t !== 'const')).toEqual([
      'split',
      'concat',
      'read_state',
      'slice_update',
      'write_state',
      'constexpr_blockwise_shift_scale',
      'linear',
      'read_state',
      'scaled_dot_product_attention',
      'layer_norm',
      'slice_by_index',
      'cast',
    ]);
    // the constexpr's data arrived as consts of exactly the tensors' dtypes
    const cx = [...fn.walk()].find((o) => o.type === 'constexpr_blockwise_shift_scale')!;
    expect(typeOf(cx.input('data')!)).toBe('int8[8, 8]');
  });

  it('returns Value | Value[] from the generic op()', () => {
    const { b, x } = fresh();
    const r = b.op('relu', { x });
    expect(Array.isArray(r)).toBe(false);
    const s = b.op('split', { x, split_sizes: [1, 3], axis: 1 });
    expect(Array.isArray(s)).toBe(true);
    expect((s as Value[]).map(typeOf)).toEqual(['fp16[1, 1]', 'fp16[1, 3]']);
  });

  it('buildProgram verifies the result and checks function inputs', () => {
    expect(() =>
      buildProgram('iOS18', (p) => {
        p.function('main', { x: f16(2) }, () => []);
      }),
    ).toThrow('function "main": has no outputs (a function must return at least one value)');
    expect(() =>
      buildProgram('iOS18', (p) => {
        p.function('main', [{ name: 'x', type: f16(2) }, { name: 'x', type: f16(2) }], (b, { x }) => b.relu({ x }));
      }),
    ).toThrow('buildProgram: function "main" has two inputs named "x"');
    const unverified = buildProgram('iOS18', (p) => p.function('main', { x: f16(2) }, () => []), { verify: false });
    expect(unverified.main.outputs).toEqual([]);
  });
});
