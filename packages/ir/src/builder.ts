/**
 * The builder: writes programs in code, the way coremltools' `mb` does.
 *
 * ```ts
 * const program = buildProgram('iOS18', (p) => {
 *   p.function('main', { x: tensorType('fp16', [1, 4]) }, (b, { x }) => {
 *     const w = b.const(tensorFromValues('fp16', [2, 4], [...]));
 *     return b.relu({ x: b.linear({ x, weight: w, bias: [0, 0] }) });
 *   });
 * });
 * ```
 *
 * Every op is type-checked by the registry when it is built (`typeCheckOp`), so a bad
 * operand fails here, with the registry's message naming the op, the input and why.
 * Output types come from the signature's inference. Numbers, booleans, strings and
 * (nested) arrays passed where a Value is expected become `const` ops of the dtype the
 * parameter declares. Names come from `fn.freshName(type)` unless given.
 *
 * A builder appends to its block, or — `b.insertBefore(anchor)` — inserts every new op
 * immediately before an anchor op, so a pass can build replacements and keep the block
 * topologically ordered.
 */
import { type DType, DTYPE_INFO, isFloat } from './dtype.js';
import { Block, Function as Fn, Op, Program, Value } from './ir.js';
import type { Target } from './target.js';
import { Tensor, stringTensor, tensorFromValues } from './tensor.js';
import { type ValueType, isValidIdentifier, tensorType } from './types.js';
import { getSignature, introducedAt, isRegisteredOp } from './registry/index.js';
import { type OpSignature, type ParamSpec, OpTypeError } from './registry/signature.js';
import { typeCheckOp } from './registry/args.js';
import { verifyProgram } from './verifier.js';

/** Constant data written inline: a scalar or a (nested, rectangular) array. */
export type ConstData = number | boolean | string | readonly ConstData[];

/** What may be passed for an op input: a Value, a Tensor or inline data (both become consts). */
export type Operand = Value | Tensor | ConstData;

/** Inputs of an op by parameter name; `undefined` entries are skipped (optional params). */
export type OpInputs = Readonly<Record<string, Operand | readonly Operand[] | undefined>>;

export interface OpOptions {
  /** Name of the op and its output (`${name}_${i}` for several outputs). Must be unused. */
  readonly name?: string;
}

export interface ConstOptions extends OpOptions {
  /** Dtype of inline data (default: bool for booleans, string for strings, fp32 for numbers). */
  readonly dtype?: DType;
  /** Shape of inline data given flat (default: the nesting of the array). */
  readonly shape?: readonly number[];
}

type In = Operand;
type Opt = Operand | undefined;

export interface LinearInputs { readonly x: In; readonly weight: In; readonly bias?: Opt }
export interface MatmulInputs { readonly x: In; readonly y: In; readonly transpose_x?: Opt; readonly transpose_y?: Opt }
export interface BinaryInputs { readonly x: In; readonly y: In }
export interface UnaryInputs { readonly x: In }
export interface GeluInputs { readonly x: In; readonly mode?: Opt }
export interface SoftmaxInputs { readonly x: In; readonly axis?: Opt }
export interface ReshapeInputs { readonly x: In; readonly shape: In }
export interface TransposeInputs { readonly x: In; readonly perm: In }
export interface ConcatInputs { readonly values: readonly In[]; readonly axis: In; readonly interleave?: Opt }
export interface SplitInputs { readonly x: In; readonly num_splits?: Opt; readonly split_sizes?: Opt; readonly axis: In }
export interface SliceMasks { readonly stride?: Opt; readonly begin_mask?: Opt; readonly end_mask?: Opt; readonly squeeze_mask?: Opt }
export interface SliceByIndexInputs extends SliceMasks { readonly x: In; readonly begin: In; readonly end: In }
export interface SliceUpdateInputs extends SliceMasks { readonly x: In; readonly update: In; readonly begin: In; readonly end: In }
export interface LayerNormInputs { readonly x: In; readonly axes?: Opt; readonly gamma?: Opt; readonly beta?: Opt; readonly epsilon?: Opt }
export interface ConvInputs {
  readonly x: In;
  readonly weight: In;
  readonly bias?: Opt;
  readonly strides?: Opt;
  readonly pad_type?: Opt;
  readonly pad?: Opt;
  readonly dilations?: Opt;
  readonly groups?: Opt;
}
export interface CastInputs { readonly x: In; readonly dtype: In }
export interface ReadStateInputs { readonly input: Value }
export interface WriteStateInputs { readonly input: Value; readonly data: In }
export interface SdpaInputs { readonly query: In; readonly key: In; readonly value: In; readonly attn_mask?: Opt }
export interface AffineDequantizeInputs { readonly quantized_data: In; readonly zero_point: In; readonly scale: In; readonly axis: In }
export interface ConstexprCastInputs { readonly source_val: In; readonly output_dtype: In }
export interface LutToDenseInputs { readonly indices: In; readonly lut: In; readonly shape?: Opt; readonly vector_axis?: Opt }
export interface SparseToDenseInputs { readonly nonzero_data: In; readonly mask: In; readonly shape?: Opt }
export interface BlockwiseShiftScaleInputs { readonly data: In; readonly scale: In; readonly offset?: Opt }
export interface LutToSparseInputs { readonly indices_mask: In; readonly indices_nonzero_data: In; readonly lut: In; readonly vector_axis?: Opt }
export interface SparseBlockwiseShiftScaleInputs { readonly data_mask: In; readonly nonzero_data: In; readonly scale: In; readonly offset?: Opt }

export interface BuilderOptions {
  /** Insert every new op immediately before this op (which must be in the builder's block). */
  readonly before?: Op;
  /** Called with every op the builder inserts (consts included), in insertion order. */
  readonly onInsert?: (op: Op) => void;
}

export class Builder {
  readonly fn: Fn;
  readonly block: Block;
  readonly target: Target;
  /** The op new ops are inserted before, or null to append at the end of the block. */
  readonly anchor: Op | null;
  private readonly onInsert: ((op: Op) => void) | undefined;

  constructor(where: Fn | Block, target: Target, options: BuilderOptions = {}) {
    const anchor = options.before ?? null;
    let block = where instanceof Fn ? where.block : where;
    if (anchor) {
      if (!anchor.parent) throw new Error(`builder: anchor op ${anchor.type} "${anchor.name}" is not in any block`);
      if (where instanceof Fn) block = anchor.parent;
      else if (anchor.parent !== where) throw new Error(`builder: anchor op ${anchor.type} "${anchor.name}" is not in the given block`);
    }
    const fn = block.function;
    if (!fn) throw new Error('builder: the block is not attached to a function (attach nested blocks to their op first)');
    this.fn = fn;
    this.block = block;
    this.target = target;
    this.anchor = anchor;
    this.onInsert = options.onInsert;
  }

  /** A builder on the same function that inserts before `anchor` (in the anchor's block). */
  insertBefore(anchor: Op): Builder {
    if (!anchor.parent) throw new Error(`builder: anchor op ${anchor.type} "${anchor.name}" is not in any block`);
    return new Builder(anchor.parent, this.target, { before: anchor, onInsert: this.onInsert });
  }

  /** A builder that appends to the end of `block` (default: this builder's block). */
  atEnd(block: Block = this.block): Builder {
    return new Builder(block, this.target, { onInsert: this.onInsert });
  }

  /** A `const` op holding `value` (a Tensor, or inline data converted with `options.dtype`). */
  const(value: Tensor | ConstData, options: ConstOptions = {}): Value {
    let tensor: Tensor;
    if (value instanceof Tensor) {
      if (options.dtype && options.dtype !== value.dtype) {
        throw new Error(`const: the tensor has dtype ${value.dtype} but dtype ${options.dtype} was asked for (convert the tensor first)`);
      }
      tensor = options.shape ? value.reshape(options.shape) : value;
    } else {
      const { flat, shape } = flatten(value, 'const');
      const dtype = options.dtype ?? defaultDtype(flat);
      tensor = makeTensor(dtype, options.shape ?? shape, flat, 'const');
    }
    const name = options.name !== undefined ? this.claimName(options.name, 'const') : this.fn.freshName('const');
    const op = constOp(name, tensor);
    this.place([op]);
    return op.output;
  }

  /** Builds an op of any registered type; returns its output, or its outputs when it has not exactly one. */
  op(type: string, inputs: OpInputs, options: OpOptions = {}): Value | Value[] {
    const op = this.create(type, inputs, options);
    const sig = getSignature(type, this.target);
    return sig?.outputs === 1 ? op.output : [...op.outputs];
  }

  /** Builds an op of any registered type and returns the Op itself. */
  create(type: string, inputs: OpInputs, options: OpOptions = {}): Op {
    if (type === 'const') throw new Error('builder: build const ops with b.const(value), not b.op("const", …)');
    const name = options.name !== undefined ? this.claimName(options.name, type) : this.fn.freshName(type);
    const consts: Op[] = [];
    let op: Op | undefined;
    let types: ValueType[];
    try {
      const sig = getSignature(type, this.target);
      if (!sig) {
        if (isRegisteredOp(type)) {
          throw new OpTypeError(type, name, null, `not available at target ${this.target} (introduced in ${introducedAt(type)})`);
        }
        throw new OpTypeError(type, name, null, 'unknown op type (not in the op registry)');
      }
      op = new Op({ type, name, inputs: this.bindInputs(sig, type, name, inputs, consts) });
      types = typeCheckOp(op, this.target);
    } catch (e) {
      // a failed build leaves no trace: no uses on the operands, no names taken
      op?.dropAllInputs();
      const names = this.fn.allNames();
      names.delete(name);
      for (const c of consts) names.delete(c.name);
      throw e;
    }
    types.forEach((t, i) => {
      const outName = types.length === 1 ? name : this.fn.freshName(`${name}_${i}`);
      op!.outputs.push(new Value(outName, t, op!, i));
    });
    this.place([...consts, op]);
    return op;
  }

  // ---- typed convenience methods (MIL parameter names, mil-ops.md §1–6) ----

  linear(i: LinearInputs, o?: OpOptions): Value { return this.one('linear', i, o); }
  matmul(i: MatmulInputs, o?: OpOptions): Value { return this.one('matmul', i, o); }
  add(i: BinaryInputs, o?: OpOptions): Value { return this.one('add', i, o); }
  sub(i: BinaryInputs, o?: OpOptions): Value { return this.one('sub', i, o); }
  mul(i: BinaryInputs, o?: OpOptions): Value { return this.one('mul', i, o); }
  real_div(i: BinaryInputs, o?: OpOptions): Value { return this.one('real_div', i, o); }
  relu(i: UnaryInputs, o?: OpOptions): Value { return this.one('relu', i, o); }
  gelu(i: GeluInputs, o?: OpOptions): Value { return this.one('gelu', i, o); }
  silu(i: UnaryInputs, o?: OpOptions): Value { return this.one('silu', i, o); }
  sigmoid(i: UnaryInputs, o?: OpOptions): Value { return this.one('sigmoid', i, o); }
  softmax(i: SoftmaxInputs, o?: OpOptions): Value { return this.one('softmax', i, o); }
  reshape(i: ReshapeInputs, o?: OpOptions): Value { return this.one('reshape', i, o); }
  transpose(i: TransposeInputs, o?: OpOptions): Value { return this.one('transpose', i, o); }
  concat(i: ConcatInputs, o?: OpOptions): Value { return this.one('concat', i, o); }
  split(i: SplitInputs, o?: OpOptions): Value[] { return [...this.create('split', i as object as OpInputs, o).outputs]; }
  slice_by_index(i: SliceByIndexInputs, o?: OpOptions): Value { return this.one('slice_by_index', i, o); }
  slice_update(i: SliceUpdateInputs, o?: OpOptions): Value { return this.one('slice_update', i, o); }
  layer_norm(i: LayerNormInputs, o?: OpOptions): Value { return this.one('layer_norm', i, o); }
  conv(i: ConvInputs, o?: OpOptions): Value { return this.one('conv', i, o); }
  cast(i: CastInputs, o?: OpOptions): Value { return this.one('cast', i, o); }
  read_state(i: ReadStateInputs, o?: OpOptions): Value { return this.one('read_state', i, o); }
  /** `write_state` has no outputs: returns the op. */
  write_state(i: WriteStateInputs, o?: OpOptions): Op { return this.create('write_state', i as object as OpInputs, o); }
  scaled_dot_product_attention(i: SdpaInputs, o?: OpOptions): Value { return this.one('scaled_dot_product_attention', i, o); }
  constexpr_affine_dequantize(i: AffineDequantizeInputs, o?: OpOptions): Value { return this.one('constexpr_affine_dequantize', i, o); }
  constexpr_cast(i: ConstexprCastInputs, o?: OpOptions): Value { return this.one('constexpr_cast', i, o); }
  constexpr_lut_to_dense(i: LutToDenseInputs, o?: OpOptions): Value { return this.one('constexpr_lut_to_dense', i, o); }
  constexpr_sparse_to_dense(i: SparseToDenseInputs, o?: OpOptions): Value { return this.one('constexpr_sparse_to_dense', i, o); }
  constexpr_blockwise_shift_scale(i: BlockwiseShiftScaleInputs, o?: OpOptions): Value { return this.one('constexpr_blockwise_shift_scale', i, o); }
  /** Returns `[mask, nonzero_data]`. */
  constexpr_lut_to_sparse(i: LutToSparseInputs, o?: OpOptions): [Value, Value] { return this.two('constexpr_lut_to_sparse', i, o); }
  /** Returns `[mask, nonzero_data]`. */
  constexpr_sparse_blockwise_shift_scale(i: SparseBlockwiseShiftScaleInputs, o?: OpOptions): [Value, Value] {
    return this.two('constexpr_sparse_blockwise_shift_scale', i, o);
  }

  // ---- internals ----

  private one(type: string, inputs: object, options?: OpOptions): Value {
    const op = this.create(type, inputs as OpInputs, options);
    if (op.outputs.length !== 1) throw new Error(`builder: ${type} "${op.name}" has ${op.outputs.length} outputs, expected 1`);
    return op.outputs[0];
  }

  private two(type: string, inputs: object, options?: OpOptions): [Value, Value] {
    const op = this.create(type, inputs as OpInputs, options);
    if (op.outputs.length !== 2) throw new Error(`builder: ${type} "${op.name}" has ${op.outputs.length} outputs, expected 2`);
    return [op.outputs[0], op.outputs[1]];
  }

  /** Reserves a user-given name, failing when it is invalid or already used in the function. */
  private claimName(name: string, type: string): string {
    if (!isValidIdentifier(name)) {
      throw new Error(`builder: ${type} name "${name}" is not a valid identifier (must match [A-Za-z_][A-Za-z0-9_@]* and not be a reserved word)`);
    }
    const names = this.fn.allNames();
    if (names.has(name)) throw new Error(`builder: ${type} name "${name}" is already used in function "${this.fn.name}"`);
    names.add(name);
    return name;
  }

  /** Inserts ops at the builder's position, in order. */
  private place(ops: readonly Op[]): void {
    for (const op of ops) {
      if (this.anchor) this.block.insertBefore(this.anchor, op);
      else this.block.append(op);
      this.onInsert?.(op);
    }
  }

  /**
   * Turns operands into Values: Values are checked to belong to this function; Tensors and
   * inline data become (not yet inserted) const ops collected in `consts`.
   */
  private bindInputs(sig: OpSignature, type: string, opName: string, inputs: OpInputs, consts: Op[]): Record<string, Value | Value[]> {
    const specs = new Map(sig.params.map((p) => [p.name, p]));
    const known = new Map<string, DType>();
    const entries = Object.entries(inputs).filter((e): e is [string, Operand | readonly Operand[]] => e[1] !== undefined);
    // dtypes already fixed by Values and Tensors, for type-variable peers of inline data
    for (const [param, x] of entries) {
      const first = isOperandList(x, specs.get(param)) ? (x as readonly Operand[])[0] : (x as Operand);
      const d = knownDtype(first);
      if (d) known.set(param, d);
    }
    const out: Record<string, Value | Value[]> = {};
    for (const [param, x] of entries) {
      const spec = specs.get(param);
      if (isOperandList(x, spec)) {
        out[param] = (x as readonly Operand[]).map((e, i) => this.toValue(sig, spec, type, opName, param, e, known, consts, `${param}_${i}`));
      } else {
        out[param] = this.toValue(sig, spec, type, opName, param, x as Operand, known, consts, param);
      }
    }
    return out;
  }

  private toValue(
    sig: OpSignature,
    spec: ParamSpec | undefined,
    type: string,
    opName: string,
    param: string,
    x: Operand,
    known: Map<string, DType>,
    consts: Op[],
    suffix: string,
  ): Value {
    if (x instanceof Value) {
      this.checkScope(type, opName, param, x);
      return x;
    }
    let tensor: Tensor;
    if (x instanceof Tensor) {
      tensor = x;
    } else {
      if (!spec) {
        throw new OpTypeError(type, opName, param, `is not a parameter of ${type} (${sig.since} signature has: ${sig.params.map((s) => s.name).join(', ') || 'none'})`);
      }
      const { flat, shape } = flatten(x, `${type} "${opName}", input "${param}"`);
      const dtype = constDtype(sig, spec, flat, known);
      tensor = makeTensor(dtype, shape, flat, `${type} "${opName}", input "${param}"`);
      known.set(param, dtype);
    }
    const c = constOp(this.fn.freshName(`${opName}_${suffix}`), tensor);
    consts.push(c);
    return c.output;
  }

  private checkScope(type: string, opName: string, param: string, v: Value): void {
    if (v.producer && !v.producer.parent) {
      throw new OpTypeError(type, opName, param, `value "${v.name}" comes from op ${v.producer.type} "${v.producer.name}", which is not in any block`);
    }
    const owner = v.producer ? v.producer.parent!.function : (v.ownerBlock?.function ?? null);
    if (owner !== this.fn) {
      throw new OpTypeError(type, opName, param, `value "${v.name}" belongs to ${owner ? `function "${owner.name}"` : 'no function'}, not to function "${this.fn.name}"`);
    }
  }
}

export interface ProgramBuilder {
  readonly program: Program;
  readonly target: Target;
  /**
   * Adds a function: `inputs` maps names to types (in order); `body` builds the ops and
   * returns the function outputs.
   */
  function(
    name: string,
    inputs: Readonly<Record<string, ValueType>> | ReadonlyArray<{ readonly name: string; readonly type: ValueType }>,
    body: (b: Builder, inputs: Record<string, Value>) => Value | readonly Value[],
  ): Fn;
}

export interface BuildProgramOptions {
  /** Verify the finished program (default true). */
  readonly verify?: boolean;
}

/** Builds a program for `target`; the result is verified unless `verify: false`. */
export function buildProgram(target: Target, body: (p: ProgramBuilder) => void, options: BuildProgramOptions = {}): Program {
  const program = new Program(target);
  const p: ProgramBuilder = {
    program,
    target,
    function(name, inputs, fnBody) {
      if (!isValidIdentifier(name)) throw new Error(`buildProgram: function name "${name}" is not a valid identifier`);
      const list = Array.isArray(inputs)
        ? (inputs as ReadonlyArray<{ name: string; type: ValueType }>)
        : Object.entries(inputs as Record<string, ValueType>).map(([n, type]) => ({ name: n, type }));
      const fn = new Fn(name);
      const byName: Record<string, Value> = {};
      for (const { name: n, type } of list) {
        if (!isValidIdentifier(n)) throw new Error(`buildProgram: input name "${n}" of function "${name}" is not a valid identifier`);
        if (byName[n]) throw new Error(`buildProgram: function "${name}" has two inputs named "${n}"`);
        byName[n] = fn.addInput(n, type);
      }
      program.addFunction(fn);
      const result = fnBody(new Builder(fn, target), byName);
      fn.block.setOutputs(result instanceof Value ? [result] : [...result]);
      return fn;
    },
  };
  body(p);
  if (options.verify ?? true) verifyProgram(program);
  return program;
}

// ---- helpers ----

function constOp(name: string, tensor: Tensor): Op {
  return new Op({
    type: 'const',
    name,
    outputs: [{ name, type: tensorType(tensor.dtype, tensor.shape) }],
    attributes: { val: tensor },
  });
}

function isOperandList(x: Operand | readonly Operand[], spec: ParamSpec | undefined): boolean {
  if (!Array.isArray(x)) return false;
  if (spec?.kind === 'tuple') return true;
  // several Values for a non-tuple param: bound as given, the signature check reports it
  return x.length > 0 && x.every((e) => e instanceof Value || e instanceof Tensor);
}

function knownDtype(x: Operand | undefined): DType | undefined {
  if (x instanceof Tensor) return x.dtype;
  if (x instanceof Value) {
    if (x.type.kind === 'tensor') return x.type.dtype;
    if (x.type.kind === 'state') return x.type.wrapped.dtype;
  }
  return undefined;
}

type Scalar = number | boolean | string;

function flatten(data: ConstData, where: string): { flat: Scalar[]; shape: number[] } {
  const shape: number[] = [];
  let probe: ConstData = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const flat: Scalar[] = [];
  const walk = (x: ConstData, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(x)) throw new Error(`${where}: ragged inline array (too deep at depth ${depth})`);
      flat.push(x as Scalar);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth]) {
      throw new Error(`${where}: ragged inline array (expected ${shape[depth]} elements at depth ${depth})`);
    }
    for (const e of x as readonly ConstData[]) walk(e, depth + 1);
  };
  walk(data, 0);
  const kinds = new Set(flat.map((v) => typeof v));
  if (kinds.size > 1) throw new Error(`${where}: inline array mixes ${[...kinds].join(' and ')} elements`);
  return { flat, shape };
}

function defaultDtype(flat: readonly Scalar[]): DType {
  const k = typeof flat[0];
  if (k === 'boolean') return 'bool';
  if (k === 'string') return 'string';
  return 'fp32';
}

function makeTensor(dtype: DType, shape: readonly number[], flat: readonly Scalar[], where: string): Tensor {
  try {
    if (dtype === 'string') {
      if (flat.some((v) => typeof v !== 'string')) throw new Error('string tensors need string elements');
      return stringTensor(shape, flat as string[]);
    }
    if (flat.some((v) => typeof v === 'string')) throw new Error(`strings cannot be stored as ${dtype}`);
    return tensorFromValues(dtype, shape, flat.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : (v as number))));
  } catch (e) {
    throw new Error(`${where}: cannot make a ${dtype}[${shape.join(', ')}] const: ${(e as Error).message}`);
  }
}

function domainOf(sig: OpSignature, spec: ParamSpec): readonly DType[] {
  if (typeof spec.dtypes !== 'string') return spec.dtypes;
  return sig.typeVars?.[spec.dtypes] ?? [];
}

function fits(dtype: DType, flat: readonly Scalar[]): boolean {
  const info = DTYPE_INFO[dtype];
  return flat.every((v) => typeof v === 'number' && v >= info.min && v <= info.max);
}

/**
 * The dtype of inline data for a parameter: the dtype of another operand bound to the same
 * type variable; else bool / string by the data; else the only allowed dtype; else, for
 * numbers, the float dtype of another operand when allowed (an fp16 activation gets fp16
 * constants); else the default's dtype; else int32 (integers) or fp32 / fp16; else the
 * first allowed integer dtype that holds the values.
 */
function constDtype(sig: OpSignature, spec: ParamSpec, flat: readonly Scalar[], known: ReadonlyMap<string, DType>): DType {
  const domain = domainOf(sig, spec);
  const allowed = (d: DType | undefined): d is DType => d !== undefined && domain.includes(d);
  if (typeof spec.dtypes === 'string') {
    for (const p of sig.params) {
      if (p.name !== spec.name && p.dtypes === spec.dtypes && allowed(known.get(p.name))) return known.get(p.name)!;
    }
  }
  const kind = typeof flat[0];
  if (kind === 'boolean' && domain.includes('bool')) return 'bool';
  if (kind === 'string' && domain.includes('string')) return 'string';
  if (domain.length === 1) return domain[0];
  const integral = flat.every((v) => typeof v === 'number' && Number.isInteger(v));
  if (kind === 'number') {
    for (const p of sig.params) {
      const d = known.get(p.name);
      if (p.name !== spec.name && allowed(d) && isFloat(d)) return d;
    }
    const def = spec.default?.dtype;
    if (allowed(def) && (integral || isFloat(def)) && fits(def, flat)) return def;
    if (integral && domain.includes('int32') && fits('int32', flat)) return 'int32';
    if (domain.includes('fp32')) return 'fp32';
    if (domain.includes('fp16')) return 'fp16';
    if (integral) {
      const d = domain.find((x) => !isFloat(x) && x !== 'bool' && x !== 'string' && fits(x, flat));
      if (d) return d;
    }
  }
  return domain[0] ?? 'fp32';
}
