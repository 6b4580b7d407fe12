/**
 * The op registry: every op signature of mil-ops.md §1–6, looked up by (op, target).
 */
import { type OpsetVersion, type Target, opsetVersionOf } from '../target.js';
import type { OpSignature } from './signature.js';
import { COMPRESSION_OPS } from './ops-compression.js';
import { CORE_OPS } from './ops-core.js';

const ORDER: readonly OpsetVersion[] = ['iOS15', 'iOS16', 'iOS17', 'iOS18'];

const BY_OP = new Map<string, OpSignature[]>();
for (const sig of [...CORE_OPS, ...COMPRESSION_OPS]) {
  const list = BY_OP.get(sig.op) ?? [];
  if (list.some((s) => s.since === sig.since)) throw new Error(`duplicate signature ${sig.op}@${sig.since}`);
  list.push(sig);
  list.sort((a, b) => ORDER.indexOf(a.since) - ORDER.indexOf(b.since));
  BY_OP.set(sig.op, list);
}

/** Every registered op name, sorted. */
export function registeredOps(): string[] {
  return [...BY_OP.keys()].sort();
}

/** Every signature of an op, oldest first (empty if unknown). */
export function signaturesOf(op: string): readonly OpSignature[] {
  return BY_OP.get(op) ?? [];
}

/** Every signature in the registry. */
export function allSignatures(): OpSignature[] {
  return [...BY_OP.values()].flat();
}

export function isRegisteredOp(op: string): boolean {
  return BY_OP.has(op);
}

/**
 * The signature a program for `target` uses for `op`: the newest introduced at or
 * before the target (mil-ops.md §0.1). Undefined when the op is unknown or newer than
 * the target.
 */
export function getSignature(op: string, target: Target): OpSignature | undefined {
  const list = BY_OP.get(op);
  if (!list) return undefined;
  const v = ORDER.indexOf(opsetVersionOf(target));
  let best: OpSignature | undefined;
  for (const s of list) if (ORDER.indexOf(s.since) <= v) best = s;
  return best;
}

/** The earliest opset at which `op` exists, or undefined if unknown. */
export function introducedAt(op: string): OpsetVersion | undefined {
  return BY_OP.get(op)?.[0]?.since;
}

export type { OpSignature, ParamSpec, OpArgs, DTypeSpec } from './signature.js';
export { OpTypeError } from './signature.js';
