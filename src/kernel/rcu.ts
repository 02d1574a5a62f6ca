/**
 * RCU as explicit, finite state: which contexts are inside a read-side critical section,
 * whether a grace period is running and which reader sections it still waits for, call_rcu()
 * callbacks and synchronize_rcu() callers with the grace period each of them needs.
 *
 * Abstracts kernel/rcu/tree.c by its guarantee, not its mechanism: "a grace period that starts
 * at time t ends only after every reader that was running at t has finished". What a reader is
 * comes from the comment above synchronize_rcu() (kernel/rcu/tree.c, 6.18):
 *
 *     RCU read-side critical sections are delimited by rcu_read_lock() and
 *     rcu_read_unlock(), and may be nested.  In addition, regions of code
 *     across which interrupts, preemption, or softirqs have been disabled
 *     also serve as RCU read-side critical sections.  This includes hardware
 *     interrupt handlers, softirq handlers, and NMI handlers.
 *
 * so the layer derives readers from the CPU state (src/kernel/cpu.ts), frame by frame: a frame is
 * a reader when its rcu_read_lock() depth is above 0, its irqs are off, its preempt count is
 * above 0, or it is a softirq, hardirq or NMI frame. On PREEMPT_RT, spin_lock() of a spinlock_t
 * (and so every local_lock) takes rcu_read_lock() itself (kernel/locking/spinlock_rt.c):
 *
 *     static __always_inline void __rt_spin_lock(spinlock_t *lock)
 *     {
 *             rtlock_might_resched();
 *             rtlock_lock(&lock->lock);
 *             rcu_read_lock();
 *             migrate_disable();
 *     }
 *
 * and RT's softirqs run under local_bh_disable(), which does too ("Required to meet the RCU
 * bottomhalf requirements", kernel/softirq.c). A model never declares a reader it already is:
 * it calls `rcuReadLock()` only where the code says rcu_read_lock().
 *
 * Which sections a running grace period waits for is a flag on each frame (`gpWaits`): set on
 * every reader frame (parked tasks' frames included) when the grace period starts, and cleared
 * by the layer the moment the frame stops being a reader (rcu_read_unlock(), local_irq_restore(),
 * preempt_enable(), the unlock of a lock, the return from an interrupt). A section entered after
 * the start is not waited for, as in the kernel.
 *
 * Grace periods carry no sequence numbers (that would make the state space infinite). Each
 * waiter — a callback or a synchronize_rcu() caller — carries a stage, as in the segmented
 * callback list of rcu_segcblist: `next` (needs a grace period that has not started yet),
 * `current` (the running grace period suffices), `done` (a full grace period has elapsed).
 * Starting a grace period promotes next → current; ending it promotes current → done.
 *
 * The state is part of the kernel's (`kernel.rcu`, bounds from kernelType's `rcu` shape):
 * queries read a Kernel, effects write a KernelDraft in place.
 *
 * Configuration (src/kernel/config.ts): with PREEMPT_RCU (PREEMPT, PREEMPT_RT) a task inside
 * rcu_read_lock() may be preempted and stays a reader while parked; without it (PREEMPT_NONE,
 * PREEMPT_VOLUNTARY) rcu_read_lock() is preempt_disable(), so the reader is atomic too
 * (cpu.ts's atomicReasons). What code may rely on is the same in both: the layer's readers are
 * the regions the kernel guarantees, not the longer stretches tree RCU happens to wait for on
 * !PREEMPT_RCU (a grace period there also waits for a task's next context switch), which only
 * makes the model more permissive. A CPU spinning for a spinlock spins with preemption off
 * (locks.ts), so it is a reader while it spins.
 *
 * Limitation: one grace period at a time, and it starts only when some waiter needs one, as
 * tree RCU does; so the checker never explores idle grace periods, which change nothing a
 * model can observe. The model is more permissive than tree RCU (a reader that starts after a
 * grace period began is never waited for, while tree RCU sometimes waits for it), which is the
 * guarantee callers may rely on: every interleaving the kernel allows is explored.
 */
import { ModelError } from '../core/errors.ts';
import type { SchemaTransition } from '../core/model.ts';
import type { Draft } from '../core/schema.ts';
import type { KernelConfig } from './config.ts';
import { atomicReasons } from './cpu.ts';
import { mightSleep } from './locks.ts';
import { frameIsReader, frameReaderReasons, quiesce, type Callback, type Frame, type FrameDraft, type Kernel, type KernelDraft, type Rcu, type RcuDraft, type Stage } from './state.ts';

export { rcuType, rcuInit, frameIsReader, frameReaderReasons, quiesce, STAGES, type RcuShape, type Rcu, type RcuDraft, type Callback, type Stage } from './state.ts';

function frameAt(k: Kernel, cpu: number, d: number): readonly Frame[] {
  const c = k.cpus[cpu];
  if (!c) throw new RangeError(`no cpu${cpu}: the kernel has ${k.cpus.length} CPUs`);
  if (d < 0 || d >= c.frames.length) throw new RangeError(`cpu${cpu} has no frame at depth ${d}`);
  return c.frames;
}

/**
 * The frames whose reader sections protect the context at depth `d` of `cpu` (default: the
 * running one): an interrupt frame protects itself; task context (a task and the hooks
 * re-entered from it) is one reader, since rcu_read_lock() nests per task.
 */
function contextFrames(k: Kernel, cpu: number, d: number): readonly Frame[] {
  const fs = frameAt(k, cpu, d);
  const fr = fs[d];
  if (fr.kind !== 'task' && fr.kind !== 'hook') return [fr];
  return fs.slice(0, d + 1).filter((f) => f.kind === 'task' || f.kind === 'hook');
}

const runningDepth = (k: Kernel, cpu: number) => frameAt(k, cpu, 0).length - 1;

/** Why the context at depth `d` of `cpu` (default: the running one) is an RCU reader; empty when it is not. */
export function readerReasons(k: Kernel, cpu: number, d = runningDepth(k, cpu)): string[] {
  return [...new Set(contextFrames(k, cpu, d).flatMap(frameReaderReasons))];
}

/** True when the context at depth `d` of `cpu` (default: the running one) is inside an RCU read-side critical section, explicit or implied. */
export function isReader(k: Kernel, cpu: number, d = runningDepth(k, cpu)): boolean {
  return contextFrames(k, cpu, d).some(frameIsReader);
}

/** `cpu0/task` (the task's name for task context and its hooks), `cpu0/hardirq`: how RCU's waiters and faults name a context. */
export function rcuContext(k: Kernel, cpu: number, d = runningDepth(k, cpu)): string {
  const fr = frameAt(k, cpu, d)[d];
  return fr.kind === 'task' || fr.kind === 'hook' ? taskContext(cpu, fr.task) : `cpu${cpu}/${fr.kind}`;
}

/** How RCU names a task's context on `cpu` (`cpu0/task1`), running or parked. */
export function taskContext(cpu: number, task: string): string {
  return `cpu${cpu}/${task}`;
}

/** The CPU and depth of the context RCU names `ctx`, among the running frames. */
export function findContext(k: Kernel, ctx: string): { cpu: number; depth: number } | undefined {
  for (let cpu = 0; cpu < k.cpus.length; cpu++)
    for (let d = k.cpus[cpu].frames.length - 1; d >= 0; d--) if (rcuContext(k, cpu, d) === ctx) return { cpu, depth: d };
  return undefined;
}

/** Whether `ctx` names a task parked on its CPU (preempted, or asleep in synchronize_rcu()). */
export function isParkedContext(k: Kernel, ctx: string): boolean {
  return k.cpus.some((c, cpu) => c.parked.some((fs) => taskContext(cpu, fs[0].task) === ctx));
}

function topFrame(k: KernelDraft, cpu: number): FrameDraft {
  const fs = k.cpus[cpu]?.frames;
  const fr = fs?.[fs.length - 1];
  if (!fr) throw new RangeError(`no running frame on cpu${cpu}`);
  return fr;
}

/** rcu_read_lock() in the running frame of `cpu`; nests. */
export function rcuReadLock(k: KernelDraft, cpu: number): void {
  topFrame(k, cpu).rcu++;
}

/**
 * rcu_read_unlock() in the running frame of `cpu`. When the frame leaves its last reader
 * section (explicit or implied) a running grace period no longer waits for it, and its next
 * section is a new reader that grace period does not cover. An unlock without a lock is a
 * model error.
 */
export function rcuReadUnlock(k: KernelDraft, cpu: number): void {
  const fr = topFrame(k, cpu);
  if (fr.rcu === 0) throw new ModelError(`rcu: cpu${cpu} ${fr.kind} calls rcu_read_unlock() outside rcu_read_lock()`);
  fr.rcu--;
  quiesce(fr);
}

/**
 * call_rcu(): queue a callback that may run once a grace period started after now has ended;
 * `frees` is what it does, the objects it kfree()s/kvfree()s (runRcuCallback()).
 */
export function callRcu(rcu: RcuDraft, name: string, frees: readonly string[] = []): void {
  rcu.callbacks.push({ name, frees: [...frees], stage: 'next' });
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
 * synchronize_rcu() called by the running context of `cpu`. Tree RCU: might_sleep() (in
 * rcu_blocking_is_gp(), "Check for RCU read-side critical section"), then it blocks until a
 * grace period that starts after now has ended. TINY_RCU (`cfg.tinyRcu`): nothing, it returns
 * at once (kernel/rcu/tiny.c: "any legal call to synchronize_rcu() is a quiescent state");
 * the caller still ends it with synchronizeRcuEnd(). Legality is the caller's business
 * (`synchronizeRcuProblem`, the synchronize-rcu-legal property): the RCU state records the
 * wait either way, so that an illegal call shows its consequence (a grace period that waits
 * for its own waiter never ends; on TINY_RCU, one that does not wait at all).
 */
export function synchronizeRcuBegin(k: KernelDraft, cfg: KernelConfig, cpu: number): void {
  const ctx = rcuContext(k, cpu);
  if (k.rcu.sync.has(ctx)) throw new ModelError(`rcu: ${ctx} is already blocked in synchronize_rcu()`);
  if (cfg.tinyRcu) {
    k.rcu.sync.set(ctx, 'done');
    return;
  }
  mightSleep(k, cfg, cpu, 'synchronize_rcu()');
  k.rcu.sync.set(ctx, 'next');
}

/** True when `ctx` (as rcuContext() names it) is blocked in synchronize_rcu(). */
export function inSynchronizeRcu(rcu: Rcu, ctx: string): boolean {
  return rcu.sync.has(ctx);
}

/** Whether `ctx` is in synchronize_rcu() and its grace period has not ended yet: it sleeps there. */
export function waitsInSynchronizeRcu(rcu: Rcu, ctx: string): boolean {
  const stage = rcu.sync.get(ctx);
  return stage !== undefined && stage !== 'done';
}

/** True when the grace period that the running context of `cpu` waits for in synchronize_rcu() has ended. */
export function synchronizeRcuDone(k: Kernel, cpu: number): boolean {
  return k.rcu.sync.get(rcuContext(k, cpu)) === 'done';
}

/** synchronize_rcu() returns in the running context of `cpu`; only once its grace period has ended. */
export function synchronizeRcuEnd(k: KernelDraft, cpu: number): void {
  const ctx = rcuContext(k, cpu);
  if (!synchronizeRcuDone(k, cpu)) throw new ModelError(`rcu: synchronize_rcu() in ${ctx} returns before its grace period ended`);
  k.rcu.sync.delete(ctx);
}

/**
 * Why synchronize_rcu() may not be called by the context at depth `d` of `cpu` (default: the
 * running one), or undefined when it may: in atomic context it sleeps (might_sleep()); inside
 * the caller's own reader, explicit or implied, it never returns, since the grace period waits
 * for the caller.
 */
export function synchronizeRcuProblem(k: Kernel, cfg: KernelConfig, cpu: number, d = runningDepth(k, cpu)): string | undefined {
  const ctx = rcuContext(k, cpu, d);
  const atomic = atomicReasons(k, cfg, cpu, d);
  // TINY_RCU's synchronize_rcu() neither sleeps nor waits: an illegal call returns at once,
  // before the readers it runs inside or interrupted have finished.
  const tiny = ': on TINY_RCU it returns at once, inside a reader';
  if (atomic.length > 0) return `synchronize_rcu() in atomic context (${ctx}: ${atomic.join(', ')})${cfg.tinyRcu ? tiny : ': it sleeps'}`;
  const reader = readerReasons(k, cpu, d);
  if (reader.length > 0) return `synchronize_rcu() inside ${ctx}'s own RCU reader (${reader.join(', ')})${cfg.tinyRcu ? tiny : ': the grace period waits for the caller'}`;
  return undefined;
}

function needsGp(rcu: Rcu): boolean {
  return rcu.callbacks.some((c) => c.stage === 'next') || [...rcu.sync.values()].some((s) => s === 'next');
}

function promote(rcu: RcuDraft, from: Stage, to: Stage): void {
  for (const c of rcu.callbacks) if (c.stage === from) c.stage = to;
  for (const [ctx, s] of rcu.sync) if (s === from) rcu.sync.set(ctx, to);
}

/** Every frame of every CPU, running or parked. */
function* allFrames<F extends Frame | FrameDraft>(k: { readonly cpus: readonly { readonly frames: readonly F[]; readonly parked: readonly (readonly F[])[] }[] }): Generator<F> {
  for (const c of k.cpus) {
    yield* c.frames;
    for (const p of c.parked) yield* p;
  }
}

/** A grace period may start: none runs and some waiter needs one. */
export function canStartGp(k: Kernel): boolean {
  return !k.rcu.gp && needsGp(k.rcu);
}

/** Starts a grace period: it waits for every frame that is a reader now, running or parked. */
export function startGp(k: KernelDraft): void {
  if (!canStartGp(k)) throw new ModelError('rcu: a grace period cannot start now');
  k.rcu.gp = true;
  for (const fr of allFrames(k)) if (frameIsReader(fr)) fr.gpWaits = true;
  promote(k.rcu, 'next', 'current');
}

/** The reader sections the running grace period still waits for, as rcuContext() names them. */
export function gpWaitsFor(k: Kernel): string[] {
  const out: string[] = [];
  k.cpus.forEach((c, cpu) => {
    c.frames.forEach((f, d) => f.gpWaits && out.push(rcuContext(k, cpu, d)));
    for (const p of c.parked) if (p.some((f) => f.gpWaits)) out.push(`${taskContext(cpu, p[0].task)} (parked)`);
  });
  return out;
}

/** The running grace period may end: every reader section it waited for has ended. */
export function canEndGp(k: Kernel): boolean {
  if (!k.rcu.gp) return false;
  for (const fr of allFrames(k)) if (fr.gpWaits) return false;
  return true;
}

/** Ends the running grace period: the waiters it covered are done. */
export function endGp(k: KernelDraft): void {
  if (!canEndGp(k)) throw new ModelError(`rcu: the grace period cannot end, it waits for ${gpWaitsFor(k).join(', ')}`);
  k.rcu.gp = false;
  promote(k.rcu, 'current', 'done');
}

/** Lane of the grace-period machinery (the RCU grace-period kthread) in counterexamples. */
export const RCU_LANE = 'rcu';

/**
 * The grace-period transitions of state `s`: `rcu: grace period starts` and
 * `rcu: grace period ends`, each when enabled. `get` reads the Kernel inside the model's state,
 * `put` finds it in the successor being written: `gpTransitions(s, (x) => x.kernel, (d) => d.kernel)`.
 * Callback invocation is the model's: it decides which context runs them and what they do.
 */
export function gpTransitions<S>(s: S, get: (s: S) => Kernel, put: (d: Draft<S>) => KernelDraft): SchemaTransition<S>[] {
  const k = get(s);
  const out: SchemaTransition<S>[] = [];
  if (canStartGp(k)) out.push({ label: 'rcu: grace period starts', lane: RCU_LANE, apply: (d) => startGp(put(d)) });
  if (canEndGp(k)) out.push({ label: 'rcu: grace period ends', lane: RCU_LANE, apply: (d) => endGp(put(d)) });
  return out;
}
