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
// cpu1 and cpu2 are interchangeable (symmetry); cpu0 is not.
//
// What the code does (mm/slub.c, in the model's terms):
// - kmalloc_nolock(size): PREEMPT_RT and not preemptible (NMI, hardirq, preemption or irqs
//   off: 6.18's gate) → NULL. If local_lock_is_locked(this bucket's lock) → -EBUSY: retry once
//   in the next bucket, then NULL (the in_nmi() gate in kmalloc_nolock and the same check in
//   __slab_alloc for re-entry from hooks; !RT: this CPU's `acquired` flag, RT: owner == current).
//   Else take an object: the task runs the irq-saved slow path (___slab_alloc: lock, read
//   c->freelist, write c->freelist = next, unlock); an NMI on !RT runs the lockless fast path
//   (one this_cpu_cmpxchg). On RT everything is under the per-CPU lock (no lockless fast path).
// - kfree_nolock(x): x not in this CPU's current slab → defer. PREEMPT_RT and not preemptible
//   → defer. (in NMI, or RT) and the bucket lock is_locked → defer. Else !RT: one cmpxchg push
//   onto c->freelist; RT: under the per-CPU lock. Defer = llist_add() on the per-CPU list and,
//   when the list was empty, irq_work_queue().
// - The per-CPU lock is taken as the LOCKDEP build does: on !RT local_trylock_irqsave() (a
//   local_lock_irqsave() from NMI would be a lockdep false positive), on RT local_lock_irqsave()
//   (rt_spin_lock, may sleep).
//
// Variants (buggy ones reproduce what the review feared):
//   upstream             holds everything, !RT and RT.
//   no-is-locked-check   no local_lock_is_locked() check: on !RT an NMI inside the task's
//                        irq-saved region pops the same c->freelist the task has half-updated
//                        (freelist-integrity); on RT a hook inside the locked region takes the
//                        rt_spin_lock its own task holds (no-self-deadlock, no-deadlock).
//   rt-nmi-trylock       on RT, no early NULL in NMI/hardirq: the per-CPU lock is trylocked
//                        there (rt_spin_trylock, what local_trylock() refuses): wait-context.
//   no-deferred-drain    defer_free() never queues the irq_work: a deferred object is never
//                        freed (deferred-drained).
//   rt-assumes-unlocked  on RT the gate is only in_nmi() || in_hardirq(): task B, preemption
//                        off, sees is_locked() false (A, preempted, owns the lock, not B), takes
//                        the blocking path and sleeps in atomic context (no-sleep-in-atomic).
//                        (Later kernels relaxed 6.18's !preemptible() gate to this one once the
//                        RT path stopped blocking; the variant relaxes it and keeps the blocking
//                        local_lock_irqsave.)
//
// Not modelled, and what that means:
// - A new slab when c->freelist is empty (alloc_pages_nolock, n->list_lock trylock): an empty
//   freelist makes kmalloc_nolock return NULL. Bugs that need a slab refill are out of reach.
// - The !RT task's lockless fast path and the NMI's irq-saved slow path: the hazard the
//   is_locked() gate exists for is an interrupt finding the freelist half-updated inside the
//   slow path, so the task always takes the slow path and the NMI the fast path.
// - __slab_free()'s list_lock and slab discarding: a remote free is one atomic push onto the
//   slab's own freelist.
// - Hardirqs other than the irq_work, softirqs, and hooks on !RT (___slab_alloc is NOKPROBE and
//   has no tracepoint inside its irq-saved region, so a hook never finds the lock taken there;
//   the NMI covers every arrival point a hook would have).
// - On RT, hooks outside a locked region and B waking while A holds no slab lock: there they
//   are ordinary task-context callers that find every lock free (A itself is one), so they are
//   left out to keep the state space small; a bug that needs them is out of reach.
// - Interrupts, hooks and allocations on cpu1 and cpu2: they only free. The CPUs share nothing
//   but cpu0's slab->freelist, so more activity there would multiply states, not behaviours.
// - NMI and hook budgets of one each, nesting of at most two frames above the task.
// - Assumed from the allocation side, not confirmed in the source we read: kfree_nolock() on RT
//   where it may not sleep defers (llist_add is safe anywhere) instead of taking the lock.
import { List, Record } from 'immutable';
import { bool, defineModel, int, oneOf, type ParamValues, type Symmetry, type Transition } from '../src/index.ts';
import {
  atomicReasons,
  canEnterHook,
  canInterrupt,
  canSchedule,
  contextName,
  declarePerCpuLock,
  enterHook,
  Frame,
  inHardirq,
  initKernel,
  inNmi,
  interrupt,
  Kernel,
  kernelConfig,
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
  top,
  updateTop,
  waitContextProperties,
  canAcquire,
  describeHolder,
  type KernelConfig,
} from '../src/kernel/index.ts';
import { allocSucceedsOrNull, deferredDrained, freelistIntegrity, type ObjectPlace, type SlabCensus } from '../properties/slab.ts';

const VARIANTS = ['upstream', 'no-is-locked-check', 'rt-nmi-trylock', 'no-deferred-drain', 'rt-assumes-unlocked'] as const;
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

// ---- state
/** One slab: c->freelist's head (for the CPU's current slabs), each slot's free pointer, and slab->freelist (remote frees). */
const Slab = Record({ head: NULL, next: List<string>(), freed: List<string>() }, 'Slab');
type Slab = ReturnType<typeof Slab>;
const Percpu = Record(
  {
    slabs: List<Slab>(),
    /** The llist of defer_free(), newest first. */
    deferred: List<string>(),
    /** irq_work_queue() was called and the work has not run yet. */
    irqWork: false,
    /** The BPF program's map element. */
    stash: NULL,
  },
  'Percpu',
);
type Percpu = ReturnType<typeof Percpu>;
/** A context's locals: which operation of its program it is at, and its variables. */
const Locals = Record(
  {
    op: 0,
    /** kmalloc_nolock: the bucket being tried, whether the one retry is used, whether an object was taken. */
    bucket: 0,
    retried: false,
    took: false,
    /** The object kmalloc_nolock returned (or NULL). */
    p: NULL,
    /** kmalloc slow path: c->freelist and its free pointer as read under the lock. */
    head: NULL,
    next: NULL,
    /** kfree_nolock: the object being freed. */
    x: NULL,
    /** Task R on cpu1, cpu2: the object of cpu0's slab it will free. */
    q: NULL,
  },
  'Locals',
);
type Locals = ReturnType<typeof Locals>;
const State = Record({ kernel: Kernel(), pcpu: List<Percpu>() }, 'KfreeNolock');
type State = ReturnType<typeof State>;

// ---- programs
type Op = { readonly kind: 'kmalloc' } | { readonly kind: 'kfree'; readonly what: 'p' | 'q' | 'stash' } | { readonly kind: 'preempt_disable' } | { readonly kind: 'preempt_enable' };
const PROGRAMS: { readonly [name: string]: readonly Op[] } = {
  A: [{ kind: 'kmalloc' }, { kind: 'kfree', what: 'p' }],
  R: [{ kind: 'kfree', what: 'q' }],
  B: [{ kind: 'preempt_disable' }, { kind: 'kmalloc' }, { kind: 'kfree', what: 'p' }, { kind: 'preempt_enable' }, { kind: 'kmalloc' }, { kind: 'kfree', what: 'p' }],
  bpf: [{ kind: 'kmalloc' }, { kind: 'kfree', what: 'stash' }],
};
const FIRST_PC: { readonly [kind in Op['kind']]: string } = { kmalloc: 'km', kfree: 'kf', preempt_disable: 'pd', preempt_enable: 'pe' };
const programOf = (fr: Frame) => PROGRAMS[fr.kind === 'task' ? fr.task : 'bpf'];
const opOf = (fr: Frame) => programOf(fr)[(fr.data as Locals).op];

/** The running frame moves on to the next operation of its program (done / return at the end). */
function advance(k: Kernel, cpu: number, loc: Locals): Kernel {
  const fr = top(k, cpu);
  const prog = programOf(fr);
  const op = loc.op + 1;
  const l = loc.merge({ op, head: NULL, next: NULL, bucket: 0, retried: false, took: prog[op]?.kind === 'kmalloc' ? false : loc.took });
  const pc = op < prog.length ? FIRST_PC[prog[op].kind] : fr.kind === 'task' ? 'done' : 'return';
  return updateTop(k, cpu, (f) => f.set('pc', pc).set('data', l));
}
const setLocals = (k: Kernel, cpu: number, pc: string, loc: Locals) => updateTop(k, cpu, (f) => f.set('pc', pc).set('data', loc));

function who(k: Kernel, cpu: number): string {
  const fr = top(k, cpu);
  return fr.kind === 'task' ? fr.task : fr.kind === 'hook' ? `hook in ${fr.task}` : fr.kind;
}

/** The gate before touching the per-CPU slab from where sleeping is not allowed (PREEMPT_RT only). */
function rtMayNotLock(k: Kernel, cfg: KernelConfig, cpu: number, v: Variant): string | null {
  if (!cfg.rt) return null;
  if (v === 'rt-assumes-unlocked') return inNmi(k, cpu) ? 'in NMI' : inHardirq(k, cpu) ? 'in hardirq' : null;
  if (v === 'rt-nmi-trylock' && (inNmi(k, cpu) || inHardirq(k, cpu))) return null;
  return preemptible(k, cfg, cpu) ? null : atomicReasons(k, cfg, cpu).join(', ');
}

/** Whether this context trylocks the per-CPU lock as rt_spin_trylock (the rt-nmi-trylock variant in NMI/hardirq). */
const rtIrqTrylock = (k: Kernel, cfg: KernelConfig, cpu: number, v: Variant) => cfg.rt && v === 'rt-nmi-trylock' && (inNmi(k, cpu) || inHardirq(k, cpu));

function transitions(s: State, p: P): Transition<State>[] {
  const cfg = kernelConfig({ rt: p.rt });
  const out: Transition<State>[] = [];
  for (let c = 0; c < p.cpus; c++) {
    const lane = `cpu${c}`;
    const k = s.kernel;
    const fr = top(k, c);
    const pc = s.pcpu.get(c)!;
    const step = (label: string, apply: () => State, local = false) => out.push({ lane, label: `${lane}: ${label}`, apply, ...(local ? { local: true } : {}) });
    const me = `${who(k, c)}: `;

    // PREEMPT_RT: task B has the higher priority. It wakes once, at any point where A holds a
    // slab lock and may be preempted, and from then on runs whenever it can: A (and a hook in A)
    // runs only while B sleeps on a lock or after B has finished.
    const parked = k.cpus.get(c)!.parked;
    const runnable = (t: Frame) => t.pc !== 'done' && (t.waiting === null || canAcquire(k, cfg, c, t.waiting));
    const b = parked.find((fs) => fs.first()!.task === 'B')?.last();
    const mustSwitch = b !== undefined && b.pc !== 'pd' && runnable(b);
    const running = k.cpus.get(c)!.frames.first()!.task;
    if (canSchedule(k, cfg, c)) {
      for (const fs of parked) {
        const t = fs.last()!;
        const ok = t.task === 'B' ? runnable(t) && (t.pc !== 'pd' || taskHoldsSlabLock(k, c)) : running === 'B' && !runnable(fr);
        if (ok) step(`schedule: ${fr.task} -> ${t.task}`, () => s.set('kernel', schedule(k, cfg, c, t.task)));
      }
    }

    // The running frame's next step, unless B preempts it now.
    const preempted = mustSwitch && canSchedule(k, cfg, c);
    if (fr.pc !== 'done' && !preempted) runningStep(s, p, cfg, c, me, step);

    // An NMI can arrive anywhere, irqs off included (budget: one per CPU).
    if (canInterrupt(k, cfg, c, 'nmi'))
      step('nmi enters', () => s.set('kernel', interrupt(k, cfg, c, 'nmi', 'km', Locals())));
    // PREEMPT_RT: a tracepoint runs a BPF program in the running task's context, at any of its
    // steps inside a per-CPU slab lock.
    if (cfg.rt && !preempted && taskHoldsSlabLock(k, c) && canEnterHook(k, cfg, c))
      step(`hook enters in ${fr.task}`, () => s.set('kernel', enterHook(k, cfg, c, 'km', Locals())));
    // The irq_work that drains the deferred list.
    if (pc.irqWork && irqWorkCanRun(k, cfg, c)) {
      step(`irq_work: free_deferred_objects: __slab_free(${pc.deferred.join(', ')})`, () => {
        let out = s.setIn(['pcpu', c], pc.merge({ deferred: List<string>(), irqWork: false }));
        for (const x of pc.deferred) {
          const id = parseObj(x);
          out = out.updateIn(['pcpu', id.cpu, 'slabs', slabOf(id), 'freed'], (f) => (f as List<string>).push(x));
        }
        return out;
      });
    }
  }
  return out;
}

/** Whether the running task's own frame (not a hook or interrupt above it) holds a per-CPU slab lock. */
function taskHoldsSlabLock(k: Kernel, cpu: number): boolean {
  const t = k.cpus.get(cpu)!.frames.first()!;
  return k.locks.some((l) => l.cpu === cpu && l.holders.some((h) => h.cpu === cpu && h.depth === 0 && h.task === t.task));
}

/** !RT: the irq_work is a hardirq (irqs on, no NMI running). RT: a per-CPU thread (the CPU may schedule). */
function irqWorkCanRun(k: Kernel, cfg: KernelConfig, cpu: number): boolean {
  const fr = top(k, cpu);
  if (!cfg.rt) return !fr.irqsOff && !inNmi(k, cpu);
  const frames = k.cpus.get(cpu)!.frames;
  return frames.every((f) => f.kind === 'task' || f.kind === 'hook') && (fr.waiting !== null || preemptible(k, cfg, cpu));
}

type Step = (label: string, apply: () => State, local?: boolean) => void;

function runningStep(s: State, p: P, cfg: KernelConfig, c: number, me: string, step: Step): void {
  const k = s.kernel;
  const fr = top(k, c);
  const loc = fr.data as Locals;
  const pc = s.pcpu.get(c)!;
  const withK = (kk: Kernel) => s.set('kernel', kk);
  const checks = p.variant !== 'no-is-locked-check';
  switch (fr.pc) {
    case 'pd':
      return step(`${me}preempt_disable()`, () => withK(advance(preemptDisable(k, c), c, loc)));
    case 'pe':
      return step(`${me}preempt_enable()`, () => withK(advance(preemptEnable(k, c), c, loc)));
    case 'return':
      return step(`${fr.kind} returns`, () => withK(returnFromFrame(k, c)));

    // ---- kmalloc_nolock(size)
    case 'km': {
      const b = loc.bucket;
      const cache = cacheOf(b);
      const call = `kmalloc_nolock(${SIZES[b]})`;
      const gate = loc.retried ? null : rtMayNotLock(k, cfg, c, p.variant);
      if (gate !== null) return step(`${me}${call}: PREEMPT_RT and ${gate} -> NULL`, () => withK(advance(k, c, loc.set('p', NULL))));
      if (checks && localLockIsLocked(k, cfg, c, cache)) {
        if (!loc.retried)
          return step(`${me}${call}: local_lock_is_locked(${cache}) -> -EBUSY, retry in ${cacheOf(b + 1)}`, () => withK(setLocals(k, c, 'km', loc.merge({ bucket: b + 1, retried: true }))), true);
        return step(`${me}${call}: local_lock_is_locked(${cache}) -> -EBUSY -> NULL`, () => withK(advance(k, c, loc.set('p', NULL))));
      }
      const what = checks ? `local_lock_is_locked(${cache}) = false` : 'no local_lock_is_locked() check';
      const next = !cfg.rt && fr.kind !== 'task' ? 'km.fast' : 'km.lock';
      return step(`${me}${call}: ${what}`, () => withK(setLocals(k, c, next, loc)), true);
    }
    case 'km.fast': {
      // !RT NMI: __update_cpu_freelist_fast(), one this_cpu_cmpxchg on (c->freelist, tid).
      const b = loc.bucket;
      const slab = pc.slabs.get(b)!;
      if (slab.head === NULL) return step(`${me}${cacheOf(b)} c->freelist empty -> NULL`, () => withK(advance(k, c, loc.set('p', NULL))));
      const obj = slab.head;
      const nx = slab.next.get(parseObj(obj).slot)!;
      return step(`${me}this_cpu_cmpxchg(${cacheOf(b)} c->freelist: ${obj} -> ${nx}) -> returns ${obj}`, () =>
        withK(advance(k, c, loc.merge({ p: obj, took: true }))).setIn(['pcpu', c, 'slabs', b], slab.set('head', nx)),
      );
    }
    case 'km.lock':
      return lockStep(s, p, cfg, c, me, step, loc.bucket, 'km.read', () =>
        // a trylock that fails: -EBUSY, as if is_locked() had said so
        !loc.retried ? withK(setLocals(k, c, 'km', loc.merge({ bucket: loc.bucket + 1, retried: true }))) : withK(advance(k, c, loc.set('p', NULL))),
      );
    case 'km.read': {
      const b = loc.bucket;
      const slab = pc.slabs.get(b)!;
      if (slab.head === NULL)
        return step(`${me}${cacheOf(b)} c->freelist empty; local_unlock_irqrestore(${cacheOf(b)}) -> NULL`, () => withK(advance(localUnlock(k, cfg, c, cacheOf(b)), c, loc.set('p', NULL))));
      const nx = slab.next.get(parseObj(slab.head).slot)!;
      return step(`${me}object = c->freelist (${slab.head}), next = ${nx}`, () => withK(setLocals(k, c, 'km.write', loc.merge({ head: slab.head, next: nx }))), true);
    }
    case 'km.write': {
      const b = loc.bucket;
      return step(`${me}c->freelist = ${loc.next}; local_unlock_irqrestore(${cacheOf(b)}) -> returns ${loc.head}`, () =>
        withK(advance(localUnlock(k, cfg, c, cacheOf(b)), c, loc.merge({ p: loc.head, took: true }))).setIn(['pcpu', c, 'slabs', b, 'head'], loc.next),
      );
    }

    // ---- kfree_nolock(x)
    case 'kf': {
      const op = opOf(fr) as Extract<Op, { kind: 'kfree' }>;
      const x = op.what === 'p' ? loc.p : op.what === 'q' ? loc.q : pc.stash;
      const taken = op.what === 'p' ? loc.set('p', NULL) : op.what === 'q' ? loc.set('q', NULL) : loc.set('p', NULL);
      const base = op.what === 'stash' ? s.setIn(['pcpu', c, 'stash'], loc.p) : s;
      const call = `${op.what === 'stash' ? `old = xchg(stash, ${loc.p}); ` : ''}kfree_nolock(${x})`;
      const kk = base.kernel;
      if (x === NULL) return step(`${me}${call}: nothing to free`, () => base.set('kernel', advance(kk, c, taken)));
      const o = parseObj(x);
      const b = slabOf(o);
      const defer = (why: string) =>
        step(`${me}${call}: ${why} -> defer_free: llist_add${pc.deferred.isEmpty() && p.variant !== 'no-deferred-drain' ? ', irq_work_queue' : ''}`, () =>
          base
            .set('kernel', advance(kk, c, taken))
            .setIn(['pcpu', c, 'deferred'], pc.deferred.unshift(x))
            .setIn(['pcpu', c, 'irqWork'], pc.irqWork || (pc.deferred.isEmpty() && p.variant !== 'no-deferred-drain')),
        );
      if (o.cpu !== c) return defer(`not in this CPU's current ${cacheOf(b)} slab`);
      const gate = rtMayNotLock(k, cfg, c, p.variant);
      if (gate !== null) return defer(`PREEMPT_RT and ${gate}`);
      if (checks && (inNmi(k, c) || cfg.rt) && localLockIsLocked(k, cfg, c, cacheOf(b))) return defer(`local_lock_is_locked(${cacheOf(b)})`);
      if (!cfg.rt) {
        const slab = pc.slabs.get(b)!;
        return step(`${me}${call}: this_cpu_cmpxchg(${cacheOf(b)} c->freelist: ${slab.head} -> ${x})`, () =>
          base
            .set('kernel', advance(kk, c, taken))
            .setIn(['pcpu', c, 'slabs', b], slab.set('head', x).setIn(['next', o.slot], slab.head)),
        );
      }
      return step(`${me}${call}: ${cacheOf(b)} is this CPU's slab`, () => base.set('kernel', setLocals(kk, c, 'kf.lock', taken.set('x', x))));
    }
    case 'kf.lock': {
      const b = slabOf(parseObj(loc.x));
      return lockStep(s, p, cfg, c, me, step, b, 'kf.write', () =>
        withK(advance(k, c, loc.set('x', NULL)))
          .setIn(['pcpu', c, 'deferred'], pc.deferred.unshift(loc.x))
          .setIn(['pcpu', c, 'irqWork'], pc.irqWork || (pc.deferred.isEmpty() && p.variant !== 'no-deferred-drain')),
      );
    }
    case 'kf.write': {
      const o = parseObj(loc.x);
      const b = slabOf(o);
      const slab = pc.slabs.get(b)!;
      return step(`${me}set_freepointer(${loc.x}, ${slab.head}); c->freelist = ${loc.x}; local_unlock_irqrestore(${cacheOf(b)})`, () =>
        withK(advance(localUnlock(k, cfg, c, cacheOf(b)), c, loc.set('x', NULL))).setIn(['pcpu', c, 'slabs', b], slab.set('head', loc.x).setIn(['next', o.slot], slab.head)),
      );
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
function lockStep(s: State, p: P, cfg: KernelConfig, c: number, me: string, step: Step, b: number, next: string, failed: () => State): void {
  const k = s.kernel;
  const cache = cacheOf(b);
  const name = perCpuLockName(cache, c);
  const fr = top(k, c);
  if (rtIrqTrylock(k, cfg, c, p.variant)) {
    const r = localTrylock(k, cfg, c, cache, { irqsave: true, bypassIrqGuard: true });
    if (r.ok) return step(`${me}local_trylock_irqsave(${cache}) -> rt_spin_trylock succeeds`, () => s.set('kernel', setPc(r.k, c, next)));
    return step(`${me}local_trylock_irqsave(${cache}) -> rt_spin_trylock fails`, () => failed().setIn(['kernel', 'splats'], r.k.splats));
  }
  if (!cfg.rt) {
    const r = localTrylock(k, cfg, c, cache, { irqsave: true });
    if (!r.ok) throw new Error(`${contextName(k, c)}: local_trylock_irqsave(${cache}) failed behind the is_locked() gate`);
    return step(`${me}local_lock_irqsave(${cache})`, () => s.set('kernel', setPc(r.k, c, next)));
  }
  if (fr.waiting === name) {
    if (!canAcquire(k, cfg, c, name)) return;
    return step(`${me}local_lock_irqsave(${cache}): acquires it`, () => s.set('kernel', setPc(localLock(k, cfg, c, cache, { irqsave: true }).k, c, next)));
  }
  const r = localLock(k, cfg, c, cache, { irqsave: true });
  if (r.acquired) return step(`${me}local_lock_irqsave(${cache})`, () => s.set('kernel', setPc(r.k, c, next)));
  const holder = lockState(k, name).holders.first()!;
  return step(`${me}local_lock_irqsave(${cache}): held by ${describeHolder(k, holder)} -> waits`, () => s.set('kernel', r.k));
}

const setPc = (k: Kernel, cpu: number, pc: string) => updateTop(k, cpu, (f) => f.set('pc', pc));

// ---- what the properties see
function forEachFrame(k: Kernel, f: (fr: Frame, cpu: number, field: string) => void): void {
  k.cpus.forEach((cpu, c) => {
    cpu.frames.forEach((fr, d) => f(fr, c, `kernel.cpus[${c}].frames[${d}]`));
    cpu.parked.forEach((fs, i) => fs.forEach((fr, d) => f(fr, c, `kernel.cpus[${c}].parked[${i}][${d}]`)));
  });
}

function census(s: State): SlabCensus {
  const objects = allObjects(s.pcpu.size);
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
        o = slab.next.get(id.slot)!;
      }
      for (const o of slab.freed) places.push({ obj: o, where: `cpu${c} ${cacheOf(i)} slab->freelist`, field: `${field}.freed` });
    });
    for (const o of pc.deferred) places.push({ obj: o, where: `cpu${c} deferred list`, field: `pcpu[${c}].deferred` });
    if (pc.stash !== NULL) places.push({ obj: pc.stash, where: `cpu${c} stash (BPF map)`, field: `pcpu[${c}].stash` });
  });
  forEachFrame(s.kernel, (fr, c, field) => {
    const l = fr.data as Locals;
    const ctx = `cpu${c} ${fr.kind === 'task' ? `task ${fr.task}` : fr.kind}`;
    for (const v of ['p', 'x', 'q'] as const) if (l[v] !== NULL) places.push({ obj: l[v], where: ctx, field: `${field}.data.${v}` });
  });
  return { objects, places, problems };
}

/** Every context has finished: A is done, no interrupt or hook runs, and B is done or never woke. */
const finished = (s: State) =>
  s.kernel.cpus.every((c) => c.frames.size === 1 && c.frames.first()!.pc === 'done' && c.parked.every((t) => t.last()!.pc === 'done' || t.last()!.pc === 'pd'));

// ---- symmetry: cpu1, cpu2 (task R each, freeing one of cpu0's objects) are interchangeable.
// `perm` permutes those lanes (perm[i] = j: cpu(i+1) becomes cpu(j+1)); cpu0 stays. The object a
// remote CPU holds is renamed with it (slot c+1 of cpu0's kmalloc-64 slab belongs to cpu c), so
// that the initial state is its own permutation.
const cpuPermOf = (perm: readonly number[]) => [0, ...perm.map((j) => j + 1)];
const renameCpus = (text: string, cpuPerm: readonly number[]) => text.replace(/cpu(\d+)/g, (_, d) => `cpu${cpuPerm[Number(d)]}`);
function renameObj(o: string, cpuPerm: readonly number[]): string {
  if (o === NULL) return o;
  const id = parseObj(o);
  return id.size === 64 && id.slot >= 2 ? objName({ ...id, slot: cpuPerm[id.slot - 1] + 1 }) : o;
}
function permuteList<T>(l: List<T>, cpuPerm: readonly number[]): List<T> {
  const a: T[] = new Array(l.size);
  l.forEach((x, i) => (a[cpuPerm[i]] = x));
  return List(a);
}
function permuteFrame(f: Frame, cpuPerm: readonly number[]): Frame {
  const l = f.data;
  const data =
    l instanceof Locals
      ? l.merge({ p: renameObj(l.p, cpuPerm), head: renameObj(l.head, cpuPerm), next: renameObj(l.next, cpuPerm), x: renameObj(l.x, cpuPerm), q: renameObj(l.q, cpuPerm) })
      : l;
  return f.merge({ data, waiting: f.waiting === null ? null : renameCpus(f.waiting, cpuPerm) });
}

/** Renames remote CPU i+1 to perm[i]+1 everywhere: per-CPU arrays, lock instances and holders, splats, objects. */
export function permute(s: State, perm: readonly number[]): State {
  const cpuPerm = cpuPermOf(perm);
  if (cpuPerm.length !== s.pcpu.size || [...cpuPerm].sort().some((x, i) => x !== i))
    throw new Error(`permute: [${perm.join(', ')}] is no permutation of the ${s.pcpu.size - 1} remote CPUs`);
  const k = s.kernel;
  const cpus = permuteList(
    k.cpus.map((cpu) => cpu.merge({ frames: cpu.frames.map((f) => permuteFrame(f, cpuPerm)), parked: cpu.parked.map((fs) => fs.map((f) => permuteFrame(f, cpuPerm))) })),
    cpuPerm,
  );
  const locks = k.locks
    .mapEntries(([name, l]) => [
      renameCpus(name, cpuPerm),
      l.merge({ name: renameCpus(l.name, cpuPerm), cpu: l.cpu < 0 ? l.cpu : cpuPerm[l.cpu], holders: l.holders.map((h) => h.set('cpu', cpuPerm[h.cpu])) }),
    ]);
  const splats = k.splats.map((sp) => sp.merge({ cpu: cpuPerm[sp.cpu], message: renameCpus(sp.message, cpuPerm) }));
  const pcpu = permuteList(
    s.pcpu.map((pc) =>
      pc.merge({
        slabs: pc.slabs.map((sl) => {
          // cpu0's kmalloc-64 free pointers are indexed by slot: move them with the slots
          const next = sl.next.map((o) => renameObj(o, cpuPerm));
          const moved = sl.next.size > 2 ? next.map((_, slot) => (slot >= 2 ? next.get(cpuPerm.indexOf(slot - 1) + 1)! : next.get(slot)!)) : next;
          return sl.merge({ head: renameObj(sl.head, cpuPerm), next: moved, freed: sl.freed.map((o) => renameObj(o, cpuPerm)) });
        }),
        deferred: pc.deferred.map((o) => renameObj(o, cpuPerm)),
        stash: renameObj(pc.stash, cpuPerm),
      }),
    ),
    cpuPerm,
  );
  return s.merge({ kernel: k.merge({ cpus, locks, splats }), pcpu });
}

const params = {
  cpus: int(2, { min: 2, max: 3, doc: 'number of CPUs: cpu0 allocates and is interrupted, each other CPU frees one of cpu0\'s objects' }),
  rt: bool(false, 'CONFIG_PREEMPT_RT: the per-CPU lock is an rt_spin_lock; hooks and a second, preempting task join'),
  variant: oneOf(VARIANTS, 'upstream', 'which kmalloc_nolock()/kfree_nolock() to check (see the model file)'),
};
type P = ParamValues<typeof params>;

function init(p: P): State {
  const cfg = kernelConfig({ rt: p.rt });
  let k = initKernel(
    Array.from({ length: p.cpus }, (_, c) =>
      c === 0
        ? {
            task: 'A',
            pc: 'km',
            data: Locals(),
            parked: cfg.rt ? [{ task: 'B', pc: 'pd', data: Locals() }] : [],
            budget: (cfg.rt ? { nmi: 1, hook: 1 } : { nmi: 1 }) as { readonly [kind: string]: number },
          }
        : { task: 'R', pc: 'kf', data: Locals({ q: remoteObj(c) }) },
    ),
  );
  for (const size of SIZES) k = declarePerCpuLock(k, `kmalloc-${size}`, 'local_trylock_t');
  const o = (size: number, slot: number) => objName({ cpu: 0, size, slot });
  const pcpu = List(
    Array.from({ length: p.cpus }, (_, c) =>
      c === 0
        ? Percpu({
            slabs: List([
              Slab({ head: o(64, 0), next: List(Array.from({ length: p.cpus + 1 }, () => NULL)) }),
              Slab({ head: o(128, 0), next: List([o(128, 1), NULL]) }),
            ]),
            stash: o(64, 1),
          })
        : Percpu({ slabs: List([Slab(), Slab()]) }),
    ),
  );
  return State({ kernel: k, pcpu });
}

/** The allocation call a step ends, read off the acting CPU's frames before and after. */
function allocReturn(before: State, step: { lane: string }, after: State) {
  const c = Number(step.lane.slice(3));
  const fb = top(before.kernel, c);
  const lb = fb.data as Locals;
  if (!(lb instanceof Locals) || opOf(fb)?.kind !== 'kmalloc') return null;
  const d = before.kernel.cpus.get(c)!.frames.size - 1;
  const fa = after.kernel.cpus.get(c)!.frames.get(d);
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
    variant: 'upstream',
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
    rt: ['wait-context'],
    rtNote: 'on RT the per-CPU lock is an rt_mutex: rt_spin_trylock from NMI would record the interrupted task as owner (local_trylock refuses there)',
  },
  {
    variant: 'no-deferred-drain',
    nonRt: ['deferred-drained'],
    nonRtNote: 'without the irq_work a deferred object is never freed',
    rt: ['deferred-drained'],
    rtNote: 'without the irq_work a deferred object is never freed',
  },
  {
    variant: 'rt-assumes-unlocked',
    nonRt: [],
    nonRtNote: 'the variant changes only PREEMPT_RT code',
    rt: ['no-sleep-in-atomic'],
    rtNote: 'is_locked() is owner == current: with the lock held by a preempted task it says false, and rt_spin_lock sleeps with preemption off',
  },
];

export default defineModel({
  name: 'kfree-nolock',
  description: 'kmalloc_nolock()/kfree_nolock(): NMIs and hooks re-entering the per-CPU slab, local_lock_is_locked(), the deferred free list (!RT and PREEMPT_RT)',
  params,
  init,
  transitions,
  isEndState: finished,
  lanes: (p) => Array.from({ length: p.cpus }, (_, c) => `cpu${c}`),
  symmetry: (p): Symmetry<State> | undefined =>
    p.cpus > 2 ? { lanes: Array.from({ length: p.cpus - 1 }, (_, i) => `cpu${i + 1}`), permute } : undefined,
  properties: [
    freelistIntegrity<State, P>((s) => census(s)),
    ...waitContextProperties<State, P>((s) => s.kernel),
    deferredDrained<State, P>((s) => s.pcpu.map((pc, c) => ({ owner: `cpu${c}`, objects: pc.deferred.toArray(), field: `pcpu[${c}].deferred` })).toArray(), {
      finished,
    }),
    allocSucceedsOrNull<State, P>(allocReturn),
  ],
  expectations: [2, 3].flatMap((cpus) =>
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
  ),
});

// exported for the tests
export { census, init, Locals, parseObj, State };
