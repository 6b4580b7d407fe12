/** `silica demo`: a small decoder through stateful → SDPA → int4, the table, the packages. */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMLPackage } from '@silica/mlpackage-reader';
import { describe, expect, it } from 'vitest';
import type { DemoStage } from '../src/commands/demo.js';
import { buildDecoder, decoderCachePairs } from '../src/demo-model.js';
import { cli, tempDir } from './helpers.js';

const SMALL = ['--layers', '1', '--d-model', '64', '--heads', '2', '--cache', '32', '--vocab', '64', '--steps', '4'];

describe('silica demo', () => {
  const dir = tempDir();

  it('the decoder is deterministic and has explicit caches', () => {
    const c = { layers: 1, dModel: 64, heads: 2, cache: 32, vocab: 64, seed: 3 };
    const a = buildDecoder(c);
    const b = buildDecoder(c);
    const consts = (p: typeof a) => [...p.allOps()].filter((o) => o.type === 'const').map((o) => o.constValue!.hash().hex);
    expect(consts(a)).toEqual(consts(b));
    expect(a.main.inputs.map((v) => v.name)).toEqual(['x', 'pos', 'mask', 'k_cache_0', 'v_cache_0']);
    expect(a.main.outputs.map((v) => v.name)).toEqual(['logits', ...decoderCachePairs(c).map((p) => p.output)]);
  });

  it('--json: four stages, smaller and fused at the end, states from the second on, logits close to the original', async () => {
    const out = join(dir, 'json');
    const r = await cli(['demo', '--out', out, ...SMALL, '--json']);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    const j = r.json<{ stages: DemoStage[]; steps: number }>();
    expect(j.steps).toBe(4);
    expect(j.stages.map((s) => s.stage)).toEqual(['original (explicit KV cache)', '+ stateful-rewrite', '+ sdpa-fusion', '+ int4 per-block-32']);
    expect(j.stages.map((s) => s.states)).toEqual([0, 2, 2, 2]);
    const [orig, stateful, fused, int4] = j.stages;
    expect(orig.logits).toBeNull();
    expect(stateful.logits!.snr).toBe('Infinity'); // the rewrite is exact
    expect(fused.logits!.snr as number).toBeGreaterThan(40);
    expect(int4.logits!.snr as number).toBeGreaterThan(10);
    expect(int4.logits!.cosine).toBeGreaterThan(0.95);
    expect(int4.size).toBeLessThan(orig.size / 2.5);
    expect(fused.computeOps).toBeLessThan(stateful.computeOps);
    for (const s of j.stages) expect(s.stepsPerSecond).toBeGreaterThan(0);
    const final = await readMLPackage(int4.path);
    const types = new Set([...final.allOps()].map((o) => o.type));
    for (const t of ['read_state', 'write_state', 'scaled_dot_product_attention', 'constexpr_blockwise_shift_scale']) expect(types).toContain(t);
    expect(types).not.toContain('softmax');
  });

  it('prints the table; refuses a non-empty folder without --force (exit 5); bad sizes are usage errors', async () => {
    const out = join(dir, 'text');
    const r = await cli(['demo', '--out', out, ...SMALL]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/stage\s+size on disk\s+ops\s+states\s+logits SNR\s+cosine\s+decode steps\/s/);
    expect(r.stdout).toMatch(/\+ int4 per-block-32\s+[\d.]+ KiB/);
    expect(r.stdout).toContain('steps/s with the caches passed in and out');
    expect(existsSync(join(out, 'decoder-stateful-sdpa-int4.mlpackage'))).toBe(true);
    expect(r.stderr).toMatch(/\[1\/1\] quantize: done in/);
    const again = await cli(['demo', '--out', out, ...SMALL]);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain('pass --force to replace the demo packages in it');
    writeFileSync(join(dir, 'keep.txt'), 'mine');
    expect((await cli(['demo', '--out', out, ...SMALL, '--force', '-q'])).code).toBe(0);
    const bad = await cli(['demo', '--out', join(dir, 'bad'), '--d-model', '96', '--heads', '5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--d-model 96 must be a multiple of --heads 5');
  });
});
