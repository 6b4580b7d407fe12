/**
 * The loop every compression pass runs (`runCompression`): select the weights (§7.1) with
 * their configs, then per weight
 *
 *   prepare (main thread: target gates, block sizes, read the data)
 *     → kernel (the heavy math: a worker thread for large weights, this thread for small ones)
 *     → commit (main thread: build the constexpr ops, rewire the readers, drop the old const)
 *
 * with at most `pool size + 1` weights in flight, so memory stays bounded by a few weights
 * however large the model. Results are committed in program order whatever order the
 * workers finish in, so the output (op order, names) is deterministic.
 *
 * Returns a `CompressionResult`: the PassResult (`stats` = model summary) plus one
 * `WeightStats` per compressed weight and the skipped weights with their reasons.
 */
import { performance } from 'node:perf_hooks';
import { type Op, type PassContext, type PassResult, type Program, type Target, type Value, targetAtLeast } from '@silica/ir';
import { CompressionConfigError, type ConfigSet } from './config.js';
import { type Emitter, emitterFor, replaceValue } from './emit.js';
import { type ErrorMetrics, type WeightStats, representationBytes, summarizeStats } from './metrics.js';
import { type Kernel, WorkerPool, defaultPoolSize, runKernel } from './pool.js';
import { type SpillOptions, TensorSpill } from './spill.js';
import { CompressionTargetError, MINIMUM_COMPRESSION_TARGET } from './targets.js';
import { type JointRole, type SkippedWeight, type Weight, producerChain, selectWeights } from './weights.js';

/** A weight the compressor leaves alone, with the reason (reported as a warning). */
export interface Skip {
  readonly skip: string;
}

export function isSkip(x: unknown): x is Skip {
  return typeof x === 'object' && x !== null && typeof (x as Skip).skip === 'string';
}

/** What `prepare` hands to the kernel. */
export interface Prepared<A> {
  readonly args: A;
  /** Buffers in `args` the kernel may take over when it runs in a worker (fresh copies only). */
  readonly transfer?: readonly ArrayBuffer[];
  /** Elements of work; below `inThreadBelow` the kernel runs in this thread. */
  readonly work: number;
}

/** Every kernel result carries the error of the decompressed weight against the original. */
export interface KernelOutput {
  readonly metrics: ErrorMetrics;
}

export interface CompressorContext {
  readonly target: Target;
  /** `quantize: weight "w" (function "main")`, for messages. */
  readonly where: string;
  readonly joint: boolean;
}

/** One compression method, plugged into `runCompression`. */
export interface Compressor<C, A, R extends KernelOutput> {
  readonly pass: string;
  /** The heavy per-weight math; it may also decide to skip the weight (e.g. it holds ±inf). */
  readonly kernel: Kernel<A, R | Skip>;
  /** Constexpr parameters a const may feed under joint compression (§7.6). */
  readonly jointRoles?: readonly JointRole[];
  /** Under joint compression, compress the outputs of these constexpr ops instead of consts. */
  readonly constexprWeights?: readonly string[];
  /** The config's `weightThreshold`. */
  threshold(config: C): number;
  /** Config equality for the consumer-agreement check (default: canonical JSON). */
  same?(a: C | null, b: C | null): boolean;
  /** Short description for the stats, e.g. `int8 linear_symmetric per_channel`. */
  describe(config: C, weight: Weight): string;
  /** Main thread, in program order: gate the target, resolve block sizes, read the data. */
  prepare(weight: Weight, config: C, ctx: CompressorContext): Prepared<A> | Skip;
  /** Main thread, in program order: build the ops from the kernel result; return the value that replaces `weight.value`. */
  commit(weight: Weight, config: C, result: R, emitter: Emitter): Value | Skip;
}

export interface CompressionRunOptions {
  /** Worker threads: a count (0 = everything in this thread) or a pool to share. Default: `defaultPoolSize()`. */
  readonly workers?: number | WorkerPool;
  /** Weights with fewer elements are compressed in this thread (default 262,144). */
  readonly inThreadBelow?: number;
  /**
   * Write large compressed tensors to a temp file and keep FileTensors instead of bytes:
   * `'auto'` (default) when the weight itself was file-backed, `true` / options always, `false` never.
   */
  readonly spill?: 'auto' | boolean | SpillOptions;
}

export interface CompressionResult extends PassResult {
  /** Model-level summary (see summarizeStats). */
  stats: Record<string, number | string>;
  /** One line per skipped weight that the pass looked at in detail, and target changes. */
  warnings: string[];
  readonly weights: readonly WeightStats[];
  readonly skipped: readonly SkippedWeight[];
}

/** Checks the shared run options (called when a pass is built). */
export function checkRunOptions(pass: string, o: CompressionRunOptions): void {
  if (o.workers !== undefined && !(o.workers instanceof WorkerPool) && !(Number.isInteger(o.workers) && o.workers >= 0)) {
    throw new CompressionConfigError(`${pass}: workers must be a non-negative integer or a WorkerPool, got ${JSON.stringify(o.workers)}`);
  }
  if (o.inThreadBelow !== undefined && !(Number.isInteger(o.inThreadBelow) && o.inThreadBelow >= 0)) {
    throw new CompressionConfigError(`${pass}: inThreadBelow must be a non-negative integer, got ${JSON.stringify(o.inThreadBelow)}`);
  }
  const s = o.spill;
  if (s !== undefined && s !== 'auto' && typeof s !== 'boolean' && (typeof s !== 'object' || s === null)) {
    throw new CompressionConfigError(`${pass}: spill must be 'auto', true, false or { dir, minBytes }, got ${JSON.stringify(s)}`);
  }
}

interface InFlight<C, R> {
  readonly weight: Weight;
  readonly config: C;
  readonly method: string;
  readonly bytesBefore: number;
  readonly lazy: boolean;
  readonly inWorker: boolean;
  readonly result: Promise<{ r: R | Skip; ms: number }>;
}

/** Runs `compressor` over `program` in place (see the module comment). */
export async function runCompression<C, A, R extends KernelOutput>(
  program: Program,
  ctx: PassContext,
  compressor: Compressor<C, A, R>,
  configs: ConfigSet<C>,
  options: CompressionRunOptions & { readonly joint?: boolean } = {},
): Promise<CompressionResult> {
  const pass = compressor.pass;
  const joint = options.joint ?? false;
  const warnings: string[] = [];
  let changed = false;
  if (!targetAtLeast(program.target, MINIMUM_COMPRESSION_TARGET)) {
    // mil-ops.md §7 / mlpackage-format.md §12: the compression APIs re-emit at max(spec, 7)
    warnings.push(`the program targeted ${program.target}; constexpr ops need ${MINIMUM_COMPRESSION_TARGET}, so it now targets ${MINIMUM_COMPRESSION_TARGET}`);
    program.target = MINIMUM_COMPRESSION_TARGET;
    changed = true;
  }
  const target = program.target;
  if (joint && !targetAtLeast(target, 'iOS18')) throw new CompressionTargetError('joint compression', target, pass);

  const selection = selectWeights(program, {
    pass,
    configs,
    joint,
    jointRoles: compressor.jointRoles,
    constexprWeights: compressor.constexprWeights,
    threshold: (c) => compressor.threshold(c),
    same: compressor.same ? (a, b) => compressor.same!(a, b) : undefined,
  });
  const skipped: SkippedWeight[] = [...selection.skipped];
  const stats: WeightStats[] = [];

  const workers = options.workers ?? defaultPoolSize();
  const inThreadBelow = options.inThreadBelow ?? 1 << 18;
  let ownPool: WorkerPool | undefined;
  const poolFor = (work: number): WorkerPool | undefined => {
    if (work < inThreadBelow) return undefined;
    if (workers instanceof WorkerPool) return workers;
    if (workers === 0) return undefined;
    ownPool ??= new WorkerPool(workers);
    return ownPool;
  };
  const window = workers instanceof WorkerPool ? workers.size + 1 : workers + 1;
  const spillOpt = options.spill ?? 'auto';
  const spill = spillOpt === false ? undefined : new TensorSpill(typeof spillOpt === 'object' ? spillOpt : {});
  const spillAlways = spillOpt !== 'auto';

  const total = selection.selected.length;
  let done = 0;
  const pending: Array<InFlight<C, R>> = [];

  const commitNext = async (): Promise<void> => {
    const job = pending.shift()!;
    const { weight, config } = job;
    const where = `${pass}: ${weight.label}`;
    let out: { r: R | Skip; ms: number };
    try {
      out = await job.result;
    } catch (e) {
      throw new Error(`${where}: compression failed: ${(e as Error).message}`, { cause: e });
    }
    if (isSkip(out.r)) {
      skipped.push({ function: weight.fn.name, weight: weight.name, reason: out.r.skip });
      warnings.push(`${weight.label} skipped: ${out.r.skip}`);
      ctx.progress(++done, total, weight.name);
      return;
    }
    const r: R = out.r;
    const inserted: Op[] = [];
    const emitter = emitterFor(weight, target, pass, { onInsert: (op) => inserted.push(op) });
    const replacement = compressor.commit(weight, config, r, emitter);
    if (isSkip(replacement)) {
      skipped.push({ function: weight.fn.name, weight: weight.name, reason: replacement.skip });
      warnings.push(`${weight.label} skipped: ${replacement.skip}`);
      ctx.progress(++done, total, weight.name);
      return;
    }
    replaceValue(weight.value, replacement, weight.chain);
    if (spill && (spillAlways || job.lazy)) {
      for (const op of inserted) {
        const t = op.constValue;
        if (t && spill.wants(t)) op.attributes.set('val', spill.spill(t));
      }
    }
    const denseAfter = weight.chain.length > 0 ? weight.dense : replacement;
    const bytesAfter = representationBytes(denseAfter);
    const elements = weight.denseShape.reduce((a, b) => a * b, 1);
    stats.push({
      function: weight.fn.name,
      weight: weight.name,
      dense: denseAfter.name,
      shape: weight.denseShape,
      dtype: weight.denseDType,
      elements,
      method: job.method,
      ops: producerChain(denseAfter).chain.map((o) => o.type),
      bytesBefore: job.bytesBefore,
      bytesAfter,
      bitsPerWeight: elements === 0 ? 0 : (8 * bytesAfter) / elements,
      mse: r.metrics.mse,
      snrDb: r.metrics.snrDb,
      maxAbsError: r.metrics.maxAbsError,
      inWorker: job.inWorker,
      ms: out.ms,
    });
    changed = true;
    ctx.progress(++done, total, weight.name);
  };

  try {
    for (const { weight, config } of selection.selected) {
      ctx.throwIfAborted();
      const where = `${pass}: ${weight.label}`;
      const prepared = compressor.prepare(weight, config, { target, where, joint });
      if (isSkip(prepared)) {
        skipped.push({ function: weight.fn.name, weight: weight.name, reason: prepared.skip });
        warnings.push(`${weight.label} skipped: ${prepared.skip}`);
        ctx.progress(++done, total, weight.name);
        continue;
      }
      const pool = poolFor(prepared.work);
      const t0 = performance.now();
      const result = runKernel(pool, compressor.kernel, prepared.args, pool ? (prepared.transfer ?? []) : []).then((r) => ({
        r,
        ms: performance.now() - t0,
      }));
      result.catch(() => undefined); // awaited (and reported) in commitNext
      const { consts } = producerChain(weight.dense);
      pending.push({
        weight,
        config,
        method: compressor.describe(config, weight),
        bytesBefore: representationBytes(weight.dense),
        lazy: consts.some((c) => c.constValue?.isLazy === true),
        inWorker: pool !== undefined,
        result,
      });
      while (pending.length >= window) await commitNext();
    }
    while (pending.length > 0) await commitNext();
  } finally {
    spill?.close();
    if (ownPool) await ownPool.close();
  }

  return {
    changed,
    stats: summarizeStats(stats, skipped.length),
    warnings,
    weights: stats,
    skipped,
  };
}
