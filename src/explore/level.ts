/**
 * One thread's share of a BFS level in a parallel search (parallel.ts): take chunks of the
 * level's states from a shared counter, expand each with the same Expander as the one-thread
 * search, insert successors into the shared table, and note for each new state the smallest
 * (parent id, transition index) that reaches it. The coordinator then orders the next level by
 * that key, which is the order the one-thread BFS stores them in: states get the same ids, the
 * same parents and the same shortest counterexamples.
 */
import { getHeapStatistics } from 'node:v8';
import type { Property } from '../core/model.ts';
import type { FiredLabel } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import type { Expander, Findings } from './expand.ts';
import { C, SharedArea, STOP_MAX_STATES, TableFull, type SharedStore } from './shared_store.ts';

/** States a thread takes at a time. */
export const CHUNK = 64;
/** The lock bit of a first-parent word (positions stay below it). */
const LOCKED = 1 << 30;

/** A level as every thread sees it. */
export interface LevelTask {
  readonly depth: number;
  /** BFS id of the level's first state. */
  readonly firstId: number;
  readonly count: number;
  /** The level's states' indices (Int32), in BFS order. */
  readonly list: SharedArrayBuffer;
  /** Index of the first state inserted while this level is expanded (the next level's first). */
  readonly nextFirst: number;
  /**
   * Per next-level state (index - nextFirst): the position in this level of its first parent,
   * plus one (Int32; 0 until reached), and the index of that parent's transition (Uint16).
   */
  readonly parents: SharedArrayBuffer;
  readonly actions: SharedArrayBuffer;
  /** Fingerprint store: the level's states' bytes, by index - `logFirst`, and the next level's. */
  readonly log?: SharedArrayBuffer;
  readonly logFirst?: number;
  readonly nextLog?: SharedArrayBuffer;
  /** False at the depth bound: successors are looked up (to tell whether the run is cut), not stored. */
  readonly expandAll: boolean;
  readonly maxStates: number;
  /** The shared table as it is now (a worker that joins late has not seen it grow). */
  readonly table: SharedArrayBuffer;
  /** Properties found at earlier levels: not checked any more. */
  readonly settled: readonly string[];
}

/** A violation met by one thread: invariants by the violating state's index, others by (state id, transition). */
export interface Candidate {
  readonly property: string;
  /** Invariant: the state's store index; else its BFS id. */
  readonly at: number;
  readonly action: number;
  readonly message: string;
  readonly fields: readonly string[];
}

export interface LevelReport {
  /** States this thread stored. */
  readonly inserted: number;
  readonly transitions: number;
  readonly reducedStates: number;
  readonly cut: boolean;
  readonly fired: readonly FiredLabel[];
  /** Invariant violations: every state index met (the coordinator keeps the one with the smallest id). */
  readonly invariants: readonly Candidate[];
  /** Other violations: this thread's smallest (state id, transition) per property. */
  readonly others: readonly Candidate[];
  /** Chunks abandoned because the table was full, to be redone after it grows: [from, to) positions. */
  readonly abandoned: readonly (readonly [number, number])[];
  /** Stopped at a chunk boundary because the table must grow or the search must stop. */
  readonly paused: boolean;
  /** Stopped at a chunk boundary because `between` asked for the event loop to run: call run again. */
  readonly yielded: boolean;
  /** This thread's V8 heap in use (for --max-memory). */
  readonly heapUsed: number;
}

/** The findings of one thread during one level (see Candidate). */
class LevelFindings implements Findings {
  settled = new Set<string>();
  invariants: Candidate[] = [];
  readonly others = new Map<string, Candidate>();
  has(property: string): boolean {
    return this.settled.has(property);
  }
  record(p: Property<unknown, AnyParams>, at: number, action: number, v: { message: string; fields: readonly string[] }): void {
    if (p.kind === 'invariant') {
      this.invariants.push({ property: p.name, at, action, ...v });
      return;
    }
    const had = this.others.get(p.name);
    if (!had || at < had.at || (at === had.at && action < had.action)) this.others.set(p.name, { property: p.name, at, action, ...v });
  }
}

/** One thread's level worker: holds its Expander and store handle across levels. */
export class LevelWorker {
  readonly findings = new LevelFindings();
  private readonly stride: number;

  constructor(
    private readonly expander: Expander,
    private readonly store: SharedStore,
  ) {
    this.stride = store.setup.stride;
  }

  /** Makes the expander record into this worker's findings (it is built with them). */
  static findings(): Findings {
    return new LevelFindings();
  }

  /**
   * Works on `task` until its chunks are taken (done), the table asks to grow, or the search is
   * stopped (paused). `redo` are chunks this thread abandoned before; `between` runs after each
   * chunk (the coordinator checks the clock there) and returns true to have run() return early
   * (yielded), so that the event loop can run.
   */
  run(task: LevelTask, redo: readonly (readonly [number, number])[], between?: () => boolean): LevelReport {
    const expander = this.expander;
    const store = this.store;
    const findings = this.expander.findings as LevelFindings;
    findings.settled = new Set(task.settled);
    findings.invariants = [];
    findings.others.clear();
    const control = store.control;
    const list = new Int32Array(task.list);
    const parentArea = new SharedArea(task.parents);
    const actionArea = new SharedArea(task.actions);
    let parents = parentArea.words;
    let actions = new Uint16Array(task.actions, 0, task.actions.byteLength >>> 1);
    let position = 0;
    const log = task.log ? new SharedArea(task.log) : undefined;
    const nextLog = task.nextLog ? new SharedArea(task.nextLog) : undefined;
    const stride = this.stride;
    const out = expander.out;
    const nextFirst = task.nextFirst;
    let transitions = 0;
    let reduced = 0;
    let cut = false;
    const fired = new Map<string, FiredLabel>();
    const abandoned: [number, number][] = [];
    let id = 0;

    // Under --symmetry the expander skips a successor whose bytes are stored (a representative
    // already): only for states of earlier levels here, since a state of the next level may
    // still get a smaller first parent from this visit.
    const lookup = {
      contains: (b: Uint8Array) => {
        const a = store.find(b);
        return a >= 0 && a < nextFirst;
      },
    };
    // --por's cycle proviso: the ample successor is new or on the next level. Unlike one thread's
    // fingerprint table, the shared one keeps each state's index, so this holds for fingerprints
    // too (and must: "new" alone depends on which thread gets there first).
    const proviso = (): boolean => {
      const a = store.find(out.bytes);
      return a < 0 || a >= nextFirst;
    };
    // The first parent of a next-level state: the smallest (position, transition). A parent is
    // expanded by one thread, transitions in order, so a thread that finds its own position
    // there already has the smaller transition. The winner locks the word while it writes the
    // transition, so that the pair is never torn.
    const firstParent = (at: number, transition: number): void => {
      if (at >= parents.length) {
        parentArea.ensure(4 * (at + 1));
        actionArea.ensure(2 * (at + 1));
        parents = parentArea.words;
        actions = new Uint16Array(task.actions, 0, task.actions.byteLength >>> 1);
      }
      const want = position + 1;
      // Most calls find a first parent there already: a plain read settles them (the word only
      // ever decreases, so a stale read errs towards the atomic path).
      const seen = parents[at];
      if (seen !== 0 && (seen & LOCKED) === 0 && seen <= want) return;
      for (;;) {
        const cur = Atomics.load(parents, at);
        if (cur & LOCKED) continue;
        if (cur !== 0 && cur <= want) return;
        if (Atomics.compareExchange(parents, at, cur, want | LOCKED) === cur) {
          actions[at] = transition;
          Atomics.store(parents, at, want);
          return;
        }
      }
    };
    const visit = (i: number, value: unknown): void => {
      if (!task.expandAll) {
        if (store.find(out.bytes) < 0) cut = true;
        return;
      }
      if (store.count >= task.maxStates && store.find(out.bytes) < 0) {
        Atomics.store(control, C.STOP, STOP_MAX_STATES);
        return;
      }
      const r = store.insert(out.bytes);
      if (r >= 0) {
        if (nextLog) {
          const at = (r - nextFirst) * stride;
          nextLog.ensure(at + stride);
          nextLog.bytes.set(out.bytes.subarray(0, stride), at);
        }
        firstParent(r - nextFirst, i);
        expander.checkState(r, value);
      } else if (-1 - r >= nextFirst) firstParent(-1 - r - nextFirst, i);
    };

    const chunk = (from: number, to: number): boolean => {
      // Counters are kept per chunk: an abandoned chunk is redone whole.
      const t0 = expander.transitions;
      const r0 = expander.reducedStates;
      const f0 = expander.fired;
      try {
        for (let k = from; k < to; k++) {
          const index = list[k];
          position = k;
          id = task.firstId + k;
          if (log) {
            const at = (index - task.logFirst!) * stride;
            expander.expand(id, log.bytes, at, at + stride, lookup, task.expandAll, proviso, visit);
          } else {
            const bytes = store.arenaBytes(index);
            expander.expand(id, bytes, index * stride, (index + 1) * stride, lookup, task.expandAll, proviso, visit);
          }
        }
      } catch (e) {
        if (!(e instanceof TableFull)) throw e;
        expander.transitions = t0;
        expander.reducedStates = r0;
        expander.fired?.clear();
        abandoned.push([from, to]);
        return false;
      }
      transitions += expander.transitions - t0;
      reduced += expander.reducedStates - r0;
      if (f0) {
        for (const f of f0.values()) {
          const had = fired.get(f.label);
          if (had) (had as { count: number }).count += f.count;
          else fired.set(f.label, { ...f });
        }
        f0.clear();
      }
      return true;
    };

    let paused = false;
    let yielded = false;
    const inserted0 = store.inserted;
    for (const [from, to] of redo) if (!chunk(from, to)) paused = true;
    while (!paused) {
      if (Atomics.load(control, C.STOP) !== 0 || Atomics.load(control, C.GROW) !== 0) {
        paused = true;
        break;
      }
      const from = Atomics.add(control, C.NEXT, CHUNK);
      if (from >= task.count) break;
      if (!chunk(from, Math.min(task.count, from + CHUNK))) paused = true;
      if (between?.()) {
        yielded = true;
        break;
      }
    }
    // Done with the level: the next one's indices start past every reservation.
    if (!paused && !yielded) store.release();
    return {
      inserted: store.inserted - inserted0,
      transitions,
      reducedStates: reduced,
      cut,
      fired: [...fired.values()],
      invariants: findings.invariants,
      others: [...findings.others.values()],
      abandoned,
      paused,
      yielded,
      heapUsed: getHeapStatistics().used_heap_size,
    };
  }
}
