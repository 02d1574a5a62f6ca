/**
 * Objects and their life for RCU-protected data: allocated → published (reachable from an
 * RCU-protected pointer) → retired (unpublished, readers may still hold it) → freed.
 *
 * Readers take references with `rcuDereference()` inside a reader section and use them with
 * `access()`. A use of a freed object, a second free, and a dereference outside any reader are
 * recorded as faults in the state (as the kernel's KASAN report would be), so that the
 * properties in properties/rcu.ts can point at them and the counterexample ends right at the
 * faulty access. Recording a fault changes the state only on the faulty path.
 *
 * What an object is (an array, a wrapper, a page of pointers) is the model's: names are free
 * text (`arr0`, `wrapper`). `owned` marks objects that are legitimately kept at the end of a run
 * (a per-CPU cache, the current array) so that the leak check does not count them.
 *
 * Each object remembers the allocator it came from, and each free says which free function it
 * is: a free function given memory from another allocator is a `wrong-allocator` fault, as the
 * kernel's would corrupt memory or crash (6.18: kfree() takes a "pointer returned by kmalloc()
 * or kmem_cache_alloc()" (mm/slub.c); kvfree() "frees memory allocated by any of vmalloc(),
 * kmalloc() or kvmalloc()", as `if (is_vmalloc_addr(addr)) vfree(addr); else kfree(addr);`;
 * kfree_bulk() is `kmem_cache_free_bulk(NULL, size, p)`, which finds each object's slab cache;
 * vfree() takes vmalloc() memory, free_page() a page). A dereference of NULL is a `null-deref`.
 *
 * The state is a schema part (`mem: memoryType({ objects: 4, slots: 1 })`): queries read a
 * Memory, effects write a MemoryDraft in place.
 */
import { ModelError } from '../core/errors.ts';
import { t, type Draft, type ValueOf } from '../core/schema.ts';
import { isReader, rcuContext, readyCallback, takeCallback } from './rcu.ts';
import type { Callback, Kernel, RcuDraft } from './state.ts';

export const OBJECT_STATES = ['allocated', 'published', 'retired', 'freed'] as const;
export type ObjectState = (typeof OBJECT_STATES)[number];
export const FAULT_KINDS = ['use-after-free', 'double-free', 'deref-outside-reader', 'wrong-allocator', 'null-deref'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Where an object's memory came from: kmalloc()/kzalloc(), vmalloc(), kmem_cache_alloc(), alloc_page(). */
export const ALLOCATORS = ['kmalloc', 'vmalloc', 'kmem_cache', 'page'] as const;
export type Allocator = (typeof ALLOCATORS)[number];

/** The free functions, each with the allocators whose memory it takes (the file comment quotes them). */
export const FREES = {
  kfree: ['kmalloc', 'kmem_cache'],
  kvfree: ['kmalloc', 'vmalloc', 'kmem_cache'],
  kfree_bulk: ['kmalloc', 'kmem_cache'],
  kmem_cache_free: ['kmem_cache'],
  vfree: ['vmalloc'],
  free_page: ['page'],
} as const satisfies Record<string, readonly Allocator[]>;
export type FreeFn = keyof typeof FREES;
export const FREE_FNS = Object.keys(FREES) as FreeFn[];

/** The bounds of a model's memory state. */
export interface MemoryShape {
  /** Object names ever allocated, at most (a name reused after its free counts once). */
  readonly objects: number;
  /** RCU-protected pointers, at most (default 1). */
  readonly slots?: number;
  /** Faults recorded, at most (default 4). */
  readonly faults?: number;
}

/** The schema of the memory state with the bounds of `shape`. */
export function memoryType(shape: MemoryShape) {
  const fault = t.struct({
    kind: t.enum(FAULT_KINDS),
    ctx: t.text(),
    /** The object ('NULL' for a null-deref). */
    obj: t.text(),
    /** wrong-allocator: the free function that was given the object. */
    via: t.optional(t.enum(FREE_FNS)),
  });
  const object = t.struct({ state: t.enum(OBJECT_STATES), from: t.enum(ALLOCATORS) });
  return t.struct({
    /** Every object allocated so far, by name, with its allocator; a freed one stays, as `freed`. */
    objects: t.map(t.text(), object, shape.objects),
    /** RCU-protected pointers (`s_group_desc`) → the object they point to, or null; a slot is absent until first published. */
    slots: t.map(t.text(), t.optional(t.text()), shape.slots ?? 1),
    /** Faults in the order they happened. */
    faults: t.list(fault, shape.faults ?? 4),
  });
}

/** Memory as transitions() read it. */
export type Memory = ValueOf<ReturnType<typeof memoryType>>;
/** Memory as apply(next) writes it. */
export type MemoryDraft = Draft<Memory>;
export type Fault = Memory['faults'][number];
type Obj = Memory['objects'] extends ReadonlyMap<string, infer O> ? O : never;

/** No object, no slot, no fault (a fresh value). */
export function memoryInit(): MemoryDraft {
  return { objects: new Map(), slots: new Map(), faults: [] };
}

export function objectState(mem: Memory, obj: string): ObjectState | undefined {
  return mem.objects.get(obj)?.state;
}

/** The allocator `obj` came from (undefined for an object never allocated). */
export function allocatorOf(mem: Memory, obj: string): Allocator | undefined {
  return mem.objects.get(obj)?.from;
}

function setState(mem: MemoryDraft, obj: string, state: ObjectState): void {
  const o = mem.objects.get(obj) as Obj;
  mem.objects.set(obj, { state, from: o.from });
}

/** A new object from `from` (or a name reused after its free: a fresh allocation at the same name). */
export function allocate(mem: MemoryDraft, obj: string, from: Allocator = 'kmalloc'): void {
  const st = objectState(mem, obj);
  if (st !== undefined && st !== 'freed') throw new ModelError(`memory: ${obj} is allocated twice (it is ${st})`);
  mem.objects.set(obj, { state: 'allocated', from });
}

/**
 * rcu_assign_pointer(slot, obj): publishes `obj`; the object the slot pointed to before is
 * retired (readers that loaded it may still use it until a grace period has passed) unless
 * another slot still points to it.
 */
export function publish(mem: MemoryDraft, slot: string, obj: string | null): void {
  const old = mem.slots.get(slot) ?? null;
  if (obj !== null) {
    const st = objectState(mem, obj);
    if (st !== 'allocated' && st !== 'published') throw new ModelError(`memory: cannot publish ${obj}, it is ${st ?? 'unknown'}`);
    setState(mem, obj, 'published');
  }
  if (old !== null && old !== obj && objectState(mem, old) === 'published' && ![...mem.slots].some(([k, o]) => k !== slot && o === old)) setState(mem, old, 'retired');
  mem.slots.set(slot, obj);
}

/**
 * rcu_dereference(slot) by the running context of `cpu`: returns the object it points to (or
 * null); records a fault when that context is no RCU reader, explicit or implied.
 */
export function rcuDereference(mem: MemoryDraft, k: Kernel, cpu: number, slot: string): string | null {
  const obj = mem.slots.get(slot) ?? null;
  if (!isReader(k, cpu) && obj !== null) mem.faults.push({ kind: 'deref-outside-reader', ctx: rcuContext(k, cpu), obj, via: null });
  return obj;
}

/** `ctx` reads or writes `obj` through a reference it holds: a fault when the object is freed, or when the reference is NULL. */
export function access(mem: MemoryDraft, obj: string | null, ctx: string): void {
  if (obj === null) mem.faults.push({ kind: 'null-deref', ctx, obj: 'NULL', via: null });
  else if (objectState(mem, obj) === 'freed') mem.faults.push({ kind: 'use-after-free', ctx, obj, via: null });
}

/**
 * `how`(obj) by `ctx` (kvfree() unless said): freeing a freed object is a double free, giving
 * it memory of an allocator it does not take a wrong-allocator fault (the object counts as
 * freed: nothing else will free it); freeing NULL is a no-op.
 */
export function free(mem: MemoryDraft, obj: string | null, ctx: string, how: FreeFn = 'kvfree'): void {
  if (obj === null) return;
  const o = mem.objects.get(obj);
  if (o === undefined) throw new ModelError(`memory: ${ctx} frees ${obj}, which was never allocated`);
  if (o.state === 'freed') mem.faults.push({ kind: 'double-free', ctx, obj, via: null });
  else {
    if (!(FREES[how] as readonly Allocator[]).includes(o.from)) mem.faults.push({ kind: 'wrong-allocator', ctx, obj, via: how });
    setState(mem, obj, 'freed');
  }
}

/**
 * Runs the ready RCU callback in `ctx`: takes it off the queue and frees the objects call_rcu()
 * gave it, in order (an object freed already is recorded as the double free it is). Returns it.
 */
export function runRcuCallback(rcu: RcuDraft, mem: MemoryDraft, ctx: string): Callback {
  const cb = readyCallback(rcu);
  if (!cb) throw new ModelError('rcu: no callback is ready to run');
  const done = { ...cb, frees: [...cb.frees] };
  takeCallback(rcu);
  for (const x of done.frees) free(mem, x, ctx);
  return done;
}

/** Faults of one kind, in the order they happened. */
export function faultsOf(mem: Memory, kind: FaultKind): Fault[] {
  return mem.faults.filter((f) => f.kind === kind);
}

/**
 * Objects that nobody can reach or free any more: allocated and never published, or retired,
 * and not in `owned` (objects the model keeps on purpose, such as a cache).
 */
export function leaked(mem: Memory, owned: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  for (const [obj, { state }] of mem.objects) if ((state === 'allocated' || state === 'retired') && !owned.has(obj)) out.push(obj);
  return out.sort();
}
