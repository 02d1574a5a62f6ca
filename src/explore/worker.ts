// One worker of a parallel run (--workers, see parallel.ts): loads the model file itself,
// expands the batches of encoded states the main thread sends, and returns every successor's
// bytes in order with the property events it saw. Shares the codec's string and type table with
// the other threads, so its bytes compare with theirs.
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel } from '../cli/load.ts';
import { ByteWriter, SharedDictionary, StateCodec } from '../core/codec.ts';
import { ModelError } from '../core/errors.ts';
import { DEADLOCK_MESSAGE, DEADLOCK_PROPERTY, violationOf, type AnyModel, type Check, type Transition } from '../core/model.ts';
import type { AnyParams } from '../core/params.ts';
import { renderState } from '../core/value.ts';
import { selectProperties } from './explore.ts';
import { hash32 } from './store.ts';
import { readPrefixed } from './growable.ts';
import { ampleTransition, Canonicalizer } from './reduce.ts';

export interface WorkerSetup {
  readonly file: string;
  readonly params: AnyParams;
  readonly properties: readonly string[] | undefined;
  readonly dictionary: SharedArrayBuffer;
  readonly coverage: boolean;
  /**
   * --por: send every successor (no leaving out: the main thread may skip some) and, per state,
   * the index of its ample transition (reduce.ts), or 0xffff.
   */
  readonly por: boolean;
  /** --symmetry: send each successor's orbit representative (reduce.ts). */
  readonly symmetry: boolean;
}

/** A batch: `count` states, each a varint length and its bytes. */
export interface Batch {
  readonly seq: number;
  readonly count: number;
  readonly bytes: Uint8Array;
}

/** A property violated at state `state` of the batch (action -1) or by its transition `action`. */
export interface WorkerEvent {
  readonly state: number;
  readonly property: string;
  readonly action: number;
  readonly message: string;
  readonly fields: readonly string[];
}

/**
 * Per state: the count of successors sent (2 bytes, little-endian), under --por the index of its
 * ample transition (2 bytes, 0xffff for none), then each successor as a varint length and its
 * bytes. Without --por, a
 * successor that this batch already sent is left out (the main thread, taking successors in
 * order, would find it stored), so the count may be less than the state's transitions; `sent`
 * holds, per state, the index of the transition of each successor sent.
 */
export interface BatchResult {
  readonly seq: number;
  readonly bytes: Uint8Array;
  readonly length: number;
  readonly transitions: number;
  /** Per successor sent, in order: the index of its transition. */
  readonly actions: Uint16Array;
  readonly events: WorkerEvent[];
  readonly fired: [string, string, string | undefined, number][];
}

/** The most states `meetType` visits before it gives up. */
const MEET_LIMIT = 200_000;

/**
 * Makes this thread's model build a value of the Record type `signature`, which another thread
 * made first, so that the codec decodes the model's own type (StateCodec.onUnknownType): a
 * breadth-first search from the initial states, encoding every successor (which registers the
 * types in it) until the type is met. The type is reachable, since another thread reached it
 * with the same model and parameters; usually within a few steps.
 */
function meetType(model: AnyModel, params: AnyParams, codec: StateCodec, signature: string): void {
  const name = (JSON.parse(signature) as [string])[0];
  const scratch = new ByteWriter();
  const seen = new Set<string>();
  const inits = model.init(params);
  let level: unknown[] = Array.isArray(inits) ? [...inits] : [inits];
  const isNew = (s: unknown): boolean => {
    scratch.length = 0;
    codec.encode(s, scratch);
    const key = scratch.key();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  };
  level = level.filter(isNew);
  while (level.length > 0 && !codec.knowsType(signature)) {
    if (seen.size > MEET_LIMIT)
      throw new ModelError(
        `--workers: a worker met Record type "${name}", made by another thread, and its own search of ${MEET_LIMIT} states from the initial state made none; does the model build Record types on the fly? Run without --workers`,
      );
    const next: unknown[] = [];
    for (const s of level) for (const t of model.transitions(s, params)) {
      const x = t.apply();
      if (isNew(x)) next.push(x);
      if (codec.knowsType(signature)) return;
    }
    level = next;
  }
}

const setup = workerData as WorkerSetup;
const port = parentPort!;

try {
  const model = await loadModel(setup.file);
  const params = setup.params;
  const selected = selectProperties(model, setup.properties);
  const invariants = selected.filter((p) => p.kind === 'invariant');
  const finals = selected.filter((p) => p.kind === 'final');
  const steps = selected.filter((p) => p.kind === 'step');
  const deadlock = selected.some((p) => p.kind === 'deadlock');
  const isEnd = model.isEndState ?? (() => false);
  const codec = new StateCodec(new SharedDictionary(setup.dictionary));
  codec.onUnknownType = (signature) => meetType(model, params, codec, signature);
  const out = new ByteWriter(1 << 16);
  const sym = setup.symmetry ? model.symmetry?.(params) : undefined;
  const canon = sym ? new Canonicalizer(model.name, sym, codec) : undefined;
  const one = new ByteWriter();
  let expanded = 0;
  /** The representative's bytes of `x` as a string, for set comparisons. */
  const repKey = (x: unknown): string => {
    one.length = 0;
    codec.encode(x, one);
    canon!.canonicalize(x, one);
    return one.key();
  };
  /**
   * --symmetry, on one expanded state in 64 (as `explore` samples): a permutation of the state
   * must have the same invariant verdicts and the same successors up to permutation.
   */
  const checkSymmetric = (state: unknown, ts: readonly Transition<unknown>[]): void => {
    const c = canon!;
    if (c.perms.length === 0) return;
    const perm = c.perms[(expanded / 64) % c.perms.length];
    const ps = c.permute(state, perm);
    const bad = (what: string) =>
      new ModelError(`model "${model.name}" is not symmetric as declared (--symmetry): ${what}, in state {${renderState(state)}} and its permutation [${perm.join(', ')}] {${renderState(ps)}}`);
    for (const p of invariants)
      if (p.kind === 'invariant') {
        const a = violationOf(p.check(state, params)) === undefined;
        if (a !== (violationOf(p.check(ps, params)) === undefined)) throw bad(`property "${p.name}" ${a ? 'holds' : 'is violated'} in one and not the other`);
      }
    const pts = model.transitions(ps, params);
    if (pts.length !== ts.length) throw bad(`${ts.length} transitions in one, ${pts.length} in the other`);
    const mine = new Set(ts.map((t) => repKey(t.apply())));
    for (const t of pts) if (!mine.has(repKey(t.apply()))) throw bad(`transition "${t.label}" of the permutation leads to a state that no transition of the state leads to, up to permutation`);
  };
  // This batch's successors so far, by hash: open addressing over (offset + 1, hash) pairs.
  let seen = new Int32Array(1 << 14);
  let seenMask = (1 << 13) - 1;
  let seenCount = 0;
  let actions = new Uint16Array(1 << 14);
  let sentCount = 0;
  /** Whether the successor at out[at, at + len) was sent before in this batch; if not, remembers it. */
  const entry = { start: 0, end: 0 };
  const sentBefore = (at: number, len: number): boolean => {
    const b = out.bytes;
    const h = hash32(b, at, len, 0x5bd1e995) | 0;
    let i = h & seenMask;
    for (;;) {
      const o = seen[2 * i];
      if (o === 0) break;
      if (seen[2 * i + 1] === h) {
        // Stored entries point at their length varint; compare lengths and bytes.
        readPrefixed(b, o - 1, entry);
        const p = entry.start;
        if (entry.end - p === len) {
          let same = true;
          for (let k = 0; k < len && same; k++) if (b[p + k] !== b[at + k]) same = false;
          if (same) return true;
        }
      }
      i = (i + 1) & seenMask;
    }
    return false;
  };
  const remember = (lenAt: number, at: number, len: number): void => {
    const h = hash32(out.bytes, at, len, 0x5bd1e995) | 0;
    if (++seenCount > 0.6 * (seenMask + 1)) {
      const old = seen;
      seenMask = seenMask * 2 + 1;
      seen = new Int32Array(2 * (seenMask + 1));
      for (let j = 0; j < old.length; j += 2) {
        if (old[j] === 0) continue;
        let k = old[j + 1] & seenMask;
        while (seen[2 * k] !== 0) k = (k + 1) & seenMask;
        seen[2 * k] = old[j];
        seen[2 * k + 1] = old[j + 1];
      }
    }
    let i = h & seenMask;
    while (seen[2 * i] !== 0) i = (i + 1) & seenMask;
    seen[2 * i] = lenAt + 1;
    seen[2 * i + 1] = h;
  };
  const fail = (what: string, e: unknown): ModelError =>
    e instanceof ModelError ? e : new ModelError(`${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });

  port.on('message', (batch: Batch) => {
    try {
      out.length = 0;
      seen.fill(0);
      seenCount = 0;
      sentCount = 0;
      const events: WorkerEvent[] = [];
      const fired = new Map<string, [string, string, string | undefined, number]>();
      let transitions = 0;
      const b = batch.bytes;
      let pos = 0;
      const check = (k: number, property: string, action: number, c: Check) => {
        if (c === true) return;
        const v = violationOf(c);
        if (v) events.push({ state: k, property, action, ...v });
      };
      for (let k = 0; k < batch.count; k++) {
        readPrefixed(b, pos, entry);
        const state = codec.decode(b, entry.start, entry.end, true);
        pos = entry.end;
        for (const p of invariants)
          if (p.kind === 'invariant') {
            try {
              check(k, p.name, -1, p.check(state, params));
            } catch (e) {
              throw fail(`property "${p.name}" threw on state {${renderState(state)}}`, e);
            }
          }
        let ts: readonly Transition<unknown>[];
        try {
          ts = model.transitions(state, params);
        } catch (e) {
          throw fail(`transitions() threw in state {${renderState(state)}}`, e);
        }
        if (ts.length > 0xffff) throw new ModelError(`model "${model.name}": ${ts.length} transitions from one state; at most ${0xffff} are supported, in state {${renderState(state)}}`);
        // The count of successors sent: two bytes, patched in after them (--por: then the ample index).
        const countAt = out.length;
        out.reserve(4);
        out.length += 2;
        if (setup.por) {
          const a = ts.length > 0 ? ampleTransition(ts) : -1;
          out.bytes[out.length++] = a < 0 ? 0xff : a & 0xff;
          out.bytes[out.length++] = a < 0 ? 0xff : a >>> 8;
        }
        let sent = 0;
        if (ts.length === 0) {
          if (deadlock && !isEnd(state, params))
            events.push({ state: k, property: DEADLOCK_PROPERTY, action: -1, message: DEADLOCK_MESSAGE, fields: [] });
          for (const p of finals) if (p.kind === 'final') check(k, p.name, -1, p.check(state, params));
        }
        for (let i = 0; i < ts.length; i++) {
          const t = ts[i];
          let next: unknown;
          const at = out.length;
          try {
            next = t.apply();
            // Leave room for the length: encode after a 4-byte hole, then move the bytes down.
            out.reserve(4);
            out.length += 4;
            if (canon) {
              one.length = 0;
              codec.encode(next, one);
              canon.canonicalize(next, one);
              out.reserve(one.length);
              out.bytes.set(one.bytes.subarray(0, one.length), out.length);
              out.length += one.length;
            } else codec.encode(next, out);
          } catch (e) {
            throw fail(`transition "${t?.label}" threw from state {${renderState(state)}}`, e);
          }
          const len = out.length - at - 4;
          transitions++;
          if (!setup.por && sentBefore(at + 4, len)) out.length = at;
          else {
            const head = len < 0x80 ? 1 : len < 0x4000 ? 2 : len < 0x200000 ? 3 : 4;
            out.bytes.copyWithin(at + head, at + 4, out.length);
            out.length = at;
            out.varint(len);
            out.length = at + head + len;
            remember(at, at + head, len);
            if (sentCount === actions.length) {
              const bigger = new Uint16Array(actions.length * 2);
              bigger.set(actions);
              actions = bigger;
            }
            actions[sentCount++] = i;
            sent++;
          }
          if (setup.coverage) {
            const f = fired.get(t.label);
            if (f) f[3]++;
            else fired.set(t.label, [t.label, t.lane, t.action, 1]);
          }
          for (const p of steps) if (p.kind === 'step') check(k, p.name, i, p.check(state, t, next, params));
        }
        out.bytes[countAt] = sent & 0xff;
        out.bytes[countAt + 1] = sent >>> 8;
        if (canon && ++expanded % 64 === 0) checkSymmetric(state, ts);
      }
      const bytes = out.bytes.slice(0, out.length);
      const sentActions = actions.slice(0, sentCount);
      const result: BatchResult = { seq: batch.seq, bytes, length: bytes.length, transitions, actions: sentActions, events, fired: [...fired.values()] };
      port.postMessage(result, [bytes.buffer, sentActions.buffer]);
    } catch (e) {
      port.postMessage({ seq: batch.seq, error: e instanceof Error ? e.message : String(e), model: e instanceof ModelError });
    }
  });
  port.postMessage({ ready: true });
} catch (e) {
  port.postMessage({ seq: -1, error: e instanceof Error ? e.message : String(e), model: true });
}
