/**
 * Reusable RCU and memory properties. Each takes an accessor that finds the kernel-layer
 * state inside a model's state (`(s) => s.mem`, `(s) => s.kernel.rcu`), so any model built on
 * src/kernel/memory.ts and src/kernel/rcu.ts can list them:
 *
 *   properties: [rcuNoUseAfterFree((s) => s.mem, 'mem'), noDoubleFree((s) => s.mem, 'mem'), ...]
 *
 * `at` is the field path of the memory inside the state, used to point at the offending fields.
 */
import { atQuiescence, invariant, leadsTo, type FinalProperty, type InvariantProperty, type LeadsToProperty } from '../src/index.ts';
import {
  allocatorOf,
  faultsOf,
  inSynchronizeRcu,
  leaked,
  pendingCallbacks,
  findContext,
  isParkedContext,
  synchronizeRcuProblem,
  type Kernel,
  type KernelConfig,
  type Memory,
  type Rcu,
} from '../src/kernel/index.ts';
import type { AnyParams } from '../src/core/params.ts';

export function rcuNoUseAfterFree<S, P = AnyParams>(mem: (s: S) => Memory, at: string): InvariantProperty<S, P> {
  return invariant<S, P>(
    'rcu-no-use-after-free',
    'no reader dereferences an object that was freed before a grace period covering that reader ended',
    (s) => {
      const f = faultsOf(mem(s), 'use-after-free')[0];
      return !f || { message: `${f.ctx} uses ${f.obj} after it was freed`, fields: [`${at}.objects.${f.obj}`] };
    },
  );
}

export function noDoubleFree<S, P = AnyParams>(mem: (s: S) => Memory, at: string): InvariantProperty<S, P> {
  return invariant<S, P>('no-double-free', 'no object is freed twice', (s) => {
    const f = faultsOf(mem(s), 'double-free')[0];
    return !f || { message: `${f.ctx} frees ${f.obj} a second time`, fields: [`${at}.objects.${f.obj}`] };
  });
}

/** Every free function is given memory of an allocator it takes (kfree() no vmalloc() memory, vfree() no kmalloc() memory, …). */
export function noWrongAllocator<S, P = AnyParams>(mem: (s: S) => Memory, at: string): InvariantProperty<S, P> {
  return invariant<S, P>('no-wrong-allocator', 'no object is given to a free function of another allocator (kfree() of vmalloc() memory, vfree() of kmalloc() memory)', (s) => {
    const m = mem(s);
    const f = faultsOf(m, 'wrong-allocator')[0];
    return !f || { message: `${f.ctx} frees ${f.obj} with ${f.via}(), but ${allocatorOf(m, f.obj)}() allocated it`, fields: [`${at}.objects.${f.obj}`] };
  });
}

/** No context dereferences a NULL pointer. */
export function noNullDeref<S, P = AnyParams>(mem: (s: S) => Memory, at: string): InvariantProperty<S, P> {
  return invariant<S, P>('no-null-deref', 'no context dereferences a NULL pointer', (s) => {
    const f = faultsOf(mem(s), 'null-deref')[0];
    return !f || { message: `${f.ctx} dereferences NULL`, fields: [`${at}.faults`] };
  });
}

/**
 * Objects legitimately kept at the end (a cache, the live array) are named by `owned`.
 * `finished` tells a proper end from a stuck state: in a deadlock nothing is freed either, but
 * that is the deadlock's story (no-deadlock reports it), so the leak check holds there.
 */
export function noLeakAtQuiescence<S, P = AnyParams>(
  mem: (s: S) => Memory,
  at: string,
  opts: { owned?: (s: S) => ReadonlySet<string>; finished?: (s: S, p: P) => boolean } = {},
): FinalProperty<S, P> {
  return atQuiescence<S, P>('no-leak-at-quiescence', 'when every context has finished, every object is freed or still reachable', (s, p) => {
    if (opts.finished && !opts.finished(s, p)) return true;
    const l = leaked(mem(s), opts.owned?.(s));
    return l.length === 0 || { message: `leaked: ${l.join(', ')} (neither freed nor reachable)`, fields: l.map((o) => `${at}.objects.${o}`) };
  });
}

/**
 * Every context blocked in synchronize_rcu() may sleep there: it is not in atomic context and
 * not inside its own RCU reader, explicit or implied (the layer derives both from the CPU
 * state). `kernel` finds the kernel in the state, `at` is its field path, `cfg` the
 * configuration the model runs under.
 */
export function synchronizeRcuLegal<S, P = AnyParams>(kernel: (s: S) => Kernel, at: string, cfg: (p: P) => KernelConfig): InvariantProperty<S, P> {
  return invariant<S, P>('synchronize-rcu-legal', 'synchronize_rcu() is called only where sleeping is legal and outside the caller\'s own reader', (s, p) => {
    const k = kernel(s);
    for (const ctx of k.rcu.sync.keys()) {
      const where = findContext(k, ctx);
      // A task asleep in synchronize_rcu() may be parked: it was judged while it ran, when it called.
      if (!where && isParkedContext(k, ctx)) continue;
      if (!where) throw new Error(`rcu: ${ctx} waits in synchronize_rcu() but runs on no CPU and is parked on none`);
      const why = synchronizeRcuProblem(k, cfg(p), where.cpu, where.depth);
      if (why) return { message: why, fields: [`${at}.rcu.sync.${ctx}`] };
    }
    return true;
  });
}

// Progress (liveness: decided under the model's fairness, by default weak fairness per lane).

/** Every grace period that starts ends: a reader that never leaves, or one that waits for itself, breaks it. */
export function gracePeriodsEnd<S, P = AnyParams>(rcu: (s: S) => Rcu): LeadsToProperty<S, P> {
  return leadsTo<S, P>('grace-periods-end', 'every grace period that starts ends', (s) => rcu(s).gp, (s) => !rcu(s).gp);
}

/**
 * Every synchronize_rcu() returns: whenever a context is blocked in it, a state follows where
 * none is. (With one waiter at a time, as in the models here, that is each call returning.)
 */
export function synchronizeRcuReturns<S, P = AnyParams>(rcu: (s: S) => Rcu): LeadsToProperty<S, P> {
  return leadsTo<S, P>('synchronize-rcu-returns', 'every synchronize_rcu() returns', (s) => rcu(s).sync.size > 0, (s) => rcu(s).sync.size === 0);
}

/** Every call_rcu() callback runs: whenever callbacks are queued, a state follows where none is. */
export function callbacksRun<S, P = AnyParams>(rcu: (s: S) => Rcu): LeadsToProperty<S, P> {
  return leadsTo<S, P>('callbacks-run', 'every queued call_rcu() callback runs', (s) => pendingCallbacks(rcu(s)) > 0, (s) => pendingCallbacks(rcu(s)) === 0);
}

/** Whether `ctx` is blocked in synchronize_rcu(): for a model's own progress properties. */
export function blockedInSynchronizeRcu<S>(rcu: (s: S) => Rcu, ctx: string): (s: S) => boolean {
  return (s) => inSynchronizeRcu(rcu(s), ctx);
}
