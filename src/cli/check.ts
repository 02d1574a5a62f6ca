import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { errorMessage, ModelError, UsageError } from '../core/errors.ts';
import { judge, settingsOf, type Setting } from '../core/expectations.ts';
import type { AnyModel } from '../core/model.ts';
import type { Outcome } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import { exploreAsync } from '../explore/explore.ts';
import { formatCheckRows, formatCheckSummary, formatCoverageNote, type CheckRow } from '../report/check.ts';
import { coverageOf } from '../core/coverage.ts';
import { checkJunit } from '../report/junit.ts';
import { loadModel } from './load.ts';
import { OutputError, settingDir, writeCounterexamples } from './outputs.ts';
import { watchSignals, type Signals } from './signals.ts';
import { progressReporter, type ProgressFlags } from './progress.ts';
import type { IO } from './io.ts';
import { EXIT } from './io.ts';

export interface CheckFlags extends ProgressFlags {
  junit?: string;
  out: string;
  timeLimit?: number;
  svg?: boolean;
  html?: boolean;
}

const MODEL_FILE = /\.(ts|mts|js|mjs)$/;

/**
 * The model files named by the arguments: files as given; folders searched recursively for
 * .ts/.mts/.js/.mjs files, in sorted order, skipping declaration files, node_modules, and names
 * starting with `_` or `.` (the place for helpers that are not models). Every other file found
 * must be a model: a file that does not load is an error, not silently skipped.
 */
export function findModelFiles(args: readonly string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    const names = readdirSync(dir).sort();
    for (const n of names) {
      if (n.startsWith('.') || n.startsWith('_') || n === 'node_modules') continue;
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (MODEL_FILE.test(n) && !n.endsWith('.d.ts')) files.push(p);
    }
  };
  for (const a of args) {
    if (!existsSync(a)) throw new UsageError(`no such file or folder: ${a}`);
    if (statSync(a).isDirectory()) walk(a);
    else files.push(a);
  }
  if (files.length === 0) throw new UsageError(`no model files (.ts, .mts, .js, .mjs) in ${args.join(', ')}`);
  return [...new Set(files)];
}

function shellWord(s: string): string {
  return /^[\w./=,:+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The `mc verify` command that reproduces one setting of a model, with its bounds. */
export function reproduceCommand(file: string, setting: Setting, property?: string): string {
  const words = ['mc', 'verify', file];
  for (const [k, v] of Object.entries(setting.explicit as AnyParams)) words.push('--param', `${k}=${String(v)}`);
  if (property) words.push('--property', property);
  const b = setting.bounds;
  if (b?.maxStates !== undefined) words.push('--max-states', String(b.maxStates));
  if (b?.maxDepth !== undefined) words.push('--max-depth', String(b.maxDepth));
  if (b?.timeLimitSeconds !== undefined) words.push('--time-limit', String(b.timeLimitSeconds));
  return words.map(shellWord).join(' ');
}

/** Runs one setting and turns each checked property into a row. */
async function checkSetting(file: string, model: AnyModel, setting: Setting, flags: CheckFlags, io: IO, notes: string[], signals: Signals): Promise<CheckRow[]> {
  if (setting.properties.length === 0)
    return [{ file, model: model.name, setting: setting.label, status: 'skip', why: 'every property is declared unchecked: nothing to check' }];
  const b = setting.bounds ?? {};
  const timeLimit = [b.timeLimitSeconds, flags.timeLimit].filter((x): x is number => x !== undefined);
  let outcome: Outcome;
  const progress = progressReporter(io, flags, `${model.name} [${setting.label}]`);
  try {
    outcome = await exploreAsync(model, setting.params, {
      interrupted: signals.interrupted,
      properties: setting.properties,
      maxStates: b.maxStates,
      maxDepth: b.maxDepth,
      timeLimitSeconds: timeLimit.length ? Math.min(...timeLimit) : undefined,
      onProgress: progress.onProgress,
      coverage: true,
    });
  } catch (e) {
    if (!(e instanceof ModelError || e instanceof UsageError)) throw e;
    return [{ file, model: model.name, setting: setting.label, status: 'error', why: errorMessage(e), details: [`reproduce: ${reproduceCommand(file, setting)}`] }];
  } finally {
    progress.done();
  }
  if (outcome.stoppedBy?.kind === 'interrupted')
    return [{ file, model: model.name, setting: setting.label, status: 'skip', why: `interrupted by ${signals.signal()} after ${outcome.stats.states} states` }];
  let written: Awaited<ReturnType<typeof writeCounterexamples>>;
  try {
    const coverage = coverageOf(model, setting.params, outcome.fired ?? []);
    if (coverage.neverFired.length > 0 || coverage.undeclared.length > 0) notes.push(formatCoverageNote(`${model.name} [${setting.label}]`, coverage, outcome.complete));
    written = await writeCounterexamples(model, outcome, settingDir(flags.out, model, setting.params), file, reproduceCommand(file, setting), {
      svg: flags.svg,
      html: flags.html,
    });
  } catch (e) {
    if (!(e instanceof ModelError || e instanceof OutputError)) throw e;
    return [{ file, model: model.name, setting: setting.label, status: 'error', why: errorMessage(e), details: [`reproduce: ${reproduceCommand(file, setting)}`] }];
  }
  return outcome.properties.map((p) => {
    const j = judge(setting, p, outcome);
    const files = written.files[p.name] ?? [];
    return {
      file,
      model: model.name,
      setting: setting.label,
      property: p.name,
      status: j.pass ? 'pass' : 'fail',
      expected: j.expected,
      got: j.got,
      states: outcome.stats.states,
      elapsedMs: outcome.stats.elapsedMs,
      why: j.why,
      details: [...files.map((f) => `counterexample: ${f}`), `reproduce: ${reproduceCommand(file, setting, p.name)}`],
      counterexample: written.text[p.name],
    };
  });
}

/**
 * Checks every model file's declared expectations; prints one block per file and a summary.
 * Exit 0 when every result matches; 1 when some result does not; 2 when a file did not load or
 * a model broke its contract (that dominates mismatches: the results are then not all known).
 */
export async function check(args: readonly string[], flags: CheckFlags, io: IO): Promise<number> {
  const files = findModelFiles(args.length > 0 ? args : ['models']);
  const rows: CheckRow[] = [];
  const signals = watchSignals();
  /** Model name → the file that declared it: two files of one name would write over each other's counterexamples. */
  const names = new Map<string, string>();
  // An internal error still gets the summary and the JUnit file of what ran before it.
  let internal: unknown;
  try {
    await checkFiles(files, flags, io, rows, names, signals);
  } catch (e) {
    internal = e;
  } finally {
    signals.dispose();
  }
  io.out(`${formatCheckSummary(rows)}${signals.signal() ? ` (interrupted by ${signals.signal()}: the settings after it did not run)` : ''}\n`);
  if (flags.junit) {
    try {
      mkdirSync(dirname(flags.junit), { recursive: true });
      writeFileSync(flags.junit, checkJunit(rows));
      io.out(`junit: ${flags.junit}\n`);
    } catch (e) {
      io.err(`mc: cannot write the JUnit file ${flags.junit}: ${errorMessage(e)}\n`);
      return EXIT.usage;
    }
  }
  if (internal !== undefined) throw internal;
  if (signals.exitCode() !== undefined) return signals.exitCode()!;
  if (rows.some((r) => r.status === 'error')) return EXIT.usage;
  if (rows.some((r) => r.status === 'fail')) return EXIT.violated;
  return EXIT.holds;
}

async function checkFiles(files: readonly string[], flags: CheckFlags, io: IO, rows: CheckRow[], names: Map<string, string>, signals: Signals): Promise<void> {
  for (const file of files) {
    if (signals.interrupted()) return;
    const shown = relative(process.cwd(), file) || file;
    let model: AnyModel;
    try {
      model = await loadModel(file);
    } catch (e) {
      if (!(e instanceof ModelError || e instanceof UsageError)) throw e;
      const row: CheckRow = { file: shown, model: shown, setting: '', status: 'error', why: errorMessage(e) };
      rows.push(row);
      io.out(`${formatCheckRows([row])}\n`);
      continue;
    }
    const other = names.get(model.name);
    if (other !== undefined) {
      const row: CheckRow = { file: shown, model: model.name, setting: '', status: 'error', why: `model "${model.name}" is also declared by ${other}: two models of one name would write over each other's counterexamples in ${join(flags.out, model.name)}; rename one` };
      rows.push(row);
      io.out(`${formatCheckRows([row])}\n`);
      continue;
    }
    names.set(model.name, shown);
    const settings = settingsOf(model);
    const block: CheckRow[] = [];
    if (settings.length === 0)
      block.push({ file: shown, model: model.name, setting: '', status: 'skip', why: 'no expectations declared: nothing to check (add `expectations` to the model)' });
    const notes: string[] = [];
    for (const s of settings) {
      if (signals.interrupted()) break;
      block.push(...(await checkSetting(shown, model, s, flags, io, notes, signals)));
    }
    rows.push(...block);
    io.out(`${formatCheckRows(block)}\n${notes.map((n) => `${n}\n`).join('')}`);
  }
}
