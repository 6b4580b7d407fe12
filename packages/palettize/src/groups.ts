/**
 * Group layout of per-grouped-channel palettization (mil-ops.md §7.4 "Group layout"):
 * the channel axis is split into consecutive groups of `groupSize` channels (per-tensor =
 * one group covering the whole axis); each group gets its own LUT.
 *
 * View the weight as `[outer, C, inner]` around the channel axis. Group `g` then is, for
 * every `o < outer`, the contiguous run of `groupSize · inner` elements starting at
 * `o·C·inner + g·groupSize·inner` — so gathering a group is `outer` slice copies, and for
 * the channel axis 0 (the common case) a group is one contiguous slice.
 *
 * Vector palettization (`clusterDim = V > 1`): each LUT entry is a vector of V consecutive
 * channels; the indices tensor has the weight's shape with the channel dim divided by V,
 * and index position `(o, cv, i)` of group `g` stands for the weight elements
 * `(o, g·groupSize + cv·V + v, i)`, v < V (§1.4 vector math with `vector_axis` = channel
 * axis).
 */

export interface GroupLayout {
  readonly shape: readonly number[];
  /** Normalised channel axis. */
  readonly axis: number;
  /** Channels in the weight along `axis`. */
  readonly channels: number;
  /** Channels per group (= channels for per-tensor). */
  readonly groupSize: number;
  readonly groups: number;
  /** Product of the dims before / after `axis`. */
  readonly outer: number;
  readonly inner: number;
  /** LUT vector length V (1 for scalar palettization). */
  readonly clusterDim: number;
  /** Elements per group (weight elements, not index positions). */
  readonly groupElements: number;
  /** Index positions (LUT lookups) per group: groupElements / V. */
  readonly groupPoints: number;
  /** Shape of the indices tensor (channel dim divided by V). */
  readonly indicesShape: readonly number[];
  /** Shape of the LUT tensor: rank + 2, `groups` at the channel axis, then [2^nbits, V]. */
  lutShape(nbits: number): number[];
}

export function groupLayout(shape: readonly number[], axis: number, groupSize: number, clusterDim: number): GroupLayout {
  const rank = shape.length;
  if (axis < 0 || axis >= rank) throw new Error(`groupLayout: axis ${axis} is out of range for rank ${rank}`);
  const channels = shape[axis];
  if (groupSize < 1 || channels % groupSize !== 0) {
    throw new Error(`groupLayout: group size ${groupSize} does not divide the ${channels} channels of axis ${axis}`);
  }
  if (groupSize % clusterDim !== 0) {
    throw new Error(`groupLayout: cluster dim ${clusterDim} does not divide the group size ${groupSize}`);
  }
  let outer = 1;
  for (let k = 0; k < axis; k++) outer *= shape[k];
  let inner = 1;
  for (let k = axis + 1; k < rank; k++) inner *= shape[k];
  const groups = channels / groupSize;
  const groupElements = outer * groupSize * inner;
  const indicesShape = [...shape];
  indicesShape[axis] = channels / clusterDim;
  return {
    shape: [...shape],
    axis,
    channels,
    groupSize,
    groups,
    outer,
    inner,
    clusterDim,
    groupElements,
    groupPoints: groupElements / clusterDim,
    indicesShape,
    lutShape(nbits: number): number[] {
      const s = new Array<number>(rank + 2).fill(1);
      s[axis] = groups;
      s[rank] = 2 ** nbits;
      s[rank + 1] = clusterDim;
      return s;
    },
  };
}

/** Any typed array with `set`/`subarray`. */
type Typed = Uint16Array | Float32Array | Float64Array | Int8Array | Uint8Array | Int32Array;

/**
 * Copies the elements of group `g` of `src` (weight order) into `out`, in `(o, channel,
 * inner)` order; returns `out` (or a zero-copy subarray when the group is contiguous).
 */
export function gatherGroup<T extends Typed>(layout: GroupLayout, src: T, g: number, out: T): T {
  const run = layout.groupSize * layout.inner;
  const stride = layout.channels * layout.inner;
  const base = g * run;
  if (layout.outer === 1) return src.subarray(base, base + run) as T;
  for (let o = 0; o < layout.outer; o++) {
    out.set(src.subarray(o * stride + base, o * stride + base + run), o * run);
  }
  return out;
}

/**
 * Writes the per-point LUT indices of group `g` (`idx`, in the gather order of index
 * positions) into the indices tensor `dst` (row-major over `layout.indicesShape`).
 */
export function scatterIndices(layout: GroupLayout, idx: Uint8Array, g: number, dst: Uint8Array): void {
  const run = (layout.groupSize / layout.clusterDim) * layout.inner;
  const stride = (layout.channels / layout.clusterDim) * layout.inner;
  const base = g * run;
  for (let o = 0; o < layout.outer; o++) dst.set(idx.subarray(o * run, (o + 1) * run), o * stride + base);
}

/**
 * Gathers the points of group `g` for vector palettization: point `(o, cv, i)` (in that
 * order, matching `scatterIndices`) is the V values `src[(o, g·groupSize + cv·V + v, i)]`,
 * read through `value` (fp16 bits → number, or identity).
 */
export function gatherVectors(
  layout: GroupLayout,
  src: ArrayLike<number>,
  g: number,
  value: (raw: number) => number,
  out: Float64Array,
): Float64Array {
  const V = layout.clusterDim;
  const inner = layout.inner;
  const perGroup = layout.groupSize / V;
  let p = 0;
  for (let o = 0; o < layout.outer; o++) {
    for (let cv = 0; cv < perGroup; cv++) {
      const c0 = g * layout.groupSize + cv * V;
      for (let i = 0; i < inner; i++) {
        for (let v = 0; v < V; v++) out[p * V + v] = value(src[(o * layout.channels + c0 + v) * inner + i]);
        p++;
      }
    }
  }
  return out;
}
