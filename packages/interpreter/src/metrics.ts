/**
 * How far one set of outputs is from another: the numbers every compression pass and
 * every rewrite check reports (ARCHITECTURE.md "Correctness").
 *
 * With r = reference, t = test, e = r − t over all N elements (float64 sums):
 *  - maxAbsError = max |e|,  meanAbsError = Σ|e| / N
 *  - snr  = 10·log10(Σr² / Σe²) dB (Infinity when e = 0)
 *  - psnr = 10·log10(max|r|² / (Σe² / N)) dB — peak = the reference's largest magnitude
 *  - cosine = Σ r·t / (‖r‖·‖t‖)  (1 when both are all zeros, 0 when only one is)
 *  - relativeL2 = ‖e‖ / ‖r‖  (the fixtures' tolerance metric)
 *  - kl (logits only) = mean over rows of KL(softmax(r) ‖ softmax(t)) along `logitsAxis`
 */
import { type Program, fp16ToFp32Array } from '@silica/ir';
import type { InputTensor, OutputTensor } from './io.js';
import type { NpyArray } from './npy.js';
import { createSession } from './session.js';

export interface OutputMetrics {
  /** Elements compared (over every sample). */
  readonly count: number;
  readonly maxAbsError: number;
  readonly meanAbsError: number;
  readonly snr: number;
  readonly psnr: number;
  readonly cosine: number;
  readonly relativeL2: number;
  /** Present when the output was compared as logits. */
  readonly kl?: number;
}

/** Anything with a shape and numbers: interpreter outputs, npy arrays (fp16 bits decoded), plain objects. */
export type Comparable = OutputTensor | NpyArray | { readonly shape: readonly number[]; readonly data: ArrayLike<number> };

export interface CompareOptions {
  /** Compare these outputs (or all, with `true`) as logits: also report the KL divergence of their softmax. */
  readonly logits?: boolean | readonly string[];
  /** Axis of the classes for `logits` (default -1). */
  readonly logitsAxis?: number;
}

function valuesOf(x: Comparable): ArrayLike<number> {
  if ('dtype' in x && x.dtype === 'f2') return fp16ToFp32Array(x.data as Uint16Array);
  if (x.data instanceof BigInt64Array) return Float64Array.from(x.data, (v) => Number(v));
  return x.data as ArrayLike<number>;
}

/** Accumulates error statistics over one or more (reference, test) pairs of one output. */
export class MetricAccumulator {
  private n = 0;
  private sumRef2 = 0;
  private sumTest2 = 0;
  private sumDot = 0;
  private sumErr2 = 0;
  private sumAbsErr = 0;
  private maxAbsErr = 0;
  private maxAbsRef = 0;
  private klSum = 0;
  private klRows = 0;
  private shape: readonly number[] | undefined;

  constructor(
    readonly name: string,
    private readonly logitsAxis?: number,
  ) {}

  add(reference: Comparable, test: Comparable): void {
    const sa = reference.shape;
    const sb = test.shape;
    if (sa.length !== sb.length || sa.some((d, i) => d !== sb[i])) {
      throw new Error(`output "${this.name}": shapes differ: reference [${sa.join(', ')}] vs test [${sb.join(', ')}]`);
    }
    if (this.shape && (this.shape.length !== sa.length || this.shape.some((d, i) => d !== sa[i]))) {
      throw new Error(`output "${this.name}": shape [${sa.join(', ')}] differs from an earlier sample's [${this.shape.join(', ')}]`);
    }
    this.shape = [...sa];
    const r = valuesOf(reference);
    const t = valuesOf(test);
    if (r.length !== t.length) throw new Error(`output "${this.name}": ${r.length} vs ${t.length} elements`);
    for (let i = 0; i < r.length; i++) {
      const a = r[i];
      const b = t[i];
      const e = a - b;
      const ae = Math.abs(e);
      this.sumRef2 += a * a;
      this.sumTest2 += b * b;
      this.sumDot += a * b;
      this.sumErr2 += e * e;
      this.sumAbsErr += ae;
      if (ae > this.maxAbsErr || Number.isNaN(ae)) this.maxAbsErr = ae;
      if (Math.abs(a) > this.maxAbsRef) this.maxAbsRef = Math.abs(a);
    }
    this.n += r.length;
    if (this.logitsAxis !== undefined) this.addKL(r, t, sa);
  }

  private addKL(r: ArrayLike<number>, t: ArrayLike<number>, shape: readonly number[]): void {
    const rank = shape.length;
    if (rank === 0) throw new Error(`output "${this.name}": logits need rank ≥ 1`);
    const ax = this.logitsAxis! < 0 ? this.logitsAxis! + rank : this.logitsAxis!;
    if (ax < 0 || ax >= rank) throw new Error(`output "${this.name}": logits axis ${this.logitsAxis} is out of range for rank ${rank}`);
    const D = shape[ax];
    const inner = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
    const outer = shape.slice(0, ax).reduce((a, b) => a * b, 1);
    for (let p = 0; p < outer; p++) {
      for (let q = 0; q < inner; q++) {
        const base = p * D * inner + q;
        let mr = -Infinity;
        let mt = -Infinity;
        for (let i = 0; i < D; i++) {
          mr = Math.max(mr, r[base + i * inner]);
          mt = Math.max(mt, t[base + i * inner]);
        }
        let zr = 0;
        let zt = 0;
        for (let i = 0; i < D; i++) {
          zr += Math.exp(r[base + i * inner] - mr);
          zt += Math.exp(t[base + i * inner] - mt);
        }
        const lzr = Math.log(zr);
        const lzt = Math.log(zt);
        let kl = 0;
        for (let i = 0; i < D; i++) {
          const lp = r[base + i * inner] - mr - lzr;
          const lq = t[base + i * inner] - mt - lzt;
          const p_ = Math.exp(lp);
          if (p_ > 0) kl += p_ * (lp - lq);
        }
        this.klSum += kl;
        this.klRows++;
      }
    }
  }

  result(): OutputMetrics {
    const n = this.n;
    const mse = n > 0 ? this.sumErr2 / n : 0;
    const snr = this.sumErr2 === 0 ? Infinity : 10 * Math.log10(this.sumRef2 / this.sumErr2);
    const psnr = mse === 0 ? Infinity : 10 * Math.log10((this.maxAbsRef * this.maxAbsRef) / mse);
    const denom = Math.sqrt(this.sumRef2 * this.sumTest2);
    // clamped: rounding can push |cos| a hair past 1
    const cosine = denom === 0 ? (this.sumRef2 === 0 && this.sumTest2 === 0 ? 1 : 0) : Math.max(-1, Math.min(1, this.sumDot / denom));
    const relativeL2 = this.sumRef2 === 0 ? (this.sumErr2 === 0 ? 0 : Infinity) : Math.sqrt(this.sumErr2 / this.sumRef2);
    const base = { count: n, maxAbsError: this.maxAbsErr, meanAbsError: n > 0 ? this.sumAbsErr / n : 0, snr, psnr, cosine, relativeL2 };
    return this.logitsAxis === undefined ? base : { ...base, kl: this.klRows > 0 ? this.klSum / this.klRows : 0 };
  }
}

function isLogits(options: CompareOptions, name: string): boolean {
  const l = options.logits;
  return l === true || (Array.isArray(l) && l.includes(name));
}

function accumulatorFor(options: CompareOptions, name: string): MetricAccumulator {
  return new MetricAccumulator(name, isLogits(options, name) ? (options.logitsAxis ?? -1) : undefined);
}

/** Metrics of one test tensor against its reference. */
export function compareTensors(reference: Comparable, test: Comparable, options: { logits?: boolean; logitsAxis?: number; name?: string } = {}): OutputMetrics {
  const acc = new MetricAccumulator(options.name ?? 'tensor', options.logits ? (options.logitsAxis ?? -1) : undefined);
  acc.add(reference, test);
  return acc.result();
}

/** Per-output metrics of `test` against `reference`; every reference output must be in `test`. */
export function compareOutputs(
  reference: Readonly<Record<string, Comparable>>,
  test: Readonly<Record<string, Comparable>>,
  options: CompareOptions = {},
): Record<string, OutputMetrics> {
  const out: Record<string, OutputMetrics> = {};
  for (const [name, r] of Object.entries(reference)) {
    const t = test[name];
    if (!t) throw new Error(`output "${name}" is missing from the test outputs (have: ${Object.keys(test).join(', ') || 'none'})`);
    const acc = accumulatorFor(options, name);
    acc.add(r, t);
    out[name] = acc.result();
  }
  return out;
}

export interface EvaluateOptions extends CompareOptions {
  /** Function of program A to run (default: its default function). */
  readonly functionA?: string;
  /** Function of program B to run (default: its default function). */
  readonly functionB?: string;
  readonly checkNaN?: boolean;
}

export interface EvaluateResult {
  /** Per output (named as in program A): B's error against A, over every sample. */
  readonly metrics: Record<string, OutputMetrics>;
  readonly samples: number;
}

/**
 * Runs program A (the reference) and program B on the same inputs — one sample or a
 * sequence (states persist across a sequence, as in a decode loop) — and reports B's
 * error per output. Outputs are paired by name; when the names differ but the counts
 * match they are paired by position.
 */
export function evaluate(
  programA: Program,
  programB: Program,
  inputs: Readonly<Record<string, InputTensor>> | ReadonlyArray<Readonly<Record<string, InputTensor>>>,
  options: EvaluateOptions = {},
): EvaluateResult {
  const a = createSession(programA, { function: options.functionA, checkNaN: options.checkNaN });
  const b = createSession(programB, { function: options.functionB, checkNaN: options.checkNaN });
  const namesA = a.outputs.map((o) => o.name);
  const namesB = b.outputs.map((o) => o.name);
  let pairOf: (name: string, i: number) => string;
  if (namesA.every((n) => namesB.includes(n))) pairOf = (n) => n;
  else if (namesA.length === namesB.length) pairOf = (_, i) => namesB[i];
  else {
    throw new Error(`the programs' outputs differ: A has ${namesA.join(', ')}; B has ${namesB.join(', ')}`);
  }
  const samples = (Array.isArray(inputs) ? inputs : [inputs]) as ReadonlyArray<Readonly<Record<string, InputTensor>>>;
  const accs = namesA.map((n) => accumulatorFor(options, n));
  for (const s of samples) {
    const ra = a.predict(s);
    const rb = b.predict(s);
    namesA.forEach((n, i) => accs[i].add(ra[n], rb[pairOf(n, i)]));
  }
  const metrics: Record<string, OutputMetrics> = {};
  namesA.forEach((n, i) => (metrics[n] = accs[i].result()));
  return { metrics, samples: samples.length };
}
