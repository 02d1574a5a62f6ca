/**
 * What the search does with one state, whichever thread runs it: expand it, compute its
 * successors, check the properties, apply the reductions and count what coverage needs. The
 * one-thread search (explore.ts) and every worker of a parallel one (parallel.ts) run this
 * same code, so they take the same decisions.
 */
import { ByteWriter } from '../core/codec.ts';
import { ModelError, modelFailure } from '../core/errors.ts';
import { DEADLOCK_MESSAGE, DEADLOCK_PROPERTY, violationOf, type AnyTransition, type Check, type Property } from '../core/model.ts';
import type { FiredLabel } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import { ampleTransition } from './reduce.ts';
import { Samples } from './samples.ts';
import type { Space } from './space.ts';

/** A property's first violation: the state (and, for a step property, the transition out of it). */
export interface Found {
  readonly stateId: number;
  /** For a step property: the index of the violating transition out of `stateId`; else -1. */
  readonly action: number;
  readonly message: string;
  readonly fields: readonly string[];
}

/**
 * Where the expander records violations. The one-thread search keeps the first of each
 * property (FirstFindings); a parallel one keeps what it needs to pick the same one (level.ts).
 */
export interface Findings {
  /** Whether `property` needs no more checking. */
  has(property: string): boolean;
  record(p: Property<unknown, AnyParams>, stateId: number, action: number, v: { message: string; fields: readonly string[] }): void;
}

/** The first violation of each property, in the order the search meets them. */
export class FirstFindings implements Findings {
  readonly found = new Map<string, Found>();
  has(property: string): boolean {
    return this.found.has(property);
  }
  record(p: Property<unknown, AnyParams>, stateId: number, action: number, v: { message: string; fields: readonly string[] }): void {
    if (!this.found.has(p.name)) this.found.set(p.name, { stateId, action, ...v });
  }
}

/** What the expander asks of the store. */
export interface Lookup {
  /** Whether the state b[0, n) is stored (for a fingerprint store: its fingerprint is). */
  contains(b: Uint8Array, n: number): boolean;
}

/** Action indices are stored in 16 bits. */
export const MAX_TRANSITIONS_PER_STATE = 0xffff;

export interface ExpanderOptions {
  readonly por: boolean;
  readonly coverage: boolean;
  /** Check the model on a sample of expansions (determinism, labels, the declared symmetry and local transitions). */
  readonly sample: boolean;
}

/**
 * Called for each successor the search must consider, with its bytes in `out` (its orbit's
 * representative under --symmetry): `i` is the transition's index, `value` the successor.
 */
export type Visit = (i: number, value: unknown) => void;

/** Counts a transition taken under its label, for coverage. */
export function countFired(fired: Map<string, FiredLabel>, t: AnyTransition): void {
  const f = fired.get(t.label);
  if (f) (f as { count: number }).count++;
  else fired.set(t.label, { label: t.label, lane: t.lane, action: t.action, count: 1 });
}

export class Expander {
  readonly out = new ByteWriter();
  transitions = 0;
  /** --por: states expanded by their ample transition alone. */
  reducedStates = 0;
  readonly fired: Map<string, FiredLabel> | undefined;
  private readonly invariants: Property<unknown, AnyParams>[];
  private readonly finals: Property<unknown, AnyParams>[];
  private readonly steps: Property<unknown, AnyParams>[];
  private readonly deadlock: boolean;
  private readonly samples: Samples | undefined;
  private expansions = 0;
  /** Told of each expansion, with the state in `space.state` and its transitions (explore.ts records the liveness graph so). */
  onExpand: ((id: number, ts: readonly AnyTransition[]) => void) | undefined;

  constructor(
    readonly space: Space,
    private readonly model: {
      readonly name: string;
      readonly isEndState?: (s: unknown, p: AnyParams) => boolean;
      readonly transitions: (s: unknown, p: AnyParams) => readonly AnyTransition[];
    },
    readonly selected: readonly Property<unknown, AnyParams>[],
    private readonly options: ExpanderOptions,
    readonly findings: Findings = new FirstFindings(),
  ) {
    this.invariants = selected.filter((p) => p.kind === 'invariant');
    this.finals = selected.filter((p) => p.kind === 'final');
    this.steps = selected.filter((p) => p.kind === 'step');
    this.deadlock = selected.some((p) => p.kind === 'deadlock');
    this.fired = options.coverage ? new Map() : undefined;
    this.samples = options.sample ? new Samples(space, this.model, this.invariants, this.finals, this.steps, options.por) : undefined;
  }

  /** Records what property `p` answered on `state` (a check that returned something else is the model's error). */
  private record(p: Property<unknown, AnyParams>, c: Check, stateId: number, action: number, state: unknown): void {
    if (c === true || this.findings.has(p.name)) return;
    let v;
    try {
      v = violationOf(c);
    } catch (e) {
      throw new ModelError(`property "${p.name}": ${(e as Error).message}, on state {${this.space.render(state)}}`);
    }
    if (v) this.findings.record(p, stateId, action, v);
  }

  /** Checks the invariants on a state just stored as `id`. */
  checkState(id: number, value: unknown): void {
    for (const p of this.invariants) {
      if (this.findings.has(p.name)) continue;
      let c: Check;
      try {
        c = (p as { check: (s: unknown, q: AnyParams) => Check }).check(value, this.space.params);
      } catch (e) {
        throw modelFailure(`property "${p.name}" threw on state {${this.space.render(value)}}`, e);
      }
      this.record(p, c, id, -1, value);
    }
  }

  /** The bytes in `out` (a successor or an initial state) replaced by its orbit's representative, unless already stored. */
  private canonical(store: Lookup, value: unknown): boolean {
    // A stored state is its orbit's representative, so a successor whose bytes are stored
    // already is one: no permutation can make it smaller.
    if (store.contains(this.out.bytes, this.out.length)) return true;
    this.space.canonicalize(this.out, value);
    return false;
  }

  /** The bytes of initial state `bytes` (canonical under --symmetry) into `out`. */
  initial(bytes: Uint8Array): void {
    this.out.setBytes(bytes, 0, bytes.length);
    if (this.space.perms) this.space.canonicalize(this.out);
  }

  /**
   * Expands state `id` (its bytes at b[start, end)). `proviso(bytes)` answers --por's cycle
   * proviso for the ample transition's successor (the bytes in `out`): whether it is new or on
   * the next BFS level. `expandAll` false means a state at the depth bound: successors are
   * visited, not reduced.
   */
  expand(id: number, b: Uint8Array, start: number, end: number, store: Lookup, expandAll: boolean, proviso: (out: ByteWriter) => boolean, visit: Visit): void {
    const space = this.space;
    const out = this.out;
    this.expansions++;
    const ts = space.expand(b, start, end);
    if (ts.length > MAX_TRANSITIONS_PER_STATE)
      throw new ModelError(`model "${this.model.name}": ${ts.length} transitions from one state; at most ${MAX_TRANSITIONS_PER_STATE} are supported, in state {${space.render(space.state)}}`);
    const sampled = this.samples?.wants(this.expansions) ?? false;
    this.onExpand?.(id, ts);

    // A state with nothing enabled: an accepted end, or a deadlock; final properties apply.
    if (ts.length === 0) {
      this.quiescent(id);
      if (sampled) this.samples!.check(ts, [], this.expansions);
      space.checkUnchanged();
      return;
    }

    // --por: only the ample transition, when there is one and its successor passes the cycle
    // proviso (reduce.ts); otherwise every transition.
    let from = 0;
    let to = ts.length;
    // The ample successor, computed for the proviso, is the one explored (its bytes stay in `out`).
    let ample = false;
    let ampleValue: unknown;
    let ampleStored = false;
    if (this.options.por && expandAll) {
      const a = ampleTransition(ts);
      if (a >= 0) {
        ampleValue = space.successor(a, out);
        ampleStored = space.perms ? this.canonical(store, ampleValue) : false;
        if (proviso(out)) {
          from = a;
          to = a + 1;
          ample = true;
          this.reducedStates++;
        }
      }
    }
    // On a sampled expansion, the successors' bytes when every transition was taken (samples.ts).
    const keys: Uint8Array[] | undefined = sampled && to - from === ts.length ? [] : undefined;
    const stepChecks = this.steps;
    for (let i = from; i < to; i++) {
      const t = ts[i];
      let next: unknown;
      let stored = false;
      if (ample) {
        next = ampleValue;
        stored = ampleStored;
      } else {
        next = space.successor(i, out);
        if (space.perms) stored = this.canonical(store, next);
      }
      this.transitions++;
      if (this.fired) countFired(this.fired, t);
      if (keys) keys.push(out.copy());
      for (const p of stepChecks) {
        if (this.findings.has(p.name)) continue;
        let c: Check;
        try {
          c = (p as { check: (a: unknown, s: AnyTransition, z: unknown, q: AnyParams) => Check }).check(space.state, t, next, space.params);
        } catch (e) {
          throw modelFailure(`property "${p.name}" threw on transition "${t.label}"`, e);
        }
        this.record(p, c, id, i, space.state);
      }
      if (!stored) visit(i, next);
    }
    if (sampled) this.samples!.check(ts, keys ?? [], this.expansions);
    space.checkUnchanged();
  }

  private quiescent(id: number): void {
    const space = this.space;
    let end = false;
    try {
      end = this.model.isEndState?.(space.state, space.params) ?? false;
    } catch (e) {
      throw modelFailure(`isEndState() threw on state {${space.render(space.state)}}`, e);
    }
    if (this.deadlock && !end && !this.findings.has(DEADLOCK_PROPERTY))
      this.findings.record(this.selected.find((p) => p.kind === 'deadlock')!, id, -1, { message: DEADLOCK_MESSAGE, fields: [] });
    for (const p of this.finals) {
      if (this.findings.has(p.name)) continue;
      let c: Check;
      try {
        c = (p as { check: (s: unknown, q: AnyParams) => Check }).check(space.state, space.params);
      } catch (e) {
        throw modelFailure(`property "${p.name}" threw on state {${space.render(space.state)}}`, e);
      }
      this.record(p, c, id, -1, space.state);
    }
  }
}
