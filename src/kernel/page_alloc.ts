/**
 * The page allocator as the kfree_rcu threads see it (mm/page_alloc.c): a per-CPU page list
 * (pcp, a spinlock_t that is only ever trylocked, pcp_spin_trylock() in rmqueue_pcplist())
 * in front of the buddy allocator under zone->lock (spinlock_t, spin_lock_irqsave() in
 * rmqueue_buddy()), with a finite number of free pages so that exhaustion is explored.
 *
 * An allocation is a small state machine (`AllocOp`) stepped by the model in the allocating
 * context, so that other contexts interleave with it and see the locks it holds: an NMI or a
 * hardirq on the same CPU finds the pcp lock taken and its trylock fails. Each step says what
 * it did to locks and sleeping (`event`), so the model applies its wait-context check exactly
 * where the kernel would splat: on taking zone->lock, and on sleeping.
 *
 * Modes:
 * - `may-sleep` (GFP_KERNEL): pcp, then zone->lock; when the zone is empty it sleeps (reclaim)
 *   until a page is freed. Never fails.
 * - `atomic` (GFP_ATOMIC/GFP_NOWAIT): pcp, then zone->lock (spins; a sleeping lock on RT);
 *   NULL when the zone is empty.
 * - `lockless` (the 2020 `__GFP_NO_LOCKS` proposal): pcp by trylock only, never zone->lock;
 *   NULL when the pcp lock is taken or the list is empty.
 *
 * Limitations, with their consequence:
 * - Upstream alloc_pages_nolock() (6.15+) also *trylocks* zone->lock (ALLOC_TRYLOCK) and on RT
 *   returns NULL at once in NMI and hardirq. The `lockless` mode is the stricter proposal: it
 *   may return NULL where alloc_pages_nolock() would find a page, so a model that proves
 *   progress with `lockless` proves it for alloc_pages_nolock() too; a model that relies on a
 *   lockless allocation succeeding is not checked against the zone fallback.
 * - An empty pcp list falls through to the zone for one page (no batch refill, rmqueue_bulk),
 *   and freed pages go straight back to the zone: pcp counts only change by allocation, and
 *   a model seeds them in `pageAllocInit`.
 * - Reclaim is one sleep that waits for a page to be freed; no OOM killer, no watermarks.
 */
import { List, Record } from 'immutable';
import { ModelError } from '../core/errors.ts';

export type AllocMode = 'may-sleep' | 'atomic' | 'lockless';

export interface PageAllocProps {
  /** Free pages on each CPU's pcp list. */
  readonly pcp: List<number>;
  /** The context holding each CPU's pcp lock, or null. */
  readonly pcpLock: List<string | null>;
  /** Free pages in the buddy allocator. */
  readonly zoneFree: number;
  /** The context holding zone->lock, or null. */
  readonly zoneLock: string | null;
}
export const PageAlloc = Record<PageAllocProps>({ pcp: List(), pcpLock: List(), zoneFree: 0, zoneLock: null }, 'PageAlloc');
export type PageAlloc = ReturnType<typeof PageAlloc>;

/** `cpus` CPUs with `pcpPages` pages each on their pcp list and `zonePages` in the zone. */
export function pageAllocInit(opts: { cpus: number; zonePages: number; pcpPages?: number }): PageAlloc {
  return PageAlloc({
    pcp: List(Array<number>(opts.cpus).fill(opts.pcpPages ?? 0)),
    pcpLock: List(Array<string | null>(opts.cpus).fill(null)),
    zoneFree: opts.zonePages,
    zoneLock: null,
  });
}

/**
 * Where an allocation stands:
 * `start` → (pcp trylock) `pcp` → (take or fall through) → `zone-lock` → (spin_lock) `zone`
 * → `done`; may-sleep adds `reclaim` (sleeping until a page is freed).
 */
export type AllocPc = 'start' | 'pcp' | 'zone-lock' | 'zone' | 'reclaim' | 'done';

export interface AllocOpProps {
  readonly mode: AllocMode;
  readonly cpu: number;
  readonly pc: AllocPc;
  /** When done: true for a page, false for NULL. */
  readonly page: boolean;
}
export const AllocOp = Record<AllocOpProps>({ mode: 'atomic', cpu: 0, pc: 'start', page: false }, 'AllocOp');
export type AllocOp = ReturnType<typeof AllocOp>;

export function allocBegin(mode: AllocMode, cpu: number): AllocOp {
  return AllocOp({ mode, cpu, pc: 'start' });
}

/** What a step did that the caller's wait-context and sleep checks must see. */
export type AllocEvent = 'pcp-trylock' | 'pcp-trylock-failed' | 'zone-lock' | 'sleep';

export interface AllocStep {
  /** Short text for the transition label, without the context prefix (`spin_lock(zone->lock)`). */
  readonly what: string;
  readonly pa: PageAlloc;
  readonly op: AllocOp;
  readonly event?: AllocEvent;
}

/**
 * The steps an allocation can take now in context `ctx` (0 or 1: an allocation is sequential;
 * none when it waits for zone->lock or for a page). Deterministic and pure.
 */
export function allocSteps(pa: PageAlloc, op: AllocOp, ctx: string): AllocStep[] {
  const c = op.cpu;
  const done = (page: boolean) => op.set('pc', 'done').set('page', page);
  switch (op.pc) {
    case 'start': {
      const holder = pa.pcpLock.get(c);
      if (holder === undefined) throw new ModelError(`page_alloc: no cpu${c}`);
      if (holder !== null)
        return [
          {
            what: `pcp_spin_trylock() fails (held by ${holder})`,
            pa,
            op: op.mode === 'lockless' ? done(false) : op.set('pc', 'zone-lock'),
            event: 'pcp-trylock-failed',
          },
        ];
      return [{ what: 'pcp_spin_trylock()', pa: pa.setIn(['pcpLock', c], ctx), op: op.set('pc', 'pcp'), event: 'pcp-trylock' }];
    }
    case 'pcp': {
      const n = pa.pcp.get(c)!;
      const unlocked = pa.setIn(['pcpLock', c], null);
      if (n > 0) return [{ what: 'page from pcp list', pa: unlocked.setIn(['pcp', c], n - 1), op: done(true) }];
      if (op.mode === 'lockless') return [{ what: 'pcp list empty: NULL', pa: unlocked, op: done(false) }];
      return [{ what: 'pcp list empty', pa: unlocked, op: op.set('pc', 'zone-lock') }];
    }
    case 'zone-lock':
      if (pa.zoneLock !== null) return [];
      return [{ what: 'spin_lock(zone->lock)', pa: pa.set('zoneLock', ctx), op: op.set('pc', 'zone'), event: 'zone-lock' }];
    case 'zone': {
      const unlocked = pa.set('zoneLock', null);
      if (pa.zoneFree > 0) return [{ what: 'page from zone', pa: unlocked.set('zoneFree', pa.zoneFree - 1), op: done(true) }];
      if (op.mode === 'atomic') return [{ what: 'zone empty: NULL', pa: unlocked, op: done(false) }];
      return [{ what: 'zone empty: reclaim (sleeps)', pa: unlocked, op: op.set('pc', 'reclaim'), event: 'sleep' }];
    }
    case 'reclaim':
      return pa.zoneFree > 0 ? [{ what: 'reclaim wakes', pa, op: op.set('pc', 'zone-lock') }] : [];
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
