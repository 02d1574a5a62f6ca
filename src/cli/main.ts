import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { errorMessage, ModelError, UsageError } from '../core/errors.ts';
import type { Outcome } from '../core/outcome.ts';
import { describeParamType, formatParams, resolveParams } from '../core/params.ts';
import { exploreAsync, type ExploreOptions } from '../explore/explore.ts';
import { exploreParallel } from '../explore/parallel.ts';
import { fairnessOf } from '../explore/liveness.ts';
import { isLiveness } from '../core/model.ts';
import { outcomeJson } from '../report/json.ts';
import { formatCounterexample, formatCoverage, formatHeader, formatResults, formatSummary } from '../report/text.ts';
import { coverageOf } from '../core/coverage.ts';
import { check, type CheckFlags } from './check.ts';
import { EXIT, processIO, type IO } from './io.ts';
import { loadModel } from './load.ts';
import { fileKind, modelLanes, OutputError, settingDir, writeCounterexamples, type Written } from './outputs.ts';
import { watchSignals } from './signals.ts';
import { progressReporter } from './progress.ts';
import { replayCommand, type ReplayFlags } from './replay.ts';
import { parseSeed, simulateCommand, type SimulateFlags } from './simulate.ts';

export { EXIT, type IO } from './io.ts';

interface VerifyFlags {
  property: string[];
  strategy: 'bfs' | 'dfs';
  param: string[];
  maxDepth?: number;
  maxStates?: number;
  timeLimit?: number;
  out: string;
  json: boolean;
  first: boolean;
  quiet: boolean;
  coverage: boolean;
  svg: boolean;
  html: boolean;
  fingerprint: boolean;
  maxMemory?: number;
  symmetry: boolean;
  por: boolean;
  workers: number;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function count(flag: string) {
  return (text: string): number => {
    if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`${flag} takes a non-negative integer, got "${text}"`);
    return Number(text);
  };
}

function positiveInt(flag: string) {
  return (text: string): number => {
    if (!/^\d+$/.test(text.trim()) || Number(text) < 1) throw new InvalidArgumentError(`${flag} takes a positive integer, got "${text}"`);
    return Number(text);
  };
}

function seconds(text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(`--time-limit takes a positive number of seconds, got "${text}"`);
  return v;
}

function exitCode(outcome: Outcome): number {
  return outcome.verdict === 'violated' ? EXIT.violated : outcome.verdict === 'incomplete' ? EXIT.incomplete : EXIT.holds;
}

async function verify(file: string, flags: VerifyFlags, io: IO): Promise<number> {
  const model = await loadModel(file);
  const params = resolveParams(model.params, flags.param, model.name);
  const options: ExploreOptions = {
    strategy: flags.strategy,
    properties: flags.property.length > 0 ? flags.property : undefined,
    maxDepth: flags.maxDepth,
    maxStates: flags.maxStates,
    timeLimitSeconds: flags.timeLimit,
    stopOnFirst: flags.first,
    fingerprint: flags.fingerprint,
    maxMemoryMiB: flags.maxMemory,
    symmetry: flags.symmetry,
    por: flags.por,
  };
  const progress = progressReporter(io, flags);
  const signals = watchSignals();
  let outcome: Outcome;
  try {
    const run = { ...options, onProgress: progress.onProgress, onNote: (note: string) => io.err(`mc: ${note}\n`), coverage: true, interrupted: signals.interrupted };
    outcome = flags.workers > 1 ? await exploreParallel(file, model, params, { ...run, workers: flags.workers }) : await exploreAsync(model, params, run);
  } finally {
    progress.done();
    signals.dispose();
  }
  if (outcome.stoppedBy?.kind === 'interrupted') outcome = { ...outcome, stoppedBy: { kind: 'interrupted', signal: signals.signal() } };
  const code = signals.exitCode() ?? exitCode(outcome);
  const reproduce = ['mc verify', file, ...flags.param.map((a) => `--param ${a}`)].join(' ');
  const coverage = coverageOf(model, params, outcome.fired ?? []);
  // The verdict is printed even when the counterexample files cannot be written.
  let written: Written = { files: {}, text: {} };
  let failed: string | undefined;
  try {
    written = await writeCounterexamples(model, outcome, settingDir(flags.out, model, params), file, reproduce, { svg: flags.svg, html: flags.html });
  } catch (e) {
    if (!(e instanceof OutputError)) throw e;
    failed = e.message;
  }
  if (flags.json) io.out(`${JSON.stringify(outcomeJson(outcome, written.files, coverage), null, 2)}\n`);
  else {
    const lanes = modelLanes(model, params);
    io.out(`${formatHeader(outcome)}\n${formatResults(outcome)}\n`);
    for (const p of outcome.properties) {
      if (!p.violation) continue;
      io.out(`\n${formatCounterexample(p, lanes)}\n${(written.files[p.name] ?? []).map((f) => `  ${fileKind(f)}: ${f}\n`).join('')}`);
    }
    io.out(`\n${formatSummary(outcome)}\n${formatCoverage(coverage, outcome.complete, flags.coverage)}\n`);
  }
  if (failed) {
    io.err(`mc: ${failed}\n`);
    return EXIT.usage;
  }
  return code;
}

async function list(file: string, io: IO): Promise<number> {
  const model = await loadModel(file);
  const lines: string[] = [`model ${model.name}${model.description ? `: ${model.description}` : ''}`, '', 'parameters:'];
  const params = Object.entries(model.params);
  if (params.length === 0) lines.push('  (none)');
  for (const [k, spec] of params) lines.push(`  ${k} = ${String(spec.default)}  (${describeParamType(spec)})${spec.doc ? `  ${spec.doc}` : ''}`);
  const variant = model.params.variant;
  if (variant?.type === 'enum') lines.push('', `variants: ${variant.values.join(', ')} (default ${variant.default})`);
  lines.push('', 'properties:');
  for (const p of model.properties) lines.push(`  ${p.name}  [${p.kind}]  ${p.description}`);
  if (model.properties.some(isLiveness)) {
    // The fairness the liveness properties run under: a function of the parameters is shown at the defaults.
    const f = fairnessOf(model, resolveParams(model.params, [], model.name));
    lines.push(
      '',
      `fairness${typeof model.fairness === 'function' ? ' (at the default parameters)' : ''}: lanes ${f.lanes ?? 'weak'}` +
        `${f.strong?.length ? `; strong: ${f.strong.join(', ')}` : ''}${f.finite?.length ? `; finitely often: ${f.finite.join(', ')}` : ''}`,
    );
  }
  lines.push('', 'expectations:');
  if (model.expectations.length === 0) lines.push('  (none declared)');
  for (const e of model.expectations) {
    const violated = e.violated ?? [];
    const unchecked = e.unchecked ?? [];
    const holds = model.properties.map((p) => p.name).filter((n) => !violated.includes(n) && !unchecked.includes(n));
    lines.push(`  [${formatParams(e.params as Record<string, string | number | boolean>) || 'defaults'}]`);
    if (violated.length) lines.push(`    violated: ${violated.join(', ')}`);
    if (holds.length) lines.push(`    holds:    ${holds.join(', ')}`);
    if (unchecked.length) lines.push(`    unchecked: ${unchecked.join(', ')}`);
    if (e.bounds) lines.push(`    bounds: ${Object.entries(e.bounds).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (e.note) lines.push(`    why: ${e.note}`);
  }
  io.out(`${lines.join('\n')}\n`);
  return EXIT.holds;
}

function program(io: IO, run: (p: Promise<number>) => void): Command {
  const prog = new Command('mc')
    .description('Explicit-state model checker for Linux-kernel concurrency designs')
    .option('--debug', 'print stack traces of errors')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showSuggestionAfterError(true);

  prog
    .command('verify')
    .description('explore every interleaving of a model and check its properties')
    .argument('<model-file>', 'a model file, such as models/kfree_nolock.ts')
    .option('--property <name>', 'check only this property (repeatable); default: all', collect, [])
    .addOption(new Option('--strategy <strategy>', 'bfs finds shortest counterexamples; dfs goes deep first').choices(['bfs', 'dfs']).default('bfs'))
    .option('--param <name=value>', 'set a model parameter (repeatable)', collect, [])
    .option('--max-depth <n>', 'do not expand states at this depth (the run is then incomplete)', count('--max-depth'))
    .option('--max-states <n>', 'store at most this many distinct states', count('--max-states'))
    .option('--time-limit <seconds>', 'stop after this many seconds', seconds)
    .option('--first', 'stop at the first violation instead of deciding every property', false)
    .option('--fingerprint', 'store 64-bit state fingerprints instead of whole states: less memory, a small reported chance of missing states', false)
    .option('--max-memory <MiB>', 'stop (incomplete) when the state store, frontier and heap exceed this many MiB', count('--max-memory'))
    .option('--symmetry', "store one state per orbit of the model's interchangeable lanes (Model.symmetry)", false)
    .option('--por', 'partial-order reduction over transitions declared local', false)
    .option('--workers <n>', 'expand states in n worker threads (BFS; same states and counterexamples as one)', positiveInt('--workers'), 1)
    .option('--out <dir>', 'where counterexample graphs are written', 'out')
    .option('--json', 'print the outcome as JSON', false)
    .option('--quiet', 'no progress lines on stderr', false)
    .option('--coverage', 'list every action with the number of times it fired', false)
    .option('--svg', 'also render each counterexample graph to SVG (in-process, no Graphviz needed)', false)
    .option('--html', 'also write a self-contained HTML report per counterexample', false)
    .action((file: string, flags: VerifyFlags) => run(verify(file, flags, io)));

  prog
    .command('check')
    .description("check every model's declared expectations (for CI): one line per model, setting and property")
    .argument('[paths...]', 'model files or folders searched for them', ['models'])
    .option('--junit <file>', 'also write the results as JUnit XML')
    .option('--out <dir>', 'where counterexamples are written', 'out')
    .option('--time-limit <seconds>', 'stop each run after this many seconds (an unbounded run that stops fails)', seconds)
    .option('--quiet', 'no progress lines on stderr', false)
    .option('--svg', 'also render each counterexample graph to SVG', false)
    .option('--html', 'also write a self-contained HTML report per counterexample', false)
    .action((paths: string[], flags: CheckFlags) => run(check(paths, flags, io)));

  prog
    .command('replay')
    .description('re-check a saved ITF trace (.itf.json) against a model, step by step, and say where it stops matching')
    .argument('<trace-file>', 'an ITF trace, such as out/peterson/variant=turn-first/mutual-exclusion.itf.json')
    .argument('<model-file>', 'the model file to replay it against')
    .option('--param <name=value>', "set a model parameter (repeatable); default: the trace's own", collect, [])
    .option('--property <name>', 'check only this property (repeatable); default: all', collect, [])
    .action((trace: string, file: string, flags: ReplayFlags) => run(replayCommand(trace, file, flags, io)));

  prog
    .command('simulate')
    .description('random walks through a model too big to explore, printing the seed that reproduces any violation')
    .argument('<model-file>', 'a model file')
    .option('--param <name=value>', 'set a model parameter (repeatable)', collect, [])
    .option('--property <name>', 'check only this property (repeatable); default: all', collect, [])
    .option('--seed <n>', 'seed of the first run (run i uses seed + i); default: a random one, printed', parseSeed)
    .option('--runs <n>', 'number of runs', count('--runs'), 1000)
    .option('--depth <n>', 'steps per run at most', count('--depth'), 100)
    .option('--out <dir>', 'where a counterexample is written', 'out')
    .option('--svg', 'also render the counterexample graph to SVG', false)
    .option('--html', 'also write a self-contained HTML report of the counterexample', false)
    .action((file: string, flags: SimulateFlags) => run(simulateCommand(file, flags, io)));

  prog
    .command('list')
    .description("show a model's parameters, variants, properties and expectations")
    .argument('<model-file>', 'a model file')
    .action((file: string) => run(list(file, io)));
  return prog;
}

/** Runs the CLI on `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: IO = processIO): Promise<number> {
  const debug = argv.includes('--debug');
  let pending: Promise<number> | undefined;
  try {
    program(io, (p) => {
      pending = p;
    }).parse([...argv], { from: 'user' });
    return pending ? await pending : EXIT.usage;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has printed its message; help and version are not errors.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : EXIT.usage;
    }
    const known = e instanceof UsageError || e instanceof ModelError;
    io.err(`mc: ${known ? '' : 'internal error: '}${errorMessage(e)}\n`);
    if (debug && e instanceof Error) io.err(`${e.stack}\n${e.cause instanceof Error ? `caused by: ${e.cause.stack}\n` : ''}`);
    else if (!known) io.err('mc: run again with --debug for the stack trace\n');
    return EXIT.usage;
  }
}
