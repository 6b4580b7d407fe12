/**
 * `interpreter` suite: the reference interpreter's hot path (`linear` / `matmul` GEMM)
 * against a naive triple loop measured in the same run, and one decoder-layer step of a
 * 4096-wide transformer block through `session.predict`.
 */
import {
  Function as IRFunction,
  Op,
  Program,
  type TensorType,
  type Value,
  scalar,
  stateType,
  stringTensor,
  tensorFromValues,
  tensorType,
} from '@silica/ir';
import { createSession, gemmNT, gemmNaive } from '@silica/interpreter';
import { randomFloats } from '@silica/test-support';
import { type BenchRow, type SuiteContext, collectGarbage, measure, measureTogether, row } from '../lib/bench.js';

export const description = `
* **linear M×4096 · (4096×4096)ᵀ, gemmNT**: the interpreter's GEMM (\`gemmNT\`: weight in
  its \`linear\` layout [D_out, D_in], 4×4 register tiles, 64-column × 256-deep cache
  blocks, float64 accumulation) on fp32 data; GFLOP/s = 2·M·N·K / time. *vs baseline* is
  its time over the **naive triple loop** (\`gemmNaive\`: one dot product per output
  element over the same layout, no blocking) timed in the same interleaved rounds —
  below 1× means faster. M = 1 is a decode step (memory-bound: the 64 MiB weight is
  streamed once per call), M = 128 a prefill chunk.
* **linear op via session.predict**: the same 1×4096 linear as a one-op fp16 program
  (fp16 weight decoded once per session), so the row adds input conversion, output
  fp16 rounding and the copy of the result; baseline = gemmNT alone.
* **decoder layer step**: one token through one pre-norm transformer block of width
  4096 (32 heads × 128, FFN 11008 with SiLU gating — a LLaMA-7B layer, 202 M
  parameters, fp16 weights decoded to fp32 once per session, about 0.8 GB), KV cache
  of 512 positions held in two fp16 states (\`read_state\` → \`slice_update\` →
  \`write_state\` → \`read_state\`), attention by \`scaled_dot_product_attention\`
  with an additive mask. Every run is one \`predict\` at the next position, so the
  figure is tokens/s for a single layer; MB/s counts the fp32 weights streamed per step.
* \`--quick\` divides the widths by 4 (1024 wide, 8 heads, FFN 2752, 128 cache positions).
`;

/** Deterministic uniform(−a, a) floats (xorshift32). */
const randoms = (n: number, seed: number, a = 1): Float32Array => randomFloats(n, seed, a);

const gflops = (flop: number, ms: number): number => flop / 1e6 / ms;

function gemmRows(ctx: SuiteContext, M: number, N: number, K: number): BenchRow[] {
  const A = randoms(M * K, 1);
  const B = randoms(N * K, 2, 0.02);
  const C = new Float32Array(M * N);
  const R = new Float32Array(M * N);
  // check once: a broken fast path must not report a good number
  gemmNT(M, N, K, A, 0, B, 0, C, 0);
  gemmNaive(M, N, K, A, B, R);
  for (let i = 0; i < C.length; i++) {
    if (Math.abs(C[i] - R[i]) > 1e-4 * Math.max(1, Math.abs(R[i]))) throw new Error(`gemmNT differs from the naive loop at ${i}: ${C[i]} vs ${R[i]}`);
  }
  ctx.log(`linear ${M}×${K} · (${N}×${K})ᵀ`);
  const big = M * N * K > 1e9;
  const [fast, naive] = measureTogether([() => gemmNT(M, N, K, A, 0, B, 0, C, 0), () => gemmNaive(M, N, K, A, B, R)], {
    repeats: 5,
    // small problems need more untimed calls before V8 has optimised both loops
    warmup: big ? 1 : M * N * K < 1e8 ? 20 : 3,
  });
  const flop = 2 * M * N * K;
  const size = `[${M}, ${K}] · [${N}, ${K}]ᵀ`;
  return [
    row(`linear ${M}×${K}, naive triple loop`, size, B.byteLength, naive, { note: `${gflops(flop, naive.medianMs).toFixed(2)} GFLOP/s` }),
    row(`linear ${M}×${K}, gemmNT`, size, B.byteLength, fast, {
      baseline: 'naive triple loop',
      baselineMs: naive.medianMs,
      note: `${gflops(flop, fast.medianMs).toFixed(2)} GFLOP/s vs ${gflops(flop, naive.medianMs).toFixed(2)} GFLOP/s naive (${(naive.medianMs / fast.medianMs).toFixed(2)}× faster)`,
    }),
  ];
}

function linearSessionRow(ctx: SuiteContext, N: number, K: number): BenchRow {
  const program = new Program('iOS18');
  const fn = program.addFunction(new IRFunction('main', [{ name: 'x', type: tensorType('fp16', [1, K]) }]));
  const w = new Op({ type: 'const', outputs: [{ name: 'w', type: tensorType('fp16', [N, K]) }], attributes: { val: tensorFromValues('fp16', [N, K], randoms(N * K, 3, 0.02)) } });
  const lin = new Op({ type: 'linear', inputs: { x: fn.inputs[0], weight: w.output }, outputs: [{ name: 'y', type: tensorType('fp16', [1, N]) }] });
  fn.block.append(w);
  fn.block.append(lin);
  fn.block.setOutputs([lin.output]);
  const s = createSession(program);
  const x = { shape: [1, K], data: randoms(K, 4) };
  const A = new Float32Array(x.data);
  const B = new Float32Array(N * K);
  const C = new Float32Array(N);
  ctx.log(`linear 1×${K} via session.predict`);
  const [viaSession, direct] = measureTogether([() => s.predict({ x }), () => gemmNT(1, N, K, A, 0, B, 0, C, 0)], { repeats: 9, warmup: 5 });
  return row(`linear op via session.predict (fp16 program)`, `[1, ${K}] · [${N}, ${K}]ᵀ`, N * K * 4, viaSession, {
    baseline: 'gemmNT alone',
    baselineMs: direct.medianMs,
    note: `${gflops(2 * N * K, viaSession.medianMs).toFixed(2)} GFLOP/s end to end`,
  });
}

// ---------------------------------------------------------------------------------------
// One decoder layer, built with the IR classes

class G {
  readonly fn: IRFunction;
  private n = 0;
  constructor(readonly program: Program, inputs: ReadonlyArray<{ name: string; type: Parameters<IRFunction['addInput']>[1] }>) {
    this.fn = program.addFunction(new IRFunction('main', inputs));
  }
  input(name: string): Value {
    return this.fn.inputs.find((v) => v.name === name)!;
  }
  private add(type: string, inputs: Record<string, Value | Value[]>, outs: TensorType[], attributes?: Op['attributes'] extends Map<string, infer T> ? Record<string, T> : never): Value[] {
    const name = `${type}_${this.n++}`;
    const op = new Op({ type, name, inputs, attributes, outputs: outs.map((t, i) => ({ name: outs.length === 1 ? name : `${name}_${i}`, type: t })) });
    this.fn.block.append(op);
    return op.outputs;
  }
  op(type: string, inputs: Record<string, Value | Value[]>, out: TensorType): Value {
    return this.add(type, inputs, [out])[0];
  }
  const(t: Parameters<typeof tensorType>[0], shape: number[], values: ArrayLike<number>): Value {
    const v = tensorFromValues(t, shape, values as number[]);
    return this.add('const', {}, [tensorType(t, shape)], { val: v })[0];
  }
  ints(...v: number[]): Value {
    return this.const('int32', [v.length], v);
  }
  str(s: string): Value {
    return this.add('const', {}, [tensorType('string', [])], { val: stringTensor([], [s]) })[0];
  }
  scalar(t: 'fp16' | 'fp32' | 'int32' | 'bool', v: number | boolean): Value {
    return this.add('const', {}, [tensorType(t, [])], { val: scalar(t, v) })[0];
  }
  effect(type: string, inputs: Record<string, Value | Value[]>): void {
    this.add(type, inputs, []);
  }
}

interface LayerDims {
  D: number;
  H: number;
  F: number;
  C: number;
}

function decoderLayer(d: LayerDims): Program {
  const { D, H, F, C } = d;
  const hd = D / H;
  const h16 = (shape: number[]) => tensorType('fp16', shape);
  const cacheT = h16([1, H, C, hd]);
  const g = new G(new Program('iOS18'), [
    { name: 'x', type: h16([1, 1, D]) },
    { name: 'pos', type: tensorType('int32', [1]) },
    { name: 'mask', type: h16([1, 1, 1, C]) },
    { name: 'k_cache', type: stateType(cacheT) },
    { name: 'v_cache', type: stateType(cacheT) },
  ]);
  let seed = 10;
  const weight = (rows: number, cols: number) => g.const('fp16', [rows, cols], randoms(rows * cols, seed++, 1 / Math.sqrt(cols)));
  const vec = (n: number, v: number) => g.const('fp16', [n], new Float32Array(n).fill(v));
  const norm = (x: Value) => g.op('layer_norm', { x, axes: g.ints(-1), gamma: vec(D, 1), beta: vec(D, 0), epsilon: g.scalar('fp16', 1e-5) }, h16([1, 1, D]));
  const x = g.input('x');
  const h = norm(x);
  const toHeads = (t: Value) =>
    g.op('transpose', { x: g.op('reshape', { x: t, shape: g.ints(1, 1, H, hd) }, h16([1, 1, H, hd])), perm: g.ints(0, 2, 1, 3) }, h16([1, H, 1, hd]));
  const q = toHeads(g.op('linear', { x: h, weight: weight(D, D) }, h16([1, 1, D])));
  const k = toHeads(g.op('linear', { x: h, weight: weight(D, D) }, h16([1, 1, D])));
  const v = toHeads(g.op('linear', { x: h, weight: weight(D, D) }, h16([1, 1, D])));
  const zero = g.ints(0);
  const begin = g.op('concat', { values: [zero, zero, g.input('pos'), zero], axis: g.scalar('int32', 0) }, tensorType('int32', [4]));
  const end = g.op('add', { x: begin, y: g.ints(1, H, 1, hd) }, tensorType('int32', [4]));
  const cache = (state: Value, step: Value) => {
    const cur = g.op('read_state', { input: state }, cacheT);
    const next = g.op('slice_update', { x: cur, update: step, begin, end }, cacheT);
    g.effect('write_state', { input: state, data: next });
    return g.op('read_state', { input: state }, cacheT);
  };
  const kAll = cache(g.input('k_cache'), k);
  const vAll = cache(g.input('v_cache'), v);
  const att = g.op('scaled_dot_product_attention', { query: q, key: kAll, value: vAll, attn_mask: g.input('mask') }, h16([1, H, 1, hd]));
  const merged = g.op('reshape', { x: g.op('transpose', { x: att, perm: g.ints(0, 2, 1, 3) }, h16([1, 1, H, hd])), shape: g.ints(1, 1, D) }, h16([1, 1, D]));
  const r1 = g.op('add', { x, y: g.op('linear', { x: merged, weight: weight(D, D) }, h16([1, 1, D])) }, h16([1, 1, D]));
  const h2 = norm(r1);
  const gate = g.op('silu', { x: g.op('linear', { x: h2, weight: weight(F, D) }, h16([1, 1, F])) }, h16([1, 1, F]));
  const up = g.op('linear', { x: h2, weight: weight(F, D) }, h16([1, 1, F]));
  const down = g.op('linear', { x: g.op('mul', { x: gate, y: up }, h16([1, 1, F])), weight: weight(D, F) }, h16([1, 1, D]));
  const y = g.op('add', { x: r1, y: down }, h16([1, 1, D]));
  g.fn.block.setOutputs([y]);
  return g.program;
}

function decoderRow(ctx: SuiteContext, d: LayerDims): BenchRow {
  ctx.log(`decoder layer: building ${d.D}-wide block (FFN ${d.F}, ${d.H} heads, cache ${d.C})`);
  const program = decoderLayer(d);
  collectGarbage();
  const t0 = performance.now();
  const s = createSession(program);
  const setupMs = performance.now() - t0;
  const x = { shape: [1, 1, d.D], data: randoms(d.D, 5) };
  const mask = new Float32Array(d.C);
  let pos = 0;
  const step = () => {
    if (pos === d.C) {
      s.resetStates();
      pos = 0;
    }
    mask.fill(-3e4);
    mask.fill(0, 0, pos + 1);
    const r = s.predict({ x, pos: { shape: [1], data: [pos] }, mask: { shape: [1, 1, 1, d.C], data: mask } });
    pos++;
    return r;
  };
  const first = Object.values(step())[0];
  if (!first.data.every((v) => Number.isFinite(v))) throw new Error('decoder layer produced a non-finite value');
  ctx.log('decoder layer: timing');
  const t = measure(step, { repeats: 9, warmup: 2 });
  const params = 4 * d.D * d.D + 3 * d.D * d.F;
  return row(`decoder layer step (stateful, fp16, SDPA)`, `D ${d.D}, ${d.H} heads, FFN ${d.F}, cache ${d.C}`, params * 4, t, {
    note: `${(1000 / t.medianMs).toFixed(2)} tokens/s for one layer; ${(params / 1e6).toFixed(0)} M parameters; session setup (decode fp16 weights) ${(setupMs / 1000).toFixed(1)} s`,
  });
}

export default function interpreterSuite(ctx: SuiteContext): BenchRow[] {
  const q = ctx.quick ? 4 : 1;
  const K = 4096 / q;
  const rows: BenchRow[] = [];
  rows.push(...gemmRows(ctx, 1, K, K));
  rows.push(linearSessionRow(ctx, K, K));
  rows.push(...gemmRows(ctx, 128 / q, K, K));
  collectGarbage();
  rows.push(decoderRow(ctx, { D: K, H: 32 / q, F: 11008 / q, C: 512 / q }));
  return rows;
}
