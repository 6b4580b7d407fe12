/**
 * @silica/multifunction-merge — several programs/functions → one multifunction Program
 * with cross-function weight sharing by WeightHash (mlpackage-format.md §13), Silica's
 * `coremltools.utils.save_multifunction`.
 *
 * ```ts
 * const { program, report } = mergeFunctions(
 *   [
 *     { program: a, functionName: 'main', targetName: 'head_a' },
 *     { program: b, functionName: 'main', targetName: 'head_b' },
 *   ],
 *   { defaultFunctionName: 'head_a' },
 * );
 * await writeMLPackage(program, 'merged.mlpackage');
 * ```
 */
export { mergeFunctions } from './merge.js';
export type { MergeItem, MergeOptions, MergeReport, MergeResult, MergedFunctionReport } from './merge.js';
export type { ValueShare } from './by-value.js';
export { MergeError } from './errors.js';
