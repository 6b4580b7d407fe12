/**
 * `mlpackage` suite: reading and writing a synthetic package with ≥ 1 GiB of fp16
 * weights, as a ratio to copying the same files in the same run, with peak RSS.
 */
import { closeSync, copyFileSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMLPackageSync } from '@silica/mlpackage-reader';
import { writeMLPackageSync } from '@silica/mlpackage-writer';
import { FileTensor, Function, Op, Program, type Value, tensorType } from '@silica/ir';
import { type BenchRow, type SuiteContext, collectGarbage, measure, peakRssMiB, row } from '../lib/bench.js';

export const description = `
A synthetic decoder-like program: L linear layers of 4096×4096 fp16 weights (32 MiB each,
distinct contents), chained x → linear → … → y. L = 32 gives 1 GiB of weights (L = 2 with
\`--quick\`). The weights start as lazy FileTensors over a scratch file, so nothing holds
the model in memory.

* **copy files (baseline)**: \`fs.copyFileSync\` of weight.bin + model.mlmodel — the floor
  for writing a package of this size.
* **write package**: \`writeMLPackage\` (hash every tensor for blob dedup, stream each blob
  into weight.bin, encode the protobuf, write to a temp folder and rename).
* **read package + touch weights**: \`readMLPackage\` (parse and validate every blob
  record, lazy tensors) then read every tensor's bytes once, as a pass would.
* **read package (lazy)**: \`readMLPackage\` alone.

*peak RSS* is the process high-water mark after the row; it must stay far below the
1 GiB of weights (one 32 MiB tensor at a time, plus its hash).
`;

const D = 4096;

/** Writes L distinct 4096×4096 fp16 tensors into one scratch file, 1 MiB at a time. */
function scratchWeights(path: string, layers: number): void {
  const fd = openSync(path, 'w');
  const chunk = new Uint16Array(1 << 19); // 1 MiB
  try {
    for (let l = 0; l < layers; l++) {
      for (let c = 0; c < (D * D) / chunk.length; c++) {
        // small fp16 values (exponent 0x2000..0x27ff), distinct per layer and chunk
        let s = (l * 7919 + c * 104729 + 1) >>> 0;
        for (let i = 0; i < chunk.length; i++) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          chunk[i] = 0x2000 | (s >>> 21) | ((s & 1) << 15);
        }
        writeSync(fd, new Uint8Array(chunk.buffer));
      }
    }
  } finally {
    closeSync(fd);
  }
}

function syntheticProgram(scratch: string, layers: number): Program {
  const p = new Program('iOS18');
  const fn = p.addFunction(new Function('main', [{ name: 'x', type: tensorType('fp16', [1, D]) }]));
  let x: Value = fn.inputs[0];
  for (let l = 0; l < layers; l++) {
    const w = new FileTensor('fp16', [D, D], scratch, l * D * D * 2, D * D * 2);
    const c = fn.block.append(new Op({ type: 'const', name: `w${l}`, outputs: [{ name: `w${l}`, type: tensorType('fp16', [D, D]) }], attributes: { val: w } }));
    const lin = fn.block.append(
      new Op({ type: 'linear', name: `lin${l}`, inputs: { x, weight: c.output }, outputs: [{ name: `lin${l}`, type: tensorType('fp16', [1, D]) }] }),
    );
    x = lin.output;
  }
  fn.block.setOutputs([x]);
  return p;
}

export default function suite(ctx: SuiteContext): BenchRow[] {
  const layers = ctx.quick ? 2 : 32;
  const dir = mkdtempSync(join(tmpdir(), 'silica-bench-pkg-'));
  const rows: BenchRow[] = [];
  try {
    const scratch = join(dir, 'scratch.bin');
    ctx.log(`writing ${layers} × 32 MiB of scratch weights`);
    scratchWeights(scratch, layers);
    const program = syntheticProgram(scratch, layers);
    const pkg = join(dir, 'model.mlpackage');
    const bytes = layers * D * D * 2;
    const size = `${layers} × [4096, 4096] fp16 = ${(bytes / 2 ** 30).toFixed(2)} GiB`;

    // baseline: copy the two files of a package of this size
    writeMLPackageSync(program, pkg, { overwrite: true });
    const wbin = join(pkg, 'Data/com.apple.CoreML/weights/weight.bin');
    const model = join(pkg, 'Data/com.apple.CoreML/model.mlmodel');
    ctx.log(`package written: weight.bin ${statSync(wbin).size} bytes`);
    const copy = measure(
      () => {
        copyFileSync(wbin, join(dir, 'copy.bin'));
        copyFileSync(model, join(dir, 'copy.mlmodel'));
      },
      { repeats: 5, warmup: 1 },
    );
    rows.push(row('copy files (baseline)', size, bytes, copy));
    const base = { baseline: 'copy files', baselineMs: copy.medianMs };
    rmSync(join(dir, 'copy.bin'));
    collectGarbage();

    // fresh tensors each run so the per-tensor hash cache does not hide the hashing cost
    const write = measure(() => writeMLPackageSync(syntheticProgram(scratch, layers), pkg, { overwrite: true }), { repeats: 5, warmup: 1 });
    rows.push(row('write package', size, bytes, write, { ...base, note: 'hash + stream every blob + atomic rename' }));
    collectGarbage();

    const readTouch = measure(
      () => {
        const p = readMLPackageSync(pkg);
        let sum = 0;
        for (const op of p.allOps()) {
          const t = op.constValue;
          if (t && t.byteLength > 1024) sum += t.bytes()[0];
        }
        return sum;
      },
      { repeats: 5, warmup: 1 },
    );
    rows.push(row('read package + touch weights', size, bytes, readTouch, { ...base, note: 'parse + validate blobs + read each tensor once' }));
    collectGarbage();

    const readLazy = measure(() => readMLPackageSync(pkg), { repeats: 7, warmup: 1 });
    rows.push(row('read package (lazy)', size, bytes, readLazy, { ...base, note: 'weights not read' }));
    ctx.log(`peak RSS ${peakRssMiB().toFixed(0)} MiB for ${(bytes / 2 ** 20).toFixed(0)} MiB of weights`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
