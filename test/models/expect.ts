import { expect } from 'vitest';
import { anyModel, explore, type Model, type Outcome } from '../../src/index.ts';
import { defaultParams } from '../../src/core/params.ts';
import type { ParamSpecs } from '../../src/core/params.ts';

/** Runs one parameter setting (over the defaults) to completion and returns the outcome. */
export function run<S, P extends ParamSpecs>(model: Model<S, P>, params: Record<string, unknown>): Outcome {
  const m = anyModel(model);
  return explore(m, { ...defaultParams(m.params), ...(params as Record<string, number | boolean | string>) });
}

/** Property name → verdict. */
export function verdicts(o: Outcome): Record<string, string> {
  return Object.fromEntries(o.properties.map((p) => [p.name, p.verdict]));
}

/**
 * The verdicts the model declares for `params` (every property not listed as violated or
 * unchecked holds), as found in the model's own expectations.
 */
export function declared<S, P extends ParamSpecs>(model: Model<S, P>, params: Record<string, unknown>): Record<string, string> {
  // The most specific expectation whose parameters `params` all have (a larger setting keeps a smaller one's verdicts).
  const matching = anyModel(model).expectations.filter((x) => Object.entries(x.params).every(([k, v]) => params[k] === v));
  const e = matching.reduce<(typeof matching)[number] | undefined>((best, x) => (!best || Object.keys(x.params).length > Object.keys(best.params).length ? x : best), undefined);
  if (!e) throw new Error(`no expectation for ${JSON.stringify(params)}`);
  const out: Record<string, string> = {};
  for (const p of model.properties) if (!(e.unchecked ?? []).includes(p.name)) out[p.name] = (e.violated ?? []).includes(p.name) ? 'violated' : 'holds';
  return out;
}

/** The labels of the shortest counterexample of `property`. */
export function story(o: Outcome, property: string): string[] {
  const r = o.properties.find((p) => p.name === property);
  expect(r?.verdict, `${property} should be violated`).toBe('violated');
  return r!.violation!.trace.steps.map((s) => s.label);
}

/** Asserts the run's verdicts equal the declared expectation, for the checked properties. */
export function expectDeclared<S, P extends ParamSpecs>(model: Model<S, P>, params: Record<string, unknown>, o: Outcome): void {
  const want = declared(model, params);
  const got = verdicts(o);
  for (const k of Object.keys(got)) if (!(k in want)) delete got[k];
  expect(got).toEqual(want);
}
