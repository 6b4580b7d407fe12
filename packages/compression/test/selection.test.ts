import { describe, expect, it } from 'vitest';
import { Op, type Program, fromFloat32, tensorFromValues, tensorType } from '@silica/ir';
import {
  CompressionConfigError,
  type ConfigSet,
  canonicalJson,
  channelAxes,
  configForOp,
  consumerAxes,
  followChain,
  inferBlockSizes,
  producerChain,
  resolveConfig,
  selectWeights,
} from '../src/index.js';
import { linearChain, program, randomFloats, randomWeight as weight } from '@silica/test-support';

interface Cfg {
  readonly bits: number;
  readonly weightThreshold: number;
}
const cfg = (bits: number, weightThreshold = 2048): Cfg => ({ bits, weightThreshold });

function select(p: Program, configs: ConfigSet<Cfg>, extra: { joint?: boolean; jointRoles?: { opType: string; param: string }[] } = {}) {
  return selectWeights(p, { pass: 'test', configs, threshold: (c) => c.weightThreshold, joint: extra.joint ?? false, jointRoles: extra.jointRoles });
}
const names = (r: ReturnType<typeof select>) => r.selected.map((s) => s.weight.name);
const reason = (r: ReturnType<typeof select>, name: string) => r.skipped.find((s) => s.weight === name)?.reason;

describe('candidate selection (mil-ops.md §7.1)', () => {
  it('compresses a weight with more than weightThreshold elements and skips one with exactly that many', () => {
    // 64×32 = 2048 elements (not > 2048) and 64×33 = 2112
    const p = linearChain('iOS18', [
      [64, 32],
      [33, 64],
    ]);
    const r = select(p, { global: cfg(8) });
    expect(names(r)).toEqual(['w1']);
    expect(reason(r, 'w0')).toBe('2048 elements, not more than weightThreshold 2048');
    expect(names(select(p, { global: cfg(8, 2047) }))).toEqual(['w0', 'w1']);
  });

  it('counts elements, not bytes: an fp32 weight of 2048 elements is still skipped', () => {
    const p = linearChain('iOS18', [[64, 32]], 'fp32');
    expect(names(select(p, { global: cfg(8) }))).toEqual([]);
  });

  it('skips rank-1 weights and weights of fewer than 10 elements whatever the threshold', () => {
    const p = program('iOS18', [1, 3], (b, x) => {
      const w9 = b.const(weight([3, 3], 1), { name: 'w9' });
      const h = b.linear({ x, weight: w9, bias: b.const(fromFloat32('fp16', [3], randomFloats(3)), { name: 'b3' }) });
      const v = b.const(fromFloat32('fp16', [4096], randomFloats(4096)), { name: 'vec' });
      const y = b.add({ x: b.linear({ x: h, weight: b.const(weight([4096, 3], 2), { name: 'w_big' }) }), y: v });
      return y;
    });
    const r = select(p, { global: cfg(8, 0) });
    expect(names(r)).toEqual(['w_big']);
    expect(reason(r, 'vec')).toBe('rank 1 < 2 (rank-0/1 weights are left alone, mil-ops.md §7.1)');
    // 9 elements and 3 elements are not weights at all (not reported)
    expect(reason(r, 'w9')).toBeUndefined();
    expect(r.skipped.map((s) => s.weight)).toEqual(['vec']);
  });

  it('compresses a 10-element rank-2 weight when the threshold allows', () => {
    const p = program('iOS18', [1, 5], (b, x) => b.linear({ x, weight: b.const(weight([2, 5], 3), { name: 'w10' }) }));
    expect(names(select(p, { global: cfg(8, 9) }))).toEqual(['w10']);
    expect(names(select(p, { global: cfg(8, 10) }))).toEqual([]);
  });

  it('only fp16, fp32, uint8 and int8 consts are weights', () => {
    const p = program('iOS18', [64, 64], (b, x) => {
      const i32 = b.const(tensorFromValues('int32', [64, 64], new Array(4096).fill(1)), { name: 'i32' });
      const u8 = b.const(tensorFromValues('uint8', [64, 64], new Array(4096).fill(3)), { name: 'u8' });
      const c = b.cast({ x: b.add({ x: b.cast({ x, dtype: 'int32' }), y: i32 }), dtype: 'fp16' });
      return b.add({ x: c, y: b.cast({ x: u8, dtype: 'fp16' }) });
    });
    const r = select(p, { global: cfg(8, 0) });
    expect(names(r)).toEqual(['u8']);
  });

  it('skips a const read only by block outputs, and an unused const', () => {
    const p = program('iOS18', [1, 64], (b, x) => {
      const w = b.const(weight([64, 64], 1), { name: 'out_only' });
      b.const(weight([64, 64], 2), { name: 'dead' });
      return [b.relu({ x }), w];
    });
    const r = select(p, { global: cfg(8, 0) });
    expect(names(r)).toEqual([]);
    expect(reason(r, 'out_only')).toBe('read only by block outputs (a constexpr op cannot feed a block output)');
    expect(reason(r, 'dead')).toBe('unused');
  });

  it('skips inputs of constexpr ops unless joint compression allows their role', () => {
    const p = program('iOS18', [1, 64], (b, x) => {
      const data = b.const(tensorFromValues('int8', [64, 64], Array.from({ length: 4096 }, (_, i) => (i % 200) - 100)), { name: 'q' });
      const scale = b.const(fromFloat32('fp16', [64, 1], new Float32Array(64).fill(0.01)), { name: 's' });
      const w = b.constexpr_blockwise_shift_scale({ data, scale }, { name: 'wq' });
      return b.linear({ x, weight: w }, { name: 'fc' });
    });
    const plain = select(p, { global: cfg(8, 0) });
    expect(names(plain)).toEqual([]);
    expect(reason(plain, 'q')).toBe('already an input of constexpr_blockwise_shift_scale "wq" (data); compress it again with joint: true');
    const joint = select(p, { global: cfg(8, 0) }, { joint: true, jointRoles: [{ opType: 'constexpr_blockwise_shift_scale', param: 'data' }] });
    expect(names(joint)).toEqual(['q']);
    const w = joint.selected[0].weight;
    expect(w.chain.map((o) => o.name)).toEqual(['wq']);
    expect(w.dense.name).toBe('wq');
    expect(w.consumers.map((o) => o.name)).toEqual(['fc']);
    expect(w.role?.param).toBe('data');
    // a role the pass did not declare
    const other = select(p, { global: cfg(8, 0) }, { joint: true, jointRoles: [{ opType: 'constexpr_lut_to_dense', param: 'lut' }] });
    expect(reason(other, 'q')).toBe('constexpr_blockwise_shift_scale "wq" reads it as "data", which test cannot compress further');
  });

  it('under joint compression counts the elements of the final dense weight', () => {
    // a 64-element LUT-like const behind a 64×64 dense weight
    const p = program('iOS18', [1, 64], (b, x) => {
      const data = b.const(tensorFromValues('int8', [8, 8], Array.from({ length: 64 }, (_, i) => i - 32)), { name: 'small' });
      const scale = b.const(fromFloat32('fp16', [1, 1], new Float32Array([0.5])), { name: 's' });
      const w = b.constexpr_blockwise_shift_scale({ data, scale }, { name: 'wq' });
      const big = b.reshape({ x: w, shape: [8, 8] });
      return b.linear({ x: b.reshape({ x, shape: [8, 8] }), weight: big });
    });
    const roles = [{ opType: 'constexpr_blockwise_shift_scale', param: 'data' }];
    expect(names(select(p, { global: cfg(8, 63) }, { joint: true, jointRoles: roles }))).toEqual(['small']);
    expect(names(select(p, { global: cfg(8, 64) }, { joint: true, jointRoles: roles }))).toEqual([]);
  });

  it('walks nested blocks and every function', () => {
    const p = linearChain('iOS18', [[64, 64]]);
    const q = linearChain('iOS18', [[64, 64]]);
    const f = q.main;
    q.functions.delete('main');
    f.name = 'second';
    p.addFunction(f);
    const r = select(p, { global: cfg(8, 0) });
    expect(r.selected.map((s) => `${s.weight.fn.name}/${s.weight.name}`)).toEqual(['main/w0', 'second/w0']);
    expect(r.selected[1].weight.label).toBe('weight "w0" (function "second")');
  });
});

describe('config resolution', () => {
  const p = () =>
    program('iOS18', [1, 64], (b, x) => {
      const w = b.const(weight([64, 64], 1), { name: 'shared' });
      const a = b.linear({ x, weight: w }, { name: 'lin' });
      const m = b.matmul({ x, y: w }, { name: 'mm' });
      const own = b.const(weight([64, 64], 2), { name: 'own' });
      return b.add({ x: b.add({ x: a, y: m }), y: b.linear({ x, weight: own }, { name: 'lin2' }) });
    });

  it('op name of the weight > op name of the consumer > op type > global', () => {
    const prog = p();
    const pick = (set: ConfigSet<Cfg>) => Object.fromEntries(select(prog, set).selected.map((s) => [s.weight.name, s.config.bits]));
    expect(pick({ global: cfg(8, 0) })).toEqual({ shared: 8, own: 8 });
    // "shared" is read by linear and matmul: both must resolve to the same config
    expect(pick({ global: cfg(8, 0), opType: { linear: cfg(4, 0), matmul: cfg(4, 0) } })).toEqual({ shared: 4, own: 4 });
    expect(pick({ global: cfg(8, 0), opName: { lin2: cfg(2, 0) } })).toEqual({ shared: 8, own: 2 });
    expect(pick({ global: cfg(8, 0), opType: { linear: cfg(4, 0), matmul: cfg(4, 0) }, opName: { lin2: cfg(2, 0) } })).toEqual({ shared: 4, own: 2 });
    expect(pick({ global: cfg(8, 0), opName: { own: cfg(3, 0), lin2: cfg(2, 0) } })).toEqual({ shared: 8, own: 3 });
    // the weight's own entry settles a consumer conflict
    expect(pick({ global: cfg(8, 0), opType: { linear: cfg(4, 0) }, opName: { shared: cfg(6, 0) } })).toEqual({ shared: 6, own: 4 });
    // null = leave alone
    expect(pick({ global: cfg(8, 0), opType: { linear: null }, opName: { shared: cfg(5, 0) } })).toEqual({ shared: 5 });
    expect(pick({ global: null, opType: { matmul: cfg(4, 0), linear: cfg(4, 0) } })).toEqual({ shared: 4, own: 4 });
  });

  it('consumers with different configs are an error naming the weight and the consumers', () => {
    const prog = p();
    expect(() => select(prog, { global: cfg(8, 0), opType: { matmul: cfg(4, 0) } })).toThrow(CompressionConfigError);
    expect(() => select(prog, { global: cfg(8, 0), opType: { matmul: cfg(4, 0) } })).toThrow(
      'test: weight "shared" (function "main") gets conflicting configs from its consumers: linear "lin" → {"bits":8,"weightThreshold":0}, but matmul "mm" → {"bits":4,"weightThreshold":0}; give the weight its own opName entry ("shared") to settle it',
    );
    // null against a config is a conflict too
    expect(() => select(prog, { global: cfg(8, 0), opType: { linear: null } })).toThrow('linear "lin" → null, but matmul "mm" → {"bits":8');
  });

  it('resolveConfig and configForOp on their own', () => {
    const op = new Op({ type: 'linear', name: 'l1', outputs: [{ name: 'y', type: tensorType('fp16', [1]) }] });
    expect(configForOp(op, { global: 1, opType: { linear: 2 } })).toBe(2);
    expect(configForOp(op, { global: 1, opType: { linear: 2 }, opName: { l1: 3 } })).toBe(3);
    expect(configForOp(op, { global: 1, opType: { conv: 2 } })).toBe(1);
    expect(resolveConfig({ names: ['w'], consumers: [], label: 'w' }, { global: 1 }, 't')).toBeNull();
    expect(resolveConfig({ names: ['w'], consumers: [], label: 'w' }, { global: 1, opName: { w: 7 } }, 't')).toBe(7);
    expect(canonicalJson({ b: 1, a: [1, { d: undefined, c: 'x' }] })).toBe('{"a":[1,{"c":"x"}],"b":1}');
  });
});

describe('channel axes and block sizes (mil-ops.md §7.2)', () => {
  it('follows the consumer table', () => {
    const p = program('iOS18', [4, 64], (b, x) => {
      const w = b.const(weight([64, 32], 1), { name: 'y' });
      const wt = b.const(weight([32, 64], 2), { name: 'yt' });
      const wx = b.const(weight([8, 4], 3), { name: 'xw' });
      const a = b.matmul({ x, y: w }, { name: 'm1' });
      const c = b.matmul({ x, y: wt, transpose_y: true }, { name: 'm2' });
      const d = b.matmul({ x: wx, y: b.add({ x: a, y: c }) }, { name: 'm3' });
      const e = b.matmul({ x: wx, y: b.add({ x: a, y: c }), transpose_x: false }, { name: 'm4' });
      return b.add({ x: d, y: e });
    });
    const r = selectWeights(p, { pass: 't', configs: { global: cfg(8, 0) }, threshold: () => 0, joint: false });
    const axes = Object.fromEntries(r.selected.map((s) => [s.weight.name, channelAxes(s.weight, 'iOS18')]));
    expect(axes.y).toEqual({ output: 1, input: 0 });
    expect(axes.yt).toEqual({ output: 0, input: 1 });
    expect(axes.xw).toEqual({ output: 0, input: 1 });
    const fake = (type: string): Op => new Op({ type, name: type, outputs: [{ name: `${type}_o`, type: tensorType('fp16', [1]) }] });
    const v = p.main.findValue('y')!;
    expect(consumerAxes(fake('conv_transpose'), v, 'iOS18')).toEqual([1, 0]);
    expect(consumerAxes(fake('conv'), v, 'iOS18')).toEqual([0, 1]);
  });

  it('consumers that disagree make the axes unknown', () => {
    const p = program('iOS18', [1, 64], (b, x) => {
      const w = b.const(weight([64, 64], 1), { name: 'w' });
      return b.add({ x: b.linear({ x, weight: w }), y: b.matmul({ x, y: w }) });
    });
    const r = selectWeights(p, { pass: 't', configs: { global: cfg(8, 0) }, threshold: () => 0, joint: false });
    const axes = channelAxes(r.selected[0].weight, 'iOS18');
    expect(axes).toEqual({ output: undefined, input: undefined });
    expect(inferBlockSizes('w', [64, 64], axes, { granularity: 'per_channel' })).toEqual({
      ok: false,
      reason: 'its consumers disagree on the channel axes, which per_channel needs (mil-ops.md §7.2)',
    });
    expect(inferBlockSizes('w', [64, 64], axes, { granularity: 'per_tensor' })).toEqual({ ok: true, blockSizes: [0, 0], channelAxis: undefined });
  });

  it('block sizes per granularity', () => {
    const axes = { output: 0, input: 1 };
    expect(inferBlockSizes('w', [64, 96], axes, { granularity: 'per_channel' })).toMatchObject({ blockSizes: [1, 0] });
    expect(inferBlockSizes('w', [64, 96], axes, { granularity: 'per_block' })).toMatchObject({ blockSizes: [1, 32] });
    expect(inferBlockSizes('w', [64, 96], axes, { granularity: 'per_block', blockSize: 16 })).toMatchObject({ blockSizes: [1, 16] });
    expect(inferBlockSizes('w', [64, 96], axes, { granularity: 'per_grouped_channel', groupSize: 16 })).toMatchObject({ blockSizes: [16, 0], channelAxis: 0 });
    expect(inferBlockSizes('w', [64, 96], axes, { granularity: 'per_grouped_channel', groupSize: 16, channelAxis: 1 })).toMatchObject({
      blockSizes: [0, 16],
      channelAxis: 1,
    });
    expect(inferBlockSizes('w', [64, 96], { output: 1, input: 0 }, { granularity: 'per_block', blockSize: 8 })).toMatchObject({ blockSizes: [8, 1] });
    expect(inferBlockSizes('w', [64, 96], axes, { granularity: 'per_block', blockSize: [0, 96] })).toMatchObject({ blockSizes: [0, 96], channelAxis: 0 });
    expect(inferBlockSizes('w', [64, 96], axes, { granularity: 'per_block', blockSize: [4, 0] })).toMatchObject({ blockSizes: [4, 0], channelAxis: 0 });
    expect(inferBlockSizes('w', [64, 96], axes, { granularity: 'per_block', blockSize: [0, 8] })).toMatchObject({ blockSizes: [0, 8], channelAxis: 1 });
  });

  it('a dimension not divisible by its block size is a skip reason; a wrong-length list is an error', () => {
    expect(inferBlockSizes('w', [64, 100], { output: 0, input: 1 }, { granularity: 'per_block', blockSize: 32 })).toEqual({
      ok: false,
      reason: 'dim 1 (100) is not divisible by its block size 32',
    });
    expect(() => inferBlockSizes('weight "w"', [64, 100], { output: 0, input: 1 }, { granularity: 'per_block', blockSize: [1, 2, 3] })).toThrow(
      'weight "w": blockSize [1, 2, 3] has 3 entries but the weight [64, 100] has 2 axes (one entry per axis, 0 = whole axis)',
    );
  });
});

describe('constexpr chains', () => {
  it('followChain walks forward to the dense value, producerChain walks back to the consts', () => {
    const p = program('iOS18', [1, 64], (b, x) => {
      const data = b.const(tensorFromValues('int8', [64, 64], Array.from({ length: 4096 }, (_, i) => (i % 7) - 3)), { name: 'q' });
      const scale = b.const(fromFloat32('fp16', [64, 1], new Float32Array(64).fill(0.25)), { name: 's' });
      const w = b.constexpr_blockwise_shift_scale({ data, scale }, { name: 'wq' });
      return b.linear({ x, weight: w });
    });
    const q = p.main.findValue('q')!;
    const { chain, dense } = followChain(q);
    expect(chain.map((o) => o.name)).toEqual(['wq']);
    expect(dense.name).toBe('wq');
    const back = producerChain(dense);
    expect(back.chain.map((o) => o.name)).toEqual(['wq']);
    expect(back.consts.map((o) => o.name).sort()).toEqual(['q', 's']);
    expect(producerChain(q).chain).toEqual([]);
  });
});
