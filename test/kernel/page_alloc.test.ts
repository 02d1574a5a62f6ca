import { describe, expect, it } from 'vitest';
import { declareLocks, holdersOf, initKernel, interrupt, kernelConfig, localIrqSave, lock, top, type Kernel, type KernelConfig, type KernelDraft } from '../../src/kernel/index.ts';
import {
  allocBegin,
  allocSteps,
  declarePageAllocLocks,
  drainBegin,
  drainSteps,
  freePage,
  pageAllocInit,
  ZONE_LOCK,
  type AllocMode,
  type AllocOp,
  type DrainOp,
  type PageAlloc,
  type PageAllocDraft,
} from '../../src/kernel/page_alloc.ts';
import { after } from './after.ts';

const NRT = kernelConfig({ rt: false });
const RT = kernelConfig({ rt: true });

function kernel(cpus = 1, zoneLock: 'spinlock_t' | 'raw_spinlock_t' = 'spinlock_t'): KernelDraft {
  const k = initKernel(Array.from({ length: cpus }, (_, i) => ({ task: `t${i}`, budget: { hardirq: 1, nmi: 1 } })));
  declareLocks(k, [{ name: 'krcp->lock', type: 'raw_spinlock_t' }]);
  declarePageAllocLocks(k, { zoneLock });
  return k;
}

/** `k` after the running frame of `cpu` took `name`. */
function holding(k: KernelDraft, cfg: KernelConfig, cpu: number, name: string, irqsave = true): KernelDraft {
  return after(k, (d) => void lock(d, cfg, cpu, name, { irqsave }));
}

/**
 * Steps an allocation alone to the end (or until it blocks), on copies of `k` and `pa`; returns
 * the steps taken, each with the kernel after it, and where it ended.
 */
function run(k0: Kernel, pa0: PageAlloc, mode: AllocMode, opts: { cpu?: number; rt?: boolean; hold?: number } = {}) {
  const cfg = opts.rt ? RT : NRT;
  const k = structuredClone(k0) as KernelDraft;
  const pa = structuredClone(pa0) as PageAllocDraft;
  let op: AllocOp = allocBegin(mode, opts.cpu ?? 0);
  const steps: { what: string; k: Kernel }[] = [];
  for (;;) {
    const next = allocSteps(k, cfg, pa, op, { zoneHoldSteps: opts.hold });
    if (next.length === 0) return { k, pa, op, steps, whats: steps.map((s) => s.what) };
    expect(next).toHaveLength(1);
    next[0].apply(k, pa);
    op = next[0].op;
    steps.push({ what: next[0].what, k: structuredClone(k) });
  }
}

describe('page allocator', () => {
  it('serves from the pcp list under its trylock and releases it', () => {
    const r = run(kernel(), pageAllocInit({ cpus: 1, zonePages: 0, pcpPages: 1 }), 'atomic');
    expect(r.whats).toEqual(['pcp_spin_trylock()', 'page from pcp list; pcp_spin_unlock()']);
    expect(r.op.page).toBe(true);
    expect(r.pa.pcp[0]).toBe(0);
    expect(holdersOf(r.k, 'pcp->lock@cpu0').length).toBe(0);
    expect(r.k.splats.length).toBe(0);
  });

  it('an atomic allocation falls through to zone->lock and returns NULL when the zone is empty', () => {
    const r = run(kernel(), pageAllocInit({ cpus: 1, zonePages: 0 }), 'atomic');
    expect(r.whats).toEqual(['pcp_spin_trylock()', 'pcp list empty; pcp_spin_unlock()', 'spin_lock_irqsave(zone->lock)', 'zone empty: NULL']);
    expect(r.op).toMatchObject({ pc: 'done', page: false });
    expect(holdersOf(r.k, ZONE_LOCK).length).toBe(0);
    expect(top(r.k, 0).irqsOff).toBe(false);
  });

  it('holds zone->lock for zoneHoldSteps steps, irqs off', () => {
    const r = run(kernel(), pageAllocInit({ cpus: 1, zonePages: 1 }), 'atomic', { hold: 3 });
    expect(r.whats.slice(2)).toEqual([
      'spin_lock_irqsave(zone->lock)',
      'rmqueue_bulk() under zone->lock (1/3)',
      'rmqueue_bulk() under zone->lock (2/3)',
      'page from zone; spin_unlock_irqrestore(zone->lock)',
    ]);
    expect(r.steps[3].k.cpus[0].frames[0].irqsOff).toBe(true);
    expect(r.op.page).toBe(true);
  });

  it('a lockless-only allocation never touches zone->lock, whatever the pcp and zone hold', () => {
    for (const pcpPages of [0, 1])
      for (const zonePages of [0, 1]) {
        const r = run(kernel(), pageAllocInit({ cpus: 1, zonePages, pcpPages }), 'lockless');
        expect(r.steps.every((s) => holdersOf(s.k, ZONE_LOCK).length === 0)).toBe(true);
        expect(r.whats.some((w) => /zone/.test(w))).toBe(false);
        expect(r.op.page).toBe(pcpPages > 0);
        expect(r.pa.zoneFree).toBe(zonePages);
      }
  });

  it('under a raw spinlock: GFP_NOWAIT takes zone->lock (Invalid wait context; on RT also sleep in atomic), lockless does not', () => {
    const under = (rt: boolean) => holding(kernel(), rt ? RT : NRT, 0, 'krcp->lock');
    const pa = pageAllocInit({ cpus: 1, zonePages: 1 });
    const nrt = run(under(false), pa, 'atomic');
    expect(nrt.k.splats.map((s) => s.kind)).toEqual(['invalid-wait-context']);
    expect(nrt.k.splats[0].message).toMatch(/trying to lock zone->lock \(spinlock_t\) \{CONFIG\} .*\(krcp->lock \(raw_spinlock_t\) held/);
    const rt = run(under(true), pa, 'atomic', { rt: true });
    expect(rt.k.splats.map((s) => s.kind)).toEqual(['invalid-wait-context', 'sleep-in-atomic']);
    for (const rtc of [false, true]) expect(run(under(rtc), pa, 'lockless', { rt: rtc }).k.splats.length).toBe(0);
    // Option A: a raw zone->lock nests under the raw krcp->lock without a splat.
    const raw = holding(kernel(1, 'raw_spinlock_t'), RT, 0, 'krcp->lock');
    expect(run(raw, pa, 'atomic', { rt: true }).k.splats.length).toBe(0);
  });

  it('memory pressure: a non-blocking allocation may also return NULL at once, a blocking one may not', () => {
    const k = kernel();
    const pa = pageAllocInit({ cpus: 1, zonePages: 1, pcpPages: 1 });
    for (const mode of ['atomic', 'lockless'] as const) {
      const steps = allocSteps(k, NRT, pa, allocBegin(mode, 0), { pressure: true });
      expect(steps.map((s) => s.what)).toEqual(['pcp_spin_trylock()', 'NULL (memory pressure)']);
      expect(steps[1].op).toMatchObject({ pc: 'done', page: false });
      // Without the option the allocation is a function of the pages: one step, the trylock.
      expect(allocSteps(k, NRT, pa, allocBegin(mode, 0)).map((s) => s.what)).toEqual(['pcp_spin_trylock()']);
    }
    for (const mode of ['may-sleep', 'noretry'] as const) expect(allocSteps(k, NRT, pa, allocBegin(mode, 0), { pressure: true })).toHaveLength(1);
    // Only the first step branches: a taken pcp lock or a started zone section runs on.
    const [trylock] = allocSteps(k, NRT, pa, allocBegin('atomic', 0));
    expect(allocSteps(after(k, (d) => trylock.apply(d, structuredClone(pa) as PageAllocDraft)), NRT, pa, trylock.op, { pressure: true })).toHaveLength(1);
  });

  it('trylock failure: lockless returns NULL, atomic falls back to zone->lock', () => {
    // cpu0's task holds the pcp lock (it is between trylock and take) when an NMI allocates.
    const k = kernel();
    const pa = pageAllocInit({ cpus: 1, zonePages: 1, pcpPages: 1 });
    const [held] = allocSteps(k, NRT, pa, allocBegin('atomic', 0));
    held.apply(k, pa);
    expect(holdersOf(k, 'pcp->lock@cpu0').length).toBe(1);
    interrupt(k, NRT, 0, 'nmi', 'alloc');
    const lockless = run(k, pa, 'lockless');
    expect(lockless.whats).toEqual(['pcp_spin_trylock() fails (held by cpu0 task (t0))']);
    expect(lockless.op.page).toBe(false);
    const atomic = run(k, pa, 'atomic');
    expect(atomic.whats).toEqual([
      'pcp_spin_trylock() fails (held by cpu0 task (t0))',
      'spin_lock_irqsave(zone->lock)',
      'page from zone; spin_unlock_irqrestore(zone->lock)',
    ]);
    expect(atomic.op.page).toBe(true);
  });

  it('on RT a lockless allocation in hardirq returns NULL without trying the rt_mutex', () => {
    const k = kernel();
    interrupt(k, RT, 0, 'hardirq', 'alloc');
    const r = run(k, pageAllocInit({ cpus: 1, zonePages: 1, pcpPages: 1 }), 'lockless', { rt: true });
    expect(r.whats).toEqual(['NMI/hardirq on PREEMPT_RT: NULL']);
    expect(r.k.splats.length).toBe(0);
  });

  it('waits on zone->lock held by another CPU', () => {
    const k = holding(kernel(2), NRT, 1, ZONE_LOCK, false);
    const r = run(k, pageAllocInit({ cpus: 2, zonePages: 1 }), 'atomic');
    expect(r.op.pc).toBe('zone-lock');
    expect(r.whats).toEqual(['pcp_spin_trylock()', 'pcp list empty; pcp_spin_unlock()', 'spin_lock_irqsave(zone->lock) waits (held by cpu1 task (t1))']);
    expect(top(r.k, 0).waiting).toBe(ZONE_LOCK);
  });

  it('a may-sleep allocation sleeps in reclaim on an empty zone and wakes when a page is freed', () => {
    const r = run(kernel(), pageAllocInit({ cpus: 1, zonePages: 0 }), 'may-sleep');
    expect(r.op.pc).toBe('reclaim');
    expect(r.whats.at(-1)).toBe('zone empty: direct reclaim (sleeps)');
    const woke = allocSteps(r.k, NRT, after(r.pa, freePage), r.op);
    expect(woke.map((s) => s.what)).toEqual(['reclaim wakes']);
    const noretry = run(kernel(), pageAllocInit({ cpus: 1, zonePages: 0 }), 'noretry');
    expect(noretry.whats.slice(-2)).toEqual(['zone empty: direct reclaim (sleeps)', 'reclaim found nothing: NULL (__GFP_NORETRY)']);
    expect(noretry.op).toMatchObject({ pc: 'done', page: false });
  });

  describe("drain_pages_zone(): the pcp lock taken with a plain spin_lock()", () => {
    /** Steps a drain by the running frame of `by` until it ends or blocks. */
    function drain(k: KernelDraft, pa: PageAllocDraft, of: number, by: number, cfg = NRT) {
      let op: DrainOp = drainBegin(of);
      const whats: string[] = [];
      for (;;) {
        const next = drainSteps(k, cfg, pa, op, by);
        if (next.length === 0) return { op, whats };
        next[0].apply(k, pa);
        whats.push(next[0].what);
        if (next[0].op === op) return { op, whats };
        op = next[0].op;
      }
    }

    it('moves the pcp pages to the zone under zone->lock, and leaves both locks free', () => {
      const k = kernel(2);
      const pa = pageAllocInit({ cpus: 2, zonePages: 0, pcpPages: 2 });
      const d = drain(k, pa, 0, 1);
      expect(d.whats).toEqual([
        'drain_pages_zone(cpu0): spin_lock(pcp->lock@cpu0)',
        'free_pcppages_bulk(): spin_lock_irqsave(zone->lock)',
        '2 page(s) to the zone; spin_unlock_irqrestore(zone->lock); spin_unlock(pcp->lock@cpu0)',
      ]);
      expect([pa.pcp, pa.zoneFree, d.op.pc]).toEqual([[0, 2], 2, 'done']);
      expect([holdersOf(k, 'pcp->lock@cpu0').length, holdersOf(k, ZONE_LOCK).length, k.splats.length]).toEqual([0, 0, 0]);
    });

    it('a remote drain holding the pcp lock makes the CPU\'s own allocation fail its trylock: lockless NULL, atomic to the zone', () => {
      const k = kernel(2);
      const pa = pageAllocInit({ cpus: 2, zonePages: 1, pcpPages: 1 });
      const [take] = drainSteps(k, NRT, pa, drainBegin(0), 1);
      take.apply(k, pa);
      expect(run(k, pa, 'lockless').whats).toEqual(['pcp_spin_trylock() fails (held by cpu1 task (t1))']);
      expect(run(k, pa, 'atomic').op.page).toBe(true);
    });

    it('with irqs on, an interrupt on the draining CPU finds the lock taken: the trylock is what keeps it from deadlocking', () => {
      const k = kernel(1);
      const pa = pageAllocInit({ cpus: 1, zonePages: 1, pcpPages: 1 });
      const [take] = drainSteps(k, NRT, pa, drainBegin(0), 0);
      take.apply(k, pa);
      expect(top(k, 0).irqsOff).toBe(false);
      interrupt(k, NRT, 0, 'hardirq', 'alloc');
      const r = run(k, pa, 'atomic');
      expect(r.whats[0]).toBe('pcp_spin_trylock() fails (held by cpu0 task (t0))');
      expect(r.op.page).toBe(true);
    });

    it('waits for the pcp lock an allocation holds; on RT the wait sleeps', () => {
      const k = kernel(2);
      const pa = pageAllocInit({ cpus: 2, zonePages: 0, pcpPages: 1 });
      const [held] = allocSteps(k, RT, pa, allocBegin('atomic', 0));
      held.apply(k, pa);
      const d = drain(k, pa, 0, 1, RT);
      expect(d.whats).toEqual(['drain_pages_zone(cpu0): spin_lock(pcp->lock@cpu0) waits (held by cpu0 task (t0))']);
      expect(top(k, 1).waiting).toBe('pcp->lock@cpu0');
      expect(drainSteps(k, RT, pa, d.op, 1)).toEqual([]);
    });
  });

  it('GFP_KERNEL with irqs off is a sleep in atomic context at the call', () => {
    const k = kernel();
    localIrqSave(k, 0);
    const r = run(k, pageAllocInit({ cpus: 1, zonePages: 0, pcpPages: 1 }), 'may-sleep');
    expect(r.k.splats.map((s) => s.kind)).toEqual(['sleep-in-atomic']);
    expect(r.k.splats[0].message).toMatch(/calls __get_free_page\(GFP_KERNEL\) while irqs disabled/);
  });
});
