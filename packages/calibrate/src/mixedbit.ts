/**
 * Mixed-bit palettization: a width per layer chosen from measured sensitivities — no
 * gradients, no GPU, only the interpreter.
 *
 *  1. sensitivity: for every layer l and candidate width b, the model runs on the
 *     calibration samples with only l palettized at b (its LUTs fitted as the final ones
 *     will be: Hessian-diagonal weighted k-means, or plain k-means); the output noise is
 *     the normalised MSE ε_l(b) = mean over outputs of MSE / peak², i.e. output PSNR
 *     = −10·log10 ε;
 *  2. size: bits_l(b) = elements · b + LUT entries · LUT element bits;
 *  3. choice: treating the noise of independently compressed layers as additive
 *     (ε ≈ Σ_l ε_l(b_l)), a dynamic programme over the layers (a multiple-choice knapsack,
 *     sizes discretised into at most 4096 units, rounded up so the budget always holds)
 *     finds the widths with the least predicted noise within a bits-per-weight budget — or
 *     the smallest model whose predicted PSNR reaches a floor;
 *  4. the chosen model is measured; under a PSNR floor, when the measurement falls short of
 *     the prediction the noise allowance is tightened and the choice repeated;
 *  5. the layers are palettized (`constexpr_lut_to_dense`, the palettize pass's form) and
 *     the recipe — width per weight, predicted and measured PSNR — is returned (and
 *     accepted back as `recipe`, which skips steps 1–4).
 *
 * Uniform palettization at width b is one of the choices the programme weighs, so under
 * the additive model the result is never worse than it at the same size.
 */
import { type SkippedWeight, summarizeStats } from '@silica/compression';
import { type InputTensor, type OutputTensor, createSession } from '@silica/interpreter';
import { type Op, type PassContext, type Program, type Tensor, cloneProgram, targetAtLeast, tensorFromValues } from '@silica/ir';
import { type AnyResolved, type CalibrationResult, type LayerReport, type Plan, combinedSignal, commitLayer, findLayers, raiseTarget, samplesFor } from './driver.js';
import { type LayerLut, emitLayerLut, fitLayerLut, lutGroupRows, sensitivities, weightValues } from './compress.js';
import { captureActivations } from './capture.js';
import { DiagonalAccumulator } from './hessian.js';
import { scheduleRounds } from './schedule.js';
import type { Layer } from './layers.js';
import type { MixedBitOptions, MixedBitRecipe, RecipeLayer, ResolvedMixedBit } from './options.js';
import { yieldToEventLoop } from './util.js';

type Width = 1 | 2 | 3 | 4 | 6 | 8;

interface Candidate {
  readonly layer: Layer;
  readonly config: ResolvedMixedBit;
  readonly granularity: 'per_tensor' | 'per_grouped_channel';
  readonly groupSize: number;
  readonly groupRows: number;
  readonly widths: readonly Width[];
  /** Per-row-group column sensitivities, or null for plain k-means. */
  sens: Float64Array[] | null;
}

const toPsnr = (noise: number): number => (noise === 0 ? Infinity : -10 * Math.log10(noise));

/** Bits of a layer palettized at `nbits`: indices plus LUT entries. */
function layerBits(c: Candidate, nbits: number): number {
  const elements = c.layer.rows * c.layer.cols;
  const groups = c.layer.rows / c.groupRows;
  const lutBits = c.layer.weight.denseDType === 'fp16' ? 16 : 32;
  return elements * nbits + groups * 2 ** nbits * lutBits;
}

function fit(c: Candidate, nbits: number, original: Float64Array): LayerLut {
  const floatDType = c.layer.weight.denseDType === 'fp16' ? 'fp16' : 'fp32';
  return fitLayerLut(original, c.layer.rows, c.layer.cols, c.layer.rowGroups, c.sens, nbits, c.groupRows, floatDType);
}

/** The palettized weight as a tensor of the original dtype and layout (what the LUT op evaluates to). */
function denseTensor(c: Candidate, f: LayerLut): Tensor {
  const w = c.layer.weight;
  return tensorFromValues(w.denseDType, w.denseShape, c.layer.fromCanonical(f.values, new Float32Array(f.values.length)));
}

/** Output noise of a program against reference outputs: mean over outputs of MSE / peak². */
class NoiseMeter {
  private readonly peaks: Record<string, number> = {};
  constructor(
    private readonly fnName: string,
    private readonly samples: ReadonlyArray<Readonly<Record<string, InputTensor>>>,
    private readonly refs: ReadonlyArray<Record<string, OutputTensor>>,
    private readonly signal: AbortSignal,
  ) {
    for (const r of refs) {
      for (const [k, t] of Object.entries(r)) {
        let p = this.peaks[k] ?? 0;
        for (const v of t.data) if (Math.abs(v) > p) p = Math.abs(v);
        this.peaks[k] = p;
      }
    }
  }

  async noise(program: Program): Promise<number> {
    const session = createSession(program, { function: this.fnName });
    const err: Record<string, number> = {};
    const count: Record<string, number> = {};
    for (let i = 0; i < this.samples.length; i++) {
      this.signal.throwIfAborted();
      const out = session.predict(this.samples[i]);
      for (const [k, ref] of Object.entries(this.refs[i])) {
        const t = out[k].data;
        const r = ref.data;
        let e = 0;
        for (let j = 0; j < r.length; j++) {
          const d = r[j] - t[j];
          e += d * d;
        }
        err[k] = (err[k] ?? 0) + e;
        count[k] = (count[k] ?? 0) + r.length;
      }
      if ((i & 7) === 7) await yieldToEventLoop();
    }
    const names = Object.keys(err);
    let total = 0;
    for (const k of names) {
      const mse = err[k] / count[k];
      const peak = this.peaks[k];
      total += peak > 0 ? mse / (peak * peak) : mse;
    }
    return names.length === 0 ? 0 : total / names.length;
  }
}

interface Choice {
  readonly widths: Width[];
  readonly noise: number;
  readonly bits: number;
}

function gcd(a: number, b: number): number {
  while (b > 0) [a, b] = [b, a % b];
  return a;
}

/** Most budget units the DP table may have. */
const MAX_UNITS = 1 << 16;

/**
 * The multiple-choice knapsack over layers (module comment): `noise[l][k]`, `bits[l][k]`
 * per layer and option. Sizes above each layer's smallest option are measured in units:
 * the greatest common divisor of all of them when that gives at most MAX_UNITS units (the
 * DP is then exact), else span / MAX_UNITS with sizes rounded to the nearest unit — the
 * caller checks the exact size of what it picks. `best[u]` is the least total noise within
 * u units; `choose(u)` reads the choice back.
 */
function knapsack(noise: number[][], bits: number[][]): { unit: number; minBits: number; best: Float64Array; choose(u: number): number[] } {
  const L = noise.length;
  const minOf = bits.map((b) => Math.min(...b));
  const minBits = minOf.reduce((a, b) => a + b, 0);
  const extraBits = bits.map((b, l) => b.map((x) => x - minOf[l]));
  const span = extraBits.reduce((a, e) => a + Math.max(...e), 0);
  let g = 0;
  for (const e of extraBits) for (const x of e) g = gcd(g, x);
  const unit = g > 0 && span / g <= MAX_UNITS ? g : Math.max(1, span / MAX_UNITS);
  const U = Math.max(0, Math.round(span / unit));
  const extra = extraBits.map((e) => e.map((x) => Math.round(x / unit)));
  let dp = new Float64Array(U + 1); // zero layers: no noise at any budget
  const pick: Int8Array[] = [];
  for (let l = 0; l < L; l++) {
    const next = new Float64Array(U + 1).fill(Infinity);
    const p = new Int8Array(U + 1).fill(-1);
    for (let u = 0; u <= U; u++) {
      for (let k = 0; k < noise[l].length; k++) {
        const e = extra[l][k];
        if (e > u) continue;
        const v = dp[u - e] + noise[l][k];
        if (v < next[u]) {
          next[u] = v;
          p[u] = k;
        }
      }
    }
    pick.push(p);
    dp = next;
  }
  return {
    unit,
    minBits,
    best: dp,
    choose(u) {
      const out = new Array<number>(L);
      let rem = u;
      for (let l = L - 1; l >= 0; l--) {
        const k = pick[l][rem];
        if (k < 0) throw new Error('mixed-bit: no feasible choice (internal error)');
        out[l] = k;
        rem -= extra[l][k];
      }
      return out;
    },
  };
}

export async function runMixedBit(program: Program, ctx: PassContext, plan: Plan): Promise<CalibrationResult> {
  const o = plan.options as MixedBitOptions;
  const warnings: string[] = [];
  let changed = raiseTarget(program, warnings);
  const target = program.target;
  const ios18 = targetAtLeast(target, 'iOS18');
  const signal = combinedSignal(ctx, o.signal);
  const fn = program.getFunction(o.function);
  const global = plan.configs.global as ResolvedMixedBit | null;
  const { layers, skipped } = findLayers(program, fn.name, plan.configs);
  for (const s of skipped) if (!s.reason.startsWith('no config applies')) warnings.push(`weight "${s.weight}" skipped: ${s.reason}`);

  // candidates: the layers with their widths and LUT grouping (from the recipe when given)
  const recipe = o.recipe;
  const weighting = recipe ? recipe.weighting : (global?.weighting ?? 'hessian');
  const candidates: Candidate[] = [];
  const found = new Set<string>();
  for (const { layer, config } of layers as Array<{ layer: Layer; config: AnyResolved }>) {
    const c = config as ResolvedMixedBit;
    const name = layer.weight.name;
    const fromRecipe: RecipeLayer | undefined = recipe?.layers[name];
    if (recipe && !fromRecipe) {
      skipped.push({ function: fn.name, weight: name, reason: 'not in the recipe' });
      warnings.push(`weight "${name}" skipped: not in the recipe`);
      continue;
    }
    found.add(name);
    const granularity = fromRecipe?.granularity ?? c.granularity;
    const groupSize = fromRecipe?.groupSize ?? c.groupSize;
    if (granularity === 'per_grouped_channel' && !ios18) throw new Error(`calibrate: ${layer.weight.label}: grouped LUTs need iOS18 (the program targets ${target})`);
    let widths: Width[] = fromRecipe ? [fromRecipe.nbits] : [...c.widths];
    if (!ios18) {
      if (widths.includes(3) && fromRecipe) throw new Error(`calibrate: ${layer.weight.label}: 3-bit palettization needs iOS18 (the program targets ${target})`);
      widths = widths.filter((b) => b !== 3);
    }
    const groupRows = lutGroupRows(layer, granularity, groupSize);
    if (typeof groupRows !== 'number') {
      skipped.push({ function: fn.name, weight: name, reason: groupRows.skip });
      warnings.push(`weight "${name}" skipped: ${groupRows.skip}`);
      continue;
    }
    candidates.push({ layer, config: c, granularity, groupSize, groupRows, widths, sens: null });
  }
  if (recipe) {
    const missing = Object.keys(recipe.layers).filter((k) => !found.has(k));
    if (missing.length > 0) {
      throw new Error(`calibrate: the recipe names weights this program has no calibratable layer for: ${missing.map((k) => `"${k}"`).join(', ')}`);
    }
  }

  // samples: needed for Hessian weighting and for the search
  const needSamples = weighting === 'hessian' || !recipe;
  const samples = needSamples ? samplesFor(plan, program, fn.name) : [];
  if (weighting === 'hessian' && candidates.length > 0) {
    const sinks = candidates.map((c) => Array.from({ length: c.layer.rowGroups }, () => new DiagonalAccumulator(c.layer.cols)));
    await captureActivations(
      program,
      samples,
      candidates.map((c, k) => ({ layer: c.layer, sinks: sinks[k] })),
      { function: fn.name, signal, onSample: (done, n) => o.onProgress?.({ kind: 'capture', layers: candidates.map((c) => c.layer.weight.name), sample: done, samples: n }) },
    );
    candidates.forEach((c, k) => (c.sens = sensitivities(sinks[k])));
  }
  const originals = candidates.map((c) => c.layer.toCanonical(weightValues(c.layer.weight)));

  // search
  let chosen: Width[];
  let predictedPsnr: number | undefined;
  let measuredPsnr: number | undefined;
  const single: number[][] = candidates.map(() => []);
  // reference outputs of the original model, for the search and the final measurement
  let meter: NoiseMeter | undefined;
  if (samples.length > 0 && candidates.length > 0) {
    const session = createSession(program, { function: fn.name });
    meter = new NoiseMeter(fn.name, samples, samples.map((s) => session.predict(s)), signal);
  }
  if (recipe) {
    chosen = candidates.map((c) => c.widths[0]);
  } else if (candidates.length === 0) {
    chosen = [];
  } else {
    if (!global) throw new Error('calibrate: mixed_bit needs a global config with targetBitsPerWeight or minPsnr');
    if (!meter) throw new Error('calibrate: mixed_bit needs calibration samples for its search');
    const work = cloneProgram(program);
    const workFn = work.getFunction(fn.name);
    const constIn = (c: Candidate): Op => {
      const op = workFn.findOp(c.layer.weight.op.name);
      if (!op || op.type !== 'const') throw new Error(`calibrate: const "${c.layer.weight.op.name}" not found in the working copy (internal error)`);
      return op;
    };
    const totalScores = candidates.reduce((a, c) => a + c.widths.length, 0);
    let scored = 0;
    for (const [l, c] of candidates.entries()) {
      const op = constIn(c);
      const original = op.attributes.get('val')!;
      for (const b of c.widths) {
        signal.throwIfAborted();
        op.attributes.set('val', denseTensor(c, fit(c, b, originals[l])));
        const noise = await meter.noise(work);
        single[l].push(noise);
        scored++;
        o.onProgress?.({ kind: 'score', layer: c.layer.weight.name, nbits: b, psnr: toPsnr(noise), index: scored, total: totalScores });
        ctx.progress(scored, totalScores + candidates.length, `score ${c.layer.weight.name} @ ${b} bits`);
      }
      op.attributes.set('val', original);
    }
    const bits = candidates.map((c) => c.widths.map((b) => layerBits(c, b)));
    const elements = candidates.reduce((a, c) => a + c.layer.rows * c.layer.cols, 0);
    const ks = knapsack(single, bits);
    const U = ks.best.length - 1;
    const pickAt = (u: number): Choice => {
      const k = ks.choose(u);
      const widths = k.map((i, l) => candidates[l].widths[i]);
      return { widths, noise: k.reduce((a, i, l) => a + single[l][i], 0), bits: k.reduce((a, i, l) => a + bits[l][i], 0) };
    };
    const measure = async (ch: Choice): Promise<number> => {
      candidates.forEach((c, l) => constIn(c).attributes.set('val', denseTensor(c, fit(c, ch.widths[l], originals[l]))));
      return meter.noise(work);
    };
    let choice: Choice;
    if (global.targetBitsPerWeight !== undefined) {
      const budget = global.targetBitsPerWeight * elements;
      if (budget < ks.minBits) {
        throw new Error(
          `calibrate: targetBitsPerWeight ${global.targetBitsPerWeight} is below the smallest model the widths allow (${(ks.minBits / elements).toFixed(3)} bits per weight, LUTs included)`,
        );
      }
      // the most units the budget allows; with rounded units, step down until the exact size fits
      let u = Math.min(U, Math.round((budget - ks.minBits) / ks.unit));
      choice = pickAt(u);
      while (choice.bits > budget && u > 0) choice = pickAt(--u);
    } else {
      // the smallest budget whose predicted noise meets the floor; tighten if the measurement falls short
      const floor = global.minPsnr!;
      let allowed = 10 ** (-floor / 10);
      let best: { choice: Choice; measured: number } | undefined;
      for (let attempt = 0; attempt < 8; attempt++) {
        let u = 0;
        while (u < U && !(ks.best[u] <= allowed)) u++;
        const ch = pickAt(u);
        const measured = await measure(ch);
        if (!best || (toPsnr(measured) >= floor && ch.bits < best.choice.bits) || toPsnr(best.measured) < floor) best = { choice: ch, measured };
        if (toPsnr(measured) >= floor || u === U) break;
        allowed *= Math.min(0.9, allowed / measured);
      }
      choice = best!.choice;
    }
    chosen = choice.widths;
    predictedPsnr = toPsnr(choice.noise);
  }

  // emit — in rounds (schedule.ts) when the LUTs are sensitivity-weighted, so that each
  // layer's sensitivities come from the model with the layers before it already palettized
  const reports: LayerReport[] = new Array(candidates.length);
  const indexOf = new Map(candidates.map((c, l) => [c.layer, l]));
  const rounds =
    weighting === 'hessian'
      ? scheduleRounds(
          fn,
          candidates.map((c) => c.layer),
        )
      : [candidates.map((c) => c.layer)];
  for (const [r, round] of rounds.entries()) {
    signal.throwIfAborted();
    let tokens = round.map(() => 0);
    let captureMs = 0;
    // the first round's inputs are the original model's: its sensitivities are already known
    if (weighting === 'hessian' && r > 0) {
      const sinks = round.map((layer) => Array.from({ length: layer.rowGroups }, () => new DiagonalAccumulator(layer.cols)));
      const t0 = performance.now();
      tokens = await captureActivations(
        program,
        samples,
        round.map((layer, k) => ({ layer, sinks: sinks[k] })),
        { function: fn.name, signal },
      );
      captureMs = (performance.now() - t0) / round.length;
      round.forEach((layer, k) => (candidates[indexOf.get(layer)!].sens = sensitivities(sinks[k])));
    }
    for (const [k, layer] of round.entries()) {
      const l = indexOf.get(layer)!;
      const c = candidates[l];
      const b = chosen[l];
      const t0 = performance.now();
      const f = fit(c, b, originals[l]);
      const dense = c.layer.fromCanonical(f.values, new Float64Array(f.values.length));
      const method = `mixed-bit ${b}-bit ${c.granularity}${c.granularity === 'per_grouped_channel' ? `(${c.groupSize})` : ''}${weighting === 'hessian' ? ' sensitive k-means' : ' k-means'}`;
      reports[l] = commitLayer(
        c.layer.weight,
        target,
        { dense, method, loss: f.cost, emit: (e) => emitLayerLut(c.layer, f, e) },
        { tokens: tokens[k], captureMs, compressMs: performance.now() - t0 },
      );
      changed = true;
      ctx.progress(reports.filter(Boolean).length, candidates.length, c.layer.weight.name);
    }
  }
  if (meter && candidates.length > 0) measuredPsnr = toPsnr(await meter.noise(program));
  if (!recipe && global?.minPsnr !== undefined && measuredPsnr !== undefined && measuredPsnr < global.minPsnr) {
    warnings.push(`minPsnr ${global.minPsnr} dB is not reached: the compressed model measures ${measuredPsnr.toFixed(2)} dB on the calibration samples`);
  }

  const recipeLayers: Record<string, RecipeLayer> = {};
  let totalBits = 0;
  let totalElements = 0;
  for (const [l, c] of candidates.entries()) {
    const b = chosen[l];
    const elements = c.layer.rows * c.layer.cols;
    totalBits += layerBits(c, b);
    totalElements += elements;
    const psnr = recipe ? recipe.layers[c.layer.weight.name].psnr : toPsnr(single[l][c.widths.indexOf(b)]);
    recipeLayers[c.layer.weight.name] = { nbits: b, granularity: c.granularity, groupSize: c.groupSize, elements, ...(psnr !== undefined ? { psnr: round(psnr) } : {}) };
  }
  const outRecipe: MixedBitRecipe = {
    version: 1,
    algorithm: 'mixed_bit',
    weighting,
    layers: recipeLayers,
    bitsPerWeight: totalElements === 0 ? 0 : round(totalBits / totalElements, 4),
    ...(global?.targetBitsPerWeight !== undefined && !recipe ? { targetBitsPerWeight: global.targetBitsPerWeight } : {}),
    ...(global?.minPsnr !== undefined && !recipe ? { minPsnr: global.minPsnr } : {}),
    ...(predictedPsnr !== undefined ? { predictedPsnr: round(predictedPsnr) } : {}),
    ...(measuredPsnr !== undefined ? { measuredPsnr: round(measuredPsnr) } : {}),
  };
  o.onRecipe?.(outRecipe);
  const stats = {
    algorithm: 'mixed_bit',
    samples: samples.length,
    ...summarizeStats(reports, skipped.length),
    recipe: JSON.stringify(outRecipe),
    ...(predictedPsnr !== undefined ? { predictedPsnr: round(predictedPsnr) } : {}),
    ...(measuredPsnr !== undefined ? { measuredPsnr: round(measuredPsnr) } : {}),
  };
  return { changed, stats, warnings, layers: reports, skipped: skipped as SkippedWeight[], recipe: outRecipe };
}

function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
