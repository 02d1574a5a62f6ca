// Liveness against brute force: random small graphs with lanes, actions, weak and strong
// fairness and finitely-often actions, written as schema models (a state is a node), decided by
// explore() and by a reference written here that tries every set of states as the set a run
// visits forever: a fair violation exists iff some strongly connected set of owed states meets
// every fairness condition, or an owed state has nothing but finite actions enabled. mc's own
// lasso is re-checked against the model inside explore() (lassoProblem), so a wrong lasso fails too.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alwaysEventually, anyModel, defineModel, eventually, explore, invariant, leadsTo, t, type Fairness } from '../../src/index.ts';

interface Edge {
  readonly from: number;
  readonly to: number;
  readonly lane: number;
  readonly act: number;
}
interface G {
  readonly n: number;
  readonly edges: readonly Edge[];
  readonly goal: readonly boolean[];
  readonly trigger: readonly boolean[];
  readonly weak: boolean;
  readonly strong: readonly number[];
  readonly finite: readonly number[];
}

const graphs: fc.Arbitrary<G> = fc.integer({ min: 1, max: 6 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    edges: fc.array(fc.record({ from: fc.nat(n - 1), to: fc.nat(n - 1), lane: fc.nat(2), act: fc.nat(2) }), { maxLength: 3 * n }),
    goal: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
    trigger: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
    weak: fc.boolean(),
    acts: fc.array(fc.constantFrom('plain', 'strong', 'finite'), { minLength: 3, maxLength: 3 }),
  }).map(({ acts, ...g }) => ({
    ...g,
    strong: acts.flatMap((a, i) => (a === 'strong' ? [i] : [])),
    finite: acts.flatMap((a, i) => (a === 'finite' ? [i] : [])),
  })),
);

function modelOf(g: G) {
  const fairness: Fairness = { lanes: g.weak ? 'weak' : 'none', strong: g.strong.map((a) => `a${a}`), finite: g.finite.map((a) => `a${a}`) };
  return anyModel(
    defineModel({
      name: 'random-live',
      params: {},
      state: () => t.struct({ at: t.int(0, g.n - 1) }),
      init: () => {},
      transitions: (s: { at: number }) =>
        g.edges.flatMap((e, k) => (e.from === s.at ? [{ lane: `l${e.lane}`, label: `l${e.lane}: a${e.act} to ${e.to} #${k}`, action: `a${e.act}`, apply: (d: { at: number }) => void (d.at = e.to) }] : [])),
      fairness,
      properties: [
        invariant<{ at: number }>('in-range', 'the node is one of the graph\'s', (s) => s.at < g.n),
        eventually('ev', 'goal eventually', (s: { at: number }) => g.goal[s.at]),
        alwaysEventually('gf', 'goal again and again', (s: { at: number }) => g.goal[s.at]),
        leadsTo('lt', 'trigger leads to goal', (s: { at: number }) => g.trigger[s.at], (s: { at: number }) => g.goal[s.at]),
      ],
      isEndState: () => true,
    }),
  );
}

/** The states reachable from `from` through states where `ok` holds (`from` must hold it too). */
function reach(g: G, from: readonly number[], ok: (s: number) => boolean): Set<number> {
  const seen = new Set(from.filter(ok));
  const queue = [...seen];
  while (queue.length > 0) {
    const u = queue.pop()!;
    for (const e of g.edges) if (e.from === u && ok(e.to) && !seen.has(e.to)) (seen.add(e.to), queue.push(e.to));
  }
  return seen;
}

/** Whether some fair run stays forever within `owed` (a subset of the reachable states). */
function fairRunWithin(g: G, owed: Set<number>): boolean {
  const finite = (e: Edge) => g.finite.includes(e.act);
  for (const u of owed) if (!g.edges.some((e) => e.from === u && !finite(e))) return true;
  const members = [...owed];
  for (let mask = 1; mask < 1 << members.length; mask++) {
    const S = new Set(members.filter((_, i) => (mask >> i) & 1));
    const inner = g.edges.filter((e) => S.has(e.from) && S.has(e.to) && !finite(e));
    if (inner.length === 0) continue;
    // Strongly connected through inner edges: every member reaches every other.
    const connected = [...S].every((a) => {
      const r = new Set([a]);
      const q = [a];
      while (q.length) {
        const x = q.pop()!;
        for (const e of inner) if (e.from === x && !r.has(e.to)) (r.add(e.to), q.push(e.to));
      }
      return r.size === S.size && inner.some((e) => e.to === a);
    });
    if (!connected) continue;
    const weakOk = !g.weak || [0, 1, 2].every((l) => inner.some((e) => e.lane === l) || [...S].some((u) => !g.edges.some((e) => e.from === u && e.lane === l && !finite(e))));
    const strongOk = g.strong.every((a) => [0, 1, 2].every((l) => !g.edges.some((e) => S.has(e.from) && e.act === a && e.lane === l) || inner.some((e) => e.act === a && e.lane === l)));
    if (weakOk && strongOk) return true;
  }
  return false;
}

function reference(g: G): Record<'ev' | 'gf' | 'lt', boolean> {
  const all = reach(g, [0], () => true);
  const notGoal = (s: number) => !g.goal[s];
  const ev = reach(g, [0], notGoal);
  const gf = new Set([...all].filter(notGoal));
  const lt = reach(g, [...all].filter((s) => g.trigger[s] && !g.goal[s]), notGoal);
  return { ev: fairRunWithin(g, ev), gf: fairRunWithin(g, gf), lt: fairRunWithin(g, lt) };
}

describe('liveness against brute force on random graphs', () => {
  it('finds a fair violation exactly when one exists, with a lasso that checks', () => {
    fc.assert(
      fc.property(graphs, (g) => {
        const o = explore(modelOf(g), {}, { properties: ['ev', 'gf', 'lt'] });
        const ref = reference(g);
        for (const p of o.properties) {
          expect(p.verdict, `${p.name} on ${JSON.stringify(g)}`).toBe(ref[p.name as 'ev' | 'gf' | 'lt'] ? 'violated' : 'holds');
          if (p.violation) expect(p.violation.trace.loop).toBeDefined();
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('decides the same on the graph the safety search records as on a graph search of its own', () => {
    // With a safety property selected, the breadth-first safety search records the graph
    // (explore.ts); with none, the graph search of liveness.ts runs alone. Same verdicts, same lassos.
    const liveOnly = ['ev', 'gf', 'lt'];
    fc.assert(
      fc.property(graphs, (g) => {
        const model = modelOf(g);
        const alone = explore(model, {}, { properties: liveOnly });
        const recorded = explore(model, {}, { properties: ['in-range', ...liveOnly] });
        expect(recorded.stats.liveness?.edges).toBe(alone.stats.liveness?.edges);
        for (const name of liveOnly) {
          const a = alone.properties.find((p) => p.name === name)!;
          const b = recorded.properties.find((p) => p.name === name)!;
          expect(b.verdict, `${name} on ${JSON.stringify(g)}`).toBe(a.verdict);
          expect(b.violation?.trace.steps.map((st) => st.label)).toEqual(a.violation?.trace.steps.map((st) => st.label));
          expect(b.violation?.trace.loop).toBe(a.violation?.trace.loop);
        }
      }),
      { numRuns: 500 },
    );
  });
});
