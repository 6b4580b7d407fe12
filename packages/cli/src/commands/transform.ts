/**
 * `silica stateful PKG -o OUT` and `silica fuse-sdpa PKG -o OUT`: the transformer
 * rewrites, with `--check` running the original and the result in the interpreter on
 * seeded random inputs before anything is written (exit code 4 when they differ).
 */
import { type OutputMetrics, createSession, evaluate } from '@silica/interpreter';
import type { Pass, Program } from '@silica/ir';
import sdpaFusion, { sdpaSlicedQ } from '@silica/sdpa-fusion';
import statefulRewrite, { type StatefulRewriteOptions, detectStatePairs } from '@silica/stateful-rewrite';
import { UsageError, VerificationError } from '../errors.js';
import { readPackage, resolveFrom } from '../files.js';
import { formatBytes, formatCosine, formatDb, formatNumber, formatRatio, formatSci, table } from '../format.js';
import { type CachePair, compareDecode } from '../decode.js';
import { randomInputs } from '../inputs.js';
import { type RunResult, passReports, runOnPackage } from '../runner.js';
import type { Ui } from '../ui.js';

export interface CheckArgs {
  /** Compare before/after in the interpreter over this many steps (0 = no check). */
  readonly check?: number;
  readonly tolerance?: number;
  readonly seed?: number;
}

export interface StatefulArgs extends CheckArgs {
  readonly pkg: string;
  readonly out: string;
  readonly force: boolean;
  /** `input:output[:axis]` pairs; default: detect. */
  readonly state?: readonly string[];
  readonly padTo?: number;
  readonly allowTargetRaise?: boolean;
  readonly convertDtype?: boolean;
}

export interface FuseArgs extends CheckArgs {
  readonly pkg: string;
  readonly out: string;
  readonly force: boolean;
  readonly functions?: readonly string[];
  readonly keepFloatMasks?: boolean;
  /** Also slice long-query SDPA (minimum query length). */
  readonly slicedQ?: number;
}

export interface CheckResult {
  readonly steps: number;
  readonly tolerance: number;
  readonly metrics: Record<string, OutputMetrics>;
  readonly passed: boolean;
}

function parseStates(specs: readonly string[]): StatefulRewriteOptions['states'] {
  return specs.map((s) => {
    const m = /^([^:]+):([^:]+)(?::(\d+))?$/.exec(s);
    if (!m) throw new UsageError(`--state ${s}: expected INPUT:OUTPUT[:SEQUENCE_AXIS], e.g. --state k_cache:k_cache_out:2`);
    return { input: m[1], output: m[2], ...(m[3] !== undefined ? { sequenceAxis: Number(m[3]) } : {}) };
  });
}

function judge(metrics: Record<string, OutputMetrics>, tolerance: number, steps: number, what: string): CheckResult {
  const bad = Object.entries(metrics).filter(([, m]) => !(m.relativeL2 <= tolerance));
  if (bad.length > 0) {
    throw new VerificationError(
      `--check: ${what} changed the outputs: ${bad.map(([n, m]) => `${n} relative L2 ${formatSci(m.relativeL2)}`).join(', ')} > tolerance ${tolerance} over ${steps} step${steps === 1 ? '' : 's'}; nothing was written. Rerun without --check to write it anyway, or raise --tolerance if this much error is expected`,
    );
  }
  return { steps, tolerance, metrics, passed: true };
}

function renderCheck(c: CheckResult): string {
  return [
    `check: outputs match the original within relative L2 ${c.tolerance} over ${c.steps} step${c.steps === 1 ? '' : 's'} (interpreter, seeded random inputs)`,
    table(
      ['output', 'relative L2', 'SNR', 'cosine', 'max |error|'],
      Object.entries(c.metrics).map(([n, m]) => [n, formatSci(m.relativeL2), formatDb(m.snr), formatCosine(m.cosine), m.maxAbsError.toPrecision(3)]),
      { indent: 2 },
    ),
  ].join('\n');
}

function renderRun(r: RunResult, lines: string[]): string {
  return [
    table(
      ['pass', 'stats', 'warnings'],
      r.report.map((p) => [p.pass, Object.entries(p.stats).map(([k, v]) => `${k} ${typeof v === 'number' ? formatNumber(v, 3) : v}`).join(', '), String(p.warnings.length)]),
      { align: ['left', 'left', 'right'] },
    ),
    '',
    `${r.output}: ${r.computeOpsBefore} → ${r.computeOpsAfter} ops (consts not counted), ${formatBytes(r.sizeBefore)} → ${formatBytes(r.sizeAfter)} on disk${Math.abs(r.sizeAfter - r.sizeBefore) > 0.01 * r.sizeBefore ? ` (${formatRatio(r.sizeBefore, r.sizeAfter)} smaller)` : ''}`,
    ...lines,
  ].join('\n');
}

function summaryOf(command: string, r: RunResult, check: CheckResult | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    command,
    input: r.input,
    output: r.output,
    passes: passReports(r.report),
    ops: { before: r.opsBefore, after: r.opsAfter, computeBefore: r.computeOpsBefore, computeAfter: r.computeOpsAfter },
    size: { before: r.sizeBefore, after: r.sizeAfter },
    ...(check ? { check } : {}),
    ...extra,
  };
}

export async function statefulCommand(ui: Ui, args: StatefulArgs): Promise<Record<string, unknown>> {
  const input = resolveFrom(ui.io.cwd, args.pkg);
  const output = resolveFrom(ui.io.cwd, args.out);
  const options: StatefulRewriteOptions = {
    ...(args.state && args.state.length > 0 ? { states: parseStates(args.state) } : {}),
    ...(args.padTo !== undefined ? { padTo: args.padTo } : {}),
    ...(args.allowTargetRaise ? { allowTargetRaise: true } : {}),
    ...(args.convertDtype ? { convertDtype: true } : {}),
  };
  let pass: Pass;
  try {
    pass = statefulRewrite(options);
  } catch (e) {
    throw new UsageError((e as Error).message, { cause: e });
  }
  let check: CheckResult | undefined;
  const r = await runOnPackage(ui, {
    input,
    output,
    passes: [pass],
    force: args.force,
    unchanged: `no explicit state found in ${args.pkg}: no function has a cache input whose updated contents it returns as an output; name the pairs with --state INPUT:OUTPUT if detection missed them (silica inspect lists the candidates)`,
    beforeWrite: async (program) => {
      if (!args.check) return;
      const original = await readPackage(input);
      const pairs: CachePair[] = options.states
        ? options.states.map((s) => ({ input: s.input, output: s.output }))
        : detectStatePairs(original).pairs.map((p) => ({ input: p.input, output: p.output }));
      const fns = [...new Set(options.states ? [...original.functions.keys()] : detectStatePairs(original).pairs.map((p) => p.function))];
      const bar = ui.progress('check', 'steps');
      const metrics: Record<string, OutputMetrics> = {};
      for (const fn of fns.length > 0 ? fns : [undefined]) {
        const mine = fn === undefined ? pairs : pairs.filter((p) => original.getFunction(fn).inputs.some((v) => v.name === p.input));
        const c = compareDecode(original, program, { steps: args.check, seed: args.seed ?? 0, pairs: mine, function: fn, signal: ui.io.signal, onStep: (d, t) => bar.update(d, t, fn ?? '') });
        for (const [k, m] of Object.entries(c.metrics)) metrics[fns.length > 1 ? `${fn}/${k}` : k] = m;
      }
      bar.finish();
      check = judge(metrics, args.tolerance ?? 1e-2, args.check, 'the stateful rewrite');
    },
  });
  const fn = r.program.getFunction();
  const states = fn.inputs.filter((v) => v.type.kind === 'state').map((v) => v.name);
  const summary = summaryOf('stateful', r, check, { states });
  ui.json(summary);
  ui.result(renderRun(r, [`function ${fn.name}: states ${states.join(', ') || 'none'}; outputs ${fn.outputs.map((v) => v.name).join(', ')}`, ...(check ? ['', renderCheck(check)] : [])]));
  return summary;
}

export async function fuseCommand(ui: Ui, args: FuseArgs): Promise<Record<string, unknown>> {
  const input = resolveFrom(ui.io.cwd, args.pkg);
  const output = resolveFrom(ui.io.cwd, args.out);
  const passes: Pass[] = [];
  try {
    passes.push(sdpaFusion({ recoverBoolMasks: !args.keepFloatMasks, ...(args.functions && args.functions.length > 0 ? { functions: args.functions } : {}) }));
    if (args.slicedQ !== undefined) passes.push(sdpaSlicedQ({ minSeqLength: args.slicedQ, ...(args.functions && args.functions.length > 0 ? { functions: args.functions } : {}) }));
  } catch (e) {
    throw new UsageError((e as Error).message, { cause: e });
  }
  let check: CheckResult | undefined;
  const r = await runOnPackage(ui, {
    input,
    output,
    passes,
    force: args.force,
    unchanged: `no decomposed attention block in ${args.pkg} matches matmul(softmax(mask + scale · matmul(q, kᵀ)), v) (see the @silica/sdpa-fusion README for the accepted forms)`,
    beforeWrite: async (program) => {
      if (!args.check) return;
      const original = await readPackage(input);
      const metrics: Record<string, OutputMetrics> = {};
      const bar = ui.progress('check', 'functions');
      const names = [...original.functions.keys()];
      names.forEach((fn, i) => {
        const session = createSession(original, { function: fn });
        const samples = Array.from({ length: args.check! }, (_, step) => randomInputs(session.inputs, { seed: (args.seed ?? 0) + step, step, fn: original.getFunction(fn) }));
        const res = evaluate(original, program, samples, { functionA: fn, functionB: fn });
        for (const [k, m] of Object.entries(res.metrics)) metrics[names.length > 1 ? `${fn}/${k}` : k] = m;
        bar.update(i + 1, names.length, fn);
      });
      bar.finish();
      check = judge(metrics, args.tolerance ?? 1e-2, args.check, 'the SDPA fusion');
    },
  });
  const fused = r.report.reduce((a, p) => a + (typeof p.stats.fused === 'number' ? p.stats.fused : 0), 0);
  const summary = summaryOf('fuse-sdpa', r, check, { fused });
  ui.json(summary);
  ui.result(
    renderRun(r, [
      `fused ${fused} attention block${fused === 1 ? '' : 's'} into scaled_dot_product_attention`,
      ...(check ? ['', renderCheck(check)] : []),
    ]),
  );
  return summary;
}
