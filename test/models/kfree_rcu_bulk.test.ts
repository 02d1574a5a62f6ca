import { describe, expect, it } from 'vitest';
import model from '../../models/kfree_rcu_bulk.ts';
import { anyModel, explore } from '../../src/index.ts';
import { defaultParams } from '../../src/core/params.ts';
import { expectDeclared, run, story, verdicts } from './expect.ts';

const INTO_ZONE = [
  'cpu0: kfree_rcu(o00): krc_this_cpu_lock()',
  'cpu0: no room: __get_free_page(GFP_NOWAIT)',
  'cpu0: pcp_spin_trylock()',
  'cpu0: pcp list empty; pcp_spin_unlock()',
  'cpu0: spin_lock_irqsave(zone->lock)',
];

/** The smallest latencyBound under which latency-bound holds: the model's worst non-preemptible stretch. */
function worstStretch(params: Record<string, unknown>, guess: number): number {
  const at = (b: number) => run(model, { ...params, latencyBound: b }).properties.find((p) => p.name === 'latency-bound')!.verdict;
  expect(at(guess - 1)).toBe('violated');
  expect(at(guess)).toBe('holds');
  return guess;
}

describe('kfree_rcu_bulk', () => {
  it('nowait-under-raw (!RT): GFP_NOWAIT under the raw krcp->lock takes zone->lock: Invalid wait context', () => {
    const params = { variant: 'nowait-under-raw', rt: false };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'wait-context')).toEqual(INTO_ZONE);
    expect(o.properties.find((p) => p.name === 'wait-context')!.violation!.message).toBe(
      'BUG: Invalid wait context: cpu0 task (caller) is trying to lock zone->lock (spinlock_t) {CONFIG} with spin_lock_irqsave in a {SPIN} context ' +
        '(krcp->lock@cpu0 (raw_spinlock_t) held); #0: krcp->lock@cpu0 (raw_spinlock_t) {SPIN} held by cpu0 task (caller) [!PREEMPT_RT]',
    );
    // 233 before the layer derived implied RCU readers: a grace period now waits for a CPU inside
    // krcp->lock or zone->lock (preemption and irqs off), which tells more states apart.
    // 239 while splats were a list in the order they were printed.
    expect(o.stats.states).toBe(230);
  });

  it('nowait-under-raw (RT): the sleeping zone->lock under a raw lock with irqs off is also a sleep in atomic context', () => {
    const params = { variant: 'nowait-under-raw', rt: true };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'wait-context')).toEqual(INTO_ZONE);
    expect(story(o, 'no-sleep-in-atomic')).toEqual(INTO_ZONE);
    expect(o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!.message).toMatch(
      /^BUG: sleeping function called from invalid context: cpu0 task \(caller\) calls rt_spin_lock\(zone->lock\) while irqs disabled, preemption disabled/,
    );
  });

  for (const rt of [false, true])
    it(`raw-zone-lock (${rt ? 'RT' : '!RT'}): no nesting bug, but the zone section runs inside the irq-off krcp section`, () => {
      const params = { variant: 'raw-zone-lock', rt };
      const o = run(model, params);
      expectDeclared(model, params, o);
      expect(story(o, 'latency-bound')).toEqual(INTO_ZONE);
      expect(o.properties.find((p) => p.name === 'latency-bound')!.violation!.message).toBe(
        'cpu0 has been non-preemptible for more than 4 steps (latencyBound): irqs disabled, preemption disabled (preempt_count 2); ' +
          'holding krcp->lock@cpu0 (raw_spinlock_t), zone->lock (raw_spinlock_t)',
      );
      expect(o.stats.states).toBe(230);
    });

  it('raw-zone-lock: the worst stretch is a CPU spinning with irqs off on the other CPU\'s raw zone->lock section', () => {
    const o = run(model, { variant: 'raw-zone-lock', rt: true, latencyBound: 8 });
    expect(story(o, 'latency-bound')).toEqual([
      ...INTO_ZONE,
      'cpu1: kfree_rcu(o10): krc_this_cpu_lock()',
      'cpu1: no room: __get_free_page(GFP_NOWAIT)',
      'cpu1: pcp_spin_trylock()',
      'cpu1: pcp list empty; pcp_spin_unlock()',
      'cpu1: spin_lock_irqsave(zone->lock) waits (held by cpu0 task (caller))',
      'cpu0: rmqueue_bulk() under zone->lock (1/2)',
      'cpu0: page from zone; spin_unlock_irqrestore(zone->lock); o00 into the new array',
      'cpu1: spin_lock_irqsave(zone->lock)',
      'cpu1: rmqueue_bulk() under zone->lock (1/2)',
      "cpu1: zone empty: NULL; o10's rcu_head onto krcp->head",
    ]);
  });

  it('worst non-preemptible stretch in steps: raw-zone-lock 9, the merged fix 4 on !RT and 2 on RT', () => {
    expect(worstStretch({ variant: 'raw-zone-lock', rt: true }, 9)).toBe(9);
    expect(worstStretch({ variant: 'raw-zone-lock', rt: false }, 9)).toBe(9);
    expect(worstStretch({ variant: 'no-locks-gfp', rt: true }, 4)).toBe(4);
    // On !RT the kworker's zone->lock section spins with irqs off, as every spinlock_t does there.
    expect(worstStretch({ variant: 'workqueue-refill', rt: false }, 4)).toBe(4);
    // On RT only the short krcp section is non-preemptible.
    expect(worstStretch({ variant: 'workqueue-refill', rt: true }, 2)).toBe(2);
    // A longer zone->lock section costs option A one step per step of the section, twice (holder and spinner).
    expect(worstStretch({ variant: 'raw-zone-lock', rt: true, zoneHoldSteps: 3 }, 11)).toBe(11);
  });

  it("rt-atomic-gfp, Michal's option B: bails out on RT, where the caller under krcp->lock is never preemptible; on !RT it is GFP_NOWAIT, and lockdep still complains", () => {
    const nonRt = run(model, { variant: 'rt-atomic-gfp', rt: false });
    expectDeclared(model, { variant: 'rt-atomic-gfp', rt: false }, nonRt);
    expect(story(nonRt, 'wait-context')).toEqual(INTO_ZONE);
    const onRt = run(model, { variant: 'rt-atomic-gfp', rt: true });
    expectDeclared(model, { variant: 'rt-atomic-gfp', rt: true }, onRt);
    expect(onRt.verdict).toBe('holds');
    // (had it taken GFP_NOWAIT there, zone->lock would be a sleeping lock in atomic context)
    expect(onRt.stats.states).toBe(71);
  });

  it("option A's cost is systemic: with no kfree_rcu() at all, a raw zone->lock keeps every page allocator user non-preemptible, on RT too", () => {
    const users = { users: 'page-alloc' };
    // each user's zone section plus its wait for the other CPU's, with irqs off
    expect(worstStretch({ ...users, variant: 'raw-zone-lock', rt: true }, 4)).toBe(4);
    expect(worstStretch({ ...users, variant: 'raw-zone-lock', rt: false }, 4)).toBe(4);
    // upstream's spinlock_t: the same spin on !RT, a sleeping lock on RT
    expect(worstStretch({ ...users, variant: 'workqueue-refill', rt: false }, 4)).toBe(4);
    const latency = (params: Record<string, unknown>) => run(model, params).properties.find((p) => p.name === 'latency-bound')!.verdict;
    // (1 is the smallest bound there is)
    expect(latency({ ...users, variant: 'workqueue-refill', rt: true, latencyBound: 1 })).toBe('holds');
    // the longer the zone section, the longer every user's stretch on RT with a raw lock only
    expect(worstStretch({ ...users, variant: 'raw-zone-lock', rt: true, zoneHoldSteps: 3 }, 6)).toBe(6);
    expect(latency({ ...users, variant: 'workqueue-refill', rt: true, zoneHoldSteps: 3, latencyBound: 1 })).toBe('holds');
    for (const variant of ['raw-zone-lock', 'workqueue-refill'])
      for (const rt of [false, true]) {
        const params = { ...users, variant, rt, latencyBound: 2 };
        expectDeclared(model, params, run(model, params));
      }
    const v = run(model, { ...users, variant: 'raw-zone-lock', rt: true, latencyBound: 2 }).properties.find((p) => p.name === 'latency-bound')!.violation!;
    expect(v.message).toMatch(/^cpu[01] has been non-preemptible for more than 2 steps \(latencyBound\): .*; holding zone->lock \(raw_spinlock_t\)$|^cpu[01] has been non-preemptible for more than 2 steps \(latencyBound\): irqs disabled/);
    expect(v.trace.steps.map((x) => x.label).some((l) => l.includes('kfree_rcu'))).toBe(false);
    expect(() => run(model, { ...users, context: 'hardirq' })).toThrow(/users=page-alloc: the page allocator users are tasks, and context is hardirq; leave context at task/);
  });

  for (const rt of [false, true])
    it(`no-locks-gfp (${rt ? 'RT' : '!RT'}): pcp trylock only; NULL sends the object down the rcu_head channel`, () => {
      const params = { variant: 'no-locks-gfp', rt };
      const o = run(model, params);
      expectDeclared(model, params, o);
      expect(o.verdict).toBe('holds');
      expect(o.stats.states).toBe(111);
      // With pages on the pcp lists the lockless allocation succeeds and still never takes zone->lock.
      expect(run(model, { ...params, pcpPages: 1, calls: 2 }).verdict).toBe('holds');
    });

  for (const rt of [false, true])
    it(`workqueue-refill (${rt ? 'RT' : '!RT'}): no allocation under the raw lock; the kworker refills the cache where it may sleep`, () => {
      const params = { variant: 'workqueue-refill', rt };
      const o = run(model, params);
      expectDeclared(model, params, o);
      expect(o.verdict).toBe('holds');
      // !RT: 5879 before a spinning waiter took preempt_disable() (and, for _irqsave, irqs off) before it spins.
      expect(o.stats.states).toBe(rt ? 4723 : 6059);
    });

  it('workqueue-refill: a page the kworker put in the cache serves the next kfree_rcu() (one CPU, two calls)', () => {
    const m = anyModel(model);
    const o = explore(m, { ...defaultParams(m.params), variant: 'workqueue-refill', cpus: 1, calls: 2 }, { coverage: true });
    expect(o.verdict).toBe('holds');
    // 839 states while a second empty cache could queue the refill again as it ran; 659 since
    // the model keeps krcp->work_in_progress, which upstream clears at the refill's end.
    expect(o.stats.states).toBe(659);
    const fired = o.fired!.map((f) => f.label);
    expect(fired).toContain('cpu0: kworker: put_cached_bnode() under krcp->lock');
    expect(fired).toContain('cpu0: array page from the krcp page cache; o01 into it');
    expect(fired).toContain('cpu0: page cache empty: o00\'s rcu_head onto krcp->head; queue the refill work');
    expect(fired).toContain('cpu0: page cache empty: o01\'s rcu_head onto krcp->head; refill already in progress');
  });

  describe('"kfree_rcu() can be called in any context except NMI even on RT" (tglx)', () => {
    it('allocating outside the RCU lock passes every property with task callers', () => {
      for (const rt of [false, true]) expect(run(model, { variant: 'nowait-outside-lock', rt }).verdict).toBe('holds');
    });

    it('from a non-threaded hardirq the same allocation takes zone->lock where only a raw lock may be', () => {
      const o = run(model, { variant: 'nowait-outside-lock', context: 'hardirq' });
      expect(story(o, 'wait-context')).toEqual([
        'cpu0: hardirq enters',
        'cpu0: hardirq: kfree_rcu(o00): no room: __get_free_page(GFP_NOWAIT) before krc_this_cpu_lock()',
        'cpu0: hardirq: pcp_spin_trylock()',
        'cpu0: hardirq: pcp list empty; pcp_spin_unlock()',
        'cpu0: hardirq: spin_lock_irqsave(zone->lock)',
      ]);
      expect(o.properties.find((p) => p.name === 'wait-context')!.violation!.message).toMatch(/in a \{SPIN\} context \(non-threaded hardirq\)/);
    });

    it('under a raw spinlock too; with irqs off only on RT, where zone->lock sleeps', () => {
      const raw = run(model, { variant: 'nowait-outside-lock', context: 'raw-spinlock' });
      expect(raw.properties.find((p) => p.name === 'wait-context')!.violation!.message).toMatch(/#0: some_lock \(raw_spinlock_t\) \{SPIN\}/);
      const irqsOff = (rt: boolean) => run(model, { variant: 'nowait-outside-lock', context: 'irqs-off', rt }).properties.find((p) => p.name === 'no-sleep-in-atomic')!;
      expect(irqsOff(false).verdict).toBe('holds');
      expect(irqsOff(true).violation!.message).toMatch(/calls rt_spin_lock\(zone->lock\) while irqs disabled/);
    });

    it('the merged fix takes no allocator lock in the caller: it holds in every context', () => {
      for (const context of ['hardirq', 'raw-spinlock', 'irqs-off'])
        for (const rt of [false, true]) {
          const o = run(model, { variant: 'workqueue-refill', context, rt });
          const bad = o.properties.filter((p) => p.verdict === 'violated' && p.name !== 'latency-bound').map((p) => p.name);
          expect([context, rt, bad]).toEqual([context, rt, []]);
        }
    });

    it('the latency of allocating outside the lock: a CPU spins with irqs off on the other one\'s zone section on !RT', () => {
      expect(worstStretch({ variant: 'nowait-outside-lock', rt: false }, 4)).toBe(4);
      // On RT zone->lock sleeps: no stretch longer than one step (the smallest bound there is).
      expect(run(model, { variant: 'nowait-outside-lock', rt: true, latencyBound: 1 }).properties.find((p) => p.name === 'latency-bound')!.verdict).toBe('holds');
    });
  });

  it("option C (gfp 0 fails once the lockless cache is empty): fine for kfree_rcu(), a changed meaning for every other user of 0", () => {
    expect(run(model, { variant: 'gfp-zero-fails' }).verdict).toBe('holds');
    const params = { variant: 'gfp-zero-fails', rt: false, users: 'page-alloc', userGfp: '0' };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'gfp-zero-semantics')).toEqual(['cpu0: __get_free_page(0)', 'cpu0: pcp_spin_trylock()', 'cpu0: pcp list empty: NULL']);
    // Upstream's gfp 0 goes on to zone->lock and finds the page.
    expect(verdicts(run(model, { ...params, variant: 'workqueue-refill' }))['gfp-zero-semantics']).toBe('holds');
    expect(() => run(model, { userGfp: '0' })).toThrow(/userGfp=0: the gfp of the page allocator users, which only users=page-alloc has; add --param users=page-alloc/);
  });

  it("option D (lockdep annotation): no Invalid wait context on !RT, the irq-off zone section stays; on RT option B's bail-out", () => {
    for (const rt of [false, true]) {
      const params = { variant: 'lockdep-annotation', rt };
      const o = run(model, params);
      expectDeclared(model, params, o);
    }
    // The same allocation without the annotation (option B on !RT) splats.
    expect(verdicts(run(model, { variant: 'rt-atomic-gfp', rt: false }))['wait-context']).toBe('violated');
    expect(verdicts(run(model, { variant: 'lockdep-annotation', rt: false }))['wait-context']).toBe('holds');
  });

  describe("drain_all_pages() on cpu1: the pcp lock taken with a plain spin_lock()", () => {
    it("a page on cpu0's pcp list hides the nesting bug; a drain holding that list's lock brings it back in 5 steps", () => {
      expect(verdicts(run(model, { variant: 'nowait-under-raw', pcpPages: 1 }))['wait-context']).toBe('holds');
      const params = { variant: 'nowait-under-raw', rt: false, pcpPages: 1, drain: true };
      const o = run(model, params);
      expectDeclared(model, params, o);
      expect(story(o, 'wait-context')).toEqual([
        'cpu0: kfree_rcu(o00): krc_this_cpu_lock()',
        'cpu0: no room: __get_free_page(GFP_NOWAIT)',
        'cpu1: drain_pages_zone(cpu0): spin_lock(pcp->lock@cpu0)',
        'cpu0: pcp_spin_trylock() fails (held by cpu1 task (caller))',
        'cpu0: spin_lock_irqsave(zone->lock)',
      ]);
    });

    it('the drain needs a second CPU: on one it is a model error that says so', () => {
      expect(() => run(model, { drain: true, cpus: 1 })).toThrow(/drain: the drain of cpu0's pcp list runs on another CPU; give cpus=2 or 3/);
    });
  });
});
