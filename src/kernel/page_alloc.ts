/**
 * The page allocator as the kfree_rcu threads see it (mm/page_alloc.c): a per-CPU page list
 * (pcp, guarded by a per-CPU spinlock_t that is only ever trylocked: pcp_spin_trylock() in
 * rmqueue_pcplist()) in front of the buddy allocator under zone->lock (spinlock_t,
 * spin_lock_irqsave() in rmqueue_buddy()), with a finite number of free pages so that
 * exhaustion is explored.
 *
 * The locks are the kernel layer's (locks.ts): `pcp->lock@cpuN` and `zone->lock` live in the
 * model's Kernel, declared by `declarePageAllocLocks()`, and every acquisition goes through
 * `lock()` / `trylock()`, so lockdep's wait-context rule, might_sleep() and RT's sleeping
 * spinlock_t apply where the kernel applies them: taking zone->lock under a raw spinlock is
 * "BUG: Invalid wait context" on any kernel, and on PREEMPT_RT also a sleep in atomic context.
 * A model may declare zone->lock as a raw_spinlock_t instead (option A of seed 000).
 *
 * An allocation is a small state machine (`AllocOp`, kept in the allocating frame's data or in
 * the model's state) stepped by the model in the allocating context, so that other contexts
 * interleave with it and see the locks it holds: an NMI or a hardirq on the same CPU finds the
 * pcp lock taken and its trylock fails; another CPU spins (or on RT sleeps) on zone->lock.
 *
 * Modes:
 * - `may-sleep` (GFP_KERNEL): might_sleep() on entry; pcp, then zone->lock; when the zone is
 *   empty it sleeps in reclaim until a page is freed. Never fails.
 * - `noretry` (GFP_KERNEL | __GFP_NORETRY, what the kfree_rcu page-cache worker uses):
 *   might_sleep(); as may-sleep, but one reclaim attempt that finds nothing returns NULL.
 * - `atomic` (GFP_ATOMIC/GFP_NOWAIT): pcp, then zone->lock (spins; a sleeping lock on RT);
 *   NULL when the zone is empty.
 * - `lockless` (the 2020 `__GFP_NO_LOCKS` proposal; alloc_pages_nolock()): pcp by trylock only,
 *   never zone->lock; NULL when the pcp lock is taken or the list is empty; on PREEMPT_RT NULL
 *   at once in NMI and hardirq (an rt_mutex may not be trylocked there).
 *
 * Limitations, with their consequence:
 * - Upstream alloc_pages_nolock() (6.15+) also *trylocks* zone->lock (ALLOC_TRYLOCK). The
 *   `lockless` mode is the stricter proposal: it may return NULL where alloc_pages_nolock()
 *   would find a page, so a model that proves progress with `lockless` proves it for
 *   alloc_pages_nolock() too; a model that relies on a lockless allocation succeeding is not
 *   checked against the zone fallback.
 * - An empty pcp list falls through to the zone for one page (no batch refill into the pcp
 *   list), and freed pages go straight back to the zone: pcp counts only change by
 *   allocation, and a model seeds them in `pageAllocInit`. What a batch refill costs in time
 *   is kept: a zone->lock section lasts `zoneHoldSteps` steps (rmqueue_bulk() moving pages
 *   under the lock), which is what a latency measure of a raw zone->lock sees.
 * - Reclaim is one sleep that waits for a page to be freed; no OOM killer, no watermarks.
 * - Freeing a page (`freePage`) is one step with no lock taken: its zone->lock section is not
 *   interleaved with allocations.
 */
import { List, Record } from 'immutable';
import { ModelError } from '../core/errors.ts';
import type { KernelConfig } from './config.ts';
import { inHardirq, inNmi, top } from './cpu.ts';
import { perCpuLockName } from './local_lock.ts';
import { canAcquire, declareLocks, describeHolder, lock, lockState, mightSleep, trylock, unlock } from './locks.ts';
import type { Kernel } from './state.ts';

export type AllocMode = 'may-sleep' | 'noretry' | 'atomic' | 'lockless';

/** Base name of the per-CPU pcp lock; instance names are `pcp->lock@cpuN`. */
export const PCP_LOCK = 'pcp->lock';
export const ZONE_LOCK = 'zone->lock';

/**
 * Declares `pcp->lock@cpuN` for every CPU of the kernel (spinlock_t) and `zone->lock`,
 * a spinlock_t as upstream, or a raw_spinlock_t for option A of seed 000.
 */
export function declarePageAllocLocks(k: Kernel, opts: { zoneLock?: 'spinlock_t' | 'raw_spinlock_t' } = {}): Kernel {
  return declareLocks(k, [
    ...k.cpus.map((_, cpu) => ({ name: perCpuLockName(PCP_LOCK, cpu), type: 'spinlock_t' as const, cpu })),
    { name: ZONE_LOCK, type: opts.zoneLock ?? 'spinlock_t' },
  ]);
}

export interface PageAllocProps {
  /** Free pages on each CPU's pcp list. */
  readonly pcp: List<number>;
  /** Free pages in the buddy allocator. */
  readonly zoneFree: number;
}
export const PageAlloc = Record<PageAllocProps>({ pcp: List(), zoneFree: 0 }, 'PageAlloc');
export type PageAlloc = ReturnType<typeof PageAlloc>;

/** `cpus` CPUs with `pcpPages` pages each on their pcp list and `zonePages` in the zone. */
export function pageAllocInit(opts: { cpus: number; zonePages: number; pcpPages?: number }): PageAlloc {
  return PageAlloc({ pcp: List(Array<number>(opts.cpus).fill(opts.pcpPages ?? 0)), zoneFree: opts.zonePages });
}

/**
 * Where an allocation stands:
 * `start` → (pcp trylock) `pcp` → (take, or fall through) `zone-lock` → (spin_lock_irqsave)
 * `zone` (for zoneHoldSteps steps) → `done`; may-sleep and noretry add `reclaim`.
 */
export type AllocPc = 'start' | 'pcp' | 'zone-lock' | 'zone' | 'reclaim' | 'done';

export interface AllocOpProps {
  readonly mode: AllocMode;
  readonly cpu: number;
  readonly pc: AllocPc;
  /** Steps spent so far in the current zone->lock section. */
  readonly held: number;
  /** When done: true for a page, false for NULL. */
  readonly page: boolean;
}
export const AllocOp = Record<AllocOpProps>({ mode: 'atomic', cpu: 0, pc: 'start', held: 0, page: false }, 'AllocOp');
export type AllocOp = ReturnType<typeof AllocOp>;

export function allocBegin(mode: AllocMode, cpu: number): AllocOp {
  return AllocOp({ mode, cpu, pc: 'start' });
}

export interface AllocStep {
  /** Short text for the transition label, without the context prefix (`spin_lock_irqsave(zone->lock)`). */
  readonly what: string;
  readonly k: Kernel;
  readonly pa: PageAlloc;
  readonly op: AllocOp;
}

/** Options of the allocator's timing. */
export interface AllocOptions {
  /** Steps one zone->lock section lasts (default 1). */
  readonly zoneHoldSteps?: number;
}

/** The call the mode stands for, for labels. */
export function allocCall(mode: AllocMode): string {
  switch (mode) {
    case 'may-sleep':
      return '__get_free_page(GFP_KERNEL)';
    case 'noretry':
      return '__get_free_page(GFP_KERNEL | __GFP_NORETRY)';
    case 'atomic':
      return '__get_free_page(GFP_NOWAIT)';
    case 'lockless':
      return '__get_free_page(__GFP_NO_LOCKS)';
  }
}

/**
 * The steps an allocation can take now, run by the running frame of `op.cpu` (0 or 1: an
 * allocation is sequential; none while it waits for zone->lock or for a page). Deterministic
 * and pure. The caller must make sure that frame is the one that runs `op`.
 */
export function allocSteps(k: Kernel, cfg: KernelConfig, pa: PageAlloc, op: AllocOp, opts: AllocOptions = {}): AllocStep[] {
  const c = op.cpu;
  const hold = opts.zoneHoldSteps ?? 1;
  if (!Number.isInteger(hold) || hold < 1) throw new ModelError(`page_alloc: zoneHoldSteps must be a positive integer, got ${hold}`);
  const done = (page: boolean) => op.set('pc', 'done').set('page', page);
  const pcpLock = perCpuLockName(PCP_LOCK, c);
  const sleeps = op.mode === 'may-sleep' || op.mode === 'noretry';
  switch (op.pc) {
    case 'start': {
      if (pa.pcp.get(c) === undefined) throw new ModelError(`page_alloc: no cpu${c}`);
      // might_alloc(): a blocking allocation may sleep, whether or not it ends up sleeping.
      const k0 = sleeps ? mightSleep(k, cfg, c, allocCall(op.mode)) : k;
      if (op.mode === 'lockless' && cfg.rt && (inNmi(k, c) || inHardirq(k, c)))
        return [{ what: 'NMI/hardirq on PREEMPT_RT: NULL', k: k0, pa, op: done(false) }];
      const t = trylock(k0, cfg, c, pcpLock);
      if (t.ok) return [{ what: 'pcp_spin_trylock()', k: t.k, pa, op: op.set('pc', 'pcp') }];
      const holder = lockState(k0, pcpLock).holders.first();
      const by = holder ? ` (held by ${describeHolder(k0, holder)})` : '';
      return [{ what: `pcp_spin_trylock() fails${by}`, k: t.k, pa, op: op.mode === 'lockless' ? done(false) : op.set('pc', 'zone-lock') }];
    }
    case 'pcp': {
      const n = pa.pcp.get(c)!;
      const k1 = unlock(k, cfg, c, pcpLock);
      if (n > 0) return [{ what: 'page from pcp list; pcp_spin_unlock()', k: k1, pa: pa.setIn(['pcp', c], n - 1), op: done(true) }];
      if (op.mode === 'lockless') return [{ what: 'pcp list empty: NULL', k: k1, pa, op: done(false) }];
      return [{ what: 'pcp list empty; pcp_spin_unlock()', k: k1, pa, op: op.set('pc', 'zone-lock') }];
    }
    case 'zone-lock': {
      const waiting = top(k, c).waiting === ZONE_LOCK;
      if (waiting && !canAcquire(k, cfg, c, ZONE_LOCK)) return [];
      const r = lock(k, cfg, c, ZONE_LOCK, { irqsave: true });
      if (r.acquired) return [{ what: 'spin_lock_irqsave(zone->lock)', k: r.k, pa, op: op.set('pc', 'zone').set('held', 1) }];
      const holder = lockState(k, ZONE_LOCK).holders.first()!;
      return [{ what: `spin_lock_irqsave(zone->lock) waits (held by ${describeHolder(k, holder)})`, k: r.k, pa, op }];
    }
    case 'zone': {
      if (op.held < hold) return [{ what: `rmqueue_bulk() under zone->lock (${op.held}/${hold})`, k, pa, op: op.set('held', op.held + 1) }];
      const k1 = unlock(k, cfg, c, ZONE_LOCK);
      const out = op.set('held', 0);
      if (pa.zoneFree > 0) return [{ what: 'page from zone; spin_unlock_irqrestore(zone->lock)', k: k1, pa: pa.set('zoneFree', pa.zoneFree - 1), op: out.set('pc', 'done').set('page', true) }];
      if (op.mode === 'atomic') return [{ what: 'zone empty: NULL', k: k1, pa, op: out.set('pc', 'done').set('page', false) }];
      return [{ what: 'zone empty: direct reclaim (sleeps)', k: mightSleep(k1, cfg, c, 'direct reclaim'), pa, op: out.set('pc', 'reclaim') }];
    }
    case 'reclaim':
      if (op.mode === 'noretry') return [{ what: 'reclaim found nothing: NULL (__GFP_NORETRY)', k, pa, op: done(false) }];
      return pa.zoneFree > 0 ? [{ what: 'reclaim wakes', k, pa, op: op.set('pc', 'zone-lock') }] : [];
    case 'done':
      return [];
  }
}

/** True while the allocation holds a lock or waits: it must be stepped to completion. */
export function allocBusy(op: AllocOp): boolean {
  return op.pc !== 'done';
}

/** Frees a page back to the zone (__free_pages(); the zone->lock section is one step). */
export function freePage(pa: PageAlloc): PageAlloc {
  return pa.set('zoneFree', pa.zoneFree + 1);
}
