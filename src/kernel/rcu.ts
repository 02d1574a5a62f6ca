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
 * The state is a schema part (`rcu: rcuType({ contexts: 3, callbacks: 2 })`): queries read an
 * Rcu, effects write an RcuDraft in place.
 *
 * Limitation: one grace period at a time, and it starts only when some waiter needs one, as
 * tree RCU does; so the checker never explores idle grace periods, which change nothing a
 * model can observe. The model is more permissive than tree RCU (a reader that starts after a
 * grace period began is never waited for, while tree RCU sometimes waits for it), which is the
 * guarantee callers may rely on: every interleaving the kernel allows is explored.
 */
import { ModelError } from '../core/errors.ts';
import type { SchemaTransition } from '../core/model.ts';
import { t, type Draft, type ValueOf } from '../core/schema.ts';

/** Why a context is an RCU reader. Nesting counts per kind. */
export const READER_KINDS = ['rcu_read_lock', 'irqs-off', 'preempt-off', 'softirq', 'hardirq', 'nmi', 'rt-spinlock'] as const;
export type ReaderKind = (typeof READER_KINDS)[number];

export const STAGES = ['next', 'current', 'done'] as const;
export type Stage = (typeof STAGES)[number];

/** The bounds of a model's RCU state. */
export interface RcuShape {
  /** Contexts that are readers or blocked in synchronize_rcu() at one time, at most. */
  readonly contexts: number;
  /** call_rcu() callbacks queued at one time, at most. */
  readonly callbacks: number;
  /** Nesting depth of one reader kind in one context, at most (default 4). */
  readonly depth?: number;
}

/** The schema of the RCU state with the bounds of `shape`. */
export function rcuType(shape: RcuShape) {
  const callback = t.struct({
    /** What the callback does, as the model names it (`free arr0`). Need not be unique. */
    name: t.text(),
    stage: t.enum(STAGES),
  });
  return t.struct({
    /** Context → reader kind → nesting depth; contexts outside any reader are absent, and so are kinds a context is not in. */
    readers: t.map(t.text(), t.map(t.enum(READER_KINDS), t.int(1, shape.depth ?? 4), READER_KINDS.length), shape.contexts),
    gp: t.bool(),
    /** The readers the running grace period still waits for. */
    waitFor: t.setOf(t.text(), shape.contexts),
    /** call_rcu() callbacks in the order they were queued. */
    callbacks: t.list(callback, shape.callbacks),
    /** Contexts blocked in synchronize_rcu(), with the stage of the grace period they wait for. */
    sync: t.map(t.text(), t.enum(STAGES), shape.contexts),
  });
}

/** RCU state as transitions() read it. */
export type Rcu = ValueOf<ReturnType<typeof rcuType>>;
/** RCU state as apply(next) writes it. */
export type RcuDraft = Draft<Rcu>;
export type Callback = Rcu['callbacks'][number];

/** The RCU state of a system with no reader, no grace period and no waiter (a fresh value). */
export function rcuInit(): RcuDraft {
  return { readers: new Map(), gp: false, waitFor: new Set(), callbacks: [], sync: new Map() };
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
export function readLock(rcu: RcuDraft, ctx: string, kind: ReaderKind = 'rcu_read_lock'): void {
  let kinds = rcu.readers.get(ctx);
  if (!kinds) rcu.readers.set(ctx, (kinds = new Map()));
  kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
}

/**
 * rcu_read_unlock() (or leaving an implied reader region) in `ctx`. When the context leaves its
 * last reader section it stops being a reader: a running grace period no longer waits for it,
 * and its next section is a new reader that grace period does not cover.
 * An unlock without a matching lock is a model error.
 */
export function readUnlock(rcu: RcuDraft, ctx: string, kind: ReaderKind = 'rcu_read_lock'): void {
  const kinds = rcu.readers.get(ctx);
  const depth = kinds?.get(kind) ?? 0;
  if (!kinds || depth === 0) throw new ModelError(`rcu: ${ctx} leaves a ${kind} reader section it is not in`);
  if (depth === 1) kinds.delete(kind);
  else kinds.set(kind, depth - 1);
  if (kinds.size > 0) return;
  rcu.readers.delete(ctx);
  rcu.waitFor.delete(ctx);
}

/** call_rcu(): queue a callback that may run once a grace period started after now has ended. */
export function callRcu(rcu: RcuDraft, name: string): void {
  rcu.callbacks.push({ name, stage: 'next' });
}

/** The callback that runs next, if its grace period has ended (callbacks run in queue order). */
export function readyCallback(rcu: Rcu): Callback | undefined {
  const first = rcu.callbacks[0];
  return first?.stage === 'done' ? first : undefined;
}

/** Removes the ready callback (the model applies its effect). */
export function takeCallback(rcu: RcuDraft): void {
  if (!readyCallback(rcu)) throw new ModelError('rcu: no callback is ready to run');
  rcu.callbacks.shift();
}

/** Callbacks queued and not yet invoked. */
export function pendingCallbacks(rcu: Rcu): number {
  return rcu.callbacks.length;
}

/**
 * synchronize_rcu() called by `ctx`: the caller blocks until a grace period that starts after
 * now has ended. Legality is the caller's business (see `synchronizeRcuProblem`): the RCU state
 * records the wait either way, so that an illegal call shows its consequence (a grace period
 * that waits for its own waiter never ends).
 */
export function synchronizeRcuBegin(rcu: RcuDraft, ctx: string): void {
  if (rcu.sync.has(ctx)) throw new ModelError(`rcu: ${ctx} is already blocked in synchronize_rcu()`);
  rcu.sync.set(ctx, 'next');
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
export function synchronizeRcuEnd(rcu: RcuDraft, ctx: string): void {
  if (!synchronizeRcuDone(rcu, ctx)) throw new ModelError(`rcu: synchronize_rcu() in ${ctx} returns before its grace period ended`);
  rcu.sync.delete(ctx);
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
  return rcu.callbacks.some((c) => c.stage === 'next') || [...rcu.sync.values()].some((s) => s === 'next');
}

function promote(rcu: RcuDraft, from: Stage, to: Stage): void {
  for (const c of rcu.callbacks) if (c.stage === from) c.stage = to;
  for (const [ctx, s] of rcu.sync) if (s === from) rcu.sync.set(ctx, to);
}

/** A grace period may start: none runs and some waiter needs one. */
export function canStartGp(rcu: Rcu): boolean {
  return !rcu.gp && needsGp(rcu);
}

/** Starts a grace period: it waits for every context that is a reader now. */
export function startGp(rcu: RcuDraft): void {
  if (!canStartGp(rcu)) throw new ModelError('rcu: a grace period cannot start now');
  rcu.gp = true;
  rcu.waitFor.clear();
  for (const ctx of rcu.readers.keys()) rcu.waitFor.add(ctx);
  promote(rcu, 'next', 'current');
}

/** The running grace period may end: every reader it waited for has left. */
export function canEndGp(rcu: Rcu): boolean {
  return rcu.gp && rcu.waitFor.size === 0;
}

/** Ends the running grace period: the waiters it covered are done. */
export function endGp(rcu: RcuDraft): void {
  if (!canEndGp(rcu)) throw new ModelError(`rcu: the grace period cannot end, it waits for ${[...rcu.waitFor].join(', ')}`);
  rcu.gp = false;
  promote(rcu, 'current', 'done');
}

/** Lane of the grace-period machinery (the RCU grace-period kthread) in counterexamples. */
export const RCU_LANE = 'rcu';

/**
 * The grace-period transitions of state `s`: `rcu: grace period starts` and
 * `rcu: grace period ends`, each when enabled. `get` reads the Rcu inside the model's state,
 * `put` finds it in the successor being written: `gpTransitions(s, (x) => x.rcu, (d) => d.rcu)`.
 * Callback invocation is the model's: it decides which context runs them and what they do.
 */
export function gpTransitions<S>(s: S, get: (s: S) => Rcu, put: (d: Draft<S>) => RcuDraft): SchemaTransition<S>[] {
  const rcu = get(s);
  const out: SchemaTransition<S>[] = [];
  if (canStartGp(rcu)) out.push({ label: 'rcu: grace period starts', lane: RCU_LANE, apply: (d) => startGp(put(d)) });
  if (canEndGp(rcu)) out.push({ label: 'rcu: grace period ends', lane: RCU_LANE, apply: (d) => endGp(put(d)) });
  return out;
}
