// Single-argument ("headless") kvfree_rcu(ptr): the object has no rcu_head, so the only ways to
// defer its free are a slot in the per-CPU pointer array or something that needs no memory
// (seed 004; Vlad Rezki's kfree_call_rcu(head, func, ptr_to_free) patch, Joel Fernandes's
// review; today kvfree_rcu_mightsleep() in include/linux/rcupdate.h, mm/slab_common.c).
//
// Callers (each frees its own objects, one per call):
//   cpu0 task     process context, may sleep                                   kvfree_rcu(objA)
//   cpu0 hardirq  a non-threaded interrupt handler (an hrtimer or an IRQF_NO_THREAD handler:
//                 lockdep's SPIN wait type), arriving whenever cpu0 has irqs on kvfree_rcu(objB)
//   cpu1 task     inside its own rcu_read_lock() section                       kvfree_rcu(objC)
// kvfree_rcu(ptr): local_irq_save(); raw_spin_lock(&krcp->lock); put ptr in this CPU's pointer
// array if it has a slot; unlock; restore. That section is one step here: nothing else runs on
// that CPU with irqs off, and each CPU has its own krcp; the lock still goes through the kernel
// layer, so its wait-context check applies. With no slot (`arrayPages` runs out), the variant's
// fallback, after the krcp section:
// - sync-fallback-anywhere: synchronize_rcu(); kvfree(ptr) — Vlad's patch, for every caller.
// - mightsleep-only: headless only where sleeping is legal (kvfree_rcu_mightsleep(), which
//   calls might_sleep() first: "it can be used from might_sleep() context only"); the
//   hardirq and the reader use the two-argument kvfree_rcu(ptr, rh), whose fallback queues the
//   object's own rcu_head with call_rcu() — no memory, no sleep.
// - atomic-wrapper: Vlad's TINY-RCU idea: under local_irq_save(), kzalloc(wrapper, GFP_ATOMIC)
//   and call_rcu() on it; if that allocation fails too, nothing is left to do: the object is
//   never freed. kzalloc's slow path takes the slab's kmem_cache_node list_lock, a spinlock_t:
//   from a non-threaded hardirq that is an invalid wait context, and on PREEMPT_RT a sleeping
//   lock taken with irqs off.
// - context-check: Joel Fernandes's two-fold approach: "If kfree_call_rcu() is called in atomic
//   context or in any rcu reader, then use GFP_ATOMIC to grow an rcu_head wrapper on the atomic
//   memory pool and queue that. Otherwise, grow an rcu_head on the stack of kfree_call_rcu()
//   and call synchronize_rcu() inline with it." `check` says how the context is told apart:
//   `preemptible-and-nesting`, his "Use preemptible() and task_struct's rcu_read_lock_nesting"
//   (!preemptible() || rcu_preempt_depth()), or `in-atomic`, Vlad's "Will it be enough just have
//   a look at preempt_count of current process?" (in_atomic()). Paul: "Vlad is correct for
//   CONFIG_PREEMPT=n and CONFIG_DEBUG_ATOMIC_SLEEP=y and Joel is correct otherwise": the
//   verdicts under `preemption` and `preemptCount` say the same (include/linux/preempt.h,
//   6.18: preemptible() is `(preempt_count() == 0 && !irqs_disabled())` with PREEMPT_COUNT and
//   0 without; include/linux/rcupdate.h: on !PREEMPT_RCU `__rcu_read_lock()` is
//   preempt_disable() and rcu_preempt_depth() is 0). The wrapper's kzalloc() runs without
//   local_irq_save() here, as Joel wrote it.
// - tree-wrapper: Joel's tree-RCU patch of Feb 21, 2020 ("only build-tested -- just to show the
//   idea"), the wrapper grown inside kfree_call_rcu() when the array has no room, under
//   krcp->lock with irqs off:
//       ret = !kfree_call_rcu_add_ptr_to_bulk(krcp, head, func, ptr);
//       if (unlikely(!ret)) {
//           if (ptr) {
//               kvwrap = kzalloc(sizeof(*kvwrap), GFP_KERNEL);
//               // If memory is really low, just try inline-freeing.
//               if (!kvwrap) {
//                   // NOT SURE if permitted due to IRQ. Maybe we
//                   // should try doing this from WQ?
//                   synchronize_rcu();
//                   kvfree(ptr);
//               }
//               kvwrap->ptr = ptr;  ...
//           head->func = func; head->next = krcp->head; krcp->head = head;
//   `gfp`: GFP_KERNEL as written, or GFP_ATOMIC as he goes on to propose ("I believe we could
//   tap into the GFP_ATOMIC emergency memory pool for this emergency situation"). krcp->lock is
//   the raw_spinlock_t it has been since 5.8 (in Feb 2020 it was a spinlock_t). After a NULL
//   kzalloc() the patch dereferences the NULL kvwrap; the model does not get there, since the
//   synchronize_rcu() before it, under a raw spinlock with irqs off, never returns.
// Pointer arrays are freed after a grace period (kfree_rcu_work; one RCU callback per object
// here). Limitation: the kzalloc() is one step that takes and releases list_lock (the slow
// path, always); its fast path, which takes no lock, is not explored, so the splats show what
// the slow path does, which is reachable whenever the per-CPU slab is empty.
//
// Configuration: `preemption` (none, voluntary, full = PREEMPT, rt = PREEMPT_RT) and
// `preemptCount` (CONFIG_PREEMPT_COUNT, which only none and voluntary may lack) give the kernel
// layer's values of preempt_count(), in_atomic(), preemptible() and rcu_preempt_depth() and its
// RCU flavour (PREEMPT_RCU with full and rt). `smp: false` is a UP kernel: cpu0 alone, the
// reader its second task (task1), switched to when the running task is done or sleeps in
// synchronize_rcu(), and under PREEMPT and PREEMPT_RT wherever the running task is
// preemptible; with none or voluntary it is TINY_RCU, for which Vlad proposed the atomic
// wrapper ("for CONFIG_TINY_RCU we should implement very similar what we have done for
// CONFIG_TREE_RCU or just simply do like Ted has done"); there synchronize_rcu() returns at
// once (kernel/rcu/tiny.c), so sync-fallback-anywhere's calls from the hardirq and from inside
// the reader are illegal but neither splat nor hang. Left out on UP: PREEMPT_VOLUNTARY's
// might_sleep() preemption points (the switch happens at the task's end or its sleep). A
// property whose violation needs every caller finished (no-leak-at-quiescence) is not seen in
// a setting where a caller never finishes.
import { bool, defineModel, int, oneOf, t, type ParamValues, type StateOf, type Transition } from '../src/index.ts';
import {
  allocate,
  callRcu,
  canInterrupt,
  canSchedule,
  taskContext,
  waitsInSynchronizeRcu,
  schedule,
  switchLabel,
  declareLocks,
  declarePerCpuLock,
  free,
  gpTransitions,
  inAtomic,
  initKernel,
  interrupt,
  kernelConfig,
  kernelType,
  localIrqRestore,
  localIrqSave,
  lock,
  memoryType,
  mightSleep,
  perCpuLockName,
  PREEMPTION_MODELS,
  preemptible,
  RCU_LANE,
  rcuContext,
  rcuPreemptDepth,
  rcuReadLock,
  rcuReadUnlock,
  readyCallback,
  synchronizeRcuBegin,
  synchronizeRcuDone,
  synchronizeRcuEnd,
  runRcuCallback,
  top,
  unlock,
  waitContextProperties,
  type Kernel,
  type KernelConfig,
  alt,
  either,
  END,
  program,
  programTransitions,
  returns,
  step,
  type Alt,
  type At,
  type Instr,
  type Into,
} from '../src/kernel/index.ts';
import { gracePeriodsEnd, noDoubleFree, noLeakAtQuiescence, synchronizeRcuLegal, synchronizeRcuReturns } from '../properties/rcu.ts';

const VARIANTS = ['sync-fallback-anywhere', 'mightsleep-only', 'atomic-wrapper', 'context-check', 'tree-wrapper'] as const;
const GFPS = ['GFP_KERNEL', 'GFP_ATOMIC'] as const;
const CHECKS = ['preemptible-and-nesting', 'in-atomic'] as const;


/** The callers: A (cpu0 task), B (cpu0 hardirq), C (cpu1 task). */
const CALLERS = ['A', 'B', 'C'] as const;

const KRCP = 'krcp->lock';
const LIST_LOCK = 'n->list_lock';

const params = {
  variant: oneOf(VARIANTS, 'sync-fallback-anywhere', 'what kvfree_rcu(ptr) does when the pointer array has no slot'),
  preemption: oneOf(PREEMPTION_MODELS, 'full', 'the preemption model: PREEMPT_NONE, PREEMPT_VOLUNTARY, PREEMPT (full) or PREEMPT_RT (rt: spinlock_t sleeps)'),
  preemptCount: bool(true, 'CONFIG_PREEMPT_COUNT; only none and voluntary may turn it off (full and rt select it)'),
  smp: bool(true, 'CONFIG_SMP; false is a UP kernel, TINY_RCU under none and voluntary (cpu0 only: the reader is its second task)'),
  readerHeadless: bool(false, 'mightsleep-only: the reader calls kvfree_rcu_mightsleep() inside its rcu_read_lock() (a misuse its might_sleep() catches)'),
  check: oneOf(CHECKS, 'preemptible-and-nesting', 'context-check: how kvfree_rcu() decides it may call synchronize_rcu()'),
  gfp: oneOf(GFPS, 'GFP_KERNEL', "tree-wrapper: the wrapper's allocation flags, GFP_KERNEL as in Joel's patch or GFP_ATOMIC as he proposes next"),
  arrayPages: int(0, { min: 0, max: 3, doc: 'pointer-array slots each CPU has before the fallback is needed' }),
  taskCaller: bool(true, 'cpu0 task calls kvfree_rcu(objA) from process context'),
  hardirqCaller: bool(true, 'a hardirq on cpu0 calls kvfree_rcu(objB)'),
  readerCaller: bool(true, 'cpu1 task calls kvfree_rcu(objC) inside rcu_read_lock()'),
  calls: int(1, { min: 1, max: 3, doc: 'kvfree_rcu() calls per caller, one object each (a new hardirq or reader section each time)' }),
};
type P = ParamValues<typeof params>;

/** cpu0, and cpu1 for the reader on an SMP kernel. */
const cpusOf = (p: P) => (p.smp ? 2 : 1);

const schema = (p: P) => {
  // One object per call per caller, and at most one wrapper for each (atomic-wrapper).
  const objects = CALLERS.length * p.calls;
  return t.struct({
    // Locks: krcp->lock on each CPU and n->list_lock, each held by one frame at most, within one
    // step, which saves irqs once at most. Splats: a call records at most two (the hardirq's
    // kzalloc on RT: invalid wait context and sleep in atomic), the others one; tree-wrapper's up
    // to four (kzalloc(GFP_KERNEL)'s might_sleep(), list_lock's wait context and on RT its sleep,
    // synchronize_rcu()'s might_sleep()).
    // RCU: a callback per object at most; cpu0/task0, cpu0/hardirq and cpu1/task1 in synchronize_rcu().
    kernel: kernelType({ cpus: cpusOf(p), maxNesting: 1, locals: t.optional(t.bool()), locks: 3, holders: 1, irqSaved: 1, splats: (p.variant === 'tree-wrapper' ? 4 * CALLERS.length : 4) * p.calls, rcu: { callbacks: objects, waiters: 3, frees: 2 } }),
    /** Completed calls per caller (`A`, `B`, `C`); a caller is absent until its first call returns. */
    done: t.map(t.enum(CALLERS), t.int(0, p.calls), CALLERS.length),
    /** Free slots left in each CPU's pointer array (pages the krcp already has). */
    slots: t.array(t.int(0, p.arrayPages), cpusOf(p)),
    mem: memoryType({ objects: 2 * objects }),
  });
};
type State = StateOf<typeof schema>;

/** Which caller the running frame of `cpu` is: A (task0), B (cpu0's hardirq), C (task1: cpu1's, or cpu0's second task on a UP kernel). */
function callerOf(k: Kernel, cpu: number): 'A' | 'B' | 'C' {
  const fr = top(k, cpu);
  return fr.kind === 'hardirq' ? 'B' : fr.task === 'task1' ? 'C' : 'A';
}
/** Whether caller `c` uses the headless form (else the two-argument form with an rcu_head). */
function headless(c: string, p: P): boolean {
  return p.variant !== 'mightsleep-only' || c === 'A' || (c === 'C' && p.readerHeadless);
}

/** context-check: what the caller's test of its own context says, as the kernel computes it, and whether it takes the atomic path. */
function contextTest(k: Kernel, cfg: KernelConfig, cpu: number, check: P['check']): { atomic: boolean; says: string } {
  if (check === 'in-atomic') {
    const atomic = inAtomic(k, cfg, cpu);
    return { atomic, says: `in_atomic() ${atomic ? 1 : 0}` };
  }
  const pre = preemptible(k, cfg, cpu);
  const depth = rcuPreemptDepth(k, cfg, cpu);
  return { atomic: !pre || depth > 0, says: `preemptible() ${pre ? 1 : 0}, rcu_preempt_depth() ${depth}` };
}

function cfgOf(p: P): KernelConfig {
  return kernelConfig({ preemption: p.preemption, preemptCount: p.preemptCount, smp: p.smp, maxNesting: 1 });
}

type A = At<State, P>;

/** The caller running on the step's CPU, its next object, and how it calls kvfree_rcu(). */
const callerAt = (a: A) => callerOf(a.k, a.cpu);
const callsDone = (a: A) => a.s.done.get(callerAt(a)) ?? 0;
const objAt = (a: A) => `obj${callerAt(a)}${callsDone(a)}`;
const formAt = (a: A) => (headless(callerAt(a), a.p) ? `kvfree_rcu(${objAt(a)})` : `kvfree_rcu(${objAt(a)}, rh)`);
const isHeadless = (a: A) => headless(callerAt(a), a.p);
/** Counts the call the caller has just finished. */
const count = (o: Into<State>, a: A) => void o.d.done.set(callerAt(a), callsDone(a) + 1);
const more = (a: A) => callsDone(a) + 1 < a.p.calls;

/** tree-wrapper: the headless fallback runs inside the krcp->lock section. */
const inSection = (a: A) => isHeadless(a) && a.p.variant === 'tree-wrapper';

/** krc_this_cpu_lock(): local_irq_save() + raw_spin_lock(); the slot check; krc_this_cpu_unlock() unless the fallback runs under the lock (`inSection`). */
function krcpSection(o: Into<State>, a: A, keep = false): void {
  // kvfree_call_rcu() (mm/slab_common.c, 6.18): "it can be used from might_sleep() context only":
  // `if (!head) might_sleep();` before anything else.
  if (a.p.variant === 'mightsleep-only' && isHeadless(a)) mightSleep(o.k, a.cfg, a.cpu, 'kvfree_rcu_mightsleep()');
  const krcp = perCpuLockName(KRCP, a.cpu);
  if (!lock(o.k, a.cfg, a.cpu, krcp, { irqsave: true })) throw new Error(`${krcp} is held outside a krcp section`);
  if (!keep) unlock(o.k, a.cfg, a.cpu, krcp);
}

/** krc_this_cpu_unlock() at the end of tree-wrapper's section. */
const krcpUnlock = (o: Into<State>, a: A) => unlock(o.k, a.cfg, a.cpu, perCpuLockName(KRCP, a.cpu));

/** kzalloc()'s slow path takes the slab's spinlock_t; Vlad's sketch runs it inside local_irq_save(). */
function kzalloc(o: Into<State>, a: A, irqsOff: boolean): void {
  if (irqsOff) localIrqSave(o.k, a.cpu);
  if (!lock(o.k, a.cfg, a.cpu, LIST_LOCK)) throw new Error(`${LIST_LOCK} is held outside a kzalloc step`);
  unlock(o.k, a.cfg, a.cpu, LIST_LOCK);
  if (irqsOff) localIrqRestore(o.k, a.cpu);
}

const wrapperAt = (a: A) => `wrapper${objAt(a).slice(3)}`;

/** The wrapper is allocated, and call_rcu() on it frees the object and then the wrapper. */
function queueWrapper(o: Into<State>, a: A): void {
  allocate(o.d.mem, wrapperAt(a));
  callRcu(o.k.rcu, `kvfree(${objAt(a)}); kfree(${wrapperAt(a)})`, [objAt(a), wrapperAt(a)]);
}

/** The GFP_ATOMIC wrapper, allocated and queued or failed; `why` prefixes the label (the context check's reading). */
function wrapper(when: (a: A) => boolean, why: (a: A) => string, irqsOff: boolean): Alt<State, P>[] {
  return [
    alt(
      (a) => `${why(a)}kzalloc(wrapper, GFP_ATOMIC) → ${wrapperAt(a)}; call_rcu(${wrapperAt(a)})`,
      (o, a) => {
        queueWrapper(o, a);
        kzalloc(o, a, irqsOff);
      },
      { when, goto: 'leave' },
    ),
    alt((a) => `${why(a)}kzalloc(wrapper, GFP_ATOMIC) fails: return`, (o, a) => kzalloc(o, a, irqsOff), { when, goto: 'leave' }),
  ];
}

/** tree-wrapper's kzalloc(): GFP_KERNEL may sleep (might_alloc()); either takes the slab's spinlock_t in its slow path. */
function treeKzalloc(o: Into<State>, a: A): void {
  if (a.p.gfp === 'GFP_KERNEL') mightSleep(o.k, a.cfg, a.cpu, 'kzalloc(GFP_KERNEL)');
  kzalloc(o, a, false);
}

const says = (a: A) => `${contextTest(a.k, a.cfg, a.cpu, a.p.check).says}: `;
const checked = (atomic: boolean) => (a: A) => isHeadless(a) && a.p.variant === 'context-check' && contextTest(a.k, a.cfg, a.cpu, a.p.check).atomic === atomic;

/** kvfree_rcu() of the caller's next object, up to the point where the caller leaves it (`leave`). */
const kvfreeRcu: Instr<State, P>[] = [
  either(
    'call',
    alt(
      (a) => `${formAt(a)}: pointer into the array`,
      (o, a) => {
        o.d.slots[a.cpu]--;
        callRcu(o.k.rcu, `kfree_rcu_work: kvfree(${objAt(a)})`, [objAt(a)]);
        krcpSection(o, a);
      },
      { when: (a) => a.s.slots[a.cpu] > 0, goto: 'leave' },
    ),
    alt((a) => `${formAt(a)}: no array slot`, (o, a) => krcpSection(o, a, inSection(a)), { when: (a) => a.s.slots[a.cpu] === 0 }),
  ),
  either(
    'fallback',
    alt((a) => `call_rcu(&${objAt(a)}->rh)`, (o, a) => callRcu(o.k.rcu, `kvfree(${objAt(a)})`, [objAt(a)]), { when: (a) => !isHeadless(a), goto: 'leave' }),
    ...wrapper((a) => isHeadless(a) && a.p.variant === 'atomic-wrapper', () => '', true),
    ...wrapper(checked(true), says, false),
    // tree-wrapper, under krcp->lock with irqs off: kzalloc() (might_alloc(): might_sleep() for
    // GFP_KERNEL), the wrapper's rcu_head onto krcp->head; on NULL synchronize_rcu() inline.
    alt(
      (a) => `kzalloc(wrapper, ${a.p.gfp}) → ${wrapperAt(a)}; rcu_head onto krcp->head; krc_this_cpu_unlock()`,
      (o, a) => {
        treeKzalloc(o, a);
        queueWrapper(o, a);
        krcpUnlock(o, a);
      },
      { when: inSection, goto: 'leave' },
    ),
    alt(
      (a) => `kzalloc(wrapper, ${a.p.gfp}) fails: synchronize_rcu() under krcp->lock`,
      (o, a) => {
        treeKzalloc(o, a);
        synchronizeRcuBegin(o.k, a.cfg, a.cpu);
      },
      { when: inSection },
    ),
    alt(
      (a) => `${a.p.variant === 'context-check' ? says(a) : ''}synchronize_rcu()`,
      (o, a) => {
        synchronizeRcuBegin(o.k, a.cfg, a.cpu);
      },
      { when: (a) => isHeadless(a) && (a.p.variant === 'sync-fallback-anywhere' || a.p.variant === 'mightsleep-only' || checked(false)(a)) },
    ),
  ),
  step('sync-wait', 'synchronize_rcu() returns', (o, a) => synchronizeRcuEnd(o.k, a.cpu), { when: (a) => synchronizeRcuDone(a.k, a.cpu) }),
  // tree-wrapper goes on to `kvwrap->ptr = ptr` with kvwrap NULL: never reached, since its
  // synchronize_rcu() under krcp->lock with irqs off does not return.
  step('kvfree', (a) => `kvfree(${objAt(a)})${inSection(a) ? '; krc_this_cpu_unlock()' : ''}`, (o, a) => {
    free(o.d.mem, objAt(a), rcuContext(a.k, a.cpu));
    if (inSection(a)) krcpUnlock(o, a);
  }),
];

/** A: cpu0's task, in process context, `calls` times. */
const taskA = program<State, P>('A', [...kvfreeRcu, step('leave', 'returns', (o, a) => (count(o, a), more(a) ? 'call' : END))]);
/** B: a non-threaded hardirq on cpu0, one call per arrival. */
const hardirqB = program<State, P>('B', [...kvfreeRcu, step('leave', 'irq_exit()', (o, a) => (count(o, a), returns(o, a)))]);
/** C: cpu1's task, each call inside its own rcu_read_lock() section. */
const readerC = program<State, P>('C', [
  step('idle', 'rcu_read_lock()', (o, a) => rcuReadLock(o.k, a.cpu)),
  ...kvfreeRcu,
  step('leave', 'rcu_read_unlock()', (o, a) => (count(o, a), rcuReadUnlock(o.k, a.cpu), more(a) ? 'idle' : END)),
]);
const PROGRAMS = { A: taskA, B: hardirqB, C: readerC };

/**
 * A UP kernel with the reader: task0 (A) and task1 (C) share cpu0. The scheduler switches to
 * the other task, when that one is runnable (not done, not asleep in a synchronize_rcu() whose
 * grace period has not ended), once the running one is done or sleeps in synchronize_rcu() (it
 * calls schedule() itself), and under PREEMPT and PREEMPT_RT wherever the running one is
 * preemptible.
 */
function upSwitch(s: State, cfg: KernelConfig): Transition<State>[] {
  const k = s.kernel;
  const parked = k.cpus[0].parked[0];
  const fr = top(k, 0);
  if (!parked || parked[0].pc === END || fr.kind !== 'task') return [];
  const other = parked[0].task;
  // A parked task asleep in synchronize_rcu() is not runnable until its grace period has ended.
  if (waitsInSynchronizeRcu(k.rcu, taskContext(0, other))) return [];
  const done = fr.pc === END;
  const sleeps = !done && waitsInSynchronizeRcu(k.rcu, rcuContext(k, 0));
  const at = done || sleeps ? 'cond_resched' : 'anywhere';
  if (!canSchedule(k, cfg, 0, at)) return [];
  const why = done ? 'is done' : sleeps ? 'sleeps in synchronize_rcu()' : undefined;
  return [{ lane: 'cpu0', label: `cpu0: ${switchLabel(k, 0, other, why)}`, ...(why ? {} : { action: PREEMPTION }), apply: (d) => schedule(d.kernel, cfg, 0, other, at) }];
}

/**
 * Involuntary preemption between the two tasks of a UP kernel happens finitely often: a run
 * where they preempt each other forever and neither steps is the scheduler's unfairness, not
 * the design's (fairness `finite`).
 */
const PREEMPTION = 'cpu0: preemption';

function transitions(s: State, p: P): Transition<State>[] {
  const cfg = cfgOf(p);
  const out: Transition<State>[] = [];
  // A hardirq arrives on cpu0 whenever its irqs are on (canInterrupt checks irqs, budget, nesting).
  if (p.hardirqCaller && canInterrupt(s.kernel, cfg, 0, 'hardirq'))
    out.push({ lane: 'cpu0', label: 'cpu0: hardirq enters', apply: (d) => interrupt(d.kernel, cfg, 0, 'hardirq', '') });
  // On a UP kernel with the reader, two tasks share cpu0: labels name the task that steps.
  const who = (fr: Kernel['cpus'][number]['frames'][number]) => (fr.kind !== 'task' ? `${fr.kind}: ` : !p.smp && p.readerCaller ? `${fr.task}: ` : '');
  out.push(...programTransitions(s, p, cfg, { kernel: (x) => x.kernel, draft: (d) => d.kernel, programOf: (_fr, cpu) => PROGRAMS[callerOf(s.kernel, cpu)], who }));
  out.push(...upSwitch(s, cfg));

  // Callbacks (kfree_rcu_work, call_rcu) run once their grace period has ended.
  const cb = readyCallback(s.kernel.rcu);
  if (cb) out.push({ lane: RCU_LANE, label: `rcu: callback ${cb.name}`, apply: (d) => void runRcuCallback(d.kernel.rcu, d.mem, 'rcu callback') });
  out.push(...gpTransitions(s, (x) => x.kernel, (d) => d.kernel));
  return out;
}

function allDone(s: State, p: P): boolean {
  const want = (on: boolean) => (on ? p.calls : 0);
  return (s.done.get('A') ?? 0) === want(p.taskCaller) && (s.done.get('B') ?? 0) === want(p.hardirqCaller) && (s.done.get('C') ?? 0) === want(p.readerCaller);
}

export default defineModel({
  name: 'kvfree-rcu-headless',
  description: 'single-argument kvfree_rcu(ptr) and its fallback when the pointer array has no slot',
  params,
  state: schema,
  init: (p, d) => {
    for (const [on, c] of [[p.taskCaller, 'A'], [p.hardirqCaller, 'B'], [p.readerCaller, 'C']] as const)
      if (on) for (let i = 0; i < p.calls; i++) allocate(d.mem, `obj${c}${i}`);
    // The reader is cpu1's task, or on a UP kernel cpu0's second task, waiting to run.
    const reader = { task: 'task1', pc: p.readerCaller ? '' : END };
    d.kernel = initKernel<boolean | null>([
      { task: 'task0', pc: p.taskCaller ? '' : END, budget: { hardirq: p.hardirqCaller ? p.calls : 0 }, parked: !p.smp && p.readerCaller ? [reader] : [] },
      ...(p.smp ? [reader] : []),
    ]);
    declarePerCpuLock(d.kernel, KRCP, 'raw_spinlock_t');
    declareLocks(d.kernel, [{ name: LIST_LOCK, type: 'spinlock_t' }]);
    d.slots = Array<number>(cpusOf(p)).fill(p.arrayPages);
  },
  transitions,
  isEndState: (s, p) => allDone(s, p) && s.kernel.rcu.callbacks.length === 0,
  lanes: (p) => [...(p.smp ? ['cpu0', 'cpu1'] : ['cpu0']), RCU_LANE],
  fairness: (p) => (p.smp ? {} : { finite: [PREEMPTION] }),
  properties: [
    synchronizeRcuLegal<State, P>((s) => s.kernel, 'kernel', cfgOf),
    ...waitContextProperties<State, P>((s) => s.kernel),
    noDoubleFree<State, P>((s) => s.mem, 'mem'),
    noLeakAtQuiescence<State, P>((s) => s.mem, 'mem', { finished: allDone }),
    gracePeriodsEnd<State, P>((s) => s.kernel.rcu),
    synchronizeRcuReturns<State, P>((s) => s.kernel.rcu),
  ],
  expectations: [
    {
      params: { variant: 'sync-fallback-anywhere', preemption: 'full' },
      violated: ['synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock', 'grace-periods-end', 'synchronize-rcu-returns'],
      note: "synchronize_rcu() from the hardirq sleeps in atomic context; inside the caller's reader the grace period waits for the caller forever, so neither it nor synchronize_rcu() ever ends",
    },
    { params: { variant: 'sync-fallback-anywhere', preemption: 'rt' }, violated: ['synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock', 'grace-periods-end', 'synchronize-rcu-returns'], note: 'same on RT' },
    { params: { variant: 'mightsleep-only', preemption: 'full' }, note: 'headless only where sleeping is legal; atomic callers fall back to their own rcu_head' },
    { params: { variant: 'mightsleep-only', preemption: 'rt' }, note: 'same on RT' },
    {
      params: { variant: 'atomic-wrapper', preemption: 'full' },
      violated: ['wait-context', 'no-leak-at-quiescence'],
      note: "when the GFP_ATOMIC wrapper allocation fails too, nothing frees the object; and from a non-threaded hardirq the slab's spinlock_t is an invalid wait context",
    },
    {
      params: { variant: 'atomic-wrapper', preemption: 'rt' },
      violated: ['wait-context', 'no-sleep-in-atomic', 'no-leak-at-quiescence'],
      note: "on RT kzalloc() with irqs off takes the slab's sleeping spinlock_t (sleep in atomic, in the task and the reader too); the failed allocation still leaks",
    },
    // context-check: the verdicts Paul gave ("Vlad is correct for CONFIG_PREEMPT=n and
    // CONFIG_DEBUG_ATOMIC_SLEEP=y and Joel is correct otherwise"). Every setting has the
    // hardirq's GFP_ATOMIC wrapper: its slab spinlock_t in a non-threaded hardirq (wait-context)
    // and the object lost when that allocation fails (no-leak-at-quiescence).
    ...(['full', 'none'] as const).map((preemption) => ({
      params: { variant: 'context-check', check: 'preemptible-and-nesting', preemption } as const,
      violated: ['wait-context', 'no-leak-at-quiescence'],
      note: `${preemption === 'full' ? 'PREEMPT' : 'PREEMPT_NONE with PREEMPT_COUNT'}: the reader sees rcu_preempt_depth() 1 or preemptible() 0 and takes the wrapper; only the task calls synchronize_rcu()`,
    })),
    {
      params: { variant: 'context-check', check: 'preemptible-and-nesting', preemption: 'none', preemptCount: false },
      violated: ['wait-context', 'no-leak-at-quiescence'],
      note: 'without PREEMPT_COUNT preemptible() is 0: every caller takes the wrapper, synchronize_rcu() is never called (safe, and the wrapper can fail)',
    },
    {
      params: { variant: 'context-check', check: 'preemptible-and-nesting', preemption: 'rt' },
      violated: ['wait-context', 'no-sleep-in-atomic', 'no-leak-at-quiescence'],
      note: "on RT the hardirq's kzalloc() takes a sleeping spinlock_t; the reader's check still works (rt_spin_lock() nests into RCU readers)",
    },
    {
      params: { variant: 'context-check', check: 'in-atomic', preemption: 'none' },
      violated: ['wait-context', 'no-leak-at-quiescence'],
      note: "Vlad's in_atomic() is right for PREEMPT=n with PREEMPT_COUNT: rcu_read_lock() is preempt_disable() there, so the reader sees in_atomic() 1",
    },
    ...(['GFP_KERNEL', 'GFP_ATOMIC'] as const).flatMap((gfp) =>
      (['full', 'rt'] as const).map((preemption) => ({
        params: { variant: 'tree-wrapper', gfp, preemption } as const,
        violated: ['wait-context', 'synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock', 'grace-periods-end', 'synchronize-rcu-returns'],
        note: `under the raw krcp->lock with irqs off: kzalloc()'s list_lock (spinlock_t) is an invalid wait context${gfp === 'GFP_KERNEL' ? ' and GFP_KERNEL may sleep' : ''}${preemption === 'rt' ? ' (on RT a sleeping lock)' : ''}; when it fails, synchronize_rcu() under the lock never returns`,
      })),
    ),
    // TINY_RCU (UP, PREEMPT_NONE): cpu0's task and hardirq, and the reader as cpu0's second task.
    {
      params: { variant: 'atomic-wrapper', smp: false, preemption: 'none', readerCaller: false },
      violated: ['wait-context', 'no-leak-at-quiescence'],
      note: "on TINY_RCU, where Vlad proposed it, as on tree RCU: a failed GFP_ATOMIC leaks the object, and the non-threaded hardirq's kzalloc() takes the slab's spinlock_t",
    },
    { params: { variant: 'atomic-wrapper', smp: false, preemption: 'none' }, violated: ['wait-context', 'no-leak-at-quiescence'], note: 'the same with the reader as a second task' },
    {
      params: { variant: 'sync-fallback-anywhere', smp: false, preemption: 'none' },
      violated: ['synchronize-rcu-legal'],
      note: "TINY_RCU's synchronize_rcu() has no might_sleep() and waits for nothing: the hardirq's call and the reader's inside its own section are illegal, but return at once; no splat, no hang",
    },
    {
      params: { variant: 'sync-fallback-anywhere', smp: false, preemption: 'full' },
      violated: ['synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock', 'grace-periods-end', 'synchronize-rcu-returns'],
      note: 'a UP PREEMPT kernel has tree RCU (PREEMPT_RCU): the reader sleeps in synchronize_rcu() inside its own section, whose grace period never ends, as on SMP',
    },
    { params: { variant: 'mightsleep-only', smp: false, preemption: 'none' }, note: 'on TINY_RCU too' },
    {
      params: { variant: 'context-check', check: 'in-atomic', smp: false, preemption: 'none', preemptCount: false },
      violated: ['wait-context', 'synchronize-rcu-legal', 'no-leak-at-quiescence'],
      note: "without PREEMPT_COUNT the reader's in_atomic() is 0 and it calls synchronize_rcu() inside its section; on TINY_RCU that returns at once (illegal, no hang), where on SMP its grace period never ends",
    },
    {
      params: { variant: 'context-check', check: 'in-atomic', smp: false, preemption: 'none', preemptCount: true },
      violated: ['wait-context', 'no-leak-at-quiescence'],
      note: "with PREEMPT_COUNT the reader's rcu_read_lock() is a counted preempt_disable(): in_atomic() 1, the wrapper path",
    },
    ...([['full', true], ['rt', true], ['none', false]] as const).map(([preemption, preemptCount]) => ({
      params: { variant: 'context-check', check: 'in-atomic', preemption, preemptCount } as const,
      // The hardirq's lost object is not seen: no run gets all callers finished.
      violated: ['wait-context', 'synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock', 'grace-periods-end', 'synchronize-rcu-returns'],
      note:
        (preemption === 'none'
          ? 'without PREEMPT_COUNT in_atomic() is blind to rcu_read_lock() (and to spinlocks)'
          : `${preemption === 'rt' ? 'PREEMPT_RT' : 'PREEMPT'}: rcu_read_lock() leaves preempt_count() alone (PREEMPT_RCU)`) +
        ': the reader sees in_atomic() 0 and calls synchronize_rcu() inside its own section, whose grace period never ends',
    })),
  ],
});
