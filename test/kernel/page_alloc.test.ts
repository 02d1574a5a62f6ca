import { describe, expect, it } from 'vitest';
import { allocBegin, allocSteps, freePage, pageAllocInit, type AllocMode, type AllocOp, type AllocStep, type PageAlloc } from '../../src/kernel/page_alloc.ts';

/** Steps an allocation alone to the end (or until it blocks); returns the steps taken. */
function run(pa: PageAlloc, mode: AllocMode, ctx = 'cpu0/task', cpu = 0): { pa: PageAlloc; op: AllocOp; steps: AllocStep[] } {
  let op = allocBegin(mode, cpu);
  const steps: AllocStep[] = [];
  for (;;) {
    const next = allocSteps(pa, op, ctx);
    if (next.length === 0) return { pa, op, steps };
    expect(next).toHaveLength(1);
    steps.push(next[0]);
    pa = next[0].pa;
    op = next[0].op;
  }
}

describe('page allocator', () => {
  it('serves from the pcp list under its trylock', () => {
    const r = run(pageAllocInit({ cpus: 1, zonePages: 0, pcpPages: 1 }), 'atomic');
    expect(r.steps.map((s) => s.what)).toEqual(['pcp_spin_trylock()', 'page from pcp list']);
    expect(r.op.page).toBe(true);
    expect(r.pa.pcp.get(0)).toBe(0);
    expect(r.pa.pcpLock.get(0)).toBeNull();
  });
  it('an atomic allocation falls through to zone->lock and returns NULL when the zone is empty', () => {
    const r = run(pageAllocInit({ cpus: 1, zonePages: 0 }), 'atomic');
    expect(r.steps.map((s) => s.what)).toEqual(['pcp_spin_trylock()', 'pcp list empty', 'spin_lock(zone->lock)', 'zone empty: NULL']);
    expect(r.steps.map((s) => s.event)).toEqual(['pcp-trylock', undefined, 'zone-lock', undefined]);
    expect(r.op.pc).toBe('done');
    expect(r.op.page).toBe(false);
    expect(r.pa.zoneLock).toBeNull();
  });
  it('a lockless-only allocation never touches zone->lock, whatever the pcp and zone hold', () => {
    for (const pcpPages of [0, 1])
      for (const zonePages of [0, 1]) {
        const r = run(pageAllocInit({ cpus: 1, zonePages, pcpPages }), 'lockless');
        expect(r.steps.some((s) => s.event === 'zone-lock' || /zone/.test(s.what))).toBe(false);
        expect(r.op.page).toBe(pcpPages > 0);
        expect(r.pa.zoneFree).toBe(zonePages);
      }
  });
  it('trylock failure: lockless returns NULL, atomic falls back to zone->lock', () => {
    // cpu0's task holds the pcp lock (it is between trylock and take) when a hardirq allocates.
    const held = allocSteps(pageAllocInit({ cpus: 1, zonePages: 1, pcpPages: 1 }), allocBegin('atomic', 0), 'cpu0/task')[0].pa;
    expect(held.pcpLock.get(0)).toBe('cpu0/task');
    const lockless = run(held, 'lockless', 'cpu0/hardirq');
    expect(lockless.steps.map((s) => s.what)).toEqual(['pcp_spin_trylock() fails (held by cpu0/task)']);
    expect(lockless.op.page).toBe(false);
    const atomic = run(held, 'atomic', 'cpu0/hardirq');
    expect(atomic.steps.map((s) => s.what)).toEqual(['pcp_spin_trylock() fails (held by cpu0/task)', 'spin_lock(zone->lock)', 'page from zone']);
    expect(atomic.op.page).toBe(true);
  });
  it('blocks on a held zone->lock', () => {
    const pa = pageAllocInit({ cpus: 2, zonePages: 1 }).set('zoneLock', 'cpu1/task');
    const r = run(pa, 'atomic');
    expect(r.op.pc).toBe('zone-lock');
    expect(r.steps.map((s) => s.what)).toEqual(['pcp_spin_trylock()', 'pcp list empty']);
  });
  it('a may-sleep allocation sleeps in reclaim on an empty zone and wakes when a page is freed', () => {
    const r = run(pageAllocInit({ cpus: 1, zonePages: 0 }), 'may-sleep');
    expect(r.op.pc).toBe('reclaim');
    expect(r.steps.at(-1)).toMatchObject({ what: 'zone empty: reclaim (sleeps)', event: 'sleep' });
    const woke = allocSteps(freePage(r.pa), r.op, 'cpu0/task');
    expect(woke.map((s) => s.what)).toEqual(['reclaim wakes']);
  });
});
