// Liveness on cases with known answers: Peterson's algorithm is starvation-free under weak
// fairness, a test-and-set lock is not (and is under strong fairness on the acquire), without
// fairness it starves; NMIs that arrive finitely often cannot starve a CPU, NMIs that may arrive
// forever can; a run that ends without the goal violates eventually(). And the lasso as every
// output shows it: text, DOT, ITF and mc replay.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anyModel, defineModel, eventually, explore, t, type Outcome } from '../../src/index.ts';
import { mc } from '../cli/run.ts';
import mutex from '../fixtures/mutex_live.ts';
import nmi from '../fixtures/nmi_live.ts';

const verdicts = (o: Outcome) => Object.fromEntries(o.properties.map((p) => [p.name, p.verdict]));

describe('liveness: classic answers', () => {
  it("Peterson's algorithm is starvation-free under weak fairness", () => {
    expect(verdicts(explore(anyModel(mutex), { lock: 'peterson', fairness: 'weak' }))).toEqual({ 'p0-enters': 'holds', 'someone-enters': 'holds', 'p0-thinks-again': 'holds', 'no-deadlock': 'holds' });
  });

  it('a test-and-set lock starves a process under weak fairness, with a lasso whose cycle p1 runs', () => {
    const o = explore(anyModel(mutex), { lock: 'tas', fairness: 'weak' });
    const p = o.properties.find((x) => x.name === 'p0-enters')!;
    expect(p.verdict).toBe('violated');
    const tr = p.violation!.trace;
    expect(tr.loop).toBe(1);
    expect(tr.steps.map((s) => s.label)).toEqual(['p0: want', 'p1: want', 'p1: test_and_set', 'p1: leave']);
    expect(verdicts(o)['someone-enters']).toBe('holds');
  });

  it('strong fairness on the acquire makes the test-and-set lock starvation-free', () => {
    expect(verdicts(explore(anyModel(mutex), { lock: 'tas', fairness: 'strong' }))['p0-enters']).toBe('holds');
  });

  it('without fairness the test-and-set lock starves', () => {
    expect(verdicts(explore(anyModel(mutex), { lock: 'tas', fairness: 'none' }))['p0-enters']).toBe('violated');
  });

  it('NMIs that arrive finitely often cannot starve the CPU; NMIs that may arrive forever can', () => {
    expect(verdicts(explore(anyModel(nmi), { finite: true, halt: false })).steps).toBe('holds');
    const o = explore(anyModel(nmi), { finite: false, halt: false });
    const v = o.properties[0].violation!;
    expect(v.trace.steps.map((s) => s.label)).toEqual(['cpu0: nmi arrives', 'cpu0: nmi returns']);
    expect(v.trace.loop).toBe(0);
  });

  it('a run that ends without the goal violates eventually(): the lasso stays in its last state', () => {
    const v = explore(anyModel(nmi), { finite: true, halt: true }).properties[0].violation!;
    expect(v.trace.steps.map((s) => s.label)).toEqual(['cpu0: halt']);
    expect(v.trace.loop).toBe(1);
    expect(v.message).toContain('stays in state 1 forever');
  });

  it('a depth bound the whole graph fits in decides liveness: every state was expanded, every edge recorded', () => {
    const m = anyModel(mutex);
    const params = { lock: 'tas', fairness: 'weak' };
    const full = explore(m, params);
    const depth = full.stats.maxDepth;
    // At the graph's own depth the states there are expanded and all their successors are stored.
    const atDepth = explore(m, params, { maxDepth: depth });
    expect([atDepth.complete, verdicts(atDepth)]).toEqual([true, verdicts(full)]);
    // One less and the run is cut: nothing is decided.
    const cut = explore(m, params, { maxDepth: depth - 1 });
    expect([cut.complete, cut.stoppedBy?.kind, verdicts(cut)['p0-enters']]).toEqual([false, 'max-depth', 'unknown']);
  });

  it('gives the same verdicts under --por and --workers (the graph is the full one)', async () => {
    const plain = verdicts(explore(anyModel(mutex), { lock: 'tas', fairness: 'weak' }));
    const file = join(import.meta.dirname, '../fixtures/mutex_live.ts');
    // --workers with exact storage searches on one thread, which records the graph, and says so;
    // with --fingerprint the safety search is parallel and the graph is built after it.
    const note = /--workers 2: the liveness properties are decided on the graph that one thread records during its search; .* Searching on one thread/;
    for (const flags of [['--por'], ['--workers', '2'], ['--workers', '2', '--fingerprint']]) {
      const r = await mc('verify', file, '--param', 'lock=tas', '--json', '--out', mkdtempSync(join(tmpdir(), 'mc-live-')), ...flags);
      const j = JSON.parse(r.out);
      expect(Object.fromEntries(j.properties.map((p: { name: string; verdict: string }) => [p.name, p.verdict])), flags.join(' ')).toEqual(plain);
      expect(note.test(r.err), flags.join(' ')).toBe(flags.length === 2 && flags[0] === '--workers');
    }
  });

  it('refuses a malformed fairness declaration, naming what is wrong', () => {
    const def = { name: 'x', params: {}, state: () => t.struct({ a: t.bool() }), init: () => {}, transitions: () => [], properties: [eventually('e', 'e', () => true)] };
    expect(() => defineModel({ ...def, fairness: { lanes: 'strong' } as never })).toThrow(/fairness lanes is "strong"; valid: /);
    expect(() => defineModel({ ...def, fairness: { strong: ['a'], finite: ['a'] } })).toThrow(/names "a" both strong and finite/);
    expect(() => defineModel({ ...def, fairness: { fair: [] } as never })).toThrow(/unknown key "fair"/);
  });
});

describe('liveness: the lasso in every output', () => {
  const file = join(import.meta.dirname, '../fixtures/mutex_live.ts');
  it('text, DOT, HTML and ITF show the loop, and mc replay re-checks it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-live-'));
    const r = await mc('verify', file, '--param', 'lock=tas', '--property', 'p0-enters', '--html', '--out', dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain('◀ the cycle starts here');
    expect(r.out).toContain('↺ back to state 1');
    expect(r.out).toMatch(/liveness: 8 states and 14 edges/);
    const base = join(dir, 'mutex-live', 'lock=tas,fairness=weak', 'p0-enters');
    expect(readFileSync(`${base}.dot`, 'utf8')).toMatch(/"s4" -> "s1" .*repeats forever/);
    expect(readFileSync(`${base}.html`, 'utf8')).toContain('↺ back to state 1: steps 2–4 repeat forever');
    const itf = JSON.parse(readFileSync(`${base}.itf.json`, 'utf8'));
    expect(itf.loop).toBe(1);
    expect(itf.states).toHaveLength(4);
    expect(itf['#meta'].loopAction).toBe('p1: leave');
    const again = await mc('replay', `${base}.itf.json`, file);
    expect(again.code).toBe(1);
    expect(again.out).toContain('the recorded violation of p0-enters is reproduced');
    // A lasso that does not close is a mismatch; one that is not fair violates nothing.
    writeFileSync(`${dir}/bad.itf.json`, JSON.stringify({ ...itf, loop: 2 }));
    const bad = await mc('replay', `${dir}/bad.itf.json`, file);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('does not return to state 2');
    const unfair = { ...itf, '#meta': { ...itf['#meta'], params: { lock: 'tas', fairness: 'strong' } } };
    writeFileSync(`${dir}/unfair.itf.json`, JSON.stringify(unfair));
    const u = await mc('replay', `${dir}/unfair.itf.json`, file);
    expect(u.code).toBe(0);
    expect(u.out).toContain('the recorded violation of p0-enters is NOT reproduced');
  });

  it('mc list shows the liveness kinds and the fairness they run under', async () => {
    const r = await mc('list', join(import.meta.dirname, '../fixtures/nmi_live.ts'));
    expect(r.out).toContain('steps  [eventually]  the CPU takes its step');
    expect(r.out).toContain('fairness (at the default parameters): lanes weak; finitely often: cpuN: nmi arrives');
  });

  it('mc check holds the liveness expectations', async () => {
    const r = await mc('check', file);
    expect(r.code, r.out).toBe(0);
  });
});
