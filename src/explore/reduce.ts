import { ModelError } from '../core/errors.ts';
import type { Symmetry, Transition } from '../core/model.ts';
import { ByteWriter, type StateCodec } from '../core/codec.ts';

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
  private scratch = new ByteWriter();
  private best = new ByteWriter();

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
    // The smallest bytes so far and the candidate: swapped, not copied, when a permutation wins.
    let best = this.best;
    let w = this.scratch;
    best.copyFrom(out);
    let rep = state;
    for (const perm of this.perms) {
      const p = this.permute(state, perm);
      w.length = 0;
      this.codec.encode(p, w);
      if (smaller(w, best)) {
        [best, w] = [w, best];
        rep = p;
      }
    }
    this.best = best;
    this.scratch = w;
    out.copyFrom(best);
    return rep;
  }
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
