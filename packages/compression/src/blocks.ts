/**
 * Streaming over a weight by blocks (the per-axis block sizes of mil-ops.md §7.2) without
 * per-element index arithmetic or whole-tensor float copies: `BlockGrid.chunks()` yields
 * runs of at most `CHUNK` consecutive elements of one row (last axis), with the block id of
 * each element given by `rowBase + lastMap[j]`; `FloatSource` decodes such runs to float32
 * in a reused scratch buffer. A kernel over a 64 Mi-element fp16 weight thus holds the
 * fp16 input, its outputs and a few 256 KiB buffers — not 256 MiB of fp32.
 */
import { type DType, fp16ToFp32Array } from '@silica/ir';
import type { TensorData } from './pool.js';

/** Elements per run (a multiple of 8, so sub-byte runs start on a byte boundary). */
export const CHUNK = 1 << 16;

export interface Run {
  /** Flat index of the first element. */
  readonly start: number;
  readonly count: number;
  /** Block id of element `start + t` is `rowBase + lastMap[j0 + t]`. */
  readonly rowBase: number;
  readonly j0: number;
}

export class BlockGrid {
  readonly shape: readonly number[];
  /** Block size per axis, 0 = the whole axis. */
  readonly blockSizes: readonly number[];
  /** Blocks per axis. */
  readonly grid: readonly number[];
  readonly blocks: number;
  readonly size: number;
  /** Length of the last axis (1 for rank 0). */
  readonly rowLength: number;
  readonly rows: number;
  /** Block offset of each position along the last axis. */
  readonly lastMap: Int32Array;
  private readonly gridStrides: number[];

  constructor(shape: readonly number[], blockSizes: readonly number[]) {
    if (blockSizes.length !== shape.length) throw new Error(`BlockGrid: ${blockSizes.length} block sizes for a rank-${shape.length} shape`);
    this.shape = [...shape];
    this.blockSizes = [...blockSizes];
    this.grid = shape.map((d, k) => {
      const b = blockSizes[k];
      if (b > 0 && d % b !== 0) throw new Error(`BlockGrid: dim ${k} (${d}) is not divisible by block size ${b}`);
      return b > 0 ? d / b : 1;
    });
    this.blocks = this.grid.reduce((a, b) => a * b, 1);
    this.size = shape.reduce((a, b) => a * b, 1);
    const r = shape.length;
    this.rowLength = r === 0 ? 1 : shape[r - 1];
    this.rows = this.rowLength === 0 ? 0 : this.size / this.rowLength;
    this.gridStrides = new Array<number>(r);
    let s = 1;
    for (let k = r - 1; k >= 0; k--) {
      this.gridStrides[k] = s;
      s *= this.grid[k];
    }
    this.lastMap = new Int32Array(this.rowLength);
    if (r > 0) {
      const b = blockSizes[r - 1] > 0 ? blockSizes[r - 1] : this.rowLength;
      for (let j = 0; j < this.rowLength; j++) this.lastMap[j] = Math.floor(j / b) * this.gridStrides[r - 1];
    }
  }

  /** Block id of the first element of row `row` (all axes but the last). */
  rowBase(row: number): number {
    let base = 0;
    let rest = row;
    for (let k = this.shape.length - 2; k >= 0; k--) {
      const d = this.shape[k];
      const i = rest % d;
      rest = (rest - i) / d;
      const b = this.blockSizes[k] > 0 ? this.blockSizes[k] : d;
      base += Math.floor(i / b) * this.gridStrides[k];
    }
    return base;
  }

  /** Runs of ≤ CHUNK elements in flat order. */
  *chunks(chunk = CHUNK): Generator<Run> {
    for (let row = 0; row < this.rows; row++) {
      const rowBase = this.rowBase(row);
      for (let j0 = 0; j0 < this.rowLength; j0 += chunk) {
        yield { start: row * this.rowLength + j0, count: Math.min(chunk, this.rowLength - j0), rowBase, j0 };
      }
    }
  }
}

/** Decodes runs of a float (or small integer) tensor to float32 in a reused scratch buffer. */
export class FloatSource {
  readonly dtype: DType;
  readonly size: number;
  private readonly read: (start: number, count: number, out: Float32Array) => Float32Array;
  private readonly scratch: Float32Array;

  constructor(d: TensorData, chunk = CHUNK) {
    this.dtype = d.dtype;
    this.size = d.shape.reduce((a, b) => a * b, 1);
    this.scratch = new Float32Array(Math.min(chunk, Math.max(1, this.size)));
    const b = d.bytes;
    const aligned = <T>(C: new (buf: ArrayBuffer, off: number, n: number) => T, width: number): T =>
      b.byteOffset % width === 0 ? new C(b.buffer as ArrayBuffer, b.byteOffset, this.size) : new C(b.slice().buffer, 0, this.size);
    switch (d.dtype) {
      case 'fp16': {
        const h = aligned(Uint16Array, 2);
        this.read = (s, c, out) => fp16ToFp32Array(h.subarray(s, s + c), out);
        break;
      }
      case 'fp32': {
        const f = aligned(Float32Array, 4);
        this.read = (s, c) => f.subarray(s, s + c);
        break;
      }
      case 'int8': {
        const v = new Int8Array(b.buffer, b.byteOffset, this.size);
        this.read = (s, c, out) => {
          for (let j = 0; j < c; j++) out[j] = v[s + j];
          return out;
        };
        break;
      }
      case 'uint8': {
        this.read = (s, c, out) => {
          for (let j = 0; j < c; j++) out[j] = b[s + j];
          return out;
        };
        break;
      }
      default:
        throw new Error(`FloatSource: dtype ${d.dtype} is not a weight dtype (fp16, fp32, int8, uint8)`);
    }
  }

  /** Elements [start, start + count) as float32 (count ≤ the chunk size). The view is valid until the next call. */
  get(start: number, count: number): Float32Array {
    return this.read(start, count, this.scratch).subarray(0, count);
  }
}
