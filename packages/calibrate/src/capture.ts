/**
 * Running the calibration samples through the interpreter and feeding the input
 * activations of a set of layers to their accumulators — one pass over the samples per
 * round (schedule.ts). The activations are asked for as extra outputs of the function
 * (`predict(…, { extraOutputs })`), so the program is not modified, and each sample's
 * activations are folded into the accumulators and dropped before the next sample runs:
 * memory holds the accumulators, not the activations.
 */
import { type InputTensor, createSession } from '@silica/interpreter';
import type { Program } from '@silica/ir';
import type { ActivationSink } from './hessian.js';
import type { Layer } from './layers.js';
import { yieldToEventLoop } from './util.js';

export interface CaptureTarget {
  readonly layer: Layer;
  /** One sink per row group of the layer. */
  readonly sinks: readonly ActivationSink[];
}

export interface CaptureOptions {
  readonly function: string;
  readonly signal: AbortSignal;
  readonly onSample?: (done: number, total: number) => void;
}

/** Feeds every sample's activations of `targets` into their sinks; returns the tokens added per target. */
export async function captureActivations(
  program: Program,
  samples: ReadonlyArray<Readonly<Record<string, InputTensor>>>,
  targets: readonly CaptureTarget[],
  options: CaptureOptions,
): Promise<number[]> {
  const session = createSession(program, { function: options.function });
  const names = [...new Set(targets.flatMap((t) => t.layer.sites.map((s) => s.activation.name)))];
  const tokens = targets.map(() => 0);
  for (let i = 0; i < samples.length; i++) {
    options.signal.throwIfAborted();
    const outs = session.predict(samples[i], { extraOutputs: names });
    targets.forEach((t, k) => {
      for (const site of t.layer.sites) {
        const act = outs[site.activation.name];
        if (!act) throw new Error(`calibrate: the interpreter returned no value for activation "${site.activation.name}"`);
        tokens[k] += site.accumulate(act, t.sinks);
      }
    });
    options.onSample?.(i + 1, samples.length);
    // let an abort (or other work) in between samples
    await yieldToEventLoop();
  }
  return tokens;
}
