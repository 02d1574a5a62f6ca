import { invariant, type InvariantProperty } from '../core/model.ts';
import { t } from '../core/schema.ts';
import type { KernelConfig } from './config.ts';
import { atomicReasons, top } from './cpu.ts';
import { heldInContext, lockState } from './locks.ts';
import { maySleep, type Kernel } from './state.ts';

/**
 * Scheduling latency in steps: how long each CPU stays non-preemptible, as the kernel's
 * preemptirqsoff tracer measures it (the cyclictest numbers of seed 000: making zone->lock raw
 * raised RT worst-case latency from 30 to 220 microseconds).
 *
 * A CPU is non-preemptible while its running frame is atomic (irqs off, preemption off, a
 * spinning lock held, hardirq/NMI) or spins on a lock (raw_spinlock_t always; spinlock_t and
 * local locks on !PREEMPT_RT). Its *stretch* counts the steps since it became so: every step
 * it takes, and — while it waits on a lock held by another CPU — every step that CPU takes
 * (the waiter's time passes while the holder works). Steps of unrelated CPUs do not count:
 * in the interleaving they run in parallel. The step that makes the CPU preemptible again is
 * not counted (the stretch resets to 0 on it).
 *
 * The stretches are a field of the model's state (`lat: latencyType({ cpus, cap })`) that every
 * CPU step updates with latencyStep() after writing its successor.
 *
 * Limitation: a step is a unit of time, so the measure compares variants of one model, not
 * microseconds; a model decides how many steps a section lasts (page_alloc's zoneHoldSteps).
 */

/** The schema of the stretches: one per CPU, each capped at `cap` (see latencyStep). */
export function latencyType(shape: { readonly cpus: number; readonly cap: number }) {
  return t.array(t.int(0, shape.cap), shape.cpus);
}

/**
 * Why `cpu` cannot be preempted now (see above); empty when it can. Under PREEMPT_NONE and
 * PREEMPT_VOLUNTARY there is no involuntary preemption: a task in the kernel keeps the CPU
 * until it blocks or reaches cond_resched() (a step does not say which it is, so every
 * running step counts).
 */
export function nonPreemptibleReasons(k: Kernel, cfg: KernelConfig, cpu: number): string[] {
  const why = atomicReasons(k, cfg, cpu);
  const w = top(k, cpu).waiting;
  // Spinning on a lock (it does not sleep) keeps the CPU; sleeping on one gives it up.
  if (w !== null) return maySleep(lockState(k, w).type, cfg) ? why : [...why, `spinning on ${w}`];
  if (cfg.preemption === 'none' || cfg.preemption === 'voluntary') why.push(`no involuntary preemption (PREEMPT_${cfg.preemption.toUpperCase()})`);
  return why;
}

/** True when `cpu` cannot be preempted now (see above). */
export function nonPreemptible(k: Kernel, cfg: KernelConfig, cpu: number): boolean {
  return nonPreemptibleReasons(k, cfg, cpu).length > 0;
}

/**
 * Updates the stretches `lat` (of the successor being written) after one step by `cpu` (null
 * for a step outside any CPU, such as the RCU machinery, which changes nothing) that led to
 * kernel `after`. Stretches are capped at `cap` to keep the state space finite: a property
 * with bound `cap - 1` still sees every excess.
 */
export function latencyStep(after: Kernel, cfg: KernelConfig, cpu: number | null, lat: number[], cap: number): void {
  if (cpu === null) return;
  for (let c = 0; c < lat.length; c++) {
    const n = lat[c];
    if (c === cpu) {
      lat[c] = nonPreemptible(after, cfg, c) ? Math.min(cap, n + 1) : 0;
      continue;
    }
    // Another CPU: its time passes with ours while it waits on a lock that we hold.
    const w = top(after, c).waiting;
    if (w !== null && nonPreemptible(after, cfg, c) && lockState(after, w).holders.some((h) => h.cpu === cpu)) lat[c] = Math.min(cap, n + 1);
    else if (!nonPreemptible(after, cfg, c)) lat[c] = 0;
  }
}

/**
 * `latency-bound`: no CPU stays non-preemptible for more than `bound(params)` steps. The
 * message names the CPU, why it is non-preemptible and the locks it holds; the smallest bound
 * under which the property holds is the model's worst-case stretch.
 */
export function latencyBoundProperty<S, P>(
  kernelOf: (s: S) => Kernel,
  latOf: (s: S) => readonly number[],
  cfgOf: (p: P) => KernelConfig,
  bound: (p: P) => number,
  at = 'lat',
): InvariantProperty<S, P> {
  return invariant<S, P>('latency-bound', 'no CPU stays non-preemptible (irqs or preemption off, spinning on a lock) for more than latencyBound steps', (s, p) => {
    const lat = latOf(s);
    const b = bound(p);
    const c = lat.findIndex((n) => n > b);
    if (c < 0) return true;
    const k = kernelOf(s);
    const cfg = cfgOf(p);
    const why = nonPreemptibleReasons(k, cfg, c);
    const held = heldInContext(k, c).map((l) => `${l.name} (${l.type})`);
    return {
      message: `cpu${c} has been non-preemptible for more than ${b} steps (latencyBound): ${why.join(', ')}${held.length ? `; holding ${held.join(', ')}` : ''}`,
      fields: [`${at}[${c}]`],
    };
  });
}
