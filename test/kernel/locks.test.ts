import { describe, expect, it } from 'vitest';
import {
  canAcquire,
  canInterrupt,
  isReader,
  canSchedule,
  canTrylock,
  declareLocks,
  initKernel,
  interrupt,
  kernelConfig,
  lock,
  preemptDisable,
  schedule,
  selfDeadlocks,
  top,
  trylock,
  unlock,
  type KernelConfig,
  type KernelDraft,
} from '../../src/kernel/index.ts';
import { after } from './after.ts';

const nonRt = kernelConfig({ rt: false, maxNesting: 3 });
const rt = kernelConfig({ rt: true, maxNesting: 3 });

function base(cpus = 1): KernelDraft {
  const k = initKernel(Array.from({ length: cpus }, (_, i) => ({ task: `t${i}`, budget: { nmi: 1, hardirq: 1, hook: 1 } })));
  declareLocks(k, [
    { name: 'rq->lock', type: 'raw_spinlock_t' },
    { name: 'zone->lock', type: 'spinlock_t' },
    { name: 'mutex', type: 'mutex' },
  ]);
  return k;
}

/** `k` after the running frame of `cpu` took `name`, which it must acquire. */
function take(k: KernelDraft, cfg = nonRt, cpu = 0, name = 'zone->lock', irqsave = false): KernelDraft {
  expect(lock(k, cfg, cpu, name, { irqsave })).toBe(true);
  return k;
}

/** `k` after a lock() of `name`, whatever it did. */
function locked(k: KernelDraft, cfg: KernelConfig, cpu: number, name: string): KernelDraft {
  return after(k, (d) => void lock(d, cfg, cpu, name));
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
    unlock(a, nonRt, 0, 'zone->lock');
    expect(top(a, 0).irqsOff).toBe(false);
    expect(top(take(base(), rt, 0, 'zone->lock', true), 0).irqsOff).toBe(false);
    expect(top(take(base(), rt, 0, 'rq->lock', true), 0).irqsOff).toBe(true);
  });
});

describe('waiting', () => {
  it('a lock held on another CPU blocks: the frame waits, then acquires when it is free', () => {
    const k = take(base(2), nonRt, 0);
    expect(lock(k, nonRt, 1, 'zone->lock')).toBe(false);
    expect(top(k, 1).waiting).toBe('zone->lock');
    expect(canAcquire(k, nonRt, 1, 'zone->lock')).toBe(false);
    unlock(k, nonRt, 0, 'zone->lock');
    expect(canAcquire(k, nonRt, 1, 'zone->lock')).toBe(true);
    expect(lock(k, nonRt, 1, 'zone->lock')).toBe(true);
    expect(top(k, 1).waiting).toBe(null);
    expect(k.splats.length).toBe(0);
    expect(selfDeadlocks(k)).toEqual([]);
  });

  it('an NMI spinning on a lock its interrupted task holds is a self-deadlock', () => {
    const k = take(base(), nonRt, 0, 'rq->lock');
    interrupt(k, nonRt, 0, 'nmi', 'nmi');
    expect(lock(k, nonRt, 0, 'rq->lock')).toBe(false);
    expect(selfDeadlocks(k)).toEqual([
      'self-deadlock: cpu0 nmi spins on rq->lock (raw_spinlock_t), held by cpu0 task (t0) below it on the same CPU, which cannot run until the waiter returns',
    ]);
  });

  it('a spinning waiter disables preemption, and for _irqsave masks irqs, before it spins; acquiring adds nothing', () => {
    for (const name of ['rq->lock', 'zone->lock']) {
      const k = take(base(2), nonRt, 0, name);
      expect(lock(k, nonRt, 1, name, { irqsave: true })).toBe(false);
      expect([top(k, 1).preempt, top(k, 1).irqsOff]).toEqual([1, true]);
      // No hardirq reaches the spinner; an NMI does.
      expect([canInterrupt(k, nonRt, 1, 'hardirq'), canInterrupt(k, nonRt, 1, 'nmi')]).toEqual([false, true]);
      // It is an RCU reader while it spins: a grace period started now waits for it.
      expect(isReader(k, 1)).toBe(true);
      unlock(k, nonRt, 0, name);
      expect(lock(k, nonRt, 1, name, { irqsave: true })).toBe(true);
      expect([top(k, 1).preempt, top(k, 1).irqsOff]).toEqual([1, true]);
      unlock(k, nonRt, 1, name);
      expect([top(k, 1).preempt, top(k, 1).irqsOff]).toEqual([0, false]);
    }
  });

  it('a plain spin_lock() waiter spins with irqs on; an RT spinlock_t waiter sleeps and takes nothing until it owns the lock', () => {
    const plain = take(base(2), nonRt, 0, 'rq->lock');
    lock(plain, nonRt, 1, 'rq->lock');
    expect([top(plain, 1).preempt, top(plain, 1).irqsOff, canInterrupt(plain, nonRt, 1, 'hardirq')]).toEqual([1, false, true]);
    const sleeper = take(base(2), rt, 0, 'zone->lock');
    lock(sleeper, rt, 1, 'zone->lock', { irqsave: true });
    expect([top(sleeper, 1).preempt, top(sleeper, 1).migrate, top(sleeper, 1).rcu, top(sleeper, 1).irqsOff]).toEqual([0, 0, 0, false]);
    unlock(sleeper, rt, 0, 'zone->lock');
    lock(sleeper, rt, 1, 'zone->lock', { irqsave: true });
    expect([top(sleeper, 1).migrate, top(sleeper, 1).rcu]).toEqual([1, 1]);
  });

  it('waiting on a lock held by another CPU is not a self-deadlock', () => {
    const k = take(base(2), nonRt, 0, 'rq->lock');
    lock(k, nonRt, 1, 'rq->lock');
    expect(selfDeadlocks(k)).toEqual([]);
  });
});

describe('wait-context rule (lockdep)', () => {
  it('spinlock_t inside raw_spinlock_t: Invalid wait context naming the chain, on both configs', () => {
    for (const cfg of [nonRt, rt]) {
      const k = take(base(), cfg, 0, 'rq->lock');
      lock(k, cfg, 0, 'zone->lock');
      expect(k.splats.map((s) => s.kind)).toContain('invalid-wait-context');
      const msg = k.splats.find((s) => s.kind === 'invalid-wait-context')!.message;
      expect(msg).toContain('BUG: Invalid wait context: cpu0 task (t0) is trying to lock zone->lock (spinlock_t) {CONFIG}');
      expect(msg).toContain('#0: rq->lock (raw_spinlock_t) {SPIN} held by cpu0 task (t0)');
    }
  });

  it('spinlock_t in a non-threaded hardirq is invalid; raw_spinlock_t there is fine', () => {
    const irq = base();
    interrupt(irq, nonRt, 0, 'hardirq', 'irq');
    expect(locked(irq, nonRt, 0, 'zone->lock').splats[0]?.kind).toBe('invalid-wait-context');
    expect(locked(irq, nonRt, 0, 'rq->lock').splats.length).toBe(0);
  });

  it('raw inside spinlock_t is fine; mutex inside spinlock_t is not', () => {
    const k = take(base(), nonRt);
    expect(locked(k, nonRt, 0, 'rq->lock').splats.length).toBe(0);
    expect(locked(k, nonRt, 0, 'mutex').splats.map((s) => s.kind)).toEqual(['invalid-wait-context', 'sleep-in-atomic']);
  });

  it('locks held by the interrupted task do not count inside an NMI (lockdep checks one irq context)', () => {
    const k = take(base(), nonRt, 0, 'zone->lock');
    interrupt(k, nonRt, 0, 'hardirq', 'irq');
    lock(k, nonRt, 0, 'rq->lock');
    expect(k.splats.length).toBe(0);
  });

  it('trylocks are exempt from the wait-context check; a sleeping lock trylocked from NMI/hardirq is its own report', () => {
    const raw = take(base(), nonRt, 0, 'rq->lock');
    trylock(raw, nonRt, 0, 'zone->lock');
    expect(raw.splats.length).toBe(0);
    const nmi = base();
    interrupt(nmi, rt, 0, 'nmi', 'nmi');
    expect(canTrylock(nmi, rt, 0, 'zone->lock')).toBe(true);
    expect(trylock(nmi, rt, 0, 'zone->lock')).toBe(true);
    expect(nmi.splats.map((x) => x.kind)).toEqual(['trylock-outside-task']);
    expect(nmi.splats[0].message).toMatch(/^cpu0 nmi calls rt_spin_trylock\(zone->lock\) on a sleeping lock \(spinlock_t\) from NMI: an rt_mutex trylock "can only be called in thread context/);
    expect(nmi.splats[0].message).toContain('lockdep exempts trylocks from its wait-context check, so nothing prints this');
    const mutexInIrq = base();
    interrupt(mutexInIrq, nonRt, 0, 'hardirq', 'h');
    trylock(mutexInIrq, nonRt, 0, 'mutex');
    expect(mutexInIrq.splats[0].message).toMatch(/calls mutex_trylock\(mutex\) on a sleeping lock \(mutex\) from hardirq: mutex_trylock\(\) "must not be used in interrupt context"/);
    const nonRtNmi = base();
    interrupt(nonRtNmi, nonRt, 0, 'nmi', 'nmi');
    trylock(nonRtNmi, nonRt, 0, 'zone->lock');
    expect(nonRtNmi.splats.length).toBe(0);
  });

  it('a trylock of a held lock fails and changes nothing but splats', () => {
    const k = take(base(2), nonRt, 0);
    expect(canTrylock(k, nonRt, 1, 'zone->lock')).toBe(false);
    expect(after(k, (d) => expect(trylock(d, nonRt, 1, 'zone->lock')).toBe(false))).toEqual(k);
  });
});

describe('might sleep', () => {
  it('spinlock_t may sleep on RT: with preemption disabled that is sleep-in-atomic', () => {
    const k = base();
    preemptDisable(k, 0);
    expect(locked(k, rt, 0, 'zone->lock').splats.map((s) => s.kind)).toEqual(['sleep-in-atomic']);
    expect(locked(k, rt, 0, 'zone->lock').splats[0].message).toBe(
      'BUG: sleeping function called from invalid context: cpu0 task (t0) calls rt_spin_lock(zone->lock) while preemption disabled (preempt_count 1); no locks held [PREEMPT_RT]',
    );
    expect(locked(k, nonRt, 0, 'zone->lock').splats.length).toBe(0);
  });

  it('mutex in task context is fine', () => {
    expect(locked(base(), nonRt, 0, 'mutex').splats.length).toBe(0);
  });
});

describe('unlock', () => {
  it('releasing a lock the frame does not hold is a bad-unlock splat', () => {
    const k = take(base(2), nonRt, 0);
    unlock(k, nonRt, 1, 'zone->lock');
    expect(k.splats[0]?.kind).toBe('bad-unlock');
  });
});

describe('waiting and the scheduler', () => {
  // cpu0's task t0 (with a parked task p) waits for a lock that cpu1's task holds.
  function waiting(cfg: KernelConfig, name: string): KernelDraft {
    const k = initKernel([
      { task: 't0', parked: [{ task: 'p', pc: 'start' }], budget: { nmi: 1, hardirq: 1, hook: 1 } },
      { task: 't1', budget: { nmi: 1, hardirq: 1, hook: 1 } },
    ]);
    declareLocks(k, [
      { name: 'rq->lock', type: 'raw_spinlock_t' },
      { name: 'zone->lock', type: 'spinlock_t' },
    ]);
    take(k, cfg, 1, name);
    expect(lock(k, cfg, 0, name)).toBe(false);
    return k;
  }

  it('a task blocked on a sleeping lock is scheduled out; a spinner keeps its CPU', () => {
    expect(canSchedule(waiting(rt, 'zone->lock'), rt, 0)).toBe(true);
    expect(canSchedule(waiting(nonRt, 'zone->lock'), nonRt, 0)).toBe(false);
    expect(canSchedule(waiting(rt, 'rq->lock'), rt, 0)).toBe(false);
    expect(canSchedule(waiting(nonRt, 'rq->lock'), nonRt, 0)).toBe(false);
  });

  it('a task that blocks with a preempt count is switched out with "BUG: scheduling while atomic"', () => {
    const k = initKernel([{ task: 't0', parked: [{ task: 'p', pc: 'start' }] }, { task: 't1' }]);
    declareLocks(k, [{ name: 'zone->lock', type: 'spinlock_t' }]);
    take(k, rt, 1, 'zone->lock');
    preemptDisable(k, 0);
    expect(lock(k, rt, 0, 'zone->lock')).toBe(false);
    schedule(k, rt, 0, 'p');
    expect(k.splats.filter((x) => x.kind === 'scheduling-while-atomic').map((x) => x.message)).toEqual([
      'BUG: scheduling while atomic: t0/cpu0/0x00000002: cpu0 task (t0) blocks on zone->lock while preemption disabled (preempt_count 1) [PREEMPT_RT]',
    ]);
    // Blocking with no preempt count is what a sleeping lock is for.
    const fine = waiting(rt, 'zone->lock');
    schedule(fine, rt, 0, 'p');
    expect(fine.splats).toEqual([]);
  });
});

describe('threaded and non-threaded hardirqs (lockdep)', () => {
  const inIrq = (cfg: KernelConfig, threaded: boolean, name: string) => {
    const k = base();
    interrupt(k, cfg, 0, 'hardirq', 'h', null, { threaded });
    lock(k, cfg, 0, name);
    return k.splats.map((x) => x.kind);
  };

  it('on !RT a handler that forced threading would thread is checked as LD_WAIT_CONFIG: spinlock_t is fine there, a mutex is not', () => {
    expect(inIrq(nonRt, true, 'zone->lock')).toEqual([]);
    expect(inIrq(nonRt, false, 'zone->lock')).toEqual(['invalid-wait-context']);
    expect(inIrq(nonRt, true, 'rq->lock')).toEqual([]);
    expect(inIrq(nonRt, true, 'mutex')).toContain('invalid-wait-context');
  });

  it('on RT a threaded handler runs in its thread, a task, not a frame', () => {
    expect(() => interrupt(base(), rt, 0, 'hardirq', 'h', null, { threaded: true })).toThrow(/runs in its irq thread/);
    expect(() => interrupt(base(), nonRt, 0, 'nmi', 'n', null, { threaded: true })).toThrow(/only a hardirq handler can be threaded/);
  });
});
