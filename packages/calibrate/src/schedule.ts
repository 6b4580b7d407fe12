/**
 * The order in which layers are calibrated: layer-wise compression (coremltools'
 * `LayerwiseCompressor`, GPTQ's sequential mode) compresses layer i with the activations
 * produced by the already-compressed layers before it.
 *
 * A layer's input changes when an earlier layer is compressed only if that layer lies
 * upstream of it in the data flow. So the layers are processed in rounds: a round takes
 * every remaining layer none of whose inputs depends on another remaining layer, captures
 * all their activations in one pass over the samples, and compresses them. Within a round
 * no layer feeds another, so this is exactly the strictly sequential result with fewer
 * passes over the data — q/k/v projections share a round, and so do the layers of
 * parallel branches. (A weight read twice, one read downstream of the other — weight
 * sharing across repeated blocks — is compressed once, from the original activations of
 * every read.)
 */
import type { Function, Op, Value } from '@silica/ir';
import type { Layer } from './layers.js';

/** Bitset helpers over layer indices. */
function orInto(dst: Uint32Array, src: Uint32Array): void {
  for (let i = 0; i < dst.length; i++) dst[i] |= src[i];
}

/** Rounds of layers (each in program order), see the module comment. */
export function scheduleRounds(fn: Function, layers: readonly Layer[]): Layer[][] {
  const L = layers.length;
  const words = Math.ceil(L / 32) || 1;
  const empty = new Uint32Array(words);
  // the layers each op completes (its weight operand is that layer's weight)
  const layersOfOp = new Map<Op, number[]>();
  layers.forEach((l, i) => {
    for (const s of l.sites) {
      const list = layersOfOp.get(s.op) ?? [];
      list.push(i);
      layersOfOp.set(s.op, list);
    }
  });
  // ancestors (layers upstream) of every op output in the top-level block
  const anc = new Map<Op, Uint32Array>();
  const ancOfValue = (v: Value): Uint32Array => (v.producer ? (anc.get(v.producer) ?? empty) : empty);
  for (const op of fn.block.ops) {
    const set = new Uint32Array(words);
    for (const v of op.operands()) orInto(set, ancOfValue(v));
    // values read inside nested blocks count for the op that holds them
    for (const b of op.blocks) for (const inner of b.walk()) for (const v of inner.operands()) orInto(set, ancOfValue(v));
    for (const i of layersOfOp.get(op) ?? []) set[i >>> 5] |= 1 << (i & 31);
    anc.set(op, set);
  }
  const deps = layers.map((l, i) => {
    const set = new Uint32Array(words);
    for (const s of l.sites) orInto(set, ancOfValue(s.activation));
    set[i >>> 5] &= ~(1 << (i & 31));
    return set;
  });
  const remaining = new Uint32Array(words);
  for (let i = 0; i < L; i++) remaining[i >>> 5] |= 1 << (i & 31);
  const rounds: Layer[][] = [];
  let left = L;
  while (left > 0) {
    const ready: number[] = [];
    for (let i = 0; i < L; i++) {
      if (!(remaining[i >>> 5] & (1 << (i & 31)))) continue;
      let blocked = false;
      for (let k = 0; k < words && !blocked; k++) if (deps[i][k] & remaining[k]) blocked = true;
      if (!blocked) ready.push(i);
    }
    if (ready.length === 0) throw new Error('calibrate: the layers depend on each other in a cycle (internal error)');
    for (const i of ready) remaining[i >>> 5] &= ~(1 << (i & 31));
    left -= ready.length;
    rounds.push(ready.map((i) => layers[i]));
  }
  return rounds;
}
