/**
 * @silica/interpreter — a reference CPU executor for Silica IR programs (every op of
 * mil-ops.md §1–6, states included), `.npy`/`.npz` I/O and output-comparison metrics.
 */
export { createSession, implementedOps, InterpreterError } from './session.js';
export type { Session, SessionOptions, PredictOptions, TensorDescription } from './session.js';
export { normalizeDType } from './io.js';
export type { InputTensor, OutputTensor, IOData } from './io.js';
export { readNpy, writeNpy, npyToInput, npyToFloat32, npyDTypeToIR, irDTypeToNpy } from './npy.js';
export type { NpyArray, NpyDType, NpyData } from './npy.js';
export { readNpz, writeNpz } from './npz.js';
export { compareOutputs, compareTensors, evaluate, MetricAccumulator } from './metrics.js';
export type { OutputMetrics, Comparable, CompareOptions, EvaluateOptions, EvaluateResult } from './metrics.js';
export { gemmNT, gemmNaive, transpose2d } from './gemm.js';
export { erf } from './math.js';
