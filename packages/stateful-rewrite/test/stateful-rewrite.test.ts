import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeModel } from '@silica/coreml-format';
import {
  Program,
  Rewriter,
  type Value,
  buildProgram,
  cloneProgram,
  createPassContext,
  parseProgram,
  pipeline,
  printProgram,
  silentLogger,
  tensorType,
  verifyProgram,
} from '@silica/ir';
import { createSession } from '@silica/interpreter';
import { writeMLPackage } from '@silica/mlpackage-writer';
import statefulRewrite, { ANE_STATE_MULTIPLE, STATE_TARGET, detectStatePairs } from '../src/index.js';
import { namesPair } from '../src/analysis.js';
import { buildDecoder, cachePairs, decoderInputs } from './decoder.js';
import { compareDecode, countOps, noise, opTypes, runPass } from './helpers.js';

const f16 = (...shape: number[]) => tensorType('fp16', shape);

/** Core ML's accumulator example: acc_out = acc_in + x; y = acc_out². */
function accumulator(options: { target?: 'iOS17' | 'iOS18'; dtype?: 'fp16' | 'fp32'; size?: number } = {}): Program {
  const dt = options.dtype ?? 'fp16';
  const n = options.size ?? 32;
  return buildProgram(options.target ?? 'iOS18', (p) => {
    p.function('main', { x: tensorType(dt, [1, n]), acc_in: tensorType(dt, [1, n]) }, (b, { x, acc_in }) => {
      const acc = b.add({ x: acc_in, y: x }, { name: 'acc_out' });
      return [b.mul({ x: acc, y: acc }, { name: 'y' }), acc];
    });
  });
}

const KV = `
program(target = iOS18) {
func @main(%x: fp16[1, 2, 1, 4], %k_cache: fp16[1, 2, 8, 4]) -> (fp16[1, 2, 8, 4], fp16[1, 2, 8, 4]) {
  %begin = const() {val = [0, 0, 3, 0]} : int32[4]
  %end = const() {val = [1, 2, 4, 4]} : int32[4]
  %k_cache_out = slice_update(x = %k_cache, update = %x, begin = %begin, end = %end) : fp16[1, 2, 8, 4]
  %late = relu(x = %k_cache) : fp16[1, 2, 8, 4]
} -> (%late, %k_cache_out)
}`;

describe('statefulRewrite: options', () => {
  it('is named stateful-rewrite and establishes stateful-kv-cache', () => {
    const pass = statefulRewrite();
    expect(pass.name).toBe('stateful-rewrite');
    expect(pass.establishes).toEqual(['stateful-kv-cache']);
    // no minimumTarget: an older program is raised (allowTargetRaise) or refused by the pass itself
    expect(pass.minimumTarget).toBeUndefined();
  });

  it('rejects bad options when the pass is built', () => {
    expect(() => statefulRewrite({ padTo: 0 })).toThrow('stateful-rewrite: padTo must be a positive integer (e.g. 32), got 0');
    expect(() => statefulRewrite({ padTo: 2.5 })).toThrow('padTo must be a positive integer');
    expect(() => statefulRewrite({ convertDtype: 'yes' as unknown as boolean })).toThrow('stateful-rewrite: convertDtype must be a boolean, got "yes"');
    expect(() => statefulRewrite({ padding: 32 } as never)).toThrow('stateful-rewrite: unknown option "padding" (options: states, allowTargetRaise, convertDtype, padTo)');
    expect(() => statefulRewrite({ states: [{ input: '', output: 'a' }] })).toThrow('stateful-rewrite: states[0].input must be a non-empty input name, got ""');
    expect(() => statefulRewrite({ states: [{ input: 'a', output: 'b', sequenceAxis: -1 }] })).toThrow('states[0].sequenceAxis must be a non-negative integer, got -1');
    expect(() => statefulRewrite({ states: [{ input: 'a', output: 'b', name: 'c' } as never] })).toThrow('states[0] has the unknown key "name"');
    expect(() =>
      statefulRewrite({
        states: [
          { input: 'a', output: 'b' },
          { input: 'a', output: 'c' },
        ],
      }),
    ).toThrow('stateful-rewrite: states[1]: the input "a" is named by two states');
    expect(() => statefulRewrite({ states: {} as never })).toThrow('states must be an array of { input, output }');
  });
});

describe('statefulRewrite: named states', () => {
  it('converts the named pair and leaves the rest of the signature alone', async () => {
    const p = buildDecoder({ layers: 2, dModel: 16, heads: 2, cacheLen: 32 });
    const r = await runPass(statefulRewrite({ states: [{ input: 'k_cache_1', output: 'k_cache_1_out' }] }), p);
    verifyProgram(p);
    expect(r.stats).toEqual({ states: 1, functions: 1, converted: 0, padded: 0, skipped: 0 });
    const fn = p.main;
    expect(fn.inputs.map((v) => `${v.name}:${v.type.kind}`)).toEqual([
      'x:tensor', 'pos:tensor', 'mask:tensor', 'k_cache_0:tensor', 'v_cache_0:tensor', 'k_cache_1:state', 'v_cache_1:tensor',
    ]);
    expect(fn.outputs.map((v) => v.name)).toEqual(['y', 'k_cache_0_out', 'v_cache_0_out', 'v_cache_1_out']);
  });

  it('fails clearly when a name is unknown or the pair is inconsistent', async () => {
    const p = accumulator();
    await expect(runPass(statefulRewrite({ states: [{ input: 'acc', output: 'acc_out' }] }), p)).rejects.toThrow(
      'stateful-rewrite: function "main", state acc → acc_out: the function returns "acc_out" but has no input "acc" (inputs: x, acc_in)',
    );
    await expect(runPass(statefulRewrite({ states: [{ input: 'acc_in', output: 'acc' }] }), p)).rejects.toThrow(
      'the function has the input "acc_in" but returns no "acc" (outputs: y, acc_out)',
    );
    await expect(runPass(statefulRewrite({ states: [{ input: 'nope', output: 'none' }] }), p)).rejects.toThrow(
      'stateful-rewrite: no function has the input "nope" and the output "none"; functions: "main" (inputs: x, acc_in; outputs: y, acc_out)',
    );
    // nothing was changed by the failed runs
    expect(printProgram(p)).toBe(printProgram(accumulator()));
  });

  it('refuses an output that is not computed from the input', async () => {
    const p = accumulator();
    await expect(runPass(statefulRewrite({ states: [{ input: 'acc_in', output: 'y' }] }), p)).resolves.toMatchObject({ changed: true });
    const q = buildProgram('iOS18', (b) => {
      b.function('main', { x: f16(1, 8), h: f16(1, 8) }, (fb, { x, h }) => [fb.add({ x: h, y: x }, { name: 'z' }), fb.relu({ x }, { name: 'h_out' })]);
    });
    await expect(runPass(statefulRewrite({ states: [{ input: 'h', output: 'h_out' }] }), q)).rejects.toThrow(
      'stateful-rewrite: function "main", state h → h_out: "h_out" is not computed from "h", so it is not the input\'s updated contents',
    );
  });

  it('refuses a shape mismatch', async () => {
    const p = buildProgram('iOS18', (b) => {
      b.function('main', { x: f16(1, 1, 4), k: f16(1, 6, 4) }, (fb, { x, k }) => {
        const grown = fb.concat({ values: [k, x], axis: 1 }, { name: 'k_out' });
        return [fb.relu({ x }, { name: 'y' }), grown];
      });
    });
    await expect(runPass(statefulRewrite({ states: [{ input: 'k', output: 'k_out' }] }), p)).rejects.toThrow(
      "function \"main\", state k → k_out: the output is fp16[1, 7, 4] but the input is fp16[1, 6, 4]; a state's new contents must have the type of its old contents",
    );
  });

  it('refuses a cache that is also read after the update, naming the reader', async () => {
    const p = parseProgram(KV);
    await expect(runPass(statefulRewrite({ states: [{ input: 'k_cache', output: 'k_cache_out' }] }), p)).rejects.toThrow(
      'stateful-rewrite: function "main", state k_cache → k_cache_out: input "k_cache" is also read by relu "late" after slice_update "k_cache_out" computed the new contents; Core ML updates states in place (mil-ops.md §2.3), so that reader would see the updated cache',
    );
    const returned = parseProgram(`
func @main(%x: fp16[1, 2, 1, 4], %k_cache: fp16[1, 2, 8, 4]) -> (fp16[1, 2, 8, 4], fp16[1, 2, 8, 4]) {
  %begin = const() {val = [0, 0, 3, 0]} : int32[4]
  %end = const() {val = [1, 2, 4, 4]} : int32[4]
  %k_cache_out = slice_update(x = %k_cache, update = %x, begin = %begin, end = %end) : fp16[1, 2, 8, 4]
} -> (%k_cache_out, %k_cache)`);
    await expect(runPass(statefulRewrite({ states: [{ input: 'k_cache', output: 'k_cache_out' }] }), returned)).rejects.toThrow(
      'input "k_cache" is also returned as output 1, so its old contents would be needed after the update',
    );
  });

  it('refuses to leave a function without outputs', async () => {
    const p = buildProgram('iOS18', (b) => {
      b.function('main', { x: f16(1, 32), acc_in: f16(1, 32) }, (fb, { x, acc_in }) => fb.add({ x: acc_in, y: x }, { name: 'acc_out' }));
    });
    await expect(runPass(statefulRewrite({ states: [{ input: 'acc_in', output: 'acc_out' }] }), p)).rejects.toThrow(
      'stateful-rewrite: function "main" would have no outputs left: every output (acc_out) is a state\'s new contents, and Core ML needs at least one output (mlpackage-format.md §4.6)',
    );
    const detected = await runPass(statefulRewrite(), p);
    expect(detected.changed).toBe(false);
    expect(detected.warnings).toEqual([expect.stringContaining('function "main" would have no outputs left')]);
  });

  it('refuses a second run on the same pair: the input is already a state', async () => {
    const p = accumulator();
    const pass = statefulRewrite({ states: [{ input: 'acc_in', output: 'acc_out' }] });
    await runPass(pass, p);
    await expect(runPass(statefulRewrite({ states: [{ input: 'acc_in', output: 'y' }] }), p)).rejects.toThrow('"acc_in" is already a state');
    // detection is idempotent: nothing left to convert
    const again = await runPass(statefulRewrite(), p);
    expect(again.changed).toBe(false);
  });

  it('rejects a sequenceAxis outside the cache', async () => {
    await expect(runPass(statefulRewrite({ states: [{ input: 'acc_in', output: 'acc_out', sequenceAxis: 2 }] }), accumulator())).rejects.toThrow(
      'sequenceAxis 2 is out of range for fp16[1, 32]',
    );
  });
});

describe('statefulRewrite: dtype and target', () => {
  it('refuses an fp32 cache without convertDtype, naming the option', async () => {
    const p = accumulator({ dtype: 'fp32' });
    await expect(runPass(statefulRewrite({ states: [{ input: 'acc_in', output: 'acc_out' }] }), p)).rejects.toThrow(
      'stateful-rewrite: function "main", state acc_in → acc_out: the cache is fp32, but Core ML states are fp16 (mil-ops.md §2); pass convertDtype: true to cast it at the boundary (fp32 → fp16 state → fp32), or convert the model to fp16',
    );
    const detected = await runPass(statefulRewrite(), p);
    expect(detected).toMatchObject({ changed: false, stats: { skipped: 1 } });
    expect(detected.warnings![0]).toContain('pass convertDtype: true');
  });

  it('converts an fp32 cache to an fp16 state with casts at the boundary; outputs match to fp16 rounding', async () => {
    const explicit = accumulator({ dtype: 'fp32' });
    const p = cloneProgram(explicit);
    const r = await runPass(statefulRewrite({ convertDtype: true }), p);
    verifyProgram(p);
    expect(r.stats).toMatchObject({ states: 1, converted: 1 });
    expect(p.main.inputs[1].type).toEqual({ kind: 'state', wrapped: { kind: 'tensor', dtype: 'fp16', shape: [1, 32] } });
    expect(opTypes(p.main).filter((t) => t !== 'const')).toEqual(['read_state', 'cast', 'add', 'cast', 'write_state', 'read_state', 'cast', 'mul']);
    const c = compareDecode(explicit, p, [{ input: 'acc_in', output: 'acc_out' }], (s) => ({ x: { shape: [1, 32], data: noise(32, s) } }), 10);
    expect(c.maxRelativeL2).toBeLessThan(2e-3);
    expect(c.maxRelativeL2).toBeGreaterThan(0); // the fp16 state does round
    // the writer accepts the converted states (fp16, §5.4)
    const dir = mkdtempSync(join(tmpdir(), 'silica-stateful-'));
    try {
      await writeMLPackage(p, join(dir, 'acc.mlpackage'));
      const d = decodeModel(readFileSync(join(dir, 'acc.mlpackage', 'Data', 'com.apple.CoreML', 'model.mlmodel'))).description!;
      expect(d.state.map((s) => s.name)).toEqual(['acc_in']);
      expect(d.input.map((s) => s.name)).toEqual(['x']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an int cache even with convertDtype', async () => {
    const p = buildProgram('iOS18', (b) => {
      b.function('main', { x: f16(1, 4), step: tensorType('int32', [1]) }, (fb, { x, step }) => [fb.relu({ x }, { name: 'y' }), fb.add({ x: step, y: fb.const([1], { dtype: 'int32' }) }, { name: 'step_out' })]);
    });
    await expect(runPass(statefulRewrite({ convertDtype: true, states: [{ input: 'step', output: 'step_out' }] }), p)).rejects.toThrow(
      'the cache is int32, but Core ML states are fp16 (mil-ops.md §2) and convertDtype only converts fp32 caches',
    );
  });

  it(`refuses an iOS17 program with a message naming ${STATE_TARGET}, and raises it when allowed`, async () => {
    const p = accumulator({ target: 'iOS17' });
    await expect(runPass(statefulRewrite(), p)).rejects.toThrow(
      'stateful-rewrite: Core ML states need deployment target iOS18 or newer (mlpackage-format.md §12), but the program targets iOS17; pass allowTargetRaise: true to raise it to iOS18',
    );
    expect(p.target).toBe('iOS17');
    await expect(pipeline([statefulRewrite()]).run(p, { logger: silentLogger })).rejects.toThrow(/pass "stateful-rewrite" \(1 of 1; no pass had run yet\) failed: .*iOS18/);
    const { report } = await pipeline([statefulRewrite({ allowTargetRaise: true })]).runWithReport(p, { logger: silentLogger, verify: true });
    expect(p.target).toBe('iOS18');
    expect(report[0].stats.targetRaised).toBe('iOS17 → iOS18');
    expect(report[0].warnings).toContain('raised the deployment target from iOS17 to iOS18: Core ML states need iOS18 (mlpackage-format.md §12)');
  });

  it('does not raise the target when there is nothing to convert', async () => {
    const p = buildProgram('iOS17', (b) => b.function('main', { x: f16(1, 4) }, (fb, { x }) => fb.relu({ x })));
    const r = await runPass(statefulRewrite({ allowTargetRaise: true }), p);
    expect(r.changed).toBe(false);
    expect(p.target).toBe('iOS17');
  });
});

describe('statefulRewrite: detection', () => {
  it('pairs names the way states are named', () => {
    expect(namesPair('acc_in', 'acc_out')).toBe(true);
    expect(namesPair('acc', 'acc_next')).toBe(true);
    expect(namesPair('past_key', 'present_key')).toBe(true);
    expect(namesPair('k_cache', 'k_cache_out')).toBe(true);
    expect(namesPair('x', 'y')).toBe(false);
    expect(namesPair('x', 'xy')).toBe(false);
    expect(namesPair('in', 'out')).toBe(false);
  });

  it('does not take a residual stream (y = x + f(x)) for an accumulator', () => {
    const p = buildProgram('iOS18', (b) => {
      b.function('main', { x: f16(1, 8) }, (fb, { x }) => fb.add({ x, y: fb.sigmoid({ x }) }, { name: 'x_out' }));
    });
    const { pairs, rejected } = detectStatePairs(p);
    expect(pairs).toEqual([]);
    expect(rejected).toEqual([
      expect.objectContaining({ input: 'x', output: 'x_out', level: 'info', reason: expect.stringContaining('also read by sigmoid') }),
    ]);
  });

  it('does not take y = x + b for an accumulator when the names do not pair', () => {
    const p = buildProgram('iOS18', (b) => {
      b.function('main', { x: f16(1, 8), z: f16(1, 8) }, (fb, { x, z }) => [fb.add({ x, y: 1 }, { name: 'y' }), fb.relu({ x: z }, { name: 'w' })]);
    });
    const { pairs, rejected } = detectStatePairs(p);
    expect(pairs).toEqual([]);
    expect(rejected[0].reason).toContain('the names do not pair up');
  });

  it('explains why a cache read after the update is left alone', () => {
    const { pairs, rejected } = detectStatePairs(parseProgram(KV));
    expect(pairs).toEqual([]);
    expect(rejected).toEqual([expect.objectContaining({ input: 'k_cache', output: 'k_cache_out', reason: expect.stringContaining('also read by relu "late"') })]);
  });

  it('finds the caches of every layer and every function', async () => {
    const a = buildDecoder({ layers: 3, dModel: 16, heads: 2, cacheLen: 32 }).main;
    const b = buildDecoder({ layers: 1, dModel: 16, heads: 2, cacheLen: 32 }).main;
    a.name = 'decode_a';
    b.name = 'decode_b';
    const merged = new Program('iOS18');
    merged.addFunction(a);
    merged.addFunction(b);
    merged.multifunction = true;
    merged.defaultFunction = 'decode_a';
    verifyProgram(merged);
    expect(detectStatePairs(merged).pairs.map((p) => `${p.function}:${p.input}`)).toEqual([
      ...cachePairs(3).map((p) => `decode_a:${p.input}`),
      ...cachePairs(1).map((p) => `decode_b:${p.input}`),
    ]);
    // a named pair applies to every function that has it
    const named = cloneProgram(merged);
    const rn = await runPass(statefulRewrite({ states: [{ input: 'v_cache_0', output: 'v_cache_0_out' }] }), named);
    verifyProgram(named);
    expect(rn.stats).toMatchObject({ states: 2, functions: 2 });
    const r = await runPass(statefulRewrite(), merged);
    verifyProgram(merged);
    expect(r.stats).toMatchObject({ states: 8, functions: 2 });
    expect(countOps(merged.functions.get('decode_a')!, 'write_state')).toBe(6);
    expect(countOps(merged.functions.get('decode_b')!, 'write_state')).toBe(2);
  });
});

describe('statefulRewrite: semantics', () => {
  it('the accumulator keeps the running sum in its state (Core ML register-buffer example)', async () => {
    const explicit = accumulator();
    const p = cloneProgram(explicit);
    await pipeline([statefulRewrite()]).run(p, { logger: silentLogger, verify: true });
    expect(p.main.outputs.map((v) => v.name)).toEqual(['y']);
    const session = createSession(p);
    const xs = [1, 2, 3, 4, 5, 6, 7, 8].map((k) => new Float32Array(32).fill(k * 0.25));
    let sum = 0;
    for (const x of xs) {
      sum += x[0];
      const out = session.predict({ x: { shape: [1, 32], data: x } });
      expect(out.y.data[5]).toBeCloseTo(sum * sum, 2);
    }
    expect(session.states.acc_in.data[0]).toBe(sum);
    session.resetStates();
    expect(session.predict({ x: { shape: [1, 32], data: xs[0] } }).y.data[0]).toBe(0.0625);
    const c = compareDecode(explicit, p, [{ input: 'acc_in', output: 'acc_out' }], (s) => ({ x: { shape: [1, 32], data: noise(32, s) } }), 12);
    expect(c.maxAbsError).toBe(0);
    expect(c.stateMaxAbsError).toBe(0);
  });

  it('a decoder with 20-long caches warns about the Neural Engine, and padTo: 32 pads them with identical outputs over 16 steps', async () => {
    const shape = { layers: 2, dModel: 32, heads: 2, cacheLen: 20 };
    const explicit = buildDecoder(shape);
    const plain = cloneProgram(explicit);
    const r0 = await runPass(statefulRewrite(), plain);
    expect(r0.warnings).toHaveLength(4);
    expect(r0.warnings![0]).toBe(
      `function "main", state k_cache_0 → k_cache_0_out: the state's sequence dim (axis 2) is 20, not a multiple of ${ANE_STATE_MULTIPLE}; the Neural Engine wants state dims that are multiples of 32 — pass padTo: 32 to pad it (outputs are unchanged)`,
    );
    const padded = cloneProgram(explicit);
    const { report } = await pipeline([statefulRewrite({ padTo: 32 })]).runWithReport(padded, { logger: silentLogger, verify: true });
    expect(report[0].warnings).toEqual([]);
    expect(report[0].stats).toMatchObject({ states: 4, padded: 4 });
    for (const v of padded.main.inputs.filter((i) => i.type.kind === 'state')) {
      expect(v.type).toEqual({ kind: 'state', wrapped: { kind: 'tensor', dtype: 'fp16', shape: [1, 2, 32, 16] } });
    }
    // the slice_updates write into the padded states directly: no extra slice_update, one slice per downstream read
    expect(countOps(padded.main, 'slice_update')).toBe(4);
    expect(countOps(padded.main, 'slice_by_index')).toBe(4);
    const steps = 16;
    const c = compareDecode(explicit, padded, cachePairs(2), (s) => decoderInputs(shape, s), steps);
    expect(c.maxAbsError).toBe(0);
    expect(c.stateMaxAbsError).toBe(0);
    // the padding stays zero
    const k = createSession(padded);
    for (let s = 0; s < steps; s++) k.predict(decoderInputs(shape, s));
    const st = k.states.k_cache_0;
    let paddingNonZero = 0;
    for (let h = 0; h < 2; h++) for (let t = 20; t < 32; t++) for (let d = 0; d < 16; d++) if (st.data[(h * 32 + t) * 16 + d] !== 0) paddingNonZero++;
    expect(paddingNonZero).toBe(0);
    // and the unpadded rewrite agrees too
    expect(compareDecode(explicit, plain, cachePairs(2), (s) => decoderInputs(shape, s), steps).maxAbsError).toBe(0);
  });

  it('pads an accumulator along a named sequenceAxis (generic route) with identical outputs', async () => {
    const explicit = accumulator({ size: 20 });
    const p = cloneProgram(explicit);
    const noAxis = await runPass(statefulRewrite({ padTo: 32 }), cloneProgram(explicit));
    expect(noAxis.warnings).toEqual([
      'function "main", state acc_in → acc_out: not padded: padTo needs the cache\'s sequence axis and none was found (the update is elementwise); give sequenceAxis in options.states to pad it',
      'function "main", state acc_in → acc_out: the state\'s innermost dim (axis 1) is 20, not a multiple of 32; the Neural Engine wants state dims that are multiples of 32',
    ]);
    const r = await runPass(statefulRewrite({ padTo: 32, states: [{ input: 'acc_in', output: 'acc_out', sequenceAxis: 1 }] }), p);
    verifyProgram(p);
    expect(r).toMatchObject({ changed: true, stats: { padded: 1 }, warnings: [] });
    expect(p.main.inputs[1].type).toEqual({ kind: 'state', wrapped: { kind: 'tensor', dtype: 'fp16', shape: [1, 32] } });
    const c = compareDecode(explicit, p, [{ input: 'acc_in', output: 'acc_out' }], (s) => ({ x: { shape: [1, 20], data: noise(20, s) } }), 10);
    expect(c.maxAbsError).toBe(0);
    expect(c.stateMaxAbsError).toBe(0);
  });

  it('falls back to the generic padded write when the slice_update end is masked on the sequence axis', async () => {
    const text = `
program(target = iOS18) {
func @main(%x: fp16[1, 2, 4], %k_cache: fp16[1, 10, 4]) -> (fp16[1, 4], fp16[1, 10, 4]) {
  %begin = const() {val = [0, 8, 0]} : int32[3]
  %end = const() {val = [1, 0, 4]} : int32[3]
  %end_mask = const() {val = [false, true, false]} : bool[3]
  %k_cache_out = slice_update(x = %k_cache, update = %x, begin = %begin, end = %end, end_mask = %end_mask) : fp16[1, 10, 4]
  %axes = const() {val = [1]} : int32[1]
  %keep = const() {val = false} : bool[]
  %m = reduce_mean(x = %k_cache_out, axes = %axes, keep_dims = %keep) : fp16[1, 4]
} -> (%m, %k_cache_out)
}`;
    const explicit = parseProgram(text);
    const p = parseProgram(text);
    await pipeline([statefulRewrite({ padTo: 32 })]).run(p, { logger: silentLogger, verify: true });
    // "to the end" would mean position 32 in the padded state: the update runs on the unpadded view instead
    expect(countOps(p.main, 'slice_update')).toBe(2);
    const c = compareDecode(explicit, p, [{ input: 'k_cache', output: 'k_cache_out' }], (s) => ({ x: { shape: [1, 2, 4], data: noise(8, s) } }), 6);
    expect(c.maxAbsError).toBe(0);
    expect(c.stateMaxAbsError).toBe(0);
  });

  it('converts and pads an fp32 sliding window at once (casts around the padded view)', async () => {
    const explicit = buildProgram('iOS18', (b) => {
      b.function('main', { x: tensorType('fp32', [1, 1, 8]), window: tensorType('fp32', [1, 5, 8]) }, (fb, { x, window }) => {
        const joined = fb.concat({ values: [window, x], axis: 1 });
        const next = fb.slice_by_index({ x: joined, begin: [0, 1, 0], end: [1, 6, 8] }, { name: 'window_out' });
        return [fb.op('reduce_sum', { x: next, axes: [1], keep_dims: false }, { name: 'total' }) as Value, next];
      });
    });
    const p = cloneProgram(explicit);
    const r = await runPass(statefulRewrite({ convertDtype: true, padTo: 32 }), p);
    verifyProgram(p);
    expect(r.stats).toMatchObject({ states: 1, converted: 1, padded: 1 });
    expect(p.main.inputs[1].type).toEqual({ kind: 'state', wrapped: { kind: 'tensor', dtype: 'fp16', shape: [1, 32, 8] } });
    const c = compareDecode(explicit, p, [{ input: 'window', output: 'window_out' }], (s) => ({ x: { shape: [1, 1, 8], data: noise(8, s) } }), 9);
    expect(c.maxRelativeL2).toBeLessThan(2e-3);
    expect(c.stateMaxAbsError).toBeLessThan(2e-3);
  });

  it('stops when the run is aborted', async () => {
    const p = accumulator();
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    expect(() => statefulRewrite().run(p, createPassContext({ target: p.target, signal: ac.signal, logger: silentLogger }))).toThrow('stop');
  });
});

describe('Rewriter.replaceOperand (IR addition used by the pass)', () => {
  it('rebinds one operand in place, keeping the parameter order and the use lists', () => {
    const p = buildProgram('iOS18', (b) => {
      b.function('main', { a: f16(4), c: f16(4) }, (fb, { a }) => fb.sub({ x: a, y: fb.relu({ x: a }) }, { name: 'd' }));
    });
    const fn = p.main;
    const d = fn.findOp('d')!;
    const c = fn.inputs[1];
    const rw = new Rewriter(p.target);
    rw.replaceOperand(d, 'x', 0, c);
    expect([...d.inputs.keys()]).toEqual(['x', 'y']);
    expect(d.input('x')).toBe(c);
    expect(c.users).toEqual([d]);
    expect(fn.inputs[0].users.map((o) => o.type)).toEqual(['relu']);
    expect(rw.changes).toBe(1);
    expect(() => rw.replaceOperand(d, 'z', 0, c)).toThrow('rewriter: op sub "d" has no operand z[0]');
    verifyProgram(p);
  });
});
