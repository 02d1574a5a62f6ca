import { ByteWriter } from '../core/codec.ts';
import { ModelError } from '../core/errors.ts';
import { canonicalItf, displayItf, itfFields, type ItfTrace } from '../core/itf.ts';
import { DEADLOCK_MESSAGE, isLiveness, violationOf, type AnyModel, type AnyTransition, type Check } from '../core/model.ts';
import { lassoProblem } from './liveness.ts';
import type { StateFormat } from '../core/show.ts';
import { spaceOf } from './space.ts';
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
  /** How the replayed states are shown. */
  readonly format: StateFormat;
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

function diffOf(format: StateFormat, model: unknown, trace: Readonly<Record<string, unknown>>): FieldDiff[] {
  const m = itfFields(format.itf(model));
  const t = itfFields(trace);
  const out: FieldDiff[] = [];
  for (const [path, tv] of t)
    if (!m.has(path) || canonicalItf(m.get(path)) !== canonicalItf(tv)) out.push({ path, trace: displayItf(tv), model: m.has(path) ? displayItf(m.get(path)) : undefined });
  for (const [path, mv] of m) if (!t.has(path)) out.push({ path, trace: undefined, model: displayItf(mv) });
  return out;
}

/**
 * Re-checks a saved trace against a model, step by step: the initial state must be one of the
 * model's, each step's labelled transition must be enabled and lead to the trace's next state
 * (a step without a label may be any enabled transition that does). Checks the selected
 * properties along the way, and says where the trace stops matching. No I/O.
 */
export function replay(model: AnyModel, params: AnyParams, trace: ItfTrace, propertyNames?: readonly string[]): ReplayResult {
  const selected = selectProperties(model, propertyNames);
  const space = spaceOf(model, params);
  const format = space.format;
  const same = (state: unknown, vars: Readonly<Record<string, unknown>>) => canonicalItf(format.itf(state)) === canonicalItf(vars);
  const violations: ReplayViolation[] = [];
  const seen = new Set<string>();
  const record = (p: { name: string; kind: PropertyKind }, index: number, c: Check) => {
    if (seen.has(p.name)) return;
    const v = violationOf(c);
    if (v) {
      seen.add(p.name);
      violations.push({ property: p.name, kind: p.kind, index, ...v });
    }
  };
  const checkState = (s: unknown, index: number) => {
    for (const p of selected) if (p.kind === 'invariant') record(p, index, p.check(s, params));
  };

  const initStates = space.initialStates();
  const first = trace.states[0];
  const initial = initStates.find((s) => same(s.value, first.vars));
  const steps: ReplayStep[] = [];
  const base = { format, length: trace.states.length, violations };
  if (initial === undefined)
    return {
      ...base,
      steps,
      mismatch: {
        index: 0,
        reason: `the initial state is not ${initStates.length === 1 ? "the model's initial state" : `one of the model's ${initStates.length} initial states`}`,
        diff: diffOf(format, initStates[0].value, first.vars),
      },
      quiescent: false,
    };
  checkState(initial.value, 0);

  const out = new ByteWriter();
  let current = initial.bytes;
  let ts: readonly AnyTransition[] = space.expand(current, 0, current.length);
  let mismatch: Mismatch | undefined;
  for (let i = 1; i < trace.states.length; i++) {
    const want = trace.states[i];
    const label = typeof want.meta.action === 'string' ? want.meta.action : undefined;
    let k = -1;
    let next: unknown;
    if (label !== undefined) {
      k = ts.findIndex((x) => x.label === label);
      if (k < 0) {
        mismatch = { index: i, reason: `"${label}" is not enabled in state ${i - 1}; enabled: ${ts.map((x) => `"${x.label}"`).join(', ') || '(none)'}`, diff: [] };
        break;
      }
      next = space.successor(k, out);
      if (!same(next, want.vars)) {
        mismatch = { index: i, reason: `"${label}" leads to a different state than the trace's state ${i}`, diff: diffOf(format, next, want.vars) };
        break;
      }
    } else {
      for (let j = 0; j < ts.length && k < 0; j++) {
        next = space.successor(j, out);
        if (same(next, want.vars)) k = j;
      }
      if (k < 0) {
        const diff = ts.length > 0 ? diffOf(format, space.successor(0, out), want.vars) : [];
        mismatch = {
          index: i,
          reason: `no transition enabled in state ${i - 1} leads to the trace's state ${i} (the trace names no action; enabled: ${ts.map((x) => `"${x.label}"`).join(', ') || '(none)'})`,
          diff,
        };
        break;
      }
    }
    const t = ts[k];
    for (const p of selected) if (p.kind === 'step') record(p, i, p.check(space.state, t, next, params));
    checkState(next, i);
    current = out.copy();
    steps.push({ index: i, label: t.label, lane: t.lane, state: space.read(current, 0, current.length) });
    ts = space.expand(current, 0, current.length);
  }
  const quiescent = !mismatch && ts.length === 0;
  if (quiescent) {
    const last = steps.length;
    const end = model.isEndState?.(space.state, params) ?? false;
    for (const p of selected) {
      if (p.kind === 'deadlock' && !end) record(p, last, DEADLOCK_MESSAGE);
      if (p.kind === 'final') record(p, last, p.check(space.state, params));
    }
  }
  if (steps.length + 1 !== trace.states.length && !mismatch) throw new ModelError('replay lost its place in the trace');
  // A lasso: the cycle's last step (the trace's loopAction) must return to state `loop`; then
  // each selected liveness property is violated if the lasso is a fair run that breaks it.
  const loop = trace.loop;
  if (loop !== undefined && !mismatch) {
    const states = [initial.value, ...steps.map((s) => s.state)];
    const lassoSteps: { label: string; lane: string }[] = [...steps];
    const back = trace.meta.loopAction;
    const last = trace.states.length - 1;
    let end = last;
    if (typeof back === 'string') {
      const k = ts.findIndex((x) => x.label === back);
      if (k < 0) mismatch = { index: last, reason: `the loop's step "${back}" is not enabled in state ${last}; enabled: ${ts.map((x) => `"${x.label}"`).join(', ') || '(none)'}`, diff: [] };
      else {
        const next = space.successor(k, out);
        if (!same(next, trace.states[loop].vars)) mismatch = { index: loop, reason: `the loop's step "${back}" from state ${last} does not return to state ${loop}`, diff: diffOf(format, next, trace.states[loop].vars) };
        else {
          const b = out.copy();
          states.push(space.read(b, 0, b.length));
          lassoSteps.push({ label: back, lane: ts[k].lane });
          end = last + 1;
        }
      }
    } else if (loop !== last) mismatch = { index: last, reason: `the trace loops back to state ${loop} but names no loopAction in its #meta for the step back`, diff: [] };
    if (!mismatch)
      for (const p of selected)
        if (isLiveness(p)) {
          const problem = lassoProblem(space.fork(), model, p, states, lassoSteps, end === last ? last : loop);
          if (!problem) record(p, loop, `violated by this fair run: ${end === last ? `it stays in state ${last} forever` : `steps ${loop + 1}–${end} repeat forever`}`);
        }
  }
  return { ...base, initial: space.read(initial.bytes, 0, initial.bytes.length), steps, mismatch, quiescent };
}
