/**
 * @silica/cli — the `silica` command, and the Node API behind it:
 *
 * - `runCli(argv, io)`: run a command line in-process (returns the exit code);
 * - the commands as functions (`inspectCommand`, `compressCommand`, …) and their pure
 *   parts (`inspectProgram`, `compressSteps`, `compareLayers`, `renderReport`);
 * - pipeline files: `exportPipeline`, `loadPipeline`, `parsePipeline`,
 *   `validatePipeline`, the JSON Schema (`PIPELINE_SCHEMA`) and `PASS_FACTORIES`, the
 *   name → factory map that exists for pipeline files and the CLI only;
 * - the exit codes (`EXIT`, `EXIT_CODE_TABLE`) and error classes.
 */
export { runCli } from './cli.js';
export { EXIT, EXIT_CODE_TABLE, CliError, UsageError, InputError, VerificationError, OutputError, ModelError, exitCodeOf } from './errors.js';
export type { ExitCode } from './errors.js';
export { Ui, Progress, jsonReplacer } from './ui.js';
export type { CliIO, GlobalFlags, TextStream } from './ui.js';
export {
  PASS_FACTORIES,
  PIPELINE_SCHEMA,
  PASS_OPTION_SCHEMAS,
  PipelineFileError,
  exportPipeline,
  loadPipeline,
  parsePipeline,
  validatePipeline,
  didYouMean,
} from './pipeline-file.js';
export type { PipelineSpec, PassStep, LoadedPipeline, LoadOptions, JsonPassFactory } from './pipeline-file.js';
export { compressSteps, parseOverride, parseNm, normalizeGranularity } from './compress-flags.js';
export type { CompressFlags } from './compress-flags.js';
export { inspectProgram, weightKind, findWeights, WEIGHT_KINDS } from './inspect.js';
export type { InspectReport, InspectOptions, WeightInfo, WeightKind, FunctionInfo, IOEntry, Suggestion, Bucket } from './inspect.js';
export { compareLayers, overlaysOf } from './layers.js';
export type { LayerRow, Histogram, Overlay, LayerComparison } from './layers.js';
export { renderReport } from './report-html.js';
export type { ReportData, ReportPass } from './report-html.js';
export { buildDecoder, decoderCachePairs, decoderStepInputs, DEFAULT_DECODER } from './demo-model.js';
export type { DecoderConfig } from './demo-model.js';
export { compareDecode, timeDecode } from './decode.js';
export type { CachePair, DecodeComparison, DecodeCompareOptions } from './decode.js';
export { randomInputs, normal } from './inputs.js';
export { inspectCommand, renderInspect } from './commands/inspect.js';
export { compressCommand, buildPasses } from './commands/compress.js';
export { statefulCommand, fuseCommand } from './commands/transform.js';
export { mergeCommand, parseMergeItem } from './commands/merge.js';
export { runCommand } from './commands/run.js';
export { evalCommand } from './commands/eval.js';
export { pipelineCommand } from './commands/pipeline.js';
export { benchCommand, findBenchmarks } from './commands/bench.js';
export { demoCommand } from './commands/demo.js';
export { VERSION } from './version.js';
