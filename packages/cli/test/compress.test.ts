/** `silica compress`: flags → passes, end to end on the fixtures, overrides, refusals, the report file. */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { materialize } from '@silica/compression';
import { readNpz, writeNpz } from '@silica/interpreter';
import { readMLPackage } from '@silica/mlpackage-reader';
import { describe, expect, it } from 'vitest';
import type { CompressSummary } from '../src/commands/compress.js';
import { compressSteps, parseOverride } from '../src/compress-flags.js';
import { UsageError } from '../src/errors.js';
import { loadPipeline } from '../src/pipeline-file.js';
import { cli, fixture, tempDir } from './helpers.js';

describe('compress flags → pipeline steps', () => {
  it('quantize int4 per block of 32', () => {
    expect(compressSteps({ quantize: 'int4', granularity: 'per-block', blockSize: 32 })).toEqual([
      { pass: 'quantize', options: { dtype: 'int4', granularity: 'per_block', blockSize: 32 } },
    ]);
    // --block-size alone implies per-block
    expect(compressSteps({ quantize: 'uint4', blockSize: 16 })[0].options).toEqual({ dtype: 'uint4', granularity: 'per_block', blockSize: 16 });
  });

  it('palettize with groups, prune, n:m', () => {
    expect(compressSteps({ palettize: 4, groupSize: 16 })).toEqual([{ pass: 'palettize', options: { nbits: 4, granularity: 'per_grouped_channel', groupSize: 16 } }]);
    expect(compressSteps({ prune: 0.5 })).toEqual([{ pass: 'prune', options: { targetSparsity: 0.5 } }]);
    expect(compressSteps({ nm: '2:4', weightThreshold: 100 })).toEqual([{ pass: 'prune', options: { nmRatio: [2, 4], weightThreshold: 100 } }]);
  });

  it('joint: prune → palettize → quantize, later passes joint, the LUT quantized per tensor', () => {
    expect(compressSteps({ prune: 0.5, palettize: 4, quantize: 'int8', joint: true, workers: 0 })).toEqual([
      { pass: 'prune', options: { targetSparsity: 0.5 } },
      { pass: 'palettize', options: { nbits: 4, joint: true } },
      { pass: 'quantize', options: { dtype: 'int8', granularity: 'per_tensor', joint: true } },
    ]);
    // one compression with --joint compresses an already-compressed model
    expect(compressSteps({ prune: 0.5, joint: true })[0].options).toEqual({ targetSparsity: 0.5, joint: true });
  });

  it('refuses combinations with a message that says what to do', () => {
    expect(() => compressSteps({})).toThrow(/say how to compress: --quantize/);
    expect(() => compressSteps({ prune: 0.5, quantize: 'int8' })).toThrow('--prune and --quantize together is joint compression: add --joint (iOS18)');
    expect(() => compressSteps({ quantize: 'int3' })).toThrow('--quantize int3: expected one of int8, uint8, int4, uint4');
    expect(() => compressSteps({ palettize: 5 })).toThrow('--palettize 5: expected a width of 1, 2, 3, 4, 6, 8 bits');
    expect(() => compressSteps({ quantize: 'int8', granularity: 'per-channel', blockSize: 32 })).toThrow('--block-size only applies to --granularity per-block');
    expect(() => compressSteps({ palettize: 4, granularity: 'per-block' })).toThrow('is a quantization granularity');
    expect(() => compressSteps({ nm: '5:4' })).toThrow(/--nm 5:4: expected N:M/);
    expect(() => compressSteps({ prune: 0.5, nm: '2:4' })).toThrow('not both');
    expect(() => compressSteps({ quantize: 'int8', samples: 4 })).toThrow('--samples applies to calibrated compression; add --calibrate DIR');
    expect(() => compressSteps({ quantize: 'int8', granularity: 'sideways' })).toThrow(UsageError);
  });

  it('per-op overrides: skip, bare values, pass/key=value, inherited threshold', () => {
    const steps = compressSteps({
      palettize: 4,
      weightThreshold: 1000,
      opType: ['conv:skip', 'matmul:6'],
      opName: ['lm_head_weight:nbits=8,group-size=16,granularity=per-grouped-channel'],
    });
    expect(steps[0].options).toEqual({
      nbits: 4,
      weightThreshold: 1000,
      opType: { conv: null, matmul: { nbits: 6, weightThreshold: 1000 } },
      opName: { lm_head_weight: { nbits: 8, groupSize: 16, granularity: 'per_grouped_channel', weightThreshold: 1000 } },
    });
    const joint = compressSteps({ prune: 0.5, quantize: 'int4', blockSize: 32, joint: true, opName: ['fc1:quantize/int8,granularity=per-channel', 'fc2:2:4'] });
    expect(joint[1].options?.opName).toEqual({ fc1: { dtype: 'int8', granularity: 'per_channel' } });
    expect(joint[0].options?.opName).toEqual({ fc2: { nmRatio: [2, 4] } });
  });

  it('override errors name the flag, the setting and the choices', () => {
    expect(() => parseOverride('--op-type', 'linear', ['quantize'], undefined)).toThrow('--op-type linear: expected TYPE:SPEC');
    expect(() => parseOverride('--op-type', 'linear:nbit=4', ['palettize'], undefined)).toThrow(
      'unknown setting "nbit" for palettize (settings: mode, nbits, granularity, group-size, channel-axis, cluster-dim, enable-per-channel-scale, weight-threshold, seed)',
    );
    expect(() => parseOverride('--op-type', 'linear:skip', ['prune', 'quantize'], undefined)).toThrow('say which compression to skip, e.g. --op-type linear:prune/skip');
    expect(() => parseOverride('--op-name', 'w:palettize/4', ['quantize'], undefined)).toThrow('palettize is not one of the compressions of this command (quantize)');
    expect(() => parseOverride('--op-name', 'w:int9', ['quantize'], undefined)).toThrow('"int9" is not a quantize setting');
    expect(() => compressSteps({ quantize: 'int8', opType: ['linear:int4', 'linear:skip'] })).toThrow('--op-type linear is given twice');
  });

  it('calibrated: the algorithm follows the compression; mixed-bit from --target-bpw', () => {
    expect(compressSteps({ quantize: 'int4', blockSize: 32, calibrate: '/data', samples: 8, actOrder: true })).toEqual([
      { pass: 'calibrate', options: { algorithm: 'gptq', samples: '/data', nSamples: 8, actOrder: true, config: { dtype: 'int4', granularity: 'per_block', blockSize: 32 } } },
    ]);
    expect(compressSteps({ nm: '2:4', calibrate: '/d' })[0].options).toEqual({ algorithm: 'sparsegpt', samples: '/d', config: { nmRatio: [2, 4] } });
    expect(compressSteps({ palettize: 4, calibrate: '/d' })[0].options).toEqual({ algorithm: 'sensitive_kmeans', samples: '/d', config: { nbits: 4 } });
    expect(compressSteps({ palettize: 8, calibrate: '/d', targetBpw: 3.5 })[0].options).toEqual({
      algorithm: 'mixed_bit',
      samples: '/d',
      config: { widths: [1, 2, 3, 4, 6, 8], targetBitsPerWeight: 3.5 },
    });
    expect(() => compressSteps({ quantize: 'int8', calibrate: '/d', algorithm: 'sparsegpt' })).toThrow('--algorithm sparsegpt goes with --prune');
    expect(() => compressSteps({ quantize: 'int8', prune: 0.5, joint: true, calibrate: '/d' })).toThrow('calibrated compression (--calibrate) does one of');
  });

  it('every step the flags make is a valid pipeline step (schema and factory)', () => {
    const cases = [
      compressSteps({ quantize: 'int4', blockSize: 32, opType: ['conv:skip'] }),
      compressSteps({ palettize: 3, groupSize: 8, clusterDim: 2, perChannelScale: true, lutMode: 'kmeans' }),
      compressSteps({ prune: 0.25, pruneBlockSize: 4, palettize: 2, joint: true }),
      compressSteps({ quantize: 'int8', calibrate: '/d', samples: 2 }),
      compressSteps({ palettize: 8, calibrate: '/d', minPsnr: 30 }),
    ];
    for (const passes of cases) {
      const loaded = loadPipeline({ version: 1, source: 'a.mlpackage', passes, sink: 'b.mlpackage' }, { baseDir: '/tmp' });
      expect(loaded.passes.map((p) => p.name)).toEqual(passes.map((s) => s.pass));
    }
  });
});

describe('silica compress on the fixtures', () => {
  const dir = tempDir();

  it('int4 per-block-32: the same codes as coremltools, --json summary, pipeline file', async () => {
    const out = join(dir, 'mlp-int4.mlpackage');
    const pipe = join(dir, 'int4.json');
    const r = await cli(['compress', fixture('mlp'), '-o', out, '--quantize', 'int4', '--granularity', 'per-block', '--block-size', '32', '--workers', '0', '--save-pipeline', pipe, '--json']);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    const j = r.json<CompressSummary>();
    expect(j.command).toBe('compress');
    expect(j.output).toBe(out);
    expect(j.passes).toHaveLength(1);
    expect(j.passes[0]).toMatchObject({ pass: 'quantize', changed: true, stats: { compressed: 2, skipped: 2 } });
    expect(j.weights.map((w) => [w.weight, w.bitsPerWeight])).toEqual([
      ['fc1_weight_to_fp16', 4.5],
      ['fc2_weight_to_fp16', 4.5],
    ]);
    expect(j.skipped.map((s) => s.weight).sort()).toEqual(['fc1_bias_to_fp16', 'fc2_bias_to_fp16']);
    expect(j.size.after).toBeLessThan(j.size.before / 3);
    expect(j.pipeline).toBe(pipe);
    const saved = JSON.parse(readFileSync(pipe, 'utf8')) as { source: string };
    expect(saved).toEqual({
      version: 1,
      source: expect.any(String),
      passes: [{ pass: 'quantize', options: { dtype: 'int4', granularity: 'per_block', blockSize: 32 } }],
      sink: 'mlp-int4.mlpackage',
    });
    // relative to the pipeline file when it is close by, else absolute: either way it finds the input
    expect(resolve(dirname(pipe), saved.source)).toBe(fixture('mlp'));

    // bit-exact with coremltools' own int4 per-block-32 package
    const ours = await readMLPackage(out);
    const theirs = await readMLPackage(fixture('mlp_int4_per_block32'));
    for (const name of ['fc1_weight_to_fp16_quantized', 'fc2_weight_to_fp16_quantized']) {
      const a = ours.main.findValue(name)!;
      const b = [...theirs.main.walk()].find((op) => op.type === 'linear' && op.name === ours.main.findValue(name)!.users[0].name)!.input('weight')!;
      expect(Buffer.from(materialize(a, ours.target).bytes()).equals(Buffer.from(materialize(b, theirs.target).bytes()))).toBe(true);
    }
  });

  it('refuses to overwrite: the output without --force (exit 5), the input even with --force', async () => {
    const out = join(dir, 'twice.mlpackage');
    const args = ['compress', fixture('mlp'), '-o', out, '--quantize', 'int8', '--workers', '0', '-q'];
    expect((await cli(args)).code).toBe(0);
    const mtime = statSync(join(out, 'Manifest.json')).mtimeMs;
    const again = await cli(args);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain(`${out} already exists; pass --force to replace it`);
    expect(statSync(join(out, 'Manifest.json')).mtimeMs).toBe(mtime);
    expect((await cli([...args, '--force'])).code).toBe(0);

    const self = await cli(['compress', out, '-o', out, '--quantize', 'int8', '--force']);
    expect(self.code).toBe(5);
    expect(self.stderr).toContain('it would overwrite the input');
    expect((await cli(['compress', fixture('mlp'), '-o', join(dir, 'noext'), '--quantize', 'int8'])).code).toBe(2);
  });

  it('usage errors exit 2 before anything is read', async () => {
    const r = await cli(['compress', join(dir, 'does-not-exist.mlpackage'), '-o', join(dir, 'x.mlpackage'), '--prune', '0.5', '--quantize', 'int8']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('add --joint');
    const bad = await cli(['compress', fixture('mlp'), '-o', join(dir, 'x.mlpackage'), '--prune', '1.5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--prune must be a number ≥ 0 and ≤ 1, got "1.5"');
    const noOut = await cli(['compress', fixture('mlp'), '--quantize', 'int8']);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toContain("required option '-o, --out <package>' not specified");
  });

  it('model errors exit 6: int4 on an iOS16 model names the feature and the target', async () => {
    const r = await cli(['compress', fixture('mlp_ios16'), '-o', join(dir, 'ios16-int4.mlpackage'), '--quantize', 'int4', '--workers', '0']);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('int4 quantization needs iOS18 (the program targets iOS16)');
    expect(existsSync(join(dir, 'ios16-int4.mlpackage'))).toBe(false);
  });

  it('--op-type linear:skip leaves every weight alone; a per-name override changes one', async () => {
    const skip = await cli(['compress', fixture('mlp'), '-o', join(dir, 'skip.mlpackage'), '--palettize', '4', '--op-type', 'linear:skip', '--workers', '0', '--json']);
    expect(skip.code).toBe(0);
    expect(skip.json<CompressSummary>().weights).toEqual([]);
    const mixed = await cli(['compress', fixture('mlp'), '-o', join(dir, 'mixed.mlpackage'), '--quantize', 'int8', '--op-name', 'fc2_weight_to_fp16:int4,per-block', '--workers', '0', '--json']);
    expect(mixed.code).toBe(0);
    expect(mixed.json<CompressSummary>().weights.map((w) => [w.weight, w.method])).toEqual([
      ['fc1_weight_to_fp16', 'int8 linear_symmetric per_channel'],
      ['fc2_weight_to_fp16', 'int4 linear_symmetric per_block 32'],
    ]);
  });

  it('joint prune → palettize, and the HTML report with one row per layer', async () => {
    const out = join(dir, 'sparse-4bit.mlpackage');
    const report = join(dir, 'sparse-4bit.html');
    const r = await cli(['compress', fixture('mlp'), '-o', out, '--prune', '0.5', '--palettize', '4', '--joint', '--workers', '0', '--report', report]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/prune\s.*\n.*palettize/);
    const html = readFileSync(report, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(html.match(/<svg class="chart"/g)).toHaveLength(3 + 2); // sizes, bits, snr + a histogram per weight
    expect(html).toContain('data-overlay="lut"');
    expect(html).toContain('data-overlay="threshold"');
    const inspect = await cli(['inspect', out, '--json']);
    expect(inspect.json<{ weights: { byKind: { joint: { count: number } } } }>().weights.byKind.joint.count).toBe(2);
    const again = await cli(['compress', fixture('mlp'), '-o', join(dir, 'other.mlpackage'), '--palettize', '4', '--report', report]);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain('already exists; pass --force');
  });

  it('--calibrate DIR runs GPTQ on the samples in the folder', async () => {
    const calib = join(dir, 'calib');
    mkdirSync(calib);
    const x = readNpz(new Uint8Array(readFileSync(fixture('mlp.inputs.npz'))));
    writeFileSync(join(calib, 'sample0.npz'), writeNpz(x));
    const r = await cli(['compress', fixture('mlp'), '-o', join(dir, 'gptq.mlpackage'), '--quantize', 'int8', '--calibrate', calib, '--json']);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    const j = r.json<CompressSummary>();
    expect(j.steps).toEqual([{ pass: 'calibrate', options: { algorithm: 'gptq', samples: calib, config: { dtype: 'int8' } } }]);
    expect(j.passes[0]).toMatchObject({ pass: 'calibrate', changed: true, stats: { algorithm: 'gptq', samples: 1 } });
    expect(j.weights.map((w) => w.weight).sort()).toEqual(['fc1_weight_to_fp16', 'fc2_weight_to_fp16']);
    const missing = await cli(['compress', fixture('mlp'), '-o', join(dir, 'gptq2.mlpackage'), '--quantize', 'int8', '--calibrate', join(dir, 'nothing-here')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('nothing-here');
  });
});
