import type { AnyTransition } from '../core/model.ts';

/**
 * The state-space reductions of the search (--symmetry, --por). Symmetry is the space's part:
 * every state is replaced by the representative of its orbit under the permutations of the
 * interchangeable lanes, the permuted state whose bytes are smallest (space.ts, canonicalize;
 * for a schema the permutation renames every field typed by the declared universe). Sound when
 * the model is symmetric: the transitions of a permuted state are the permuted transitions, and
 * every property gives the same verdict on a state and its permutations. Then a state is
 * reachable exactly when its representative is, and violates a property exactly when its
 * representative does. The search samples both conditions on the states it expands
 * (samples.ts) and turns a counterexample over representatives into a concrete run of the
 * model by replaying from the real initial state (counterexample.ts). Limitation: n!
 * permutations per successor, so at most MAX_SYMMETRIC_LANES lanes.
 *
 * test/explore/reductions.test.ts checks both reductions against unreduced runs on random
 * models and on every model's buggy variants.
 */

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
export function ampleTransition(ts: readonly AnyTransition[]): number {
  for (let i = 0; i < ts.length; i++) {
    if (ts[i].local !== true) continue;
    const lane = ts[i].lane;
    let alone = true;
    for (let j = 0; j < ts.length && alone; j++) if (j !== i && ts[j].lane === lane) alone = false;
    if (alone) return i;
  }
  return -1;
}
