// A preallocated page reserve for kvfree_rcu()'s pointer arrays, while grace periods are slow
// (seed 003: Peter Zijlstra and Paul McKenney on "__rcu_alloc_page_lockless()", Sept 2020).
// Peter: "you must account and pre-allocate the required memory and strictly limit
// concurrency ... with RCU you can't limit concurrency. call_rcu() can't block, you can't wait
// for a grace period to end when you've run out of your reserve. That is, you don't have a
// bound, so no reserve what so ever is going to help. You must have that callback_head fallback."
//
// Each CPU calls kvfree_rcu(obj, rh) `calls` times, from a context that cannot wait:
//   cpu0  under raw_spin_lock_irqsave(&some_lock) (seed 001's example), an irqs-off RCU reader
//   cpu1  inside rcu_read_lock()
//   cpu2  plain process context (with cpus = 3)
// kvfree_rcu(): krc_this_cpu_lock(); pointer into the current array if it has room; else an
// array page from the shared reserve (`reserve` pages, preallocated); else the variant:
// - reserve-only: no rcu_head channel, so the object needs a page: drop krcp->lock and take
//   one beyond the reserve with __GFP_NO_LOCKS (page_alloc's lockless mode, as
//   alloc_pages_nolock(): never a lock the caller's context forbids); when that fails too, the only thing left is to wait
//   for a grace period to give reserve pages back: synchronize_rcu() from a caller that may not
//   sleep (cpu0 with irqs off; cpu1 in its PREEMPT_RCU reader, where might_sleep() counts
//   rcu_preempt_depth()) and that is a reader the grace period waits for (cpu0 and cpu1).
// - rcu-head-fallback: chain the object's own rcu_head on krcp->head: no memory, no waiting.
// kfree_rcu_monitor() (the RCU lane) hands a CPU's arrays and rcu_heads to one RCU callback;
// after the grace period kfree_rcu_work() frees the objects and gives array pages back to the
// reserve (to the page allocator once the reserve is full).
//
// Property `bounded-emergency-fallback` (bound: `fallbackBound`): the free path never holds
// more than fallbackBound pages beyond its reserve. Grace periods may be arbitrarily slow (the
// checker tries every interleaving, the grace period ending last among them), so with more
// calls the pages needed grow without bound: a finite run shows it once calls exceed
// reserve + fallbackBound.
//
// Limitations: the krcp->lock section of kvfree_rcu() is one step (nothing else runs on that
// CPU with irqs off; the lock still goes through the kernel layer's checks); kfree_rcu_monitor() and kfree_rcu_work() are one step each, taken when the CPU's
// krcp->lock is free; krcp->lock sections are not RCU readers here (they are a few steps of the
// CPU's own; counting them would only delay grace periods); the reserve is one shared pool
// taken atomically (an llist in the kernel).
import { atQuiescence, bool, defineModel, int, invariant, oneOf, t, type Draft, type ParamValues, type StateOf, type Transition } from '../src/index.ts';
import {
  allocate,
  allocBegin,
  allocCall,
  allocOpType,
  allocSteps,
  declareLocks,
  declarePageAllocLocks,
  declarePerCpuLock,
  freePage,
  gpTransitions,
  initKernel,
  kernelConfig,
  kernelType,
  lock,
  memoryType,
  mightSleep,
  pageAllocInit,
  pageAllocType,
  perCpuLockName,
  RCU_LANE,
  rcuBatchType,
  rcuReadLock,
  rcuReadUnlock,
  setPc,
  synchronizeRcuBegin,
  synchronizeRcuDone,
  synchronizeRcuEnd,
  top,
  unlock,
  waitContextProperties,
  kvfreeRcuBatching,
  KRCP,
  type AllocOp,
  type KernelConfig,
  type KernelDraft,
} from '../src/kernel/index.ts';
import { gracePeriodsEnd, noDoubleFree, noLeakAtQuiescence, synchronizeRcuLegal, synchronizeRcuReturns } from '../properties/rcu.ts';

const VARIANTS = ['reserve-only', 'rcu-head-fallback'] as const;

const SOME_LOCK = 'some_lock';

const params = {
  variant: oneOf(VARIANTS, 'reserve-only', 'what kvfree_rcu() does when the reserve is empty'),
  rt: bool(false, 'PREEMPT_RT: spinlock_t sleeps'),
  cpus: int(2, { min: 1, max: 3, doc: 'CPUs calling kvfree_rcu(): cpu0 under a raw spinlock with irqs off, cpu1 in rcu_read_lock(), cpu2 in process context' }),
  calls: int(2, { min: 1, max: 3, doc: 'kvfree_rcu() calls per CPU, one object each' }),
  arraySlots: int(1, { min: 1, max: 3, doc: 'pointers per array page (about 500 in the kernel)' }),
  reserve: int(1, { min: 0, max: 3, doc: 'preallocated array pages' }),
  pcpPages: int(1, { min: 0, max: 2, doc: 'pages alloc_pages_nolock() can find on each CPU\'s pcp list' }),
  fallbackBound: int(1, { min: 0, max: 6, doc: 'bounded-emergency-fallback: pages the free path may hold beyond its reserve' }),
};
type P = ParamValues<typeof params>;

const obj = (cpu: number, i: number) => `o${cpu}${i}`;

/**
 * The state. Bounds: a CPU's objects are its `calls`, so its arrays (at least one object each),
 * its rcu_head chain and one batch hold at most `calls`; batches in flight, RCU callbacks and
 * objects at most cpus * calls. Pages are never created: the zone holds at most the reserve's
 * and the pcp lists' pages. RCU contexts: one per CPU's task (a reader, or blocked in
 * synchronize_rcu()). Splats: only a synchronize_rcu() in atomic context records one (cpu0's,
 * which never returns: its grace period waits for its own irqs-off reader).
 */
const schema = (p: P) => {
  const objs = p.cpus * p.calls;
  const objName = t.enum(Array.from({ length: objs }, (_, i) => obj(Math.floor(i / p.calls), i % p.calls)));
  const krc = t.struct({ arrays: t.list(t.list(objName, p.arraySlots), p.calls), heads: t.list(objName, p.calls) });
  return t.struct({
    kernel: kernelType({
      cpus: p.cpus,
      maxNesting: 0,
      /** A frame's locals: the allocation it runs, if any. */
      locals: t.optional(allocOpType({ cpus: p.cpus })),
      locks: 2 * p.cpus + 2,
      holders: 1,
      irqSaved: 2,
      splats: p.cpus,
      rcu: { callbacks: objs, waiters: p.cpus },
    }),
    krc: t.array(krc, p.cpus),
    /** Pages left in the preallocated reserve. */
    pool: t.int(0, p.reserve),
    pa: pageAllocType({ cpus: p.cpus, zonePages: p.reserve + p.cpus * p.pcpPages, pcpPages: p.pcpPages }),
    batches: t.list(rcuBatchType({ cpus: p.cpus, objs: p.calls }), objs),
    mem: memoryType({ objects: objs }),
    calls: t.array(t.int(0, p.calls), p.cpus),
  });
};
type State = StateOf<typeof schema>;
type Krc = State['krc'][number];

function cfgOf(p: P): KernelConfig {
  return kernelConfig({ rt: p.rt, maxNesting: 0 });
}

type Pc = 'enter' | 'call' | 'alloc' | 'sync-wait' | 'leave' | 'done';

/** Array pages the free path holds: in the CPUs' current arrays and in batches waiting for their grace period. */
function pagesInUse(s: State): number {
  return s.krc.reduce((n, c) => n + c.arrays.length, 0) + s.batches.reduce((n, b) => n + b.pages, 0);
}
/** Pages beyond the preallocated reserve. */
function beyondReserve(s: State, p: P): number {
  return pagesInUse(s) + s.pool - p.reserve;
}

function transitions(s: State, p: P): Transition<State>[] {
  const cfg = cfgOf(p);
  const out: Transition<State>[] = [];
  const k0 = s.kernel;
  for (let cpu = 0; cpu < p.cpus; cpu++) {
    const lane = `cpu${cpu}`;
    const fr = top(k0, cpu);
    const krc = s.krc[cpu];
    const n = s.calls[cpu];
    const o = obj(cpu, n);
    const krcp = perCpuLockName(KRCP, cpu);
    /** The running frame goes on at `pc`, its locals `data`. */
    const at = (d: Draft<State>, pc: Pc, data: AllocOp | null = null) => setPc(d.kernel, cpu, pc, data === null ? null : { ...data });
    const newArray = (c: Draft<Krc>) => void c.arrays.push([o]);
    const take = (k: KernelDraft, name: string, irqsave = true) => {
      if (!lock(k, cfg, cpu, name, { irqsave })) throw new Error(`${name} is held outside its one-step section`);
    };
    /** The krcp->lock section is one step: krc_this_cpu_lock(), the choice, krc_this_cpu_unlock(). */
    const section = (k: KernelDraft) => {
      take(k, krcp);
      unlock(k, cfg, cpu, krcp);
    };
    switch (fr.pc as Pc) {
      case 'enter':
        if (cpu === 0)
          out.push({
            lane,
            label: `${lane}: raw_spin_lock_irqsave(&some_lock)`,
            apply: (d) => {
              take(d.kernel, SOME_LOCK);
              at(d, 'call');
            },
          });
        else if (cpu === 1)
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
        const call = `${lane}: kvfree_rcu(${o}, rh)`;
        const cur = krc.arrays.at(-1);
        if (cur !== undefined && cur.length < p.arraySlots)
          out.push({
            lane,
            label: `${call}: into the pointer array`,
            apply: (d) => {
              d.krc[cpu].arrays.at(-1)!.push(o);
              section(d.kernel);
              at(d, 'leave');
            },
          });
        else if (s.pool > 0)
          out.push({
            lane,
            label: `${call}: array page from the reserve`,
            apply: (d) => {
              d.pool--;
              newArray(d.krc[cpu]);
              section(d.kernel);
              at(d, 'leave');
            },
          });
        else if (p.variant === 'rcu-head-fallback')
          out.push({
            lane,
            label: `${call}: reserve empty: rcu_head onto krcp->head`,
            apply: (d) => {
              d.krc[cpu].heads.push(o);
              section(d.kernel);
              at(d, 'leave');
            },
          });
        else
          out.push({
            lane,
            label: `${call}: reserve empty: ${allocCall('lockless')}`,
            apply: (d) => {
              section(d.kernel);
              at(d, 'alloc', allocBegin('lockless', cpu));
            },
          });
        break;
      }
      case 'alloc': {
        for (const a of allocSteps(k0, cfg, s.pa, fr.data as AllocOp)) {
          if (a.op.pc !== 'done')
            out.push({
              lane,
              label: `${lane}: ${a.what}`,
              apply: (d) => {
                a.apply(d.kernel, d.pa);
                at(d, 'alloc', a.op);
              },
            });
          else if (a.op.page)
            out.push({
              lane,
              label: `${lane}: ${a.what}; krc_this_cpu_lock(); ${o} into a page beyond the reserve; krc_this_cpu_unlock()`,
              apply: (d) => {
                a.apply(d.kernel, d.pa);
                section(d.kernel);
                newArray(d.krc[cpu]);
                at(d, 'leave');
              },
            });
          else
            out.push({
              lane,
              label: `${lane}: ${a.what}; no page anywhere: synchronize_rcu() until the reserve refills`,
              apply: (d) => {
                a.apply(d.kernel, d.pa);
                synchronizeRcuBegin(d.kernel, cpu);
                mightSleep(d.kernel, cfg, cpu, 'synchronize_rcu()');
                at(d, 'sync-wait');
              },
            });
        }
        break;
      }
      case 'sync-wait':
        if (synchronizeRcuDone(k0, cpu))
          out.push({
            lane,
            label: `${lane}: synchronize_rcu() returns; retry`,
            apply: (d) => {
              synchronizeRcuEnd(d.kernel, cpu);
              at(d, 'call');
            },
          });
        break;
      case 'leave': {
        const next: Pc = n + 1 < p.calls ? (cpu < 2 ? 'enter' : 'call') : 'done';
        if (cpu === 0)
          out.push({
            lane,
            label: `${lane}: raw_spin_unlock_irqrestore(&some_lock)`,
            apply: (d) => {
              d.calls[cpu] = n + 1;
              unlock(d.kernel, cfg, cpu, SOME_LOCK);
              at(d, next);
            },
          });
        else if (cpu === 1)
          out.push({
            lane,
            label: `${lane}: rcu_read_unlock()`,
            apply: (d) => {
              d.calls[cpu] = n + 1;
              rcuReadUnlock(d.kernel, cpu);
              at(d, next);
            },
          });
        else
          out.push({
            lane,
            label: `${lane}: returns`,
            apply: (d) => {
              d.calls[cpu] = n + 1;
              at(d, next);
            },
          });
        break;
      }
      default:
        break;
    }
  }

  // kfree_rcu_monitor() and kfree_rcu_work() (src/kernel/kvfree_rcu.ts): array pages back to
  // the reserve while it has room, else to the zone.
  out.push(
    ...kvfreeRcuBatching(
      s,
      (x) => x,
      (d) => d,
      (d, _cpu, pages) => {
        for (let i = 0; i < pages; i++) {
          if (d.pool < p.reserve) d.pool++;
          else freePage(d.pa);
        }
      },
    ),
  );
  out.push(...gpTransitions(s, (x) => x.kernel, (d) => d.kernel));
  return out;
}

function callersDone(s: State, p: P): boolean {
  return s.calls.every((n) => n === p.calls);
}

export default defineModel({
  name: 'rcu-page-reserve',
  description: 'kvfree_rcu() with a preallocated page reserve while grace periods are slow: a reserve alone has no bound',
  params,
  state: schema,
  init: (p, d) => {
    for (let c = 0; c < p.cpus; c++) for (let i = 0; i < p.calls; i++) allocate(d.mem, obj(c, i));
    d.kernel = initKernel<AllocOp | null>(Array.from({ length: p.cpus }, (_, c) => ({ task: `task${c}`, pc: c < 2 ? 'enter' : 'call' })));
    declarePerCpuLock(d.kernel, KRCP, 'raw_spinlock_t');
    declareLocks(d.kernel, [{ name: SOME_LOCK, type: 'raw_spinlock_t' }]);
    declarePageAllocLocks(d.kernel);
    d.pool = p.reserve;
    d.pa = pageAllocInit({ cpus: p.cpus, zonePages: 0, pcpPages: p.pcpPages });
  },
  transitions,
  isEndState: (s, p) => callersDone(s, p) && s.krc.every((c) => c.arrays.length === 0 && c.heads.length === 0) && s.kernel.rcu.callbacks.length === 0,
  lanes: (p) => [...Array.from({ length: p.cpus }, (_, c) => `cpu${c}`), RCU_LANE],
  properties: [
    invariant<State, P>(
      'bounded-emergency-fallback',
      'the free path never holds more than fallbackBound array pages beyond its preallocated reserve (no memory needed to free memory)',
      (s, p) => {
        const extra = beyondReserve(s, p);
        return (
          extra <= p.fallbackBound || {
            message: `the free path holds ${extra} page(s) beyond its reserve of ${p.reserve} (fallbackBound ${p.fallbackBound}): memory is needed to free memory while the grace period has not ended`,
            fields: ['krc', 'batches', 'pool'],
          }
        );
      },
    ),
    synchronizeRcuLegal<State, P>((s) => s.kernel, 'kernel', cfgOf),
    ...waitContextProperties<State, P>((s) => s.kernel),
    noDoubleFree<State, P>((s) => s.mem, 'mem'),
    noLeakAtQuiescence<State, P>((s) => s.mem, 'mem', { finished: callersDone }),
    atQuiescence<State, P>('reserve-restored', 'at the end every reserve page is back in the reserve', (s, p) =>
      !callersDone(s, p) || s.pool === p.reserve || { message: `the reserve has ${s.pool} of ${p.reserve} pages at the end`, fields: ['pool'] },
    ),
    gracePeriodsEnd<State, P>((s) => s.kernel.rcu),
    synchronizeRcuReturns<State, P>((s) => s.kernel.rcu),
  ],
  expectations: [
    {
      params: { variant: 'reserve-only', rt: false },
      violated: ['bounded-emergency-fallback', 'synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock', 'grace-periods-end', 'synchronize-rcu-returns'],
      note: 'once the reserve is gone the free path takes pages beyond it; when none is left it can only wait for a grace period, which it may not (irqs off) and which waits for it (a reader): neither ever ends',
    },
    {
      params: { variant: 'reserve-only', rt: true },
      violated: ['bounded-emergency-fallback', 'synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock', 'grace-periods-end', 'synchronize-rcu-returns'],
      note: 'same on RT: call_rcu() cannot block on any kernel',
    },
    { params: { variant: 'rcu-head-fallback', rt: false }, note: 'the rcu_head channel needs no memory: nothing beyond the reserve, nothing blocks' },
    { params: { variant: 'rcu-head-fallback', rt: true }, note: 'same on RT' },
  ],
});
