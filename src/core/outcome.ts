import type { AnyParams } from './params.ts';
import type { PropertyKind } from './model.ts';
import type { StateFormat } from './show.ts';

/** One step of a counterexample: the transition taken and the state it led to. */
export interface TraceStep<S = unknown> {
  readonly label: string;
  readonly lane: string;
  readonly state: S;
}

/** A path from an initial state: `steps[i].state` is the state after step i + 1. */
export interface Trace<S = unknown> {
  readonly initial: S;
  readonly steps: readonly TraceStep<S>[];
  /** How the trace's states are shown and exported (from the model's schema, or its Immutable values). */
  readonly format: StateFormat;
  /**
   * A liveness counterexample is a lasso: the steps after state `loop` repeat forever (the last
   * step returns to state `loop`), or, when `loop` is the last state, the run stays there forever.
   */
  readonly loop?: number;
}

export interface Violation<S = unknown> {
  readonly message: string;
  /** Field paths the property names as offending; highlighted in reports. */
  readonly fields: readonly string[];
  /**
   * The path to the violation. For an invariant or a deadlock the last state violates; for a
   * step property the last step does; for a final property the last state is quiescent and bad.
   */
  readonly trace: Trace<S>;
}

export type Verdict = 'holds' | 'violated' | 'unknown';

export interface PropertyResult<S = unknown> {
  readonly name: string;
  readonly kind: PropertyKind;
  readonly description: string;
  readonly verdict: Verdict;
  readonly violation?: Violation<S>;
}

export interface Stats {
  readonly initialStates: number;
  /** Distinct states stored. */
  readonly states: number;
  /** Transitions taken (successors computed), duplicates included. */
  readonly transitions: number;
  /** Length of the longest shortest-known path to a stored state. */
  readonly maxDepth: number;
  readonly elapsedMs: number;
  /** exact: every state stored whole; fingerprint: 64-bit hashes only (see collisionOdds). */
  readonly storage: 'exact' | 'fingerprint';
  /** Memory per stored state: its share of the hash table, its bytes, parent and action. */
  readonly bytesPerState: number;
  /** Fingerprint storage: an upper estimate of the chance that two states were merged. */
  readonly collisionOdds?: number;
  /**
   * Reductions in force: `symmetry` (states stands for orbits of interchangeable lanes), `por`
   * with the number of states expanded by one local transition only, and the worker count.
   */
  readonly symmetry?: boolean;
  readonly por?: { readonly reducedStates: number };
  readonly workers?: number;
  /** Fingerprint storage: bytes of the path columns kept in a temporary file instead of memory. */
  readonly pathBytesOnDisk?: number;
  /**
   * Liveness properties: the full graph they were decided on (no reduction applies to it), its
   * edges, and the time to build it and search it for fair cycles.
   */
  readonly liveness?: { readonly states: number; readonly edges: number; readonly elapsedMs: number };
}

/** Why a run ended before it had explored every reachable state. */
export type StopReason =
  | { readonly kind: 'max-states'; readonly limit: number }
  | { readonly kind: 'max-depth'; readonly limit: number }
  | { readonly kind: 'time-limit'; readonly limit: number }
  /** Memory ran short: `limit` in bytes, `detail` says which limit and how much was in use. */
  | { readonly kind: 'memory'; readonly limit: number; readonly detail: string }
  | { readonly kind: 'first-violation' }
  /** Stopped by the user (SIGINT, SIGTERM): the counts and violations so far. */
  | { readonly kind: 'interrupted'; readonly signal?: string };

export type Strategy = 'bfs' | 'dfs';

export interface Outcome<S = unknown> {
  readonly model: string;
  readonly params: AnyParams;
  readonly strategy: Strategy;
  /** violated: some checked property is violated; incomplete: none is, but not every state was explored. */
  readonly verdict: 'holds' | 'violated' | 'incomplete';
  readonly complete: boolean;
  readonly stoppedBy?: StopReason;
  readonly stats: Stats;
  readonly properties: readonly PropertyResult<S>[];
  /** With the coverage option: each distinct label taken, in order of first firing. */
  readonly fired?: readonly FiredLabel[];
}

/** A transition label that fired during a run, how often, and what coverage needs to name its action. */
export interface FiredLabel {
  readonly label: string;
  readonly lane: string;
  readonly action?: string;
  readonly count: number;
}

export function statesPerSecond(stats: Stats): number {
  return stats.elapsedMs > 0 ? Math.round((stats.states * 1000) / stats.elapsedMs) : stats.states;
}
