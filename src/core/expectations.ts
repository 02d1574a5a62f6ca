import type { AnyModel, Expectation, ExpectationBounds } from './model.ts';
import type { Outcome, PropertyResult, Verdict } from './outcome.ts';
import { defaultParams, formatParams, type AnyParams } from './params.ts';

/** One declared parameter setting of a model, resolved over the defaults. */
export interface Setting {
  /** The parameters the expectation sets, as written, e.g. `variant=turn-first`; `defaults` when none. */
  readonly label: string;
  /** The expectation's own parameters (what `--param` must repeat to reproduce it). */
  readonly explicit: AnyParams;
  /** Every parameter: the defaults with the expectation's values over them. */
  readonly params: AnyParams;
  /** Properties to check: all of the model's but the unchecked ones, in the model's order. */
  readonly properties: readonly string[];
  readonly expectedViolated: ReadonlySet<string>;
  readonly bounds?: ExpectationBounds;
  readonly note?: string;
}

export function settingsOf(model: AnyModel): Setting[] {
  return model.expectations.map((e: Expectation<AnyParams>) => {
    const explicit = e.params as AnyParams;
    const unchecked = new Set(e.unchecked ?? []);
    return {
      label: formatParams(explicit) || 'defaults',
      explicit,
      params: { ...defaultParams(model.params), ...explicit },
      properties: model.properties.map((p) => p.name).filter((n) => !unchecked.has(n)),
      expectedViolated: new Set(e.violated ?? []),
      bounds: e.bounds && Object.keys(e.bounds).length > 0 ? e.bounds : undefined,
      note: e.note,
    };
  });
}

export interface Judgement {
  readonly expected: 'holds' | 'violated';
  readonly got: Verdict;
  readonly pass: boolean;
  /** Why it failed, or for a bounded pass what was actually shown. */
  readonly why?: string;
}

function describeBounds(b: ExpectationBounds): string {
  const parts: string[] = [];
  if (b.maxStates !== undefined) parts.push(`maxStates ${b.maxStates}`);
  if (b.maxDepth !== undefined) parts.push(`maxDepth ${b.maxDepth}`);
  if (b.timeLimitSeconds !== undefined) parts.push(`timeLimitSeconds ${b.timeLimitSeconds}`);
  return parts.join(', ');
}

/**
 * Compares one property's verdict with its expectation. A buggy variant that stops failing is
 * a failure like any other mismatch. An unknown verdict (incomplete run) passes only when the
 * setting declares bounds and the property is expected to hold: a bounded check cannot show a
 * violation that it did not find.
 */
export function judge(setting: Setting, result: PropertyResult, outcome: Outcome): Judgement {
  const expected = setting.expectedViolated.has(result.name) ? 'violated' : 'holds';
  const got = result.verdict;
  const stop = outcome.stoppedBy;
  const stopText =
    stop === undefined
      ? 'not every state was explored'
      : stop.kind === 'max-states'
        ? `stopped at ${stop.limit} states`
        : stop.kind === 'max-depth'
          ? `states at depth ${stop.limit} not expanded`
          : stop.kind === 'time-limit'
            ? `stopped after ${stop.limit} s`
            : 'stopped at the first violation';
  if (got === expected) return { expected, got, pass: true };
  if (got === 'violated')
    return {
      expected,
      got,
      pass: false,
      why: `expected holds, got violated: ${result.violation?.message ?? 'violated'} (after ${result.violation?.trace.steps.length ?? '?'} steps)`,
    };
  if (got === 'holds')
    return { expected, got, pass: false, why: `expected violated, got holds: no violation in all ${outcome.stats.states} reachable states` };
  // got unknown: the run was incomplete.
  if (!setting.bounds) return { expected, got, pass: false, why: `incomplete run (${stopText}); declare bounds in the expectation to accept a bounded check` };
  if (expected === 'holds') return { expected, got, pass: true, why: `no violation within the declared bounds (${describeBounds(setting.bounds)}; ${stopText})` };
  return { expected, got, pass: false, why: `expected violated, but no violation found within the declared bounds (${describeBounds(setting.bounds)}; ${stopText})` };
}
