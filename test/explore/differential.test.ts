// The explorer against a brute-force reference on random finite transition systems: BFS and
// DFS must store exactly the reachable states, find a violation exactly when one is reachable,
// and BFS must return a counterexample of the true shortest length.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anyModel, defineModel, explore, invariant } from '../../src/index.ts';

interface System {
  readonly edges: readonly (readonly number[])[];
  readonly init: readonly number[];
  readonly bad: readonly boolean[];
  readonly end: readonly boolean[];
}

const system: fc.Arbitrary<System> = fc.integer({ min: 1, max: 300 }).chain((n) =>
  fc.record({
    edges: fc.array(fc.array(fc.integer({ min: 0, max: n - 1 }), { maxLength: 4 }), { minLength: n, maxLength: n }),
    init: fc.array(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: 3 }),
    bad: fc.array(fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x < 0.02), { minLength: n, maxLength: n }),
    end: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
  }),
);

/** Multi-source BFS distances from the initial states: the reference. */
function distances(s: System): Map<number, number> {
  const dist = new Map<number, number>();
  const queue: number[] = [];
  for (const i of s.init) if (!dist.has(i)) dist.set(i, 0), queue.push(i);
  for (let h = 0; h < queue.length; h++) {
    const x = queue[h];
    for (const y of s.edges[x]) if (!dist.has(y)) dist.set(y, dist.get(x)! + 1), queue.push(y);
  }
  return dist;
}

function shortest(dist: Map<number, number>, hit: (x: number) => boolean): number | undefined {
  let best: number | undefined;
  for (const [x, d] of dist) if (hit(x) && (best === undefined || d < best)) best = d;
  return best;
}

function modelOf(s: System) {
  return anyModel(
    defineModel<number, {}>({
      name: 'random',
      params: {},
      init: () => s.init,
      transitions: (x) => s.edges[x].map((y, j) => ({ label: `e${j}->${y}`, lane: `l${j % 2}`, apply: () => y })),
      isEndState: (x) => s.end[x],
      properties: [invariant<number>('safe', 'no bad state', (x) => !s.bad[x])],
    }),
  );
}

/** A trace is a real path: it starts at an initial state and follows edges. */
function followsEdges(s: System, trace: { initial: unknown; steps: readonly { state: unknown }[] }): boolean {
  let x = trace.initial as number;
  if (!s.init.includes(x)) return false;
  for (const st of trace.steps) {
    const y = st.state as number;
    if (!s.edges[x].includes(y)) return false;
    x = y;
  }
  return true;
}

describe('explorer vs brute force on random transition systems', () => {
  for (const strategy of ['bfs', 'dfs'] as const) {
    it(`${strategy} stores exactly the reachable states and takes every transition once`, () => {
      fc.assert(
        fc.property(system, (s) => {
          const dist = distances(s);
          const o = explore(modelOf(s), {}, { strategy, properties: [] });
          expect(o.complete).toBe(true);
          expect(o.stats.states).toBe(dist.size);
          expect(o.stats.transitions).toBe([...dist.keys()].reduce((sum, x) => sum + s.edges[x].length, 0));
          if (strategy === 'bfs') expect(o.stats.maxDepth).toBe(Math.max(...dist.values()));
        }),
        { numRuns: 200 },
      );
    });

    it(`${strategy} finds an invariant violation or a deadlock exactly when one is reachable`, () => {
      fc.assert(
        fc.property(system, (s) => {
          const dist = distances(s);
          const badAt = shortest(dist, (x) => s.bad[x]);
          const deadAt = shortest(dist, (x) => s.edges[x].length === 0 && !s.end[x]);
          const o = explore(modelOf(s), {}, { strategy });
          const [safe, deadlock] = o.properties;
          expect(safe.verdict).toBe(badAt === undefined ? 'holds' : 'violated');
          expect(deadlock.verdict).toBe(deadAt === undefined ? 'holds' : 'violated');
          if (safe.violation) {
            const t = safe.violation.trace;
            expect(followsEdges(s, t)).toBe(true);
            expect(s.bad[(t.steps.at(-1)?.state ?? t.initial) as number]).toBe(true);
            if (strategy === 'bfs') expect(t.steps.length).toBe(badAt);
          }
          if (deadlock.violation) {
            const t = deadlock.violation.trace;
            const last = (t.steps.at(-1)?.state ?? t.initial) as number;
            expect(followsEdges(s, t)).toBe(true);
            expect(s.edges[last].length === 0 && !s.end[last]).toBe(true);
            if (strategy === 'bfs') expect(t.steps.length).toBe(deadAt);
          }
        }),
        { numRuns: 300 },
      );
    });
  }

  it('a depth bound never turns a violation beyond it into holds', () => {
    fc.assert(
      fc.property(system, fc.integer({ min: 0, max: 6 }), (s, maxDepth) => {
        const dist = distances(s);
        const badAt = shortest(dist, (x) => s.bad[x]);
        const o = explore(modelOf(s), {}, { maxDepth, properties: ['safe'] });
        if (badAt !== undefined && badAt <= maxDepth) expect(o.properties[0].verdict).toBe('violated');
        else if (badAt !== undefined) expect(o.properties[0].verdict).toBe('unknown');
        else expect(o.properties[0].verdict).not.toBe('violated');
        if (Math.max(...dist.values()) > maxDepth) expect(o.complete).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
