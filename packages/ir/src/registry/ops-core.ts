/** Signatures of mil-ops.md §5–6 (linear, matmul, softmax and the transformer-block ops). */
import type { OpSignature } from './signature.js';

export const CORE_OPS: readonly OpSignature[] = [];
