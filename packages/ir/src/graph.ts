/**
 * A graphology view of a function's data flow (ARCHITECTURE.md "IR decisions": graphology
 * is for views and analyses, built on demand — never the storage the writer walks).
 *
 * Nodes:
 *  - `op:<i>` — one per op, `i` its position in `fn.walk()` order (nested blocks
 *    included); attributes `{ kind: 'op', type, name, index: i, depth }`;
 *  - `input:<i>` — function input `i`; `{ kind: 'input', type: <formatted type>, name, index }`;
 *  - `block-input:<op>:<b>:<i>` — input `i` of nested block `b` of op node `<op>`;
 *  - `external:<k>` — an operand defined outside the function (only in broken IR);
 *  - `output` — the sink the function outputs flow into.
 *
 * Edges run producer → consumer, one per operand binding (a multigraph, so `add(x, x)`
 * keeps both edges): `{ param, index, value, output }` = parameter name, position in a
 * tuple parameter, value name, and which output of the producer. Function outputs are
 * edges into `output` with `param: 'output'`, `index` = output position. A nested block's
 * outputs flow into the op that holds the block (`param: 'block<b>'`).
 */
import { MultiDirectedGraph } from 'graphology';
import type { Function as Fn, Op, Value } from './ir.js';
import { formatType } from './types.js';

export type DataFlowNodeKind = 'op' | 'input' | 'block-input' | 'external' | 'output';

export interface DataFlowNode {
  readonly kind: DataFlowNodeKind;
  /** Op type for op nodes; the formatted value type for value nodes; `output` for the sink. */
  readonly type: string;
  /** Op name, value name, or the function name for the sink. */
  readonly name: string;
  /** Walk position of an op; position of an input; -1 for the sink. */
  readonly index: number;
  /** Nesting depth of an op (0 = the function's top block). */
  readonly depth: number;
}

export interface DataFlowEdge {
  readonly param: string;
  readonly index: number;
  readonly value: string;
  readonly output: number;
}

export type DataFlowGraph = MultiDirectedGraph<DataFlowNode, DataFlowEdge>;

/** The node key of the sink every function output flows into. */
export const OUTPUT_NODE = 'output';

interface View {
  readonly graph: DataFlowGraph;
  /** Ops in walk order (node `op:<i>` is `ops[i]`). */
  readonly ops: readonly Op[];
  readonly nodeOf: ReadonlyMap<Op, string>;
}

function buildView(fn: Fn): View {
  const graph: DataFlowGraph = new MultiDirectedGraph<DataFlowNode, DataFlowEdge>();
  const ops: Op[] = [];
  const nodeOf = new Map<Op, string>();
  const valueNode = new Map<Value, string>();

  fn.inputs.forEach((v, i) => {
    const key = `input:${i}`;
    graph.addNode(key, { kind: 'input', type: formatType(v.type), name: v.name, index: i, depth: 0 });
    valueNode.set(v, key);
  });
  const number = (op: Op, depth: number): void => {
    const key = `op:${ops.length}`;
    graph.addNode(key, { kind: 'op', type: op.type, name: op.name, index: ops.length, depth });
    nodeOf.set(op, key);
    ops.push(op);
    op.outputs.forEach((o) => valueNode.set(o, key));
    op.blocks.forEach((b, bi) => {
      b.inputs.forEach((v, i) => {
        const bk = `block-input:${key}:${bi}:${i}`;
        graph.addNode(bk, { kind: 'block-input', type: formatType(v.type), name: v.name, index: i, depth: depth + 1 });
        valueNode.set(v, bk);
      });
      for (const inner of b.ops) number(inner, depth + 1);
    });
  };
  for (const op of fn.block.ops) number(op, 0);
  graph.addNode(OUTPUT_NODE, { kind: 'output', type: 'output', name: fn.name, index: -1, depth: 0 });

  let externals = 0;
  let edges = 0;
  const source = (v: Value): string => {
    let key = valueNode.get(v);
    if (!key) {
      key = `external:${externals++}`;
      graph.addNode(key, { kind: 'external', type: formatType(v.type), name: v.name, index: -1, depth: 0 });
      valueNode.set(v, key);
    }
    return key;
  };
  const edge = (v: Value, target: string, param: string, index: number): void => {
    graph.addDirectedEdgeWithKey(`e${edges++}`, source(v), target, { param, index, value: v.name, output: v.producer ? v.index : 0 });
  };
  for (const op of ops) {
    const key = nodeOf.get(op)!;
    for (const [param, vs] of op.inputs) vs.forEach((v, i) => edge(v, key, param, i));
    op.blocks.forEach((b, bi) => b.outputs.forEach((v, i) => edge(v, key, `block${bi}`, i)));
  }
  fn.block.outputs.forEach((v, i) => edge(v, OUTPUT_NODE, 'output', i));
  return { graph, ops, nodeOf };
}

/** The data-flow multigraph of `fn` (see the module comment for nodes and edges). */
export function dataFlowGraph(fn: Fn): DataFlowGraph {
  return buildView(fn).graph;
}

export interface ReachabilityOptions {
  /**
   * Also treat ops with side effects (`write_state`, ops without outputs) as roots, and
   * the ops whose nested blocks hold them (default false).
   */
  readonly sideEffects?: boolean;
}

/** Ops whose results flow (possibly through nested blocks) into the function outputs. */
export function reachableFromOutputs(fn: Fn, options: ReachabilityOptions = {}): Set<Op> {
  const { graph, ops, nodeOf } = buildView(fn);
  const roots: string[] = [OUTPUT_NODE];
  if (options.sideEffects) {
    for (const op of ops) {
      if (op.type !== 'write_state' && op.outputs.length > 0) continue;
      roots.push(nodeOf.get(op)!);
      // the ops holding a side-effecting op must run for it to run
      for (let p = op.parent?.parentOp ?? null; p; p = p.parent?.parentOp ?? null) {
        const k = nodeOf.get(p);
        if (k) roots.push(k);
      }
    }
  }
  const seen = new Set<string>(roots);
  const stack = [...roots];
  while (stack.length > 0) {
    const key = stack.pop()!;
    graph.forEachInNeighbor(key, (n) => {
      if (!seen.has(n)) {
        seen.add(n);
        stack.push(n);
      }
    });
  }
  const out = new Set<Op>();
  ops.forEach((op, i) => {
    if (seen.has(`op:${i}`)) out.add(op);
  });
  return out;
}

/**
 * Whether the data flow has a cycle. A valid (SSA, topologically ordered) function has
 * none; a cycle means a rewrite wired an op to depend on its own result.
 */
export function hasCycle(where: Fn | DataFlowGraph): boolean {
  const graph = where instanceof MultiDirectedGraph ? (where as DataFlowGraph) : dataFlowGraph(where as Fn);
  const WHITE = 0;
  const GREY = 1;
  const BLACK = 2;
  const color = new Map<string, number>();
  for (const start of graph.nodes()) {
    if ((color.get(start) ?? WHITE) !== WHITE) continue;
    // iterative DFS: each frame is a node and its out-neighbours still to visit
    const stack: Array<{ node: string; next: string[] }> = [{ node: start, next: graph.outNeighbors(start) }];
    color.set(start, GREY);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const n = top.next.pop();
      if (n === undefined) {
        color.set(top.node, BLACK);
        stack.pop();
        continue;
      }
      const c = color.get(n) ?? WHITE;
      if (c === GREY) return true;
      if (c === WHITE) {
        color.set(n, GREY);
        stack.push({ node: n, next: graph.outNeighbors(n) });
      }
    }
  }
  return false;
}

function dotString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/**
 * Graphviz DOT text of the data flow of `fn`: inputs as ellipses, ops as boxes (consts as
 * notes) labelled with name, type and output types, nested blocks as clusters, edges
 * labelled with the parameter they bind.
 */
export function toDot(fn: Fn): string {
  const { graph, nodeOf } = buildView(fn);
  const lines: string[] = [`digraph ${dotString(fn.name)} {`, '  rankdir=TB;', '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];'];
  const opLine = (op: Op, indent: string): string => {
    const outs = op.outputs.map((o) => formatType(o.type)).join(', ');
    const label = `${op.name}\n${op.type}${outs ? `\n${outs}` : ''}`;
    const shape = op.type === 'const' ? 'note' : op.isConstexpr ? 'component' : 'box';
    return `${indent}${dotString(nodeOf.get(op)!)} [label=${dotString(label)}, shape=${shape}];`;
  };
  graph.forEachNode((key, a) => {
    if (a.kind === 'input' || a.kind === 'external') {
      lines.push(`  ${dotString(key)} [label=${dotString(`${a.name}\n${a.type}`)}, shape=ellipse${a.kind === 'external' ? ', style=dashed' : ''}];`);
    }
  });
  const emitBlockOps = (list: readonly Op[], indent: string): void => {
    for (const op of list) {
      lines.push(opLine(op, indent));
      op.blocks.forEach((b, bi) => {
        const key = nodeOf.get(op)!;
        lines.push(`${indent}subgraph ${dotString(`cluster_${key}_${bi}`)} {`);
        lines.push(`${indent}  label=${dotString(`${op.name} block ${bi}`)};`);
        b.inputs.forEach((v, i) => {
          lines.push(`${indent}  ${dotString(`block-input:${key}:${bi}:${i}`)} [label=${dotString(`${v.name}\n${formatType(v.type)}`)}, shape=ellipse];`);
        });
        emitBlockOps(b.ops, `${indent}  `);
        lines.push(`${indent}}`);
      });
    }
  };
  emitBlockOps(fn.block.ops, '  ');
  lines.push(`  ${dotString(OUTPUT_NODE)} [label=${dotString(`${fn.name} outputs`)}, shape=doubleoctagon];`);
  graph.forEachEdge((_key, a, source, target) => {
    const label = target === OUTPUT_NODE ? `out${a.index}` : a.param + (isTupleEdge(graph, target, a.param) ? `[${a.index}]` : '');
    lines.push(`  ${dotString(source)} -> ${dotString(target)} [label=${dotString(label)}];`);
  });
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

function isTupleEdge(graph: DataFlowGraph, target: string, param: string): boolean {
  let n = 0;
  graph.forEachInEdge(target, (_k, a) => {
    if (a.param === param) n++;
  });
  return n > 1;
}
