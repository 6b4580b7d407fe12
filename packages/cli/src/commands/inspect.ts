/** `silica inspect PKG [--json] [--weights] [--weight-threshold N]` */
import { formatBytes, formatNumber, formatShape, table } from '../format.js';
import { resolveFrom, readPackage } from '../files.js';
import { type InspectReport, WEIGHT_KINDS, inspectProgram } from '../inspect.js';
import type { Ui } from '../ui.js';

export interface InspectArgs {
  readonly pkg: string;
  /** List every weight, not only the 10 largest. */
  readonly allWeights?: boolean;
  readonly weightThreshold?: number;
}

export async function inspectCommand(ui: Ui, args: InspectArgs): Promise<InspectReport> {
  const path = resolveFrom(ui.io.cwd, args.pkg);
  const program = await readPackage(path);
  const report = inspectProgram(program, path, { weightThreshold: args.weightThreshold, displayPath: args.pkg });
  ui.json(report);
  ui.result(renderInspect(report, { allWeights: args.allWeights ?? false }));
  return report;
}

const io = (e: { name: string; type: string }): string[] => [e.name, e.type];

/** The inspect report as text. */
export function renderInspect(r: InspectReport, options: { allWeights: boolean }): string {
  const out: string[] = [];
  out.push(`${r.path}`);
  out.push(
    `  target ${r.target} (specification version ${r.specificationVersion}, opset ${r.opset})` +
      (r.multifunction ? `, multifunction: ${r.functions.length} functions, default ${r.defaultFunction}` : ''),
  );
  out.push(
    `  size ${formatBytes(r.size.package)} on disk (model.mlmodel ${formatBytes(r.size.model)}, weight.bin ${formatBytes(r.size.weightBin)}); constant data ${formatBytes(r.size.constBytes)}`,
  );
  const meta = Object.entries(r.metadata);
  if (meta.length > 0) out.push(`  metadata: ${meta.map(([k, v]) => `${k}=${v.length > 40 ? `${v.slice(0, 39)}…` : v}`).join(', ')}`);

  for (const f of r.functions) {
    out.push('', `function ${f.name} (${f.ops} ops)${f.name === r.defaultFunction && r.functions.length > 1 ? ' — default' : ''}`);
    const rows: string[][] = [
      ...f.inputs.map((e) => ['input', ...io(e)]),
      ...f.states.map((e) => ['state', ...io(e)]),
      ...f.outputs.map((e) => ['output', ...io(e)]),
    ];
    out.push(table(['', 'name', 'type'], rows, { indent: 2, align: ['left', 'left', 'left'] }));
  }

  const ops = Object.entries(r.opHistogram);
  out.push('', `ops (${ops.reduce((a, [, n]) => a + n, 0)} in all, ${ops.length} types)`);
  out.push(table(['op', 'count'], ops.map(([t, n]) => [t, String(n)]), { indent: 2 }));

  const w = r.weights;
  out.push('', `weights: ${w.count} (${formatNumber(w.elements, 0)} elements, ${formatBytes(w.bytes)}, ${formatNumber(w.bitsPerWeight, 2)} bits per weight)`);
  const kinds = WEIGHT_KINDS.filter((k) => w.byKind[k].count > 0).map((k) => {
    const b = w.byKind[k];
    return [k, String(b.count), formatNumber(b.elements, 0), formatBytes(b.bytes), formatNumber(b.elements ? (8 * b.bytes) / b.elements : 0, 2)];
  });
  if (kinds.length > 0) out.push(table(['stored as', 'weights', 'elements', 'bytes', 'bits/weight'], kinds, { indent: 2 }));
  const dtypes = Object.entries(w.byDtype).map(([d, b]) => [d, String(b.count), formatNumber(b.elements, 0), formatBytes(b.bytes)]);
  if (dtypes.length > 0) out.push('', table(['tensor dtype', 'tensors', 'elements', 'bytes'], dtypes, { indent: 2 }));
  const shown = options.allWeights ? w.list : w.list.slice(0, 10);
  if (shown.length > 0) {
    out.push('', options.allWeights || w.list.length <= 10 ? '  every weight:' : `  the ${shown.length} largest of ${w.list.length} weights (--all-weights lists them all):`);
    out.push(
      table(
        ['weight', 'function', 'type', 'stored as', 'bytes', 'bits/weight', 'read by'],
        shown.map((x) => [x.name, x.function, formatShape(x.dtype, x.shape), x.ops.length ? `${x.kind} (${x.ops.join(' → ')})` : x.kind, formatBytes(x.bytes), formatNumber(x.bitsPerWeight, 2), x.readBy.join(', ')]),
        { indent: 2, align: ['left', 'left', 'left', 'left', 'right', 'right', 'left'] },
      ),
    );
  }

  out.push('');
  if (r.suggestions.length === 0) out.push('nothing obvious left to do: no uncompressed weights above the threshold, no explicit caches, no decomposed attention');
  else {
    out.push('could be done:');
    for (const s of r.suggestions) out.push(`  - ${s.message}${s.bytes ? ` (${formatBytes(s.bytes)})` : ''}`, `      ${s.command}`);
  }
  return out.join('\n');
}
