import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CompressionTargetError, materialize } from '@silica/compression';
import { createSession, evaluate, writeNpy, writeNpz } from '@silica/interpreter';
import { type Pass, type Program, buildProgram, cloneProgram, createPassContext, formatType, pipeline, tensorFromValues, tensorType } from '@silica/ir';
import palettize from '@silica/palettize';
import prune from '@silica/prune';
import quantize from '@silica/quantize';
import calibrate, { type CalibrationProgress, type CalibrationResult, type MixedBitRecipe } from '../src/index.js';
import { featureSpace, features, mlp, normals, samplesOf } from './models.js';

const space = featureSpace(64, 5);
const model = (options: Parameters<typeof mlp>[0] = {}): Program => mlp({ inputScale: space.scale, ...options });
const calib = samplesOf(space, [16, 64], 16, 1);
const held = samplesOf(space, [16, 64], 8, 2);

async function apply(pass: Pass, program: Program): Promise<{ program: Program; result: CalibrationResult }> {
  const p = cloneProgram(program);
  const result = (await pass.run(p, createPassContext({ target: p.target }))) as CalibrationResult;
  return { program: result.program ?? p, result };
}

/** The program's structure without values: op types, names, operand names and value types. */
function structure(program: Program): string[] {
  return program.main.ops.map((op) => {
    const ins = [...op.inputs].map(([k, vs]) => `${k}=${vs.map((v) => v.name).join(',')}`).join(' ');
    return `${op.outputs.map((o) => `${o.name}: ${formatType(o.type)}`).join(', ')} = ${op.type}(${ins})`;
  });
}

const snr = (a: Program, b: Program): number => Object.values(evaluate(a, b, held).metrics)[0].snr;

describe('options', () => {
  it.each([
    [{ algorithm: 'awq' }, "algorithm must be one of 'gptq', 'sparsegpt', 'sensitive_kmeans', 'mixed_bit'"],
    [{ algorithm: 'gptq', nSamples: 0 }, 'nSamples must be a positive integer'],
    [{ algorithm: 'gptq', config: { dtype: 'int3' } }, 'dtype must be one of int8, uint8, int4, uint4'],
    [{ algorithm: 'gptq', config: { granularity: 'per_channel', blockSize: 32 } }, 'blockSize only applies to granularity "per_block"'],
    [{ algorithm: 'gptq', config: { dtpye: 'int4' } }, 'unknown option "dtpye"'],
    [{ algorithm: 'gptq', percentDamp: -1 }, 'percentDamp must be a finite number ≥ 0'],
    [{ algorithm: 'sparsegpt' }, 'sparsegpt needs config.targetSparsity or config.nmRatio'],
    [{ algorithm: 'sparsegpt', config: { targetSparsity: 0.5, nmRatio: [2, 4] } }, 'give exactly one of targetSparsity and nmRatio'],
    [{ algorithm: 'sparsegpt', config: { blockSize: 4, targetSparsity: 0.5 } }, '"blockSize" is not supported here'],
    [{ algorithm: 'sensitive_kmeans', config: { nbits: 5 } }, 'nbits must be one of 1, 2, 3, 4, 6, 8'],
    [{ algorithm: 'sensitive_kmeans', config: { mode: 'uniform' } }, '"mode" is not supported here'],
    [{ algorithm: 'mixed_bit', config: {} }, 'give exactly one of targetBitsPerWeight and minPsnr'],
    [{ algorithm: 'mixed_bit', config: { targetBitsPerWeight: 3, widths: [5] } }, 'widths must be distinct values of 1, 2, 3, 4, 6, 8'],
    [{ algorithm: 'mixed_bit', recipe: { version: 2 } }, 'invalid mixed-bit recipe'],
    [{ algorithm: 'gptq', config: { opName: { fc1_weight: { dtype: 'int2' } } } }, 'opName["fc1_weight"]: dtype must be one of'],
  ])('rejects %j when the pass is built', (options, message) => {
    expect(() => calibrate(options as never)).toThrow(message);
  });

  it('needs calibration data when it runs', async () => {
    await expect(apply(calibrate({ algorithm: 'gptq' }), model())).rejects.toThrow('gptq needs calibration data');
  });
});

describe('gptq output has the quantize pass format', () => {
  it.each([
    [{ dtype: 'int4', granularity: 'per_block', blockSize: 32 }],
    [{ dtype: 'int8' }],
    [{ dtype: 'uint4', granularity: 'per_channel' }],
    [{ dtype: 'int8', mode: 'linear', granularity: 'per_tensor' }],
    [{ dtype: 'uint8', mode: 'linear', granularity: 'per_block', blockSize: 16 }],
  ] as const)('%j', async (config) => {
    const g = await apply(calibrate({ algorithm: 'gptq', config, samples: calib }), model());
    const q = await apply(quantize({ ...config, workers: 0 }), model());
    expect(structure(g.program)).toEqual(structure(q.program));
    expect(g.result.stats!.bytesAfter).toBe(q.result.stats!.bytesAfter);
    expect(g.result.layers.map((l) => l.ops)).toEqual(Array(2).fill(['constexpr_blockwise_shift_scale']));
  });

  it('iOS16: constexpr_affine_dequantize, as the quantize pass', async () => {
    const g = await apply(calibrate({ algorithm: 'gptq', config: { dtype: 'int8' }, samples: calib }), model({ target: 'iOS16' }));
    const q = await apply(quantize({ dtype: 'int8', workers: 0 }), model({ target: 'iOS16' }));
    expect(structure(g.program)).toEqual(structure(q.program));
    expect(structure(g.program).some((l) => l.includes('constexpr_affine_dequantize'))).toBe(true);
  });

  it('iOS16: int4 fails before any work, naming the feature and the target', async () => {
    let captured = 0;
    const pass = calibrate({ algorithm: 'gptq', config: { dtype: 'int4' }, samples: calib, onProgress: (e) => void (e.kind === 'capture' && captured++) });
    await expect(apply(pass, model({ target: 'iOS16' }))).rejects.toThrow(CompressionTargetError);
    await expect(apply(pass, model({ target: 'iOS16' }))).rejects.toThrow('int4 quantization needs iOS18 (the program targets iOS16)');
    expect(captured).toBe(0);
  });

  it('the emitted ops decompress to exactly the weights GPTQ computed', async () => {
    const original = model();
    const g = await apply(calibrate({ algorithm: 'gptq', config: { dtype: 'int4', granularity: 'per_block', blockSize: 16 }, samples: calib, actOrder: true }), original);
    for (const layer of g.result.layers) {
      const before = original.main.findOp(layer.weight)!.constValue!.toFloat32();
      const after = materialize(g.program.main.findValue(layer.dense)!, 'iOS18').toFloat32();
      let err = 0;
      let sig = 0;
      for (let i = 0; i < before.length; i++) {
        err += (after[i] - before[i]) ** 2;
        sig += before[i] ** 2;
      }
      expect(10 * Math.log10(sig / err)).toBeCloseTo(layer.snrDb, 6);
    }
  });
});

describe('layer-wise order', () => {
  it('compresses fc2 with the activations of the already-compressed fc1', async () => {
    const config = { dtype: 'int4' as const };
    const full = await apply(calibrate({ algorithm: 'gptq', config, samples: calib }), model());
    // fc1 alone, then fc2 alone on that program: the same fc2 as the sequential run
    const fc1 = await apply(calibrate({ algorithm: 'gptq', config: { ...config, opName: { fc2_weight: null } }, samples: calib }), model());
    const fc2 = await apply(calibrate({ algorithm: 'gptq', config: { ...config, opName: { fc1_weight: null } }, samples: calib }), fc1.program);
    const data = (p: Program): number[] => Array.from(p.main.findOp('fc2_weight_quantized_data')!.constValue!.toNumbers());
    expect(data(fc2.program)).toEqual(data(full.program));
    // while fc2 calibrated on the original model's activations differs
    const fromOriginal = await apply(calibrate({ algorithm: 'gptq', config: { ...config, opName: { fc1_weight: null } }, samples: calib }), model());
    expect(data(fromOriginal.program)).not.toEqual(data(full.program));
  });
});

describe('sparsegpt output has the prune pass format', () => {
  it.each([[{ targetSparsity: 0.4 }], [{ nmRatio: [1, 2] as const }]])('%j', async (config) => {
    const s = await apply(calibrate({ algorithm: 'sparsegpt', config, samples: calib }), model());
    const p = await apply(prune({ ...config, workers: 0 }), model());
    // the nonzero_data length depends on the values; everything else is the same
    const norm = (l: string): string => l.replace(/fp16\[\d+\]/, 'fp16[D]');
    expect(structure(s.program).map(norm)).toEqual(structure(p.program).map(norm));
    for (const layer of s.result.layers) {
      const w = materialize(s.program.main.findValue(layer.dense)!, 'iOS18').toFloat32();
      const zeros = w.filter((v) => v === 0).length / w.length;
      expect(zeros).toBeCloseTo('targetSparsity' in config ? config.targetSparsity : 0.5, 2);
    }
  });

  it('iOS16: the packed-mask form, as the prune pass', async () => {
    const s = await apply(calibrate({ algorithm: 'sparsegpt', config: { targetSparsity: 0.5 }, samples: calib }), model({ target: 'iOS16' }));
    const p = await apply(prune({ targetSparsity: 0.5, workers: 0 }), model({ target: 'iOS16' }));
    const norm = (l: string): string => l.replace(/fp16\[\d+\]/, 'fp16[D]');
    expect(structure(s.program).map(norm)).toEqual(structure(p.program).map(norm));
  });

  it('composes with palettization: prune → palettize({ joint: true }) keeps the zeros', async () => {
    const s = await apply(calibrate({ algorithm: 'sparsegpt', config: { targetSparsity: 0.4 }, samples: calib }), model());
    const j = await apply(palettize({ nbits: 4, joint: true, workers: 0 }), s.program);
    const ops = structure(j.program).join('\n');
    expect(ops).toContain('constexpr_lut_to_sparse');
    expect(ops).toContain('constexpr_sparse_to_dense');
    for (const layer of s.result.layers) {
      const pruned = materialize(s.program.main.findValue(layer.dense)!, 'iOS18').toFloat32();
      const joint = materialize(j.program.main.findValue(layer.dense)!, 'iOS18').toFloat32();
      for (let i = 0; i < pruned.length; i++) if (pruned[i] === 0) expect(joint[i]).toBe(0);
    }
    // joint model still tracks the original
    expect(snr(model(), j.program)).toBeGreaterThan(10);
  });

  it('skips n:m for matmul weights, with the reason', async () => {
    const p = buildProgram('iOS18', (b) =>
      b.function('main', { x: tensorType('fp32', [16, 64]) }, (f, { x }) => f.matmul({ x, y: f.const(tensorFromValues('fp32', [64, 64], normals(4096, 1)), { name: 'w' }) })),
    );
    const r = await apply(calibrate({ algorithm: 'sparsegpt', config: { nmRatio: [2, 4] }, samples: calib }), p);
    expect(r.result.changed).toBe(false);
    expect(r.result.skipped).toContainEqual({ function: 'main', weight: 'w', reason: 'n:m pruning applies to linear and conv weights only (mil-ops.md §7.5)' });
  });
});

describe('sensitive k-means output has the palettize pass format', () => {
  it.each([[{ nbits: 4 }], [{ nbits: 3, granularity: 'per_grouped_channel', groupSize: 16 }], [{ nbits: 1 }]] as const)('%j', async (config) => {
    const s = await apply(calibrate({ algorithm: 'sensitive_kmeans', config, samples: calib }), model());
    const p = await apply(palettize({ ...config, workers: 0 }), model());
    expect(structure(s.program)).toEqual(structure(p.program));
    expect(s.result.stats!.bytesAfter).toBe(p.result.stats!.bytesAfter);
  });

  it('iOS16: the packed-index form for 4-bit per-tensor, and a clear error for 3-bit', async () => {
    const s = await apply(calibrate({ algorithm: 'sensitive_kmeans', config: { nbits: 4 }, samples: calib }), model({ target: 'iOS16' }));
    const p = await apply(palettize({ nbits: 4, workers: 0 }), model({ target: 'iOS16' }));
    expect(structure(s.program)).toEqual(structure(p.program));
    await expect(apply(calibrate({ algorithm: 'sensitive_kmeans', config: { nbits: 3 }, samples: calib }), model({ target: 'iOS16' }))).rejects.toThrow(
      '3-bit palettization needs iOS18 (the program targets iOS16)',
    );
  });
});

describe('running', () => {
  it('reports progress per layer and per sample', async () => {
    const events: CalibrationProgress[] = [];
    const ticks: string[] = [];
    const p = cloneProgram(model());
    await calibrate({ algorithm: 'gptq', samples: calib, onProgress: (e) => events.push(e) }).run(p, createPassContext({ target: p.target, progress: (d, t, l) => ticks.push(`${d}/${t} ${l}`) }));
    const layers = events.filter((e) => e.kind === 'layer');
    expect(layers.map((e) => e.kind === 'layer' && [e.layer, e.index, e.total, e.samples, e.tokens])).toEqual([
      ['fc1_weight', 1, 2, 16, 256],
      ['fc2_weight', 2, 2, 16, 256],
    ]);
    for (const e of layers) if (e.kind === 'layer') expect(e.ms).toBeGreaterThan(0);
    expect(events.filter((e) => e.kind === 'capture')).toHaveLength(2 * 16);
    expect(ticks).toEqual(['1/2 fc1_weight', '2/2 fc2_weight']);
  });

  it('stops when the signal is aborted', async () => {
    const ac = new AbortController();
    const pass = calibrate({
      algorithm: 'gptq',
      samples: calib,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.kind === 'capture' && e.sample === 3) ac.abort(new Error('enough'));
      },
    });
    await expect(apply(pass, model())).rejects.toThrow('enough');
  });

  it('runs in a pipeline, which verifies the result', async () => {
    const out = await pipeline([calibrate({ algorithm: 'gptq', config: { dtype: 'int4' }, samples: calib })]).run(cloneProgram(model()), { verify: true });
    expect(structure(out).filter((l) => l.includes('constexpr_blockwise_shift_scale'))).toHaveLength(2);
  });

  it('leaves weights that are not layers alone, saying why', async () => {
    const p = buildProgram('iOS18', (b) =>
      b.function('main', { x: tensorType('fp16', [16, 64]) }, (f, { x }) => {
        const table = f.const(tensorFromValues('fp16', [16, 64], normals(1024, 3)), { name: 'table' });
        const w = f.const(tensorFromValues('fp16', [64, 64], normals(4096, 4)), { name: 'w' });
        return f.add({ x: f.linear({ x, weight: w }), y: table });
      }),
    );
    const r = await apply(calibrate({ algorithm: 'gptq', config: { weightThreshold: 100 }, samples: calib }), p);
    expect(r.result.layers.map((l) => l.weight)).toEqual(['w']);
    expect(r.result.skipped).toContainEqual({ function: 'main', weight: 'table', reason: 'add "add" reads it (only linear, conv and matmul layers are calibrated)' });
    expect(r.result.warnings).toContain('weight "table" skipped: add "add" reads it (only linear, conv and matmul layers are calibrated)');
  });

  it('raises an iOS15 program to iOS16, as the plain passes do', async () => {
    const p = model({ target: 'iOS17' });
    p.target = 'iOS15';
    const r = await apply(calibrate({ algorithm: 'gptq', samples: calib }), p);
    expect(r.program.target).toBe('iOS16');
    expect(r.result.warnings![0]).toContain('now targets iOS16');
  });

  it('calibrates fp32 models and conv layers', async () => {
    const p = buildProgram('iOS18', (b) =>
      b.function('main', { x: tensorType('fp32', [1, 8, 12, 12]) }, (f, { x }) => {
        const c1 = f.relu({ x: f.conv({ x, weight: f.const(tensorFromValues('fp32', [32, 8, 3, 3], normals(2304, 8, 0.2)), { name: 'c1' }), pad_type: 'same' }) });
        return f.conv({ x: c1, weight: f.const(tensorFromValues('fp32', [16, 16, 3, 3], normals(2304, 9, 0.1)), { name: 'c2' }), groups: 2, strides: [2, 2], pad_type: 'valid' });
      }),
    );
    // images: correlated channels with outliers, smoothed spatially (neighbouring pixels correlate)
    const image = (seed: number): Float32Array => {
      const px = features(featureSpace(8, 3), 144, seed);
      const out = new Float32Array(1152);
      for (let c = 0; c < 8; c++) {
        for (let i = 0; i < 12; i++) {
          for (let j = 0; j < 12; j++) {
            let s = 0;
            let n = 0;
            for (let di = -1; di <= 1; di++) for (let dj = -1; dj <= 1; dj++) {
              const a = i + di;
              const b = j + dj;
              if (a >= 0 && a < 12 && b >= 0 && b < 12) (s += px[(a * 12 + b) * 8 + c]), n++;
            }
            out[(c * 12 + i) * 12 + j] = s / n;
          }
        }
      }
      return out;
    };
    const xs = Array.from({ length: 12 }, (_, i) => ({ x: { shape: [1, 8, 12, 12], data: image(100 + i) } }));
    const g = await apply(calibrate({ algorithm: 'gptq', config: { dtype: 'int4', granularity: 'per_block', blockSize: 4, weightThreshold: 1000 }, samples: xs }), p);
    const q = await apply(quantize({ dtype: 'int4', granularity: 'per_block', blockSize: 4, weightThreshold: 1000, workers: 0 }), p);
    expect(structure(g.program)).toEqual(structure(q.program));
    const test = [0, 1, 2, 3].map((i) => ({ x: { shape: [1, 8, 12, 12], data: image(900 + i) } }));
    const m = (b: Program): number => Object.values(evaluate(p, b, test).metrics)[0].snr;
    expect(m(g.program)).toBeGreaterThan(m(q.program) + 2);
  });
});

describe('calibration data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'silica-calibrate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const stack = new Float32Array(16 * 16 * 64);
  calib.forEach((s, i) => stack.set(s.x.data as Float32Array, i * 16 * 64));

  const codes = async (samples: unknown, nSamples?: number): Promise<number[]> => {
    const r = await apply(calibrate({ algorithm: 'gptq', samples: samples as never, nSamples }), model());
    return Array.from(r.program.main.findOp('fc2_weight_quantized_data')!.constValue!.toNumbers());
  };

  it('reads a stacked .npy, an .npz, a directory of <input>.npy and a directory of .npz files alike', async () => {
    const reference = await codes(calib);
    const npy = join(dir, 'x.npy');
    writeFileSync(npy, writeNpy({ dtype: 'f4', shape: [16, 16, 64], data: stack }));
    expect(await codes(npy)).toEqual(reference);
    writeNpz({ x: { dtype: 'f4', shape: [16, 16, 64], data: stack } }, join(dir, 'all.npz'));
    expect(await codes(join(dir, 'all.npz'))).toEqual(reference);
    const byInput = join(dir, 'by-input');
    mkdirSync(byInput);
    writeFileSync(join(byInput, 'x.npy'), writeNpy({ dtype: 'f4', shape: [16, 16, 64], data: stack }));
    expect(await codes(byInput)).toEqual(reference);
    const perSample = join(dir, 'per-sample');
    mkdirSync(perSample);
    calib.forEach((s, i) => writeNpz({ x: { dtype: 'f4', shape: [16, 64], data: s.x.data as Float32Array } }, join(perSample, `sample_${i}.npz`)));
    expect(await codes(perSample)).toEqual(reference);
    expect(await codes({ x: { shape: [16, 16, 64], data: stack } })).toEqual(reference);
  });

  it('uses the first nSamples samples', async () => {
    expect(await codes(calib.slice(0, 5))).toEqual(await codes(calib, 5));
  });

  it('names the problem with bad data', async () => {
    await expect(codes({ x: { shape: [16, 3, 16, 64], data: new Float32Array(16 * 3 * 16 * 64) } })).rejects.toThrow(
      'input "x": shape [16, 3, 16, 64] fits neither one sample of the input (rank 2, declared [16, 64]) nor a stack of them (rank 3)',
    );
    await expect(codes({ y: { shape: [16, 64], data: new Float32Array(1024) } })).rejects.toThrow('"y" is not an input of the function (inputs: x)');
    await expect(codes(join(dir, 'missing.npy'))).rejects.toThrow('cannot read');
  });
});

describe('mixed-bit', () => {
  it('emits a recipe that reproduces the same program', async () => {
    let recipe: MixedBitRecipe | undefined;
    const m = await apply(calibrate({ algorithm: 'mixed_bit', config: { targetBitsPerWeight: 3, widths: [2, 3, 4] }, samples: calib, onRecipe: (r) => (recipe = r) }), model());
    expect(recipe).toBeDefined();
    expect(JSON.parse(m.result.stats!.recipe as string)).toEqual(recipe);
    expect(recipe!.bitsPerWeight).toBeLessThanOrEqual(3);
    expect(Object.keys(recipe!.layers)).toEqual(['fc1_weight', 'fc2_weight']);
    const again = await apply(calibrate({ algorithm: 'mixed_bit', recipe: JSON.parse(JSON.stringify(recipe)), samples: calib }), model());
    const hashes = (p: Program): string[] => p.main.ops.flatMap((op) => (op.constValue ? [`${op.name} ${op.constValue.hash().short()}`] : []));
    expect(hashes(again.program)).toEqual(hashes(m.program));
    expect(structure(m.program).filter((l) => l.includes('constexpr_lut_to_dense'))).toHaveLength(2);
  });

  it('meets a PSNR floor with the smallest model it finds', async () => {
    const loose = await apply(calibrate({ algorithm: 'mixed_bit', config: { minPsnr: 25 }, samples: calib }), model());
    const tight = await apply(calibrate({ algorithm: 'mixed_bit', config: { minPsnr: 40 }, samples: calib }), model());
    expect(loose.result.recipe!.measuredPsnr!).toBeGreaterThanOrEqual(25);
    expect(tight.result.recipe!.measuredPsnr!).toBeGreaterThanOrEqual(40);
    expect(tight.result.recipe!.bitsPerWeight).toBeGreaterThan(loose.result.recipe!.bitsPerWeight);
  });

  it('refuses a budget below the smallest possible model', async () => {
    await expect(apply(calibrate({ algorithm: 'mixed_bit', config: { targetBitsPerWeight: 1.5, widths: [2, 4] }, samples: calib }), model())).rejects.toThrow(
      'targetBitsPerWeight 1.5 is below the smallest model the widths allow',
    );
  });

  it('refuses a recipe for weights the program does not have', async () => {
    const recipe: MixedBitRecipe = { version: 1, algorithm: 'mixed_bit', weighting: 'none', bitsPerWeight: 4, layers: { nope: { nbits: 4, granularity: 'per_tensor', groupSize: 32 } } };
    await expect(apply(calibrate({ algorithm: 'mixed_bit', recipe }), model())).rejects.toThrow('no calibratable layer for: "nope"');
  });

  it('runs a plain-k-means recipe without calibration data', async () => {
    const recipe: MixedBitRecipe = {
      version: 1,
      algorithm: 'mixed_bit',
      weighting: 'none',
      bitsPerWeight: 3,
      layers: { fc1_weight: { nbits: 2, granularity: 'per_tensor', groupSize: 32 }, fc2_weight: { nbits: 4, granularity: 'per_tensor', groupSize: 32 } },
    };
    const r = await apply(calibrate({ algorithm: 'mixed_bit', recipe }), model());
    expect(r.result.layers.map((l) => l.method)).toEqual(['mixed-bit 2-bit per_tensor k-means', 'mixed-bit 4-bit per_tensor k-means']);
    const s = createSession(r.program);
    expect(s.predict(held[0]).fc2.data.length).toBe(1024);
  });
});
