/**
 * Deterministic test models and data for the calibration tests and the README figures.
 *
 * The inputs are built so that calibration matters, the way real activations make it
 * matter: features are correlated (a random mixing of a few latent factors with decaying
 * strength) and a handful of channels carry outliers tens of times larger than the rest
 * — in the transformer block, layer-norm gains amplify a few channels, as in LLMs.
 */
import type { InputTensor } from '@silica/interpreter';
import { type Program, type Value, buildProgram, seededRandom, tensorFromValues, tensorType } from '@silica/ir';

/** mulberry32 (seededRandom of @silica/ir): uniform [0, 1) numbers from a seed. */
export const rng = seededRandom;

/** Standard normal samples (Box–Muller). */
export function normals(n: number, seed: number, sigma = 1): Float32Array {
  const u = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = sigma * Math.sqrt(-2 * Math.log(u() + 1e-12));
    const a = 2 * Math.PI * u();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

/** A fixed feature distribution: correlated factors plus outlier channels. */
export interface FeatureSpace {
  readonly dim: number;
  /** [latent, dim] mixing matrix. */
  readonly mix: Float32Array;
  readonly latent: number;
  /** Per-channel scale (outlier channels ≫ 1). */
  readonly scale: Float32Array;
}

export function featureSpace(dim: number, seed: number, outliers = 4, outlierScale = 12): FeatureSpace {
  const latent = Math.max(4, dim >> 2);
  const mix = normals(latent * dim, seed);
  // decaying factor strengths: correlated features with a few dominant directions
  for (let l = 0; l < latent; l++) for (let d = 0; d < dim; d++) mix[l * dim + d] *= 1 / (1 + l * 0.35);
  const scale = new Float32Array(dim).fill(1);
  const pick = rng(seed + 1);
  for (let k = 0; k < outliers; k++) scale[Math.floor(pick() * dim)] = outlierScale * (0.6 + 0.8 * pick());
  return { dim, mix, latent, scale };
}

/** `tokens` feature vectors [tokens, dim] from the space (+ a little isotropic noise). */
export function features(space: FeatureSpace, tokens: number, seed: number): Float32Array {
  const { dim, latent, mix, scale } = space;
  const z = normals(tokens * latent, seed);
  const noise = normals(tokens * dim, seed + 7, 0.1);
  const out = new Float32Array(tokens * dim);
  for (let t = 0; t < tokens; t++) {
    for (let d = 0; d < dim; d++) {
      let s = noise[t * dim + d];
      for (let l = 0; l < latent; l++) s += z[t * latent + l] * mix[l * dim + d];
      out[t * dim + d] = s * scale[d] * 0.5;
    }
  }
  return out;
}

/** Samples of one input `x` of shape `shape` (last dim = the space's dim), seeds from `seed`. */
export function samplesOf(space: FeatureSpace, shape: readonly number[], count: number, seed: number): Array<Record<string, InputTensor>> {
  const tokens = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return Array.from({ length: count }, (_, i) => ({ x: { shape, data: features(space, tokens, seed * 1000 + i) } }));
}

/**
 * A random [out, in] weight, N(0, 1/in). With `columnScale`, column c is divided by
 * `columnScale[c]`: the weights reading an amplified (outlier) channel are proportionally
 * smaller, as trained networks balance the contributions of their input channels.
 */
function weight(shape: readonly number[], seed: number, fanIn: number, dtype: 'fp16' | 'fp32', columnScale?: ArrayLike<number>, gain = 1): ReturnType<typeof tensorFromValues> {
  const n = shape.reduce((a, b) => a * b, 1);
  const w = normals(n, seed, gain / Math.sqrt(fanIn));
  if (columnScale) {
    const cols = shape[shape.length - 1];
    for (let i = 0; i < n; i++) w[i] /= columnScale[i % cols];
  }
  return tensorFromValues(dtype, shape, w);
}

/**
 * MLP `in → hidden → out` with GELU: x [tokens, in]. `inputScale` (the feature space's
 * channel scales) shrinks the fc1 columns of the outlier channels (see `weight`).
 */
export function mlp(
  options: { inDim?: number; hidden?: number; tokens?: number; dtype?: 'fp16' | 'fp32'; seed?: number; target?: 'iOS16' | 'iOS17' | 'iOS18'; inputScale?: ArrayLike<number> } = {},
): Program {
  const { inDim = 64, hidden = 256, tokens = 16, dtype = 'fp16', seed = 11, target = 'iOS18', inputScale } = options;
  return buildProgram(target, (p) => {
    p.function('main', { x: tensorType(dtype, [tokens, inDim]) }, (b, { x }) => {
      const h = b.linear({ x, weight: b.const(weight([hidden, inDim], seed, inDim, dtype, inputScale), { name: 'fc1_weight' }), bias: b.const(tensorFromValues(dtype, [hidden], normals(hidden, seed + 1, 0.1)), { name: 'fc1_bias' }) }, { name: 'fc1' });
      const g = b.gelu({ x: h, mode: 'EXACT' }, { name: 'act' });
      return b.linear({ x: g, weight: b.const(weight([inDim, hidden], seed + 2, hidden, dtype), { name: 'fc2_weight' }), bias: b.const(tensorFromValues(dtype, [inDim], normals(inDim, seed + 3, 0.1)), { name: 'fc2_bias' }) }, { name: 'fc2' });
    });
  });
}

/**
 * A small pre-norm transformer: `layers` × (layer_norm → q, k, v → softmax(q·kᵀ/√d)·v → o
 * (+ residual) → layer_norm → fc1 → GELU → fc2 (+ residual)). x [1, tokens, dim].
 *
 * Two kinds of outliers, as in LLMs: layer-norm gains amplify a few channels (the q/k/v/fc1
 * columns reading them are proportionally smaller), and in the layers listed in `massive`
 * two hidden units of fc1 have a large bias — "massive activations" entering fc2, whose
 * columns for them are proportionally smaller — which makes those fc2 weights far more
 * sensitive than the rest of the model. The attention and MLP branches add to the residual
 * stream with different strengths per layer (`branchScale[l] = [attention, mlp]`, scaling
 * the o and fc2 weights), as the blocks of trained transformers do — so some layers matter
 * much more than others.
 */
export function transformer(
  options: {
    dim?: number;
    hidden?: number;
    tokens?: number;
    layers?: number;
    dtype?: 'fp16' | 'fp32';
    seed?: number;
    massive?: readonly number[];
    branchScale?: ReadonlyArray<readonly [number, number]>;
  } = {},
): Program {
  const { dim = 64, hidden = 256, tokens = 16, layers = 2, dtype = 'fp16', seed = 23, massive = [0], branchScale = [[1, 2.5], [0.3, 0.8]] } = options;
  const gain = (s: number): Float32Array => {
    const u = rng(s);
    const g = Float32Array.from({ length: dim }, () => 0.8 + 0.4 * u());
    for (let k = 0; k < 3; k++) g[Math.floor(u() * dim)] = 8 + 6 * u();
    return g;
  };
  return buildProgram('iOS18', (p) => {
    p.function('main', { x: tensorType(dtype, [1, tokens, dim]) }, (b, { x }) => {
      let h: Value = x;
      for (let l = 0; l < layers; l++) {
        const s = seed + 100 * l;
        const [attnGain, mlpGain] = branchScale[l] ?? [1, 1];
        const lin = (input: Value, name: string, outDim: number, inDim: number, k: number, columnScale?: Float32Array, gainOut = 1): Value =>
          b.linear({ x: input, weight: b.const(weight([outDim, inDim], s + k, inDim, dtype, columnScale, gainOut), { name: `${name}_weight` }) }, { name });
        const g1 = gain(s + 50);
        const g2 = gain(s + 60);
        const n1 = b.layer_norm({ x: h, axes: [-1], gamma: b.const(tensorFromValues(dtype, [dim], g1)), beta: b.const(tensorFromValues(dtype, [dim], normals(dim, s + 51, 0.05))), epsilon: 1e-5 });
        const q = lin(n1, `l${l}_q`, dim, dim, 1, g1);
        const k = lin(n1, `l${l}_k`, dim, dim, 2, g1);
        const v = lin(n1, `l${l}_v`, dim, dim, 3, g1);
        const scores = b.mul({ x: b.matmul({ x: q, y: k, transpose_x: false, transpose_y: true }), y: b.const(tensorFromValues(dtype, [], [1 / Math.sqrt(dim)])) });
        const attn = b.matmul({ x: b.softmax({ x: scores, axis: -1 }), y: v, transpose_x: false, transpose_y: false });
        h = b.add({ x: h, y: lin(attn, `l${l}_o`, dim, dim, 4, undefined, attnGain) });
        const n2 = b.layer_norm({ x: h, axes: [-1], gamma: b.const(tensorFromValues(dtype, [dim], g2)), beta: b.const(tensorFromValues(dtype, [dim], normals(dim, s + 61, 0.05))), epsilon: 1e-5 });
        const bias = new Float32Array(hidden);
        const fc2Scale = new Float32Array(hidden).fill(1);
        if (massive.includes(l)) {
          for (const u of [7, hidden - 30]) {
            bias[u] = 6;
            fc2Scale[u] = 12;
          }
        }
        const up = b.linear(
          {
            x: n2,
            weight: b.const(weight([hidden, dim], s + 5, dim, dtype, g2), { name: `l${l}_fc1_weight` }),
            bias: b.const(tensorFromValues(dtype, [hidden], bias), { name: `l${l}_fc1_bias` }),
          },
          { name: `l${l}_fc1` },
        );
        const f = b.gelu({ x: up, mode: 'EXACT' });
        h = b.add({ x: h, y: lin(f, `l${l}_fc2`, dim, hidden, 6, fc2Scale, mlpGain) });
      }
      return h;
    });
  });
}
