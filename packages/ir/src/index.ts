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
export { isConst, constValueOf, clearConstCache, opArgs, inferOutputTypes, makeArgs, defaultTensor } from './registry/args.js';
export type { ArgSource } from './registry/args.js';
