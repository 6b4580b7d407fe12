import { describe, expect, it } from 'vitest';
import { Function, Op, Program, createPassContext, pipeline, tensorType } from '@silica/ir';
import palettize from '../src/index.js';

/** main(x: fp32[1, 4]) -> relu(x) */
function reluProgram(): Program {
  const program = new Program('iOS18');
  const fn = program.addFunction(new Function('main', [{ name: 'x', type: tensorType('fp32', [1, 4]) }]));
  const relu = fn.block.append(
    new Op({ type: 'relu', inputs: { x: fn.inputs[0] }, outputs: [{ name: 'y', type: tensorType('fp32', [1, 4]) }] }),
  );
  fn.block.setOutputs([relu.output]);
  return program;
}

describe('palettize', () => {
  it('is named palettize', () => {
    expect(palettize().name).toBe('palettize');
  });

  it('rejects invalid options when the pass is built', () => {
    expect(() => palettize({ opTypes: [''] })).toThrow('palettize: opTypes must be non-empty op type names, got ""');
  });

  it('counts the ops of the selected types and leaves the program unchanged', async () => {
    const program = reluProgram();
    const ctx = createPassContext({ target: program.target });
    expect(await palettize({ opTypes: ['relu'] }).run(program, ctx)).toEqual({ changed: false, stats: { visited: 1 } });
    expect(await palettize({ opTypes: ['conv'] }).run(program, ctx)).toEqual({ changed: false, stats: { visited: 0 } });
  });

  it('runs in a pipeline', async () => {
    const program = reluProgram();
    const { report } = await pipeline([palettize()]).runWithReport(program);
    expect(report.map((r) => [r.pass, r.changed])).toEqual([['palettize', false]]);
  });
});
