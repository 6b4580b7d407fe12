/**
 * The `silica` command line: argument parsing (commander), dispatch to the commands,
 * and the mapping of every failure to a message and an exit code (errors.ts).
 *
 * Commands are imported when they run, so `--help` and `--version` load no Silica package.
 *
 * `runCli(argv, io)` never exits the process; it returns the exit code, so tests call it
 * in-process with collecting streams, and `bin/silica.js` sets `process.exitCode`.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT, EXIT_CODE_TABLE, type ExitCode, exitCodeOf, messageOf } from './errors.js';
import { type CliIO, type GlobalFlags, Ui, jsonReplacer } from './ui.js';
import { VERSION } from './version.js';

function int(name: string, min = 0): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\s*[-+]?\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}, got "${v}"`);
    return n;
  };
}

function num(name: string, min = -Infinity, max = Infinity): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a number${Number.isFinite(min) ? ` ≥ ${min}` : ''}${Number.isFinite(max) ? ` and ≤ ${max}` : ''}, got "${v}"`);
    }
    return n;
  };
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
const list = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

/** `--check` alone = 4 steps; `--check 10` = 10. */
const checkSteps = (v: string): number => int('--check', 1)(v);

function defaultIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

const EXIT_HELP = `
Exit codes:
${EXIT_CODE_TABLE.map(([code, name, what]) => `  ${String(code).padStart(3)}  ${name}${what ? ` — ${what}` : ''}`).join('\n')}

Run "silica <command> --help" for a command's options. Quick start: "silica demo".`;

/** Runs the CLI on `argv` (without the node and script paths) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIO = defaultIO()): Promise<ExitCode> {
  let ui: Ui | undefined;
  let commandName = '';
  const uiFor = (cmd: Command): Ui => {
    const o = cmd.optsWithGlobals() as Partial<GlobalFlags>;
    ui = new Ui(io, { quiet: o.quiet === true, json: o.json === true, verbose: o.verbose === true });
    commandName = cmd.name();
    return ui;
  };
  const commandLine = `silica ${argv.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ')}`;

  const program = new Command('silica')
    .description('Core ML post-conversion tooling for Node: inspect, compress, stateful KV cache, SDPA fusion, multifunction merge, run and evaluate .mlpackage models')
    .version(VERSION, '-V, --version', 'print the version')
    .option('--json', 'print one machine-readable JSON document on stdout instead of text')
    .option('-q, --quiet', 'no progress, notes or warnings (results and errors only)')
    .option('-v, --verbose', 'debug notes and stack traces')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`${s.trimEnd()}\n(run "silica --help" or "silica <command> --help" for usage)\n`),
    })
    .addHelpText('after', EXIT_HELP);

  program
    .command('demo')
    .description('build a small decoder with explicit KV caches, run stateful-rewrite → sdpa-fusion → int4 quantization, write every stage, and compare them')
    .option('--out <dir>', 'where the packages go', 'silica-demo')
    .option('--force', 'replace the packages of an earlier demo in that folder')
    .option('--layers <n>', 'decoder layers', int('--layers', 1), 2)
    .option('--d-model <n>', 'model width (a multiple of 32)', int('--d-model', 32), 128)
    .option('--heads <n>', 'attention heads', int('--heads', 1), 4)
    .option('--cache <n>', 'KV-cache positions', int('--cache', 1), 64)
    .option('--vocab <n>', 'vocabulary (logits) size', int('--vocab', 1), 256)
    .option('--steps <n>', 'decode steps to compare and time', int('--steps', 1), 8)
    .option('--seed <n>', 'seed of the weights and inputs', int('--seed', 0), 1)
    .action(async (o, cmd: Command) => {
      await (await import('./commands/demo.js')).demoCommand(uiFor(cmd), o);
    });

  program
    .command('inspect')
    .description('describe a package: target, functions, inputs/outputs/states, ops, weights by dtype and compression kind, size, and what could still be done')
    .argument('<package>', 'an .mlpackage')
    .option('--all-weights', 'list every weight (default: the 10 largest)')
    .option('--weight-threshold <n>', 'weights with more elements count as compressible', int('--weight-threshold'), 2048)
    .action(async (pkg: string, o, cmd: Command) => {
      await (await import('./commands/inspect.js')).inspectCommand(uiFor(cmd), { pkg, allWeights: o.allWeights, weightThreshold: o.weightThreshold });
    });

  program
    .command('compress')
    .description('compress the weights: quantize, palettize, prune, joint combinations, or calibrated (GPTQ, SparseGPT, sensitive k-means, mixed-bit)')
    .argument('<package>', 'the .mlpackage to compress (never modified)')
    .requiredOption('-o, --out <package>', 'the compressed .mlpackage to write')
    .option('--force', 'replace the output (and report/pipeline files) if they exist')
    .option('--quantize <dtype>', 'linear quantization: int8, uint8, int4, uint4 (4-bit needs iOS18)')
    .option('--quant-mode <mode>', 'linear-symmetric (default) or linear (affine)')
    .option('--granularity <g>', 'per-tensor, per-channel, per-block (quantize) or per-grouped-channel (palettize)')
    .option('--block-size <n>', 'quantize per-block: block size along the input axis (implies per-block)', int('--block-size', 1))
    .option('--palettize <bits>', 'palettization with 2^bits-entry LUTs: 1, 2, 3, 4, 6, 8', int('--palettize', 1))
    .option('--lut-mode <mode>', 'kmeans (default, optimal 1-D), uniform, unique')
    .option('--group-size <n>', 'one LUT per group of this many channels (implies per-grouped-channel, iOS18)', int('--group-size', 1))
    .option('--cluster-dim <n>', 'vector palettization: LUT entries of this length (iOS18)', int('--cluster-dim', 1))
    .option('--per-channel-scale', 'palettize w / max|w| per channel (iOS18)')
    .option('--prune <sparsity>', 'magnitude pruning: the fraction of weights to zero, e.g. 0.5', num('--prune', 0, 1))
    .option('--nm <n:m>', 'structured n:m pruning: zero n of every m consecutive weights, e.g. 2:4')
    .option('--prune-block-size <n>', 'with --prune: zero whole blocks of this many channels', int('--prune-block-size', 2))
    .option('--joint', 'joint compression (iOS18): let a later compression compress what an earlier one made, or compress an already-compressed model')
    .option('--weight-threshold <n>', 'only weights with more elements are compressed (default 2048)', int('--weight-threshold'))
    .option('--op-type <type:spec>', 'per-op-type override, e.g. conv:skip, linear:int8, linear:palettize/nbits=6 (repeatable)', collect)
    .option('--op-name <name:spec>', 'per-op-name override, e.g. lm_head_weight:int8 (repeatable)', collect)
    .option('--calibrate <dir>', 'calibrated compression with the samples in this folder (.npz per sample, or <input>.npy)')
    .option('--algorithm <name>', 'with --calibrate: gptq (quantize), sparsegpt (prune), sensitive-kmeans or mixed-bit (palettize)')
    .option('--samples <n>', 'with --calibrate: use at most this many samples (default 128)', int('--samples', 1))
    .option('--target-bpw <bits>', 'mixed-bit palettization: at most this many bits per weight', num('--target-bpw', 0))
    .option('--min-psnr <db>', 'mixed-bit palettization: the smallest model with at least this output PSNR', num('--min-psnr'))
    .option('--act-order', 'GPTQ: quantize columns by decreasing Hessian diagonal')
    .option('--workers <n>', 'worker threads for the per-weight math (0 = main thread)', int('--workers'))
    .option('--report <file.html>', 'write a self-contained HTML report (sizes, bits, SNR per layer, weight histograms)')
    .option('--report-layers <names>', 'weights to draw histograms of in the report (comma-separated)', list)
    .option('--save-pipeline <file.json>', 'also write the equivalent pipeline file (silica pipeline runs it)')
    .option('--deterministic', 'fixed manifest identifiers: the same input gives a byte-identical package')
    .addHelpText(
      'after',
      `
Examples:
  silica compress Model.mlpackage -o Model-int4.mlpackage --quantize int4 --granularity per-block --block-size 32
  silica compress Model.mlpackage -o Model-4bit.mlpackage --palettize 4 --group-size 16 --report report.html
  silica compress Model.mlpackage -o Model-sparse.mlpackage --prune 0.5 --palettize 4 --joint
  silica compress Model.mlpackage -o Model-2of4.mlpackage --nm 2:4 --op-type conv:skip
  silica compress Model.mlpackage -o Model-gptq.mlpackage --quantize int4 --block-size 32 --calibrate calib/

Overrides (--op-type / --op-name) are complete configs: what they do not set takes the
pass's default (the weight threshold comes from --weight-threshold). "skip" leaves the
weights alone.`,
    )
    .action(async (pkg: string, o, cmd: Command) => {
      await (await import('./commands/compress.js')).compressCommand(uiFor(cmd), {
        pkg,
        out: o.out,
        force: o.force === true,
        quantize: o.quantize,
        quantMode: o.quantMode,
        granularity: o.granularity,
        blockSize: o.blockSize,
        palettize: o.palettize,
        lutMode: o.lutMode,
        groupSize: o.groupSize,
        clusterDim: o.clusterDim,
        perChannelScale: o.perChannelScale,
        prune: o.prune,
        nm: o.nm,
        pruneBlockSize: o.pruneBlockSize,
        joint: o.joint,
        weightThreshold: o.weightThreshold,
        opType: o.opType,
        opName: o.opName,
        calibrate: o.calibrate,
        algorithm: o.algorithm,
        samples: o.samples,
        targetBpw: o.targetBpw,
        minPsnr: o.minPsnr,
        actOrder: o.actOrder,
        workers: o.workers,
        report: o.report,
        reportLayers: o.reportLayers,
        savePipeline: o.savePipeline,
        deterministic: o.deterministic,
        commandLine,
      });
    });

  const checkOptions = (c: Command): Command =>
    c
      .addOption(new Option('--check [steps]', 'run the original and the result in the interpreter on seeded random inputs (default 4 steps); exit 4 and write nothing if they differ').argParser(checkSteps))
      .option('--tolerance <x>', 'largest relative L2 error --check accepts per output', num('--tolerance', 0), 1e-2)
      .option('--seed <n>', 'seed of the --check inputs', int('--seed'), 0);

  checkOptions(
    program
      .command('stateful')
      .description('turn explicit KV-cache inputs/outputs into Core ML states (read_state → slice_update → write_state)')
      .argument('<package>', 'the .mlpackage with cache inputs and outputs')
      .requiredOption('-o, --out <package>', 'the stateful .mlpackage to write')
      .option('--force', 'replace the output if it exists')
      .option('--state <input:output[:axis]>', 'a pair to convert (repeatable; default: detect them)', collect)
      .option('--pad-to <n>', 'pad each state\'s sequence axis to a multiple of n (32 for the Neural Engine); outputs are unchanged', int('--pad-to', 1))
      .option('--allow-target-raise', 'raise a program below iOS18 to iOS18 (states need it)')
      .option('--convert-dtype', 'turn fp32 caches into fp16 states with casts at the boundary'),
  ).action(async (pkg: string, o, cmd: Command) => {
    await (await import('./commands/transform.js')).statefulCommand(uiFor(cmd), {
      pkg,
      out: o.out,
      force: o.force === true,
      state: o.state,
      padTo: o.padTo,
      allowTargetRaise: o.allowTargetRaise,
      convertDtype: o.convertDtype,
      check: o.check === true ? 4 : o.check,
      tolerance: o.tolerance,
      seed: o.seed,
    });
  });

  checkOptions(
    program
      .command('fuse-sdpa')
      .description('fuse decomposed attention (matmul → scale → mask → softmax → matmul) into scaled_dot_product_attention (iOS18)')
      .argument('<package>', 'the .mlpackage with decomposed attention')
      .requiredOption('-o, --out <package>', 'the fused .mlpackage to write')
      .option('--force', 'replace the output if it exists')
      .option('--function <name>', 'only this function (repeatable; default: every function)', collect)
      .option('--keep-float-masks', 'hand SDPA the additive float mask instead of recovering the bool mask behind (1 − m)·−3e4')
      .option('--sliced-q <min-length>', 'also compute SDPA with a query of at least this many positions in 16 chunks', int('--sliced-q', 0)),
  ).action(async (pkg: string, o, cmd: Command) => {
    await (await import('./commands/transform.js')).fuseCommand(uiFor(cmd), {
      pkg,
      out: o.out,
      force: o.force === true,
      functions: o.function,
      keepFloatMasks: o.keepFloatMasks,
      slicedQ: o.slicedQ,
      check: o.check === true ? 4 : o.check,
      tolerance: o.tolerance,
      seed: o.seed,
    });
  });

  program
    .command('merge')
    .description('merge functions of several packages into one multifunction package that stores shared weights once')
    .argument('<items...>', 'PACKAGE.mlpackage[:FUNCTION][=NAME], e.g. base.mlpackage:main=base')
    .requiredOption('-o, --out <package>', 'the multifunction .mlpackage to write')
    .option('--force', 'replace the output if it exists')
    .option('--default <name>', 'the function Core ML runs when none is named (default: the first)')
    .option('--share-by-value', 'also share weights whose decompressed values are equal although stored differently')
    .action(async (items: string[], o, cmd: Command) => {
      await (await import('./commands/merge.js')).mergeCommand(uiFor(cmd), { items, out: o.out, force: o.force === true, default: o.default, shareByValue: o.shareByValue });
    });

  program
    .command('run')
    .description('run a package in the reference interpreter and print (or save) its outputs')
    .argument('<package>', 'the .mlpackage to run')
    .option('--input <name=file.npy>', 'an input from a .npy file (repeatable)', collect)
    .option('--inputs <file.npz|dir>', 'inputs from an .npz, or a folder of <input>.npy files or .npz samples (the first is used)')
    .option('--random-inputs', 'seeded random data for the inputs not given')
    .option('--seed <n>', 'seed of --random-inputs', int('--seed'), 0)
    .option('--function <name>', 'the function to run (default: the default function)')
    .option('--steps <n>', 'run this many times, states kept between runs', int('--steps', 1), 1)
    .option('--feed <output=input>', 'feed an output back into an input between steps (explicit caches; repeatable)', collect)
    .option('--out <dir>', 'write the outputs (and states) of the last step as .npy files here')
    .option('--force', 'write into --out even if it exists')
    .action(async (pkg: string, o, cmd: Command) => {
      await (await import('./commands/run.js')).runCommand(uiFor(cmd), { pkg, input: o.input, inputs: o.inputs, randomInputs: o.randomInputs, seed: o.seed, function: o.function, steps: o.steps, feed: o.feed, out: o.out, force: o.force });
    });

  program
    .command('eval')
    .description('compare a package against the original on the same inputs: SNR, PSNR, cosine, relative L2 per output')
    .argument('<original>', 'the reference .mlpackage')
    .argument('<compressed>', 'the .mlpackage to evaluate')
    .option('--samples <n>', 'samples (or decode steps) to run (default 8, or every file of --inputs)', int('--samples', 1))
    .option('--inputs <dir|file.npz>', 'inputs: a folder of .npz samples or <input>.npy files, or one .npz (default: random, seeded)')
    .option('--seed <n>', 'seed of the random inputs', int('--seed'), 0)
    .option('--function <name>', 'function to compare (default: the default function)')
    .option('--function-b <name>', 'function of the second package, when it is named differently')
    .option('--min-snr <db>', 'exit with code 4 when an output\'s SNR is lower', num('--min-snr'))
    .option('--min-cosine <x>', 'exit with code 4 when an output\'s cosine similarity is lower', num('--min-cosine', -1, 1))
    .option('--logits <output>', 'also compare this output as logits (KL divergence of the softmax; repeatable)', collect)
    .action(async (reference: string, test: string, o, cmd: Command) => {
      await (await import('./commands/eval.js')).evalCommand(uiFor(cmd), { reference, test, samples: o.samples, inputs: o.inputs, seed: o.seed, function: o.function, functionB: o.functionB, minSnr: o.minSnr, minCosine: o.minCosine, logits: o.logits });
    });

  program
    .command('pipeline')
    .description('run a pipeline file: a source package, passes with options, a sink package (JSON, checked against a schema)')
    .argument('[file]', 'the pipeline .json file')
    .option('--force', 'replace the sink package if it exists')
    .option('--dry-run', 'check the file and build the passes; read and write nothing')
    .option('--schema', 'print the JSON Schema of pipeline files and exit')
    .action(async (file: string | undefined, o, cmd: Command) => {
      await (await import('./commands/pipeline.js')).pipelineCommand(uiFor(cmd), { file, force: o.force === true, dryRun: o.dryRun, schema: o.schema });
    });

  program
    .command('bench')
    .description('run the benchmark suites of a Silica checkout (benchmarks/run.ts) and print the table')
    .argument('[suites...]', 'suites whose name contains one of these (default: all)')
    .option('--quick', 'small sizes, print only (nothing recorded)')
    .option('--list', 'list the suites')
    .action(async (suites: string[], o, cmd: Command) => {
      await (await import('./commands/bench.js')).benchCommand(uiFor(cmd), { suites, quick: o.quick, list: o.list });
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok;
      if (e.code === 'commander.help' || e.code === 'commander.executeSubCommandAsync') return EXIT.usage;
      return EXIT.usage;
    }
    const code = exitCodeOf(e);
    const out = ui ?? new Ui(io, { quiet: false, json: argv.includes('--json'), verbose: argv.includes('--verbose') || argv.includes('-v') });
    report(out, e, code, commandName);
    return code;
  }
}

const KIND: Readonly<Record<number, string>> = Object.fromEntries(EXIT_CODE_TABLE.map(([c, n]) => [c, n]));

function report(ui: Ui, e: unknown, code: ExitCode, command: string): void {
  const message = messageOf(e);
  if (ui.flags.json) {
    ui.io.stdout.write(`${JSON.stringify({ command, error: { message, exitCode: code, kind: KIND[code] } }, jsonReplacer, 2)}\n`);
  }
  if (code === EXIT.interrupted) {
    ui.error('interrupted');
    return;
  }
  ui.error(`error: ${message}`);
  if (ui.flags.verbose && e instanceof Error && e.stack) {
    ui.error(e.stack);
    let cause = (e as { cause?: unknown }).cause;
    while (cause instanceof Error) {
      ui.error(`caused by: ${cause.stack ?? cause.message}`);
      cause = (cause as { cause?: unknown }).cause;
    }
  } else if (code === EXIT.internal) {
    ui.error('this looks like a bug in Silica: rerun with --verbose and report the stack trace');
  }
}
