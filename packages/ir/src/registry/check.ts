/**
 * Generic operand checks driven by a signature's ParamSpecs: required/unknown params,
 * value kind (tensor/state/tuple), dtype domains and type-variable agreement, rank, and
 * constness. Op-specific shape rules live in each signature's `infer`.
 */
import type { DType } from '../dtype.js';
import { type ValueType, formatType } from '../types.js';
import type { OpArgs, OpSignature, ParamSpec } from './signature.js';

export interface OperandInfo {
  /** Types bound to each parameter, in order. */
  types(param: string): readonly ValueType[] | undefined;
  /** Whether each bound value is const (mil-ops.md §0.2). */
  isConst(param: string): readonly boolean[] | undefined;
  /** Names of every bound parameter. */
  params(): readonly string[];
}

function allowed(sig: OpSignature, spec: ParamSpec): readonly DType[] {
  if (typeof spec.dtypes !== 'string') return spec.dtypes;
  const tv = sig.typeVars?.[spec.dtypes];
  if (!tv) throw new Error(`signature ${sig.op}@${sig.since}: unknown type variable ${spec.dtypes}`);
  return tv;
}

/** Checks operands against the signature; fails through `args.fail` with the param named. */
export function checkOperands(sig: OpSignature, info: OperandInfo, args: OpArgs): void {
  const specs = new Map(sig.params.map((p) => [p.name, p]));
  for (const p of info.params()) {
    if (!specs.has(p)) {
      args.fail(p, `is not a parameter of ${sig.op} (${sig.since} signature has: ${sig.params.map((s) => s.name).join(', ') || 'none'})`);
    }
  }
  const bound: Record<string, DType> = {};
  for (const spec of sig.params) {
    const types = info.types(spec.name);
    if (!types || types.length === 0) {
      if (!spec.optional) args.fail(spec.name, 'is required but missing');
      continue;
    }
    const kind = spec.kind ?? 'tensor';
    if (kind !== 'tuple' && types.length !== 1) args.fail(spec.name, `expects one value, got ${types.length}`);
    const dom = allowed(sig, spec);
    types.forEach((t, i) => {
      const where = types.length > 1 ? ` (element ${i})` : '';
      let dtype: DType;
      let rank: number;
      if (kind === 'state') {
        if (t.kind !== 'state') args.fail(spec.name, `expects a state, got ${formatType(t)}${where}`);
        const w = (t as Extract<ValueType, { kind: 'state' }>).wrapped;
        dtype = w.dtype;
        rank = w.shape.length;
      } else {
        if (t.kind !== 'tensor') args.fail(spec.name, `expects a tensor, got ${formatType(t)}${where}`);
        dtype = (t as Extract<ValueType, { kind: 'tensor' }>).dtype;
        rank = (t as Extract<ValueType, { kind: 'tensor' }>).shape.length;
      }
      if (!dom.includes(dtype)) {
        args.fail(spec.name, `dtype ${dtype}${where} is not allowed by the ${sig.since} signature (allowed: ${dom.join(', ')})`);
      }
      if (typeof spec.dtypes === 'string') {
        const prev = bound[spec.dtypes];
        if (prev !== undefined && prev !== dtype) {
          args.fail(spec.name, `dtype ${dtype}${where} must equal the other ${spec.dtypes}-typed inputs (${prev})`);
        }
        bound[spec.dtypes] = dtype;
      }
      if (spec.rank !== undefined) {
        const [lo, hi] = typeof spec.rank === 'number' ? [spec.rank, spec.rank] : spec.rank;
        if (rank < lo || rank > hi) {
          const want = lo === hi ? `${lo}` : hi === Infinity ? `≥ ${lo}` : `${lo}..${hi}`;
          args.fail(spec.name, `rank ${rank}${where} is not allowed (expected rank ${want})`);
        }
      }
    });
    if (spec.const) {
      const cs = info.isConst(spec.name) ?? [];
      const i = cs.findIndex((c) => !c);
      if (i >= 0) args.fail(spec.name, `must be a compile-time constant (const or constexpr output)${types.length > 1 ? ` (element ${i})` : ''}`);
    }
  }
}
