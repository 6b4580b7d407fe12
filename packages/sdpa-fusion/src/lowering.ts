/**
 * The inverse of the fusion: `scaled_dot_product_attention` → the decomposition
 * coremltools emits for targets below iOS18 (mil-ops.md §4,
 * `_decompose_scaled_dot_product_attention`):
 *
 * ```
 * %o = scaled_dot_product_attention(query = %q, key = %k, value = %v, attn_mask = %m) : fp16[1, 4, 16, 64]
 * ```
 *
 * becomes
 *
 * ```
 * %q2 = mul(x = %q, y = %c) : fp16[1, 4, 16, 64]                       c = 1/√E in q's dtype
 * %a  = matmul(x = %q2, y = %k, transpose_x = %f, transpose_y = %t) : fp16[1, 4, 16, 16]
 * %a2 = add(x = %a, y = %m) : fp16[1, 4, 16, 16]                        only with a mask
 * %p  = softmax(x = %a2, axis = %m1) : fp16[1, 4, 16, 16]
 * %o  = matmul(x = %p, y = %v, transpose_x = %f, transpose_y = %f) : fp16[1, 4, 16, 64]
 * ```
 *
 * A bool mask is first made additive as `mul(sub(1, cast(m, q dtype)), -3e4)` — a large
 * negative number that does not overflow fp16 (mil-ops.md §4); a float mask of another
 * dtype than q is cast to q's. The last matmul takes the SDPA's op and value names.
 */
import { type Builder, type Op, type Rewriter, type Rule, type Value, pat, rule } from '@silica/ir';
import { replaceKeepingName, scalarOf, tensorTypeOf } from './common.js';

/** The additive fill a bool mask gets in the decomposed form (mil-ops.md §4). */
export const BOOL_MASK_FILL = -3e4;

/** Operands of an SDPA op, checked for what the decompositions need. */
export interface SdpaOperands {
  readonly query: Value;
  readonly key: Value;
  readonly value: Value;
  readonly mask: Value | undefined;
  /** E, static. */
  readonly embed: number;
  readonly dtype: 'fp16' | 'fp32';
}

/** Reads the operands of an SDPA op; throws, naming the op, when E is not static (the scale 1/√E must be known). */
export function sdpaOperands(op: Op, pass: string): SdpaOperands {
  const query = op.input('query');
  const key = op.input('key');
  const value = op.input('value');
  if (!query || !key || !value) {
    throw new Error(`${pass}: scaled_dot_product_attention "${op.name}" lacks ${!query ? 'query' : !key ? 'key' : 'value'}`);
  }
  const qt = tensorTypeOf(query);
  if (!qt || (qt.dtype !== 'fp16' && qt.dtype !== 'fp32')) {
    throw new Error(`${pass}: scaled_dot_product_attention "${op.name}": query must be an fp16 or fp32 tensor`);
  }
  const embed = qt.shape[qt.shape.length - 1];
  if (typeof embed !== 'number') {
    throw new Error(
      `${pass}: scaled_dot_product_attention "${op.name}": the embedding size E (last dim of query) is the symbol "${embed}"; the decomposition needs it static to write the scale 1/√E`,
    );
  }
  return { query, key, value, mask: op.input('attn_mask'), embed, dtype: qt.dtype };
}

/**
 * The mask as an additive float tensor of q's dtype: a bool mask through
 * `(1 - cast(m)) * -3e4`, a float mask cast when its dtype differs.
 */
export function additiveMask(b: Builder, mask: Value, dtype: 'fp16' | 'fp32'): Value {
  const mt = tensorTypeOf(mask)!;
  if (mt.dtype === 'bool') {
    const asFloat = b.cast({ x: mask, dtype });
    const inverted = b.sub({ x: scalarOf(dtype, 1), y: asFloat });
    return b.mul({ x: inverted, y: scalarOf(dtype, BOOL_MASK_FILL) });
  }
  return mt.dtype === dtype ? mask : b.cast({ x: mask, dtype });
}

/** Builds the decomposition of one SDPA op before it and replaces it. */
export function lower(op: Op, rw: Rewriter, pass: string): void {
  const s = sdpaOperands(op, pass);
  const b = rw.builder(op);
  // coremltools rounds 1/√E to fp16 for an fp16 query (scale constant in the query's dtype)
  const q2 = b.mul({ x: s.query, y: scalarOf(s.dtype, 1 / Math.sqrt(s.embed)) });
  let scores = b.matmul({ x: q2, y: s.key, transpose_x: false, transpose_y: true });
  if (s.mask) scores = b.add({ x: scores, y: additiveMask(b, s.mask, s.dtype) });
  const probs = b.softmax({ x: scores, axis: -1 });
  const out = b.matmul({ x: probs, y: s.value, transpose_x: false, transpose_y: false });
  replaceKeepingName(rw, op, out);
}

export interface LoweringCounters {
  lowered: number;
}

export function loweringRule(pass: string, counters: LoweringCounters): Rule {
  return rule(
    // scaled_dot_product_attention(q, k, v, m) -> matmul(softmax(add(matmul(mul(q, 1/√E), k, transpose_y = true), m), axis = -1), v)
    'lower-scaled-dot-product-attention',
    pat.op('scaled_dot_product_attention'),
    (m, rw) => {
      lower(m.root, rw, pass);
      counters.lowered++;
      return true;
    },
  );
}
