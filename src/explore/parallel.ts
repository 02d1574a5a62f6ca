import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import { ByteWriter, SharedDictionary, StateCodec } from '../core/codec.ts';
import { ModelError, UsageError } from '../core/errors.ts';
import type { AnyModel } from '../core/model.ts';
import type { FiredLabel, Outcome, StopReason } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import { explore, outcomeOf, selectProperties, storageStats, type ExploreOptions, type Found } from './explore.ts';
import { Canonicalizer } from './reduce.ts';
import { counterexampleOf, replayerOf } from './counterexample.ts';
import { PathColumns, readPrefixed } from './growable.ts';
import { ExactStore, FingerprintStore, StoreFull, type StateStore } from './store.ts';
import type { Batch, BatchResult, WorkerEvent, WorkerSetup } from './worker.ts';

/**
 * At most this many states per batch sent to a worker (large enough that messages cost little),
 * and a level is cut into at least two batches per worker (so that all are busy), each of at
 * least MIN_BATCH states.
 */
const BATCH = 8192;
const MIN_BATCH = 256;
/** Batches in flight per worker, so that none waits while the main thread stores the last one. */
const IN_FLIGHT = 2;
const HEAP_STOP = 0.9;

/**
 * `explore` with `workers` threads (--workers N): a level-synchronous BFS. The main thread owns
 * the state store; each BFS level is cut into batches of encoded states that the workers
 * expand (each loads the model file itself) and return as their successors' bytes, with the
 * property violations they saw (a worker leaves out a successor it already sent in the same
 * batch). The main thread then takes the batches in level order and the
 * successors in transition order, exactly as the one-thread BFS does, so states get the same
 * ids, the same parents and the run the same distinct-state count and the same shortest
 * counterexamples. Workers check invariants when they expand a state (one level later than the
 * one-thread run, which checks on storing), so a run that stops at its first violations may have
 * stored more states; complete runs store the same ones.
 *
 * Supported: BFS, exact and fingerprint storage, every property kind, the bounds, --por (the
 * same decisions in the same order as one thread) and --symmetry (workers canonicalize, this
 * thread makes counterexamples concrete). Not DFS (a usage error says so). Under --por,
 * coverage counts every transition the workers computed. What limits the speed-up: the main thread
 * stores every successor (hashing and comparing bytes, about a third of the one-thread work)
 * while the workers compute them, and with one Record type per worker the codec's shared
 * string table is looked up by text once per new string or type.
 */
export async function exploreParallel(file: string, model: AnyModel, params: AnyParams, options: ExploreOptions & { readonly workers: number }): Promise<Outcome> {
  const n = options.workers;
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--workers takes a positive integer, got ${n}`);
  if ((options.strategy ?? 'bfs') !== 'bfs') throw new UsageError('--workers explores breadth-first only; drop --strategy dfs');
  const por = options.por === true;
  let reducedStates = 0;
  const selected = selectProperties(model, options.properties);
  const maxDepth = options.maxDepth ?? Infinity;
  const maxStates = options.maxStates ?? Infinity;
  const timeLimitMs = (options.timeLimitSeconds ?? Infinity) * 1000;
  const maxMemoryBytes = (options.maxMemoryMiB ?? Infinity) * 2 ** 20;
  const heapLimit = getHeapStatistics().heap_size_limit;
  const started = performance.now();

  const dictionary = SharedDictionary.buffer();
  const codec = new StateCodec(new SharedDictionary(dictionary));
  const out = new ByteWriter();
  // --symmetry: workers store representatives, this thread rebuilds concrete counterexamples.
  // The declaration is sampled by a short one-thread run first (the first 2000 states, as
  // `explore` does), then by the workers on one state in 64 (invariants and successors).
  let canon: Canonicalizer | undefined;
  if (options.symmetry) {
    explore(model, params, { symmetry: true, properties: options.properties, maxStates: 2000 });
    canon = new Canonicalizer(model.name, model.symmetry!(params)!, codec);
  }
  const encode = (x: unknown): void => {
    out.length = 0;
    codec.encode(x, out);
    if (canon) canon.canonicalize(x, out);
  };
  const store: StateStore = options.fingerprint ? new FingerprintStore() : new ExactStore();
  const paths = new PathColumns('bfs');
  const found = new Map<string, Found>();
  const fired = options.coverage ? new Map<string, FiredLabel>() : undefined;
  let transitions = 0;
  let maxDepthSeen = 0;
  let stoppedBy: StopReason | undefined;
  let cutByDepth = false;
  const done = (): boolean => found.size > 0 && (options.stopOnFirst === true || found.size === selected.length);

  const inits = model.init(params);
  const initStates: unknown[] = Array.isArray(inits) ? [...inits] : [inits];
  if (initStates.length === 0) throw new ModelError(`model "${model.name}": init() returned no state`);
  // The states of the level being expanded: ids, and their bytes under a fingerprint store.
  let level: number[] = [];
  // (Fingerprint store) the level's states, one after another in a log, and where each starts.
  let levelLog = new ByteWriter();
  let levelStarts: number[] = [];
  initStates.forEach((s, i) => {
    encode(s);
    const id = store.add(out.bytes, out.length);
    if (id < 0) return;
    paths.push(-1 - i, -1);
    level.push(id);
    if (!store.exact) logState(levelLog, levelStarts, out.bytes, 0, out.length);
  });

  const here = new URL('.', import.meta.url);
  const setup: WorkerSetup = { file: resolve(file), params, properties: options.properties, dictionary, coverage: options.coverage === true, por, symmetry: canon !== undefined };
  const workers = Array.from({ length: n }, () => new Worker(new URL('worker-boot.mjs', here), { workerData: setup }));
  type Reply = BatchResult & { error?: string; model?: boolean; ready?: boolean };
  const waiting = new Map<number, (r: Reply) => void>();
  const failure = (r: Reply) => (r.model ? new ModelError(r.error!) : new Error(`a worker failed: ${r.error}`));
  let failed: Error | undefined;
  let stopping = false;
  const ready = workers.map(
    (w) =>
      new Promise<void>((ok, ko) => {
        w.on('message', (r: Reply) => {
          if (r.ready) return ok();
          if (r.error !== undefined && r.seq === -1) return ko(failure(r));
          waiting.get(r.seq)?.(r);
        });
        const fail = (e: unknown) => {
          failed ??= e instanceof Error ? e : new Error(String(e));
          ko(failed);
          for (const f of waiting.values()) f({ seq: -1, error: failed.message } as Reply);
        };
        w.on('error', fail);
        // A worker that ends on its own (the model called process.exit, say) fails the run.
        w.on('exit', (code) => {
          if (!stopping) fail(new ModelError(`a worker thread exited (code ${code}) during the search: does the model call process.exit()?`));
        });
      }),
  );

  try {
    await Promise.all(ready);
    let depth = 0;
    search: while (level.length > 0 && !done()) {
      const atBound = depth >= maxDepth;
      // --por's proviso: the ample successor is new or stored at the next level (ids from here on).
      const nextLevelStart = store.size;
      const next: number[] = [];
      const nextLog = new ByteWriter(store.exact ? 16 : 1 << 16);
      const nextStarts: number[] = [];
      // Cut the level into batches; results are taken in batch order.
      const batches: { from: number; ids: number[]; promise?: Promise<Reply> }[] = [];
      const size = Math.max(MIN_BATCH, Math.min(BATCH, Math.ceil(level.length / (2 * n))));
      for (let k = 0; k < level.length; k += size) batches.push({ from: k, ids: level.slice(k, k + size) });
      let sent = 0;
      const send = (b: number) => {
        const { ids } = batches[b];
        const w = new ByteWriter(64 * ids.length);
        for (let k = 0; k < ids.length; k++) {
          let src: Uint8Array;
          let start: number;
          let end: number;
          if (store instanceof ExactStore) {
            store.locate(ids[k]);
            src = store.chunk;
            start = store.start;
            end = store.end;
          } else {
            const at = batches[b].from + k;
            src = levelLog.bytes;
            start = levelStarts[at];
            end = at + 1 < levelStarts.length ? levelStarts[at + 1] : levelLog.length;
          }
          w.varint(end - start);
          w.reserve(end - start);
          w.bytes.set(src.subarray(start, end), w.length);
          w.length += end - start;
        }
        const bytes = w.bytes.slice(0, w.length);
        const seq = b;
        batches[b].promise = new Promise<Reply>((ok) => waiting.set(seq, ok));
        const msg: Batch = { seq, count: ids.length, bytes };
        workers[b % n].postMessage(msg, [bytes.buffer]);
      };
      while (sent < batches.length && sent < n * IN_FLIGHT) send(sent++);
      for (let b = 0; b < batches.length; b++) {
        const r = await batches[b].promise!;
        waiting.delete(b);
        if (r.error !== undefined) throw failed ?? failure(r);
        if (sent < batches.length) send(sent++);
        const ids = batches[b].ids;
        transitions += r.transitions;
        if (fired)
          for (const [label, lane, action, count] of r.fired) {
            const f = fired.get(label);
            if (f) (f as { count: number }).count += count;
            else fired.set(label, { label, lane, action, count } as FiredLabel);
          }
        const bytes = r.bytes;
        let pos = 0;
        const entry = { start: 0, end: 0 };
        const actions = r.actions;
        let sentIndex = 0;
        // --por: the one transition taken from each state of the batch, or -1 for all of them.
        const reducedTo = new Int32Array(ids.length).fill(-1);
        let halt = false;
        states: for (let k = 0; k < ids.length; k++) {
          const id = ids[k];
          paths.startExpansion(id);
          const count = bytes[pos] | (bytes[pos + 1] << 8);
          pos += 2;
          // --por: as `explore` does (reduce.ts), expand only the ample transition when its
          // successor is new or already stored at the next level; the worker sent every successor.
          let only = -1;
          if (por) {
            const a = bytes[pos] | (bytes[pos + 1] << 8);
            pos += 2;
            if (a !== 0xffff && !atBound) {
              let p = pos;
              for (let j = 0; j < count; j++) {
                readPrefixed(bytes, p, entry);
                if (actions[sentIndex + j] === a) {
                  const sub = bytes.subarray(entry.start, entry.end);
                  const known = store instanceof ExactStore ? store.find(sub, sub.length) : store.contains(sub, sub.length) ? 0 : -1;
                  if (known < 0 || (store.exact && known >= nextLevelStart)) only = a;
                  break;
                }
                p = entry.end;
              }
              if (only >= 0) {
                reducedStates++;
                transitions -= count - 1;
                reducedTo[k] = only;
              }
            }
          }
          for (let j = 0; j < count; j++) {
            const i = actions[sentIndex++];
            readPrefixed(bytes, pos, entry);
            const sub = bytes.subarray(entry.start, entry.end);
            const len = sub.length;
            pos = entry.end;
            if (only >= 0 && i !== only) continue;
            if (atBound) {
              if (!store.contains(sub, len)) cutByDepth = true;
              continue;
            }
            if (store.size >= maxStates && !store.contains(sub, len)) {
              stoppedBy = { kind: 'max-states', limit: maxStates };
              halt = true;
              break states;
            }
            let nid: number;
            try {
              nid = store.add(sub, len);
            } catch (e) {
              if (!(e instanceof StoreFull || e instanceof RangeError)) throw e;
              stoppedBy = { kind: 'memory', limit: store.byteSize, detail: e.message };
              halt = true;
              break states;
            }
            if (nid < 0) continue;
            paths.push(id, i);
            next.push(nid);
            if (!store.exact) logState(nextLog, nextStarts, sub, 0, len);
            if (depth + 1 > maxDepthSeen) maxDepthSeen = depth + 1;
          }
        }
        // Events come in state order, so the first of each property is at the smallest id. Under
        // --por a step property counts only on the transition taken, as in `explore`.
        for (const e of r.events as WorkerEvent[]) {
          if (found.has(e.property) || (e.action >= 0 && reducedTo[e.state] >= 0 && reducedTo[e.state] !== e.action)) continue;
          found.set(e.property, { stateId: ids[e.state], action: e.action, message: e.message, fields: e.fields });
        }
        if (halt) break search;
        const now = performance.now();
        if (now - started > timeLimitMs) {
          stoppedBy = { kind: 'time-limit', limit: timeLimitMs / 1000 };
          break search;
        }
        const heapUsed = getHeapStatistics().used_heap_size;
        if (heapUsed > HEAP_STOP * heapLimit || heapUsed + store.byteSize + paths.byteSize > maxMemoryBytes) {
          stoppedBy = { kind: 'memory', limit: Math.min(heapLimit, maxMemoryBytes), detail: `store, level and heap reached ${Math.round((heapUsed + store.byteSize) / 2 ** 20)} MiB` };
          break search;
        }
        if (done()) break search;
        options.onProgress?.({ states: store.size, transitions, queued: next.length + level.length - batches[b].from - ids.length, depth: maxDepthSeen, elapsedMs: now - started });
      }
      if (atBound) {
        level = [];
        break;
      }
      level = next;
      levelLog = nextLog;
      levelStarts = nextStarts;
      depth++;
    }
  } finally {
    stopping = true;
    await Promise.all(workers.map((w) => w.terminate()));
  }

  const complete = level.length === 0 && !stoppedBy && !cutByDepth;
  if (!stoppedBy && cutByDepth) stoppedBy = { kind: 'max-depth', limit: maxDepth };
  if (!stoppedBy && !complete && found.size > 0 && options.stopOnFirst) stoppedBy = { kind: 'first-violation' };
  const elapsedMs = performance.now() - started;

  // Counterexamples: the stored paths replayed (counterexample.ts).
  const violation = counterexampleOf(replayerOf(model, params, codec, canon, out), canon !== undefined, store, paths, initStates);
  return outcomeOf(model, params, 'bfs', selected, found, complete, stoppedBy, violation, fired?.values(), {
    initialStates: initStates.length,
    states: store.size,
    transitions,
    maxDepth: maxDepthSeen,
    elapsedMs,
    ...storageStats(store, paths, transitions),
    workers: n,
    ...(por ? { por: { reducedStates } } : {}),
    ...(canon ? { symmetry: true } : {}),
  });
}

function logState(log: ByteWriter, starts: number[], b: Uint8Array, from: number, n: number): void {
  starts.push(log.length);
  log.reserve(n);
  log.bytes.set(b.subarray(from, from + n), log.length);
  log.length += n;
}
