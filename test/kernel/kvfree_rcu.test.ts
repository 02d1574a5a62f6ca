import { describe, expect, it } from 'vitest';
import { Schema, t, type Draft, type StateOf } from '../../src/core/schema.ts';
import type { Transition } from '../../src/core/model.ts';
import { kernelConfig } from '../../src/kernel/config.ts';
import { initKernel } from '../../src/kernel/cpu.ts';
import { KRCP, kvfreeRcuBatching, rcuBatchType, type KrcFrees } from '../../src/kernel/kvfree_rcu.ts';
import { declarePerCpuLock, perCpuLockName } from '../../src/kernel/local_lock.ts';
import { lock } from '../../src/kernel/locks.ts';
import { allocate, memoryInit, memoryType, objectState } from '../../src/kernel/memory.ts';
import { endGp, startGp } from '../../src/kernel/rcu.ts';
import { kernelType } from '../../src/kernel/state.ts';
import { after } from './after.ts';

const Krc = t.struct({ arrays: t.list(t.list(t.text(), 2), 1), vmallocArrays: t.list(t.list(t.text(), 1), 1), heads: t.list(t.text(), 1), cache: t.int(0, 1) });
const schema = () =>
  t.struct({
    kernel: kernelType({ cpus: 1, maxNesting: 0, locals: t.optional(t.bool()), locks: 1, rcu: { callbacks: 1 } }),
    krc: t.array(Krc, 1),
    batches: t.list(rcuBatchType({ cpus: 1, objs: 4 }), 1),
    mem: memoryType({ objects: 4 }),
    back: t.int(0, 2),
  });
type S = StateOf<typeof schema>;
const layout = new Schema(schema().node);

/** `s` as the explorer stores it: packed into its layout (which checks every bound) and read back. */
function stored(s: S): S {
  const b = new Uint8Array(layout.size);
  layout.pack(s, b);
  return layout.read(b) as S;
}

/** The successor of `s` by `tr`, written into a copy of `s` as the explorer does. */
function successor(s: S, tr: Transition<S>): S {
  const b = new Uint8Array(layout.size);
  layout.pack(s, b);
  const d = layout.create() as Draft<S>;
  layout.unpack(b, 0, d);
  tr.apply(d);
  return stored(d);
}

const cfg = kernelConfig({ rt: false, maxNesting: 0 });
const back = (d: Draft<S>, _cpu: number, pages: number) => void (d.back += pages);
const batching = (s: S, frees?: KrcFrees) => kvfreeRcuBatching(s, (x) => x, (d) => d, back, frees);
const start = stored(
  (() => {
    const kernel = initKernel<boolean | null>([{}]);
    declarePerCpuLock(kernel, KRCP, 'raw_spinlock_t');
    const mem = memoryInit();
    for (const o of ['a', 'b', 'c']) allocate(mem, o);
    allocate(mem, 'v', 'vmalloc');
    return { kernel, krc: [{ arrays: [['a', 'b']], vmallocArrays: [['v']], heads: ['c'], cache: 1 }], batches: [], mem, back: 0 };
  })(),
);
const gracePeriod = (d: Draft<S>) => {
  startGp(d.kernel);
  endGp(d.kernel);
};

describe('kvfree_rcu batching', () => {
  it('kfree_rcu_monitor hands a CPU arrays and chain to one callback; kfree_rcu_work frees them after the grace period', () => {
    const [monitor, ...none] = batching(start);
    expect(none).toEqual([]);
    expect(monitor.label).toBe('rcu: kfree_rcu_monitor(cpu0): 2 array(s), 1 rcu_head(s) → queue_rcu_work');
    const queued = successor(start, monitor);
    // The rest of the CPU's record stays: only its lists are taken.
    expect(queued.krc[0]).toEqual({ arrays: [], vmallocArrays: [], heads: [], cache: 1 });
    expect(queued.batches).toEqual([{ cpu: 0, objs: ['a', 'b', 'v', 'c'], via: ['kfree_bulk', 'kfree_bulk', 'vfree', 'kvfree'], pages: 2 }]);
    // Nothing more until the grace period has passed.
    expect(batching(queued)).toEqual([]);
    const ended = after(queued, gracePeriod);
    const [work] = batching(ended);
    expect(work.label).toBe('rcu: kfree_rcu_work(cpu0): kfree_bulk(a, b), vfree(v), kvfree(c); 2 page(s) back');
    const done = successor(ended, work);
    expect(['a', 'b', 'v', 'c'].map((o) => objectState(done.mem, o))).toEqual(['freed', 'freed', 'freed', 'freed']);
    expect([done.batches.length, done.kernel.rcu.callbacks.length, done.back, done.mem.faults.length]).toEqual([0, 0, 2, 0]);
  });

  it('frees each part with the function it is given: kfree_bulk() of a vmalloc() pointer is a wrong-allocator fault', () => {
    // Before 5.9 one kind of array, freed by kfree_bulk(), and kfree() for the chain.
    const old: KrcFrees = { arrays: 'kfree_bulk', vmallocArrays: 'kfree_bulk', heads: 'kfree' };
    const ended = after(successor(start, batching(start, old)[0]), gracePeriod);
    const [work] = batching(ended, old);
    expect(work.label).toBe('rcu: kfree_rcu_work(cpu0): kfree_bulk(a, b, v), kfree(c); 2 page(s) back');
    expect(successor(ended, work).mem.faults).toEqual([{ kind: 'wrong-allocator', ctx: 'rcu kfree_rcu_work(cpu0)', obj: 'v', via: 'kfree_bulk' }]);
  });

  it('neither runs while the CPU krcp->lock is held', () => {
    const take = (d: Draft<S>) => void lock(d.kernel, cfg, 0, perCpuLockName(KRCP, 0));
    expect(batching(after(start, take))).toEqual([]);
    const queued = successor(start, batching(start)[0]);
    const ready = after(queued, (d) => {
      gracePeriod(d);
      take(d);
    });
    expect(batching(ready)).toEqual([]);
  });
});
