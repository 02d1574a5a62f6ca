import { describe, expect, it } from 'vitest';
import model from '../../models/rcu_page_reserve.ts';
import { expectDeclared, run, story } from './expect.ts';

const verdict = (o: ReturnType<typeof run>, name: string) => o.properties.find((p) => p.name === name)!.verdict;

describe('rcu_page_reserve', () => {
  it('reserve-only (!RT): pages beyond the reserve, then a synchronize_rcu() where the caller may not wait', () => {
    const params = { variant: 'reserve-only', rt: false };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(o.stats.states).toBe(11278);
    expect(story(o, 'bounded-emergency-fallback')).toEqual([
      'cpu0: raw_spin_lock_irqsave(&some_lock)',
      'cpu0: kvfree_rcu(o00, rh): array page from the reserve',
      'cpu0: raw_spin_unlock_irqrestore(&some_lock)',
      'cpu0: raw_spin_lock_irqsave(&some_lock)',
      'cpu0: kvfree_rcu(o01, rh): reserve empty: __get_free_page(__GFP_NO_LOCKS)',
      'cpu0: pcp_spin_trylock()',
      'cpu0: page from pcp list; pcp_spin_unlock(); krc_this_cpu_lock(); o01 into a page beyond the reserve; krc_this_cpu_unlock()',
      'cpu1: rcu_read_lock()',
      'cpu1: kvfree_rcu(o10, rh): reserve empty: __get_free_page(__GFP_NO_LOCKS)',
      'cpu1: pcp_spin_trylock()',
      'cpu1: page from pcp list; pcp_spin_unlock(); krc_this_cpu_lock(); o10 into a page beyond the reserve; krc_this_cpu_unlock()',
    ]);
    expect(o.properties.find((p) => p.name === 'bounded-emergency-fallback')!.violation!.message).toBe(
      'the free path holds 2 page(s) beyond its reserve of 1 (fallbackBound 1): memory is needed to free memory while the grace period has not ended',
    );
    // The reader runs out of pages and waits for a grace period that waits for it.
    expect(story(o, 'synchronize-rcu-legal').slice(-3)).toEqual([
      'cpu1: kvfree_rcu(o11, rh): reserve empty: __get_free_page(__GFP_NO_LOCKS)',
      'cpu1: pcp_spin_trylock()',
      'cpu1: pcp list empty: NULL; no page anywhere: synchronize_rcu() until the reserve refills',
    ]);
    // Waiting is a sleep where the caller may not sleep: inside the PREEMPT_RCU reader (found
    // first: the reader needs no raw spinlock) as under the raw spinlock with irqs off.
    const sleep = o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!;
    expect(sleep.message).toMatch(
      /^BUG: sleeping function called from invalid context: cpu1 task \(task1\) calls synchronize_rcu\(\) while in an RCU read-side critical section \(rcu_preempt_depth\(\) 1\)/,
    );
    expect(sleep.trace.steps.at(-1)!.label).toBe('cpu1: pcp list empty: NULL; no page anywhere: synchronize_rcu() until the reserve refills');
    const irqsOff = run(model, { variant: 'reserve-only', cpus: 1, reserve: 0, pcpPages: 0 }).properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!;
    expect(irqsOff.message).toMatch(/^BUG: sleeping function called from invalid context: cpu0 task \(task0\) calls synchronize_rcu\(\) while irqs disabled/);
    expect(story(o, 'no-deadlock').at(-1)).toBe('rcu: grace period starts');
  });

  it('reserve-only (RT): the same on RT, call_rcu() cannot block there either', () => {
    const params = { variant: 'reserve-only', rt: true };
    expectDeclared(model, params, run(model, params));
  });

  it('reserve-only: no reserve size bounds it, the pages needed grow with the calls made before a grace period ends', () => {
    // Four calls before the grace period ends need four pages: a reserve of three is one short.
    expect(verdict(run(model, { variant: 'reserve-only', reserve: 3, fallbackBound: 0 }), 'bounded-emergency-fallback')).toBe('violated');
    // With as many reserve pages as calls it holds this run, but only because the run is finite.
    const o = run(model, { variant: 'reserve-only', reserve: 2, calls: 1, fallbackBound: 0 });
    expect(verdict(o, 'bounded-emergency-fallback')).toBe('holds');
    expect(o.verdict).toBe('holds');
  });

  for (const rt of [false, true])
    it(`rcu-head-fallback (${rt ? 'RT' : '!RT'}): nothing beyond the reserve, nothing waits`, () => {
      const params = { variant: 'rcu-head-fallback', rt };
      const o = run(model, params);
      expectDeclared(model, params, o);
      expect(o.verdict).toBe('holds');
      expect(o.stats.states).toBe(9253);
      // Not one page beyond the reserve, in any interleaving.
      if (!rt) expect(run(model, { ...params, fallbackBound: 0 }).verdict).toBe('holds');
    });
});
