import { ModelError, UsageError } from '../core/errors.ts';
import { violationOf, type AnyModel, type Check, type Property, type Transition } from '../core/model.ts';
import type { FiredLabel, Outcome, PropertyResult, StopReason, Strategy, Trace, TraceStep } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import { renderState, stateKey } from '../core/value.ts';
import { Frontier } from './frontier.ts';
import { Int32Column } from './growable.ts';

export interface Progress {
  readonly states: number;
  readonly transitions: number;
  readonly queued: number;
  readonly depth: number;
  readonly elapsedMs: number;
}

export interface ExploreOptions {
  /** bfs (default) finds shortest counterexamples; dfs goes deep first. */
  readonly strategy?: Strategy;
  /** Names of the properties to check; default (undefined): all of the model's; [] checks none. */
  readonly properties?: readonly string[];
  /** States at this depth are checked but not expanded. */
  readonly maxDepth?: number;
  /** At most this many distinct states are stored. */
  readonly maxStates?: number;
  readonly timeLimitSeconds?: number;
  /** Stop at the first violation instead of deciding every checked property. */
  readonly stopOnFirst?: boolean;
  /** Called about every `progressIntervalMs` (default 1000) during the run. */
  readonly onProgress?: (p: Progress) => void;
  readonly progressIntervalMs?: number;
  /** Count the transitions taken per label, for action coverage (Outcome.fired). */
  readonly coverage?: boolean;
}

/**
 * How often an expanded state is expanded a second time to check that the model is
 * deterministic: every state among the first DETERMINISM_PREFIX, then one in DETERMINISM_EVERY.
 * Counterexample replay checks every step of the path as well.
 */
const DETERMINISM_PREFIX = 2000;
const DETERMINISM_EVERY = 64;
/** Expansions between two looks at the clock. */
const CLOCK_EVERY = 256;

/** Resolves the property selection once, with a UsageError that lists the valid names. */
export function selectProperties(model: AnyModel, names: readonly string[] | undefined): Property<unknown, AnyParams>[] {
  if (!names) return [...model.properties];
  return names.map((n) => {
    const p = model.properties.find((q) => q.name === n);
    if (!p)
      throw new UsageError(`unknown property "${n}" for model "${model.name}"; available: ${model.properties.map((q) => q.name).join(', ')}`);
    return p;
  });
}

function positive(name: string, v: number | undefined): number {
  if (v === undefined) return Infinity;
  if (!(v >= 0) || !Number.isFinite(v)) throw new UsageError(`${name} must be a non-negative number, got ${v}`);
  return v;
}

interface Found {
  readonly stateId: number;
  /** For a step property: the index of the violating transition out of `stateId`. */
  readonly action: number;
  readonly message: string;
  readonly fields: readonly string[];
}

/**
 * Explores every state reachable from the model's initial states under `params`, checking the
 * selected properties, and returns what it found. No I/O: the caller prints.
 */
export function explore(model: AnyModel, params: AnyParams, options: ExploreOptions = {}): Outcome {
  const strategy = options.strategy ?? 'bfs';
  if (strategy !== 'bfs' && strategy !== 'dfs') throw new UsageError(`unknown strategy "${strategy}"; valid: bfs, dfs`);
  const selected = selectProperties(model, options.properties);
  const maxDepth = positive('max-depth', options.maxDepth);
  const maxStates = positive('max-states', options.maxStates);
  const timeLimitMs = positive('time-limit', options.timeLimitSeconds) * 1000;
  const progressMs = options.progressIntervalMs ?? 1000;

  const invariants = selected.filter((p) => p.kind === 'invariant');
  const finals = selected.filter((p) => p.kind === 'final');
  const steps = selected.filter((p) => p.kind === 'step');
  const checkDeadlock = selected.some((p) => p.kind === 'deadlock');
  const isEnd = model.isEndState ?? (() => false);

  // Stored states: key by id and id by key; how each was first reached.
  const keys: string[] = [];
  const ids = new Map<string, number>();
  const parent = new Int32Column();
  const action = new Int32Column();
  const depth = new Int32Column();
  const found = new Map<string, Found>();
  const frontier = new Frontier<unknown>(strategy);
  const fired = options.coverage ? new Map<string, { label: string; lane: string; action?: string; count: number }>() : undefined;

  const started = performance.now();
  let transitions = 0;
  let maxDepthSeen = 0;
  let expansions = 0;
  let lastProgress = started;
  let stoppedBy: StopReason | undefined;
  let cutByDepth = false;

  const guard = <T>(what: () => string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof ModelError && e.message.startsWith('transition')) throw e;
      throw new ModelError(`${what()}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  };
  const transitionsOf = (s: unknown): readonly Transition<unknown>[] => {
    const ts = guard(() => `transitions() threw in state {${renderState(s)}}`, () => model.transitions(s, params));
    if (!Array.isArray(ts)) throw new ModelError(`transitions() returned ${typeof ts}, expected an array, in state {${renderState(s)}}`);
    return ts;
  };
  const apply = (s: unknown, t: Transition<unknown>): { next: unknown; key: string } =>
    guard(
      () => `transition "${t?.label}" threw from state {${renderState(s)}}`,
      () => {
        const next = t.apply();
        return { next, key: stateKey(next) };
      },
    );
  const record = (p: Property<unknown, AnyParams>, c: Check, stateId: number, actionIndex: number): void => {
    const v = violationOf(c);
    if (v && !found.has(p.name)) found.set(p.name, { stateId, action: actionIndex, ...v });
  };
  const checkState = (id: number, s: unknown): void => {
    for (const p of invariants)
      if (!found.has(p.name) && p.kind === 'invariant')
        record(p, guard(() => `property "${p.name}" threw on state {${renderState(s)}}`, () => p.check(s, params)), id, -1);
  };
  const add = (key: string, s: unknown, from: number, via: number, d: number): number => {
    const id = keys.length;
    keys.push(key);
    ids.set(key, id);
    parent.push(from);
    action.push(via);
    depth.push(d);
    if (d > maxDepthSeen) maxDepthSeen = d;
    checkState(id, s);
    frontier.push(id, s);
    return id;
  };
  const done = (): boolean => found.size > 0 && (options.stopOnFirst || found.size === selected.length);

  // Initial states are checked like any other.
  const inits = guard(() => 'init() threw', () => model.init(params));
  const initStates: unknown[] = Array.isArray(inits) ? [...inits] : [inits];
  if (initStates.length === 0) throw new ModelError(`model "${model.name}": init() returned no state`);
  initStates.forEach((s, i) => {
    const key = guard(() => `initial state ${i + 1} is malformed`, () => stateKey(s));
    if (!ids.has(key) && !done()) add(key, s, -1 - i, -1, 0);
  });

  search: while (frontier.size > 0 && !done()) {
    const { id, state } = frontier.take();
    expansions++;
    if (expansions % CLOCK_EVERY === 0) {
      const now = performance.now();
      if (now - started > timeLimitMs) {
        stoppedBy = { kind: 'time-limit', limit: timeLimitMs / 1000 };
        break;
      }
      if (options.onProgress && now - lastProgress >= progressMs) {
        lastProgress = now;
        options.onProgress({ states: keys.length, transitions, queued: frontier.size, depth: maxDepthSeen, elapsedMs: now - started });
      }
    }
    const ts = transitionsOf(state);

    // A state with nothing enabled: an accepted end, or a deadlock; final properties apply.
    if (ts.length === 0) {
      const end = guard(() => `isEndState() threw on state {${renderState(state)}}`, () => isEnd(state, params));
      if (checkDeadlock && !end && !found.has('no-deadlock'))
        found.set('no-deadlock', { stateId: id, action: -1, message: 'no transition is enabled and this is not an accepted end state', fields: [] });
      for (const p of finals)
        if (p.kind === 'final' && !found.has(p.name))
          record(p, guard(() => `property "${p.name}" threw on state {${renderState(state)}}`, () => p.check(state, params)), id, -1);
      continue;
    }
    // At the depth bound, successors already stored are still linked; new ones are not stored.
    const d = depth.get(id);
    const atBound = d >= maxDepth;

    const sample = expansions <= DETERMINISM_PREFIX || expansions % DETERMINISM_EVERY === 0;
    const successorKeys: string[] | undefined = sample ? [] : undefined;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i];
      const { next, key } = apply(state, t);
      transitions++;
      if (fired) {
        const f = fired.get(t.label);
        if (f) f.count++;
        else fired.set(t.label, { label: t.label, lane: t.lane, action: t.action, count: 1 });
      }
      successorKeys?.push(key);
      for (const p of steps)
        if (p.kind === 'step' && !found.has(p.name))
          record(p, guard(() => `property "${p.name}" threw on transition "${t.label}"`, () => p.check(state, t, next, params)), id, i);

      // Skip if already stored; otherwise store, check and enqueue.
      if (ids.has(key)) continue;
      if (atBound) {
        cutByDepth = true;
        continue;
      }
      if (keys.length >= maxStates) {
        stoppedBy = { kind: 'max-states', limit: maxStates };
        break search;
      }
      add(key, next, id, i, d + 1);
    }
    if (successorKeys) checkDeterministic(state, ts, successorKeys);
  }

  const complete = frontier.size === 0 && !stoppedBy && !cutByDepth;
  if (!stoppedBy && cutByDepth) stoppedBy = { kind: 'max-depth', limit: maxDepth };
  if (!stoppedBy && !complete && options.stopOnFirst) stoppedBy = { kind: 'first-violation' };
  const elapsedMs = performance.now() - started;

  // Rebuild each counterexample by replaying action indices from its initial state.
  const rebuild = (stateId: number, lastAction: number): Trace => {
    const chain: number[] = [];
    let x = stateId;
    while (parent.get(x) >= 0) {
      chain.push(x);
      x = parent.get(x);
    }
    const initial = initStates[-1 - parent.get(x)];
    const nondeterministic = (step: number) =>
      new ModelError(
        `model "${model.name}" is not deterministic: replaying the path to a violation reached a different state at step ${step} ` +
          `(this usually happens when init() or transitions() depend on something outside the state, such as a counter, a random number or a mutable object)`,
      );
    if (stateKey(initial) !== keys[x]) throw nondeterministic(0);
    let s = initial;
    const out: TraceStep[] = [];
    const replay = (actionIndex: number, expectedKey: string | undefined) => {
      const t = transitionsOf(s)[actionIndex];
      if (!t) throw nondeterministic(out.length + 1);
      const { next, key } = apply(s, t);
      if (expectedKey !== undefined && key !== expectedKey) throw nondeterministic(out.length + 1);
      out.push({ label: t.label, lane: t.lane, state: next });
      s = next;
    };
    for (let k = chain.length - 1; k >= 0; k--) replay(action.get(chain[k]), keys[chain[k]]);
    if (lastAction >= 0) replay(lastAction, undefined);
    return { initial, steps: out };
  };

  const properties: PropertyResult[] = selected.map((p) => {
    const f = found.get(p.name);
    const base = { name: p.name, kind: p.kind, description: p.description };
    if (f) return { ...base, verdict: 'violated', violation: { message: f.message, fields: f.fields, trace: rebuild(f.stateId, f.action) } };
    return { ...base, verdict: complete ? 'holds' : 'unknown' };
  });
  return {
    model: model.name,
    params,
    strategy,
    verdict: found.size > 0 ? 'violated' : complete ? 'holds' : 'incomplete',
    complete,
    stoppedBy,
    stats: { initialStates: initStates.length, states: keys.length, transitions, maxDepth: maxDepthSeen, elapsedMs },
    properties,
    ...(fired ? { fired: [...fired.values()] as FiredLabel[] } : {}),
  };

  /** Expands `state` again and compares: same labels, lanes and successors, in the same order. */
  function checkDeterministic(state: unknown, first: readonly Transition<unknown>[], firstKeys: readonly string[]): void {
    const again = transitionsOf(state);
    const where = `in state {${renderState(state)}}`;
    const labels = new Set<string>();
    for (const t of first) {
      if (labels.has(t.label)) throw new ModelError(`model "${model.name}": two transitions are labelled "${t.label}" ${where}; labels must be unique per state`);
      labels.add(t.label);
    }
    if (again.length !== first.length)
      throw new ModelError(`model "${model.name}" is not deterministic: transitions() gave ${first.length} then ${again.length} transitions ${where}`);
    for (let i = 0; i < again.length; i++) {
      if (again[i].label !== first[i].label || again[i].lane !== first[i].lane)
        throw new ModelError(`model "${model.name}" is not deterministic: transition ${i + 1} was "${first[i].label}" then "${again[i].label}" ${where}`);
      if (apply(state, again[i]).key !== firstKeys[i])
        throw new ModelError(`model "${model.name}" is not deterministic: transition "${first[i].label}" led to two different states ${where}`);
    }
  }
}
