// kfree_rcu() with page-sized pointer arrays (seeds 000, 001; the 2020 threads on
// "__GFP_NO_LOCKS" and "BUG: Invalid wait context"; mm/slab_common.c kvfree_call_rcu(),
// add_ptr_to_bulk_krc_lock(), fill_page_cache_func(), kfree_rcu_monitor(), kfree_rcu_work()).
//
// Each CPU's task calls kfree_rcu(obj, rh) `calls` times:
//     krc_this_cpu_lock()          local_irq_save() + raw_spin_lock(&krcp->lock)
//     room in the current pointer array?  store the pointer
//     else get an array page (the variant), store the pointer in it;
//          no page: chain the object's own rcu_head on krcp->head (the emergency channel)
//     krc_this_cpu_unlock()
// kfree_rcu_monitor() (the RCU lane here) hands a CPU's arrays and rcu_head chain to one RCU
// callback; after the grace period kfree_rcu_work() frees the objects and the array pages
// (back to the page cache when it has room, else to the zone).
//
// Variants (how the array page is obtained under the raw krcp->lock, irqs off):
// - nowait-under-raw: the 2020 code, __get_free_page(GFP_NOWAIT | __GFP_NOWARN): an empty pcp
//   list falls through to zone->lock, a spinlock_t. !RT: "BUG: Invalid wait context" (lockdep,
//   CONFIG_PROVE_RAW_LOCK_NESTING); RT: a sleeping lock under a raw one, also a sleep in atomic.
// - raw-zone-lock: option A of tglx's list, zone->lock made a raw_spinlock_t: no nesting bug,
//   but the allocator's zone->lock section, and the wait for another CPU's, now runs with irqs
//   off on RT too. Property `latency-bound` measures the longest non-preemptible stretch in
//   steps (src/kernel/latency.ts); `--param latencyBound=N` sets the bound, and the smallest N
//   under which it holds is the worst case. At the other defaults (2 CPUs, zoneHoldSteps 2):
//   raw-zone-lock 9 steps on !RT and RT (a CPU spinning with irqs off on the other CPU's zone
//   section inside its own krcp section), nowait-under-raw 9, no-locks-gfp 4, workqueue-refill
//   4 on !RT (the kworker's zone->lock spins there, as every spinlock_t does) and 2 on RT,
//   nowait-outside-lock 4 on !RT (a CPU spinning with irqs off on the other's zone section)
//   and 1 on RT;
//   test/models/kfree_rcu_bulk.test.ts pins these numbers. The bound belongs to a setting: with
//   cpus=3 on !RT the kworkers of the merged fix spin on each other's zone->lock sections and
//   exceed 4 too (548,688 states, violated at latencyBound=4) — the !RT spinwait cost tglx
//   mentions, which the fix does not claim to remove; on RT the same setting holds.
// - no-locks-gfp: Uladzislau's __GFP_NO_LOCKS: pcp list by trylock only, never zone->lock,
//   NULL when it is empty (page_alloc's `lockless` mode).
// - rt-atomic-gfp: Michal's option B in tglx's list: "GFP_RT_ATOMIC defined to 0 which would
//   not require a new GFP bit and bail out when RT is enabled and the context is atomic. That
//   of course does not solve the problem vs. lockdep." Under krcp->lock the context is always
//   atomic, so on RT it always bails out (NULL, the rcu_head); on !RT it is GFP_NOWAIT.
//   (tglx's other objection, "preemptible() returns always false for CONFIG_PREEMPT_COUNT=n
//   kernels", is about telling atomic context apart without RT; this model runs PREEMPT or RT,
//   where preemptible() sees the raw lock.)
// - gfp-zero-fails: option C, "I suggested to make GFP == 0 fail unconditionally when the
//   lockless cache is empty, but that changes the semantics on !RT kernels for existing users
//   which hand in 0": kfree_rcu() passes 0 under the lock (the pcp list by trylock, else NULL);
//   with users=page-alloc and userGfp=0 the other users pass 0 too, and the property
//   gfp-zero-semantics (NULL only with no free page in the zone) says what changes for them.
// - lockdep-annotation: option D, "To solve the lockdep issue of #B Michal suggested to have
//   magic lockdep annotations which allow !RT kernels to take zone->lock from the otherwise
//   forbidden contexts because on !RT this lock nesting could be considered a false positive":
//   B's bail-out on RT, and on !RT zone->lock checked as LD_WAIT_SPIN (KernelConfig's
//   lockdepWaitTypes). It silences the splat and keeps the irq-off zone section (latency-bound).
//   tglx's objection, "there might be locks further down which then need the same treatment",
//   is out of reach: the model takes no lock under zone->lock.
// - nowait-outside-lock: the design tglx rejects: "even if we could do the allocation outside
//   the RCU internal lock this would not solve the problem that kfree_rcu() can be called in any
//   context except NMI even on RT" (seed 000). The GFP_NOWAIT page is taken before
//   krc_this_cpu_lock(), from the caller's own context. `context` puts cpu0's caller in a
//   non-threaded hardirq, under a raw spinlock or with irqs off; from there its zone->lock is
//   as wrong as under krcp->lock (Invalid wait context; on RT a sleeping lock in atomic
//   context), while with a task caller it passes every property.
// - `users=page-alloc`: no kfree_rcu() at all; each CPU's task takes a page with
//   alloc_page(GFP_KERNEL) and frees it, as every other page allocator user does, and the
//   variant only decides zone->lock's type (raw for raw-zone-lock). tglx's point that option A's
//   cost is systemic: with a raw zone->lock each user's zone section and its wait for another
//   CPU's are non-preemptible, 4 steps at the defaults on RT as on !RT, where the spinlock_t
//   zone->lock keeps RT users preemptible (1 step); the expectations compare them at bound 2,
//   what the merged fix keeps kfree_rcu() callers within on RT.
// - workqueue-refill: the merged fix: no allocation under the lock at all; a per-CPU cache of
//   pages that fill_page_cache_func() refills from a kworker on the same CPU
//   (GFP_KERNEL | __GFP_NORETRY, may sleep) after kfree_rcu() found the cache empty and
//   queued the work. The kworker is a second task on the CPU; the scheduler switches between
//   the two wherever the running one is preemptible or blocked on a sleeping lock. The refill
//   is asked for once until it has run, as 6.18's run_page_cache_worker() does with
//   `!atomic_xchg(&krcp->work_in_progress, 1)` and fill_page_cache_func() ends with
//   `atomic_set(&krcp->work_in_progress, 0);`. krcp->page_cache_work is a work item of the
//   layer (src/kernel/workqueue.ts): 6.18 starts an hrtimer whose handler runs
//   `queue_delayed_work(system_highpri_wq, &krcp->page_cache_work, 0);`, a bound workqueue and
//   no delay, so the work is queued at once on this CPU (the hrtimer is the same step here), and
//   this CPU's kworker starts it (process_one_work() clears PENDING) and ends it. The shrinker's
//   backoff path, `queue_delayed_work(rcu_reclaim_wq, &krcp->page_cache_work,
//   msecs_to_jiffies(rcu_delay_page_cache_fill_msec))` on an unbound workqueue, is not modelled
//   (no shrinker).
//
// - `drain`: cpu1's task first drains cpu0's pcp list as drain_all_pages() does (page_alloc.ts:
//   spin_lock() of the remote pcp->lock, free_pcppages_bulk() under zone->lock). With a page on
//   that list (pcpPages=1) and no drain, cpu0's one call never reaches zone->lock and the
//   nesting bug stays hidden; the drain holds the list's lock (pcp_spin_trylock() fails) or
//   empties it, and the bug is back: why the splat depends on the workload.
//
// Limitations, with their consequence:
// - kfree_rcu_monitor() and kfree_rcu_work() are one step each on the RCU lane, taken when the
//   CPU's krcp->lock is free: their own (short, raw) krcp->lock sections are not interleaved
//   and not counted by `latency-bound`; they take no other lock, so no wait-context splat hides there.
// - The callers of `context` other than `task` are cpu0's only: cpu1's caller stays a task. In
//   those settings cpu0's caller is non-preemptible throughout by its own context, so
//   latency-bound, which compares the designs, is not checked there.
// - The allocator's simplifications (page_alloc.ts): one page per zone visit, zone->lock
//   sections of `zoneHoldSteps` steps, freed pages straight to the zone.
import { bool, defineModel, int, invariant, ModelError, oneOf, t, type ParamValues, type StateOf, type Transition } from '../src/index.ts';
import {
  allocate,
  allocCall,
  allocOpType,
  allocation,
  beginAllocation,
  canSchedule,
  declarePageAllocLocks,
  declarePerCpuLock,
  drainBegin,
  drainOpType,
  drainSteps,
  ZONE_LOCK,
  freePage,
  gpTransitions,
  initKernel,
  interrupt,
  localIrqRestore,
  localIrqSave,
  declareLocks,
  returnFromFrame,
  kernelConfig,
  kernelType,
  latencyBoundProperty,
  latencyStep,
  latencyType,
  lock,
  memoryType,
  pageAllocInit,
  pageAllocType,
  perCpuLockName,
  preemptible,
  RCU_LANE,
  rcuBatchType,
  runningTask,
  schedule,
  switchLabel,
  top,
  program,
  programTransitions,
  computed,
  alt,
  either,
  step,
  END,
  HERE,
  type At,
  type Into,
  type AllocMode,
  unlock,
  waitContextProperties,
  kvfreeRcuBatching,
  KRCP,
  type AllocationSpec,
  workType,
  queueWork,
  startWork,
  endWork,
  workRunnable,
  type AllocOp,
  type Kernel,
  type KernelConfig,
  type KernelDraft,
} from '../src/kernel/index.ts';
import { noDoubleFree, noLeakAtQuiescence } from '../properties/rcu.ts';

const VARIANTS = ['nowait-under-raw', 'raw-zone-lock', 'no-locks-gfp', 'rt-atomic-gfp', 'gfp-zero-fails', 'lockdep-annotation', 'nowait-outside-lock', 'workqueue-refill'] as const;
const USER_GFPS = ['GFP_KERNEL', '0'] as const;
const CONTEXTS = ['task', 'hardirq', 'raw-spinlock', 'irqs-off'] as const;
const USERS = ['kfree_rcu', 'page-alloc'] as const;
const SOME_LOCK = 'some_lock';
type Context = (typeof CONTEXTS)[number];

/** How cpu0's caller enters and leaves a `context` other than `task`, around its calls. */
const AROUND: Record<Exclude<Context, 'task'>, { enter: string; leave: string; enters: (k: KernelDraft, cfg: KernelConfig, cpu: number) => void; leaves: (k: KernelDraft, cfg: KernelConfig, cpu: number) => void }> = {
  hardirq: { enter: 'hardirq enters', leave: 'hardirq exits', enters: (k, cfg, cpu) => interrupt(k, cfg, cpu, 'hardirq', 'call'), leaves: (k, _cfg, cpu) => returnFromFrame(k, cpu) },
  'raw-spinlock': { enter: `raw_spin_lock(&${SOME_LOCK})`, leave: `raw_spin_unlock(&${SOME_LOCK})`, enters: (k, cfg, cpu) => void lock(k, cfg, cpu, SOME_LOCK), leaves: (k, cfg, cpu) => unlock(k, cfg, cpu, SOME_LOCK) },
  'irqs-off': { enter: 'local_irq_save()', leave: 'local_irq_restore()', enters: (k, _cfg, cpu) => localIrqSave(k, cpu), leaves: (k, _cfg, cpu) => localIrqRestore(k, cpu) },
};

const CALLER = 'caller';
const KWORKER = 'kworker';

const params = {
  variant: oneOf(VARIANTS, 'nowait-under-raw', 'how kfree_rcu() gets an array page under the raw krcp->lock'),
  rt: bool(false, 'PREEMPT_RT: spinlock_t sleeps'),
  context: oneOf(CONTEXTS, 'task', "where cpu0's kfree_rcu() calls run: process context, a non-threaded hardirq, under raw_spin_lock(&some_lock), or inside local_irq_save()"),
  cpus: int(2, { min: 1, max: 3, doc: 'CPUs, each with a task calling kfree_rcu()' }),
  calls: int(1, { min: 1, max: 3, doc: 'kfree_rcu() calls per CPU, one object each' }),
  arraySlots: int(1, { min: 1, max: 3, doc: 'pointers per array page (about 500 in the kernel; small here so pages run out)' }),
  pcpPages: int(0, { min: 0, max: 3, doc: 'free pages on each CPU\'s pcp list at the start' }),
  zonePages: int(1, { min: 0, max: 4, doc: 'free pages in the zone at the start' }),
  zoneHoldSteps: int(2, { min: 1, max: 4, doc: 'steps one zone->lock section lasts (rmqueue_bulk work under the lock)' }),
  cacheSize: int(1, { min: 1, max: 2, doc: 'pages the per-CPU page cache holds (workqueue-refill; rcu_min_cached_objs)' }),
  userGfp: oneOf(USER_GFPS, 'GFP_KERNEL', "users=page-alloc: the users' gfp flags, GFP_KERNEL or 0 (no reclaim, no wait: NULL only when the zone has no free page, the meaning option C changes)"),
  drain: bool(false, "the last CPU's task first drains cpu0's pcp list, as drain_all_pages() does for compaction and memory hotplug: spin_lock() of another CPU's pcp->lock, then zone->lock"),
  users: oneOf(USERS, 'kfree_rcu', "what the CPUs' tasks do: call kfree_rcu(), or (page-alloc) call no kfree_rcu() and take a page with alloc_page(GFP_KERNEL) and free it, `calls` times, as every other page allocator user does: the variant then only decides zone->lock's type"),
  latencyBound: int(4, {
    min: 1,
    max: 20,
    doc: 'latency-bound: steps a CPU may stay non-preemptible; at the other defaults the merged fix needs 4 (!RT) or 2 (RT), option A 9',
  }),
};
type P = ParamValues<typeof params>;

const obj = (cpu: number, i: number) => `o${cpu}${i}`;

/**
 * The state. Bounds: a CPU's objects are its `calls`, so its arrays (at least one object each),
 * its rcu_head chain and one batch hold at most `calls`; batches in flight, RCU callbacks and
 * objects at most cpus * calls. Pages are never created: the zone holds at most its own and
 * every pcp list's pages. Splats: at most two per kfree_rcu() call (Invalid wait context on
 * zone->lock, and on RT the sleep in atomic context), recorded on the call's first attempt.
 */
const schema = (p: P) => {
  const objs = p.cpus * p.calls;
  const objName = t.enum(Array.from({ length: objs }, (_, i) => obj(Math.floor(i / p.calls), i % p.calls)));
  /** Per-CPU kfree_rcu_cpu: pointer arrays (the last one is current), the rcu_head chain, the page cache. */
  const krc = t.struct({
    arrays: t.list(t.list(objName, p.arraySlots), p.calls),
    heads: t.list(objName, p.calls),
    /** Pages in the per-CPU page cache (workqueue-refill). */
    cache: t.int(0, p.cacheSize),
    /** krcp->work_in_progress: a refill was asked for and has not finished (run_page_cache_worker()'s atomic_xchg() to 1, fill_page_cache_func()'s atomic_set() to 0 at its end). */
    workInProgress: t.bool(),
    /** krcp->page_cache_work: fill_page_cache_func(), queued on system_highpri_wq (bound: this CPU's kworker runs it). */
    work: workType({ cpus: p.cpus }),
  });
  return t.struct({
    kernel: kernelType({
      cpus: p.cpus,
      maxNesting: p.context === 'hardirq' ? 1 : 0,
      /** A frame's locals: the allocation it runs, if any. */
      locals: t.optional(allocOpType({ cpus: p.cpus, zoneHoldSteps: p.zoneHoldSteps })),
      locks: 2 * p.cpus + 2,
      parked: 1,
      holders: 1,
      irqSaved: 2,
      splats: Math.min(255, 2 * objs),
      rcu: { callbacks: objs },
    }),
    krc: t.array(krc, p.cpus),
    pa: pageAllocType({ cpus: p.cpus, zonePages: p.zonePages + p.cpus * p.pcpPages, pcpPages: p.pcpPages }),
    /** Batches handed to RCU, in the order of their callbacks. */
    batches: t.list(rcuBatchType({ cpus: p.cpus, objs: p.calls }), objs),
    mem: memoryType({ objects: objs }),
    /** Completed kfree_rcu() calls per CPU. */
    calls: t.array(t.int(0, p.calls), p.cpus),
    /** Current non-preemptible stretch per CPU, in steps (src/kernel/latency.ts). */
    lat: latencyType({ cpus: p.cpus, cap: p.latencyBound + 1 }),
    /** `drain`: the drain of cpu0's pcp list the last CPU's task runs before its calls. */
    drain: t.optional(drainOpType({ cpus: p.cpus })),
    /** A gfp-0 user got NULL while the zone had free pages (gfp-zero-semantics). */
    gfp0Null: t.bool(),
  });
};
type State = StateOf<typeof schema>;

function cfgOf(p: P): KernelConfig {
  // Option D: on !RT, zone->lock checked by lockdep as a raw lock (LD_WAIT_SPIN).
  const lockdepWaitTypes = p.variant === 'lockdep-annotation' && !p.rt ? { [ZONE_LOCK]: 'SPIN' as const } : undefined;
  return kernelConfig({ rt: p.rt, maxNesting: p.context === 'hardirq' ? 1 : 0, lockdepWaitTypes });
}

type A = At<State, P>;
type O = Into<State>;

/** The object of the caller's current kfree_rcu() call. */
const objAt = (a: A) => obj(a.cpu, a.s.calls[a.cpu]);
const krcpOf = (cpu: number) => perCpuLockName(KRCP, cpu);
/** The current pointer array has a free slot. */
function room(a: A): boolean {
  const cur = a.s.krc[a.cpu].arrays.at(-1);
  return cur !== undefined && cur.length < a.p.arraySlots;
}
/** Completed calls: this one counts, and the caller goes on at `next` while calls remain, else at `last`. */
function counted(o: O, a: A, next: string, last: string): string {
  const n = a.s.calls[a.cpu] + 1;
  o.d.calls[a.cpu] = n;
  return n < a.p.calls ? next : last;
}
const newArray = (o: O, a: A) => void o.d.krc[a.cpu].arrays.push([objAt(a)]);
const onHeads = (o: O, a: A) => void o.d.krc[a.cpu].heads.push(objAt(a));
/** krc_this_cpu_lock(): local_irq_save() + raw_spin_lock(&krcp->lock); nothing else on this CPU holds it. */
function krcLock(o: O, a: A): void {
  if (!lock(o.k, a.cfg, a.cpu, krcpOf(a.cpu), { irqsave: true })) throw new Error(`${krcpOf(a.cpu)} is held by another context than this CPU's ${a.fr.task}`);
}
/** The kworker leaves fill_page_cache_func(): `atomic_set(&krcp->work_in_progress, 0);`. */
function idle(o: O, a: A): string {
  o.d.krc[a.cpu].workInProgress = false;
  endWork(o.k, a.cfg, a.cpu, o.d.krc[a.cpu].work, 'fill_page_cache_func');
  return 'idle';
}
/** The frame's allocation on this model's page allocator; its last step runs `done` with the page it got. */
const alloc = (done: AllocationSpec<State, P>['done']) =>
  allocation<State, P>('alloc', { pa: (s) => s.pa, paDraft: (d) => d.pa, options: (a) => ({ zoneHoldSteps: a.p.zoneHoldSteps }), done });

/** `drain`: drain_all_pages() → drain_pages_zone(0, zone) from this CPU (page_alloc.ts quotes it), then `then`. */
const drain = (then: string) =>
  computed<State, P>('drain', (a) =>
    drainSteps(a.k, a.cfg, a.s.pa, a.s.drain!, a.cpu).map((x) =>
      alt<State, P>(x.what, (o) => {
        x.apply(o.k, o.d.pa);
        o.d.drain = x.op.pc === 'done' ? null : { ...x.op };
        return x.op.pc === 'done' ? then : HERE;
      }),
    ),
  );

/** The caller: `calls` times kfree_rcu(obj, rh), in cpu0's `context` (a hardirq runs the calls in its own frame). */
const caller = program<State, P>(CALLER, [
  drain('call'),
  step(
    'enter',
    (a) => AROUND[a.p.context as Exclude<Context, 'task'>].enter,
    (o, a) => {
      AROUND[a.p.context as Exclude<Context, 'task'>].enters(o.k, a.cfg, a.cpu);
      return a.p.context === 'hardirq' ? END : 'call';
    },
  ),
  either(
    'call',
    alt((a) => `kfree_rcu(${objAt(a)}): no room: ${allocCall('atomic')} before krc_this_cpu_lock()`, beginAllocation('atomic'), { when: (a) => outside(a) && !room(a), goto: 'alloc' }),
    alt((a) => `kfree_rcu(${objAt(a)}): krc_this_cpu_lock()`, krcLock, { when: (a) => !(outside(a) && !room(a)), goto: 'locked' }),
  ),
  either(
    'locked',
    alt((a) => `${objAt(a)} into the pointer array`, (o, a) => void o.d.krc[a.cpu].arrays.at(-1)!.push(objAt(a)), { when: room, goto: 'unlock' }),
    // nowait-outside-lock: the array had room before the lock, and the monitor took it since.
    alt((a) => `no room any more: ${objAt(a)}'s rcu_head onto krcp->head`, onHeads, { when: (a) => !room(a) && outside(a), goto: 'unlock' }),
    alt(
      (a) => `array page from the krcp page cache; ${objAt(a)} into it`,
      (o, a) => {
        newArray(o, a);
        o.d.krc[a.cpu].cache--;
      },
      { when: (a) => !room(a) && a.p.variant === 'workqueue-refill' && a.s.krc[a.cpu].cache > 0, goto: 'unlock' },
    ),
    // run_page_cache_worker(): `!atomic_xchg(&krcp->work_in_progress, 1)` queues the refill once until it has run.
    alt(
      (a) => `page cache empty: ${objAt(a)}'s rcu_head onto krcp->head; ${a.s.krc[a.cpu].workInProgress ? 'refill already in progress' : 'queue the refill work'}`,
      (o, a) => {
        onHeads(o, a);
        if (!a.s.krc[a.cpu].workInProgress) {
          o.d.krc[a.cpu].workInProgress = true;
          queueWork(o.d.krc[a.cpu].work, a.cpu);
        }
      },
      { when: (a) => !room(a) && a.p.variant === 'workqueue-refill' && a.s.krc[a.cpu].cache === 0, goto: 'unlock' },
    ),
    alt((a) => `no room: GFP_RT_ATOMIC, PREEMPT_RT and not preemptible: NULL; ${objAt(a)}'s rcu_head onto krcp->head`, onHeads, { when: (a) => !room(a) && bailsOut(a), goto: 'unlock' }),
    // Option C's gfp 0 under the lock fails when the lockless cache is empty, as __GFP_NO_LOCKS does.
    alt((a) => `no room: ${a.p.variant === 'gfp-zero-fails' ? '__get_free_page(0)' : allocCall(underLockMode(a.p))}`, beginAllocation((a) => underLockMode(a.p)), {
      when: (a) => !room(a) && allocatesUnderLock(a),
      goto: 'alloc',
    }),
  ),
  // Under the lock the page becomes the new array; outside it (nowait-outside-lock) the
  // allocation returns and krc_this_cpu_lock() is the caller's next step.
  alloc((page) => ({
    label: (a) => (outside(a) ? '' : page ? `; ${objAt(a)} into the new array` : `; ${objAt(a)}'s rcu_head onto krcp->head`),
    run: (o, a) => {
      if (outside(a)) return page ? 'page' : 'no-page';
      (page ? newArray : onHeads)(o, a);
      return 'unlock';
    },
  })),
  step('page', (a) => `krc_this_cpu_lock(); ${objAt(a)} into the new array`, (o, a) => (krcLock(o, a), newArray(o, a)), { goto: 'unlock' }),
  step('no-page', (a) => `krc_this_cpu_lock(); ${objAt(a)}'s rcu_head onto krcp->head`, (o, a) => (krcLock(o, a), onHeads(o, a))),
  step('unlock', 'krc_this_cpu_unlock()', (o, a) => {
    unlock(o.k, a.cfg, a.cpu, krcpOf(a.cpu));
    return counted(o, a, 'call', a.cpu === 0 && a.p.context !== 'task' ? 'leave' : END);
  }),
  step('leave', (a) => AROUND[a.p.context as Exclude<Context, 'task'>].leave, (o, a) => AROUND[a.p.context as Exclude<Context, 'task'>].leaves(o.k, a.cfg, a.cpu), { goto: END }),
]);

/** users=page-alloc: `calls` times alloc_page(), then free_page() of what it got. */
const pageUser = program<State, P>(CALLER, [
  drain('user'),
  // gfp 0: the allocator's atomic path (pcp, then zone->lock), or under option C the lockless one.
  step('user', (a) => (a.p.userGfp === 'GFP_KERNEL' ? allocCall('may-sleep') : '__get_free_page(0)'), beginAllocation((a) => (a.p.userGfp === 'GFP_KERNEL' ? 'may-sleep' : a.p.variant === 'gfp-zero-fails' ? 'lockless' : 'atomic'))),
  alloc((page) => ({
    run: (o, a) => {
      if (page) return 'user-free';
      // A gfp-0 user with no page: nothing to free.
      if (a.p.userGfp === '0' && a.s.pa.zoneFree > 0) o.d.gfp0Null = true;
      return counted(o, a, 'user', END);
    },
  })),
  step('user-free', 'free_page()', (o, a) => (freePage(o.d.pa), counted(o, a, 'user', END))),
]);

/** workqueue-refill's kworker: fill_page_cache_func() each time the refill work is queued. */
const kworker = program<State, P>(KWORKER, [
  step('idle', 'fill_page_cache_func()', (o, a) => startWork(o.d.krc[a.cpu].work, a.cpu), { when: (a) => workRunnable(a.s.krc[a.cpu].work, a.cpu) }),
  either(
    'fill',
    alt(allocCall('noretry'), beginAllocation('noretry'), { when: (a) => a.s.krc[a.cpu].cache < a.p.cacheSize, goto: 'alloc' }),
    alt('cache full: done; atomic_set(&krcp->work_in_progress, 0)', idle, { when: (a) => a.s.krc[a.cpu].cache >= a.p.cacheSize }),
  ),
  alloc((page) => ({ run: (o, a) => (page ? 'push' : idle(o, a)) })),
  // raw_spin_lock_irqsave(&krcp->lock); put_cached_bnode(); raw_spin_unlock_irqrestore().
  step('push', 'put_cached_bnode() under krcp->lock', (o, a) => {
    krcLock(o, a);
    unlock(o.k, a.cfg, a.cpu, krcpOf(a.cpu));
    if (a.s.krc[a.cpu].cache < a.p.cacheSize) {
      o.d.krc[a.cpu].cache++;
      return 'fill';
    }
    freePage(o.d.pa);
    return idle(o, a);
  }),
]);

/** nowait-outside-lock: the page is allocated before krc_this_cpu_lock(). */
const outside = (a: A) => a.p.variant === 'nowait-outside-lock';
/** Option B (and D's RT half): GFP_RT_ATOMIC bails out on RT where the context is atomic, which under krcp->lock it always is. */
const bailsOut = (a: A) => (a.p.variant === 'rt-atomic-gfp' || a.p.variant === 'lockdep-annotation') && a.cfg.rt && !preemptible(a.k, a.cfg, a.cpu);
/** The variants that call the page allocator under krcp->lock when the array is full. */
const allocatesUnderLock = (a: A) => !outside(a) && a.p.variant !== 'workqueue-refill' && !bailsOut(a);
const underLockMode = (p: P): AllocMode => (p.variant === 'no-locks-gfp' || p.variant === 'gfp-zero-fails' ? 'lockless' : 'atomic');

/** Where a CPU's task starts: the drain first on the last CPU under `drain`, then its first call. */
function firstPc(p: P, cpu: number): string {
  if (p.drain && cpu === p.cpus - 1) return 'drain';
  return pageAllocUsers(p) ? 'user' : cpu === 0 && p.context !== 'task' ? 'enter' : 'call';
}

/** users=page-alloc: every CPU's task allocates pages and calls no kfree_rcu(). */
const pageAllocUsers = (p: P) => p.users === 'page-alloc';

function transitions(s: State, p: P): Transition<State>[] {
  const cfg = cfgOf(p);
  const k0 = s.kernel;
  const cpuSteps: Transition<State>[] = programTransitions(s, p, cfg, {
    kernel: (x) => x.kernel,
    draft: (d) => d.kernel,
    programOf: (fr) => (fr.task === KWORKER ? kworker : pageAllocUsers(p) ? pageUser : caller),
    who: (fr) => (fr.task === KWORKER ? 'kworker: ' : fr.kind === 'task' ? '' : `${fr.kind}: `),
  });
  // The scheduler: switch to the other task of this CPU when it has something to do (a
  // preemptible task, or one blocked on a sleeping lock: canSchedule).
  for (let cpu = 0; cpu < p.cpus; cpu++) {
    if (!canSchedule(k0, cfg, cpu)) continue;
    const fr = top(k0, cpu);
    const queued = workRunnable(s.krc[cpu].work, cpu);
    const other = fr.task === CALLER ? KWORKER : CALLER;
    const parked = k0.cpus[cpu].parked.find((fs) => fs[0].task === other)?.at(-1);
    const runnable = parked !== undefined && (other === CALLER ? parked.pc !== END : parked.pc !== 'idle' || queued);
    const why = fr.pc === END ? 'is done' : fr.pc === 'idle' && !queued ? 'sleeps' : undefined;
    if (runnable) cpuSteps.push({ lane: `cpu${cpu}`, label: `cpu${cpu}: ${switchLabel(k0, cpu, other, why)}`, apply: (d) => schedule(d.kernel, cfg, cpu, other) });
  }
  // Every CPU step updates the latency stretches.
  const out: Transition<State>[] = cpuSteps.map((x) => {
    const cpu = Number(x.lane.slice(3));
    return { ...x, apply: (d) => (x.apply(d), latencyStep(d.kernel, cfg, cpu, d.lat, p.latencyBound + 1)) };
  });

  // kfree_rcu_monitor() and kfree_rcu_work() (src/kernel/kvfree_rcu.ts): array pages back to
  // the per-CPU cache if it has room (workqueue-refill), else to the zone.
  out.push(
    ...kvfreeRcuBatching(
      s,
      (x) => x,
      (d) => d,
      (d, cpu, pages) => {
        const c = d.krc[cpu];
        for (let i = 0; i < pages; i++) {
          if (p.variant === 'workqueue-refill' && c.cache < p.cacheSize) c.cache++;
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

function taskPc(k: Kernel, cpu: number, task: string): string | undefined {
  const c = k.cpus[cpu];
  if (runningTask(k, cpu) === task) return c.frames.at(-1)!.pc;
  return c.parked.find((fs) => fs[0].task === task)?.at(-1)!.pc;
}

export default defineModel({
  name: 'kfree-rcu-bulk',
  description: 'kfree_rcu() under the raw per-CPU krcp->lock with irqs off: where the pointer-array page comes from',
  params,
  state: schema,
  init: (p, d) => {
    if (pageAllocUsers(p) && p.context !== 'task') throw new ModelError(`users=page-alloc: the page allocator users are tasks, and context is ${p.context}; leave context at task`);
    if (!pageAllocUsers(p)) for (let c = 0; c < p.cpus; c++) for (let i = 0; i < p.calls; i++) allocate(d.mem, obj(c, i));
    d.kernel = initKernel<AllocOp | null>(
      Array.from({ length: p.cpus }, (_, c) => ({
        task: CALLER,
        pc: firstPc(p, c),
        parked: p.variant === 'workqueue-refill' ? [{ task: KWORKER, pc: 'idle' }] : [],
        budget: c === 0 && p.context === 'hardirq' ? { hardirq: 1 } : {},
      })),
    );
    declarePerCpuLock(d.kernel, KRCP, 'raw_spinlock_t');
    if (p.context === 'raw-spinlock') declareLocks(d.kernel, [{ name: SOME_LOCK, type: 'raw_spinlock_t' }]);
    declarePageAllocLocks(d.kernel, { zoneLock: p.variant === 'raw-zone-lock' ? 'raw_spinlock_t' : 'spinlock_t' });
    d.pa = pageAllocInit({ cpus: p.cpus, zonePages: p.zonePages, pcpPages: p.pcpPages });
    if (p.drain && p.cpus < 2) throw new ModelError('drain: the drain of cpu0\'s pcp list runs on another CPU; give cpus=2 or 3');
    d.drain = p.drain ? drainBegin(0) : null;
    if (p.userGfp !== 'GFP_KERNEL' && !pageAllocUsers(p)) throw new ModelError(`userGfp=${p.userGfp}: the gfp of the page allocator users, which only users=page-alloc has; add --param users=page-alloc`);
  },
  transitions,
  isEndState: (s, p) =>
    callersDone(s, p) &&
    s.krc.every((c) => c.arrays.length === 0 && c.heads.length === 0 && !c.work.pending) &&
    s.kernel.rcu.callbacks.length === 0 &&
    s.kernel.cpus.every((_, cpu) => (taskPc(s.kernel, cpu, KWORKER) ?? 'idle') === 'idle'),
  lanes: (p) => [...Array.from({ length: p.cpus }, (_, c) => `cpu${c}`), RCU_LANE],
  properties: [
    ...waitContextProperties<State, P>((s) => s.kernel),
    latencyBoundProperty<State, P>((s) => s.kernel, (s) => s.lat, cfgOf, (p) => p.latencyBound),
    noDoubleFree<State, P>((s) => s.mem, 'mem'),
    noLeakAtQuiescence<State, P>((s) => s.mem, 'mem', { finished: callersDone }),
    invariant<State, P>(
      'gfp-zero-semantics',
      'an allocation with gfp 0 returns NULL only when the zone has no free page, as its existing users expect',
      (s) => !s.gfp0Null || { message: '__get_free_page(0) returned NULL while the zone had free pages: option C changes what gfp 0 means for the users that pass it', fields: ['gfp0Null', 'pa'] },
    ),
  ],
  expectations: [
    {
      params: { variant: 'nowait-under-raw', rt: false },
      violated: ['wait-context', 'latency-bound'],
      note: 'GFP_NOWAIT under the raw krcp->lock takes zone->lock (spinlock_t): BUG: Invalid wait context; the zone section runs inside the irq-off krcp section',
    },
    {
      params: { variant: 'nowait-under-raw', rt: true },
      violated: ['wait-context', 'no-sleep-in-atomic', 'latency-bound'],
      note: 'on RT zone->lock is a sleeping lock taken under a raw lock with irqs off: scheduling while atomic',
    },
    {
      params: { variant: 'raw-zone-lock', rt: false },
      violated: ['latency-bound'],
      note: 'a raw zone->lock nests legally, but the zone section and the wait for another CPU\'s run inside the irq-off krcp section',
    },
    {
      params: { variant: 'raw-zone-lock', rt: true },
      violated: ['latency-bound'],
      note: 'on RT the zone->lock sections become non-preemptible too: the latency cost tglx measured (30 → 220 µs)',
    },
    // Option A's cost is systemic (tglx): with only page allocator users and no kfree_rcu(),
    // a raw zone->lock keeps every user non-preemptible for its zone section and its wait for
    // another CPU's (4 steps), on RT as on !RT; the spinlock_t zone->lock sleeps on RT (1).
    // The bound is the one the merged fix keeps kfree_rcu() callers within on RT (2).
    ...([false, true] as const).flatMap((rt) => [
      {
        params: { variant: 'raw-zone-lock', rt, users: 'page-alloc', latencyBound: 2 } as const,
        violated: ['latency-bound'],
        note: `a raw zone->lock makes every allocator user spin with irqs off${rt ? ' on RT too' : ''}`,
      },
      {
        params: { variant: 'workqueue-refill', rt, users: 'page-alloc', latencyBound: 2 } as const,
        violated: rt ? [] : ['latency-bound'],
        note: rt ? "upstream's spinlock_t zone->lock is a sleeping lock on RT: its users stay preemptible" : 'on !RT a spinlock_t spins with irqs off as a raw one does: the cost option A adds is RT\'s',
      },
    ]),
    {
      params: { variant: 'rt-atomic-gfp', rt: false },
      violated: ['wait-context', 'latency-bound'],
      note: 'option B on !RT is GFP_NOWAIT: "that of course does not solve the problem vs. lockdep"',
    },
    { params: { variant: 'rt-atomic-gfp', rt: true }, note: 'on RT the caller under krcp->lock is never preemptible: it always bails out to the rcu_head' },
    // Option C: kfree_rcu() passes gfp 0, which fails once the lockless cache is empty; for
    // kfree_rcu() that is __GFP_NO_LOCKS, but every other user of gfp 0 gets it too: "that
    // changes the semantics on !RT kernels for existing users which hand in 0".
    ...([false, true] as const).flatMap((rt) => [
      { params: { variant: 'gfp-zero-fails', rt } as const, note: 'for kfree_rcu() itself option C is __GFP_NO_LOCKS: the rcu_head takes what the pcp list cannot' },
      {
        params: { variant: 'gfp-zero-fails', rt, users: 'page-alloc', userGfp: '0' } as const,
        violated: ['gfp-zero-semantics'],
        note: `a user passing 0 gets NULL from an empty pcp list while the zone has a page${rt ? " (proposed unconditionally: on RT too)" : ''}`,
      },
      { params: { variant: 'workqueue-refill', rt, users: 'page-alloc', userGfp: '0' } as const, note: "upstream keeps gfp 0's meaning: the pcp list, then zone->lock" },
    ]),
    {
      params: { variant: 'lockdep-annotation', rt: false },
      violated: ['latency-bound'],
      note: 'option D on !RT: lockdep is told zone->lock nests like a raw lock, so no Invalid wait context; the zone section still runs inside the irq-off krcp section',
    },
    { params: { variant: 'lockdep-annotation', rt: true }, note: "on RT option D is option B's bail-out: the rcu_head, no allocation" },
    // A page on cpu0's pcp list hides the nesting bug from its one call; a drain on cpu1
    // (drain_all_pages(): compaction, memory hotplug) holds the list's lock or empties it, and
    // the allocation under the raw lock goes to zone->lock: each variant's verdicts come back.
    ...VARIANTS.flatMap((variant) =>
      ([false, true] as const).map((rt) => {
        const nests = variant === 'nowait-under-raw' || (variant === 'rt-atomic-gfp' && !rt);
        const hidden = variant === 'lockdep-annotation' && !rt;
        return {
          params: { variant, rt, drain: true, pcpPages: 1 } as const,
          violated: nests ? ['wait-context', ...(rt ? ['no-sleep-in-atomic'] : []), 'latency-bound'] : variant === 'raw-zone-lock' || hidden ? ['latency-bound'] : [],
          note: nests ? "the drain holds or empties cpu0's pcp list: GFP_NOWAIT under the raw krcp->lock goes to zone->lock" : "a drain of cpu0's pcp list changes nothing here",
        };
      }),
    ),
    { params: { variant: 'nowait-under-raw', pcpPages: 1 }, note: "without a drain, cpu0's one call always finds its pcp page: the bug stays hidden" },
    { params: { variant: 'no-locks-gfp', rt: false }, note: 'pcp trylock only, NULL instead of zone->lock: the rcu_head channel takes the rest' },
    { params: { variant: 'no-locks-gfp', rt: true }, note: 'same on RT' },
    { params: { variant: 'workqueue-refill', rt: false }, note: 'no allocation under the raw lock; a kworker refills the page cache where it may sleep' },
    { params: { variant: 'workqueue-refill', rt: true }, note: 'same on RT; zone->lock sleeps only in the kworker, which may sleep' },
    { params: { variant: 'nowait-outside-lock', rt: false }, note: 'with a task caller the allocation outside krcp->lock passes every property' },
    { params: { variant: 'nowait-outside-lock', rt: true }, note: 'same on RT' },
    // tglx: kfree_rcu() "can be called in any context except NMI even on RT".
    ...(['hardirq', 'raw-spinlock', 'irqs-off'] as const).flatMap((context) =>
      ([false, true] as const).flatMap((rt) => [
        {
          params: { variant: 'nowait-outside-lock', rt, context } as const,
          // irqs off is no lockdep wait type: only RT's sleeping zone->lock is wrong there.
          // On RT the hardirq's pcp_spin_trylock() is an rt_mutex trylock from hardirq, too.
          violated: [...(context === 'irqs-off' ? [] : ['wait-context']), ...(rt ? ['no-sleep-in-atomic'] : []), ...(rt && context === 'hardirq' ? ['trylock-context'] : [])],
          unchecked: ['latency-bound'],
          note:
            context === 'irqs-off'
              ? rt
                ? 'on RT zone->lock sleeps, and the caller has irqs off: the allocation outside krcp->lock is still in atomic context'
                : 'on !RT a spinlock_t with irqs off is legal: this context alone does not show the problem'
              : `the caller's ${context === 'hardirq' ? 'non-threaded hardirq' : 'raw spinlock'} forbids zone->lock as krcp->lock did: moving the allocation out of the RCU lock does not help`,
        },
        {
          params: { variant: 'workqueue-refill', rt, context } as const,
          unchecked: ['latency-bound'],
          note: 'the merged fix takes no allocator lock in the caller: it works from this context too',
        },
      ]),
    ),
  ],
});
