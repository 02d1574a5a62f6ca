import { describe, expect, it } from 'vitest';
import {
  canAcquire,
  canSchedule,
  declareLocks,
  initKernel,
  interrupt,
  kernelConfig,
  lock,
  preemptDisable,
  selfDeadlocks,
  top,
  trylock,
  unlock,
  type Kernel,
} from '../../src/kernel/index.ts';

const nonRt = kernelConfig({ rt: false, maxNesting: 3 });
const rt = kernelConfig({ rt: true, maxNesting: 3 });

function base(cpus = 1): Kernel {
  return declareLocks(
    initKernel(Array.from({ length: cpus }, (_, i) => ({ task: `t${i}`, budget: { nmi: 1, hardirq: 1, hook: 1 } }))),
    [
      { name: 'rq->lock', type: 'raw_spinlock_t' },
      { name: 'zone->lock', type: 'spinlock_t' },
      { name: 'mutex', type: 'mutex' },
    ],
  );
}

function take(k: Kernel, cfg = nonRt, cpu = 0, name = 'zone->lock', irqsave = false): Kernel {
  const r = lock(k, cfg, cpu, name, { irqsave });
  expect(r.acquired).toBe(true);
  return r.k;
}

describe('lock effects', () => {
  it('raw_spinlock_t disables preemption on both configs', () => {
    expect(top(take(base(), nonRt, 0, 'rq->lock'), 0).preempt).toBe(1);
    expect(top(take(base(), rt, 0, 'rq->lock'), 0).preempt).toBe(1);
  });

  it('spinlock_t spins with preemption off on !RT, only migrate_disable on RT', () => {
    const a = top(take(base(), nonRt), 0);
    const b = top(take(base(), rt), 0);
    expect([a.preempt, a.migrate]).toEqual([1, 0]);
    expect([b.preempt, b.migrate]).toEqual([0, 1]);
  });

  it('spin_lock_irqsave masks irqs on !RT but not on RT; unlock restores', () => {
    const a = take(base(), nonRt, 0, 'zone->lock', true);
    expect(top(a, 0).irqsOff).toBe(true);
    expect(top(unlock(a, nonRt, 0, 'zone->lock'), 0).irqsOff).toBe(false);
    expect(top(take(base(), rt, 0, 'zone->lock', true), 0).irqsOff).toBe(false);
    expect(top(take(base(), rt, 0, 'rq->lock', true), 0).irqsOff).toBe(true);
  });
});

describe('waiting', () => {
  it('a lock held on another CPU blocks: the frame waits, then acquires when it is free', () => {
    const k = take(base(2), nonRt, 0);
    const r = lock(k, nonRt, 1, 'zone->lock');
    expect(r.acquired).toBe(false);
    expect(top(r.k, 1).waiting).toBe('zone->lock');
    expect(canAcquire(r.k, nonRt, 1, 'zone->lock')).toBe(false);
    const freed = unlock(r.k, nonRt, 0, 'zone->lock');
    expect(canAcquire(freed, nonRt, 1, 'zone->lock')).toBe(true);
    const again = lock(freed, nonRt, 1, 'zone->lock');
    expect(again.acquired).toBe(true);
    expect(top(again.k, 1).waiting).toBe(null);
    expect(again.k.splats.size).toBe(0);
    expect(selfDeadlocks(again.k)).toEqual([]);
  });

  it('an NMI spinning on a lock its interrupted task holds is a self-deadlock', () => {
    const k = interrupt(take(base(), nonRt, 0, 'rq->lock'), nonRt, 0, 'nmi', 'nmi');
    const r = lock(k, nonRt, 0, 'rq->lock');
    expect(r.acquired).toBe(false);
    expect(selfDeadlocks(r.k)).toEqual([
      'self-deadlock: cpu0 nmi spins on rq->lock (raw_spinlock_t), held by cpu0 task (t0) below it on the same CPU, which cannot run until the waiter returns',
    ]);
  });

  it('waiting on a lock held by another CPU is not a self-deadlock', () => {
    const r = lock(take(base(2), nonRt, 0, 'rq->lock'), nonRt, 1, 'rq->lock');
    expect(selfDeadlocks(r.k)).toEqual([]);
  });
});

describe('wait-context rule (lockdep)', () => {
  it('spinlock_t inside raw_spinlock_t: Invalid wait context naming the chain, on both configs', () => {
    for (const cfg of [nonRt, rt]) {
      const k = lock(take(base(), cfg, 0, 'rq->lock'), cfg, 0, 'zone->lock').k;
      expect(k.splats.map((s) => s.kind).toArray()).toContain('invalid-wait-context');
      const msg = k.splats.find((s) => s.kind === 'invalid-wait-context')!.message;
      expect(msg).toContain('BUG: Invalid wait context: cpu0 task (t0) is trying to lock zone->lock (spinlock_t) {CONFIG}');
      expect(msg).toContain('#0: rq->lock (raw_spinlock_t) {SPIN} held by cpu0 task (t0)');
    }
  });

  it('spinlock_t in a non-threaded hardirq is invalid; raw_spinlock_t there is fine', () => {
    const irq = interrupt(base(), nonRt, 0, 'hardirq', 'irq');
    expect(lock(irq, nonRt, 0, 'zone->lock').k.splats.first()?.kind).toBe('invalid-wait-context');
    expect(lock(irq, nonRt, 0, 'rq->lock').k.splats.size).toBe(0);
  });

  it('raw inside spinlock_t is fine; mutex inside spinlock_t is not', () => {
    const k = take(base(), nonRt);
    expect(lock(k, nonRt, 0, 'rq->lock').k.splats.size).toBe(0);
    expect(lock(k, nonRt, 0, 'mutex').k.splats.map((s) => s.kind).toArray()).toEqual(['invalid-wait-context', 'sleep-in-atomic']);
  });

  it('locks held by the interrupted task do not count inside an NMI (lockdep checks one irq context)', () => {
    const k = interrupt(take(base(), nonRt, 0, 'zone->lock'), nonRt, 0, 'hardirq', 'irq');
    expect(lock(k, nonRt, 0, 'rq->lock').k.splats.size).toBe(0);
  });

  it('trylocks are exempt, except a sleeping lock trylocked from NMI/hardirq on RT', () => {
    const raw = take(base(), nonRt, 0, 'rq->lock');
    expect(trylock(raw, nonRt, 0, 'zone->lock').k.splats.size).toBe(0);
    const nmi = interrupt(base(), rt, 0, 'nmi', 'nmi');
    const r = trylock(nmi, rt, 0, 'zone->lock');
    expect(r.k.splats.first()?.message).toContain('cpu0 nmi calls spin_trylock (rt_mutex)(zone->lock) on a sleeping lock (spinlock_t) from NMI');
    expect(trylock(interrupt(base(), nonRt, 0, 'nmi', 'nmi'), nonRt, 0, 'zone->lock').k.splats.size).toBe(0);
  });
});

describe('might sleep', () => {
  it('spinlock_t may sleep on RT: with preemption disabled that is sleep-in-atomic', () => {
    const k = lock(preemptDisable(base(), 0), rt, 0, 'zone->lock').k;
    expect(k.splats.map((s) => s.kind).toArray()).toEqual(['sleep-in-atomic']);
    expect(k.splats.first()!.message).toBe(
      'BUG: sleeping function called from invalid context: cpu0 task (t0) calls rt_spin_lock(zone->lock) while preemption disabled (preempt_count 1); no locks held [PREEMPT_RT]',
    );
    expect(lock(preemptDisable(base(), 0), nonRt, 0, 'zone->lock').k.splats.size).toBe(0);
  });

  it('mutex in task context is fine', () => {
    expect(lock(base(), nonRt, 0, 'mutex').k.splats.size).toBe(0);
  });
});

describe('unlock', () => {
  it('releasing a lock the frame does not hold is a bad-unlock splat', () => {
    const k = take(base(2), nonRt, 0);
    expect(unlock(k, nonRt, 1, 'zone->lock').splats.first()?.kind).toBe('bad-unlock');
  });
});

describe('waiting and the scheduler', () => {
  // cpu0's task t0 (with a parked task p) waits for a lock that cpu1's task holds.
  function waiting(cfg: typeof rt, name: string): Kernel {
    let k = declareLocks(
      initKernel([
        { task: 't0', parked: [{ task: 'p', pc: 'start' }], budget: { nmi: 1, hardirq: 1, hook: 1 } },
        { task: 't1', budget: { nmi: 1, hardirq: 1, hook: 1 } },
      ]),
      [
        { name: 'rq->lock', type: 'raw_spinlock_t' },
        { name: 'zone->lock', type: 'spinlock_t' },
      ],
    );
    k = take(k, cfg, 1, name);
    const r = lock(k, cfg, 0, name);
    expect(r.acquired).toBe(false);
    return r.k;
  }

  it('a task blocked on a sleeping lock is scheduled out; a spinner keeps its CPU', () => {
    expect(canSchedule(waiting(rt, 'zone->lock'), rt, 0)).toBe(true);
    expect(canSchedule(waiting(nonRt, 'zone->lock'), nonRt, 0)).toBe(false);
    expect(canSchedule(waiting(rt, 'rq->lock'), rt, 0)).toBe(false);
    expect(canSchedule(waiting(nonRt, 'rq->lock'), nonRt, 0)).toBe(false);
  });
});
