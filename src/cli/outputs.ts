import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AnyModel } from '../core/model.ts';
import type { Outcome } from '../core/outcome.ts';

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
  const lanes = model.lanes?.(outcome.params) ?? [];
  for (const p of outcome.properties) {
    if (!p.violation) continue;
    mkdirSync(dir, { recursive: true });
    const base = join(dir, p.name);
    const dot = counterexampleDot(model.name, outcome.params, p, lanes);
    writeFileSync(`${base}.dot`, dot);
    writeFileSync(`${base}.itf.json`, counterexampleItf(model.name, outcome.params, p, { source, reproduce }));
    const mine = [`${base}.dot`, `${base}.itf.json`];
    const svg = options.svg || options.html ? await dotToSvg(dot) : undefined;
    if (options.svg && svg) {
      writeFileSync(`${base}.svg`, svg);
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
      writeFileSync(`${base}.html`, html);
      mine.push(`${base}.html`);
    }
    files[p.name] = mine;
    text[p.name] = formatCounterexample(p, lanes);
  }
  return { files, text };
}

/** What a written file is, as the CLI names it: `graph: out/x/p.dot`. */
export function fileKind(path: string): string {
  if (path.endsWith('.dot')) return 'graph';
  if (path.endsWith('.itf.json')) return 'trace';
  if (path.endsWith('.svg')) return 'svg';
  if (path.endsWith('.html')) return 'report';
  return 'file';
}
