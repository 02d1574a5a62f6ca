import { describe, expect, it } from 'vitest';
import model from '../../models/ext4_resize.ts';
import { expectDeclared, run, story } from './expect.ts';

describe('ext4_resize', () => {
  it('kvfree-immediately: a reader reads an element of the array resize already freed', () => {
    const params = { variant: 'kvfree-immediately' };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'rcu-no-use-after-free')).toEqual([
      'cpu0: rcu_read_lock()',
      'cpu0: o = rcu_dereference(s_group_desc)',
      'cpu1: n = kvmalloc() → arr1',
      'cpu1: rcu_assign_pointer(s_group_desc, arr1)',
      'cpu1: kvfree(arr0)',
      'cpu0: bh = arr0[i]; rcu_read_unlock()',
    ]);
    expect(o.stats.states).toBe(19);
  });

  it('synchronize-then-free: every interleaving is safe', () => {
    const params = { variant: 'synchronize-then-free' };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(o.verdict).toBe('holds');
    expect(o.stats.states).toBe(37);
  });

  it('kvfree-array-rcu: the wrapper path and the synchronize_rcu fallback are both safe', () => {
    const params = { variant: 'kvfree-array-rcu' };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(o.verdict).toBe('holds');
    expect(o.stats.states).toBe(62);
  });

  it('kvfree-array-rcu-wrong-pointer: when the wrapper allocation fails the old array leaks', () => {
    const params = { variant: 'kvfree-array-rcu-wrong-pointer' };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'no-leak-at-quiescence')).toEqual([
      'cpu0: rcu_read_lock()',
      'cpu0: o = rcu_dereference(s_group_desc)',
      'cpu0: bh = arr0[i]; rcu_read_unlock()',
      'cpu1: n = kvmalloc() → arr1',
      'cpu1: rcu_assign_pointer(s_group_desc, arr1)',
      'cpu1: kzalloc(wrapper) fails',
      'cpu1: synchronize_rcu()',
      'rcu: grace period starts',
      'rcu: grace period ends',
      'cpu1: synchronize_rcu() returns',
      'cpu1: kvfree(ptr = NULL)',
    ]);
    // Without the failing allocation the wrong pointer is never reached.
    expect(run(model, { ...params, wrapperFails: false }).verdict).toBe('holds');
  });

  it('at 2 readers x 2 lookups and 2 resizes the verdicts stay as declared', () => {
    const larger = { readers: 2, lookups: 2, resizes: 2 };
    const counts: Record<string, number> = {};
    for (const variant of ['kvfree-immediately', 'synchronize-then-free', 'kvfree-array-rcu', 'kvfree-array-rcu-wrong-pointer']) {
      const params = { variant, ...larger };
      const o = run(model, params);
      expectDeclared(model, params, o);
      counts[variant] = o.stats.states;
    }
    expect(counts).toEqual({
      'kvfree-immediately': 1373,
      'synchronize-then-free': 1103,
      'kvfree-array-rcu': 6164,
      'kvfree-array-rcu-wrong-pointer': 6164,
    });
  });
});
