/**
 * Plain-text formatting shared by the commands: sizes, numbers, decibels and padded
 * tables that read well in a terminal and in a CI log.
 */

/** `1536` → `1.5 KiB`; exact bytes below 1 KiB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const sign = n < 0 ? '-' : '';
  return u === 0 ? `${sign}${v} B` : `${sign}${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

/** A number with at most `digits` decimals, trailing zeros dropped; `∞` for Infinity. */
export function formatNumber(x: number, digits = 2): string {
  if (x === Infinity) return '∞';
  if (x === -Infinity) return '-∞';
  if (Number.isNaN(x)) return 'NaN';
  const s = x.toFixed(digits);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** Decibels: `43.1 dB`, `∞ dB` for an exact match. */
export function formatDb(x: number): string {
  return `${formatNumber(x, 1)} dB`;
}

/** Cosine similarity with enough digits to see how close to 1 it is. */
export function formatCosine(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 1) return '1';
  // show the digits up to the first one that is not 9 (0.99993 → 0.99993), at least 4
  const digits = Math.min(9, Math.max(4, Math.ceil(-Math.log10(Math.max(1e-12, 1 - x))) + 1));
  return x.toFixed(digits);
}

/** A small error figure: `0` for an exact match, else `5.30e-4`. */
export function formatSci(x: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return String(x);
  return x.toExponential(2);
}

/** `a → b (×r)` for a before/after pair of sizes. */
export function formatRatio(before: number, after: number): string {
  if (after === 0) return before === 0 ? '1×' : '∞×';
  return `${formatNumber(before / after, 2)}×`;
}

/** Seconds as `m:ss` (or `h:mm:ss`). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

/** Milliseconds as a short human string (`850 ms`, `3.2 s`). */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${formatNumber(ms, ms < 10 ? 1 : 0)} ms` : `${formatNumber(ms / 1000, 1)} s`;
}

export interface TableOptions {
  /** Columns to right-align (numbers); default: every column whose body cells all look numeric. */
  readonly align?: ReadonlyArray<'left' | 'right'>;
  /** Indent every line by this many spaces. */
  readonly indent?: number;
}

const NUMERIC = /^[-+]?[\d.,]+(\s?(%|×|dB|B|KiB|MiB|GiB|TiB|ms|s|\/s))?$|^[∞-]$/;

/** A padded text table with a rule under the header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], options: TableOptions = {}): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const align =
    options.align ?? header.map((_, i) => (rows.length > 0 && rows.every((r) => NUMERIC.test((r[i] ?? '').trim()) || (r[i] ?? '') === '') ? 'right' : 'left'));
  const pad = ' '.repeat(options.indent ?? 0);
  const line = (cells: readonly string[]): string =>
    pad +
    cells
      .map((c, i) => (align[i] === 'right' ? (c ?? '').padStart(widths[i]) : (c ?? '').padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), pad + widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** `fp16[1, 128]` for a dtype and shape. */
export function formatShape(dtype: string, shape: readonly (number | string)[]): string {
  return `${dtype}[${shape.join(', ')}]`;
}
