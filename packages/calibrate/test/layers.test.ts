import { describe, expect, it } from 'vitest';
import { selectWeights } from '@silica/compression';
import { createSession } from '@silica/interpreter';
import { type Program, buildProgram, cloneProgram, tensorFromValues, tensorType } from '@silica/ir';
import { HessianAccumulator, type Layer, layerOf, scheduleRounds } from '../src/index.js';
import { normals, transformer, mlp } from './models.js';

function layersOf(program: Program): Layer[] {
  const sel = selectWeights(program, { pass: 't', configs: { global: {} }, joint: false, threshold: () => 0 });
  return sel.selected.flatMap(({ weight }) => {
    const r = layerOf(weight, program.target);
    return 'layer' in r ? [r.layer] : [];
  });
}

/**
 * The Hessian a layer builds must describe the real output error: for any change ΔW of the
 * canonical weight, Σ_samples ‖Y(W + ΔW) − Y(W)‖² = T/2 · tr(ΔW·H·ΔWᵀ) (T = tokens). This
 * checks the canonical layout, im2col and the matmul operand handling against the interpreter.
 */
async function checkObjective(program: Program, weightName: string, outputName: string, inputs: Array<Record<string, { shape: number[]; data: Float32Array }>>): Promise<void> {
  const layer = layersOf(program).find((l) => l.weight.name === weightName)!;
  expect(layer, weightName).toBeDefined();
  const session = createSession(program);
  const accs = Array.from({ length: layer.rowGroups }, () => new HessianAccumulator(layer.cols));
  let tokens = 0;
  const before: Float32Array[] = [];
  for (const s of inputs) {
    const out = session.predict(s, { extraOutputs: [layer.sites[0].activation.name, outputName] });
    for (const site of layer.sites) tokens += site.accumulate(out[site.activation.name], accs);
    before.push(out[outputName].data as Float32Array);
  }
  const dw = Float64Array.from(normals(layer.rows * layer.cols, 5, 0.01));
  const changed = cloneProgram(program);
  const op = changed.main.findOp(layer.weight.op.name)!;
  const t = op.constValue!;
  const w = layer.toCanonical(t.toFloat32());
  for (let k = 0; k < w.length; k++) w[k] += dw[k];
  op.attributes.set('val', tensorFromValues(t.dtype, t.shape, layer.fromCanonical(w, new Float32Array(w.length))));
  const s2 = createSession(changed);
  let err = 0;
  inputs.forEach((s, i) => {
    const y = s2.predict(s, { extraOutputs: [outputName] })[outputName].data;
    for (let k = 0; k < y.length; k++) err += (y[k] - before[i][k]) ** 2;
  });
  // tr(ΔW H ΔWᵀ) per row group
  const Rg = layer.rows / layer.rowGroups;
  let tr = 0;
  accs.forEach((a, g) => {
    const h = a.hessian();
    for (let r = g * Rg; r < (g + 1) * Rg; r++) {
      for (let i = 0; i < layer.cols; i++) for (let j = 0; j < layer.cols; j++) tr += dw[r * layer.cols + i] * h[i * layer.cols + j] * dw[r * layer.cols + j];
    }
  });
  expect(tokens).toBeGreaterThan(0);
  const tokensPerGroup = tokens / layer.sites.length;
  expect(Math.abs(err - (tokensPerGroup / 2) * tr) / err).toBeLessThan(1e-4);
}

const f32 = (shape: number[], seed: number): { shape: number[]; data: Float32Array } => ({ shape, data: normals(shape.reduce((a, b) => a * b, 1), seed) });

describe('layers: the Hessian matches the interpreter', () => {
  it('linear on a rank-3 activation', async () => {
    const p = buildProgram('iOS18', (b) =>
      b.function('main', { x: tensorType('fp32', [2, 5, 12]) }, (f, { x }) => f.linear({ x, weight: f.const(tensorFromValues('fp32', [7, 12], normals(84, 1)), { name: 'w' }) }, { name: 'y' })),
    );
    await checkObjective(p, 'w', 'y', [{ x: f32([2, 5, 12], 10) }, { x: f32([2, 5, 12], 11) }]);
  });

  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('matmul with the weight as y (transpose_x %s, transpose_y %s)', async (tx, ty) => {
    const K = 9;
    const N = 6;
    const M = 5;
    const p = buildProgram('iOS18', (b) =>
      b.function('main', { x: tensorType('fp32', tx ? [3, K, M] : [3, M, K]) }, (f, { x }) =>
        f.matmul({ x, y: f.const(tensorFromValues('fp32', ty ? [N, K] : [K, N], normals(K * N, 2)), { name: 'w' }), transpose_x: tx, transpose_y: ty }, { name: 'y' }),
      ),
    );
    const shape = tx ? [3, K, M] : [3, M, K];
    await checkObjective(p, 'w', 'y', [{ x: f32(shape, 20) }, { x: f32(shape, 21) }]);
  });

  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('matmul with the weight as x (transpose_x %s, transpose_y %s)', async (tx, ty) => {
    const K = 8;
    const M = 7;
    const N = 5;
    const p = buildProgram('iOS18', (b) =>
      b.function('main', { y: tensorType('fp32', ty ? [2, N, K] : [2, K, N]) }, (f, { y }) =>
        f.matmul({ x: f.const(tensorFromValues('fp32', tx ? [1, K, M] : [1, M, K], normals(K * M, 3)), { name: 'w' }), y, transpose_x: tx, transpose_y: ty }, { name: 'out' }),
      ),
    );
    const shape = ty ? [2, N, K] : [2, K, N];
    await checkObjective(p, 'w', 'out', [{ y: f32(shape, 30) }, { y: f32(shape, 31) }]);
  });

  it.each([
    ['valid, stride 1', { pad_type: 'valid' }, 1],
    ['same, stride 2, groups 2', { pad_type: 'same', strides: [2, 2] }, 2],
    ['custom pads, dilation 2', { pad_type: 'custom', pad: [1, 0, 2, 1], dilations: [2, 2] }, 1],
    ['same_lower, groups 4 (depthwise-like)', { pad_type: 'same_lower', strides: [1, 2] }, 4],
  ] as const)('conv 2-D: %s', async (_, params, groups) => {
    const Cin = 4;
    const Cout = 8;
    const p = buildProgram('iOS18', (b) =>
      b.function('main', { x: tensorType('fp32', [2, Cin, 7, 9]) }, (f, { x }) =>
        f.conv({ x, weight: f.const(tensorFromValues('fp32', [Cout, Cin / groups, 3, 3], normals((Cout * Cin * 9) / groups, 4)), { name: 'w' }), groups, ...params } as never, { name: 'y' }),
      ),
    );
    await checkObjective(p, 'w', 'y', [{ x: f32([2, Cin, 7, 9], 40) }, { x: f32([2, Cin, 7, 9], 41) }]);
  });

  it('conv 1-D', async () => {
    const p = buildProgram('iOS18', (b) =>
      b.function('main', { x: tensorType('fp32', [1, 3, 20]) }, (f, { x }) =>
        f.conv({ x, weight: f.const(tensorFromValues('fp32', [5, 3, 4], normals(60, 6)), { name: 'w' }), pad_type: 'same', strides: [3] }, { name: 'y' }),
      ),
    );
    await checkObjective(p, 'w', 'y', [{ x: f32([1, 3, 20], 50) }, { x: f32([1, 3, 20], 51) }]);
  });
});

describe('layerOf', () => {
  it('gives the canonical view of a conv weight: column k·(C_in/g) + c, one row group per conv group', () => {
    const p = buildProgram('iOS18', (b) =>
      b.function('main', { x: tensorType('fp32', [1, 4, 5, 5]) }, (f, { x }) =>
        f.conv({ x, weight: f.const(tensorFromValues('fp32', [6, 2, 2, 2], Array.from({ length: 48 }, (_, i) => i)), { name: 'w' }), groups: 2 }, { name: 'y' }),
      ),
    );
    const [layer] = layersOf(p);
    expect([layer.kind, layer.rows, layer.cols, layer.rowGroups, layer.outAxis, layer.inAxis]).toEqual(['conv', 6, 8, 2, 0, 1]);
    const m = layer.toCanonical(Array.from({ length: 48 }, (_, i) => i));
    // weight[0, c, kh, kw] = c·4 + kh·2 + kw; canonical column (kh·2 + kw)·2 + c
    expect(Array.from(m.slice(0, 8))).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
    expect(Array.from(layer.inputIndex)).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
    expect(layer.segments).toEqual([[0, 2], [2, 4], [4, 6], [6, 8]]);
    expect(Array.from(layer.fromCanonical(m, new Float64Array(48)))).toEqual(Array.from({ length: 48 }, (_, i) => i));
  });

  it('explains why a weight cannot be calibrated', () => {
    const p = buildProgram('iOS18', (b) =>
      b.function('main', { x: tensorType('fp32', [16, 16]) }, (f, { x }) => {
        const w = f.const(tensorFromValues('fp32', [16, 16], normals(256, 1)), { name: 'w' });
        const y = f.linear({ x, weight: w });
        return f.add({ x: y, y: w });
      }),
    );
    const sel = selectWeights(p, { pass: 't', configs: { global: {} }, joint: false, threshold: () => 0 });
    const r = layerOf(sel.selected[0].weight, p.target);
    expect(r).toEqual({ skip: expect.stringContaining('add "add" reads it (only linear, conv and matmul layers are calibrated)') });
  });
});

describe('scheduleRounds', () => {
  it('runs the layers of an MLP one after the other', () => {
    const p = mlp();
    expect(scheduleRounds(p.main, layersOf(p)).map((r) => r.map((l) => l.weight.name))).toEqual([['fc1_weight'], ['fc2_weight']]);
  });

  it('puts q, k and v of an attention block in one round', () => {
    const p = transformer({ layers: 2 });
    const rounds = scheduleRounds(p.main, layersOf(p)).map((r) => r.map((l) => l.weight.name));
    expect(rounds).toEqual([
      ['l0_q_weight', 'l0_k_weight', 'l0_v_weight'],
      ['l0_o_weight'],
      ['l0_fc1_weight'],
      ['l0_fc2_weight'],
      ['l1_q_weight', 'l1_k_weight', 'l1_v_weight'],
      ['l1_o_weight'],
      ['l1_fc1_weight'],
      ['l1_fc2_weight'],
    ]);
  });
});
