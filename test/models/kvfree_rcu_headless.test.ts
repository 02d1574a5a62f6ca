import { describe, expect, it } from 'vitest';
import model from '../../models/kvfree_rcu_headless.ts';
import { expectDeclared, run, story } from './expect.ts';

describe('kvfree_rcu_headless', () => {
  for (const rt of [false, true]) {
    const config = rt ? 'RT' : '!RT';

    it(`sync-fallback-anywhere (${config}): the hardirq sleeps in synchronize_rcu() and its own grace period never ends`, () => {
      const params = { variant: 'sync-fallback-anywhere', rt };
      const o = run(model, params);
      expectDeclared(model, params, o);
      const sleep = ['cpu0: hardirq enters', 'cpu0: hardirq: kvfree_rcu(objB0): no array slot', 'cpu0: hardirq: synchronize_rcu()'];
      expect(story(o, 'no-sleep-in-atomic')).toEqual(sleep);
      expect(o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!.message).toBe(
        `BUG: sleeping function called from invalid context: cpu0 hardirq calls synchronize_rcu() while in hardirq; no locks held [${rt ? 'PREEMPT_RT' : '!PREEMPT_RT'}]`,
      );
      expect(story(o, 'synchronize-rcu-legal')).toEqual(sleep);
      // The reader on cpu1 blocks in its own section too; the grace period waits for both.
      expect(story(o, 'no-deadlock')).toEqual([...sleep, 'cpu1: rcu_read_lock()', 'cpu1: kvfree_rcu(objC0): no array slot', 'cpu1: synchronize_rcu()', 'rcu: grace period starts']);
      expect(o.stats.states).toBe(270);
    });
  }

  it('sync-fallback-anywhere without the hardirq: synchronize_rcu() inside the caller\'s own reader never returns', () => {
    const o = run(model, { variant: 'sync-fallback-anywhere', hardirqCaller: false });
    expect(story(o, 'synchronize-rcu-legal')).toEqual(['cpu1: rcu_read_lock()', 'cpu1: kvfree_rcu(objC0): no array slot', 'cpu1: synchronize_rcu()']);
    expect(o.properties.find((p) => p.name === 'synchronize-rcu-legal')!.violation!.message).toBe(
      "synchronize_rcu() inside cpu1/task1's own RCU reader (rcu_read_lock() depth 1): the grace period waits for the caller",
    );
    // Not a might_sleep() splat: a preemptible RCU reader may sleep, but not wait for its own grace period.
    expect(o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.verdict).toBe('holds');
    expect(story(o, 'no-deadlock')).toEqual([
      'cpu0: kvfree_rcu(objA0): no array slot',
      'cpu0: synchronize_rcu()',
      'cpu1: rcu_read_lock()',
      'cpu1: kvfree_rcu(objC0): no array slot',
      'cpu1: synchronize_rcu()',
      'rcu: grace period starts',
    ]);
  });

  for (const rt of [false, true])
    it(`mightsleep-only (${rt ? 'RT' : '!RT'}): headless only in sleepable context, atomic callers use their rcu_head`, () => {
      const params = { variant: 'mightsleep-only', rt };
      const o = run(model, params);
      expectDeclared(model, params, o);
      expect(o.verdict).toBe('holds');
      expect(o.stats.states).toBe(852);
    });

  it('atomic-wrapper (!RT): the wrapper allocation in a hardirq is an invalid wait context; a failed one leaks the object', () => {
    const params = { variant: 'atomic-wrapper', rt: false };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'wait-context')).toEqual([
      'cpu0: hardirq enters',
      'cpu0: hardirq: kvfree_rcu(objB0): no array slot',
      'cpu0: hardirq: kzalloc(wrapper, GFP_ATOMIC) → wrapperB0; call_rcu(wrapperB0)',
    ]);
    expect(o.properties.find((p) => p.name === 'wait-context')!.violation!.message).toMatch(/cpu0 hardirq is trying to lock n->list_lock \(spinlock_t\) \{CONFIG\} with spin_lock in a \{SPIN\} context \(non-threaded hardirq\)/);
    expect(story(o, 'no-leak-at-quiescence')).toEqual([
      'cpu0: hardirq enters',
      'cpu0: hardirq: kvfree_rcu(objB0): no array slot',
      'cpu0: hardirq: kzalloc(wrapper, GFP_ATOMIC) fails: return',
      'cpu0: hardirq exits',
      'cpu0: kvfree_rcu(objA0): no array slot',
      'cpu0: kzalloc(wrapper, GFP_ATOMIC) fails: return',
      'cpu0: returns',
      'cpu1: rcu_read_lock()',
      'cpu1: kvfree_rcu(objC0): no array slot',
      'cpu1: kzalloc(wrapper, GFP_ATOMIC) fails: return',
      'cpu1: rcu_read_unlock()',
    ]);
    expect(o.stats.states).toBe(2106);
  });

  it('atomic-wrapper (RT): kzalloc() with irqs off takes a sleeping spinlock_t, in the task too', () => {
    const params = { variant: 'atomic-wrapper', rt: true };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'no-sleep-in-atomic')).toEqual(['cpu0: kvfree_rcu(objA0): no array slot', 'cpu0: kzalloc(wrapper, GFP_ATOMIC) → wrapperA0; call_rcu(wrapperA0)']);
    expect(o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!.message).toBe(
      'BUG: sleeping function called from invalid context: cpu0 task (task0) calls rt_spin_lock(n->list_lock) while irqs disabled; no locks held [PREEMPT_RT]',
    );
    expect(o.stats.states).toBe(3180);
  });

  it('with a free array slot for each caller no fallback runs, and every variant holds', () => {
    for (const variant of ['sync-fallback-anywhere', 'mightsleep-only', 'atomic-wrapper']) expect(run(model, { variant, arrayPages: 3 }).verdict).toBe('holds');
  });
});
