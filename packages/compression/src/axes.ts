/**
 * Channel axes and block sizes (mil-ops.md §7.2, coremltools' `select_input_output_channel_axis`
 * and `infer_block_sizes`).
 *
 * | consumer                                        | output axis | input axis |
 * |-------------------------------------------------|-------------|------------|
 * | `conv_transpose`                                | 1           | 0          |
 * | `matmul`, weight is `y`, `transpose_y = false`  | −1          | −2         |
 * | `matmul`, weight is `y`, `transpose_y = true`   | −2          | −1         |
 * | `matmul`, weight is `x`, `transpose_x = false`  | −2          | −1         |
 * | `matmul`, weight is `x`, `transpose_x = true`   | −1          | −2         |
 * | anything else (`linear`, `conv`, …)             | 0           | 1          |
 *
 * Consumers that disagree make the axis unknown; granularities that need it are then
 * skipped (per-tensor and an explicit per-axis block list do not need it).
 */
import { type Op, type Target, type Value, constValueOf } from '@silica/ir';
import { CompressionConfigError } from './config.js';
import type { Weight } from './weights.js';

export interface ChannelAxes {
  /** Normalized output-channel axis of the dense weight, or undefined when consumers disagree. */
  readonly output: number | undefined;
  /** Normalized input-channel axis, or undefined when consumers disagree. */
  readonly input: number | undefined;
}

function flag(op: Op, param: string, target: Target): boolean {
  const v = op.input(param);
  if (!v) return false;
  const t = constValueOf(v, target);
  return t !== undefined && t.toNumbers()[0] !== 0;
}

/** (output, input) axes one consumer implies for the value it reads (§7.2 table), not normalized. */
export function consumerAxes(consumer: Op, weight: Value, target: Target): [number, number] {
  if (consumer.type === 'conv_transpose') return [1, 0];
  if (consumer.type === 'matmul') {
    if (consumer.input('y') === weight) return flag(consumer, 'transpose_y', target) ? [-2, -1] : [-1, -2];
    return flag(consumer, 'transpose_x', target) ? [-1, -2] : [-2, -1];
  }
  return [0, 1];
}

/** The channel axes of a weight's dense value, from all of its consumers. */
export function channelAxes(weight: Pick<Weight, 'dense' | 'denseShape' | 'consumers'>, target: Target): ChannelAxes {
  const rank = weight.denseShape.length;
  const outs = new Set<number>();
  const ins = new Set<number>();
  for (const c of weight.consumers) {
    const [o, i] = consumerAxes(c, weight.dense, target);
    outs.add(o < 0 ? o + rank : o);
    ins.add(i < 0 ? i + rank : i);
  }
  const pick = (s: Set<number>, fallback: number): number | undefined => (s.size === 0 ? fallback : s.size === 1 ? [...s][0] : undefined);
  return { output: pick(outs, 0), input: pick(ins, 1) };
}

export type Granularity = 'per_tensor' | 'per_channel' | 'per_grouped_channel' | 'per_block';

export interface BlockSizeRequest {
  readonly granularity: Granularity;
  /** per_block: block size along the input axis (int), or one entry per axis (0 = whole axis). */
  readonly blockSize?: number | readonly number[];
  /** per_grouped_channel: channels per group along the output axis (default 32). */
  readonly groupSize?: number;
  /** per_grouped_channel: overrides the inferred output axis. */
  readonly channelAxis?: number;
}

export type BlockSizes =
  | { readonly ok: true; readonly blockSizes: number[]; readonly channelAxis: number | undefined }
  | { readonly ok: false; readonly reason: string };

/**
 * Per-axis block sizes (0 = the whole axis) for a granularity (§7.2 second table), and the
 * output channel axis. Fails (`ok: false`) when an axis the granularity needs is unknown or
 * a dimension is not divisible by its block size — the weight is then skipped with that reason.
 * A per-axis list of the wrong length is a CompressionConfigError naming the weight.
 */
export function inferBlockSizes(label: string, shape: readonly number[], axes: ChannelAxes, req: BlockSizeRequest): BlockSizes {
  const rank = shape.length;
  let sizes: number[];
  let channelAxis = axes.output;
  if (req.granularity === 'per_block' && Array.isArray(req.blockSize)) {
    const list = req.blockSize as readonly number[];
    if (list.length !== rank) {
      throw new CompressionConfigError(
        `${label}: blockSize [${list.join(', ')}] has ${list.length} entries but the weight [${shape.join(', ')}] has ${rank} axes (one entry per axis, 0 = whole axis)`,
      );
    }
    sizes = [...list];
    const candidates = sizes.flatMap((b, k) => (b !== 0 && b !== shape[k] ? [k] : []));
    if (candidates.length === 1) channelAxis = candidates[0];
  } else if (req.granularity === 'per_tensor') {
    sizes = shape.map(() => 0);
  } else {
    if (axes.output === undefined || axes.input === undefined) {
      return { ok: false, reason: `its consumers disagree on the channel axes, which ${req.granularity} needs (mil-ops.md §7.2)` };
    }
    let out = axes.output;
    if (req.granularity === 'per_grouped_channel' && req.channelAxis !== undefined) {
      out = req.channelAxis < 0 ? req.channelAxis + rank : req.channelAxis;
      channelAxis = out;
    }
    const [outSize, inSize] =
      req.granularity === 'per_channel'
        ? [1, 0]
        : req.granularity === 'per_grouped_channel'
          ? [req.groupSize ?? 32, 0]
          : [1, (req.blockSize as number | undefined) ?? 32];
    sizes = shape.map(() => 0);
    if (axes.input < rank) sizes[axes.input] = inSize;
    if (out < rank) sizes[out] = outSize;
  }
  const bad = sizes.findIndex((b, k) => b > 0 && shape[k] % b !== 0);
  if (bad >= 0) {
    return { ok: false, reason: `dim ${bad} (${shape[bad]}) is not divisible by its block size ${sizes[bad]}` };
  }
  return { ok: true, blockSizes: sizes, channelAxis };
}

/** Number of blocks per axis: `shape[k] / blockSizes[k]`, 1 where the block size is 0. */
export function blockGridShape(shape: readonly number[], blockSizes: readonly number[]): number[] {
  return shape.map((d, k) => (blockSizes[k] > 0 ? d / blockSizes[k] : 1));
}
