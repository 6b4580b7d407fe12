/** `silica inspect` on the coremltools fixtures, text and --json, and the usage/input errors around it. */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { InspectReport } from '../src/inspect.js';
import { cli, fixture, tempDir } from './helpers.js';

const inspectJson = async (name: string): Promise<InspectReport> => {
  const r = await cli(['inspect', fixture(name), '--json']);
  expect(r.code).toBe(0);
  return r.json<InspectReport>();
};

describe('silica inspect', () => {
  it('describes an uncompressed model and suggests compressing it', async () => {
    const r = await cli(['inspect', fixture('mlp')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('target iOS18 (specification version 9, opset CoreML8)');
    expect(r.stdout).toMatch(/input\s+x\s+fp32\[1, 256\]/);
    expect(r.stdout).toMatch(/output\s+y\s+fp32\[1, 256\]/);
    expect(r.stdout).toMatch(/linear\s+2/);
    expect(r.stdout).toContain('2 fp16 weights are stored uncompressed');
    expect(r.stdout).toContain(`silica compress ${fixture('mlp')} -o`);
  });

  it('--json: target, IO, op histogram, weights by kind and dtype, sizes', async () => {
    const j = await inspectJson('mlp');
    expect(j.target).toBe('iOS18');
    expect(j.specificationVersion).toBe(9);
    expect(j.functions).toHaveLength(1);
    expect(j.functions[0].inputs).toEqual([{ name: 'x', type: 'fp32[1, 256]', dtype: 'fp32', shape: [1, 256] }]);
    expect(j.functions[0].states).toEqual([]);
    expect(j.opHistogram.linear).toBe(2);
    expect(j.opHistogram.gelu).toBe(1);
    expect(j.weights.count).toBe(4);
    expect(j.weights.byKind.const).toEqual({ count: 4, elements: 2 * 256 * 1024 + 1024 + 256, bytes: 2 * (2 * 256 * 1024 + 1024 + 256) });
    expect(j.weights.byDtype.fp16.bytes).toBe(j.weights.bytes);
    expect(j.size.weightBin).toBeGreaterThan(j.weights.bytes);
    expect(j.size.package).toBeGreaterThan(j.size.weightBin);
    expect(j.suggestions.map((s) => s.command)[0]).toMatch(/--palettize 4 --group-size 16$/);
  });

  it.each([
    ['mlp_palette_4bit_kmeans', 'palettized', 'uint4'],
    ['mlp_palette_3bit_kmeans', 'palettized', 'uint3'],
    ['mlp_int4_per_block32', 'quantized', 'int4'],
    ['mlp_int8_per_channel', 'quantized', 'int8'],
    ['mlp_ios16_int8_per_channel', 'quantized', 'int8'],
    ['mlp_prune_50', 'sparse', 'uint1'],
    ['mlp_prune50_palette4', 'joint', 'uint4'],
    ['mlp_prune50_int8', 'joint', 'int8'],
  ])('%s: the two large weights are %s, stored as %s', async (name, kind, dtype) => {
    const j = await inspectJson(name);
    expect(j.weights.byKind[kind as 'joint'].count).toBe(2);
    expect(j.weights.byKind.const.count).toBe(2); // the biases
    expect(Object.keys(j.weights.byDtype)).toContain(dtype);
    const big = j.weights.list.filter((w) => w.elements === 256 * 1024);
    expect(big.map((w) => w.kind)).toEqual([kind, kind]);
    expect(big.every((w) => w.bitsPerWeight < 16)).toBe(true);
    expect(j.suggestions.filter((s) => s.message.includes('uncompressed'))).toEqual([]);
  });

  it('suggests states and SDPA fusion for an explicit-cache decoder step', async () => {
    const j = await inspectJson('kv_cache_io');
    const commands = j.suggestions.map((s) => s.command.split(' ').slice(0, 2).join(' '));
    expect(commands).toEqual(['silica compress', 'silica stateful', 'silica fuse-sdpa']);
    expect(j.suggestions[1].message).toContain('k_cache → k_cache_out');
    const stateful = await inspectJson('kv_cache_stateful');
    expect(stateful.functions[0].states.map((s) => s.name)).toEqual(['k_cache', 'v_cache']);
    expect(stateful.functions[0].states[0].type).toBe('state<fp16[1, 4, 32, 64]>');
  });

  it('a multifunction package: functions, default, shared weights counted once', async () => {
    const j = await inspectJson('multifunction');
    expect(j.multifunction).toBe(true);
    expect(j.defaultFunction).toBe('head_a');
    expect(j.functions.map((f) => f.name)).toEqual(['head_a', 'head_b']);
    // the feature extractor is read by both functions from one blob
    expect(j.size.constBytes).toBeLessThan(j.size.weightBin);
    expect(j.weights.bytes).toBe(j.size.constBytes - 8); // every const but the 4-element head_b bias is a weight
  });

  it('iOS16 models get an int8 suggestion (int4 and grouped LUTs need iOS18)', async () => {
    const j = await inspectJson('mlp_ios16');
    expect(j.target).toBe('iOS16');
    expect(j.suggestions[0].command).toMatch(/--quantize int8$/);
    expect(j.suggestions[0].message).toContain('need iOS18');
  });

  it('exit 3 with what to do for a missing path, a file, and a folder that is not a package', async () => {
    const dir = tempDir();
    const missing = await cli(['inspect', join(dir, 'nope.mlpackage')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('does not exist; give the path of an .mlpackage directory');
    writeFileSync(join(dir, 'file.mlpackage'), 'x');
    const file = await cli(['inspect', join(dir, 'file.mlpackage')]);
    expect(file.code).toBe(3);
    expect(file.stderr).toContain('is a file, not an .mlpackage directory');
    mkdirSync(join(dir, 'empty.mlpackage'));
    const empty = await cli(['inspect', join(dir, 'empty.mlpackage')]);
    expect(empty.code).toBe(3);
    expect(empty.stderr).toContain('has no Manifest.json');
  });

  it('exit 3 for a corrupt package, naming the file and the problem', async () => {
    const dir = tempDir();
    const pkg = join(dir, 'broken.mlpackage');
    cpSync(fixture('mlp'), pkg, { recursive: true });
    writeFileSync(join(pkg, 'Data', 'com.apple.CoreML', 'model.mlmodel'), Buffer.from([0x0a, 0xff, 0xff]));
    const r = await cli(['inspect', pkg, '--json']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('model.mlmodel');
    expect(r.json<{ error: { exitCode: number; kind: string } }>().error).toMatchObject({ exitCode: 3, kind: 'input' });
  });
});
