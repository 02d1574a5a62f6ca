import { ModelError } from '../core/errors.ts';
import { violationOf, type Property, type Symmetry, type Transition } from '../core/model.ts';
import { ByteWriter, type StateCodec } from '../core/codec.ts';
import type { Trace, TraceStep } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import { renderState } from '../core/value.ts';

/**
 * The two state-space reductions of `explore` (--symmetry, --por). Both keep every violation
 * reachable under the conditions written next to each; test/explore/reductions.test.ts checks
 * them against unreduced runs on random models and on every model's buggy variants.
 */

/** At most this many interchangeable lanes: canonicalization tries all n! permutations. */
export const MAX_SYMMETRIC_LANES = 6;

/** Every permutation of 0 … n-1 but the identity, in lexicographic order. */
export function permutations(n: number): number[][] {
  const all: number[][] = [];
  const perm: number[] = [];
  const used = new Array<boolean>(n).fill(false);
  const go = (): void => {
    if (perm.length === n) {
      if (perm.some((x, i) => x !== i)) all.push([...perm]);
      return;
    }
    for (let i = 0; i < n; i++) {
      if (used[i]) continue;
      used[i] = true;
      perm.push(i);
      go();
      perm.pop();
      used[i] = false;
    }
  };
  go();
  return all;
}

/**
 * Symmetry reduction: every state is replaced by the representative of its orbit under the
 * permutations of the interchangeable lanes, the permuted state whose bytes are smallest
 * (shorter first, then byte by byte). Sound when the model is symmetric: the transitions of a
 * permuted state are the permuted transitions, and every property gives the same verdict on a
 * state and its permutations. Then a state is reachable exactly when its representative is, and
 * violates a property exactly when its representative does. The explorer samples both
 * conditions on the states it expands (checkSymmetric) and turns a counterexample over
 * representatives into a concrete run of the model by replaying from the real initial state.
 *
 * Limitation: n! permutations per successor, so at most MAX_SYMMETRIC_LANES lanes.
 */
export class Canonicalizer {
  readonly perms: readonly number[][];
  private readonly scratch = new ByteWriter();
  private readonly best = new ByteWriter();

  constructor(
    private readonly modelName: string,
    private readonly symmetry: Symmetry<unknown>,
    private readonly codec: StateCodec,
  ) {
    const n = symmetry.lanes.length;
    if (n > MAX_SYMMETRIC_LANES)
      throw new ModelError(`model "${modelName}": symmetry over ${n} lanes; --symmetry tries all n! permutations and supports at most ${MAX_SYMMETRIC_LANES}`);
    this.perms = permutations(n);
  }

  permute(state: unknown, perm: readonly number[]): unknown {
    try {
      return this.symmetry.permute(state, perm);
    } catch (e) {
      throw new ModelError(`model "${this.modelName}": symmetry.permute([${perm.join(', ')}]) threw: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  /**
   * `out` holds the bytes of `state`; replaces them with the bytes of its orbit's
   * representative and returns that state.
   */
  canonicalize(state: unknown, out: ByteWriter): unknown {
    const best = this.best;
    best.length = 0;
    best.reserve(out.length);
    best.bytes.set(out.bytes.subarray(0, out.length));
    best.length = out.length;
    let rep = state;
    const w = this.scratch;
    for (const perm of this.perms) {
      const p = this.permute(state, perm);
      w.length = 0;
      this.codec.encode(p, w);
      if (smaller(w, best)) {
        best.length = 0;
        best.reserve(w.length);
        best.bytes.set(w.bytes.subarray(0, w.length));
        best.length = w.length;
        rep = p;
      }
    }
    out.length = 0;
    out.reserve(best.length);
    out.bytes.set(best.bytes.subarray(0, best.length));
    out.length = best.length;
    return rep;
  }
}

/** What `concreteRun` needs of the explorer that found the counterexample. */
export interface Replayer {
  readonly modelName: string;
  readonly params: AnyParams;
  readonly transitionsOf: (s: unknown) => readonly Transition<unknown>[];
  /** Applies `t` to `s`: returns the successor and leaves its representative's bytes in `out`. */
  readonly apply: (s: unknown, t: Transition<unknown>) => unknown;
  readonly out: ByteWriter;
  /** A state encoded and decoded, not canonicalized: as the search sees it without --symmetry. */
  readonly plain: (x: unknown) => unknown;
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

function smaller(a: ByteWriter, b: ByteWriter): boolean {
  if (a.length !== b.length) return a.length < b.length;
  const x = a.bytes;
  const y = b.bytes;
  for (let i = 0; i < a.length; i++) if (x[i] !== y[i]) return x[i] < y[i];
  return false;
}

/**
 * Partial-order reduction (--por), the ample-set method with lanes as processes. In a state,
 * the ample set is a single transition t of some lane L such that
 *  - t is declared `local` (Transition.local: it reads and writes only L's private state and no
 *    property looks at what it changes): so it is independent of every other lane's
 *    transitions (C1) and invisible (C2);
 *  - t is L's only enabled transition: then no other transition of L (which would depend on t,
 *    through L's program counter) can be taken before t, and no other lane can disable t, as t
 *    reads only L's state (C1). The declaration must also mean that other lanes cannot enable
 *    another transition of L at that point: a `local` step is not a choice point;
 *  - (cycle proviso, C3, checked by the explorer) t's successor is a new state, stored after
 *    the current one, or, under BFS with the exact store, a state already stored at depth d + 1
 *    (the next level; Bošnački and Holzmann's BFS condition). A reduced state's one edge then
 *    goes to a higher id (to a greater BFS depth), so every cycle of the reduced graph holds a
 *    fully expanded state and no transition is ignored forever. Under DFS the "new" rule is
 *    stronger than the classic "not on the stack" (the explorer keeps no stack to ask).
 * Otherwise the state is fully expanded. With C0–C3 every reachable deadlock and every state
 * of the visible (non-local) part is still reached, so invariants, final properties, step
 * properties over visible state and no-deadlock keep their verdicts. A BFS counterexample is
 * then the shortest in the reduced graph, not necessarily in the full one.
 *
 * Returns the index of the ample transition, or -1 (expand fully).
 */
export function ampleTransition(ts: readonly Transition<unknown>[]): number {
  for (let i = 0; i < ts.length; i++) {
    if (ts[i].local !== true) continue;
    const lane = ts[i].lane;
    let alone = true;
    for (let j = 0; j < ts.length && alone; j++) if (j !== i && ts[j].lane === lane) alone = false;
    if (alone) return i;
  }
  return -1;
}
