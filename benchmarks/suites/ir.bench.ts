/**
 * `ir` suite: the IR's hot paths on bulk data — fp16↔fp32 conversion and WeightHash —
 * each against a plain copy of the same bytes measured in the same run, plus the
 * per-element conversion of @petamoriken/float16 to show why a bulk converter exists.
 */
import { rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFloat16, setFloat16 } from '@petamoriken/float16';
import { FileTensor, fp16ToFp32Array, fp32ToFp16Array, hashTensorBytes } from '@silica/ir';
import { type BenchRow, type SuiteContext, binary, collectGarbage, measure, row } from '../lib/bench.js';

export const description = `
Inputs are weight-like: fp32 values drawn from a normal distribution with σ = 0.02
(seeded), and their fp16 roundings for the fp16→fp32 cases. Conversions write into
preallocated outputs, so the figures are the conversion itself, not allocation.

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

/** Deterministic normal(0, σ) samples (mulberry32 + Box–Muller). */
function weights(n: number, sigma: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = sigma * Math.sqrt(-2 * Math.log(uniform()));
    const a = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

interface CopyBaseline {
  readonly label: string;
  readonly ms: number;
  readonly rows: BenchRow[];
}

/** Times both plain copies of `bytes` bytes; returns the rows and the faster one. */
function copyBaseline(src: Uint8Array, size: string, repeats: number): CopyBaseline {
  const dst = new Uint8Array(src.byteLength);
  const set = measure(() => dst.set(src), { repeats });
  const srcBuf = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  const dstBuf = Buffer.from(dst.buffer, dst.byteOffset, dst.byteLength);
  const copy = measure(() => srcBuf.copy(dstBuf), { repeats });
  const rows = [row('copy (Uint8Array.set)', size, src.byteLength, set), row('copy (Buffer.copy)', size, src.byteLength, copy)];
  const best = set.medianMs <= copy.medianMs ? { label: 'copy (set)', ms: set.medianMs } : { label: 'copy (Buffer)', ms: copy.medianMs };
  return { ...best, rows };
}

function versus(base: CopyBaseline): { baseline: string; baselineMs: number } {
  return { baseline: base.label, baselineMs: base.ms };
}

/** fp16→fp32 and fp32→fp16 of `n` elements, each against a copy of its input bytes. */
function conversions(n: number, repeats: number, log: (m: string) => void): BenchRow[] {
  const elems = `${binary(n)} elements`;
  log(`generating ${elems} of weights`);
  const f32 = weights(n, 0.02, n);
  const f16 = fp32ToFp16Array(f32);
  const out32 = new Float32Array(n);
  const out16 = new Uint16Array(n);
  const rows: BenchRow[] = [];

  log(`fp16→fp32 ${elems}`);
  const in16 = new Uint8Array(f16.buffer);
  const base16 = copyBaseline(in16, `${binary(in16.byteLength, 'B')}`, repeats);
  const t16 = measure(() => fp16ToFp32Array(f16, out32), { repeats });
  rows.push(...base16.rows, row('fp16→fp32 (bulk)', elems, in16.byteLength, t16, versus(base16)));

  log(`fp32→fp16 ${elems}`);
  const in32 = new Uint8Array(f32.buffer);
  const base32 = copyBaseline(in32, `${binary(in32.byteLength, 'B')}`, repeats);
  const t32 = measure(() => fp32ToFp16Array(f32, out16), { repeats });
  rows.push(...base32.rows, row('fp32→fp16 (bulk)', elems, in32.byteLength, t32, versus(base32)));
  return rows;
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

  const ours16 = measure(() => fp16ToFp32Array(f16, out32), { repeats });
  const lib16 = measure(
    () => {
      for (let i = 0; i < n; i++) out32[i] = getFloat16(dv16, 2 * i, true);
      return out32;
    },
    { repeats },
  );
  // the same conversion on uniformly random bit patterns (every exponent, both signs)
  let r = 0x2545f491;
  const random16 = Uint16Array.from({ length: n }, () => {
    r ^= r << 13;
    r ^= r >>> 17;
    r ^= r << 5;
    return r >>> 16;
  });
  const oursRandom16 = measure(() => fp16ToFp32Array(random16, out32), { repeats });
  const ours32 = measure(() => fp32ToFp16Array(f32, out16), { repeats });
  const lib32 = measure(
    () => {
      for (let i = 0; i < n; i++) setFloat16(dvOut16, 2 * i, f32[i], true);
      return out16;
    },
    { repeats },
  );
  // sanity: the two converters agree on this data
  const check = new Uint16Array(n);
  fp32ToFp16Array(f32, check);
  for (let i = 0; i < n; i++) {
    if (check[i] !== out16[i]) throw new Error(`fp32→fp16 disagrees with the library at ${i}: ${check[i]} vs ${out16[i]}`);
  }
  return [
    row('fp16→fp32 (bulk)', elems, n * 2, ours16),
    row('fp16→fp32 @petamoriken/float16 per element', elems, n * 2, lib16, {
      baseline: 'our bulk',
      baselineMs: ours16.medianMs,
    }),
    row('fp16→fp32 (bulk), random bit patterns', elems, n * 2, oursRandom16, {
      baseline: 'weights input',
      baselineMs: ours16.medianMs,
    }),
    row('fp32→fp16 (bulk)', elems, n * 4, ours32),
    row('fp32→fp16 @petamoriken/float16 per element', elems, n * 4, lib32, {
      baseline: 'our bulk',
      baselineMs: ours32.medianMs,
    }),
  ];
}

/** WeightHash of `bytes` bytes in memory and from a file, against a copy. */
function hashing(bytes: number, repeats: number, log: (m: string) => void): BenchRow[] {
  const size = binary(bytes, 'B');
  log(`WeightHash ${size}`);
  const n = bytes / 2;
  const data = new Uint8Array(fp32ToFp16Array(weights(n, 0.02, 7)).buffer);
  const base = copyBaseline(data, size, repeats);
  const tBuf = measure(() => hashTensorBytes('fp16', [n], data), { repeats });

  const dir = mkdtempSync(join(tmpdir(), 'silica-bench-hash-'));
  try {
    const path = join(dir, 'weights.bin');
    writeFileSync(path, data);
    const tFile = measure(() => new FileTensor('fp16', [n], path, 0, bytes).hash(), { repeats });
    const want = hashTensorBytes('fp16', [n], data).hex;
    if (new FileTensor('fp16', [n], path, 0, bytes).hash().hex !== want) throw new Error('FileTensor hash differs from the buffer hash');
    return [
      ...base.rows,
      row('WeightHash (buffer)', size, bytes, tBuf, versus(base)),
      row('WeightHash (FileTensor)', size, bytes, tFile, {
        ...versus(base),
        note: 'reads the file in 8 MiB chunks; the peak RSS is that of the whole suite so far (the in-memory buffer is still alive)',
      }),
    ];
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
  rows.push(...libraryComparison((4 << 20) / scale, 7, ctx.log));
  collectGarbage();
  rows.push(...hashing((128 << 20) / scale, 7, ctx.log));
  collectGarbage();
  rows.push(...conversions((64 << 20) / scale, 7, ctx.log));
  return rows;
}
