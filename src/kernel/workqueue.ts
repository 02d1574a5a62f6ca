/**
 * Work items and the kworkers that run them (kernel/workqueue.c, 6.18), as the kvfree_rcu
 * threads use them: a work item is queued once until a worker starts it, can be queued again
 * while it runs (and then runs again), runs on one worker at a time, on the CPU it was queued
 * on (a bound workqueue: system_wq, system_highpri_wq) or on any CPU (WQ_UNBOUND), directly or
 * after its timer fires (delayed work).
 *
 * What the layer follows:
 * - queue_work_on(): "Return: %false if @work was already on a queue, %true otherwise.", by
 *       if (!test_and_set_bit(WORK_STRUCT_PENDING_BIT, work_data_bits(work)) &&
 *           !clear_pending_if_disabled(work)) {
 *               __queue_work(cpu, wq, work);
 *               ret = true;
 *       }
 *   queue_delayed_work_on() sets the same bit and arms the timer instead: "If @delay is zero
 *   and @dwork is idle, it will be scheduled for immediate execution."
 * - process_one_work() clears PENDING before it calls the function, so a queue_work() from
 *   inside the function (or while it runs) queues it again:
 *       set_work_pool_and_clear_pending(work, pool->id, pool_offq_flags(pool));
 *       ...
 *       worker->current_func(work);
 *   and a work item queued while it runs is not started by a second worker: "collision =
 *   find_worker_executing_work(pool, work); if (unlikely(collision)) { move_linked_works(work,
 *   &collision->scheduled, NULL); return; }" (it runs again after the current run).
 * - After the function returns: `if (unlikely(in_atomic() || lockdep_depth(current) > 0)) {
 *   pr_err("BUG: workqueue leaked lock or atomic: ...` (recorded as a lock-balance splat).
 *
 * A work item is a schema part the model declares where the kernel keeps it (`page_cache_work:
 * workType({ cpus })` in a per-CPU struct);
 * the kworker that runs a CPU's work items is one of the CPU's tasks, which the model writes
 * as a program: its idle step starts a runnable work item (startWork()), its last step ends it
 * (endWork()). Left out: cancel_work(), flush_work(), max_active limits, concurrency
 * management (several kworkers of one pool), CPU hotplug; the delayed work's delay is "some
 * time later" (its timer fires as a step of its own lane).
 */
import { ModelError } from '../core/errors.ts';
import { t, type Draft, type ValueOf } from '../core/schema.ts';
import type { KernelConfig } from './config.ts';
import { depth, preemptCount, splat, top } from './cpu.ts';
import type { Kernel, KernelDraft } from './state.ts';

/** Where a queued work item may run: a CPU's pool (bound), or any CPU (WQ_UNBOUND). */
export const UNBOUND = -1;

/** The schema of a work item on a kernel of `cpus` CPUs. */
export function workType(shape: { readonly cpus: number }) {
  return t.struct({
    /** WORK_STRUCT_PENDING_BIT: queued, or its timer armed, and not started since. */
    pending: t.bool(),
    /** Delayed work whose timer has not fired yet. */
    timer: t.bool(),
    /** The pool it is queued on: a CPU, or UNBOUND; null when not on a worklist. */
    queued: t.optional(t.int(UNBOUND, shape.cpus - 1)),
    /** The CPU whose kworker is running it, if any. */
    running: t.optional(t.int(0, shape.cpus - 1)),
    /** Where its timer queues it when it fires. */
    target: t.int(UNBOUND, shape.cpus - 1),
  });
}

export type Work = ValueOf<ReturnType<typeof workType>>;
export type WorkDraft = Draft<Work>;

/** A work item that was never queued (INIT_WORK()). */
export function workInit(): WorkDraft {
  return { pending: false, timer: false, queued: null, running: null, target: UNBOUND };
}

function checkCpu(cpu: number): void {
  if (!Number.isInteger(cpu) || cpu < UNBOUND) throw new ModelError(`workqueue: no CPU ${cpu} to queue on (a CPU number, or UNBOUND)`);
}

/** queue_work_on(cpu, wq, work) (UNBOUND for a WQ_UNBOUND workqueue): false, and nothing changes, when the work is already pending. */
export function queueWork(w: WorkDraft, cpu: number): boolean {
  checkCpu(cpu);
  if (w.pending) return false;
  w.pending = true;
  w.queued = cpu;
  return true;
}

/** queue_delayed_work_on(cpu, wq, dwork, delay): with a delay, arms the timer (it fires later: fireWorkTimer()); with none, queueWork(). */
export function queueDelayedWork(w: WorkDraft, cpu: number, delay: boolean): boolean {
  if (!delay) return queueWork(w, cpu);
  checkCpu(cpu);
  if (w.pending) return false;
  w.pending = true;
  w.timer = true;
  w.target = cpu;
  return true;
}

/** The delayed work's timer fires: the work goes on the worklist its queue_delayed_work_on() named. */
export function fireWorkTimer(w: WorkDraft): void {
  if (!w.timer) throw new ModelError('workqueue: the timer of a work item that has none armed fires');
  w.timer = false;
  w.queued = w.target;
  w.target = UNBOUND;
}

/** Whether `cpu`'s kworker may start `w` now: queued on its pool (or unbound), and not running anywhere. */
export function workRunnable(w: Work, cpu: number): boolean {
  return w.queued !== null && (w.queued === cpu || w.queued === UNBOUND) && w.running === null;
}

/** process_one_work() on `cpu`: off the worklist, PENDING cleared, running here. */
export function startWork(w: WorkDraft, cpu: number): void {
  if (!workRunnable(w, cpu)) throw new ModelError(`workqueue: cpu${cpu}'s kworker starts a work item that is not queued for it or already runs`);
  w.pending = false;
  w.queued = null;
  w.running = cpu;
}

/**
 * The work function `fn` returns on `cpu`'s kworker: the item is idle (or, queued again
 * meanwhile, waits on its worklist). A function that returns atomic or with a lock held is
 * the "BUG: workqueue leaked lock or atomic" the workqueue prints.
 */
export function endWork(k: KernelDraft, cfg: KernelConfig, cpu: number, w: WorkDraft, fn: string): void {
  if (w.running !== cpu) throw new ModelError(`workqueue: ${fn}() returns on cpu${cpu}, which is not running it`);
  w.running = null;
  const count = preemptCount(k, cfg, cpu);
  const held = heldByTask(k, cpu);
  if (count > 0 || held.length > 0) {
    const fr = top(k, cpu);
    splat(
      k,
      'lock-held-at-return',
      cpu,
      `BUG: workqueue leaked lock or atomic: ${fr.task}/0x${count.toString(16).padStart(8, '0')}: last function: ${fn}${held.length > 0 ? ` (holds ${held.join(', ')})` : ''}`,
    );
  }
}

function heldByTask(k: Kernel, cpu: number): string[] {
  const d = depth(k, cpu);
  const task = top(k, cpu).task;
  return [...k.locks].filter(([, l]) => l.holders.some((h) => h.cpu === cpu && h.depth === d && h.task === task)).map(([name]) => name);
}
