import type { Draft } from '../../src/core/schema.ts';

/**
 * The successor of `v` by `effect`: a copy of `v` that `effect` writes in place, as a
 * transition's apply(next) writes the copy of the state it leaves. `v` stays as it was.
 */
export function after<T>(v: T, effect: (d: Draft<T>) => void): Draft<T> {
  const d = structuredClone(v) as Draft<T>;
  effect(d);
  return d;
}
