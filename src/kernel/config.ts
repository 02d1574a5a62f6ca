/**
 * The kernel configuration a model runs under. It is not state: a model derives it from its
 * parameters once (`kernelConfig({ rt: params.rt })`) and passes it to every building block.
 *
 * The options and what they imply, as Kconfig has them in 6.18:
 * - the preemption model (kernel/Kconfig.preempt): PREEMPT_NONE, PREEMPT_VOLUNTARY, PREEMPT
 *   (`full`) or PREEMPT_RT (`rt`). PREEMPT and PREEMPT_RT select PREEMPTION, which selects
 *   PREEMPT_COUNT;
 * - PREEMPT_COUNT: without it preempt_disable() is barrier(), so preempt_count() and
 *   in_atomic() do not see spinlocks, and preemptible() is 0 (include/linux/preempt.h).
 *   DEBUG_ATOMIC_SLEEP and PROVE_LOCKING, which print might_sleep()'s and lockdep's splats,
 *   select it;
 * - PREEMPT_RCU, `default y if PREEMPTION` (kernel/rcu/Kconfig): without it rcu_read_lock() is
 *   preempt_disable() ("for PREEMPT=n, rcu_read_lock() is preempt_disable()") and
 *   rcu_preempt_depth() is 0;
 * - PROVE_RAW_LOCK_NESTING, `default y` with PROVE_LOCKING since 6.13: without it lockdep's
 *   LD_WAIT_CONFIG is LD_WAIT_SPIN (include/linux/lockdep_types.h), so a spinlock_t inside a
 *   raw_spinlock_t is not reported on !PREEMPT_RT.
 *
 * - SMP, and TINY_RCU (`default y if !PREEMPTION && !SMP`, kernel/rcu/Kconfig), which implies
 *   !PREEMPT_RCU: `smp: false` asks for one CPU, and under `none` or `voluntary` TINY_RCU with
 *   it. TINY_RCU's synchronize_rcu() (kernel/rcu/tiny.c, 6.18) waits for nothing and does not
 *   call might_sleep(): "it is illegal to invoke synchronize_rcu() from within an RCU read-side
 *   critical section. Therefore, any legal call to synchronize_rcu() is a quiescent state, and
 *   so on a UP system, synchronize_rcu() need do nothing" (its only check is the
 *   RCU_LOCKDEP_WARN "Illegal synchronize_rcu() in RCU read-side critical section"). Its
 *   call_rcu() callbacks run after any quiescent state of the one CPU, which is what tree RCU's
 *   grace period comes to on one CPU, so the layer keeps its grace-period steps for them.
 *
 * Not modelled: PREEMPT_DYNAMIC and PREEMPT_LAZY.
 */
import type { WaitType } from './locks.ts';

export const PREEMPTION_MODELS = ['none', 'voluntary', 'full', 'rt'] as const;
export type Preemption = (typeof PREEMPTION_MODELS)[number];

export interface KernelConfig {
  /** The preemption model. */
  readonly preemption: Preemption;
  /** CONFIG_PREEMPT_RT: spinlock_t and local_lock_t become sleeping locks (rt_mutex based). Same as `preemption === 'rt'`. */
  readonly rt: boolean;
  /** CONFIG_PREEMPT_COUNT: preempt_disable() and spinlocks are counted in preempt_count(). */
  readonly preemptCount: boolean;
  /** CONFIG_PREEMPT_RCU: a task inside rcu_read_lock() may be preempted; rcu_read_lock() does not touch preempt_count(). */
  readonly preemptRcu: boolean;
  /** CONFIG_PROVE_RAW_LOCK_NESTING: lockdep tells LD_WAIT_CONFIG (spinlock_t) from LD_WAIT_SPIN (raw_spinlock_t). */
  readonly proveRawLockNesting: boolean;
  /** CONFIG_SMP. A model with `smp: false` must have one CPU. */
  readonly smp: boolean;
  /** CONFIG_TINY_RCU: !SMP and !PREEMPTION; synchronize_rcu() returns at once. */
  readonly tinyRcu: boolean;
  /**
   * How many frames (hook, softirq, hardirq, NMI) may be stacked above the task frame on one
   * CPU. Real kernels nest deeper (a hook inside a hardirq inside …); the bound keeps the state
   * space finite, so a bug that needs deeper nesting is out of reach of a run with this bound.
   */
  readonly maxNesting: number;
  /**
   * lockdep annotations that give a lock another inner wait type than its type's (the
   * `lockdep_set_wait_type_inner()`-style annotation option D of seed 000 proposes: zone->lock
   * checked as LD_WAIT_SPIN on !RT). By lock name; the lock's own semantics do not change.
   */
  readonly lockdepWaitTypes: Readonly<Record<string, WaitType>>;
}

export interface KernelConfigOptions {
  /** CONFIG_PREEMPT_RT; the same as `preemption: 'rt'`. Give one or both (they must agree). */
  readonly rt?: boolean;
  /** Default: `rt` when rt is set, else `full` (CONFIG_PREEMPT). */
  readonly preemption?: Preemption;
  /** Default true; `none` and `voluntary` may turn it off (`full` and `rt` select it). */
  readonly preemptCount?: boolean;
  /** Default true. */
  readonly proveRawLockNesting?: boolean;
  /** Default true; false is a UP kernel (TINY_RCU under `none` and `voluntary`). */
  readonly smp?: boolean;
  /** Default 2. */
  readonly maxNesting?: number;
  /** Default none. */
  readonly lockdepWaitTypes?: Readonly<Record<string, WaitType>>;
}

export function kernelConfig(opts: KernelConfigOptions): KernelConfig {
  const preemption = opts.preemption ?? (opts.rt ? 'rt' : 'full');
  if (!PREEMPTION_MODELS.includes(preemption)) throw new RangeError(`preemption must be one of ${PREEMPTION_MODELS.join(', ')}, got ${String(preemption)}`);
  const rt = preemption === 'rt';
  if (opts.rt !== undefined && opts.rt !== rt) throw new RangeError(`rt: ${opts.rt} contradicts preemption: '${preemption}' (PREEMPT_RT is the preemption model 'rt')`);
  const preemptionOn = preemption === 'full' || rt;
  const preemptCount = opts.preemptCount ?? true;
  if (preemptionOn && !preemptCount) throw new RangeError(`preemptCount: false is impossible with preemption '${preemption}': PREEMPTION selects PREEMPT_COUNT`);
  const maxNesting = opts.maxNesting ?? 2;
  if (!Number.isInteger(maxNesting) || maxNesting < 0) throw new RangeError(`maxNesting must be a non-negative integer, got ${maxNesting}`);
  const smp = opts.smp ?? true;
  const lockdepWaitTypes = opts.lockdepWaitTypes ?? {};
  return { preemption, rt, preemptCount, preemptRcu: preemptionOn, proveRawLockNesting: opts.proveRawLockNesting ?? true, smp, tinyRcu: !smp && !preemptionOn, maxNesting, lockdepWaitTypes };
}

/**
 * How messages print the configuration: `PREEMPT_RT` or `!PREEMPT_RT` for the two defaults
 * (a preemptible kernel is `!PREEMPT_RT`), else the preemption model and every option that
 * differs from its default (`PREEMPT_NONE, !PREEMPT_COUNT`).
 */
export function configName(cfg: KernelConfig): string {
  const parts = [cfg.rt ? 'PREEMPT_RT' : cfg.preemption === 'full' ? '!PREEMPT_RT' : cfg.preemption === 'none' ? 'PREEMPT_NONE' : 'PREEMPT_VOLUNTARY'];
  if (!cfg.preemptCount) parts.push('!PREEMPT_COUNT');
  if (!cfg.smp) parts.push('!SMP');
  if (cfg.tinyRcu) parts.push('TINY_RCU');
  else if (!cfg.preemptRcu) parts.push('!PREEMPT_RCU');
  if (!cfg.proveRawLockNesting) parts.push('!PROVE_RAW_LOCK_NESTING');
  for (const [name, w] of Object.entries(cfg.lockdepWaitTypes)) parts.push(`${name} annotated {${w}}`);
  return parts.join(', ');
}
