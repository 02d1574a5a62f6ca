// Exact state counts and shortest counterexamples on classic models. The counts are SPIN's:
// each fixture has a Promela twin in test/fixtures/*.pml, checked with SPIN 6.5.2
// (`spin -a X.pml && gcc -O2 -DNOREDUCE -DSAFETY -o pan pan.c && ./pan`), which reports
// "N states, stored" and "T transitions (= stored+matched)"; SPIN counts the initial state as a
// transition, so mc's transitions are T - 1.
import { Record } from 'immutable';
import { describe, expect, it } from 'vitest';
import { anyModel, atQuiescence, defineModel, explore, invariant, onStep, type Outcome } from '../../src/index.ts';
import lostUpdate from '../fixtures/lost_update.ts';
import peterson from '../fixtures/peterson.ts';
import philosophers from '../fixtures/philosophers.ts';

const labels = (o: Outcome, property: string) => o.properties.find((p) => p.name === property)!.violation!.trace.steps.map((s) => s.label);
const verdicts = (o: Outcome) => Object.fromEntries(o.properties.map((p) => [p.name, p.verdict]));

describe("Peterson's mutex, 2 processes", () => {
  for (const strategy of ['bfs', 'dfs'] as const)
    it(`${strategy}: 32 states, 54 transitions (SPIN: 32 stored, 55 transitions), mutual exclusion holds`, () => {
      const o = explore(anyModel(peterson), { variant: 'correct' }, { strategy });
      expect(o.stats.states).toBe(32);
      expect(o.stats.transitions).toBe(54);
      expect(o.verdict).toBe('holds');
      expect(verdicts(o)).toEqual({ 'mutual-exclusion': 'holds', 'no-deadlock': 'holds' });
    });

  it('bfs: max depth 8 is the eccentricity of the initial state', () => {
    expect(explore(anyModel(peterson), { variant: 'correct' }).stats.maxDepth).toBe(8);
  });

  it('turn-first: the shortest counterexample lets both in after 8 steps', () => {
    const o = explore(anyModel(peterson), { variant: 'turn-first' });
    expect(o.verdict).toBe('violated');
    expect(labels(o, 'mutual-exclusion')).toEqual([
      'p0: turn = 1',
      'p1: turn = 0',
      'p1: flag[1] = 1',
      'p1: enter',
      'p0: flag[0] = 1',
      'p0: enter',
      'p0: ncs++',
      'p1: ncs++',
    ]);
    const v = o.properties[0].violation!;
    expect(v.message).toBe('2 processes in the critical section');
    expect(v.fields).toEqual(['ncs']);
  });

  it('dfs also finds the violation, on a path that really reaches it', () => {
    const o = explore(anyModel(peterson), { variant: 'turn-first' }, { strategy: 'dfs' });
    const trace = o.properties[0].violation!.trace;
    expect((trace.steps.at(-1)!.state as { ncs: number }).ncs).toBe(2);
  });
});

describe('lost update', () => {
  it('2 threads: 13 states, 14 transitions (SPIN: 13, 15); the lost update takes 4 steps', () => {
    const o = explore(anyModel(lostUpdate), { threads: 2 });
    expect(o.stats.states).toBe(13);
    expect(o.stats.transitions).toBe(14);
    expect(verdicts(o)).toEqual({ 'no-lost-update': 'violated', 'no-deadlock': 'holds' });
    expect(labels(o, 'no-lost-update')).toEqual(['t0: tmp = x', 't1: tmp = x', 't0: x = tmp + 1', 't1: x = tmp + 1']);
  });

  it('3 threads: 84 states, 111 transitions (SPIN: 84, 112)', () => {
    const o = explore(anyModel(lostUpdate), { threads: 3 });
    expect(o.stats.states).toBe(84);
    expect(o.stats.transitions).toBe(111);
    expect(labels(o, 'no-lost-update')).toHaveLength(6);
  });

  it('1 thread cannot lose an update', () => {
    expect(explore(anyModel(lostUpdate), { threads: 1 }).verdict).toBe('holds');
  });
});

describe('dining philosophers, 3', () => {
  it('with no property selected: all 26 states, 51 transitions (SPIN: 26, 52)', () => {
    const o = explore(anyModel(philosophers), { n: 3 }, { properties: [] });
    expect(o.stats.states).toBe(26);
    expect(o.stats.transitions).toBe(51);
    expect(o.complete).toBe(true);
  });

  it('deadlock: everyone holds the left fork after 3 steps; the run stops once every property is decided', () => {
    const o = explore(anyModel(philosophers), { n: 3 });
    expect(labels(o, 'no-deadlock')).toEqual(['ph0: take fork 0', 'ph1: take fork 1', 'ph2: take fork 2']);
    expect(o.complete).toBe(false);
    expect(o.stats.states).toBeLessThan(26);
  });
});

describe('bounds end a run as incomplete, never as holds', () => {
  it('--max-states', () => {
    const o = explore(anyModel(peterson), { variant: 'correct' }, { maxStates: 10 });
    expect(o.verdict).toBe('incomplete');
    expect(o.stoppedBy).toEqual({ kind: 'max-states', limit: 10 });
    expect(o.stats.states).toBe(10);
    expect(verdicts(o)).toEqual({ 'mutual-exclusion': 'unknown', 'no-deadlock': 'unknown' });
  });

  it('--max-depth', () => {
    const o = explore(anyModel(peterson), { variant: 'correct' }, { maxDepth: 3 });
    expect(o.verdict).toBe('incomplete');
    expect(o.stoppedBy).toEqual({ kind: 'max-depth', limit: 3 });
    expect(o.stats.maxDepth).toBe(3);
  });

  it('a bound that the space fits in leaves the run complete', () => {
    const o = explore(anyModel(peterson), { variant: 'correct' }, { maxStates: 32, maxDepth: 8 });
    expect(o.verdict).toBe('holds');
  });

  it('a violation found within the bound is still reported', () => {
    const o = explore(anyModel(lostUpdate), { threads: 2 }, { maxDepth: 4, maxStates: 13 });
    expect(o.verdict).toBe('violated');
  });
});

describe('property kinds', () => {
  const Counter = Record({ n: 0, done: false }, 'Counter');
  type Counter = ReturnType<typeof Counter>;
  const counter = (start: number) =>
    anyModel(
      defineModel({
        name: 'counter',
        params: {},
        init: () => Counter({ n: start }),
        transitions: (s: Counter) =>
          s.done
            ? []
            : [
                { lane: 'a', label: 'a: n += 2', apply: () => s.set('n', s.n + 2) },
                { lane: 'b', label: 'b: stop', apply: () => s.set('done', true) },
              ].filter((t) => t.label === 'b: stop' || s.n < 6),
        isEndState: (s: Counter) => s.done,
        properties: [
          invariant<Counter>('small', 'n stays below 5', (s) => s.n < 5 || `n = ${s.n}`),
          onStep<Counter>('steps-of-two', 'n never grows by 4 or more', (a, _t, b) => b.n - a.n < 4),
          atQuiescence<Counter>('ends-even', 'n is even when done', (s) => s.n % 2 === 0 || `odd ${s.n}`),
        ],
      }),
    );

  it('invariants are checked on initial states too', () => {
    const o = explore(counter(7), {});
    const v = o.properties.find((p) => p.name === 'small')!.violation!;
    expect(v.trace.steps).toEqual([]);
    expect(v.message).toBe('n = 7');
  });

  it('final properties are checked where nothing is enabled; step properties on every step', () => {
    const o = explore(counter(1), {});
    expect(verdicts(o)).toEqual({ small: 'violated', 'steps-of-two': 'holds', 'ends-even': 'violated', 'no-deadlock': 'holds' });
    expect(o.properties[0].violation!.trace.steps.map((s) => s.label)).toEqual(['a: n += 2', 'a: n += 2']);
    expect(o.properties[2].violation!.trace.steps.map((s) => s.label)).toEqual(['b: stop']);
  });

  it('--first stops at the first violation and leaves the rest unknown', () => {
    const o = explore(counter(1), {}, { stopOnFirst: true });
    expect(o.stoppedBy).toEqual({ kind: 'first-violation' });
    expect(o.properties.filter((p) => p.verdict === 'unknown').length).toBeGreaterThan(0);
  });
});
