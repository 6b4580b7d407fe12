/** Pipeline files: schema errors, export/load round trip, running one with `silica pipeline`. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  PASS_FACTORIES,
  PASS_OPTION_SCHEMAS,
  PIPELINE_SCHEMA,
  PipelineFileError,
  type PipelineSpec,
  exportPipeline,
  loadPipeline,
  parsePipeline,
  validatePipeline,
} from '../src/pipeline-file.js';
import { REPO, cli, fixture, tempDir } from './helpers.js';

const base = (passes: unknown[]): unknown => ({ version: 1, source: 'in.mlpackage', passes, sink: 'out.mlpackage' });

function problems(spec: unknown): readonly string[] {
  try {
    validatePipeline(spec, 'p.json');
  } catch (e) {
    expect(e).toBeInstanceOf(PipelineFileError);
    return (e as PipelineFileError).problems;
  }
  throw new Error('expected a PipelineFileError');
}

describe('pipeline schema', () => {
  it('the pipeline files shown in the READMEs are valid', () => {
    for (const file of [join(REPO, 'README.md'), join(REPO, 'packages', 'cli', 'README.md')]) {
      const blocks = [...readFileSync(file, 'utf8').matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]) as unknown).filter((x) => typeof x === 'object' && x !== null && 'passes' in x);
      expect(blocks.length, file).toBeGreaterThan(0);
      for (const b of blocks) expect(() => validatePipeline(b, file)).not.toThrow();
    }
  });

  it('accepts every kind of step', () => {
    const spec: PipelineSpec = {
      version: 1,
      source: 'Model.mlpackage',
      passes: [
        { pass: 'prune', options: { targetSparsity: 0.5 } },
        { pass: 'palettize', options: { nbits: 4, granularity: 'per_grouped_channel', groupSize: 16, joint: true } },
        { pass: 'stateful-rewrite', options: { padTo: 32 } },
        { pass: 'sdpa-fusion' },
        { pass: 'calibrate', options: { algorithm: 'gptq', samples: 'calib/', config: { dtype: 'int4', granularity: 'per_block', blockSize: 32, opType: { conv: null } } } },
      ],
      sink: { path: 'Model-out.mlpackage', overwrite: true, deterministic: true },
    };
    expect(validatePipeline(spec)).toBe(spec);
  });

  it('unknown keys and pass names get a did-you-mean and the allowed list', () => {
    expect(problems(base([{ pass: 'palettise', options: {} }]))).toEqual([
      'passes[0].pass: "palettise" is not one of "quantize", "palettize", "prune", "calibrate", "stateful-rewrite", "sdpa-fusion", "sdpa-lowering", "sdpa-sliced-q", "dead-code-elimination", "canonicalize-quantized-lut" — did you mean "palettize"?',
    ]);
    expect(problems(base([{ pass: 'palettize', options: { nbit: 4 } }]))).toEqual([
      'passes[0].options: unknown key "nbit" — did you mean "nbits"? (allowed: mode, nbits, granularity, groupSize, channelAxis, clusterDim, enablePerChannelScale, weightThreshold, seed, opType, opName, joint, workers, inThreadBelow, spill, global)',
    ]);
  });

  it('types, enums, ranges and missing fields, every problem at once with its place', () => {
    const p = problems({
      version: 2,
      source: 'in.onnx',
      passes: [
        { pass: 'quantize', options: { dtype: 'int3', blockSize: 0, opName: { fc1: { granularity: 'per_row' } } } },
        { pass: 'prune', options: { targetSparsity: 1.5 } },
        { options: {} },
      ],
    });
    expect(p).toEqual(
      expect.arrayContaining([
        '(top level): missing "sink"',
        'version: must be 1, got 2',
        'source: must be the path of an .mlpackage, got "in.onnx"',
        'passes[0].options.dtype: "int3" is not one of "int8", "uint8", "int4", "uint4" — did you mean "int8"?',
        'passes[0].options.blockSize: must be >= 1, got 0',
        'passes[0].options.opName.fc1.granularity: "per_row" is not one of "per_tensor", "per_channel", "per_block"',
        'passes[1].options.targetSparsity: must be <= 1, got 1.5',
        'passes[2]: missing "pass"',
      ]),
    );
  });

  it('calibrate options are checked per algorithm', () => {
    expect(problems(base([{ pass: 'calibrate', options: { algorithm: 'sparsegpt' } }]))).toEqual(['passes[0].options: missing "config"']);
    expect(problems(base([{ pass: 'calibrate', options: { algorithm: 'gptq', config: { nbits: 4 } } }]))[0]).toMatch(/^passes\[0\]\.options\.config: unknown key "nbits"/);
  });

  it('bad JSON names the line and column', () => {
    expect(() => parsePipeline('{\n  "version": 1,\n  "source": "a.mlpackage",,\n}', 'p.json')).toThrow(/^p\.json: not valid JSON at line 3, column \d+/);
  });

  it('every schema pass has a factory and every factory a schema', () => {
    expect(Object.keys(PASS_FACTORIES).sort()).toEqual(Object.keys(PASS_OPTION_SCHEMAS).sort());
    expect((PIPELINE_SCHEMA.properties.passes.items.properties.pass.enum as readonly string[]).length).toBe(Object.keys(PASS_FACTORIES).length);
  });

  it('a factory refusal (what a schema cannot say) is a PipelineFileError naming the step', () => {
    expect(() => loadPipeline(base([{ pass: 'prune', options: {} }]) as PipelineSpec)).toThrow(
      'pipeline: passes[0] (prune): prune: say how to prune: targetSparsity or nmRatio (magnitude pruning), or threshold (threshold pruning)',
    );
  });
});

describe('exportPipeline / loadPipeline', () => {
  const dir = tempDir();

  it('round trip: export writes what load reads; relative paths resolve against the file', () => {
    const spec: PipelineSpec = {
      version: 1,
      source: 'models/in.mlpackage',
      passes: [
        { pass: 'quantize', options: { dtype: 'int8' } },
        { pass: 'calibrate', options: { algorithm: 'sensitive_kmeans', samples: 'calib', config: { nbits: 4 } } },
      ],
      sink: 'out/out.mlpackage',
    };
    const text = exportPipeline(spec);
    expect(JSON.parse(text)).toEqual(spec);
    expect(text.endsWith('}\n')).toBe(true);
    const file = join(dir, 'p.json');
    writeFileSync(file, text);
    const loaded = loadPipeline(file);
    expect(loaded.source).toBe(join(dir, 'models/in.mlpackage'));
    expect(loaded.sink).toBe(join(dir, 'out/out.mlpackage'));
    expect(loaded.passes.map((p) => p.name)).toEqual(['quantize', 'calibrate']);
    expect(loaded.overwrite).toBe(false);
    expect(() => exportPipeline({ ...spec, passes: [{ pass: 'nope' }] })).toThrow(PipelineFileError);
  });
});

describe('silica pipeline', () => {
  const dir = tempDir();

  it('runs a file: prune → joint palettize, writes the sink; --dry-run reads nothing', async () => {
    const file = join(dir, 'sparse.json');
    writeFileSync(
      file,
      exportPipeline({
        version: 1,
        source: fixture('mlp'),
        passes: [
          { pass: 'prune', options: { targetSparsity: 0.5, workers: 0 } },
          { pass: 'palettize', options: { nbits: 4, joint: true, workers: 0 } },
        ],
        sink: 'sparse.mlpackage',
      }),
    );
    const dry = await cli(['pipeline', file, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`is valid: ${fixture('mlp')} → prune → palettize → ${join(dir, 'sparse.mlpackage')}`);
    const r = await cli(['pipeline', file, '--json']);
    expect(r.code).toBe(0);
    const j = r.json<{ output: string; passes: Array<{ pass: string; changed: boolean }> }>();
    expect(j.output).toBe(join(dir, 'sparse.mlpackage'));
    expect(j.passes.map((p) => [p.pass, p.changed])).toEqual([
      ['prune', true],
      ['palettize', true],
    ]);
    const again = await cli(['pipeline', file]);
    expect(again.code).toBe(5);
  });

  it('schema errors exit 3 with every problem listed; --schema prints the schema', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ version: 1, source: 'a.mlpackage', passes: [{ pass: 'quantize', options: { dtype: 'int5', bits: 4 } }], sink: 'b.mlpackage' }));
    const r = await cli(['pipeline', file]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`error: ${file}: 2 problems:`);
    expect(r.stderr).toContain('passes[0].options: unknown key "bits"');
    expect(r.stderr).toContain('passes[0].options.dtype: "int5" is not one of');
    const s = await cli(['pipeline', '--schema']);
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout).title).toBe('Silica pipeline file');
    expect((await cli(['pipeline'])).code).toBe(2);
    const missing = await cli(['pipeline', join(dir, 'nope.json')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('cannot read pipeline file');
  });

  it('a pipeline file written by compress --save-pipeline runs again to the same package bytes', async () => {
    const first = join(dir, 'first.mlpackage');
    const file = join(dir, 'saved.json');
    const c = await cli(['compress', fixture('mlp'), '-o', first, '--palettize', '2', '--lut-mode', 'uniform', '--deterministic', '--save-pipeline', file, '-q']);
    expect(c.code).toBe(0);
    const spec = JSON.parse(readFileSync(file, 'utf8')) as PipelineSpec;
    writeFileSync(file, exportPipeline({ ...spec, sink: { path: 'second.mlpackage', deterministic: 'first.mlpackage' } }));
    expect((await cli(['pipeline', file, '-q'])).code).toBe(0);
    const bytes = (p: string) => readFileSync(join(p, 'Data/com.apple.CoreML/weights/weight.bin'));
    expect(bytes(join(dir, 'second.mlpackage')).equals(bytes(first))).toBe(true);
  });
});
