/**
 * Objects and their life for RCU-protected data: allocated → published (reachable from an
 * RCU-protected pointer) → retired (unpublished, readers may still hold it) → freed.
 *
 * Readers take references with `rcuDereference()` under rcu_read_lock and use them with
 * `access()`. A use of a freed object, a second free, and a dereference outside any reader are
 * recorded as faults in the state (as the kernel's KASAN report would be), so that the
 * properties in properties/memory.ts can point at them and the counterexample ends right at the
 * faulty access. Recording a fault changes the state only on the faulty path.
 *
 * What an object is (an array, a wrapper, a page of pointers) is the model's: names are free
 * text (`arr0`, `wrapper`). `owned` marks objects that are legitimately kept at the end of a run
 * (a per-CPU cache, the current array) so that the leak check does not count them.
 */
import { List, Map as IMap, Record } from 'immutable';
import { ModelError } from '../core/errors.ts';
import { isReader, type Rcu } from './rcu.ts';

export type ObjectState = 'allocated' | 'published' | 'retired' | 'freed';
export type FaultKind = 'use-after-free' | 'double-free' | 'deref-outside-reader';

export interface FaultProps {
  readonly kind: FaultKind;
  readonly ctx: string;
  readonly obj: string;
}
export const Fault = Record<FaultProps>({ kind: 'use-after-free', ctx: '', obj: '' }, 'Fault');
export type Fault = ReturnType<typeof Fault>;

export interface MemoryProps {
  readonly objects: IMap<string, ObjectState>;
  /** RCU-protected pointers (`s_group_desc`) → the object they point to, or null. */
  readonly slots: IMap<string, string | null>;
  readonly faults: List<Fault>;
}
export const Memory = Record<MemoryProps>({ objects: IMap(), slots: IMap(), faults: List() }, 'Memory');
export type Memory = ReturnType<typeof Memory>;

export function memoryInit(): Memory {
  return Memory();
}

export function objectState(mem: Memory, obj: string): ObjectState | undefined {
  return mem.objects.get(obj);
}

/** A new object (or a name reused after its free: a fresh allocation at the same name). */
export function allocate(mem: Memory, obj: string): Memory {
  const st = mem.objects.get(obj);
  if (st !== undefined && st !== 'freed') throw new ModelError(`memory: ${obj} is allocated twice (it is ${st})`);
  return mem.set('objects', mem.objects.set(obj, 'allocated'));
}

/**
 * rcu_assign_pointer(slot, obj): publishes `obj`; the object the slot pointed to before is
 * retired (readers that loaded it may still use it until a grace period has passed).
 */
export function publish(mem: Memory, slot: string, obj: string | null): Memory {
  const old = mem.slots.get(slot) ?? null;
  let objects = mem.objects;
  if (obj !== null) {
    const st = objects.get(obj);
    if (st !== 'allocated' && st !== 'published') throw new ModelError(`memory: cannot publish ${obj}, it is ${st ?? 'unknown'}`);
    objects = objects.set(obj, 'published');
  }
  if (old !== null && old !== obj && objects.get(old) === 'published' && !mem.slots.some((o, k) => k !== slot && o === old))
    objects = objects.set(old, 'retired');
  return mem.set('objects', objects).set('slots', mem.slots.set(slot, obj));
}

/** rcu_dereference(slot) by `ctx`: the object it points to; a fault when `ctx` is not a reader. */
export function rcuDereference(mem: Memory, rcu: Rcu, slot: string, ctx: string): { mem: Memory; obj: string | null } {
  const obj = mem.slots.get(slot) ?? null;
  if (isReader(rcu, ctx) || obj === null) return { mem, obj };
  return { mem: mem.set('faults', mem.faults.push(Fault({ kind: 'deref-outside-reader', ctx, obj }))), obj };
}

/** `ctx` reads or writes `obj` through a reference it holds; a fault when the object is freed. */
export function access(mem: Memory, obj: string, ctx: string): Memory {
  if (mem.objects.get(obj) !== 'freed') return mem;
  return mem.set('faults', mem.faults.push(Fault({ kind: 'use-after-free', ctx, obj })));
}

/** kfree()/kvfree() of `obj` by `ctx`; freeing a freed object is a fault; freeing NULL is a no-op. */
export function free(mem: Memory, obj: string | null, ctx: string): Memory {
  if (obj === null) return mem;
  const st = mem.objects.get(obj);
  if (st === undefined) throw new ModelError(`memory: ${ctx} frees ${obj}, which was never allocated`);
  if (st === 'freed') return mem.set('faults', mem.faults.push(Fault({ kind: 'double-free', ctx, obj })));
  return mem.set('objects', mem.objects.set(obj, 'freed'));
}

/** Faults of one kind, in the order they happened. */
export function faultsOf(mem: Memory, kind: FaultKind): List<Fault> {
  return mem.faults.filter((f) => f.kind === kind);
}

/**
 * Objects that nobody can reach or free any more: allocated and never published, or retired,
 * and not in `owned` (objects the model keeps on purpose, such as a cache).
 */
export function leaked(mem: Memory, owned: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  for (const [obj, st] of mem.objects) if ((st === 'allocated' || st === 'retired') && !owned.has(obj)) out.push(obj);
  return out.sort();
}
