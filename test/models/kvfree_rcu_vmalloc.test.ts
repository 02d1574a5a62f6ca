import { describe, expect, it } from 'vitest';
import model from '../../models/kvfree_rcu_vmalloc.ts';
import { expectDeclared, run, story } from './expect.ts';

describe('kvfree_rcu_vmalloc', () => {
  it('v6.18: each channel and the chain freed by the function that takes its memory', () => {
    for (const params of [{}, { pages: 0 }, { pages: 2, records: 2, calls: 4 }, { objects: 'vmalloc', calls: 3 }]) {
      const o = run(model, params);
      expect(o.verdict, JSON.stringify(params)).toBe('holds');
    }
    const o = run(model, { variant: 'v6.18' });
    expectDeclared(model, { variant: 'v6.18' }, o);
    expect(o.stats.states).toBe(28);
  });

  it('v5.6: a vmalloc() pointer reaches kfree_bulk() from an array, kfree() from the chain', () => {
    expect(story(run(model, { variant: 'v5.6' }), 'no-wrong-allocator').at(-1)).toBe('rcu: kfree_rcu_work(cpu0): kfree_bulk(kobj0), kfree(vobj1); 1 page(s) back');
    expect(story(run(model, { variant: 'v5.6', pages: 0 }), 'no-wrong-allocator')).toEqual([
      'cpu0: kvfree_rcu(kobj0, rh): no array page: rcu_head onto krcp->head',
      'cpu0: kvfree_rcu(vobj1, rh): no array page: rcu_head onto krcp->head',
      'rcu: kfree_rcu_monitor(cpu0): 0 array(s), 2 rcu_head(s) → queue_rcu_work',
      'rcu: grace period starts',
      'rcu: grace period ends',
      'rcu: kfree_rcu_work(cpu0): kfree(kobj0, vobj1); 0 page(s) back',
    ]);
  });

  it("Vlad's sketch needs both hunks; without the is_vmalloc_addr() test the fault needs the array page to have come back", () => {
    expect(run(model, { variant: 'sketch' }).verdict).toBe('holds');
    const o = run(model, { variant: 'sketch-no-vmalloc-test' });
    expectDeclared(model, { variant: 'sketch-no-vmalloc-test' }, o);
    expect(story(o, 'no-wrong-allocator')).toEqual([
      'cpu0: kvfree_rcu(kobj0, rh): get_cached_bnode() → a new array page; pointer into it',
      'rcu: kfree_rcu_monitor(cpu0): 1 array(s), 0 rcu_head(s) → queue_rcu_work',
      'rcu: grace period starts',
      'rcu: grace period ends',
      'rcu: kfree_rcu_work(cpu0): kfree_bulk(kobj0); 1 page(s) back',
      'cpu0: kvfree_rcu(vobj1, rh): get_cached_bnode() → a new array page; pointer into it',
      'rcu: kfree_rcu_monitor(cpu0): 1 array(s), 0 rcu_head(s) → queue_rcu_work',
      'rcu: grace period starts',
      'rcu: grace period ends',
      'rcu: kfree_rcu_work(cpu0): kfree_bulk(vobj1); 1 page(s) back',
    ]);
    // Two pointers a page: the vmalloc() one shares kobj0's array at once.
    expect(story(run(model, { variant: 'sketch-no-vmalloc-test', records: 2 }), 'no-wrong-allocator')).toHaveLength(6);
    expect(story(run(model, { variant: 'sketch-kfree-chain' }), 'no-wrong-allocator').at(-1)).toMatch(/kfree\(vobj1\)/);
  });
});
