/**
 * The page allocator as the kfree_rcu threads see it (mm/page_alloc.c, 6.18): a per-CPU page
 * list (pcp, guarded since 6.2 by a per-CPU spinlock_t, which the allocation path trylocks,
 * pcp_spin_trylock() in rmqueue_pcplist(), and the drain paths take with a plain spin_lock(),
 * `spin_lock(&pcp->lock); free_pcppages_bulk(...)` in drain_zone_pages() and
 * drain_pages_zone(); before 6.2 irqs off alone protected it) in front of the buddy allocator
 * under zone->lock (spinlock_t, spin_lock_irqsave() in rmqueue_buddy()), with a finite number
 * of free pages so that exhaustion is explored.
 *
 * The locks are the kernel layer's (locks.ts): `pcp->lock@cpuN` and `zone->lock` live in the
 * model's Kernel, declared by `declarePageAllocLocks()`, and every acquisition goes through
 * `lock()` / `trylock()`, so lockdep's wait-context rule, might_sleep() and RT's sleeping
 * spinlock_t apply where the kernel applies them: taking zone->lock under a raw spinlock is
 * "BUG: Invalid wait context" on any kernel, and on PREEMPT_RT also a sleep in atomic context.
 * A model may declare zone->lock as a raw_spinlock_t instead (option A of seed 000).
 *
 * With `pressure` (AllocOptions) a non-blocking allocation may fail at once, as under memory
 * pressure it can, so that a model's fallback path is explored whatever the pages.
 *
 * An allocation is a small state machine (`AllocOp`, kept in the allocating frame's data or in
 * the model's state) stepped by the model in the allocating context, so that other contexts
 * interleave with it and see the locks it holds: an NMI or a hardirq on the same CPU finds the
 * pcp lock taken and its trylock fails; another CPU spins (or on RT sleeps) on zone->lock.
 * transitions() asks `allocSteps()` what the allocation can do from the state it reads; a
 * step's `apply(k, pa)` runs it on the successor's kernel and page allocator, and the model
 * stores the step's `op` where it keeps the allocation. A program runs one with `allocation()`,
 * the instruction that keeps the op in the frame's locals.
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
 * A drain (`DrainOp`, drainSteps()) empties a CPU's pcp list into the zone as 6.18.0's
 * drain_pages_zone() does, from any CPU (drain_all_pages() drains remote CPUs' lists itself):
 *     do {
 *             spin_lock(&pcp->lock);
 *             count = pcp->count;
 *             if (count) {
 *                     int to_drain = min(count, pcp->batch << CONFIG_PCP_BATCH_SCALE_MAX);
 *                     free_pcppages_bulk(zone, to_drain, pcp, 0);
 *     ...
 *             spin_unlock(&pcp->lock);
 *     } while (count);
 * with free_pcppages_bulk() taking `spin_lock_irqsave(&zone->lock, flags)`. The drainer holds
 * the pcp lock with a plain spin_lock(), so an allocation on that CPU meanwhile, from an
 * interrupt or another task, finds it taken and its pcp_spin_trylock() fails ("spin_trylock
 * may fail due to a parallel drain or IRQ reentrancy", rmqueue_pcplist()). (6.18.y has
 * `pcp_spin_lock_maybe_irqsave()` there: irqs off on UP only.) The batch loop is one batch:
 * every page at once.
 *
 * Limitations, with their consequence:
 * - Models follow 6.2+ (a pre-6.2 kernel has no pcp lock to trylock).
 * - Upstream alloc_pages_nolock() (6.15+) also *trylocks* zone->lock (ALLOC_TRYLOCK). The
 *   `lockless` mode is the stricter proposal: it may return NULL where alloc_pages_nolock()
 *   would find a page, so a model that proves progress with `lockless` proves it for
 *   alloc_pages_nolock() too; a model that relies on a lockless allocation succeeding is not
 *   checked against the zone fallback.
 * - An empty pcp list falls through to the zone for one page (no batch refill into the pcp
 *   list), and freed pages go straight back to the zone: pcp counts only change by
 *   allocation, and a model seeds them in `pageAllocInit`. What a batch refill costs in time
 *   is kept: a zone->lock section lasts `zoneHoldSteps` steps (rmqueue_bulk() moving pages
 *   under the lock), which is what a latency measure of a raw zone->lock sees. Drains empty a
 *   pcp list whole.
 * - Reclaim is one sleep that waits for a page to be freed; no OOM killer, no watermarks.
 * - Freeing a page (`freePage`) is one step with no lock taken: its zone->lock section is not
 *   interleaved with allocations.
 */
import { ModelError } from '../core/errors.ts';
import { t, type Draft, type ValueOf } from '../core/schema.ts';
import type { KernelConfig } from './config.ts';
import { inHardirq, inNmi, top, topDraft } from './cpu.ts';
import { perCpuLockName } from './local_lock.ts';
import { acquireLabel, canAcquire, canTrylock, declareLocks, describeHolder, lock, lockState, mightSleep, trylock, unlock, type LockOptions } from './locks.ts';
import { alt, computed, HERE, type At, type Instr, type Into } from './program.ts';
import type { Kernel, KernelDraft } from './state.ts';

export const ALLOC_MODES = ['may-sleep', 'noretry', 'atomic', 'lockless'] as const;
export type AllocMode = (typeof ALLOC_MODES)[number];

/** Base name of the per-CPU pcp lock; instance names are `pcp->lock@cpuN`. */
export const PCP_LOCK = 'pcp->lock';
export const ZONE_LOCK = 'zone->lock';

/**
 * Declares `pcp->lock@cpuN` for every CPU of the kernel (spinlock_t) and `zone->lock`,
 * a spinlock_t as upstream, or a raw_spinlock_t for option A of seed 000 (in init).
 */
export function declarePageAllocLocks(k: KernelDraft, opts: { zoneLock?: 'spinlock_t' | 'raw_spinlock_t' } = {}): void {
  declareLocks(k, [
    ...k.cpus.map((_, cpu) => ({ name: perCpuLockName(PCP_LOCK, cpu), type: 'spinlock_t' as const, cpu })),
    { name: ZONE_LOCK, type: opts.zoneLock ?? 'spinlock_t' },
  ]);
}

/** The bounds of a model's page allocator. */
export interface PageAllocShape {
  readonly cpus: number;
  /**
   * Free pages the zone holds at any time, at most: its pages at the start plus every page that
   * can be freed into it from elsewhere (allocated from a pcp list, a model's own reserve).
   */
  readonly zonePages: number;
  /** Free pages on one CPU's pcp list at the start, at most (default 0): pcp lists only shrink. */
  readonly pcpPages?: number;
}

/** The schema of the page allocator with the bounds of `shape`. */
export function pageAllocType(shape: PageAllocShape) {
  return t.struct({
    /** Free pages on each CPU's pcp list. */
    pcp: t.array(t.int(0, shape.pcpPages ?? 0), shape.cpus),
    /** Free pages in the buddy allocator. */
    zoneFree: t.int(0, shape.zonePages),
  });
}

export type PageAlloc = ValueOf<ReturnType<typeof pageAllocType>>;
export type PageAllocDraft = Draft<PageAlloc>;

/** `cpus` CPUs with `pcpPages` pages each on their pcp list and `zonePages` in the zone (a fresh value). */
export function pageAllocInit(opts: { cpus: number; zonePages: number; pcpPages?: number }): PageAllocDraft {
  return { pcp: Array<number>(opts.cpus).fill(opts.pcpPages ?? 0), zoneFree: opts.zonePages };
}

/**
 * Where an allocation stands:
 * `start` → (pcp trylock) `pcp` → (take, or fall through) `zone-lock` → (spin_lock_irqsave)
 * `zone` (for zoneHoldSteps steps) → `done`; may-sleep and noretry add `reclaim`.
 */
export const ALLOC_PCS = ['start', 'pcp', 'zone-lock', 'zone', 'reclaim', 'done'] as const;
export type AllocPc = (typeof ALLOC_PCS)[number];

/** The schema of one allocation in progress: its CPU and its `zoneHoldSteps` (default 1, see AllocOptions). */
export function allocOpType(shape: { readonly cpus: number; readonly zoneHoldSteps?: number }) {
  return t.struct({
    mode: t.enum(ALLOC_MODES),
    cpu: t.int(0, shape.cpus - 1),
    pc: t.enum(ALLOC_PCS),
    /** Steps spent so far in the current zone->lock section. */
    held: t.int(0, shape.zoneHoldSteps ?? 1),
    /** When done: true for a page, false for NULL. */
    page: t.bool(),
  });
}

export type AllocOp = ValueOf<ReturnType<typeof allocOpType>>;
export type AllocOpDraft = Draft<AllocOp>;

/** An allocation of `mode` by `cpu`, not started (a fresh value). */
export function allocBegin(mode: AllocMode, cpu: number): AllocOpDraft {
  return { mode, cpu, pc: 'start', held: 0, page: false };
}

export interface AllocStep {
  /** Short text for the transition label, without the context prefix (`spin_lock_irqsave(zone->lock)`). */
  readonly what: string;
  /** The allocation after the step: a fresh value, for the model to store where it keeps the allocation. */
  readonly op: AllocOp;
  /** Runs the step on the successor: its locks, splats and pages. */
  readonly apply: (k: KernelDraft, pa: PageAllocDraft) => void;
}

/** Options of the allocator's timing and supply. */
export interface AllocOptions {
  /** Steps one zone->lock section lasts (default 1). */
  readonly zoneHoldSteps?: number;
  /**
   * Memory pressure (default false): an `atomic` or `lockless` allocation may also return NULL
   * at its first step, whatever the pcp list and the zone hold, as it does when other users
   * have taken the pages or the zone is below its watermark (neither of which the model
   * shows). A model that proves progress with it proves it without relying on the pages the
   * allocator happened to have.
   */
  readonly pressure?: boolean;
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

const nothing = (): void => {};

/**
 * The steps an allocation can take now, run by the running frame of `op.cpu` (0 or 1: an
 * allocation is sequential; none while it waits for zone->lock or for a page; 2 at the first
 * step under `pressure`). A function of `k`, `pa`, `op` and `opts`. The caller must make sure
 * that frame is the one that runs `op`.
 */
/**
 * The step of a blocking acquisition of `name` by the running frame of `cpu`: `taken` once it
 * gets the lock, `waits` (the same op) while another frame holds it, and none while it waits
 * and the lock is still held (lock() recorded the wait).
 */
function blockingAcquire<Op>(k: Kernel, cfg: KernelConfig, cpu: number, name: string, call: string, opts: LockOptions, taken: Op, waits: Op): { what: string; op: Op; apply: (k: KernelDraft) => void }[] {
  const free = canAcquire(k, cfg, cpu, name);
  if (top(k, cpu).waiting === name && !free) return [];
  const apply = (kd: KernelDraft) => void lock(kd, cfg, cpu, name, opts);
  return [{ what: acquireLabel(k, cfg, cpu, name, call), op: free ? taken : waits, apply }];
}

export function allocSteps(k: Kernel, cfg: KernelConfig, pa: PageAlloc, op: AllocOp, opts: AllocOptions = {}): AllocStep[] {
  const c = op.cpu;
  const hold = opts.zoneHoldSteps ?? 1;
  if (!Number.isInteger(hold) || hold < 1) throw new ModelError(`page_alloc: zoneHoldSteps must be a positive integer, got ${hold}`);
  const next = (fields: Partial<AllocOp>): AllocOp => ({ ...op, ...fields });
  const done = (page: boolean) => next({ pc: 'done', page });
  const pcpLock = perCpuLockName(PCP_LOCK, c);
  const sleeps = op.mode === 'may-sleep' || op.mode === 'noretry';
  switch (op.pc) {
    case 'start': {
      if (pa.pcp[c] === undefined) throw new ModelError(`page_alloc: no cpu${c}`);
      // might_alloc(): a blocking allocation may sleep, whether or not it ends up sleeping.
      const enter = (kd: KernelDraft) => {
        if (sleeps) mightSleep(kd, cfg, c, allocCall(op.mode));
      };
      if (op.mode === 'lockless' && cfg.rt && (inNmi(k, c) || inHardirq(k, c))) return [{ what: 'NMI/hardirq on PREEMPT_RT: NULL', op: done(false), apply: enter }];
      const attempt = (kd: KernelDraft) => {
        enter(kd);
        trylock(kd, cfg, c, pcpLock);
      };
      const pressure: AllocStep[] = opts.pressure && !sleeps ? [{ what: 'NULL (memory pressure)', op: done(false), apply: enter }] : [];
      if (canTrylock(k, cfg, c, pcpLock)) return [{ what: 'pcp_spin_trylock()', op: next({ pc: 'pcp' }), apply: attempt }, ...pressure];
      const holder = lockState(k, pcpLock).holders[0];
      const by = holder ? ` (held by ${describeHolder(k, holder)})` : '';
      return [{ what: `pcp_spin_trylock() fails${by}`, op: op.mode === 'lockless' ? done(false) : next({ pc: 'zone-lock' }), apply: attempt }, ...pressure];
    }
    case 'pcp': {
      const n = pa.pcp[c];
      const release = (kd: KernelDraft) => unlock(kd, cfg, c, pcpLock);
      if (n > 0)
        return [
          {
            what: 'page from pcp list; pcp_spin_unlock()',
            op: done(true),
            apply: (kd, pd) => {
              release(kd);
              pd.pcp[c] = n - 1;
            },
          },
        ];
      if (op.mode === 'lockless') return [{ what: 'pcp list empty: NULL', op: done(false), apply: release }];
      return [{ what: 'pcp list empty; pcp_spin_unlock()', op: next({ pc: 'zone-lock' }), apply: release }];
    }
    case 'zone-lock':
      return blockingAcquire(k, cfg, c, ZONE_LOCK, 'spin_lock_irqsave(zone->lock)', { irqsave: true }, next({ pc: 'zone', held: 1 }), next({}));
    case 'zone': {
      if (op.held < hold) return [{ what: `rmqueue_bulk() under zone->lock (${op.held}/${hold})`, op: next({ held: op.held + 1 }), apply: nothing }];
      const release = (kd: KernelDraft) => unlock(kd, cfg, c, ZONE_LOCK);
      if (pa.zoneFree > 0)
        return [
          {
            what: 'page from zone; spin_unlock_irqrestore(zone->lock)',
            op: next({ held: 0, pc: 'done', page: true }),
            apply: (kd, pd) => {
              release(kd);
              pd.zoneFree--;
            },
          },
        ];
      if (op.mode === 'atomic') return [{ what: 'zone empty: NULL', op: next({ held: 0, pc: 'done', page: false }), apply: release }];
      return [
        {
          what: 'zone empty: direct reclaim (sleeps)',
          op: next({ held: 0, pc: 'reclaim' }),
          apply: (kd) => {
            release(kd);
            mightSleep(kd, cfg, c, 'direct reclaim');
          },
        },
      ];
    }
    case 'reclaim':
      if (op.mode === 'noretry') return [{ what: 'reclaim found nothing: NULL (__GFP_NORETRY)', op: done(false), apply: nothing }];
      return pa.zoneFree > 0 ? [{ what: 'reclaim wakes', op: next({ pc: 'zone-lock' }), apply: nothing }] : [];
    case 'done':
      return [];
  }
}

/** True while the allocation holds a lock or waits: it must be stepped to completion. */
export function allocBusy(op: AllocOp): boolean {
  return op.pc !== 'done';
}

/** Where a drain stands: `start` → (spin_lock(pcp->lock)) `locked` → (spin_lock_irqsave(zone->lock)) `zone` → `done`. */
export const DRAIN_PCS = ['start', 'locked', 'zone', 'done'] as const;

/** The schema of one drain in progress: the CPU whose pcp list it drains. */
export function drainOpType(shape: { readonly cpus: number }) {
  return t.struct({ of: t.int(0, shape.cpus - 1), pc: t.enum(DRAIN_PCS) });
}

export type DrainOp = ValueOf<ReturnType<typeof drainOpType>>;
export type DrainOpDraft = Draft<DrainOp>;

/** A drain of cpu `of`'s pcp list, not started (a fresh value). */
export function drainBegin(of: number): DrainOpDraft {
  return { of, pc: 'start' };
}

export interface DrainStep {
  readonly what: string;
  readonly op: DrainOp;
  readonly apply: (k: KernelDraft, pa: PageAllocDraft) => void;
}

/**
 * The step a drain of `op.of`'s pcp list can take now, run by the running frame of `by` (none
 * while it waits for a lock another frame holds: lock() records the wait and the step is
 * offered again once the lock is free). The caller makes sure that frame is the one that runs
 * `op`.
 */
export function drainSteps(k: Kernel, cfg: KernelConfig, pa: PageAlloc, op: DrainOp, by: number): DrainStep[] {
  const pcpLock = perCpuLockName(PCP_LOCK, op.of);
  const next = (pc: DrainOp['pc']): DrainOp => ({ ...op, pc });
  switch (op.pc) {
    case 'start':
      return blockingAcquire(k, cfg, by, pcpLock, `drain_pages_zone(cpu${op.of}): spin_lock(${pcpLock})`, { remote: true }, next('locked'), op);
    case 'locked':
      // `count = pcp->count; if (count) { ... free_pcppages_bulk() ... }`
      if (pa.pcp[op.of] === 0) return [{ what: `pcp list empty; spin_unlock(${pcpLock})`, op: next('done'), apply: (kd) => unlock(kd, cfg, by, pcpLock) }];
      return blockingAcquire(k, cfg, by, ZONE_LOCK, 'free_pcppages_bulk(): spin_lock_irqsave(zone->lock)', { irqsave: true }, next('zone'), op);
    case 'zone': {
      const n = pa.pcp[op.of];
      return [
        {
          what: `${n} page(s) to the zone; spin_unlock_irqrestore(zone->lock); spin_unlock(${pcpLock})`,
          op: next('done'),
          apply: (kd, pd) => {
            pd.zoneFree += n;
            pd.pcp[op.of] = 0;
            unlock(kd, cfg, by, ZONE_LOCK);
            unlock(kd, cfg, by, pcpLock);
          },
        },
      ];
    }
    case 'done':
      return [];
  }
}

/** Frees a page back to the zone (__free_pages(); the zone->lock section is one step). */
export function freePage(pa: PageAllocDraft): void {
  pa.zoneFree++;
}

/** How a program's allocation instruction reaches the page allocator and what it does with the page. */
export interface AllocationSpec<S, P> {
  /** The page allocator in a state, and in the successor being written. */
  readonly pa: (s: S) => PageAlloc;
  readonly paDraft: (d: Draft<S>) => PageAllocDraft;
  readonly options?: (a: At<S, P>) => AllocOptions;
  /** The allocation's last step, by its result: text added to the step's label, and its effect, which returns the label to go to. */
  readonly done: (page: boolean) => { readonly label?: (a: At<S, P>) => string; readonly run: (o: Into<S>, a: At<S, P>) => string | void };
}

/**
 * A program instruction that runs the allocation the running frame keeps in its locals (begun
 * with `allocBegin()` by the step before), one allocSteps() step a transition, staying at `at`
 * until its last step, which clears the locals and runs `spec.done` with the page it got.
 */
export function allocation<S, P>(at: string, spec: AllocationSpec<S, P>): Instr<S, P> {
  return computed<S, P>(at, (a) =>
    allocSteps(a.k, a.cfg, spec.pa(a.s), a.fr.data as AllocOp, spec.options?.(a)).map((x) => {
      const end = x.op.pc === 'done' ? spec.done(x.op.page) : undefined;
      return alt<S, P>(end?.label ? (b) => `${x.what}${end.label!(b)}` : x.what, (o, b) => {
        x.apply(o.k, spec.paDraft(o.d));
        topDraft(o.k, b.cpu).data = end ? null : { ...x.op };
        return end ? end.run(o, b) : HERE;
      });
    }),
  );
}

/** A program step's effect that begins an allocation in `mode` in the running frame's locals (for allocation()). */
export function beginAllocation<S, P>(mode: AllocMode | ((a: At<S, P>) => AllocMode)) {
  return (o: Into<S>, a: At<S, P>): void => void (topDraft(o.k, a.cpu).data = allocBegin(typeof mode === 'function' ? mode(a) : mode, a.cpu));
}
