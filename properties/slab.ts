/**
 * Reusable slab-allocator properties. A model describes where its objects are (a census); the
 * properties judge it, so any model of a per-CPU object cache (SLUB's cpu slab, sheaves, a
 * per-CPU page list) can list them:
 *
 *   properties: [freelistIntegrity((s) => census(s)), deferredDrained((s) => deferredLists(s)), ...]
 *
 * Field paths are the flattened paths as `mc` prints them, so that the counterexample graph
 * highlights the offending fields.
 */
import { atQuiescence, invariant, leadsTo, onStep, type FinalProperty, type InvariantProperty, type LeadsToProperty, type StepProperty } from '../src/index.ts';
import type { AnyParams } from '../src/core/params.ts';

/** One place where an object is found: on a freelist, on a deferred list, held by a context. */
export interface ObjectPlace {
  readonly obj: string;
  /** For messages: `cpu0 kmalloc-64 c->freelist`, `cpu0 task (A)`. */
  readonly where: string;
  /** The state field that holds it. */
  readonly field: string;
}

/** Where every tracked object is, as the model sees it. */
export interface SlabCensus {
  /** Every object the model tracks; each must be in exactly one place. */
  readonly objects: readonly string[];
  readonly places: readonly ObjectPlace[];
  /** Structural damage found while walking the freelists (a cycle, an object of another slab). */
  readonly problems: readonly { readonly message: string; readonly fields: readonly string[] }[];
}

export const FREELIST_INTEGRITY = 'freelist-integrity';
export const DEFERRED_DRAINED = 'deferred-drained';
export const ALLOC_SUCCEEDS_OR_NULL = 'alloc-succeeds-or-null';

/**
 * Every object is in exactly one place: on one freelist, on one deferred list, or held by one
 * context. An object in two places was handed out twice (a re-entrant update interleaved with
 * an interrupted one); an object in none was lost from the freelist.
 */
export function freelistIntegrity<S, P = AnyParams>(census: (s: S, p: P) => SlabCensus): InvariantProperty<S, P> {
  return invariant<S, P>(
    FREELIST_INTEGRITY,
    'every object is in exactly one place (a freelist, a deferred list, or one context): none handed out twice, none lost',
    (s, p) => {
      const c = census(s, p);
      if (c.problems.length > 0) return c.problems[0];
      if (eachOnce(c)) return true;
      // Something is wrong: find what, with the places' words for the message.
      const at = new Map<string, ObjectPlace[]>();
      for (const pl of c.places) at.set(pl.obj, [...(at.get(pl.obj) ?? []), pl]);
      for (const obj of c.objects) {
        const pls = at.get(obj) ?? [];
        if (pls.length > 1)
          return { message: `${obj} is in ${pls.length} places at once: ${pls.map((x) => x.where).join(' and ')}`, fields: pls.map((x) => x.field) };
      }
      for (const obj of c.objects) {
        if (!at.has(obj)) return { message: `${obj} is lost: on no freelist, no deferred list, and held by no context`, fields: [] };
      }
      for (const pl of c.places) if (!c.objects.includes(pl.obj)) return { message: `${pl.where} holds ${pl.obj}, which is no tracked object`, fields: [pl.field] };
      return true;
    },
  );
}

/** Whether every tracked object is in exactly one place and every place holds a tracked object. */
function eachOnce(c: SlabCensus): boolean {
  const count = new Map<string, number>();
  for (const pl of c.places) count.set(pl.obj, (count.get(pl.obj) ?? 0) + 1);
  for (const obj of c.objects) if (count.get(obj) !== 1) return false;
  for (const obj of count.keys()) if (!c.objects.includes(obj)) return false;
  return true;
}

export interface DeferredList {
  /** `cpu0` */
  readonly owner: string;
  readonly objects: readonly string[];
  readonly field: string;
}

/**
 * At quiescence every deferred-free list is empty: each object kfree_nolock() deferred has
 * really been freed (the irq_work that drains the list ran). `finished` tells a proper end from
 * a stuck state (a deadlock is the deadlock property's story).
 */
export function deferredDrained<S, P = AnyParams>(
  lists: (s: S, p: P) => readonly DeferredList[],
  opts: { finished?: (s: S, p: P) => boolean } = {},
): FinalProperty<S, P> {
  return atQuiescence<S, P>(DEFERRED_DRAINED, 'when every context has finished, every deferred list is empty: nothing deferred is leaked', (s, p) => {
    if (opts.finished && !opts.finished(s, p)) return true;
    const left = lists(s, p).filter((l) => l.objects.length > 0);
    if (left.length === 0) return true;
    return {
      message: `leaked: ${left.map((l) => `${l.objects.join(', ')} still on ${l.owner}'s deferred list`).join('; ')}; nothing will free ${left.length > 1 || left[0].objects.length > 1 ? 'them' : 'it'}`,
      fields: left.map((l) => l.field),
    };
  });
}

/**
 * Progress: every object kfree_nolock() defers is freed on every fair run, not only when the
 * system happens to quiesce: whenever a deferred list holds an object, a state follows where
 * every list is empty. Unlike deferredDrained, a run that keeps going (or stops, or deadlocks)
 * with an object left on a list violates it.
 */
export function deferredFreed<S, P = AnyParams>(lists: (s: S, p: P) => readonly DeferredList[]): LeadsToProperty<S, P> {
  return leadsTo<S, P>(
    'deferred-freed',
    'every object put on a deferred list is freed later, on every fair run',
    (s, p) => lists(s, p).some((l) => l.objects.length > 0),
    (s, p) => lists(s, p).every((l) => l.objects.length === 0),
  );
}

/** What a step that ends an allocation call returned, as the model reads it off the two states. */
export interface AllocReturn {
  /** `cpu0 nmi` */
  readonly who: string;
  /** The object returned, or null for NULL. */
  readonly result: string | null;
  /** Whether the call removed an object from a freelist at some point. */
  readonly took: boolean;
  /** Locks the caller took in the call and still holds after it returned. */
  readonly locksHeld: readonly string[];
  readonly fields: readonly string[];
}

/**
 * Every allocation call either succeeds (returns the object it took off a freelist) or returns
 * NULL without side effects: it took no object and holds none of the locks it took.
 * `returns` reads a step: the call it ends, or null for steps that end no allocation call.
 */
export function allocSucceedsOrNull<S, P = AnyParams>(
  returns: (before: S, step: { readonly label: string; readonly lane: string }, after: S, p: P) => AllocReturn | null,
): StepProperty<S, P> {
  return onStep<S, P>(ALLOC_SUCCEEDS_OR_NULL, 'every allocation returns the object it took, or NULL having taken nothing and holding no lock', (before, step, after, p) => {
    const r = returns(before, step, after, p);
    if (r === null) return true;
    if (r.locksHeld.length > 0) return { message: `${r.who}: the allocation returned with ${r.locksHeld.join(', ')} still held`, fields: r.fields };
    if (r.result === null && r.took) return { message: `${r.who}: the allocation took an object off a freelist and then returned NULL`, fields: r.fields };
    if (r.result !== null && !r.took) return { message: `${r.who}: the allocation returned ${r.result} without taking it off a freelist`, fields: r.fields };
    return true;
  });
}
