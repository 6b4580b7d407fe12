/** Kernels for the WorkerPool tests (loaded by URL in worker threads). */
import { threadId } from 'node:worker_threads';

export interface ScaleArgs {
  readonly data: Float32Array;
  readonly factor: number;
}

/** Multiplies every element; reports the thread it ran on. */
export function scaleKernel(args: ScaleArgs): { out: Float32Array; thread: number; sum: number } {
  const out = new Float32Array(args.data.length);
  let sum = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = args.data[i] * args.factor;
    sum += out[i];
  }
  return { out, thread: threadId, sum };
}

export function failingKernel(args: { readonly message: string }): never {
  throw new Error(`kernel failed: ${args.message}`);
}

export async function slowKernel(args: { readonly ms: number; readonly id: number }): Promise<{ id: number; thread: number }> {
  await new Promise((r) => setTimeout(r, args.ms));
  return { id: args.id, thread: threadId };
}

import { errorMetrics, type TensorData } from '../../src/index.js';
import { fp16ToFp32Array, fp32ToFp16Array } from '@silica/ir';

/**
 * A toy per-tensor sign quantizer for the driver tests: codes = sign(w) (int8), one fp16
 * scale = mean |w|. Skips a weight whose first element is exactly 0.5; throws on 0.25.
 */
export function signKernel(args: { readonly data: TensorData }): { codes: TensorData; scale: TensorData; metrics: ReturnType<typeof errorMetrics> } | { skip: string } {
  const d = args.data;
  const n = d.shape.reduce((a, b) => a * b, 1);
  const w = fp16ToFp32Array(new Uint16Array(d.bytes.slice().buffer, 0, n));
  if (w[0] === 0.5) return { skip: 'the first element is 0.5' };
  if (w[0] === 0.25) throw new Error('the first element is 0.25');
  let s = 0;
  for (const x of w) s += Math.abs(x);
  const scale = fp16ToFp32Array(fp32ToFp16Array(Float32Array.of(s / n)))[0];
  const codes = new Int8Array(n);
  const approx = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    codes[i] = w[i] > 0 ? 1 : w[i] < 0 ? -1 : 0;
    approx[i] = fp16ToFp32Array(fp32ToFp16Array(Float32Array.of(codes[i] * scale)))[0];
  }
  return {
    codes: { dtype: 'int8', shape: [...d.shape], bytes: new Uint8Array(codes.buffer) },
    scale: { dtype: 'fp16', shape: d.shape.map(() => 1), bytes: new Uint8Array(fp32ToFp16Array(Float32Array.of(scale)).buffer) },
    metrics: errorMetrics(w, approx),
  };
}
