/**
 * The `--report out.html` page of `silica compress`: one self-contained file (inline CSS
 * and SVG, no script, no font or image fetched) with
 *
 *  - the summary: sizes on disk and of the weights before and after, bits per weight;
 *  - per layer: size before/after, bits per weight, SNR of the decompressed weight
 *    against the original (bar charts, then the numbers in a table);
 *  - for a few layers: the histogram of the original weights with the decompressed
 *    weights' histogram and what the compression chose drawn over it — the LUT entries,
 *    the quantization grid or the pruning threshold.
 */
import { formatBytes, formatNumber } from './format.js';
import type { Histogram, LayerRow, Overlay } from './layers.js';

export interface ReportPass {
  readonly pass: string;
  readonly ms: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface ReportData {
  readonly input: string;
  readonly output: string;
  /** The command line or pipeline that made the output. */
  readonly command: string;
  readonly generator: string;
  readonly sizeBefore: number;
  readonly sizeAfter: number;
  readonly passes: readonly ReportPass[];
  readonly layers: readonly LayerRow[];
  readonly untouched: number;
  readonly histograms: readonly Histogram[];
}

const COLORS = {
  before: '#94a3b8',
  after: '#2563eb',
  bits: '#7c3aed',
  snr: '#059669',
  hist: '#93c5fd',
  compressed: '#ea580c',
  lut: '#dc2626',
  grid: '#dc2626',
  threshold: '#111827',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fmt = (x: number, d = 2): string => formatNumber(x, d);

interface BarSeries {
  readonly name: string;
  readonly color: string;
  readonly values: readonly number[];
}

/** A horizontal bar chart: one row per label, one bar per series. */
function barChart(id: string, title: string, labels: readonly string[], series: readonly BarSeries[], label: (v: number) => string): string {
  const labelW = 230;
  const plotW = 440;
  const valueW = 90;
  const barH = 9;
  const gap = 2;
  const rowH = series.length * (barH + gap) + 6;
  const top = 28;
  const legendH = 18;
  const height = top + labels.length * rowH + legendH + 8;
  const width = labelW + plotW + valueW;
  const finite = series.flatMap((s) => s.values.filter((v) => Number.isFinite(v) && v > 0));
  const max = finite.length ? Math.max(...finite) : 1;
  const parts: string[] = [];
  parts.push(`<svg class="chart" data-chart="${id}" role="img" aria-label="${esc(title)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">`);
  parts.push(`<text x="0" y="16" class="title">${esc(title)}</text>`);
  labels.forEach((l, i) => {
    const y = top + i * rowH;
    const short = l.length > 34 ? `${l.slice(0, 33)}…` : l;
    parts.push(`<text x="${labelW - 8}" y="${y + rowH / 2 + 3}" text-anchor="end" class="label"><title>${esc(l)}</title>${esc(short)}</text>`);
    series.forEach((s, k) => {
      const v = s.values[i];
      const inf = v === Infinity;
      const w = inf ? plotW : Number.isFinite(v) && v > 0 ? Math.max(1, (plotW * v) / max) : 0;
      const by = y + 3 + k * (barH + gap);
      parts.push(
        `<rect class="bar" data-series="${esc(s.name)}" x="${labelW}" y="${by}" width="${w.toFixed(1)}" height="${barH}" fill="${s.color}"${inf ? ' fill-opacity="0.45"' : ''}><title>${esc(`${l} — ${s.name}: ${label(v)}`)}</title></rect>`,
      );
      parts.push(`<text x="${labelW + w + 4}" y="${by + barH - 1}" class="value">${esc(label(v))}</text>`);
    });
  });
  const ly = top + labels.length * rowH + 12;
  series.forEach((s, k) => {
    const x = labelW + k * 150;
    parts.push(`<rect x="${x}" y="${ly - 9}" width="10" height="10" fill="${s.color}"/><text x="${x + 14}" y="${ly}" class="legend">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** A weight histogram with the compressed histogram and the overlays drawn over it. */
function histogramChart(h: Histogram): string {
  const width = 760;
  const height = 260;
  const left = 50;
  const right = 12;
  const top = 30;
  const bottom = 44;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const bins = h.original.length;
  const cap = Math.max(1, ...h.original) * 1.15;
  const x = (v: number): number => left + ((v - h.lo) / (h.hi - h.lo)) * plotW;
  const y = (c: number): number => top + plotH - (Math.min(c, cap) / cap) * plotH;
  const bw = plotW / bins;
  const parts: string[] = [];
  parts.push(
    `<svg class="chart" data-chart="histogram" data-layer="${esc(h.layer)}" role="img" aria-label="${esc(`histogram of ${h.layer}`)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">`,
  );
  const sparse = h.kind === 'sparse' || h.kind === 'joint';
  parts.push(`<text x="0" y="16" class="title">${esc(h.layer)} <tspan class="sub">(${esc(h.kind)}${sparse ? `, ${fmt(100 * h.sparsity, 1)}% zeros` : ''})</tspan></text>`);
  // axes
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" class="axis"/>`);
  parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" class="axis"/>`);
  for (let t = 0; t <= 4; t++) {
    const v = h.lo + ((h.hi - h.lo) * t) / 4;
    const anchor = t === 0 ? 'start' : t === 4 ? 'end' : 'middle';
    parts.push(`<text x="${x(v)}" y="${top + plotH + 14}" text-anchor="${anchor}" class="tick">${esc(v.toPrecision(3))}</text>`);
  }
  parts.push(`<text x="${left - 6}" y="${top + 8}" text-anchor="end" class="tick">${Math.round(cap)}</text><text x="${left - 6}" y="${top + plotH}" text-anchor="end" class="tick">0</text>`);
  // original: bars
  h.original.forEach((c, i) => {
    if (c === 0) return;
    parts.push(`<rect class="bar" data-series="original" x="${(left + i * bw).toFixed(2)}" y="${y(c).toFixed(2)}" width="${Math.max(0.5, bw - 0.6).toFixed(2)}" height="${(top + plotH - y(c)).toFixed(2)}" fill="${COLORS.hist}"/>`);
  });
  // compressed: step outline
  let d = `M${left} ${top + plotH}`;
  h.compressed.forEach((c, i) => {
    d += ` L${(left + i * bw).toFixed(2)} ${y(c).toFixed(2)} L${(left + (i + 1) * bw).toFixed(2)} ${y(c).toFixed(2)}`;
  });
  d += ` L${left + plotW} ${top + plotH}`;
  parts.push(`<path class="compressed" d="${d}" fill="none" stroke="${COLORS.compressed}" stroke-width="1.3"/>`);
  // overlays
  const legend: Array<[string, string, string]> = [
    ['original weights', COLORS.hist, 'rect'],
    ['after compression', COLORS.compressed, 'line'],
  ];
  for (const o of h.overlays) {
    const color = COLORS[o.kind];
    const dash = o.kind === 'grid' ? ' stroke-dasharray="3 2"' : o.kind === 'threshold' ? ' stroke-dasharray="6 3"' : '';
    const shown = o.values.filter((v) => v >= h.lo && v <= h.hi);
    const opacity = o.kind === 'grid' && shown.length > 64 ? 0.35 : 0.85;
    for (const v of shown) {
      parts.push(`<line class="overlay" data-overlay="${o.kind}" x1="${x(v).toFixed(2)}" y1="${top}" x2="${x(v).toFixed(2)}" y2="${top + plotH}" stroke="${color}" stroke-width="1" stroke-opacity="${opacity}"${dash}><title>${esc(`${o.note}: ${v.toPrecision(4)}`)}</title></line>`);
    }
    if (o.kind === 'lut') {
      for (const v of shown) parts.push(`<circle class="overlay" data-overlay="lut-entry" cx="${x(v).toFixed(2)}" cy="${top + 3}" r="3" fill="${color}"/>`);
    }
    legend.push([`${o.label}${shown.length < o.values.length ? ` (${shown.length} of ${o.values.length} in range)` : ''}`, color, o.kind === 'lut' ? 'line' : o.kind === 'grid' ? 'dash' : 'longdash']);
  }
  let lx = left;
  const ly = height - 10;
  for (const [text, color, shape] of legend) {
    parts.push(
      shape === 'rect'
        ? `<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${color}"/>`
        : `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 12}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${shape === 'dash' ? ' stroke-dasharray="3 2"' : shape === 'longdash' ? ' stroke-dasharray="6 3"' : ''}/>`,
    );
    parts.push(`<text x="${lx + 16}" y="${ly}" class="legend">${esc(text)}</text>`);
    lx += 28 + text.length * 5.6;
  }
  parts.push('</svg>');
  return parts.join('');
}

const CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #111827; background: #f8fafc; margin: 0; }
main { max-width: 980px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; min-height: 100vh; box-sizing: border-box; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 8px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }
.paths { color: #374151; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; word-break: break-all; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 14px; min-width: 150px; }
.card .k { color: #6b7280; font-size: 12px; } .card .v { font-size: 20px; font-weight: 600; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 8px 0 16px; }
svg .title { font-size: 13px; font-weight: 600; fill: #111827; } svg .sub { font-weight: 400; fill: #6b7280; }
svg .label, svg .value, svg .legend, svg .tick { font-size: 11px; fill: #374151; }
svg .axis { stroke: #9ca3af; stroke-width: 1; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 4px 6px; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td code { white-space: nowrap; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.note { color: #6b7280; font-size: 12.5px; }
`;

function card(k: string, v: string): string {
  return `<div class="card"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div></div>`;
}


/** The report page (see the module comment). */
export function renderReport(r: ReportData): string {
  const totalBefore = r.layers.reduce((a, l) => a + l.bytesBefore, 0);
  const totalAfter = r.layers.reduce((a, l) => a + l.bytesAfter, 0);
  const elements = r.layers.reduce((a, l) => a + l.elements, 0);
  const finiteSnr = r.layers.map((l) => l.snrDb).filter(Number.isFinite);
  const labels = r.layers.map((l) => (r.layers.some((m) => m.function !== l.function) ? `${l.function}/${l.name}` : l.name));
  const body: string[] = [];
  body.push(`<h1>Silica compression report</h1>`);
  body.push(`<div class="paths">${esc(r.input)} → ${esc(r.output)}</div>`);
  body.push(`<div class="paths">${esc(r.command)}</div>`);
  body.push('<div class="cards">');
  body.push(card('package on disk', `${formatBytes(r.sizeBefore)} → ${formatBytes(r.sizeAfter)}`));
  body.push(card('compressed weights', `${formatBytes(totalBefore)} → ${formatBytes(totalAfter)}`));
  body.push(card('ratio', totalAfter > 0 ? `${fmt(totalBefore / totalAfter)}×` : '–'));
  body.push(card('bits per weight', elements ? fmt((8 * totalAfter) / elements) : '–'));
  body.push(card('lowest weight SNR', finiteSnr.length ? `${fmt(Math.min(...finiteSnr), 1)} dB` : r.layers.length ? '∞ (exact)' : '–'));
  body.push('</div>');
  body.push(
    `<p class="note">${r.layers.length} weight${r.layers.length === 1 ? '' : 's'} compressed, ${r.untouched} left as they were. Passes: ${r.passes
      .map((p) => `<code>${esc(p.pass)}</code> ${esc(fmt(p.ms / 1000, 2))} s (${esc(formatBytes(p.bytesIn))} → ${esc(formatBytes(p.bytesOut))})`)
      .join(', ')}. SNR is 10·log10(Σw² / Σ(w − ŵ)²) of each decompressed weight ŵ against the original w.</p>`,
  );
  if (r.layers.length === 0) {
    body.push('<p>No weight was compressed (all below the weight threshold, or skipped): nothing to chart.</p>');
  } else {
    body.push('<h2>Size per layer</h2>');
    body.push(
      barChart('sizes', 'bytes before and after', labels, [
        { name: 'before', color: COLORS.before, values: r.layers.map((l) => l.bytesBefore) },
        { name: 'after', color: COLORS.after, values: r.layers.map((l) => l.bytesAfter) },
      ], (v) => formatBytes(v)),
    );
    body.push('<h2>Bits per weight</h2>');
    body.push(barChart('bits', 'bits per weight after compression (indices, LUTs, scales and masks counted)', labels, [{ name: 'bits per weight', color: COLORS.bits, values: r.layers.map((l) => l.bitsPerWeight) }], (v) => fmt(v, 3)));
    body.push('<h2>Weight SNR per layer</h2>');
    body.push(barChart('snr', 'SNR of the decompressed weight against the original (dB, higher is better)', labels, [{ name: 'SNR dB', color: COLORS.snr, values: r.layers.map((l) => l.snrDb) }], (v) => (v === Infinity ? '∞ (exact)' : `${fmt(v, 1)} dB`)));
  }
  if (r.histograms.length > 0) {
    body.push('<h2>Weight histograms</h2>');
    body.push(`<p class="note">Bars: the original weights. Orange outline: the weights after compression (clipped at the top of the chart). Red lines: ${[...new Set(r.histograms.flatMap((h) => h.overlays.map((o) => o.kind)))].map((k) => (k === 'lut' ? 'LUT entries (dots on top)' : k === 'grid' ? 'the quantization grid (dashed)' : 'the pruning threshold (long dashes)')).join(', ')}.</p>`);
    for (const h of r.histograms) {
      body.push(histogramChart(h));
      if (h.overlays.length) body.push(`<p class="note">${h.overlays.map((o) => esc(o.note)).join('; ')}</p>`);
    }
  }
  if (r.layers.length > 0) {
    body.push('<h2>Per-layer figures</h2>');
    body.push('<table><thead><tr><th>weight</th><th>shape</th><th>stored as</th><th class="n">before</th><th class="n">after</th><th class="n">bits/weight</th><th class="n">SNR dB</th><th class="n">max |error|</th></tr></thead><tbody>');
    for (const l of r.layers) {
      body.push(
        `<tr><td><code>${esc(l.name)}</code></td><td><code>${esc(`${l.dtype}[${l.shape.join(', ')}]`)}</code></td><td>${esc(l.kind)}<br><span class="note">${esc(l.ops.join(' → '))}</span></td><td class="n">${esc(formatBytes(l.bytesBefore))}</td><td class="n">${esc(formatBytes(l.bytesAfter))}</td><td class="n">${esc(fmt(l.bitsPerWeight, 3))}</td><td class="n">${l.snrDb === Infinity ? '∞' : esc(fmt(l.snrDb, 1))}</td><td class="n">${esc(l.maxAbsError.toPrecision(3))}</td></tr>`,
      );
    }
    body.push('</tbody></table>');
  }
  body.push(`<p class="note">Made by ${esc(r.generator)}. This page is self-contained: no script, nothing fetched.</p>`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Silica compression report — ${esc(r.output.split(/[\\/]/).pop() ?? r.output)}</title>
<style>${CSS}</style>
</head>
<body><main>
${body.join('\n')}
</main></body>
</html>
`;
}
