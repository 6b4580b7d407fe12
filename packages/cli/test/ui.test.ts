/** Progress bars on a TTY, plain lines otherwise, --quiet and --json; the exit-code classification. */
import { describe, expect, it } from 'vitest';
import { EXIT, ModelError, exitCodeOf } from '../src/errors.js';
import { Ui } from '../src/ui.js';
import { Collector } from './helpers.js';

function makeUi(options: { tty: boolean; quiet?: boolean; json?: boolean }) {
  const stdout = new Collector(options.tty);
  const stderr = new Collector(options.tty);
  let t = 0;
  const ui = new Ui({ stdout, stderr, env: {}, cwd: '/', now: () => t }, { quiet: options.quiet ?? false, json: options.json ?? false, verbose: false });
  return { ui, stdout, stderr, tick: (ms: number) => (t += ms) };
}

describe('progress', () => {
  it('a TTY gets a bar redrawn in place with the count, percent and ETA', () => {
    const { ui, stderr, tick } = makeUi({ tty: true });
    const p = ui.progress('quantize', 'weights');
    tick(1000);
    p.update(1, 4, 'fc1');
    expect(stderr.text).toContain('\r\x1b[2Kquantize ██████░░░░░░░░░░░░░░░░░░ 1/4 weights  25%  ETA 0:03  fc1');
    tick(10); // within 80 ms: not redrawn
    p.update(2, 4, 'fc2');
    expect(stderr.text).not.toContain('2/4');
    tick(1000);
    p.update(3, 4, 'fc3');
    expect(stderr.text).toContain('3/4 weights  75%  ETA 0:01');
    ui.info('a note'); // clears the bar, writes, redraws
    expect(stderr.text).toMatch(/\r\x1b\[2Ka note\n\r\x1b\[2Kquantize/);
    p.finish();
    expect(stderr.text).toMatch(/\r\x1b\[2Kquantize: 3\/4 weights in 2 s\n$/);
  });

  it('without a TTY: plain lines at the start and every quarter, no escape codes', () => {
    const { ui, stderr, tick } = makeUi({ tty: false });
    const p = ui.progress('palettize', 'weights');
    for (let i = 1; i <= 8; i++) {
      tick(100);
      p.update(i, 8, `w${i}`);
    }
    p.finish();
    expect(stderr.text).not.toContain('\x1b');
    expect(stderr.text.split('\n').filter(Boolean)).toEqual([
      'palettize: 1/8 weights (12%)  w1',
      'palettize: 2/8 weights (25%)  w2',
      'palettize: 4/8 weights (50%)  w4',
      'palettize: 6/8 weights (75%)  w6',
      'palettize: 8/8 weights in 800 ms',
    ]);
  });

  it('--quiet prints neither progress nor notes; --json keeps stdout for the document', () => {
    const q = makeUi({ tty: true, quiet: true });
    const p = q.ui.progress('x');
    p.update(1, 2);
    p.finish();
    q.ui.info('note');
    q.ui.warn('careful');
    q.ui.result('table');
    expect(q.stderr.text).toBe('');
    expect(q.stdout.text).toBe('table\n');
    const j = makeUi({ tty: false, json: true });
    j.ui.result('table');
    j.ui.json({ snr: Infinity, n: 1 });
    expect(JSON.parse(j.stdout.text)).toEqual({ snr: 'Infinity', n: 1 });
  });
});

describe('exit codes', () => {
  class SilicaFormatError extends Error {}
  class CompressionConfigError extends Error {}
  class PipelineError extends Error {}
  class CompressionTargetError extends Error {}

  it('classifies the packages\' errors by class, through cause chains', () => {
    expect(exitCodeOf(new SilicaFormatError('bad'))).toBe(EXIT.input);
    expect(exitCodeOf(new PipelineError('pass failed', { cause: new SilicaFormatError('truncated blob') }))).toBe(EXIT.input);
    expect(exitCodeOf(new PipelineError('pass failed', { cause: new CompressionConfigError('conflict') }))).toBe(EXIT.usage);
    expect(exitCodeOf(new PipelineError('pass failed', { cause: new CompressionTargetError('int4 needs iOS18') }))).toBe(EXIT.model);
    expect(exitCodeOf(new PipelineError('pass "x" left an invalid program: …'))).toBe(EXIT.verification);
    expect(exitCodeOf(Object.assign(new Error('no space'), { code: 'ENOSPC' }))).toBe(EXIT.output);
    expect(exitCodeOf(new DOMException('stop', 'AbortError'))).toBe(EXIT.interrupted);
    expect(exitCodeOf(new ModelError('x'))).toBe(6);
    expect(exitCodeOf(new TypeError('undefined is not a function'))).toBe(EXIT.internal);
  });
});
