/**
 * The kernel modeling layer: CPUs and their context stacks, irq and preemption state,
 * interrupt arrival, lock types under PREEMPT_RT on and off, local_lock_is_locked(),
 * wait-context checking, RCU readers and grace periods, object lifetimes, the page allocator,
 * kvfree_rcu()'s batching and non-preemptible stretches (latency). Each part with state has a
 * schema constructor (kernelType, which holds the RCU state too, memoryType, pageAllocType, allocOpType, rcuBatchType,
 * latencyType) that a model embeds in its state schema with its own bounds. Queries read the
 * part's value (what transitions() sees); effects write its draft in place (what apply(next)
 * writes). The checker (src/explore) never imports this layer.
 */
export { kernelConfig, configName, PREEMPTION_MODELS, type KernelConfig, type KernelConfigOptions, type Preemption } from './config.ts';
export {
  kernelType,
  maySleep,
  CONTEXT_KINDS,
  LOCK_TYPES,
  SPLAT_KINDS,
  type KernelShape,
  type KernelOf,
  type Kernel,
  type KernelDraft,
  type Cpu,
  type Frame,
  type FrameDraft,
  type Lock,
  type Holder,
  type Splat,
  type ContextKind,
  type LockType,
  type SplatKind,
} from './state.ts';
export {
  newFrame,
  initKernel,
  cpuCount,
  frames,
  top,
  topDraft,
  depth,
  updateTop,
  setPc,
  hasFrame,
  inNmi,
  inHardirq,
  inSoftirq,
  inTask,
  irqsDisabled,
  atomicReasons,
  isAtomic,
  preemptible,
  preemptCount,
  inAtomic,
  rcuPreemptDepth,
  type PreemptionPoint,
  nesting,
  budgetLeft,
  canInterrupt,
  interrupt,
  canEnterHook,
  enterHook,
  returnFromFrame,
  splat,
  localIrqSave,
  localIrqRestore,
  localIrqDisable,
  localIrqEnable,
  preemptDisable,
  preemptEnable,
  migrateDisable,
  migrateEnable,
  localBhDisable,
  localBhEnable,
  runningTask,
  parkedTasks,
  canSchedule,
  schedule,
  switchLabel,
  contextName,
  type CpuInit,
} from './cpu.ts';
export {
  waitType,
  lockFunction,
  declareLocks,
  lockState,
  runningHolder,
  holds,
  describeHolder,
  heldInContext,
  contextWaitType,
  mightSleep,
  canAcquire,
  lock,
  canTrylock,
  trylock,
  unlock,
  holdersOf,
  type WaitType,
  type LockDecl,
  type TrylockOptions,
  type LockOptions,
} from './locks.ts';
export { perCpuLockName, declarePerCpuLock, localLockIsLocked, localLock, localTrylock, localUnlock } from './local_lock.ts';
export {
  selfDeadlocks,
  splatCheck,
  waitContextProperties,
  WAIT_CONTEXT,
  NO_SLEEP_IN_ATOMIC,
  NO_SELF_DEADLOCK,
  TRYLOCK_CONTEXT,
  LOCK_BALANCE,
} from './wait_context.ts';
export * from './rcu.ts';
export * from './memory.ts';
export * from './page_alloc.ts';
export * from './latency.ts';
export * from './kvfree_rcu.ts';
export * from './llist.ts';
export * from './irq_work.ts';
export * from './workqueue.ts';
export { program, programTransitions, step, either, computed, alt, call, spin, lockAlt, returns, END, HERE, RETURN, Program, type At, type Into, type Alt, type Instr, type Call, type ProgramRunner } from './program.ts';
