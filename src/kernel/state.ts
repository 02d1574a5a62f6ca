import { t, type Draft, type Type, type Universe, type ValueOf } from '../core/schema.ts';

/**
 * The kernel part of a model's state, as a schema (src/core/schema.ts) that a model embeds:
 * `t.struct({ kernel: kernelType({ cpus: 2, maxNesting: 2, locals: Locals, locks: 4 }), ...mine })`.
 * Functions of this layer read a Kernel value (`Kernel`, what transitions() sees) or write a
 * Kernel draft (`KernelDraft`, what apply(next) writes): `lock(next.kernel, cfg, cpu, 'zone->lock')`.
 *
 * Per CPU: the running stack of frames, bottom first. The bottom frame is a task; above it may
 * sit hooks (tracepoint/kprobe/BPF re-entry, still task context), then softirq, hardirq and NMI
 * frames. Only the top frame runs. Tasks preempted or blocked on this CPU are parked with their
 * own frames (PREEMPT_RT: a task holding a sleeping lock can be preempted). Each frame also
 * carries its rcu_read_lock() depth and whether the running grace period waits for it: RCU's
 * readers are the frames (src/kernel/rcu.ts); the kernel's `rcu` holds the grace period, the
 * callbacks and the synchronize_rcu() waiters.
 *
 * Names that models make up as they go (tasks, program counters, lock names, splat messages)
 * are t.text() fields, numbered per run; locks are a map from their names. The second edition
 * of this layer types them (universes of tasks and locks, structured splats), which --symmetry
 * needs to rename them.
 */

/** The context a frame runs in. `hook` is task context re-entered from a tracepoint, kprobe or BPF program. */
export const CONTEXT_KINDS = ['task', 'hook', 'softirq', 'hardirq', 'nmi'] as const;
export type ContextKind = (typeof CONTEXT_KINDS)[number];

/** What arrives on a CPU within a budget: interrupts, and hooks re-entering a task. */
export const ARRIVAL_KINDS = ['nmi', 'hardirq', 'softirq', 'hook'] as const;
export type ArrivalKind = (typeof ARRIVAL_KINDS)[number];

export const LOCK_TYPES = ['raw_spinlock_t', 'spinlock_t', 'local_lock_t', 'local_trylock_t', 'mutex'] as const;
export type LockType = (typeof LOCK_TYPES)[number];

/**
 * A report the kernel's debug machinery would print (lockdep, might_sleep): recorded in the
 * state when the offending operation runs, like a splat in dmesg; the run goes on. The
 * kernel's splats are a set, sorted (cpu.ts's splat()).
 */
export const SPLAT_KINDS = ['invalid-wait-context', 'sleep-in-atomic', 'scheduling-while-atomic', 'trylock-outside-task', 'bad-unlock', 'lock-held-at-return'] as const;
export type SplatKind = (typeof SPLAT_KINDS)[number];

/** Whether waiting for a lock of this type sleeps (the waiter is scheduled out) rather than spins. */
export function maySleep(type: LockType, cfg: { readonly rt: boolean }): boolean {
  return type === 'mutex' || (cfg.rt && type !== 'raw_spinlock_t');
}

export const STAGES = ['next', 'current', 'done'] as const;
export type Stage = (typeof STAGES)[number];

/** The bounds of a model's RCU state (kernelType's `rcu`). */
export interface RcuShape {
  /** Contexts blocked in synchronize_rcu() at one time, at most (default 1). */
  readonly waiters?: number;
  /** call_rcu() callbacks queued at one time, at most (default 1). */
  readonly callbacks?: number;
  /** Objects one callback frees when it runs, at most (default 1). */
  readonly frees?: number;
}

/** The schema of the RCU state with the bounds of `shape`. */
export function rcuType(shape: RcuShape = {}) {
  const callback = t.struct({
    /** The callback as the model names it (`ext4_rcu_ptr_callback(wrapper0)`). Need not be unique. */
    name: t.text(),
    /** What it does when it runs: kfree()/kvfree() these objects, in order (runRcuCallback()). */
    frees: t.list(t.text(), shape.frees ?? 1),
    stage: t.enum(STAGES),
  });
  return t.struct({
    gp: t.bool(),
    /** call_rcu() callbacks in the order they were queued. */
    callbacks: t.list(callback, shape.callbacks ?? 1),
    /** Contexts blocked in synchronize_rcu() (as rcuContext() names them), with the stage of the grace period they wait for. */
    sync: t.map(t.text(), t.enum(STAGES), shape.waiters ?? 1),
  });
}

/** RCU state as transitions() read it. */
export type Rcu = ValueOf<ReturnType<typeof rcuType>>;
/** RCU state as apply(next) writes it. */
export type RcuDraft = Draft<Rcu>;
export type Callback = Rcu['callbacks'][number];

/** The RCU state of a system with no grace period and no waiter (a fresh value). */
export function rcuInit(): RcuDraft {
  return { gp: false, callbacks: [], sync: new Map() };
}

/** Why this one frame is an RCU reader (explicitly or implied); empty when it is not. */
export function frameReaderReasons(fr: Frame): string[] {
  const why: string[] = [];
  if (fr.kind === 'nmi' || fr.kind === 'hardirq' || fr.kind === 'softirq') why.push(`in ${fr.kind === 'nmi' ? 'NMI' : fr.kind}`);
  if (fr.rcu > 0) why.push(`rcu_read_lock() depth ${fr.rcu}`);
  if (fr.irqsOff && fr.kind !== 'nmi' && fr.kind !== 'hardirq') why.push('irqs disabled');
  if (fr.preempt > 0) why.push(`preemption disabled (preempt_count ${fr.preempt})`);
  if (fr.bh > 0) why.push('bottom halves disabled');
  return why;
}

export function frameIsReader(fr: Frame): boolean {
  return fr.rcu > 0 || fr.irqsOff || fr.preempt > 0 || fr.bh > 0 || fr.kind === 'nmi' || fr.kind === 'hardirq' || fr.kind === 'softirq';
}

/** The frame stopped being a reader: a running grace period no longer waits for it. Every layer effect that can end a reader calls it. */
export function quiesce(fr: FrameDraft): void {
  if (fr.gpWaits && !frameIsReader(fr)) fr.gpWaits = false;
}

/** The bounds of a model's kernel state. */
export interface KernelShape<L> {
  readonly cpus: number;
  /**
   * A universe of `cpus` members to index `kernel.cpus` by (`universe('cpu', cpus)`), so that
   * lane `cpu1` owns `kernel.cpus[1]`: what --por's check of `local` transitions needs.
   * Default: none (a plain array).
   */
  readonly cpuIndex?: Universe;
  /** Frames above the task frame, at most: the configuration's maxNesting. */
  readonly maxNesting: number;
  /** The model's locals of a frame (`frame.data`), e.g. `t.optional(Locals)`. */
  readonly locals: Type<L, unknown>;
  /** Locks declared, at most. */
  readonly locks: number;
  /** Tasks parked per CPU, at most (default 1). */
  readonly parked?: number;
  /** Splats recorded, at most (default 8). */
  readonly splats?: number;
  /** Holders of one lock at a time, at most (default 4). */
  readonly holders?: number;
  /** Nested local_irq_save() per frame, at most (default 4). */
  readonly irqSaved?: number;
  /** preempt_disable() and migrate_disable() depth, at most (default 8). */
  readonly depth?: number;
  /** Interrupt arrivals per kind per CPU, at most (default 4). */
  readonly budget?: number;
  /** RCU's bounds: callbacks queued and contexts in synchronize_rcu() at one time (default 1 each). */
  readonly rcu?: RcuShape;
}

/** The schema of a kernel with the bounds of `shape`. */
export function kernelType<L>(shape: KernelShape<L>) {
  if (shape.cpuIndex && shape.cpuIndex.size !== shape.cpus) throw new RangeError(`kernelType: cpuIndex "${shape.cpuIndex.name}" has ${shape.cpuIndex.size} members for ${shape.cpus} CPUs`);
  const depth = shape.depth ?? 8;
  const frame = t.struct({
    kind: t.enum(CONTEXT_KINDS),
    /** The task that is `current` while this frame runs: for hardirq and NMI, the interrupted task. */
    task: t.text(),
    /** Hardirqs masked on this CPU while this frame runs (local_irq_save/disable, or hardware in hardirq/NMI). */
    irqsOff: t.bool(),
    /** preempt_disable() depth, including the one a spinning lock takes. */
    preempt: t.int(0, depth),
    /** migrate_disable() depth (PREEMPT_RT spinlock_t / local_lock_t take it). */
    migrate: t.int(0, depth),
    /** Flags saved by local_irq_save(), innermost last; local_irq_restore() pops one. */
    irqSaved: t.list(t.bool(), shape.irqSaved ?? 4),
    /** rcu_read_lock() depth (on PREEMPT_RT including the one each held spinlock_t takes). */
    rcu: t.int(0, depth),
    /**
     * A hardirq whose handler forced irq threading would run in a thread (not IRQF_NO_THREAD,
     * IRQF_PERCPU or IRQF_ONESHOT, not a hard hrtimer): lockdep checks it as LD_WAIT_CONFIG.
     */
    threaded: t.bool(),
    /** local_bh_disable() depth taken in this frame (spin_lock_bh() included). */
    bh: t.int(0, depth),
    /** The running grace period waits for this frame's reader section (set at its start, cleared when the frame stops being a reader). */
    gpWaits: t.bool(),
    /** The lock this frame is spinning or sleeping on. */
    waiting: t.optional(t.text()),
    /** The model's program counter for this frame. */
    pc: t.text(),
    /** The model's local variables for this frame. */
    data: shape.locals,
  });
  const frames = t.list(frame, shape.maxNesting + 1);
  const cpu = t.struct({
    frames,
    /** Tasks of this CPU that are not running (preempted or blocked), each with its frames. */
    parked: t.list(frames, Math.max(1, shape.parked ?? 1)),
    /** Interrupt arrivals left per kind: a bound set by the model. */
    budget: t.struct(Object.fromEntries(ARRIVAL_KINDS.map((kind) => [kind, t.int(0, shape.budget ?? 4)])) as Record<ArrivalKind, ReturnType<typeof t.int>>),
  });
  /** Which frame holds a lock: its CPU, its index in that CPU's stack, its task, and how it took it. */
  const holder = t.struct({
    cpu: t.int(0, shape.cpus - 1),
    depth: t.int(0, shape.maxNesting),
    task: t.text(),
    kind: t.enum(CONTEXT_KINDS),
    /** Taken with the _irqsave variant: the release restores the saved irq flag. */
    irqsave: t.bool(),
    /** Taken with the _bh variant: the release runs local_bh_enable(). */
    bh: t.bool(),
  });
  const lock = t.struct({
    name: t.text(),
    type: t.enum(LOCK_TYPES),
    /** For a per-CPU lock (local_lock_t, local_trylock_t, a per-CPU spinlock): the CPU whose instance this is; else -1. */
    cpu: t.int(-1, shape.cpus - 1),
    /** Frames inside the lock, outermost first. More than one only when a !PREEMPT_RT local lock is re-entered. */
    holders: t.list(holder, shape.holders ?? 4),
    /** local_trylock_t on !PREEMPT_RT: the per-CPU `acquired` flag that local_lock_is_locked() reads. */
    acquired: t.bool(),
  });
  const splat = t.struct({ kind: t.enum(SPLAT_KINDS), cpu: t.int(0, shape.cpus - 1), message: t.text() });
  return t.struct({
    cpus: t.array(cpu, shape.cpuIndex ?? shape.cpus),
    locks: t.map(t.text(), lock, shape.locks),
    /** The splats printed so far, as a sorted set (kind, CPU, message); empty in a clean run. */
    splats: t.list(splat, shape.splats ?? 8),
    /** Grace periods, callbacks and synchronize_rcu() waiters (src/kernel/rcu.ts); readers are the frames'. */
    rcu: rcuType(shape.rcu),
  });
}

/** A kernel whose frames hold the model's locals of type L (`frame.data`), as transitions() read it. */
export type KernelOf<L> = ValueOf<ReturnType<typeof kernelType<L>>>;
/** A kernel as transitions() read it; what this layer's functions take, whatever the locals. */
export type Kernel = KernelOf<unknown>;
/** A kernel as apply(next) writes it. */
export type KernelDraft = Draft<Kernel>;
export type Cpu = Kernel['cpus'][number];
export type Frame = Cpu['frames'][number];
export type FrameDraft = Draft<Frame>;
export type Lock = Kernel['locks'] extends ReadonlyMap<string, infer L> ? L : never;
export type Holder = Lock['holders'][number];
export type Splat = Kernel['splats'][number];
