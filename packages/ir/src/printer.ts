/**
 * Silica's text form: a deterministic, MIL-like printing of a Program that parser.ts
 * reads back (ARCHITECTURE.md "Text form", STYLE.md "Golden text tests").
 * `printProgram(parseProgram(printProgram(p))) === printProgram(p)` for every program
 * whose value names are unique per function.
 *
 * ```
 * program(target = iOS18, default = @main, multifunction = true) {
 * metadata {author = "me", userDefined = {"com.github.apple.coremltools.source" = "torch"}}
 * buildInfo {"coremltools-version" = "8.0"}
 * func @main(%x: fp16[1, seq, 768], %k_cache: state<fp16[1, 8, 256, 64]>) -> (fp16[1, seq, 768]) {
 *   io %x {shortDescription = "tokens", shapeRange = [[1, 1], [1, 512], [768, 768]]}
 *   %w = const() {val = #sha256:9f2c…(64 hex digits)} : fp16[768, 768]
 *   %b = const() {val = [0, 1.5, -0, nan, inf]} : fp16[5]
 *   %0 = linear(x = %x, weight = %w, bias = %b) : fp16[1, seq, 768]
 *   %c = concat(values = (%0, %0), axis = %ax, interleave = %f) : fp16[1, seq, 1536]
 *   %mask, %nz = constexpr_lut_to_sparse(indices_mask = %m, indices_nonzero_data = %i, lut = %l) : uint1[4, 4], fp16[6]
 *   %kv = read_state(input = %k_cache) : fp16[1, 8, 256, 64]
 *   write_state(input = %k_cache, data = %kv) {name = "kv_write"}
 *   %r = cond(pred = %p) : fp16[4]
 *     ^(%a: fp16[4]) {
 *       %t = add(x = %a, y = %a) : fp16[4]
 *     } -> (%t)
 *     ^() {
 *     } -> (%b)
 * } -> (%0)
 * }
 * ```
 *
 * Grammar (tokens may be separated by any whitespace; `//` starts a comment to the end of
 * the line; the printer's layout is the one above, one op per line, two-space indents):
 *
 * ```
 * text      := program | func+                      // bare funcs: target from ParseOptions (iOS18)
 * program   := 'program' '(' setting (',' setting)* ')' '{' item* '}'
 * setting   := 'target' '=' IDENT                   // iOS15…iOS26 (aliases such as macOS15 accepted)
 *            | 'default' '=' FUNC                   // Program.defaultFunction
 *            | 'multifunction' '=' ('true' | 'false')
 * item      := 'metadata' dict | 'buildInfo' dict | func
 * func      := 'func' FUNC '(' [VALUE ':' type (',' …)*] ')' '->' '(' [type (',' type)*] ')'
 *              '{' (directive | op)* '}' '->' '(' [VALUE (',' VALUE)*] ')'
 * directive := 'io' VALUE dict                      // Function.io entry for that name
 *            | 'classifier' dict                    // predictedFeatureName / predictedProbabilitiesName
 * op        := [VALUE (',' VALUE)* '='] KEY '(' [arg (',' arg)*] ')' [attrs] [':' type (',' type)*] block*
 * arg       := KEY '=' (VALUE | '(' [VALUE (',' VALUE)*] ')')   // a parenthesised list binds a tuple param
 * attrs     := '{' attr (',' attr)* '}'
 * attr      := 'name' '=' STRING                    // Op.name, printed only when ≠ first output name
 *                                                   // (≠ the op type for ops without outputs)
 *            | KEY '=' [tensortype] literal         // the type is omitted only for a const's `val`
 *                                                   // whose type equals the op's output type
 * literal   := HASH | elem
 * elem      := NUMBER | STRING | 'true' | 'false' | ['-'] 'nan' | 'nan' '(' HEX ')' | ['-'] 'inf'
 *            | '[' [elem (',' elem)*] ']'           // nested row-major, one bracket level per axis
 * block     := '^' '(' [VALUE ':' type (',' …)*] ')' '{' op* '}' '->' '(' [VALUE (',' VALUE)*] ')'
 * type      := DTYPE '[' [dim (',' dim)*] ']' | 'state' '<' type '>' | 'tuple' '<' [type (',' type)*] '>'
 *            | 'list' '<' type ',' dim '>' | 'dict' '<' type ',' type '>'
 * dim       := INTEGER | IDENT | STRING             // names are symbolic dims
 * dict      := '{' [KEY '=' gvalue (',' …)*] '}'
 * gvalue    := STRING | NUMBER | 'true' | 'false' | 'null' | 'nan' | ['-'] 'inf' | '[' gvalue,* ']' | dict
 *
 * VALUE := '%' (BARE | STRING)    FUNC := '@' (BARE | STRING)    BARE := [A-Za-z0-9_@]+
 * KEY   := IDENT | STRING         IDENT := [A-Za-z_][A-Za-z0-9_@]*
 * HASH  := '#sha256:' 64 hex digits (the tensor's WeightHash)
 * STRING := JSON string literal (one line)
 * ```
 *
 * Semantics the parser enforces: every value is defined once per function (inputs, op
 * outputs, block inputs); a reference must name a value defined earlier in the same block
 * or an enclosing one; the function's declared result types equal its outputs' types.
 *
 * Constants: a tensor attribute with at most `inlineLimit` elements (default 16), or any
 * with `inlineAll`, prints inline; others print as `#sha256:<hex>` of their WeightHash.
 * Inline floats print the shortest decimal that maps back to the same bits (fp16 via the
 * same fp32-then-fp16 rounding as numberToFp16Bits), `-0`, `inf`, `-inf`, `nan` (the
 * canonical quiet NaN), `-nan`, or `nan(0x…)` with the raw bits for any other NaN;
 * integers of every width (int4, uint1…uint6, 64-bit via BigInt) in decimal; bools
 * `true`/`false`; strings as JSON literals. An `UnresolvedTensor` always prints its hash.
 */
import { Block, Function, Op, Program, Value } from './ir.js';
import { UnresolvedTensor, formatTensorElements } from './parser.js';
import type { Tensor } from './tensor.js';
import { type Dim, type ValueType } from './types.js';

export interface PrintOptions {
  /** Tensors with at most this many elements print inline (default 16). */
  inlineLimit?: number;
  /** Print every tensor inline, however large (small golden tests). */
  inlineAll?: boolean;
}

const BARE_RE = /^[A-Za-z0-9_@]+$/;
const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_@]*$/;

/** `%name`, or `%"…"` when the name is not made of [A-Za-z0-9_@]. */
export function formatValueName(name: string): string {
  return `%${BARE_RE.test(name) ? name : JSON.stringify(name)}`;
}

function formatFuncName(name: string): string {
  return `@${BARE_RE.test(name) ? name : JSON.stringify(name)}`;
}

function formatKey(key: string): string {
  return IDENT_RE.test(key) ? key : JSON.stringify(key);
}

function formatDim(d: Dim): string {
  return typeof d === 'number' ? String(d) : formatKey(d);
}

/** A type in the text form: like types.ts `formatType`, with odd symbolic dim names quoted. */
export function formatValueType(t: ValueType): string {
  switch (t.kind) {
    case 'tensor':
      return `${t.dtype}[${t.shape.map(formatDim).join(', ')}]`;
    case 'state':
      return `state<${formatValueType(t.wrapped)}>`;
    case 'tuple':
      return `tuple<${t.types.map(formatValueType).join(', ')}>`;
    case 'list':
      return `list<${formatValueType(t.elem)}, ${formatDim(t.length)}>`;
    case 'dict':
      return `dict<${formatValueType(t.key)}, ${formatValueType(t.value)}>`;
  }
}

/** The tensor's value: inline literal or `#sha256:<hex>`. */
export function formatTensorLiteral(t: Tensor, options: PrintOptions = {}): string {
  const limit = options.inlineLimit ?? 16;
  if (t instanceof UnresolvedTensor || (!options.inlineAll && t.size > limit)) return `#${t.hash()}`;
  const elems = formatTensorElements(t);
  const shape = t.shape;
  const nest = (axis: number, offset: number): string => {
    if (axis === shape.length) return elems[offset];
    let stride = 1;
    for (let a = axis + 1; a < shape.length; a++) stride *= shape[a];
    const items: string[] = [];
    for (let i = 0; i < shape[axis]; i++) items.push(nest(axis + 1, offset + i * stride));
    return `[${items.join(', ')}]`;
  };
  return nest(0, 0);
}

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

/** Metadata / io / buildInfo values: strings, numbers, booleans, null, arrays and objects. */
function formatGeneric(v: unknown, where: string): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map((x) => formatGeneric(x, where)).join(', ')}]`;
  if (typeof v === 'object') return formatDict(v as Record<string, unknown>, where);
  throw new Error(`cannot print ${typeof v} value in ${where}`);
}

function formatDict(o: Record<string, unknown>, where: string, skip: (k: string, v: unknown) => boolean = () => false): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || skip(k, v)) continue;
    parts.push(`${formatKey(k)} = ${formatGeneric(v, where)}`);
  }
  return `{${parts.join(', ')}}`;
}

/** Whether the const's `val` prints without a type (its dtype and shape are the output type's). */
function typeImplied(op: Op, key: string, t: Tensor): boolean {
  if (op.type !== 'const' || key !== 'val' || op.outputs.length !== 1) return false;
  const out = op.outputs[0].type;
  return (
    out.kind === 'tensor' &&
    out.dtype === t.dtype &&
    out.shape.length === t.shape.length &&
    out.shape.every((d, i) => d === t.shape[i])
  );
}

function printOp(op: Op, indent: string, options: PrintOptions, lines: string[]): void {
  let s = indent;
  if (op.outputs.length > 0) s += `${op.outputs.map((o) => formatValueName(o.name)).join(', ')} = `;
  s += formatKey(op.type);
  const args: string[] = [];
  for (const [param, vs] of op.inputs) {
    const bound = vs.length === 1 ? formatValueName(vs[0].name) : `(${vs.map((v) => formatValueName(v.name)).join(', ')})`;
    args.push(`${formatKey(param)} = ${bound}`);
  }
  s += `(${args.join(', ')})`;
  const attrs: string[] = [];
  if (op.name !== (op.outputs[0]?.name ?? op.type)) attrs.push(`name = ${JSON.stringify(op.name)}`);
  for (const [key, t] of op.attributes) {
    const type = typeImplied(op, key, t) ? '' : `${t.dtype}[${t.shape.join(', ')}] `;
    attrs.push(`${formatKey(key)} = ${type}${formatTensorLiteral(t, options)}`);
  }
  if (attrs.length > 0) s += ` {${attrs.join(', ')}}`;
  if (op.outputs.length > 0) s += ` : ${op.outputs.map((o) => formatValueType(o.type)).join(', ')}`;
  lines.push(s);
  for (const b of op.blocks) printNestedBlock(b, `${indent}  `, options, lines);
}

function formatParams(vs: readonly Value[]): string {
  return vs.map((v) => `${formatValueName(v.name)}: ${formatValueType(v.type)}`).join(', ');
}

function formatOutputs(b: Block): string {
  return `(${b.outputs.map((v) => formatValueName(v.name)).join(', ')})`;
}

function printNestedBlock(b: Block, indent: string, options: PrintOptions, lines: string[]): void {
  lines.push(`${indent}^(${formatParams(b.inputs)}) {`);
  for (const op of b.ops) printOp(op, `${indent}  `, options, lines);
  lines.push(`${indent}} -> ${formatOutputs(b)}`);
}

function printFunctionLines(fn: Function, options: PrintOptions, lines: string[]): void {
  const results = fn.outputs.map((v) => formatValueType(v.type)).join(', ');
  lines.push(`func ${formatFuncName(fn.name)}(${formatParams(fn.inputs)}) -> (${results}) {`);
  for (const [name, d] of fn.io) {
    lines.push(`  io ${formatValueName(name)} ${formatDict(d as Record<string, unknown>, `the io description of ${name}`)}`);
  }
  if (fn.predictedFeatureName !== undefined || fn.predictedProbabilitiesName !== undefined) {
    const d = { predictedFeatureName: fn.predictedFeatureName, predictedProbabilitiesName: fn.predictedProbabilitiesName };
    lines.push(`  classifier ${formatDict(d, 'the classifier description')}`);
  }
  for (const op of fn.block.ops) printOp(op, '  ', options, lines);
  lines.push(`} -> ${formatOutputs(fn.block)}`);
}

/** One function in the text form (a `func … } -> (…)` chunk ending with a newline). */
export function printFunction(fn: Function, options: PrintOptions = {}): string {
  const lines: string[] = [];
  printFunctionLines(fn, options, lines);
  return `${lines.join('\n')}\n`;
}

/** The whole program in the text form, ending with a newline. */
export function printProgram(program: Program, options: PrintOptions = {}): string {
  const settings = [`target = ${program.target}`];
  if (program.defaultFunction !== undefined) settings.push(`default = ${formatFuncName(program.defaultFunction)}`);
  if (program.multifunction) settings.push('multifunction = true');
  const lines = [`program(${settings.join(', ')}) {`];
  const meta = formatDict(
    program.metadata as unknown as Record<string, unknown>,
    'the program metadata',
    (k, v) => k === 'userDefined' && typeof v === 'object' && v !== null && Object.keys(v).length === 0,
  );
  if (meta !== '{}') lines.push(`metadata ${meta}`);
  if (Object.keys(program.buildInfo).length > 0) lines.push(`buildInfo ${formatDict(program.buildInfo, 'buildInfo')}`);
  for (const fn of program.functions.values()) printFunctionLines(fn, options, lines);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
