/**
 * The pass contract: names, option checks when a pass is built, target checks, pipelines,
 * cancellation.
 */
import { describe, expect, it } from 'vitest';
import { PipelineError, createPassContext, pipeline, silentLogger } from '@silica/ir';
import sdpaFusion, { SDPA_MINIMUM_TARGET, sdpaFusion as named, sdpaLowering, sdpaSlicedQ } from '../src/index.js';
import { buildAttention, countOps } from './helpers.js';

describe('pass factories', () => {
  it('are named, and the fusion and sliced-Q passes need iOS18', () => {
    expect(named).toBe(sdpaFusion);
    expect(sdpaFusion()).toMatchObject({ name: 'sdpa-fusion', minimumTarget: 'iOS18' });
    expect(sdpaSlicedQ()).toMatchObject({ name: 'sdpa-sliced-q', minimumTarget: 'iOS18' });
    expect(sdpaLowering().name).toBe('sdpa-lowering');
    expect(sdpaLowering().minimumTarget).toBeUndefined();
    expect(SDPA_MINIMUM_TARGET).toBe('iOS18');
  });

  it('check their options when built', () => {
    expect(() => sdpaFusion({ recoverBoolMasks: 'yes' as never })).toThrow('sdpa-fusion: recoverBoolMasks must be a boolean, got "yes"');
    expect(() => sdpaFusion({ fuse: true } as never)).toThrow('sdpa-fusion: unknown option "fuse" (options: recoverBoolMasks, functions)');
    expect(() => sdpaFusion({ functions: [] })).toThrow('sdpa-fusion: functions must be a non-empty array of function names, got []');
    expect(() => sdpaFusion({ functions: [''] })).toThrow('sdpa-fusion: functions must be non-empty function names, got ""');
    expect(() => sdpaLowering({ target: 'iOS99' as never })).toThrow('sdpa-lowering: target must be one of iOS15, iOS16, iOS17, iOS18, iOS26, got "iOS99"');
    expect(() => sdpaLowering({ target: 'iOS17', functions: ['main'] })).toThrow(
      'sdpa-lowering: a target below iOS18 needs every function lowered; drop the functions option or the target',
    );
    expect(() => sdpaSlicedQ({ minSeqLength: -1 })).toThrow('sdpa-sliced-q: minSeqLength must be an integer ≥ 0, got -1');
    expect(() => sdpaSlicedQ({ minSeqLength: 1.5 })).toThrow('sdpa-sliced-q: minSeqLength must be an integer ≥ 0, got 1.5');
    expect(() => sdpaSlicedQ({ seqLengthDivider: 0 })).toThrow('sdpa-sliced-q: seqLengthDivider must be an integer ≥ 1, got 0');
    expect(() => sdpaSlicedQ(null as never)).toThrow('sdpa-sliced-q: options must be an object, got null');
  });

  it('name an unknown function', () => {
    const { program } = buildAttention();
    expect(() => sdpaFusion({ functions: ['decode'] }).run(program, createPassContext({ target: program.target, logger: silentLogger }))).toThrow(
      'sdpa-fusion: no function named "decode" (functions: main)',
    );
  });
});

describe('targets', () => {
  it('the fusion refuses a program below iOS18, run alone or in a pipeline', async () => {
    const { program } = buildAttention({ target: 'iOS17' });
    expect(() => sdpaFusion().run(program, createPassContext({ target: program.target, logger: silentLogger }))).toThrow(
      "sdpa-fusion: scaled_dot_product_attention needs deployment target iOS18 or newer, but the program targets iOS17; raise the program's target to iOS18, or keep the decomposed attention",
    );
    await expect(pipeline([sdpaFusion()]).run(program)).rejects.toThrow(PipelineError);
    await expect(pipeline([sdpaFusion()]).run(program)).rejects.toThrow('needs deployment target iOS18 or newer, but the program targets iOS17');
    expect(countOps(program, 'softmax')).toBe(1);
  });

  it('the fusion runs at iOS26 too', async () => {
    const { program } = buildAttention({ target: 'iOS26' });
    const out = await pipeline([sdpaFusion()]).run(program);
    expect(countOps(out, 'scaled_dot_product_attention')).toBe(1);
  });
});

describe('pipelines', () => {
  it('fusion → sliced-Q → lowering to iOS17 reports each pass', async () => {
    const { program } = buildAttention({ L: 12, S: 12, maskShape: [12, 12], mask: 'bool-sub' });
    const { program: out, report } = await pipeline([
      sdpaFusion(),
      sdpaSlicedQ({ minSeqLength: 12, seqLengthDivider: 4 }),
      sdpaLowering({ target: 'iOS17' }),
    ]).runWithReport(program);
    expect(report.map((r) => [r.pass, r.changed, r.stats])).toEqual([
      ['sdpa-fusion', true, { fused: 1, boolMasks: 1, floatMasks: 0, scaled: 0, tiled: 0 }],
      ['sdpa-sliced-q', true, { sliced: 1, chunks: 4, kept: 0 }],
      ['sdpa-lowering', true, { lowered: 0, target: 'iOS17' }],
    ]);
    expect(out.target).toBe('iOS17');
    expect(countOps(out, 'softmax')).toBe(4);
  });

  it('stops when the signal is aborted', async () => {
    const { program } = buildAttention();
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    expect(() => sdpaFusion().run(program, createPassContext({ target: program.target, signal: controller.signal, logger: silentLogger }))).toThrow('stop');
    expect(countOps(program, 'softmax')).toBe(1);
  });
});
