import { isRecord } from 'immutable';
import { ModelError } from '../core/errors.ts';
import { canonicalItf, displayItf, itfFields, toItf, type ItfTrace } from '../core/itf.ts';
import { DEADLOCK_MESSAGE, violationOf, type AnyModel, type Transition } from '../core/model.ts';
import type { PropertyKind } from '../core/model.ts';
import type { AnyParams } from '../core/params.ts';
import { selectProperties } from './explore.ts';

export interface ReplayStep {
  /** The index of the trace state this step reached (1-based; 0 is the initial state). */
  readonly index: number;
  readonly label: string;
  readonly lane: string;
  /** The model state reached, for reports. */
  readonly state: unknown;
}

export interface ReplayViolation {
  readonly property: string;
  readonly kind: PropertyKind;
  /** The trace state where it is violated (for a step property: the state the step reached). */
  readonly index: number;
  readonly message: string;
  readonly fields: readonly string[];
}

export interface FieldDiff {
  readonly path: string;
  readonly trace: string | undefined;
  readonly model: string | undefined;
}

export interface Mismatch {
  /** The first trace state the model could not reproduce. */
  readonly index: number;
  readonly reason: string;
  /** The fields where the model's state differs from the trace's, when a state was reached. */
  readonly diff: readonly FieldDiff[];
}

export interface ReplayResult {
  readonly initial?: unknown;
  /** The steps that matched, in order. */
  readonly steps: readonly ReplayStep[];
  /** The number of states in the trace. */
  readonly length: number;
  readonly mismatch?: Mismatch;
  /** The first violation of each checked property along the replayed part, in trace order. */
  readonly violations: readonly ReplayViolation[];
  /** Whether the last replayed state has no enabled transition. */
  readonly quiescent: boolean;
}

/** The model state in the shape of a trace state: a Record's fields, or one variable `state`. */
function asVars(state: unknown): Record<string, unknown> {
  return isRecord(state) ? (toItf(state) as Record<string, unknown>) : { state: toItf(state) };
}

function diffOf(model: unknown, trace: Readonly<Record<string, unknown>>): FieldDiff[] {
  const m = itfFields(asVars(model));
  const t = itfFields(trace);
  const out: FieldDiff[] = [];
  for (const [path, tv] of t)
    if (!m.has(path) || canonicalItf(m.get(path)) !== canonicalItf(tv)) out.push({ path, trace: displayItf(tv), model: m.has(path) ? displayItf(m.get(path)) : undefined });
  for (const [path, mv] of m) if (!t.has(path)) out.push({ path, trace: undefined, model: displayItf(mv) });
  return out;
}

function same(model: unknown, trace: Readonly<Record<string, unknown>>): boolean {
  return canonicalItf(asVars(model)) === canonicalItf(trace);
}

/**
 * Re-checks a saved trace against a model, step by step: the initial state must be one of the
 * model's, each step's labelled transition must be enabled and lead to the trace's next state
 * (a step without a label may be any enabled transition that does). Checks the selected
 * properties along the way, and says where the trace stops matching. No I/O.
 */
export function replay(model: AnyModel, params: AnyParams, trace: ItfTrace, propertyNames?: readonly string[]): ReplayResult {
  const selected = selectProperties(model, propertyNames);
  const violations: ReplayViolation[] = [];
  const seen = new Set<string>();
  const record = (p: { name: string; kind: PropertyKind }, index: number, c: unknown) => {
    if (seen.has(p.name)) return;
    const v = violationOf(c as never);
    if (v) {
      seen.add(p.name);
      violations.push({ property: p.name, kind: p.kind, index, ...v });
    }
  };
  const checkState = (s: unknown, index: number) => {
    for (const p of selected) if (p.kind === 'invariant') record(p, index, p.check(s, params));
  };

  const inits = model.init(params);
  const initStates: unknown[] = Array.isArray(inits) ? [...inits] : [inits];
  const first = trace.states[0];
  const initial = initStates.find((s) => same(s, first.vars));
  const steps: ReplayStep[] = [];
  if (initial === undefined)
    return {
      steps,
      length: trace.states.length,
      mismatch: {
        index: 0,
        reason: `the initial state is not ${initStates.length === 1 ? "the model's initial state" : `one of the model's ${initStates.length} initial states`}`,
        diff: diffOf(initStates[0], first.vars),
      },
      violations,
      quiescent: false,
    };
  checkState(initial, 0);

  let s: unknown = initial;
  let ts: readonly Transition<unknown>[] = model.transitions(s, params);
  let mismatch: Mismatch | undefined;
  for (let i = 1; i < trace.states.length; i++) {
    const want = trace.states[i];
    const label = typeof want.meta.action === 'string' ? want.meta.action : undefined;
    let t: Transition<unknown> | undefined;
    let next: unknown;
    if (label !== undefined) {
      t = ts.find((x) => x.label === label);
      if (!t) {
        mismatch = {
          index: i,
          reason: `"${label}" is not enabled in state ${i - 1}; enabled: ${ts.map((x) => `"${x.label}"`).join(', ') || '(none)'}`,
          diff: [],
        };
        break;
      }
      next = t.apply();
      if (!same(next, want.vars)) {
        mismatch = { index: i, reason: `"${label}" leads to a different state than the trace's state ${i}`, diff: diffOf(next, want.vars) };
        break;
      }
    } else {
      for (const x of ts) {
        const n = x.apply();
        if (same(n, want.vars)) {
          t = x;
          next = n;
          break;
        }
      }
      if (!t) {
        mismatch = {
          index: i,
          reason: `no transition enabled in state ${i - 1} leads to the trace's state ${i} (the trace names no action; enabled: ${ts.map((x) => `"${x.label}"`).join(', ') || '(none)'})`,
          diff: ts.length > 0 ? diffOf(ts[0].apply(), want.vars) : [],
        };
        break;
      }
    }
    for (const p of selected) if (p.kind === 'step') record(p, i, p.check(s, t, next, params));
    checkState(next, i);
    steps.push({ index: i, label: t.label, lane: t.lane, state: next });
    s = next;
    ts = model.transitions(s, params);
  }
  const quiescent = !mismatch && ts.length === 0;
  if (quiescent) {
    const last = steps.length;
    const end = model.isEndState?.(s, params) ?? false;
    for (const p of selected) {
      if (p.kind === 'deadlock' && !end) record(p, last, DEADLOCK_MESSAGE);
      if (p.kind === 'final') record(p, last, p.check(s, params));
    }
  }
  if (steps.length + 1 !== trace.states.length && !mismatch) throw new ModelError('replay lost its place in the trace');
  return { initial, steps, length: trace.states.length, mismatch, violations, quiescent };
}
