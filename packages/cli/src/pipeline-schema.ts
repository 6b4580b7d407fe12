/**
 * The JSON Schema of a pipeline file (JSON Schema draft-07, checked with ajv): a source
 * package, an ordered list of passes with their options, and a sink package. Each pass's
 * options are described key by key, so a typo is reported at the key that has it
 * ("passes[0].options: unknown option "nbit"").
 *
 * `silica pipeline --schema` prints it; point an editor's `$schema` at the printed file
 * for completion while writing pipeline files.
 */

const int = (minimum?: number) => (minimum === undefined ? { type: 'integer' } : { type: 'integer', minimum });
const weightThreshold = { ...int(0), description: 'only weights with more than this many elements are compressed (default 2048)' };
const functions = { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, description: 'only these functions (default: every function)' };
const runOptions = {
  workers: { ...int(0), description: 'worker threads for the per-weight math (0 = this thread)' },
  inThreadBelow: { ...int(0), description: 'weights with fewer elements are compressed in this thread' },
  spill: {
    type: ['string', 'boolean', 'object'],
    description: "'auto' (default), true, false, or { dir, minBytes }: write large compressed tensors to a temp file",
    properties: { dir: { type: 'string' }, minBytes: int(0) },
    additionalProperties: false,
    pattern: '^auto$',
  },
} as const;

/** A config object, or null (= leave those weights alone) inside opType/opName maps. */
function withOverrides(config: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const entry = { type: ['object', 'null'], additionalProperties: false, properties: config };
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...config,
      opType: { type: 'object', description: 'configs by consumer op type (null = leave alone)', additionalProperties: entry },
      opName: { type: 'object', description: 'configs by const or op name (null = leave alone)', additionalProperties: entry },
      ...extra,
    },
  };
}

const quantizeConfig = {
  mode: { enum: ['linear_symmetric', 'linear'] },
  dtype: { enum: ['int8', 'uint8', 'int4', 'uint4'] },
  granularity: { enum: ['per_tensor', 'per_channel', 'per_block'] },
  blockSize: { type: ['integer', 'array'], minimum: 1, minItems: 1, items: int(0), description: 'per_block: block size along the input axis, or one size per axis (0 = whole axis)' },
  weightThreshold,
};

const palettizeConfig = {
  mode: { enum: ['kmeans', 'uniform', 'unique'] },
  nbits: { enum: [1, 2, 3, 4, 6, 8] },
  granularity: { enum: ['per_tensor', 'per_grouped_channel'] },
  groupSize: int(1),
  channelAxis: int(),
  clusterDim: int(1),
  enablePerChannelScale: { type: 'boolean' },
  weightThreshold,
  seed: int(),
};

const pruneConfig = {
  threshold: { type: 'number', minimum: 0 },
  minimumSparsityPercentile: { type: 'number', minimum: 0, maximum: 1 },
  targetSparsity: { type: 'number', minimum: 0, maximum: 1 },
  blockSize: int(2),
  nmRatio: { type: 'array', items: int(0), minItems: 2, maxItems: 2, description: '[n, m]: in every m consecutive weights, the n smallest are zeroed' },
  dim: { enum: [0, 1] },
  weightThreshold,
};

const compressorExtra = { joint: { type: 'boolean' }, ...runOptions };

const calibrateQuantization = {
  dtype: { enum: ['int8', 'uint8', 'int4', 'uint4'] },
  mode: { enum: ['linear_symmetric', 'linear'] },
  granularity: { enum: ['per_tensor', 'per_channel', 'per_block'] },
  blockSize: int(1),
  weightThreshold,
};
const calibratePruning = {
  targetSparsity: { type: 'number', minimum: 0, maximum: 1 },
  nmRatio: pruneConfig.nmRatio,
  dim: { enum: [0, 1] },
  weightThreshold,
};
const calibratePalettization = {
  nbits: { enum: [1, 2, 3, 4, 6, 8] },
  granularity: { enum: ['per_tensor', 'per_grouped_channel'] },
  groupSize: int(1),
  weightThreshold,
};
const calibrateMixedBit = {
  widths: { type: 'array', items: { enum: [1, 2, 3, 4, 6, 8] }, minItems: 1 },
  targetBitsPerWeight: { type: 'number', exclusiveMinimum: 0 },
  minPsnr: { type: 'number' },
  granularity: { enum: ['per_tensor', 'per_grouped_channel'] },
  groupSize: int(1),
  weighting: { enum: ['hessian', 'none'] },
  weightThreshold,
};

const calibrateOptions = {
  type: 'object',
  required: ['algorithm'],
  additionalProperties: false,
  properties: {
    algorithm: { enum: ['gptq', 'sparsegpt', 'sensitive_kmeans', 'mixed_bit'] },
    config: { type: 'object' },
    samples: {
      type: ['string', 'array'],
      minLength: 1,
      items: { type: 'string', minLength: 1 },
      minItems: 1,
      description: 'calibration data: a .npy/.npz file, a directory, or a list of them (relative to the pipeline file)',
    },
    nSamples: int(1),
    function: { type: 'string', minLength: 1 },
    percentDamp: { type: 'number', minimum: 0 },
    blockSize: int(1),
    actOrder: { type: 'boolean', description: 'gptq only' },
    recipe: { type: ['object', 'string'], description: 'mixed_bit only: a recipe object, or the path of a recipe JSON file' },
  },
  allOf: [
    { if: { properties: { algorithm: { const: 'gptq' } } }, then: { properties: { config: withOverrides(calibrateQuantization) } } },
    { if: { properties: { algorithm: { const: 'sparsegpt' } } }, then: { required: ['config'], properties: { config: withOverrides(calibratePruning) } } },
    { if: { properties: { algorithm: { const: 'sensitive_kmeans' } } }, then: { properties: { config: withOverrides(calibratePalettization) } } },
    { if: { properties: { algorithm: { const: 'mixed_bit' } } }, then: { properties: { config: withOverrides(calibrateMixedBit) } } },
  ],
};

/** JSON Schema of each pass's options, by pass name. */
export const PASS_OPTION_SCHEMAS: Readonly<Record<string, Record<string, unknown>>> = {
  quantize: withOverrides(quantizeConfig, compressorExtra),
  palettize: withOverrides(palettizeConfig, { ...compressorExtra, global: { type: 'null', description: 'null: no global config, only opType/opName apply' } }),
  prune: withOverrides(pruneConfig, compressorExtra),
  calibrate: calibrateOptions,
  'stateful-rewrite': {
    type: 'object',
    additionalProperties: false,
    properties: {
      states: {
        type: 'array',
        items: {
          type: 'object',
          required: ['input', 'output'],
          additionalProperties: false,
          properties: { input: { type: 'string', minLength: 1 }, output: { type: 'string', minLength: 1 }, sequenceAxis: int(0) },
        },
      },
      allowTargetRaise: { type: 'boolean' },
      convertDtype: { type: 'boolean' },
      padTo: int(1),
    },
  },
  'sdpa-fusion': { type: 'object', additionalProperties: false, properties: { recoverBoolMasks: { type: 'boolean' }, functions } },
  'sdpa-lowering': { type: 'object', additionalProperties: false, properties: { target: { enum: ['iOS15', 'iOS16', 'iOS17', 'iOS18', 'iOS26'] }, functions } },
  'sdpa-sliced-q': { type: 'object', additionalProperties: false, properties: { minSeqLength: int(0), seqLengthDivider: int(1), functions } },
  'dead-code-elimination': { type: 'object', additionalProperties: false, properties: { functions } },
  'canonicalize-quantized-lut': { type: 'object', additionalProperties: false, properties: {} },
};

const packagePathRule = { pattern: '\\.mlpackage/?$', description: 'an .mlpackage path (relative to the pipeline file)' };
const packagePath = { type: 'string', ...packagePathRule };

/** The schema of a whole pipeline file. */
export const PIPELINE_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'silica-pipeline.schema.json',
  title: 'Silica pipeline file',
  description: 'A source package, passes run in order, and a sink package (silica pipeline FILE.json).',
  type: 'object',
  required: ['version', 'source', 'passes', 'sink'],
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    version: { const: 1 },
    description: { type: 'string' },
    source: {
      type: ['string', 'object'],
      ...packagePathRule,
      required: ['path'],
      additionalProperties: false,
      properties: { path: packagePath },
    },
    passes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['pass'],
        additionalProperties: false,
        properties: {
          pass: { enum: Object.keys(PASS_OPTION_SCHEMAS) },
          options: { type: 'object' },
        },
        allOf: Object.entries(PASS_OPTION_SCHEMAS).map(([name, schema]) => ({
          if: { properties: { pass: { const: name } }, required: ['pass'] },
          then: { properties: { options: schema } },
        })),
      },
    },
    sink: {
      type: ['string', 'object'],
      ...packagePathRule,
      required: ['path'],
      additionalProperties: false,
      properties: {
        path: packagePath,
        overwrite: { type: 'boolean', description: 'replace an existing package (as --force)' },
        deterministic: { type: ['boolean', 'string'], description: 'fixed manifest identifiers (byte-identical output for the same input)' },
      },
    },
  },
} as const;
