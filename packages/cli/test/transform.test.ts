/** `silica stateful`, `fuse-sdpa`, `merge`, `run` and `eval` on the fixtures. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareTensors, readNpy, readNpz, writeNpy } from '@silica/interpreter';
import { readMLPackage } from '@silica/mlpackage-reader';
import { describe, expect, it } from 'vitest';
import type { EvalSummary } from '../src/commands/eval.js';
import { parseMergeItem } from '../src/commands/merge.js';
import { cli, fixture, tempDir } from './helpers.js';

const opTypes = (p: Awaited<ReturnType<typeof readMLPackage>>): string[] => [...p.main.walk()].map((o) => o.type).filter((t) => t !== 'const');

describe('silica stateful / fuse-sdpa', () => {
  const dir = tempDir();

  it('stateful: kv_cache_io gets the op sequence of coremltools\' kv_cache_stateful; --check passes exactly', async () => {
    const out = join(dir, 'stateful.mlpackage');
    const r = await cli(['stateful', fixture('kv_cache_io'), '-o', out, '--check', '6', '--json']);
    expect(r.code).toBe(0);
    const j = r.json<{ states: string[]; check: { steps: number; passed: boolean; metrics: Record<string, { relativeL2: number }> } }>();
    expect(j.states).toEqual(['k_cache', 'v_cache']);
    expect(j.check.steps).toBe(6);
    expect(j.check.metrics.y.relativeL2).toBe(0);
    expect(opTypes(await readMLPackage(out))).toEqual(opTypes(await readMLPackage(fixture('kv_cache_stateful'))));
  });

  it('stateful: named pairs, padding, and errors for a model without caches (exit 6) or a bad pair (exit 2)', async () => {
    const padded = await cli(['stateful', fixture('kv_cache_io'), '-o', join(dir, 'named.mlpackage'), '--state', 'k_cache:k_cache_out:2', '--pad-to', '64', '--check', '--json']);
    expect(padded.code).toBe(0);
    const j = padded.json<{ states: string[]; passes: Array<{ stats: Record<string, number> }> }>();
    expect(j.states).toEqual(['k_cache']);
    expect(j.passes[0].stats).toMatchObject({ states: 1, padded: 1 });
    const none = await cli(['stateful', fixture('mlp'), '-o', join(dir, 'none.mlpackage')]);
    expect(none.code).toBe(6);
    expect(none.stderr).toContain('no explicit state found');
    expect(existsSync(join(dir, 'none.mlpackage'))).toBe(false);
    const bad = await cli(['stateful', fixture('kv_cache_io'), '-o', join(dir, 'bad.mlpackage'), '--state', 'k_cache']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected INPUT:OUTPUT[:SEQUENCE_AXIS]');
    const wrong = await cli(['stateful', fixture('kv_cache_io'), '-o', join(dir, 'wrong.mlpackage'), '--state', 'nope:nada']);
    expect(wrong.code).toBe(6);
    expect(wrong.stderr).toContain('no function has the input "nope" and the output "nada"');
  });

  it('fuse-sdpa: attention_decomposed becomes one SDPA; --check reports the fp16 error', async () => {
    const out = join(dir, 'fused.mlpackage');
    const r = await cli(['fuse-sdpa', fixture('attention_decomposed'), '-o', out, '--check', '3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('fused 1 attention block into scaled_dot_product_attention');
    expect(r.stdout).toMatch(/check: outputs match the original within relative L2 0\.01 over 3 steps/);
    const types = opTypes(await readMLPackage(out));
    expect(types.filter((t) => t === 'scaled_dot_product_attention')).toHaveLength(1);
    expect(types).not.toContain('softmax');
  });

  it('--check fails with exit 4 and writes nothing when the outputs move more than --tolerance', async () => {
    const out = join(dir, 'strict.mlpackage');
    const r = await cli(['fuse-sdpa', fixture('attention_decomposed'), '-o', out, '--check', '2', '--tolerance', '1e-9']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/--check: the SDPA fusion changed the outputs: y relative L2 \S+ > tolerance 1e-9 over 2 steps; nothing was written/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('silica merge', () => {
  const dir = tempDir();

  it('parses PACKAGE[:FUNCTION][=NAME]', () => {
    expect(parseMergeItem('a.mlpackage:main=fn1')).toEqual({ path: 'a.mlpackage', functionName: 'main', targetName: 'fn1' });
    expect(parseMergeItem('dir/b.mlpackage=fn2')).toEqual({ path: 'dir/b.mlpackage', functionName: undefined, targetName: 'fn2' });
    expect(parseMergeItem('c.mlpackage:decode')).toEqual({ path: 'c.mlpackage', functionName: 'decode', targetName: 'decode' });
    expect(parseMergeItem('my-model.mlpackage')).toMatchObject({ targetName: 'my_model' });
    expect(() => parseMergeItem('a.onnx=x')).toThrow('expected PACKAGE.mlpackage[:FUNCTION][=NAME]');
  });

  it('merges two heads into coremltools\' multifunction layout, storing the shared extractor once', async () => {
    const out = join(dir, 'heads.mlpackage');
    const r = await cli(['merge', `${fixture('mf_head_a')}:main=head_a`, `${fixture('mf_head_b')}:main=head_b`, '-o', out, '--default', 'head_a', '--json']);
    expect(r.code).toBe(0);
    const j = r.json<{ report: { bytes: { saved: number }; functions: Array<{ name: string }> }; size: { before: number; after: number } }>();
    expect(j.report.functions.map((f) => f.name)).toEqual(['head_a', 'head_b']);
    expect(j.report.bytes.saved).toBe(263168);
    expect(j.size.after).toBeLessThan(0.6 * j.size.before);
    const weights = (p: string) => readFileSync(join(p, 'Data/com.apple.CoreML/weights/weight.bin'));
    expect(weights(out).equals(weights(fixture('multifunction')))).toBe(true);
    const bad = await cli(['merge', `${fixture('mf_head_a')}=a`, `${fixture('mf_head_b')}=b`, '-o', join(dir, 'x.mlpackage'), '--default', 'c']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--default c is not one of the merged functions (a, b)');
    const dup = await cli(['merge', `${fixture('mf_head_a')}=a`, `${fixture('mf_head_b')}=a`, '-o', join(dir, 'y.mlpackage')]);
    expect(dup.code).toBe(6);
    expect(dup.stderr).toContain('"a"');
  });
});

describe('silica run / eval', () => {
  const dir = tempDir();
  const npz = readNpz(new Uint8Array(readFileSync(fixture('mlp.inputs.npz'))));
  const expected = readNpz(new Uint8Array(readFileSync(fixture('mlp.expected.npz'))));
  const xFile = join(dir, 'x.npy');
  writeFileSync(xFile, writeNpy(npz.x));

  it('run: outputs from a .npy input match the fixture\'s NumPy reference; --out writes .npy files', async () => {
    const out = join(dir, 'outputs');
    const r = await cli(['run', fixture('mlp'), '--input', `x=${xFile}`, '--out', out, '--json']);
    expect(r.code).toBe(0);
    const j = r.json<{ outputs: Record<string, { shape: number[]; dtype: string }>; written: string[] }>();
    expect(j.outputs.y).toMatchObject({ shape: [1, 256], dtype: 'fp32' });
    expect(j.written).toEqual([join(out, 'y.npy')]);
    const y = readNpy(new Uint8Array(readFileSync(join(out, 'y.npy'))));
    expect(compareTensors(expected.y, y).relativeL2).toBeLessThan(1e-2);
  });

  it('run: missing inputs are exit 3 naming them; --random-inputs fills them; --steps keeps states', async () => {
    const missing = await cli(['run', fixture('mlp')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('no data for "x" (fp32[1, 256]); give --input NAME=FILE.npy for each, or --random-inputs');
    const unknown = await cli(['run', fixture('mlp'), '--input', `z=${xFile}`]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('unknown input "z"; the function\'s inputs are x');
    const decode = await cli(['run', fixture('kv_cache_stateful'), '--random-inputs', '--steps', '3', '--json']);
    expect(decode.code).toBe(0);
    const j = decode.json<{ steps: number; states: string[]; outputs: Record<string, { shape: number[] }> }>();
    expect(j).toMatchObject({ steps: 3, states: ['k_cache', 'v_cache'] });
    expect(j.outputs.y.shape).toEqual([1, 1, 256]);
  });

  it('eval: random seeded inputs by default, the same figures twice, thresholds → exit 4', async () => {
    const a = await cli(['eval', fixture('mlp'), fixture('mlp_int8_per_channel'), '--samples', '3', '--json']);
    expect(a.code).toBe(0);
    const j = a.json<EvalSummary>();
    expect(j).toMatchObject({ command: 'eval', samples: 3, mode: 'samples', passed: true });
    expect(j.metrics.y.snr).toBeGreaterThan(30);
    expect(j.metrics.y.cosine).toBeGreaterThan(0.999);
    const b = await cli(['eval', fixture('mlp'), fixture('mlp_int8_per_channel'), '--samples', '3', '--json']);
    expect(b.json<EvalSummary>().metrics).toEqual(j.metrics);
    const strict = await cli(['eval', fixture('mlp'), fixture('mlp_palette_2bit_uniform'), '--samples', '2', '--min-snr', '40', '--min-cosine', '0.9999']);
    expect(strict.code).toBe(4);
    expect(strict.stderr).toMatch(/y: SNR -?[\d.]+ dB < --min-snr 40 dB; y: cosine -?[\d.]+ < --min-cosine 0.9999/);
  });

  it('eval: --inputs DIR of .npz samples; explicit caches against states compare as a decode loop', async () => {
    const samples = join(dir, 'samples');
    mkdirSync(samples);
    writeFileSync(join(samples, '0.npz'), readFileSync(fixture('mlp.inputs.npz')));
    const r = await cli(['eval', fixture('mlp'), fixture('mlp_int4_per_block32'), '--inputs', samples, '--json']);
    expect(r.code).toBe(0);
    expect(r.json<EvalSummary>()).toMatchObject({ samples: 1, inputs: `${samples} (1 sample)` });
    const d = await cli(['eval', fixture('kv_cache_io'), fixture('kv_cache_stateful'), '--samples', '4', '--json']);
    expect(d.code).toBe(0);
    const dj = d.json<EvalSummary>();
    expect(dj.mode).toBe('decode');
    expect(Object.keys(dj.metrics)).toEqual(['y']);
    expect(dj.metrics.y.relativeL2).toBeLessThan(1e-2);
  });
});
