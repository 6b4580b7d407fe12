import { describe, expect, it } from 'vitest';
import {
  Builder,
  type Logger,
  Op,
  type Pass,
  type PassContext,
  PipelineError,
  type Program,
  type ProgressEvent,
  VerificationError,
  buildProgram,
  cloneProgram,
  createPassContext,
  defaultVerify,
  pipeline,
  programConstBytes,
  tensorFromValues,
  tensorType,
} from '../src/index.js';

const f16 = (...shape: number[]) => tensorType('fp16', shape);

function sample(target: 'iOS17' | 'iOS18' = 'iOS18'): Program {
  return buildProgram(target, (p) =>
    p.function('main', { x: f16(1, 4) }, (b, { x }) => {
      const w = b.const(tensorFromValues('fp16', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]), { name: 'w' });
      return b.relu({ x: b.linear({ x, weight: w }, { name: 'lin' }) }, { name: 'y' });
    }),
  );
}

/** A pass that records its name (and the target it saw) in `log`. */
function recorder(name: string, log: string[], extra: Partial<Pass> = {}): Pass {
  return {
    name,
    run(_p, ctx) {
      log.push(`${name}@${ctx.target}`);
      return { changed: false };
    },
    ...extra,
  };
}

/** Adds an unused fp32[4] const (16 bytes). */
const addConst: Pass = {
  name: 'add-const',
  run(p) {
    new Builder(p.main, p.target, { before: p.main.ops[0] }).const(tensorFromValues('fp32', [4], [1, 2, 3, 4]));
    return { changed: true, stats: { added: 1, note: 'fp32' } };
  },
};

/** Breaks the program: the relu's stored type no longer matches its operand. */
const breaker: Pass = {
  name: 'breaker',
  run(p) {
    const y = p.main.findOp('y')!;
    const bad = new Op({ type: 'relu', name: 'bad', inputs: { x: y.input('x')! }, outputs: [{ name: 'bad', type: tensorType('fp32', [1, 2]) }] });
    p.main.block.append(bad);
    return { changed: true };
  },
};

async function failure(f: () => Promise<unknown>): Promise<PipelineError> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(PipelineError);
    return e as PipelineError;
  }
  throw new Error('expected the pipeline to fail');
}

describe('pipeline', () => {
  it('runs passes in list order and reports time, bytes and stats per pass', async () => {
    const log: string[] = [];
    const pl = pipeline([recorder('a', log), addConst, recorder('b', log)]);
    expect(pl.passes.map((p) => p.name)).toEqual(['a', 'add-const', 'b']);
    const input = sample();
    const bytes = programConstBytes(input);
    expect(bytes).toBe(16); // the fp16[2, 4] weight
    const { program, report } = await pl.runWithReport(input);
    expect(program).toBe(input);
    expect(log).toEqual(['a@iOS18', 'b@iOS18']);
    expect(report.map((r) => r.pass)).toEqual(['a', 'add-const', 'b']);
    expect(report.map((r) => [r.bytesIn, r.bytesOut, r.changed])).toEqual([
      [16, 16, false],
      [16, 32, true],
      [32, 32, false],
    ]);
    expect(report[1].stats).toEqual({ added: 1, note: 'fp32' });
    for (const r of report) {
      expect(typeof r.ms).toBe('number');
      expect(r.ms).toBeGreaterThanOrEqual(0);
    }
    // run() returns the program alone
    expect(await pipeline([recorder('c', log)]).run(sample())).toBeDefined();
  });

  it('uses the program a pass returns', async () => {
    const replacing: Pass = {
      name: 'replace',
      run(p) {
        const q = cloneProgram(p);
        q.main.name = 'main';
        return { program: q, changed: true };
      },
    };
    const seen: Program[] = [];
    const spy: Pass = {
      name: 'spy',
      run(p) {
        seen.push(p);
        return { changed: false };
      },
    };
    const input = sample();
    const out = await pipeline([replacing, spy]).run(input);
    expect(out).not.toBe(input);
    expect(seen).toEqual([out]);
  });

  it('checks requires against what earlier passes established', async () => {
    const log: string[] = [];
    const fuse = recorder('fuse', log, { requires: ['weights-deduplicated'] });
    const err = await failure(() => pipeline([recorder('a', log), fuse]).run(sample()));
    expect(err.message).toBe(
      'pass "fuse" (2 of 2; passes already run: a) requires "weights-deduplicated", which no earlier pass established (established so far: none); add a pass that establishes it before "fuse"',
    );
    expect(err.pass).toBe('fuse');
    expect(err.completed).toEqual(['a']);
    expect(log).toEqual(['a@iOS18']);

    const dedup = recorder('dedup', log, { establishes: ['weights-deduplicated'] });
    await expect(pipeline([dedup, fuse]).run(sample())).resolves.toBeDefined();
    await expect(pipeline([fuse]).run(sample(), { assume: ['weights-deduplicated'] })).resolves.toBeDefined();

    const churn = recorder('churn', log, { invalidates: ['weights-deduplicated'] });
    const err2 = await failure(() => pipeline([dedup, churn, fuse]).run(sample()));
    expect(err2.message).toMatch(/^pass "fuse" \(3 of 3; passes already run: dedup, churn\) requires "weights-deduplicated"/);
    const wipe = recorder('wipe', log, { invalidates: 'all' });
    await expect(pipeline([dedup, wipe, fuse]).run(sample())).rejects.toThrow('established so far: none');
  });

  it('checks minimumTarget against the program target at that point', async () => {
    const log: string[] = [];
    const sdpa = recorder('sdpa', log, { minimumTarget: 'iOS18' });
    const err = await failure(() => pipeline([sdpa]).run(sample('iOS17')));
    expect(err.message).toBe(
      'pass "sdpa" (1 of 1; no pass had run yet) needs deployment target iOS18 or newer, but the program targets iOS17; raise the program\'s target to iOS18',
    );
    expect(err.completed).toEqual([]);
    expect(log).toEqual([]);
    const raise: Pass = {
      name: 'raise',
      run(p) {
        p.target = 'iOS18';
        return { changed: true };
      },
    };
    await pipeline([raise, sdpa]).run(sample('iOS17'));
    expect(log).toEqual(['sdpa@iOS18']);
  });

  it('verifies after each pass and names the pass that broke the program', async () => {
    expect(defaultVerify()).toBe(true); // under vitest
    const log: string[] = [];
    const err = await failure(() => pipeline([recorder('a', log), breaker, recorder('b', log)]).run(sample()));
    expect(err.message).toBe(
      [
        'pass "breaker" (2 of 3; passes already run: a) left an invalid program: program fails verification (1 problem):',
        '  - function "main", op relu "bad": output 0 "bad" is stored as fp32[1, 2] but the iOS15 signature infers fp16[1, 2]',
      ].join('\n'),
    );
    expect(err.pass).toBe('breaker');
    expect(err.completed).toEqual(['a']);
    expect(err.cause).toBeInstanceOf(VerificationError);
    expect(log).toEqual(['a@iOS18']);
    // with verification off the broken program goes through
    await expect(pipeline([breaker]).run(sample(), { verify: false })).resolves.toBeDefined();
  });

  it('verifies the input before the first pass', async () => {
    const input = sample();
    input.main.block.setOutputs([]);
    const err = await failure(() => pipeline([addConst]).run(input));
    expect(err.message).toBe(
      'pipeline input fails verification before any pass ran: program fails verification (1 problem):\n  - function "main": has no outputs (a function must return at least one value)',
    );
    expect(err.pass).toBeNull();
  });

  it('names the failed pass and the passes before it when a pass throws', async () => {
    const log: string[] = [];
    const boom: Pass = {
      name: 'boom',
      run() {
        throw new Error('weight "w" has no channel axis');
      },
    };
    const err = await failure(() => pipeline([recorder('a', log), recorder('b', log), boom]).run(sample()));
    expect(err.message).toBe('pass "boom" (3 of 3; passes already run: a, b) failed: weight "w" has no channel axis');
    expect((err.cause as Error).message).toBe('weight "w" has no channel axis');
    const async: Pass = {
      name: 'async-boom',
      async run() {
        await new Promise((r) => setTimeout(r, 1));
        throw new Error('late');
      },
    };
    await expect(pipeline([async]).run(sample())).rejects.toThrow('pass "async-boom" (1 of 1; no pass had run yet) failed: late');
    const lazy = { name: 'lazy', run: () => undefined } as unknown as Pass;
    await expect(pipeline([lazy]).run(sample())).rejects.toThrow('pass "lazy" (1 of 1; no pass had run yet) returned undefined; a pass must return { changed: boolean, … }');
    expect(() => pipeline([{ name: '' } as unknown as Pass])).toThrow('pipeline: entry 0 is not a pass');
  });

  it('honours the AbortSignal between passes', async () => {
    const log: string[] = [];
    const ac = new AbortController();
    const stopper: Pass = {
      name: 'stopper',
      run() {
        ac.abort();
        return { changed: false };
      },
    };
    const err = await failure(() => pipeline([recorder('a', log), stopper, recorder('b', log)]).run(sample(), { signal: ac.signal }));
    expect(err.name).toBe('AbortError');
    expect(err.aborted).toBe(true);
    expect(err.message).toBe('pipeline aborted before pass "b" (3 of 3; passes already run: a, stopper)');
    expect(err.completed).toEqual(['a', 'stopper']);
    expect(log).toEqual(['a@iOS18']);
  });

  it('honours the AbortSignal inside a pass (ctx.signal)', async () => {
    const ac = new AbortController();
    let steps = 0;
    const long: Pass = {
      name: 'long',
      async run(_p, ctx: PassContext) {
        for (let i = 0; i < 1000; i++) {
          ctx.throwIfAborted();
          steps++;
          if (i === 4) ac.abort();
          await Promise.resolve();
        }
        return { changed: true };
      },
    };
    const err = await failure(() => pipeline([long]).run(sample(), { signal: ac.signal }));
    expect(err.message).toBe('pipeline aborted during pass "long" (1 of 1; no pass had run yet)');
    expect(err.aborted).toBe(true);
    expect(steps).toBe(5);
    // an already aborted signal stops before the first pass
    await expect(pipeline([long]).run(sample(), { signal: AbortSignal.abort() })).rejects.toThrow('pipeline aborted before pass "long"');
  });

  it('reports progress and forwards warnings to the logger', async () => {
    const events: ProgressEvent[] = [];
    const warned: string[] = [];
    const logger: Logger = { debug() {}, info() {}, warn: (m) => warned.push(m) };
    const worker: Pass = {
      name: 'worker',
      run(_p, ctx) {
        ctx.progress(1, 2, 'w');
        ctx.progress(2, 2, 'b');
        return { changed: false, warnings: ['skipped 1 weight below the threshold'] };
      },
    };
    const { report } = await pipeline([worker]).runWithReport(sample(), { onProgress: (e) => events.push(e), logger });
    expect(events.map((e) => (e.kind === 'progress' ? `${e.kind} ${e.done}/${e.total} ${e.label}` : `${e.kind} ${e.pass}`))).toEqual([
      'pass-start worker',
      'progress 1/2 w',
      'progress 2/2 b',
      'pass-end worker',
    ]);
    expect(warned).toEqual(['worker: skipped 1 weight below the threshold']);
    expect(report[0].warnings).toEqual(['skipped 1 weight below the threshold']);
  });

  it('gives a standalone pass context', () => {
    const seen: string[] = [];
    const ctx = createPassContext({ target: 'iOS18', progress: (d, t, l) => seen.push(`${d}/${t} ${l}`) });
    ctx.progress(3, 4, 'x');
    expect(seen).toEqual(['3/4 x']);
    expect(ctx.target).toBe('iOS18');
    expect(ctx.signal.aborted).toBe(false);
    expect(() => ctx.throwIfAborted()).not.toThrow();
  });
});
