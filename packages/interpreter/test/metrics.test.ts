import { describe, expect, it } from 'vitest';
import { stateType, tensorFromValues } from '@silica/ir';
import { compareOutputs, compareTensors, evaluate } from '../src/index.js';
import { TestProgram, f16, f32 } from './helpers.js';

const t = (data: number[], shape = [data.length]) => ({ shape, data });

describe('compareTensors / compareOutputs', () => {
  it('computes every metric (hand-checked)', () => {
    // e = [0, 0, 0, −1]; Σr² = 30, Σt² = 39, Σrt = 34, Σe² = 1, N = 4, max|r| = 4
    const m = compareTensors(t([1, 2, 3, 4]), t([1, 2, 3, 5]));
    expect(m.count).toBe(4);
    expect(m.maxAbsError).toBe(1);
    expect(m.meanAbsError).toBe(0.25);
    expect(m.snr).toBeCloseTo(10 * Math.log10(30), 12);
    expect(m.psnr).toBeCloseTo(10 * Math.log10(16 / 0.25), 12);
    expect(m.cosine).toBeCloseTo(34 / Math.sqrt(30 * 39), 12);
    expect(m.relativeL2).toBeCloseTo(1 / Math.sqrt(30), 12);
    expect(m.kl).toBeUndefined();
  });

  it('identical outputs: infinite SNR, zero error, cosine 1; zeros are handled', () => {
    const m = compareTensors(t([1, -2]), t([1, -2]), { logits: true });
    expect(m).toEqual({ count: 2, maxAbsError: 0, meanAbsError: 0, snr: Infinity, psnr: Infinity, cosine: 1, relativeL2: 0, kl: 0 });
    const z = compareTensors(t([0, 0]), t([0, 0]));
    expect(z.cosine).toBe(1);
    expect(z.relativeL2).toBe(0);
    expect(compareTensors(t([0, 0]), t([1, 0])).relativeL2).toBe(Infinity);
  });

  it('KL divergence of the softmax of logits, averaged over rows', () => {
    // row 0: p = [1/2, 1/2], q = [1/4, 3/4] → KL = ½·ln 2 + ½·ln(2/3) = ½·ln(4/3); row 1 identical
    const m = compareTensors(t([0, 0, 5, 1], [2, 2]), t([0, Math.log(3), 5, 1], [2, 2]), { logits: true });
    expect(m.kl).toBeCloseTo(0.5 * Math.log(4 / 3) / 2, 12);
    // along axis 0 the rows are the columns: [0, 5] vs [0, 5] and [0, 1] vs [ln 3, 1]
    const a0 = compareTensors(t([0, 0, 5, 1], [2, 2]), t([0, Math.log(3), 5, 1], [2, 2]), { logits: true, logitsAxis: 0 });
    const p = [1 / (1 + Math.E), Math.E / (1 + Math.E)];
    const q = [3 / (3 + Math.E), Math.E / (3 + Math.E)];
    expect(a0.kl).toBeCloseTo((p[0] * Math.log(p[0] / q[0]) + p[1] * Math.log(p[1] / q[1])) / 2, 12);
  });

  it('decodes fp16 npy arrays and matches outputs by name', () => {
    const ref = { y: { dtype: 'f2' as const, shape: [2], data: new Uint16Array([0x3c00, 0x4000]) }, z: t([1]) };
    const got = compareOutputs(ref, { y: t([1, 2]), z: t([2]) }, { logits: ['z'] });
    expect(got.y.maxAbsError).toBe(0);
    expect(got.z.maxAbsError).toBe(1);
    expect(got.z.kl).toBe(0);
    expect(got.y.kl).toBeUndefined();
    expect(() => compareOutputs(ref, { y: t([1, 2]) })).toThrow('output "z" is missing from the test outputs (have: y)');
    expect(() => compareOutputs({ y: t([1, 2]) }, { y: t([1, 2], [1, 2]) })).toThrow('output "y": shapes differ: reference [2] vs test [1, 2]');
  });
});

describe('evaluate', () => {
  function linear(weightDtype: 'fp32' | 'fp16', outName = 'y') {
    const p = new TestProgram('iOS18', { x: f32([1, 3]) });
    const w = p.tensor(tensorFromValues(weightDtype, [2, 3], [0.1, 0.2, 0.3, -0.7, 0.11, 1]));
    const o = p.op('linear', { x: p.input('x'), weight: w }, f32([1, 2]));
    o.name = outName;
    return p.output(o).program;
  }

  it('reports the error fp16 weights introduce, and none for the same program', () => {
    const x = { x: { shape: [1, 3], data: [1, 2, 3] } };
    const same = evaluate(linear('fp32'), linear('fp32'), x);
    expect(same.samples).toBe(1);
    expect(same.metrics.y.maxAbsError).toBe(0);
    const r = evaluate(linear('fp32'), linear('fp16'), x);
    // fp16 rounding: 0.1 → 0.0999755859375, 0.2 → 0.199951171875, 0.3 → 0.300048828125; −0.7 → −0.7001953125, 0.11 → 0.1099853515625, 1 exact
    const y0 = Math.fround(0.1 + 0.4 + 0.9);
    const h0 = Math.fround(0.0999755859375 + 2 * 0.199951171875 + 3 * 0.300048828125);
    const y1 = Math.fround(-0.7 + 0.22 + 3);
    const h1 = Math.fround(-0.7001953125 + 2 * 0.1099853515625 + 3);
    expect(r.metrics.y.maxAbsError).toBeCloseTo(Math.max(Math.abs(y0 - h0), Math.abs(y1 - h1)), 7);
    expect(r.metrics.y.relativeL2).toBeGreaterThan(0);
    expect(r.metrics.y.relativeL2).toBeLessThan(1e-3);
  });

  it('pairs outputs by position when their names differ', () => {
    const r = evaluate(linear('fp32', 'a'), linear('fp32', 'b'), { x: { shape: [1, 3], data: [1, 1, 1] } });
    expect(Object.keys(r.metrics)).toEqual(['a']);
    expect(r.metrics.a.maxAbsError).toBe(0);
  });

  it('runs a sequence of samples with states persisting (decode-loop style)', () => {
    // A: running sum in an fp16 state; B: the same in fp32 — they drift apart over steps
    const build = (dtype: 'fp16' | 'fp32') => {
      const ty = dtype === 'fp16' ? f16([1]) : f32([1]);
      const p = new TestProgram('iOS18', { x: f32([1]), s: stateType(ty) });
      const cur = p.op('read_state', { input: p.input('s') }, ty);
      const xc = p.op('cast', { x: p.input('x'), dtype: p.str(dtype) }, ty);
      const next = p.op('add', { x: cur, y: xc }, ty);
      p.ops('write_state', { input: p.input('s'), data: next }, []);
      const out = p.op('cast', { x: next, dtype: p.str('fp32') }, f32([1]));
      out.name = 'sum';
      return p.output(out).program;
    };
    const steps = [0.1, 0.1, 0.1].map((v) => ({ x: { shape: [1], data: [v] } }));
    const r = evaluate(build('fp32'), build('fp16'), steps);
    expect(r.samples).toBe(3);
    expect(r.metrics.sum.count).toBe(3);
    // fp16: 0.0999755859375 → 0.199951171875 → 0.2999267578125 → 0.2998046875 (rounded each step)
    expect(r.metrics.sum.maxAbsError).toBeCloseTo(Math.abs(Math.fround(Math.fround(Math.fround(0.1) + Math.fround(0.1)) + Math.fround(0.1)) - 0.2998046875), 7);
  });
});
