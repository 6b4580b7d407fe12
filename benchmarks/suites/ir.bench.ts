/**
 * `ir` suite: the IR's hot paths on bulk data — fp16↔fp32 conversion and WeightHash —
 * each against a plain copy of the same bytes measured in the same run, plus the
 * per-element conversion of @petamoriken/float16 to show why a bulk converter exists.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFloat16, setFloat16 } from '@petamoriken/float16';
import { FileTensor, fp16ToFp32Array, fp32ToFp16Array, hashTensorBytes } from '@silica/ir';
import { normalFloats } from '@silica/test-support';
import { type BenchRow, type SuiteContext, binary, collectGarbage, measureTogether, row } from '../lib/bench.js';

export const description = `
Inputs are weight-like: fp32 values drawn from a normal distribution with σ = 0.02
(seeded), and their fp16 roundings for the fp16→fp32 cases. Conversions write into
preallocated outputs, so the figures are the conversion itself, not allocation. The
cases compared with each other are timed in interleaved rounds (copy, copy, work, copy,
copy, work, …), so load from elsewhere on the machine affects them alike.

* **copy (Uint8Array.set)** / **copy (Buffer.copy)**: copying the case's input bytes into
  a preallocated buffer — a memcpy, the floor for any pass over the bytes. Each
  conversion and hash row is compared with the faster of the two copies of the same size.
* **fp16→fp32 (bulk)**: \`fp16ToFp32Array\` — one 65,536-entry table lookup per element.
* **fp32→fp16 (bulk)**: \`fp32ToFp16Array\` — bit arithmetic, round to nearest even.
* **… @petamoriken/float16 per element**: \`getFloat16\` / \`setFloat16\` on a DataView, one
  call per element; *vs baseline* is its time over our bulk converter's on the same data.
* **fp16→fp32 (bulk), random bit patterns**: the same converter on uniformly random fp16
  bit patterns instead of weights (the table lookups spread over the whole 256 KiB
  table); *vs baseline* is its time over the weights input's.
* **WeightHash (buffer)**: \`hashTensorBytes\` (SHA-256 of the dtype/shape header and the
  bytes) over an in-memory fp16 tensor.
* **WeightHash (FileTensor)**: \`FileTensor.hash()\` on the same bytes in a file (read in
  8 MiB chunks; the file is in the OS page cache after the warm-up runs).
`;

/** Deterministic normal(0, σ) weight-like samples. */
const weights = (n: number, sigma: number, seed: number): Float32Array => normalFloats(n, seed, sigma);

/**
 * Times `work` together with the two plain copies of `input` (interleaved rounds, see
 * measureTogether) and returns the copy rows and the row of each piece of work, whose
 * ratio is against the faster copy.
 */
function againstCopy(
  input: Uint8Array,
  work: ReadonlyArray<{ name: string; size: string; fn: () => unknown; note?: string }>,
  repeats: number,
): BenchRow[] {
  const dst = new Uint8Array(input.byteLength);
  const srcBuf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const dstBuf = Buffer.from(dst.buffer, dst.byteOffset, dst.byteLength);
  const [set, copy, ...timed] = measureTogether(
    [() => dst.set(input), () => srcBuf.copy(dstBuf), ...work.map((w) => w.fn)],
    { repeats },
  );
  const size = binary(input.byteLength, 'B');
  const best = set.medianMs <= copy.medianMs ? { baseline: 'copy (set)', baselineMs: set.medianMs } : { baseline: 'copy (Buffer)', baselineMs: copy.medianMs };
  return [
    row('copy (Uint8Array.set)', size, input.byteLength, set),
    row('copy (Buffer.copy)', size, input.byteLength, copy),
    ...work.map((w, i) =>
      row(w.name, w.size, input.byteLength, timed[i], { ...best, ...(w.note !== undefined ? { note: w.note } : {}) }),
    ),
  ];
}

/** fp16→fp32 and fp32→fp16 of `n` elements, each against a copy of its input bytes. */
function conversions(n: number, repeats: number, log: (m: string) => void): BenchRow[] {
  const elems = `${binary(n)} elements`;
  log(`generating ${elems} of weights`);
  const f32 = weights(n, 0.02, n);
  const f16 = fp32ToFp16Array(f32);
  const out32 = new Float32Array(n);
  const out16 = new Uint16Array(n);
  log(`fp16→fp32 ${elems}`);
  const rows16 = againstCopy(new Uint8Array(f16.buffer), [{ name: 'fp16→fp32 (bulk)', size: elems, fn: () => fp16ToFp32Array(f16, out32) }], repeats);
  log(`fp32→fp16 ${elems}`);
  const rows32 = againstCopy(new Uint8Array(f32.buffer), [{ name: 'fp32→fp16 (bulk)', size: elems, fn: () => fp32ToFp16Array(f32, out16) }], repeats);
  return [...rows16, ...rows32];
}

/** Ours vs @petamoriken/float16's per-element DataView conversion on the same data. */
function libraryComparison(n: number, repeats: number, log: (m: string) => void): BenchRow[] {
  const elems = `${binary(n)} elements`;
  log(`library comparison, ${elems}`);
  const f32 = weights(n, 0.02, 4242);
  const f16 = fp32ToFp16Array(f32);
  const out32 = new Float32Array(n);
  const out16 = new Uint16Array(n);
  const dv16 = new DataView(f16.buffer);
  const dvOut16 = new DataView(out16.buffer);
  // uniformly random fp16 bit patterns (every exponent, both signs), for data sensitivity
  let r = 0x2545f491;
  const random16 = Uint16Array.from({ length: n }, () => {
    r ^= r << 13;
    r ^= r >>> 17;
    r ^= r << 5;
    return r >>> 16;
  });

  const [ours16, lib16, oursRandom16] = measureTogether(
    [
      () => fp16ToFp32Array(f16, out32),
      () => {
        for (let i = 0; i < n; i++) out32[i] = getFloat16(dv16, 2 * i, true);
        return out32;
      },
      () => fp16ToFp32Array(random16, out32),
    ],
    { repeats },
  );
  const [ours32, lib32] = measureTogether(
    [
      () => fp32ToFp16Array(f32, out16),
      () => {
        for (let i = 0; i < n; i++) setFloat16(dvOut16, 2 * i, f32[i], true);
        return out16;
      },
    ],
    { repeats },
  );
  // the library's last run left its result in out16: the two converters must agree
  const check = fp32ToFp16Array(f32);
  for (let i = 0; i < n; i++) {
    if (check[i] !== out16[i]) throw new Error(`fp32→fp16 disagrees with the library at ${i}: ${check[i]} vs ${out16[i]}`);
  }
  return [
    row('fp16→fp32 (bulk)', elems, n * 2, ours16),
    row('fp16→fp32 @petamoriken/float16 per element', elems, n * 2, lib16, { baseline: 'our bulk', baselineMs: ours16.medianMs }),
    row('fp16→fp32 (bulk), random bit patterns', elems, n * 2, oursRandom16, {
      baseline: 'weights input',
      baselineMs: ours16.medianMs,
    }),
    row('fp32→fp16 (bulk)', elems, n * 4, ours32),
    row('fp32→fp16 @petamoriken/float16 per element', elems, n * 4, lib32, { baseline: 'our bulk', baselineMs: ours32.medianMs }),
  ];
}

/** WeightHash of `bytes` bytes in memory and from a file, against a copy. */
function hashing(bytes: number, repeats: number, log: (m: string) => void): BenchRow[] {
  const size = binary(bytes, 'B');
  log(`WeightHash ${size}`);
  const n = bytes / 2;
  const data = new Uint8Array(fp32ToFp16Array(weights(n, 0.02, 7)).buffer);
  const dir = mkdtempSync(join(tmpdir(), 'silica-bench-hash-'));
  try {
    const path = join(dir, 'weights.bin');
    writeFileSync(path, data);
    const want = hashTensorBytes('fp16', [n], data).hex;
    if (new FileTensor('fp16', [n], path, 0, bytes).hash().hex !== want) throw new Error('FileTensor hash differs from the buffer hash');
    return againstCopy(
      data,
      [
        { name: 'WeightHash (buffer)', size, fn: () => hashTensorBytes('fp16', [n], data) },
        {
          name: 'WeightHash (FileTensor)',
          size,
          // a new FileTensor each run: the hash is cached per tensor
          fn: () => new FileTensor('fp16', [n], path, 0, bytes).hash(),
          note: 'reads the range in 8 MiB chunks (from the page cache) and hashes each; the time over the buffer row is the reading',
        },
      ],
      repeats,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export default function irSuite(ctx: SuiteContext): BenchRow[] {
  // --quick: 1/16 of every size, for a smoke run
  const scale = ctx.quick ? 16 : 1;
  const rows: BenchRow[] = [];
  // smallest first, so each row's peak RSS is dominated by its own buffers
  rows.push(...conversions((1 << 20) / scale, 15, ctx.log));
  collectGarbage();
  rows.push(...libraryComparison((4 << 20) / scale, 5, ctx.log));
  collectGarbage();
  rows.push(...hashing((128 << 20) / scale, 7, ctx.log));
  collectGarbage();
  rows.push(...conversions((64 << 20) / scale, 7, ctx.log));
  return rows;
}
