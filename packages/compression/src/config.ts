/**
 * Config resolution for a weight (mil-ops.md §7, `OptimizationConfig._get_const_op_config`):
 *
 *  1. an `opName` entry for the weight itself (the const's name, or under joint
 *     compression the name of a constexpr op of its chain);
 *  2. otherwise, for every op that reads the weight: its `opName` entry, else its
 *     `opType` entry, else the global config;
 *  3. all consumers must agree — different configs are an error naming the weight and
 *     the consumers (give the weight its own `opName` entry to settle it).
 *
 * `null` anywhere means "do not compress" (coremltools' `None` config), and is a config
 * like any other for the agreement check.
 *
 * Under joint compression "the ops that read the weight" are the real ops at the end of its
 * constexpr chain (the `linear` reading `constexpr_sparse_to_dense`), so `opType: { linear }`
 * keeps applying to a weight that is already compressed. (coremltools looks at the
 * constexpr op itself there, which no op-type config names.)
 */
import type { Op } from '@silica/ir';

export interface ConfigSet<C> {
  /** Config for every weight no more specific entry covers; `null` = leave them alone. */
  readonly global: C | null;
  /** By consumer op type (`linear`, `conv`, `matmul`, …). */
  readonly opType?: Readonly<Record<string, C | null>>;
  /** By op name: the const holding the weight, or a consumer op. */
  readonly opName?: Readonly<Record<string, C | null>>;
}

/** A config conflict or an invalid option: the message names the weight and the ops involved. */
export class CompressionConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CompressionConfigError';
  }
}

/** Deterministic JSON of plain config objects (keys sorted) — the default equality of configs. */
export function canonicalJson(x: unknown): string {
  if (x === null || typeof x !== 'object') return JSON.stringify(x) ?? 'undefined';
  if (Array.isArray(x)) return `[${x.map(canonicalJson).join(',')}]`;
  const o = x as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

export interface ConfigSubject {
  /** Names the weight answers to in `opName`, most specific first (the const, then its chain ops). */
  readonly names: readonly string[];
  /** The ops that read the weight's dense value. */
  readonly consumers: readonly Op[];
  /** For messages, e.g. `weight "fc1_weight" in function "main"`. */
  readonly label: string;
}

const own = (o: Readonly<Record<string, unknown>> | undefined, k: string): boolean =>
  o !== undefined && Object.prototype.hasOwnProperty.call(o, k);

/** The config a consumer op selects: its `opName` entry, else its `opType` entry, else global. */
export function configForOp<C>(op: Op, set: ConfigSet<C>): C | null {
  if (own(set.opName, op.name)) return set.opName![op.name];
  if (own(set.opType, op.type)) return set.opType![op.type];
  return set.global;
}

/**
 * Resolves the config of a weight (see the module comment). Returns `null` when the weight
 * is not to be compressed. Throws CompressionConfigError when consumers disagree.
 */
export function resolveConfig<C>(
  subject: ConfigSubject,
  set: ConfigSet<C>,
  pass: string,
  same: (a: C | null, b: C | null) => boolean = (a, b) => canonicalJson(a) === canonicalJson(b),
): C | null {
  for (const n of subject.names) if (own(set.opName, n)) return set.opName![n];
  if (subject.consumers.length === 0) return null;
  const configs = subject.consumers.map((op) => configForOp(op, set));
  for (let i = 1; i < configs.length; i++) {
    if (!same(configs[0], configs[i])) {
      const describe = (k: number): string => `${subject.consumers[k].type} "${subject.consumers[k].name}" → ${canonicalJson(configs[k])}`;
      throw new CompressionConfigError(
        `${pass}: ${subject.label} gets conflicting configs from its consumers: ${describe(0)}, but ${describe(i)}; ` +
          `give the weight its own opName entry ("${subject.names[0]}") to settle it`,
      );
    }
  }
  return configs[0];
}
