/**
 * @silica/ir — the in-memory IR every Silica pass reads and writes.
 */
export * from './dtype.js';
export * from './target.js';
export * from './types.js';
export * from './fp16.js';
export * from './packing.js';
export * from './hash.js';
export * from './tensor.js';
export * from './ir.js';
export * from './registry/index.js';
export { isConst, constValueOf, clearConstCache, opArgs, inferOutputTypes, typeCheckOp, makeArgs, defaultTensor } from './registry/args.js';
export { checkOperands } from './registry/check.js';
export type { OperandInfo } from './registry/check.js';
export * as sigHelpers from './registry/helpers.js';
export type { ArgSource } from './registry/args.js';
export * from './registry/constexpr-eval.js';
export { printProgram, printFunction, formatValueType, formatValueName, formatTensorLiteral } from './printer.js';
export type { PrintOptions } from './printer.js';
export { parseProgram, parseFunction, tensorsByHash, TextParseError, UnresolvedTensor } from './parser.js';
export type { ParseOptions } from './parser.js';
export * from './verifier.js';
export * from './builder.js';
export * from './pattern.js';
export * from './pass.js';
export * from './graph.js';
export { deadCodeElimination, eliminateDeadCode } from './dce.js';
export type { DeadCodeEliminationOptions } from './dce.js';
export { seededRandom } from './random.js';
