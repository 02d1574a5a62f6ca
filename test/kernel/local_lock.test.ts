import { describe, expect, it } from 'vitest';
import {
  canTrylock,
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
  type KernelConfig,
  type KernelDraft,
} from '../../src/kernel/index.ts';
import { after } from './after.ts';

const nonRt = kernelConfig({ rt: false, maxNesting: 3 });
const rt = kernelConfig({ rt: true, maxNesting: 3 });
const budget = { nmi: 1, hardirq: 1, hook: 1 };

function base(): KernelDraft {
  const k = initKernel([
    { task: 'a', parked: [{ task: 'b', pc: 'start' }], budget },
    { task: 'c', budget },
  ]);
  declarePerCpuLock(k, 'slab', 'local_trylock_t');
  return k;
}

/** The running frame of `cpu` took slab with local_lock_irqsave(). */
function locked(cfg = nonRt, cpu = 0): KernelDraft {
  const k = base();
  expect(localLock(k, cfg, cpu, 'slab', { irqsave: true })).toBe(true);
  return k;
}

/** `k` after an interrupt of `kind` on cpu0. */
function interrupted(k: KernelDraft, cfg: KernelConfig, kind: 'nmi' | 'hardirq' = 'nmi'): KernelDraft {
  return after(k, (d) => interrupt(d, cfg, 0, kind, kind));
}

/** `k` after a hook entered on cpu0. */
function hooked(k: KernelDraft, cfg: KernelConfig): KernelDraft {
  return after(k, (d) => enterHook(d, cfg, 0, 'bpf'));
}

describe('local_lock_is_locked() on !PREEMPT_RT', () => {
  it('reads this CPU acquired flag: true inside an NMI that interrupted the irq-saved region', () => {
    const k = locked();
    expect(lockState(k, 'slab@cpu0').acquired).toBe(true);
    expect(top(k, 0).irqsOff).toBe(true);
    expect(localLockIsLocked(interrupted(k, nonRt), nonRt, 0, 'slab')).toBe(true);
    expect(localLockIsLocked(k, nonRt, 1, 'slab')).toBe(false);
  });

  it('true in a hook inside the region, false after the unlock', () => {
    const k = locked();
    expect(localLockIsLocked(hooked(k, nonRt), nonRt, 0, 'slab')).toBe(true);
    localUnlock(k, nonRt, 0, 'slab');
    expect(localLockIsLocked(k, nonRt, 0, 'slab')).toBe(false);
  });

  it('local_trylock fails while acquired; local_lock never waits, so re-entry runs a second critical section', () => {
    const nmi = interrupted(locked(), nonRt);
    expect(localTrylock(nmi, nonRt, 0, 'slab')).toBe(false);
    expect(localLock(nmi, nonRt, 0, 'slab', { irqsave: true })).toBe(true);
    expect(lockState(nmi, 'slab@cpu0').holders.length).toBe(2);
    expect(selfDeadlocks(nmi)).toEqual([]);
  });

  it('unlock restores irqs and clears the flag', () => {
    const k = locked();
    localUnlock(k, nonRt, 0, 'slab');
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
    expect(localLockIsLocked(hooked(k, rt), rt, 0, 'slab')).toBe(true);
    expect(localLockIsLocked(interrupted(k, rt), rt, 0, 'slab')).toBe(true);
  });

  it('another task on this CPU holding it while preempted: is_locked false, trylock fails, lock sleeps', () => {
    const k = locked(rt);
    schedule(k, rt, 0, 'b');
    expect(top(k, 0).task).toBe('b');
    expect(localLockIsLocked(k, rt, 0, 'slab')).toBe(false);
    expect(localTrylock(k, rt, 0, 'slab')).toBe(false);
    expect(localLock(k, rt, 0, 'slab')).toBe(false);
    expect(top(k, 0).waiting).toBe('slab@cpu0');
    expect(selfDeadlocks(k)).toEqual([]);
    expect(k.splats.length).toBe(0);
  });

  it('the owning task re-entering through a hook and taking it again deadlocks on itself', () => {
    const k = hooked(locked(rt), rt);
    expect(localLock(k, rt, 0, 'slab')).toBe(false);
    expect(selfDeadlocks(k)[0]).toContain('cpu0 hook (a) waits for slab@cpu0 (local_trylock_t), held by cpu0 task (a)');
  });

  it('local_trylock always fails in NMI and hardirq, even when the lock is free, and splats nothing', () => {
    for (const kind of ['nmi', 'hardirq'] as const) {
      const k = interrupted(base(), rt, kind);
      expect(canTrylock(k, rt, 0, 'slab@cpu0')).toBe(false);
      const d = after(k, (x) => expect(localTrylock(x, rt, 0, 'slab')).toBe(false));
      expect(d).toEqual(k);
    }
    expect(localTrylock(interrupted(base(), nonRt), nonRt, 0, 'slab')).toBe(true);
  });

  it('bypassing local_trylock()s in-irq refusal: the rt spinlock trylocked from NMI or hardirq splats, and takes a free lock', () => {
    for (const kind of ['nmi', 'hardirq'] as const) {
      const k = interrupted(base(), rt, kind);
      expect(localTrylock(k, rt, 0, 'slab', { irqsave: true, bypassIrqGuard: true })).toBe(true);
      expect(k.splats.map((s) => s.kind)).toEqual(['trylock-outside-task']);
      expect(k.splats[0].message).toContain(`cpu0 ${kind} calls rt_spin_trylock(slab@cpu0) on a sleeping lock (local_trylock_t) from ${kind === 'nmi' ? 'NMI' : 'hardirq'}`);
    }
    // held by the interrupted task: the splat, and the trylock fails
    const held = interrupted(locked(rt), rt);
    expect(localTrylock(held, rt, 0, 'slab', { bypassIrqGuard: true })).toBe(false);
    expect(held.splats.length).toBe(1);
    // in task context, and on !RT, the option changes nothing
    const task = base();
    localTrylock(task, rt, 0, 'slab', { bypassIrqGuard: true });
    expect(task.splats.length).toBe(0);
    const nonRtNmi = interrupted(base(), nonRt);
    localTrylock(nonRtNmi, nonRt, 0, 'slab', { bypassIrqGuard: true });
    expect(nonRtNmi.splats.length).toBe(0);
  });

  it('local_lock in NMI on RT is an invalid wait context', () => {
    const k = interrupted(base(), rt);
    localLock(k, rt, 0, 'slab');
    expect(k.splats.map((s) => s.kind)).toEqual(['invalid-wait-context', 'sleep-in-atomic']);
  });
});
