/** Signatures of mil-ops.md §1–4 (constexpr compression ops, state ops, slice_update, SDPA). */
import type { OpSignature } from './signature.js';

export const COMPRESSION_OPS: readonly OpSignature[] = [];
