import type { KernelConfig } from './config.ts';
import { cpuCount, top } from './cpu.ts';
import { declareLocks, lock, lockState, trylock, unlock, type TrylockOptions } from './locks.ts';
import type { Kernel, KernelDraft } from './state.ts';

/**
 * local_lock_t and local_trylock_t: one instance per CPU, always reached through
 * this_cpu_ptr(), so every function here takes the base name and the CPU it runs on.
 *
 * - !PREEMPT_RT: local_lock() disables preemption, local_lock_irqsave() disables irqs; neither
 *   ever waits. local_trylock_t adds an `acquired` flag: local_trylock() fails when it is set,
 *   and local_lock_is_locked() reads it — true only when code on this CPU that we interrupted
 *   (an NMI inside an irq-saved region, a hook inside the region) holds the lock.
 * - PREEMPT_RT: a per-CPU spinlock_t (rt_mutex) plus migrate_disable(). local_lock_is_locked()
 *   is `rt_mutex_owner() == current`: another task on this CPU may hold it while preempted,
 *   and then is_locked() is false, a trylock fails and a blocking lock sleeps.
 *   local_trylock() always fails in NMI and hardirq.
 *
 * What a local_lock() or local_trylock() will do is asked of the instance:
 * `canAcquire(k, cfg, cpu, perCpuLockName(base, cpu))`, `canTrylock(…)` (locks.ts).
 */

/** `bucket64@cpu0`: the name of one CPU's instance of a per-CPU lock. */
export function perCpuLockName(base: string, cpu: number): string {
  return `${base}@cpu${cpu}`;
}

/** Declares one instance per CPU of a per-CPU lock (in init). */
export function declarePerCpuLock(k: KernelDraft, base: string, type: 'local_lock_t' | 'local_trylock_t' | 'spinlock_t' | 'raw_spinlock_t'): void {
  declareLocks(
    k,
    Array.from({ length: cpuCount(k) }, (_, cpu) => ({ name: perCpuLockName(base, cpu), type, cpu })),
  );
}

/**
 * local_lock_is_locked(&lock) from the running frame of `cpu`. !RT: this CPU's `acquired`
 * flag. RT: whether the current task (for an NMI or hardirq: the interrupted task) owns it.
 */
export function localLockIsLocked(k: Kernel, cfg: KernelConfig, cpu: number, base: string): boolean {
  const l = lockState(k, perCpuLockName(base, cpu));
  if (!cfg.rt) return l.type === 'local_trylock_t' ? l.acquired : l.holders.length > 0;
  const current = top(k, cpu).task;
  return l.holders.some((h) => h.task === current);
}

/** local_lock() / local_lock_irqsave(): never waits on !RT; on RT an rt_spin_lock() that may sleep. Returns whether it acquired (see lock()). */
export function localLock(k: KernelDraft, cfg: KernelConfig, cpu: number, base: string, opts: { irqsave?: boolean } = {}): boolean {
  return lock(k, cfg, cpu, perCpuLockName(base, cpu), opts);
}

/** local_trylock() / local_trylock_irqsave() on a local_trylock_t (see TrylockOptions for bypassIrqGuard). Returns whether it took the lock. */
export function localTrylock(k: KernelDraft, cfg: KernelConfig, cpu: number, base: string, opts: TrylockOptions = {}): boolean {
  const l = lockState(k, perCpuLockName(base, cpu));
  if (l.type !== 'local_trylock_t') throw new Error(`local_trylock() needs a local_trylock_t; ${l.name} is a ${l.type}`);
  return trylock(k, cfg, cpu, l.name, opts);
}

/** local_unlock() / local_unlock_irqrestore(). */
export function localUnlock(k: KernelDraft, cfg: KernelConfig, cpu: number, base: string): void {
  unlock(k, cfg, cpu, perCpuLockName(base, cpu));
}
