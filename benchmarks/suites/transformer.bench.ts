/**
 * `transformer` suite: the transformer-model rewrites — stateful KV-cache rewrite, SDPA
 * fusion and multifunction merge — on model-sized synthetic programs.
 *
 * The file is shared: each package appends its cases to `cases` in its own section
 * below (one `cases.push(...)` per section, section order = run order, smallest first
 * within a section). The suite runs every case in order and concatenates their rows; the
 * suite description is assembled from the cases' own descriptions. Keep the assembly
 * block at the end of the file.
 */
import type { BenchRow, SuiteContext } from '../lib/bench.js';

export interface TransformerCase {
  /** Short title, used as the heading of the case's description. */
  readonly name: string;
  /** The package whose code the case measures, e.g. `@silica/multifunction-merge`. */
  readonly owner: string;
  /** What the rows measure and on which data (markdown). */
  readonly description: string;
  run(ctx: SuiteContext): BenchRow[] | Promise<BenchRow[]>;
}

/** Every case of the suite, in run order. Sections below append to it. */
export const cases: TransformerCase[] = [];

// ---------------------------------------------------------------------------------------
// (sections of the packages go here, each starting with a comment naming its owner)

// ---------------------------------------------------------------------------------------
// @silica/stateful-rewrite — explicit KV caches → Core ML states on a 32-layer decoder.
// (Imports sit in the section so sections stay independent; ES hoists them.)

import {
  type Pass as SrPass,
  type Program as SrProgram,
  type Value as SrValue,
  buildProgram as srBuildProgram,
  cloneProgram as srCloneProgram,
  createPassContext as srCreatePassContext,
  silentLogger as srSilentLogger,
  tensorType as srTensorType,
  verifyProgram as srVerifyProgram,
  zeros as srZeros,
} from '@silica/ir';
import statefulRewrite from '@silica/stateful-rewrite';
import { type Timing as SrTiming, collectGarbage as srGc, median as srMedian, row as srRow } from '../lib/bench.js';

interface SrShape {
  readonly layers: number;
  readonly dModel: number;
  readonly heads: number;
  readonly cacheLen: number;
}

/**
 * A decoder step built with the Builder, as kv_cache_io per layer: q/k/v/o projections,
 * per-layer explicit caches `k_cache_<i>` / `v_cache_<i>` ([1, heads, cacheLen, headDim],
 * written at `pos` with slice_update and returned as `…_out`), attention with a mask
 * input, residual stream. One zero weight tensor is shared by every projection: the pass
 * never reads weight bytes, so only the graph's size matters.
 */
function srDecoder(s: SrShape): SrProgram {
  const hd = s.dModel / s.heads;
  const w = srZeros('fp16', [s.dModel, s.dModel]);
  const inputs: Record<string, ReturnType<typeof srTensorType>> = {
    x: srTensorType('fp16', [1, 1, s.dModel]),
    pos: srTensorType('int32', [1]),
    mask: srTensorType('fp16', [1, 1, 1, s.cacheLen]),
  };
  for (let i = 0; i < s.layers; i++) {
    inputs[`k_cache_${i}`] = srTensorType('fp16', [1, s.heads, s.cacheLen, hd]);
    inputs[`v_cache_${i}`] = srTensorType('fp16', [1, s.heads, s.cacheLen, hd]);
  }
  return srBuildProgram('iOS18', (p) => {
    p.function('main', inputs, (b, ins) => {
      const begin = b.concat({ values: [b.const([0, 0], { dtype: 'int32' }), ins.pos, b.const([0], { dtype: 'int32' })], axis: 0 }, { name: 'begin' });
      const end = b.add({ x: begin, y: b.const([1, s.heads, 1, hd], { dtype: 'int32' }) }, { name: 'end' });
      const heads = (v: SrValue): SrValue => b.transpose({ x: b.reshape({ x: v, shape: [1, 1, s.heads, hd] }), perm: [0, 2, 1, 3] });
      const weight = b.const(w, { name: 'w_shared' });
      let h = ins.x;
      const caches: SrValue[] = [];
      for (let i = 0; i < s.layers; i++) {
        const q = heads(b.linear({ x: h, weight }));
        const k = heads(b.linear({ x: h, weight }));
        const v = heads(b.linear({ x: h, weight }));
        const kOut = b.slice_update({ x: ins[`k_cache_${i}`], update: k, begin, end }, { name: `k_cache_${i}_out` });
        const vOut = b.slice_update({ x: ins[`v_cache_${i}`], update: v, begin, end }, { name: `v_cache_${i}_out` });
        const scores = b.mul({ x: b.matmul({ x: q, y: kOut, transpose_y: true }), y: 1 / Math.sqrt(hd) });
        const probs = b.softmax({ x: b.add({ x: scores, y: ins.mask }), axis: -1 });
        const merged = b.reshape({ x: b.transpose({ x: b.matmul({ x: probs, y: vOut }), perm: [0, 2, 1, 3] }), shape: [1, 1, s.dModel] });
        h = b.add({ x: h, y: b.linear({ x: merged, weight }) });
        caches.push(kOut, vOut);
      }
      return [b.relu({ x: h }, { name: 'y' }), ...caches];
    });
  });
}

/** The baseline: a pass that visits every op once and changes nothing. */
const srNoOp: SrPass = {
  name: 'no-op',
  run(program) {
    let n = 0;
    for (const op of program.allOps()) if (op.type !== '') n++;
    return { changed: false, stats: { visited: n } };
  },
};

/**
 * Times each pass on a fresh clone of its program (the clone and a full GC before each
 * run are not timed), in interleaved rounds so machine load moves every case alike.
 */
function srMeasure(cases: ReadonlyArray<{ program: SrProgram; pass: SrPass }>, repeats: number, warmup: number): SrTiming[] {
  const samples = cases.map((): number[] => []);
  for (let r = 0; r < warmup + repeats; r++) {
    cases.forEach((c, k) => {
      const p = srCloneProgram(c.program);
      const ctx = srCreatePassContext({ target: p.target, logger: srSilentLogger });
      srGc(); // the clone's garbage is not the pass's: collect it before the timed run
      const t0 = performance.now();
      c.pass.run(p, ctx);
      const ms = performance.now() - t0;
      if (r >= warmup) samples[k].push(ms);
    });
  }
  return samples.map((s) => ({ runs: s.length, medianMs: srMedian(s), minMs: Math.min(...s), maxMs: Math.max(...s), samplesMs: s }));
}

cases.push({
  name: 'stateful rewrite of a 32-layer decoder',
  owner: '@silica/stateful-rewrite',
  description: `
A 32-layer decoder step built with the Builder (4 layers with \`--quick\`): d_model 4096,
32 heads of 128, per-layer explicit caches \`k_cache_<i>\` / \`v_cache_<i>\` of
[1, 32, 2048, 128] fp16 written at \`pos\` with \`slice_update\` and returned as outputs (the
layout of fixture kv_cache_io), attention with a mask input, a residual stream; 64 caches
(the op count is in the *size* column). Each run gets a fresh \`cloneProgram\` of it and a
full GC first, neither timed.

* **no-op pass (baseline)**: a pass that visits every op of the program once.
* **stateful-rewrite, detect**: \`statefulRewrite()\` — finds the 64 caches (update-chain
  search from every output), checks them, rewrites each into
  \`read_state → slice_update → write_state → read_state\`.
* **stateful-rewrite, 64 named states**: the same with \`states\` naming every pair (8 with \`--quick\`).
* **stateful-rewrite, detect + padTo 32**: a 2,000-long cache padded to 2,016 (a
  \`slice_by_index\` view for each downstream read).

*vs baseline* is the row's median over the no-op pass's on the same program. The
rewritten program is verified once (outside the timing), with 64 states. *MB/s* is 0: the
pass reads no weight bytes.
`,
  run(ctx) {
    const layers = ctx.quick ? 4 : 32;
    const shape = { layers, dModel: 4096, heads: 32, cacheLen: 2048 };
    const program = srDecoder(shape);
    const padProgram = srDecoder({ ...shape, cacheLen: 2000 });
    const opCount = [...program.allOps()].length;
    const named = statefulRewrite({
      states: Array.from({ length: layers }, (_, i) => [
        { input: `k_cache_${i}`, output: `k_cache_${i}_out` },
        { input: `v_cache_${i}`, output: `v_cache_${i}_out` },
      ]).flat(),
    });
    // check the work once
    for (const [p, pass] of [
      [program, statefulRewrite()],
      [program, named],
      [padProgram, statefulRewrite({ padTo: 32 })],
    ] as const) {
      const q = srCloneProgram(p);
      const r = pass.run(q, srCreatePassContext({ target: q.target, logger: srSilentLogger }));
      if (r instanceof Promise || r.stats?.states !== 2 * layers) throw new Error(`stateful rewrite converted ${JSON.stringify(r)} states, expected ${2 * layers}`);
      srVerifyProgram(q);
    }
    ctx.log(`stateful: ${layers} layers, ${opCount} ops, ${2 * layers} caches`);
    const [noop, detect, byName, noopPad, padded] = srMeasure(
      [
        { program, pass: srNoOp },
        { program, pass: statefulRewrite() },
        { program, pass: named },
        { program: padProgram, pass: srNoOp },
        { program: padProgram, pass: statefulRewrite({ padTo: 32 }) },
      ],
      ctx.quick ? 5 : 15,
      2,
    );
    const size = `${layers} layers, ${opCount} ops, ${2 * layers} caches`;
    const base = { baseline: 'no-op pass', baselineMs: noop.medianMs };
    return [
      srRow('no-op pass (baseline)', size, 0, noop),
      srRow('stateful-rewrite, detect', size, 0, detect, base),
      srRow(`stateful-rewrite, ${2 * layers} named states`, size, 0, byName, base),
      srRow('stateful-rewrite, detect + padTo 32', `${size}, cache 2000 → 2016`, 0, padded, { baseline: 'no-op pass', baselineMs: noopPad.medianMs }),
    ];
  },
});

// ---------------------------------------------------------------------------------------
// @silica/multifunction-merge — merging two 1 GiB packages that share 90 % of their weights.
// (Imports sit in the section so sections stay independent; ES hoists them.)

import { spawnSync } from 'node:child_process';
import { closeSync as mfmClose, copyFileSync as mfmCopy, mkdtempSync as mfmMkdtemp, openSync as mfmOpen, rmSync as mfmRm, statSync as mfmStat, writeSync as mfmWrite } from 'node:fs';
import { tmpdir as mfmTmpdir } from 'node:os';
import { dirname as mfmDirname, join as mfmJoin } from 'node:path';
import { fileURLToPath as mfmFileURLToPath } from 'node:url';
import { FileTensor as MfmFileTensor, Function as MfmFunction, Op as MfmOp, Program as MfmProgram, type Value as MfmValue, tensorType as mfmTensorType } from '@silica/ir';
import { readMLPackageSync as mfmRead } from '@silica/mlpackage-reader';
import { writeMLPackageSync as mfmWritePackage } from '@silica/mlpackage-writer';
import { mergeFunctions } from '@silica/multifunction-merge';
import { collectGarbage as mfmGc, measureTogether as mfmMeasureTogether, row as mfmRow } from '../lib/bench.js';

const MFM_LAYERS = 32;
/** The variant's own layers (the middle ones): 29 of 32 layers = 90.6 % of the weights are shared. */
const MFM_OWN = [14, 15, 16];

/** Writes `layers` distinct d×d fp16 tensors into one scratch file, 1 MiB at a time. */
function mfmScratch(path: string, layers: number, d: number, seed: number): void {
  const fd = mfmOpen(path, 'w');
  const chunk = new Uint16Array(Math.min(1 << 19, d * d));
  try {
    for (let l = 0; l < layers; l++) {
      for (let c = 0; c < (d * d) / chunk.length; c++) {
        let s = ((seed + l) * 7919 + c * 104729 + 1) >>> 0;
        for (let i = 0; i < chunk.length; i++) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          chunk[i] = 0x2000 | (s >>> 21) | ((s & 1) << 15); // small fp16 values
        }
        mfmWrite(fd, new Uint8Array(chunk.buffer));
      }
    }
  } finally {
    mfmClose(fd);
  }
}

/** x → linear → … → linear over lazy FileTensors; `weightAt(l)` says where layer l's bytes are. */
function mfmProgram(d: number, weightAt: (l: number) => { path: string; index: number }): MfmProgram {
  const p = new MfmProgram('iOS18');
  const fn = p.addFunction(new MfmFunction('main', [{ name: 'x', type: mfmTensorType('fp16', [1, d]) }]));
  let x: MfmValue = fn.inputs[0];
  for (let l = 0; l < MFM_LAYERS; l++) {
    const { path, index } = weightAt(l);
    const w = new MfmFileTensor('fp16', [d, d], path, index * d * d * 2, d * d * 2);
    const c = fn.block.append(new MfmOp({ type: 'const', name: `w${l}`, outputs: [{ name: `w${l}`, type: mfmTensorType('fp16', [d, d]) }], attributes: { val: w } }));
    const lin = fn.block.append(
      new MfmOp({ type: 'linear', name: `lin${l}`, inputs: { x, weight: c.output }, outputs: [{ name: `lin${l}`, type: mfmTensorType('fp16', [1, d]) }] }),
    );
    x = lin.output;
  }
  fn.block.setOutputs([x]);
  return p;
}

/** One merge + write in a fresh Node process: its own peak RSS, and that of the same process idle. */
function mfmChildRss(a: string, b: string, out: string): { mergeWriteMiB: number; idleMiB: number } {
  const root = mfmJoin(mfmDirname(mfmFileURLToPath(import.meta.url)), '../..');
  const prelude =
    "import { mergeFunctions } from '@silica/multifunction-merge'; import { readMLPackageSync } from '@silica/mlpackage-reader'; import { writeMLPackageSync } from '@silica/mlpackage-writer';";
  const child = (body: string): number => {
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', `${prelude} ${body} console.log(process.resourceUsage().maxRSS);`], {
      cwd: root,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`merge child failed: ${r.stderr}`);
    return Number(r.stdout.trim().split('\n').pop()) / 1024;
  };
  const merge =
    `const items = [{ program: readMLPackageSync(${JSON.stringify(a)}), functionName: 'main', targetName: 'base' }, { program: readMLPackageSync(${JSON.stringify(b)}), functionName: 'main', targetName: 'variant' }];` +
    ` const { program } = mergeFunctions(items, { defaultFunctionName: 'base' }); writeMLPackageSync(program, ${JSON.stringify(out)}, { overwrite: true });`;
  return { mergeWriteMiB: child(merge), idleMiB: child('') };
}

cases.push({
  name: 'multifunction merge of two 1 GiB packages',
  owner: '@silica/multifunction-merge',
  description: `
Two packages of 32 linear layers of [4096, 4096] fp16 (32 MiB each, 1 GiB per package;
[512, 512] with \`--quick\`): \`base\` and \`variant\`, which has its own weights for the 3
middle layers and shares the other 29 (90.6 % of the bytes) with \`base\`. Both are written
with \`writeMLPackage\` from lazy FileTensors over scratch files, then read back lazily, so
every weight is a FileTensor into its own package's weight.bin — nothing holds a model in
memory.

* **copy merged bytes (baseline)**: \`fs.copyFileSync\` of the merged package's weight.bin +
  model.mlmodel — writing the result's bytes once, the floor for any merge.
* **merge**: \`readMLPackage\` × 2 + \`mergeFunctions\` — WeightHash every weight of both
  packages (streamed), confirm each equal pair by a streamed byte compare, make equal
  tensors one object, verify.
* **merge + write**: the same, then \`writeMLPackage\` of the 35 distinct blobs (the hashes
  are reused, each blob streamed once).

The input side of the merge rows (*MB/s*) is the 2 GiB of both packages. *peak RSS* of the
merge rows is measured in a fresh Node process doing one merge + write (the note gives that
process's idle RSS for comparison); it must stay far below the 2 GiB of weights.
`,
  run(ctx) {
    const d = ctx.quick ? 512 : 4096;
    const layerBytes = d * d * 2;
    const dir = mfmMkdtemp(mfmJoin(mfmTmpdir(), 'silica-bench-merge-'));
    const rows: BenchRow[] = [];
    try {
      const baseScratch = mfmJoin(dir, 'base.bin');
      const ownScratch = mfmJoin(dir, 'own.bin');
      ctx.log(`merge: writing ${MFM_LAYERS} + ${MFM_OWN.length} scratch layers of [${d}, ${d}] fp16`);
      mfmScratch(baseScratch, MFM_LAYERS, d, 0);
      mfmScratch(ownScratch, MFM_OWN.length, d, 1000);
      const a = mfmJoin(dir, 'base.mlpackage');
      const b = mfmJoin(dir, 'variant.mlpackage');
      mfmWritePackage(mfmProgram(d, (l) => ({ path: baseScratch, index: l })), a);
      mfmWritePackage(
        mfmProgram(d, (l) => (MFM_OWN.includes(l) ? { path: ownScratch, index: MFM_OWN.indexOf(l) } : { path: baseScratch, index: l })),
        b,
      );
      mfmRm(baseScratch);
      mfmRm(ownScratch);
      const items = () => [
        { program: mfmRead(a), functionName: 'main', targetName: 'base' },
        { program: mfmRead(b), functionName: 'main', targetName: 'variant' },
      ];
      const out = mfmJoin(dir, 'merged.mlpackage');

      // check the work once: 35 distinct layers, each stored once
      const check = mergeFunctions(items(), { defaultFunctionName: 'base' });
      const distinct = (MFM_LAYERS + MFM_OWN.length) * layerBytes;
      if (check.report.bytes.merged !== distinct) throw new Error(`merge kept ${check.report.bytes.merged} bytes, expected ${distinct}`);
      const w = mfmWritePackage(check.program, out);
      // one blob per distinct layer; the 29 shared layers are referenced a second time by `variant`
      const shared = MFM_LAYERS - MFM_OWN.length;
      if (w.blobs !== MFM_LAYERS + MFM_OWN.length || w.sharedBlobs !== shared) {
        throw new Error(`merged package has ${w.blobs} blobs and ${w.sharedBlobs} shared references, expected ${MFM_LAYERS + MFM_OWN.length} and ${shared}`);
      }
      const packageBytes = mfmStat(mfmJoin(a, 'Data/com.apple.CoreML/weights/weight.bin')).size;
      ctx.log(`merge: sources 2 × ${packageBytes} bytes, merged weight.bin ${w.weightBytes} bytes`);

      const size = `2 × ${MFM_LAYERS} × [${d}, ${d}] fp16 = 2 × ${(packageBytes / 2 ** 30).toFixed(2)} GiB, ${MFM_LAYERS - MFM_OWN.length}/${MFM_LAYERS} layers shared`;
      const wbin = mfmJoin(out, 'Data/com.apple.CoreML/weights/weight.bin');
      const model = mfmJoin(out, 'Data/com.apple.CoreML/model.mlmodel');
      const rss = mfmChildRss(a, b, mfmJoin(dir, 'child.mlpackage'));
      mfmRm(mfmJoin(dir, 'child.mlpackage'), { recursive: true, force: true });
      mfmGc();

      // interleaved rounds (copy, merge, merge + write, …): load that comes and goes on a
      // shared machine moves all three alike. Fresh reads each run, so the per-tensor hash
      // cache does not hide the hashing.
      const [copy, merge, mergeWrite] = mfmMeasureTogether(
        [
          () => {
            mfmCopy(wbin, mfmJoin(dir, 'copy.bin'));
            mfmCopy(model, mfmJoin(dir, 'copy.mlmodel'));
          },
          () => mergeFunctions(items(), { defaultFunctionName: 'base' }),
          () => mfmWritePackage(mergeFunctions(items(), { defaultFunctionName: 'base' }).program, mfmJoin(dir, 'timed.mlpackage'), { overwrite: true }),
        ],
        { repeats: 5, warmup: 1 },
      );
      const base = { baseline: 'copy merged bytes', baselineMs: copy.medianMs };
      const rssNote = `peak RSS of a fresh process doing one merge + write: ${rss.mergeWriteMiB.toFixed(0)} MiB (the same process idle: ${rss.idleMiB.toFixed(0)} MiB)`;
      const childRss = Math.round(rss.mergeWriteMiB * 10) / 10;
      rows.push(mfmRow('copy merged bytes (baseline)', `${(w.weightBytes / 2 ** 30).toFixed(2)} GiB merged weight.bin`, w.weightBytes, copy));
      rows.push({
        ...mfmRow('merge', size, 2 * packageBytes, merge, { ...base, note: `read both (lazy) + hash + confirm + share + verify; ${rssNote}` }),
        peakRssMiB: childRss,
      });
      rows.push({
        ...mfmRow('merge + write', size, 2 * packageBytes, mergeWrite, {
          ...base,
          note: `the merged package holds ${w.weightBytes} bytes of weight.bin (${MFM_LAYERS + MFM_OWN.length} blobs) instead of 2 × ${packageBytes}; ${rssNote}`,
        }),
        peakRssMiB: childRss,
      });
    } finally {
      mfmRm(dir, { recursive: true, force: true });
    }
    return rows;
  },
});

// ---------------------------------------------------------------------------------------
// @silica/sdpa-fusion — fusing the attention of a 32-layer synthetic decoder.
// (Imports sit in the section so sections stay independent; ES hoists them.)

import {
  type Pass as SdpaPass,
  type Program as SdpaProgram,
  type Value as SdpaValue,
  applyRules as sdpaApplyRules,
  buildProgram as sdpaBuildProgram,
  cloneProgram as sdpaCloneProgram,
  createPassContext as sdpaCreatePassContext,
  pat as sdpaPat,
  rule as sdpaRule,
  silentLogger as sdpaSilentLogger,
  tensorFromValues as sdpaTensorFromValues,
  tensorType as sdpaTensorType,
  zeros as sdpaZeros,
} from '@silica/ir';
import sdpaFusion, { sdpaLowering } from '@silica/sdpa-fusion';
import { type Timing as SdpaTiming, collectGarbage as sdpaGc, median as sdpaMedian, row as sdpaRow } from '../lib/bench.js';

/**
 * A decoder of `layers` pre-norm blocks over x: fp16[1, T, D], written as coremltools
 * emits attention below iOS18 (the fixture attention_decomposed's form, mask as an input):
 * layer_norm → q/k/v linear → reshape [1, T, H, Dh] → mul(q, 1/√Dh) → transpose to heads
 * → matmul(q, k, transpose_y) → add(mask) → softmax → matmul(·, v) → transpose → reshape →
 * o linear → residual add → layer_norm → linear D→4D → gelu → linear 4D→D → residual add.
 * Weights are zeros shared by every layer (the passes never read them).
 */
function sdpaDecoder(layers: number, T: number, D: number, H: number): SdpaProgram {
  const dh = D / H;
  const w = sdpaZeros('fp16', [D, D]);
  const up = sdpaZeros('fp16', [4 * D, D]);
  const down = sdpaZeros('fp16', [D, 4 * D]);
  const bias = sdpaZeros('fp16', [D]);
  return sdpaBuildProgram('iOS18', (p) =>
    p.function('main', { x: sdpaTensorType('fp16', [1, T, D]), mask: sdpaTensorType('fp16', [1, 1, T, T]) }, (b, io) => {
      let x: SdpaValue = io.x;
      const heads = (v: SdpaValue): SdpaValue => b.reshape({ x: v, shape: [1, T, H, dh] });
      for (let l = 0; l < layers; l++) {
        const h = b.layer_norm({ x, axes: [-1], epsilon: 1e-5 });
        const q = b.mul({ x: heads(b.linear({ x: h, weight: w, bias })), y: sdpaTensorFromValues('fp16', [], [1 / Math.sqrt(dh)]) });
        const k = heads(b.linear({ x: h, weight: w, bias }));
        const v = heads(b.linear({ x: h, weight: w, bias }));
        const toHeads = [0, 2, 1, 3];
        const scores = b.matmul({ x: b.transpose({ x: q, perm: toHeads }), y: b.transpose({ x: k, perm: toHeads }), transpose_x: false, transpose_y: true });
        const probs = b.softmax({ x: b.add({ x: scores, y: io.mask }), axis: -1 });
        const ctxv = b.matmul({ x: probs, y: b.transpose({ x: v, perm: toHeads }), transpose_x: false, transpose_y: false });
        const merged = b.reshape({ x: b.transpose({ x: ctxv, perm: toHeads }), shape: [1, T, D] });
        x = b.add({ x, y: b.linear({ x: merged, weight: w, bias }) });
        const h2 = b.layer_norm({ x, axes: [-1], epsilon: 1e-5 });
        const mlp = b.linear({ x: b.gelu({ x: b.linear({ x: h2, weight: up }) }), weight: down, bias });
        x = b.add({ x, y: mlp });
      }
      return x;
    }),
  );
}

/** Counts the ops of `type` in the program's main function. */
function sdpaCount(p: SdpaProgram, type: string): number {
  let n = 0;
  for (const op of p.main.walk()) if (op.type === type) n++;
  return n;
}

/** A pass that visits every op and changes nothing: the floor for any pass over the program. */
const sdpaWalkPass: SdpaPass = {
  name: 'walk',
  run(program) {
    let n = 0;
    for (const op of program.allOps()) if (op.outputs.length > 0) n++;
    return { changed: false, stats: { visited: n } };
  },
};

/** The rule driver over every op with a rule whose pattern never matches: the driver's own cost. */
const sdpaDriverPass: SdpaPass = {
  name: 'driver',
  run(program) {
    const r = sdpaApplyRules(program, [sdpaRule('never', sdpaPat.op('matmul', { x: sdpaPat.op('no_such_op') }), () => undefined)]);
    return { changed: r.changed };
  },
};

cases.push({
  name: 'SDPA fusion on a 32-layer synthetic decoder',
  owner: '@silica/sdpa-fusion',
  description: `
A 32-layer pre-norm decoder built with the Builder (D = 512, 8 heads of 64, T = 128 tokens,
fp16; 4 layers with \`--quick\`), its attention written as coremltools decomposes it below
iOS18 — \`mul(q, 1/√64)\` before the head transpose, \`matmul(transpose_y)\`, \`add\` of a
float mask input, \`softmax\`, \`matmul\` — about 45 ops per layer. Weights are zeros shared
by every layer: the passes never read weights, so only the op count matters.

Each timed run rewrites a fresh \`cloneProgram\` of the decoder (the clone is not timed);
the cases are timed in interleaved rounds so machine load moves them alike. *vs baseline*
is against **walk (no-op pass)**, a pass that visits every op and changes nothing.

* **applyRules, no match (driver floor)**: the worklist driver with one rule on \`matmul\`
  whose pattern never matches — the cost of the rule machinery before any fusion work.
* **sdpa-fusion**: finds and fuses the 32 attention blocks (matchAttention on each
  matmul, 32 SDPA built, ~10 ops erased per block).
* **sdpa-fusion, already fused**: the same pass on the fused decoder (nothing to do).
* **sdpa-lowering**: the 32 SDPA ops back to coremltools' decomposition.

*MB/s* is 0: these passes read no tensor bytes, so the figure has no meaning here.
`,
  run(ctx) {
    const layers = ctx.quick ? 4 : 32;
    const T = 128;
    const D = 512;
    const decoder = sdpaDecoder(layers, T, D, 8);
    const opCount = [...decoder.main.walk()].length;
    const fusedOnce = sdpaCloneProgram(decoder);
    const ctxFor = (p: SdpaProgram) => sdpaCreatePassContext({ target: p.target, logger: sdpaSilentLogger });
    // check the work once: every block fused, nothing decomposed left
    const res = sdpaFusion().run(fusedOnce, ctxFor(fusedOnce));
    if (res instanceof Promise) throw new Error('sdpa-fusion is synchronous');
    if (sdpaCount(fusedOnce, 'scaled_dot_product_attention') !== layers || sdpaCount(fusedOnce, 'softmax') !== 0) {
      throw new Error(`sdpa-fusion fused ${sdpaCount(fusedOnce, 'scaled_dot_product_attention')} of ${layers} blocks`);
    }
    ctx.log(`sdpa: decoder of ${layers} layers, ${opCount} ops (${[...fusedOnce.main.walk()].length} after fusion)`);

    const work: Array<{ name: string; input: SdpaProgram; pass: SdpaPass }> = [
      { name: 'walk (no-op pass)', input: decoder, pass: sdpaWalkPass },
      { name: 'applyRules, no match (driver floor)', input: decoder, pass: sdpaDriverPass },
      { name: 'sdpa-fusion', input: decoder, pass: sdpaFusion() },
      { name: 'sdpa-fusion, already fused', input: fusedOnce, pass: sdpaFusion() },
      { name: 'sdpa-lowering', input: fusedOnce, pass: sdpaLowering() },
    ];
    const repeats = ctx.quick ? 5 : 15;
    const samples = work.map((): number[] => []);
    for (let r = -2; r < repeats; r++) {
      work.forEach((w, i) => {
        const p = sdpaCloneProgram(w.input);
        sdpaGc();
        const t0 = performance.now();
        w.pass.run(p, ctxFor(p));
        const ms = performance.now() - t0;
        if (r >= 0) samples[i].push(ms); // the first two rounds warm up
      });
    }
    const timings: SdpaTiming[] = samples.map((s) => ({ runs: s.length, medianMs: sdpaMedian(s), minMs: Math.min(...s), maxMs: Math.max(...s), samplesMs: s }));
    const size = `${layers} layers, ${opCount} ops`;
    const base = { baseline: 'walk (no-op pass)', baselineMs: timings[0].medianMs };
    return work.map((w, i) => (i === 0 ? sdpaRow(w.name, size, 0, timings[i]) : sdpaRow(w.name, size, 0, timings[i], base)));
  },
});

// ---------------------------------------------------------------------------------------
// Assembly — keep at the end of the file.

export const description = cases.map((c) => `### ${c.name} (\`${c.owner}\`)\n\n${c.description.trim()}`).join('\n\n');

export default async function suite(ctx: SuiteContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const c of cases) {
    ctx.log(`case: ${c.name}`);
    rows.push(...(await c.run(ctx)));
  }
  return rows;
}
