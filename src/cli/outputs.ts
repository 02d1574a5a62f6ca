import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { errorMessage, ModelError, modelFailure } from '../core/errors.ts';
import { NAME, type AnyModel } from '../core/model.ts';
import type { Outcome } from '../core/outcome.ts';
import { formatParams, type AnyParams, type ParamSpecs } from '../core/params.ts';

/** What writeCounterexamples needs of an outcome: a simulation provides it too. */
type Findings = Pick<Outcome, 'params' | 'properties'>;
import { counterexampleDot } from '../report/dot.ts';
import { counterexampleHtml } from '../report/html.ts';
import { counterexampleItf } from '../report/itf.ts';
import { dotToSvg } from '../report/svg.ts';
import { formatCounterexample } from '../report/text.ts';

export interface Written {
  /** Property → the files written for its counterexample, in a fixed order. */
  readonly files: Readonly<Record<string, readonly string[]>>;
  /** Property → its counterexample as text (as `mc verify` prints it). */
  readonly text: Readonly<Record<string, string>>;
}

export interface WriteOptions {
  /** Also render the graph to `<property>.svg`. */
  readonly svg?: boolean;
  /** Also write the self-contained report `<property>.html` (with the graph inlined). */
  readonly html?: boolean;
}

/** The kinds of files mc writes for a counterexample: what it clears from a setting's folder before it writes. */
const OUTPUTS = ['.dot', '.itf.json', '.svg', '.html'];

/** A file system error as one sentence: what could not be done, where, and why. */
export class OutputError extends Error {
  override name = 'OutputError';
}

function reason(e: unknown): string {
  const code = (e as { code?: string })?.code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder';
    case 'EISDIR':
      return 'it is a folder';
    case 'ENOENT':
      return 'no such folder, and it cannot be created there';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EROFS':
      return 'the file system is read-only';
    default:
      return errorMessage(e);
  }
}

/**
 * mkdir -p, one folder at a time (Node's recursive mkdir loops forever under /proc, where
 * creating a folder fails with an error it retries).
 */
function makeDir(dir: string): void {
  const path = resolve(dir);
  if (existsSync(path)) {
    if (!statSync(path).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    return;
  }
  makeDir(dirname(path));
  mkdirSync(path);
}

/** The folder of one model and parameter setting: `out/<model>/<param>=<value>,…`, so that settings do not overwrite each other. */
export function settingDir(out: string, model: AnyModel, params: AnyParams): string {
  checkName(model.name, 'model');
  const slug = formatParams(params, model.params as ParamSpecs).replace(/ /g, ',').replace(/[^\w.,=+-]/g, '_');
  return join(out, model.name, slug || 'defaults');
}

/** A model or property name as it names a file: refused when it is not a plain name (`../x` set after defineModel). */
function checkName(name: string, what: string): void {
  if (typeof name !== 'string' || !NAME.test(name)) throw new ModelError(`${what} name ${JSON.stringify(name)} cannot name an output file: it must match ${NAME}`);
}

/**
 * Writes each counterexample of an outcome under `dir` as `<property>.dot` (Graphviz) and
 * `<property>.itf.json` (the trace, for `mc replay` and ITF viewers), with the options
 * `<property>.svg` and `<property>.html`, and returns what it wrote. `source` is the model
 * file; `reproduce` the command that gives the same outcome again.
 */
export async function writeCounterexamples(
  model: AnyModel,
  outcome: Findings,
  dir: string,
  source: string,
  reproduce: string,
  options: WriteOptions = {},
): Promise<Written> {
  const files: Record<string, string[]> = {};
  const text: Record<string, string> = {};
  const lanes = modelLanes(model, outcome.params);
  for (const p of outcome.properties) checkName(p.name, 'property');
  try {
    // What an earlier run of this setting wrote goes first: a run that holds leaves no stale trace.
    if (existsSync(dir)) for (const f of readdirSync(dir)) if (OUTPUTS.some((x) => f.endsWith(x))) rmSync(join(dir, f), { force: true });
  } catch (e) {
    throw new OutputError(`cannot clear ${dir}: ${reason(e)}`);
  }
  for (const p of outcome.properties) {
    if (!p.violation) continue;
    try {
      makeDir(dir);
    } catch (e) {
      throw new OutputError(`cannot write counterexamples to ${dir}: ${reason(e)}`);
    }
    const base = join(dir, p.name);
    const dot = counterexampleDot(model.name, outcome.params, p, lanes);
    const write = (file: string, content: string) => {
      try {
        writeFileSync(file, content);
      } catch (e) {
        throw new OutputError(`cannot write ${file}: ${reason(e)}`);
      }
    };
    write(`${base}.dot`, dot);
    write(`${base}.itf.json`, counterexampleItf(model.name, outcome.params, p, { source, reproduce }));
    const mine = [`${base}.dot`, `${base}.itf.json`];
    const svg = options.svg || options.html ? await dotToSvg(dot) : undefined;
    if (options.svg && svg) {
      write(`${base}.svg`, svg);
      mine.push(`${base}.svg`);
    }
    if (options.html) {
      const html = counterexampleHtml({
        model: model.name,
        description: model.description,
        params: outcome.params,
        result: p,
        lanes,
        reproduce,
        itfFile: `${base}.itf.json`,
        modelFile: source,
        svg,
      });
      write(`${base}.html`, html);
      mine.push(`${base}.html`);
    }
    files[p.name] = mine;
    text[p.name] = formatCounterexample(p, lanes);
  }
  return { files, text };
}

/** The model's lanes in display order; a lanes() that throws is the model's error, named so. */
export function modelLanes(model: AnyModel, params: AnyParams): readonly string[] {
  try {
    return model.lanes?.(params) ?? [];
  } catch (e) {
    throw modelFailure(`model "${model.name}": lanes() threw`, e);
  }
}

/** What a written file is, as the CLI names it: `graph: out/x/p.dot`. */
export function fileKind(path: string): string {
  if (path.endsWith('.dot')) return 'graph';
  if (path.endsWith('.itf.json')) return 'trace';
  if (path.endsWith('.svg')) return 'svg';
  if (path.endsWith('.html')) return 'report';
  return 'file';
}
