import { List, Map as IMap } from 'immutable';
import type { KernelConfig } from './config.ts';
import { Cpu, Frame, Kernel, maySleep, Splat, type ContextKind, type SplatKind } from './state.ts';

/**
 * CPUs, their context stacks, irq and preemption state, and interrupt arrival. Every function
 * is pure: it takes a Kernel and returns a new one. Interrupt arrival is offered as a guard
 * (`canInterrupt`) plus an effect (`interrupt`), so that a model turns each arrival point into
 * a nondeterministic transition and the explorer tries them all.
 */

export interface CpuInit {
  /** The task running on this CPU (default `task`). */
  readonly task?: string;
  /** Its program counter and locals. */
  readonly pc?: string;
  readonly data?: unknown;
  /** Other tasks of this CPU, not running at first (PREEMPT_RT preemption scenarios). */
  readonly parked?: readonly { readonly task: string; readonly pc: string; readonly data?: unknown }[];
  /** Arrivals allowed per kind, e.g. `{ nmi: 1, hardirq: 1, hook: 1 }`; kinds not listed never arrive. */
  readonly budget?: Readonly<Record<string, number>>;
}

export function initKernel(cpus: readonly CpuInit[]): Kernel {
  return Kernel({
    cpus: List(
      cpus.map((c) =>
        Cpu({
          frames: List([Frame({ kind: 'task', task: c.task ?? 'task', pc: c.pc ?? '', data: c.data ?? null })]),
          parked: List((c.parked ?? []).map((p) => List([Frame({ kind: 'task', task: p.task, pc: p.pc, data: p.data ?? null })]))),
          budget: IMap(Object.entries(c.budget ?? {})),
        }),
      ),
    ),
  });
}

export function cpuCount(k: Kernel): number {
  return k.cpus.size;
}

function cpuAt(k: Kernel, cpu: number): Cpu {
  const c = k.cpus.get(cpu);
  if (!c) throw new RangeError(`no cpu${cpu}: the kernel has ${k.cpus.size} CPUs`);
  return c;
}

export function frames(k: Kernel, cpu: number): List<Frame> {
  return cpuAt(k, cpu).frames;
}

/** The running frame of a CPU: the top of its stack. */
export function top(k: Kernel, cpu: number): Frame {
  const f = cpuAt(k, cpu).frames.last();
  if (!f) throw new RangeError(`cpu${cpu} has no running frame`);
  return f;
}

/** Index of the running frame in its CPU's stack (0 = the task frame). */
export function depth(k: Kernel, cpu: number): number {
  return cpuAt(k, cpu).frames.size - 1;
}

/** Replaces the running frame of a CPU. */
export function updateTop(k: Kernel, cpu: number, f: (fr: Frame) => Frame): Kernel {
  const d = depth(k, cpu);
  return k.updateIn(['cpus', cpu, 'frames', d], (fr) => f(fr as Frame)) as Kernel;
}

/** Sets the model's program counter (and optionally locals) of the running frame. */
export function setPc(k: Kernel, cpu: number, pc: string, data?: unknown): Kernel {
  return updateTop(k, cpu, (fr) => (data === undefined ? fr.set('pc', pc) : fr.set('pc', pc).set('data', data)));
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
 * Why the running frame of a CPU is atomic (may not sleep), as might_sleep() would say;
 * empty when it may sleep. On PREEMPT_RT softirqs run in threads and may sleep.
 */
export function atomicReasons(k: Kernel, cfg: KernelConfig, cpu: number): string[] {
  const fr = top(k, cpu);
  const why: string[] = [];
  if (inNmi(k, cpu)) why.push('in NMI');
  else if (inHardirq(k, cpu)) why.push('in hardirq');
  else if (inSoftirq(k, cpu) && !cfg.rt) why.push('in softirq');
  if (fr.irqsOff && !inNmi(k, cpu) && !inHardirq(k, cpu)) why.push('irqs disabled');
  if (fr.preempt > 0) why.push(`preemption disabled (preempt_count ${fr.preempt})`);
  return why;
}

/** True where nothing may sleep: NMI, hardirq, softirq (!RT), irqs off, preemption off (spinning locks included). */
export function isAtomic(k: Kernel, cfg: KernelConfig, cpu: number): boolean {
  return atomicReasons(k, cfg, cpu).length > 0;
}

/** preemptible(): task context, irqs on, preemption on. */
export function preemptible(k: Kernel, cfg: KernelConfig, cpu: number): boolean {
  return inTask(k, cpu) && !isAtomic(k, cfg, cpu);
}

/** Frames stacked above the task frame. */
export function nesting(k: Kernel, cpu: number): number {
  return cpuAt(k, cpu).frames.size - 1;
}

export function budgetLeft(k: Kernel, cpu: number, kind: string): number {
  return cpuAt(k, cpu).budget.get(kind) ?? 0;
}

/**
 * Whether an interrupt of `kind` may arrive on `cpu` now: budget left, nesting bound not
 * reached, and: a hardirq only where irqs are enabled and no NMI runs; a softirq only on
 * irq exit or in task context with irqs and bottom halves enabled (modelled: task context,
 * irqs on, preemption on); an NMI anywhere, inside hardirqs and irq-saved regions too, but
 * not inside another NMI.
 */
export function canInterrupt(k: Kernel, cfg: KernelConfig, cpu: number, kind: 'hardirq' | 'nmi' | 'softirq'): boolean {
  if (budgetLeft(k, cpu, kind) <= 0 || nesting(k, cpu) >= cfg.maxNesting) return false;
  const fr = top(k, cpu);
  switch (kind) {
    case 'nmi':
      return !inNmi(k, cpu);
    case 'hardirq':
      return !fr.irqsOff && !inNmi(k, cpu);
    case 'softirq':
      return inTask(k, cpu) && !fr.irqsOff && fr.preempt === 0 && !inSoftirq(k, cpu);
  }
}

/**
 * Pushes an interrupt frame: the handler starts at `pc` with `data`. Hardirq and NMI run with
 * irqs masked; `current` stays the interrupted task (what RT owner checks compare against).
 */
export function interrupt(k: Kernel, cfg: KernelConfig, cpu: number, kind: 'hardirq' | 'nmi' | 'softirq', pc: string, data: unknown = null): Kernel {
  if (!canInterrupt(k, cfg, cpu, kind)) throw new Error(`${kind} cannot arrive on cpu${cpu} now`);
  const under = top(k, cpu);
  const frame = Frame({
    kind,
    task: under.task,
    irqsOff: kind !== 'softirq',
    preempt: kind === 'softirq' && cfg.rt ? 0 : under.preempt,
    migrate: under.migrate,
    pc,
    data,
  });
  return k
    .updateIn(['cpus', cpu, 'frames'], (fs) => (fs as List<Frame>).push(frame))
    .updateIn(['cpus', cpu, 'budget', kind], (n) => (n as number) - 1) as Kernel;
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
export function enterHook(k: Kernel, cfg: KernelConfig, cpu: number, pc: string, data: unknown = null): Kernel {
  if (!canEnterHook(k, cfg, cpu)) throw new Error(`no hook may enter on cpu${cpu} now`);
  const under = top(k, cpu);
  const frame = Frame({ kind: 'hook', task: under.task, irqsOff: under.irqsOff, preempt: under.preempt, migrate: under.migrate, pc, data });
  return k
    .updateIn(['cpus', cpu, 'frames'], (fs) => (fs as List<Frame>).push(frame))
    .updateIn(['cpus', cpu, 'budget', 'hook'], (n) => (n as number) - 1) as Kernel;
}

export function splat(k: Kernel, kind: SplatKind, cpu: number, message: string): Kernel {
  return k.set('splats', k.splats.push(Splat({ kind, cpu, message })));
}

/**
 * Returns from the running hook or interrupt frame to the frame below, whose irq and
 * preemption state is what it was. A frame that returns still holding a lock is a bug
 * (recorded as a splat; the lock stays held).
 */
export function returnFromFrame(k: Kernel, cpu: number): Kernel {
  const d = depth(k, cpu);
  if (d === 0) throw new Error(`cpu${cpu}: the task frame cannot return; it is the bottom of the stack`);
  const fr = top(k, cpu);
  const held = k.locks.filter((l) => l.holders.some((h) => h.cpu === cpu && h.depth === d && h.task === fr.task));
  let out = k;
  if (held.size > 0)
    out = splat(out, 'lock-held-at-return', cpu, `cpu${cpu} ${fr.kind} returned with ${[...held.keys()].join(', ')} held`);
  return out.updateIn(['cpus', cpu, 'frames'], (fs) => (fs as List<Frame>).pop()) as Kernel;
}

/** local_irq_save(): remembers the flag, masks hardirqs. */
export function localIrqSave(k: Kernel, cpu: number): Kernel {
  return updateTop(k, cpu, (fr) => fr.set('irqSaved', fr.irqSaved.push(fr.irqsOff)).set('irqsOff', true));
}

/** local_irq_restore(): back to the flag saved by the matching local_irq_save(). */
export function localIrqRestore(k: Kernel, cpu: number): Kernel {
  return updateTop(k, cpu, (fr) => {
    const saved = fr.irqSaved.last();
    if (saved === undefined) throw new Error(`cpu${cpu} ${fr.kind}: local_irq_restore() without local_irq_save()`);
    return fr.set('irqSaved', fr.irqSaved.pop()).set('irqsOff', saved);
  });
}

export function localIrqDisable(k: Kernel, cpu: number): Kernel {
  return updateTop(k, cpu, (fr) => fr.set('irqsOff', true));
}

export function localIrqEnable(k: Kernel, cpu: number): Kernel {
  return updateTop(k, cpu, (fr) => fr.set('irqsOff', false));
}

export function preemptDisable(k: Kernel, cpu: number): Kernel {
  return updateTop(k, cpu, (fr) => fr.set('preempt', fr.preempt + 1));
}

export function preemptEnable(k: Kernel, cpu: number): Kernel {
  return updateTop(k, cpu, (fr) => {
    if (fr.preempt === 0) throw new Error(`cpu${cpu} ${fr.kind}: preempt_enable() without preempt_disable()`);
    return fr.set('preempt', fr.preempt - 1);
  });
}

export function migrateDisable(k: Kernel, cpu: number): Kernel {
  return updateTop(k, cpu, (fr) => fr.set('migrate', fr.migrate + 1));
}

export function migrateEnable(k: Kernel, cpu: number): Kernel {
  return updateTop(k, cpu, (fr) => fr.set('migrate', Math.max(0, fr.migrate - 1)));
}

export function runningTask(k: Kernel, cpu: number): string {
  return cpuAt(k, cpu).frames.first()!.task;
}

export function parkedTasks(k: Kernel, cpu: number): string[] {
  return cpuAt(k, cpu).parked.map((fs) => fs.first()!.task).toArray();
}

/**
 * Whether the scheduler may switch this CPU to another task now: only task context with no
 * interrupt frame on top, and the running task either preemptible or blocked on a sleeping
 * lock (it sleeps; the CPU runs someone else).
 */
export function canSchedule(k: Kernel, cfg: KernelConfig, cpu: number): boolean {
  const c = cpuAt(k, cpu);
  if (c.parked.size === 0) return false;
  if (!c.frames.every((f) => f.kind === 'task' || f.kind === 'hook')) return false;
  const fr = top(k, cpu);
  // A task blocked on a sleeping lock is scheduled out; one spinning (raw_spinlock_t, or
  // spinlock_t on !PREEMPT_RT) spins with preemption off and keeps the CPU.
  // (The spinner's preempt_disable() is taken with the lock, so the frame does not show it.)
  if (fr.waiting !== null) return maySleep(k.locks.get(fr.waiting)?.type ?? 'raw_spinlock_t', cfg);
  return preemptible(k, cfg, cpu);
}

/** Context switch: parks the running task (with its frames) and runs `task`. */
export function schedule(k: Kernel, cfg: KernelConfig, cpu: number, task: string): Kernel {
  if (!canSchedule(k, cfg, cpu)) throw new Error(`cpu${cpu} cannot schedule now`);
  const c = cpuAt(k, cpu);
  const i = c.parked.findIndex((fs) => fs.first()!.task === task);
  if (i < 0) throw new Error(`cpu${cpu} has no parked task "${task}"`);
  const next = c.parked.get(i)!;
  return k.setIn(['cpus', cpu], c.set('frames', next).set('parked', c.parked.delete(i).push(c.frames))) as Kernel;
}

/** `cpu0 nmi`, `cpu1 task`: how messages name the running context. */
export function contextName(k: Kernel, cpu: number, d = depth(k, cpu)): string {
  const fr = frames(k, cpu).get(d)!;
  return `cpu${cpu} ${fr.kind}${fr.kind === 'task' || fr.kind === 'hook' ? ` (${fr.task})` : ''}`;
}
