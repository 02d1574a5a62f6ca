// kmalloc_nolock() / kfree_nolock() (mm/slub.c, merged in 6.18; the 2025 review in
// seeds/002), built on the kernel layer (src/kernel): per-CPU context stacks, NMIs arriving
// anywhere, tracepoint/BPF hooks re-entering task context, local_trylock_t under PREEMPT_RT
// on and off, and lockdep / might_sleep() as splats.
//
// Two kmalloc caches (kmalloc-64, kmalloc-128), each with a per-CPU slab guarded by a per-CPU
// local_trylock_t. cpu0's slabs hold the objects; their freelists are explicit state, as SLUB
// keeps them: c->freelist (the head), each free object's free pointer, and slab->freelist
// (objects freed remotely by __slab_free()). A per-CPU `stash` is the element a BPF program
// keeps in a map; cpu0's starts as `c0:64#1`.
//
// Who runs:
//   cpu0 task A    p = kmalloc_nolock(64); kfree_nolock(p)
//   cpu0 NMI (1)   a BPF program: new = kmalloc_nolock(64); old = xchg(stash, new); kfree_nolock(old)
//   PREEMPT_RT only, on cpu0:
//   hook (1)       the same BPF program, run from a tracepoint that re-enters the task while it
//                  holds a per-CPU slab lock (on RT that region is preemptible, the lock is an
//                  rt_spin_lock, and lock tracepoints such as trace_contention_begin fire in it).
//   task B         higher priority; wakes once, while A holds a slab lock, and preempts A:
//                  preempt_disable(); p = kmalloc_nolock(64); kfree_nolock(p); preempt_enable();
//                  p = kmalloc_nolock(64); kfree_nolock(p). Its second, preemptible call may
//                  find A's lock held and sleep on it: "it may be locked by a different task,
//                  but it's safe to rt_spin_lock() on it" (the patch's commit message).
//   cpu1, cpu2     task R: kfree_nolock() of one of cpu0's objects (`c0:64#2`, `c0:64#3`) it was
//                  handed: not in this CPU's current slab, so it goes on this CPU's deferred list.
//   irq_work       per CPU: free_deferred_objects() frees everything on the deferred list with
//                  __slab_free() (one atomic cmpxchg into the object's slab->freelist). On !RT a
//                  hardirq (runs where irqs are on); on RT the per-CPU irq_work thread (runs
//                  where the CPU may schedule).
// cpu1 and cpu2 are interchangeable; cpu0 is not. The model no longer declares this symmetry
// (mc would have to rename CPU names inside texts, such as the per-CPU lock names
// `kmalloc-64@cpu1`): see the note at `lanes` below.
//
// Upstream version: 6.18.0 (kmalloc_nolock()/kfree_nolock() as merged) and 6.18.y, which
// differs from it in one hunk, 99a3e3a1cfc9 ("slab: fix kmalloc_nolock() context check for
// PREEMPT_RT", 6.19-rc7, backported to 6.18.y). 7.0 replaced this code with sheaves (RT:
// local_trylock first, defer_free otherwise) and is not modelled.
//
// What the code does (mm/slub.c, in the model's terms):
// - kmalloc_nolock(size): PREEMPT_RT gate → NULL. 6.18.0:
//       if (IS_ENABLED(CONFIG_PREEMPT_RT) && (in_nmi() || in_hardirq()))
//               /* kmalloc_nolock() in PREEMPT_RT is not supported from irq */
//               return NULL;
//   6.18.y:
//       if (IS_ENABLED(CONFIG_PREEMPT_RT) && !preemptible())
//               /*
//                * kmalloc_nolock() in PREEMPT_RT is not supported from
//                * non-preemptible context because local_lock becomes a
//                * sleeping lock on RT.
//                */
//               return NULL;
//   i.e. NULL wherever not preemptible (NMI, hardirq, preemption or irqs off). Then if local_lock_is_locked(this
//   bucket's lock) → -EBUSY: retry once in the next bucket, then NULL (the in_nmi() check in
//   kmalloc_nolock and the same check in __slab_alloc for re-entry from hooks; !RT: this CPU's
//   `acquired` flag, RT: owner == current). Else take an object: the task runs the irq-saved
//   slow path (___slab_alloc: lock, read c->freelist, write c->freelist = next, unlock); an NMI
//   on !RT runs the lockless fast path (one this_cpu_cmpxchg), or the slow path when
//   c->freelist is empty. On RT everything is under the per-CPU lock (no lockless fast path).
//   An empty c->freelist is refilled, under the lock, from the slab's own freelist (the
//   objects freed to it from elsewhere), and failing that the slab stops being c->slab:
//       freelist = get_freelist(s, slab);
//       if (!freelist) {
//               c->slab = NULL;
//               c->tid = next_tid(c->tid);
//               local_unlock_cpu_slab(s, flags);
//               stat(s, DEACTIVATE_BYPASS);
//               goto new_slab;
//       }
//   so that later frees of its objects on this CPU see `slab != c->slab` and defer, and a
//   kfree_nolock() already at the lock goes back to `redo:` (RT: `if (unlikely(slab !=
//   c->slab)) { local_unlock(...); goto redo; }`; !RT: its cmpxchg fails on c->tid).
// - kfree_nolock(x) → do_slab_free(s, slab, x, x, 0, _RET_IP_), with no context check of its
//   own in either version ("Can be called while holding raw_spin_lock or from IRQ and NMI"):
//       if (unlikely(slab != c->slab)) {
//               if (unlikely(!allow_spin)) {
//                       ...
//                       defer_free(s, head);
//       ...
//       if (unlikely(!allow_spin)) {
//               if ((in_nmi() || !USE_LOCKLESS_FAST_PATH()) &&
//                   local_lock_is_locked(&s->cpu_slab->lock)) {
//                       defer_free(s, head);
//                       return;
//       ...
//       } else {
//               /* Update the free list under the local lock */
//               local_lock_cpu_slab(s, flags);
//   !RT, the lockless fast path, two steps and a retry:
//       redo:
//               c = raw_cpu_ptr(s->cpu_slab);
//               tid = READ_ONCE(c->tid);
//       ...
//               freelist = READ_ONCE(c->freelist);
//               set_freepointer(s, tail, freelist);
//               if (unlikely(!__update_cpu_freelist_fast(s, freelist, head, tid))) {
//                       note_cmpxchg_failure("slab_free", s, tid);
//                       goto redo;
//               }
//   (the cmpxchg of the pair (c->freelist, c->tid); every update of c->freelist on !RT also
//   moves c->tid on, next_tid()); an NMI between the read and the cmpxchg makes the task's
//   fail and retry. RT (USE_LOCKLESS_FAST_PATH() is false there): under the per-CPU lock.
//   Defer: `if (llist_add(head + s->offset, &df->objects)) irq_work_queue(&df->work);`: the
//   llist link lives in the object's free pointer word, and free_deferred_objects() clears it
//   before __slab_free(): "We used freepointer in 'x' to link 'x' into df->objects. Clear it
//   to NULL to avoid false positive detection of "Freepointer corruption".
// - local_lock_cpu_slab() as the LOCKDEP build has it: on !RT local_trylock_irqsave() (a
//   local_lock_irqsave() from NMI would be a lockdep false positive), on RT
//   local_lock_irqsave() (rt_spin_lock, may sleep). Its comment states the assumption the free
//   side breaks: "On PREEMPT_RT an invocation is not possible from IRQ-off or preempt disabled
//   context. The lock will always be acquired and if needed it block and sleep until the lock
//   is available."
//
// Variants:
//   v6.18.y              upstream 6.18.y (the default). !RT holds. RT: a finding. An NMI's
//                        kfree_nolock() of an object in cpu0's current slab passes the
//                        is_locked() check whenever the lock is free or owned by a task other
//                        than current, and calls local_lock_irqsave(), an rt_spin_lock, in NMI
//                        (wait-context, no-sleep-in-atomic, 4 steps); owned by a preempted task,
//                        the NMI waits on it (no-deadlock). The same holds for a hardirq or a
//                        preempt-off caller; the model's NMI is the one that runs the free.
//                        Lockdep reports it from NMI too: lock_acquire() runs its checks there,
//                        and skips them only for an NMI inside lockdep itself (`if
//                        (unlikely(!lockdep_enabled())) { /* XXX allow trylock from NMI ?!? */
//                        ... verify_lock_unused() ...; return; }`).
//   v6.18                6.18.0: the same free side, and kmalloc_nolock()'s in_nmi() ||
//                        in_hardirq() gate: task B, preemption off, sees is_locked() false (A,
//                        preempted, owns the lock, not B) and sleeps on it (no-sleep-in-atomic;
//                        with nmi=false it is the only violation: the bug 99a3e3a1cfc9 fixed).
//   gated-free           a design, not upstream: kfree_nolock() defers wherever kmalloc_nolock()
//                        returns NULL (6.18.y's gate on both sides). Holds everything, !RT and RT.
//                        The bug variants below are built on it, so each shows one bug:
//   no-is-locked-check   no local_lock_is_locked() check: on !RT an NMI inside the task's
//                        irq-saved region pops the same c->freelist the task has half-updated
//                        (freelist-integrity); on RT a hook inside the locked region takes the
//                        rt_spin_lock its own task holds (no-self-deadlock, no-deadlock).
//   rt-nmi-trylock       on RT, no early NULL in NMI/hardirq: the per-CPU lock is trylocked
//                        there (rt_spin_trylock, what local_trylock() refuses): trylock-context
//                        (lockdep exempts trylocks, so it prints no Invalid wait context).
//   no-deferred-drain    defer_free() never queues the irq_work: a deferred object is never
//                        freed (deferred-drained).
//
// Not modelled, and what that means:
// - A new slab (new_slab: get_partial()'s `spin_trylock_irqsave(&n->list_lock, flags)`,
//   alloc_slab_page()'s alloc_frozen_pages_nolock(), retry_load_slab's
//   defer_deactivate_slab()): with no c->slab, kmalloc_nolock() returns NULL, and a slab that
//   stopped being c->slab never comes back (its objects, freed, stay on its slab->freelist;
//   __slab_free()'s partial lists are not modelled either). Bugs in the new-slab path, such as
//   the accounting one "slab: fix slab accounting imbalance due to defer_deactivate_slab()"
//   fixed, are out of reach.
// - The !RT task's lockless *allocation* fast path and the NMI's irq-saved slow path: the
//   hazard the is_locked() gate exists for is an interrupt finding the freelist half-updated
//   inside the slow path, so the task always allocates by the slow path and the NMI by the
//   fast path (one step: nothing interrupts an NMI on cpu0). Frees on !RT take the lockless
//   path, the task's with its retry. Only c->tid makes the task's cmpxchg fail when the NMI
//   found the slab empty and dropped it, leaving c->freelist the NULL the task read.
// - __slab_free()'s list_lock and slab discarding: a remote free is one atomic push onto the
//   slab's own freelist, kept as a list rather than through the objects' words (nothing else
//   touches an object's word while it is there).
// - Hardirqs other than the irq_work, softirqs, and hooks on !RT (___slab_alloc is NOKPROBE and
//   has no tracepoint inside its irq-saved region, so a hook never finds the lock taken there;
//   the NMI covers every arrival point a hook would have).
// - On RT, hooks outside a locked region and B waking while A holds no slab lock: there they
//   are ordinary task-context callers that find every lock free (A itself is one), so they are
//   left out to keep the state space small; a bug that needs them is out of reach.
// - Interrupts, hooks and allocations on cpu1 and cpu2: they only free. The CPUs share nothing
//   but cpu0's slab->freelist, so more activity there would multiply states, not behaviours.
// - NMI and hook budgets of one each, nesting of at most two frames above the task.
import { bool, defineModel, int, oneOf, t, universe, type Draft, type ParamValues, type StateOf, type Transition, type ValueOf } from '../src/index.ts';
import {
  atomicReasons,
  canEnterHook,
  canInterrupt,
  canSchedule,
  contextName,
  declarePerCpuLock,
  enterHook,
  inHardirq,
  initKernel,
  inNmi,
  interrupt,
  kernelConfig,
  kernelType,
  localLock,
  localLockIsLocked,
  localTrylock,
  localUnlock,
  lockState,
  perCpuLockName,
  preemptDisable,
  preemptEnable,
  preemptible,
  returnFromFrame,
  schedule,
  setPc,
  switchLabel,
  top,
  topDraft,
  waitContextProperties,
  canAcquire,
  canTrylock,
  describeHolder,
  type Frame,
  type Kernel,
  type KernelConfig,
  type KernelDraft,
  irqWorkCanRun,
  llistAdd,
  llistDelAll,
  llistEntries,
} from '../src/kernel/index.ts';
import { allocSucceedsOrNull, deferredDrained, deferredFreed, freelistIntegrity, type ObjectPlace, type SlabCensus } from '../properties/slab.ts';

const VARIANTS = ['v6.18.y', 'v6.18', 'gated-free', 'no-is-locked-check', 'rt-nmi-trylock', 'no-deferred-drain'] as const;
type Variant = (typeof VARIANTS)[number];

/** kmalloc buckets; slab index 2 is the non-current kmalloc-64 slab. */
const SIZES = [64, 128] as const;
const cacheOf = (slab: number) => `kmalloc-${SIZES[slab]}`;
const NULL = 'NULL';

// ---- objects: `c0:64#1` is slot 1 of cpu0's current kmalloc-64 slab
interface ObjId {
  readonly cpu: number;
  readonly size: number;
  readonly slot: number;
}
const objName = (o: ObjId) => `c${o.cpu}:${o.size}#${o.slot}`;
function parseObj(name: string): ObjId {
  const m = /^c(\d+):(\d+)#(\d+)$/.exec(name);
  if (!m) throw new Error(`not an object name: ${name}`);
  return { cpu: Number(m[1]), size: Number(m[2]), slot: Number(m[3]) };
}
const slabOf = (o: ObjId) => SIZES.indexOf(o.size as 64 | 128);
/** cpu0's kmalloc-64 slab: slot 0 free, slot 1 in the stash, slot c+1 held by cpu c (c >= 1). */
const remoteObj = (c: number) => objName({ cpu: 0, size: 64, slot: c + 1 });
/** Every object, in a fixed order: all are cpu0's. */
const allObjects = (cpus: number) => [
  ...Array.from({ length: cpus + 1 }, (_, slot) => objName({ cpu: 0, size: 64, slot })),
  objName({ cpu: 0, size: 128, slot: 0 }),
  objName({ cpu: 0, size: 128, slot: 1 }),
];

// ---- programs
type Op = { readonly kind: 'kmalloc' } | { readonly kind: 'kfree'; readonly what: 'p' | 'q' | 'stash' } | { readonly kind: 'preempt_disable' } | { readonly kind: 'preempt_enable' };
const PROGRAMS: { readonly [name: string]: readonly Op[] } = {
  A: [{ kind: 'kmalloc' }, { kind: 'kfree', what: 'p' }],
  R: [{ kind: 'kfree', what: 'q' }],
  B: [{ kind: 'preempt_disable' }, { kind: 'kmalloc' }, { kind: 'kfree', what: 'p' }, { kind: 'preempt_enable' }, { kind: 'kmalloc' }, { kind: 'kfree', what: 'p' }],
  bpf: [{ kind: 'kmalloc' }, { kind: 'kfree', what: 'stash' }],
};
const FIRST_PC: { readonly [kind in Op['kind']]: string } = { kmalloc: 'km', kfree: 'kf', preempt_disable: 'pd', preempt_enable: 'pe' };
/** The longest program's length: a frame's `op` runs from 0 to it. */
const MAX_OPS = Math.max(...Object.values(PROGRAMS).map((prog) => prog.length));
const programOf = (fr: Frame) => PROGRAMS[fr.kind === 'task' ? fr.task : 'bpf'];
const opOf = (fr: Frame) => programOf(fr)[(fr.data as Locals).op];

// ---- state
/**
 * c->tid counts the updates of a CPU's c->freelist (next_tid()); the !RT lockless free
 * compares it in its cmpxchg. It is kept on !RT only: on RT nothing reads it (no lockless
 * path). At most four updates per cache: A's and the NMI's kmalloc and kfree on cpu0 (other
 * CPUs' frees are deferred and go to slab->freelist).
 */
const MAX_TID = 4;
/** An object of cpu0's slabs, or NULL: every object is known beforehand. */
const objType = (cpus: number) => t.enum([NULL, ...allObjects(cpus)]);
/** A context's locals: which operation of its program it is at, and its variables. */
const localsType = (cpus: number) => {
  const obj = objType(cpus);
  return t.struct({
    op: t.int(0, MAX_OPS),
    /** kmalloc_nolock: the bucket being tried, whether the one retry is used, whether an object was taken. */
    bucket: t.int(0, SIZES.length - 1),
    retried: t.bool(),
    took: t.bool(),
    /** The object kmalloc_nolock returned (or NULL). */
    p: obj,
    /** kmalloc slow path: c->freelist and its free pointer as read under the lock; !RT kfree fast path: c->freelist as read. */
    head: obj,
    next: obj,
    /** !RT kfree fast path: c->tid as read at `redo:`. */
    tid: t.int(0, MAX_TID),
    /** kfree_nolock: the object being freed. */
    x: obj,
    /** Task R on cpu1, cpu2: the object of cpu0's slab it will free. */
    q: obj,
  });
};
type Locals = ValueOf<ReturnType<typeof localsType>>;
const newLocals = (fields: Partial<Locals> = {}): Locals => ({ op: 0, bucket: 0, retried: false, took: false, p: NULL, head: NULL, next: NULL, tid: 0, x: NULL, q: NULL, ...fields });

/**
 * The CPUs, one universe indexing both the kernel's CPUs and `pcpu`, so that lane `cpuN` owns
 * `kernel.cpus[N]` and `pcpu[N]` (what --por's check of the `local` steps needs).
 */
const cpuUniverse = (cpus: number) => universe('cpu', cpus);

const schema = (p: P) => {
  const cpus = cpuUniverse(p.cpus);
  const obj = objType(p.cpus);
  const objects = allObjects(p.cpus).length;
  /**
   * One slab: whether it is its CPU's c->slab, c->freelist's head and c->tid (for the CPU's
   * current slabs), each slot's free pointer word (which also links a deferred object into its
   * llist), and slab->freelist (frees from elsewhere, oldest first).
   */
  const slab = t.struct({ current: t.bool(), head: obj, tid: t.int(0, MAX_TID), next: t.list(obj, p.cpus + 1), freed: t.list(obj, objects) });
  const percpu = t.struct({
    slabs: t.array(slab, SIZES.length),
    /** The head of defer_free()'s llist; each object on it links to the next through its free pointer. */
    deferred: obj,
    /** irq_work_queue() was called and the work has not run yet. */
    irqWork: t.bool(),
    /** The BPF program's map element. */
    stash: obj,
  });
  return t.struct({
    kernel: kernelType({ cpus: p.cpus, cpuIndex: cpus, maxNesting: kernelConfig({ rt: p.rt }).maxNesting, locals: localsType(p.cpus), locks: SIZES.length * p.cpus }),
    pcpu: t.array(percpu, cpus),
  });
};
type State = StateOf<typeof schema>;
type Next = Draft<State>;

/** The running frame moves on to the next operation of its program (done / return at the end). */
function advance(k: KernelDraft, cpu: number, loc: Locals): void {
  const fr = topDraft(k, cpu);
  const prog = programOf(fr);
  const op = loc.op + 1;
  fr.data = { ...loc, op, head: NULL, next: NULL, tid: 0, bucket: 0, retried: false, took: prog[op]?.kind === 'kmalloc' ? false : loc.took };
  fr.pc = op < prog.length ? FIRST_PC[prog[op].kind] : fr.kind === 'task' ? 'done' : 'return';
}
/** The running frame goes on at `pc` with locals `loc` (a fresh value). */
const setLocals = (k: KernelDraft, cpu: number, pc: string, loc: Locals) => setPc(k, cpu, pc, { ...loc });

// ---- free pointer words: each object's lives in its slab's `next`, at its slot
const wordAt = (x: string) => {
  const id = parseObj(x);
  return { cpu: id.cpu, slab: slabOf(id), slot: id.slot };
};
const wordOf = (s: State, x: string) => {
  const w = wordAt(x);
  return s.pcpu[w.cpu].slabs[w.slab].next[w.slot];
};
/** set_freepointer(x, v), or a link written where the free pointer is. */
function setWord(next: Next, x: string, v: string): void {
  const w = wordAt(x);
  next.pcpu[w.cpu].slabs[w.slab].next[w.slot] = v;
}

/**
 * defer_free(): `llist_add(head + s->offset, &df->objects)`: the llist node is the object's
 * free pointer word, which now links to the list's old head (src/kernel/llist.ts).
 */
const deferredHead = (next: Next, c: number) => ({ first: () => next.pcpu[c].deferred, setFirst: (x: string) => void (next.pcpu[c].deferred = x) });
const freePointers = (next: Next) => ({ write: (x: string, v: string) => setWord(next, x, v) });

/** The objects on cpu `c`'s deferred llist, newest first, following the links; `cycle` is an object reached twice. */
const deferredList = (s: State, c: number) => llistEntries(s.pcpu[c].deferred, { read: (x) => wordOf(s, x) }, NULL);

function who(k: Kernel, cpu: number): string {
  const fr = top(k, cpu);
  return fr.kind === 'task' ? fr.task : fr.kind === 'hook' ? `hook in ${fr.task}` : fr.kind;
}

/**
 * kmalloc_nolock()'s early NULL on PREEMPT_RT, per version: 6.18.0 `in_nmi() || in_hardirq()`,
 * 6.18.y (99a3e3a1cfc9) `!preemptible()`. The bug variants keep 6.18.y's gate, except
 * rt-nmi-trylock, which lets NMI and hardirq callers through to a trylock.
 */
function kmallocGate(k: Kernel, cfg: KernelConfig, cpu: number, v: Variant): string | null {
  if (!cfg.rt) return null;
  if (v === 'v6.18') return inNmi(k, cpu) ? 'in NMI' : inHardirq(k, cpu) ? 'in hardirq' : null;
  if (v === 'rt-nmi-trylock' && (inNmi(k, cpu) || inHardirq(k, cpu))) return null;
  return preemptible(k, cfg, cpu) ? null : atomicReasons(k, cfg, cpu).join(', ');
}

/**
 * kfree_nolock()'s: upstream has none (6.18.0 and 6.18.y alike: do_slab_free() goes from the
 * is_locked() check straight to local_lock_cpu_slab()). The gated-free design, and the bug
 * variants built on it, defer wherever kmalloc_nolock() would return NULL.
 */
const kfreeGate = (k: Kernel, cfg: KernelConfig, cpu: number, v: Variant) => (v === 'v6.18' || v === 'v6.18.y' ? null : kmallocGate(k, cfg, cpu, v));

/** Whether this context trylocks the per-CPU lock as rt_spin_trylock (the rt-nmi-trylock variant in NMI/hardirq). */
const rtIrqTrylock = (k: Kernel, cfg: KernelConfig, cpu: number, v: Variant) => cfg.rt && v === 'rt-nmi-trylock' && (inNmi(k, cpu) || inHardirq(k, cpu));

function transitions(s: State, p: P): Transition<State>[] {
  const cfg = kernelConfig({ rt: p.rt });
  const out: Transition<State>[] = [];
  for (let c = 0; c < p.cpus; c++) {
    const lane = `cpu${c}`;
    const k = s.kernel;
    const fr = top(k, c);
    const pc = s.pcpu[c];
    const step: Step = (label, apply, local = false) => out.push({ lane, label: `${lane}: ${label}`, apply, ...(local ? { local: true } : {}) });
    const me = `${who(k, c)}: `;

    // PREEMPT_RT: task B has the higher priority. It wakes once, at any point where A holds a
    // slab lock and may be preempted, and from then on runs whenever it can: A (and a hook in A)
    // runs only while B sleeps on a lock or after B has finished.
    const parked = k.cpus[c].parked;
    const runnable = (f: Frame) => f.pc !== 'done' && (f.waiting === null || canAcquire(k, cfg, c, f.waiting));
    const b = parked.find((fs) => fs[0].task === 'B')?.at(-1);
    const mustSwitch = b !== undefined && b.pc !== 'pd' && runnable(b);
    const running = k.cpus[c].frames[0].task;
    if (canSchedule(k, cfg, c)) {
      for (const fs of parked) {
        const f = fs.at(-1)!;
        const ok = f.task === 'B' ? runnable(f) && (f.pc !== 'pd' || taskHoldsSlabLock(k, c)) : running === 'B' && !runnable(fr);
        if (ok) step(switchLabel(k, c, f.task, fr.pc === 'done' ? 'is done' : undefined), (next) => schedule(next.kernel, cfg, c, f.task));
      }
    }

    // The running frame's next step, unless B preempts it now.
    const preempted = mustSwitch && canSchedule(k, cfg, c);
    if (fr.pc !== 'done' && !preempted) runningStep(s, p, cfg, c, me, step);

    // An NMI can arrive anywhere, irqs off included (budget: one per CPU).
    if (canInterrupt(k, cfg, c, 'nmi')) step('nmi enters', (next) => interrupt(next.kernel, cfg, c, 'nmi', 'km', newLocals()));
    // PREEMPT_RT: a tracepoint runs a BPF program in the running task's context, at any of its
    // steps inside a per-CPU slab lock.
    if (cfg.rt && !preempted && taskHoldsSlabLock(k, c) && canEnterHook(k, cfg, c))
      step(`hook enters in ${fr.task}`, (next) => enterHook(next.kernel, cfg, c, 'km', newLocals()));
    // The irq_work that drains the deferred list.
    // llist_del_all(), then for each object: `*(void **)x = NULL` (the link was its free
    // pointer: "Clear it to NULL to avoid false positive detection of Freepointer corruption")
    // and __slab_free().
    if (pc.irqWork && irqWorkCanRun(k, cfg, c)) {
      const deferred = deferredList(s, c).objects;
      step(`irq_work: free_deferred_objects: __slab_free(${deferred.join(', ')})`, (next) => {
        const taken = llistDelAll(deferredHead(next, c), { read: (x) => wordOf(next, x) }, NULL);
        next.pcpu[c].irqWork = false;
        for (const x of taken) {
          setWord(next, x, NULL);
          const w = wordAt(x);
          next.pcpu[w.cpu].slabs[w.slab].freed.push(x);
        }
      });
    }
  }
  return out;
}

/** Whether the running task's own frame (not a hook or interrupt above it) holds a per-CPU slab lock. */
function taskHoldsSlabLock(k: Kernel, cpu: number): boolean {
  const task = k.cpus[cpu].frames[0];
  for (const l of k.locks.values()) if (l.cpu === cpu && l.holders.some((h) => h.cpu === cpu && h.depth === 0 && h.task === task.task)) return true;
  return false;
}

type Step = (label: string, apply: (next: Next) => void, local?: boolean) => void;

function runningStep(s: State, p: P, cfg: KernelConfig, c: number, me: string, step: Step): void {
  const k = s.kernel;
  const fr = top(k, c);
  const loc = fr.data as Locals;
  const pc = s.pcpu[c];
  const checks = p.variant !== 'no-is-locked-check';
  /**
   * !RT do_slab_free(), USE_LOCKLESS_FAST_PATH(): `tid = READ_ONCE(c->tid)` at `redo:`, then
   * `freelist = READ_ONCE(c->freelist); set_freepointer(s, tail, freelist);`, one step (x is
   * the freer's own object: nothing else reads its word meanwhile); the cmpxchg is the next.
   */
  const fastRead = (x: string) => {
    const slab = pc.slabs[slabOf(parseObj(x))];
    return `tid = c->tid (${slab.tid}); freelist = c->freelist (${slab.head}); set_freepointer(${x}, ${slab.head})`;
  };
  /** defer_free(): `if (llist_add(...)) irq_work_queue(...)`: the work is queued when the list was empty (never in no-deferred-drain). */
  const queues = pc.deferred === NULL && p.variant !== 'no-deferred-drain';
  const deferFree = (next: Next, x: string) => {
    llistAdd(deferredHead(next, c), freePointers(next), x, NULL);
    next.pcpu[c].irqWork = pc.irqWork || queues;
  };
  const fastReadApply = (next: Next, l: Locals) => {
    const slab = pc.slabs[slabOf(parseObj(l.x))];
    setWord(next, l.x, slab.head);
    setLocals(next.kernel, c, 'kf.cmpxchg', { ...l, head: slab.head, tid: slab.tid });
  };
  switch (fr.pc) {
    case 'pd':
      return step(`${me}preempt_disable()`, (next) => {
        preemptDisable(next.kernel, c);
        advance(next.kernel, c, loc);
      });
    case 'pe':
      return step(`${me}preempt_enable()`, (next) => {
        preemptEnable(next.kernel, c);
        advance(next.kernel, c, loc);
      });
    case 'return':
      return step(`${fr.kind} returns`, (next) => returnFromFrame(next.kernel, c));

    // ---- kmalloc_nolock(size)
    case 'km': {
      const b = loc.bucket;
      const cache = cacheOf(b);
      const call = `kmalloc_nolock(${SIZES[b]})`;
      const gate = loc.retried ? null : kmallocGate(k, cfg, c, p.variant);
      if (gate !== null) return step(`${me}${call}: PREEMPT_RT and ${gate} -> NULL`, (next) => advance(next.kernel, c, { ...loc, p: NULL }));
      if (checks && localLockIsLocked(k, cfg, c, cache)) {
        if (!loc.retried)
          return step(`${me}${call}: local_lock_is_locked(${cache}) -> -EBUSY, retry in ${cacheOf(b + 1)}`, (next) => setLocals(next.kernel, c, 'km', { ...loc, bucket: b + 1, retried: true }), true);
        return step(`${me}${call}: local_lock_is_locked(${cache}) -> -EBUSY -> NULL`, (next) => advance(next.kernel, c, { ...loc, p: NULL }));
      }
      const what = checks ? `local_lock_is_locked(${cache}) = false` : 'no local_lock_is_locked() check';
      // ___slab_alloc(): `slab = READ_ONCE(c->slab); if (!slab) { ... goto new_objects; }`
      if (!pc.slabs[b].current) return step(`${me}${call}: ${what}; c->slab is NULL: new_slab (not modelled) -> NULL`, (next) => advance(next.kernel, c, { ...loc, p: NULL }));
      const to = !cfg.rt && fr.kind !== 'task' ? 'km.fast' : 'km.lock';
      return step(`${me}${call}: ${what}`, (next) => setPc(next.kernel, c, to), true);
    }
    case 'km.fast': {
      // !RT NMI: __update_cpu_freelist_fast(), one this_cpu_cmpxchg on (c->freelist, tid).
      const b = loc.bucket;
      const slab = pc.slabs[b];
      // an empty c->freelist sends slab_alloc_node() to __slab_alloc(), the slow path
      if (slab.head === NULL) return step(`${me}${cacheOf(b)} c->freelist empty: __slab_alloc()`, (next) => setPc(next.kernel, c, 'km.lock'));
      const obj = slab.head;
      const nx = slab.next[parseObj(obj).slot];
      return step(`${me}this_cpu_cmpxchg(${cacheOf(b)} c->freelist: ${obj} -> ${nx}) -> returns ${obj}`, (next) => {
        advance(next.kernel, c, { ...loc, p: obj, took: true });
        next.pcpu[c].slabs[b].head = nx;
        next.pcpu[c].slabs[b].tid++;
      });
    }
    case 'km.lock':
      return lockStep(s, p, cfg, c, me, step, loc.bucket, 'km.read', (next) =>
        // a trylock that fails: -EBUSY, as if is_locked() had said so
        !loc.retried ? setLocals(next.kernel, c, 'km', { ...loc, bucket: loc.bucket + 1, retried: true }) : advance(next.kernel, c, { ...loc, p: NULL }),
      );
    case 'km.read': {
      const b = loc.bucket;
      const slab = pc.slabs[b];
      const head = slab.head;
      if (head === NULL && slab.freed.length > 0) {
        // `freelist = get_freelist(s, slab);`: the objects freed to slab->freelist meanwhile
        // (newest first, linked through their free pointers), then load_freelist:
        // `c->freelist = get_freepointer(s, freelist); c->tid = next_tid(c->tid);`
        const list = [...slab.freed].reverse();
        const rest = list.length > 1 ? list[1] : NULL;
        return step(`${me}c->freelist empty; get_freelist(): slab->freelist (${list.join(', ')}); c->freelist = ${rest}; local_unlock_irqrestore(${cacheOf(b)}) -> returns ${list[0]}`, (next) => {
          localUnlock(next.kernel, cfg, c, cacheOf(b));
          advance(next.kernel, c, { ...loc, p: list[0], took: true });
          const sl = next.pcpu[c].slabs[b];
          list.forEach((x, i) => setWord(next, x, list[i + 1] ?? NULL));
          sl.freed = [];
          sl.head = rest;
          if (!cfg.rt) sl.tid++;
        });
      }
      if (head === NULL)
        // get_freelist() found nothing either: `c->slab = NULL; c->tid = next_tid(c->tid);
        // local_unlock_cpu_slab(s, flags); ... goto new_slab;`
        return step(`${me}c->freelist and slab->freelist empty: c->slab = NULL; local_unlock_irqrestore(${cacheOf(b)}); new_slab (not modelled) -> NULL`, (next) => {
          localUnlock(next.kernel, cfg, c, cacheOf(b));
          advance(next.kernel, c, { ...loc, p: NULL });
          const sl = next.pcpu[c].slabs[b];
          sl.current = false;
          if (!cfg.rt) sl.tid++;
        });
      const nx = pc.slabs[b].next[parseObj(head).slot];
      return step(`${me}object = c->freelist (${head}), next = ${nx}`, (next) => setLocals(next.kernel, c, 'km.write', { ...loc, head, next: nx }), true);
    }
    case 'km.write': {
      const b = loc.bucket;
      return step(`${me}c->freelist = ${loc.next}; local_unlock_irqrestore(${cacheOf(b)}) -> returns ${loc.head}`, (next) => {
        localUnlock(next.kernel, cfg, c, cacheOf(b));
        advance(next.kernel, c, { ...loc, p: loc.head, took: true });
        next.pcpu[c].slabs[b].head = loc.next;
        if (!cfg.rt) next.pcpu[c].slabs[b].tid++;
      });
    }

    // ---- kfree_nolock(x)
    case 'kf': {
      // A frame that already holds its object (`x`) is back at do_slab_free()'s `redo:`.
      const op = opOf(fr) as Extract<Op, { kind: 'kfree' }>;
      const redo = loc.x !== NULL;
      const x = redo ? loc.x : op.what === 'p' ? loc.p : op.what === 'q' ? loc.q : pc.stash;
      const taken: Locals = redo ? { ...loc, x: NULL } : op.what === 'q' ? { ...loc, q: NULL } : { ...loc, p: NULL };
      // the BPF program's xchg(stash, new) happens with the free
      const base = (next: Next) => {
        if (op.what === 'stash' && !redo) next.pcpu[c].stash = loc.p;
      };
      const call = redo ? 'redo' : `${op.what === 'stash' ? `old = xchg(stash, ${loc.p}); ` : ''}kfree_nolock(${x})`;
      if (x === NULL)
        return step(`${me}${call}: nothing to free`, (next) => {
          base(next);
          advance(next.kernel, c, taken);
        });
      const o = parseObj(x);
      const b = slabOf(o);
      const defer = (why: string) =>
        step(`${me}${call}: ${why} -> defer_free: llist_add${queues ? ', irq_work_queue' : ''}`, (next) => {
          base(next);
          advance(next.kernel, c, taken);
          deferFree(next, x);
        });
      if (o.cpu !== c || !pc.slabs[b].current) return defer(`not in this CPU's current ${cacheOf(b)} slab`);
      const gate = kfreeGate(k, cfg, c, p.variant);
      if (gate !== null) return defer(`PREEMPT_RT and ${gate}`);
      if (checks && (inNmi(k, c) || cfg.rt) && localLockIsLocked(k, cfg, c, cacheOf(b))) return defer(`local_lock_is_locked(${cacheOf(b)})`);
      if (!cfg.rt)
        return step(`${me}${call}: ${fastRead(x)}`, (next) => {
          base(next);
          fastReadApply(next, { ...taken, x });
        });
      return step(`${me}${call}: ${cacheOf(b)} is this CPU's slab`, (next) => {
        base(next);
        setLocals(next.kernel, c, 'kf.lock', { ...taken, x });
      });
    }
    case 'kf.cmpxchg': {
      // __update_cpu_freelist_fast(s, freelist, head, tid): this_cpu_try_cmpxchg128() of
      // (c->freelist, c->tid) from what was read to (x, next_tid(tid)).
      const b = slabOf(parseObj(loc.x));
      const slab = pc.slabs[b];
      const cas = `this_cpu_cmpxchg(${cacheOf(b)} c->freelist, c->tid: ${loc.head}, ${loc.tid} -> ${loc.x}, ${loc.tid + 1})`;
      if (slab.head === loc.head && slab.tid === loc.tid)
        return step(`${me}${cas}`, (next) => {
          const sl = next.pcpu[c].slabs[b];
          sl.head = loc.x;
          sl.tid = loc.tid + 1;
          advance(next.kernel, c, { ...loc, x: NULL });
        });
      return step(`${me}${cas} fails (now ${slab.head}, ${slab.tid}): note_cmpxchg_failure(); goto redo`, (next) => setPc(next.kernel, c, 'kf'));
    }
    case 'kf.lock': {
      const b = slabOf(parseObj(loc.x));
      return lockStep(s, p, cfg, c, me, step, b, 'kf.write', (next) => {
        advance(next.kernel, c, { ...loc, x: NULL });
        deferFree(next, loc.x);
      });
    }
    case 'kf.write': {
      const b = slabOf(parseObj(loc.x));
      const head = pc.slabs[b].head;
      // RT, under the lock: `if (unlikely(slab != c->slab)) { local_unlock(...); goto redo; }`
      if (!pc.slabs[b].current)
        return step(`${me}slab != c->slab: local_unlock_irqrestore(${cacheOf(b)}); goto redo`, (next) => {
          localUnlock(next.kernel, cfg, c, cacheOf(b));
          setPc(next.kernel, c, 'kf');
        });
      return step(`${me}set_freepointer(${loc.x}, ${head}); c->freelist = ${loc.x}; local_unlock_irqrestore(${cacheOf(b)})`, (next) => {
        localUnlock(next.kernel, cfg, c, cacheOf(b));
        advance(next.kernel, c, { ...loc, x: NULL });
        setWord(next, loc.x, head);
        next.pcpu[c].slabs[b].head = loc.x;
      });
    }
    default:
      throw new Error(`cpu${c}: unknown pc ${fr.pc}`);
  }
}

/**
 * local_lock_cpu_slab(): !RT local_trylock_irqsave() (it cannot fail where the gate let us in;
 * in the no-is-locked-check variant the NMI never gets here, it takes the lockless fast path);
 * RT local_lock_irqsave(), an rt_spin_lock that sleeps while another task holds it; the
 * rt-nmi-trylock variant in NMI/hardirq: rt_spin_trylock, and `failed` when it fails.
 */
function lockStep(s: State, p: P, cfg: KernelConfig, c: number, me: string, step: Step, b: number, to: string, failed: (next: Next) => void): void {
  const k = s.kernel;
  const cache = cacheOf(b);
  const name = perCpuLockName(cache, c);
  const fr = top(k, c);
  if (rtIrqTrylock(k, cfg, c, p.variant)) {
    const opts = { irqsave: true, bypassIrqGuard: true };
    if (canTrylock(k, cfg, c, name, opts))
      return step(`${me}local_trylock_irqsave(${cache}) -> rt_spin_trylock succeeds`, (next) => {
        localTrylock(next.kernel, cfg, c, cache, opts);
        setPc(next.kernel, c, to);
      });
    // the failed trylock leaves only its splat
    return step(`${me}local_trylock_irqsave(${cache}) -> rt_spin_trylock fails`, (next) => {
      localTrylock(next.kernel, cfg, c, cache, opts);
      failed(next);
    });
  }
  if (!cfg.rt) {
    if (!canTrylock(k, cfg, c, name, { irqsave: true })) throw new Error(`${contextName(k, c)}: local_trylock_irqsave(${cache}) failed behind the is_locked() gate`);
    return step(`${me}local_lock_irqsave(${cache})`, (next) => {
      localTrylock(next.kernel, cfg, c, cache, { irqsave: true });
      setPc(next.kernel, c, to);
    });
  }
  if (fr.waiting === name) {
    if (!canAcquire(k, cfg, c, name)) return;
    return step(`${me}local_lock_irqsave(${cache}): acquires it`, (next) => {
      localLock(next.kernel, cfg, c, cache, { irqsave: true });
      setPc(next.kernel, c, to);
    });
  }
  if (canAcquire(k, cfg, c, name))
    return step(`${me}local_lock_irqsave(${cache})`, (next) => {
      localLock(next.kernel, cfg, c, cache, { irqsave: true });
      setPc(next.kernel, c, to);
    });
  const holder = lockState(k, name).holders[0];
  return step(`${me}local_lock_irqsave(${cache}): held by ${describeHolder(k, holder)} -> waits`, (next) => void localLock(next.kernel, cfg, c, cache, { irqsave: true }));
}

// ---- what the properties see
function forEachFrame(k: Kernel, f: (fr: Frame, cpu: number, field: string) => void): void {
  k.cpus.forEach((cpu, c) => {
    cpu.frames.forEach((fr, d) => f(fr, c, `kernel.cpus[${c}].frames[${d}]`));
    cpu.parked.forEach((fs, i) => fs.forEach((fr, d) => f(fr, c, `kernel.cpus[${c}].parked[${i}][${d}]`)));
  });
}

function census(s: State): SlabCensus {
  const objects = allObjects(s.pcpu.length);
  const places: ObjectPlace[] = [];
  const problems: { message: string; fields: string[] }[] = [];
  s.pcpu.forEach((pc, c) => {
    pc.slabs.forEach((slab, i) => {
      const field = `pcpu[${c}].slabs[${i}]`;
      const seen = new Set<string>();
      for (let o = slab.head; o !== NULL; ) {
        const id = parseObj(o);
        if (id.cpu !== c || slabOf(id) !== i) {
          problems.push({ message: `cpu${c} ${cacheOf(i)} c->freelist reaches ${o}, an object of another slab`, fields: [`${field}.head`, `${field}.next`] });
          break;
        }
        if (seen.has(o)) {
          problems.push({ message: `cpu${c} ${cacheOf(i)} c->freelist is a cycle through ${o}`, fields: [`${field}.head`, `${field}.next`] });
          break;
        }
        seen.add(o);
        places.push({ obj: o, where: `cpu${c} ${cacheOf(i)} c->freelist`, field: `${field}.head` });
        o = slab.next[id.slot];
      }
      for (const o of slab.freed) places.push({ obj: o, where: `cpu${c} ${cacheOf(i)} slab->freelist`, field: `${field}.freed` });
    });
    const deferred = deferredList(s, c);
    if (deferred.cycle !== null) problems.push({ message: `cpu${c}'s deferred llist is a cycle through ${deferred.cycle}`, fields: [`pcpu[${c}].deferred`] });
    for (const o of deferred.objects) places.push({ obj: o, where: `cpu${c} deferred list`, field: `pcpu[${c}].deferred` });
    if (pc.stash !== NULL) places.push({ obj: pc.stash, where: `cpu${c} stash (BPF map)`, field: `pcpu[${c}].stash` });
  });
  forEachFrame(s.kernel, (fr, c, field) => {
    const l = fr.data as Locals;
    const ctx = `cpu${c} ${fr.kind === 'task' ? `task ${fr.task}` : fr.kind}`;
    for (const v of ['p', 'x', 'q'] as const) if (l[v] !== NULL) places.push({ obj: l[v], where: ctx, field: `${field}.data.${v}` });
  });
  return { objects, places, problems };
}

/** Each CPU's deferred llist, for the deferred-* properties. */
const deferredLists = (s: State) => s.pcpu.map((_, c) => ({ owner: `cpu${c}`, objects: deferredList(s, c).objects, field: `pcpu[${c}].deferred` }));

/** Every context has finished: A is done, no interrupt or hook runs, and B is done or never woke. */
const finished = (s: State) =>
  s.kernel.cpus.every((c) => c.frames.length === 1 && c.frames[0].pc === 'done' && c.parked.every((fs) => fs.at(-1)!.pc === 'done' || fs.at(-1)!.pc === 'pd'));

const params = {
  cpus: int(2, { min: 2, max: 3, doc: 'number of CPUs: cpu0 allocates and is interrupted, each other CPU frees one of cpu0\'s objects' }),
  rt: bool(false, 'CONFIG_PREEMPT_RT: the per-CPU lock is an rt_spin_lock; hooks and a second, preempting task join'),
  nmi: bool(true, 'the BPF program runs from an NMI on cpu0 (false: only the task-context callers, to see a bug the NMI would hide behind a shorter one)'),
  variant: oneOf(VARIANTS, 'v6.18.y', 'which kmalloc_nolock()/kfree_nolock() to check (see the model file)'),
};
type P = ParamValues<typeof params>;

function init(p: P, draft: Next): void {
  const cfg = kernelConfig({ rt: p.rt });
  const k = initKernel<Locals>(
    Array.from({ length: p.cpus }, (_, c) =>
      c === 0
        ? {
            task: 'A',
            pc: 'km',
            data: newLocals(),
            parked: cfg.rt ? [{ task: 'B', pc: 'pd', data: newLocals() }] : [],
            budget: cfg.rt ? { nmi: p.nmi ? 1 : 0, hook: 1 } : { nmi: p.nmi ? 1 : 0 },
          }
        : { task: 'R', pc: 'kf', data: newLocals({ q: remoteObj(c) }) },
    ),
  );
  for (const size of SIZES) declarePerCpuLock(k, `kmalloc-${size}`, 'local_trylock_t');
  const o = (size: number, slot: number) => objName({ cpu: 0, size, slot });
  const emptySlab = () => ({ current: false, head: NULL, tid: 0, next: [], freed: [] });
  draft.kernel = k;
  draft.pcpu = Array.from({ length: p.cpus }, (_, c) =>
    c === 0
      ? {
          slabs: [
            { current: true, head: o(64, 0), tid: 0, next: Array.from({ length: p.cpus + 1 }, () => NULL), freed: [] },
            { current: true, head: o(128, 0), tid: 0, next: [o(128, 1), NULL], freed: [] },
          ],
          deferred: NULL,
          irqWork: false,
          stash: o(64, 1),
        }
      : { slabs: [emptySlab(), emptySlab()], deferred: NULL, irqWork: false, stash: NULL },
  );
}

/** The allocation call a step ends, read off the acting CPU's frames before and after. */
function allocReturn(before: State, step: { lane: string }, after: State) {
  const c = Number(step.lane.slice(3));
  const fb = top(before.kernel, c);
  const lb = fb.data as Locals;
  if (opOf(fb)?.kind !== 'kmalloc') return null;
  const d = before.kernel.cpus[c].frames.length - 1;
  const fa = after.kernel.cpus[c].frames[d];
  if (!fa || fa.task !== fb.task || fa.kind !== fb.kind) return null;
  const la = fa.data as Locals;
  if (la.op === lb.op) return null;
  const held = [...after.kernel.locks.values()].filter((l) => l.holders.some((h) => h.cpu === c && h.depth === d && h.task === fa.task)).map((l) => l.name);
  return {
    who: contextName(after.kernel, c, d),
    result: la.p === NULL ? null : la.p,
    took: la.took,
    locksHeld: held,
    fields: [`kernel.cpus[${c}].frames[${d}].data`],
  };
}

/** What the kernel facts say about each variant, !RT and RT; the checker must find exactly these. */
const VERDICTS: readonly { variant: Variant; nonRt: string[]; nonRtNote: string; rt: string[]; rtNote: string }[] = [
  {
    variant: 'v6.18.y',
    nonRt: [],
    nonRtNote: 'an NMI inside the irq-saved region sees local_lock_is_locked() and moves to the next bucket, or defers the free',
    rt: ['wait-context', 'no-sleep-in-atomic', 'no-deadlock'],
    rtNote:
      "finding: kfree_nolock() has no RT context gate, so the NMI's free of an object in cpu0's current slab finds the lock free, or held by a task that is not current, and takes the rt_spin_lock in NMI (4 steps); held by the preempted A, the NMI waits on it forever",
  },
  {
    variant: 'v6.18',
    nonRt: [],
    nonRtNote: 'the RT gate is not compiled in: same code as 6.18.y',
    rt: ['wait-context', 'no-sleep-in-atomic', 'no-deadlock'],
    rtNote: "the free side as in 6.18.y; and kmalloc_nolock()'s in_nmi() || in_hardirq() gate lets B, preemption off, sleep on the lock the preempted A holds (seen with nmi=false)",
  },
  {
    variant: 'gated-free',
    nonRt: [],
    nonRtNote: 'an NMI inside the irq-saved region sees local_lock_is_locked() and moves to the next bucket, or defers the free',
    rt: [],
    rtNote:
      'NMIs and non-preemptible callers get NULL or defer; a hook inside the locked region sees owner == current and moves on; a preemptible task sleeps on the lock a preempted one holds',
  },
  {
    variant: 'no-is-locked-check',
    nonRt: ['freelist-integrity'],
    nonRtNote: "local_irq_save() does not mask NMIs: the NMI pops c->freelist between the task's read and write, and the task hands out the same object again",
    rt: ['no-self-deadlock', 'no-deadlock'],
    rtNote: 'a hook inside the locked region takes the rt_spin_lock its own task holds and waits for itself',
  },
  {
    variant: 'rt-nmi-trylock',
    nonRt: [],
    nonRtNote: 'the variant changes only PREEMPT_RT code',
    rt: ['trylock-context'],
    rtNote: 'on RT the per-CPU lock is an rt_mutex: rt_spin_trylock from NMI would record the interrupted task as owner (local_trylock refuses there); lockdep exempts trylocks, so no Invalid wait context',
  },
  {
    variant: 'no-deferred-drain',
    nonRt: ['deferred-drained', 'deferred-freed'],
    nonRtNote: 'without the irq_work a deferred object is never freed',
    rt: ['deferred-drained', 'deferred-freed'],
    rtNote: 'without the irq_work a deferred object is never freed',
  },
];

export default defineModel({
  name: 'kfree-nolock',
  description: 'kmalloc_nolock()/kfree_nolock(): NMIs and hooks re-entering the per-CPU slab, local_lock_is_locked(), the deferred free list (!RT and PREEMPT_RT)',
  params,
  state: schema,
  init,
  transitions,
  isEndState: finished,
  // No `symmetry`. With three CPUs cpu1 and cpu2 are interchangeable (each frees one of cpu0's
  // objects), but a schema model's symmetry names a universe that mc renames wholesale, and none
  // fits: the universe `cpu` that indexes kernel.cpus and pcpu also holds cpu0, which is not
  // interchangeable, and the swap must also rename what mc cannot: the texts that name CPUs
  // (the per-CPU lock map's keys and lock names, `kmalloc-64@cpu1`, and splat messages) and the
  // CPU numbers the kernel layer keeps as ints (a lock's and a holder's `cpu`). Before the port
  // to a schema a hand-written permute did it; test/models/kfree_nolock.test.ts still checks on
  // the reachable states that the swap is a symmetry of the model.
  lanes: (p) => Array.from({ length: p.cpus }, (_, c) => `cpu${c}`),
  properties: [
    freelistIntegrity<State, P>((s) => census(s)),
    ...waitContextProperties<State, P>((s) => s.kernel),
    deferredDrained<State, P>(deferredLists, { finished }),
    deferredFreed<State, P>(deferredLists),
    allocSucceedsOrNull<State, P>(allocReturn),
  ],
  expectations: [
    // Without the NMI only kmalloc_nolock()'s gate is left to tell the versions apart: the bug
    // 99a3e3a1cfc9 fixed is 6.18.0's, and 6.18.y holds.
    {
      params: { variant: 'v6.18', rt: true, nmi: false },
      violated: ['no-sleep-in-atomic'],
      note: 'is_locked() is owner == current: B, preemption off, sees false while the preempted A owns the lock, passes the in_nmi() || in_hardirq() gate and sleeps on the rt_spin_lock',
    },
    { params: { variant: 'v6.18.y', rt: true, nmi: false }, violated: [], note: "99a3e3a1cfc9's !preemptible() gate: B, preemption off, gets NULL" },
    ...[2, 3].flatMap((cpus) =>
    VERDICTS.flatMap((v) =>
      ([false, true] as const).map((rt) => ({
        params: cpus === 2 ? { variant: v.variant, rt } : { variant: v.variant, rt, cpus },
        violated: rt ? v.rt : v.nonRt,
        note: rt ? v.rtNote : v.nonRtNote,
        // 84,640 states in full (about 25 s): the NMI runs its whole program under the lock.
        // The violation is 3 steps deep; the other properties are checked on the first 25,000 states.
        ...(cpus === 3 && rt && v.variant === 'rt-nmi-trylock' ? { bounds: { maxStates: 25_000 } } : {}),
      })),
    ),
  )],
});

// exported for the tests
export { census, init, newLocals, objName, parseObj, schema, type Locals, type State };
