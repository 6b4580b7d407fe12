/**
 * `silica inspect`: what a package is — target and spec version, functions with their
 * inputs, outputs and states, an op histogram, the weights by dtype and by compression
 * kind, sizes — and what could still be done to it (uncompressed weights above the
 * threshold, explicit KV caches, decomposed attention).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { producerChain } from '@silica/compression';
import {
  FileTensor,
  type Op,
  type Program,
  type Target,
  type Tensor,
  type Value,
  type ValueType,
  formatType,
  opsetOf,
  specVersionOf,
  targetAtLeast,
} from '@silica/ir';
import { matchAttention } from '@silica/sdpa-fusion';
import { detectStatePairs } from '@silica/stateful-rewrite';
import { diskSize } from './files.js';

/** How a weight is stored. */
export type WeightKind = 'const' | 'palettized' | 'quantized' | 'sparse' | 'joint';

export const WEIGHT_KINDS: readonly WeightKind[] = ['const', 'palettized', 'quantized', 'sparse', 'joint'];

export interface IOEntry {
  readonly name: string;
  /** `fp16[1, 128]`, `state<fp16[1, 4, 32, 64]>`. */
  readonly type: string;
  readonly dtype?: string;
  readonly shape?: readonly (number | string)[];
}

export interface FunctionInfo {
  readonly name: string;
  readonly inputs: readonly IOEntry[];
  readonly outputs: readonly IOEntry[];
  readonly states: readonly IOEntry[];
  /** Ops of the function, nested blocks included (consts too). */
  readonly ops: number;
  readonly opHistogram: Readonly<Record<string, number>>;
}

export interface WeightInfo {
  readonly function: string;
  /** The value the real ops read (a const, or the last op of a constexpr chain). */
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly elements: number;
  readonly kind: WeightKind;
  /** Constexpr ops producing it, in data-flow order (empty for a plain const). */
  readonly ops: readonly string[];
  /** Op types that read it. */
  readonly readBy: readonly string[];
  /** Bytes of the consts behind it (data, indices, LUTs, scales, masks). */
  readonly bytes: number;
  readonly bitsPerWeight: number;
}

export interface Bucket {
  count: number;
  elements: number;
  bytes: number;
}

export interface Suggestion {
  /** What could be done and how, as one sentence with the command. */
  readonly message: string;
  readonly command: string;
  /** Weights or sites it concerns, and their bytes (0 when not about weights). */
  readonly count: number;
  readonly bytes: number;
}

export interface InspectReport {
  readonly path: string;
  readonly target: Target;
  readonly specificationVersion: number;
  readonly opset: string;
  readonly multifunction: boolean;
  readonly defaultFunction: string | null;
  readonly metadata: Readonly<Record<string, string>>;
  readonly functions: readonly FunctionInfo[];
  /** Ops by type over every function (consts included). */
  readonly opHistogram: Readonly<Record<string, number>>;
  readonly size: {
    /** Every file of the package on disk. */
    readonly package: number;
    readonly weightBin: number;
    readonly model: number;
    /** Constant data of the program, each stored tensor once. */
    readonly constBytes: number;
  };
  readonly weights: {
    readonly count: number;
    readonly elements: number;
    /** Distinct tensors behind the weights (a tensor shared by several functions counts once, its elements too). */
    readonly bytes: number;
    readonly bitsPerWeight: number;
    /** By the dtype of the stored tensors behind the weights (int4 data, uint4 indices, fp16 LUTs…). */
    readonly byDtype: Readonly<Record<string, Bucket>>;
    /** By how the weight is stored. */
    readonly byKind: Readonly<Record<WeightKind, Bucket>>;
    readonly list: readonly WeightInfo[];
  };
  readonly suggestions: readonly Suggestion[];
}

export interface InspectOptions {
  /** Weights with more elements than this count as compressible (default 2048, the passes' default). */
  readonly weightThreshold?: number;
  /** The package path as the user wrote it, for the suggested commands (default: `path`). */
  readonly displayPath?: string;
}

/**
 * Identity of a tensor's storage: a blob of a package (functions of a multifunction
 * package read the same blob through separate tensor objects), or the object itself.
 */
function storageKey(t: Tensor): unknown {
  return t instanceof FileTensor ? `${t.path}\u0000${t.offset}\u0000${t.byteLength}` : t;
}

/** Bytes of the distinct constant data of a program (shared blobs counted once). */
export function distinctConstBytes(program: Program): number {
  const seen = new Set<unknown>();
  let n = 0;
  for (const op of program.allOps()) {
    const t = op.constValue;
    if (!t || t.dtype === 'string') continue;
    const k = storageKey(t);
    if (seen.has(k)) continue;
    seen.add(k);
    n += t.byteLength;
  }
  return n;
}

/** Dtypes a weight can have (mil-ops.md §7.1). */
const WEIGHT_DTYPES = new Set(['fp16', 'fp32', 'int8', 'uint8']);

function ioEntry(v: Value): IOEntry {
  const t: ValueType = v.type;
  if (t.kind === 'tensor') return { name: v.name, type: formatType(t), dtype: t.dtype, shape: [...t.shape] };
  if (t.kind === 'state') return { name: v.name, type: formatType(t), dtype: t.wrapped.dtype, shape: [...t.wrapped.shape] };
  return { name: v.name, type: formatType(t) };
}

/** Whether the `data` input of a blockwise_shift_scale is integer codes read from a const. */
function quantizedData(op: Op): boolean {
  const data = op.input('data');
  const t = data?.type;
  return t?.kind === 'tensor' && /^u?int\d+$/.test(t.dtype);
}

/** How a weight is stored, from the constexpr ops that produce it. */
export function weightKind(chain: readonly Op[]): WeightKind {
  let palettized = false;
  let quantized = false;
  let sparse = false;
  for (const op of chain) {
    switch (op.type) {
      case 'constexpr_lut_to_dense':
        palettized = true;
        break;
      case 'constexpr_lut_to_sparse':
        palettized = true;
        sparse = true;
        break;
      case 'constexpr_sparse_to_dense':
        sparse = true;
        break;
      case 'constexpr_sparse_blockwise_shift_scale':
        sparse = true;
        quantized = true;
        break;
      case 'constexpr_affine_dequantize':
        quantized = true;
        break;
      case 'constexpr_blockwise_shift_scale':
        // a float `data` is a per-channel scale over a LUT, not quantization
        if (quantizedData(op)) quantized = true;
        break;
    }
  }
  const n = Number(palettized) + Number(quantized) + Number(sparse);
  if (n > 1) return 'joint';
  return palettized ? 'palettized' : quantized ? 'quantized' : sparse ? 'sparse' : 'const';
}

function emptyBuckets(): Record<WeightKind, Bucket> {
  return Object.fromEntries(WEIGHT_KINDS.map((k) => [k, { count: 0, elements: 0, bytes: 0 }])) as Record<WeightKind, Bucket>;
}

function histogramOf(ops: Iterable<Op>): Record<string, number> {
  const h: Record<string, number> = {};
  for (const op of ops) h[op.type] = (h[op.type] ?? 0) + 1;
  return Object.fromEntries(Object.entries(h).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
}

/** The dense weights of a program: const/constexpr values read by real ops (≥ 10 elements, weight dtypes). */
export function findWeights(program: Program): Array<{ fn: string; value: Value; chain: Op[]; consts: Op[]; readers: Op[] }> {
  const out: Array<{ fn: string; value: Value; chain: Op[]; consts: Op[]; readers: Op[] }> = [];
  for (const fn of program.functions.values()) {
    const seen = new Map<Value, Op[]>();
    for (const op of fn.walk()) {
      if (op.type === 'const' || op.isConstexpr) continue;
      for (const v of op.operands()) {
        const p = v.producer;
        if (!p || (p.type !== 'const' && !p.isConstexpr)) continue;
        const t = v.type;
        if (t.kind !== 'tensor' || !WEIGHT_DTYPES.has(t.dtype) || !t.shape.every((d) => typeof d === 'number')) continue;
        const elements = (t.shape as number[]).reduce((a, b) => a * b, 1);
        if (elements < 10) continue;
        const readers = seen.get(v);
        if (readers) {
          if (!readers.includes(op)) readers.push(op);
          continue;
        }
        const list = [op];
        seen.set(v, list);
        const { chain, consts } = producerChain(v);
        out.push({ fn: fn.name, value: v, chain, consts, readers: list });
      }
    }
  }
  return out;
}

/** Inspects a program read from `path` (the package is used for the sizes on disk). */
export function inspectProgram(program: Program, path: string, options: InspectOptions = {}): InspectReport {
  const threshold = options.weightThreshold ?? 2048;
  const functions: FunctionInfo[] = [...program.functions.values()].map((fn) => {
    const ops = [...fn.walk()];
    return {
      name: fn.name,
      inputs: fn.inputs.filter((v) => v.type.kind !== 'state').map(ioEntry),
      outputs: fn.outputs.map(ioEntry),
      states: fn.inputs.filter((v) => v.type.kind === 'state').map(ioEntry),
      ops: ops.length,
      opHistogram: histogramOf(ops),
    };
  });

  // weights
  const byKind = emptyBuckets();
  const byDtype: Record<string, Bucket> = {};
  const counted = new Set<unknown>();
  const list: WeightInfo[] = [];
  let totalElements = 0;
  let totalBytes = 0;
  for (const w of findWeights(program)) {
    const t = w.value.type as unknown as { dtype: string; shape: number[] };
    const elements = t.shape.reduce((a, b) => a * b, 1);
    const mine = new Set<Tensor>();
    let bytes = 0;
    let fresh = 0;
    for (const c of w.consts) {
      const tensor = c.constValue;
      if (!tensor || mine.has(tensor) || tensor.dtype === 'string') continue;
      mine.add(tensor);
      bytes += tensor.byteLength;
      const key = storageKey(tensor);
      if (!counted.has(key)) {
        counted.add(key);
        fresh += tensor.byteLength;
        const b = (byDtype[tensor.dtype] ??= { count: 0, elements: 0, bytes: 0 });
        b.count++;
        b.elements += tensor.size;
        b.bytes += tensor.byteLength;
      }
    }
    const kind = weightKind(w.chain);
    const bucket = byKind[kind];
    bucket.count++;
    // a weight whose data another function already holds (multifunction sharing) adds no elements either
    const distinct = fresh > 0 || bytes === 0 ? elements : 0;
    bucket.elements += distinct;
    bucket.bytes += fresh;
    totalElements += distinct;
    totalBytes += fresh;
    list.push({
      function: w.fn,
      name: w.value.name,
      dtype: t.dtype,
      shape: [...t.shape],
      elements,
      kind,
      ops: w.chain.map((o) => o.type),
      readBy: [...new Set(w.readers.map((o) => o.type))],
      bytes,
      bitsPerWeight: elements === 0 ? 0 : (8 * bytes) / elements,
    });
  }
  list.sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));

  const report: InspectReport = {
    path,
    target: program.target,
    specificationVersion: specVersionOf(program.target),
    opset: opsetOf(program.target),
    multifunction: program.multifunction || program.functions.size > 1,
    defaultFunction: program.defaultFunction ?? (program.functions.size === 1 ? [...program.functions.keys()][0] : null),
    metadata: metadataOf(program),
    functions,
    opHistogram: histogramOf(program.allOps()),
    size: sizesOf(path, distinctConstBytes(program)),
    weights: {
      count: list.length,
      elements: totalElements,
      bytes: totalBytes,
      bitsPerWeight: totalElements === 0 ? 0 : (8 * totalBytes) / totalElements,
      byDtype: Object.fromEntries(Object.entries(byDtype).sort((a, b) => b[1].bytes - a[1].bytes)),
      byKind,
      list,
    },
    suggestions: suggest(program, options.displayPath ?? path, list, threshold),
  };
  return report;
}

function metadataOf(program: Program): Record<string, string> {
  const m = program.metadata;
  const out: Record<string, string> = {};
  if (m.shortDescription) out.shortDescription = m.shortDescription;
  if (m.author) out.author = m.author;
  if (m.license) out.license = m.license;
  if (m.versionString) out.versionString = m.versionString;
  for (const [k, v] of Object.entries(m.userDefined)) out[k] = v;
  return out;
}

function sizesOf(path: string, constBytes: number): InspectReport['size'] {
  const data = join(path, 'Data', 'com.apple.CoreML');
  const file = (p: string): number => (existsSync(p) ? statSync(p).size : 0);
  return {
    package: existsSync(path) ? diskSize(path) : 0,
    weightBin: file(join(data, 'weights', 'weight.bin')),
    model: file(join(data, 'model.mlmodel')),
    constBytes,
  };
}

function suggest(program: Program, path: string, weights: readonly WeightInfo[], threshold: number): Suggestion[] {
  const out: Suggestion[] = [];
  const pkg = /\s/.test(path) ? JSON.stringify(path) : path;
  const stem = pkg.replace(/\.mlpackage"?$/, '');
  const ios18 = targetAtLeast(program.target, 'iOS18');

  const dense = weights.filter((w) => w.kind === 'const' && (w.dtype === 'fp16' || w.dtype === 'fp32') && w.shape.length >= 2 && w.elements > threshold);
  if (dense.length > 0) {
    const bytes = dense.reduce((a, w) => a + w.bytes, 0);
    const dtypes = [...new Set(dense.map((w) => w.dtype))].join('/');
    const command = ios18
      ? `silica compress ${pkg} -o ${stem}-4bit.mlpackage --palettize 4 --group-size 16`
      : `silica compress ${pkg} -o ${stem}-int8.mlpackage --quantize int8`;
    out.push({
      message: `${dense.length} ${dtypes} weight${dense.length === 1 ? ' is' : 's are'} stored uncompressed (more than ${threshold} elements each); ${
        ios18 ? '4-bit palettization stores them in about a quarter of the bytes' : 'int8 quantization halves them (int4, per-block and grouped LUTs need iOS18)'
      }`,
      command,
      count: dense.length,
      bytes,
    });
  }
  const quantizedOnly = weights.filter((w) => w.kind === 'quantized' && w.elements > threshold);
  if (ios18 && quantizedOnly.length > 0) {
    out.push({
      message: `${quantizedOnly.length} quantized weight${quantizedOnly.length === 1 ? '' : 's'} could also be pruned (joint sparse + quantized, iOS18)`,
      command: `silica compress ${pkg} -o ${stem}-sparse.mlpackage --prune 0.5 --joint`,
      count: quantizedOnly.length,
      bytes: quantizedOnly.reduce((a, w) => a + w.bytes, 0),
    });
  }

  try {
    const { pairs } = detectStatePairs(program);
    if (pairs.length > 0) {
      out.push({
        message: `${pairs.length} explicit cache input/output pair${pairs.length === 1 ? '' : 's'} (${pairs
          .slice(0, 4)
          .map((p) => `${p.input} → ${p.output}`)
          .join(', ')}${pairs.length > 4 ? ', …' : ''}) can become Core ML states${ios18 ? '' : ' (raises the target to iOS18)'}`,
        command: `silica stateful ${pkg} -o ${stem}-stateful.mlpackage${ios18 ? '' : ' --allow-target-raise'}`,
        count: pairs.length,
        bytes: 0,
      });
    }
  } catch {
    // detection is advisory; a program it cannot analyse gets no suggestion
  }

  let attention = 0;
  for (const op of program.allOps()) {
    if (op.type !== 'matmul') continue;
    try {
      if (matchAttention(op, { target: 'iOS18', recoverBoolMasks: true })) attention++;
    } catch {
      // advisory only
    }
  }
  if (attention > 0) {
    out.push({
      message: `${attention} decomposed attention block${attention === 1 ? '' : 's'} can be fused into scaled_dot_product_attention${ios18 ? '' : ' (needs iOS18)'}`,
      command: `silica fuse-sdpa ${pkg} -o ${stem}-sdpa.mlpackage`,
      count: attention,
      bytes: 0,
    });
  }
  return out;
}
