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
// - mightsleep-only: headless only where sleeping is legal (kvfree_rcu_mightsleep()); the
//   hardirq and the reader use the two-argument kvfree_rcu(ptr, rh), whose fallback queues the
//   object's own rcu_head with call_rcu() — no memory, no sleep.
// - atomic-wrapper: Vlad's TINY-RCU idea: under local_irq_save(), kzalloc(wrapper, GFP_ATOMIC)
//   and call_rcu() on it; if that allocation fails too, nothing is left to do: the object is
//   never freed. kzalloc's slow path takes the slab's kmem_cache_node list_lock, a spinlock_t:
//   from a non-threaded hardirq that is an invalid wait context, and on PREEMPT_RT a sleeping
//   lock taken with irqs off.
// Pointer arrays are freed after a grace period (kfree_rcu_work; one RCU callback per object
// here). Limitation: the kzalloc() is one step that takes and releases list_lock (the slow
// path, always); its fast path, which takes no lock, is not explored, so the splats show what
// the slow path does, which is reachable whenever the per-CPU slab is empty.
import { bool, defineModel, int, oneOf, t, type Draft, type ParamValues, type StateOf, type Transition } from '../src/index.ts';
import {
  allocate,
  callRcu,
  canInterrupt,
  declareLocks,
  declarePerCpuLock,
  free,
  gpTransitions,
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
  RCU_LANE,
  rcuContext,
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

const VARIANTS = ['sync-fallback-anywhere', 'mightsleep-only', 'atomic-wrapper'] as const;

/** Program counter of a caller's frame: `idle` between calls (reader: outside its section). */
type Pc = 'idle' | 'call' | 'fallback' | 'sync-wait' | 'kvfree' | 'leave' | 'done';

/** The callers: A (cpu0 task), B (cpu0 hardirq), C (cpu1 task). */
const CALLERS = ['A', 'B', 'C'] as const;

const KRCP = 'krcp->lock';
const LIST_LOCK = 'n->list_lock';

const params = {
  variant: oneOf(VARIANTS, 'sync-fallback-anywhere', 'what kvfree_rcu(ptr) does when the pointer array has no slot'),
  rt: bool(false, 'PREEMPT_RT: spinlock_t sleeps'),
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
  return p.variant !== 'mightsleep-only' || c === 'A';
}

function cfgOf(p: P): KernelConfig {
  return kernelConfig({ rt: p.rt, maxNesting: 1 });
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
      case 'fallback':
        if (!headless(c, p))
          out.push({
            lane,
            label: `${who}: call_rcu(&${obj}->rh)`,
            apply: (d) => {
              callRcu(d.kernel.rcu, `kvfree(${obj})`);
              at(d, 'leave');
            },
          });
        else if (p.variant === 'atomic-wrapper') {
          const w = `wrapper${obj.slice(3)}`;
          // Vlad's sketch allocates inside local_irq_save(): the slab's spinlock_t is taken with irqs off.
          const kzalloc = (k: KernelDraft) => {
            localIrqSave(k, cpu);
            if (!lock(k, cfg, cpu, LIST_LOCK)) throw new Error(`${LIST_LOCK} is held outside a kzalloc step`);
            unlock(k, cfg, cpu, LIST_LOCK);
            localIrqRestore(k, cpu);
          };
          out.push({
            lane,
            label: `${who}: kzalloc(wrapper, GFP_ATOMIC) → ${w}; call_rcu(${w})`,
            apply: (d) => {
              allocate(d.mem, w);
              callRcu(d.kernel.rcu, `kvfree(${obj}); kfree(${w})`);
              kzalloc(d.kernel);
              at(d, 'leave');
            },
          });
          out.push({
            lane,
            label: `${who}: kzalloc(wrapper, GFP_ATOMIC) fails: return`,
            apply: (d) => {
              kzalloc(d.kernel);
              at(d, 'leave');
            },
          });
        } else
          out.push({
            lane,
            label: `${who}: synchronize_rcu()`,
            apply: (d) => {
              synchronizeRcuBegin(d.kernel, cpu);
              mightSleep(d.kernel, cfg, cpu, 'synchronize_rcu()');
              at(d, 'sync-wait');
            },
          });
        break;
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
      params: { variant: 'sync-fallback-anywhere', rt: false },
      violated: ['synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock', 'grace-periods-end', 'synchronize-rcu-returns'],
      note: "synchronize_rcu() from the hardirq sleeps in atomic context; inside the caller's reader the grace period waits for the caller forever, so neither it nor synchronize_rcu() ever ends",
    },
    { params: { variant: 'sync-fallback-anywhere', rt: true }, violated: ['synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock', 'grace-periods-end', 'synchronize-rcu-returns'], note: 'same on RT' },
    { params: { variant: 'mightsleep-only', rt: false }, note: 'headless only where sleeping is legal; atomic callers fall back to their own rcu_head' },
    { params: { variant: 'mightsleep-only', rt: true }, note: 'same on RT' },
    {
      params: { variant: 'atomic-wrapper', rt: false },
      violated: ['wait-context', 'no-leak-at-quiescence'],
      note: "when the GFP_ATOMIC wrapper allocation fails too, nothing frees the object; and from a non-threaded hardirq the slab's spinlock_t is an invalid wait context",
    },
    {
      params: { variant: 'atomic-wrapper', rt: true },
      violated: ['wait-context', 'no-sleep-in-atomic', 'no-leak-at-quiescence'],
      note: "on RT kzalloc() with irqs off takes the slab's sleeping spinlock_t (sleep in atomic, in the task and the reader too); the failed allocation still leaks",
    },
  ],
});
