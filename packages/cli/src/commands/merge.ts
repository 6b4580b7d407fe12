/** `silica merge A.mlpackage:main=fn1 B.mlpackage:main=fn2 -o OUT --default fn1 [--share-by-value]` */
import { basename } from 'node:path';
import type { Program } from '@silica/ir';
import { sanitizeIdentifier } from '@silica/ir';
import { type MergeItem, mergeFunctions } from '@silica/multifunction-merge';
import { UsageError } from '../errors.js';
import { checkOutput, diskSize, readPackage, resolveFrom, writePackage } from '../files.js';
import { formatBytes, table } from '../format.js';
import type { Ui } from '../ui.js';

export interface MergeArgs {
  /** `PATH[:SOURCE_FUNCTION][=NAME]` items. */
  readonly items: readonly string[];
  readonly out: string;
  readonly force: boolean;
  readonly default?: string;
  readonly shareByValue?: boolean;
}

export interface MergeSpec {
  readonly path: string;
  /** undefined: the package's default function. */
  readonly functionName: string | undefined;
  readonly targetName: string;
}

/**
 * `Model.mlpackage:main=decode` → path, source function `main`, name `decode`. The source
 * function defaults to the package's default function, the name to the source function's
 * name (or the package's file name when the function is taken by default).
 */
export function parseMergeItem(item: string): MergeSpec {
  const m = /^(.*?\.mlpackage)\/?(?::([^=:]+))?(?:=([^=:]+))?$/.exec(item);
  if (!m || m[1] === '.mlpackage') {
    throw new UsageError(`${item}: expected PACKAGE.mlpackage[:FUNCTION][=NAME], e.g. base.mlpackage:main=base (FUNCTION: the function to take, default the package's default; NAME: its name in the merged model)`);
  }
  const path = m[1];
  const functionName = m[2];
  const targetName = m[3] ?? functionName ?? sanitizeIdentifier(basename(path, '.mlpackage'));
  return { path, functionName, targetName };
}

export async function mergeCommand(ui: Ui, args: MergeArgs): Promise<Record<string, unknown>> {
  if (args.items.length < 2) throw new UsageError(`merge needs at least two functions to merge (got ${args.items.length}); e.g. silica merge a.mlpackage=a b.mlpackage=b -o ab.mlpackage --default a`);
  const specs = args.items.map(parseMergeItem);
  const output = resolveFrom(ui.io.cwd, args.out);
  const inputs = [...new Set(specs.map((s) => resolveFrom(ui.io.cwd, s.path)))];
  checkOutput(output, inputs, args.force);
  const defaultName = args.default ?? specs[0].targetName;
  if (!specs.some((s) => s.targetName === defaultName)) {
    throw new UsageError(`--default ${defaultName} is not one of the merged functions (${specs.map((s) => s.targetName).join(', ')})`);
  }
  const programs = new Map<string, Program>();
  const bar = ui.progress('read', 'packages');
  for (const [i, p] of inputs.entries()) {
    programs.set(p, await readPackage(p));
    bar.update(i + 1, inputs.length, p);
  }
  bar.finish();
  const items: MergeItem[] = specs.map((s) => {
    const program = programs.get(resolveFrom(ui.io.cwd, s.path))!;
    return { program, functionName: s.functionName ?? program.getFunction().name, targetName: s.targetName };
  });
  const { program, report } = mergeFunctions(items, { defaultFunctionName: defaultName, shareByValue: args.shareByValue ?? false });
  const written = await writePackage(program, output, { force: args.force });
  const before = inputs.reduce((a, p) => a + diskSize(p), 0);
  const after = diskSize(output);
  const summary = { command: 'merge', inputs, output, default: defaultName, report, size: { before, after }, written };
  ui.json(summary);
  ui.result(
    [
      table(
        ['function', 'from', 'ops', 'weights', 'shared with earlier'],
        report.functions.map((f) => [f.name, `${specs[f.item].path}:${f.sourceFunction}`, String(f.ops), formatBytes(f.weightBytes), formatBytes(f.sharedBytes)]),
        { align: ['left', 'left', 'right', 'right', 'right'] },
      ),
      '',
      `${output}: ${report.functions.length} functions (default ${defaultName}), target ${report.target}; weights ${formatBytes(report.bytes.separate)} separately → ${formatBytes(report.bytes.merged)} merged (${formatBytes(report.bytes.saved)} shared${report.bytes.savedByValue ? `, ${formatBytes(report.bytes.savedByValue)} of it by value` : ''}); ${formatBytes(before)} → ${formatBytes(after)} on disk`,
    ].join('\n'),
  );
  return summary;
}
