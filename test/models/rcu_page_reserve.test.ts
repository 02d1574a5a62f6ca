import { describe, expect, it } from 'vitest';
import model from '../../models/rcu_page_reserve.ts';
import { expectDeclared, run, story } from './expect.ts';

const verdict = (o: ReturnType<typeof run>, name: string) => o.properties.find((p) => p.name === name)!.verdict;

describe('rcu_page_reserve', () => {
  it('reserve-only (!RT): pages beyond the reserve, then a synchronize_rcu() where the caller may not wait', () => {
    const params = { variant: 'reserve-only', rt: false };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(o.stats.states).toBe(13978);
    expect(story(o, 'memory-bounded')).toEqual([
      'cpu0: raw_spin_lock_irqsave(&some_lock)',
      'cpu0: kvfree_rcu(o00, rh): array page from the reserve',
      'cpu1: rcu_read_lock()',
      'cpu1: kvfree_rcu(o10, rh): reserve empty: __get_free_page(__GFP_NO_LOCKS)',
      'cpu1: pcp_spin_trylock()',
      'cpu1: page from pcp list; pcp_spin_unlock(); krc_this_cpu_lock(); o10 into a page beyond the reserve; krc_this_cpu_unlock()',
    ]);
    expect(o.properties.find((p) => p.name === 'memory-bounded')!.violation!.message).toBe(
      'the free path holds 1 page(s) beyond its preallocated reserve of 1 while the grace period has not ended: memory is needed to free memory',
    );
    // Under memory pressure the lockless allocation fails at once, and the reader waits for a
    // grace period that waits for it.
    const waits = [
      'cpu0: raw_spin_lock_irqsave(&some_lock)',
      'cpu0: kvfree_rcu(o00, rh): array page from the reserve',
      'cpu1: rcu_read_lock()',
      'cpu1: kvfree_rcu(o10, rh): reserve empty: __get_free_page(__GFP_NO_LOCKS)',
      'cpu1: NULL (memory pressure); no page anywhere: synchronize_rcu() until the reserve refills',
    ];
    expect(story(o, 'progress-without-memory')).toEqual(waits);
    expect(o.properties.find((p) => p.name === 'progress-without-memory')!.violation!.message).toBe(
      "cpu1's kvfree_rcu(o10, rh) waits for a grace period to give pages back: the reserve (1 page(s)) is empty and progress needs memory",
    );
    expect(story(o, 'synchronize-rcu-legal')).toEqual(waits);
    // Waiting is a sleep where the caller may not sleep: inside the PREEMPT_RCU reader (found
    // first: the reader needs no raw spinlock) as under the raw spinlock with irqs off.
    const sleep = o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!;
    expect(sleep.message).toMatch(
      /^BUG: sleeping function called from invalid context: cpu1 task \(task1\) calls synchronize_rcu\(\) while in an RCU read-side critical section \(rcu_preempt_depth\(\) 1\)/,
    );
    expect(sleep.trace.steps.at(-1)!.label).toBe(waits.at(-1));
    const irqsOff = run(model, { variant: 'reserve-only', cpus: 1, reserve: 0, pcpPages: 0 }).properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!;
    expect(irqsOff.message).toMatch(/^BUG: sleeping function called from invalid context: cpu0 task \(task0\) calls synchronize_rcu\(\) while irqs disabled/);
    expect(story(o, 'no-deadlock').at(-1)).toBe('rcu: grace period starts');
  });

  it('reserve-only (RT): the same on RT, call_rcu() cannot block there either', () => {
    const params = { variant: 'reserve-only', rt: true };
    expectDeclared(model, params, run(model, params));
  });

  it('reserve-only: no reserve size helps, and neither do the pages the allocator holds', () => {
    // Four calls before the grace period ends: a reserve of up to three pages runs out, a
    // page beyond it is taken while the pcp lists have them, and under memory pressure the
    // next caller waits, however many pages the pcp lists hold.
    for (const reserve of [0, 1, 2, 3]) {
      const o = run(model, { variant: 'reserve-only', reserve, pcpPages: 2 });
      expect(verdict(o, 'progress-without-memory')).toBe('violated');
      expect(verdict(o, 'memory-bounded')).toBe('violated');
    }
    // Two calls, two reserve pages: nothing beyond the reserve and nothing waits, in this
    // finite run only: one more call before the grace period ends would need a third page.
    const o = run(model, { variant: 'reserve-only', reserve: 2, calls: 1 });
    expect(o.verdict).toBe('holds');
  });

  it('admission-control: memory stays within the reserve, and a caller beyond the budget waits where it may not', () => {
    const params = { variant: 'admission-control', rt: false };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(verdict(o, 'memory-bounded')).toBe('holds');
    expect(story(o, 'progress-without-memory')).toEqual([
      'cpu0: raw_spin_lock_irqsave(&some_lock)',
      'cpu0: kvfree_rcu(o00, rh): array page from the reserve',
      'cpu1: rcu_read_lock()',
      'cpu1: kvfree_rcu(o10, rh): reserve empty: not admitted; synchronize_rcu() until a grace period gives a page back',
    ]);
    // Not admitted, the reader waits for the grace period its own reader holds up.
    expect(story(o, 'synchronize-rcu-legal').at(-1)).toBe('cpu1: kvfree_rcu(o10, rh): reserve empty: not admitted; synchronize_rcu() until a grace period gives a page back');
    expect(o.stats.states).toBe(717);
  });

  it('lockless-page-fallback: progress needs no memory, but the free path takes pages while they are there', () => {
    for (const rt of [false, true]) {
      const params = { variant: 'lockless-page-fallback', rt };
      const o = run(model, params);
      expectDeclared(model, params, o);
      expect(o.stats.states).toBe(54144);
    }
    // With no page on any pcp list nothing is taken beyond the reserve, and every property holds.
    expect(run(model, { variant: 'lockless-page-fallback', pcpPages: 0 }).verdict).toBe('holds');
  });

  it('v5.10: GFP_NOWAIT under the raw krcp->lock reaches zone->lock (Invalid wait context); on RT it never allocates', () => {
    const o = run(model, { variant: 'v5.10', rt: false });
    expectDeclared(model, { variant: 'v5.10', rt: false }, o);
    expect(o.stats.states).toBe(68604);
    expect(story(o, 'wait-context').slice(-4)).toEqual([
      'cpu1: kvfree_rcu(o11, rh): reserve empty: __get_free_page(GFP_NOWAIT) under krcp->lock',
      'cpu1: pcp_spin_trylock()',
      'cpu1: pcp list empty; pcp_spin_unlock()',
      'cpu1: spin_lock_irqsave(zone->lock)',
    ]);
    expect(o.properties.find((p) => p.name === 'wait-context')!.violation!.message).toMatch(
      /^BUG: Invalid wait context: cpu1 task \(task1\) is trying to lock zone->lock \(spinlock_t\) \{CONFIG\} with spin_lock_irqsave in a \{SPIN\} context \(krcp->lock@cpu1 \(raw_spinlock_t\) held\)/,
    );
    // The NULL path is the rcu_head: it never waits.
    expect(verdict(o, 'progress-without-memory')).toBe('holds');
    const rt = run(model, { variant: 'v5.10', rt: true });
    expectDeclared(model, { variant: 'v5.10', rt: true }, rt);
    expect(rt.stats.states).toBe(run(model, { variant: 'rcu-head-fallback', rt: true }).stats.states);
  });

  for (const rt of [false, true])
    it(`rcu-head-fallback (${rt ? 'RT' : '!RT'}): nothing beyond the reserve, nothing waits`, () => {
      const params = { variant: 'rcu-head-fallback', rt };
      const o = run(model, params);
      expectDeclared(model, params, o);
      expect(o.verdict).toBe('holds');
      expect(o.stats.states).toBe(9253);
    });
});
