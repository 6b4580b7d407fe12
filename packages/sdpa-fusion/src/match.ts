/**
 * Recognising decomposed attention (mil-ops.md §4) without changing anything:
 * `matchAttention(root)` reads the ops feeding `matmul(softmax(·), v)` and returns an
 * `AttentionMatch` — the query, key, value and mask to give the fused op, the constant
 * scale found on the way, and the batch tiling SDPA needs — or undefined when the block
 * is not exactly attention.
 *
 * The decomposition is read from the root inwards, one layer at a time; each layer is a
 * pattern (rules as data, STYLE.md), the optional ones tried in order:
 *
 * ```
 * out    = matmul(P, v)                                    root (no transposes)
 * P      = softmax(A, axis = -1)                           used only by the root
 * A      = add(Ss, mask) | add(mask, Ss) | Ss              optional mask, one use
 * Ss     = mul(S, c) | mul(c, S) | real_div(S, c) | S      optional constant scales, one use each
 * S      = matmul(q', k', transpose_y = true)              one use
 *        | matmul(q', transpose(k', perm = swap last two))
 * q', k' = mul(x, c) | real_div(x, c) | transpose(mul(x, c)) | x      constant scales on q / k
 * mask   = mul(sub(1, cast(m)), c ≤ -1e4)                  bool-converted mask → bool m
 *        | mul(cast(logical_not(m)), c ≤ -1e4)
 *        | any float tensor that broadcasts to [B…, L, S]
 * ```
 *
 * Every value between the root and q/k/v other than the mask must have exactly one use:
 * if the scores or the probabilities are read elsewhere, fusing would have to keep them
 * and nothing would be gained, so the block is left alone.
 */
import {
  type DType,
  type Dim,
  type Op,
  type OpPattern,
  type Target,
  type TensorType,
  type Value,
  match,
  pat,
} from '@silica/ir';
import { flagIs, intParam, smallConstValues, tensorTypeOf, uniformConst, unitRoundoff } from './common.js';

/** A transpose whose input moves from `from` (a scaled value) to `to` (the value before the scales). */
export interface Rebind {
  readonly op: Op;
  readonly from: Value;
  readonly to: Value;
}

export type MaskMatch =
  | { readonly kind: 'float'; readonly value: Value }
  /** A bool mask recovered from `(1 - cast(m)) * -3e4`: `value` is `m` (true = attend). */
  | { readonly kind: 'bool'; readonly value: Value };

export interface AttentionMatch {
  /** The `matmul(P, v)` the fused op replaces. */
  readonly root: Op;
  /** Query, key and value as SDPA takes them (before any batch tiling). */
  readonly query: Value;
  readonly key: Value;
  readonly value: Value;
  readonly mask: MaskMatch | undefined;
  /** Product of every constant factor found on q, on k and on the scores. */
  readonly scale: number;
  /** How far `scale · √E` may be from 1 and still be SDPA's own scale (rounding of the constants). */
  readonly scaleTolerance: number;
  /** E, the embedding size (last dim of query and key). */
  readonly embed: number;
  /** The root's rank R and batch dims B… (= the fused op's). */
  readonly batch: readonly Dim[];
  /** Transposes to move past the scales that were stripped below them. */
  readonly rebinds: readonly Rebind[];
}

export interface MatchOptions {
  readonly target: Target;
  /** Recognise bool-converted masks and hand SDPA the bool mask (default true). */
  readonly recoverBoolMasks: boolean;
}

/** Large negative fill values of a bool-converted mask: at most this (coremltools uses -3e4). */
export const BOOL_MASK_FILL_LIMIT = -1e4;

// ---------------------------------------------------------------------------------------
// The layers, as patterns

// matmul(softmax(logits), value) -> the root of an attention block (transposes checked below)
const ROOT: OpPattern = pat.op('matmul', {
  x: pat.op('softmax', { x: 'logits' }, { bind: 'softmax', oneUse: true }),
  y: 'value',
});

// mul(x, c) | mul(c, x) -> x scaled by c (c a uniform constant; commutative match)
const MUL_SCALE: OpPattern = pat.op('mul', { x: 'inner', y: pat.const('factor') }, { oneUse: true });

// real_div(x, c) -> x scaled by 1/c
const DIV_SCALE: OpPattern = pat.op('real_div', { x: 'inner', y: pat.const('factor') }, { oneUse: true, commutative: false });

// add(a, b) -> scores a plus mask b, or scores b plus mask a (both orders tried)
const MASK_ADD: OpPattern = pat.op('add', { x: 'a', y: 'b' }, { oneUse: true, commutative: false });

// matmul(q, k, transpose_y = true) -> q · kᵀ ; matmul(q, kt) with kt = transpose(k, swap) -> q · kᵀ
const SCORES: OpPattern = pat.op('matmul', { x: 'q', y: 'k' }, { oneUse: true });

// transpose(x, perm) -> a layout transpose (or the swap of the last two axes, for k)
const TRANSPOSE: OpPattern = pat.op('transpose', { x: 'inner', perm: pat.const('perm') });

// mul(sub(1, cast(m)), c) -> bool mask m, when c ≤ -1e4 (mil-ops.md §4: (1 - cast(mask)) * -3e4)
const BOOL_MASK_SUB: OpPattern = pat.op('mul', {
  x: pat.op('sub', { x: pat.const('one'), y: pat.op('cast', { x: 'm' }) }, { commutative: false }),
  y: pat.const('fill'),
});

// mul(cast(logical_not(m)), c) -> bool mask m, when c ≤ -1e4
const BOOL_MASK_NOT: OpPattern = pat.op('mul', {
  x: pat.op('cast', { x: pat.op('logical_not', { x: 'm' }) }),
  y: pat.const('fill'),
});

// ---------------------------------------------------------------------------------------

interface Factor {
  readonly value: number;
  /** Dtype of the constant: its rounding bounds how far a default scale may be off. */
  readonly dtype: DType;
}

interface Peeled {
  /** The value with its constant scales removed (possibly a transpose whose input moves, see `rebind`). */
  readonly base: Value;
  readonly factors: readonly Factor[];
  readonly rebind?: Rebind;
}

const oneUse = (v: Value): boolean => v.uses.length === 1;

/**
 * If `v` is `x · c` or `x / c` for a uniform constant c that does not broadcast `x` (the
 * output has x's shape), returns x and the factor.
 */
function stripScale(v: Value, target: Target): { inner: Value; factor: Factor } | undefined {
  const op = v.producer;
  if (!op || op.outputs.length !== 1 || !oneUse(v)) return undefined;
  const m = op.type === 'mul' ? match(MUL_SCALE, op) : op.type === 'real_div' ? match(DIV_SCALE, op) : undefined;
  if (!m) return undefined;
  const inner = m.value('inner');
  const c = uniformConst(m.value('factor'), target);
  const ti = tensorTypeOf(inner);
  const to = tensorTypeOf(v);
  if (!c || !ti || !to || !sameShape(ti.shape, to.shape)) return undefined;
  if (!Number.isFinite(c.value) || c.value === 0) return undefined;
  return { inner, factor: { value: op.type === 'real_div' ? 1 / c.value : c.value, dtype: c.dtype } };
}

/** Strips constant scales from `v`, outermost first. */
function stripScales(v: Value, target: Target): { base: Value; factors: Factor[] } {
  const factors: Factor[] = [];
  let base = v;
  for (let s = stripScale(base, target); s; s = stripScale(base, target)) {
    factors.push(s.factor);
    base = s.inner;
  }
  return { base, factors };
}

/**
 * Strips constant scales from q or k: directly on the value, and below one layout
 * transpose (`transpose(mul(x, c))` = `transpose(x)·c` for a uniform c; the transpose is
 * then rebound to x). `exclusive` says whether every value from `v` up to the scores
 * matmul has one use — only then may the transpose be changed in place.
 */
function peel(v: Value, target: Target, exclusive: boolean): Peeled {
  const direct = stripScales(v, target);
  const t = direct.base.producer;
  if (!exclusive || !t || t.type !== 'transpose' || !oneUse(direct.base)) return direct;
  const m = match(TRANSPOSE, t);
  if (!m) return direct;
  const below = stripScales(m.value('inner'), target);
  if (below.factors.length === 0) return direct;
  return {
    base: direct.base,
    factors: [...direct.factors, ...below.factors],
    rebind: { op: t, from: m.value('inner'), to: below.base },
  };
}

function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Whether `perm` (negative axes allowed) swaps the last two axes of a rank-`rank` tensor and keeps the others. */
function isSwapLastTwo(perm: readonly number[], rank: number): boolean {
  if (perm.length !== rank || rank < 2) return false;
  return perm.every((p, i) => {
    const axis = p < 0 ? p + rank : p;
    if (i === rank - 2) return axis === rank - 1;
    if (i === rank - 1) return axis === rank - 2;
    return axis === i;
  });
}

interface Scores {
  readonly q: Peeled;
  readonly k: Peeled;
  /** The scores matmul's output type: [Bs…, L, S]. */
  readonly type: TensorType;
}

/** Reads `S = q·kᵀ` (transpose_y, or an explicit swap transpose of k) and strips the scales on q and k. */
function matchScores(s: Value, target: Target): Scores | undefined {
  const op = s.producer;
  if (!op || op.outputs.length !== 1) return undefined;
  const m = match(SCORES, op);
  const type = tensorTypeOf(s);
  if (!m || !type || !flagIs(op, 'transpose_x', false, target)) return undefined;
  const q = peel(m.value('q'), target, oneUse(m.value('q')));
  let kValue = m.value('k');
  const kFactors: Factor[] = [];
  let exclusive = oneUse(kValue);
  if (!flagIs(op, 'transpose_y', true, target)) {
    if (!flagIs(op, 'transpose_y', false, target)) return undefined;
    // matmul(q, transpose(k, swap)) — scales may sit above or below the swap
    const above = stripScales(kValue, target);
    const t = above.base.producer;
    const tm = t ? match(TRANSPOSE, t) : undefined;
    const rank = tensorTypeOf(above.base)?.shape.length ?? 0;
    const perm = tm ? constList(tm.value('perm'), target) : undefined;
    if (!tm || !perm || !isSwapLastTwo(perm, rank)) return undefined;
    kFactors.push(...above.factors);
    exclusive = exclusive && oneUse(above.base) && oneUse(tm.value('inner'));
    kValue = tm.value('inner');
  }
  const k = peel(kValue, target, exclusive);
  return { q, k: { ...k, factors: [...kFactors, ...k.factors] }, type };
}

/** The elements of a small rank-1 int constant (a perm). */
function constList(v: Value, target: Target): number[] | undefined {
  const t = tensorTypeOf(v);
  if (!t || t.shape.length !== 1) return undefined;
  return smallConstValues(v, target)?.values;
}

/** A bool mask `m` behind a bool-converted float mask, when `mask` has that form. */
function matchBoolMask(mask: Value, target: Target): Value | undefined {
  const op = mask.producer;
  if (!op || op.type !== 'mul') return undefined;
  const maskType = tensorTypeOf(mask);
  if (!maskType) return undefined;
  const viaSub = match(BOOL_MASK_SUB, op);
  const viaNot = viaSub ? undefined : match(BOOL_MASK_NOT, op);
  const m = viaSub ?? viaNot;
  if (!m) return undefined;
  const bool = m.value('m');
  const boolType = tensorTypeOf(bool);
  if (!boolType || boolType.dtype !== 'bool' || !sameShape(boolType.shape, maskType.shape)) return undefined;
  const fill = uniformConst(m.value('fill'), target);
  if (!fill || !(fill.value <= BOOL_MASK_FILL_LIMIT)) return undefined;
  if (viaSub) {
    const one = uniformConst(m.value('one'), target);
    if (!one || one.value !== 1) return undefined;
  }
  return bool;
}

/** `mask` broadcasts to `scores` ([B…, L, S]) with its last dim equal to S, as SDPA requires (mil-ops.md §4). */
function maskFits(mask: TensorType, scores: TensorType): boolean {
  const m = mask.shape;
  const s = scores.shape;
  if (m.length < 1 || m.length > s.length) return false;
  if (m[m.length - 1] !== s[s.length - 1]) return false;
  const off = s.length - m.length;
  return m.every((d, i) => d === 1 || d === s[off + i]);
}

/**
 * Reads the attention block rooted at `root` (a `matmul`). Returns undefined — and
 * changes nothing — when any layer differs from the decomposition above.
 */
export function matchAttention(root: Op, options: MatchOptions): AttentionMatch | undefined {
  const { target } = options;
  const m = match(ROOT, root);
  if (!m) return undefined;
  if (!flagIs(root, 'transpose_x', false, target) || !flagIs(root, 'transpose_y', false, target)) return undefined;
  const softmax = m.op('softmax');
  const logits = m.value('logits');
  const logitsType = tensorTypeOf(logits);
  if (!logitsType || !oneUse(logits)) return undefined;
  const axis = intParam(softmax, 'axis', -1, target);
  const rank = logitsType.shape.length;
  if (axis === undefined || (axis !== -1 && axis !== rank - 1)) return undefined;

  // A = add(Ss, mask) | Ss
  let maskValue: Value | undefined;
  let found: { scaled: ReturnType<typeof stripScales>; scores: Scores } | undefined;
  const addOp = logits.producer;
  const addMatch = addOp && addOp.type === 'add' ? match(MASK_ADD, addOp) : undefined;
  if (addMatch) {
    for (const [s, mk] of [
      [addMatch.value('a'), addMatch.value('b')],
      [addMatch.value('b'), addMatch.value('a')],
    ] as const) {
      const scaled = stripScales(s, target);
      const scores = oneUse(scaled.base) ? matchScores(scaled.base, target) : undefined;
      if (scores) {
        found = { scaled, scores };
        maskValue = mk;
        break;
      }
    }
  } else {
    const scaled = stripScales(logits, target);
    const scores = oneUse(scaled.base) ? matchScores(scaled.base, target) : undefined;
    if (scores) found = { scaled, scores };
  }
  if (!found) return undefined;
  const { scores } = found;

  // dtypes: SDPA takes one float dtype T for q, k and v (mil-ops.md §4)
  const query = scores.q.base;
  const key = scores.k.base;
  const value = m.value('value');
  const qt = tensorTypeOf(query);
  const kt = tensorTypeOf(key);
  const vt = tensorTypeOf(value);
  const outType = tensorTypeOf(root.output);
  if (!qt || !kt || !vt || !outType) return undefined;
  if (qt.dtype !== kt.dtype || qt.dtype !== vt.dtype || (qt.dtype !== 'fp16' && qt.dtype !== 'fp32')) return undefined;
  if (outType.dtype !== qt.dtype) return undefined;
  if (qt.shape.length < 2 || kt.shape.length < 2 || vt.shape.length < 2) return undefined;
  const R = outType.shape.length;
  if (R < 3) return undefined; // SDPA needs rank ≥ 3
  const embed = qt.shape[qt.shape.length - 1];
  if (typeof embed !== 'number' || embed < 1) return undefined;
  const batch = outType.shape.slice(0, R - 2);
  for (const t of [qt, kt, vt]) {
    const b = t.shape.slice(0, t.shape.length - 2);
    const padded = [...new Array<Dim>(R - 2 - b.length).fill(1), ...b];
    // a batch dim is either equal to the output's or 1 that a static tile can grow
    if (!padded.every((d, i) => d === batch[i] || (d === 1 && typeof batch[i] === 'number'))) return undefined;
  }

  // the mask must broadcast to the scores' shape without growing it
  let mask: MaskMatch | undefined;
  if (maskValue) {
    const mt = tensorTypeOf(maskValue);
    if (!mt || !sameShape(logitsType.shape, scores.type.shape)) return undefined;
    if (mt.dtype !== 'fp16' && mt.dtype !== 'fp32') return undefined;
    if (!maskFits(mt, scores.type)) return undefined;
    const bool = options.recoverBoolMasks ? matchBoolMask(maskValue, target) : undefined;
    mask = bool ? { kind: 'bool', value: bool } : { kind: 'float', value: maskValue };
  } else if (!sameShape(logitsType.shape, scores.type.shape)) {
    return undefined;
  }

  // Each constant is the rounding of an intended factor to its dtype. A factor that is a
  // rounding of 1/√E is taken as exactly 1/√E (that is what coremltools writes, mil-ops.md
  // §4), so fusing a lowered program gives back the same q multiplier bit for bit; the
  // product of the others may be off by one unit roundoff each (plus float64 products).
  const exact = 1 / Math.sqrt(embed);
  const factors = [...found.scaled.factors, ...scores.q.factors, ...scores.k.factors].map((f) =>
    Math.abs(f.value / exact - 1) <= unitRoundoff(f.dtype) ? { value: exact, dtype: 'fp64' as const } : f,
  );
  const scale = factors.reduce((p, f) => p * f.value, 1);
  if (!Number.isFinite(scale) || scale === 0) return undefined;
  const scaleTolerance = factors.reduce((t, f) => t + unitRoundoff(f.dtype), 0) + 4 * 2 ** -53;
  const rebinds = [scores.q.rebind, scores.k.rebind].filter((r): r is Rebind => r !== undefined);
  return { root, query, key, value, mask, scale, scaleTolerance, embed, batch, rebinds };
}
