import { describe, expect, it } from 'vitest';
import {
  Function,
  Op,
  type Program,
  Rewriter,
  type Rule,
  type Value,
  applyRules,
  buildProgram,
  collectProblems,
  eraseOp,
  formatType,
  fromFloat32,
  match,
  pat,
  rule,
  tensorFromValues,
  tensorType,
} from '../src/index.js';

const f16 = (...shape: number[]) => tensorType('fp16', shape);
const opTypes = (fn: Function): string[] => [...fn.walk()].map((o) => o.type);

// add(linear(x, w, b), c) -> linear(x, w, b + c)
const foldAddIntoLinear: Rule = rule(
  'fold-add-into-linear',
  pat.op('add', {
    x: pat.op('linear', { x: 'x', weight: 'w', bias: pat.const('b') }, { bind: 'lin', oneUse: true }),
    y: pat.const('c', (c) => c.type.kind === 'tensor' && c.type.shape.length <= 1),
  }),
  (m, rw) => {
    const b = rw.constValue(m.value('b'));
    const c = rw.constValue(m.value('c'));
    if (!b || !c) return undefined;
    const n = b.shape[0];
    if (c.size !== 1 && c.size !== n) return undefined;
    const bv = b.toFloat32();
    const cv = c.toFloat32();
    const sum = bv.map((v, i) => v + cv[c.size === 1 ? 0 : i]);
    return rw.builder(m.root).linear({ x: m.value('x'), weight: m.value('w'), bias: fromFloat32(b.dtype, [n], sum) });
  },
);

/** x → linear(w, b) → add(·, c) (or add(c, ·) when `swapped`) → output. */
function linearPlusConst(options: { swapped?: boolean; cAsInput?: boolean; extraUse?: boolean } = {}): Program {
  return buildProgram('iOS18', (p) => {
    const inputs: Record<string, ReturnType<typeof f16>> = { x: f16(1, 4) };
    if (options.cAsInput) inputs.c = f16(2);
    p.function('main', inputs, (b, ins) => {
      const w = b.const(tensorFromValues('fp16', [2, 4], [1, 0, 0, 0, 0, 1, 0, 0]), { name: 'w' });
      const lin = b.linear({ x: ins.x, weight: w, bias: tensorFromValues('fp16', [2], [0.5, 1.5]) }, { name: 'lin' });
      const c = options.cAsInput ? ins.c : b.const(tensorFromValues('fp16', [2], [2, 4]), { name: 'c' });
      const sum = b.add(options.swapped ? { x: c, y: lin } : { x: lin, y: c }, { name: 'sum' });
      const outs: Value[] = [b.relu({ x: sum }, { name: 'out' })];
      if (options.extraUse) outs.push(b.sigmoid({ x: lin }, { name: 'side' }));
      return outs;
    });
  });
}

describe('match', () => {
  it('binds values and ops by name', () => {
    const p = linearPlusConst();
    const add = p.main.findOp('sum')!;
    const m = match(foldAddIntoLinear.pattern, add);
    expect(m).toBeDefined();
    expect(m!.root).toBe(add);
    expect(m!.value('x')).toBe(p.main.inputs[0]);
    expect(m!.value('w').name).toBe('w');
    expect(m!.value('c').name).toBe('c');
    expect(m!.op('lin').name).toBe('lin');
    expect(m!.value('lin').name).toBe('lin');
    expect(m!.has('b')).toBe(true);
    expect(() => m!.value('nope')).toThrow('match at add "sum": no value bound to "nope" (bound: lin, x, w, b, c)');
  });

  it('matches add and mul commutatively unless told not to', () => {
    const p = linearPlusConst({ swapped: true });
    const add = p.main.findOp('sum')!;
    const m = match(foldAddIntoLinear.pattern, add);
    expect(m?.value('c').name).toBe('c');
    const strict = { ...foldAddIntoLinear.pattern, commutative: false };
    expect(match(strict, add)).toBeUndefined();
    // sub is not commutative
    const q = buildProgram('iOS18', (pb) =>
      pb.function('main', { x: f16(2) }, (b, { x }) => b.sub({ x: b.const(tensorFromValues('fp16', [2], [1, 1])), y: x }, { name: 's' })),
    );
    const s = q.main.findOp('s')!;
    expect(match(pat.op('sub', { x: pat.any('v'), y: pat.const('k') }), s)).toBeUndefined();
    expect(match(pat.op('sub', { x: pat.const('k'), y: pat.any('v') }), s)).toBeDefined();
  });

  it('requires a name bound twice to bind the same value', () => {
    const p = buildProgram('iOS18', (pb) =>
      pb.function('main', { a: f16(2), b: f16(2) }, (b, { a, b: bb }) => [b.mul({ x: a, y: a }, { name: 'sq' }), b.mul({ x: a, y: bb }, { name: 'ab' })]),
    );
    const square = pat.op('mul', { x: 'v', y: 'v' });
    expect(match(square, p.main.findOp('sq')!)?.value('v').name).toBe('a');
    expect(match(square, p.main.findOp('ab')!)).toBeUndefined();
  });

  it('backtracks through nested commutative alternatives', () => {
    // mul(add(c1, x), x): the inner add must swap so that "x" agrees with the outer binding
    const p = buildProgram('iOS18', (pb) =>
      pb.function('main', { x: f16(2) }, (b, { x }) => {
        const inner = b.add({ x: b.const(tensorFromValues('fp16', [2], [1, 2])), y: x });
        return b.mul({ x: inner, y: x }, { name: 'root' });
      }),
    );
    const pattern = pat.op('mul', { x: pat.op('add', { x: 'v', y: pat.const('k') }), y: 'v' });
    const m = match(pattern, p.main.findOp('root')!);
    expect(m?.value('v')).toBe(p.main.inputs[0]);
  });

  it('matches tuple parameters, absent parameters, alternatives and predicates', () => {
    const p = buildProgram('iOS18', (pb) =>
      pb.function('main', { x: f16(1, 4), y: f16(1, 4) }, (b, { x, y }) => {
        const cat = b.concat({ values: [x, y], axis: 1 }, { name: 'cat' });
        const lin = b.linear({ x: cat, weight: tensorFromValues('fp16', [2, 8], new Array(16).fill(1)) }, { name: 'lin' });
        return b.sigmoid({ x: lin }, { name: 'sig' });
      }),
    );
    const fn = p.main;
    expect(match(pat.op('concat', { values: ['a', 'b'] }), fn.findOp('cat')!)?.value('b').name).toBe('y');
    expect(match(pat.op('concat', { values: ['a'] }), fn.findOp('cat')!)).toBeUndefined();
    expect(match(pat.op('linear', { bias: pat.absent() }), fn.findOp('lin')!)).toBeDefined();
    expect(match(pat.op('linear', { bias: 'b' }), fn.findOp('lin')!)).toBeUndefined();
    expect(match(pat.op(['relu', 'sigmoid'], { x: pat.op('linear') }), fn.findOp('sig')!)).toBeDefined();
    expect(match(pat.op(['relu', 'silu']), fn.findOp('sig')!)).toBeUndefined();
    const wide = (v: Value): boolean => v.type.kind === 'tensor' && v.type.shape[1] === 8;
    expect(match(pat.op('linear', { x: pat.any('in', wide) }), fn.findOp('lin')!)).toBeDefined();
    expect(match(pat.op('linear', { x: pat.any('in', (v) => !wide(v)) }), fn.findOp('lin')!)).toBeUndefined();
    expect(match(pat.op('linear', {}, { where: (op) => op.name === 'lin' }), fn.findOp('lin')!)).toBeDefined();
    expect(match(pat.op('linear', { x: pat.const() }), fn.findOp('lin')!)).toBeUndefined();
  });
});

describe('applyRules', () => {
  it('folds add(linear(x, w, b), c) into linear(x, w, b + c)', () => {
    const p = linearPlusConst();
    const before = p.main.outputs.map((v) => formatType(v.type));
    const r = applyRules(p, [foldAddIntoLinear]);
    expect(r).toEqual({ changed: true, rewrites: 1, iterations: 2, converged: true, fired: { 'fold-add-into-linear': 1 } });
    const fn = p.main;
    // the old linear, add and their consts are gone; the weight is shared by the new linear
    expect(opTypes(fn)).toEqual(['const', 'const', 'linear', 'relu']);
    const lin = [...fn.walk()].find((o) => o.type === 'linear')!;
    expect(lin.input('weight')!.name).toBe('w');
    expect(lin.input('bias')!.producer!.constValue!.toNumbers()).toEqual([2.5, 5.5]);
    expect(fn.outputs.map((v) => formatType(v.type))).toEqual(before);
    expect(fn.findOp('out')!.input('x')).toBe(lin.output);
    expect(collectProblems(p)).toEqual([]);
  });

  it('folds the swapped form through commutative matching', () => {
    const p = linearPlusConst({ swapped: true });
    expect(applyRules(p, [foldAddIntoLinear]).rewrites).toBe(1);
    expect(opTypes(p.main)).toEqual(['const', 'const', 'linear', 'relu']);
    expect(collectProblems(p)).toEqual([]);
  });

  it('does not fire when c is not constant or the linear has other users', () => {
    for (const options of [{ cAsInput: true }, { extraUse: true }]) {
      const p = linearPlusConst(options);
      const ops = [...p.main.walk()];
      const r = applyRules(p, [foldAddIntoLinear]);
      expect(r).toEqual({ changed: false, rewrites: 0, iterations: 1, converged: true, fired: {} });
      expect([...p.main.walk()]).toEqual(ops);
    }
  });

  it('revisits the ops a rewrite touched until a fixpoint', () => {
    // relu(relu(x)) -> relu(x)
    const reluOfRelu = rule('relu-idempotent', pat.op('relu', { x: pat.op('relu', { x: 'x' }, { bind: 'inner' }) }), (m) => m.value('inner'));
    const p = buildProgram('iOS18', (pb) =>
      pb.function('main', { x: f16(4) }, (b, { x }) => {
        let v = x;
        for (let i = 0; i < 6; i++) v = b.relu({ x: v });
        return v;
      }),
    );
    const r = applyRules(p, [reluOfRelu]);
    expect(r.converged).toBe(true);
    expect(r.rewrites).toBe(5);
    expect(opTypes(p.main)).toEqual(['relu']);
    expect(p.main.outputs[0].producer!.input('x')).toBe(p.main.inputs[0]);
    expect(collectProblems(p)).toEqual([]);
  });

  it('stops at the iteration cap', () => {
    // relu(x) -> relu(x) (a fresh op every time: never converges)
    const churn = rule('churn', pat.op('relu', { x: 'x' }), (m, rw) => rw.builder(m.root).relu({ x: m.value('x') }));
    const p = buildProgram('iOS18', (pb) => pb.function('main', { x: f16(4) }, (b, { x }) => b.relu({ x })));
    const r = applyRules(p, [churn], { maxIterations: 3 });
    expect(r).toEqual({ changed: true, rewrites: 3, iterations: 3, converged: false, fired: { churn: 3 } });
    expect(opTypes(p.main)).toEqual(['relu']);
    expect(collectProblems(p)).toEqual([]);
    expect(applyRules(p, [churn]).iterations).toBe(10);
    expect(() => applyRules(p, [churn], { maxIterations: 0 })).toThrow('applyRules: maxIterations must be a positive integer, got 0');
  });

  it('applies to one function given a target, and needs one', () => {
    const p = linearPlusConst();
    expect(() => applyRules(p.main, [foldAddIntoLinear], {} as { target: 'iOS18' })).toThrow(
      'applyRules: a target is needed to rewrite function "main" (pass options.target, or pass the Program)',
    );
    expect(applyRules(p.main, [foldAddIntoLinear], { target: 'iOS18' }).rewrites).toBe(1);
  });

  it('rejects a rule that changes the program but returns nothing, and duplicate rule names', () => {
    const sneaky = rule('sneaky', pat.op('relu'), (m, rw) => {
      rw.builder(m.root).const(1);
      return undefined;
    });
    const p = buildProgram('iOS18', (pb) => pb.function('main', { x: f16(4) }, (b, { x }) => b.relu({ x }, { name: 'r' })));
    expect(() => applyRules(p, [sneaky])).toThrow('applyRules: rule "sneaky" changed the program at relu "r" but returned nothing (return the replacement or true)');
    expect(() => applyRules(p, [foldAddIntoLinear, foldAddIntoLinear])).toThrow('applyRules: two rules are named "fold-add-into-linear"');
  });

  it('honours an AbortSignal', () => {
    const p = linearPlusConst();
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    expect(() => applyRules(p, [foldAddIntoLinear], { signal: ac.signal })).toThrow('stop');
  });
});

describe('Rewriter', () => {
  function chain() {
    return buildProgram('iOS18', (pb) =>
      pb.function('main', { x: f16(4) }, (b, { x }) => {
        const a = b.relu({ x }, { name: 'a' });
        const s = b.sigmoid({ x: a }, { name: 's' });
        return b.silu({ x: s }, { name: 'out' });
      }),
    );
  }

  it('replaces uses, erases dead producers transitively and reports every change', () => {
    const p = chain();
    const fn = p.main;
    const events: string[] = [];
    const rw = new Rewriter('iOS18', {
      inserted: (op) => events.push(`inserted ${op.name}`),
      modified: (op) => events.push(`modified ${op.name}`),
      erased: (op) => events.push(`erased ${op.name}`),
    });
    const out = fn.findOp('out')!;
    const g = rw.builder(out).gelu({ x: fn.inputs[0] }, { name: 'g' });
    rw.replaceOp(fn.findOp('s')!, g);
    expect(opTypes(fn)).toEqual(['gelu', 'silu']);
    expect(events).toEqual(['inserted g', 'modified out', 'erased s', 'modified a', 'erased a']);
    expect(rw.changes).toBe(4);
    expect(out.input('x')).toBe(g);
    expect(fn.inputs[0].users.map((o) => o.name)).toEqual(['g']);
    expect(collectProblems(p)).toEqual([]);
  });

  it('refuses type-changing replacements and erasing used ops', () => {
    const p = chain();
    const fn = p.main;
    const rw = new Rewriter('iOS18');
    const c = rw.builder(fn.findOp('a')!).const(tensorFromValues('fp32', [4], [1, 2, 3, 4]), { name: 'c32' });
    expect(() => rw.replaceAllUsesWith(fn.findValue('a')!, c)).toThrow('rewriter: cannot replace "a" (fp16[4]) by "c32" (fp32[4]): the types differ');
    expect(() => rw.erase(fn.findOp('a')!)).toThrow('cannot erase op relu "a": its output "a" is still used by sigmoid "s"');
    expect(() => rw.replaceOp(fn.findOp('a')!, [])).toThrow('rewriter: op relu "a" has 1 output(s) but 0 replacement(s) were given');
    expect(() => rw.replaceOp(fn.findOp('a')!, fn.findValue('a')!)).toThrow('rewriter: op relu "a" cannot be replaced by its own output "a"');
    expect(() => eraseOp(fn.findOp('out')!)).toThrow('cannot erase op silu "out": its output "out" is still used by block output 0');
  });

  it('rebinds operands and keeps use lists right', () => {
    const p = chain();
    const fn = p.main;
    const rw = new Rewriter('iOS18');
    rw.setInput(fn.findOp('out')!, 'x', fn.findValue('a')!);
    expect(rw.eraseDead(fn.findOp('s')!)).toBe(1);
    expect(opTypes(fn)).toEqual(['relu', 'silu']);
    expect(fn.findValue('a')!.users.map((o) => o.name)).toEqual(['out']);
    expect(collectProblems(p)).toEqual([]);
  });
});

describe('operand order', () => {
  it('rebinding a parameter keeps its position; replaceOperand rebinds one element', () => {
    const fn = new Function('main');
    const a = fn.addInput('a', tensorType('fp32', [2]));
    const b = fn.addInput('b', tensorType('fp32', [2]));
    const c = fn.addInput('c', tensorType('fp32', [2]));
    const op = fn.block.append(new Op({ type: 'add', inputs: { x: a, y: b }, outputs: [{ name: 's', type: tensorType('fp32', [2]) }] }));
    op.setInput('x', c);
    expect([...op.inputs.keys()]).toEqual(['x', 'y']);
    expect(a.uses).toHaveLength(0);
    expect(c.uses).toEqual([{ kind: 'op', op, param: 'x', index: 0 }]);
    const cat = fn.block.append(new Op({ type: 'concat', inputs: { values: [a, b], axis: c }, outputs: [{ name: 'k', type: tensorType('fp32', [4]) }] }));
    new Rewriter('iOS18').replaceOperand(cat, 'values', 1, a);
    expect(cat.inputs.get('values')).toEqual([a, a]);
    expect([...cat.inputs.keys()]).toEqual(['values', 'axis']);
    expect(b.uses.filter((u) => u.kind === 'op' && u.op === cat)).toHaveLength(0);
    expect(() => new Rewriter('iOS18').replaceOperand(cat, 'values', 5, a)).toThrow(/has no operand values\[5\]/);
  });
});
