// Single-argument ("headless") kvfree_rcu(ptr): the object has no rcu_head, so the only ways to
// defer its free are a slot in the per-CPU pointer array or something that needs no memory
// (seed 004; Vlad Rezki's kfree_call_rcu(head, func, ptr_to_free) patch, Joel Fernandes's
// review; today kvfree_rcu_mightsleep() in include/linux/rcupdate.h, mm/slab_common.c).
//
// Callers (each frees its own object once):
//   cpu0/task    process context, may sleep                kvfree_rcu(objA)
//   cpu0/hardirq a non-threaded interrupt handler on cpu0 (an hrtimer or an IRQF_NO_THREAD
//                handler: lockdep's SPIN wait type), arriving whenever cpu0 has irqs on  kvfree_rcu(objB)
//   cpu1/task    inside its own rcu_read_lock() section    kvfree_rcu(objC)
// kvfree_rcu(ptr): local_irq_save(); raw_spin_lock(&krcp->lock); put ptr in this CPU's pointer
// array if it has a slot; unlock; restore. (One step: nothing else runs on that CPU with irqs off,
// and each CPU has its own krcp.) With no slot (`arrayPages` runs out), the variant's fallback:
// - sync-fallback-anywhere: synchronize_rcu(); kvfree(ptr) — Vlad's patch, for every caller.
// - mightsleep-only: headless only where sleeping is legal (kvfree_rcu_mightsleep()); the
//   hardirq and the reader use the two-argument kvfree_rcu(ptr, rh), whose fallback queues the
//   object's own rcu_head with call_rcu() — no memory, no sleep.
// - atomic-wrapper: Vlad's TINY-RCU idea: under local_irq_save(), kzalloc(wrapper, GFP_ATOMIC)
//   and call_rcu() on it; if that allocation fails too, nothing is left to do: the object is
//   never freed. On PREEMPT_RT the slab allocator's locks are sleeping spinlock_t, and taking
//   one with irqs off is a splat of its own.
// Pointer arrays are freed after a grace period (kfree_rcu_work, one RCU callback per object
// here). Lock ownership inside the krcp section is not modelled (see above).
import { List, Map as IMap, Record } from 'immutable';
import { bool, defineModel, int, oneOf, type Transition } from '../src/index.ts';
import { allocate, free, memoryInit } from '../src/kernel/memory.ts';
import {
  callRcu,
  gpTransitions,
  rcuInit,
  RCU_LANE,
  readLock,
  readUnlock,
  readyCallback,
  synchronizeRcuBegin,
  synchronizeRcuDone,
  synchronizeRcuEnd,
  takeCallback,
  type Rcu,
} from '../src/kernel/rcu.ts';
import { Ctx, isAtomic, lockProblem } from '../src/kernel/wait_min.ts';
import { noDoubleFree, noLeakAtQuiescence, noSplat, synchronizeRcuLegal } from '../properties/rcu.ts';

const VARIANTS = ['sync-fallback-anywhere', 'mightsleep-only', 'atomic-wrapper'] as const;
type Variant = (typeof VARIANTS)[number];

type Pc = 'idle' | 'enter' | 'call' | 'fallback' | 'sync-wait' | 'kvfree' | 'leave' | 'done';
/** `base` names the caller's objects (objA0, objA1, …); `n` counts its completed calls. */
const Caller = Record({ pc: 'idle' as Pc, base: '', n: 0 }, 'Caller');
type Caller = ReturnType<typeof Caller>;

const State = Record(
  {
    callers: IMap<string, Caller>(),
    ctx: IMap<string, Ctx>(),
    /** Free slots left in each CPU's pointer array (pages the krcp already has). */
    slots: List<number>(),
    rcu: rcuInit(),
    mem: memoryInit(),
    splats: List<string>(),
  },
  'Headless',
);
type State = ReturnType<typeof State>;

const params = {
  variant: oneOf(VARIANTS, 'sync-fallback-anywhere', 'what kvfree_rcu(ptr) does when the pointer array has no slot'),
  rt: bool(false, 'PREEMPT_RT: spinlock_t sleeps'),
  arrayPages: int(0, { min: 0, max: 3, doc: 'pointer-array slots each CPU has before the fallback is needed' }),
  taskCaller: bool(true, 'cpu0/task calls kvfree_rcu(objA) from process context'),
  hardirqCaller: bool(true, 'a hardirq on cpu0 calls kvfree_rcu(objB)'),
  readerCaller: bool(true, 'cpu1/task calls kvfree_rcu(objC) inside rcu_read_lock()'),
  calls: int(1, { min: 1, max: 3, doc: 'kvfree_rcu() calls per caller, one object each (a new hardirq or reader section each time)' }),
};
type P = { variant: Variant; rt: boolean; arrayPages: number; taskCaller: boolean; hardirqCaller: boolean; readerCaller: boolean; calls: number };

const TASK = 'cpu0/task';
const IRQ = 'cpu0/hardirq';
const READER = 'cpu1/task';
const cpuOf = (c: string) => Number(c[3]);
const laneOf = (c: string) => c.slice(0, 4);

/** Whether `c` uses the headless form (else the two-argument form with an rcu_head). */
function headless(c: string, p: P): boolean {
  return p.variant !== 'mightsleep-only' || c === TASK;
}

function transitions(s: State, p: P): Transition<State>[] {
  const out: Transition<State>[] = [];
  const irq = s.callers.get(IRQ);
  // cpu0's task runs only while no hardirq runs on top of it.
  const irqRunning = irq !== undefined && irq.pc !== 'idle' && irq.pc !== 'done';
  const cpu0IrqsOn = (s.ctx.get(TASK)?.irqsOff ?? 0) === 0;

  for (const [c, k] of s.callers) {
    if (c === TASK && irqRunning) continue;
    const lane = laneOf(c);
    const ctx = s.ctx.get(c)!;
    const set = (x: State, pc: Pc) => x.setIn(['callers', c], k.set('pc', pc));
    const obj = `${k.base}${k.n}`;
    const finish = (x: State) => x.setIn(['callers', c], k.n + 1 < p.calls ? Caller({ base: k.base, n: k.n + 1 }) : k.set('pc', 'done'));
    const form = headless(c, p) ? `kvfree_rcu(${obj})` : `kvfree_rcu(${obj}, rh)`;
    switch (k.pc) {
      case 'idle':
        if (c === IRQ) {
          if (cpu0IrqsOn)
            out.push({ lane, label: `${lane}: hardirq enters`, apply: () => set(s.set('rcu', readLock(s.rcu, c, 'hardirq')), 'call') });
        } else if (c === READER) out.push({ lane, label: `${lane}: rcu_read_lock()`, apply: () => set(s.set('rcu', readLock(s.rcu, c)), 'call') });
        else out.push({ lane, label: `${lane}: starts`, apply: () => set(s, 'call') });
        break;
      case 'call': {
        const cpu = cpuOf(c);
        const n = s.slots.get(cpu)!;
        if (n > 0)
          out.push({
            lane,
            label: `${lane}: ${form}: pointer into the array`,
            apply: () => set(s.setIn(['slots', cpu], n - 1).set('rcu', callRcu(s.rcu, `kfree_rcu_work: kvfree(${obj})`)), 'leave'),
          });
        else out.push({ lane, label: `${lane}: ${form}: no array slot`, apply: () => set(s, 'fallback') });
        break;
      }
      case 'fallback':
        if (!headless(c, p))
          out.push({ lane, label: `${lane}: call_rcu(&${obj}->rh)`, apply: () => set(s.set('rcu', callRcu(s.rcu, `kvfree(${obj})`)), 'leave') });
        else if (p.variant === 'atomic-wrapper') {
          const w = `wrapper${obj.slice(3)}`;
          // Vlad's sketch allocates inside local_irq_save(): the slab's spinlock_t is taken with irqs off.
          const inIrqOff = ctx.set('irqsOff', ctx.irqsOff + 1);
          const splat = lockProblem(inIrqOff, c, 'slab spinlock_t (kzalloc GFP_ATOMIC)', 'spinlock_t', p.rt);
          const withSplat = (x: State) => (splat ? x.set('splats', x.splats.push(splat)) : x);
          out.push({
            lane,
            label: `${lane}: kzalloc(wrapper, GFP_ATOMIC) → ${w}; call_rcu(${w})`,
            apply: () => set(withSplat(s.set('mem', allocate(s.mem, w)).set('rcu', callRcu(s.rcu, `kvfree(${obj}); kfree(${w})`))), 'leave'),
          });
          out.push({ lane, label: `${lane}: kzalloc(wrapper, GFP_ATOMIC) fails: return`, apply: () => set(withSplat(s), 'leave') });
        } else out.push({ lane, label: `${lane}: synchronize_rcu()`, apply: () => set(s.set('rcu', synchronizeRcuBegin(s.rcu, c)), 'sync-wait') });
        break;
      case 'sync-wait':
        if (synchronizeRcuDone(s.rcu, c))
          out.push({ lane, label: `${lane}: synchronize_rcu() returns`, apply: () => set(s.set('rcu', synchronizeRcuEnd(s.rcu, c)), 'kvfree') });
        break;
      case 'kvfree':
        out.push({ lane, label: `${lane}: kvfree(${obj})`, apply: () => set(s.set('mem', free(s.mem, obj, c)), 'leave') });
        break;
      case 'leave':
        if (c === IRQ) out.push({ lane, label: `${lane}: hardirq exits`, apply: () => finish(s.set('rcu', readUnlock(s.rcu, c, 'hardirq'))) });
        else if (c === READER) out.push({ lane, label: `${lane}: rcu_read_unlock()`, apply: () => finish(s.set('rcu', readUnlock(s.rcu, c))) });
        else out.push({ lane, label: `${lane}: returns`, apply: () => finish(s) });
        break;
      default:
        break;
    }
  }

  // Callbacks (kfree_rcu_work, call_rcu) run in softirq once their grace period has ended.
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

export default defineModel({
  name: 'kvfree-rcu-headless',
  description: 'single-argument kvfree_rcu(ptr) and its fallback when the pointer array has no slot',
  params,
  init: (p) => {
    let mem = memoryInit();
    let callers = IMap<string, Caller>();
    let ctx = IMap<string, Ctx>();
    const add = (c: string, base: string, kind: 'task' | 'hardirq') => {
      for (let i = 0; i < p.calls; i++) mem = allocate(mem, `${base}${i}`);
      callers = callers.set(c, Caller({ base }));
      ctx = ctx.set(c, Ctx({ kind }));
    };
    if (p.taskCaller) add(TASK, 'objA', 'task');
    if (p.hardirqCaller) add(IRQ, 'objB', 'hardirq');
    if (p.readerCaller) add(READER, 'objC', 'task');
    return State({ callers, ctx, mem, slots: List([p.arrayPages, p.arrayPages]) });
  },
  transitions,
  isEndState: (s) => s.callers.every((k) => k.pc === 'done') && s.rcu.callbacks.size === 0,
  lanes: () => ['cpu0', 'cpu1', RCU_LANE],
  properties: [
    synchronizeRcuLegal<State, P>((s) => s.rcu, 'rcu', (s, c) => isAtomic(s.ctx.get(c)!, false)),
    noSplat<State, P>('wait-context', 'no lock is taken where its wait type is not allowed, and no sleeping lock in atomic context', (s) => s.splats, 'splats'),
    noDoubleFree<State, P>((s) => s.mem, 'mem'),
    noLeakAtQuiescence<State, P>((s) => s.mem, 'mem', { finished: (s) => s.callers.every((k) => k.pc === 'done') }),
  ],
  expectations: [
    {
      params: { variant: 'sync-fallback-anywhere', rt: false },
      violated: ['synchronize-rcu-legal', 'no-deadlock'],
      note: 'synchronize_rcu() from the hardirq sleeps in atomic context; inside the caller\'s reader the grace period waits for the caller forever',
    },
    { params: { variant: 'sync-fallback-anywhere', rt: true }, violated: ['synchronize-rcu-legal', 'no-deadlock'], note: 'same on RT' },
    { params: { variant: 'mightsleep-only', rt: false }, note: 'headless only where sleeping is legal; atomic callers fall back to their own rcu_head' },
    { params: { variant: 'mightsleep-only', rt: true }, note: 'same on RT' },
    {
      params: { variant: 'atomic-wrapper', rt: false },
      violated: ['wait-context', 'no-leak-at-quiescence'],
      note: 'when the GFP_ATOMIC wrapper allocation fails too, nothing frees the object; and from a non-threaded hardirq the slab\'s spinlock_t is an invalid wait context',
    },
    {
      params: { variant: 'atomic-wrapper', rt: true },
      violated: ['wait-context', 'no-leak-at-quiescence'],
      note: 'on RT, kzalloc() with irqs off takes the slab\'s sleeping spinlock_t; and the failed allocation still leaks',
    },
  ],
});
