import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { List, Record } from 'immutable';
import { describe, expect, it } from 'vitest';
import { anyModel, defineModel, explore, invariant, type AnyModel, type Outcome, type Transition } from '../../src/index.ts';
import { defaultParams, type AnyParams } from '../../src/core/params.ts';
import { permutations } from '../../src/explore/space.ts';
import { isModel } from '../../src/core/model.ts';
import nmiPercpu from '../../bench/models/nmi_percpu.ts';
import { mc } from '../cli/run.ts';

// Soundness of --symmetry and --por against unreduced runs: on random models whose lanes all
// run one program (so they are interchangeable) with random local steps, and on every model's
// declared buggy variants.

/**
 * One instruction of the lanes' common program, at each pc:
 * - local: x = (x + 1) % 3, always enabled, touches only the lane (declared `local`);
 * - write: g[v] = c; copy: g[v] = x; await: enabled only while g[v] === c; swap: g[v] = 1 - g[v]
 *   if x === c. Then pc = next; pc = program length is the end of the lane.
 */
interface Instr {
  readonly kind: 'local' | 'write' | 'copy' | 'await' | 'swap';
  readonly v: number;
  readonly c: number;
  readonly next: number;
}

const G = 2;
const Lane = Record({ pc: 0, x: 0 }, 'Lane');
type Lane = ReturnType<typeof Lane>;
const S = Record({ lanes: List<Lane>(), g: List<number>() }, 'S');
type S = ReturnType<typeof S>;

/**
 * Lane i runs programs[i % programs.length]: one program for every lane makes the lanes
 * interchangeable (and the model declares its symmetry); several make the POR case harder.
 */
function randomModel(programs: readonly (readonly Instr[])[], n: number, bad: readonly number[]) {
  const symmetric = programs.length === 1;
  const step = (s: S, i: number, l: Lane, ins: Instr): S => {
    const moved = l.set('pc', ins.next);
    switch (ins.kind) {
      case 'local':
        return s.setIn(['lanes', i], moved.set('x', (l.x + 1) % 3));
      case 'write':
        return s.setIn(['lanes', i], moved).setIn(['g', ins.v], ins.c);
      case 'copy':
        return s.setIn(['lanes', i], moved).setIn(['g', ins.v], l.x);
      case 'swap':
        return s.setIn(['lanes', i], moved).setIn(['g', ins.v], l.x === ins.c ? 1 - s.g.get(ins.v)! : s.g.get(ins.v)!);
      case 'await':
        return s.setIn(['lanes', i], moved);
    }
  };
  return anyModel(
    defineModel({
      name: 'random-lanes',
      params: {},
      init: () => S({ lanes: List(Array.from({ length: n }, () => Lane())), g: List(Array(G).fill(0)) }),
      transitions: (s) => {
        const out: Transition<S>[] = [];
        s.lanes.forEach((l, i) => {
          const program = programs[i % programs.length];
          if (l.pc === program.length) return;
          const ins = program[l.pc];
          if (ins.kind === 'await' && s.g.get(ins.v) !== ins.c) return;
          out.push({ lane: `p${i}`, label: `p${i}: ${l.pc} ${ins.kind}`, local: ins.kind === 'local', apply: () => step(s, i, l, ins) });
        });
        return out;
      },
      // Over shared state only: local steps are invisible to it, and it is symmetric.
      properties: [invariant<S>('not-bad', 'g never equals the bad value', (s) => s.g.get(0) !== bad[0] || s.g.get(1) !== bad[1] || `g = ${s.g.join(',')}`)],
      // Every lane past its last instruction is a proper end; anything else stuck is a deadlock.
      isEndState: (s) => s.lanes.every((l, i) => l.pc === programs[i % programs.length].length),
      lanes: () => Array.from({ length: n }, (_, i) => `p${i}`),
      symmetry: () =>
        symmetric ? {
        lanes: Array.from({ length: n }, (_, i) => `p${i}`),
        permute: (s, perm) => {
          const lanes = new Array<Lane>(n);
          s.lanes.forEach((l, i) => (lanes[perm[i]] = l));
          return s.set('lanes', List(lanes));
        },
      } : undefined,
    }),
  );
}

const instr = (len: number) =>
  fc.record({
    kind: fc.constantFrom('local', 'local', 'write', 'copy', 'await', 'swap') as fc.Arbitrary<Instr['kind']>,
    v: fc.integer({ min: 0, max: G - 1 }),
    c: fc.integer({ min: 0, max: 2 }),
    next: fc.integer({ min: 0, max: len }),
  });
// Mostly straight-line programs (pc + 1), some jumps back or forward.
const program = fc
  .integer({ min: 2, max: 6 })
  .chain((len) => fc.tuple(fc.array(instr(len), { minLength: len, maxLength: len }), fc.array(fc.boolean(), { minLength: len, maxLength: len })))
  .map(([ins, jump]) => ins.map((x, pc) => (jump[pc] ? x : { ...x, next: pc + 1 })));
/** One program for all lanes (symmetric), or one per lane. */
const programs = fc.oneof(program.map((p) => [p]), fc.array(program, { minLength: 2, maxLength: 3 }));

const verdictsOf = (o: Outcome) => Object.fromEntries(o.properties.map((p) => [p.name, p.verdict]));

/** Replays a counterexample's labels on the model: each must be enabled where it is taken. */
function replayLabels(m: AnyModel, o: Outcome, property: string): unknown {
  const v = o.properties.find((p) => p.name === property)!.violation!;
  let s = (m.init({}) as unknown[] | unknown) as unknown;
  for (const step of v.trace.steps) {
    const t = m.transitions(s, {}).find((x) => x.label === step.label);
    expect(t, `"${step.label}" is enabled at its step`).toBeDefined();
    s = t!.apply();
  }
  return s;
}

describe('reductions keep every violation (random symmetric models with local steps)', () => {
  it('--symmetry and --por find a violation exactly when the unreduced run does, never with more states', () => {
    fc.assert(
      fc.property(programs, fc.integer({ min: 2, max: 3 }), fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })), (ps, n, bad) => {
        const m = randomModel(ps, n, bad);
        const reductions = ps.length === 1 ? [{ symmetry: true }, { por: true }, { symmetry: true, por: true }] : [{ por: true }];
        for (const strategy of ['bfs', 'dfs'] as const)
          for (const opts of reductions as { symmetry?: boolean; por?: boolean }[]) {
            const unreduced = explore(m, {}, { strategy });
            const r = explore(m, {}, { strategy, ...opts });
            expect(verdictsOf(r), `${strategy} ${JSON.stringify(opts)}`).toEqual(verdictsOf(unreduced));
            // (A run that decided every property stops early: counts compare only when complete.)
            if (unreduced.complete) expect(r.stats.states).toBeLessThanOrEqual(unreduced.stats.states);
            if (unreduced.complete && opts.symmetry && !opts.por) {
              // An orbit has at most n! states.
              expect(r.stats.states * (permutations(n).length + 1)).toBeGreaterThanOrEqual(unreduced.stats.states);
            }
            // A counterexample under a reduction is a real run of the model, ending in a violation.
            if (r.properties[0].verdict === 'violated') {
              const last = replayLabels(m, r, 'not-bad') as S;
              expect(last.g.get(0) === bad[0] && last.g.get(1) === bad[1]).toBe(true);
            }
          }
      }),
      { numRuns: 100, seed: 5 },
    );
  });

  it('a BFS counterexample under --symmetry is as short as the unreduced one', () => {
    fc.assert(
      fc.property(program, fc.integer({ min: 2, max: 3 }), fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })), (p, n, bad) => {
        const m = randomModel([p], n, bad);
        const full = explore(m, {});
        const sym = explore(m, {}, { symmetry: true });
        for (const p of full.properties) {
          const q = sym.properties.find((x) => x.name === p.name)!;
          expect(q.verdict).toBe(p.verdict);
          if (p.violation) expect(q.violation!.trace.steps.length).toBe(p.violation.trace.steps.length);
        }
      }),
      { numRuns: 40, seed: 7 },
    );
  });
});

describe('symmetry declarations are checked', () => {
  const base = randomModel(
    [
      [
        { kind: 'write', v: 0, c: 1, next: 1 },
        { kind: 'local', v: 0, c: 0, next: 0 },
      ],
    ],
    2,
    [2, 2],
  );

  it('refuses --symmetry on a model that declares none, as a usage error', () => {
    const plain = { ...base, symmetry: undefined };
    expect(() => explore(plain, {}, { symmetry: true })).toThrow(/--symmetry: model "random-lanes" declares no interchangeable lanes/);
  });

  it('names a property that is not symmetric', () => {
    const lopsided = {
      ...base,
      properties: [invariant('lane0-idle', 'lane 0 stays at pc 0', (s: S) => s.lanes.get(0)!.pc === 0), ...base.properties.slice(1)],
    } as unknown as AnyModel;
    expect(() => explore(lopsided, {}, { symmetry: true })).toThrow(/not symmetric as declared \(--symmetry\): property "lane0-idle" (holds|is violated) in one and not the other/);
  });

  it('catches a permutation that is not a symmetry of the transitions', () => {
    // Lane 0 may write, lane 1 may not: renaming them changes what can happen.
    const skewed = {
      ...base,
      transitions: (s: unknown, p: AnyParams) => base.transitions(s, p).filter((t) => t.lane === 'p0' || !t.label.includes('write')),
    } as unknown as AnyModel;
    expect(() => explore(skewed, {}, { symmetry: true })).toThrow(/not symmetric as declared \(--symmetry\): (\d+ transitions in one|transition)/);
  });
});

describe('the 3-CPU bench kernel model', () => {
  const m = anyModel(nmiPercpu);
  const params = { ...defaultParams(m.params), cpus: 3, rounds: 1, nmis: 1 };
  it('--symmetry stores fewer states (at least 4x) with the same verdicts, --por too', () => {
    for (const variant of ['checks-lock', 'no-check']) {
      const p = { ...params, variant };
      const full = explore(m, p);
      const sym = explore(m, p, { symmetry: true });
      const por = explore(m, p, { por: true });
      expect(verdictsOf(sym)).toEqual(verdictsOf(full));
      expect(verdictsOf(por)).toEqual(verdictsOf(full));
      expect(sym.stats.states * 4).toBeLessThanOrEqual(full.stats.states);
      expect(por.stats.states).toBeLessThan(full.stats.states);
    }
  });
  it('pins the counts: 21^3 = 9261 states unreduced, C(23, 3) = 1771 orbits under --symmetry (checks-lock)', () => {
    // The CPUs share nothing and each has 21 states, so the orbits are the multisets of three.
    expect(explore(m, { ...params, cpus: 1 }).stats.states).toBe(21);
    expect(explore(m, params).stats.states).toBe(9261);
    expect(explore(m, params, { symmetry: true }).stats.states).toBe(1771);
  });
});

describe("every model's buggy variants keep their violations under the reductions it supports", () => {
  const dir = resolve(__dirname, '../../models');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    it(file, async () => {
      const mod = (await import(join(dir, file))) as { default: unknown };
      if (!isModel(mod.default)) return;
      const m = mod.default;
      for (const e of m.expectations) {
        if (!e.violated?.length) continue;
        const params = { ...defaultParams(m.params), ...e.params } as AnyParams;
        const bounds = { maxStates: e.bounds?.maxStates, maxDepth: e.bounds?.maxDepth };
        const want = verdictsOf(explore(m, params, bounds));
        const reductions: { symmetry?: boolean; por?: boolean }[] = [{ por: true }];
        if (m.symmetry?.(params)) reductions.push({ symmetry: true }, { symmetry: true, por: true });
        for (const r of reductions) {
          const got = verdictsOf(explore(m, params, { ...bounds, ...r }));
          for (const name of e.violated) expect(got[name], `${file} ${JSON.stringify(e.params)} ${JSON.stringify(r)}: ${name}`).toBe('violated');
          for (const [name, v] of Object.entries(want)) if (v === 'violated') expect(got[name], `${file} ${JSON.stringify(r)}: ${name}`).toBe('violated');
        }
      }
      // Every buggy setting, 3 CPUs included, three or four times over: about a minute for
      // kfree_nolock on an idle machine, so a longer limit than the suite's default.
    }, 300_000);
  }
});

describe('the CLI flags', () => {
  it('--symmetry on a model without Model.symmetry is a one-line usage error, exit 2', async () => {
    const r = await mc('verify', 'bench/models/filter.ts', '--symmetry', '--quiet');
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toEqual([expect.stringMatching(/--symmetry: model "filter-lock" declares no interchangeable lanes/)]);
  });
  it('--symmetry --por on the bench kernel model: same verdicts, fewer states, a concrete counterexample', async () => {
    const args = ['verify', 'bench/models/nmi_percpu.ts', '--param', 'cpus=3', '--param', 'rounds=1', '--param', 'nmis=1', '--param', 'variant=no-check', '--json', '--quiet', '--out', join(tmpdir(), 'mc-reductions')];
    const full = JSON.parse((await mc(...args)).out);
    const red = JSON.parse((await mc(...args, '--symmetry', '--por')).out);
    expect(red.verdict).toBe('violated');
    expect(red.stats.states).toBeLessThan(full.stats.states / 4);
    expect(red.stats.symmetry).toBe(true);
    expect(red.stats.por.reducedStates).toBeGreaterThan(0);
    // BFS shortest under symmetry; with POR the path is shortest in the reduced graph only.
    const steps = (o: { properties: { name: string; violation?: { trace: { steps: unknown[] } } }[] }) => o.properties.find((p) => p.name === 'no-lost-update')!.violation!.trace.steps.length;
    expect(steps(red)).toBeGreaterThanOrEqual(steps(full));
    // The summary says the counts are of a reduced graph.
    const text = (await mc(...args.filter((a) => a !== '--json'), '--symmetry', '--por')).out;
    expect(text).toMatch(/; symmetry: one state per orbit of interchangeable lanes; por: \d+ states expanded by one local transition\n/);
  });
});
