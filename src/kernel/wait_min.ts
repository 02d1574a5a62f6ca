/**
 * STOPGAP, to be replaced by the kernel layer's contexts, lock types and wait-context checking
 * (issue 3, branch `kernel`), which did not exist yet when the RCU models were written. It holds
 * only what the kfree_rcu models need: what one context currently has (irqs off, preemption off,
 * locks held) and lockdep's wait-type rule for taking a lock or sleeping there
 * (kernel/locking/lockdep.c check_wait_context(), CONFIG_PROVE_RAW_LOCK_NESTING), plus
 * "BUG: sleeping function called from invalid context" for sleeping in atomic context.
 *
 * Limitation: no lock ownership or contention here (the models keep their own lock owners);
 * softirq and threaded hardirqs are not modelled as contexts beyond their wait type.
 */
import { List, Record } from 'immutable';
import { ModelError } from '../core/errors.ts';

export type ContextKind = 'task' | 'softirq' | 'hardirq' | 'nmi';
export type LockType = 'raw_spinlock_t' | 'spinlock_t' | 'local_lock_t' | 'mutex';

/** lockdep's wait types, most restrictive first. */
export type WaitType = 'spin' | 'config' | 'sleep';
const RANK: { readonly [K in WaitType]: number } = { spin: 0, config: 1, sleep: 2 };

export function waitTypeOf(t: LockType): WaitType {
  return t === 'raw_spinlock_t' ? 'spin' : t === 'mutex' ? 'sleep' : 'config';
}

export interface HeldProps {
  readonly name: string;
  readonly type: LockType;
}
export const Held = Record<HeldProps>({ name: '', type: 'raw_spinlock_t' }, 'Held');
export type Held = ReturnType<typeof Held>;

export interface CtxProps {
  readonly kind: ContextKind;
  /** local_irq_save() nesting (hardirq and NMI contexts run with irqs off implicitly). */
  readonly irqsOff: number;
  readonly preemptOff: number;
  readonly held: List<Held>;
}
export const Ctx = Record<CtxProps>({ kind: 'task', irqsOff: 0, preemptOff: 0, held: List() }, 'Ctx');
export type Ctx = ReturnType<typeof Ctx>;

/** Atomic: hardirq, softirq, NMI, irqs or preemption off, or a lock held that spins (on RT only raw ones spin). */
export function isAtomic(c: Ctx, rt: boolean): boolean {
  if (c.kind !== 'task' || c.irqsOff > 0 || c.preemptOff > 0) return true;
  return c.held.some((h) => h.type === 'raw_spinlock_t' || (!rt && h.type === 'spinlock_t'));
}

/** The innermost wait type allowed in this context: the context's own, narrowed by the held locks. */
export function innerWaitType(c: Ctx): WaitType {
  let inner: WaitType = c.kind === 'hardirq' || c.kind === 'nmi' ? 'spin' : c.kind === 'softirq' ? 'config' : 'sleep';
  for (const h of c.held) if (RANK[waitTypeOf(h.type)] < RANK[inner]) inner = waitTypeOf(h.type);
  return inner;
}

/**
 * What the kernel reports when context `c` (named `who`) takes lock `name` of type `type` with a
 * blocking lock operation, or undefined when that is legal. !RT: lockdep's "BUG: Invalid wait
 * context" when the lock's wait type is less restrictive than allowed here. RT: a spinlock_t is
 * a sleeping lock, so taking one in atomic context is also a sleep in atomic context.
 */
export function lockProblem(c: Ctx, who: string, name: string, type: LockType, rt: boolean): string | undefined {
  const wt = waitTypeOf(type);
  const inner = innerWaitType(c);
  const holding = c.held.size > 0 ? ` holding ${c.held.map((h) => `${h.name} (${h.type})`).join(', ')}` : '';
  if (RANK[wt] > RANK[inner]) return `BUG: Invalid wait context: ${who} takes ${name} (${type})${holding} in ${c.kind} context`;
  if (rt && wt !== 'spin' && isAtomic(c, rt)) return `BUG: sleeping function called from invalid context: ${who} takes ${name} (${type}, sleeps on RT)${holding}`;
  return undefined;
}

/** What the kernel reports when `c` sleeps (may-sleep allocation, synchronize_rcu, mutex), or undefined. */
export function sleepProblem(c: Ctx, who: string, what: string, rt: boolean): string | undefined {
  if (!isAtomic(c, rt)) return undefined;
  const why = c.kind !== 'task' ? `in ${c.kind}` : c.irqsOff > 0 ? 'with irqs off' : c.preemptOff > 0 ? 'with preemption off' : `holding ${c.held.map((h) => h.name).join(', ')}`;
  return `BUG: sleeping function called from invalid context: ${who} ${what} ${why}`;
}

export function acquire(c: Ctx, name: string, type: LockType): Ctx {
  return c.set('held', c.held.push(Held({ name, type })));
}

export function release(c: Ctx, name: string): Ctx {
  const i = c.held.findLastIndex((h) => h.name === name);
  if (i < 0) throw new ModelError(`${name} released but not held`);
  return c.set('held', c.held.delete(i));
}
