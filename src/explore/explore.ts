import { setImmediate as eventLoopTurn } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';
import { CapacityError, UsageError } from '../core/errors.ts';
import { isLiveness, type AnyModel, type LivenessProperty, type Property } from '../core/model.ts';
import type { FiredLabel, Outcome, PropertyResult, Stats, StopReason, Strategy, Violation } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import { counterexampleOf } from './counterexample.ts';
import { Expander, FirstFindings, type Found } from './expand.ts';
import { Frontier } from './frontier.ts';
import { PathColumns, SpillFile } from './growable.ts';
import { buildGraph, GraphRecorder, livenessViolations, type GraphRun } from './liveness.ts';
import { spaceOf } from './space.ts';
import { collisionOdds, exactStoreFor, FingerprintStore, type StateStore } from './store.ts';

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
  /** Told of a choice the search made that the user should know of (the CLI prints it on stderr). */
  readonly onNote?: (note: string) => void;
  readonly progressIntervalMs?: number;
  /**
   * Store 64-bit fingerprints instead of whole states (TLC's hash compaction): a fraction of
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
  /** Symmetry reduction over the lanes the model declares interchangeable (Model.symmetry). */
  readonly symmetry?: boolean;
  /** Partial-order reduction over transitions declared `local` (see reduce.ts). */
  readonly por?: boolean;
  /** Asked between expansions: a true answer stops the run as incomplete (Ctrl-C). */
  readonly interrupted?: () => boolean;
}

/** Expansions between two looks at the clock and the memory. */
const CLOCK_EVERY = 256;
/** The fraction of V8's heap limit at which a run stops (the store itself lives outside the heap). */
const HEAP_STOP = 0.9;

/** Resolves the property selection once, with a UsageError that lists the valid names. */
export function selectProperties(model: AnyModel, names: readonly string[] | undefined): Property<unknown, AnyParams>[] {
  if (!names) return [...model.properties];
  return names.map((n) => {
    const p = model.properties.find((q) => q.name === n);
    if (!p) throw new UsageError(`unknown property "${n}" for model "${model.name}"; available: ${model.properties.map((q) => q.name).join(', ')}`);
    return p;
  });
}

function bound(name: string, v: number | undefined, zeroMeans?: string): number {
  if (v === undefined) return Infinity;
  if (!(v >= 0) || !Number.isFinite(v)) throw new UsageError(`--${name} must be a non-negative number, got ${v}`);
  if (v === 0 && zeroMeans) throw new UsageError(`--${name} 0 ${zeroMeans}; give a positive number, or leave the option out for no limit`);
  return v;
}

/** The options every explorer resolves the same way, checked once at the boundary. */
export interface Resolved {
  readonly strategy: Strategy;
  readonly selected: Property<unknown, AnyParams>[];
  readonly maxDepth: number;
  readonly maxStates: number;
  readonly timeLimitMs: number;
  readonly maxMemoryBytes: number;
  readonly progressMs: number;
}

export function resolve(model: AnyModel, options: ExploreOptions): Resolved {
  const strategy = options.strategy ?? 'bfs';
  if (strategy !== 'bfs' && strategy !== 'dfs') throw new UsageError(`unknown strategy "${strategy}"; valid: bfs, dfs`);
  return {
    strategy,
    selected: selectProperties(model, options.properties),
    maxDepth: bound('max-depth', options.maxDepth),
    maxStates: bound('max-states', options.maxStates, 'would store no state, not even an initial one'),
    timeLimitMs: bound('time-limit', options.timeLimitSeconds) * 1000,
    maxMemoryBytes: bound('max-memory', options.maxMemoryMiB, 'leaves no memory to search with') * 2 ** 20,
    progressMs: options.progressIntervalMs ?? 1000,
  };
}

/** How states were stored and what each cost: its share of the table, its bytes and path columns. */
export function storageStats(store: Pick<StateStore, 'exact' | 'size' | 'usedBytes'>, pathBytes: number, transitions: number): Pick<Stats, 'storage' | 'bytesPerState' | 'collisionOdds'> {
  return {
    storage: store.exact ? 'exact' : 'fingerprint',
    bytesPerState: store.size > 0 ? (store.usedBytes + pathBytes) / store.size : 0,
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
  live?: LiveResults,
): Outcome {
  const properties: PropertyResult[] = selected.map((p) => {
    if (isLiveness(p)) return liveResult(p, live);
    const base = { name: p.name, kind: p.kind, description: p.description };
    const f = found.get(p.name);
    if (f) return { ...base, verdict: 'violated', violation: violation(p, f) };
    return { ...base, verdict: complete ? 'holds' : 'unknown' };
  });
  return {
    model: model.name,
    params,
    strategy,
    verdict: verdictOf(properties, complete),
    complete,
    stoppedBy,
    stats,
    properties,
    ...(fired ? { fired: [...fired] } : {}),
  };
}

/** The run's verdict from its properties' verdicts. */
function verdictOf(properties: readonly PropertyResult[], complete: boolean): Outcome['verdict'] {
  if (properties.some((p) => p.verdict === 'violated')) return 'violated';
  return complete && properties.every((p) => p.verdict === 'holds') ? 'holds' : 'incomplete';
}

/** A liveness property's result from the graph search (`live` undefined: it did not run). */
function liveResult(p: Property<unknown, AnyParams>, live: LiveResults | undefined): PropertyResult {
  const base = { name: p.name, kind: p.kind, description: p.description };
  const v = live?.violations.get(p.name);
  return v ? { ...base, verdict: 'violated', violation: v } : { ...base, verdict: live?.complete ? 'holds' : 'unknown' };
}

/**
 * A reason to stop a run that started at `started` now: the user (a signal), the clock or the
 * memory (`inUse`: bytes the run holds outside the V8 heap). Undefined to go on.
 */
function limitReached(options: ExploreOptions, o: Resolved, started: number, inUse: number): StopReason | undefined {
  const { used_heap_size: heapUsed, heap_size_limit: heapLimit } = getHeapStatistics();
  if (options.interrupted?.()) return { kind: 'interrupted' };
  if (performance.now() - started > o.timeLimitMs) return { kind: 'time-limit', limit: o.timeLimitMs / 1000 };
  if (heapUsed > HEAP_STOP * heapLimit) return { kind: 'memory', limit: heapLimit, detail: `the V8 heap reached ${mib(heapUsed)} of its ${mib(heapLimit)} limit` };
  if (heapUsed + inUse > o.maxMemoryBytes) return { kind: 'memory', limit: o.maxMemoryBytes, detail: `store, frontier and heap reached ${mib(heapUsed + inUse)}` };
  return undefined;
}

/** What the liveness search found: each violated property's lasso, and whether the graph was whole. */
export interface LiveResults {
  readonly violations: ReadonlyMap<string, Violation>;
  readonly complete: boolean;
  readonly stoppedBy?: StopReason;
  readonly states: number;
  readonly edges: number;
  readonly transitions: number;
  readonly maxDepth: number;
  readonly elapsedMs: number;
  /** The store's and the graph's bytes per state. */
  readonly bytesPerState: number;
}

/**
 * Decides the selected liveness properties on the model's full graph (liveness.ts); a
 * generator that yields when the event loop may run. `stop` is asked now and then.
 */
export function* checkLiveness(
  model: AnyModel,
  params: AnyParams,
  props: readonly LivenessProperty<unknown, AnyParams>[],
  o: Resolved,
  stop: () => StopReason | undefined,
  fired?: Map<string, FiredLabel>,
): Generator<void, LiveResults> {
  const started = performance.now();
  const run = yield* buildGraph(model, params, props, { maxStates: o.maxStates, maxDepth: o.maxDepth, stop, yieldMs: YIELD_MS, fired });
  return decideLiveness(model, props, run, started);
}

/** The liveness results on the graph of `run` (built since `started`). */
function decideLiveness(model: AnyModel, props: readonly LivenessProperty<unknown, AnyParams>[], run: GraphRun, started: number): LiveResults {
  const violations = livenessViolations(model, run, props);
  return {
    violations,
    complete: run.stoppedBy === undefined,
    stoppedBy: run.stoppedBy,
    states: run.graph.states,
    edges: run.graph.target.length,
    transitions: run.transitions,
    maxDepth: run.maxDepth,
    elapsedMs: performance.now() - started,
    bytesPerState: run.graph.states > 0 ? (run.store.usedBytes + run.graphBytes) / run.graph.states : 0,
  };
}

/**
 * --workers: the safety outcome of a parallel search completed with the selected liveness
 * properties, decided on one thread (the graph search is not parallel).
 */
export async function withLiveness(safe: Outcome | undefined, model: AnyModel, params: AnyParams, options: ExploreOptions): Promise<Outcome> {
  const o = resolve(model, options);
  const started = performance.now();
  // As one thread does: no liveness search after a safety search that stopped short.
  let live: LiveResults | undefined;
  if (!(safe && (safe.stoppedBy || (options.stopOnFirst && safe.verdict === 'violated')))) {
    const run = checkLiveness(model, params, o.selected.filter(isLiveness), o, () => limitReached(options, o, started, 0));
    let r = run.next();
    while (!r.done) {
      await eventLoopTurn();
      r = run.next();
    }
    live = r.value;
  }
  const properties = o.selected.map((p) => (isLiveness(p) ? liveResult(p, live) : safe!.properties.find((q) => q.name === p.name)!));
  const complete = (safe?.complete ?? true) && live !== undefined && live.complete;
  const stats = safe?.stats ?? { initialStates: 0, states: live?.states ?? 0, transitions: live?.transitions ?? 0, maxDepth: live?.maxDepth ?? 0, elapsedMs: 0, storage: 'exact', bytesPerState: live?.bytesPerState ?? 0 };
  return {
    model: model.name,
    params,
    strategy: 'bfs',
    verdict: verdictOf(properties, complete),
    complete,
    stoppedBy: safe?.stoppedBy ?? live?.stoppedBy,
    stats: { ...stats, elapsedMs: stats.elapsedMs + (live?.elapsedMs ?? 0), ...(live ? { liveness: { states: live.states, edges: live.edges, elapsedMs: live.elapsedMs } } : {}) },
    properties,
    ...(safe?.fired ? { fired: safe.fired } : {}),
  };
}

export function mib(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}

/**
 * Explores every state reachable from the model's initial states under `params`, checking the
 * selected properties, and returns what it found. No I/O: the caller prints.
 */
export function explore(model: AnyModel, params: AnyParams, options: ExploreOptions = {}): Outcome {
  const run = search(model, params, options);
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
  }
}

/**
 * `explore` that lets the event loop run now and then (every YIELD_MS of search), so that a
 * signal handler can ask it to stop (`options.interrupted`): what the CLI runs.
 */
export async function exploreAsync(model: AnyModel, params: AnyParams, options: ExploreOptions = {}): Promise<Outcome> {
  const run = search(model, params, options);
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
    await eventLoopTurn();
  }
}

/** How long a search runs between two chances for the event loop (a signal handler): here and in parallel.ts. */
export const YIELD_MS = 50;

/**
 * Whether the one-thread search with these options expands states in id order over an exact
 * store (breadth-first, no fingerprints, no reduction): then it records the liveness graph as
 * it goes, and no second pass is needed.
 */
export function recordsGraph(options: ExploreOptions): boolean {
  return (options.strategy ?? 'bfs') === 'bfs' && options.fingerprint !== true && options.symmetry !== true && options.por !== true;
}

/** The search: yields when the event loop may run, returns the outcome. */
function* search(model: AnyModel, params: AnyParams, options: ExploreOptions): Generator<void, Outcome> {
  const o = resolve(model, options);
  const space = spaceOf(model, params, { symmetry: options.symmetry === true });
  const findings = new FirstFindings();
  // Safety properties are checked by the search below, liveness ones on the full graph after it.
  const safety = o.selected.filter((p) => !isLiveness(p));
  const liveness = o.selected.filter(isLiveness);
  const searchNeeded = safety.length > 0 || liveness.length === 0;
  const expander = new Expander(space, model, safety, { por: options.por === true, coverage: options.coverage === true, sample: true }, findings);
  const done = (): boolean => !searchNeeded || (findings.found.size > 0 && (options.stopOnFirst === true || findings.found.size === safety.length));
  const store: StateStore = options.fingerprint ? new FingerprintStore() : exactStoreFor(space.stride);
  const frontier = new Frontier(o.strategy, !store.exact);
  // Fingerprints keep no state bytes; the paths go to disk too, so that a state costs its fingerprint's slot.
  const spill = options.fingerprint ? new SpillFile() : undefined;
  const paths = new PathColumns(o.strategy, spill);
  const out = expander.out;
  // A plain breadth-first search over an exact store is the liveness graph's search too: it
  // records the graph as it goes, so that no second pass is needed when it completes.
  const recorder = liveness.length > 0 && searchNeeded && recordsGraph(options) ? new GraphRecorder(model, params, liveness, space) : undefined;
  if (recorder) expander.onExpand = (id, ts) => recorder.expanding(id, ts);
  const started = performance.now();
  const memoryInUse = (): number => store.byteSize + frontier.byteSize + paths.byteSize + (recorder?.byteSize ?? 0);
  let stoppedBy: StopReason | undefined;
  let cutByDepth = false;
  let maxDepthSeen = 0;
  let expansions = 0;
  let lastProgress = started;
  let lastYield = started;
  /** BFS: the id of the first state stored at each depth (ids grow with depth), for --por's proviso. */
  const firstAtDepth: number[] = [0];

  /** Stores the state whose bytes are in `out` unless it is stored already; checks and queues it. Its id (an exact store's, when stored already). */
  const admit = (value: unknown, from: number, via: number, depth: number): number => {
    const id = store.add(out.bytes, out.length);
    if (id < 0) return store.found;
    paths.push(from, via);
    if (depth > maxDepthSeen) {
      maxDepthSeen = depth;
      firstAtDepth[depth] = id;
    }
    expander.checkState(id, value);
    frontier.push(id, depth, out.bytes, out.length);
    return id;
  };

  // Initial states are checked like any other.
  const initial = space.initialStates();
  const initialIds: number[] = [];
  initial.forEach((s, i) => {
    expander.initial(s.bytes);
    if (store.size < o.maxStates) initialIds.push(admit(s.value, -1 - i, -1, 0));
    else stoppedBy = { kind: 'max-states', limit: o.maxStates };
  });

  let depth = 0;
  let id = 0;
  // --por's cycle proviso: the ample successor is new, or (BFS, exact store) stored on the next level.
  const proviso = (): boolean => {
    const known = store.find(out.bytes, out.length);
    return known === -1 || (o.strategy === 'bfs' && store.exact && depth + 1 <= maxDepthSeen && known >= firstAtDepth[depth + 1]);
  };
  // A successor: skip it if already stored; at the depth bound, note that the run is cut; else store it.
  const visit = (i: number, value: unknown): void => {
    if (depth >= o.maxDepth) {
      const known = store.find(out.bytes, out.length);
      if (known < 0) cutByDepth = true;
      else recorder?.edge(i, known);
      return;
    }
    if (store.size >= o.maxStates && !store.contains(out.bytes, out.length)) {
      stoppedBy = { kind: 'max-states', limit: o.maxStates };
      return;
    }
    const to = admit(value, id, i, depth + 1);
    recorder?.edge(i, to);
  };

  search: while (frontier.size > 0 && !stoppedBy && !done()) {
    // Take the next state: its bytes are in the exact store, or carried by the frontier.
    frontier.take();
    id = frontier.id;
    depth = frontier.depth;
    paths.startExpansion(id);
    // Look at the clock, the memory and the user now and then.
    if (++expansions % CLOCK_EVERY === 0) {
      const now = performance.now();
      stoppedBy = limitReached(options, o, started, memoryInUse());
      if (stoppedBy) break;
      if (options.onProgress && now - lastProgress >= o.progressMs) {
        lastProgress = now;
        options.onProgress({ states: store.size, transitions: expander.transitions, queued: frontier.size, depth: maxDepthSeen, elapsedMs: now - started });
      }
      if (now - lastYield >= YIELD_MS) {
        yield;
        lastYield = performance.now();
      }
    }
    // Expand it: each successor is checked and, when new, stored and queued (visit).
    const { bytes, start, end } = store.exact ? store.bytesOf(id) : frontier;
    try {
      expander.expand(id, bytes, start, end, store, depth < o.maxDepth, proviso, visit);
    } catch (e) {
      if (!(e instanceof CapacityError || e instanceof RangeError)) throw e;
      // The store or a column could not grow: end with the counts so far.
      stoppedBy = { kind: 'memory', limit: memoryInUse(), detail: e.message };
      break search;
    }
  }

  let complete = !searchNeeded || (frontier.size === 0 && !stoppedBy && !cutByDepth);
  if (!stoppedBy && cutByDepth) stoppedBy = { kind: 'max-depth', limit: o.maxDepth };
  if (!stoppedBy && !complete && options.stopOnFirst) stoppedBy = { kind: 'first-violation' };

  // Liveness, unless the run already stopped or (--stop-on-first) found a violation.
  let live: LiveResults | undefined;
  if (recorder && complete) {
    const graphStarted = performance.now();
    const run: GraphRun = {
      graph: recorder.graph(store.size, initialIds),
      space,
      store,
      transitions: expander.transitions,
      maxDepth: maxDepthSeen,
      initialBytes: initial.map((s) => s.bytes),
      graphBytes: recorder.byteSize,
    };
    live = decideLiveness(model, liveness, run, graphStarted);
  } else if (liveness.length > 0 && !stoppedBy && !(options.stopOnFirst && findings.found.size > 0)) {
    live = yield* checkLiveness(model, params, liveness, o, () => limitReached(options, o, started, store.byteSize), searchNeeded ? undefined : expander.fired);
    complete &&= live.complete;
    stoppedBy = live.stoppedBy;
  }
  const elapsedMs = performance.now() - started;

  // Counterexamples: the stored paths replayed (counterexample.ts).
  const violation = counterexampleOf(space.fork(), store, paths, initial);
  const outcome = outcomeOf(
    model,
    params,
    o.strategy,
    o.selected,
    findings.found,
    complete,
    stoppedBy,
    violation,
    expander.fired?.values(),
    {
      initialStates: initial.length,
      states: searchNeeded ? store.size : (live?.states ?? store.size),
      transitions: searchNeeded ? expander.transitions : (live?.transitions ?? 0),
      maxDepth: searchNeeded ? maxDepthSeen : (live?.maxDepth ?? 0),
      elapsedMs,
      ...storageStats(store, paths.usedBytes, expander.transitions),
      ...(searchNeeded || !live ? {} : { storage: 'exact' as const, bytesPerState: live.bytesPerState, collisionOdds: undefined }),
      ...(space.perms ? { symmetry: true } : {}),
      ...(options.por ? { por: { reducedStates: expander.reducedStates } } : {}),
      ...(spill?.written ? { pathBytesOnDisk: spill.written } : {}),
      ...(live ? { liveness: { states: live.states, edges: live.edges, elapsedMs: live.elapsedMs } } : {}),
    },
    live,
  );
  spill?.dispose();
  return outcome;
}
