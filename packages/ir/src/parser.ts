/**
 * Parser of Silica's text form — the grammar is documented at the top of printer.ts.
 * `parseProgram(printProgram(p))` rebuilds `p` structurally, and printing the result
 * gives back the same text byte for byte (ARCHITECTURE.md "Text form").
 *
 * Tensors printed by content hash (`#sha256:<64 hex>`) are restored from the optional
 * `tensors` resolver; without one they parse into an `UnresolvedTensor`, which keeps
 * dtype, shape and hash (so re-printing round-trips) and throws a clear error when its
 * bytes are read.
 *
 * This module also holds the element codec for inline tensor literals (both directions),
 * which printer.ts imports: keeping it beside the parser keeps print and parse of every
 * dtype in one place.
 */
import { type DType, DTYPES, DTYPE_INFO, byteSize, isDType } from './dtype.js';
import { fp16BitsToNumber, numberToFp16Bits } from './fp16.js';
import { WeightHash } from './hash.js';
import { Block, Function, Op, Program, Value, type IODescription, type ProgramMetadata } from './ir.js';
import { type Target, TARGETS, parseTarget } from './target.js';
import { DenseTensor, Tensor, decodeToFloat32, stringTensor, tensorFromValues } from './tensor.js';
import { type Dim, type TensorType, type ValueType, formatType, typesEqual } from './types.js';

// ---------------------------------------------------------------------------------------
// Errors

/** A parse error at a 1-based line and column; the message starts with `line:column:`. */
export class TextParseError extends Error {
  readonly line: number;
  readonly column: number;
  /** The message without the position prefix. */
  readonly reason: string;

  constructor(reason: string, line: number, column: number) {
    super(`${line}:${column}: ${reason}`);
    this.name = 'TextParseError';
    this.line = line;
    this.column = column;
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------------------
// Placeholder for tensors printed by hash

/**
 * A tensor known only by dtype, shape and content hash — what a `#sha256:…` constant
 * parses into when no resolver supplies it. Printing it prints the same hash; reading its
 * bytes or strings throws.
 */
export class UnresolvedTensor extends Tensor {
  readonly contentHash: WeightHash;

  constructor(dtype: DType, shape: readonly number[], hash: WeightHash) {
    super(dtype, shape);
    this.contentHash = hash;
  }

  get byteLength(): number {
    if (this.dtype === 'string') throw this.unresolved('know its byte length');
    return byteSize(this.dtype, this.size);
  }

  get isLazy(): boolean {
    return true;
  }

  bytes(): Uint8Array {
    throw this.unresolved('read its bytes');
  }

  override strings(): readonly string[] {
    if (this.dtype !== 'string') return super.strings();
    throw this.unresolved('read its strings');
  }

  protected override computeHash(): WeightHash {
    return this.contentHash;
  }

  protected withShape(): Tensor {
    throw this.unresolved('reshape it');
  }

  private unresolved(what: string): Error {
    return new Error(
      `cannot ${what}: the ${this.dtype}[${this.shape.join(', ')}] tensor #${this.contentHash} was parsed from text ` +
        'without its data — pass { tensors } to parseProgram (e.g. tensorsByHash(originalProgram)) to restore it',
    );
  }
}

// ---------------------------------------------------------------------------------------
// Element codec for inline literals (shared with printer.ts)

type FloatDType = 'fp16' | 'bf16' | 'fp32' | 'fp64' | 'fp8e4m3fn' | 'fp8e5m2';

interface FloatFormat {
  readonly width: 8 | 16 | 32 | 64;
  readonly manBits: number;
  readonly expBits: number;
  /** The NaN printed as `nan` (the quiet NaN NumPy / Core ML produce). */
  readonly canonicalNaN: bigint;
  /** fp8e4m3fn: no infinities; NaN only when exponent and mantissa bits are all ones. */
  readonly finiteOnly: boolean;
  toNumber(bits: bigint): number;
  /** Bits of the nearest value (round to nearest even); fp8: exact values only, else undefined. */
  fromNumber(x: number): bigint | undefined;
}

const SCRATCH = new DataView(new ArrayBuffer(8));

function fp8Format(dtype: 'fp8e4m3fn' | 'fp8e5m2', expBits: number, manBits: number, canonicalNaN: number): FloatFormat {
  const values = decodeToFloat32(dtype, Uint8Array.from({ length: 256 }, (_, i) => i), 256);
  const byValue = new Map<number, number>();
  for (let c = 0; c < 256; c++) if (!Number.isNaN(values[c]) && values[c] !== 0) byValue.set(values[c], c);
  return {
    width: 8,
    expBits,
    manBits,
    canonicalNaN: BigInt(canonicalNaN),
    finiteOnly: dtype === 'fp8e4m3fn',
    toNumber: (bits) => values[Number(bits)],
    fromNumber: (x) => {
      if (x === 0) return Object.is(x, -0) ? 0x80n : 0n;
      const c = byValue.get(x);
      return c === undefined ? undefined : BigInt(c);
    },
  };
}

const FLOAT_FORMATS: Readonly<Record<FloatDType, FloatFormat>> = {
  fp16: {
    width: 16,
    expBits: 5,
    manBits: 10,
    canonicalNaN: 0x7e00n,
    finiteOnly: false,
    toNumber: (bits) => fp16BitsToNumber(Number(bits)),
    // fp16.ts rounds via fp32, as Core ML stores fp32 → fp16; printer and parser both use it.
    fromNumber: (x) => BigInt(numberToFp16Bits(x)),
  },
  bf16: {
    width: 16,
    expBits: 8,
    manBits: 7,
    canonicalNaN: 0x7fc0n,
    finiteOnly: false,
    toNumber: (bits) => {
      SCRATCH.setUint32(0, Number(bits) * 65536);
      return SCRATCH.getFloat32(0);
    },
    fromNumber: (x) => {
      SCRATCH.setFloat32(0, x);
      const u = SCRATCH.getUint32(0);
      return BigInt(Math.floor((u + 0x7fff + (Math.floor(u / 65536) & 1)) / 65536) & 0xffff);
    },
  },
  fp32: {
    width: 32,
    expBits: 8,
    manBits: 23,
    canonicalNaN: 0x7fc00000n,
    finiteOnly: false,
    toNumber: (bits) => {
      SCRATCH.setUint32(0, Number(bits));
      return SCRATCH.getFloat32(0);
    },
    fromNumber: (x) => {
      SCRATCH.setFloat32(0, x);
      return BigInt(SCRATCH.getUint32(0));
    },
  },
  fp64: {
    width: 64,
    expBits: 11,
    manBits: 52,
    canonicalNaN: 0x7ff8000000000000n,
    finiteOnly: false,
    toNumber: (bits) => {
      SCRATCH.setBigUint64(0, bits);
      return SCRATCH.getFloat64(0);
    },
    fromNumber: (x) => {
      SCRATCH.setFloat64(0, x);
      return SCRATCH.getBigUint64(0);
    },
  },
  fp8e4m3fn: fp8Format('fp8e4m3fn', 4, 3, 0x7f),
  fp8e5m2: fp8Format('fp8e5m2', 5, 2, 0x7e),
};

function floatFormatOf(d: DType): FloatFormat | undefined {
  return (FLOAT_FORMATS as Partial<Record<DType, FloatFormat>>)[d];
}

type FloatClass = 'nan' | 'inf' | 'finite';

function classifyFloat(f: FloatFormat, bits: bigint): FloatClass {
  const magMask = (1n << BigInt(f.width - 1)) - 1n;
  const mag = bits & magMask;
  if (f.finiteOnly) return mag === magMask ? 'nan' : 'finite';
  const expAll = ((1n << BigInt(f.expBits)) - 1n) << BigInt(f.manBits);
  if ((mag & expAll) !== expAll) return 'finite';
  return (mag & ((1n << BigInt(f.manBits)) - 1n)) === 0n ? 'inf' : 'nan';
}

const signBit = (f: FloatFormat): bigint => 1n << BigInt(f.width - 1);
const infBits = (f: FloatFormat): bigint => ((1n << BigInt(f.expBits)) - 1n) << BigInt(f.manBits);

/** Shortest decimal that maps back to exactly `bits` (`-0` keeps its sign). */
function formatFloatBits(f: FloatFormat, bits: bigint): string {
  switch (classifyFloat(f, bits)) {
    case 'nan':
      if (bits === f.canonicalNaN) return 'nan';
      if (bits === (f.canonicalNaN | signBit(f))) return '-nan';
      return `nan(0x${bits.toString(16).padStart(f.width / 4, '0')})`;
    case 'inf':
      return bits & signBit(f) ? '-inf' : 'inf';
    case 'finite': {
      const v = f.toNumber(bits);
      if (v === 0) return Object.is(v, -0) ? '-0' : '0';
      for (let p = 1; p < 17; p++) {
        const s = String(Number(v.toPrecision(p)));
        if (f.fromNumber(Number(s)) === bits) return s;
      }
      return String(v); // exact: every value of these formats is a double
    }
  }
}

function readFloatBits(width: number, bytes: Uint8Array, count: number): bigint[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: bigint[] = [];
  for (let i = 0; i < count; i++) {
    if (width === 8) out.push(BigInt(bytes[i]));
    else if (width === 16) out.push(BigInt(dv.getUint16(2 * i, true)));
    else if (width === 32) out.push(BigInt(dv.getUint32(4 * i, true)));
    else out.push(dv.getBigUint64(8 * i, true));
  }
  return out;
}

function writeFloatBits(width: number, bits: readonly bigint[]): Uint8Array {
  const out = new Uint8Array((bits.length * width) / 8);
  const dv = new DataView(out.buffer);
  bits.forEach((b, i) => {
    if (width === 8) out[i] = Number(b);
    else if (width === 16) dv.setUint16(2 * i, Number(b), true);
    else if (width === 32) dv.setUint32(4 * i, Number(b), true);
    else dv.setBigUint64(8 * i, b, true);
  });
  return out;
}

/**
 * Every element of a tensor as literal text, row-major: floats as the shortest decimal
 * that maps back to the same bits (`nan`, `-nan`, `nan(0x…)`, `inf`, `-inf`, `-0`),
 * integers in decimal (64-bit exactly, via BigInt), bools `true`/`false`, strings as
 * JSON string literals.
 */
export function formatTensorElements(t: Tensor): string[] {
  if (t.dtype === 'string') return t.strings().map((s) => JSON.stringify(s));
  if (t.dtype === 'bool') return Array.from(t.values() as Uint8Array, (b) => (b ? 'true' : 'false'));
  const f = floatFormatOf(t.dtype);
  if (f) return readFloatBits(f.width, t.bytes(), t.size).map((b) => formatFloatBits(f, b));
  return Array.from(t.values() as ArrayLike<number | bigint>, (x) => String(x));
}

// ---------------------------------------------------------------------------------------
// Lexer

type TokenKind = 'ident' | 'value' | 'func' | 'string' | 'number' | 'hash' | 'punct' | 'eof';

interface Token {
  readonly kind: TokenKind;
  /** ident: the word; value/func: the decoded name; string: decoded; number: raw; hash: hex; punct: itself. */
  readonly text: string;
  readonly line: number;
  readonly col: number;
}

const BARE_NAME_RE = /[A-Za-z0-9_@]+/y;
const IDENT_RE = /[A-Za-z_][A-Za-z0-9_@]*/y;
const NUMBER_RE = /-?(?:0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)/y;
const HEX64_RE = /[0-9a-fA-F]{64}/y;
const IDENT_CHAR_RE = /[A-Za-z0-9_@.]/;
const PUNCT = new Set(['(', ')', '{', '}', '[', ']', '<', '>', ',', '=', ':', '^', '-']);
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

function lex(text: string): Token[] {
  const toks: Token[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const fail = (at: number, reason: string): never => {
    throw new TextParseError(reason, line, at - lineStart + 1);
  };
  const push = (kind: TokenKind, tokText: string, start: number): void => {
    toks.push({ kind, text: tokText, line, col: start - lineStart + 1 });
  };
  const match = (re: RegExp, at: number): string | undefined => {
    re.lastIndex = at;
    return re.exec(text)?.[0];
  };
  const readString = (start: number): { value: string; end: number } => {
    const parts: string[] = [];
    let j = start + 1;
    let run = j;
    for (;;) {
      if (j >= n || text[j] === '\n' || text[j] === '\r') fail(start, 'unterminated string (a string must end on its line)');
      const c = text[j];
      if (c === '"') {
        parts.push(text.slice(run, j));
        return { value: parts.join(''), end: j + 1 };
      }
      if (c === '\\') {
        parts.push(text.slice(run, j));
        const e = text[j + 1];
        if (e === 'u') {
          const hex = text.slice(j + 2, j + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail(j, 'expected four hex digits after \\u in a string');
          parts.push(String.fromCharCode(parseInt(hex, 16)));
          j += 6;
        } else if (e !== undefined && ESCAPES[e] !== undefined) {
          parts.push(ESCAPES[e]);
          j += 2;
        } else {
          fail(j, `invalid escape \\${e ?? ''} in a string (expected one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)`);
        }
        run = j;
        continue;
      }
      j++;
    }
  };

  for (;;) {
    while (i < n) {
      const c = text[i];
      if (c === '\n') {
        i++;
        line++;
        lineStart = i;
      } else if (c === ' ' || c === '\t' || c === '\r') {
        i++;
      } else if (c === '/' && text[i + 1] === '/') {
        while (i < n && text[i] !== '\n') i++;
      } else {
        break;
      }
    }
    if (i >= n) {
      push('eof', '', i);
      return toks;
    }
    const start = i;
    const c = text[i];
    if (c === '"') {
      const s = readString(i);
      push('string', s.value, start);
      i = s.end;
    } else if (c === '%' || c === '@') {
      const kind = c === '%' ? 'value' : 'func';
      if (text[i + 1] === '"') {
        const s = readString(i + 1);
        push(kind, s.value, start);
        i = s.end;
      } else {
        const name = match(BARE_NAME_RE, i + 1);
        if (name === undefined) fail(i, `expected a name (or a quoted "name") after '${c}'`);
        push(kind, name as string, start);
        i += 1 + (name as string).length;
      }
    } else if (c === '#') {
      if (!text.startsWith('sha256:', i + 1)) fail(i, "expected a content hash '#sha256:<64 hex digits>'");
      const hex = match(HEX64_RE, i + 8);
      if (hex === undefined || IDENT_CHAR_RE.test(text[i + 72] ?? '')) {
        fail(i, "expected a content hash '#sha256:<64 hex digits>'");
      }
      push('hash', (hex as string).toLowerCase(), start);
      i += 72;
    } else if ((c >= '0' && c <= '9') || (c === '-' && text[i + 1] >= '0' && text[i + 1] <= '9')) {
      const num = match(NUMBER_RE, i) as string;
      if (IDENT_CHAR_RE.test(text[i + num.length] ?? '')) fail(i, `malformed number '${text.slice(i, i + num.length + 1)}'`);
      push('number', num, start);
      i += num.length;
    } else if (c === '-' && text[i + 1] === '>') {
      push('punct', '->', start);
      i += 2;
    } else if (PUNCT.has(c)) {
      push('punct', c, start);
      i++;
    } else {
      const word = match(IDENT_RE, i);
      if (word === undefined) fail(i, `unexpected character ${JSON.stringify(c)}`);
      push('ident', word as string, start);
      i += (word as string).length;
    }
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'end of input';
    case 'ident':
      return `'${t.text}'`;
    case 'punct':
      return `'${t.text}'`;
    case 'value':
      return `value %${t.text}`;
    case 'func':
      return `function @${t.text}`;
    case 'string':
      return `string ${JSON.stringify(t.text.length > 30 ? `${t.text.slice(0, 30)}…` : t.text)}`;
    case 'number':
      return `number ${t.text}`;
    case 'hash':
      return `hash #sha256:${t.text.slice(0, 16)}…`;
  }
}

// ---------------------------------------------------------------------------------------
// Literal syntax trees (interpreted once the dtype and shape are known)

type Literal =
  | { readonly kind: 'hash'; readonly tok: Token }
  | { readonly kind: 'list'; readonly tok: Token; readonly items: readonly Literal[] }
  | {
      readonly kind: 'scalar';
      readonly tok: Token;
      /** `-nan` / `-inf`. */
      readonly negated: boolean;
      /** The hex bits of `nan(0x…)`. */
      readonly payload?: Token;
    };

type Generic = string | number | boolean | null | Generic[] | { [key: string]: Generic };

// ---------------------------------------------------------------------------------------
// Parser

export interface ParseOptions {
  /**
   * Tensors printed by hash: a map keyed by the 64-digit hex (or `sha256:<hex>`), or a
   * lookup function. `tensorsByHash(program)` builds the map from an existing program.
   */
  tensors?: ReadonlyMap<string, Tensor> | ((hash: WeightHash) => Tensor | undefined);
  /** Fail on a hash the resolver does not know instead of creating an `UnresolvedTensor`. */
  requireTensors?: boolean;
  /** Target of a text made of bare `func`s with no `program(…)` header (default iOS18). */
  target?: Target;
}

/** Parses the text form (see printer.ts) into a Program. */
export function parseProgram(text: string, options: ParseOptions = {}): Program {
  return new Parser(lex(text), options).program();
}

/** Parses a text holding exactly one function (bare `func …` or a one-function program). */
export function parseFunction(text: string, options: ParseOptions = {}): Function {
  const p = parseProgram(text, options);
  if (p.functions.size !== 1) {
    throw new Error(`expected exactly one function in the text, found ${p.functions.size} (${[...p.functions.keys()].join(', ')})`);
  }
  return [...p.functions.values()][0];
}

/** Every attribute tensor of the programs (const values included), keyed by hash hex — a resolver for parseProgram. */
export function tensorsByHash(...sources: ReadonlyArray<Program | Iterable<Tensor>>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const add = (t: Tensor): void => {
    if (t instanceof UnresolvedTensor) return;
    const hex = t.hash().hex;
    if (!out.has(hex)) out.set(hex, t);
  };
  for (const s of sources) {
    if (s instanceof Program) {
      for (const op of s.allOps()) for (const t of op.attributes.values()) add(t);
    } else {
      for (const t of s) add(t);
    }
  }
  return out;
}

interface PendingAttr {
  readonly key: string;
  readonly keyTok: Token;
  readonly type: TensorType | undefined;
  readonly lit: Literal;
}

class Parser {
  private readonly toks: Token[];
  private readonly options: ParseOptions;
  private pos = 0;
  /** Visible value names, innermost scope last. */
  private scopes: Array<Map<string, Value>> = [];
  /** Every value name defined so far in the current function, with where (names are unique per function). */
  private defined = new Map<string, Token>();
  /** Where `default = @f` was written, to report a default function that is never defined. */
  private defaultTok: Token | undefined;

  constructor(toks: Token[], options: ParseOptions) {
    this.toks = toks;
    this.options = options;
  }

  // -- token helpers ---------------------------------------------------------------------

  private peek(k = 0): Token {
    return this.toks[Math.min(this.pos + k, this.toks.length - 1)];
  }

  private next(): Token {
    const t = this.toks[this.pos];
    if (this.pos < this.toks.length - 1) this.pos++;
    return t;
  }

  private isPunct(p: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === 'punct' && t.text === p;
  }

  private isIdent(word: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === 'ident' && t.text === word;
  }

  private eat(p: string): boolean {
    if (!this.isPunct(p)) return false;
    this.next();
    return true;
  }

  private fail(t: Token, reason: string): never {
    throw new TextParseError(reason, t.line, t.col);
  }

  private expect(p: string, context: string): Token {
    if (!this.isPunct(p)) this.fail(this.peek(), `expected '${p}' ${context}, found ${describe(this.peek())}`);
    return this.next();
  }

  private expectIdent(word: string, context: string): Token {
    if (!this.isIdent(word)) this.fail(this.peek(), `expected '${word}' ${context}, found ${describe(this.peek())}`);
    return this.next();
  }

  private expectKind(kind: TokenKind, what: string): Token {
    if (this.peek().kind !== kind) this.fail(this.peek(), `expected ${what}, found ${describe(this.peek())}`);
    return this.next();
  }

  /** A key: an identifier or a quoted string. */
  private key(what: string): Token {
    const t = this.peek();
    if (t.kind !== 'ident' && t.kind !== 'string') this.fail(t, `expected ${what}, found ${describe(t)}`);
    return this.next();
  }

  /** `open item (, item)* close` or `open close`. */
  private list<T>(open: string, close: string, context: string, item: () => T): T[] {
    this.expect(open, context);
    const out: T[] = [];
    if (this.eat(close)) return out;
    for (;;) {
      out.push(item());
      if (this.eat(close)) return out;
      if (!this.isPunct(',')) this.fail(this.peek(), `expected ',' or '${close}' ${context}, found ${describe(this.peek())}`);
      this.next();
    }
  }

  // -- program / function ----------------------------------------------------------------

  program(): Program {
    let program: Program;
    if (this.isIdent('program')) {
      program = this.programHeader();
      const defaultTok = this.defaultTok;
      while (!this.isPunct('}')) {
        const t = this.peek();
        if (this.isIdent('func')) this.func(program);
        else if (this.isIdent('metadata')) this.metadata(program);
        else if (this.isIdent('buildInfo')) this.buildInfo(program);
        else this.fail(t, `expected 'func', 'metadata', 'buildInfo' or '}' in the program body, found ${describe(t)}`);
      }
      this.next();
      if (defaultTok && !program.functions.has(defaultTok.text)) {
        this.fail(defaultTok, `default function @${defaultTok.text} is not defined in the program`);
      }
    } else {
      program = new Program(this.options.target ?? 'iOS18');
      if (!this.isIdent('func')) this.fail(this.peek(), `expected 'program' or 'func', found ${describe(this.peek())}`);
      while (this.isIdent('func')) this.func(program);
    }
    if (this.peek().kind !== 'eof') this.fail(this.peek(), `expected end of input, found ${describe(this.peek())}`);
    return program;
  }

  private programHeader(): Program {
    this.next();
    const seen = new Set<string>();
    const settings: { target?: Target; multifunction: boolean } = { multifunction: false };
    const setting = (): void => {
      const k = this.expectKind('ident', "a program setting ('target', 'default' or 'multifunction')");
      if (seen.has(k.text)) this.fail(k, `duplicate program setting '${k.text}'`);
      seen.add(k.text);
      this.expect('=', `after '${k.text}'`);
      if (k.text === 'target') {
        const v = this.expectKind('ident', 'a deployment target such as iOS18');
        try {
          settings.target = parseTarget(v.text);
        } catch {
          this.fail(v, `unknown deployment target '${v.text}' (expected one of ${TARGETS.join(', ')})`);
        }
      } else if (k.text === 'default') {
        this.defaultTok = this.expectKind('func', 'a function such as @main');
      } else if (k.text === 'multifunction') {
        settings.multifunction = this.bool('the multifunction flag');
      } else {
        this.fail(k, `unknown program setting '${k.text}' (expected 'target', 'default' or 'multifunction')`);
      }
    };
    this.list('(', ')', 'in the program header', setting);
    if (settings.target === undefined) this.fail(this.peek(), "the program header needs 'target = …'");
    const program = new Program(settings.target);
    program.defaultFunction = this.defaultTok?.text;
    program.multifunction = settings.multifunction;
    this.expect('{', 'to open the program body');
    return program;
  }

  private bool(what: string): boolean {
    const t = this.peek();
    if (t.kind === 'ident' && (t.text === 'true' || t.text === 'false')) {
      this.next();
      return t.text === 'true';
    }
    return this.fail(t, `expected true or false for ${what}, found ${describe(t)}`);
  }

  private metadata(program: Program): void {
    const t = this.next();
    const g = this.genericDict('in metadata');
    const userDefined = g.userDefined ?? {};
    if (!isStringRecord(userDefined)) this.fail(t, 'metadata userDefined must be a dictionary of strings');
    for (const k of ['shortDescription', 'versionString', 'author', 'license']) {
      if (g[k] !== undefined && typeof g[k] !== 'string') this.fail(t, `metadata ${k} must be a string`);
    }
    program.metadata = { ...g, userDefined } as unknown as ProgramMetadata;
  }

  private buildInfo(program: Program): void {
    const t = this.next();
    const g = this.genericDict('in buildInfo');
    if (!isStringRecord(g)) this.fail(t, 'buildInfo must be a dictionary of strings');
    program.buildInfo = g;
  }

  private func(program: Program): void {
    this.next();
    const nameTok = this.expectKind('func', 'a function name such as @main');
    if (program.functions.has(nameTok.text)) this.fail(nameTok, `duplicate function @${nameTok.text}`);
    const fn = new Function(nameTok.text);
    this.scopes = [new Map()];
    this.defined = new Map();
    this.list('(', ')', 'in the function parameters', () => {
      const v = this.expectKind('value', 'a parameter such as %x');
      this.expect(':', `after the parameter %${v.text}`);
      const type = this.type();
      this.define(v, fn.addInput(v.text, type));
    });
    this.expect('->', 'before the function result types');
    const declared = this.list('(', ')', 'in the function result types', () => ({ tok: this.peek(), type: this.type() }));
    this.expect('{', 'to open the function body');
    this.ops(fn.block, fn);
    this.expect('}', 'to close the function body');
    const outputs = this.blockOutputs('function');
    if (outputs.length !== declared.length) {
      this.fail(
        outputs.length > declared.length ? outputs[declared.length].tok : this.peek(),
        `function @${fn.name} returns ${outputs.length} values but its signature declares ${declared.length}`,
      );
    }
    outputs.forEach(({ tok, value }, i) => {
      if (!typesEqual(value.type, declared[i].type)) {
        this.fail(
          tok,
          `function output %${value.name} has type ${formatType(value.type)} but the signature declares ${formatType(declared[i].type)}`,
        );
      }
    });
    fn.block.setOutputs(outputs.map((o) => o.value));
    program.addFunction(fn);
  }

  private blockOutputs(what: string): Array<{ tok: Token; value: Value }> {
    this.expect('->', `after the ${what} body`);
    return this.list('(', ')', `in the ${what} outputs`, () => {
      const tok = this.expectKind('value', `a ${what} output such as %y`);
      return { tok, value: this.lookup(tok) };
    });
  }

  // -- values and scopes -----------------------------------------------------------------

  private define(tok: Token, v: Value): void {
    const prev = this.defined.get(tok.text);
    if (prev) this.fail(tok, `duplicate value name %${tok.text} (already defined at ${prev.line}:${prev.col})`);
    this.defined.set(tok.text, tok);
    this.scopes[this.scopes.length - 1].set(tok.text, v);
  }

  private lookup(tok: Token): Value {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const v = this.scopes[i].get(tok.text);
      if (v) return v;
    }
    const d = this.defined.get(tok.text);
    if (d) this.fail(tok, `value %${tok.text} (defined at ${d.line}:${d.col}) is not visible here: it belongs to another block`);
    return this.fail(tok, `undefined value %${tok.text}`);
  }

  // -- ops and blocks --------------------------------------------------------------------

  private ops(block: Block, fn: Function | null): void {
    while (!this.isPunct('}')) {
      if (this.peek().kind === 'eof') this.fail(this.peek(), "expected an op or '}', found end of input");
      if (fn && this.isIdent('io') && this.peek(1).kind === 'value') this.ioDirective(fn);
      else if (fn && this.isIdent('classifier') && this.isPunct('{', 1)) this.classifierDirective(fn);
      else this.op(block);
    }
  }

  private ioDirective(fn: Function): void {
    this.next();
    const v = this.next();
    if (fn.io.has(v.text)) this.fail(v, `duplicate io description for %${v.text}`);
    const d = this.genericDict(`in the io description of %${v.text}`);
    const bad = checkIODescription(d);
    if (bad) this.fail(v, `io description of %${v.text}: ${bad}`);
    fn.io.set(v.text, d as IODescription);
  }

  private classifierDirective(fn: Function): void {
    const t = this.next();
    const d = this.genericDict('in the classifier description');
    for (const [k, v] of Object.entries(d)) {
      if (k !== 'predictedFeatureName' && k !== 'predictedProbabilitiesName') {
        this.fail(t, `unknown classifier key '${k}' (expected predictedFeatureName or predictedProbabilitiesName)`);
      }
      if (typeof v !== 'string') this.fail(t, `classifier ${k} must be a string`);
      fn[k] = v;
    }
  }

  private op(block: Block): void {
    const outs: Token[] = [];
    if (this.peek().kind === 'value') {
      for (;;) {
        outs.push(this.next());
        if (!this.eat(',')) break;
        if (this.peek().kind !== 'value') this.fail(this.peek(), `expected another output name after ',', found ${describe(this.peek())}`);
      }
      this.expect('=', 'after the op outputs');
    }
    const typeTok = this.peek();
    if (typeTok.kind !== 'ident' && typeTok.kind !== 'string') this.fail(typeTok, `expected an op, found ${describe(typeTok)}`);
    this.next();
    const opType = typeTok.text;

    const args: Array<[string, Value[]]> = [];
    const params = new Set<string>();
    this.list('(', ')', `in the arguments of ${opType}`, () => {
      const p = this.key(`a parameter name of ${opType}`);
      if (params.has(p.text)) this.fail(p, `duplicate argument '${p.text}' of ${opType}`);
      params.add(p.text);
      this.expect('=', `after the parameter '${p.text}'`);
      if (this.isPunct('(')) {
        const vs = this.list('(', ')', `in the tuple argument '${p.text}'`, () =>
          this.lookup(this.expectKind('value', `a value such as %x in '${p.text}'`)),
        );
        args.push([p.text, vs]);
      } else {
        args.push([p.text, [this.lookup(this.expectKind('value', `a value such as %x (or a tuple '(…)') for '${p.text}'`))]]);
      }
    });

    let name: string | undefined;
    const attrs: PendingAttr[] = [];
    if (this.isPunct('{')) {
      const keys = new Set<string>();
      this.list('{', '}', `in the attributes of ${opType}`, () => {
        const k = this.key(`an attribute name of ${opType}`);
        this.expect('=', `after the attribute '${k.text}'`);
        // `name = "…"` is the op's name; a tensor attribute keyed `name` is spelled with its type
        if (k.text === 'name' && this.peek().kind === 'string') {
          if (name !== undefined) this.fail(k, `duplicate name of ${opType}`);
          name = this.next().text;
          return;
        }
        if (keys.has(k.text)) this.fail(k, `duplicate attribute '${k.text}' of ${opType}`);
        keys.add(k.text);
        let type: TensorType | undefined;
        if (this.peek().kind === 'ident' && this.isPunct('[', 1)) {
          const t = this.type();
          type = t as TensorType;
        }
        attrs.push({ key: k.text, keyTok: k, type, lit: this.literal() });
      });
    }

    const types: ValueType[] = [];
    if (outs.length > 0) {
      const colon = this.peek();
      this.expect(':', `and the output types of ${opType}`);
      for (;;) {
        types.push(this.type());
        if (!this.eat(',')) break;
      }
      if (types.length !== outs.length) {
        this.fail(colon, `${opType} has ${outs.length} outputs but ${types.length} output types`);
      }
    } else if (this.isPunct(':')) {
      this.fail(this.peek(), `${opType} has no outputs, so it takes no ':' and output types`);
    }

    const blocks: Block[] = [];
    while (this.isPunct('^')) blocks.push(this.nestedBlock());

    const op = new Op({ type: opType, name, outputs: outs.map((t, i) => ({ name: t.text, type: types[i] })), blocks });
    for (const [p, vs] of args) op.setInput(p, vs);
    for (const a of attrs) op.attributes.set(a.key, this.attributeTensor(a, op));
    block.append(op);
    outs.forEach((t, i) => this.define(t, op.outputs[i]));
  }

  private nestedBlock(): Block {
    this.next();
    const block = new Block();
    this.scopes.push(new Map());
    this.list('(', ')', 'in the block inputs', () => {
      const v = this.expectKind('value', 'a block input such as %i');
      this.expect(':', `after the block input %${v.text}`);
      const val = new Value(v.text, this.type());
      block.addInput(val);
      this.define(v, val);
    });
    this.expect('{', 'to open the block body');
    this.ops(block, null);
    this.expect('}', 'to close the block body');
    block.setOutputs(this.blockOutputs('block').map((o) => o.value));
    this.scopes.pop();
    return block;
  }

  // -- types -----------------------------------------------------------------------------

  private type(): ValueType {
    const t = this.peek();
    if (t.kind !== 'ident') this.fail(t, `expected a type such as fp16[1, 4], found ${describe(t)}`);
    this.next();
    switch (t.text) {
      case 'state': {
        this.expect('<', 'after state');
        const inner = this.type();
        if (inner.kind !== 'tensor') this.fail(t, `a state wraps a tensor type, not ${formatType(inner)}`);
        this.expect('>', 'to close state<…>');
        return { kind: 'state', wrapped: inner };
      }
      case 'tuple':
        return { kind: 'tuple', types: this.list('<', '>', 'in tuple<…>', () => this.type()) };
      case 'list': {
        this.expect('<', 'after list');
        const elem = this.type();
        this.expect(',', 'between the element type and the length of list<…>');
        const length = this.dim();
        this.expect('>', 'to close list<…>');
        return { kind: 'list', elem, length };
      }
      case 'dict': {
        this.expect('<', 'after dict');
        const key = this.type();
        this.expect(',', 'between the key and value types of dict<…>');
        const value = this.type();
        this.expect('>', 'to close dict<…>');
        return { kind: 'dict', key, value };
      }
    }
    if (!isDType(t.text)) {
      this.fail(t, `unknown dtype '${t.text}' (expected one of ${DTYPES.join(', ')}, or state/tuple/list/dict)`);
    }
    const shape = this.list('[', ']', `in the shape of ${t.text}`, () => this.dim());
    return { kind: 'tensor', dtype: t.text as DType, shape };
  }

  private dim(): Dim {
    const t = this.next();
    if (t.kind === 'number') {
      if (!/^-?[0-9]+$/.test(t.text)) this.fail(t, `a dimension must be an integer or a name, found ${describe(t)}`);
      return Number(t.text);
    }
    if (t.kind === 'ident' || t.kind === 'string') return t.text;
    return this.fail(t, `expected a dimension (an integer or a symbolic name), found ${describe(t)}`);
  }

  // -- literals --------------------------------------------------------------------------

  private literal(): Literal {
    const t = this.peek();
    if (t.kind === 'hash') {
      this.next();
      return { kind: 'hash', tok: t };
    }
    return this.element();
  }

  private element(): Literal {
    const t = this.peek();
    if (t.kind === 'punct' && t.text === '[') {
      return { kind: 'list', tok: t, items: this.list('[', ']', 'in a tensor literal', () => this.element()) };
    }
    if (t.kind === 'number' || t.kind === 'string') {
      this.next();
      return { kind: 'scalar', tok: t, negated: false };
    }
    if (t.kind === 'punct' && t.text === '-') {
      this.next();
      const w = this.peek();
      if (w.kind !== 'ident' || (w.text !== 'nan' && w.text !== 'inf')) this.fail(w, `expected nan or inf after '-', found ${describe(w)}`);
      this.next();
      return { kind: 'scalar', tok: w, negated: true };
    }
    if (t.kind === 'ident' && ['true', 'false', 'inf', 'nan'].includes(t.text)) {
      this.next();
      if (t.text === 'nan' && this.eat('(')) {
        const payload = this.expectKind('number', 'the NaN bits in hex, e.g. nan(0x7e01)');
        this.expect(')', 'after the NaN bits');
        return { kind: 'scalar', tok: t, negated: false, payload };
      }
      return { kind: 'scalar', tok: t, negated: false };
    }
    if (t.kind === 'hash') this.fail(t, 'a content hash stands for a whole tensor, not for one element');
    return this.fail(t, `expected a tensor value (number, string, true/false, nan, inf, [ … ] or #sha256:…), found ${describe(t)}`);
  }

  private attributeTensor(a: PendingAttr, op: Op): Tensor {
    let type = a.type;
    if (!type) {
      const out = op.outputs.length === 1 ? op.outputs[0].type : undefined;
      if (op.type !== 'const' || a.key !== 'val' || !out || out.kind !== 'tensor') {
        this.fail(
          a.lit.tok,
          `attribute '${a.key}' needs a type before its value, e.g. ${a.key} = fp32[2] [1, 2] ` +
            "(only the 'val' of a const op takes its type from the op's output)",
        );
      }
      type = out;
    }
    const shape: number[] = [];
    for (const d of type.shape) {
      if (typeof d !== 'number' || d < 0) {
        this.fail(a.lit.tok, `the value of '${a.key}' has type ${formatType(type)}, but a constant needs a static shape`);
      }
      shape.push(d);
    }
    return this.tensor(type.dtype, shape, a.lit);
  }

  private tensor(dtype: DType, shape: number[], lit: Literal): Tensor {
    const typeText = `${dtype}[${shape.join(', ')}]`;
    if (lit.kind === 'hash') {
      const hash = new WeightHash(lit.tok.text);
      const found = this.resolve(hash);
      if (found) {
        if (found.dtype !== dtype || found.shape.length !== shape.length || found.shape.some((d, i) => d !== shape[i])) {
          this.fail(lit.tok, `the tensor resolved for #${hash} is ${found.dtype}[${found.shape.join(', ')}], but the text declares ${typeText}`);
        }
        return found;
      }
      if (this.options.requireTensors) this.fail(lit.tok, `no tensor for #${hash} (${typeText}) in the tensors resolver`);
      return new UnresolvedTensor(dtype, shape, hash);
    }
    const elems: Array<Extract<Literal, { kind: 'scalar' }>> = [];
    const flatten = (node: Literal, axis: number): void => {
      if (axis === shape.length) {
        if (node.kind !== 'scalar') this.fail(node.tok, `expected a single ${dtype} element of ${typeText}, found a list`);
        elems.push(node);
        return;
      }
      if (node.kind !== 'list') {
        this.fail(node.tok, `expected a list of ${shape[axis]} elements for axis ${axis} of ${typeText}, found ${describe(node.tok)}`);
      }
      if (node.items.length !== shape[axis]) {
        this.fail(node.tok, `expected ${shape[axis]} elements along axis ${axis} of ${typeText}, found ${node.items.length}`);
      }
      for (const item of node.items) flatten(item, axis + 1);
    };
    flatten(lit, 0);
    return this.encode(dtype, shape, elems);
  }

  private resolve(hash: WeightHash): Tensor | undefined {
    const r = this.options.tensors;
    if (!r) return undefined;
    if (typeof r === 'function') return r(hash);
    return r.get(hash.hex) ?? r.get(String(hash));
  }

  private encode(dtype: DType, shape: number[], elems: ReadonlyArray<Extract<Literal, { kind: 'scalar' }>>): Tensor {
    if (dtype === 'string') {
      return stringTensor(
        shape,
        elems.map((e) => (e.tok.kind === 'string' ? e.tok.text : this.fail(e.tok, `expected a string element, found ${describe(e.tok)}`))),
      );
    }
    if (dtype === 'bool') {
      return tensorFromValues(
        'bool',
        shape,
        elems.map((e) =>
          e.tok.kind === 'ident' && (e.tok.text === 'true' || e.tok.text === 'false') && !e.negated
            ? e.tok.text === 'true'
            : this.fail(e.tok, `expected true or false for a bool element, found ${describe(e.tok)}`),
        ),
      );
    }
    const f = floatFormatOf(dtype);
    if (f) return new DenseTensor(dtype, shape, writeFloatBits(f.width, elems.map((e) => this.floatBits(dtype, f, e))));
    const info = DTYPE_INFO[dtype];
    const ints = elems.map((e) => {
      if (e.tok.kind !== 'number' || !/^-?[0-9]+$/.test(e.tok.text)) {
        this.fail(e.tok, `expected an integer for a ${dtype} element, found ${describe(e.tok)}`);
      }
      const big = BigInt(e.tok.text);
      const lo = info.kind === 'uint' ? 0n : -(1n << BigInt(info.bits - 1));
      const hi = info.kind === 'uint' ? (1n << BigInt(info.bits)) - 1n : (1n << BigInt(info.bits - 1)) - 1n;
      if (big < lo || big > hi) this.fail(e.tok, `${e.tok.text} is out of range for ${dtype} (${lo}..${hi})`);
      return big;
    });
    if (info.bits === 64) return tensorFromValues(dtype, shape, ints);
    return tensorFromValues(dtype, shape, ints.map((b) => Number(b)));
  }

  private floatBits(dtype: DType, f: FloatFormat, e: Extract<Literal, { kind: 'scalar' }>): bigint {
    const t = e.tok;
    if (t.kind === 'ident' && t.text === 'nan') {
      if (!e.payload) return e.negated ? f.canonicalNaN | signBit(f) : f.canonicalNaN;
      if (e.negated || !/^0x[0-9a-fA-F]+$/.test(e.payload.text)) this.fail(e.payload, 'NaN bits must be written nan(0x…) in hex');
      const bits = BigInt(e.payload.text);
      if (bits >= 1n << BigInt(f.width) || classifyFloat(f, bits) !== 'nan') {
        this.fail(e.payload, `${e.payload.text} is not a ${dtype} NaN bit pattern`);
      }
      return bits;
    }
    if (t.kind === 'ident' && t.text === 'inf') {
      if (f.finiteOnly) this.fail(t, `${dtype} has no infinities`);
      return e.negated ? infBits(f) | signBit(f) : infBits(f);
    }
    if (t.kind !== 'number' || t.text.includes('0x')) {
      this.fail(t, `expected a number, nan or inf for a ${dtype} element, found ${describe(t)}`);
    }
    const x = Number(t.text);
    const bits = f.fromNumber(x);
    if (bits === undefined) this.fail(t, `${t.text} is not exactly representable in ${dtype}`);
    if (classifyFloat(f, bits) !== 'finite') this.fail(t, `${t.text} is out of range for ${dtype}`);
    return bits;
  }

  // -- generic values (metadata, buildInfo, io descriptions) -----------------------------

  private genericDict(context: string): Record<string, Generic> {
    const out: Record<string, Generic> = {};
    this.list('{', '}', context, () => {
      const k = this.key(`a key ${context}`);
      if (Object.prototype.hasOwnProperty.call(out, k.text)) this.fail(k, `duplicate key '${k.text}' ${context}`);
      this.expect('=', `after the key '${k.text}'`);
      out[k.text] = this.generic(context);
    });
    return out;
  }

  private generic(context: string): Generic {
    const t = this.peek();
    if (t.kind === 'string') return this.next().text;
    if (t.kind === 'number') return Number(this.next().text);
    if (t.kind === 'punct' && t.text === '[') return this.list('[', ']', context, () => this.generic(context));
    if (t.kind === 'punct' && t.text === '{') return this.genericDict(context);
    if (t.kind === 'punct' && t.text === '-' && this.isIdent('inf', 1)) {
      this.next();
      this.next();
      return -Infinity;
    }
    if (t.kind === 'ident') {
      const word: Record<string, Generic> = { true: true, false: false, null: null, nan: NaN, inf: Infinity };
      if (Object.prototype.hasOwnProperty.call(word, t.text)) {
        this.next();
        return word[t.text];
      }
    }
    return this.fail(t, `expected a value (string, number, true/false, null, [ … ] or { … }) ${context}, found ${describe(t)}`);
  }
}

function isStringRecord(g: Generic): g is Record<string, string> {
  return typeof g === 'object' && g !== null && !Array.isArray(g) && Object.values(g).every((v) => typeof v === 'string');
}

/** Checks the known IODescription fields; unknown fields are kept as parsed. Returns a problem or undefined. */
function checkIODescription(d: Record<string, Generic>): string | undefined {
  const isNums = (v: Generic): boolean => Array.isArray(v) && v.every((x) => typeof x === 'number');
  const checks: Record<string, [(v: Generic) => boolean, string]> = {
    shortDescription: [(v) => typeof v === 'string', 'a string'],
    isOptional: [(v) => typeof v === 'boolean', 'true or false'],
    defaultValue: [(v) => typeof v === 'number', 'a number'],
    enumeratedShapes: [(v) => Array.isArray(v) && v.every(isNums), 'a list of shapes'],
    shapeRange: [(v) => Array.isArray(v) && v.every((r) => isNums(r) && (r as Generic[]).length === 2), 'a list of [lower, upper] pairs'],
    defaultShape: [isNums, 'a list of integers'],
    image: [(v) => typeof v === 'object' && v !== null && !Array.isArray(v) && typeof v.colorSpace === 'string', '{colorSpace = "…"}'],
  };
  for (const [k, v] of Object.entries(d)) {
    const c = checks[k];
    if (c && !c[0](v)) return `${k} must be ${c[1]}`;
  }
  return undefined;
}
