/**
 * NumPy broadcasting (mil-ops.md §6: elementwise ops "with NumPy broadcasting").
 * Operands are walked row by row: dimensions that every operand traverses the same way
 * are merged first, so the common cases (same shape, scalar, bias along the last axis)
 * run as one long row or a few long rows.
 */

/** The broadcast shape of several shapes; throws naming them when they are incompatible. */
export function broadcastShapes(shapes: ReadonlyArray<readonly number[]>): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = rank - s.length + i;
      const x = s[i];
      if (out[d] === x || x === 1) continue;
      if (out[d] === 1) out[d] = x;
      else {
        throw new Error(`shapes ${shapes.map((t) => `[${t.join(', ')}]`).join(' and ')} do not broadcast (axis ${d}: ${out[d]} vs ${x})`);
      }
    }
  }
  return out;
}

export interface BroadcastPlan {
  /** Merged dimension sizes, innermost first. */
  readonly dims: number[];
  /** Per operand, its element stride along each merged dimension (0 = broadcast). */
  readonly strides: number[][];
}

export function planBroadcast(out: readonly number[], shapes: ReadonlyArray<readonly number[]>): BroadcastPlan {
  const r = out.length;
  const full = shapes.map((s) => {
    const st = new Array<number>(r).fill(0);
    let acc = 1;
    for (let i = s.length - 1; i >= 0; i--) {
      const d = r - s.length + i;
      st[d] = s[i] === 1 ? 0 : acc;
      acc *= s[i];
    }
    return st;
  });
  const dims: number[] = [];
  const strides: number[][] = shapes.map(() => []);
  for (let d = r - 1; d >= 0; d--) {
    if (out[d] === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && full.every((s, k) => s[d] === strides[k][last] * dims[last])) {
      dims[last] *= out[d];
      continue;
    }
    dims.push(out[d]);
    full.forEach((s, k) => strides[k].push(s[d]));
  }
  if (dims.length === 0) {
    dims.push(1);
    strides.forEach((s) => s.push(0));
  }
  return { dims, strides };
}

/**
 * Calls `row(outOffset, offsets, length, innerStrides)` for every innermost row of the
 * broadcast. `offsets[k]` is operand k's element offset at the start of the row.
 */
export function forEachRow(
  out: readonly number[],
  shapes: ReadonlyArray<readonly number[]>,
  row: (o: number, offs: readonly number[], n: number, inner: readonly number[]) => void,
): void {
  const total = out.reduce((a, b) => a * b, 1);
  if (total === 0) return;
  const { dims, strides } = planBroadcast(out, shapes);
  const n = dims[0];
  const inner = strides.map((s) => s[0]);
  const rank = dims.length;
  const idx = new Array<number>(rank).fill(0);
  const offs = new Array<number>(shapes.length).fill(0);
  let o = 0;
  for (;;) {
    row(o, offs, n, inner);
    o += n;
    let d = 1;
    for (; d < rank; d++) {
      idx[d]++;
      for (let k = 0; k < offs.length; k++) offs[k] += strides[k][d];
      if (idx[d] < dims[d]) break;
      for (let k = 0; k < offs.length; k++) offs[k] -= strides[k][d] * dims[d];
      idx[d] = 0;
    }
    if (d === rank) return;
  }
}

/** Materialises `src` (of `shape`) broadcast to `out`, as a new array of the same type. */
export function broadcastTo<T extends Float32Array | Int32Array | Uint8Array>(src: T, shape: readonly number[], out: readonly number[]): T {
  const n = out.reduce((a, b) => a * b, 1);
  const dst = new (src.constructor as new (n: number) => T)(n);
  forEachRow(out, [shape], (o, offs, len, inner) => {
    const s = inner[0];
    const a = offs[0];
    for (let i = 0; i < len; i++) dst[o + i] = src[a + i * s];
  });
  return dst;
}
