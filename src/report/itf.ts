import type { ItfValue } from '../core/itf.ts';
import type { PropertyResult, Trace } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';

export const ITF_FORMAT_DESCRIPTION = 'https://apalache-mc.org/docs/adr/015adr-trace.html';


export interface ItfOptions {
  /** The model file the trace was found in, recorded as the trace's `source`. */
  readonly source?: string;
  /** The command that reproduces the trace. */
  readonly reproduce?: string;
}

/**
 * A counterexample as an ITF trace (`.itf.json`): the `#meta` of the trace names the model, its
 * parameters and the violated property; each state's `#meta` holds its index and, from state 1
 * on, the label and lane of the transition that led to it (`mc replay` follows them). The
 * variables are the state's own fields, so the ITF viewers of Apalache and Quint show them.
 * No timestamp: the same counterexample gives the same file.
 */
export function counterexampleItf(model: string, params: AnyParams, result: PropertyResult, options: ItfOptions = {}): string {
  const v = result.violation;
  if (!v) throw new Error(`property ${result.name} has no counterexample`);
  return traceItf(v.trace, {
    format: 'ITF',
    'format-description': ITF_FORMAT_DESCRIPTION,
    ...(options.source ? { source: options.source } : {}),
    description: `mc counterexample: ${model} [${Object.entries(params).map(([k, x]) => `${k}=${String(x)}`).join(' ')}] violates ${result.name}: ${v.message}`,
    model,
    params,
    property: result.name,
    kind: result.kind,
    message: v.message,
    fields: v.fields,
    ...(options.reproduce ? { reproduce: options.reproduce } : {}),
  });
}

/**
 * Any trace as ITF with the given trace `#meta`, one state per line. A lasso (trace.loop) has
 * ITF's `loop`: the index of the state that follows the last one. A cycle's last step, which
 * returns to that state, is not a state of its own: its label and lane are the trace `#meta`'s
 * `loopAction` and `loopLane`, for `mc replay`.
 */
export function traceItf(trace: Trace, meta: Record<string, unknown>): string {
  const itf = (s: unknown): Record<string, ItfValue> => trace.format.itf(s);
  const first = itf(trace.initial);
  const vars = Object.keys(first);
  const n = trace.steps.length;
  const cycle = trace.loop !== undefined && trace.loop < n;
  const shown = cycle ? trace.steps.slice(0, n - 1) : trace.steps;
  const states = [
    { '#meta': { index: 0 }, ...first },
    ...shown.map((s, i) => ({ '#meta': { index: i + 1, action: s.label, lane: s.lane }, ...itf(s.state) })),
  ];
  const back = cycle ? { loopAction: trace.steps[n - 1].label, loopLane: trace.steps[n - 1].lane } : {};
  const loop = trace.loop !== undefined ? `,\n  "loop": ${trace.loop}` : '';
  return `{\n  "#meta": ${JSON.stringify({ ...meta, ...back })},\n  "vars": ${JSON.stringify(vars)},\n  "states": [\n${states.map((s) => `    ${JSON.stringify(s)}`).join(',\n')}\n  ]${loop}\n}\n`;
}
