/**
 * Per-layer comparison of a program before and after compression, for `--report`: each
 * weight is found in both programs by the op that reads it (function, reader op name,
 * parameter — op names survive the passes), decompressed, and compared, so the figures
 * are against the original weights even after several passes (joint compression).
 *
 * For the layers shown in detail: a histogram of the original weights, one of the
 * decompressed weights, and what the compression put over them — the LUT entries, the
 * quantization grid, or the pruning threshold.
 */
import { errorMetrics, materialize, paramOf, producerChain, representationBytes } from '@silica/compression';
import type { Op, Program, Value } from '@silica/ir';
import { UsageError } from './errors.js';
import { type WeightKind, findWeights, weightKind } from './inspect.js';

export interface LayerRow {
  readonly function: string;
  /** The weight's name in the original program. */
  readonly name: string;
  /** The value the reading op sees after compression. */
  readonly dense: string;
  readonly readBy: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly elements: number;
  readonly kind: WeightKind;
  readonly ops: readonly string[];
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  readonly bitsPerWeight: number;
  readonly snrDb: number;
  readonly mse: number;
  readonly maxAbsError: number;
}

export interface Overlay {
  readonly kind: 'lut' | 'grid' | 'threshold';
  /** Positions of the lines, in weight units. */
  readonly values: readonly number[];
  /** A short legend label. */
  readonly label: string;
  /** What exactly is drawn (which group, block or channel). */
  readonly note: string;
}

export interface Histogram {
  readonly layer: string;
  readonly function: string;
  readonly kind: WeightKind;
  /** Range of the bins (the original weights' min and max). */
  readonly lo: number;
  readonly hi: number;
  /** Counts of the original and of the decompressed weights per bin. */
  readonly original: readonly number[];
  readonly compressed: readonly number[];
  readonly overlays: readonly Overlay[];
  /** Fraction of zeros after compression. */
  readonly sparsity: number;
}

export interface LayerComparison {
  /** Weights whose representation changed. */
  readonly layers: readonly LayerRow[];
  /** Weights left as they were (below the threshold, rank 1, skipped). */
  readonly untouched: number;
  readonly histograms: readonly Histogram[];
}

interface Site {
  readonly fn: string;
  readonly value: Value;
  readonly reader: Op;
  readonly chain: Op[];
}

function sites(program: Program): Map<string, Site> {
  const out = new Map<string, Site>();
  for (const w of findWeights(program)) {
    const reader = w.readers[0];
    const key = `${w.fn}\u0000${reader.name}\u0000${paramOf(reader, w.value) ?? ''}`;
    out.set(key, { fn: w.fn, value: w.value, reader, chain: w.chain });
  }
  return out;
}

/** The weight's name in the original: the const it was read from (or the chain's last op). */
function originalName(s: Site): string {
  return s.value.producer?.type === 'const' ? s.value.producer.name : s.value.name;
}

const RANGES: Readonly<Record<string, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int4: [-8, 7],
  uint4: [0, 15],
  int3: [-4, 3],
  uint3: [0, 7],
  int2: [-2, 1],
  uint2: [0, 3],
  uint1: [0, 1],
  uint6: [0, 63],
  int16: [-32768, 32767],
  uint16: [0, 65535],
};

function floats(v: Value | undefined, program: Program): Float32Array | undefined {
  if (!v) return undefined;
  return materialize(v, program.target).toFloat32();
}

/** The LUT entries, quantization grid and/or pruning threshold of a compressed weight. */
export function overlaysOf(value: Value, program: Program, decompressed: Float32Array): Overlay[] {
  const { chain } = producerChain(value);
  const out: Overlay[] = [];
  const lut = chain.find((o) => o.type === 'constexpr_lut_to_dense' || o.type === 'constexpr_lut_to_sparse');
  if (lut) {
    const lutValue = lut.input('lut')!;
    const t = materialize(lutValue, program.target);
    const shape = t.shape;
    const entries = shape.length >= 2 ? shape[shape.length - 2] : t.size;
    const vector = shape.length >= 2 ? shape[shape.length - 1] : 1;
    const groups = Math.max(1, Math.round(t.size / (entries * vector)));
    let values = Array.from(t.toFloat32().subarray(0, entries * vector));
    let note = groups > 1 ? `LUT of group 1 of ${groups} (${entries} entries)` : `LUT (${entries} entries)`;
    if (vector > 1) note += `, vectors of ${vector}`;
    // a per-channel scale after the LUT (enablePerChannelScale): the entries are scaled per channel
    const scaled = chain.find((o) => o.type === 'constexpr_blockwise_shift_scale' && chain.indexOf(o) > chain.indexOf(lut) && o.input('data')?.producer === lut);
    if (scaled) {
      const s = floats(scaled.input('scale'), program)!;
      values = values.map((x) => x * s[0]);
      note += ', times the scale of channel 0';
    }
    out.push({ kind: 'lut', values, label: vector > 1 ? 'LUT entries (vector components)' : 'LUT entries', note });
  } else {
    const q = chain.find((o) => o.type === 'constexpr_blockwise_shift_scale' || o.type === 'constexpr_sparse_blockwise_shift_scale' || o.type === 'constexpr_affine_dequantize');
    if (q) {
      const dataParam = q.type === 'constexpr_affine_dequantize' ? 'quantized_data' : q.type === 'constexpr_sparse_blockwise_shift_scale' ? 'nonzero_data' : 'data';
      const offsetParam = q.type === 'constexpr_affine_dequantize' ? 'zero_point' : 'offset';
      const dataType = q.input(dataParam)?.type;
      const range = dataType?.kind === 'tensor' ? RANGES[dataType.dtype] : undefined;
      const scale = floats(q.input('scale'), program);
      if (range && scale && scale.length > 0) {
        let k = 0;
        for (let i = 1; i < scale.length; i++) if (Math.abs(scale[i]) > Math.abs(scale[k])) k = i;
        const offsets = floats(q.input(offsetParam), program);
        const zero = offsets ? (offsets.length === scale.length ? offsets[k] : offsets[0]) : 0;
        const values: number[] = [];
        for (let c = range[0]; c <= range[1]; c++) values.push(scale[k] * (c - zero));
        const dtype = dataType!.kind === 'tensor' ? dataType!.dtype : '';
        out.push({
          kind: 'grid',
          values,
          label: `${dtype} quantization grid`,
          note: scale.length > 1 ? `${dtype} grid of the block with the largest scale (1 of ${scale.length} scales)` : `${dtype} grid`,
        });
      }
    }
  }
  if (chain.some((o) => o.type === 'constexpr_sparse_to_dense' || o.type === 'constexpr_lut_to_sparse')) {
    let t = Infinity;
    for (const x of decompressed) if (x !== 0 && Math.abs(x) < t) t = Math.abs(x);
    if (Number.isFinite(t)) out.push({ kind: 'threshold', values: [-t, t], label: 'pruning threshold', note: `pruning threshold: the smallest kept magnitude is ±${t.toPrecision(3)}` });
  }
  return out;
}

function histogram(values: Float32Array, lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const width = hi > lo ? (hi - lo) / bins : 1;
  for (const x of values) {
    if (!Number.isFinite(x)) continue;
    const b = Math.min(bins - 1, Math.max(0, Math.floor((x - lo) / width)));
    counts[b]++;
  }
  return counts;
}

export interface CompareOptions {
  /** Layers (original weight names) to draw histograms of; default: the largest, the worst and the best by SNR. */
  readonly detail?: readonly string[];
  /** At most this many default histograms (default 3). */
  readonly maxDetail?: number;
  readonly bins?: number;
}

/** Compares the weights of `before` and `after` (see the module comment). */
export function compareLayers(before: Program, after: Program, options: CompareOptions = {}): LayerComparison {
  const a = sites(before);
  const b = sites(after);
  const layers: LayerRow[] = [];
  const pairs = new Map<string, { orig: Site; final: Site }>();
  let untouched = 0;
  for (const [key, orig] of a) {
    const final = b.get(key);
    if (!final) continue;
    const bytesBefore = representationBytes(orig.value);
    const bytesAfter = representationBytes(final.value);
    const sameChain = orig.chain.length === final.chain.length && orig.chain.every((o, i) => o.type === final.chain[i].type);
    if (sameChain && bytesBefore === bytesAfter && final.value.name === orig.value.name) {
      untouched++;
      continue;
    }
    const ov = materialize(orig.value, before.target).toFloat32();
    const fv = materialize(final.value, after.target).toFloat32();
    const m = errorMetrics(ov, fv);
    const t = final.value.type;
    const shape = t.kind === 'tensor' ? (t.shape as number[]) : [];
    const elements = shape.reduce((x, y) => x * y, 1);
    const name = originalName(orig);
    pairs.set(name, { orig, final });
    layers.push({
      function: orig.fn,
      name,
      dense: final.value.name,
      readBy: `${orig.reader.type} "${orig.reader.name}"`,
      shape: [...shape],
      dtype: t.kind === 'tensor' ? t.dtype : '',
      elements,
      kind: weightKind(final.chain),
      ops: final.chain.map((o) => o.type),
      bytesBefore,
      bytesAfter,
      bitsPerWeight: elements ? (8 * bytesAfter) / elements : 0,
      snrDb: m.snrDb,
      mse: m.mse,
      maxAbsError: m.maxAbsError,
    });
  }

  let detail = options.detail ? [...options.detail] : [];
  if (options.detail) {
    const missing = detail.filter((d) => !pairs.has(d));
    if (missing.length > 0) {
      throw new UsageError(`--report-layers: ${missing.map((m) => `"${m}"`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} not among the compressed weights (${[...pairs.keys()].slice(0, 8).join(', ')}${pairs.size > 8 ? ', …' : ''})`);
    }
  } else if (layers.length > 0) {
    const bySize = [...layers].sort((x, y) => y.bytesBefore - x.bytesBefore);
    const bySnr = [...layers].sort((x, y) => x.snrDb - y.snrDb);
    detail = [...new Set([bySize[0].name, bySnr[0].name, bySnr[bySnr.length - 1].name])].slice(0, options.maxDetail ?? 3);
  }
  const bins = options.bins ?? 64;
  const histograms: Histogram[] = detail.map((name) => {
    const { orig, final } = pairs.get(name)!;
    const ov = materialize(orig.value, before.target).toFloat32();
    const fv = materialize(final.value, after.target).toFloat32();
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of ov) {
      if (!Number.isFinite(x)) continue;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    if (!(hi > lo)) {
      lo -= 1;
      hi += 1;
    }
    let zeros = 0;
    for (const x of fv) if (x === 0) zeros++;
    return {
      layer: name,
      function: orig.fn,
      kind: weightKind(final.chain),
      lo,
      hi,
      original: histogram(ov, lo, hi, bins),
      compressed: histogram(fv, lo, hi, bins),
      overlays: overlaysOf(final.value, after, fv),
      sparsity: fv.length ? zeros / fv.length : 0,
    };
  });
  return { layers, untouched, histograms };
}
