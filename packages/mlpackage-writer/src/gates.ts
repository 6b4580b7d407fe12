/**
 * The lowest deployment target a program's features need (mlpackage-format.md §12 feature
 * gates, §13.1, §14), each with the reason, so the writer can refuse with a message that
 * names the feature and the target it needs.
 */
import { type Program, type Target, compareTargets, introducedAt, signaturesOf } from '@silica/ir';

export interface Requirement {
  readonly target: Target;
  readonly feature: string;
}

export function requirements(program: Program): Requirement[] {
  const out: Requirement[] = [];
  const need = (target: Target, feature: string): void => {
    out.push({ target, feature });
  };
  if (program.multifunction || program.functions.size > 1) need('iOS18', 'a multifunction description (§4.2, §13)');
  for (const fn of program.functions.values()) {
    const where = `function "${fn.name}"`;
    if (fn.inputs.length === 0) need('iOS18', `${where} has no inputs (§4.6)`);
    for (const v of fn.inputs) {
      if (v.type.kind === 'state') need('iOS18', `${where} has the state input "${v.name}" (§14)`);
      else if (v.type.kind === 'tensor' && v.type.dtype === 'fp16') need('iOS16', `${where} has the FLOAT16 input "${v.name}" (§12)`);
      else if (v.type.kind === 'tensor' && v.type.dtype === 'int8') need('iOS26', `${where} has the INT8 input "${v.name}" (§12)`);
    }
    for (const v of fn.outputs) {
      if (v.type.kind === 'tensor' && v.type.dtype === 'fp16') need('iOS16', `${where} has the FLOAT16 output "${v.name}" (§12)`);
      else if (v.type.kind === 'tensor' && v.type.dtype === 'int8') need('iOS26', `${where} has the INT8 output "${v.name}" (§12)`);
    }
    for (const op of fn.walk()) {
      if (op.type === 'const') continue;
      const since = introducedAt(op.type);
      if (since && since !== 'iOS15') need(since, `${where} uses ${op.type} "${op.name}" (introduced at ${since})`);
      if (op.isConstexpr) need('iOS16', `${where} uses the compression op ${op.type} "${op.name}" (§12)`);
      // sub-byte constexpr operands need the iOS18 signatures (§12: "sub-byte constexprs")
      if (op.isConstexpr && signaturesOf(op.type).length > 1) {
        const subByte = op.operands().some((v) => v.type.kind === 'tensor' && ['int4', 'uint1', 'uint2', 'uint3', 'uint4', 'uint6'].includes(v.type.dtype));
        if (subByte) need('iOS18', `${where} uses ${op.type} "${op.name}" with sub-byte operands (iOS18 signature)`);
      }
    }
  }
  return out;
}

/** The highest requirement, or undefined when iOS15 suffices. */
export function minimumTarget(program: Program): Requirement | undefined {
  let best: Requirement | undefined;
  for (const r of requirements(program)) if (!best || compareTargets(r.target, best.target) > 0) best = r;
  return best;
}
