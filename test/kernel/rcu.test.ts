import { describe, expect, it } from 'vitest';
import { anyModel, defineModel, explore, invariant, t, type Draft, type StateOf, type Transition } from '../../src/index.ts';
import {
  callRcu,
  canEndGp,
  canStartGp,
  endGp,
  gpTransitions,
  isReader,
  readLock,
  readUnlock,
  readyCallback,
  rcuInit,
  rcuType,
  startGp,
  synchronizeRcuBegin,
  synchronizeRcuDone,
  synchronizeRcuEnd,
  synchronizeRcuProblem,
  takeCallback,
  type RcuDraft,
} from '../../src/kernel/rcu.ts';
import { access, allocate, free, faultsOf, leaked, memoryInit, memoryType, publish, rcuDereference } from '../../src/kernel/memory.ts';

/** A fresh RCU state after `effects`, in order. */
function rcuAfter(...effects: ((r: RcuDraft) => void)[]): RcuDraft {
  const r = rcuInit();
  for (const e of effects) e(r);
  return r;
}

describe('rcu readers', () => {
  it('nest per context and kind; the context stays a reader until its last section ends', () => {
    const r = rcuInit();
    readLock(r, 'cpu0/task');
    readLock(r, 'cpu0/task');
    readLock(r, 'cpu0/task', 'irqs-off');
    readUnlock(r, 'cpu0/task');
    readUnlock(r, 'cpu0/task');
    expect(isReader(r, 'cpu0/task')).toBe(true);
    readUnlock(r, 'cpu0/task', 'irqs-off');
    expect(isReader(r, 'cpu0/task')).toBe(false);
    expect(r).toEqual(rcuInit());
  });
  it('refuse an unlock without a lock', () => {
    expect(() => readUnlock(rcuInit(), 'cpu0/task')).toThrow(/cpu0\/task leaves a rcu_read_lock reader section it is not in/);
  });
});

describe('grace periods', () => {
  it('do not start without a waiter', () => {
    expect(canStartGp(rcuInit())).toBe(false);
  });
  it('do not end while a reader that was running at their start runs', () => {
    const r = rcuAfter(
      (x) => readLock(x, 'cpu0/task'),
      (x) => callRcu(x, 'free a'),
      startGp,
    );
    expect(canEndGp(r)).toBe(false);
    expect(() => endGp(r)).toThrow(/waits for cpu0\/task/);
    readUnlock(r, 'cpu0/task');
    expect(canEndGp(r)).toBe(true);
    endGp(r);
    expect(readyCallback(r)?.name).toBe('free a');
  });
  it('cover an implied reader (hardirq, NMI) the same way', () => {
    for (const kind of ['hardirq', 'nmi', 'irqs-off', 'preempt-off'] as const) {
      const r = rcuAfter(
        (x) => readLock(x, 'cpu1/x', kind),
        (x) => callRcu(x, 'cb'),
        startGp,
      );
      expect(canEndGp(r)).toBe(false);
      readUnlock(r, 'cpu1/x', kind);
      expect(canEndGp(r)).toBe(true);
    }
  });
  it('do not wait for a reader that started after them', () => {
    const r = rcuAfter(
      (x) => callRcu(x, 'cb'),
      startGp,
      (x) => readLock(x, 'cpu0/task'),
    );
    expect(canEndGp(r)).toBe(true);
  });
  it('a callback queued during a running grace period needs the next one', () => {
    const r = rcuAfter(
      (x) => callRcu(x, 'first'),
      startGp,
      (x) => callRcu(x, 'second'),
      endGp,
    );
    expect(readyCallback(r)?.name).toBe('first');
    takeCallback(r);
    expect(readyCallback(r)).toBeUndefined();
    expect(canStartGp(r)).toBe(true);
    startGp(r);
    endGp(r);
    expect(readyCallback(r)?.name).toBe('second');
  });
});

describe('synchronize_rcu', () => {
  it('returns only after a full grace period', () => {
    const r = rcuAfter(
      (x) => readLock(x, 'cpu1/task'),
      (x) => synchronizeRcuBegin(x, 'cpu0/task'),
    );
    expect(synchronizeRcuDone(r, 'cpu0/task')).toBe(false);
    startGp(r);
    expect(() => synchronizeRcuEnd(r, 'cpu0/task')).toThrow(/returns before its grace period ended/);
    readUnlock(r, 'cpu1/task');
    endGp(r);
    synchronizeRcuEnd(r, 'cpu0/task');
    expect(r.sync.size).toBe(0);
  });
  it('is illegal in atomic context and inside the caller\'s own reader', () => {
    expect(synchronizeRcuProblem(rcuInit(), 'cpu0/task', false)).toBeUndefined();
    expect(synchronizeRcuProblem(rcuInit(), 'cpu0/hardirq', true)).toBe('synchronize_rcu() in atomic context (cpu0/hardirq): it sleeps');
    expect(synchronizeRcuProblem(rcuAfter((x) => readLock(x, 'cpu0/task')), 'cpu0/task', false)).toBe(
      "synchronize_rcu() inside cpu0/task's own RCU reader (rcu_read_lock): the grace period waits for the caller",
    );
  });
  it('inside the caller\'s own reader, the grace period it waits for never ends', () => {
    const r = rcuAfter(
      (x) => readLock(x, 'cpu0/task'),
      (x) => synchronizeRcuBegin(x, 'cpu0/task'),
      startGp,
    );
    expect(canEndGp(r)).toBe(false);
  });
});

// Exhaustive: two readers (each enters and leaves a section twice) and an updater that
// retires an object and frees it after synchronize_rcu(). Every interleaving: no use after free.
const sysSchema = () =>
  t.struct({
    rcu: rcuType({ contexts: 3, callbacks: 1 }),
    mem: memoryType({ objects: 1, slots: 1 }),
    pc: t.array(t.int(0, 6), 3),
    ref: t.array(t.optional(t.text()), 2),
  });
type Sys = StateOf<typeof sysSchema>;
function readerModel(sync: boolean) {
  return defineModel({
    name: 'rcu-readers',
    params: {},
    state: sysSchema,
    init: (_p, d) => {
      allocate(d.mem, 'a');
      publish(d.mem, 'gp', 'a');
    },
    transitions: (s: Sys) => {
      const out: Transition<Sys>[] = [];
      for (let i = 0; i < 2; i++) {
        const ctx = `cpu${i}/task`;
        const pc = s.pc[i];
        const lane = `cpu${i}`;
        if (pc === 0 || pc === 3)
          out.push({
            lane,
            label: `${ctx}: rcu_read_lock`,
            apply: (d) => {
              readLock(d.rcu, ctx);
              d.pc[i] = pc + 1;
            },
          });
        if (pc === 1 || pc === 4)
          out.push({
            lane,
            label: `${ctx}: p = rcu_dereference(gp)`,
            apply: (d) => {
              d.ref[i] = rcuDereference(d.mem, s.rcu, 'gp', ctx);
              d.pc[i] = pc + 1;
            },
          });
        if (pc === 2 || pc === 5)
          out.push({
            lane,
            label: `${ctx}: use p; rcu_read_unlock`,
            apply: (d) => {
              const p = s.ref[i];
              if (p) access(d.mem, p, ctx);
              readUnlock(d.rcu, ctx);
              d.ref[i] = null;
              d.pc[i] = pc + 1;
            },
          });
      }
      const u = 'cpu2/task';
      const upc = s.pc[2];
      const step = (label: string, effect: (d: Draft<Sys>) => void, to: number) =>
        out.push({
          lane: 'cpu2',
          label: `${u}: ${label}`,
          apply: (d) => {
            effect(d);
            d.pc[2] = to;
          },
        });
      if (upc === 0) step('rcu_assign_pointer(gp, NULL)', (d) => publish(d.mem, 'gp', null), 1);
      if (upc === 1 && sync) step('synchronize_rcu', (d) => synchronizeRcuBegin(d.rcu, u), 2);
      if (upc === 1 && !sync) step('skip synchronize_rcu', () => {}, 3);
      if (upc === 2 && synchronizeRcuDone(s.rcu, u)) step('synchronize_rcu returns', (d) => synchronizeRcuEnd(d.rcu, u), 3);
      if (upc === 3) step('kfree(a)', (d) => free(d.mem, 'a', u), 4);
      out.push(...gpTransitions(s, (x) => x.rcu, (d) => d.rcu));
      return out;
    },
    isEndState: (s: Sys) => s.pc.every((p, i) => p === (i === 2 ? 4 : 6)),
    properties: [
      invariant<Sys>('no-uaf', 'no reader uses a freed object', (s) => faultsOf(s.mem, 'use-after-free').length === 0 || 'use after free'),
      invariant<Sys>('no-leak', 'a is freed at the end', (s) => s.pc[2] !== 4 || leaked(s.mem).length === 0),
    ],
  });
}

describe('rcu with objects, exhaustively', () => {
  it('synchronize_rcu before kfree: no use after free in any interleaving', () => {
    const o = explore(anyModel(readerModel(true)), {});
    expect(o.verdict).toBe('holds');
    expect(o.stats.states).toBe(527);
  });
  it('kfree without a grace period: the shortest use after free', () => {
    const o = explore(anyModel(readerModel(false)), {});
    const uaf = o.properties.find((p) => p.name === 'no-uaf')!;
    expect(uaf.verdict).toBe('violated');
    expect(uaf.violation!.trace.steps.map((s) => s.label)).toEqual([
      'cpu0/task: rcu_read_lock',
      'cpu0/task: p = rcu_dereference(gp)',
      'cpu2/task: rcu_assign_pointer(gp, NULL)',
      'cpu2/task: skip synchronize_rcu',
      'cpu2/task: kfree(a)',
      'cpu0/task: use p; rcu_read_unlock',
    ]);
  });
});

describe('memory', () => {
  it('records a double free and a dereference outside a reader', () => {
    const m = memoryInit();
    allocate(m, 'x');
    free(m, 'x', 'c');
    free(m, 'x', 'c');
    expect(faultsOf(m, 'double-free')).toEqual([{ kind: 'double-free', ctx: 'c', obj: 'x' }]);
    allocate(m, 'y');
    publish(m, 's', 'y');
    expect(rcuDereference(m, rcuInit(), 's', 'c')).toBe('y');
    expect(faultsOf(m, 'deref-outside-reader').length).toBe(1);
  });
  it('counts unpublished and retired objects as leaked, published and owned ones not', () => {
    const m = memoryInit();
    for (const o of ['a', 'b', 'c']) allocate(m, o);
    publish(m, 's', 'a');
    publish(m, 's', 'b');
    expect(leaked(m)).toEqual(['a', 'c']);
    expect(leaked(m, new Set(['c']))).toEqual(['a']);
  });
});
