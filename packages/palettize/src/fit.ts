/**
 * Fitting the LUTs and indices of one weight (mil-ops.md §7.4 "LUT construction per
 * group"): for every group of the layout (groups.ts), one LUT of `2^nbits` entries of
 * `clusterDim` values and one index per LUT lookup.
 *
 * Modes:
 *  - `kmeans`, scalar: the optimal 1-D k-means of the group's histogram (kmeans1d.ts), its
 *    centres rounded to the LUT dtype and polished by Lloyd steps on that grid (never
 *    worse than rounding alone). Fewer distinct values than entries: the values themselves,
 *    remaining entries 0.
 *  - `kmeans`, vector: k-means++ + Lloyd (kmeans-vector.ts), centres rounded to the LUT
 *    dtype, points re-assigned to the nearest rounded centre.
 *  - `uniform`: coremltools' arithmetic, reproduced in the weight's dtype:
 *    `scale = (max − min) / (2^n − 1)`, `index = round((w − min) / (max − min) · (2^n − 1))`
 *    (each operation rounded to the weight dtype, round half to even),
 *    `lut[k] = float64(k · scale + min)` cast to the dtype.
 *  - `unique`: the sorted distinct values (vectors sorted lexicographically) padded with 0;
 *    `nbits` = smallest of {1, 2, 3, 4, 6, 8} that holds the largest group; more than 256
 *    ⇒ the weight is skipped.
 *  - `custom`: the user's function returns `{ lut, indices }` per group; `nbits` =
 *    ⌈log2(lut entries)⌉ raised to the next supported width, the LUT padded with 0.
 */
import { type Skip } from '@silica/compression';
import { fp32ToFp16Array } from '@silica/ir';
import { type Fp16Histogram, Fp16Counter, type Histogram, fp16Value, histogramOf, indexOfValue } from './histogram.js';
import { optimalKMeans1D, lloyd1D } from './kmeans1d.js';
import { assign, vectorKMeans } from './kmeans-vector.js';
import { type GroupLayout, gatherGroup, gatherVectors, scatterIndices } from './groups.js';
import { type LutDType, float64ToFp16Bits, roundHalfEven, roundToDType } from './rounding.js';

export type PalettizeMode = 'kmeans' | 'uniform' | 'unique' | 'custom';

/** Index widths Core ML's LUT ops accept (mil-ops.md §1.4; iOS16 also excludes 3). */
export const SUPPORTED_NBITS = [1, 2, 3, 4, 6, 8] as const;
export type Nbits = (typeof SUPPORTED_NBITS)[number];

/** What a `lutFunction` receives for one group. */
export interface LutFunctionGroup {
  /** The weight being palettized (its const value name). */
  readonly weight: string;
  /** Group number along the channel axis. */
  readonly group: number;
  /** The group's values, row-major over `shape`. */
  readonly values: Float64Array;
  /** The group's shape: the weight's shape with the channel dim cut to the group size. */
  readonly shape: readonly number[];
  /** Normalised channel axis (the vector axis when `clusterDim > 1`). */
  readonly channelAxis: number;
  readonly clusterDim: number;
}

/**
 * What a `lutFunction` returns for one group: `lut` holds `entries × clusterDim` numbers
 * (entry-major); `indices` one entry number per LUT lookup, row-major over the group's
 * shape with the channel dim divided by `clusterDim`.
 */
export interface LutFunctionResult {
  readonly lut: ArrayLike<number>;
  readonly indices: ArrayLike<number>;
}

export type LutFunction = (group: LutFunctionGroup) => LutFunctionResult;

/** The data of a weight to palettize: fp16 as raw bit patterns, other dtypes as numbers. */
export interface WeightData {
  /** Names the weight in errors and skip reasons. */
  readonly name: string;
  readonly dtype: LutDType;
  readonly shape: readonly number[];
  readonly data: Uint16Array | Float32Array | Int8Array | Uint8Array;
}

export interface FitSpec {
  readonly mode: PalettizeMode;
  /** Required for kmeans/uniform; absent for unique/custom. */
  readonly nbits?: Nbits;
  readonly layout: GroupLayout;
  readonly lutFunction?: LutFunction;
  /** Seed of vector k-means (default 0). */
  readonly seed?: number;
}

export interface Fit {
  readonly nbits: Nbits;
  /** `groups × 2^nbits × clusterDim` values on the LUT dtype's grid (group-major). */
  readonly lut: Float64Array;
  /** One entry number per LUT lookup, row-major over `layout.indicesShape`. */
  readonly indices: Uint8Array;
  /** Whether every scalar k-means ran the exact DP (false only for the coarsened fallback). */
  readonly exact: boolean;
  /**
   * Σ w², Σ (lut[idx] − w)² and max |lut[idx] − w| over the weight, when the fit computed
   * them on its histograms (scalar k-means) — saves a pass over the weight.
   */
  readonly error?: { readonly sig: number; readonly err: number; readonly maxAbs: number };
}

const identity = (x: number): number => x;

/** Numeric value of one raw element of `w.data`. */
function valueOf(w: WeightData): (raw: number) => number {
  return w.dtype === 'fp16' ? fp16Value : identity;
}

const NON_FINITE = 'it contains NaN or ±inf values, which cannot be palettized';

function allFiniteValues(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/** True when every element is finite (NaN/±inf cannot be clustered). */
export function allFinite(w: WeightData): boolean {
  const d = w.data;
  if (w.dtype === 'fp16') {
    for (let i = 0; i < d.length; i++) if ((d[i] & 0x7c00) === 0x7c00) return false;
    return true;
  }
  if (w.dtype === 'fp32') {
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return false;
  }
  return true;
}

/** Smallest supported width with at least `entries` LUT entries, or undefined above 256. */
export function nbitsFor(entries: number): Nbits | undefined {
  return SUPPORTED_NBITS.find((b) => 2 ** b >= entries);
}

/** Fits LUTs and indices for every group of `spec.layout`, or says why the weight is skipped. */
export function fitWeight(w: WeightData, spec: FitSpec): Fit | Skip {
  // scalar k-means checks finiteness on its histograms, without a pass of its own
  if (spec.mode === 'kmeans' && spec.layout.clusterDim === 1) return fitScalarKMeans(w, spec);
  if (!allFinite(w)) return { skip: NON_FINITE };
  switch (spec.mode) {
    case 'kmeans':
      return fitVectorKMeans(w, spec);
    case 'uniform':
      return fitUniform(w, spec);
    case 'unique':
      return fitUnique(w, spec);
    case 'custom':
      return fitCustom(w, spec);
  }
}

function requireNbits(spec: FitSpec, w: WeightData): Nbits {
  if (spec.nbits === undefined) throw new Error(`palettize: mode "${spec.mode}" needs nbits (weight "${w.name}")`);
  return spec.nbits;
}

/** Scratch for gathering a group in the weight's raw representation. */
function scratchFor(w: WeightData, n: number): Uint16Array | Float32Array | Int8Array | Uint8Array {
  const d = w.data;
  if (d instanceof Uint16Array) return new Uint16Array(n);
  if (d instanceof Float32Array) return new Float32Array(n);
  if (d instanceof Int8Array) return new Int8Array(n);
  return new Uint8Array(n);
}

// ---------------------------------------------------------------------------------------
// k-means

function fitScalarKMeans(w: WeightData, spec: FitSpec): Fit | Skip {
  const nbits = requireNbits(spec, w);
  const layout = spec.layout;
  const P = 2 ** nbits;
  const lut = new Float64Array(layout.groups * P);
  const indices = new Uint8Array(layout.groupPoints * layout.groups);
  const scratchIdx = layout.outer === 1 ? undefined : new Uint8Array(layout.groupPoints);
  const scratch = scratchFor(w, layout.groupElements);
  const round = (x: number): number => roundToDType(x, w.dtype);
  const counter = w.dtype === 'fp16' ? new Fp16Counter() : undefined;
  const entryOf = counter ? new Uint8Array(65536) : undefined;
  const error = { sig: 0, err: 0, maxAbs: 0 };
  let exact = true;
  for (let g = 0; g < layout.groups; g++) {
    const group = gatherGroup(layout, w.data, g, scratch);
    // the group's indices are contiguous in the indices tensor when the channel axis is the first
    const idx = scratchIdx ?? indices.subarray(g * layout.groupPoints, (g + 1) * layout.groupPoints);
    let hist: Histogram;
    if (counter) {
      counter.add(group as Uint16Array);
      if (counter.nonFinite() > 0) return { skip: NON_FINITE };
      hist = counter.take();
    } else {
      if (!allFiniteValues(group)) return { skip: NON_FINITE };
      hist = histogramOf(group as ArrayLike<number>);
    }
    const { entries, labels } = clusterHistogram(hist, P, round);
    if (!entries.exact) exact = false;
    lut.set(entries.values, g * P);
    // the error over the histogram: O(distinct values), not O(group size)
    for (let d = 0; d < hist.values.length; d++) {
      const x = hist.values[d];
      const e = entries.values[labels[d]] - x;
      error.sig += hist.counts[d] * x * x;
      error.err += hist.counts[d] * e * e;
      if (Math.abs(e) > error.maxAbs) error.maxAbs = Math.abs(e);
    }
    if (counter && entryOf) {
      const patterns = (hist as Fp16Histogram).patterns;
      for (let d = 0; d < patterns.length; d++) entryOf[patterns[d]] = labels[d];
      entryOf[0x8000] = entryOf[0];
      const bits = group as Uint16Array;
      for (let i = 0; i < bits.length; i++) idx[i] = entryOf[bits[i]];
    } else {
      for (let i = 0; i < group.length; i++) idx[i] = labels[indexOfValue(hist.values, group[i])];
    }
    if (scratchIdx) scatterIndices(layout, scratchIdx, g, indices);
  }
  return { nbits, lut, indices, exact, error };
}

/**
 * LUT entries (ascending, zero padded to `P`) and the entry of each histogram value: the
 * optimal partition's means rounded to the dtype grid and polished by Lloyd steps.
 */
export function clusterHistogram(
  hist: Histogram,
  P: number,
  round: (x: number) => number,
): { entries: { values: Float64Array; exact: boolean }; labels: Int32Array; cost: number } {
  const n = hist.values.length;
  const values = new Float64Array(P);
  if (n <= P) {
    values.set(hist.values);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) labels[i] = i;
    return { entries: { values, exact: true }, labels, cost: 0 };
  }
  const opt = optimalKMeans1D(hist.values, hist.counts, P);
  const polished = lloyd1D(hist.values, hist.counts, opt.centroids, round);
  values.set(polished.centroids);
  return { entries: { values, exact: opt.exact }, labels: polished.labels, cost: polished.cost };
}

function fitVectorKMeans(w: WeightData, spec: FitSpec): Fit {
  const nbits = requireNbits(spec, w);
  const layout = spec.layout;
  const V = layout.clusterDim;
  const P = 2 ** nbits;
  const lut = new Float64Array(layout.groups * P * V);
  const indices = new Uint8Array(layout.groupPoints * layout.groups);
  const idx = new Uint8Array(layout.groupPoints);
  const points = new Float64Array(layout.groupElements);
  const labels = new Int32Array(layout.groupPoints);
  const value = valueOf(w);
  for (let g = 0; g < layout.groups; g++) {
    gatherVectors(layout, w.data, g, value, points);
    const km = vectorKMeans(points, V, P, { seed: spec.seed ?? 0 });
    const centres = Float64Array.from(km.centroids, (x) => roundToDType(x, w.dtype));
    assign(points, V, centres, P, labels);
    for (let i = 0; i < labels.length; i++) idx[i] = labels[i];
    lut.set(centres, g * P * V);
    scatterIndices(layout, idx, g, indices);
  }
  return { nbits, lut, indices, exact: true };
}

// ---------------------------------------------------------------------------------------
// uniform

/**
 * coremltools' `compress_uniform` in the weight's float dtype: NumPy evaluates
 * `(w − min) / (max − min) · (2^n − 1)` element-wise in that dtype (each step rounded),
 * `np.round` rounds half to even, and `arange(2^n) · scale + min` runs in float64 (an
 * int64 array times a float16/float32 scalar) before the cast back.
 */
function fitUniform(w: WeightData, spec: FitSpec): Fit {
  const nbits = requireNbits(spec, w);
  const layout = spec.layout;
  if (layout.clusterDim > 1) throw new Error(`palettize: uniform mode does not support clusterDim > 1 (weight "${w.name}")`);
  const P = 2 ** nbits;
  const lut = new Float64Array(layout.groups * P);
  const indices = new Uint8Array(layout.groupPoints * layout.groups);
  const idx = new Uint8Array(layout.groupPoints);
  const scratch = scratchFor(w, layout.groupElements);
  const value = valueOf(w);
  // one rounding of each operation to the weight's dtype (integers are exact in float64)
  const r: (x: number) => number = w.dtype === 'fp16' ? roundFp16 : w.dtype === 'fp32' ? Math.fround : identity;
  for (let g = 0; g < layout.groups; g++) {
    const group = gatherGroup(layout, w.data, g, scratch);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < group.length; i++) {
      const v = value(group[i]);
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const range = r(hi - lo);
    const scale = r(range / (P - 1));
    for (let k = 0; k < P; k++) lut[g * P + k] = roundToDType(k * scale + lo, w.dtype);
    for (let i = 0; i < group.length; i++) {
      if (range === 0) {
        idx[i] = 0; // max == min: 0/0 in NumPy; every element equals lut[0]
        continue;
      }
      const t = r(r(r(value(group[i]) - lo) / range) * (P - 1));
      idx[i] = Math.min(P - 1, roundHalfEven(t));
    }
    scatterIndices(layout, idx, g, indices);
  }
  return { nbits, lut, indices, exact: true };
}

function roundFp16(x: number): number {
  return fp16Value(float64ToFp16Bits(x));
}

// ---------------------------------------------------------------------------------------
// unique

function fitUnique(w: WeightData, spec: FitSpec): Fit | Skip {
  const layout = spec.layout;
  const V = layout.clusterDim;
  const value = valueOf(w);
  // pass 1: the distinct values / vectors of every group, to size nbits by the largest
  const perGroup: Array<{ table: Float64Array; index: (i: number) => number; count: number }> = [];
  const scratch = scratchFor(w, layout.groupElements);
  const points = V > 1 ? new Float64Array(layout.groupElements) : undefined;
  let most = 0;
  for (let g = 0; g < layout.groups; g++) {
    const u = points ? uniqueVectors(gatherVectors(layout, w.data, g, value, points), V) : uniqueScalars(gatherGroup(layout, w.data, g, scratch), value);
    if (u.count > 256) {
      return {
        skip: `it has ${u.count} distinct ${V > 1 ? 'vectors' : 'values'} in group ${g}; unique palettization holds at most 256 (8 bits)`,
      };
    }
    most = Math.max(most, u.count);
    perGroup.push(u);
  }
  const nbits = nbitsFor(most)!;
  const P = 2 ** nbits;
  const lut = new Float64Array(layout.groups * P * V);
  const indices = new Uint8Array(layout.groupPoints * layout.groups);
  const idx = new Uint8Array(layout.groupPoints);
  perGroup.forEach((u, g) => {
    lut.set(u.table, g * P * V);
    for (let i = 0; i < layout.groupPoints; i++) idx[i] = u.index(i);
    scatterIndices(layout, idx, g, indices);
  });
  return { nbits, lut, indices, exact: true };
}

function uniqueScalars(group: ArrayLike<number>, value: (raw: number) => number): { table: Float64Array; index: (i: number) => number; count: number } {
  const numbers = Float64Array.from(group, value);
  const hist = histogramOf(numbers);
  const labels = new Uint16Array(numbers.length);
  if (hist.values.length <= 256) for (let i = 0; i < numbers.length; i++) labels[i] = indexOfValue(hist.values, numbers[i]);
  return { table: hist.values, index: (i) => labels[i], count: hist.values.length };
}

/** Distinct vectors in lexicographic order (NumPy's `np.unique(axis=0)`), with each point's rank. */
function uniqueVectors(points: Float64Array, V: number): { table: Float64Array; index: (i: number) => number; count: number } {
  const n = points.length / V;
  const ids = new Map<string, number>();
  const firsts: number[] = [];
  const of = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let key = '';
    for (let v = 0; v < V; v++) key += (v ? ',' : '') + (points[i * V + v] === 0 ? 0 : points[i * V + v]);
    let id = ids.get(key);
    if (id === undefined) {
      id = firsts.length;
      ids.set(key, id);
      firsts.push(i);
      if (firsts.length > 256) return { table: new Float64Array(0), index: () => 0, count: firsts.length };
    }
    of[i] = id;
  }
  const order = firsts.map((_, id) => id);
  order.sort((a, b) => {
    for (let v = 0; v < V; v++) {
      const d = points[firsts[a] * V + v] - points[firsts[b] * V + v];
      if (d !== 0) return d;
    }
    return 0;
  });
  const rank = new Int32Array(order.length);
  order.forEach((id, r) => (rank[id] = r));
  const table = new Float64Array(order.length * V);
  order.forEach((id, r) => {
    for (let v = 0; v < V; v++) table[r * V + v] = points[firsts[id] * V + v] === 0 ? 0 : points[firsts[id] * V + v];
  });
  return { table, index: (i) => rank[of[i]], count: order.length };
}

// ---------------------------------------------------------------------------------------
// custom

function fitCustom(w: WeightData, spec: FitSpec): Fit {
  const layout = spec.layout;
  const fn = spec.lutFunction;
  if (!fn) throw new Error(`palettize: mode "custom" needs a lutFunction (weight "${w.name}")`);
  const V = layout.clusterDim;
  const value = valueOf(w);
  const groupShape = [...layout.shape];
  groupShape[layout.axis] = layout.groupSize;
  const scratch = scratchFor(w, layout.groupElements);
  const results: Array<{ lut: Float64Array; indices: Uint8Array }> = [];
  let entries = -1;
  for (let g = 0; g < layout.groups; g++) {
    const values = Float64Array.from(gatherGroup(layout, w.data, g, scratch), value);
    const out = fn({ weight: w.name, group: g, values, shape: groupShape, channelAxis: layout.axis, clusterDim: V });
    const where = `lutFunction for weight "${w.name}", group ${g}`;
    if (!out || typeof out !== 'object' || !out.lut || !out.indices) throw new Error(`palettize: ${where} must return { lut, indices }`);
    if (out.lut.length === 0 || out.lut.length % V !== 0) {
      throw new Error(`palettize: ${where} returned a LUT of ${out.lut.length} numbers; expected a positive multiple of clusterDim (${V})`);
    }
    const n = out.lut.length / V;
    if (entries >= 0 && n !== entries) {
      throw new Error(`palettize: ${where} returned ${n} LUT entries, but group 0 returned ${entries}; every group needs the same count`);
    }
    entries = n;
    if (n > 256) throw new Error(`palettize: ${where} returned ${n} LUT entries; at most 256 (8 bits) are supported`);
    if (out.indices.length !== layout.groupPoints) {
      throw new Error(`palettize: ${where} returned ${out.indices.length} indices; expected ${layout.groupPoints} (one per LUT lookup of the group)`);
    }
    const indices = new Uint8Array(layout.groupPoints);
    for (let i = 0; i < indices.length; i++) {
      const k = out.indices[i];
      if (!Number.isInteger(k) || k < 0 || k >= n) throw new Error(`palettize: ${where} returned index ${k} at position ${i}; expected an integer in [0, ${n})`);
      indices[i] = k;
    }
    const lut = Float64Array.from(out.lut, (x, i) => {
      if (!Number.isFinite(x)) throw new Error(`palettize: ${where} returned the non-finite LUT value ${x} at ${i}`);
      return roundToDType(x, w.dtype);
    });
    results.push({ lut, indices });
  }
  const nbits = nbitsFor(Math.max(2, entries))!;
  const P = 2 ** nbits;
  const lut = new Float64Array(layout.groups * P * V);
  const indices = new Uint8Array(layout.groupPoints * layout.groups);
  results.forEach((r, g) => {
    lut.set(r.lut, g * P * V);
    scatterIndices(layout, r.indices, g, indices);
  });
  return { nbits, lut, indices, exact: true };
}

// ---------------------------------------------------------------------------------------
// per-channel scale (mil-ops.md §7.4 `enable_per_channel_scale`)

export interface ScaledWeight {
  /** The weight divided by its scale, in the weight's dtype. */
  readonly weight: WeightData;
  /** `max |w|` over the channel axis (size-1 dim kept), zeros replaced by 1, in the weight's dtype. */
  readonly scale: Float64Array;
  readonly scaleShape: number[];
}

/**
 * Divides the weight by `s = max |w|` reduced over the channel axis, as coremltools does
 * in the weight's dtype (`weight /= per_channel_scale`: an fp16 division rounds once to
 * fp16 — computing the fp32 quotient and rounding it to fp16 gives the same value).
 */
export function applyPerChannelScale(w: WeightData, axis: number): ScaledWeight {
  if (w.dtype !== 'fp16' && w.dtype !== 'fp32') {
    throw new Error(`palettize: per-channel scale needs a float weight, but "${w.name}" is ${w.dtype}`);
  }
  const shape = w.shape;
  let outer = 1;
  for (let k = 0; k < axis; k++) outer *= shape[k];
  let inner = 1;
  for (let k = axis + 1; k < shape.length; k++) inner *= shape[k];
  const C = shape[axis];
  const value = valueOf(w);
  const scale = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const row = (o * C + c) * inner;
      for (let i = 0; i < inner; i++) {
        const a = Math.abs(value(w.data[row + i]));
        if (a > scale[o * inner + i]) scale[o * inner + i] = a;
      }
    }
  }
  for (let j = 0; j < scale.length; j++) if (scale[j] === 0) scale[j] = 1;
  const q = new Float32Array(w.data.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const row = (o * C + c) * inner;
      for (let i = 0; i < inner; i++) q[row + i] = value(w.data[row + i]) / scale[o * inner + i];
    }
  }
  const data = w.dtype === 'fp16' ? fp32ToFp16Array(q) : q;
  const scaleShape = [...shape];
  scaleShape[axis] = 1;
  return { weight: { ...w, data }, scale, scaleShape };
}
