import { List, Record } from 'immutable';
import { describe, expect, it } from 'vitest';
import { kernelConfig } from '../../src/kernel/config.ts';
import { initKernel } from '../../src/kernel/cpu.ts';
import { KRCP, kvfreeRcuBatching, RcuBatch } from '../../src/kernel/kvfree_rcu.ts';
import { declarePerCpuLock, perCpuLockName } from '../../src/kernel/local_lock.ts';
import { lock } from '../../src/kernel/locks.ts';
import { allocate, memoryInit, objectState } from '../../src/kernel/memory.ts';
import { endGp, rcuInit, startGp } from '../../src/kernel/rcu.ts';
import { Kernel } from '../../src/kernel/state.ts';

const Krc = Record({ arrays: List<List<string>>(), heads: List<string>(), cache: 0 }, 'Krc');
const State = Record({ kernel: Kernel(), krc: List<ReturnType<typeof Krc>>(), batches: List<RcuBatch>(), rcu: rcuInit(), mem: memoryInit(), back: 0 }, 'S');
type S = ReturnType<typeof State>;

const cfg = kernelConfig({ rt: false, maxNesting: 0 });
const back = (s: S, _cpu: number, pages: number) => s.set('back', s.back + pages);
const start = State({
  kernel: declarePerCpuLock(initKernel([{}]), KRCP, 'raw_spinlock_t'),
  krc: List([Krc({ arrays: List([List(['a', 'b'])]), heads: List(['c']), cache: 1 })]),
  mem: ['a', 'b', 'c'].reduce(allocate, memoryInit()),
});

describe('kvfree_rcu batching', () => {
  it('kfree_rcu_monitor hands a CPU arrays and chain to one callback; kfree_rcu_work frees them after the grace period', () => {
    const [monitor, ...none] = kvfreeRcuBatching(start, back);
    expect(none).toEqual([]);
    expect(monitor.label).toBe('rcu: kfree_rcu_monitor(cpu0): 1 array(s), 1 rcu_head(s) → queue_rcu_work');
    const queued = monitor.apply();
    // The rest of the CPU's record stays: only its lists are taken.
    expect(queued.krc.get(0)!.toJS()).toEqual({ arrays: [], heads: [], cache: 1 });
    expect(queued.batches.toJS()).toEqual([{ cpu: 0, objs: ['a', 'b', 'c'], pages: 1 }]);
    // Nothing more until the grace period has passed.
    expect(kvfreeRcuBatching(queued, back)).toEqual([]);
    const after = queued.set('rcu', endGp(startGp(queued.rcu)));
    const [work] = kvfreeRcuBatching(after, back);
    expect(work.label).toBe('rcu: kfree_rcu_work(cpu0): kfree a, b, c; 1 page(s) back');
    const done = work.apply();
    expect(['a', 'b', 'c'].map((o) => objectState(done.mem, o))).toEqual(['freed', 'freed', 'freed']);
    expect([done.batches.size, done.rcu.callbacks.size, done.back]).toEqual([0, 0, 1]);
  });

  it('neither runs while the CPU krcp->lock is held', () => {
    const held = start.set('kernel', lock(start.kernel, cfg, 0, perCpuLockName(KRCP, 0)).k);
    expect(kvfreeRcuBatching(held, back)).toEqual([]);
    const queued = kvfreeRcuBatching(start, back)[0].apply();
    const ready = queued.merge({ rcu: endGp(startGp(queued.rcu)), kernel: held.kernel });
    expect(kvfreeRcuBatching(ready, back)).toEqual([]);
  });
});
