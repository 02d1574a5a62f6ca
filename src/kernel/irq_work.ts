import type { KernelConfig } from './config.ts';
import { inNmi, preemptible, top } from './cpu.ts';
import type { Kernel } from './state.ts';

/**
 * Where a queued irq_work may run on `cpu` now (kernel/irq_work.c, 6.18): "On PREEMPT_RT
 * IRQ-work which is not marked as HARD will be processed in a per-CPU thread in preemptible
 * context. Only the items which are marked as IRQ_WORK_HARD_IRQ will be processed in hardirq
 * context." In hardirq context (!RT, or `hard`) it needs irqs on and no NMI running (the
 * irq_work interrupt); in the RT thread it needs a CPU that may schedule: only task frames (a
 * hook runs in one) whose running one is preemptible or blocked. The model runs the work's
 * function as one step when this holds.
 */
export function irqWorkCanRun(k: Kernel, cfg: KernelConfig, cpu: number, opts: { readonly hard?: boolean } = {}): boolean {
  const fr = top(k, cpu);
  if (!cfg.rt || opts.hard) return !fr.irqsOff && !inNmi(k, cpu);
  return k.cpus[cpu].frames.every((f) => f.kind === 'task' || f.kind === 'hook') && (fr.waiting !== null || preemptible(k, cfg, cpu));
}
