/**
 * Reading the coremltools fixtures: descriptions, states, multifunction, both constexpr
 * forms, lazy weights.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileTensor, constValueOf, formatType } from '@silica/ir';
import { readMLPackage } from '../src/index.js';

const FIXTURES = join(import.meta.dirname, '../../../../shared/fixtures');
const fixture = (n: string) => join(FIXTURES, `${n}.mlpackage`);
const meta = (n: string) => JSON.parse(readFileSync(join(FIXTURES, `${n}.json`), 'utf8'));

describe('readMLPackage on the fixtures', () => {
  for (const f of readdirSync(FIXTURES).filter((x) => x.endsWith('.mlpackage'))) {
    const name = f.replace('.mlpackage', '');
    it(`${name}: target as recorded`, async () => {
      const p = await readMLPackage(fixture(name));
      expect(p.target).toBe(meta(name).target);
    });
  }

  it('mlp: inputs, outputs, lazy weights, metadata', async () => {
    const p = await readMLPackage(fixture('mlp'));
    const fn = p.main;
    expect(fn.inputs.map((v) => `${v.name}: ${formatType(v.type)}`)).toEqual(['x: fp32[1, 256]']);
    expect(fn.outputs.map((v) => `${v.name}: ${formatType(v.type)}`)).toEqual(['y: fp32[1, 256]']);
    const w = fn.findValue('fc1_weight_to_fp16')!.producer!.constValue!;
    expect(w).toBeInstanceOf(FileTensor);
    expect(w.shape).toEqual([1024, 256]);
    expect(w.dtype).toBe('fp16');
    expect(p.metadata.userDefined['com.github.apple.coremltools.version']).toBe('9.1.dev1');
    expect(p.multifunction).toBe(false);
    expect(fn.ops.map((o) => o.type).filter((t) => t !== 'const')).toEqual(['cast', 'linear', 'gelu', 'linear', 'cast']);
  });

  it('multifunction: two functions, default head_a, one shared weight file', async () => {
    const p = await readMLPackage(fixture('multifunction'));
    expect([...p.functions.keys()]).toEqual(['head_a', 'head_b']);
    expect(p.defaultFunction).toBe('head_a');
    expect(p.multifunction).toBe(true);
    const a = p.getFunction('head_a').findValue('fe_weight_to_fp16')!.producer!.constValue as FileTensor;
    const b = p.getFunction('head_b').findValue('fe_weight_to_fp16')!.producer!.constValue as FileTensor;
    expect(a.offset).toBe(b.offset); // the same blob, stored once
    expect(a.hash().equals(b.hash())).toBe(true);
  });

  it('kv_cache_stateful: states are inputs of state type, touched by read_state/write_state', async () => {
    const p = await readMLPackage(fixture('kv_cache_stateful'));
    const fn = p.main;
    const states = fn.inputs.filter((v) => v.type.kind === 'state');
    expect(states.map((v) => `${v.name}: ${formatType(v.type)}`)).toEqual([
      'k_cache: state<fp16[1, 4, 32, 64]>',
      'v_cache: state<fp16[1, 4, 32, 64]>',
    ]);
    const types = fn.ops.map((o) => o.type);
    expect(types.filter((t) => t === 'write_state')).toHaveLength(2);
    expect(types.filter((t) => t === 'slice_update')).toHaveLength(2);
    for (const op of fn.ops.filter((o) => o.type === 'write_state')) expect(op.outputs).toHaveLength(0);
  });

  it('iOS16 constexpr attributes become const operands; the LUT decodes', async () => {
    const p = await readMLPackage(fixture('mlp_ios16_palette_4bit_kmeans'));
    const op = p.main.ops.find((o) => o.type === 'constexpr_lut_to_dense')!;
    expect([...op.inputs.keys()].sort()).toEqual(['indices', 'lut', 'shape']);
    expect(op.input('indices')!.type).toEqual({ kind: 'tensor', dtype: 'uint8', shape: [131072] });
    expect(op.input('shape')!.producer!.constValue!.toNumbers()).toEqual([1024, 256]);
    const dense = constValueOf(op.output, p.target)!;
    expect(dense.shape).toEqual([1024, 256]);
    expect(dense.dtype).toBe('fp16');
  });

  it('iOS18 constexpr inline values become const operands; two-output ops keep their order', async () => {
    const p = await readMLPackage(fixture('mlp_prune50_palette4'));
    const lts = p.main.ops.find((o) => o.type === 'constexpr_lut_to_sparse')!;
    expect(lts.outputs.map((v) => formatType(v.type))).toEqual(['uint1[1024, 256]', expect.stringMatching(/^fp16\[\d+\]$/)]);
    const std = lts.outputs[0].users[0];
    expect(std.type).toBe('constexpr_sparse_to_dense');
    expect(std.input('mask')).toBe(lts.outputs[0]);
    expect(std.input('nonzero_data')).toBe(lts.outputs[1]);
    expect(lts.input('indices_nonzero_data')!.type).toMatchObject({ dtype: 'uint4' });
  });

  it('eager mode reads the weights into memory', async () => {
    const p = await readMLPackage(fixture('mf_head_a'), { eager: true });
    for (const op of p.allOps()) if (op.constValue) expect(op.constValue.isLazy).toBe(false);
  });
});
