import { describe, expect, it } from 'vitest';
import { anyModel, explore, type Outcome } from '../../src/index.ts';
import { defaultParams } from '../../src/core/params.ts';
import { exploreParallel } from '../../src/explore/parallel.ts';
import { loadModel } from '../../src/cli/load.ts';
import { mc } from '../cli/run.ts';

// --workers: the same distinct states, the same verdicts and the same shortest counterexamples
// as one thread. Each worker loads the model file itself (a second or so of start-up each).

const labels = (o: Outcome, p: string) => o.properties.find((x) => x.name === p)!.violation!.trace.steps.map((s) => s.label);

describe('--workers', () => {
  it('stores the same states as one thread (exact and fingerprint), peterson and lost-update', async () => {
    const peterson = await loadModel('test/fixtures/peterson.ts');
    const lost = await loadModel('test/fixtures/lost_update.ts');
    const pp = defaultParams(peterson.params);
    for (const fingerprint of [false, true]) {
      const one = explore(peterson, pp, { fingerprint });
      const two = await exploreParallel('test/fixtures/peterson.ts', peterson, pp, { workers: 2, fingerprint });
      expect(two.stats.states).toBe(32);
      expect(two.stats.transitions).toBe(one.stats.transitions);
      expect(two.verdict).toBe('holds');
      expect(two.stats.workers).toBe(2);
    }
    const lp = { ...defaultParams(lost.params), threads: 3 };
    // Every property decided early would stop both runs at different points: check none.
    const one = explore(lost, lp, { properties: [] });
    const three = await exploreParallel('test/fixtures/lost_update.ts', lost, lp, { workers: 3, properties: [] });
    expect([one.stats.states, three.stats.states]).toEqual([84, 84]);
  }, 60000);

  it('finds the same shortest counterexample as one thread', async () => {
    const peterson = await loadModel('test/fixtures/peterson.ts');
    const pp = { ...defaultParams(peterson.params), variant: 'turn-first' };
    const one = explore(peterson, pp);
    const two = await exploreParallel('test/fixtures/peterson.ts', peterson, pp, { workers: 2 });
    expect(two.properties.map((p) => p.verdict)).toEqual(one.properties.map((p) => p.verdict));
    expect(labels(two, 'mutual-exclusion')).toEqual(labels(one, 'mutual-exclusion'));
    expect(labels(two, 'mutual-exclusion')).toHaveLength(8);
  }, 60000);

  it('the bench kernel model: same count in several batches, deadlocks and final properties', async () => {
    const file = 'bench/models/nmi_percpu.ts';
    const m = await loadModel(file);
    for (const [variant, states] of [['checks-lock', 48400], ['no-check', 88804]] as const) {
      // Levels of thousands of states: several batches per level and worker.
      const p = { ...defaultParams(m.params), rounds: 3, nmis: 3, variant };
      const one = explore(m, p);
      const two = await exploreParallel(file, m, p, { workers: 2 });
      expect(two.properties.map((x) => x.verdict)).toEqual(one.properties.map((x) => x.verdict));
      expect(one.complete).toBe(true);
      expect([one.stats.states, two.stats.states]).toEqual([states, states]);
      for (const x of one.properties) if (x.violation) expect(labels(two, x.name)).toEqual(labels(one, x.name));
    }
  }, 60000);

  it('--por and --symmetry: the same reduced states, decisions and counterexamples as one thread', async () => {
    const file = 'bench/models/nmi_percpu.ts';
    const m = await loadModel(file);
    const cases = [
      ['checks-lock', { por: true }],
      ['no-check', { por: true }],
      ['checks-lock', { por: true, fingerprint: true }],
      ['no-check', { symmetry: true }],
      ['no-check', { symmetry: true, por: true }],
      ['checks-lock', { symmetry: true, fingerprint: true }],
    ] as const;
    for (const [variant, opts] of cases) {
      const p = { ...defaultParams(m.params), cpus: 3, rounds: 1, nmis: 1, variant };
      // Under --por with fingerprints the workers' proviso asks whether the ample successor is on
      // the next level, as one thread does with exact storage (one thread's fingerprint table keeps
      // no ids, so it asks only whether the successor is new): the same reduction as exact storage.
      const one = explore(m, p, 'por' in opts && 'fingerprint' in opts ? { ...opts, fingerprint: false } : opts);
      const two = await exploreParallel(file, m, p, { workers: 2, ...opts });
      expect(two.stats.states).toBe(one.stats.states);
      expect(two.stats.transitions).toBe(one.stats.transitions);
      expect(two.stats.por).toEqual(one.stats.por);
      expect(two.stats.symmetry).toEqual(one.stats.symmetry);
      expect(two.stats.states).toBeLessThan(explore(m, p, { fingerprint: 'fingerprint' in opts }).stats.states);
      expect(two.properties.map((x) => x.verdict)).toEqual(one.properties.map((x) => x.verdict));
      for (const x of one.properties) if (x.violation) expect(labels(two, x.name)).toEqual(labels(one, x.name));
    }
  }, 60000);

  it('refuses a model without a state schema, saying why', async () => {
    const file = 'test/fixtures/peterson_immutable.ts';
    const m = await loadModel(file);
    await expect(exploreParallel(file, m, defaultParams(m.params), { workers: 2 })).rejects.toThrow(/--workers needs a model with a state schema/);
  });

  it('refuses more threads than twice the cores', async () => {
    const m = await loadModel('test/fixtures/peterson.ts');
    await expect(exploreParallel('test/fixtures/peterson.ts', m, defaultParams(m.params), { workers: 1000 })).rejects.toThrow(/this machine has \d+ cores/);
  });

  it('is a usage error with dfs, and from the CLI with 0 workers', async () => {
    const m = anyModel((await import('../../bench/models/nmi_percpu.ts')).default);
    const p = defaultParams(m.params);
    await expect(exploreParallel('bench/models/nmi_percpu.ts', m, p, { workers: 2, strategy: 'dfs' })).rejects.toThrow(/breadth-first only/);
    const r = await mc('verify', 'bench/models/nmi_percpu.ts', '--workers', '0', '--quiet');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--workers takes a positive integer, got "0"/);
  });
});
