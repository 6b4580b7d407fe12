/**
 * Spilling compressed tensors to a temporary file, so compressing a model read lazily from
 * disk keeps memory bounded by a few weights (ARCHITECTURE.md: "Peak memory of any
 * pipeline must stay bounded by a few tensors, not by the model").
 *
 * A compressed weight's new data (quantized codes, nonzero values, masks, indices) is
 * written once to `<dir>/silica-spill-XXXXXX/tensors.bin` and the const holds a FileTensor
 * pointing at it — exactly like a weight read from a package, so the writer streams it.
 * The directory is removed when the process exits.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTensor, type Tensor } from '@silica/ir';

export interface SpillOptions {
  /** Parent directory of the spill file (default: the OS temp directory). */
  readonly dir?: string;
  /** Tensors of at least this many bytes are spilled (default 16 MiB). */
  readonly minBytes?: number;
}

const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}

export class TensorSpill {
  readonly minBytes: number;
  private readonly parent: string;
  private dir: string | undefined;
  private fd: number | undefined;
  private offset = 0;
  private written = 0;
  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.written;
  }

  constructor(options: SpillOptions = {}) {
    this.parent = options.dir ?? tmpdir();
    this.minBytes = options.minBytes ?? 16 << 20;
    if (!(this.minBytes >= 0)) throw new Error(`spill: minBytes must be ≥ 0, got ${options.minBytes}`);
  }

  /** Whether `t` is worth spilling (in memory and at least `minBytes`). */
  wants(t: Tensor): boolean {
    return !t.isLazy && t.dtype !== 'string' && t.byteLength >= this.minBytes;
  }

  /** Writes `t`'s bytes to the spill file and returns a FileTensor over them. */
  spill(t: Tensor): FileTensor {
    if (this.fd === undefined) {
      installExitHook();
      this.dir = mkdtempSync(join(this.parent, 'silica-spill-'));
      liveDirs.add(this.dir);
      this.fd = openSync(join(this.dir, 'tensors.bin'), 'w');
      this.offset = 0;
    }
    const bytes = t.bytes();
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(this.fd, bytes, done, bytes.byteLength - done, this.offset + done);
    const ft = new FileTensor(t.dtype, t.shape, join(this.dir!, 'tensors.bin'), this.offset, bytes.byteLength);
    this.offset += bytes.byteLength;
    this.written += bytes.byteLength;
    return ft;
  }

  /** Closes the file (the FileTensors stay readable until the process exits or `remove()`). */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** Deletes the spill file now (only when no FileTensor of it will be read again). */
  remove(): void {
    this.close();
    if (this.dir) {
      rmSync(this.dir, { recursive: true, force: true });
      liveDirs.delete(this.dir);
      this.dir = undefined;
    }
  }
}
