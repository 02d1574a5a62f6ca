import type { Trace } from '../core/outcome.ts';
import { diffShown, flattenShown, summarizeShown } from '../core/show.ts';

export interface FieldChange {
  readonly path: string;
  readonly from: string | undefined;
  readonly to: string;
  /** Named by the violated property as offending (at the last step only). */
  readonly offending: boolean;
}

export interface StepView {
  /** 1-based step number; 0 is the initial state. */
  readonly index: number;
  readonly label: string;
  readonly lane: string;
  readonly changes: readonly FieldChange[];
}

export interface TraceView {
  readonly initial: readonly { readonly path: string; readonly value: string }[];
  readonly steps: readonly StepView[];
  /** Lanes in display order: the model's order, then any others in order of first use. */
  readonly lanes: readonly string[];
  /** Offending fields and their values in the last state (the one that violates). */
  readonly offending: readonly { readonly path: string; readonly value: string }[];
}

/** True when `path` is `field` or lies below it (`cpus[0]` covers `cpus[0].irqsOff`). */
function below(path: string, field: string): boolean {
  return path === field || path.startsWith(`${field}.`) || path.startsWith(`${field}[`);
}

/** True when `path` is one of `fields` or lies below one. */
function covered(path: string, fields: readonly string[]): boolean {
  return fields.some((f) => below(path, f));
}

/** True when a change printed at `path` shows an offending field: it is one, or holds one. */
function shows(path: string, fields: readonly string[]): boolean {
  return fields.some((f) => below(path, f) || below(f, path));
}

/** The per-step field changes of a counterexample: what every report shows. */
export function viewTrace(trace: Trace, fields: readonly string[], modelLanes: readonly string[] = []): TraceView {
  const show = trace.format.show;
  let before = show(trace.initial);
  const initial = summarizeShown(before).map(([path, value]) => ({ path, value }));
  const last = trace.steps.length;
  const steps = trace.steps.map((st, i) => {
    const after = show(st.state);
    const changes = diffShown(before, after).map((c) => ({ ...c, offending: i + 1 === last && shows(c.path, fields) }));
    before = after;
    return { index: i + 1, label: st.label, lane: st.lane, changes };
  });
  const lanes = [...modelLanes];
  for (const s of steps) if (!lanes.includes(s.lane)) lanes.push(s.lane);
  const offending = [...flattenShown(before)].filter(([p]) => covered(p, fields)).map(([path, value]) => ({ path, value }));
  return { initial, steps, lanes, offending };
}
