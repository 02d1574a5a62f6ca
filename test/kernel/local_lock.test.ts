import { describe, expect, it } from 'vitest';
import {
  declarePerCpuLock,
  enterHook,
  initKernel,
  interrupt,
  kernelConfig,
  localLock,
  localLockIsLocked,
  localTrylock,
  localUnlock,
  lockState,
  schedule,
  selfDeadlocks,
  top,
  type Kernel,
} from '../../src/kernel/index.ts';

const nonRt = kernelConfig({ rt: false, maxNesting: 3 });
const rt = kernelConfig({ rt: true, maxNesting: 3 });
const budget = { nmi: 1, hardirq: 1, hook: 1 };

function base(): Kernel {
  return declarePerCpuLock(
    initKernel([
      { task: 'a', parked: [{ task: 'b', pc: 'start' }], budget },
      { task: 'c', budget },
    ]),
    'slab',
    'local_trylock_t',
  );
}

function locked(cfg = nonRt, cpu = 0): Kernel {
  const r = localLock(base(), cfg, cpu, 'slab', { irqsave: true });
  expect(r.acquired).toBe(true);
  return r.k;
}

describe('local_lock_is_locked() on !PREEMPT_RT', () => {
  it('reads this CPU acquired flag: true inside an NMI that interrupted the irq-saved region', () => {
    const k = locked();
    expect(lockState(k, 'slab@cpu0').acquired).toBe(true);
    expect(top(k, 0).irqsOff).toBe(true);
    expect(localLockIsLocked(interrupt(k, nonRt, 0, 'nmi', 'nmi'), nonRt, 0, 'slab')).toBe(true);
    expect(localLockIsLocked(k, nonRt, 1, 'slab')).toBe(false);
  });

  it('true in a hook inside the region, false after the unlock', () => {
    const k = locked();
    expect(localLockIsLocked(enterHook(k, nonRt, 0, 'bpf'), nonRt, 0, 'slab')).toBe(true);
    expect(localLockIsLocked(localUnlock(k, nonRt, 0, 'slab'), nonRt, 0, 'slab')).toBe(false);
  });

  it('local_trylock fails while acquired; local_lock never waits, so re-entry runs a second critical section', () => {
    const nmi = interrupt(locked(), nonRt, 0, 'nmi', 'nmi');
    expect(localTrylock(nmi, nonRt, 0, 'slab').ok).toBe(false);
    const again = localLock(nmi, nonRt, 0, 'slab', { irqsave: true });
    expect(again.acquired).toBe(true);
    expect(lockState(again.k, 'slab@cpu0').holders.size).toBe(2);
    expect(selfDeadlocks(again.k)).toEqual([]);
  });

  it('unlock restores irqs and clears the flag', () => {
    const k = localUnlock(locked(), nonRt, 0, 'slab');
    expect(top(k, 0).irqsOff).toBe(false);
    expect(lockState(k, 'slab@cpu0').acquired).toBe(false);
  });
});

describe('local_lock_is_locked() on PREEMPT_RT', () => {
  it('is owner == current: true for the owning task and its hooks and NMIs', () => {
    const k = locked(rt);
    expect(top(k, 0).irqsOff).toBe(false);
    expect(top(k, 0).migrate).toBe(1);
    expect(localLockIsLocked(k, rt, 0, 'slab')).toBe(true);
    expect(localLockIsLocked(enterHook(k, rt, 0, 'bpf'), rt, 0, 'slab')).toBe(true);
    expect(localLockIsLocked(interrupt(k, rt, 0, 'nmi', 'nmi'), rt, 0, 'slab')).toBe(true);
  });

  it('another task on this CPU holding it while preempted: is_locked false, trylock fails, lock sleeps', () => {
    const k = schedule(locked(rt), rt, 0, 'b');
    expect(top(k, 0).task).toBe('b');
    expect(localLockIsLocked(k, rt, 0, 'slab')).toBe(false);
    expect(localTrylock(k, rt, 0, 'slab').ok).toBe(false);
    const r = localLock(k, rt, 0, 'slab');
    expect(r.acquired).toBe(false);
    expect(top(r.k, 0).waiting).toBe('slab@cpu0');
    expect(selfDeadlocks(r.k)).toEqual([]);
    expect(r.k.splats.size).toBe(0);
  });

  it('the owning task re-entering through a hook and taking it again deadlocks on itself', () => {
    const r = localLock(enterHook(locked(rt), rt, 0, 'bpf'), rt, 0, 'slab');
    expect(r.acquired).toBe(false);
    expect(selfDeadlocks(r.k)[0]).toContain('cpu0 hook (a) waits for slab@cpu0 (local_trylock_t), held by cpu0 task (a)');
  });

  it('local_trylock always fails in NMI and hardirq, even when the lock is free, and splats nothing', () => {
    for (const kind of ['nmi', 'hardirq'] as const) {
      const k = interrupt(base(), rt, 0, kind, kind);
      const r = localTrylock(k, rt, 0, 'slab');
      expect(r.ok).toBe(false);
      expect(r.k).toBe(k);
    }
    expect(localTrylock(interrupt(base(), nonRt, 0, 'nmi', 'nmi'), nonRt, 0, 'slab').ok).toBe(true);
  });

  it('bypassing local_trylock()s in-irq refusal: the rt spinlock trylocked from NMI or hardirq splats, and takes a free lock', () => {
    for (const kind of ['nmi', 'hardirq'] as const) {
      const r = localTrylock(interrupt(base(), rt, 0, kind, kind), rt, 0, 'slab', { irqsave: true, bypassIrqGuard: true });
      expect(r.ok).toBe(true);
      expect(r.k.splats.map((s) => s.kind).toArray()).toEqual(['invalid-wait-context']);
      expect(r.k.splats.first()!.message).toContain(`cpu0 ${kind} calls spin_trylock (rt_mutex)(slab@cpu0) on a sleeping lock (local_trylock_t) from ${kind === 'nmi' ? 'NMI' : 'hardirq'}`);
    }
    // held by the interrupted task: the splat, and the trylock fails
    const held = localTrylock(interrupt(locked(rt), rt, 0, 'nmi', 'nmi'), rt, 0, 'slab', { bypassIrqGuard: true });
    expect(held.ok).toBe(false);
    expect(held.k.splats.size).toBe(1);
    // in task context, and on !RT, the option changes nothing
    expect(localTrylock(base(), rt, 0, 'slab', { bypassIrqGuard: true }).k.splats.size).toBe(0);
    expect(localTrylock(interrupt(base(), nonRt, 0, 'nmi', 'nmi'), nonRt, 0, 'slab', { bypassIrqGuard: true }).k.splats.size).toBe(0);
  });

  it('local_lock in NMI on RT is an invalid wait context', () => {
    const r = localLock(interrupt(base(), rt, 0, 'nmi', 'nmi'), rt, 0, 'slab');
    expect(r.k.splats.map((s) => s.kind).toArray()).toEqual(['invalid-wait-context', 'sleep-in-atomic']);
  });
});
