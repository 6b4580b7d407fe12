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
