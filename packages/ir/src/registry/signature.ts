/**
 * Op signatures as data (ARCHITECTURE.md "Op signatures are data"). One OpSignature per
 * (op, introducing opset), as mil-ops.md §0.1 describes: a program for target T uses,
 * for each op, the newest signature introduced at or before T; targets above iOS18 use
 * the iOS18 signatures.
 *
 * A signature drives type inference (`infer`), the verifier (param specs), the writer
 * (`storage`: attribute vs input form of constexpr ops, mlpackage-format.md §9.4) and
 * the evaluation of constexpr ops (`evaluate`).
 */
import type { DType } from '../dtype.js';
import type { Tensor } from '../tensor.js';
import type { OpsetVersion } from '../target.js';
import type { TensorType, ValueType } from '../types.js';

/** Allowed dtypes of a parameter: an explicit list, or the name of a type variable of the signature. */
export type DTypeSpec = readonly DType[] | string;

export interface ParamSpec {
  readonly name: string;
  /**
   * `tensor` (default): one tensor value; `state`: a state-typed value;
   * `tuple`: one or more tensor values bound in order (e.g. `concat.values`).
   */
  readonly kind?: 'tensor' | 'state' | 'tuple';
  /** Allowed element dtypes (for a state: of the wrapped tensor). */
  readonly dtypes: DTypeSpec;
  /** The argument must be a compile-time constant (mil-ops.md §0.2). */
  readonly const?: boolean;
  readonly optional?: boolean;
  /**
   * Default of an optional parameter. `materialized` = coremltools writes it as a
   * separate const even when the user omitted it (mil-ops.md §0.2).
   */
  readonly default?: {
    readonly value: number | boolean | string | readonly number[] | readonly boolean[];
    readonly dtype: DType;
    readonly materialized: boolean;
    /**
     * The exact default when it depends on the other operands (e.g. `linear.bias` zeros of
     * `[D_out]`, `conv.strides` ones per spatial dim, `rsqrt.epsilon` in `x`'s dtype); then
     * `value`/`dtype` only describe it. Undefined when it cannot be known yet.
     */
    readonly resolve?: (args: OpArgs) => Tensor | undefined;
  };
  /** Allowed ranks: exact, or [min, max] inclusive (max may be Infinity). */
  readonly rank?: number | readonly [number, number];
  /** One-line description (shown in errors and docs). */
  readonly doc?: string;
}

/** What inference and evaluation see of an op's operands. */
export interface OpArgs {
  readonly opType: string;
  readonly opName: string;
  /** Whether the parameter is bound. */
  has(param: string): boolean;
  /** Type of the single value bound to `param` (throws if absent). */
  type(param: string): ValueType;
  /** Tensor type of `param` (throws if absent or not a tensor; for a state, its wrapped type via `stateOf`). */
  tensor(param: string): TensorType;
  /** Types of every value bound to a tuple param. */
  types(param: string): readonly ValueType[];
  /**
   * Whether every value bound to `param` is a compile-time constant (mil-ops.md §0.2).
   * Cheap: never evaluates constexpr chains (use it instead of `constValue` on weights).
   */
  isConst(param: string): boolean;
  /** The constant value of `param` if it is known at compile time, else undefined. */
  constValue(param: string): Tensor | undefined;
  /** Constant value of `param`, or the spec default when the param is absent; undefined if not const. */
  constOrDefault(param: string): Tensor | undefined;
  /** Constant values of a tuple param's elements (undefined where not const). */
  constValues(param: string): ReadonlyArray<Tensor | undefined>;
  /** Throws an OpTypeError naming the op and the parameter. */
  fail(param: string | null, message: string): never;
}

export interface OpSignature {
  readonly op: string;
  /** Opset generation that introduced this signature. */
  readonly since: OpsetVersion;
  /** Ordered parameter specs. */
  readonly params: readonly ParamSpec[];
  /** Type variables, e.g. `{ T: ['fp16', 'fp32'] }`; params with the same variable must share a dtype. */
  readonly typeVars?: Readonly<Record<string, readonly DType[]>>;
  /** Number of outputs, or 'variadic' (e.g. `split`), fixed by `infer`. */
  readonly outputs: number | 'variadic';
  /**
   * How the parameters are stored in the protobuf (mlpackage-format.md §9.4):
   * `inputs` (ordinary ops and iOS18 constexprs) or `attributes` (iOS16 constexprs).
   */
  readonly storage: 'inputs' | 'attributes';
  /** Nested blocks the op carries (`cond`, `while_loop`), if any. */
  readonly blocks?: number;
  /** One-line summary. */
  readonly doc: string;
  /** Output types from the operands; throws (via args.fail) on invalid operands. */
  infer(args: OpArgs): ValueType[];
  /**
   * Value of the outputs when every input is constant (constexpr ops and ops that can be
   * folded, as coremltools' value inference does). Absent = not evaluable at compile time.
   */
  evaluate?(args: OpArgs): Tensor[];
}

export class OpTypeError extends Error {
  readonly opType: string;
  readonly opName: string;
  readonly param: string | null;
  constructor(opType: string, opName: string, param: string | null, message: string) {
    super(`${opType} "${opName}"${param ? `, input "${param}"` : ''}: ${message}`);
    this.name = 'OpTypeError';
    this.opType = opType;
    this.opName = opName;
    this.param = param;
  }
}
