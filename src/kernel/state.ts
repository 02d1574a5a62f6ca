import { List, Map as IMap, Record, type RecordOf } from 'immutable';

/**
 * The kernel part of a model's state, as Immutable Records so that a model can embed it
 * (`Record({ kernel: initKernel(...), ...mine })`) and the checker can hash it exactly.
 *
 * Per CPU: the running stack of frames, bottom first. The bottom frame is a task; above it may
 * sit hooks (tracepoint/kprobe/BPF re-entry, still task context), then softirq, hardirq and NMI
 * frames. Only the top frame runs. Tasks preempted or blocked on this CPU are parked with their
 * own frames (PREEMPT_RT: a task holding a sleeping lock can be preempted).
 */

/** The context a frame runs in. `hook` is task context re-entered from a tracepoint, kprobe or BPF program. */
export type ContextKind = 'task' | 'hook' | 'softirq' | 'hardirq' | 'nmi';

export interface FrameProps {
  readonly kind: ContextKind;
  /** The task that is `current` while this frame runs: for hardirq and NMI, the interrupted task. */
  readonly task: string;
  /** Hardirqs masked on this CPU while this frame runs (local_irq_save/disable, or hardware in hardirq/NMI). */
  readonly irqsOff: boolean;
  /** preempt_disable() depth, including the one a spinning lock takes. */
  readonly preempt: number;
  /** migrate_disable() depth (PREEMPT_RT spinlock_t / local_lock_t take it). */
  readonly migrate: number;
  /** Flags saved by local_irq_save(), innermost last; local_irq_restore() pops one. */
  readonly irqSaved: List<boolean>;
  /** The lock this frame is spinning or sleeping on, or null. */
  readonly waiting: string | null;
  /** The model's program counter for this frame. */
  readonly pc: string;
  /** The model's local variables for this frame (an Immutable value, or null). */
  readonly data: unknown;
}

export const Frame = Record<FrameProps>(
  { kind: 'task', task: 'task', irqsOff: false, preempt: 0, migrate: 0, irqSaved: List<boolean>(), waiting: null, pc: '', data: null },
  'Frame',
);
export type Frame = RecordOf<FrameProps>;

export interface CpuProps {
  readonly frames: List<Frame>;
  /** Tasks of this CPU that are not running (preempted or blocked), each with its frames. */
  readonly parked: List<List<Frame>>;
  /** Interrupt arrivals left per kind (`nmi`, `hardirq`, `softirq`, `hook`): a bound set by the model. */
  readonly budget: IMap<string, number>;
}
export const Cpu = Record<CpuProps>({ frames: List<Frame>(), parked: List<List<Frame>>(), budget: IMap<string, number>() }, 'Cpu');
export type Cpu = RecordOf<CpuProps>;

/** Which frame holds a lock: its CPU, its index in that CPU's stack, its task, and how it took it. */
export interface HolderProps {
  readonly cpu: number;
  readonly depth: number;
  readonly task: string;
  readonly kind: ContextKind;
  /** Taken with the _irqsave variant: the release restores the saved irq flag. */
  readonly irqsave: boolean;
}
export const Holder = Record<HolderProps>({ cpu: 0, depth: 0, task: 'task', kind: 'task', irqsave: false }, 'Holder');
export type Holder = RecordOf<HolderProps>;

export type LockType = 'raw_spinlock_t' | 'spinlock_t' | 'local_lock_t' | 'local_trylock_t' | 'mutex';

export interface LockProps {
  readonly name: string;
  readonly type: LockType;
  /** For a per-CPU lock (local_lock_t, local_trylock_t, a per-CPU spinlock): the CPU whose instance this is; else -1. */
  readonly cpu: number;
  /** Frames inside the lock, outermost first. More than one only when a !PREEMPT_RT local lock is re-entered. */
  readonly holders: List<Holder>;
  /** local_trylock_t on !PREEMPT_RT: the per-CPU `acquired` flag that local_lock_is_locked() reads. */
  readonly acquired: boolean;
}
/** Whether waiting for a lock of this type sleeps (the waiter is scheduled out) rather than spins. */
export function maySleep(type: LockType, cfg: { readonly rt: boolean }): boolean {
  return type === 'mutex' || (cfg.rt && type !== 'raw_spinlock_t');
}

export const Lock = Record<LockProps>({ name: '', type: 'raw_spinlock_t', cpu: -1, holders: List<Holder>(), acquired: false }, 'Lock');
export type Lock = RecordOf<LockProps>;

/**
 * A report the kernel's debug machinery would print (lockdep, might_sleep): recorded in the
 * state when the offending operation runs, like a splat in dmesg; the run goes on.
 */
export type SplatKind = 'invalid-wait-context' | 'sleep-in-atomic' | 'bad-unlock' | 'lock-held-at-return';

export interface SplatProps {
  readonly kind: SplatKind;
  readonly cpu: number;
  readonly message: string;
}
export const Splat = Record<SplatProps>({ kind: 'invalid-wait-context', cpu: 0, message: '' }, 'Splat');
export type Splat = RecordOf<SplatProps>;

export interface KernelProps {
  readonly cpus: List<Cpu>;
  readonly locks: IMap<string, Lock>;
  /** Splats in the order they happened; empty in a clean run. */
  readonly splats: List<Splat>;
}
export const Kernel = Record<KernelProps>({ cpus: List<Cpu>(), locks: IMap<string, Lock>(), splats: List<Splat>() }, 'Kernel');
export type Kernel = RecordOf<KernelProps>;
