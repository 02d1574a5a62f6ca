import { configName, type KernelConfig } from './config.ts';
import { ModelError } from '../core/errors.ts';
import type { Draft } from '../core/schema.ts';
import { ARRIVAL_KINDS, maySleep, quiesce, rcuInit, SPLAT_KINDS, type ArrivalKind, type ContextKind, type Splat, type Cpu, type Frame, type FrameDraft, type Kernel, type KernelDraft, type KernelOf, type SplatKind } from './state.ts';

/**
 * CPUs, their context stacks, irq and preemption state, and interrupt arrival. Queries read a
 * Kernel (the state transitions() sees); effects write a KernelDraft (the successor apply(next)
 * writes). Interrupt arrival is offered as a guard (`canInterrupt`) plus an effect
 * (`interrupt`), so that a model turns each arrival point into a nondeterministic transition
 * and the explorer tries them all.
 */

export interface CpuInit<L = unknown> {
  /** The task running on this CPU (default `task`). */
  readonly task?: string;
  /** Its program counter (default '') and locals (default null). */
  readonly pc?: string;
  readonly data?: L;
  /** Other tasks of this CPU, not running at first (PREEMPT_RT preemption scenarios). */
  readonly parked?: readonly { readonly task: string; readonly pc: string; readonly data?: L }[];
  /** Arrivals allowed per kind, e.g. `{ nmi: 1, hardirq: 1, hook: 1 }`; kinds not listed never arrive. */
  readonly budget?: Readonly<Partial<Record<ArrivalKind, number>>>;
}

/** A CPU's interrupt budget from a model's `{ nmi: 1, hook: 1 }` (a fresh value); an unknown kind is a model error. */
function budgetOf(b: Readonly<Record<string, number | undefined>>): { nmi: number; hardirq: number; softirq: number; hook: number } {
  for (const kind of Object.keys(b))
    if (!(ARRIVAL_KINDS as readonly string[]).includes(kind)) throw new ModelError(`initKernel: budget kind "${kind}" is not one of ${ARRIVAL_KINDS.join(', ')}`);
  return { nmi: b.nmi ?? 0, hardirq: b.hardirq ?? 0, softirq: b.softirq ?? 0, hook: b.hook ?? 0 };
}

/** A frame as a fresh value, for pushing onto a stack. */
export function newFrame(f: Partial<Frame> & { readonly kind: ContextKind; readonly task: string }): FrameDraft {
  return { irqsOff: false, preempt: 0, migrate: 0, rcu: 0, bh: 0, threaded: false, gpWaits: false, waiting: null, pc: '', data: null, ...f, irqSaved: [...(f.irqSaved ?? [])] };
}

/**
 * The kernel state of a model's initial state: assign it to `draft.kernel` in init, naming the
 * type of the frames' locals (`initKernel<Locals | null>([...])`) unless `data` gives it.
 */
export function initKernel<L = unknown>(cpus: readonly CpuInit<L>[]): Draft<KernelOf<L>> {
  const k: KernelDraft = {
    cpus: cpus.map((c) => ({
      frames: [newFrame({ kind: 'task', task: c.task ?? 'task', pc: c.pc ?? '', data: c.data ?? null })],
      parked: (c.parked ?? []).map((p) => [newFrame({ kind: 'task', task: p.task, pc: p.pc, data: p.data ?? null })]),
      budget: budgetOf(c.budget ?? {}),
    })),
    locks: new Map(),
    splats: [],
    rcu: rcuInit(),
  };
  return k as Draft<KernelOf<L>>;
}

export function cpuCount(k: Kernel): number {
  return k.cpus.length;
}

function cpuAt<C extends Cpu | Draft<Cpu>>(k: { readonly cpus: readonly C[] }, cpu: number): C {
  const c = k.cpus[cpu];
  if (!c) throw new RangeError(`no cpu${cpu}: the kernel has ${k.cpus.length} CPUs`);
  return c;
}

export function frames(k: Kernel, cpu: number): readonly Frame[] {
  return cpuAt(k, cpu).frames;
}

/** The running frame of a CPU: the top of its stack. */
export function top(k: Kernel, cpu: number): Frame {
  const fs = cpuAt(k, cpu).frames;
  const f = fs[fs.length - 1];
  if (!f) throw new RangeError(`cpu${cpu} has no running frame`);
  return f;
}

/** The running frame of a CPU in a draft, to write. */
export function topDraft(k: KernelDraft, cpu: number): FrameDraft {
  const fs = cpuAt(k, cpu).frames;
  const f = fs[fs.length - 1];
  if (!f) throw new RangeError(`cpu${cpu} has no running frame`);
  return f;
}

/** Index of the running frame in its CPU's stack (0 = the task frame). */
export function depth(k: Kernel, cpu: number): number {
  return cpuAt(k, cpu).frames.length - 1;
}

/** Changes the running frame of a CPU. */
export function updateTop(k: KernelDraft, cpu: number, f: (fr: FrameDraft) => void): void {
  f(topDraft(k, cpu));
}

/** Sets the model's program counter (and optionally locals) of the running frame. */
export function setPc(k: KernelDraft, cpu: number, pc: string, data?: unknown): void {
  const fr = topDraft(k, cpu);
  fr.pc = pc;
  if (data !== undefined) fr.data = data as never;
}

export function hasFrame(k: Kernel, cpu: number, kind: ContextKind): boolean {
  return cpuAt(k, cpu).frames.some((f) => f.kind === kind);
}

/** in_nmi() */
export function inNmi(k: Kernel, cpu: number): boolean {
  return hasFrame(k, cpu, 'nmi');
}

/** in_hardirq(): also true in an NMI that interrupted a hardirq, as the preempt count says. */
export function inHardirq(k: Kernel, cpu: number): boolean {
  return hasFrame(k, cpu, 'hardirq');
}

/** in_serving_softirq() */
export function inSoftirq(k: Kernel, cpu: number): boolean {
  return hasFrame(k, cpu, 'softirq');
}

/** in_task(): the running frame is task context (a task or a hook re-entered from it). */
export function inTask(k: Kernel, cpu: number): boolean {
  const kind = top(k, cpu).kind;
  return kind === 'task' || kind === 'hook';
}

export function irqsDisabled(k: Kernel, cpu: number): boolean {
  return top(k, cpu).irqsOff;
}

/**
 * The sum of a per-frame depth over frames `from`..`to` of a stack: `rcu` is what
 * current->rcu_read_lock_nesting counts (interrupt frames run as `current`), `bh` the
 * local_bh_disable() depth.
 */
export function stackSum(fs: readonly Frame[], field: 'rcu' | 'bh', to: number, from = 0): number {
  let n = 0;
  for (let i = from; i <= to; i++) n += fs[i][field];
  return n;
}

/** The preempt_disable() depth at depth `d`, with the one rcu_read_lock() takes on !PREEMPT_RCU. */
function preemptDepth(fs: readonly Frame[], d: number, cfg: KernelConfig): number {
  return fs[d].preempt + (cfg.preemptRcu ? 0 : stackSum(fs, 'rcu', d));
}

function framesTo(k: Kernel, cpu: number, d: number): readonly Frame[] {
  const fs = cpuAt(k, cpu).frames;
  if (!fs[d]) throw new RangeError(`cpu${cpu} has no frame at depth ${d}`);
  return fs;
}

/**
 * Why the frame at depth `d` of a CPU (default: the running one) is atomic (may not sleep and
 * is not preempted), whatever the kernel can see of it; empty when it may sleep. On PREEMPT_RT
 * softirqs run in threads and may sleep. On !PREEMPT_RCU rcu_read_lock() is preempt_disable().
 */
export function atomicReasons(k: Kernel, cfg: KernelConfig, cpu: number, d = depth(k, cpu)): string[] {
  const fs = framesTo(k, cpu, d);
  const fr = fs[d];
  const within = (kind: ContextKind) => fs.some((f, i) => i <= d && f.kind === kind);
  const why: string[] = [];
  if (within('nmi')) why.push('in NMI');
  else if (within('hardirq')) why.push('in hardirq');
  else if (within('softirq')) why.push('in softirq');
  if (fr.irqsOff && !within('nmi') && !within('hardirq')) why.push('irqs disabled');
  if (fr.preempt > 0) why.push(`preemption disabled (preempt_count ${fr.preempt})`);
  if (!cfg.preemptRcu && stackSum(fs, 'rcu', d) > 0) why.push('in rcu_read_lock() (preempt_disable() on !PREEMPT_RCU)');
  if (!cfg.rt && stackSum(fs, 'bh', d) > 0) why.push('bottom halves disabled');
  return why;
}

/** True where nothing may sleep: NMI, hardirq, softirq (!RT), irqs off, preemption off (spinning locks included). */
export function isAtomic(k: Kernel, cfg: KernelConfig, cpu: number): boolean {
  return atomicReasons(k, cfg, cpu).length > 0;
}

/** preempt_count()'s fields (include/linux/preempt.h): PREEMPT_MASK 0xff, SOFTIRQ 0xff00, HARDIRQ 0xf0000, NMI 0xf00000. */
const SOFTIRQ_OFFSET = 0x100;
const SOFTIRQ_DISABLE_OFFSET = 2 * SOFTIRQ_OFFSET;
const HARDIRQ_OFFSET = 0x10000;
const NMI_OFFSET = 0x100000;

/**
 * preempt_count() at depth `d` of `cpu` (default: the running frame), as the kernel computes
 * it: the preempt_disable() depth (spinlocks and, on !PREEMPT_RCU, rcu_read_lock() included)
 * only with PREEMPT_COUNT; SOFTIRQ_OFFSET per softirq being served and SOFTIRQ_DISABLE_OFFSET
 * per local_bh_disable() (!PREEMPT_RT; RT serves softirqs in task context and keeps them out of
 * preempt_count()); HARDIRQ_OFFSET per hardirq;
 * NMI_OFFSET + HARDIRQ_OFFSET per NMI (__nmi_enter()).
 */
export function preemptCount(k: Kernel, cfg: KernelConfig, cpu: number, d = depth(k, cpu)): number {
  const fs = framesTo(k, cpu, d);
  let n = cfg.preemptCount ? preemptDepth(fs, d, cfg) : 0;
  if (!cfg.rt) n += SOFTIRQ_DISABLE_OFFSET * stackSum(fs, 'bh', d);
  for (let i = 0; i <= d; i++) {
    const kind = fs[i].kind;
    if (kind === 'softirq') n += SOFTIRQ_OFFSET;
    else if (kind === 'hardirq') n += HARDIRQ_OFFSET;
    else if (kind === 'nmi') n += NMI_OFFSET + HARDIRQ_OFFSET;
  }
  return n;
}

/** in_atomic(): preempt_count() != 0. Blind to spinlocks and preempt_disable() without PREEMPT_COUNT. */
export function inAtomic(k: Kernel, cfg: KernelConfig, cpu: number): boolean {
  return preemptCount(k, cfg, cpu) !== 0;
}

/**
 * preemptible() as the kernel defines it: `preempt_count() == 0 && !irqs_disabled()` with
 * PREEMPT_COUNT, and 0 without it. It is what code that tests its own context sees (an RT
 * softirq thread is preemptible); whether the scheduler may switch now is canSchedule().
 */
export function preemptible(k: Kernel, cfg: KernelConfig, cpu: number): boolean {
  return cfg.preemptCount && preemptCount(k, cfg, cpu) === 0 && !irqsDisabled(k, cpu);
}

/** rcu_preempt_depth(): current's rcu_read_lock() nesting on PREEMPT_RCU (RT spinlocks included), 0 without it. */
export function rcuPreemptDepth(k: Kernel, cfg: KernelConfig, cpu: number, d = depth(k, cpu)): number {
  return cfg.preemptRcu ? stackSum(framesTo(k, cpu, d), 'rcu', d) : 0;
}

/** Frames stacked above the task frame. */
export function nesting(k: Kernel, cpu: number): number {
  return cpuAt(k, cpu).frames.length - 1;
}

export function budgetLeft(k: Kernel, cpu: number, kind: ArrivalKind): number {
  return cpuAt(k, cpu).budget[kind];
}

/**
 * Whether an interrupt of `kind` may arrive on `cpu` now: budget left, nesting bound not
 * reached, and:
 * - a hardirq only where irqs are enabled and no NMI runs;
 * - an NMI anywhere, inside hardirqs and irq-saved regions too, but not inside another NMI;
 * - a softirq, on !PREEMPT_RT, where a hardirq's exit runs it (kernel/softirq.c, 6.18,
 *   __irq_exit_rcu(): `if (!in_interrupt() && local_softirq_pending()) invoke_softirq();`) or
 *   local_bh_enable() does: in task context with irqs and bottom halves enabled, whatever the
 *   preempt count, so inside a plain spin_lock() section too (the classic spin_lock() vs
 *   softirq self-deadlock, which spin_lock_bh() prevents). Never on PREEMPT_RT: there
 *   softirqs run in task context, in ksoftirqd or in the local_bh_enable() of the task that
 *   raised them (invoke_softirq() only wakes ksoftirqd), preemptible and able to block on the
 *   sleeping locks of the task they preempted, which priority inheritance then runs: a frame
 *   above that task cannot show this, so an RT model runs its softirq work as a task (a parked
 *   `ksoftirqd/0` that schedule() switches to).
 */
export function canInterrupt(k: Kernel, cfg: KernelConfig, cpu: number, kind: 'hardirq' | 'nmi' | 'softirq'): boolean {
  if (budgetLeft(k, cpu, kind) <= 0 || nesting(k, cpu) >= cfg.maxNesting) return false;
  const fr = top(k, cpu);
  switch (kind) {
    case 'nmi':
      return !inNmi(k, cpu);
    case 'hardirq':
      return !fr.irqsOff && !inNmi(k, cpu);
    case 'softirq': {
      if (!inTask(k, cpu) || fr.irqsOff || inSoftirq(k, cpu)) return false;
      return !cfg.rt && stackSum(cpuAt(k, cpu).frames, 'bh', depth(k, cpu)) === 0;
    }
  }
}

/**
 * Pushes an interrupt frame: the handler starts at `pc` with `data`. Hardirq and NMI run with
 * irqs masked; `current` stays the interrupted task (what RT owner checks compare against).
 * `k` is the draft of a state where canInterrupt() holds. A hardirq is non-threaded (an
 * IRQF_NO_THREAD handler or a hard hrtimer: lockdep's LD_WAIT_SPIN) unless `threaded`: a
 * handler that forced threading would run in a thread, which lockdep checks as LD_WAIT_CONFIG
 * on !PREEMPT_RT (kernel/locking/lockdep.c, task_wait_context(): "Check if force_irqthreads will
 * run us threaded"). On PREEMPT_RT such a handler does run in its thread, a task, so it is
 * refused as a frame.
 */
export function interrupt(
  k: KernelDraft,
  cfg: KernelConfig,
  cpu: number,
  kind: 'hardirq' | 'nmi' | 'softirq',
  pc: string,
  data: unknown = null,
  opts: { readonly threaded?: boolean } = {},
): void {
  if (kind === 'softirq' && cfg.rt) throw new Error(`no softirq frame on PREEMPT_RT: softirqs run in task context there; run the softirq work as a task (a parked ksoftirqd/${cpu} that schedule() switches to)`);
  const threaded = opts.threaded ?? false;
  if (threaded && kind !== 'hardirq') throw new Error(`only a hardirq handler can be threaded, not ${kind}`);
  if (threaded && cfg.rt) throw new Error('no threaded hardirq frame on PREEMPT_RT: the handler runs in its irq thread; run it as a task, or make it non-threaded (IRQF_NO_THREAD)');
  if (!canInterrupt(k, cfg, cpu, kind)) throw new Error(`${kind} cannot arrive on cpu${cpu} now`);
  const under = top(k, cpu);
  const c = cpuAt(k, cpu);
  c.frames.push(newFrame({ kind, task: under.task, irqsOff: kind !== 'softirq', preempt: under.preempt, migrate: under.migrate, threaded, pc, data }));
  c.budget[kind]--;
}

/**
 * Whether a hook (tracepoint, kprobe, BPF program) may re-enter task context now. The model
 * decides where its code has hook points; this checks the budget, the nesting bound and that
 * the running frame is task context.
 */
export function canEnterHook(k: Kernel, cfg: KernelConfig, cpu: number): boolean {
  return budgetLeft(k, cpu, 'hook') > 0 && nesting(k, cpu) < cfg.maxNesting && inTask(k, cpu) && top(k, cpu).waiting === null;
}

/** Pushes a hook frame: task context, same task, same irq and preemption state as the code it interrupts. */
export function enterHook(k: KernelDraft, cfg: KernelConfig, cpu: number, pc: string, data: unknown = null): void {
  if (!canEnterHook(k, cfg, cpu)) throw new Error(`no hook may enter on cpu${cpu} now`);
  const under = top(k, cpu);
  const c = cpuAt(k, cpu);
  c.frames.push(newFrame({ kind: 'hook', task: under.task, irqsOff: under.irqsOff, preempt: under.preempt, migrate: under.migrate, pc, data }));
  c.budget.hook--;
}

/** Orders splats by kind (as SPLAT_KINDS lists them), CPU, then message. */
function compareSplats(a: Splat, b: Splat): number {
  return SPLAT_KINDS.indexOf(a.kind) - SPLAT_KINDS.indexOf(b.kind) || a.cpu - b.cpu || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0);
}

/**
 * Records a splat. The kernel's splats form a set: the same report again adds nothing, and the
 * order two reports came in is not part of the state (the trace shows when each appeared), so
 * runs that print the same splats in another order meet in one state.
 */
export function splat(k: KernelDraft, kind: SplatKind, cpu: number, message: string): void {
  const s = { kind, cpu, message };
  let i = 0;
  while (i < k.splats.length && compareSplats(k.splats[i], s) < 0) i++;
  if (i < k.splats.length && compareSplats(k.splats[i], s) === 0) return;
  k.splats.splice(i, 0, s);
}

/**
 * Returns from the running hook or interrupt frame to the frame below, whose irq and
 * preemption state is what it was. A frame that returns still holding a lock is a bug
 * (recorded as a splat; the lock stays held).
 */
export function returnFromFrame(k: KernelDraft, cpu: number): void {
  const d = depth(k, cpu);
  if (d === 0) throw new Error(`cpu${cpu}: the task frame cannot return; it is the bottom of the stack`);
  const fr = top(k, cpu);
  const held = [...k.locks].filter(([, l]) => l.holders.some((h) => h.cpu === cpu && h.depth === d && h.task === fr.task)).map(([name]) => name);
  if (held.length > 0) splat(k, 'lock-held-at-return', cpu, `cpu${cpu} ${fr.kind} returned with ${held.join(', ')} held`);
  cpuAt(k, cpu).frames.pop();
}

/** local_irq_save(): remembers the flag, masks hardirqs. */
export function localIrqSave(k: KernelDraft, cpu: number): void {
  const fr = topDraft(k, cpu);
  fr.irqSaved.push(fr.irqsOff);
  fr.irqsOff = true;
}

/** local_irq_restore(): back to the flag saved by the matching local_irq_save(). */
export function localIrqRestore(k: KernelDraft, cpu: number): void {
  const fr = topDraft(k, cpu);
  const saved = fr.irqSaved.pop();
  if (saved === undefined) throw new Error(`cpu${cpu} ${fr.kind}: local_irq_restore() without local_irq_save()`);
  fr.irqsOff = saved;
  quiesce(fr);
}

export function localIrqDisable(k: KernelDraft, cpu: number): void {
  topDraft(k, cpu).irqsOff = true;
}

export function localIrqEnable(k: KernelDraft, cpu: number): void {
  const fr = topDraft(k, cpu);
  fr.irqsOff = false;
  quiesce(fr);
}

export function preemptDisable(k: KernelDraft, cpu: number): void {
  topDraft(k, cpu).preempt++;
}

export function preemptEnable(k: KernelDraft, cpu: number): void {
  const fr = topDraft(k, cpu);
  if (fr.preempt === 0) throw new Error(`cpu${cpu} ${fr.kind}: preempt_enable() without preempt_disable()`);
  fr.preempt--;
  quiesce(fr);
}

export function migrateDisable(k: KernelDraft, cpu: number): void {
  topDraft(k, cpu).migrate++;
}

export function migrateEnable(k: KernelDraft, cpu: number): void {
  const fr = topDraft(k, cpu);
  fr.migrate = Math.max(0, fr.migrate - 1);
}

/**
 * local_bh_disable() in the running frame of `cpu`: softirqs cannot run on this CPU until the
 * matching local_bh_enable(). On !PREEMPT_RT it raises the softirq count of preempt_count()
 * (atomic); on PREEMPT_RT the first one of a task takes the per-CPU softirq_ctrl.lock and
 * rcu_read_lock() (kernel/softirq.c: "Required to meet the RCU bottomhalf requirements") and
 * stays preemptible. Either way the region is an RCU reader.
 */
export function localBhDisable(k: KernelDraft, cfg: KernelConfig, cpu: number): void {
  const c = cpuAt(k, cpu);
  if (cfg.rt && stackSum(c.frames, 'bh', c.frames.length - 1) === 0) topDraft(k, cpu).rcu++;
  topDraft(k, cpu).bh++;
}

/** local_bh_enable(): undoes local_bh_disable(). Pending softirqs may then run (canInterrupt). */
export function localBhEnable(k: KernelDraft, cfg: KernelConfig, cpu: number): void {
  const fr = topDraft(k, cpu);
  if (fr.bh === 0) throw new Error(`cpu${cpu} ${fr.kind}: local_bh_enable() without local_bh_disable()`);
  fr.bh--;
  const c = cpuAt(k, cpu);
  if (cfg.rt && stackSum(c.frames, 'bh', c.frames.length - 1) === 0) fr.rcu--;
  quiesce(fr);
}

export function runningTask(k: Kernel, cpu: number): string {
  return cpuAt(k, cpu).frames[0].task;
}

export function parkedTasks(k: Kernel, cpu: number): string[] {
  return cpuAt(k, cpu).parked.map((fs) => fs[0].task);
}

/**
 * Where a task may be switched out without blocking: `anywhere` (involuntary preemption),
 * at cond_resched(), or at might_sleep(), which is a preemption point under PREEMPT_VOLUNTARY
 * (might_resched() is _cond_resched() there).
 */
export type PreemptionPoint = 'anywhere' | 'cond_resched' | 'might_sleep';

/**
 * Whether the scheduler may switch this CPU to another task now: only task context with no
 * interrupt frame on top, and the running task either blocked on a sleeping lock (it sleeps;
 * the CPU runs someone else) or not atomic and at a preemption point the preemption model
 * has: anywhere under PREEMPT and PREEMPT_RT, cond_resched() and might_sleep() under
 * PREEMPT_VOLUNTARY, cond_resched() only under PREEMPT_NONE.
 */
export function canSchedule(k: Kernel, cfg: KernelConfig, cpu: number, at: PreemptionPoint = 'anywhere'): boolean {
  const c = cpuAt(k, cpu);
  if (c.parked.length === 0) return false;
  if (!c.frames.every((f) => f.kind === 'task' || f.kind === 'hook')) return false;
  const fr = top(k, cpu);
  // A task blocked on a sleeping lock is scheduled out; one spinning (raw_spinlock_t, or
  // spinlock_t on !PREEMPT_RT) spins with preemption off and keeps the CPU.
  if (fr.waiting !== null) return maySleep(k.locks.get(fr.waiting)?.type ?? 'raw_spinlock_t', cfg);
  if (isAtomic(k, cfg, cpu)) return false;
  switch (cfg.preemption) {
    case 'full':
    case 'rt':
      return true;
    case 'voluntary':
      return at !== 'anywhere';
    case 'none':
      return at === 'cond_resched';
  }
}

/**
 * What a switch from the running task to `task` is, for the step's label: `B preempts A`, or
 * `A blocks on <lock>; B runs` when the running context waits on a sleeping lock, or
 * `A <why>; B runs` when the model says why A gives up the CPU (`is done`, `sleeps`).
 */
export function switchLabel(k: Kernel, cpu: number, task: string, why?: string): string {
  const from = k.cpus[cpu].frames[0].task;
  const waiting = top(k, cpu).waiting;
  if (waiting !== null) return `${from} blocks on ${waiting}; ${task} runs`;
  return why === undefined ? `${task} preempts ${from}` : `${from} ${why}; ${task} runs`;
}

/** Context switch: parks the running task (with its frames) and runs `task`. */
export function schedule(k: KernelDraft, cfg: KernelConfig, cpu: number, task: string, at: PreemptionPoint = 'anywhere'): void {
  if (!canSchedule(k, cfg, cpu, at)) throw new Error(`cpu${cpu} cannot schedule now (${at === 'anywhere' ? 'involuntary preemption' : at})`);
  schedulingWhileAtomic(k, cfg, cpu);
  const c = cpuAt(k, cpu);
  const i = c.parked.findIndex((fs) => fs[0].task === task);
  if (i < 0) throw new Error(`cpu${cpu} has no parked task "${task}"`);
  const [next] = c.parked.splice(i, 1);
  c.parked.push(c.frames.splice(0, c.frames.length));
  c.frames.push(...next);
}

/**
 * A task that blocks with a preempt count is a kernel bug the scheduler reports and goes on
 * from (kernel/sched/core.c, schedule_debug(): `if (unlikely(in_atomic_preempt_off())) {
 * __schedule_bug(prev); preempt_count_set(PREEMPT_DISABLED); }`, which prints "BUG: scheduling
 * while atomic: %s/%d/0x%08x" with the count schedule() itself adds). Recorded as a splat; the
 * switch happens, as in the kernel. Without PREEMPT_COUNT nothing sees it.
 */
function schedulingWhileAtomic(k: KernelDraft, cfg: KernelConfig, cpu: number): void {
  const fr = top(k, cpu);
  const count = preemptCount(k, cfg, cpu);
  if (fr.waiting === null || count === 0) return;
  splat(
    k,
    'scheduling-while-atomic',
    cpu,
    `BUG: scheduling while atomic: ${fr.task}/cpu${cpu}/0x${(count + 1).toString(16).padStart(8, '0')}: ${contextName(k, cpu)} blocks on ${fr.waiting} while ${atomicReasons(k, cfg, cpu).join(', ')} [${configName(cfg)}]`,
  );
}

/** `cpu0 nmi`, `cpu1 task`: how messages name the running context. */
export function contextName(k: Kernel, cpu: number, d = depth(k, cpu)): string {
  const fr = frames(k, cpu)[d];
  return `cpu${cpu} ${fr.kind}${fr.kind === 'task' || fr.kind === 'hook' ? ` (${fr.task})` : ''}`;
}
