import { availableParallelism } from 'node:os';
import { setImmediate as eventLoopTurn } from 'node:timers/promises';
import { resolve as resolvePath } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { CapacityError, ModelError, UsageError } from '../core/errors.ts';
import { isLiveness, type AnyModel } from '../core/model.ts';
import type { FiredLabel, Outcome, StopReason } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import { counterexampleOf } from './counterexample.ts';
import { Expander, type Found } from './expand.ts';
import { explore, exploreAsync, mib, outcomeOf, recordsGraph, resolve, storageStats, withLiveness, YIELD_MS, type ExploreOptions } from './explore.ts';
import { Int32Column, PathColumns, SpillFile } from './growable.ts';
import { LevelWorker, type Candidate, type LevelReport, type LevelTask } from './level.ts';
import { C, newTable, SharedArea, SharedStore, STOP_MAX_STATES, STOP_REQUESTED, type SharedStoreSetup } from './shared_store.ts';
import { spaceOf } from './space.ts';
import { TextTable } from '../core/texts.ts';

/** What a worker thread is started with (worker.ts). */
export interface WorkerSetup {
  readonly file: string;
  readonly params: AnyParams;
  readonly properties: readonly string[] | undefined;
  readonly coverage: boolean;
  readonly por: boolean;
  readonly symmetry: boolean;
  readonly store: SharedStoreSetup;
  /** The text table of t.text() fields, shared by every thread. */
  readonly texts: SharedArrayBuffer;
}

export type ToWorker =
  | { readonly type: 'level'; readonly task: LevelTask }
  | { readonly type: 'rehash'; readonly table: SharedArrayBuffer; readonly part: number; readonly parts: number }
  | { readonly type: 'resume'; readonly redo: readonly (readonly [number, number])[] };
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'report'; readonly report: LevelReport }
  | { readonly type: 'rehashed' }
  | { readonly type: 'error'; readonly message: string; readonly kind: 'model' | 'capacity' | 'internal' };

const HEAP_STOP = 0.9;
/** Slots of the first shared table; it grows by GROWTH at a time (the threads stop while it grows). */
const FIRST_TABLE = 1 << 18;
const GROWTH = 4;

/**
 * `explore` with `workers` threads (--workers N, this thread one of them): a level-synchronous
 * BFS over one shared lock-free hash table (shared_store.ts). Each level's states are taken in
 * chunks by every thread, which expand them with the same Expander as the one-thread search
 * (each worker loads the model file itself) and insert their successors into the table. For
 * each new state the threads keep the smallest (parent id, transition index) that reaches it;
 * this thread then orders the next level by that key, which is the order the one-thread BFS
 * stores it in. So states get the same ids and parents, and the run the same distinct-state
 * count and the same shortest counterexamples. Each property's violation is the one the
 * one-thread run finds first (the smallest id, or state and transition); a run that stops at
 * its first violations finishes the level it is in, so it may store more states than one thread.
 *
 * Supported: BFS, exact and fingerprint storage, every property kind, the bounds, --por and
 * --symmetry, for models with a state schema (their states are fixed-size bytes that any
 * thread can read). Not DFS, not Immutable models: a usage error says so. Under --por with
 * fingerprints the cycle proviso asks whether the ample successor is on the next level (the
 * shared table keeps each state's index), as one thread does with exact storage; one thread's
 * fingerprint table keeps no ids and asks only whether it is new, so the two reduced counts can
 * differ there (both are sound).
 */
export async function exploreParallel(file: string, model: AnyModel, params: AnyParams, options: ExploreOptions & { readonly workers: number }): Promise<Outcome> {
  const n = options.workers;
  const cores = availableParallelism();
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--workers takes a positive integer, got ${n}`);
  if (n > 2 * cores) throw new UsageError(`--workers ${n}: this machine has ${cores} cores, and many more threads than cores only slow the search; give at most ${2 * cores}`);
  if (n === 1) return explore(model, params, options);
  if ((options.strategy ?? 'bfs') !== 'bfs') throw new UsageError('--workers explores breadth-first only; drop --strategy dfs');
  if (!model.state) throw new UsageError(`--workers needs a model with a state schema (state: …); model "${model.name}" keeps Immutable values, which only one thread can read. Run without --workers`);
  const o = resolve(model, options);
  // Liveness properties are decided on the reachable graph. The one-thread search records it as
  // it goes when it is the default search (exact, no reduction); a parallel search would need a
  // second pass over the model on one thread, which costs more than the parallel search saves
  // (BENCHMARKS.md). So that search runs on one thread, and says so.
  if (o.selected.some(isLiveness) && recordsGraph(options)) {
    options.onNote?.(`--workers ${n}: the liveness properties are decided on the graph that one thread records during its search; a parallel search would need a second pass on one thread, which is slower. Searching on one thread`);
    return exploreAsync(model, params, options);
  }
  // Otherwise they are decided on one thread after the parallel search of the safety ones.
  if (o.selected.some(isLiveness)) {
    const safety = o.selected.filter((p) => !isLiveness(p)).map((p) => p.name);
    const safe = safety.length > 0 ? await exploreParallel(file, model, params, { ...options, properties: safety }) : undefined;
    return withLiveness(safe, model, params, options);
  }
  const texts = TextTable.shared();
  const space = spaceOf(model, params, { symmetry: options.symmetry === true, texts });
  const stride = space.stride!;
  const exact = options.fingerprint !== true;
  const setup: SharedStoreSetup = {
    exact,
    stride,
    control: new SharedArrayBuffer(4 * C.SIZE),
    table: newTable(exact, FIRST_TABLE),
    ...(exact ? { arena: SharedArea.create(stride * 4096) } : {}),
  };
  const store = new SharedStore(setup);
  const control = store.control;
  const expander = new Expander(space, model, o.selected, { por: options.por === true, coverage: options.coverage === true, sample: true }, LevelWorker.findings());
  const main = new LevelWorker(expander, store);
  const heapLimit = getHeapStatistics().heap_size_limit;
  const started = performance.now();

  const spill = exact ? undefined : new SpillFile();
  const paths = new PathColumns('bfs', spill);
  /** Exact: the store index of each BFS id. */
  const order = new Int32Column();
  const found = new Map<string, Found>();
  const fired = options.coverage ? new Map<string, FiredLabel>() : undefined;
  let transitions = 0;
  let reducedStates = 0;
  let maxDepthSeen = 0;
  let cutByDepth = false;
  let stoppedBy: StopReason | undefined;
  let lastProgress = started;

  // Initial states: stored by this thread, ids 0, 1, … in order.
  const initial = space.initialStates();
  const first: number[] = [];
  let log = exact ? undefined : new SharedArea(SharedArea.create(stride * 1024));
  let logFirst = 0;
  initial.forEach((s, i) => {
    expander.initial(s.bytes);
    const r = store.insert(expander.out.bytes);
    if (r < 0) return;
    paths.push(-1 - i, -1);
    order.push(r);
    first.push(r);
    if (log) {
      log.ensure((r + 1) * stride);
      log.bytes.set(expander.out.bytes.subarray(0, stride), r * stride);
    }
    expander.checkState(r, s.value);
  });
  store.release();
  let states = store.inserted;
  settle(main.findings.invariants, [], (index) => index, false);
  let level: Int32Array = Int32Array.from(first);

  /** Keeps each property's first violation: the smallest BFS id (invariants: `idOf` the state index), then transition. */
  function settle(invariants: readonly Candidate[], others: readonly Candidate[], idOf: (index: number) => number, stopOnFirst: boolean): void {
    const best = new Map<string, Found>();
    const consider = (property: string, f: Found) => {
      const had = best.get(property);
      if (!had || f.stateId < had.stateId || (f.stateId === had.stateId && f.action < had.action)) best.set(property, f);
    };
    for (const c of invariants) consider(c.property, { stateId: idOf(c.at), action: -1, message: c.message, fields: c.fields });
    for (const c of others) consider(c.property, { stateId: c.at, action: c.action, message: c.message, fields: c.fields });
    // The one-thread run meets an invariant violation when it stores the state (while expanding
    // its parent), the others while expanding the state: under --first it stops after that expansion.
    const discovery = (property: string, f: Found) => (o.selected.find((p) => p.name === property)!.kind === 'invariant' ? paths.parent(f.stateId) : f.stateId);
    let first = Infinity;
    for (const [p, f] of best) first = Math.min(first, discovery(p, f));
    for (const [p, f] of best) if (!found.has(p) && (!stopOnFirst || discovery(p, f) === first)) found.set(p, f);
  }

  // Workers start loading the model now and join the search at the first level after they are
  // ready; this thread explores the first levels alone meanwhile.
  const workers: Worker[] = [];
  const ready: boolean[] = [];
  const replies: ((m: FromWorker) => void)[] = [];
  let failed: Error | undefined;
  let stopping = false;
  const wsetup: WorkerSetup = { file: resolvePath(file), params, properties: options.properties, coverage: options.coverage === true, por: options.por === true, symmetry: options.symmetry === true, store: setup, texts };
  const nextReply = (k: number) => new Promise<FromWorker>((ok) => (replies[k] = ok));
  const fail = (e: Error) => {
    failed ??= e;
    for (const r of replies) r?.({ type: 'error', message: e.message, kind: e instanceof ModelError ? 'model' : 'internal' });
  };
  const errorOf = (m: FromWorker & { type: 'error' }) =>
    failed && !(failed instanceof ModelError) ? failed : m.kind === 'model' ? new ModelError(m.message) : m.kind === 'capacity' ? new CapacityError(m.message) : new Error(`a worker failed: ${m.message}`);
  for (let k = 0; k < n - 1; k++) {
    const w = new Worker(new URL('worker-boot.mjs', import.meta.url), { workerData: wsetup });
    ready.push(false);
    w.on('message', (m: FromWorker) => {
      if (m.type === 'ready') ready[k] = true;
      else if (m.type === 'error' && !ready[k]) failed ??= errorOf(m);
      else replies[k]?.(m);
    });
    w.on('error', (e) => fail(e instanceof Error ? e : new Error(String(e))));
    w.on('exit', (code) => {
      if (!stopping) fail(new ModelError(`a worker thread exited (code ${code}) during the search: does the model call process.exit()?`));
    });
    workers.push(w);
  }
  /** Sends `m` to the workers taking part and waits for each one's answer. */
  const ask = async (active: readonly number[], m: (k: number) => ToWorker): Promise<FromWorker[]> => {
    const answers = active.map((k) => nextReply(k));
    active.forEach((k) => workers[k].postMessage(m(k)));
    const got = await Promise.all(answers);
    for (const a of got) if (a.type === 'error') throw errorOf(a);
    return got;
  };

  /** The workers' heaps as they last reported them (for --max-memory). */
  let workerHeaps = 0;
  let lastYield = started;
  /** After each chunk of this thread: the clock, the memory, the user; true when the event loop should run. */
  const between = (): boolean => {
    const now = performance.now();
    const heapUsed = getHeapStatistics().used_heap_size;
    const inUse = store.tableBytes + store.count * stride + paths.byteSize + order.byteSize + heapUsed + workerHeaps;
    let why: StopReason | undefined;
    if (options.interrupted?.()) why = { kind: 'interrupted' };
    else if (now - started > o.timeLimitMs) why = { kind: 'time-limit', limit: o.timeLimitMs / 1000 };
    else if (heapUsed > HEAP_STOP * heapLimit) why = { kind: 'memory', limit: heapLimit, detail: `the V8 heap reached ${mib(heapUsed)} of its ${mib(heapLimit)} limit` };
    else if (inUse > o.maxMemoryBytes)
      why = { kind: 'memory', limit: o.maxMemoryBytes, detail: `the shared store, the levels and the heaps of all threads reached ${mib(inUse)} (the workers' heaps as of the last level)` };
    if (why) {
      stoppedBy ??= why;
      Atomics.store(control, C.STOP, STOP_REQUESTED);
    }
    if (options.onProgress && now - lastProgress >= o.progressMs) {
      lastProgress = now;
      options.onProgress({ states, transitions, queued: level.length, depth: maxDepthSeen, elapsedMs: now - started });
    }
    return now - lastYield >= YIELD_MS;
  };
  /** This thread's share of the level: run() again after each pause for the event loop (a signal may come). */
  const mainRun = async (task: LevelTask, redo: readonly (readonly [number, number])[]): Promise<LevelReport[]> => {
    const rs = [main.run(task, redo, between)];
    while (rs[rs.length - 1].yielded) {
      await eventLoopTurn();
      lastYield = performance.now();
      rs.push(main.run(task, [], between));
    }
    return rs;
  };

  try {
    let depth = 0;
    let firstId = 0;
    const done = () => found.size > 0 && (options.stopOnFirst === true || found.size === o.selected.length);
    while (level.length > 0 && !done() && Atomics.load(control, C.STOP) === 0) {
      // Let the workers that finished loading join this level.
      await eventLoopTurn();
      if (failed) throw failed;
      const active = workers.map((_, k) => k).filter((k) => ready[k]);
      const count = level.length;
      const list = new SharedArrayBuffer(4 * count);
      new Int32Array(list).set(level);
      const nextFirst = store.count;
      const parents = SharedArea.create(4 * 1024);
      const actions = SharedArea.create(2 * 1024);
      const nextLog = log ? SharedArea.create(stride * 1024) : undefined;
      const task: LevelTask = {
        depth,
        firstId,
        count,
        list,
        nextFirst,
        parents,
        actions,
        ...(log ? { log: log.sab, logFirst, nextLog } : {}),
        expandAll: depth < o.maxDepth,
        maxStates: o.maxStates,
        table: store.tableSab,
        settled: [...found.keys()],
      };
      Atomics.store(control, C.NEXT, 0);
      const theirs = ask(active, () => ({ type: 'level', task }));
      const reports: LevelReport[] = [];
      let mines = await mainRun(task, []);
      let mine = mines[mines.length - 1];
      reports.push(...mines.slice(0, -1));
      let answers = (await theirs).map((a) => (a as { report: LevelReport }).report);
      // The table asked to grow: every thread stopped at a chunk boundary. All rehash a part
      // of it into a bigger one, then go on, first with the chunks they abandoned.
      while (Atomics.load(control, C.STOP) === 0 && [mine, ...answers].some((r) => r.paused)) {
        const table = newTable(exact, store.tableCapacity * GROWTH);
        const parts = active.length + 1;
        const rehashed = ask(active, (k) => ({ type: 'rehash', table, part: active.indexOf(k) + 1, parts }));
        store.rehashInto(table, 0, parts);
        await rehashed;
        store.useTable(table);
        Atomics.store(control, C.GROW, 0);
        reports.push(mine, ...answers);
        const resumed = ask(active, (k) => ({ type: 'resume', redo: answers[active.indexOf(k)].abandoned }));
        mines = await mainRun(task, mine.abandoned);
        mine = mines[mines.length - 1];
        reports.push(...mines.slice(0, -1));
        answers = (await resumed).map((a) => (a as { report: LevelReport }).report);
      }
      reports.push(mine, ...answers);
      const code = Atomics.load(control, C.STOP);
      if (code === STOP_MAX_STATES) stoppedBy ??= { kind: 'max-states', limit: o.maxStates };
      workerHeaps = answers.reduce((a, r) => a + r.heapUsed, 0);
      for (const r of reports) {
        states += r.inserted;
        transitions += r.transitions;
        reducedStates += r.reducedStates;
        if (r.cut) cutByDepth = true;
        if (fired)
          for (const f of r.fired) {
            const had = fired.get(f.label);
            if (had) (had as { count: number }).count += f.count;
            else fired.set(f.label, { ...f });
          }
      }

      // The next level in the one-thread order: by (first parent, transition index).
      const range = store.count - nextFirst;
      const next = orderLevel(new SharedArea(parents).words, new Uint16Array(actions, 0, actions.byteLength >>> 1), range, firstId, count, nextFirst, paths);
      const nextFirstId = firstId + count;
      const m = next.length;
      const rank = new Int32Array(range);
      for (let k = 0; k < m; k++) rank[next[k] - nextFirst] = k;
      order.pushAll(next);
      settle(
        reports.flatMap((r) => r.invariants),
        reports.flatMap((r) => r.others),
        (index) => nextFirstId + rank[index - nextFirst],
        options.stopOnFirst === true,
      );
      if (m > 0) maxDepthSeen = depth + 1;
      if (!task.expandAll) {
        level = new Int32Array(0);
        break;
      }
      level = next;
      if (nextLog) {
        log = new SharedArea(nextLog);
        logFirst = nextFirst;
      }
      firstId = nextFirstId;
      depth++;
    }
    if (level.length > 0 && Atomics.load(control, C.STOP) === 0 && found.size > 0 && options.stopOnFirst) stoppedBy ??= { kind: 'first-violation' };
  } catch (e) {
    if (!(e instanceof CapacityError)) throw failed instanceof ModelError ? failed : e;
    stoppedBy ??= { kind: 'memory', limit: store.tableBytes + store.count * stride, detail: e.message };
  } finally {
    stopping = true;
    await Promise.all(workers.map((w) => w.terminate()));
  }

  const complete = !stoppedBy && !cutByDepth && level.length === 0;
  if (!stoppedBy && cutByDepth) stoppedBy = { kind: 'max-depth', limit: o.maxDepth };
  const elapsedMs = performance.now() - started;
  const matcher = exact
    ? { matches: (id: number, b: Uint8Array, len: number) => id < order.length && store.matchesIndex(order.get(id), b, len) }
    : { matches: (_id: number, b: Uint8Array) => store.find(b) >= 0 };
  const violation = counterexampleOf(space.fork(), matcher, paths, initial);
  const storeStats = { exact, size: states, usedBytes: store.tableBytes + (exact ? store.count * stride + order.length * 4 : 0) };
  const outcome = outcomeOf(model, params, 'bfs', o.selected, found, complete, stoppedBy, violation, fired?.values(), {
    initialStates: initial.length,
    states,
    transitions,
    maxDepth: maxDepthSeen,
    elapsedMs,
    ...storageStats(storeStats, paths.usedBytes, transitions),
    workers: n,
    ...(space.perms ? { symmetry: true } : {}),
    ...(options.por ? { por: { reducedStates } } : {}),
    ...(spill?.written ? { pathBytesOnDisk: spill.written } : {}),
  });
  spill?.dispose();
  return outcome;
}

/**
 * The states stored while a level was expanded (indices nextFirst … nextFirst + range - 1, with
 * holes where a reservation went unused: never reached), in the order the one-thread BFS would
 * have stored them: by their first parent (its position in the level, plus one, in `parents`)
 * and that parent's transition (`actions`), a counting sort over the level's `count` parents
 * (ids firstId …). Records each parent's new successors in `paths`, in that order.
 */
function orderLevel(parents: Int32Array, actions: Uint16Array, range: number, firstId: number, count: number, nextFirst: number, paths: PathColumns): Int32Array {
  const perParent = new Int32Array(count + 1);
  for (let k = 0; k < range; k++) if (parents[k] !== 0) perParent[parents[k]]++;
  for (let p = 0; p < count; p++) perParent[p + 1] += perParent[p];
  const sorted = new Int32Array(perParent[count]);
  const fill = perParent.slice(0, count);
  for (let k = 0; k < range; k++) if (parents[k] !== 0) sorted[fill[parents[k] - 1]++] = k;
  // Within one parent, by transition index (a parent has few new successors: insertion sort).
  for (let p = 0; p < count; p++) {
    for (let a = perParent[p] + 1; a < perParent[p + 1]; a++) {
      const x = sorted[a];
      let b = a - 1;
      while (b >= perParent[p] && actions[sorted[b]] > actions[x]) {
        sorted[b + 1] = sorted[b];
        b--;
      }
      sorted[b + 1] = x;
    }
    paths.startExpansion(firstId + p);
    for (let a = perParent[p]; a < perParent[p + 1]; a++) paths.push(firstId + p, actions[sorted[a]]);
  }
  for (let k = 0; k < sorted.length; k++) sorted[k] += nextFirst;
  return sorted;
}
