/**
 * The kernel configuration a model runs under. It is not state: a model derives it from its
 * parameters once (`kernelConfig({ rt: params.rt })`) and passes it to every building block.
 */
export interface KernelConfig {
  /** CONFIG_PREEMPT_RT: spinlock_t and local_lock_t become sleeping locks (rt_mutex based). */
  readonly rt: boolean;
  /**
   * How many frames (hook, softirq, hardirq, NMI) may be stacked above the task frame on one
   * CPU. Real kernels nest deeper (a hook inside a hardirq inside …); the bound keeps the state
   * space finite, so a bug that needs deeper nesting is out of reach of a run with this bound.
   */
  readonly maxNesting: number;
}

export function kernelConfig(opts: { rt: boolean; maxNesting?: number }): KernelConfig {
  const maxNesting = opts.maxNesting ?? 2;
  if (!Number.isInteger(maxNesting) || maxNesting < 0) throw new RangeError(`maxNesting must be a non-negative integer, got ${maxNesting}`);
  return { rt: opts.rt, maxNesting };
}

/** `PREEMPT_RT` or `!PREEMPT_RT`, as messages print it. */
export function configName(cfg: KernelConfig): string {
  return cfg.rt ? 'PREEMPT_RT' : '!PREEMPT_RT';
}
