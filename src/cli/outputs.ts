import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AnyModel } from '../core/model.ts';
import type { Outcome } from '../core/outcome.ts';
import { counterexampleDot } from '../report/dot.ts';
import { counterexampleItf } from '../report/itf.ts';
import { formatCounterexample } from '../report/text.ts';

export interface Written {
  /** Property → the files written for its counterexample, in a fixed order. */
  readonly files: Readonly<Record<string, readonly string[]>>;
  /** Property → its counterexample as text (as `mc verify` prints it). */
  readonly text: Readonly<Record<string, string>>;
}

/**
 * Writes each counterexample of an outcome under `dir` as `<property>.dot` (Graphviz) and
 * `<property>.itf.json` (the trace, for `mc replay` and ITF viewers) and returns what it wrote.
 * `source` is the model file; `reproduce` the command that gives the same outcome again.
 */
export function writeCounterexamples(model: AnyModel, outcome: Outcome, dir: string, source: string, reproduce: string): Written {
  const files: Record<string, string[]> = {};
  const text: Record<string, string> = {};
  const lanes = model.lanes?.(outcome.params) ?? [];
  for (const p of outcome.properties) {
    if (!p.violation) continue;
    mkdirSync(dir, { recursive: true });
    const base = join(dir, p.name);
    writeFileSync(`${base}.dot`, counterexampleDot(model.name, outcome.params, p, lanes));
    writeFileSync(`${base}.itf.json`, counterexampleItf(model.name, outcome.params, p, { source, reproduce }));
    files[p.name] = [`${base}.dot`, `${base}.itf.json`];
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
