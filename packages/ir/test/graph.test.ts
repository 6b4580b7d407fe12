import { describe, expect, it } from 'vitest';
import {
  Block,
  OUTPUT_NODE,
  Op,
  type Program,
  Value,
  buildProgram,
  collectProblems,
  dataFlowGraph,
  deadCodeElimination,
  eliminateDeadCode,
  hasCycle,
  pipeline,
  reachableFromOutputs,
  stateType,
  tensorFromValues,
  tensorType,
  toDot,
} from '../src/index.js';
import dceFactory from '../src/dce.js';

const f16 = (...shape: number[]) => tensorType('fp16', shape);
const names = (ops: Iterable<Op>): string[] => [...ops].map((o) => o.name);

/** y = relu(add(x, x)), plus a dead chain sigmoid(mul(x, w)). */
function withDeadChain(): Program {
  return buildProgram('iOS18', (p) =>
    p.function('main', { x: f16(4), unused: f16(2) }, (b, { x }) => {
      const sum = b.add({ x, y: x }, { name: 'sum' });
      const w = b.const(tensorFromValues('fp16', [4], [1, 2, 3, 4]), { name: 'w' });
      const m = b.mul({ x, y: w }, { name: 'm' });
      b.sigmoid({ x: m }, { name: 'dead' });
      return b.relu({ x: sum }, { name: 'y' });
    }),
  );
}

describe('dataFlowGraph', () => {
  it('has op, input and output nodes and one edge per operand binding', () => {
    const fn = withDeadChain().main;
    const g = dataFlowGraph(fn);
    expect(g.type).toBe('directed');
    expect(g.multi).toBe(true);
    expect(g.nodes()).toEqual(['input:0', 'input:1', 'op:0', 'op:1', 'op:2', 'op:3', 'op:4', OUTPUT_NODE]);
    expect(g.getNodeAttributes('op:0')).toEqual({ kind: 'op', type: 'add', name: 'sum', index: 0, depth: 0 });
    expect(g.getNodeAttributes('input:0')).toEqual({ kind: 'input', type: 'fp16[4]', name: 'x', index: 0, depth: 0 });
    expect(g.getNodeAttributes(OUTPUT_NODE)).toEqual({ kind: 'output', type: 'output', name: 'main', index: -1, depth: 0 });
    // add(x, x) keeps both edges; graphology does not keep their order, the attributes do
    const intoAdd = g
      .inEdges('op:0')
      .map((e) => ({ from: g.source(e), ...g.getEdgeAttributes(e) }))
      .sort((a, b) => a.param.localeCompare(b.param));
    expect(intoAdd).toEqual([
      { from: 'input:0', param: 'x', index: 0, value: 'x', output: 0 },
      { from: 'input:0', param: 'y', index: 0, value: 'x', output: 0 },
    ]);
    expect(g.inEdges(OUTPUT_NODE).map((e) => [g.source(e), g.getEdgeAttribute(e, 'param'), g.getEdgeAttribute(e, 'index')])).toEqual([
      ['op:4', 'output', 0],
    ]);
    expect(g.size).toBe(7); // add ×2, mul ×2, sigmoid, relu, output
  });

  it('numbers tuple operands and routes nested block outputs into the holding op', () => {
    const p = buildProgram('iOS18', (pb) =>
      pb.function('main', { x: f16(1, 2), y: f16(1, 2) }, (b, { x, y }) => b.concat({ values: [x, y, x], axis: 1 }, { name: 'cat' })),
    );
    const fn = p.main;
    const holder = fn.block.insertAt(0, new Op({ type: 'relu', name: 'holder', inputs: { x: fn.inputs[0] }, outputs: [{ name: 'holder', type: f16(1, 2) }] }));
    const inner = new Block([new Value('bi', f16(1, 2))]);
    holder.addBlock(inner);
    const n = inner.append(new Op({ type: 'sigmoid', name: 'n', inputs: { x: inner.inputs[0] }, outputs: [{ name: 'n', type: f16(1, 2) }] }));
    inner.setOutputs([n.output]);
    const g = dataFlowGraph(fn);
    expect(g.getNodeAttributes('op:1')).toMatchObject({ name: 'n', depth: 1 });
    expect(g.getNodeAttributes('block-input:op:0:0:0')).toMatchObject({ kind: 'block-input', name: 'bi', depth: 1 });
    expect(g.getNodeAttributes('op:3')).toMatchObject({ name: 'cat', type: 'concat' });
    const sorted = (key: string): Array<[string, string, number]> =>
      g
        .inEdges(key)
        .map((e): [string, string, number] => [g.source(e), g.getEdgeAttribute(e, 'param'), g.getEdgeAttribute(e, 'index')])
        .sort((a, b) => a[1].localeCompare(b[1]) || a[2] - b[2]);
    expect(sorted('op:0')).toEqual([
      ['op:1', 'block0', 0],
      ['input:0', 'x', 0],
    ]);
    expect(sorted('op:3').filter((e) => e[1] === 'values')).toEqual([
      ['input:0', 'values', 0],
      ['input:1', 'values', 1],
      ['input:0', 'values', 2],
    ]);
  });
});

describe('analyses', () => {
  it('finds the ops reachable from the outputs', () => {
    const fn = withDeadChain().main;
    expect(names(reachableFromOutputs(fn))).toEqual(['sum', 'y']);
  });

  it('counts side effects as roots when asked', () => {
    const p = buildProgram('iOS18', (pb) =>
      pb.function('main', { x: f16(4), k: stateType(f16(4)) }, (b, { x, k }) => {
        const upd = b.add({ x: b.read_state({ input: k }, { name: 'old' }), y: x }, { name: 'upd' });
        b.write_state({ input: k, data: upd }, { name: 'ws' });
        return b.relu({ x }, { name: 'y' });
      }),
    );
    expect(names(reachableFromOutputs(p.main))).toEqual(['y']);
    expect(names(reachableFromOutputs(p.main, { sideEffects: true }))).toEqual(['old', 'upd', 'ws', 'y']);
  });

  it('detects cycles', () => {
    const p = withDeadChain();
    const fn = p.main;
    expect(hasCycle(fn)).toBe(false);
    expect(hasCycle(dataFlowGraph(fn))).toBe(false);
    // wire sum to read y, which reads sum
    fn.findOp('sum')!.setInput('y', fn.findValue('y')!);
    expect(hasCycle(fn)).toBe(true);
    expect(collectProblems(p).map((x) => x.kind)).toContain('order');
  });

  it('renders Graphviz DOT', () => {
    const p = buildProgram('iOS18', (pb) =>
      pb.function('main', { x: f16(2) }, (b, { x }) => b.relu({ x: b.mul({ x, y: x }, { name: 'sq' }) }, { name: 'y' })),
    );
    expect(toDot(p.main)).toBe(
      [
        'digraph "main" {',
        '  rankdir=TB;',
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
        '  "input:0" [label="x\\nfp16[2]", shape=ellipse];',
        '  "op:0" [label="sq\\nmul\\nfp16[2]", shape=box];',
        '  "op:1" [label="y\\nrelu\\nfp16[2]", shape=box];',
        '  "output" [label="main outputs", shape=doubleoctagon];',
        '  "input:0" -> "op:0" [label="x"];',
        '  "input:0" -> "op:0" [label="y"];',
        '  "op:0" -> "op:1" [label="x"];',
        '  "op:1" -> "output" [label="out0"];',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('renders consts, constexprs and nested blocks distinctly', () => {
    const fn = withDeadChain().main;
    const holder = fn.findOp('y')!;
    const inner = new Block();
    holder.addBlock(inner);
    inner.append(new Op({ type: 'relu', name: 'inner', inputs: { x: fn.inputs[0] }, outputs: [{ name: 'inner', type: f16(4) }] }));
    const dot = toDot(fn);
    expect(dot).toContain('  "op:1" [label="w\\nconst\\nfp16[4]", shape=note];');
    expect(dot).toContain('  subgraph "cluster_op:4_0" {\n    label="y block 0";\n    "op:5" [label="inner\\nrelu\\nfp16[4]", shape=box];\n  }');
  });
});

describe('dead-code elimination', () => {
  it('removes ops not reachable from the outputs and keeps unused inputs', () => {
    const p = withDeadChain();
    const fn = p.main;
    expect(eliminateDeadCode(fn)).toBe(3);
    expect(names(fn.walk())).toEqual(['sum', 'y']);
    expect(fn.inputs.map((v) => v.name)).toEqual(['x', 'unused']);
    expect(fn.inputs[0].users.map((o) => o.name)).toEqual(['sum']);
    expect(collectProblems(p)).toEqual([]);
    expect(eliminateDeadCode(fn)).toBe(0);
  });

  it('keeps write_state and what feeds it', () => {
    const p = buildProgram('iOS18', (pb) =>
      pb.function('main', { x: f16(4), k: stateType(f16(4)) }, (b, { x, k }) => {
        const upd = b.add({ x: b.read_state({ input: k }, { name: 'old' }), y: x }, { name: 'upd' });
        b.write_state({ input: k, data: upd }, { name: 'ws' });
        b.read_state({ input: k }, { name: 'unread' });
        return b.relu({ x }, { name: 'y' });
      }),
    );
    expect(eliminateDeadCode(p.main)).toBe(1);
    expect(names(p.main.walk())).toEqual(['old', 'upd', 'ws', 'y']);
    expect(collectProblems(p)).toEqual([]);
  });

  it('works across nested blocks', () => {
    const p = withDeadChain();
    const fn = p.main;
    const x = fn.inputs[0];
    // a live holder (y) with a nested block: one op feeds the block output, one is dead
    const y = fn.findOp('y')!;
    const live = new Block([new Value('bi', f16(4))]);
    y.addBlock(live);
    const keep = live.append(new Op({ type: 'relu', name: 'keep', inputs: { x: live.inputs[0] }, outputs: [{ name: 'keep', type: f16(4) }] }));
    live.append(new Op({ type: 'sigmoid', name: 'dead_inner', inputs: { x }, outputs: [{ name: 'dead_inner', type: f16(4) }] }));
    live.setOutputs([keep.output]);
    // a dead holder whose nested op reads x: erasing it must drop that use too
    const deadHolder = fn.block.insertBefore(y, new Op({ type: 'relu', name: 'dead_holder', inputs: { x }, outputs: [{ name: 'dead_holder', type: f16(4) }] }));
    const inner = new Block();
    deadHolder.addBlock(inner);
    const io = inner.append(new Op({ type: 'silu', name: 'inner_op', inputs: { x }, outputs: [{ name: 'inner_op', type: f16(4) }] }));
    inner.setOutputs([io.output]);

    const removed = eliminateDeadCode(fn);
    expect(removed).toBe(3 + 1 + 2); // the dead chain, dead_inner, dead_holder with its nested op
    expect(names(fn.walk())).toEqual(['sum', 'y', 'keep']);
    expect(x.users.map((o) => o.name)).toEqual(['sum']);
    expect(x.uses).toHaveLength(2);
  });

  it('keeps a side effect nested in a block, and the op holding it', () => {
    const p = buildProgram('iOS18', (pb) =>
      pb.function('main', { x: f16(4), k: stateType(f16(4)) }, (b, { x }) => b.relu({ x }, { name: 'y' })),
    );
    const fn = p.main;
    const [x, k] = fn.inputs;
    const holder = fn.block.insertAt(0, new Op({ type: 'identity', name: 'holder', inputs: { x }, outputs: [{ name: 'holder', type: f16(4) }] }));
    const inner = new Block();
    holder.addBlock(inner);
    inner.append(new Op({ type: 'write_state', name: 'ws', inputs: { input: k, data: x } }));
    expect(eliminateDeadCode(fn)).toBe(0);
    expect(names(fn.walk())).toEqual(['holder', 'ws', 'y']);
  });

  it('runs as a pass with stats, through a pipeline', async () => {
    const pass = deadCodeElimination();
    expect(dceFactory).toBe(deadCodeElimination);
    expect(pass.name).toBe('dead-code-elimination');
    expect(pass.establishes).toEqual(['no-dead-code']);
    const { program, report } = await pipeline([pass, deadCodeElimination()]).runWithReport(withDeadChain());
    expect(names(program.main.walk())).toEqual(['sum', 'y']);
    expect(report.map((r) => [r.changed, r.stats, r.bytesIn, r.bytesOut])).toEqual([
      [true, { removed: 3 }, 8, 0],
      [false, { removed: 0 }, 0, 0],
    ]);
    await expect(pipeline([deadCodeElimination({ functions: ['nope'] })]).run(withDeadChain())).rejects.toThrow(
      'dead-code-elimination: no function named "nope" (functions: main)',
    );
  });
});
