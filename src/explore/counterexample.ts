/**
 * Counterexamples from a finished search: the stored path replayed into a trace, and under
 * --symmetry that path over orbit representatives made a concrete run of the model. Shared by
 * the one-thread explorer and the parallel one.
 */
import { ModelError } from '../core/errors.ts';
import { violationOf, type AnyModel, type Property, type Transition } from '../core/model.ts';
import { ByteWriter, type StateCodec } from '../core/codec.ts';
import type { Trace, TraceStep, Violation } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import { renderState } from '../core/value.ts';
import type { Canonicalizer } from './reduce.ts';

/** What rebuilding a counterexample needs of the explorer that found it. */
export interface Replayer {
  readonly modelName: string;
  readonly params: AnyParams;
  readonly transitionsOf: (s: unknown) => readonly Transition<unknown>[];
  /** Applies `t` to `s`: returns the successor and leaves its representative's bytes in `out`. */
  readonly apply: (s: unknown, t: Transition<unknown>) => unknown;
  readonly out: ByteWriter;
  /** Leaves the bytes of `x` (under --symmetry: of its representative) in `out`. */
  readonly encode: (x: unknown) => void;
  /** The state whose bytes are in `out`, as the search expanded it. */
  readonly decode: () => unknown;
  /** A state encoded and decoded, not canonicalized: as the search sees it without --symmetry. */
  readonly plain: (x: unknown) => unknown;
}

/**
 * The replayer of a search over `codec` (and `canon` under --symmetry) that leaves bytes in
 * `out`. The model's transitions are called unguarded: they ran without error on these states
 * during the search.
 */
export function replayerOf(model: AnyModel, params: AnyParams, codec: StateCodec, canon: Canonicalizer | undefined, out: ByteWriter): Replayer {
  const plainOut = new ByteWriter();
  const encode = (x: unknown): void => {
    out.length = 0;
    codec.encode(x, out);
    if (canon) canon.canonicalize(x, out);
  };
  return {
    modelName: model.name,
    params,
    transitionsOf: (x) => model.transitions(x, params),
    apply: (_, t) => {
      const next = t.apply();
      encode(next);
      return next;
    },
    out,
    encode,
    decode: () => codec.decode(out.bytes, 0, out.length),
    plain: (x) => {
      plainOut.length = 0;
      codec.encode(x, plainOut);
      return codec.decode(plainOut.bytes, 0, plainOut.length);
    },
  };
}

/** Where each stored state came from, and the store that says whether bytes are a stored state. */
export interface StoredPaths {
  parent(id: number): number;
  action(id: number): number;
}

/**
 * A counterexample as the search stored it: the chain of (parent, action index) from `stateId`
 * back to its initial state (parent -1 - i: initial state i), replayed from that initial state,
 * then `lastAction` (for a step property) if not -1. Each replayed state must have the stored
 * bytes, else the model is not deterministic. Returns the trace, the bytes of each step's state
 * as stored (`keys`, for concreteRun) and the initial state.
 */
export function replayPath(
  r: Replayer,
  store: { matches(id: number, b: Uint8Array, n: number): boolean },
  paths: StoredPaths,
  initStates: readonly unknown[],
  stateId: number,
  lastAction: number,
): { trace: Trace; keys: Uint8Array[]; initial: unknown } {
  const chain: number[] = [];
  let x = stateId;
  while (paths.parent(x) >= 0) {
    chain.push(x);
    x = paths.parent(x);
  }
  const initial = initStates[-1 - paths.parent(x)];
  const nondeterministic = (step: number) =>
    new ModelError(
      `model "${r.modelName}" is not deterministic: replaying the path to a violation reached a different state at step ${step} ` +
        `(this usually happens when init() or transitions() depend on something outside the state, such as a counter, a random number or a mutable object)`,
    );
  r.encode(initial);
  if (!store.matches(x, r.out.bytes, r.out.length)) throw nondeterministic(0);
  // The search expanded decoded states, so the replay does too: a decoded Map may list its
  // transitions in another order than the value it was encoded from.
  let s = r.decode();
  const steps: TraceStep[] = [];
  const keys: Uint8Array[] = [];
  const replay = (actionIndex: number, expectedId: number | undefined) => {
    const t = r.transitionsOf(s)[actionIndex];
    if (!t) throw nondeterministic(steps.length + 1);
    r.apply(s, t);
    if (expectedId !== undefined && !store.matches(expectedId, r.out.bytes, r.out.length)) throw nondeterministic(steps.length + 1);
    keys.push(r.out.copy());
    s = r.decode();
    steps.push({ label: t.label, lane: t.lane, state: s });
  };
  for (let k = chain.length - 1; k >= 0; k--) replay(paths.action(chain[k]), chain[k]);
  if (lastAction >= 0) replay(lastAction, undefined);
  return { trace: { initial: r.plain(initial), steps }, keys, initial };
}

/**
 * --symmetry: a counterexample found over orbit representatives (`keys`: the bytes of the
 * representative after each step), each step possibly permuting the lanes, made a run of the
 * model. Replays from the real initial state, taking at each step the transition whose successor
 * has the representative of the path's next state (for a step property, one that violates it),
 * so the printed trace is a real run; the violation is re-evaluated on that run, with its own
 * message and fields. A model whose declared symmetry is not one can fail here: ModelError.
 */
export function concreteRun(
  r: Replayer,
  p: Property<unknown, AnyParams>,
  initial: unknown,
  keys: readonly Uint8Array[],
  found: { readonly message: string; readonly fields: readonly string[] },
): { trace: Trace; message: string; fields: readonly string[] } {
  const notSymmetric = (what: string) =>
    new ModelError(`model "${r.modelName}" is not symmetric as declared (--symmetry): ${what}; a property must give the same verdict on a state and its permutations`);
  let c = r.plain(initial);
  const first = c;
  const steps: TraceStep[] = [];
  let violation: { message: string; fields: readonly string[] } | undefined;
  for (let k = 0; k < keys.length; k++) {
    const last = p.kind === 'step' && k === keys.length - 1;
    let chosen: { t: Transition<unknown>; next: unknown } | undefined;
    for (const t of r.transitionsOf(c)) {
      const next = r.apply(c, t);
      if (!sameBytes(keys[k], r.out.bytes, r.out.length)) continue;
      if (last && p.kind === 'step') {
        violation = violationOf(p.check(c, t, next, r.params));
        if (!violation) continue;
      }
      chosen = { t, next };
      break;
    }
    if (!chosen)
      throw notSymmetric(`replaying the counterexample of "${p.name}" from the initial state, no transition of state {${renderState(c)}} leads to step ${k + 1} of the path found up to permutation`);
    c = r.plain(chosen.next);
    steps.push({ label: chosen.t.label, lane: chosen.t.lane, state: c });
  }
  if (p.kind === 'invariant' || p.kind === 'final') {
    violation = violationOf(p.check(c, r.params));
    if (!violation) throw notSymmetric(`property "${p.name}" is violated on a permutation of state {${renderState(c)}} but holds on it`);
  }
  return { trace: { initial: first, steps }, ...(violation ?? { message: found.message, fields: found.fields }) };
}

function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * What both explorers make of a property's first violation (`found`: the state, and for a step
 * property the transition): the stored path replayed into a trace and, under --symmetry (`r`
 * canonicalizes), made a concrete run of the model.
 */
export function counterexampleOf(
  r: Replayer,
  symmetry: boolean,
  store: { matches(id: number, b: Uint8Array, n: number): boolean },
  paths: StoredPaths,
  initStates: readonly unknown[],
): (p: Property<unknown, AnyParams>, found: { readonly stateId: number; readonly action: number; readonly message: string; readonly fields: readonly string[] }) => Violation {
  return (p, f) => {
    const { trace, keys, initial } = replayPath(r, store, paths, initStates, f.stateId, f.action);
    return symmetry ? concreteRun(r, p, initial, keys, f) : { message: f.message, fields: f.fields, trace };
  };
}
