/**
 * What a kernel sees of the op it executes. Parameters are read by name; optional
 * parameters take the default that mil-ops.md gives when the op omits them
 * (§0.2: omitting any optional argument is legal).
 */
import type { Op, Target, TensorType } from '@silica/ir';
import type { RTensor } from './rtensor.js';

export interface KernelContext {
  readonly op: Op;
  readonly target: Target;
  /** Whether `param` is bound. */
  has(param: string): boolean;
  /** The single tensor bound to `param`; fails when absent. */
  tensor(param: string): RTensor;
  /** The tensor bound to `param`, or undefined when the op omits it. */
  optional(param: string): RTensor | undefined;
  /** Every tensor bound to a tuple parameter (e.g. `concat.values`), in order. */
  tuple(param: string): RTensor[];
  /** An integer list parameter (`axes`, `perm`, `begin`…), or `dflt` when omitted. */
  ints(param: string, dflt?: readonly number[]): number[];
  /** An integer scalar parameter, or `dflt` when omitted. */
  int(param: string, dflt?: number): number;
  /** A float scalar parameter, or `dflt` when omitted. */
  float(param: string, dflt?: number): number;
  /** A bool scalar parameter, or `dflt` when omitted. */
  bool(param: string, dflt?: boolean): boolean;
  /** A bool list parameter (slice masks), or `dflt` when omitted. */
  bools(param: string, dflt?: readonly boolean[]): boolean[];
  /** A string scalar parameter, or `dflt` when omitted. */
  string(param: string, dflt?: string): string;
  /** Whether every value bound to `param` is a session constant (const, constexpr or folded). */
  isConst(param: string): boolean;
  /**
   * A per-session, per-op memo for work that depends only on const operands (a
   * transposed weight): `make` runs once, later calls return its result.
   */
  memo<T>(key: string, make: () => T): T;
  /** The declared type of output `i` (the op's output Value type). */
  outputType(i: number): TensorType;
  /** Current contents of the state bound to `param` (read_state). */
  readState(param: string): RTensor;
  /** Replaces the contents of the state bound to `param` (write_state). */
  writeState(param: string, value: RTensor): void;
  /** Runs nested block `index` of the op with the given block inputs; returns its outputs. */
  runBlock(index: number, inputs: readonly RTensor[]): RTensor[];
  /** Throws an error naming the op (and the parameter, if given). */
  fail(message: string, param?: string): never;
}

export type Kernel = (ctx: KernelContext) => RTensor[];
