import { describe, expect, it } from 'vitest';
import { anyModel, explore, invariant, type AnyModel, type ExploreOptions } from '../../src/index.ts';
import lostUpdate from '../fixtures/lost_update.ts';
import peterson from '../fixtures/peterson.ts';
import philosophers from '../fixtures/philosophers.ts';

const everyState = {
  ...anyModel(philosophers),
  properties: [invariant('anything', 'always holds', () => true), ...anyModel(philosophers).properties],
};

type Params = Record<string, string | number | boolean>;
const run = (model: unknown, params: Params, options: ExploreOptions = {}) => {
  const m = model as AnyModel;
  const defaults: Params = Object.fromEntries(Object.entries(m.params).map(([k, s]) => [k, s.default]));
  return explore(m, { ...defaults, ...params }, options);
};

describe('encoded storage keeps the SPIN-checked counts', () => {
  for (const strategy of ['bfs', 'dfs'] as const)
    for (const fingerprint of [false, true]) {
      const how = `${strategy}${fingerprint ? ', fingerprints' : ''}`;
      it(`peterson: 32 states (${how})`, () => {
        const o = run(peterson, {}, { strategy, fingerprint });
        expect(o.stats.states).toBe(32);
        expect(o.verdict).toBe('holds');
        expect(o.stats.storage).toBe(fingerprint ? 'fingerprint' : 'exact');
      });
      it(`lost-update: 13 states for 2 threads, 84 for 3 (${how})`, () => {
        expect(run(lostUpdate, { threads: 2 }, { strategy, fingerprint }).stats.states).toBe(13);
        expect(run(lostUpdate, { threads: 3 }, { strategy, fingerprint }).stats.states).toBe(84);
      });
      it(`philosophers n=3: 26 states when no property stops the run (${how})`, () => {
        // A second property that holds keeps the deadlock from ending the run: every state is stored.
        const o = explore(everyState, { n: 3 }, { strategy, fingerprint });
        expect(o.properties.map((p) => p.verdict)).toEqual(['holds', 'violated']);
        expect(o.stats.states).toBe(26);
      });
    }

  it('rebuilds the shortest counterexample by replay from encoded states', () => {
    for (const fingerprint of [false, true]) {
      const o = run(peterson, { variant: 'turn-first' }, { fingerprint });
      const v = o.properties.find((p) => p.name === 'mutual-exclusion')!.violation!;
      expect(v.trace.steps.map((s) => s.label)).toEqual([
        'p0: turn = 1',
        'p1: turn = 0',
        'p1: flag[1] = 1',
        'p1: enter',
        'p0: flag[0] = 1',
        'p0: enter',
        'p0: ncs++',
        'p1: ncs++',
      ]);
    }
  });

  it('reports bytes per stored state, fewer with fingerprints on a larger run', () => {
    const exact = run(philosophers, { n: 8 }, { properties: ['no-deadlock'], maxStates: 20000 });
    const fp = run(philosophers, { n: 8 }, { properties: ['no-deadlock'], maxStates: 20000, fingerprint: true });
    expect(exact.stats.states).toBe(fp.stats.states);
    expect(exact.stats.bytesPerState).toBeGreaterThan(fp.stats.bytesPerState);
    expect(fp.stats.collisionOdds).toBeGreaterThan(0);
    expect(fp.stats.collisionOdds).toBeLessThan(1e-9);
  });
});

describe('memory stop', () => {
  it('ends a run over --max-memory as incomplete with its counts', () => {
    const o = run(philosophers, { n: 8 }, { properties: ['no-deadlock'], maxMemoryMiB: 1 });
    expect(o.verdict).not.toBe('holds');
    expect(o.complete).toBe(false);
    expect(o.stoppedBy?.kind).toBe('memory');
    expect(o.stats.states).toBeGreaterThan(0);
  });
});
