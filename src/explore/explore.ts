import { ModelError, UsageError } from '../core/errors.ts';
import { DEADLOCK_MESSAGE, DEADLOCK_PROPERTY, violationOf, type AnyModel, type Check, type Property, type Transition } from '../core/model.ts';
import type { FiredLabel, Outcome, PropertyResult, Stats, StopReason, Strategy, Violation } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import { getHeapStatistics } from 'node:v8';
import { ByteWriter, bytesKey, StateCodec } from '../core/codec.ts';
import { renderState } from '../core/value.ts';
import { Frontier } from './frontier.ts';
import { PathColumns } from './growable.ts';
import { ampleTransition, Canonicalizer } from './reduce.ts';
import { counterexampleOf, replayerOf } from './counterexample.ts';
import { collisionOdds, ExactStore, FingerprintStore, StoreFull, type StateStore } from './store.ts';

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
  /**
   * Store 64-bit fingerprints instead of whole states (TLC's hash compaction): about a third of
   * the memory, with a small chance, reported in the outcome, of missing states.
   */
  readonly fingerprint?: boolean;
  /**
   * Stop as incomplete when the state store, the frontier and the V8 heap together hold more
   * than this many MiB. Independently, a run always stops when the V8 heap nears its limit or
   * the store cannot grow, so that it ends with its counts instead of crashing.
   */
  readonly maxMemoryMiB?: number;
  /** Count the transitions taken per label, for action coverage (Outcome.fired). */
  readonly coverage?: boolean;
  /**
   * Symmetry reduction over the lanes the model declares interchangeable (Model.symmetry): one
   * state per orbit; counterexamples are still concrete runs (see reduce.ts).
   */
  readonly symmetry?: boolean;
  /** Partial-order reduction over transitions declared `local` (see reduce.ts, ampleTransition). */
  readonly por?: boolean;
}

/**
 * How often an expanded state is expanded a second time to check that the model is
 * deterministic: every state among the first DETERMINISM_PREFIX, then one in DETERMINISM_EVERY.
 * Counterexample replay checks every step of the path as well.
 */
const DETERMINISM_PREFIX = 2000;
const DETERMINISM_EVERY = 64;
/** Expansions between two looks at the clock and the memory. */
const CLOCK_EVERY = 256;
/** The fraction of V8's heap limit at which a run stops (the store itself lives outside the heap). */
const HEAP_STOP = 0.9;
/** No value yet (a successor not computed). */
const NONE = Symbol('none');
/** Action indices are stored in 16 bits. */
const MAX_TRANSITIONS_PER_STATE = 0xffff;

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

/** A property's first violation in a search: the state (and, for a step property, the transition). */
export interface Found {
  readonly stateId: number;
  /** For a step property: the index of the violating transition out of `stateId`. */
  readonly action: number;
  readonly message: string;
  readonly fields: readonly string[];
}

/** How states were stored and what each cost: its share of the table, its bytes, offset and path columns. */
export function storageStats(store: StateStore, paths: PathColumns, transitions: number): Pick<Stats, 'storage' | 'bytesPerState' | 'collisionOdds'> {
  return {
    storage: store.exact ? 'exact' : 'fingerprint',
    bytesPerState: store.size > 0 ? (store.usedBytes + paths.usedBytes) / store.size : 0,
    ...(store.exact ? {} : { collisionOdds: collisionOdds(store.size, transitions) }),
  };
}

/** The outcome both explorers (one thread, workers) return from what they found and counted. */
export function outcomeOf(
  model: AnyModel,
  params: AnyParams,
  strategy: Strategy,
  selected: readonly Property<unknown, AnyParams>[],
  found: ReadonlyMap<string, Found>,
  complete: boolean,
  stoppedBy: StopReason | undefined,
  violation: (p: Property<unknown, AnyParams>, f: Found) => Violation,
  fired: Iterable<FiredLabel> | undefined,
  stats: Stats,
): Outcome {
  const properties: PropertyResult[] = selected.map((p) => {
    const f = found.get(p.name);
    const base = { name: p.name, kind: p.kind, description: p.description };
    if (f) return { ...base, verdict: 'violated', violation: violation(p, f) };
    return { ...base, verdict: complete ? 'holds' : 'unknown' };
  });
  return {
    model: model.name,
    params,
    strategy,
    verdict: found.size > 0 ? 'violated' : complete ? 'holds' : 'incomplete',
    complete,
    stoppedBy,
    stats,
    properties,
    ...(fired ? { fired: [...fired] } : {}),
  };
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
  const maxMemoryBytes = positive('max-memory', options.maxMemoryMiB) * 2 ** 20;
  const heapLimit = getHeapStatistics().heap_size_limit;

  const invariants = selected.filter((p) => p.kind === 'invariant');
  const finals = selected.filter((p) => p.kind === 'final');
  const steps = selected.filter((p) => p.kind === 'step');
  const checkDeadlock = selected.some((p) => p.kind === 'deadlock');
  const isEnd = model.isEndState ?? (() => false);
  const por = options.por === true;

  // Stored states: each encoded once, in the store; its id indexes how it was first reached
  // (parent id, index of the action). `out` holds the bytes of the state being looked up.
  const codec = new StateCodec();
  const out = new ByteWriter();
  let canon: Canonicalizer | undefined;
  if (options.symmetry) {
    const sym = model.symmetry?.(params);
    if (!model.symmetry)
      throw new UsageError(`--symmetry: model "${model.name}" declares no interchangeable lanes (Model.symmetry); run without --symmetry`);
    if (!sym) throw new UsageError(`--symmetry: model "${model.name}" declares no interchangeable lanes under these parameters; run without --symmetry`);
    canon = new Canonicalizer(model.name, sym, codec);
  }
  const store: StateStore = options.fingerprint ? new FingerprintStore() : new ExactStore();
  const paths = new PathColumns(strategy);
  const found = new Map<string, Found>();
  const frontier = new Frontier(strategy, !store.exact);
  const fired = options.coverage ? new Map<string, { label: string; lane: string; action?: string; count: number }>() : undefined;

  const started = performance.now();
  let transitions = 0;
  let maxDepthSeen = 0;
  let expansions = 0;
  let lastProgress = started;
  let stoppedBy: StopReason | undefined;
  let cutByDepth = false;
  let reducedStates = 0;
  /** BFS: the id of the first state stored at each depth (ids grow with depth). */
  const firstAtDepth: number[] = [0];

  const wrap = (what: string, e: unknown): ModelError => {
    if (e instanceof ModelError && e.message.startsWith('transition')) return e;
    return new ModelError(`${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  };
  const guard = <T>(what: () => string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw wrap(what(), e);
    }
  };
  const transitionsOf = (s: unknown): readonly Transition<unknown>[] => {
    let ts: readonly Transition<unknown>[];
    try {
      ts = model.transitions(s, params);
    } catch (e) {
      throw wrap(`transitions() threw in state {${renderState(s)}}`, e);
    }
    if (!Array.isArray(ts)) throw new ModelError(`transitions() returned ${typeof ts}, expected an array, in state {${renderState(s)}}`);
    return ts;
  };
  /** Set by `apply` under --symmetry: the successor's bytes are stored already (no need to look again). */
  let stored = false;
  /** Applies `t` to `s` and leaves the successor's bytes in `out`. */
  const apply = (s: unknown, t: Transition<unknown>): unknown => {
    // try/catch inline, not guard(): this runs once per transition and closures cost.
    try {
      const next = t.apply();
      out.length = 0;
      codec.encode(next, out);
      // A stored state is its orbit's representative (the one with the smallest bytes), so a
      // successor whose bytes are stored already is one: no permutation can make it smaller.
      stored = false;
      if (canon) {
        stored = store.contains(out.bytes, out.length);
        if (!stored) canon.canonicalize(next, out);
      }
      return next;
    } catch (e) {
      throw wrap(`transition "${t?.label}" threw from state {${renderState(s)}}`, e);
    }
  };
  const record = (p: Property<unknown, AnyParams>, c: Check, stateId: number, actionIndex: number): void => {
    const v = violationOf(c);
    if (v && !found.has(p.name)) found.set(p.name, { stateId, action: actionIndex, ...v });
  };
  const checkState = (id: number, s: unknown): void => {
    for (const p of invariants) {
      if (found.has(p.name) || p.kind !== 'invariant') continue;
      let c: Check;
      try {
        c = p.check(s, params);
      } catch (e) {
        throw wrap(`property "${p.name}" threw on state {${renderState(s)}}`, e);
      }
      if (c !== true) record(p, c, id, -1);
    }
  };
  /** Stores the state `s` whose bytes are in `out` unless already stored: its id, or -1. */
  const add = (s: unknown, from: number, via: number, d: number): number => {
    const id = store.add(out.bytes, out.length);
    if (id < 0) return -1;
    paths.push(from, via);
    if (d > maxDepthSeen) {
      maxDepthSeen = d;
      firstAtDepth[d] = id;
    }
    checkState(id, s);
    frontier.push(id, d, out.bytes, out.length);
    return id;
  };
  const memoryInUse = (): number => store.byteSize + frontier.byteSize + paths.byteSize;
  const done = (): boolean => found.size > 0 && (options.stopOnFirst || found.size === selected.length);

  // Initial states are checked like any other.
  const inits = guard(() => 'init() threw', () => model.init(params));
  const initStates: unknown[] = Array.isArray(inits) ? [...inits] : [inits];
  if (initStates.length === 0) throw new ModelError(`model "${model.name}": init() returned no state`);
  initStates.forEach((s, i) => {
    guard(
      () => `initial state ${i + 1} is malformed`,
      () => {
        out.length = 0;
        codec.encode(s, out);
      },
    );
    if (canon) canon.canonicalize(s, out);
    if (!done()) add(s, -1 - i, -1, 0);
  });

  search: while (frontier.size > 0 && !done()) {
    frontier.take();
    const id = frontier.id;
    const d = frontier.depth;
    let state: unknown;
    if (store instanceof ExactStore) {
      store.locate(id);
      state = codec.decode(store.chunk, store.start, store.end, true);
    } else state = codec.decode(frontier.bytes, frontier.start, frontier.end, true);
    expansions++;
    paths.startExpansion(id);
    if (expansions % CLOCK_EVERY === 0) {
      const now = performance.now();
      if (now - started > timeLimitMs) {
        stoppedBy = { kind: 'time-limit', limit: timeLimitMs / 1000 };
        break;
      }
      const heapUsed = getHeapStatistics().used_heap_size;
      if (heapUsed > HEAP_STOP * heapLimit) {
        stoppedBy = { kind: 'memory', limit: heapLimit, detail: `the V8 heap reached ${mib(heapUsed)} of its ${mib(heapLimit)} limit` };
        break;
      }
      if (heapUsed + memoryInUse() > maxMemoryBytes) {
        stoppedBy = { kind: 'memory', limit: maxMemoryBytes, detail: `store, frontier and heap reached ${mib(heapUsed + memoryInUse())}` };
        break;
      }
      if (options.onProgress && now - lastProgress >= progressMs) {
        lastProgress = now;
        options.onProgress({ states: store.size, transitions, queued: frontier.size, depth: maxDepthSeen, elapsedMs: now - started });
      }
    }
    const ts = transitionsOf(state);
    if (ts.length > MAX_TRANSITIONS_PER_STATE)
      throw new ModelError(`model "${model.name}": ${ts.length} transitions from one state; at most ${MAX_TRANSITIONS_PER_STATE} are supported, in state {${renderState(state)}}`);

    // A state with nothing enabled: an accepted end, or a deadlock; final properties apply.
    if (ts.length === 0) {
      const end = guard(() => `isEndState() threw on state {${renderState(state)}}`, () => isEnd(state, params));
      if (canon && (expansions <= DETERMINISM_PREFIX || expansions % DETERMINISM_EVERY === 0)) checkSymmetric(state, ts, []);
      if (checkDeadlock && !end && !found.has(DEADLOCK_PROPERTY))
        found.set(DEADLOCK_PROPERTY, { stateId: id, action: -1, message: DEADLOCK_MESSAGE, fields: [] });
      for (const p of finals)
        if (p.kind === 'final' && !found.has(p.name))
          record(p, guard(() => `property "${p.name}" threw on state {${renderState(state)}}`, () => p.check(state, params)), id, -1);
      continue;
    }
    // At the depth bound, successors already stored are still linked (so a bound at or past the
    // diameter still ends complete); a new one is not stored and makes the run incomplete.
    const atBound = d >= maxDepth;

    // --por: expand only the ample transition when there is one and its successor is new (the
    // cycle proviso); otherwise every transition. The conditions are in reduce.ts.
    let from = 0;
    let to = ts.length;
    // The ample successor, computed for the proviso and kept (its bytes stay in `out`).
    let ampleNext: unknown = NONE;
    if (por && !atBound) {
      const a = ampleTransition(ts);
      if (a >= 0) {
        const next = apply(state, ts[a]);
        // The proviso: the successor is new, or (BFS, exact store) already stored at depth d + 1.
        const known = store instanceof ExactStore ? store.find(out.bytes, out.length) : store.contains(out.bytes, out.length) ? 0 : -1;
        const forward = known < 0 || (strategy === 'bfs' && store.exact && d + 1 <= maxDepthSeen && known >= firstAtDepth[d + 1]);
        if (forward) {
          from = a;
          to = a + 1;
          ampleNext = next;
          reducedStates++;
        }
      }
    }
    const sample = to - from === ts.length && (expansions <= DETERMINISM_PREFIX || expansions % DETERMINISM_EVERY === 0);
    const successorKeys: Uint8Array[] | undefined = sample ? [] : undefined;
    for (let i = from; i < to; i++) {
      const t = ts[i];
      const next = ampleNext !== NONE ? ampleNext : apply(state, t);
      transitions++;
      if (fired) {
        const f = fired.get(t.label);
        if (f) f.count++;
        else fired.set(t.label, { label: t.label, lane: t.lane, action: t.action, count: 1 });
      }
      successorKeys?.push(out.bytes.slice(0, out.length));
      for (const p of steps)
        if (p.kind === 'step' && !found.has(p.name))
          record(p, guard(() => `property "${p.name}" threw on transition "${t.label}"`, () => p.check(state, t, next, params)), id, i);

      // Skip if already stored; otherwise store, check and enqueue.
      if (stored) continue;
      if (atBound) {
        if (!store.contains(out.bytes, out.length)) cutByDepth = true;
        continue;
      }
      if (store.size >= maxStates && !store.contains(out.bytes, out.length)) {
        stoppedBy = { kind: 'max-states', limit: maxStates };
        break search;
      }
      try {
        add(next, id, i, d + 1);
      } catch (e) {
        if (!(e instanceof StoreFull || e instanceof RangeError)) throw e;
        // The store or a column could not grow: end with the counts so far.
        stoppedBy = { kind: 'memory', limit: memoryInUse(), detail: e.message };
        break search;
      }
    }
    if (successorKeys) {
      checkDeterministic(state, ts, successorKeys);
      if (canon) checkSymmetric(state, ts, successorKeys);
    }
  }

  const complete = frontier.size === 0 && !stoppedBy && !cutByDepth;
  if (!stoppedBy && cutByDepth) stoppedBy = { kind: 'max-depth', limit: maxDepth };
  if (!stoppedBy && !complete && options.stopOnFirst) stoppedBy = { kind: 'first-violation' };
  const elapsedMs = performance.now() - started;

  // Counterexamples: the stored paths replayed (counterexample.ts).
  const violation = counterexampleOf(replayerOf(model, params, codec, canon, out), canon !== undefined, store, paths, initStates);

  return outcomeOf(model, params, strategy, selected, found, complete, stoppedBy, violation, fired?.values(), {
    initialStates: initStates.length,
    states: store.size,
    transitions,
    maxDepth: maxDepthSeen,
    elapsedMs,
    ...storageStats(store, paths, transitions),
    ...(canon ? { symmetry: true } : {}),
    ...(por ? { por: { reducedStates } } : {}),
  });

  /**
   * --symmetry: checks on a sample of the expanded states that the declared symmetry is one.
   * A permutation of the state (one per state, taken in turn) must have the same successors up
   * to permutation (`keys`: the representatives of the state's successors), and every property
   * and isEndState must give it the same verdict. Step properties are checked when a
   * counterexample is made concrete (concreteRun, counterexample.ts).
   */
  function checkSymmetric(state: unknown, ts: readonly Transition<unknown>[], keys: readonly Uint8Array[]): void {
    const c = canon!;
    if (c.perms.length === 0) return;
    const perm = c.perms[expansions % c.perms.length];
    const ps = c.permute(state, perm);
    const bad = (what: string) =>
      new ModelError(
        `model "${model.name}" is not symmetric as declared (--symmetry): ${what}, in state {${renderState(state)}} and its permutation [${perm.join(', ')}] {${renderState(ps)}}`,
      );
    const holds = (p: Property<unknown, AnyParams>, x: unknown): boolean => {
      if (p.kind !== 'invariant' && p.kind !== 'final') return true;
      try {
        return violationOf(p.check(x, params)) === undefined;
      } catch (e) {
        throw wrap(`property "${p.name}" threw on state {${renderState(x)}}`, e);
      }
    };
    const pts = transitionsOf(ps);
    const checked = pts.length === 0 ? [...invariants, ...finals] : invariants;
    for (const p of checked) {
      const a = holds(p, state);
      if (a !== holds(p, ps)) throw bad(`property "${p.name}" ${a ? 'holds' : 'is violated'} in one and not the other`);
    }
    if (pts.length !== ts.length) throw bad(`${ts.length} transitions in one, ${pts.length} in the other`);
    if (ts.length === 0) {
      if (isEnd(state, params) !== isEnd(ps, params)) throw bad('isEndState() accepts one and not the other');
      return;
    }
    const mine = new Set(keys.map((k) => bytesKey(k)));
    for (const t of pts) {
      apply(ps, t);
      if (!mine.has(out.key()))
        throw bad(`transition "${t.label}" of the permutation leads to a state that no transition of the state leads to, up to permutation`);
    }
  }

  /** Expands `state` again and compares: same labels, lanes and successors, in the same order. */
  function checkDeterministic(state: unknown, first: readonly Transition<unknown>[], firstKeys: readonly Uint8Array[]): void {
    const again = transitionsOf(state);
    // Rendered only for a message: this runs on a sample of the expansions.
    const where = { toString: () => `in state {${renderState(state)}}` };
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
      apply(state, again[i]);
      if (!sameBytes(firstKeys[i], out.bytes, out.length))
        throw new ModelError(`model "${model.name}" is not deterministic: transition "${first[i].label}" led to two different states ${where}`);
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}
