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
import { List, Map as IMap, Record } from 'immutable';
import { bool, defineModel, int, oneOf, type ParamValues, type Transition } from '../src/index.ts';
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
  Kernel,
  kernelConfig,
  localIrqRestore,
  localIrqSave,
  lock,
  memoryInit,
  mightSleep,
  perCpuLockName,
  RCU_LANE,
  rcuInit,
  readLock,
  readUnlock,
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
  type KernelConfig,
  type Rcu,
} from '../src/kernel/index.ts';
import { noDoubleFree, noLeakAtQuiescence, synchronizeRcuLegal } from '../properties/rcu.ts';

const VARIANTS = ['sync-fallback-anywhere', 'mightsleep-only', 'atomic-wrapper'] as const;

/** Program counter of a caller's frame: `idle` between calls (reader: outside its section). */
type Pc = 'idle' | 'call' | 'fallback' | 'sync-wait' | 'kvfree' | 'leave' | 'done';

const KRCP = 'krcp->lock';
const LIST_LOCK = 'n->list_lock';

const State = Record(
  {
    kernel: Kernel(),
    /** Completed calls per caller (`A`, `B`, `C`). */
    done: IMap<string, number>(),
    /** Free slots left in each CPU's pointer array (pages the krcp already has). */
    slots: List<number>(),
    rcu: rcuInit(),
    mem: memoryInit(),
  },
  'Headless',
);
type State = ReturnType<typeof State>;

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

/** Which caller the running frame of `cpu` is: A (cpu0 task), B (cpu0 hardirq), C (cpu1 task). */
function callerOf(k: Kernel, cpu: number): 'A' | 'B' | 'C' {
  return cpu === 1 ? 'C' : top(k, 0).kind === 'hardirq' ? 'B' : 'A';
}
/** The RCU context name of the running frame of `cpu`. */
function ctxOf(k: Kernel, cpu: number): string {
  return `cpu${cpu}/${top(k, cpu).kind}`;
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
    const ctx = ctxOf(k0, cpu);
    const who = fr.kind === 'hardirq' ? `${lane}: hardirq` : lane;
    const at = (x: State, k: Kernel, pc: Pc) => x.set('kernel', setPc(k, cpu, pc));
    const form = headless(c, p) ? `kvfree_rcu(${obj})` : `kvfree_rcu(${obj}, rh)`;

    // A hardirq arrives on cpu0 whenever its irqs are on (canInterrupt checks irqs, budget, nesting).
    if (cpu === 0 && p.hardirqCaller && canInterrupt(k0, cfg, 0, 'hardirq'))
      out.push({
        lane,
        label: `${lane}: hardirq enters`,
        apply: () => s.set('kernel', interrupt(k0, cfg, 0, 'hardirq', 'call')).set('rcu', readLock(s.rcu, 'cpu0/hardirq', 'hardirq')),
      });

    switch (fr.pc as Pc) {
      case 'idle':
        if (c === 'C') out.push({ lane, label: `${lane}: rcu_read_lock()`, apply: () => at(s.set('rcu', readLock(s.rcu, ctx)), k0, 'call') });
        break;
      case 'call': {
        const free = s.slots.get(cpu)!;
        // krc_this_cpu_lock(): local_irq_save() + raw_spin_lock(); the slot check; krc_this_cpu_unlock().
        const section = (k: Kernel) => {
          const r = lock(k, cfg, cpu, perCpuLockName(KRCP, cpu), { irqsave: true });
          if (!r.acquired) throw new Error(`${KRCP}@cpu${cpu} is held outside a krcp section`);
          return unlock(r.k, cfg, cpu, perCpuLockName(KRCP, cpu));
        };
        if (free > 0)
          out.push({
            lane,
            label: `${who}: ${form}: pointer into the array`,
            apply: () => at(s.setIn(['slots', cpu], free - 1).set('rcu', callRcu(s.rcu, `kfree_rcu_work: kvfree(${obj})`)), section(k0), 'leave'),
          });
        else out.push({ lane, label: `${who}: ${form}: no array slot`, apply: () => at(s, section(k0), 'fallback') });
        break;
      }
      case 'fallback':
        if (!headless(c, p))
          out.push({ lane, label: `${who}: call_rcu(&${obj}->rh)`, apply: () => at(s.set('rcu', callRcu(s.rcu, `kvfree(${obj})`)), k0, 'leave') });
        else if (p.variant === 'atomic-wrapper') {
          const w = `wrapper${obj.slice(3)}`;
          // Vlad's sketch allocates inside local_irq_save(): the slab's spinlock_t is taken with irqs off.
          const kzalloc = () => {
            const r = lock(localIrqSave(k0, cpu), cfg, cpu, LIST_LOCK);
            if (!r.acquired) throw new Error(`${LIST_LOCK} is held outside a kzalloc step`);
            return localIrqRestore(unlock(r.k, cfg, cpu, LIST_LOCK), cpu);
          };
          out.push({
            lane,
            label: `${who}: kzalloc(wrapper, GFP_ATOMIC) → ${w}; call_rcu(${w})`,
            apply: () => at(s.set('mem', allocate(s.mem, w)).set('rcu', callRcu(s.rcu, `kvfree(${obj}); kfree(${w})`)), kzalloc(), 'leave'),
          });
          out.push({ lane, label: `${who}: kzalloc(wrapper, GFP_ATOMIC) fails: return`, apply: () => at(s, kzalloc(), 'leave') });
        } else
          out.push({
            lane,
            label: `${who}: synchronize_rcu()`,
            apply: () => at(s.set('rcu', synchronizeRcuBegin(s.rcu, ctx)), mightSleep(k0, cfg, cpu, 'synchronize_rcu()'), 'sync-wait'),
          });
        break;
      case 'sync-wait':
        if (synchronizeRcuDone(s.rcu, ctx))
          out.push({ lane, label: `${who}: synchronize_rcu() returns`, apply: () => at(s.set('rcu', synchronizeRcuEnd(s.rcu, ctx)), k0, 'kvfree') });
        break;
      case 'kvfree':
        out.push({ lane, label: `${who}: kvfree(${obj})`, apply: () => at(s.set('mem', free(s.mem, obj, ctx)), k0, 'leave') });
        break;
      case 'leave': {
        const next: Pc = n + 1 < p.calls ? (c === 'A' ? 'call' : 'idle') : 'done';
        const counted = s.set('done', s.done.set(c, n + 1));
        if (c === 'B')
          out.push({
            lane,
            label: `${who} exits`,
            apply: () => counted.set('kernel', returnFromFrame(k0, 0)).set('rcu', readUnlock(s.rcu, ctx, 'hardirq')),
          });
        else if (c === 'C') out.push({ lane, label: `${lane}: rcu_read_unlock()`, apply: () => at(counted.set('rcu', readUnlock(s.rcu, ctx)), k0, next) });
        else out.push({ lane, label: `${lane}: returns`, apply: () => at(counted, k0, next) });
        break;
      }
      default:
        break;
    }
  }

  // Callbacks (kfree_rcu_work, call_rcu) run once their grace period has ended.
  const cb = readyCallback(s.rcu);
  if (cb)
    out.push({
      lane: RCU_LANE,
      label: `rcu: callback ${cb.name}`,
      apply: () => {
        let mem = s.mem;
        for (const m of cb.name.matchAll(/k?v?free\((\w+)\)/g)) mem = free(mem, m[1], 'rcu callback');
        return s.set('rcu', takeCallback(s.rcu)).set('mem', mem);
      },
    });
  out.push(...gpTransitions(s, (x) => x.rcu, (x, r: Rcu) => x.set('rcu', r)));
  return out;
}

/**
 * Whether the frame that RCU knows as `ctx` (`cpu0/hardirq`) is atomic, wherever it sits in its
 * CPU's stack: a caller blocked in synchronize_rcu() may have a hardirq running on top of it,
 * and isAtomic() speaks of the top frame only. Hardirq, irqs off or preemption off (the model
 * has no softirq callers).
 */
function frameAtomic(k: Kernel, ctx: string): boolean {
  const [cpu, kind] = ctx.replace('cpu', '').split('/');
  const fr = k.cpus.get(Number(cpu))!.frames.find((f) => f.kind === kind);
  return fr !== undefined && (fr.kind === 'hardirq' || fr.kind === 'nmi' || fr.irqsOff || fr.preempt > 0);
}

function allDone(s: State, p: P): boolean {
  const want = (on: boolean) => (on ? p.calls : 0);
  return (s.done.get('A') ?? 0) === want(p.taskCaller) && (s.done.get('B') ?? 0) === want(p.hardirqCaller) && (s.done.get('C') ?? 0) === want(p.readerCaller);
}

export default defineModel({
  name: 'kvfree-rcu-headless',
  description: 'single-argument kvfree_rcu(ptr) and its fallback when the pointer array has no slot',
  params,
  init: (p) => {
    let mem = memoryInit();
    for (const [on, c] of [[p.taskCaller, 'A'], [p.hardirqCaller, 'B'], [p.readerCaller, 'C']] as const)
      if (on) for (let i = 0; i < p.calls; i++) mem = allocate(mem, `obj${c}${i}`);
    let kernel = initKernel([
      { task: 'task0', pc: p.taskCaller ? 'call' : 'done', budget: { hardirq: p.hardirqCaller ? p.calls : 0 } },
      { task: 'task1', pc: p.readerCaller ? 'idle' : 'done' },
    ]);
    kernel = declareLocks(declarePerCpuLock(kernel, KRCP, 'raw_spinlock_t'), [{ name: LIST_LOCK, type: 'spinlock_t' }]);
    return State({ kernel, mem, slots: List([p.arrayPages, p.arrayPages]) });
  },
  transitions,
  isEndState: (s, p) => allDone(s, p) && s.rcu.callbacks.size === 0,
  lanes: () => ['cpu0', 'cpu1', RCU_LANE],
  properties: [
    synchronizeRcuLegal<State, P>((s) => s.rcu, 'rcu', (s, ctx) => frameAtomic(s.kernel, ctx)),
    ...waitContextProperties<State, P>((s) => s.kernel),
    noDoubleFree<State, P>((s) => s.mem, 'mem'),
    noLeakAtQuiescence<State, P>((s) => s.mem, 'mem', { finished: allDone }),
  ],
  expectations: [
    {
      params: { variant: 'sync-fallback-anywhere', rt: false },
      violated: ['synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock'],
      note: "synchronize_rcu() from the hardirq sleeps in atomic context; inside the caller's reader the grace period waits for the caller forever",
    },
    { params: { variant: 'sync-fallback-anywhere', rt: true }, violated: ['synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock'], note: 'same on RT' },
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
