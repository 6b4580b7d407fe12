/**
 * Which consts are weights to compress — candidate selection exactly as mil-ops.md §7.1 —
 * and the constexpr chains joint compression works on (§7.6).
 *
 * A const op is compressed only if all of these hold (checked in this order, as
 * coremltools' `is_valid_op` → `_get_const_op_config` → `need_compress_const`):
 *
 *  1. its value has ≥ 10 elements and dtype fp16, fp32, uint8 or int8 (the blob-storage
 *     test) — consts failing this are not weights at all and are not reported;
 *  2. at least one op reads it (a const read only by block outputs is left alone: Core ML
 *     cannot feed a constexpr output straight to a block output);
 *  3. it is not already an input of a `constexpr_*` op — unless joint compression is on,
 *     it is the only reader, and the reader/parameter pair is one the pass declares
 *     (`jointRoles`, e.g. `constexpr_sparse_to_dense.nonzero_data` for quantization);
 *  4. a config applies (see config.ts; `null` = skip);
 *  5. rank ≥ 2, unless its first reader is a constexpr op;
 *  6. element count **>** the config's `weightThreshold` — under joint compression the
 *     count of the final dense weight at the end of the chain.
 *
 * For pruning under joint compression the weights are instead the outputs of existing
 * `constexpr_blockwise_shift_scale` / `constexpr_lut_to_dense` ops (`constexprWeights`).
 */
import { type Block, type DType, type Function, type Op, type Program, type Value, isStaticShape, numElements } from '@silica/ir';
import { type ConfigSet, resolveConfig } from './config.js';

/** A constexpr parameter a const may feed under joint compression, e.g. `{ opType: 'constexpr_lut_to_dense', param: 'lut' }`. */
export interface JointRole {
  readonly opType: string;
  readonly param: string;
}

export interface Weight {
  readonly fn: Function;
  readonly block: Block;
  /** The op holding the data to compress: a `const`, or (pruning under joint compression) a constexpr op. */
  readonly op: Op;
  /** `op`'s output that is compressed. */
  readonly value: Value;
  readonly name: string;
  /** `weight "name" (function "main")` — how messages name the weight. */
  readonly label: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Constexpr ops from `value` to the dense weight, in data-flow order (empty for a plain const). */
  readonly chain: readonly Op[];
  /** The dense weight the real ops read (`value` itself when there is no chain). */
  readonly dense: Value;
  readonly denseShape: readonly number[];
  readonly denseDType: DType;
  /** The real (non-constexpr) ops that read `dense`, each once, in use order. */
  readonly consumers: readonly Op[];
  /** How `value` feeds `chain[0]` (joint compression), e.g. `{ op: <constexpr_sparse_to_dense>, param: 'nonzero_data' }`. */
  readonly role: { readonly op: Op; readonly param: string } | undefined;
}

export interface SkippedWeight {
  readonly function: string;
  readonly weight: string;
  readonly reason: string;
}

export interface SelectOptions<C> {
  /** Pass name, for messages. */
  readonly pass: string;
  readonly configs: ConfigSet<C>;
  readonly joint: boolean;
  /** Constexpr parameters a const may feed under joint compression. */
  readonly jointRoles?: readonly JointRole[];
  /** When set (and joint): the weights are the outputs of constexpr ops of these types instead of consts. */
  readonly constexprWeights?: readonly string[];
  /** The `weightThreshold` of a config. */
  readonly threshold: (config: C) => number;
  /** Config equality for the consumer-agreement check (default: canonical JSON). */
  readonly same?: (a: C | null, b: C | null) => boolean;
}

export interface Selection<C> {
  readonly selected: ReadonlyArray<{ readonly weight: Weight; readonly config: C }>;
  readonly skipped: readonly SkippedWeight[];
}

/** Dtypes a const must have to be a weight (§7.1 rule 2, the blob-storage test). */
export const WEIGHT_DTYPES: readonly DType[] = ['fp16', 'fp32', 'uint8', 'int8'];

/** §7.1 rule 2: ≥ 10 elements and a storable dtype. */
export function isStorableWeight(dtype: DType, shape: readonly number[]): boolean {
  return numElements(shape) >= 10 && WEIGHT_DTYPES.includes(dtype);
}

/** The ops reading `v` (each once, in use order) — block outputs are not ops. */
export function readers(v: Value): Op[] {
  return v.users;
}

/** The param through which `op` reads `v` (first binding). */
export function paramOf(op: Op, v: Value): string | undefined {
  for (const [param, vs] of op.inputs) if (vs.includes(v)) return param;
  return undefined;
}

/**
 * The output of a constexpr op that carries the (partial) weight onward: the only output,
 * or for the two-output ops (`constexpr_lut_to_sparse`, `constexpr_sparse_blockwise_shift_scale`)
 * the nonzero-data output (index 1), which feeds `constexpr_sparse_to_dense.nonzero_data`.
 */
export function carriedOutput(op: Op): Value {
  return op.outputs.length === 2 ? op.outputs[1] : op.outputs[0];
}

/**
 * Follows a constexpr chain from `v` to the dense weight: while `v` is read by a constexpr
 * op, step to that op's carried output (the first constexpr reader, as coremltools' depth-first
 * search). Returns the chain ops and the dense value.
 */
export function followChain(v: Value): { chain: Op[]; dense: Value } {
  const chain: Op[] = [];
  let cur = v;
  for (;;) {
    const next = readers(cur).find((op) => op.isConstexpr);
    if (!next || chain.includes(next)) return { chain, dense: cur };
    chain.push(next);
    cur = carriedOutput(next);
  }
}

/**
 * The constexpr chain that produces `dense` (walking producers back while they are constexpr
 * ops), in data-flow order, and the const ops holding its data. Empty chain for a plain const.
 * This is how a pass finds what a weight already is before compressing it again.
 */
export function producerChain(dense: Value): { chain: Op[]; consts: Op[] } {
  const chain: Op[] = [];
  const consts: Op[] = [];
  const seen = new Set<Op>();
  const visit = (v: Value): void => {
    const p = v.producer;
    if (!p || seen.has(p)) return;
    seen.add(p);
    if (p.type === 'const') {
      consts.push(p);
      return;
    }
    if (!p.isConstexpr) return;
    for (const x of p.operands()) visit(x);
    chain.push(p);
  };
  visit(dense);
  return { chain, consts };
}

function staticTensorShape(v: Value): { dtype: DType; shape: number[] } | undefined {
  if (v.type.kind !== 'tensor' || !isStaticShape(v.type.shape)) return undefined;
  return { dtype: v.type.dtype, shape: [...(v.type.shape as readonly number[])] };
}

function weightLabel(name: string, fn: Function): string {
  return `weight "${name}" (function "${fn.name}")`;
}

/**
 * Selects the weights a pass compresses (see the module comment) with their resolved
 * configs, and the reasons others were skipped. Throws CompressionConfigError on a config
 * conflict between consumers.
 */
export function selectWeights<C>(program: Program, options: SelectOptions<C>): Selection<C> {
  const selected: Array<{ weight: Weight; config: C }> = [];
  const skipped: SkippedWeight[] = [];
  const roles = options.jointRoles ?? [];
  const constexprMode = options.joint && options.constexprWeights !== undefined;
  for (const fn of program.functions.values()) {
    for (const op of fn.walk()) {
      const isCandidateOp = constexprMode ? options.constexprWeights!.includes(op.type) : op.type === 'const';
      if (!isCandidateOp || op.outputs.length < 1) continue;
      const value = op.outputs[0];
      const t = staticTensorShape(value);
      if (!t || !isStorableWeight(t.dtype, t.shape)) continue;
      const skip = (reason: string): void => {
        skipped.push({ function: fn.name, weight: op.name, reason });
      };
      const users = readers(value);
      if (users.length === 0) {
        skip(value.uses.length > 0 ? 'read only by block outputs (a constexpr op cannot feed a block output)' : 'unused');
        continue;
      }
      const constexprUsers = users.filter((u) => u.isConstexpr);
      let role: Weight['role'];
      if (constexprUsers.length > 0) {
        const first = constexprUsers[0];
        const param = paramOf(first, value) ?? '?';
        if (constexprMode) {
          skip(`feeds ${first.type} "${first.name}" (${param}); only the last op of a constexpr chain is compressed again`);
          continue;
        }
        if (!options.joint) {
          skip(`already an input of ${first.type} "${first.name}" (${param}); compress it again with joint: true`);
          continue;
        }
        if (users.length !== 1 || !roles.some((r) => r.opType === first.type && r.param === param)) {
          skip(`${first.type} "${first.name}" reads it as "${param}", which ${options.pass} cannot compress further`);
          continue;
        }
        role = { op: first, param };
      }
      const { chain, dense } = role ? followChain(value) : { chain: [] as Op[], dense: value };
      const d = staticTensorShape(dense);
      if (!d) {
        skip('the dense weight has no static tensor shape');
        continue;
      }
      const consumers = readers(dense).filter((u) => !u.isConstexpr);
      const label = weightLabel(op.name, fn);
      const config = resolveConfig(
        { names: [op.name, ...chain.map((c) => c.name)], consumers, label },
        options.configs,
        options.pass,
        options.same,
      );
      if (config === null) {
        skip(consumers.length === 0 ? 'no op reads its dense value' : 'no config applies (null config)');
        continue;
      }
      // §7.1 rule 4: rank-0/1 consts are skipped unless their first reader is a constexpr op
      if (t.shape.length <= 1 && !users[0].isConstexpr) {
        skip(`rank ${t.shape.length} < 2 (rank-0/1 weights are left alone, mil-ops.md §7.1)`);
        continue;
      }
      // §7.1 rule 5: strictly greater than the threshold; under joint, the final dense count
      const count = options.joint ? numElements(d.shape) : numElements(t.shape);
      const threshold = options.threshold(config);
      if (!(count > threshold)) {
        skip(`${count} elements, not more than weightThreshold ${threshold}`);
        continue;
      }
      selected.push({
        config,
        weight: {
          fn,
          block: op.parent!,
          op,
          value,
          name: op.name,
          label,
          shape: t.shape,
          dtype: t.dtype,
          chain,
          dense,
          denseShape: d.shape,
          denseDType: d.dtype,
          consumers,
          role,
        },
      });
    }
  }
  return { selected, skipped };
}
