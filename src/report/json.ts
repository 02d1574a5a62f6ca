import type { Coverage } from '../core/coverage.ts';
import type { Outcome } from '../core/outcome.ts';
import { statesPerSecond } from '../core/outcome.ts';

/**
 * The outcome as plain JSON data: states as plain objects. `files` maps a property to the files
 * written for its counterexample: `graph` is the .dot among them, `files` lists them all.
 */
export function outcomeJson(outcome: Outcome, files: Readonly<Record<string, readonly string[]>> = {}, coverage?: Coverage): unknown {
  return {
    model: outcome.model,
    params: outcome.params,
    strategy: outcome.strategy,
    verdict: outcome.verdict,
    complete: outcome.complete,
    stoppedBy: outcome.stoppedBy ?? null,
    stats: { ...outcome.stats, statesPerSecond: statesPerSecond(outcome.stats) },
    properties: outcome.properties.map((p) => ({
      name: p.name,
      kind: p.kind,
      description: p.description,
      verdict: p.verdict,
      ...(p.violation
        ? {
            violation: {
              message: p.violation.message,
              fields: p.violation.fields,
              graph: files[p.name]?.find((f) => f.endsWith('.dot')) ?? null,
              files: files[p.name] ?? [],
              trace: {
                initial: p.violation.trace.format.json(p.violation.trace.initial),
                steps: p.violation.trace.steps.map((s) => ({ label: s.label, lane: s.lane, state: p.violation!.trace.format.json(s.state) })),
                // A lasso: the steps after state `loop` repeat forever (see Trace.loop).
                ...(p.violation.trace.loop !== undefined ? { loop: p.violation.trace.loop } : {}),
              },
            },
          }
        : {}),
    })),
    ...(coverage ? { coverage } : {}),
  };
}
