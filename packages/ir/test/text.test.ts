/**
 * The text form (printer.ts / parser.ts): exact golden output, round trips that rebuild
 * programs structurally and print identically, exact inline values for every dtype,
 * hash-printed tensors restored through a resolver, and parse errors with line:column.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Block,
  DenseTensor,
  type DType,
  FileTensor,
  Function,
  Op,
  Program,
  type Tensor,
  TextParseError,
  UnresolvedTensor,
  Value,
  type ValueType,
  parseFunction,
  parseProgram,
  printFunction,
  printProgram,
  scalar,
  stateType,
  stringTensor,
  tensorFromValues,
  tensorType,
  tensorsByHash,
} from '../src/index.js';
import type { ParseOptions, PrintOptions } from '../src/index.js';

// ---------------------------------------------------------------------------------------
// Builders

const t = (dtype: DType, ...shape: Array<number | string>): ValueType => tensorType(dtype, shape);

function konst(block: Block, name: string, val: Tensor, type?: ValueType): Value {
  const op = new Op({ type: 'const', outputs: [{ name, type: type ?? tensorType(val.dtype, val.shape) }], attributes: { val } });
  block.append(op);
  return op.output;
}

function addOp(
  block: Block,
  type: string,
  inputs: Record<string, Value | Value[]>,
  outputs: Array<[string, ValueType]>,
  extra: { name?: string; attributes?: Record<string, Tensor>; blocks?: Block[] } = {},
): Op {
  const op = new Op({ type, inputs, outputs: outputs.map(([name, ty]) => ({ name, type: ty })), ...extra });
  block.append(op);
  return op;
}

const fp16 = (shape: number[], values: number[]): DenseTensor => tensorFromValues('fp16', shape, values);
const ramp = (dtype: DType, shape: number[], mod = 7, offset = -3): DenseTensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensorFromValues(dtype, shape, Array.from({ length: n }, (_, i) => (i % mod) + offset));
};

// ---------------------------------------------------------------------------------------
// Structural comparison

function tensorShapeOf(x: Tensor): unknown {
  return { dtype: x.dtype, shape: [...x.shape], hash: x.hash().hex };
}

function blockShapeOf(b: Block): unknown {
  return {
    inputs: b.inputs.map((v) => [v.name, v.type]),
    ops: b.ops.map((op) => ({
      type: op.type,
      name: op.name,
      inputs: [...op.inputs].map(([k, vs]) => [k, vs.map((v) => v.name)]),
      attributes: [...op.attributes].map(([k, x]) => [k, tensorShapeOf(x)]),
      outputs: op.outputs.map((o) => [o.name, o.type]),
      blocks: op.blocks.map(blockShapeOf),
    })),
    outputs: b.outputs.map((v) => v.name),
  };
}

function programShapeOf(p: Program): unknown {
  return {
    target: p.target,
    defaultFunction: p.defaultFunction,
    multifunction: p.multifunction,
    metadata: p.metadata,
    buildInfo: p.buildInfo,
    functions: [...p.functions].map(([key, f]) => ({
      key,
      name: f.name,
      inputs: f.inputs.map((v) => [v.name, v.type]),
      io: [...f.io],
      predictedFeatureName: f.predictedFeatureName,
      predictedProbabilitiesName: f.predictedProbabilitiesName,
      block: blockShapeOf(f.block),
    })),
  };
}

/** Every operand and output is the very Value defined earlier in scope, and use lists agree. */
function expectWired(fn: Function): void {
  const check = (b: Block, visible: Set<Value>): void => {
    const scope = new Set([...visible, ...b.inputs]);
    for (const v of b.inputs) expect(v.ownerBlock).toBe(b);
    for (const op of b.ops) {
      expect(op.parent).toBe(b);
      for (const [param, vs] of op.inputs) {
        vs.forEach((v, index) => {
          expect(scope.has(v), `${op.name}.${param} reads ${v.name}`).toBe(true);
          expect(v.uses).toContainEqual({ kind: 'op', op, param, index });
        });
      }
      for (const nb of op.blocks) {
        expect(nb.parentOp).toBe(op);
        check(nb, scope);
      }
      for (const o of op.outputs) {
        expect(o.producer).toBe(op);
        scope.add(o);
      }
    }
    b.outputs.forEach((v, index) => {
      expect(scope.has(v)).toBe(true);
      expect(v.uses).toContainEqual({ kind: 'output', block: b, index });
    });
  };
  check(fn.block, new Set(fn.inputs));
  expect(fn.block.fn).toBe(fn);
}

/** print → parse → print: same text, same structure, correct wiring. Returns the parsed program. */
function roundTrip(p: Program, printOptions: PrintOptions = {}, parseOptions: ParseOptions = {}): Program {
  const text = printProgram(p, printOptions);
  const q = parseProgram(text, parseOptions);
  expect(printProgram(q, printOptions)).toBe(text);
  expect(programShapeOf(q)).toEqual(programShapeOf(p));
  for (const f of q.functions.values()) expectWired(f);
  return q;
}

function parseError(text: string, options: ParseOptions = {}): TextParseError {
  try {
    parseProgram(text, options);
  } catch (e) {
    expect(e).toBeInstanceOf(TextParseError);
    return e as TextParseError;
  }
  throw new Error('expected a parse error');
}

// ---------------------------------------------------------------------------------------
// Test programs

/** The STYLE.md example shape: a linear with a hashed weight and an inline bias. */
function linearProgram(): { p: Program; w: DenseTensor } {
  const p = new Program('iOS18');
  const fn = p.addFunction(new Function('main', [{ name: 'x', type: t('fp16', 1, 'seq', 8) }]));
  const w = ramp('fp16', [8, 8]);
  const wv = konst(fn.block, 'w', w);
  const bv = konst(fn.block, 'b', fp16([8], [0, 0.5, -1, 2, 65504, -0, 0.1, 1e-3]));
  const lin = addOp(fn.block, 'linear', { x: fn.inputs[0], weight: wv, bias: bv }, [['0', t('fp16', 1, 'seq', 8)]]);
  fn.block.setOutputs([lin.output]);
  return { p, w };
}

/** iOS18 compression ops: lut_to_dense, blockwise_shift_scale, the two-output lut_to_sparse. */
function constexprProgram(): Program {
  const p = new Program('iOS18');
  const fn = p.addFunction(new Function('main', [{ name: 'x', type: t('fp16', 2, 8) }]));
  const b = fn.block;
  const idx = konst(b, 'w_indices', ramp('uint4', [8, 8], 16, 0));
  const lut = konst(b, 'w_lut', ramp('fp16', [1, 1, 16, 1], 16));
  const w = addOp(b, 'constexpr_lut_to_dense', { indices: idx, lut }, [['w', t('fp16', 8, 8)]]);
  const q = konst(b, 'q_data', ramp('int4', [8, 8], 16, -8));
  const s = konst(b, 'q_scale', fp16([8, 1], [1, 2, 3, 4, 0.5, 0.25, 0.125, 8]));
  const wq = addOp(b, 'constexpr_blockwise_shift_scale', { data: q, scale: s }, [['wq', t('fp16', 8, 8)]]);
  const mask = konst(b, 'sp_mask', tensorFromValues('uint1', [4, 4], [1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 1]));
  const nz = konst(b, 'sp_idx', tensorFromValues('uint2', [8], [0, 1, 2, 3, 3, 2, 1, 0]));
  const slut = konst(b, 'sp_lut', fp16([1, 1, 4, 1], [-1, -0.5, 0.5, 1]));
  const two = addOp(
    b,
    'constexpr_lut_to_sparse',
    { indices_mask: mask, indices_nonzero_data: nz, lut: slut },
    [
      ['mask', t('uint1', 4, 4)],
      ['nonzero_data', t('fp16', 8)],
    ],
    { name: 'w_sparse' },
  );
  const dense = addOp(
    b,
    'constexpr_sparse_to_dense',
    { nonzero_data: two.outputs[1], mask: two.outputs[0] },
    [['ws', t('fp16', 4, 4)]],
  );
  const y = addOp(b, 'linear', { x: fn.inputs[0], weight: w.output }, [['y', t('fp16', 2, 8)]]);
  const z = addOp(b, 'linear', { x: y.output, weight: wq.output }, [['z', t('fp16', 2, 8)]]);
  b.setOutputs([z.output, dense.output]);
  return p;
}

/** A KV-cache update as coremltools serialises it (mil-ops.md §2.3, mlpackage-format.md §14). */
function stateProgram(): Program {
  const p = new Program('iOS18');
  const fn = p.addFunction(
    new Function('main', [
      { name: 'x', type: t('fp16', 1, 2, 1, 4) },
      { name: 'k_cache', type: stateType(tensorType('fp16', [1, 2, 8, 4])) },
    ]),
  );
  const b = fn.block;
  const cache = addOp(b, 'read_state', { input: fn.inputs[1] }, [['k_old', t('fp16', 1, 2, 8, 4)]]);
  const begin = konst(b, 'begin', tensorFromValues('int32', [4], [0, 0, 3, 0]));
  const end = konst(b, 'end', tensorFromValues('int32', [4], [1, 2, 4, 4]));
  const upd = addOp(b, 'slice_update', { x: cache.output, update: fn.inputs[0], begin, end }, [['k_new', t('fp16', 1, 2, 8, 4)]]);
  addOp(b, 'write_state', { input: fn.inputs[1], data: upd.output }, [], { name: 'k_new_write_state' });
  addOp(b, 'write_state', { input: fn.inputs[1], data: cache.output }, []);
  const all = addOp(b, 'read_state', { input: fn.inputs[1] }, [['k_all', t('fp16', 1, 2, 8, 4)]], { name: 'k_new' });
  b.setOutputs([all.output]);
  return p;
}

/** A cond-like op with two blocks that take block inputs, one of them holding a nested loop-like op. */
function nestedProgram(): Program {
  const p = new Program('iOS17');
  const fn = p.addFunction(
    new Function('main', [
      { name: 'pred', type: t('bool') },
      { name: 'x', type: t('fp32', 4) },
    ]),
  );
  const b = fn.block;
  const one = konst(b, 'one', scalar('fp32', 1));

  const thenIn = new Value('a', t('fp32', 4));
  const thenB = new Block([thenIn]);
  const inner = new Block([new Value('i', t('int32'))]);
  const innerOp = new Op({ type: 'add', inputs: { x: thenIn, y: one }, outputs: [{ name: 'inner_sum', type: t('fp32', 4) }] });
  inner.append(innerOp);
  inner.setOutputs([innerOp.output, inner.inputs[0]]);
  const loop = new Op({
    type: 'while_loop',
    inputs: { loop_vars: [thenIn, fn.inputs[0]] },
    outputs: [
      { name: 'loop_out', type: t('fp32', 4) },
      { name: 'loop_i', type: t('int32') },
    ],
    blocks: [inner],
  });
  thenB.append(loop);
  thenB.setOutputs([loop.outputs[0]]);

  const elseIn = new Value('c', t('fp32', 4));
  const elseB = new Block([elseIn, new Value('d', t('fp32', 4))]);
  const mul = new Op({ type: 'mul', inputs: { x: elseIn, y: fn.inputs[1] }, outputs: [{ name: 'prod', type: t('fp32', 4) }] });
  elseB.append(mul);
  elseB.setOutputs([mul.output]);

  const c = addOp(b, 'cond', { pred: fn.inputs[0] }, [['r', t('fp32', 4)]], { blocks: [thenB, elseB] });
  const empty = new Block();
  empty.setOutputs([fn.inputs[1]]);
  addOp(b, 'side_effect', { x: c.output }, [], { blocks: [empty] });
  b.setOutputs([c.output]);
  return p;
}

/** Two functions, a default, metadata, buildInfo, io descriptions and classifier names. */
function multiProgram(): Program {
  const p = new Program('iOS18');
  p.multifunction = true;
  p.defaultFunction = 'decode';
  p.metadata = {
    shortDescription: 'tiny "model"\nsecond line',
    author: 'Silica',
    versionString: '1.0',
    userDefined: { 'com.github.apple.coremltools.source': 'torch==2.4', plain: 'x' },
  };
  p.buildInfo = { 'coremltools-version': '8.1', 'coremltools-component-torch': '2.4.0' };
  for (const [name, seq] of [
    ['prefill', 'seq'],
    ['decode', 1],
  ] as const) {
    const fn = p.addFunction(new Function(name, [{ name: 'ids', type: t('int32', 1, seq) }]));
    const e = konst(fn.block, 'table', ramp('fp16', [16, 4]));
    const g = addOp(fn.block, 'gather', { x: e, indices: fn.inputs[0] }, [['emb', t('fp16', 1, seq, 4)]]);
    const sm = addOp(fn.block, 'softmax', { x: g.output }, [['probs', t('fp16', 1, seq, 4)]]);
    fn.block.setOutputs([sm.output]);
    fn.io.set('ids', {
      shortDescription: 'token ids',
      shapeRange: [
        [1, 1],
        [1, -1],
      ],
      defaultShape: [1, 1],
      enumeratedShapes: [
        [1, 1],
        [1, 64],
      ],
    });
    fn.io.set('probs', { shortDescription: 'probabilities', isOptional: false, defaultValue: -0.5 });
  }
  const dec = p.functions.get('decode') as Function;
  dec.predictedFeatureName = 'label';
  dec.predictedProbabilitiesName = 'probs';
  dec.io.set('img', { image: { colorSpace: 'RGB' }, defaultValue: NaN });
  return p;
}

// ---------------------------------------------------------------------------------------

describe('golden text', () => {
  it('prints the STYLE.md example form exactly, large consts by full hash', () => {
    const { p, w } = linearProgram();
    expect(w.hash().hex).toMatch(/^[0-9a-f]{64}$/);
    expect(printProgram(p)).toBe(
      [
        'program(target = iOS18) {',
        'func @main(%x: fp16[1, seq, 8]) -> (fp16[1, seq, 8]) {',
        `  %w = const() {val = #sha256:${w.hash().hex}} : fp16[8, 8]`,
        '  %b = const() {val = [0, 0.5, -1, 2, 65500, -0, 0.1, 0.001]} : fp16[8]',
        '  %0 = linear(x = %x, weight = %w, bias = %b) : fp16[1, seq, 8]',
        '} -> (%0)',
        '}',
        '',
      ].join('\n'),
    );
    expect(printFunction(p.main)).toBe(
      [
        'func @main(%x: fp16[1, seq, 8]) -> (fp16[1, seq, 8]) {',
        `  %w = const() {val = #sha256:${w.hash().hex}} : fp16[8, 8]`,
        '  %b = const() {val = [0, 0.5, -1, 2, 65500, -0, 0.1, 0.001]} : fp16[8]',
        '  %0 = linear(x = %x, weight = %w, bias = %b) : fp16[1, seq, 8]',
        '} -> (%0)',
        '',
      ].join('\n'),
    );
  });

  it('inlineAll prints every const inline; inlineLimit moves the threshold', () => {
    const { p } = linearProgram();
    const all = printProgram(p, { inlineAll: true });
    expect(all).toContain(
      '  %w = const() {val = [[-3, -2, -1, 0, 1, 2, 3, -3], [-2, -1, 0, 1, 2, 3, -3, -2], [-1, 0, 1, 2, 3, -3, -2, -1], ' +
        '[0, 1, 2, 3, -3, -2, -1, 0], [1, 2, 3, -3, -2, -1, 0, 1], [2, 3, -3, -2, -1, 0, 1, 2], ' +
        '[3, -3, -2, -1, 0, 1, 2, 3], [-3, -2, -1, 0, 1, 2, 3, -3]]} : fp16[8, 8]',
    );
    expect(all).not.toContain('#sha256:');
    expect(printProgram(p, { inlineLimit: 64 })).toBe(all);
    const hashed = printProgram(p, { inlineLimit: 4 });
    expect(hashed.match(/#sha256:[0-9a-f]{64}\}/g)).toHaveLength(2);
    roundTrip(p, { inlineAll: true });
  });

  it('prints multi-output, zero-output, tuple, named and state ops', () => {
    const p = new Program('iOS18');
    const fn = p.addFunction(
      new Function('main', [
        { name: 'a', type: t('fp16', 2) },
        { name: 'b', type: t('fp16', 2) },
        { name: 's', type: stateType(tensorType('fp16', [4])) },
      ]),
    );
    const blk = fn.block;
    const ax = konst(blk, 'axis', scalar('int32', 0));
    const il = konst(blk, 'interleave', scalar('bool', false));
    const cat = addOp(blk, 'concat', { values: [fn.inputs[0], fn.inputs[1]], axis: ax, interleave: il }, [['c', t('fp16', 4)]], {
      name: 'my_concat',
    });
    const one = addOp(blk, 'concat', { values: [fn.inputs[0]], axis: ax, interleave: il }, [['c1', t('fp16', 2)]]);
    addOp(blk, 'write_state', { input: fn.inputs[2], data: cat.output }, []);
    addOp(blk, 'write_state', { input: fn.inputs[2], data: cat.output }, [], { name: 'second_write' });
    const parts = addOp(blk, 'split', { x: cat.output, axis: ax }, [
      ['lo', t('fp16', 2)],
      ['hi', t('fp16', 2)],
    ]);
    const rs = addOp(blk, 'read_state', { input: fn.inputs[2] }, [['now', t('fp16', 4)]]);
    blk.setOutputs([parts.outputs[1], one.output, rs.output]);
    const text = [
      'program(target = iOS18) {',
      'func @main(%a: fp16[2], %b: fp16[2], %s: state<fp16[4]>) -> (fp16[2], fp16[2], fp16[4]) {',
      '  %axis = const() {val = 0} : int32[]',
      '  %interleave = const() {val = false} : bool[]',
      '  %c = concat(values = (%a, %b), axis = %axis, interleave = %interleave) {name = "my_concat"} : fp16[4]',
      '  %c1 = concat(values = %a, axis = %axis, interleave = %interleave) : fp16[2]',
      '  write_state(input = %s, data = %c)',
      '  write_state(input = %s, data = %c) {name = "second_write"}',
      '  %lo, %hi = split(x = %c, axis = %axis) : fp16[2], fp16[2]',
      '  %now = read_state(input = %s) : fp16[4]',
      '} -> (%hi, %c1, %now)',
      '}',
      '',
    ].join('\n');
    expect(printProgram(p)).toBe(text);
    const q = roundTrip(p);
    const ops = q.main.ops;
    expect(ops[2].inputs.get('values')?.map((v) => v.name)).toEqual(['a', 'b']);
    expect(ops[2].name).toBe('my_concat');
    expect(ops[4].name).toBe('write_state');
    expect(ops[4].outputs).toHaveLength(0);
    expect(ops[5].name).toBe('second_write');
    expect(ops[6].outputs.map((o) => o.name)).toEqual(['lo', 'hi']);
    expect(q.main.outputs[0]).toBe(ops[6].outputs[1]);
  });

  it('prints nested blocks with their inputs and outputs', () => {
    expect(printProgram(nestedProgram())).toBe(
      [
        'program(target = iOS17) {',
        'func @main(%pred: bool[], %x: fp32[4]) -> (fp32[4]) {',
        '  %one = const() {val = 1} : fp32[]',
        '  %r = cond(pred = %pred) : fp32[4]',
        '    ^(%a: fp32[4]) {',
        '      %loop_out, %loop_i = while_loop(loop_vars = (%a, %pred)) : fp32[4], int32[]',
        '        ^(%i: int32[]) {',
        '          %inner_sum = add(x = %a, y = %one) : fp32[4]',
        '        } -> (%inner_sum, %i)',
        '    } -> (%loop_out)',
        '    ^(%c: fp32[4], %d: fp32[4]) {',
        '      %prod = mul(x = %c, y = %x) : fp32[4]',
        '    } -> (%prod)',
        '  side_effect(x = %r)',
        '    ^() {',
        '    } -> (%x)',
        '} -> (%r)',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('prints program settings, metadata, buildInfo, io descriptions and classifier names', () => {
    const text = printProgram(multiProgram());
    const lines = text.split('\n');
    expect(lines.slice(0, 3)).toEqual([
      'program(target = iOS18, default = @decode, multifunction = true) {',
      'metadata {shortDescription = "tiny \\"model\\"\\nsecond line", author = "Silica", versionString = "1.0", ' +
        'userDefined = {"com.github.apple.coremltools.source" = "torch==2.4", plain = "x"}}',
      'buildInfo {"coremltools-version" = "8.1", "coremltools-component-torch" = "2.4.0"}',
    ]);
    expect(lines).toContain('func @prefill(%ids: int32[1, seq]) -> (fp16[1, seq, 4]) {');
    expect(lines).toContain(
      '  io %ids {shortDescription = "token ids", shapeRange = [[1, 1], [1, -1]], defaultShape = [1, 1], enumeratedShapes = [[1, 1], [1, 64]]}',
    );
    expect(lines).toContain('  io %probs {shortDescription = "probabilities", isOptional = false, defaultValue = -0.5}');
    expect(lines).toContain('  io %img {image = {colorSpace = "RGB"}, defaultValue = nan}');
    expect(lines).toContain('  classifier {predictedFeatureName = "label", predictedProbabilitiesName = "probs"}');
  });
});

describe('round trips', () => {
  it('constexpr ops, including the two-output constexpr_lut_to_sparse', () => {
    const p = constexprProgram();
    const text = printProgram(p);
    expect(text).toContain(
      '  %mask, %nonzero_data = constexpr_lut_to_sparse(indices_mask = %sp_mask, indices_nonzero_data = %sp_idx, lut = %sp_lut) ' +
        '{name = "w_sparse"} : uint1[4, 4], fp16[8]',
    );
    expect(text).toContain('  %sp_mask = const() {val = [[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]]} : uint1[4, 4]');
    expect(text).toContain('  %ws = constexpr_sparse_to_dense(nonzero_data = %nonzero_data, mask = %mask) : fp16[4, 4]');
    const q = roundTrip(p, {}, { tensors: tensorsByHash(p) });
    const sparse = q.main.findOp('w_sparse') as Op;
    expect(sparse.outputs.map((o) => o.users.map((u) => u.type))).toEqual([['constexpr_sparse_to_dense'], ['constexpr_sparse_to_dense']]);
    roundTrip(p, { inlineAll: true });
  });

  it('states: read_state / slice_update / write_state', () => {
    const p = stateProgram();
    const text = printProgram(p);
    expect(text).toContain('func @main(%x: fp16[1, 2, 1, 4], %k_cache: state<fp16[1, 2, 8, 4]>) -> (fp16[1, 2, 8, 4]) {');
    expect(text).toContain('  write_state(input = %k_cache, data = %k_new) {name = "k_new_write_state"}');
    expect(text).toContain('  %k_all = read_state(input = %k_cache) {name = "k_new"} : fp16[1, 2, 8, 4]');
    const q = roundTrip(p);
    expect(q.main.inputs[1].type).toEqual(stateType(tensorType('fp16', [1, 2, 8, 4])));
    expect(q.main.inputs[1].users.map((o) => o.type)).toEqual(['read_state', 'write_state', 'write_state', 'read_state']);
  });

  it('nested blocks keep block inputs, outputs and references to outer values', () => {
    const q = roundTrip(nestedProgram());
    const cond = q.main.ops[1];
    expect(cond.blocks).toHaveLength(2);
    const [thenB, elseB] = cond.blocks;
    expect(thenB.inputs.map((v) => v.name)).toEqual(['a']);
    expect(elseB.inputs.map((v) => v.name)).toEqual(['c', 'd']);
    const loop = thenB.ops[0];
    const inner = loop.blocks[0];
    expect(inner.ops[0].input('x')).toBe(thenB.inputs[0]);
    expect(inner.ops[0].input('y')).toBe(q.main.ops[0].output);
    expect(inner.outputs[1]).toBe(inner.inputs[0]);
    expect(elseB.ops[0].input('y')).toBe(q.main.inputs[1]);
    expect(q.main.ops[2].blocks[0].outputs[0]).toBe(q.main.inputs[1]);
    expect(inner.function).toBe(q.main);
  });

  it('several functions with a default function, metadata, buildInfo and io descriptions', () => {
    const p = multiProgram();
    const q = roundTrip(p, {}, { tensors: tensorsByHash(p) });
    expect([...q.functions.keys()]).toEqual(['prefill', 'decode']);
    expect(q.defaultFunction).toBe('decode');
    expect(q.main.name).toBe('decode');
    expect(q.multifunction).toBe(true);
    expect(q.metadata.userDefined['com.github.apple.coremltools.source']).toBe('torch==2.4');
    expect(q.getFunction('decode').io.get('img')?.defaultValue).toBeNaN();
    expect(q.getFunction('decode').io.get('ids')?.shapeRange).toEqual([
      [1, 1],
      [1, -1],
    ]);
    expect(q.getFunction('prefill').predictedFeatureName).toBeUndefined();
    // the same weight in both functions is the same resolved tensor
    expect(q.getFunction('prefill').ops[0].constValue).toBe(p.getFunction('prefill').ops[0].constValue);
  });

  it('symbolic dims and tuple / list / dict types', () => {
    const p = new Program('iOS18');
    const fn = p.addFunction(
      new Function('main', [
        { name: 'x', type: t('fp32', 'batch', 'seq len', 768) },
        { name: 'tup', type: { kind: 'tuple', types: [t('int32', 2), t('bool')] } },
        { name: 'lst', type: { kind: 'list', elem: t('fp16', 4), length: 'n' } },
        { name: 'lst3', type: { kind: 'list', elem: t('fp16', 4), length: 3 } },
        { name: 'dct', type: { kind: 'dict', key: t('string'), value: t('fp32', 'k') } },
        { name: 'empty', type: { kind: 'tuple', types: [] } },
      ]),
    );
    const r = addOp(fn.block, 'relu', { x: fn.inputs[0] }, [['y', t('fp32', 'batch', 'seq len', 768)]]);
    fn.block.setOutputs([r.output]);
    const text = printProgram(p);
    expect(text).toContain(
      'func @main(%x: fp32[batch, "seq len", 768], %tup: tuple<int32[2], bool[]>, %lst: list<fp16[4], n>, ' +
        '%lst3: list<fp16[4], 3>, %dct: dict<string[], fp32[k]>, %empty: tuple<>) -> (fp32[batch, "seq len", 768]) {',
    );
    roundTrip(p);
  });

  it('names that are not identifiers, reserved words and odd op types / params / keys', () => {
    const p = new Program('iOS18');
    const fn = p.addFunction(
      new Function('my-func v2', [
        { name: 'model.input 0', type: t('fp16', 2) },
        { name: 'fp16', type: t('fp16', 2) },
        { name: '', type: t('fp16', 2) },
      ]),
    );
    p.defaultFunction = 'my-func v2';
    const c = konst(fn.block, 'const "q"\n', fp16([2], [1, 2]));
    // setInput keeps insertion order even for the integer-like parameter name "0"
    const op = addOp(fn.block, 'custom.op', {}, [['0', t('fp16', 2)]], { name: 'layer/0 ✓' });
    op.setInput('in-put', [fn.inputs[0], fn.inputs[1]]);
    op.setInput('y', fn.inputs[2]);
    op.setInput('0', c);
    op.attributes.set('odd key', tensorFromValues('int32', [2], [1, 2]));
    op.attributes.set('name', stringTensor([], ['attr named name']));
    fn.block.setOutputs([op.output]);
    fn.io.set('model.input 0', { shortDescription: 'x' });
    const text = printProgram(p);
    expect(text).toContain('program(target = iOS18, default = @"my-func v2") {');
    expect(text).toContain('func @"my-func v2"(%"model.input 0": fp16[2], %fp16: fp16[2], %"": fp16[2]) -> (fp16[2]) {');
    expect(text).toContain('  io %"model.input 0" {shortDescription = "x"}');
    expect(text).toContain('  %"const \\"q\\"\\n" = const() {val = [1, 2]} : fp16[2]');
    expect(text).toContain(
      '  %0 = "custom.op"("in-put" = (%"model.input 0", %fp16), y = %"", "0" = %"const \\"q\\"\\n") ' +
        '{name = "layer/0 ✓", "odd key" = int32[2] [1, 2], name = string[] "attr named name"} : fp16[2]',
    );
    const q = roundTrip(p);
    const qop = q.main.ops[1];
    expect([...qop.inputs.keys()]).toEqual(['in-put', 'y', '0']);
    expect(qop.attributes.get('name')?.strings()).toEqual(['attr named name']);
  });

  it('typed attributes on ordinary ops and consts whose type differs from their output', () => {
    const p = new Program('iOS16');
    const fn = p.addFunction(new Function('main', [{ name: 'x', type: t('fp32', 'n', 3) }]));
    // a const whose output type has a symbolic dim must spell its value's type
    const c = konst(fn.block, 'c', tensorFromValues('fp32', [2, 3], [1, 2, 3, 4, 5, 6]), t('fp32', 'n', 3));
    const big = ramp('int8', [4, 8]);
    const op = addOp(fn.block, 'constexpr_affine_dequantize', { x: fn.inputs[0], c }, [['y', t('fp32', 'n', 3)]], {
      attributes: { axis: scalar('int32', 0), quantized_data: big, empty: tensorFromValues('fp16', [0, 3], []) },
    });
    fn.block.setOutputs([op.output]);
    const text = printProgram(p);
    expect(text).toContain('  %c = const() {val = fp32[2, 3] [[1, 2, 3], [4, 5, 6]]} : fp32[n, 3]');
    expect(text).toContain(
      `{axis = int32[] 0, quantized_data = int8[4, 8] #sha256:${big.hash().hex}, empty = fp16[0, 3] []} : fp32[n, 3]`,
    );
    roundTrip(p, {}, { tensors: tensorsByHash(p) });
  });

  it('parses hand-written text with comments and free layout into the canonical form', () => {
    const text = `// a test program
      program(multifunction = false, target = macOS15) {   // alias of iOS18
        func @main(%x: fp16[2]) -> (fp16[2]) {
          %c = const() {val = [1.0, 2.50]} : fp16[2]
          %y = add(x = %x,
                   y = %c) {name = "y"}
            : fp16[2]
        } -> (%y)
      }`;
    expect(printProgram(parseProgram(text))).toBe(
      [
        'program(target = iOS18) {',
        'func @main(%x: fp16[2]) -> (fp16[2]) {',
        '  %c = const() {val = [1, 2.5]} : fp16[2]',
        '  %y = add(x = %x, y = %c) : fp16[2]',
        '} -> (%y)',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('bare funcs parse with the target from the options; parseFunction returns the one function', () => {
    const { p } = linearProgram();
    const fnText = printFunction(p.main, { inlineAll: true });
    const q = parseProgram(fnText, { target: 'iOS17' });
    expect(q.target).toBe('iOS17');
    expect(printFunction(q.main, { inlineAll: true })).toBe(fnText);
    const f = parseFunction(fnText);
    expect(f.name).toBe('main');
    expectWired(f);
    expect(() => parseFunction(`${fnText}${fnText.replace('@main', '@other')}`)).toThrow(/exactly one function.*found 2/);
  });
});

describe('inline values of every dtype', () => {
  /** One const per dtype, printed inline, parsed back bit-exactly. */
  function constsProgram(consts: ReadonlyArray<[string, Tensor]>): Program {
    const p = new Program('iOS18');
    const fn = p.addFunction(new Function('main'));
    fn.block.setOutputs(consts.map(([name, x]) => konst(fn.block, name, x)));
    return p;
  }

  const bytesOf = (x: Tensor): number[] => Array.from(x.bytes());

  it('prints exact literals for every dtype and reads them back bit for bit', () => {
    const fp8 = (dtype: DType, codes: number[]): DenseTensor => new DenseTensor(dtype, [codes.length], Uint8Array.from(codes));
    const bf16 = new DenseTensor('bf16', [5], new Uint8Array(Uint16Array.from([0x3f80, 0xbfc0, 0x7f80, 0x7fc0, 0x0001]).buffer));
    const consts: Array<[string, Tensor]> = [
      ['f16', fp16([9], [65504, 6e-8, -0, NaN, Infinity, -Infinity, 0.1, -65504, 6.103515625e-5])],
      ['f32', tensorFromValues('fp32', [6], [0.1, -0, 3.4028234663852886e38, 1.401298464324817e-45, NaN, -Infinity])],
      ['f64', tensorFromValues('fp64', [4], [0.1, Number.MIN_VALUE, -Number.MAX_VALUE, -0])],
      ['bf', bf16],
      ['e4m3', fp8('fp8e4m3fn', [0x00, 0x80, 0x01, 0x7e, 0xfe, 0x7f, 0x38])],
      ['e5m2', fp8('fp8e5m2', [0x7c, 0xfc, 0x7e, 0x7d, 0x3c, 0x01])],
      ['i4', tensorFromValues('int4', [16], Array.from({ length: 16 }, (_, i) => i - 8))],
      ['u1', tensorFromValues('uint1', [3], [1, 0, 1])],
      ['u2', tensorFromValues('uint2', [4], [0, 1, 2, 3])],
      ['u3', tensorFromValues('uint3', [8], [0, 1, 2, 3, 4, 5, 6, 7])],
      ['u4', tensorFromValues('uint4', [2], [0, 15])],
      ['u6', tensorFromValues('uint6', [3], [0, 33, 63])],
      ['i8', tensorFromValues('int8', [2], [-128, 127])],
      ['u8', tensorFromValues('uint8', [2], [0, 255])],
      ['i16', tensorFromValues('int16', [2], [-32768, 32767])],
      ['u16', tensorFromValues('uint16', [1], [65535])],
      ['i32', tensorFromValues('int32', [2], [-2147483648, 2147483647])],
      ['u32', tensorFromValues('uint32', [1], [4294967295])],
      ['i64', tensorFromValues('int64', [3], [-(2n ** 63n), 2n ** 63n - 1n, 9007199254740993n])],
      ['u64', tensorFromValues('uint64', [1], [2n ** 64n - 1n])],
      ['b', tensorFromValues('bool', [2, 2], [true, false, false, true])],
      ['s', stringTensor([4], ['say "hi"', 'line1\nline2\ttab \\ back', 'ünï ✓ 🙂', ''])],
      ['s0', scalar('string', 'EXACT')],
      ['lone', stringTensor([1], ['\ud800 lone'])],
    ];
    const p = constsProgram(consts);
    const lines = printProgram(p, { inlineAll: true }).split('\n');
    const valOf = (name: string): string => {
      const line = lines.find((l) => l.startsWith(`  %${name} = `));
      const m = line?.match(/\{val = (.*)\} : /);
      if (!m) throw new Error(`no line for ${name}`);
      return m[1];
    };
    expect(valOf('f16')).toBe('[65500, 6e-8, -0, nan, inf, -inf, 0.1, -65500, 0.00006104]');
    expect(valOf('f32')).toBe('[0.1, -0, 3.4028235e+38, 1e-45, nan, -inf]');
    expect(valOf('f64')).toBe('[0.1, 5e-324, -1.7976931348623157e+308, -0]');
    expect(valOf('bf')).toBe('[1, -1.5, inf, nan, 9e-41]');
    expect(valOf('e4m3')).toBe('[0, -0, 0.001953125, 448, -448, nan, 1]');
    expect(valOf('e5m2')).toBe('[inf, -inf, nan, nan(0x7d), 1, 0.0000152587890625]');
    expect(valOf('i4')).toBe('[-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7]');
    expect(valOf('u3')).toBe('[0, 1, 2, 3, 4, 5, 6, 7]');
    expect(valOf('u6')).toBe('[0, 33, 63]');
    expect(valOf('u32')).toBe('[4294967295]');
    expect(valOf('i64')).toBe('[-9223372036854775808, 9223372036854775807, 9007199254740993]');
    expect(valOf('u64')).toBe('[18446744073709551615]');
    expect(valOf('b')).toBe('[[true, false], [false, true]]');
    expect(valOf('s')).toBe('["say \\"hi\\"", "line1\\nline2\\ttab \\\\ back", "ünï ✓ 🙂", ""]');
    expect(valOf('s0')).toBe('"EXACT"');
    expect(valOf('lone')).toBe('["\\ud800 lone"]');

    const q = roundTrip(p, { inlineAll: true });
    consts.forEach(([name, x], i) => {
      const got = q.main.ops[i].constValue as Tensor;
      expect(got.dtype, name).toBe(x.dtype);
      if (x.dtype === 'string') expect(got.strings(), name).toEqual(x.strings());
      else expect(bytesOf(got), name).toEqual(bytesOf(x));
    });
  });

  it('every fp16 bit pattern survives print → parse, incl. NaN payloads and subnormals', () => {
    const all = new DenseTensor('fp16', [65536], new Uint8Array(Uint16Array.from({ length: 65536 }, (_, i) => i).buffer));
    const p = constsProgram([['all', all]]);
    const q = parseProgram(printProgram(p, { inlineAll: true }));
    expect(Buffer.from((q.main.ops[0].constValue as Tensor).bytes()).equals(Buffer.from(all.bytes()))).toBe(true);
    const text = printProgram(p, { inlineAll: true });
    expect(text).toContain(', nan, nan(0x7e01), '); // 0x7e00 canonical, 0x7e01 with payload
    expect(text).toContain('[0, 6e-8, 1e-7, 2e-7, 2.4e-7, ');
    expect(text).toContain(', 65500, inf, nan(0x7c01), ');
    expect(text).toContain(', -65500, -inf, nan(0xfc01), ');
  });

  it('every fp8 and bf16 code and random fp32 / fp64 bit patterns survive print → parse', () => {
    let seed = 12345;
    const rnd = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
    const f32 = Uint32Array.from({ length: 4096 }, rnd);
    f32.set([0x7fc00000, 0xffc00000, 0x7f800001, 0x00000001, 0x80000000, 0x7f7fffff], 0);
    const f64 = new BigUint64Array(2048);
    for (let i = 0; i < f64.length; i++) f64[i] = (BigInt(rnd()) << 32n) | BigInt(rnd());
    f64.set([0x7ff8000000000000n, 0xfff8000000000000n, 0x7ff0000000000001n, 1n, 0x8000000000000000n], 0);
    const consts: Array<[string, Tensor]> = [
      ['e4m3', new DenseTensor('fp8e4m3fn', [256], Uint8Array.from({ length: 256 }, (_, i) => i))],
      ['e5m2', new DenseTensor('fp8e5m2', [256], Uint8Array.from({ length: 256 }, (_, i) => i))],
      ['bf', new DenseTensor('bf16', [65536], new Uint8Array(Uint16Array.from({ length: 65536 }, (_, i) => i).buffer))],
      ['f32', new DenseTensor('fp32', [f32.length], new Uint8Array(f32.buffer))],
      ['f64', new DenseTensor('fp64', [f64.length], new Uint8Array(f64.buffer))],
    ];
    const text = printProgram(constsProgram(consts), { inlineAll: true });
    expect(text).toContain('{val = [nan, -nan, nan(0x7f800001), 1e-45, -0, 3.4028235e+38, ');
    expect(text).toContain('{val = [nan, -nan, nan(0x7ff0000000000001), 5e-324, -0, ');
    const q = parseProgram(text);
    consts.forEach(([name, x], i) => {
      expect(Buffer.from((q.main.ops[i].constValue as Tensor).bytes()).equals(Buffer.from(x.bytes())), name).toBe(true);
    });
  });

  it('accepts other spellings of the same values and rounds decimals to the dtype', () => {
    const text = [
      'func @main() -> (fp16[4], fp32[2], int64[], bool[], fp16[]) {',
      '  %a = const() {val = [65504.0, 5.960464477539063e-8, -0.0, -nan]} : fp16[4]',
      '  %b = const() {val = [0.1000000000001, 1E3]} : fp32[2]',
      '  %c = const() {val = -42} : int64[]',
      '  %d = const() {val = true} : bool[]',
      '  %e = const() {val = 0.33333} : fp16[]',
      '} -> (%a, %b, %c, %d, %e)',
    ].join('\n');
    const f = parseFunction(text);
    const val = (i: number): Tensor => f.ops[i].constValue as Tensor;
    expect(Array.from(val(0).values() as Uint16Array)).toEqual([0x7bff, 0x0001, 0x8000, 0xfe00]);
    expect(val(1).toNumbers()).toEqual([Math.fround(0.1), 1000]);
    expect(val(2).values()[0]).toBe(-42n);
    expect(val(3).toNumbers()).toEqual([1]);
    expect(printFunction(f)).toContain('%e = const() {val = 0.3333} : fp16[]');
  });
});

describe('tensors printed by hash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'silica-text-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function weightsProgram(): { p: Program; dense: DenseTensor; file: FileTensor; strings: DenseTensor } {
    const dense = ramp('fp16', [4, 16]);
    const bytes = ramp('int8', [32, 4], 100).bytes();
    const path = join(dir, 'weight.bin');
    const padded = new Uint8Array(64 + bytes.length);
    padded.set(bytes, 64);
    writeFileSync(path, padded);
    const file = new FileTensor('int8', [32, 4], path, 64, bytes.length);
    const strings = stringTensor([20], Array.from({ length: 20 }, (_, i) => `label ${i}`));
    const p = new Program('iOS18');
    const fn = p.addFunction(new Function('main'));
    fn.block.setOutputs([konst(fn.block, 'w', dense), konst(fn.block, 'q', file), konst(fn.block, 'labels', strings)]);
    return { p, dense, file, strings };
  }

  it('restores large consts (in-memory, file-backed and string) through the resolver', () => {
    const { p, dense, file, strings } = weightsProgram();
    const text = printProgram(p);
    expect(text).toContain(`%w = const() {val = #sha256:${dense.hash().hex}} : fp16[4, 16]`);
    expect(text).toContain(`%q = const() {val = #sha256:${file.hash().hex}} : int8[32, 4]`);
    expect(text).toContain(`%labels = const() {val = #sha256:${strings.hash().hex}} : string[20]`);
    const tensors = tensorsByHash(p);
    expect(tensors.size).toBe(3);
    const q = roundTrip(p, {}, { tensors });
    expect(q.main.ops.map((o) => o.constValue)).toEqual([dense, file, strings]);
    expect(q.main.ops[1].constValue).toBe(file);
    // keys may also be written `sha256:<hex>`, or the resolver may be a function
    const prefixed = new Map([...tensors].map(([k, v]) => [`sha256:${k}`, v]));
    expect(parseProgram(text, { tensors: prefixed }).main.ops[0].constValue).toBe(dense);
    const asked: string[] = [];
    const viaFn = parseProgram(text, {
      tensors: (h) => {
        asked.push(h.hex);
        return tensors.get(h.hex);
      },
    });
    expect(asked).toEqual([dense.hash().hex, file.hash().hex, strings.hash().hex]);
    expect(viaFn.main.ops[2].constValue).toBe(strings);
    // inlineAll reads the file-backed tensor and prints it inline
    expect(printProgram(p, { inlineAll: true })).not.toContain('#sha256:');
    roundTrip(p, { inlineAll: true });
  });

  it('without a resolver, hashes become UnresolvedTensors that re-print the same text and refuse to give bytes', () => {
    const { p, dense } = weightsProgram();
    const text = printProgram(p);
    const q = parseProgram(text);
    const w = q.main.ops[0].constValue as Tensor;
    expect(w).toBeInstanceOf(UnresolvedTensor);
    expect(w.dtype).toBe('fp16');
    expect(w.shape).toEqual([4, 16]);
    expect(w.byteLength).toBe(128);
    expect(w.hash().hex).toBe(dense.hash().hex);
    expect(() => w.bytes()).toThrow(/cannot read its bytes: the fp16\[4, 16\] tensor #sha256:[0-9a-f]{64} was parsed from text without its data.*tensors/);
    expect(() => w.toFloat32()).toThrow(/cannot read its bytes/);
    expect(() => w.reshape([64])).toThrow(/cannot reshape it/);
    expect(() => (q.main.ops[2].constValue as Tensor).strings()).toThrow(/cannot read its strings/);
    expect(printProgram(q)).toBe(text);
    // even inlineAll keeps the hash of a tensor it cannot read
    expect(printProgram(q, { inlineAll: true })).toBe(text);
    expect(programShapeOf(q)).toEqual(programShapeOf(p));
    expect(tensorsByHash(q).size).toBe(0);
  });

  it('rejects a resolved tensor of the wrong type, and unknown hashes when requireTensors is set', () => {
    const { p, dense } = weightsProgram();
    const text = printProgram(p);
    const wrong = new Map([[dense.hash().hex, ramp('fp16', [64])]]);
    const e = parseError(text, { tensors: wrong });
    expect(e.message).toBe(
      `3:23: the tensor resolved for #sha256:${dense.hash().hex} is fp16[64], but the text declares fp16[4, 16]`,
    );
    const e2 = parseError(text, { tensors: new Map([[dense.hash().hex, dense]]), requireTensors: true });
    expect(e2.message).toMatch(/^4:23: no tensor for #sha256:[0-9a-f]{64} \(int8\[32, 4\]\) in the tensors resolver$/);
  });
});

describe('parse errors', () => {
  const good = [
    'program(target = iOS18) {',
    'func @main(%x: fp16[2]) -> (fp16[2]) {',
    '  %c = const() {val = [1, 2]} : fp16[2]',
    '  %y = add(x = %x, y = %c) : fp16[2]',
    '} -> (%y)',
    '}',
  ];
  const edit = (line: number, from: string, to: string): string =>
    good.map((l, i) => (i === line - 1 ? l.replace(from, to) : l)).join('\n');

  it('the unedited text parses', () => {
    expect(printProgram(parseProgram(good.join('\n')))).toBe(`${good.join('\n')}\n`);
  });

  it('unknown dtype', () => {
    const e = parseError(edit(2, '%x: fp16', '%x: fq16'));
    expect(e.message).toMatch(/^2:16: unknown dtype 'fq16' \(expected one of bool, string, fp16, .*uint3.*state\/tuple\/list\/dict\)$/);
    expect([e.line, e.column]).toEqual([2, 16]);
    expect(parseError(edit(3, 'fp16[2]', 'f16[2]')).message).toMatch(/^3:33: unknown dtype 'f16'/);
    expect(parseError(edit(3, 'val = [1, 2]', 'val = fp15[2] [1, 2]')).message).toMatch(/^3:23: unknown dtype 'fp15'/);
  });

  it('undefined value reference', () => {
    expect(parseError(edit(4, 'y = %c', 'y = %q')).message).toBe('4:24: undefined value %q');
    expect(parseError(edit(5, '(%y)', '(%z)')).message).toBe('5:7: undefined value %z');
    // used before its definition
    const early = [...good];
    early.splice(2, 2, good[3], good[2]);
    expect(parseError(early.join('\n')).message).toBe('3:24: undefined value %c');
  });

  it('duplicate names', () => {
    expect(parseError(edit(4, '%y =', '%c =')).message).toBe('4:3: duplicate value name %c (already defined at 3:3)');
    expect(parseError(edit(3, '%c =', '%x =')).message).toBe('3:3: duplicate value name %x (already defined at 2:12)');
    expect(parseError(edit(4, 'x = %x, y = %c', 'x = %x, x = %c')).message).toBe("4:20: duplicate argument 'x' of add");
    const twoFuncs = `${good.slice(0, 5).join('\n')}\n${good.slice(1).join('\n')}`;
    expect(parseError(twoFuncs).message).toBe('6:6: duplicate function @main');
  });

  it("missing ')'", () => {
    expect(parseError(edit(4, '%c)', '%c')).message).toBe("4:27: expected ',' or ')' in the arguments of add, found ':'");
    expect(parseError(edit(2, 'fp16[2])', 'fp16[2]')).message).toBe("2:24: expected ',' or ')' in the function parameters, found '->'");
    expect(parseError(edit(5, '(%y)', '(%y')).message).toBe("6:1: expected ',' or ')' in the function outputs, found '}'");
  });

  it('other malformed input', () => {
    expect(parseError(edit(3, '[1, 2]', '[1, 2, 3]')).message).toBe('3:23: expected 2 elements along axis 0 of fp16[2], found 3');
    expect(parseError(edit(3, '[1, 2]', '[1, 1e6]')).message).toBe('3:27: 1e6 is out of range for fp16');
    expect(parseError(edit(3, '[1, 2]} : fp16[2]', '[1, 300]} : int8[2]')).message).toBe('3:27: 300 is out of range for int8 (-128..127)');
    expect(parseError(edit(3, '[1, 2]', '[1, true]')).message).toBe("3:27: expected a number, nan or inf for a fp16 element, found 'true'");
    expect(parseError(edit(3, '[1, 2]', '#sha256:abc')).message).toBe("3:23: expected a content hash '#sha256:<64 hex digits>'");
    expect(parseError(edit(3, '[1, 2]', '"oops')).message).toBe('3:23: unterminated string (a string must end on its line)');
    expect(parseError(edit(3, '[1, 2]', '"a\\q"')).message).toMatch(/^3:25: invalid escape \\q in a string/);
    expect(parseError(edit(1, 'iOS18', 'iOS99')).message).toBe(
      "1:18: unknown deployment target 'iOS99' (expected one of iOS15, iOS16, iOS17, iOS18, iOS26)",
    );
    expect(parseError(edit(1, '(target = iOS18)', '(target = iOS18, default = @dec)')).message).toBe(
      '1:35: default function @dec is not defined in the program',
    );
    expect(parseError(edit(2, '-> (fp16[2])', '-> (fp32[2])')).message).toBe(
      '5:7: function output %y has type fp16[2] but the signature declares fp32[2]',
    );
    expect(parseError(edit(4, ': fp16[2]', '')).message).toBe("5:1: expected ':' and the output types of add, found '}'");
    expect(parseError(edit(4, ': fp16[2]', ': fp16[2], fp16[2]')).message).toBe('4:28: add has 1 outputs but 2 output types');
    expect(parseError(edit(4, 'add(', 'add(x = %x) {foo = [1]} : fp16[2]\n  %z = add(')).message).toMatch(
      /^4:27: attribute 'foo' needs a type before its value/,
    );
    expect(parseError(`${good.join('\n')}\nextra`).message).toBe("7:1: expected end of input, found 'extra'");
    expect(parseError('').message).toBe("1:1: expected 'program' or 'func', found end of input");
  });

  it('values of a nested block are not visible outside it', () => {
    const text = [
      'func @main(%p: bool[]) -> (fp16[]) {',
      '  %r = cond(pred = %p) : fp16[]',
      '    ^() {',
      '      %inner = const() {val = 1} : fp16[]',
      '    } -> (%inner)',
      '  %s = add(x = %r, y = %inner) : fp16[]',
      '} -> (%s)',
    ].join('\n');
    expect(parseError(text).message).toBe('6:24: value %inner (defined at 4:7) is not visible here: it belongs to another block');
  });
});
