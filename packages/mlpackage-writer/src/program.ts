/**
 * IR Program → MIL `Program` protobuf + blobs (mlpackage-format.md §9).
 *
 * - `const` ops: `attributes = {name, val}`; `val` in the blob file by the §9.2 rule.
 * - Ordinary ops: every argument a name binding; `attributes = {name}` (§9.3).
 * - constexpr ops in the form of their op version (§9.4): iOS16-defined → every parameter
 *   an attribute Value; iOS18-defined → every parameter an input, an inline value binding
 *   when it comes from a `const`, a name binding when from another constexpr.
 * - A `const` whose only consumers are constexpr ops is not emitted (its data is inline).
 * - Blobs are cached by WeightHash confirmed by bytes, so an identical tensor is stored
 *   once, across functions too (§9.5); they are appended in the order §9.6 gives.
 */
import {
  type Block as PBlock,
  BlockSchema,
  type Function as PFunction,
  FunctionSchema,
  type NamedValueType,
  NamedValueTypeSchema,
  type Operation,
  OperationSchema,
  type Program as PProgram,
  ProgramSchema,
  type Value as PValue,
  ValueSchema,
  type MessageInitShape,
  ArgumentSchema,
  create,
} from '@silica/coreml-format';
import {
  type Block,
  type Function,
  type Op,
  type Program,
  type Tensor,
  type Value,
  getSignature,
  opsetOf,
  sanitizeIdentifier,
  isValidIdentifier,
  specVersionOf,
} from '@silica/ir';
import { blobValueProto, immediateValueProto, stringValueProto, usesBlob, valueTypeProto } from './encode.js';

/** Where blobs go: returns the metadata offset of a (possibly shared) blob. */
export interface BlobSink {
  put(t: Tensor): number;
}

export class WriteError extends Error {
  override readonly name = 'WriteError';
}

/** Per-function renaming of values and ops to valid, unique identifiers (§7). */
export class Names {
  private readonly byValue = new Map<Value, string>();
  private readonly usedValues = new Set<string>();
  private readonly usedOps = new Set<string>();
  /** The identifier written for a value (stable per value). */
  name(v: Value): string {
    let n = this.byValue.get(v);
    if (n === undefined) {
      n = Names.pick(v.name, this.usedValues);
      this.byValue.set(v, n);
    }
    return n;
  }
  /** The `name` attribute written for an op whose name differs from its first output. */
  opName(raw: string): string {
    return Names.pick(raw, this.usedOps);
  }
  private static pick(raw: string, used: Set<string>): string {
    const base = isValidIdentifier(raw) ? raw : sanitizeIdentifier(raw);
    let n = base;
    for (let i = 1; used.has(n); i++) n = `${base}_${i}`;
    used.add(n);
    return n;
  }
}

interface FnCtx {
  readonly names: Names;
  readonly blobs: BlobSink;
  readonly spec: number;
  readonly program: Program;
  readonly fn: Function;
}

export function encodeProgram(program: Program, blobs: BlobSink, namesByFn: Map<Function, Names>): PProgram {
  const spec = specVersionOf(program.target);
  const opset = opsetOf(program.target);
  const functions: Record<string, PFunction> = {};
  for (const fn of program.functions.values()) {
    const names = namesByFn.get(fn)!;
    const ctx: FnCtx = { names, blobs, spec, program, fn };
    const inputs: NamedValueType[] = fn.inputs.map((v) =>
      create(NamedValueTypeSchema, { name: names.name(v), type: valueTypeProto(v.type) }),
    );
    functions[sanitizeFunctionName(fn.name)] = create(FunctionSchema, {
      inputs,
      opset,
      blockSpecializations: { [opset]: encodeBlock(fn.block, ctx) },
    });
  }
  const attributes: Record<string, PValue> = {};
  const bi = Object.entries(program.buildInfo);
  if (bi.length > 0) attributes.buildInfo = buildInfoValue(bi);
  return create(ProgramSchema, { version: 1n, functions: sortedKeys(functions), attributes });
}

/**
 * Map fields are written in sorted key order — the deterministic serialization the
 * fixtures use (protobuf-es emits a map in its object's key order; §3: Core ML does not
 * depend on the order).
 */
export function sortedKeys<T>(o: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}

export function sanitizeFunctionName(name: string): string {
  return isValidIdentifier(name) ? name : sanitizeIdentifier(name);
}

function encodeBlock(block: Block, ctx: FnCtx): PBlock {
  const operations: Operation[] = [];
  for (const op of block.ops) {
    if (op.type === 'const' && isInlinedConst(op)) continue;
    operations.push(encodeOp(op, ctx));
  }
  return create(BlockSchema, {
    inputs: block.inputs.map((v) => create(NamedValueTypeSchema, { name: ctx.names.name(v), type: valueTypeProto(v.type) })),
    outputs: block.outputs.map((v) => ctx.names.name(v)),
    operations,
  });
}

/** §9.4: a const read only by constexpr ops (and no block output) lives inline in them. */
export function isInlinedConst(op: Op): boolean {
  const v = op.outputs[0];
  return v.uses.length > 0 && v.uses.every((u) => u.kind === 'op' && u.op.isConstexpr);
}

function constValueProto(t: Tensor, ctx: FnCtx): PValue {
  return usesBlob(t, ctx.spec) ? blobValueProto(t, ctx.blobs.put(t)) : immediateValueProto(t);
}

function encodeOp(op: Op, ctx: FnCtx): Operation {
  const outputs = op.outputs.map((v) => create(NamedValueTypeSchema, { name: ctx.names.name(v), type: valueTypeProto(v.type) }));
  const opName = op.outputs.length > 0 && op.name === op.outputs[0].name ? ctx.names.name(op.outputs[0]) : ctx.names.opName(op.name);
  const attributes: Record<string, PValue> = { name: stringValueProto(opName) };
  if (op.type === 'const') {
    const t = op.constValue;
    if (!t) throw new WriteError(`const "${op.name}" in function "${ctx.fn.name}" has no "val" attribute`);
    attributes.val = constValueProto(t, ctx);
    return create(OperationSchema, { type: 'const', outputs, attributes });
  }
  const sig = getSignature(op.type, ctx.program.target);
  const inputs: Operation['inputs'] = {};
  // declaration order first (§9.6 blob order), then anything else in insertion order
  const params = [...(sig?.params.map((p) => p.name) ?? []), ...op.inputs.keys()].filter(
    (p, i, all) => op.inputs.has(p) && all.indexOf(p) === i,
  );
  for (const param of params) {
    const vs = op.inputs.get(param)!;
    if (op.isConstexpr && sig?.storage === 'attributes') {
      if (vs.length !== 1) throw new WriteError(`${op.type} "${op.name}": attribute parameter "${param}" binds ${vs.length} values`);
      const t = vs[0].producer?.constValue;
      if (!t) {
        throw new WriteError(
          `${op.type} "${op.name}" in function "${ctx.fn.name}": parameter "${param}" must come from a const op, because the iOS16 signature stores it as an attribute (mlpackage-format.md §9.4)`,
        );
      }
      attributes[param] = constValueProto(t, ctx);
      continue;
    }
    const init: MessageInitShape<typeof ArgumentSchema> = {
      arguments: vs.map((v) => {
        const t = op.isConstexpr ? v.producer?.constValue : undefined;
        return t
          ? { binding: { case: 'value' as const, value: constValueProto(t, ctx) } }
          : { binding: { case: 'name' as const, value: ctx.names.name(v) } };
      }),
    };
    inputs[param] = create(ArgumentSchema, init);
  }
  return create(OperationSchema, {
    type: op.type,
    inputs: sortedKeys(inputs),
    outputs,
    blocks: op.blocks.map((b) => encodeBlock(b, ctx)),
    attributes: sortedKeys(attributes),
  });
}

function buildInfoValue(entries: Array<[string, string]>): PValue {
  return create(ValueSchema, {
      type: {
        type: {
          case: 'dictionaryType',
          value: {
            keyType: valueTypeProto({ kind: 'tensor', dtype: 'string', shape: [] }),
            valueType: valueTypeProto({ kind: 'tensor', dtype: 'string', shape: [] }),
          },
        },
      },
      value: {
        case: 'immediateValue',
        value: {
          value: {
            case: 'dictionary',
            value: { values: entries.map(([k, v]) => ({ key: stringValueProto(k), value: stringValueProto(v) })) },
          },
        },
      },
    });
}

