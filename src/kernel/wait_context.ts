import { invariant, type Check, type InvariantProperty } from '../core/model.ts';
import { describeHolder, lockState } from './locks.ts';
import type { Kernel, SplatKind } from './state.ts';

/**
 * Wait-context checking as properties any model that embeds a Kernel gets. The lock
 * operations record what lockdep and might_sleep() would print as splats in the state;
 * self-deadlock is read from the state itself (a frame waits on a lock that a frame below it
 * on the same CPU, of the same task, holds: that holder cannot run until the waiter returns).
 */

/** Every self-deadlock in the state, as messages. */
export function selfDeadlocks(k: Kernel): string[] {
  const out: string[] = [];
  k.cpus.forEach((c, cpu) => {
    c.frames.forEach((fr, d) => {
      if (fr.waiting === null) return;
      const l = lockState(k, fr.waiting);
      for (const h of l.holders) {
        if (h.cpu === cpu && h.depth < d && h.task === fr.task) {
          const how = l.type === 'raw_spinlock_t' || l.type === 'spinlock_t' ? 'spins on' : 'waits for';
          out.push(
            `self-deadlock: cpu${cpu} ${fr.kind}${fr.kind === 'hook' || fr.kind === 'task' ? ` (${fr.task})` : ''} ${how} ${l.name} (${l.type}), ` +
              `held by ${describeHolder(k, h)} below it on the same CPU, which cannot run until the waiter returns`,
          );
        }
      }
    });
  });
  return out;
}

/** The first splat of the given kinds as a violated Check, or true. */
export function splatCheck(k: Kernel, kinds: readonly SplatKind[], path = 'kernel'): Check {
  const i = k.splats.findIndex((s) => kinds.includes(s.kind));
  if (i < 0) return true;
  return { message: k.splats[i].message, fields: [`${path}.splats[${i}]`] };
}

export const WAIT_CONTEXT = 'wait-context';
export const NO_SLEEP_IN_ATOMIC = 'no-sleep-in-atomic';
export const NO_SELF_DEADLOCK = 'no-self-deadlock';
export const TRYLOCK_CONTEXT = 'trylock-context';
export const LOCK_BALANCE = 'lock-balance';

/**
 * The wait-context properties for a model whose state holds a Kernel at `path`
 * (`kernelOf(state)` returns it):
 * - `wait-context`: no spinlock_t / local_lock / mutex taken where only a raw spinlock may be
 *   (a raw spinlock held, non-threaded hardirq, NMI); no mutex inside a spinlock_t or
 *   rcu_read_lock() (lockdep's "Invalid wait context"; trylocks are exempt).
 * - `trylock-context`: no trylock of a sleeping lock (a mutex; on RT a spinlock_t or local
 *   lock) from NMI or hardirq, which lockdep does not report (locks.ts's trylock()).
 * - `no-sleep-in-atomic`: nothing that may sleep (a sleeping lock, GFP_KERNEL,
 *   synchronize_rcu) called in atomic context (might_sleep() with CONFIG_DEBUG_ATOMIC_SLEEP),
 *   and no task switched out while it blocks with a preempt count ("scheduling while atomic").
 * - `no-self-deadlock`: no context waits on a lock held beneath it on its own CPU.
 * - `lock-balance`: no unlock of a lock not held, no handler returning with a lock held.
 */
export function waitContextProperties<S, P>(kernelOf: (s: S) => Kernel, path = 'kernel'): InvariantProperty<S, P>[] {
  return [
    invariant<S, P>(WAIT_CONTEXT, 'no lock is taken in a context of a more restrictive wait type (lockdep: Invalid wait context)', (s) =>
      splatCheck(kernelOf(s), ['invalid-wait-context'], path),
    ),
    invariant<S, P>(NO_SLEEP_IN_ATOMIC, 'nothing that may sleep is called in atomic context (might_sleep), and no task blocks there (scheduling while atomic)', (s) =>
      splatCheck(kernelOf(s), ['sleep-in-atomic', 'scheduling-while-atomic'], path),
    ),
    invariant<S, P>(TRYLOCK_CONTEXT, 'no sleeping lock is trylocked from NMI or hardirq (rt_mutex_trylock: "can only be called in thread context")', (s) =>
      splatCheck(kernelOf(s), ['trylock-outside-task'], path),
    ),
    invariant<S, P>(NO_SELF_DEADLOCK, 'no context waits on a lock that a context beneath it on the same CPU holds', (s) => {
      const k = kernelOf(s);
      const found = selfDeadlocks(k);
      if (found.length === 0) return true;
      const fields: string[] = [];
      k.cpus.forEach((c, cpu) => {
        c.frames.forEach((fr, d) => {
          if (fr.waiting !== null) fields.push(`${path}.cpus[${cpu}].frames[${d}].waiting`);
        });
      });
      return { message: found[0], fields };
    }),
    invariant<S, P>(LOCK_BALANCE, 'every unlock releases a lock its context holds; no handler returns with a lock held', (s) =>
      splatCheck(kernelOf(s), ['bad-unlock', 'lock-held-at-return'], path),
    ),
  ];
}
