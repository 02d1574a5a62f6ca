/**
 * Counterexamples from a finished search: the stored path replayed into a trace, and under
 * --symmetry that path over orbit representatives made a concrete run of the model. Shared by
 * the one-thread explorer and the parallel one.
 */
import { ByteWriter } from '../core/codec.ts';
import { ModelError } from '../core/errors.ts';
import { violationOf, type AnyTransition, type Check, type Property } from '../core/model.ts';
import type { Trace, TraceStep, Violation } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import type { Found } from './expand.ts';
import { sameBytes, type Space } from './space.ts';

/** Where each stored state came from. */
export interface StoredPaths {
  /** The parent's id, or -1 - i for the state of initial state i. */
  parent(id: number): number;
  action(id: number): number;
}

/** Whether stored state `id` is the state b[0, n) (for a fingerprint store: has its fingerprint). */
export interface Matcher {
  matches(id: number, b: Uint8Array, n: number): boolean;
}

export function nondeterministic(space: Space, step: number): ModelError {
  return new ModelError(
    `model "${space.modelName}" is not deterministic: replaying the path to a violation reached a different state at step ${step} ` +
      `(this usually happens when init() or transitions() depend on something outside the state, such as a counter, a random number or a mutable object)`,
  );
}

function uniqueLabels(space: Space, ts: readonly AnyTransition[]): void {
  const seen = new Set<string>();
  for (const t of ts) {
    if (seen.has(t.label))
      throw new ModelError(`model "${space.modelName}": two transitions are labelled "${t.label}" in state {${space.render(space.state)}}, on the path to a violation; labels must be unique per state`);
    seen.add(t.label);
  }
}

/**
 * The chain of (parent, action) from `stateId` back to its initial state, replayed from that
 * initial state, then `lastAction` (a step property's transition) if not -1. Each replayed state
 * must have the stored bytes, else the model is not deterministic. Returns the trace, the bytes
 * of each step's state as stored (`keys`, for concreteRun) and the initial state's bytes.
 */
export function replayPath(
  space: Space,
  store: Matcher,
  paths: StoredPaths,
  initial: readonly { readonly bytes: Uint8Array }[],
  stateId: number,
  lastAction: number,
): { trace: Trace; keys: Uint8Array[]; initialBytes: Uint8Array } {
  const chain: number[] = [];
  let x = stateId;
  while (paths.parent(x) >= 0) {
    chain.push(x);
    x = paths.parent(x);
  }
  const init = initial[-1 - paths.parent(x)].bytes;
  const out = new ByteWriter();
  out.setBytes(init, 0, init.length);
  if (space.perms) space.canonicalize(out);
  if (!store.matches(x, out.bytes, out.length)) throw nondeterministic(space, 0);
  let current = out.copy();
  const steps: TraceStep[] = [];
  const keys: Uint8Array[] = [];
  const replay = (actionIndex: number, expectedId: number | undefined) => {
    const ts = space.expand(current, 0, current.length);
    uniqueLabels(space, ts);
    const t = ts[actionIndex];
    if (!t) throw nondeterministic(space, steps.length + 1);
    const next = space.successor(actionIndex, out);
    if (space.perms) space.canonicalize(out, next);
    if (expectedId !== undefined && !store.matches(expectedId, out.bytes, out.length)) throw nondeterministic(space, steps.length + 1);
    current = out.copy();
    keys.push(current);
    steps.push({ label: t.label, lane: t.lane, state: space.read(current, 0, current.length) });
  };
  for (let k = chain.length - 1; k >= 0; k--) replay(paths.action(chain[k]), chain[k]);
  if (lastAction >= 0) replay(lastAction, undefined);
  return { trace: { initial: space.read(init, 0, init.length), steps, format: space.format }, keys, initialBytes: init };
}

/**
 * --symmetry: a counterexample found over orbit representatives (`keys`: the bytes of the
 * representative after each step), each step possibly permuting the lanes, made a run of the
 * model. Replays from the real initial state, taking at each step the transition whose successor
 * has the representative of the path's next state (for a step property, one that violates it),
 * so the printed trace is a real run; the violation is re-evaluated on that run, with its own
 * message and fields. A model whose declared symmetry is not one can fail here: ModelError.
 */
export function concreteRun(space: Space, p: Property<unknown, AnyParams>, initialBytes: Uint8Array, keys: readonly Uint8Array[], found: Found): { trace: Trace; message: string; fields: readonly string[] } {
  const notSymmetric = (what: string) =>
    new ModelError(`model "${space.modelName}" is not symmetric as declared (--symmetry): ${what}; a property must give the same verdict on a state and its permutations`);
  const raw = new ByteWriter();
  const rep = new ByteWriter();
  let current = initialBytes;
  const steps: TraceStep[] = [];
  let violation: { message: string; fields: readonly string[] } | undefined;
  for (let k = 0; k < keys.length; k++) {
    const last = p.kind === 'step' && k === keys.length - 1;
    const ts = space.expand(current, 0, current.length);
    let chosen: AnyTransition | undefined;
    for (let i = 0; i < ts.length; i++) {
      const next = space.successor(i, raw);
      rep.copyFrom(raw);
      space.canonicalize(rep, next);
      if (rep.length !== keys[k].length || !sameBytes(keys[k], rep.bytes, 0, rep.length)) continue;
      if (last) {
        violation = violationOf((p as { check: (a: unknown, t: AnyTransition, b: unknown, q: AnyParams) => Check }).check(space.state, ts[i], next, space.params));
        if (!violation) continue;
      }
      chosen = ts[i];
      break;
    }
    if (!chosen)
      throw notSymmetric(`replaying the counterexample of "${p.name}" from the initial state, no transition of state {${space.render(space.state)}} leads to step ${k + 1} of the path found up to permutation`);
    current = raw.copy();
    steps.push({ label: chosen.label, lane: chosen.lane, state: space.read(current, 0, current.length) });
  }
  const lastState = steps.length > 0 ? steps[steps.length - 1].state : space.read(initialBytes, 0, initialBytes.length);
  if (p.kind === 'invariant' || p.kind === 'final') {
    violation = violationOf((p as { check: (s: unknown, q: AnyParams) => Check }).check(lastState, space.params));
    if (!violation) throw notSymmetric(`property "${p.name}" is violated on a permutation of state {${space.render(lastState)}} but holds on it`);
  }
  const trace: Trace = { initial: space.read(initialBytes, 0, initialBytes.length), steps, format: space.format };
  return { trace, ...(violation ?? { message: found.message, fields: found.fields }) };
}

/**
 * What both explorers make of a property's first violation: the stored path replayed into a
 * trace and, under --symmetry, made a concrete run of the model. `space` must be one the search
 * is no longer using (a fork).
 */
export function counterexampleOf(space: Space, store: Matcher, paths: StoredPaths, initial: readonly { readonly bytes: Uint8Array }[]): (p: Property<unknown, AnyParams>, found: Found) => Violation {
  return (p, f) => {
    const { trace, keys, initialBytes } = replayPath(space, store, paths, initial, f.stateId, f.action);
    return space.perms ? concreteRun(space, p, initialBytes, keys, f) : { message: f.message, fields: f.fields, trace };
  };
}
