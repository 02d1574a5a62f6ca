import { describe, expect, it } from 'vitest';
import model from '../../models/kvfree_rcu_headless.ts';
import { expectDeclared, run, story, verdicts } from './expect.ts';

describe('kvfree_rcu_headless', () => {
  for (const rt of [false, true]) {
    const config = rt ? 'RT' : '!RT';
    const preemption = rt ? 'rt' : 'full';

    it(`sync-fallback-anywhere (${config}): the hardirq sleeps in synchronize_rcu() and its own grace period never ends`, () => {
      const params = { variant: 'sync-fallback-anywhere', preemption };
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
      // 288 once might_sleep() counted rcu_preempt_depth() (the reader's synchronize_rcu() splats too),
      // back to 270 with splats a set: the hardirq's and the reader's splats in either order are one state.
      expect(o.stats.states).toBe(270);
    });
  }

  it('sync-fallback-anywhere without the hardirq: synchronize_rcu() inside the caller\'s own reader never returns', () => {
    const o = run(model, { variant: 'sync-fallback-anywhere', hardirqCaller: false });
    expect(story(o, 'synchronize-rcu-legal')).toEqual(['cpu1: rcu_read_lock()', 'cpu1: kvfree_rcu(objC0): no array slot', 'cpu1: synchronize_rcu()']);
    expect(o.properties.find((p) => p.name === 'synchronize-rcu-legal')!.violation!.message).toBe(
      "synchronize_rcu() inside cpu1/task1's own RCU reader (rcu_read_lock() depth 1): the grace period waits for the caller",
    );
    // A PREEMPT_RCU reader may be preempted but not block: might_sleep() counts rcu_preempt_depth().
    expect(o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!.message).toBe(
      'BUG: sleeping function called from invalid context: cpu1 task (task1) calls synchronize_rcu() while in an RCU read-side critical section (rcu_preempt_depth() 1); no locks held [!PREEMPT_RT]',
    );
    expect(story(o, 'no-deadlock')).toEqual([
      'cpu0: kvfree_rcu(objA0): no array slot',
      'cpu0: synchronize_rcu()',
      'cpu1: rcu_read_lock()',
      'cpu1: kvfree_rcu(objC0): no array slot',
      'cpu1: synchronize_rcu()',
      'rcu: grace period starts',
    ]);
  });

  for (const preemption of ['full', 'rt'])
    it(`mightsleep-only (${preemption}): headless only in sleepable context, atomic callers use their rcu_head`, () => {
      const params = { variant: 'mightsleep-only', preemption };
      const o = run(model, params);
      expectDeclared(model, params, o);
      expect(o.verdict).toBe('holds');
      expect(o.stats.states).toBe(852);
    });

  it("mightsleep-only: kvfree_rcu_mightsleep()'s might_sleep() catches a reader that misuses it, even when a slot is free", () => {
    for (const preemption of ['full', 'none']) {
      const o = run(model, { variant: 'mightsleep-only', readerHeadless: true, arrayPages: 3, hardirqCaller: false, preemption });
      expect(story(o, 'no-sleep-in-atomic')).toEqual(['cpu1: rcu_read_lock()', 'cpu1: kvfree_rcu(objC0): pointer into the array']);
      expect(o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!.message).toMatch(
        preemption === 'full'
          ? /calls kvfree_rcu_mightsleep\(\) while in an RCU read-side critical section \(rcu_preempt_depth\(\) 1\)/
          : /calls kvfree_rcu_mightsleep\(\) while in rcu_read_lock\(\) \(preempt_disable\(\) on !PREEMPT_RCU\)/,
      );
    }
    expect(run(model, { variant: 'mightsleep-only', arrayPages: 3, hardirqCaller: false }).verdict).toBe('holds');
  });

  it('atomic-wrapper (!RT): the wrapper allocation in a hardirq is an invalid wait context; a failed one leaks the object', () => {
    const params = { variant: 'atomic-wrapper', preemption: 'full' };
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
      'cpu0: hardirq: irq_exit()',
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
    const params = { variant: 'atomic-wrapper', preemption: 'rt' };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'no-sleep-in-atomic')).toEqual(['cpu0: kvfree_rcu(objA0): no array slot', 'cpu0: kzalloc(wrapper, GFP_ATOMIC) → wrapperA0; call_rcu(wrapperA0)']);
    expect(o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!.message).toBe(
      'BUG: sleeping function called from invalid context: cpu0 task (task0) calls rt_spin_lock(n->list_lock) while irqs disabled; no locks held [PREEMPT_RT]',
    );
    // 3180 while splats were a list in the order they were printed.
    expect(o.stats.states).toBe(2106);
  });

  it('with a free array slot for each caller no fallback runs, and every variant holds', () => {
    for (const variant of ['sync-fallback-anywhere', 'mightsleep-only', 'atomic-wrapper', 'context-check', 'tree-wrapper']) expect(run(model, { variant, arrayPages: 3 }).verdict).toBe('holds');
  });

  describe("context-check: Joel's !preemptible() || rcu_preempt_depth() against Vlad's in_atomic()", () => {
    // Only the task and the reader: the hardirq's wrapper failures are the atomic-wrapper story.
    const callers = { variant: 'context-check', hardirqCaller: false };
    const sync = (o: ReturnType<typeof run>) => o.properties.find((p) => p.name === 'synchronize-rcu-legal')!;
    // What fails when the check is right: the reader's GFP_ATOMIC wrapper can fail, and then the object is lost.
    const violatedOf = (o: ReturnType<typeof run>) =>
      Object.entries(verdicts(o))
        .filter(([, v]) => v === 'violated')
        .map(([k]) => k);

    it('under PREEMPT the reader passes in_atomic() and calls synchronize_rcu() inside its own section', () => {
      const o = run(model, { ...callers, check: 'in-atomic' });
      expect(story(o, 'synchronize-rcu-legal')).toEqual(['cpu1: rcu_read_lock()', 'cpu1: kvfree_rcu(objC0): no array slot', 'cpu1: in_atomic() 0: synchronize_rcu()']);
      expect(story(o, 'no-deadlock').at(-1)).toBe('rcu: grace period starts');
    });

    it('"Vlad is correct for CONFIG_PREEMPT=n and CONFIG_DEBUG_ATOMIC_SLEEP=y": there in_atomic() sees the reader', () => {
      const o = run(model, { ...callers, check: 'in-atomic', preemption: 'none' });
      expect(violatedOf(o)).toEqual(['no-leak-at-quiescence']);
      // Without PREEMPT_COUNT (no DEBUG_ATOMIC_SLEEP) it is blind again, and the reader is atomic besides.
      const blind = run(model, { ...callers, check: 'in-atomic', preemption: 'none', preemptCount: false });
      expect(sync(blind).violation!.message).toBe(
        "synchronize_rcu() in atomic context (cpu1/task1: in rcu_read_lock() (preempt_disable() on !PREEMPT_RCU)): it sleeps",
      );
    });

    it('"and Joel is correct otherwise": his check holds under every preemption model', () => {
      for (const [preemption, preemptCount] of [['none', true], ['none', false], ['voluntary', true], ['full', true], ['rt', true]] as const) {
        const o = run(model, { ...callers, preemption, preemptCount });
        expect([preemption, preemptCount, violatedOf(o)]).toEqual([preemption, preemptCount, ['no-leak-at-quiescence']]);
      }
    });

    it('the label shows what the check read', () => {
      const o = run(model, { ...callers, check: 'preemptible-and-nesting', hardirqCaller: true, readerCaller: false, taskCaller: false });
      expect(story(o, 'wait-context')).toEqual([
        'cpu0: hardirq enters',
        'cpu0: hardirq: kvfree_rcu(objB0): no array slot',
        'cpu0: hardirq: preemptible() 0, rcu_preempt_depth() 0: kzalloc(wrapper, GFP_ATOMIC) → wrapperB0; call_rcu(wrapperB0)',
      ]);
    });

    it('a configuration Kconfig cannot produce is a model error naming the option', () => {
      expect(() => run(model, { ...callers, preemption: 'full', preemptCount: false })).toThrow(/preemptCount: false is impossible with preemption 'full': PREEMPTION selects PREEMPT_COUNT/);
    });
  });

  describe("tree-wrapper: Joel's wrapper grown inside kfree_call_rcu(), under krcp->lock", () => {
    const solo = { variant: 'tree-wrapper', hardirqCaller: false, readerCaller: false };
    it('GFP_KERNEL as written: might_sleep() and the slab\'s spinlock_t under a raw spinlock with irqs off', () => {
      const o = run(model, solo);
      expect(story(o, 'no-sleep-in-atomic')).toEqual([
        'cpu0: kvfree_rcu(objA0): no array slot',
        'cpu0: kzalloc(wrapper, GFP_KERNEL) → wrapperA0; rcu_head onto krcp->head; krc_this_cpu_unlock()',
      ]);
      expect(o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!.message).toMatch(
        /^BUG: sleeping function called from invalid context: cpu0 task \(task0\) calls kzalloc\(GFP_KERNEL\) while irqs disabled, preemption disabled \(preempt_count 1\); #0: krcp->lock@cpu0 \(raw_spinlock_t\)/,
      );
      expect(o.properties.find((p) => p.name === 'wait-context')!.violation!.message).toMatch(/is trying to lock n->list_lock \(spinlock_t\) \{CONFIG\} with spin_lock in a \{SPIN\} context \(krcp->lock@cpu0 \(raw_spinlock_t\) held\)/);
      // When kzalloc() fails: synchronize_rcu() under the lock, with irqs off, never returns.
      expect(story(o, 'synchronize-rcu-legal')).toEqual(['cpu0: kvfree_rcu(objA0): no array slot', 'cpu0: kzalloc(wrapper, GFP_KERNEL) fails: synchronize_rcu() under krcp->lock']);
      expect(verdicts(o)['no-deadlock']).toBe('violated');
    });

    it('GFP_ATOMIC as he proposes next: no might_sleep() from the allocation, the same wait context, the same hang when it fails', () => {
      const o = run(model, { ...solo, gfp: 'GFP_ATOMIC' });
      const sleep = o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!;
      expect(sleep.message).toMatch(/calls synchronize_rcu\(\) while irqs disabled/);
      expect(sleep.trace.steps.at(-1)!.label).toBe('cpu0: kzalloc(wrapper, GFP_ATOMIC) fails: synchronize_rcu() under krcp->lock');
      expect(verdicts(o)['wait-context']).toBe('violated');
      // With a free array slot nothing of this runs.
      expect(run(model, { ...solo, gfp: 'GFP_ATOMIC', arrayPages: 1 }).verdict).toBe('holds');
    });
  });

  describe('TINY_RCU (smp=false, PREEMPT_NONE): the kernel the atomic wrapper was proposed for', () => {
    const up = { smp: false, preemption: 'none', readerCaller: false };
    it('atomic-wrapper: the same two faults as on tree RCU, on the one CPU', () => {
      const params = { ...up, variant: 'atomic-wrapper' };
      const o = run(model, params);
      expectDeclared(model, params, o);
      expect(o.properties.find((p) => p.name === 'wait-context')!.violation!.message).toBe(
        'BUG: Invalid wait context: cpu0 hardirq is trying to lock n->list_lock (spinlock_t) {CONFIG} with spin_lock in a {SPIN} context (non-threaded hardirq); no locks held [PREEMPT_NONE, !SMP, TINY_RCU]',
      );
      expect(o.stats.states).toBe(144);
    });

    it("sync-fallback-anywhere: TINY_RCU's synchronize_rcu() returns at once in the hardirq: illegal, but no splat and no hang", () => {
      const params = { ...up, variant: 'sync-fallback-anywhere' };
      const o = run(model, params);
      expectDeclared(model, params, o);
      expect(story(o, 'synchronize-rcu-legal')).toEqual(['cpu0: hardirq enters', 'cpu0: hardirq: kvfree_rcu(objB0): no array slot', 'cpu0: hardirq: synchronize_rcu()']);
      expect(o.properties.find((p) => p.name === 'synchronize-rcu-legal')!.violation!.message).toBe(
        'synchronize_rcu() in atomic context (cpu0/hardirq: in hardirq): on TINY_RCU it returns at once, inside a reader',
      );
      // On an SMP PREEMPT_NONE kernel the same call splats and its grace period never ends.
      const smp = verdicts(run(model, { variant: 'sync-fallback-anywhere', preemption: 'none', readerCaller: false }));
      expect([smp['no-sleep-in-atomic'], smp['no-deadlock']]).toEqual(['violated', 'violated']);
    });

    it("the reader as cpu0's second task: without PREEMPT_COUNT its in_atomic() is 0, and its synchronize_rcu() inside its own section returns at once", () => {
      const params = { smp: false, preemption: 'none', variant: 'context-check', check: 'in-atomic', preemptCount: false };
      const o = run(model, params);
      expectDeclared(model, params, o);
      expect(story(o, 'synchronize-rcu-legal')).toEqual([
        'cpu0: task0: kvfree_rcu(objA0): no array slot',
        'cpu0: task0: in_atomic() 0: synchronize_rcu()',
        'cpu0: task0: synchronize_rcu() returns',
        'cpu0: task0: kvfree(objA0)',
        'cpu0: task0: returns',
        'cpu0: task0 is done; task1 runs',
        'cpu0: task1: rcu_read_lock()',
        'cpu0: task1: kvfree_rcu(objC0): no array slot',
        'cpu0: task1: in_atomic() 0: synchronize_rcu()',
      ]);
      // With PREEMPT_COUNT the same reader sees in_atomic() 1 and takes the wrapper.
      expect(verdicts(run(model, { ...params, preemptCount: true }))['synchronize-rcu-legal']).toBe('holds');
    });

    it('on a UP PREEMPT kernel (tree RCU) both tasks end asleep in synchronize_rcu(), the reader inside its own section', () => {
      const o = run(model, { smp: false, preemption: 'full', variant: 'sync-fallback-anywhere', hardirqCaller: false });
      expect(story(o, 'grace-periods-end')).toEqual([
        'cpu0: task0: kvfree_rcu(objA0): no array slot',
        'cpu0: task0: synchronize_rcu()',
        'cpu0: task0 sleeps in synchronize_rcu(); task1 runs',
        'cpu0: task1: rcu_read_lock()',
        'cpu0: task1: kvfree_rcu(objC0): no array slot',
        'cpu0: task1: synchronize_rcu()',
        'rcu: grace period starts',
      ]);
      expect(o.properties.find((p) => p.name === 'grace-periods-end')!.violation!.message).toMatch(/stays in state 7 forever/);
    });
  });
});
