/**
 * Test helpers for the SDPA passes: a builder of attention blocks in every variant the
 * fusion must recognise (or refuse), structural views (op types, a name-free canonical
 * text, signatures), seeded inputs with causal masks, and a before/after numeric check
 * through the interpreter.
 */
import {
  type DType,
  type Dim,
  type Function as Fn,
  type Pass,
  type Program,
  type Target,
  type Value,
  buildProgram,
  cloneProgram,
  createPassContext,
  formatTensorLiteral,
  formatType,
  silentLogger,
  tensorFromValues,
  tensorType,
  verifyProgram,
  seededRandom,
} from '@silica/ir';
import { type InputTensor, type OutputMetrics, evaluate } from '@silica/interpreter';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/', import.meta.url));

// ---------------------------------------------------------------------------------------
// Structure

/** The op types of a function (or a program's default function), consts excluded, in order. */
export function opTypes(where: Program | Fn): string[] {
  const fn = 'functions' in where ? where.getFunction() : where;
  return [...fn.walk()].filter((op) => op.type !== 'const').map((op) => op.type);
}

/** How many ops of each type (consts included), keys sorted. */
export function opCounts(where: Program | Fn): Record<string, number> {
  const fn = 'functions' in where ? where.getFunction() : where;
  const out: Record<string, number> = {};
  for (const op of fn.walk()) out[op.type] = (out[op.type] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

export function countOps(where: Program | Fn, type: string): number {
  return opCounts(where)[type] ?? 0;
}

/** Names and types of a function's inputs and outputs: must not change under a rewrite. */
export function signature(where: Program | Fn): { inputs: string[]; outputs: string[] } {
  const fn = 'functions' in where ? where.getFunction() : where;
  return {
    inputs: fn.inputs.map((v) => `${v.name}: ${formatType(v.type)}`),
    outputs: fn.outputs.map((v) => `${v.name}: ${formatType(v.type)}`),
  };
}

/**
 * The function as text without value or op names: every value reachable from the
 * outputs is numbered in the order a depth-first walk (parameters sorted by name) first
 * reaches it; identical expressions (same op, same operands, same constant) share one
 * number. Transpose perms are printed normalised (`[0, 2, -3, -1]` = `[0, 2, 1, 3]`).
 * Two programs that compute the same graph print the same text, whatever their names
 * and op order.
 */
export function canonicalText(where: Program | Fn): string {
  const fn = 'functions' in where ? where.getFunction() : where;
  const ids = new Map<Value, string>();
  const interned = new Map<string, string>();
  const lines: string[] = [];
  const visit = (v: Value): string => {
    const known = ids.get(v);
    if (known) return known;
    let key: string;
    const op = v.producer;
    if (!op) key = `input ${fn.inputs.indexOf(v)} : ${formatType(v.type)}`;
    else if (op.type === 'const') key = `const ${formatTensorLiteral(op.attributes.get('val')!)} : ${formatType(v.type)}`;
    else {
      const args = [...op.inputs.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([param, vs]) => {
          if (op.type === 'transpose' && param === 'perm') {
            const perm = op.inputs.get('perm')![0].producer!.attributes.get('val')!.toNumbers();
            return `perm = [${perm.map((p) => (p < 0 ? p + perm.length : p)).join(', ')}]`;
          }
          const rendered = vs.map(visit);
          return `${param} = ${rendered.length === 1 ? rendered[0] : `(${rendered.join(', ')})`}`;
        });
      key = `${op.type}(${args.join(', ')})${op.outputs.length > 1 ? `#${v.index}` : ''} : ${formatType(v.type)}`;
    }
    let id = interned.get(key);
    if (!id) {
      id = `%${lines.length}`;
      interned.set(key, id);
      lines.push(`${id} = ${key}`);
    }
    ids.set(v, id);
    return id;
  };
  const outs = fn.outputs.map(visit);
  return `${lines.join('\n')}\nreturn (${outs.join(', ')})\n`;
}

// ---------------------------------------------------------------------------------------
// Running passes

/** Runs `pass` on a clone of `program` (verified before and after); returns the clone and the result. */
export async function runPass(pass: Pass, program: Program): Promise<{ program: Program; changed: boolean; stats: Record<string, number | string> }> {
  verifyProgram(program);
  const copy = cloneProgram(program);
  const result = await pass.run(copy, createPassContext({ target: copy.target, logger: silentLogger }));
  const out = result.program ?? copy;
  verifyProgram(out);
  return { program: out, changed: result.changed, stats: { ...(result.stats ?? {}) } };
}

// ---------------------------------------------------------------------------------------
// Inputs

/** mulberry32 (seededRandom of @silica/ir): uniform [0, 1) numbers from a seed. */
export const rng = seededRandom;

/** Standard normal samples (Box–Muller) from `uniform`. */
export function normals(n: number, uniform: () => number, sigma = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = sigma * Math.sqrt(-2 * Math.log(1 - uniform()));
    const a = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

/**
 * Whether row i may attend to column j in a causal mask over [L, S] aligned bottom-right
 * (the last query sees every key), so every row has at least one allowed column.
 */
export function causalAllowed(i: number, j: number, L: number, S: number): boolean {
  return j <= i + Math.max(S - L, 0);
}

function staticShape(shape: readonly Dim[], what: string): number[] {
  return shape.map((d) => {
    if (typeof d !== 'number') throw new Error(`${what}: symbolic dim ${d}`);
    return d;
  });
}

/**
 * Seeded inputs for every tensor input of `fn`: inputs whose name starts with `mask` get
 * a causal pattern over their last two axes (bool: true = attend; float: 0 / -1e4), the
 * others normal(0, 1) values.
 */
export function randomInputs(where: Program | Fn, seed: number): Record<string, InputTensor> {
  const fn = 'functions' in where ? where.getFunction() : where;
  const uniform = rng(seed);
  const out: Record<string, InputTensor> = {};
  for (const v of fn.inputs) {
    if (v.type.kind !== 'tensor') continue;
    const shape = staticShape(v.type.shape, `input ${v.name}`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (v.name.startsWith('mask')) {
      const S = shape[shape.length - 1] ?? 1;
      const L = shape.length >= 2 ? shape[shape.length - 2] : 1;
      const data = v.type.dtype === 'bool' ? new Uint8Array(n) : new Float32Array(n);
      for (let e = 0; e < n; e++) {
        const j = e % S;
        const i = Math.floor(e / S) % L;
        const ok = causalAllowed(i, j, L, S);
        data[e] = v.type.dtype === 'bool' ? (ok ? 1 : 0) : ok ? 0 : -1e4;
      }
      out[v.name] = { shape, data };
    } else if (v.type.dtype === 'bool') {
      out[v.name] = { shape, data: Uint8Array.from({ length: n }, () => (uniform() < 0.5 ? 1 : 0)) };
    } else {
      out[v.name] = { shape, data: normals(n, uniform) };
    }
  }
  return out;
}

/** Metrics of `after` against `before` over several seeded input sets (output names matched). */
export function compareRuns(before: Program, after: Program, inputs: ReadonlyArray<Record<string, InputTensor>>): Record<string, OutputMetrics> {
  return evaluate(before, after, inputs, { checkNaN: true }).metrics;
}

/** The tolerance the brief states for a program's float precision. */
export function withinTolerance(dtype: DType, m: OutputMetrics): boolean {
  return dtype === 'fp32' ? m.maxAbsError <= 1e-5 : m.relativeL2 <= 1e-2;
}

// ---------------------------------------------------------------------------------------
// Building attention blocks

export type ScaleSite = 'none' | 'q' | 'k' | 'scores' | 'q-and-k' | 'q-before-transpose';
export type MaskKind = 'none' | 'float' | 'bool-sub' | 'bool-not';

export interface AttentionSpec {
  readonly target?: Target;
  readonly dtype?: 'fp16' | 'fp32';
  /** Batch dims of q, k and v (default [2, 4] for all three). */
  readonly qBatch?: readonly number[];
  readonly kBatch?: readonly number[];
  readonly vBatch?: readonly number[];
  readonly L?: number;
  readonly S?: number;
  readonly E?: number;
  readonly EV?: number;
  /** The scale c (default 1/√E) and where it is applied. */
  readonly scale?: number;
  readonly scaleSite?: ScaleSite;
  /** `mul` by c, or `real_div` by 1/c. */
  readonly scaleOp?: 'mul' | 'real_div';
  /** Put the constant on the x side of the `mul` (commutative form). */
  readonly scaleConstFirst?: boolean;
  /** k transposed by `transpose_y = true` (default) or by an explicit `transpose`. */
  readonly kTranspose?: 'transpose_y' | 'explicit';
  readonly mask?: MaskKind;
  /** Shape of the mask input (default [L, S]). */
  readonly maskShape?: readonly number[];
  /** Put the mask on the x side of the `add`. */
  readonly maskFirst?: boolean;
  readonly softmaxAxis?: number;
  /**
   * A change that must stop the fusion: the scores or the probabilities also returned as
   * a second output, or the scores scaled by a runtime input (`temperature`) instead of a
   * constant.
   */
  readonly breaker?: 'none' | 'scores-output' | 'probs-output' | 'runtime-scale';
}

export interface BuiltAttention {
  readonly program: Program;
  readonly spec: Required<Omit<AttentionSpec, 'maskShape'>> & { maskShape: readonly number[] };
}

/**
 * One decomposed attention block over function inputs q [qBatch…, L, E], k [kBatch…, S, E],
 * v [vBatch…, S, EV] and an optional mask input, output `out`:
 * `matmul(softmax(add(scale(matmul(scale(q), scale(k)ᵀ)), mask)), v)`.
 */
export function buildAttention(spec: AttentionSpec = {}): BuiltAttention {
  const s = {
    target: spec.target ?? 'iOS18',
    dtype: spec.dtype ?? 'fp32',
    qBatch: spec.qBatch ?? [2, 4],
    kBatch: spec.kBatch ?? spec.qBatch ?? [2, 4],
    vBatch: spec.vBatch ?? spec.kBatch ?? spec.qBatch ?? [2, 4],
    L: spec.L ?? 8,
    S: spec.S ?? spec.L ?? 8,
    E: spec.E ?? 16,
    EV: spec.EV ?? spec.E ?? 16,
    scale: spec.scale ?? 1 / Math.sqrt(spec.E ?? 16),
    scaleSite: spec.scaleSite ?? 'scores',
    scaleOp: spec.scaleOp ?? 'mul',
    scaleConstFirst: spec.scaleConstFirst ?? false,
    kTranspose: spec.kTranspose ?? 'transpose_y',
    mask: spec.mask ?? 'float',
    maskFirst: spec.maskFirst ?? false,
    softmaxAxis: spec.softmaxAxis ?? -1,
    breaker: spec.breaker ?? 'none',
  } as const;
  const maskShape = spec.maskShape ?? [s.L, s.S];
  const dt: DType = s.dtype;
  const inputs: Record<string, ReturnType<typeof tensorType>> = {
    q: tensorType(dt, [...s.qBatch, s.L, s.E]),
    k: tensorType(dt, [...s.kBatch, s.S, s.E]),
    v: tensorType(dt, [...s.vBatch, s.S, s.EV]),
  };
  if (s.mask === 'float') inputs.mask = tensorType(dt, maskShape);
  if (s.mask === 'bool-sub' || s.mask === 'bool-not') inputs.mask = tensorType('bool', maskShape);
  if (s.breaker === 'runtime-scale') inputs.temperature = tensorType(dt, []);

  const program = buildProgram(s.target, (p) => {
    p.function('main', inputs, (b, io) => {
      const scaleBy = (x: Value, c: number): Value => {
        if (s.scaleOp === 'real_div') return b.real_div({ x, y: tensorFromValues(dt, [], [1 / c]) });
        const k = tensorFromValues(dt, [], [c]);
        return s.scaleConstFirst ? b.mul({ x: k, y: x }) : b.mul({ x, y: k });
      };
      const c = s.scale;
      let q = io.q;
      let k = io.k;
      if (s.scaleSite === 'q') q = scaleBy(q, c);
      if (s.scaleSite === 'k') k = scaleBy(k, c);
      if (s.scaleSite === 'q-and-k') {
        q = scaleBy(q, Math.sqrt(c));
        k = scaleBy(k, Math.sqrt(c));
      }
      if (s.scaleSite === 'q-before-transpose') {
        // q arrives as [B0, L, B1, E]-like layout in the fixture; here: transpose of a scaled transpose
        const rank = s.qBatch.length + 2;
        const swapFirst = Array.from({ length: rank }, (_, i) => i);
        if (rank >= 3) [swapFirst[rank - 3], swapFirst[rank - 2]] = [swapFirst[rank - 2], swapFirst[rank - 3]];
        const pre = b.transpose({ x: q, perm: swapFirst }); // [.., L, B_last, E]
        q = b.transpose({ x: scaleBy(pre, c), perm: swapFirst });
      }
      let scores: Value;
      if (s.kTranspose === 'explicit') {
        const rank = s.kBatch.length + 2;
        const perm = Array.from({ length: rank }, (_, i) => i);
        [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
        const kt = b.transpose({ x: k, perm });
        scores = b.matmul({ x: q, y: kt, transpose_x: false, transpose_y: false });
      } else {
        scores = b.matmul({ x: q, y: k, transpose_x: false, transpose_y: true });
      }
      const raw = scores;
      if (s.scaleSite === 'scores') scores = scaleBy(scores, c);
      if (s.breaker === 'runtime-scale') scores = b.mul({ x: scores, y: io.temperature });
      if (s.mask !== 'none') {
        let m: Value = io.mask;
        if (s.mask === 'bool-sub') {
          const f = b.cast({ x: m, dtype: dt });
          m = b.mul({ x: b.sub({ x: tensorFromValues(dt, [], [1]), y: f }), y: tensorFromValues(dt, [], [-3e4]) });
        } else if (s.mask === 'bool-not') {
          const f = b.cast({ x: b.op('logical_not', { x: m }) as Value, dtype: dt });
          m = b.mul({ x: f, y: tensorFromValues(dt, [], [-3e4]) });
        }
        scores = s.maskFirst ? b.add({ x: m, y: scores }) : b.add({ x: scores, y: m });
      }
      const probs = b.softmax({ x: scores, axis: s.softmaxAxis });
      const out = b.matmul({ x: probs, y: io.v, transpose_x: false, transpose_y: false }, { name: 'out' });
      if (s.breaker === 'scores-output') return [out, raw];
      if (s.breaker === 'probs-output') return [out, probs];
      return out;
    });
  });
  return { program, spec: { ...s, maskShape } };
}
