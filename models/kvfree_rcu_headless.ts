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
// Pointer arrays are freed after a grace period (kfree_rcu_work; one RCU callback per object
// here). Limitation: the kzalloc() is one step that takes and releases list_lock (the slow
// path, always); its fast path, which takes no lock, is not explored, so the splats show what
// the slow path does, which is reachable whenever the per-CPU slab is empty.
//
// Configuration: `preemption` (none, voluntary, full = PREEMPT, rt = PREEMPT_RT) and
// `preemptCount` (CONFIG_PREEMPT_COUNT, which only none and voluntary may lack) give the kernel
// layer's values of preempt_count(), in_atomic(), preemptible() and rcu_preempt_depth() and its
// RCU flavour (PREEMPT_RCU with full and rt). Left out: TINY_RCU (the thread proposed the
// atomic wrapper for it, a UP kernel; here cpu1 runs the reader, so the model is SMP), so the
// wrapper is judged on tree RCU only. A property whose violation needs every caller finished
// (no-leak-at-quiescence) is not seen in a setting where a caller never finishes.
import { bool, defineModel, int, oneOf, t, type Draft, type ParamValues, type StateOf, type Transition } from '../src/index.ts';
import {
  allocate,
  callRcu,
  canInterrupt,
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
  returnFromFrame,
  setPc,
  synchronizeRcuBegin,
  synchronizeRcuDone,
  synchronizeRcuEnd,
  takeCallback,
  top,
  unlock,
  waitContextProperties,
  type Kernel,
  type KernelConfig,
  type KernelDraft,
} from '../src/kernel/index.ts';
import { gracePeriodsEnd, noDoubleFree, noLeakAtQuiescence, synchronizeRcuLegal, synchronizeRcuReturns } from '../properties/rcu.ts';

const VARIANTS = ['sync-fallback-anywhere', 'mightsleep-only', 'atomic-wrapper', 'context-check'] as const;
const CHECKS = ['preemptible-and-nesting', 'in-atomic'] as const;

/** Program counter of a caller's frame: `idle` between calls (reader: outside its section). */
type Pc = 'idle' | 'call' | 'fallback' | 'sync-wait' | 'kvfree' | 'leave' | 'done';

/** The callers: A (cpu0 task), B (cpu0 hardirq), C (cpu1 task). */
const CALLERS = ['A', 'B', 'C'] as const;

const KRCP = 'krcp->lock';
const LIST_LOCK = 'n->list_lock';

const params = {
  variant: oneOf(VARIANTS, 'sync-fallback-anywhere', 'what kvfree_rcu(ptr) does when the pointer array has no slot'),
  preemption: oneOf(PREEMPTION_MODELS, 'full', 'the preemption model: PREEMPT_NONE, PREEMPT_VOLUNTARY, PREEMPT (full) or PREEMPT_RT (rt: spinlock_t sleeps)'),
  preemptCount: bool(true, 'CONFIG_PREEMPT_COUNT; only none and voluntary may turn it off (full and rt select it)'),
  readerHeadless: bool(false, 'mightsleep-only: the reader calls kvfree_rcu_mightsleep() inside its rcu_read_lock() (a misuse its might_sleep() catches)'),
  check: oneOf(CHECKS, 'preemptible-and-nesting', 'context-check: how kvfree_rcu() decides it may call synchronize_rcu()'),
  arrayPages: int(0, { min: 0, max: 3, doc: 'pointer-array slots each CPU has before the fallback is needed' }),
  taskCaller: bool(true, 'cpu0 task calls kvfree_rcu(objA) from process context'),
  hardirqCaller: bool(true, 'a hardirq on cpu0 calls kvfree_rcu(objB)'),
  readerCaller: bool(true, 'cpu1 task calls kvfree_rcu(objC) inside rcu_read_lock()'),
  calls: int(1, { min: 1, max: 3, doc: 'kvfree_rcu() calls per caller, one object each (a new hardirq or reader section each time)' }),
};
type P = ParamValues<typeof params>;

const schema = (p: P) => {
  // One object per call per caller, and at most one wrapper for each (atomic-wrapper).
  const objects = CALLERS.length * p.calls;
  return t.struct({
    // Locks: krcp->lock on each CPU and n->list_lock, each held by one frame at most, within one
    // step, which saves irqs once at most. Splats: a call records at most two (the hardirq's
    // kzalloc on RT: invalid wait context and sleep in atomic), the others one.
    // RCU: a callback per object at most; cpu0/task0, cpu0/hardirq and cpu1/task1 in synchronize_rcu().
    kernel: kernelType({ cpus: 2, maxNesting: 1, locals: t.optional(t.bool()), locks: 3, holders: 1, irqSaved: 1, splats: 4 * p.calls, rcu: { callbacks: objects, waiters: 3 } }),
    /** Completed calls per caller (`A`, `B`, `C`); a caller is absent until its first call returns. */
    done: t.map(t.enum(CALLERS), t.int(0, p.calls), CALLERS.length),
    /** Free slots left in each CPU's pointer array (pages the krcp already has). */
    slots: t.array(t.int(0, p.arrayPages), 2),
    mem: memoryType({ objects: 2 * objects }),
  });
};
type State = StateOf<typeof schema>;

/** Which caller the running frame of `cpu` is: A (cpu0 task), B (cpu0 hardirq), C (cpu1 task). */
function callerOf(k: Kernel, cpu: number): 'A' | 'B' | 'C' {
  return cpu === 1 ? 'C' : top(k, 0).kind === 'hardirq' ? 'B' : 'A';
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
  return kernelConfig({ preemption: p.preemption, preemptCount: p.preemptCount, maxNesting: 1 });
}

function transitions(s: State, p: P): Transition<State>[] {
  const cfg = cfgOf(p);
  const out: Transition<State>[] = [];
  const k0 = s.kernel;

  for (let cpu = 0; cpu < 2; cpu++) {
    const lane = `cpu${cpu}`;
    const fr = top(k0, cpu);
    const c = callerOf(k0, cpu);
    const n = s.done.get(c) ?? 0;
    const obj = `obj${c}${n}`;
    const ctx = rcuContext(k0, cpu);
    const who = fr.kind === 'hardirq' ? `${lane}: hardirq` : lane;
    /** The running frame of `cpu` goes on at `pc`. */
    const at = (d: Draft<State>, pc: Pc) => setPc(d.kernel, cpu, pc);
    const form = headless(c, p) ? `kvfree_rcu(${obj})` : `kvfree_rcu(${obj}, rh)`;

    // A hardirq arrives on cpu0 whenever its irqs are on (canInterrupt checks irqs, budget, nesting).
    if (cpu === 0 && p.hardirqCaller && canInterrupt(k0, cfg, 0, 'hardirq'))
      out.push({
        lane,
        label: `${lane}: hardirq enters`,
        apply: (d) => {
          interrupt(d.kernel, cfg, 0, 'hardirq', 'call');
        },
      });

    switch (fr.pc as Pc) {
      case 'idle':
        if (c === 'C')
          out.push({
            lane,
            label: `${lane}: rcu_read_lock()`,
            apply: (d) => {
              rcuReadLock(d.kernel, cpu);
              at(d, 'call');
            },
          });
        break;
      case 'call': {
        const left = s.slots[cpu];
        // krc_this_cpu_lock(): local_irq_save() + raw_spin_lock(); the slot check; krc_this_cpu_unlock().
        const section = (k: KernelDraft) => {
          // kvfree_call_rcu() (mm/slab_common.c, 6.18): "it can be used from might_sleep() context only":
          // `if (!head) might_sleep();` before anything else.
          if (p.variant === 'mightsleep-only' && headless(c, p)) mightSleep(k, cfg, cpu, 'kvfree_rcu_mightsleep()');
          if (!lock(k, cfg, cpu, perCpuLockName(KRCP, cpu), { irqsave: true })) throw new Error(`${KRCP}@cpu${cpu} is held outside a krcp section`);
          unlock(k, cfg, cpu, perCpuLockName(KRCP, cpu));
        };
        if (left > 0)
          out.push({
            lane,
            label: `${who}: ${form}: pointer into the array`,
            apply: (d) => {
              d.slots[cpu] = left - 1;
              callRcu(d.kernel.rcu, `kfree_rcu_work: kvfree(${obj})`);
              section(d.kernel);
              at(d, 'leave');
            },
          });
        else
          out.push({
            lane,
            label: `${who}: ${form}: no array slot`,
            apply: (d) => {
              section(d.kernel);
              at(d, 'fallback');
            },
          });
        break;
      }
      case 'fallback': {
        const w = `wrapper${obj.slice(3)}`;
        // kzalloc()'s slow path takes the slab's spinlock_t; Vlad's sketch runs it inside local_irq_save().
        const kzalloc = (k: KernelDraft, irqsOff: boolean) => {
          if (irqsOff) localIrqSave(k, cpu);
          if (!lock(k, cfg, cpu, LIST_LOCK)) throw new Error(`${LIST_LOCK} is held outside a kzalloc step`);
          unlock(k, cfg, cpu, LIST_LOCK);
          if (irqsOff) localIrqRestore(k, cpu);
        };
        const wrapper = (why: string, irqsOff: boolean) => {
          out.push({
            lane,
            label: `${who}: ${why}kzalloc(wrapper, GFP_ATOMIC) → ${w}; call_rcu(${w})`,
            apply: (d) => {
              allocate(d.mem, w);
              callRcu(d.kernel.rcu, `kvfree(${obj}); kfree(${w})`);
              kzalloc(d.kernel, irqsOff);
              at(d, 'leave');
            },
          });
          out.push({
            lane,
            label: `${who}: ${why}kzalloc(wrapper, GFP_ATOMIC) fails: return`,
            apply: (d) => {
              kzalloc(d.kernel, irqsOff);
              at(d, 'leave');
            },
          });
        };
        const sync = (why: string) =>
          out.push({
            lane,
            label: `${who}: ${why}synchronize_rcu()`,
            apply: (d) => {
              synchronizeRcuBegin(d.kernel, cpu);
              mightSleep(d.kernel, cfg, cpu, 'synchronize_rcu()');
              at(d, 'sync-wait');
            },
          });
        if (!headless(c, p))
          out.push({
            lane,
            label: `${who}: call_rcu(&${obj}->rh)`,
            apply: (d) => {
              callRcu(d.kernel.rcu, `kvfree(${obj})`);
              at(d, 'leave');
            },
          });
        else if (p.variant === 'atomic-wrapper') wrapper('', true);
        else if (p.variant === 'context-check') {
          const test = contextTest(k0, cfg, cpu, p.check);
          if (test.atomic) wrapper(`${test.says}: `, false);
          else sync(`${test.says}: `);
        } else sync('');
        break;
      }
      case 'sync-wait':
        if (synchronizeRcuDone(k0, cpu))
          out.push({
            lane,
            label: `${who}: synchronize_rcu() returns`,
            apply: (d) => {
              synchronizeRcuEnd(d.kernel, cpu);
              at(d, 'kvfree');
            },
          });
        break;
      case 'kvfree':
        out.push({
          lane,
          label: `${who}: kvfree(${obj})`,
          apply: (d) => {
            free(d.mem, obj, ctx);
            at(d, 'leave');
          },
        });
        break;
      case 'leave': {
        const next: Pc = n + 1 < p.calls ? (c === 'A' ? 'call' : 'idle') : 'done';
        const count = (d: Draft<State>) => void d.done.set(c, n + 1);
        if (c === 'B')
          out.push({
            lane,
            label: `${who} exits`,
            apply: (d) => {
              count(d);
              returnFromFrame(d.kernel, 0);
            },
          });
        else if (c === 'C')
          out.push({
            lane,
            label: `${lane}: rcu_read_unlock()`,
            apply: (d) => {
              count(d);
              rcuReadUnlock(d.kernel, cpu);
              at(d, next);
            },
          });
        else
          out.push({
            lane,
            label: `${lane}: returns`,
            apply: (d) => {
              count(d);
              at(d, next);
            },
          });
        break;
      }
      default:
        break;
    }
  }

  // Callbacks (kfree_rcu_work, call_rcu) run once their grace period has ended.
  const cb = readyCallback(k0.rcu);
  if (cb) {
    const name = cb.name;
    out.push({
      lane: RCU_LANE,
      label: `rcu: callback ${name}`,
      apply: (d) => {
        takeCallback(d.kernel.rcu);
        for (const m of name.matchAll(/k?v?free\((\w+)\)/g)) free(d.mem, m[1], 'rcu callback');
      },
    });
  }
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
    d.kernel = initKernel<boolean | null>([
      { task: 'task0', pc: p.taskCaller ? 'call' : 'done', budget: { hardirq: p.hardirqCaller ? p.calls : 0 } },
      { task: 'task1', pc: p.readerCaller ? 'idle' : 'done' },
    ]);
    declarePerCpuLock(d.kernel, KRCP, 'raw_spinlock_t');
    declareLocks(d.kernel, [{ name: LIST_LOCK, type: 'spinlock_t' }]);
    d.slots = [p.arrayPages, p.arrayPages];
  },
  transitions,
  isEndState: (s, p) => allDone(s, p) && s.kernel.rcu.callbacks.length === 0,
  lanes: () => ['cpu0', 'cpu1', RCU_LANE],
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
