// A preallocated page reserve for kvfree_rcu()'s pointer arrays, while grace periods are slow
// (seed 003: Peter Zijlstra and Paul McKenney on "[RFC-PATCH 2/4] mm: Add
// __rcu_alloc_page_lockless() func.", Sept 2020). Peter: "carefully account and pre-allocate
// (or size the reserve) the required memory to make progress and to strictly limit concurrency
// to ensure you stay in your bounds. ... The very first thing you need to do is proof your
// memory usage is bounded ... The problem is that with RCU you can't limit concurrency.
// call_rcu() can't block, you can't wait for a grace period to end when you've ran out of your
// reserve. ... You must have that callback_head fallback." Paul: "there is a fallback when
// memory allocation fails".
//
// Each CPU calls kvfree_rcu(obj, rh) `calls` times, from a context that cannot wait:
//   cpu0  under raw_spin_lock_irqsave(&some_lock) (seed 001's example), an irqs-off RCU reader
//   cpu1  inside rcu_read_lock()
//   cpu2  plain process context (with cpus = 3)
// kvfree_rcu(): krc_this_cpu_lock(); the pointer into the current array if it has room; else an
// array page from the shared reserve (`reserve` pages, preallocated); else the variant:
// - reserve-only: the RFC's reserve with no rcu_head channel, so the object needs a page: drop
//   krcp->lock and take one beyond the reserve with __GFP_NO_LOCKS (the RFC's lockless mode);
//   when that fails too, the only thing left is to wait for a grace period to give reserve pages
//   back: synchronize_rcu() from a caller that may not sleep (cpu0 with irqs off; cpu1 in its
//   PREEMPT_RCU reader, where might_sleep() counts rcu_preempt_depth()) and that is a reader
//   the grace period waits for (cpu0 and cpu1).
// - admission-control: Peter's alternative, the reserve as an accounted budget with
//   concurrency limited to it: a caller that finds no page left is not admitted until a grace
//   period gives one back, so it waits for one, as reserve-only does, but never takes a page
//   beyond the reserve.
// - lockless-page-fallback: the RFC series as Paul defends it: a __GFP_NO_LOCKS page beyond
//   the reserve, and when that fails the object's own rcu_head on krcp->head.
// - v5.10: what 5.10 shipped (kernel/rcu/tree.c, kvfree_call_rcu_add_ptr_to_bulk()): the
//   reserve, then a GFP_NOWAIT page taken under the raw krcp->lock, not on RT, then the rcu_head:
//       bnode = get_cached_bnode(krcp);
//       if (!bnode) {
//           /* To keep this path working on raw non-preemptible sections, prevent the optional
//            * entry into the allocator as it uses sleeping locks. In fact, even if the caller
//            * of kfree_rcu() is preemptible, this path still is not, as krcp->lock is a raw
//            * spinlock. ... */
//           if (IS_ENABLED(CONFIG_PREEMPT_RT))
//               return false;
//           bnode = (struct kvfree_rcu_bulk_data *)
//               __get_free_page(GFP_NOWAIT | __GFP_NOWARN);
//       }
//       /* Switch to emergency path. */
//       if (unlikely(!bnode))
//           return false;
//   and in kvfree_call_rcu(), on false: `head->func = func; head->next = krcp->head;
//   krcp->head = head;`. GFP_NOWAIT falls through to zone->lock (spinlock_t) when the pcp list
//   is empty: under the raw krcp->lock that is the "Invalid wait context" Uladzislau's
//   __GFP_NO_LOCKS patch names ("If built with CONFIG_PROVE_RAW_LOCK_NESTING, the lockdep will
//   complain about violation of the nesting rules").
// - rcu-head-fallback: what Peter requires and upstream does since 56292e8609e3 ("rcu/tree:
//   Defer kvfree_rcu() allocation to a clean context", 5.11, in 5.10.y): no allocation on the
//   kvfree_rcu() path; the reserve, then the rcu_head (`if (!bnode) return false;` then
//   `run_page_cache_worker(krcp)` and the rcu_head onto krcp->head).
// kfree_rcu_monitor() (the RCU lane) hands a CPU's arrays and rcu_heads to one RCU callback;
// after the grace period kfree_rcu_work() frees the objects and gives array pages back to the
// reserve (to the page allocator once the reserve is full).
//
// The allocator is under memory pressure (page_alloc's `pressure`): a GFP_NOWAIT or
// __GFP_NO_LOCKS allocation may return NULL at any time, so each design's no-page path is
// explored whatever pages the pcp lists hold. Grace periods may be arbitrarily slow (the
// checker tries every interleaving, the grace period ending last among them).
// Properties, Peter's two requirements:
// - `memory-bounded`: the free path never holds a page beyond the reserve it accounted and
//   preallocated (it never needs memory to free memory);
// - `progress-without-memory`: a kvfree_rcu() that finds the reserve empty and gets no page
//   still completes: it never waits for pages to come back.
//
// Limitations: the krcp->lock section of kvfree_rcu() is one step except v5.10's, which holds
// it across the allocation (nothing else runs on that CPU with irqs off; the lock still goes
// through the kernel layer's checks); kfree_rcu_monitor() and kfree_rcu_work() are one step
// each, taken when the CPU's krcp->lock is free; krcp->lock sections are not RCU readers here
// (they are a few steps of the CPU's own; counting them would only delay grace periods); the
// reserve is one shared pool taken atomically (per-CPU krcp->bkvcache llists in the kernel), so
// a CPU never finds its own cache empty while another's has pages; the page-cache worker
// (fill_page_cache_func(), GFP_KERNEL) that refills the reserve is not modelled: pages come back
// only from kfree_rcu_work(), which is the slow case the thread argues about. The page
// allocator follows 6.2+ (a pcp lock taken by trylock, exempt from lockdep's wait-context
// check): 5.10 had none, which changes no verdict here. The headless kvfree_rcu(ptr) is
// models/kvfree_rcu_headless.ts.
import { atQuiescence, bool, defineModel, int, invariant, oneOf, t, type ParamValues, type StateOf, type Transition } from '../src/index.ts';
import {
  allocate,
  allocation,
  allocCall,
  allocOpType,
  beginAllocation,
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
  pageAllocInit,
  pageAllocType,
  perCpuLockName,
  RCU_LANE,
  rcuBatchType,
  rcuReadLock,
  rcuReadUnlock,
  program,
  programTransitions,
  alt,
  either,
  step,
  END,
  type At,
  type Into,
  type Instr,
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
} from '../src/kernel/index.ts';
import { gracePeriodsEnd, noDoubleFree, noLeakAtQuiescence, synchronizeRcuLegal, synchronizeRcuReturns } from '../properties/rcu.ts';

const VARIANTS = ['reserve-only', 'admission-control', 'lockless-page-fallback', 'v5.10', 'rcu-head-fallback'] as const;

const SOME_LOCK = 'some_lock';

const params = {
  variant: oneOf(VARIANTS, 'reserve-only', 'what kvfree_rcu() does when the reserve is empty'),
  rt: bool(false, 'PREEMPT_RT: spinlock_t sleeps'),
  cpus: int(2, { min: 1, max: 3, doc: 'CPUs calling kvfree_rcu(): cpu0 under a raw spinlock with irqs off, cpu1 in rcu_read_lock(), cpu2 in process context' }),
  calls: int(2, { min: 1, max: 3, doc: 'kvfree_rcu() calls per CPU, one object each' }),
  arraySlots: int(1, { min: 1, max: 3, doc: 'pointers per array page (about 500 in the kernel)' }),
  reserve: int(1, { min: 0, max: 3, doc: 'preallocated array pages' }),
  pcpPages: int(1, { min: 0, max: 2, doc: 'pages a GFP_NOWAIT or __GFP_NO_LOCKS allocation can find on each CPU\'s pcp list' }),
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
      irqSaved: p.variant === 'v5.10' ? 3 : 2,
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

function cfgOf(p: P): KernelConfig {
  return kernelConfig({ rt: p.rt, maxNesting: 0 });
}

/** Array pages the free path holds: in the CPUs' current arrays and in batches waiting for their grace period. */
function pagesInUse(s: State): number {
  return s.krc.reduce((n, c) => n + c.arrays.length, 0) + s.batches.reduce((n, b) => n + b.pages, 0);
}
/** Pages beyond the preallocated reserve. */
function beyondReserve(s: State, p: P): number {
  return pagesInUse(s) + s.pool - p.reserve;
}

/** What the variant does when the reserve is empty: take a page (with which allocation, under krcp->lock or not), and without one fall back or wait. */
function onEmpty(p: P): { alloc: 'lockless' | 'atomic' | null; underKrcp: boolean; fallback: 'rcu_head' | 'wait' } {
  switch (p.variant) {
    case 'reserve-only':
      return { alloc: 'lockless', underKrcp: false, fallback: 'wait' };
    case 'admission-control':
      return { alloc: null, underKrcp: false, fallback: 'wait' };
    case 'lockless-page-fallback':
      return { alloc: 'lockless', underKrcp: false, fallback: 'rcu_head' };
    case 'v5.10':
      return { alloc: p.rt ? null : 'atomic', underKrcp: true, fallback: 'rcu_head' };
    case 'rcu-head-fallback':
      return { alloc: null, underKrcp: false, fallback: 'rcu_head' };
  }
}

type A = At<State, P>;
type O = Into<State>;

/** The object of the CPU's current kvfree_rcu() call. */
const objAt = (a: A) => obj(a.cpu, a.s.calls[a.cpu]);
const krcpOf = (cpu: number) => perCpuLockName(KRCP, cpu);
function take(o: O, a: A, name: string): void {
  if (!lock(o.k, a.cfg, a.cpu, name, { irqsave: true })) throw new Error(`${name} is held outside its section`);
}
/** The krcp->lock section is one step: krc_this_cpu_lock(), the choice, krc_this_cpu_unlock(). */
function section(o: O, a: A): void {
  take(o, a, krcpOf(a.cpu));
  unlock(o.k, a.cfg, a.cpu, krcpOf(a.cpu));
}
/** krcp->lock around the last step of an allocation: still held (v5.10), or taken again after it. */
function relocked(o: O, a: A): void {
  if (onEmpty(a.p).underKrcp) unlock(o.k, a.cfg, a.cpu, krcpOf(a.cpu));
  else section(o, a);
}
const newArray = (o: O, a: A) => void o.d.krc[a.cpu].arrays.push([objAt(a)]);
const onHeads = (o: O, a: A) => void o.d.krc[a.cpu].heads.push(objAt(a));
/** No page: wait for a grace period to give reserve pages back. */
const waitForGp = (o: O, a: A) => synchronizeRcuBegin(o.k, a.cfg, a.cpu);
function room(a: A): boolean {
  const cur = a.s.krc[a.cpu].arrays.at(-1);
  return cur !== undefined && cur.length < a.p.arraySlots;
}
/** The array is full and the reserve empty: what onEmpty() says happens now. */
const empty = (a: A) => !room(a) && a.s.pool === 0;
const call = (a: A) => `kvfree_rcu(${objAt(a)}, rh)`;

/** kvfree_rcu(obj, rh) of the CPU's next object, up to `leave`. */
const kvfreeRcu: Instr<State, P>[] = [
  either(
    'call',
    alt((a) => `${call(a)}: into the pointer array`, (o, a) => (o.d.krc[a.cpu].arrays.at(-1)!.push(objAt(a)), section(o, a)), { when: room, goto: 'leave' }),
    alt(
      (a) => `${call(a)}: array page from the reserve`,
      (o, a) => {
        o.d.pool--;
        newArray(o, a);
        section(o, a);
      },
      { when: (a) => !room(a) && a.s.pool > 0, goto: 'leave' },
    ),
    alt(
      (a) => `${call(a)}: reserve empty: ${allocCall(onEmpty(a.p).alloc!)}${onEmpty(a.p).underKrcp ? ' under krcp->lock' : ''}`,
      (o, a) => {
        if (onEmpty(a.p).underKrcp) take(o, a, krcpOf(a.cpu));
        else section(o, a);
        beginAllocation<State, P>(onEmpty(a.p).alloc!)(o, a);
      },
      { when: (a) => empty(a) && onEmpty(a.p).alloc !== null, goto: 'alloc' },
    ),
    alt((a) => `${call(a)}: reserve empty: rcu_head onto krcp->head`, (o, a) => (onHeads(o, a), section(o, a)), {
      when: (a) => empty(a) && onEmpty(a.p).alloc === null && onEmpty(a.p).fallback === 'rcu_head',
      goto: 'leave',
    }),
    alt((a) => `${call(a)}: reserve empty: not admitted; synchronize_rcu() until a grace period gives a page back`, (o, a) => (section(o, a), waitForGp(o, a)), {
      when: (a) => empty(a) && onEmpty(a.p).alloc === null && onEmpty(a.p).fallback === 'wait',
      goto: 'sync-wait',
    }),
  ),
  allocation<State, P>('alloc', {
    pa: (s) => s.pa,
    paDraft: (d) => d.pa,
    options: () => ({ pressure: true }),
    done: (page) => ({
      label: (a) => {
        const relock = onEmpty(a.p).underKrcp ? '' : 'krc_this_cpu_lock(); ';
        if (page) return `; ${relock}${objAt(a)} into a page beyond the reserve; krc_this_cpu_unlock()`;
        if (onEmpty(a.p).fallback === 'rcu_head') return `; ${relock}emergency path: rcu_head onto krcp->head; krc_this_cpu_unlock()`;
        return '; no page anywhere: synchronize_rcu() until the reserve refills';
      },
      run: (o, a) => {
        if (!page && onEmpty(a.p).fallback === 'wait') return (waitForGp(o, a), 'sync-wait');
        (page ? newArray : onHeads)(o, a);
        relocked(o, a);
        return 'leave';
      },
    }),
  }),
  step('sync-wait', 'synchronize_rcu() returns; retry', (o, a) => synchronizeRcuEnd(o.k, a.cpu), { when: (a) => synchronizeRcuDone(a.k, a.cpu), goto: 'call' }),
];

/** The call is done; the CPU goes on at `again` while calls remain. */
function counted(o: O, a: A, again: string): string {
  const n = a.s.calls[a.cpu] + 1;
  o.d.calls[a.cpu] = n;
  return n < a.p.calls ? again : END;
}

/** cpu0: each call under raw_spin_lock_irqsave(&some_lock) (seed 001's example), an irqs-off RCU reader. */
const underRawLock = program<State, P>('task0', [
  step('enter', 'raw_spin_lock_irqsave(&some_lock)', (o, a) => take(o, a, SOME_LOCK)),
  ...kvfreeRcu,
  step('leave', 'raw_spin_unlock_irqrestore(&some_lock)', (o, a) => (unlock(o.k, a.cfg, a.cpu, SOME_LOCK), counted(o, a, 'enter'))),
]);
/** cpu1: each call inside rcu_read_lock(). */
const inReader = program<State, P>('task1', [
  step('enter', 'rcu_read_lock()', (o, a) => rcuReadLock(o.k, a.cpu)),
  ...kvfreeRcu,
  step('leave', 'rcu_read_unlock()', (o, a) => (rcuReadUnlock(o.k, a.cpu), counted(o, a, 'enter'))),
]);
/** cpu2: plain process context. */
const inProcess = program<State, P>('task2', [...kvfreeRcu, step('leave', 'returns', (o, a) => counted(o, a, 'call'))]);
const PROGRAMS = [underRawLock, inReader, inProcess];

function transitions(s: State, p: P): Transition<State>[] {
  const out: Transition<State>[] = programTransitions(s, p, cfgOf(p), { kernel: (x) => x.kernel, draft: (d) => d.kernel, programOf: (_fr, cpu) => PROGRAMS[cpu] });

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
    d.kernel = initKernel<AllocOp | null>(Array.from({ length: p.cpus }, (_, c) => ({ task: `task${c}`, pc: '' })));
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
    invariant<State, P>('memory-bounded', 'the free path never holds a page beyond the reserve it preallocated: it never needs memory to free memory', (s, p) => {
      const extra = beyondReserve(s, p);
      return (
        extra <= 0 || {
          message: `the free path holds ${extra} page(s) beyond its preallocated reserve of ${p.reserve} while the grace period has not ended: memory is needed to free memory`,
          fields: ['krc', 'batches', 'pool'],
        }
      );
    }),
    invariant<State, P>('progress-without-memory', 'a kvfree_rcu() that finds the reserve empty and gets no page still completes: it never waits for pages to come back', (s, p) => {
      const cpu = s.kernel.cpus.findIndex((_, c) => top(s.kernel, c).pc === 'sync-wait');
      return (
        cpu < 0 || {
          message: `cpu${cpu}'s kvfree_rcu(${obj(cpu, s.calls[cpu])}, rh) waits for a grace period to give pages back: the reserve (${p.reserve} page(s)) is empty and progress needs memory`,
          fields: ['pool', 'kernel.cpus'],
        }
      );
    }),
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
    ...[false, true].map((rt) => ({
      params: { variant: 'reserve-only' as const, rt },
      violated: ['memory-bounded', 'progress-without-memory', 'synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock', 'grace-periods-end', 'synchronize-rcu-returns'],
      note: 'once the reserve is gone the free path takes pages beyond it; when none is left it can only wait for a grace period, which it may not (irqs off, an RCU reader) and which waits for it (a reader): neither ever ends; the same on RT, call_rcu() cannot block on any kernel',
    })),
    ...[false, true].map((rt) => ({
      params: { variant: 'admission-control' as const, rt },
      violated: ['progress-without-memory', 'synchronize-rcu-legal', 'no-sleep-in-atomic', 'no-deadlock', 'grace-periods-end', 'synchronize-rcu-returns'],
      note: 'memory stays within the reserve, but a caller beyond the budget must wait for a grace period: "with RCU you can\'t limit concurrency. call_rcu() can\'t block"',
    })),
    ...[false, true].map((rt) => ({
      params: { variant: 'lockless-page-fallback' as const, rt },
      violated: ['memory-bounded'],
      note: 'progress needs no memory (the rcu_head fallback), but the free path takes pages beyond its reserve while the allocator has them: "requiring memory to free memory"',
    })),
    {
      params: { variant: 'v5.10', rt: false },
      violated: ['memory-bounded', 'wait-context'],
      note: 'GFP_NOWAIT under the raw krcp->lock: pages beyond the reserve, and with the pcp list empty spin_lock(zone->lock) inside a raw spinlock (Invalid wait context under PROVE_RAW_LOCK_NESTING); the rcu_head fallback keeps progress',
    },
    { params: { variant: 'v5.10', rt: true }, note: 'no allocation on RT (`if (IS_ENABLED(CONFIG_PREEMPT_RT)) return false;`): the reserve, then the rcu_head' },
    ...[false, true].map((rt) => ({ params: { variant: 'rcu-head-fallback' as const, rt }, note: 'the rcu_head channel needs no memory: nothing beyond the reserve, nothing blocks' })),
  ],
});
