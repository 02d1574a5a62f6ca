// kvfree_rcu(ptr, rh) of vmalloc() memory: which free function kfree_rcu_work() gives each
// object (seed 004, Uladzislau Rezki, Feb 17, 2020; upstream since 5.9 "rcu/tree: Maintain
// separate array for vmalloc ptrs", followed here as 6.18 has it in mm/slab_common.c).
//
// Ted's ext4 arrays come from kvmalloc(), so they may be vmalloc() memory; in 5.6 kfree_rcu()
// took kmalloc() memory only. Vlad's sketch: "inject kvfree() support directly into existing
// kfree_call_rcu() logic ... i.e. to free vmalloc() allocations only in "emergency path" by just
// calling kvfree()". It has two hunks:
//     kfree_call_rcu():  if (is_vmalloc_addr((void *) head - (unsigned long) func) ||
//                                unlikely(!kfree_call_rcu_add_ptr_to_bulk(krcp, head, func))) {
//                            head->func = func; head->next = krcp->head; krcp->head = head;
//     kfree_rcu_work():  -  kfree((void *)head - offset);
//                        +  kvfree((void *)head - offset);
// while the arrays stay freed by `kfree_bulk(bhead->nr_records, bhead->records)`.
//
// cpu0's task calls kvfree_rcu(obj, rh) `calls` times, one object each; `objects` says where
// they come from (mixed: kmalloc() and vmalloc() in turn). A call is one step inside
// krc_this_cpu_lock() (local_irq_save() + the raw krcp->lock): the pointer into the current
// array of its channel if it has room, else into an array page from the CPU's cache
// (get_cached_bnode()), else the object's rcu_head onto krcp->head. The two-argument form never
// allocates a page there (6.18: `success = add_ptr_to_bulk_krc_lock(&krcp, &flags, ptr, !head);`,
// the last argument being can_alloc), so `pages` array pages are all there is; they come back to
// the cache after their batch is freed. kfree_rcu_monitor() and kfree_rcu_work() are the RCU
// lane's steps of the kernel layer's batching (src/kernel/kvfree_rcu.ts), with the free
// functions of the variant:
// - v5.6: one kind of array, kfree_bulk(); the chain kfree(). A vmalloc() pointer reaches
//   kfree_bulk() or kfree() — 6.18's kfree() still takes only a "pointer returned by kmalloc()
//   or kmem_cache_alloc()".
// - sketch: Vlad's two hunks: vmalloc() pointers always take the chain, which kvfree() frees.
// - sketch-no-vmalloc-test: the kvfree() hunk alone; a vmalloc() pointer put in an array while a
//   page is at hand still reaches kfree_bulk().
// - sketch-kfree-chain: the is_vmalloc_addr() hunk alone; the chain is still freed by kfree().
// - v6.18: since 5.9 two kinds of arrays, `idx = !!is_vmalloc_addr(ptr);`, and
//   kvfree_rcu_bulk(): `if (idx == 0) { // kmalloc() / kfree(). kfree_bulk(...) } else { //
//   vmalloc() / vfree(). ... vfree(bnode->records[i]);`; kvfree_rcu_list(): `kvfree(ptr);`.
//
// Left out: readers (the grace period itself is the kernel layer's, tested elsewhere; here every
// object is handed over already unpublished), the headless form and its page allocation and
// synchronize_rcu() fallback (models/kvfree_rcu_headless.ts), other CPUs (each has its own
// krcp; nothing here is shared between them), the sheaves of 7.0. What goes wrong inside
// kfree_bulk() given a vmalloc() address (virt_to_folio() of an address outside the linear map)
// is not modelled: the fault is recorded where the wrong function is called.
import { defineModel, int, oneOf, t, type ParamValues, type StateOf, type Transition } from '../src/index.ts';
import {
  allocate,
  allocatorOf,
  alt,
  either,
  END,
  gpTransitions,
  initKernel,
  kernelConfig,
  kernelType,
  KRC_FREES,
  KRCP,
  kvfreeRcuBatching,
  declarePerCpuLock,
  lock,
  memoryType,
  perCpuLockName,
  program,
  programTransitions,
  rcuBatchType,
  RCU_LANE,
  unlock,
  waitContextProperties,
  type At,
  type Into,
  type KrcFrees,
} from '../src/kernel/index.ts';
import { callbacksRun, noDoubleFree, noLeakAtQuiescence, noWrongAllocator } from '../properties/rcu.ts';

const VARIANTS = ['v6.18', 'v5.6', 'sketch', 'sketch-no-vmalloc-test', 'sketch-kfree-chain'] as const;
type Variant = (typeof VARIANTS)[number];
const OBJECTS = ['mixed', 'vmalloc', 'kmalloc'] as const;

const params = {
  variant: oneOf(VARIANTS, 'v6.18', 'which kernel, or which half of Vlad\'s sketch, frees the objects'),
  objects: oneOf(OBJECTS, 'mixed', 'where the objects come from: kmalloc() and vmalloc() in turn, or all from one'),
  calls: int(2, { min: 1, max: 4, doc: 'kvfree_rcu(obj, rh) calls by cpu0\'s task, one object each' }),
  pages: int(1, { min: 0, max: 2, doc: 'array pages in the CPU\'s cache (the two-argument form allocates none)' }),
  records: int(1, { min: 1, max: 2, doc: 'pointers an array page holds (KVFREE_BULK_MAX_ENTR; about 510 on 4 KiB pages)' }),
};
type P = ParamValues<typeof params>;

const cfg = kernelConfig({ rt: false, maxNesting: 0 });

/** The i-th object: from vmalloc() at odd i when mixed. */
const vmallocAt = (p: P, i: number) => p.objects === 'vmalloc' || (p.objects === 'mixed' && i % 2 === 1);
const objName = (p: P, i: number) => `${vmallocAt(p, i) ? 'v' : 'k'}obj${i}`;

/** kfree_rcu_work()'s free functions. */
const FREES: Record<Variant, KrcFrees> = {
  'v6.18': KRC_FREES,
  'v5.6': { arrays: 'kfree_bulk', vmallocArrays: 'kfree_bulk', heads: 'kfree' },
  sketch: { arrays: 'kfree_bulk', vmallocArrays: 'kfree_bulk', heads: 'kvfree' },
  'sketch-no-vmalloc-test': { arrays: 'kfree_bulk', vmallocArrays: 'kfree_bulk', heads: 'kvfree' },
  'sketch-kfree-chain': { arrays: 'kfree_bulk', vmallocArrays: 'kfree_bulk', heads: 'kfree' },
};
/** Whether the caller's test sends vmalloc() pointers to the rcu_head chain (Vlad's first hunk). */
const chainsVmalloc = (v: Variant) => v === 'sketch' || v === 'sketch-kfree-chain';

const schema = (p: P) => {
  const obj = t.enum(Array.from({ length: p.calls }, (_, i) => objName(p, i)));
  const arrays = t.list(t.list(obj, p.records), p.calls);
  return t.struct({
    kernel: kernelType({ cpus: 1, maxNesting: 0, locals: t.optional(t.bool()), locks: 1, holders: 1, irqSaved: 1, rcu: { callbacks: p.calls } }),
    /** cpu0's kfree_rcu_cpu: the arrays of each channel (the last is current), the rcu_head chain, the cached pages. */
    krc: t.array(t.struct({ arrays, vmallocArrays: arrays, heads: t.list(obj, p.calls), cache: t.int(0, p.pages) }), 1),
    batches: t.list(rcuBatchType({ cpus: 1, objs: p.calls }), p.calls),
    mem: memoryType({ objects: p.calls, faults: p.calls }),
    /** kvfree_rcu() calls done. */
    done: t.int(0, p.calls),
  });
};
type State = StateOf<typeof schema>;
type A = At<State, P>;

const objAt = (a: A) => objName(a.p, a.s.done);
const isVmalloc = (a: A) => allocatorOf(a.s.mem, objAt(a)) === 'vmalloc';
/** The channel the pointer goes to: vmalloc arrays exist since 5.9. */
const vmallocChannel = (a: A) => a.p.variant === 'v6.18' && isVmalloc(a);
const arraysOf = (a: A) => (vmallocChannel(a) ? a.s.krc[0].vmallocArrays : a.s.krc[0].arrays);
const draftArrays = (o: Into<State>, a: A) => (vmallocChannel(a) ? o.d.krc[0].vmallocArrays : o.d.krc[0].arrays);
const roomInCurrent = (a: A) => (arraysOf(a).at(-1)?.length ?? a.p.records) < a.p.records;
const toChain = (a: A) => chainsVmalloc(a.p.variant) && isVmalloc(a);

/** One kvfree_rcu(obj, rh) call, inside krc_this_cpu_lock() ... krc_this_cpu_unlock(). */
function section(o: Into<State>, a: A, put: () => void): string {
  const krcp = perCpuLockName(KRCP, a.cpu);
  if (!lock(o.k, cfg, a.cpu, krcp, { irqsave: true })) throw new Error(`${krcp} is held outside a kvfree_rcu() call`);
  put();
  unlock(o.k, cfg, a.cpu, krcp);
  o.d.done++;
  return o.d.done < a.p.calls ? 'call' : END;
}

const call = (a: A) => `kvfree_rcu(${objAt(a)}, rh)`;
const channel = (a: A) => (vmallocChannel(a) ? 'vmalloc array' : 'array');

const task = program<State, P>('task', [
  either(
    'call',
    alt((a) => `${call(a)}: pointer into the current ${channel(a)}`, (o, a) => section(o, a, () => draftArrays(o, a).at(-1)!.push(objAt(a))), {
      when: (a) => !toChain(a) && roomInCurrent(a),
    }),
    alt(
      (a) => `${call(a)}: get_cached_bnode() → a new ${channel(a)} page; pointer into it`,
      (o, a) =>
        section(o, a, () => {
          o.d.krc[0].cache--;
          draftArrays(o, a).push([objAt(a)]);
        }),
      { when: (a) => !toChain(a) && !roomInCurrent(a) && a.s.krc[0].cache > 0 },
    ),
    alt(
      (a) => `${call(a)}: ${toChain(a) ? 'is_vmalloc_addr()' : 'no array page'}: rcu_head onto krcp->head`,
      (o, a) => section(o, a, () => o.d.krc[0].heads.push(objAt(a))),
      { when: (a) => toChain(a) || (!roomInCurrent(a) && a.s.krc[0].cache === 0) },
    ),
  ),
]);

function transitions(s: State, p: P): Transition<State>[] {
  return [
    ...programTransitions(s, p, cfg, { kernel: (x) => x.kernel, draft: (d) => d.kernel, programOf: () => task }),
    ...kvfreeRcuBatching(
      s,
      (x) => x,
      (d) => d,
      (d, _cpu, pages) => void (d.krc[0].cache += pages),
      FREES[p.variant],
    ),
    ...gpTransitions(s, (x) => x.kernel, (d) => d.kernel),
  ];
}

const finished = (s: State, p: P) => s.done === p.calls;

export default defineModel({
  name: 'kvfree-rcu-vmalloc',
  description: 'kvfree_rcu(ptr, rh) of vmalloc() memory: the free function kfree_rcu_work() gives each object',
  params,
  state: schema,
  init: (p, d) => {
    for (let i = 0; i < p.calls; i++) allocate(d.mem, objName(p, i), vmallocAt(p, i) ? 'vmalloc' : 'kmalloc');
    d.kernel = initKernel<boolean | null>([{ task: 'task0' }]);
    declarePerCpuLock(d.kernel, KRCP, 'raw_spinlock_t');
    d.krc = [{ arrays: [], vmallocArrays: [], heads: [], cache: p.pages }];
  },
  transitions,
  isEndState: (s, p) => finished(s, p) && s.batches.length === 0 && s.krc[0].arrays.length === 0 && s.krc[0].vmallocArrays.length === 0 && s.krc[0].heads.length === 0,
  lanes: () => ['cpu0', RCU_LANE],
  properties: [
    noWrongAllocator<State, P>((s) => s.mem, 'mem'),
    noDoubleFree<State, P>((s) => s.mem, 'mem'),
    noLeakAtQuiescence<State, P>((s) => s.mem, 'mem', { finished }),
    ...waitContextProperties<State, P>((s) => s.kernel),
    callbacksRun<State, P>((s) => s.kernel.rcu),
  ],
  expectations: [
    { params: { variant: 'v6.18' }, note: 'kmalloc() pointers to kfree_bulk(), vmalloc() pointers to their own arrays and vfree(), the chain to kvfree()' },
    { params: { variant: 'v6.18', pages: 0 }, note: 'no array page: every object on the chain, which kvfree() frees' },
    { params: { variant: 'v5.6' }, violated: ['no-wrong-allocator'], note: 'a vmalloc() pointer in the one kind of array reaches kfree_bulk()' },
    { params: { variant: 'v5.6', pages: 0 }, violated: ['no-wrong-allocator'], note: 'on the chain it reaches kfree()' },
    { params: { variant: 'v5.6', objects: 'kmalloc' }, note: 'kmalloc() memory only, what kfree_rcu() was for' },
    { params: { variant: 'sketch' }, note: "Vlad's two hunks together: vmalloc() pointers always take the chain, and kvfree() frees it" },
    { params: { variant: 'sketch', pages: 2, records: 2, calls: 4 }, note: 'with arrays to spare too' },
    { params: { variant: 'sketch-no-vmalloc-test' }, violated: ['no-wrong-allocator'], note: 'without the is_vmalloc_addr() test a vmalloc() pointer goes into an array while a page is at hand: kfree_bulk()' },
    { params: { variant: 'sketch-no-vmalloc-test', pages: 0 }, note: 'with no array page every object takes the chain, where kvfree() is right: the missing test is only seen with a page at hand' },
    { params: { variant: 'sketch-kfree-chain' }, violated: ['no-wrong-allocator'], note: 'vmalloc() pointers take the chain, which is still freed by kfree()' },
  ],
});
