/**
 * Runnable example: fuse the attention of a Core ML package, check it still computes the
 * same, write the result.
 *
 *   node --conditions=source --import tsx packages/sdpa-fusion/examples/fuse-package.ts \
 *     ../shared/fixtures/attention_decomposed.mlpackage /tmp/attention_fused.mlpackage
 *
 * (from the repository root; `--conditions=source` runs the packages from their sources.)
 */
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Program, cloneProgram, pipeline } from '@silica/ir';
import { type InputTensor, evaluate } from '@silica/interpreter';
import { readMLPackage } from '@silica/mlpackage-reader';
import { writeMLPackage } from '@silica/mlpackage-writer';
import sdpaFusion from '@silica/sdpa-fusion';

/** Seeded normal(0, 1) inputs for every tensor input; inputs named `mask…` get a causal 0 / -1e4 mask. */
function sampleInputs(program: Program, seed: number): Record<string, InputTensor> {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  const out: Record<string, InputTensor> = {};
  for (const v of program.main.inputs) {
    if (v.type.kind !== 'tensor' || !v.type.shape.every((d) => typeof d === 'number')) {
      throw new Error(`input "${v.name}" needs a static tensor shape for this example`);
    }
    const shape = v.type.shape as number[];
    const n = shape.reduce((a, b) => a * b, 1);
    const S = shape[shape.length - 1] ?? 1;
    const L = shape[shape.length - 2] ?? 1;
    const data = Float32Array.from({ length: n }, (_, i) => {
      if (v.name.startsWith('mask')) return i % S <= Math.floor(i / S) % L ? 0 : -1e4;
      return Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    });
    out[v.name] = { shape, data };
  }
  return out;
}

export interface FuseReport {
  readonly fused: number;
  /** Relative L2 error of each output, fused against original, over 3 input samples. */
  readonly relativeL2: Record<string, number>;
  readonly weightBytes: number;
}

export async function fusePackage(input: string, output: string): Promise<FuseReport> {
  const original = await readMLPackage(input);
  const { program, report } = await pipeline([sdpaFusion()]).runWithReport(cloneProgram(original));
  const { metrics } = evaluate(original, program, [1, 2, 3].map((seed) => sampleInputs(original, seed)));
  const written = await writeMLPackage(program, output, { overwrite: true });
  return {
    fused: Number(report[0].stats.fused),
    relativeL2: Object.fromEntries(Object.entries(metrics).map(([k, m]) => [k, m.relativeL2])),
    weightBytes: written.weightBytes,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error(`usage: node --conditions=source --import tsx ${basename(process.argv[1])} <in.mlpackage> <out.mlpackage>`);
    process.exit(2);
  }
  const r = await fusePackage(input, output);
  console.log(`fused ${r.fused} attention block(s); relative L2 error per output: ${JSON.stringify(r.relativeL2)}; wrote ${output}`);
}
