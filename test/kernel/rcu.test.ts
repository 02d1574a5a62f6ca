import { List, Record } from 'immutable';
import { describe, expect, it } from 'vitest';
import { anyModel, defineModel, explore, invariant, type Transition } from '../../src/index.ts';
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
  startGp,
  synchronizeRcuBegin,
  synchronizeRcuDone,
  synchronizeRcuEnd,
  synchronizeRcuProblem,
  takeCallback,
  type Rcu,
} from '../../src/kernel/rcu.ts';
import { access, allocate, free, faultsOf, leaked, memoryInit, publish, rcuDereference } from '../../src/kernel/memory.ts';

describe('rcu readers', () => {
  it('nest per context and kind; the context stays a reader until its last section ends', () => {
    let r = readLock(rcuInit(), 'cpu0/task');
    r = readLock(r, 'cpu0/task');
    r = readLock(r, 'cpu0/task', 'irqs-off');
    r = readUnlock(r, 'cpu0/task');
    r = readUnlock(r, 'cpu0/task');
    expect(isReader(r, 'cpu0/task')).toBe(true);
    r = readUnlock(r, 'cpu0/task', 'irqs-off');
    expect(isReader(r, 'cpu0/task')).toBe(false);
    expect(r.equals(rcuInit())).toBe(true);
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
    let r = callRcu(readLock(rcuInit(), 'cpu0/task'), 'free a');
    r = startGp(r);
    expect(canEndGp(r)).toBe(false);
    expect(() => endGp(r)).toThrow(/waits for cpu0\/task/);
    r = readUnlock(r, 'cpu0/task');
    expect(canEndGp(r)).toBe(true);
    expect(readyCallback(endGp(r))?.name).toBe('free a');
  });
  it('cover an implied reader (hardirq, NMI) the same way', () => {
    for (const kind of ['hardirq', 'nmi', 'irqs-off', 'preempt-off'] as const) {
      const r = startGp(callRcu(readLock(rcuInit(), 'cpu1/x', kind), 'cb'));
      expect(canEndGp(r)).toBe(false);
      expect(canEndGp(readUnlock(r, 'cpu1/x', kind))).toBe(true);
    }
  });
  it('do not wait for a reader that started after them', () => {
    const r = readLock(startGp(callRcu(rcuInit(), 'cb')), 'cpu0/task');
    expect(canEndGp(r)).toBe(true);
  });
  it('a callback queued during a running grace period needs the next one', () => {
    let r = startGp(callRcu(rcuInit(), 'first'));
    r = callRcu(r, 'second');
    r = endGp(r);
    expect(readyCallback(r)?.name).toBe('first');
    r = takeCallback(r);
    expect(readyCallback(r)).toBeUndefined();
    expect(canStartGp(r)).toBe(true);
    r = endGp(startGp(r));
    expect(readyCallback(r)?.name).toBe('second');
  });
});

describe('synchronize_rcu', () => {
  it('returns only after a full grace period', () => {
    let r = synchronizeRcuBegin(readLock(rcuInit(), 'cpu1/task'), 'cpu0/task');
    expect(synchronizeRcuDone(r, 'cpu0/task')).toBe(false);
    r = startGp(r);
    expect(() => synchronizeRcuEnd(r, 'cpu0/task')).toThrow(/returns before its grace period ended/);
    r = endGp(readUnlock(r, 'cpu1/task'));
    expect(synchronizeRcuEnd(r, 'cpu0/task').sync.size).toBe(0);
  });
  it('is illegal in atomic context and inside the caller\'s own reader', () => {
    expect(synchronizeRcuProblem(rcuInit(), 'cpu0/task', false)).toBeUndefined();
    expect(synchronizeRcuProblem(rcuInit(), 'cpu0/hardirq', true)).toBe('synchronize_rcu() in atomic context (cpu0/hardirq): it sleeps');
    expect(synchronizeRcuProblem(readLock(rcuInit(), 'cpu0/task'), 'cpu0/task', false)).toBe(
      "synchronize_rcu() inside cpu0/task's own RCU reader (rcu_read_lock): the grace period waits for the caller",
    );
  });
  it('inside the caller\'s own reader, the grace period it waits for never ends', () => {
    const r = startGp(synchronizeRcuBegin(readLock(rcuInit(), 'cpu0/task'), 'cpu0/task'));
    expect(canEndGp(r)).toBe(false);
  });
});

// Exhaustive: two readers (each enters and leaves a section twice) and an updater that
// retires an object and frees it after synchronize_rcu(). Every interleaving: no use after free.
const Sys = Record({ rcu: rcuInit(), mem: memoryInit(), pc: List<number>([0, 0, 0]), ref: List<string | null>([null, null]), ended: 0 }, 'Sys');
type Sys = ReturnType<typeof Sys>;
function readerModel(sync: boolean) {
  return defineModel({
    name: 'rcu-readers',
    params: {},
    init: () => Sys({ mem: publish(allocate(memoryInit(), 'a'), 'gp', 'a') }),
    transitions: (s: Sys) => {
      const out: Transition<Sys>[] = [];
      for (let i = 0; i < 2; i++) {
        const ctx = `cpu${i}/task`;
        const pc = s.pc.get(i)!;
        const lane = `cpu${i}`;
        if (pc === 0 || pc === 3) out.push({ lane, label: `${ctx}: rcu_read_lock`, apply: () => s.set('rcu', readLock(s.rcu, ctx)).setIn(['pc', i], pc + 1) });
        if (pc === 1 || pc === 4)
          out.push({
            lane,
            label: `${ctx}: p = rcu_dereference(gp)`,
            apply: () => {
              const d = rcuDereference(s.mem, s.rcu, 'gp', ctx);
              return s.set('mem', d.mem).setIn(['ref', i], d.obj).setIn(['pc', i], pc + 1);
            },
          });
        if (pc === 2 || pc === 5)
          out.push({
            lane,
            label: `${ctx}: use p; rcu_read_unlock`,
            apply: () => {
              const p = s.ref.get(i);
              const mem = p ? access(s.mem, p, ctx) : s.mem;
              return s.set('mem', mem).set('rcu', readUnlock(s.rcu, ctx)).setIn(['ref', i], null).setIn(['pc', i], pc + 1);
            },
          });
      }
      const u = 'cpu2/task';
      const upc = s.pc.get(2)!;
      if (upc === 0) out.push({ lane: 'cpu2', label: `${u}: rcu_assign_pointer(gp, NULL)`, apply: () => s.set('mem', publish(s.mem, 'gp', null)).setIn(['pc', 2], 1) });
      if (upc === 1 && sync) out.push({ lane: 'cpu2', label: `${u}: synchronize_rcu`, apply: () => s.set('rcu', synchronizeRcuBegin(s.rcu, u)).setIn(['pc', 2], 2) });
      if (upc === 1 && !sync) out.push({ lane: 'cpu2', label: `${u}: skip synchronize_rcu`, apply: () => s.setIn(['pc', 2], 3) });
      if (upc === 2 && synchronizeRcuDone(s.rcu, u)) out.push({ lane: 'cpu2', label: `${u}: synchronize_rcu returns`, apply: () => s.set('rcu', synchronizeRcuEnd(s.rcu, u)).setIn(['pc', 2], 3) });
      if (upc === 3) out.push({ lane: 'cpu2', label: `${u}: kfree(a)`, apply: () => s.set('mem', free(s.mem, 'a', u)).setIn(['pc', 2], 4) });
      out.push(...gpTransitions(s, (x) => x.rcu, (x, r: Rcu) => x.set('rcu', r)));
      return out;
    },
    isEndState: (s: Sys) => s.pc.every((p, i) => p === (i === 2 ? 4 : 6)),
    properties: [
      invariant<Sys>('no-uaf', 'no reader uses a freed object', (s) => faultsOf(s.mem, 'use-after-free').size === 0 || 'use after free'),
      invariant<Sys>('no-leak', 'a is freed at the end', (s) => s.pc.get(2) !== 4 || leaked(s.mem).length === 0),
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
    let m = free(free(allocate(memoryInit(), 'x'), 'x', 'c'), 'x', 'c');
    expect(faultsOf(m, 'double-free').toJS()).toEqual([{ kind: 'double-free', ctx: 'c', obj: 'x' }]);
    m = publish(allocate(m, 'y'), 's', 'y');
    expect(faultsOf(rcuDereference(m, rcuInit(), 's', 'c').mem, 'deref-outside-reader').size).toBe(1);
  });
  it('counts unpublished and retired objects as leaked, published and owned ones not', () => {
    let m = publish(allocate(allocate(allocate(memoryInit(), 'a'), 'b'), 'c'), 's', 'a');
    m = publish(m, 's', 'b');
    expect(leaked(m)).toEqual(['a', 'c']);
    expect(leaked(m, new Set(['c']))).toEqual(['a']);
  });
});
