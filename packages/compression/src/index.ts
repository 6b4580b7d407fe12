/**
 * @silica/compression — what Silica's weight compressors (`@silica/quantize`,
 * `@silica/palettize`, `@silica/prune`) share. It is not a pass itself; a compressor
 * package plugs one `Compressor` into `runCompression` and gets candidate selection,
 * config resolution, target gating, parallel execution, rewiring and statistics.
 *
 * The API, by concept (mil-ops.md §7 is the specification):
 *
 * | export | what |
 * |---|---|
 * | `runCompression(program, ctx, compressor, configs, { joint, workers, inThreadBelow, spill })` | the per-weight loop: select → `prepare` (main thread) → kernel (worker or in-thread) → `commit` (main thread, program order). Returns `CompressionResult` = PassResult + `weights: WeightStats[]` + `skipped` |
 * | `Compressor<C, A, R>` | `{ pass, kernel, jointRoles?, constexprWeights?, threshold(c), describe(c, w), prepare(w, c, ctx) → Prepared \| Skip, commit(w, c, result, emitter) → Value \| Skip }` |
 * | `selectWeights(program, options)` → `{ selected: { weight, config }[], skipped }` | §7.1 candidate rules, in coremltools' order (storable ≥ 10 elements fp16/fp32/uint8/int8 → has an op reader → not a constexpr input unless a joint role → config → rank ≥ 2 unless the first reader is constexpr → count `>` weightThreshold, the final dense count under joint) |
 * | `Weight` | the const (or constexpr op) to compress, its `chain` of constexpr ops to the `dense` value, `consumers`, `role` under joint |
 * | `followChain(v)`, `producerChain(dense)`, `carriedOutput(op)`, `materialize(v, target)` | walking existing constexpr chains forward/backward and decompressing them (uncached) |
 * | `ConfigSet<C>` `{ global, opType?, opName? }`, `resolveConfig`, `configForOp`, `CompressionConfigError` | precedence: opName of the weight → per consumer opName → opType → global; consumers must agree; `null` = skip |
 * | `channelAxes(weight, target)`, `consumerAxes`, `inferBlockSizes(label, shape, axes, req)`, `blockGridShape` | §7.2 axes table and per-axis block sizes (0 = whole axis); non-divisible → a skip reason |
 * | `requireFeature(feature, target, where)`, `supports`, `CompressionTargetError`, `usesIOS18Ops` | "int4 quantization needs iOS18 (the program targets iOS17)" |
 * | `emitterFor(weight, target, pass)`, `emitQuantized`, `emitBlockwiseShiftScale`, `emitAffineDequantize`, `toAffineParams`, `emitSparse`, `emitSparseQuantized`, `emitLut`, `emitLutToSparse`, `replaceValue`, `removeIfDead`, `packedMaskOf`, `maskFromBytes`, `maskBits` | constexpr ops in the target's form (iOS16 attribute-era layouts vs iOS18), inserted before the first reader |
 * | `errorMetrics(ref, approx)`, `WeightStats`, `summarizeStats`, `representationBytes(dense)` | MSE, SNR dB, max abs error; bytes before/after and bits per weight |
 * | `WorkerPool`, `defineKernel`, `siblingModule`, `runKernel`, `tensorData`, `tensorFromData`, `transferablesOf` | the worker-thread pool and the kernel contract |
 * | `TensorSpill` | large compressed tensors to a temp file (bounded memory on big models) |
 * | `BlockGrid`, `FloatSource`, `CHUNK` | streaming a weight by runs with per-element block ids, decoding to float32 in a scratch buffer |
 * | `roundHalfEven`, `roundTo`, `roundArrayTo` | NumPy-exact rounding and fp16 arithmetic |
 *
 * A compressor in outline (see @silica/quantize for a complete one):
 *
 * ```ts
 * const compressor: Compressor<MyConfig, Args, Result> = {
 *   pass: 'my-pass',
 *   kernel: defineKernel(siblingModule(import.meta.url, 'kernel'), 'myKernel', myKernel),
 *   threshold: (c) => c.weightThreshold,
 *   describe: (c) => `${c.nbits}-bit`,
 *   prepare(weight, config, ctx) {
 *     requireFeature('grouped LUTs', ctx.target, ctx.where);            // gate
 *     const t = materialize(weight.dense, ctx.target);                   // read
 *     return { args: { data: tensorData(t) }, transfer: t.isLazy ? [/* fresh bytes *\/] : [], work: t.size };
 *   },
 *   commit(weight, config, result, e) {                                  // build
 *     return emitLut(e, { indices: tensorFromData(result.indices), lut: tensorFromData(result.lut) }, `${weight.name}_palettized`);
 *   },
 * };
 * return runCompression(program, ctx, compressor, { global: config, opType, opName }, { joint });
 * ```
 *
 * Before and after one weight (iOS18, int8 per-channel):
 *
 * ```
 * %w = const() {val = #sha256:…} : fp16[1024, 256]
 * %y = linear(weight = %w, x = %x) : fp16[1, 1024]
 * ```
 * ```
 * %w_quantized_data = const() {val = #sha256:…} : int8[1024, 256]
 * %w_quantized_scale = const() {val = #sha256:…} : fp16[1024, 1]
 * %w_quantized = constexpr_blockwise_shift_scale(data = %w_quantized_data, scale = %w_quantized_scale) : fp16[1024, 256]
 * %y = linear(weight = %w_quantized, x = %x) : fp16[1, 1024]
 * ```
 */
export * from './config.js';
export * from './weights.js';
export * from './axes.js';
export * from './targets.js';
export * from './emit.js';
export * from './metrics.js';
export * from './pool.js';
export * from './spill.js';
export * from './blocks.js';
export * from './numeric.js';
export * from './driver.js';
