/**
 * RCU as explicit, finite state: who is inside a read-side critical section, whether a grace
 * period is running and which readers it still waits for, call_rcu() callbacks and
 * synchronize_rcu() callers with the grace period each of them needs.
 *
 * Abstracts kernel/rcu/tree.c by its guarantee, not its mechanism: "a grace period that starts
 * at time t ends only after every reader that was running at t has finished". Readers are
 * identified per context (`cpu0/task`, `cpu0/hardirq`, …): a hardirq that interrupts a task is a
 * reader of its own. Besides rcu_read_lock(), irq-off, preempt-off, softirq, hardirq and NMI
 * regions and (on PREEMPT_RT) a held spinlock_t count as readers (RCU flavour consolidation,
 * v4.20): callers enter them with the matching `ReaderKind`.
 *
 * Grace periods carry no sequence numbers (that would make the state space infinite). Each
 * waiter — a callback or a synchronize_rcu() caller — carries a stage, as in the segmented
 * callback list of rcu_segcblist: `next` (needs a grace period that has not started yet),
 * `current` (the running grace period suffices), `done` (a full grace period has elapsed).
 * Starting a grace period promotes next → current; ending it promotes current → done.
 *
 * Limitation: one grace period at a time, and it starts only when some waiter needs one, as
 * tree RCU does; so the checker never explores idle grace periods, which change nothing a
 * model can observe. The model is more permissive than tree RCU (a reader that starts after a
 * grace period began is never waited for, while tree RCU sometimes waits for it), which is the
 * guarantee callers may rely on: every interleaving the kernel allows is explored.
 */
import { List, Map as IMap, Record, Set as ISet } from 'immutable';
import { ModelError } from '../core/errors.ts';
import type { Transition } from '../core/model.ts';

/** Why a context is an RCU reader. Nesting counts per kind. */
export type ReaderKind = 'rcu_read_lock' | 'irqs-off' | 'preempt-off' | 'softirq' | 'hardirq' | 'nmi' | 'rt-spinlock';

export type Stage = 'next' | 'current' | 'done';

export interface CallbackProps {
  /** What the callback does, as the model names it (`free arr0`). Need not be unique. */
  readonly name: string;
  readonly stage: Stage;
}
export const Callback = Record<CallbackProps>({ name: '', stage: 'next' }, 'Callback');
export type Callback = ReturnType<typeof Callback>;

export interface RcuProps {
  /** Context → reader kind → nesting depth; contexts outside any reader are absent. */
  readonly readers: IMap<string, IMap<ReaderKind, number>>;
  readonly gp: boolean;
  /** The readers the running grace period still waits for. */
  readonly waitFor: ISet<string>;
  /** call_rcu() callbacks in the order they were queued. */
  readonly callbacks: List<Callback>;
  /** Contexts blocked in synchronize_rcu(), with the stage of the grace period they wait for. */
  readonly sync: IMap<string, Stage>;
}
export const Rcu = Record<RcuProps>(
  { readers: IMap(), gp: false, waitFor: ISet(), callbacks: List(), sync: IMap() },
  'Rcu',
);
export type Rcu = ReturnType<typeof Rcu>;

/** The RCU state of a system with no reader, no grace period and no waiter. */
export function rcuInit(): Rcu {
  return Rcu();
}

/** True when `ctx` is inside any RCU read-side critical section (explicit or implied). */
export function isReader(rcu: Rcu, ctx: string): boolean {
  return rcu.readers.has(ctx);
}

/** Nesting depth of one kind of reader section in `ctx`. */
export function readerDepth(rcu: Rcu, ctx: string, kind: ReaderKind = 'rcu_read_lock'): number {
  return rcu.readers.get(ctx)?.get(kind) ?? 0;
}

/** rcu_read_lock() (or entering an implied reader region) in `ctx`; nests. */
export function readLock(rcu: Rcu, ctx: string, kind: ReaderKind = 'rcu_read_lock'): Rcu {
  const kinds = rcu.readers.get(ctx) ?? IMap<ReaderKind, number>();
  return rcu.set('readers', rcu.readers.set(ctx, kinds.set(kind, (kinds.get(kind) ?? 0) + 1)));
}

/**
 * rcu_read_unlock() (or leaving an implied reader region) in `ctx`. When the context leaves its
 * last reader section it stops being a reader: a running grace period no longer waits for it,
 * and its next section is a new reader that grace period does not cover.
 * An unlock without a matching lock is a model error.
 */
export function readUnlock(rcu: Rcu, ctx: string, kind: ReaderKind = 'rcu_read_lock'): Rcu {
  const kinds = rcu.readers.get(ctx);
  const depth = kinds?.get(kind) ?? 0;
  if (!kinds || depth === 0) throw new ModelError(`rcu: ${ctx} leaves a ${kind} reader section it is not in`);
  const left = depth === 1 ? kinds.delete(kind) : kinds.set(kind, depth - 1);
  if (left.size > 0) return rcu.set('readers', rcu.readers.set(ctx, left));
  return rcu.set('readers', rcu.readers.delete(ctx)).set('waitFor', rcu.waitFor.delete(ctx));
}

/** call_rcu(): queue a callback that may run once a grace period started after now has ended. */
export function callRcu(rcu: Rcu, name: string): Rcu {
  return rcu.set('callbacks', rcu.callbacks.push(Callback({ name, stage: 'next' })));
}

/** The callback that runs next, if its grace period has ended (callbacks run in queue order). */
export function readyCallback(rcu: Rcu): Callback | undefined {
  const first = rcu.callbacks.first();
  return first?.stage === 'done' ? first : undefined;
}

/** Removes the ready callback (the model applies its effect). */
export function takeCallback(rcu: Rcu): Rcu {
  if (!readyCallback(rcu)) throw new ModelError('rcu: no callback is ready to run');
  return rcu.set('callbacks', rcu.callbacks.shift());
}

/** Callbacks queued and not yet invoked. */
export function pendingCallbacks(rcu: Rcu): number {
  return rcu.callbacks.size;
}

/**
 * synchronize_rcu() called by `ctx`: the caller blocks until a grace period that starts after
 * now has ended. Legality is the caller's business (see `synchronizeRcuProblem`): the RCU state
 * records the wait either way, so that an illegal call shows its consequence (a grace period
 * that waits for its own waiter never ends).
 */
export function synchronizeRcuBegin(rcu: Rcu, ctx: string): Rcu {
  if (rcu.sync.has(ctx)) throw new ModelError(`rcu: ${ctx} is already blocked in synchronize_rcu()`);
  return rcu.set('sync', rcu.sync.set(ctx, 'next'));
}

/** True when `ctx` is blocked in synchronize_rcu(). */
export function inSynchronizeRcu(rcu: Rcu, ctx: string): boolean {
  return rcu.sync.has(ctx);
}

/** True when the grace period `ctx` waits for in synchronize_rcu() has ended. */
export function synchronizeRcuDone(rcu: Rcu, ctx: string): boolean {
  return rcu.sync.get(ctx) === 'done';
}

/** synchronize_rcu() returns in `ctx`; only once its grace period has ended. */
export function synchronizeRcuEnd(rcu: Rcu, ctx: string): Rcu {
  if (!synchronizeRcuDone(rcu, ctx)) throw new ModelError(`rcu: synchronize_rcu() in ${ctx} returns before its grace period ended`);
  return rcu.set('sync', rcu.sync.delete(ctx));
}

/**
 * Why synchronize_rcu() may not be called by `ctx`, or undefined when it may. `atomic` is the
 * caller's context check (hardirq, softirq, NMI, irqs or preemption off, a spinning lock held).
 * Inside the caller's own reader the call never returns: the grace period waits for the caller.
 */
export function synchronizeRcuProblem(rcu: Rcu, ctx: string, atomic: boolean): string | undefined {
  if (atomic) return `synchronize_rcu() in atomic context (${ctx}): it sleeps`;
  if (isReader(rcu, ctx))
    return `synchronize_rcu() inside ${ctx}'s own RCU reader (${[...rcu.readers.get(ctx)!.keys()].join(', ')}): the grace period waits for the caller`;
  return undefined;
}

function needsGp(rcu: Rcu): boolean {
  return rcu.callbacks.some((c) => c.stage === 'next') || rcu.sync.some((s) => s === 'next');
}

function promote(rcu: Rcu, from: Stage, to: Stage): Rcu {
  return rcu
    .set('callbacks', rcu.callbacks.map((c) => (c.stage === from ? c.set('stage', to) : c)))
    .set('sync', rcu.sync.map((s) => (s === from ? to : s)));
}

/** A grace period may start: none runs and some waiter needs one. */
export function canStartGp(rcu: Rcu): boolean {
  return !rcu.gp && needsGp(rcu);
}

/** Starts a grace period: it waits for every context that is a reader now. */
export function startGp(rcu: Rcu): Rcu {
  if (!canStartGp(rcu)) throw new ModelError('rcu: a grace period cannot start now');
  return promote(rcu.set('gp', true).set('waitFor', ISet(rcu.readers.keys())), 'next', 'current');
}

/** The running grace period may end: every reader it waited for has left. */
export function canEndGp(rcu: Rcu): boolean {
  return rcu.gp && rcu.waitFor.size === 0;
}

/** Ends the running grace period: the waiters it covered are done. */
export function endGp(rcu: Rcu): Rcu {
  if (!canEndGp(rcu)) throw new ModelError(`rcu: the grace period cannot end, it waits for ${rcu.waitFor.join(', ')}`);
  return promote(rcu.set('gp', false), 'current', 'done');
}

/** Lane of the grace-period machinery (the RCU grace-period kthread) in counterexamples. */
export const RCU_LANE = 'rcu';

/**
 * The grace-period transitions of a state: `rcu: grace period starts` and
 * `rcu: grace period ends`, each when enabled. `get`/`put` locate the Rcu inside the model's
 * state. Callback invocation is the model's: it decides which context runs them and what they do.
 */
export function gpTransitions<S>(state: S, get: (s: S) => Rcu, put: (s: S, rcu: Rcu) => S): Transition<S>[] {
  const rcu = get(state);
  const out: Transition<S>[] = [];
  if (canStartGp(rcu)) out.push({ label: 'rcu: grace period starts', lane: RCU_LANE, apply: () => put(state, startGp(rcu)) });
  if (canEndGp(rcu)) out.push({ label: 'rcu: grace period ends', lane: RCU_LANE, apply: () => put(state, endGp(rcu)) });
  return out;
}
