import type { Draft } from '../core/schema.ts';
import { configName, type KernelConfig } from './config.ts';
import { atomicReasons, contextName, depth, frames, inHardirq, inNmi, localBhDisable, localBhEnable, localIrqRestore, localIrqSave, rcuPreemptDepth, splat, stackSum, top, topDraft } from './cpu.ts';
import { maySleep, quiesce, type Holder, type Kernel, type KernelDraft, type Lock, type LockType } from './state.ts';

/**
 * Lock types and their semantics under PREEMPT_RT on and off:
 *
 * | type              | !RT                                   | RT                                         |
 * |-------------------|---------------------------------------|--------------------------------------------|
 * | raw_spinlock_t    | spins, preemption off                 | spins, preemption off                      |
 * | spinlock_t        | spins, preemption off                 | sleeping (rt_mutex), migrate_disable only  |
 * | local_(try)lock_t | no waiting: preemption or irqs off    | per-CPU spinlock_t + migrate_disable       |
 * | mutex             | sleeps                                | sleeps                                     |
 *
 * Waiting on a lock held elsewhere blocks the frame: `lock()` then sets the frame's `waiting`
 * field and acquires nothing; the model offers no transition for that frame until
 * `canAcquire()` says the lock is free, and then calls `lock()` again. A !RT local lock never
 * waits (it only masks preemption or irqs on this CPU): taking it again from an NMI or hook
 * proceeds into the critical section a second time, which is exactly the hazard that
 * local_lock_is_locked() guards against.
 *
 * Queries (canAcquire, canTrylock, …) read a Kernel, so that transitions() can tell what an
 * acquisition will do (for its label) before apply(next) runs the effect (lock, trylock, unlock)
 * on the successor's KernelDraft; an effect returns what the query said.
 */

/**
 * lockdep's wait types, most restrictive first (LD_WAIT_SPIN < LD_WAIT_CONFIG < LD_WAIT_SLEEP).
 * Without PROVE_RAW_LOCK_NESTING, `LD_WAIT_CONFIG = LD_WAIT_SPIN` (include/linux/lockdep_types.h).
 */
export type WaitType = 'SPIN' | 'CONFIG' | 'SLEEP';
function rank(w: WaitType, cfg: KernelConfig): number {
  return w === 'SPIN' || (w === 'CONFIG' && !cfg.proveRawLockNesting) ? 2 : w === 'CONFIG' ? 3 : 4;
}

export function waitType(type: LockType): WaitType {
  switch (type) {
    case 'raw_spinlock_t':
      return 'SPIN';
    case 'spinlock_t':
    case 'local_lock_t':
    case 'local_trylock_t':
      return 'CONFIG';
    case 'mutex':
      return 'SLEEP';
  }
}

/** The inner wait type lockdep checks `l` with: its type's, or a lockdep annotation of the configuration. */
export function lockWaitType(l: Lock, cfg: KernelConfig): WaitType {
  return cfg.lockdepWaitTypes[l.name] ?? waitType(l.type);
}

function isLocalLock(type: LockType): boolean {
  return type === 'local_lock_t' || type === 'local_trylock_t';
}

/** The kernel function a blocking acquisition of this type runs, for messages. */
export function lockFunction(type: LockType, cfg: KernelConfig, irqsave = false, bh = false): string {
  const save = irqsave ? '_irqsave' : bh ? '_bh' : '';
  switch (type) {
    case 'raw_spinlock_t':
      return `raw_spin_lock${save}`;
    case 'spinlock_t':
      return cfg.rt ? 'rt_spin_lock' : `spin_lock${save}`;
    case 'local_lock_t':
    case 'local_trylock_t':
      return cfg.rt ? `local_lock${save} (rt_spin_lock)` : `local_lock${save}`;
    case 'mutex':
      return 'mutex_lock';
  }
}

export interface LockDecl {
  readonly name: string;
  readonly type: LockType;
  /** For a per-CPU instance: its CPU. */
  readonly cpu?: number;
}

/** Adds locks to the kernel (in init). Names are unique; per-CPU locks get one entry per CPU (see local_lock.ts). */
export function declareLocks(k: KernelDraft, decls: readonly LockDecl[]): void {
  for (const d of decls) {
    if (k.locks.has(d.name)) throw new Error(`lock "${d.name}" is declared twice`);
    k.locks.set(d.name, { name: d.name, type: d.type, cpu: d.cpu ?? -1, holders: [], acquired: false });
  }
}

export function lockState(k: Kernel, name: string): Lock {
  const l = k.locks.get(name);
  if (!l) throw new Error(`unknown lock "${name}"; declared: ${[...k.locks.keys()].join(', ') || '(none)'}`);
  return l;
}

/** lockState() of a draft, to write. */
function lockDraft(k: KernelDraft, name: string): Draft<Lock> {
  return lockState(k, name) as Draft<Lock>;
}

/** The identity of the running frame of `cpu`, as a lock records its holder (a fresh value). */
export function runningHolder(k: Kernel, cpu: number, irqsave = false, bh = false): Holder {
  const fr = top(k, cpu);
  return { cpu, depth: depth(k, cpu), task: fr.task, kind: fr.kind, irqsave, bh };
}

function sameFrame(a: Holder, b: Holder): boolean {
  return a.cpu === b.cpu && a.depth === b.depth && a.task === b.task;
}

/** Whether the running frame of `cpu` holds `name`. */
export function holds(k: Kernel, cpu: number, name: string): boolean {
  const me = runningHolder(k, cpu);
  return lockState(k, name).holders.some((h) => sameFrame(h, me));
}

/** `cpu0 task (task0)`, with ` (not running)` when that frame is not the one on its stack now. */
export function describeHolder(k: Kernel, h: Holder): string {
  const fr = frames(k, h.cpu)[h.depth];
  const running = fr !== undefined && fr.task === h.task && fr.kind === h.kind;
  return `cpu${h.cpu} ${h.kind}${h.kind === 'task' || h.kind === 'hook' ? ` (${h.task})` : ''}${running ? '' : ' (not running)'}`;
}

/**
 * The frames of `cpu` that form the running frame's irq-context level, as lockdep groups
 * held locks: task and hook frames together, each interrupt frame alone.
 */
function levelDepths(k: Kernel, cpu: number): [number, number] {
  const d = depth(k, cpu);
  const fr = top(k, cpu);
  if (fr.kind !== 'task' && fr.kind !== 'hook') return [d, d];
  let lo = d;
  const fs = frames(k, cpu);
  while (lo > 0 && (fs[lo - 1].kind === 'task' || fs[lo - 1].kind === 'hook')) lo--;
  return [lo, d];
}

/** Locks held in the running frame's irq-context level, in the order of the kernel's lock map. */
export function heldInContext(k: Kernel, cpu: number): Lock[] {
  const [lo, hi] = levelDepths(k, cpu);
  const task = top(k, cpu).task;
  return [...k.locks.values()].filter((l) => l.holders.some((h) => h.cpu === cpu && h.task === task && h.depth >= lo && h.depth <= hi));
}

/**
 * The wait type the running frame may still take, and why (lockdep's check_wait_context): the
 * context's own (non-threaded hardirq and NMI SPIN, threaded hardirq and softirq CONFIG, task
 * SLEEP), lowered by every lock held in its irq-context level and by rcu_read_lock(), whose
 * lockdep map has wait_type_inner LD_WAIT_CONFIG (kernel/rcu/update.c: "PREEMPT_RT implies
 * PREEMPT_RCU").
 */
export function contextWaitType(k: Kernel, cfg: KernelConfig, cpu: number): { type: WaitType; because: string } {
  const { kind, threaded } = top(k, cpu);
  let type: WaitType = kind === 'nmi' || (kind === 'hardirq' && !threaded) ? 'SPIN' : kind === 'softirq' || kind === 'hardirq' ? 'CONFIG' : 'SLEEP';
  let because =
    kind === 'hardirq' ? (threaded ? 'hardirq, threaded under forced irq threading' : 'non-threaded hardirq') : kind === 'nmi' ? 'NMI' : kind === 'softirq' ? 'softirq' : 'task context';
  const lower = (w: WaitType, why: string) => {
    if (rank(w, cfg) >= rank(type, cfg)) return;
    type = w;
    because = why;
  };
  for (const l of heldInContext(k, cpu)) lower(lockWaitType(l, cfg), `${l.name} (${l.type}) held`);
  const [lo, hi] = levelDepths(k, cpu);
  if (stackSum(frames(k, cpu), 'rcu', hi, lo) > 0) lower('CONFIG', 'inside rcu_read_lock()');
  return { type, because };
}

/**
 * `[PREEMPT_RT]`: the configuration a splat was found under. Without PREEMPT_COUNT no kernel
 * prints lockdep's or might_sleep()'s splats (PROVE_LOCKING and DEBUG_ATOMIC_SLEEP select
 * PREEMPT_COUNT): the bug is there, nothing reports it, and the message says so.
 */
function configTag(cfg: KernelConfig): string {
  return `[${configName(cfg)}]${cfg.preemptCount ? '' : '; no kernel of this configuration reports it (PROVE_LOCKING and DEBUG_ATOMIC_SLEEP select PREEMPT_COUNT)'}`;
}

function heldChain(k: Kernel, cfg: KernelConfig, cpu: number): string {
  const held = heldInContext(k, cpu);
  if (held.length === 0) return 'no locks held';
  return held
    .map((l, i) => `#${i}: ${l.name} (${l.type}) {${lockWaitType(l, cfg)}} held by ${l.holders.map((h) => describeHolder(k, h)).join(', ')}`)
    .join('; ');
}

/** lockdep's "BUG: Invalid wait context" check for a blocking acquisition; records a splat when violated. */
function checkWaitContext(k: KernelDraft, cfg: KernelConfig, cpu: number, l: Lock, irqsave: boolean, bh: boolean): void {
  const ctx = contextWaitType(k, cfg, cpu);
  const want = lockWaitType(l, cfg);
  if (rank(want, cfg) <= rank(ctx.type, cfg)) return;
  splat(
    k,
    'invalid-wait-context',
    cpu,
    `BUG: Invalid wait context: ${contextName(k, cpu)} is trying to lock ${l.name} (${l.type}) {${want}} with ${lockFunction(l.type, cfg, irqsave, bh)} ` +
      `in a {${ctx.type}} context (${ctx.because}); ${heldChain(k, cfg, cpu)} ${configTag(cfg)}`,
  );
}

/**
 * might_sleep(): records a "sleeping function called from invalid context" splat when the
 * running frame is atomic, or on PREEMPT_RCU inside rcu_read_lock() (__might_resched() counts
 * rcu_preempt_depth() against the offsets it expects, which are 0). Use it for anything that may
 * sleep: a sleeping lock, GFP_KERNEL, synchronize_rcu(), vfree(). `rtlock`: the might_sleep() of
 * an RT spinlock_t or local_lock acquisition, which expects the caller's RCU depth
 * (kernel/locking/spinlock_rt.c: "Take RCU nesting into account as spin/read/write_lock() can
 * legitimately nest into an RCU read side critical section").
 */
export function mightSleep(k: KernelDraft, cfg: KernelConfig, cpu: number, what: string, opts: { rtlock?: boolean } = {}): void {
  const why = atomicReasons(k, cfg, cpu);
  const rcu = rcuPreemptDepth(k, cfg, cpu);
  if (rcu > 0 && !opts.rtlock) why.push(`in an RCU read-side critical section (rcu_preempt_depth() ${rcu})`);
  if (why.length === 0) return;
  splat(
    k,
    'sleep-in-atomic',
    cpu,
    `BUG: sleeping function called from invalid context: ${contextName(k, cpu)} calls ${what} while ${why.join(', ')}; ${heldChain(k, cfg, cpu)} ${configTag(cfg)}`,
  );
}

/** Whether a waiter for a lock of this type spins (raw_spinlock_t; spinlock_t on !PREEMPT_RT) rather than sleeps. A !RT local lock never waits. */
function spins(type: LockType, cfg: KernelConfig): boolean {
  return type === 'raw_spinlock_t' || (type === 'spinlock_t' && !cfg.rt);
}

/** Whether the _irqsave form of this type masks interrupts: the ones that spin and !RT local locks; the sleeping ones (RT spinlock_t and local locks, mutex) do not. */
function masksIrqs(type: LockType, cfg: KernelConfig, irqsave: boolean): boolean {
  return irqsave && !maySleep(type, cfg);
}

/**
 * What an acquisition does to the running frame's irqs, preemption and migration. A spinning
 * lock does it before it spins (include/linux/spinlock_api_smp.h, 6.18:
 * `__raw_spin_lock_irqsave()` is `local_irq_save(flags); preempt_disable(); ...
 * LOCK_CONTENDED(lock, do_raw_spin_trylock, do_raw_spin_lock);`), so its waiter spins with
 * preemption off (an RCU reader) and, for _irqsave, irqs off; a sleeping lock does it once it
 * has the lock (`__rt_spin_lock()`: `rtlock_lock(); rcu_read_lock(); migrate_disable();`).
 */
function enter(k: KernelDraft, cfg: KernelConfig, cpu: number, type: LockType, irqsave: boolean): void {
  const masks = masksIrqs(type, cfg, irqsave);
  if (masks) localIrqSave(k, cpu);
  const fr = topDraft(k, cpu);
  switch (type) {
    case 'raw_spinlock_t':
      fr.preempt++;
      break;
    case 'spinlock_t':
      if (cfg.rt) {
        fr.migrate++;
        fr.rcu++;
      }
      else fr.preempt++;
      break;
    case 'local_lock_t':
    case 'local_trylock_t':
      if (cfg.rt) {
        fr.migrate++;
        fr.rcu++;
      }
      else if (!masks) fr.preempt++;
      break;
    case 'mutex':
      break;
  }
}

/** The running frame of `cpu` now holds `l` (enter() has run). */
function own(k: KernelDraft, cfg: KernelConfig, cpu: number, l: Draft<Lock>, opts: LockOptions): void {
  topDraft(k, cpu).waiting = null;
  l.holders.push(runningHolder(k, cpu, masksIrqs(l.type, cfg, opts.irqsave ?? false), opts.bh ?? false));
  if (l.type === 'local_trylock_t') l.acquired = true;
}

function checkInstance(cpu: number, l: Lock, remote = false): void {
  if (l.cpu < 0 || l.cpu === cpu) return;
  if (remote && !isLocalLock(l.type)) return;
  throw new Error(
    `cpu${cpu} takes ${l.name}, the instance of cpu${l.cpu}: ${isLocalLock(l.type) ? 'a local lock is only taken on its own CPU' : 'pass { remote: true } where the code takes it through per_cpu_ptr(…, cpu)'}`,
  );
}

/** A blocking acquisition's label: `call`, or `call waits (held by …)` while another frame holds `name`. */
export function acquireLabel(k: Kernel, cfg: KernelConfig, cpu: number, name: string, call: string): string {
  if (canAcquire(k, cfg, cpu, name)) return call;
  return `${call} waits (held by ${lockState(k, name).holders.map((h) => describeHolder(k, h)).join(', ')})`;
}

/** Whether a blocking `lock()` of `name` from the running frame of `cpu` would acquire now rather than wait. */
export function canAcquire(k: Kernel, cfg: KernelConfig, cpu: number, name: string): boolean {
  const l = lockState(k, name);
  return l.holders.length === 0 || (!cfg.rt && isLocalLock(l.type));
}

/** How a lock is taken: the _irqsave form (irqs masked, for the types that spin), or the _bh form (local_bh_disable() first: spin_lock_bh()). */
export interface LockOptions {
  readonly irqsave?: boolean;
  readonly bh?: boolean;
  /**
   * Another CPU's instance of a per-CPU spinlock, reached through per_cpu_ptr(…, cpu), as
   * drain_pages_zone() takes a remote pcp->lock. Without it, taking another CPU's instance is
   * a model error (this_cpu_ptr() reaches the running CPU's own).
   */
  readonly remote?: boolean;
}

/**
 * A blocking acquisition (raw_spin_lock, spin_lock, local_lock, mutex_lock and their _irqsave
 * and _bh forms) by the running frame of `cpu`. On the first attempt: the _bh form's
 * local_bh_disable(), lockdep's wait-context rule, might_sleep(), and for a spinning type its
 * irq and preemption changes; then it acquires, or makes the frame wait (its `waiting` names
 * the lock; call lock() again, with the same options, once canAcquire()). Returns whether it
 * acquired: canAcquire() before the call.
 */
export function lock(k: KernelDraft, cfg: KernelConfig, cpu: number, name: string, opts: LockOptions = {}): boolean {
  const l = lockDraft(k, name);
  checkInstance(cpu, l, opts.remote);
  const irqsave = opts.irqsave ?? false;
  if (irqsave && opts.bh) throw new Error(`lock(${name}): there is no spin_lock_irqsave_bh(); pass irqsave or bh`);
  const first = top(k, cpu).waiting !== name;
  if (first) {
    if (opts.bh) localBhDisable(k, cfg, cpu);
    checkWaitContext(k, cfg, cpu, l, irqsave, opts.bh ?? false);
    if (maySleep(l.type, cfg)) mightSleep(k, cfg, cpu, `${lockFunction(l.type, cfg, irqsave, opts.bh)}(${name})`, { rtlock: l.type !== 'mutex' });
    if (spins(l.type, cfg)) enter(k, cfg, cpu, l.type, irqsave);
  }
  if (canAcquire(k, cfg, cpu, name)) {
    if (!spins(l.type, cfg)) enter(k, cfg, cpu, l.type, irqsave);
    own(k, cfg, cpu, l, opts);
    return true;
  }
  topDraft(k, cpu).waiting = name;
  return false;
}

export interface TrylockOptions {
  readonly irqsave?: boolean;
  /**
   * PREEMPT_RT, local_trylock_t / local_lock_t only: try the underlying per-CPU rt spinlock
   * directly, without local_trylock()'s refusal in NMI and hardirq — what code does that
   * trylocks the per-CPU lock on RT from there (rt_spin_trylock). From NMI or hardirq that is
   * a `trylock-outside-task` report. Ignored on !RT.
   */
  readonly bypassIrqGuard?: boolean;
}

/** Whether local_trylock()'s own rules decide a trylock of `l` (every local lock but an RT one tried with bypassIrqGuard). */
function guardedLocal(l: Lock, cfg: KernelConfig, opts: TrylockOptions): boolean {
  return isLocalLock(l.type) && !(cfg.rt && (opts.bypassIrqGuard ?? false));
}

/** Whether `trylock()` of `name` from the running frame of `cpu` would take it now. */
export function canTrylock(k: Kernel, cfg: KernelConfig, cpu: number, name: string, opts: TrylockOptions = {}): boolean {
  const l = lockState(k, name);
  if (guardedLocal(l, cfg, opts)) {
    if (cfg.rt && (inNmi(k, cpu) || inHardirq(k, cpu))) return false;
    if (!cfg.rt) return !l.acquired && l.holders.length === 0;
  }
  return l.holders.length === 0;
}

/**
 * A trylock (raw_spin_trylock, spin_trylock, local_trylock, mutex_trylock and _irqsave forms).
 * Exempt from lockdep's wait-context check (kernel/locking/lockdep.c, check_wait_context():
 * `if (!next_inner || next->trylock) return 0;`). A trylock of a sleeping lock from NMI or
 * hardirq is still wrong, and is recorded as its own kind, `trylock-outside-task`, which no
 * kernel prints: an rt_mutex "can only be called in thread context. It's safe to call it from
 * atomic regions, but not from hard or soft interrupt context" (kernel/locking/rtmutex_api.c,
 * rt_mutex_trylock(); the owner would be the interrupted task), and mutex_trylock() "must not
 * be used in interrupt context" (kernel/locking/mutex.c). local_trylock() guards against it
 * on RT by failing in NMI and hardirq. Returns whether it took the lock: canTrylock() before
 * the call.
 */
export function trylock(k: KernelDraft, cfg: KernelConfig, cpu: number, name: string, opts: TrylockOptions = {}): boolean {
  const l = lockDraft(k, name);
  checkInstance(cpu, l);
  const ok = canTrylock(k, cfg, cpu, name, opts);
  if (!guardedLocal(l, cfg, opts) && (inNmi(k, cpu) || inHardirq(k, cpu)) && maySleep(l.type, cfg)) {
    const [fn, rule] =
      l.type === 'mutex'
        ? ['mutex_trylock', 'mutex_trylock() "must not be used in interrupt context" (kernel/locking/mutex.c)']
        : ['rt_spin_trylock', 'an rt_mutex trylock "can only be called in thread context ... not from hard or soft interrupt context" (kernel/locking/rtmutex_api.c): the owner would be the interrupted task'];
    splat(
      k,
      'trylock-outside-task',
      cpu,
      `${contextName(k, cpu)} calls ${fn}(${name}) on a sleeping lock (${l.type}) from ${inNmi(k, cpu) ? 'NMI' : 'hardirq'}: ${rule}; ` +
        `lockdep exempts trylocks from its wait-context check, so nothing prints this; ${heldChain(k, cfg, cpu)} ${configTag(cfg)}`,
    );
  }
  if (ok) {
    enter(k, cfg, cpu, l.type, opts.irqsave ?? false);
    own(k, cfg, cpu, l, opts);
  }
  return ok;
}

/** Releases `name` held by the running frame of `cpu`, undoing what its acquisition did to irqs, preemption and migration. */
export function unlock(k: KernelDraft, cfg: KernelConfig, cpu: number, name: string): void {
  const l = lockDraft(k, name);
  const me = runningHolder(k, cpu);
  let i = l.holders.length - 1;
  while (i >= 0 && !sameFrame(l.holders[i], me)) i--;
  if (i < 0) {
    splat(k, 'bad-unlock', cpu, `${contextName(k, cpu)} releases ${name} (${l.type}), which it does not hold; holders: ${l.holders.map((h) => describeHolder(k, h)).join(', ') || 'none'}`);
    return;
  }
  const [h] = l.holders.splice(i, 1);
  l.acquired = false;
  const fr = topDraft(k, cpu);
  switch (l.type) {
    case 'raw_spinlock_t':
      fr.preempt--;
      break;
    case 'spinlock_t':
      if (cfg.rt) {
        fr.migrate--;
        fr.rcu--;
      }
      else fr.preempt--;
      break;
    case 'local_lock_t':
    case 'local_trylock_t':
      if (cfg.rt) {
        fr.migrate--;
        fr.rcu--;
      }
      else if (!h.irqsave) fr.preempt--;
      break;
    case 'mutex':
      break;
  }
  if (h.irqsave) localIrqRestore(k, cpu);
  if (h.bh) localBhEnable(k, cfg, cpu);
  quiesce(fr);
}

/** All holders of a lock (empty when free). */
export function holdersOf(k: Kernel, name: string): readonly Holder[] {
  return lockState(k, name).holders;
}
