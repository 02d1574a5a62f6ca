import { ByteWriter } from '../core/codec.ts';
import { modelFailure } from '../core/errors.ts';
import { DEADLOCK_MESSAGE, violationOf, type AnyModel, type Check, type Property } from '../core/model.ts';
import type { PropertyResult, TraceStep } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import { selectProperties } from './explore.ts';
import { spaceOf } from './space.ts';

export interface SimulateOptions {
  /** The seed of the first run; run i uses seed + i, so a violation found in run i replays alone with that seed. */
  readonly seed: number;
  readonly runs: number;
  /** Steps per run at most. */
  readonly depth: number;
  readonly properties?: readonly string[];
}

export interface SimulationOutcome {
  /** Runs made (the last is the violating one when a violation was found). */
  readonly runs: number;
  /** Transitions taken over all runs. */
  readonly steps: number;
  /** Runs that ended because no transition was enabled (rather than at the depth bound). */
  readonly ended: number;
  readonly elapsedMs: number;
  /** The first violation found, with the seed of its run. */
  readonly violation?: { readonly seed: number; readonly run: number; readonly result: PropertyResult };
}

/** A small fast PRNG (mulberry32): the same seed gives the same walk on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random walks from the initial states, for models too big to explore exhaustively: each run
 * picks an initial state and then one enabled transition after another, uniformly, up to
 * `depth` steps or until none is enabled, checking the selected properties on the way. Stops at
 * the first violation. Finding none proves nothing; it only says these runs were clean. No I/O.
 */
export function simulate(model: AnyModel, params: AnyParams, options: SimulateOptions): SimulationOutcome {
  const selected = selectProperties(model, options.properties);
  const space = spaceOf(model, params);
  const started = performance.now();
  let steps = 0;
  let ended = 0;
  const call = <T>(what: () => string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw modelFailure(what(), e);
    }
  };
  const initStates = space.initialStates();
  const out = new ByteWriter();
  for (let run = 0; run < options.runs; run++) {
    const seed = (options.seed + run) >>> 0;
    const random = prng(seed);
    const initial = initStates[Math.floor(random() * initStates.length)];
    const first = space.read(initial.bytes, 0, initial.bytes.length);
    const trace: TraceStep[] = [];
    const found = (p: Property<unknown, AnyParams>, c: Check): PropertyResult | undefined => {
      const v = violationOf(c);
      if (!v) return undefined;
      return { name: p.name, kind: p.kind, description: p.description, verdict: 'violated', violation: { ...v, trace: { initial: first, steps: [...trace], format: space.format } } };
    };
    const checkState = (s: unknown): PropertyResult | undefined => {
      for (const p of selected)
        if (p.kind === 'invariant') {
          const r = found(p, call(() => `property "${p.name}" threw on state {${space.render(s)}}`, () => p.check(s, params)));
          if (r) return r;
        }
      return undefined;
    };
    let current = initial.bytes;
    let bad = checkState(first);
    for (let d = 0; !bad && d <= options.depth; d++) {
      const ts = space.expand(current, 0, current.length);
      if (ts.length === 0) {
        ended++;
        const s = space.state;
        const end = call(() => `isEndState() threw on state {${space.render(s)}}`, () => model.isEndState?.(s, params) ?? false);
        for (const p of selected) {
          if (bad) break;
          if (p.kind === 'deadlock' && !end) bad = found(p, DEADLOCK_MESSAGE);
          if (p.kind === 'final') bad = found(p, call(() => `property "${p.name}" threw on state {${space.render(s)}}`, () => p.check(s, params)));
        }
        break;
      }
      if (d === options.depth) break;
      const k = Math.floor(random() * ts.length);
      const t = ts[k];
      const next = space.successor(k, out);
      steps++;
      current = out.copy();
      trace.push({ label: t.label, lane: t.lane, state: space.read(current, 0, current.length) });
      for (const p of selected)
        if (!bad && p.kind === 'step') bad = found(p, call(() => `property "${p.name}" threw on transition "${t.label}"`, () => p.check(space.state, t, next, params)));
      if (!bad) bad = checkState(next);
    }
    if (bad) return { runs: run + 1, steps, ended, elapsedMs: performance.now() - started, violation: { seed, run: run + 1, result: bad } };
  }
  return { runs: options.runs, steps, ended, elapsedMs: performance.now() - started };
}
