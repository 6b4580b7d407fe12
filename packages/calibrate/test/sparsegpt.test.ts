import { describe, expect, it } from 'vitest';
import { nmColumnRuns, sparseGpt } from '../src/index.js';
import { normals } from './models.js';
import { objective, spd, sub } from './helpers.js';

const R = 16;
const C = 48;
const w = Float64Array.from(normals(R * C, 77, 0.2));

/** Magnitude pruning of the whole tensor: zero the `fraction` smallest |w|. */
function magnitude(x: Float64Array, fraction: number): Float64Array {
  const k = Math.round(x.length * fraction);
  const order = Array.from(x.keys()).sort((a, b) => Math.abs(x[a]) - Math.abs(x[b]));
  const out = Float64Array.from(x);
  for (let i = 0; i < k; i++) out[order[i]] = 0;
  return out;
}

describe('sparseGpt', () => {
  it('prunes exactly the target fraction of every block and compensates with the rest', async () => {
    const { h } = spd(C, 2);
    const r = await sparseGpt(w, R, C, h, { sparsity: 0.4 }, { blockSize: 16 });
    for (let b = 0; b < C; b += 16) {
      let zeros = 0;
      for (let row = 0; row < R; row++) for (let c = b; c < b + 16; c++) if (r.mask[row * C + c] === 0) zeros++;
      expect(zeros).toBe(Math.round(0.4 * R * 16));
    }
    for (let k = 0; k < R * C; k++) {
      if (r.mask[k] === 0) expect(r.pruned[k]).toBe(0);
      else expect(r.pruned[k]).not.toBe(0);
    }
    // the kept weights moved: OBS updates
    let moved = 0;
    for (let k = 0; k < R * C; k++) if (r.mask[k] && r.pruned[k] !== w[k]) moved++;
    expect(moved).toBeGreaterThan(R * C * 0.5);
  });

  it('beats magnitude pruning at the same sparsity on the layer objective', async () => {
    const { h } = spd(C, 3);
    const r = await sparseGpt(w, R, C, h, { sparsity: 0.4 });
    const m = magnitude(w, 0.4);
    expect(objective(sub(r.pruned, w), h, R, C)).toBeLessThan(0.5 * objective(sub(m, w), h, R, C));
  });

  it('reports loss = ½·tr(ΔW·(H + damp·I)·ΔWᵀ)', async () => {
    const { h } = spd(C, 4);
    const r = await sparseGpt(w, R, C, h, { sparsity: 0.5 });
    const damped = Float64Array.from(h);
    for (let i = 0; i < C; i++) damped[i * C + i] += r.damp;
    expect(r.loss).toBeCloseTo(0.5 * objective(sub(r.pruned, w), damped, R, C), 6);
  });

  it.each([
    [1, 2],
    [2, 4],
    [3, 8],
  ])('n:m %i:%i along the input dimension: every run of m columns loses n', async (n, m) => {
    const { h } = spd(C, 5);
    const r = await sparseGpt(w, R, C, h, { nm: { n, m, dim: 1 } }, { blockSize: 20 });
    for (let row = 0; row < R; row++) {
      for (let c0 = 0; c0 < C; c0 += m) {
        let zeros = 0;
        for (let c = c0; c < c0 + m; c++) if (r.mask[row * C + c] === 0) zeros++;
        expect(zeros).toBe(n);
      }
    }
  });

  it('keeps n:m runs inside segments; a short run counts as zero-padded', async () => {
    // segments of 6 columns with m = 4: runs [0,4) [4,6) [6,10) [10,12) …; the 2-wide runs are padded by 2
    const segments = Array.from({ length: C / 6 }, (_, k) => [6 * k, 6 * k + 6] as const);
    expect(nmColumnRuns(12, 4, segments.slice(0, 2))).toEqual([[0, 4], [4, 6], [6, 10], [10, 12]]);
    const r = await sparseGpt(w, R, C, spd(C, 6).h, { nm: { n: 3, m: 4, dim: 1 }, segments });
    for (let row = 0; row < R; row++) {
      for (const [a, b] of nmColumnRuns(C, 4, segments)) {
        let zeros = 0;
        for (let c = a; c < b; c++) if (r.mask[row * C + c] === 0) zeros++;
        expect(zeros).toBe(b - a === 4 ? 3 : 1);
      }
    }
  });

  it('n:m along the output dimension: every run of m rows of a column loses n', async () => {
    const r = await sparseGpt(w, R, C, spd(C, 7).h, { nm: { n: 1, m: 4, dim: 0 } });
    for (let c = 0; c < C; c++) {
      for (let r0 = 0; r0 < R; r0 += 4) {
        let zeros = 0;
        for (let row = r0; row < r0 + 4; row++) if (r.mask[row * C + c] === 0) zeros++;
        expect(zeros).toBe(1);
      }
    }
  });

  it.each([1, 8, 128])('n:m results do not depend on the lazy-update block size (%i)', async (blockSize) => {
    const { h } = spd(C, 8);
    const ref = await sparseGpt(w, R, C, h, { nm: { n: 2, m: 4, dim: 1 } }, { blockSize: 4 });
    const r = await sparseGpt(w, R, C, h, { nm: { n: 2, m: 4, dim: 1 } }, { blockSize });
    expect(Array.from(r.mask)).toEqual(Array.from(ref.mask));
    for (let k = 0; k < R * C; k++) expect(r.pruned[k]).toBeCloseTo(ref.pruned[k], 10);
  });

  it('rejects bad specs', async () => {
    const { h } = spd(C, 1);
    await expect(sparseGpt(w, R, C, h, {})).rejects.toThrow('give exactly one of sparsity and nm');
    await expect(sparseGpt(w, R, C, h, { sparsity: 1.5 })).rejects.toThrow('sparsity must be in [0, 1]');
    await expect(sparseGpt(w, R, C, h, { nm: { n: 3, m: 2, dim: 1 } })).rejects.toThrow('0 ≤ n ≤ m');
  });
});
