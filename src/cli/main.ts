import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ModelError, UsageError } from '../core/errors.ts';
import type { AnyModel } from '../core/model.ts';
import type { Outcome } from '../core/outcome.ts';
import { describeParamType, formatParams, resolveParams } from '../core/params.ts';
import { explore, type ExploreOptions } from '../explore/explore.ts';
import { counterexampleDot } from '../report/dot.ts';
import { outcomeJson } from '../report/json.ts';
import { formatCounterexample, formatHeader, formatResults, formatSummary } from '../report/text.ts';
import { loadModel } from './load.ts';

export interface IO {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const processIO: IO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** Exit codes, as documented in the README. */
export const EXIT = { holds: 0, violated: 1, usage: 2, incomplete: 3 } as const;

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
  fingerprint: boolean;
  maxMemory?: number;
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

function seconds(text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(`--time-limit takes a positive number of seconds, got "${text}"`);
  return v;
}

/** Writes each counterexample as `<out>/<model>/<property>.dot`; returns property → path. */
function writeGraphs(model: AnyModel, outcome: Outcome, outDir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const lanes = model.lanes?.(outcome.params) ?? [];
  for (const p of outcome.properties) {
    if (!p.violation) continue;
    const dir = join(outDir, model.name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${p.name}.dot`);
    writeFileSync(file, counterexampleDot(model.name, outcome.params, p, lanes));
    files[p.name] = file;
  }
  return files;
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
  };
  const outcome = explore(model, params, options);
  const files = writeGraphs(model, outcome, flags.out);
  if (flags.json) {
    io.out(`${JSON.stringify(outcomeJson(outcome, files), null, 2)}\n`);
    return exitCode(outcome);
  }
  const lanes = model.lanes?.(params) ?? [];
  io.out(`${formatHeader(outcome)}\n${formatResults(outcome)}\n`);
  for (const p of outcome.properties) {
    if (!p.violation) continue;
    io.out(`\n${formatCounterexample(p, lanes)}\n  graph: ${files[p.name]}\n`);
  }
  io.out(`\n${formatSummary(outcome)}\n`);
  return exitCode(outcome);
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
    .option('--out <dir>', 'where counterexample graphs are written', 'out')
    .option('--json', 'print the outcome as JSON', false)
    .action((file: string, flags: VerifyFlags) => run(verify(file, flags, io)));

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
    io.err(`mc: ${known ? '' : 'internal error: '}${e instanceof Error ? e.message : String(e)}\n`);
    if (debug && e instanceof Error) io.err(`${e.stack}\n${e.cause instanceof Error ? `caused by: ${e.cause.stack}\n` : ''}`);
    else if (!known) io.err('mc: run again with --debug for the stack trace\n');
    return EXIT.usage;
  }
}
