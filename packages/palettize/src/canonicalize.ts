/**
 * The canonical order of a quantized LUT (mil-ops.md §7.6, coremltools'
 * `canonicalize_quantized_lut_pattern`), which depends on the deployment target:
 *
 * Below iOS26 — "dequantize the LUT, then depalettize":
 *
 * ```
 * %q   = constexpr_lut_to_dense(indices = %i, lut = %L) : int8[…]          (int LUT [G…, P, V])
 * %w   = constexpr_blockwise_shift_scale(data = %q, scale = %s, offset = %z)
 *   →
 * %Lf  = constexpr_blockwise_shift_scale(data = %L′, scale = %s′, offset = %z′)   (s′ = s.shape + [1, 1])
 * %w   = constexpr_lut_to_dense(indices = %i, lut = %Lf)
 * ```
 *
 * where `%L′` is the LUT repeated along every group axis on which the scale is finer than
 * the LUT grouping (groups `lcm(G_k, S_k)`), e.g. a per-channel scale over grouped LUTs.
 *
 * iOS26+ — "depalettize to integers, then dequantize" — the reverse, from a LUT scale
 * whose last two dims are 1 (a per-tensor or per-group LUT scale): the last two dims of
 * the scale (and offset) are dropped.
 *
 * Both orders compute `s · (L[idx] − z)` once per element, so the rewrite changes no value.
 * A chain this rewrite cannot express in the other order (a scale along a vector LUT's
 * axis; a per-entry LUT scale at iOS26+) is left as it is — it is still a valid program.
 */
import { freeName, removeIfDead } from '@silica/compression';
import {
  Builder,
  type Function,
  type Op,
  type Pass,
  type Program,
  type Target,
  type Tensor,
  type Value,
  clearConstCache,
  constValueOf,
  rawElements,
  scalar,
  targetAtLeast,
  tensorFromRaw,
} from '@silica/ir';

const INT_LUT = new Set(['int8', 'uint8']);

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The only op reading `v` as `param`, when `v` has exactly that one use. */
function soleReader(v: Value, type: string, param: string): Op | undefined {
  if (v.uses.length !== 1) return undefined;
  const u = v.uses[0];
  return u.kind === 'op' && u.op.type === type && u.param === param ? u.op : undefined;
}

function isIOS18Lut(op: Op): boolean {
  return op.type === 'constexpr_lut_to_dense' && !op.inputs.has('shape');
}

/** Repeats LUT groups so group dim k becomes `groups[k]` (a multiple of the old one). */
function repeatLut(lut: Tensor, groups: readonly number[]): Tensor {
  const K = groups.length;
  const old = lut.shape;
  if (groups.every((g, k) => g === old[k])) return lut;
  const entry = old[K] * old[K + 1];
  const src = rawElements(lut);
  const total = groups.reduce((a, b) => a * b, 1);
  const out = new (src.constructor as new (n: number) => typeof src)(total * entry);
  const idx = new Array<number>(K).fill(0);
  for (let g = 0; g < total; g++) {
    let flat = 0;
    for (let k = 0; k < K; k++) flat = flat * old[k] + Math.floor((idx[k] * old[k]) / groups[k]);
    out.set(src.subarray(flat * entry, (flat + 1) * entry), g * entry);
    for (let k = K - 1; k >= 0; k--) {
      if (++idx[k] < groups[k]) break;
      idx[k] = 0;
    }
  }
  return tensorFromRaw(lut.dtype, [...groups, old[K], old[K + 1]], out);
}

/** Gives `op` (and its single output) the name `name`, freed by the op it replaced. */
function rename(op: Op, name: string): void {
  op.name = name;
  op.outputs[0].name = name;
}

/** lut_to_dense(int LUT) → blockwise_shift_scale  ⇒  blockwise_shift_scale(LUT) → lut_to_dense. */
function dequantizeFirst(fn: Function, lutOp: Op, target: Target): boolean {
  const bss = soleReader(lutOp.output, 'constexpr_blockwise_shift_scale', 'data');
  if (!bss) return false;
  const lutV = lutOp.input('lut')!;
  const lut = constValueOf(lutV, target);
  const scale = constValueOf(bss.input('scale')!, target);
  const offsetV = bss.input('offset');
  const offset = offsetV ? constValueOf(offsetV, target) : undefined;
  if (!lut || !scale || (offsetV && !offset) || !INT_LUT.has(lut.dtype)) return false;
  const indices = lutOp.input('indices')!;
  const K = lut.rank - 2;
  const V = lut.shape[K + 1];
  const vaV = lutOp.input('vector_axis');
  const va = vaV ? Number(constValueOf(vaV, target)?.toNumbers()[0]) : undefined;
  const vectorAxis = va === undefined ? undefined : va < 0 ? va + K : va;
  if (V > 1 && vectorAxis !== undefined && scale.shape[vectorAxis] !== 1) return false;
  const idxShape = indices.type.kind === 'tensor' ? (indices.type.shape as number[]) : [];
  const groups = lut.shape.slice(0, K).map((g, k) => (g * scale.shape[k]) / gcd(g, scale.shape[k]));
  if (groups.some((g, k) => idxShape[k] % g !== 0)) return false;

  const b = new Builder(lutOp.parent!, target, { before: lutOp });
  const base = bss.name;
  const lutConst = b.const(repeatLut(lut, groups), { name: freeName(fn, `${base}_lut`) });
  const s2 = b.const(scale.reshape([...scale.shape, 1, 1]), { name: freeName(fn, `${base}_lut_scale`) });
  const z2 = offset ? b.const(offset.reshape([...offset.shape, 1, 1]), { name: freeName(fn, `${base}_lut_offset`) }) : undefined;
  const lutF = b.constexpr_blockwise_shift_scale({ data: lutConst, scale: s2, offset: z2 }, { name: freeName(fn, `${base}_lut_dequantized`) });
  const dense = b.create(
    'constexpr_lut_to_dense',
    { indices, lut: lutF, vector_axis: vectorAxis === undefined ? undefined : scalar('int32', vectorAxis) },
    { name: freeName(fn, `${base}_depalettized`) },
  );
  bss.output.replaceAllUsesWith(dense.output);
  removeIfDead(bss);
  rename(dense, base);
  return true;
}

/** blockwise_shift_scale(int LUT) → lut_to_dense  ⇒  lut_to_dense(int LUT) → blockwise_shift_scale. */
function depalettizeFirst(fn: Function, bss: Op, target: Target): boolean {
  const lutOp = soleReader(bss.output, 'constexpr_lut_to_dense', 'lut');
  if (!lutOp || !isIOS18Lut(lutOp)) return false;
  const data = bss.input('data')!;
  const lut = constValueOf(data, target);
  const scale = constValueOf(bss.input('scale')!, target);
  const offsetV = bss.input('offset');
  const offset = offsetV ? constValueOf(offsetV, target) : undefined;
  if (!lut || !scale || (offsetV && !offset) || !INT_LUT.has(lut.dtype)) return false;
  const K = lut.rank - 2;
  if (scale.shape[K] !== 1 || scale.shape[K + 1] !== 1) return false; // a per-entry LUT scale cannot move after depalettization
  const b = new Builder(lutOp.parent!, target, { before: lutOp });
  const base = lutOp.name;
  const vaV = lutOp.input('vector_axis');
  const ints = b.create(
    'constexpr_lut_to_dense',
    { indices: lutOp.input('indices')!, lut: data, vector_axis: vaV },
    { name: freeName(fn, `${base}_indices_palettized`) },
  );
  const s2 = b.const(scale.reshape(scale.shape.slice(0, K)), { name: freeName(fn, `${base}_scale`) });
  const z2 = offset ? b.const(offset.reshape(offset.shape.slice(0, K)), { name: freeName(fn, `${base}_offset`) }) : undefined;
  const out = b.create('constexpr_blockwise_shift_scale', { data: ints.output, scale: s2, offset: z2 }, { name: freeName(fn, `${base}_dequantized`) });
  lutOp.output.replaceAllUsesWith(out.output);
  removeIfDead(lutOp);
  rename(out, base);
  return true;
}

/**
 * Puts every quantized LUT of `program` in the canonical order for its target; returns how
 * many chains were rewritten.
 */
export function canonicalizeQuantizedLuts(program: Program): number {
  const target = program.target;
  const late = targetAtLeast(target, 'iOS26');
  let n = 0;
  for (const fn of program.functions.values()) {
    for (const op of [...fn.walk()]) {
      if (!op.parent) continue; // removed by an earlier rewrite
      if (!late && isIOS18Lut(op) && dequantizeFirst(fn, op, target)) n++;
      else if (late && op.type === 'constexpr_blockwise_shift_scale' && depalettizeFirst(fn, op, target)) n++;
    }
    for (const op of fn.walk()) for (const v of op.outputs) clearConstCache(v);
  }
  return n;
}

/** A pass that puts quantized LUTs in their canonical order for the program's target. */
export function canonicalizeQuantizedLut(): Pass {
  return {
    name: 'canonicalize-quantized-lut',
    minimumTarget: 'iOS18',
    run(program) {
      const rewritten = canonicalizeQuantizedLuts(program);
      return { changed: rewritten > 0, stats: { rewritten } };
    },
  };
}
