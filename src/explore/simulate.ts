import { ModelError } from '../core/errors.ts';
import { DEADLOCK_MESSAGE, violationOf, type AnyModel, type Check, type Property } from '../core/model.ts';
import type { PropertyResult, TraceStep } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import { renderState } from '../core/value.ts';
import { selectProperties } from './explore.ts';

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
  const started = performance.now();
  let steps = 0;
  let ended = 0;
  const call = <T>(what: () => string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw new ModelError(`${what()}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  };
  const found = (p: Property<unknown, AnyParams>, c: Check, initial: unknown, trace: readonly TraceStep[]): PropertyResult | undefined => {
    const v = violationOf(c);
    if (!v) return undefined;
    return { name: p.name, kind: p.kind, description: p.description, verdict: 'violated', violation: { ...v, trace: { initial, steps: [...trace] } } };
  };
  for (let run = 0; run < options.runs; run++) {
    const seed = (options.seed + run) >>> 0;
    const random = prng(seed);
    const inits = call(() => 'init() threw', () => model.init(params));
    const initStates: unknown[] = Array.isArray(inits) ? [...inits] : [inits];
    if (initStates.length === 0) throw new ModelError(`model "${model.name}": init() returned no state`);
    const initial = initStates[Math.floor(random() * initStates.length)];
    const trace: TraceStep[] = [];
    let s = initial;
    const checkState = (): PropertyResult | undefined => {
      for (const p of selected)
        if (p.kind === 'invariant') {
          const r = found(p, call(() => `property "${p.name}" threw on state {${renderState(s)}}`, () => p.check(s, params)), initial, trace);
          if (r) return r;
        }
      return undefined;
    };
    let bad = checkState();
    for (let d = 0; !bad && d <= options.depth; d++) {
      const ts = call(() => `transitions() threw in state {${renderState(s)}}`, () => model.transitions(s, params));
      if (ts.length === 0) {
        ended++;
        const end = model.isEndState?.(s, params) ?? false;
        for (const p of selected) {
          if (bad) break;
          if (p.kind === 'deadlock' && !end) bad = found(p, DEADLOCK_MESSAGE, initial, trace);
          if (p.kind === 'final') bad = found(p, call(() => `property "${p.name}" threw`, () => p.check(s, params)), initial, trace);
        }
        break;
      }
      if (d === options.depth) break;
      const t = ts[Math.floor(random() * ts.length)];
      const next = call(() => `transition "${t.label}" threw from state {${renderState(s)}}`, () => t.apply());
      steps++;
      trace.push({ label: t.label, lane: t.lane, state: next });
      for (const p of selected)
        if (!bad && p.kind === 'step') bad = found(p, call(() => `property "${p.name}" threw on transition "${t.label}"`, () => p.check(s, t, next, params)), initial, trace);
      s = next;
      if (!bad) bad = checkState();
    }
    if (bad) return { runs: run + 1, steps, ended, elapsedMs: performance.now() - started, violation: { seed, run: run + 1, result: bad } };
  }
  return { runs: options.runs, steps, ended, elapsedMs: performance.now() - started };
}
