// Schema models against brute force: random transition systems written as schema models (a
// struct of small ints, a bool, an optional owner lane, a set and a list of lanes' values, and
// per-lane state in an array indexed by a universe), explored with explore() under BFS and
// DFS, exact and fingerprint storage, and compared with a reachability written here over plain
// objects. The same systems as Immutable models must give the same counts and counterexamples,
// and --symmetry on systems symmetric by construction must store exactly one state per orbit.
import fc from 'fast-check';
import { List, Record, Set as ImmSet } from 'immutable';
import { describe, expect, it } from 'vitest';
import { anyModel, defineModel, explore, invariant, t, universe, type AnyModel, type Outcome, type Trace, type Transition, type ValueOf } from '../../src/index.ts';

// ---------------------------------------------------------------------------------------------
// The systems.

type Kind = 'inc' | 'write' | 'copy' | 'load' | 'await' | 'toggle' | 'acquire' | 'release' | 'enlist' | 'delist' | 'push' | 'pop';

/** One guarded assignment of a lane at some pc; then pc = next (pc = program length: the lane is done). */
interface Instr {
  readonly kind: Kind;
  readonly v: number;
  readonly c: number;
  readonly next: number;
}
/** At each pc, one or two alternatives (a choice). */
type Program = readonly (readonly Instr[])[];

interface System {
  /** Lane i runs programs[i % programs.length]. */
  readonly programs: readonly Program[];
  readonly lanes: number;
  /** The invariant: g[0] + g[1] is never this sum. */
  readonly bad: number;
}

const G = 2;
const VALUES = 3;
const LOG = 2;

// Weighted towards what reaches violations: writes to g, acquiring and enlisting.
const kinds: Kind[] = ['inc', 'inc', 'write', 'write', 'write', 'copy', 'copy', 'load', 'await', 'toggle', 'acquire', 'acquire', 'release', 'enlist', 'enlist', 'delist', 'push', 'pop'];
const instr = (len: number) =>
  fc.record({ kind: fc.constantFrom(...kinds), v: fc.integer({ min: 0, max: G - 1 }), c: fc.integer({ min: 0, max: VALUES - 1 }), next: fc.integer({ min: 0, max: len }) });
/** Mostly straight-line code (next = pc + 1), some jumps and choices. */
const programOfLength = (...lengths: number[]): fc.Arbitrary<Program> => fc.constantFrom(...lengths).chain((len) =>
  fc
    .array(fc.tuple(fc.array(instr(len), { minLength: 1, maxLength: 2 }), fc.constantFrom(false, false, true)), { minLength: len, maxLength: len })
    .map((pcs) => pcs.map(([alts, jump], pc) => alts.map((a, k) => (jump || k > 0 ? a : { ...a, next: pc + 1 })))),
);
const program = programOfLength(3, 4, 5, 1, 2);
/** Rarely 0, the initial sum. */
const bad = fc.constantFrom(1, 2, 3, 4, 1, 2, 3, 4, 0);
/** Each lane its own program. */
const system: fc.Arbitrary<System> = fc.constantFrom(2, 3, 3, 1).chain((lanes) =>
  fc.record({ programs: fc.array(program, { minLength: lanes, maxLength: lanes }), lanes: fc.constant(lanes), bad }),
);
/** Every lane runs the same program: the lanes are interchangeable. */
const symmetricSystem: fc.Arbitrary<System> = fc.record({ programs: programOfLength(3, 4, 5, 6).map((p) => [p]), lanes: fc.constantFrom(3, 2), bad });

const programOf = (sys: System, i: number) => sys.programs[i % sys.programs.length];
const maxLength = (sys: System) => Math.max(...sys.programs.map((p) => p.length));
const label = (i: number, pc: number, k: number, ins: Instr) => `l${i}: ${pc}.${k} ${ins.kind}`;

// ---------------------------------------------------------------------------------------------
// The reference: plain objects, JSON keys, breadth-first search.

interface Plain {
  readonly g: readonly number[];
  readonly flag: boolean;
  readonly owner: number | null;
  /** Sorted. */
  readonly waiters: readonly number[];
  readonly log: readonly number[];
  readonly lanes: readonly { readonly pc: number; readonly x: number }[];
}

const key = (s: Plain) => JSON.stringify(s);
const initialPlain = (sys: System): Plain => ({ g: [0, 0], flag: false, owner: null, waiters: [], log: [], lanes: Array.from({ length: sys.lanes }, () => ({ pc: 0, x: 0 })) });

function enabled(s: Plain, i: number, ins: Instr): boolean {
  switch (ins.kind) {
    case 'await':
      return s.g[ins.v] === ins.c;
    case 'acquire':
      return s.owner === null;
    case 'release':
      return s.owner === i;
    case 'push':
      return s.log.length < LOG;
    case 'pop':
      return s.log.length > 0;
    default:
      return true;
  }
}

function step(s: Plain, i: number, ins: Instr): Plain {
  const lane = { ...s.lanes[i] };
  const g = [...s.g];
  let { flag, owner, waiters, log } = s;
  switch (ins.kind) {
    case 'inc':
      lane.x = (lane.x + 1) % VALUES;
      break;
    case 'write':
      g[ins.v] = ins.c;
      break;
    case 'copy':
      g[ins.v] = lane.x;
      break;
    case 'load':
      lane.x = s.g[ins.v];
      break;
    case 'await':
      break;
    case 'toggle':
      flag = !flag;
      break;
    case 'acquire':
      owner = i;
      break;
    case 'release':
      owner = null;
      break;
    case 'enlist':
      waiters = [...new Set([...waiters, i])].sort((a, b) => a - b);
      break;
    case 'delist':
      waiters = waiters.filter((w) => w !== i);
      break;
    case 'push':
      log = [...log, lane.x];
      break;
    case 'pop':
      lane.x = log[log.length - 1];
      log = log.slice(0, -1);
      break;
  }
  lane.pc = ins.next;
  return { g, flag, owner, waiters, log, lanes: s.lanes.map((l, j) => (j === i ? lane : l)) };
}

function successors(sys: System, s: Plain): { label: string; next: Plain }[] {
  const out: { label: string; next: Plain }[] = [];
  s.lanes.forEach((l, i) => {
    const p = programOf(sys, i);
    if (l.pc === p.length) return;
    p[l.pc].forEach((ins, k) => {
      if (enabled(s, i, ins)) out.push({ label: label(i, l.pc, k, ins), next: step(s, i, ins) });
    });
  });
  return out;
}

const isEnd = (sys: System, s: Plain) => s.lanes.every((l, i) => l.pc === programOf(sys, i).length);

/** The models' properties, as the reference decides them: whether state `s` violates each. */
const violated = {
  safe: (sys: System, s: Plain) => s.g[0] + s.g[1] === sys.bad,
  'owner-not-waiting': (_sys: System, s: Plain) => s.owner !== null && s.waiters.includes(s.owner),
  'no-deadlock': (sys: System, s: Plain) => successors(sys, s).length === 0 && !isEnd(sys, s),
};
type PropertyName = keyof typeof violated;
const propertyNames = Object.keys(violated) as PropertyName[];

interface Reference {
  readonly states: Map<string, { readonly state: Plain; readonly dist: number; readonly out: number }>;
  readonly transitions: number;
  readonly maxDepth: number;
  /** Per property, the length of a shortest path to a state that violates it. */
  readonly firstAt: { readonly [P in PropertyName]: number | undefined };
}

/** Every reachable state with its BFS distance, or undefined when there are more than `limit`. */
function reference(sys: System, limit = 2000): Reference | undefined {
  const init = initialPlain(sys);
  const states = new Map<string, { state: Plain; dist: number; out: number }>([[key(init), { state: init, dist: 0, out: 0 }]]);
  const queue = [init];
  let transitions = 0;
  for (let h = 0; h < queue.length; h++) {
    const s = queue[h];
    const here = states.get(key(s))!;
    const next = successors(sys, s);
    here.out = next.length;
    transitions += next.length;
    for (const { next: y } of next) {
      const k = key(y);
      if (states.has(k)) continue;
      if (states.size >= limit) return undefined;
      states.set(k, { state: y, dist: here.dist + 1, out: 0 });
      queue.push(y);
    }
  }
  const shortest = (hit: (s: Plain) => boolean) => {
    let best: number | undefined;
    for (const { state, dist } of states.values()) if (hit(state) && (best === undefined || dist < best)) best = dist;
    return best;
  };
  return {
    states,
    transitions,
    maxDepth: Math.max(...[...states.values()].map((x) => x.dist)),
    firstAt: Object.fromEntries(propertyNames.map((p) => [p, shortest((s) => violated[p](sys, s))])) as Reference['firstAt'],
  };
}

// ---------------------------------------------------------------------------------------------
// The same systems as schema models.

const schemaOf = (lanes: number, maxPc: number) => {
  const lane = universe('lane', lanes);
  return t.struct({
    g: t.array(t.int(0, VALUES - 1), G),
    flag: t.bool(),
    owner: t.optional(t.member(lane)),
    waiters: t.set(lane),
    log: t.list(t.int(0, VALUES - 1), LOG),
    lanes: t.array(t.struct({ pc: t.int(0, maxPc), x: t.int(0, VALUES - 1) }), lane),
  });
};
type State = ValueOf<ReturnType<typeof schemaOf>>;

/** A schema state as the reference's plain object. */
const plainOf = (s: State): Plain => ({
  g: [...s.g],
  flag: s.flag,
  owner: s.owner,
  waiters: [...s.waiters],
  log: [...s.log],
  lanes: s.lanes.map((l) => ({ pc: l.pc, x: l.x })),
});

function schemaModel(sys: System): AnyModel {
  return anyModel(
    defineModel<State, {}>({
      name: 'random-schema',
      params: {},
      state: () => schemaOf(sys.lanes, maxLength(sys)),
      init: () => {},
      transitions: (s) => {
        const out: Transition<State>[] = [];
        s.lanes.forEach((l, i) => {
          const p = programOf(sys, i);
          if (l.pc === p.length) return;
          p[l.pc].forEach((ins, k) => {
            const guard =
              ins.kind === 'await'
                ? s.g[ins.v] === ins.c
                : ins.kind === 'acquire'
                  ? s.owner === null
                  : ins.kind === 'release'
                    ? s.owner === i
                    : ins.kind === 'push'
                      ? s.log.length < LOG
                      : ins.kind === 'pop'
                        ? s.log.length > 0
                        : true;
            if (!guard) return;
            out.push({
              label: label(i, l.pc, k, ins),
              lane: `l${i}`,
              apply: (d) => {
                const me = d.lanes[i];
                switch (ins.kind) {
                  case 'inc':
                    me.x = (me.x + 1) % VALUES;
                    break;
                  case 'write':
                    d.g[ins.v] = ins.c;
                    break;
                  case 'copy':
                    d.g[ins.v] = me.x;
                    break;
                  case 'load':
                    me.x = d.g[ins.v];
                    break;
                  case 'toggle':
                    d.flag = !d.flag;
                    break;
                  case 'acquire':
                    d.owner = i;
                    break;
                  case 'release':
                    d.owner = null;
                    break;
                  case 'enlist':
                    d.waiters.add(i);
                    break;
                  case 'delist':
                    d.waiters.delete(i);
                    break;
                  case 'push':
                    d.log.push(me.x);
                    break;
                  case 'pop':
                    me.x = d.log.pop()!;
                    break;
                  case 'await':
                    break;
                }
                me.pc = ins.next;
              },
            });
          });
        });
        return out;
      },
      isEndState: (s) => s.lanes.every((l, i) => l.pc === programOf(sys, i).length),
      properties: [
        invariant<State>('safe', 'g never sums to the bad value', (s) => s.g[0] + s.g[1] !== sys.bad || { message: `g = ${s.g.join(',')}`, fields: ['g'] }),
        invariant<State>('owner-not-waiting', 'the owner is not among the waiters', (s) => s.owner === null || !s.waiters.has(s.owner) || `l${s.owner} owns and waits`),
      ],
      lanes: () => Array.from({ length: sys.lanes }, (_, i) => `l${i}`),
      symmetry: () => (sys.programs.length === 1 ? 'lane' : undefined),
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// And as Immutable models.

const ILane = Record({ pc: 0, x: 0 }, 'Lane');
type ILane = ReturnType<typeof ILane>;
const IState = Record(
  { g: List<number>(), flag: false, owner: null as number | null, waiters: ImmSet<number>(), log: List<number>(), lanes: List<ILane>() },
  'State',
);
type IState = ReturnType<typeof IState>;

function immutableModel(sys: System): AnyModel {
  return anyModel(
    defineModel<IState, {}>({
      name: 'random-immutable',
      params: {},
      init: () => IState({ g: List([0, 0]), lanes: List(Array.from({ length: sys.lanes }, () => ILane())) }),
      transitions: (s) => {
        const out: Transition<IState>[] = [];
        s.lanes.forEach((l, i) => {
          const p = programOf(sys, i);
          if (l.pc === p.length) return;
          p[l.pc].forEach((ins, k) => {
            const guard =
              ins.kind === 'await'
                ? s.g.get(ins.v) === ins.c
                : ins.kind === 'acquire'
                  ? s.owner === null
                  : ins.kind === 'release'
                    ? s.owner === i
                    : ins.kind === 'push'
                      ? s.log.size < LOG
                      : ins.kind === 'pop'
                        ? s.log.size > 0
                        : true;
            if (!guard) return;
            out.push({
              label: label(i, l.pc, k, ins),
              lane: `l${i}`,
              apply: () => {
                let n = s;
                let me = l;
                switch (ins.kind) {
                  case 'inc':
                    me = me.set('x', (me.x + 1) % VALUES);
                    break;
                  case 'write':
                    n = n.setIn(['g', ins.v], ins.c);
                    break;
                  case 'copy':
                    n = n.setIn(['g', ins.v], me.x);
                    break;
                  case 'load':
                    me = me.set('x', s.g.get(ins.v)!);
                    break;
                  case 'toggle':
                    n = n.set('flag', !n.flag);
                    break;
                  case 'acquire':
                    n = n.set('owner', i);
                    break;
                  case 'release':
                    n = n.set('owner', null);
                    break;
                  case 'enlist':
                    n = n.set('waiters', n.waiters.add(i));
                    break;
                  case 'delist':
                    n = n.set('waiters', n.waiters.delete(i));
                    break;
                  case 'push':
                    n = n.set('log', n.log.push(me.x));
                    break;
                  case 'pop':
                    me = me.set('x', n.log.last()!);
                    n = n.set('log', n.log.pop());
                    break;
                  case 'await':
                    break;
                }
                return n.setIn(['lanes', i], me.set('pc', ins.next));
              },
            });
          });
        });
        return out;
      },
      isEndState: (s) => s.lanes.every((l, i) => l.pc === programOf(sys, i).length),
      properties: [
        invariant<IState>('safe', 'g never sums to the bad value', (s) => s.g.get(0)! + s.g.get(1)! !== sys.bad || `g = ${s.g.join(',')}`),
        invariant<IState>('owner-not-waiting', 'the owner is not among the waiters', (s) => s.owner === null || !s.waiters.has(s.owner) || `l${s.owner} owns and waits`),
      ],
      lanes: () => Array.from({ length: sys.lanes }, (_, i) => `l${i}`),
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Checks.

const verdictsOf = (o: Outcome) => Object.fromEntries(o.properties.map((p) => [p.name, p.verdict]));
const traceOf = (o: Outcome, name: string) => o.properties.find((p) => p.name === name)!.violation?.trace;
const labelsOf = (tr: Trace | undefined) => tr?.steps.map((s) => s.label);

/** Replays a trace's labels on the reference from its initial state: every state must be the one printed. Returns the last state. */
function replay(sys: System, tr: Trace): Plain {
  let s = initialPlain(sys);
  expect(plainOf(tr.initial as State)).toEqual(s);
  for (const st of tr.steps) {
    const next = successors(sys, s).find((x) => x.label === st.label);
    expect(next, `"${st.label}" is enabled where the trace takes it`).toBeDefined();
    s = next!.next;
    expect(plainOf(st.state as State)).toEqual(s);
  }
  return s;
}

/**
 * The verdicts of `o` are the reference's; each counterexample is a run of the reference that
 * ends in a violation, and a shortest one under BFS.
 */
function checkVerdicts(sys: System, ref: Reference, o: Outcome, what: string): void {
  expect(verdictsOf(o), what).toEqual(Object.fromEntries(propertyNames.map((p) => [p, ref.firstAt[p] === undefined ? 'holds' : 'violated'])));
  for (const p of propertyNames) {
    const tr = traceOf(o, p);
    if (!tr) continue;
    expect(violated[p](sys, replay(sys, tr)), `${what}: ${p}`).toBe(true);
    if (o.strategy === 'bfs') expect(tr.steps.length, `${what}: ${p}`).toBe(ref.firstAt[p]);
  }
}

const storages = [{ fingerprint: false }, { fingerprint: true }] as const;

/** The reference for a random system; systems too big for it are skipped. */
function referenceOf(sys: System): Reference {
  const ref = reference(sys);
  fc.pre(ref !== undefined);
  return ref!;
}

describe('schema models vs brute force on random transition systems', () => {
  it('bfs and dfs, exact and fingerprint, store exactly the reachable states and take every transition once', () => {
    fc.assert(
      fc.property(system, (sys) => {
        const ref = referenceOf(sys);
        const m = schemaModel(sys);
        for (const strategy of ['bfs', 'dfs'] as const)
          for (const storage of storages) {
            const o = explore(m, {}, { strategy, properties: [], ...storage });
            const what = `${strategy} ${storage.fingerprint ? 'fingerprint' : 'exact'}`;
            expect(o.complete, what).toBe(true);
            expect(o.stats.storage).toBe(storage.fingerprint ? 'fingerprint' : 'exact');
            expect(o.stats.states, what).toBe(ref.states.size);
            expect(o.stats.transitions, what).toBe(ref.transitions);
            if (strategy === 'bfs') expect(o.stats.maxDepth, what).toBe(ref.maxDepth);
          }
      }),
      { numRuns: 100, seed: 11 },
    );
  });

  it('finds an invariant violation and a deadlock exactly when one is reachable; BFS traces are shortest', () => {
    fc.assert(
      fc.property(system, (sys) => {
        const ref = referenceOf(sys);
        const m = schemaModel(sys);
        for (const strategy of ['bfs', 'dfs'] as const)
          for (const storage of storages) {
            const o = explore(m, {}, { strategy, ...storage });
            const what = `${strategy} ${storage.fingerprint ? 'fingerprint' : 'exact'}`;
            checkVerdicts(sys, ref, o, what);
          }
      }),
      { numRuns: 100, seed: 12 },
    );
  });

  it('a depth bound explores exactly the states within it, and reports violations within it', () => {
    fc.assert(
      fc.property(system, fc.integer({ min: 0, max: 5 }), (sys, maxDepth) => {
        const ref = referenceOf(sys);
        const m = schemaModel(sys);
        const counted = explore(m, {}, { maxDepth, properties: [] });
        expect(counted.stats.states).toBe([...ref.states.values()].filter((x) => x.dist <= maxDepth).length);
        expect(counted.complete).toBe(ref.maxDepth <= maxDepth);
        const o = explore(m, {}, { maxDepth, properties: ['safe'] });
        const badAt = ref.firstAt.safe;
        expect(o.properties[0].verdict).toBe(badAt !== undefined && badAt <= maxDepth ? 'violated' : ref.maxDepth <= maxDepth ? 'holds' : 'unknown');
      }),
      { numRuns: 80, seed: 13 },
    );
  });
});

describe('the same random system as a schema model and as an Immutable model', () => {
  it('gives identical state and transition counts and identical counterexample labels', () => {
    fc.assert(
      fc.property(system, (sys) => {
        const ref = referenceOf(sys);
        const sm = schemaModel(sys);
        const im = immutableModel(sys);
        for (const strategy of ['bfs', 'dfs'] as const) {
          const a = explore(sm, {}, { strategy, properties: [] });
          const b = explore(im, {}, { strategy, properties: [] });
          expect([a.stats.states, a.stats.transitions, a.stats.maxDepth]).toEqual([b.stats.states, b.stats.transitions, b.stats.maxDepth]);
          expect(a.stats.states).toBe(ref.states.size);
          const c = explore(sm, {}, { strategy });
          const d = explore(im, {}, { strategy });
          expect(verdictsOf(c)).toEqual(verdictsOf(d));
          for (const p of propertyNames) expect(labelsOf(traceOf(c, p)), `${strategy} ${p}`).toEqual(labelsOf(traceOf(d, p)));
        }
      }),
      { numRuns: 50, seed: 14 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Symmetry.

const permutationsOf = (n: number): number[][] =>
  n === 0 ? [[]] : permutationsOf(n - 1).flatMap((p) => Array.from({ length: n }, (_, k) => [...p.slice(0, k), n - 1, ...p.slice(k)]));

/** Lane i renamed to lane p[i]: its per-lane entry moves, the owner and the waiters are renamed. */
function permutePlain(s: Plain, p: readonly number[]): Plain {
  const lanes = new Array<{ pc: number; x: number }>(s.lanes.length);
  s.lanes.forEach((l, i) => (lanes[p[i]] = l));
  return { ...s, owner: s.owner === null ? null : p[s.owner], waiters: s.waiters.map((w) => p[w]).sort((a, b) => a - b), lanes };
}

describe('--symmetry on random systems whose lanes run one program', () => {
  it('stores exactly one state per orbit and takes the representatives\' transitions; verdicts and BFS trace lengths unchanged', () => {
    fc.assert(
      fc.property(symmetricSystem, (sys) => {
        const ref = referenceOf(sys);
        const m = schemaModel(sys);
        const perms = permutationsOf(sys.lanes);
        // The orbits of the reachable states, and one representative's out-degree each.
        const orbits = new Map<string, number>();
        for (const { state, out } of ref.states.values()) orbits.set(perms.map((p) => key(permutePlain(state, p))).sort()[0], out);
        const orbitTransitions = [...orbits.values()].reduce((a, b) => a + b, 0);
        for (const strategy of ['bfs', 'dfs'] as const)
          for (const storage of storages) {
            const what = `${strategy} ${storage.fingerprint ? 'fingerprint' : 'exact'}`;
            const full = explore(m, {}, { strategy, properties: [], ...storage });
            const r = explore(m, {}, { strategy, properties: [], symmetry: true, ...storage });
            expect(full.stats.states).toBe(ref.states.size);
            expect(r.stats.symmetry).toBe(true);
            expect(r.complete).toBe(true);
            expect(r.stats.states, what).toBe(orbits.size);
            expect(r.stats.states).toBeLessThanOrEqual(full.stats.states);
            expect(r.stats.states * perms.length).toBeGreaterThanOrEqual(full.stats.states);
            expect(r.stats.transitions, what).toBe(orbitTransitions);
            if (strategy === 'bfs') expect(r.stats.maxDepth, what).toBe(ref.maxDepth);

            const fullV = explore(m, {}, { strategy, ...storage });
            const rv = explore(m, {}, { strategy, symmetry: true, ...storage });
            expect(verdictsOf(rv), what).toEqual(verdictsOf(fullV));
            // Counterexamples under --symmetry are concrete runs of the model, as short as the unreduced ones.
            checkVerdicts(sys, ref, rv, `${what} --symmetry`);
          }
      }),
      { numRuns: 70, seed: 15 },
    );
  });
});
