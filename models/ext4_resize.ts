// ext4 online resize replaces the array of group-descriptor buffer heads (sbi->s_group_desc)
// that block allocation reads under RCU (seed 004; bugzilla 206443; fs/ext4/resize.c
// add_new_gdb(), fs/ext4/balloc.c ext4_get_group_desc()).
//
// Readers (cpu0 … cpu{readers-1}), as patched balloc.c does:
//     rcu_read_lock(); bh = rcu_dereference(sbi->s_group_desc)[i]; rcu_read_unlock();
// split into its three visible steps (load the array pointer, read the element, unlock).
// The resizer (the last CPU), per resize, in process context that may sleep:
//     n = kvmalloc(); memcpy(n, o); rcu_assign_pointer(sbi->s_group_desc, n); <free o>
// where <free o> is the variant:
// - kvfree-immediately: kvfree(o) (before the fix).
// - synchronize-then-free: synchronize_rcu(); kvfree(o) (the first proposed patch).
// - kvfree-array-rcu: ext4_kvfree_array_rcu(o): kzalloc a wrapper {ptr, rcu_head}; on success
//   call_rcu(wrapper, ext4_rcu_ptr_callback) which kvfree()s the array and kfree()s the
//   wrapper after a grace period; on failure synchronize_rcu(); kvfree(to_free).
// - kvfree-array-rcu-wrong-pointer: the first version of that patch, whose fallback ended in
//   kvfree(ptr) — the NULL wrapper — instead of kvfree(to_free): the array leaks.
// The wrapper's kzalloc(GFP_KERNEL) may fail: both outcomes are explored.
import { bool, defineModel, int, oneOf, t, type ParamValues, type StateOf, type Transition } from '../src/index.ts';
import {
  access,
  allocate,
  alt,
  either,
  END,
  program,
  programTransitions,
  step,
  type At,
  type Into,
  callRcu,
  free,
  gpTransitions,
  initKernel,
  kernelConfig,
  kernelType,
  memoryType,
  publish,
  RCU_LANE,
  rcuDereference,
  rcuReadLock,
  rcuReadUnlock,
  readyCallback,
  synchronizeRcuBegin,
  synchronizeRcuDone,
  synchronizeRcuEnd,
  runRcuCallback,
} from '../src/kernel/index.ts';
import { noDoubleFree, noLeakAtQuiescence, rcuNoUseAfterFree, synchronizeRcuLegal } from '../properties/rcu.ts';

const VARIANTS = ['kvfree-immediately', 'synchronize-then-free', 'kvfree-array-rcu', 'kvfree-array-rcu-wrong-pointer'] as const;

const params = {
  variant: oneOf(VARIANTS, 'kvfree-immediately', 'how resize frees the old s_group_desc array'),
  readers: int(1, { min: 1, max: 3, doc: 'CPUs running ext4_get_group_desc()' }),
  lookups: int(1, { min: 1, max: 3, doc: 'lookups per reader' }),
  resizes: int(1, { min: 1, max: 3, doc: 'add_new_gdb() calls (each replaces the array)' }),
  wrapperFails: bool(true, 'whether the wrapper kzalloc() may fail (explores both outcomes when true)'),
};
type P = ParamValues<typeof params>;

const arr = (k: number) => `arr${k}`;
const wrapper = (k: number) => `wrapper${k}`;
const SLOT = 's_group_desc';

const schema = (p: P) => {
  /** A reader's locals: the array pointer it loaded (while it holds one), and its lookups done. */
  const reader = t.struct({
    arr: t.optional(t.enum(Array.from({ length: p.resizes + 1 }, (_, k) => arr(k)))),
    lookups: t.int(0, p.lookups),
  });
  return t.struct({
    readers: t.array(reader, p.readers),
    /** Resizes done. */
    resize: t.int(0, p.resizes),
    // One CPU per reader and one for the resizer, each running its task frame only (its pc is
    // the program's; the kernel's RCU readers are those frames); one wrapper callback per resize.
    kernel: kernelType({ cpus: p.readers + 1, maxNesting: 0, locals: t.optional(t.bool()), locks: 1, rcu: { callbacks: p.resizes, frees: 2 } }),
    // Objects: arr0 … arr{resizes} and a wrapper per resize. Faults: a use after free per lookup
    // at most, and each free of an array or a wrapper could be a second one.
    mem: memoryType({ objects: 2 * p.resizes + 1, slots: 1, faults: p.readers * p.lookups + 2 * p.resizes }),
  });
};
type State = StateOf<typeof schema>;

type A = At<State, P>;
const ctxOf = (a: A) => `cpu${a.cpu}/task`;

/** ext4_get_group_desc(), as patched balloc.c does, `lookups` times. */
const reader = program<State, P>('reader', [
  step('lock', 'rcu_read_lock()', (o, a) => rcuReadLock(o.k, a.cpu), { when: (a) => a.s.readers[a.cpu].lookups < a.p.lookups }),
  step('deref', 'o = rcu_dereference(s_group_desc)', (o, a) => void (o.d.readers[a.cpu].arr = rcuDereference(o.d.mem, o.k, a.cpu, SLOT))),
  step(
    'use',
    (a) => `bh = ${a.s.readers[a.cpu].arr}[i]; rcu_read_unlock()`,
    (o, a) => {
      const r = a.s.readers[a.cpu];
      access(o.d.mem, r.arr!, ctxOf(a));
      rcuReadUnlock(o.k, a.cpu);
      o.d.readers[a.cpu] = { arr: null, lookups: r.lookups + 1 };
    },
    { goto: 'lock' },
  ),
]);

/** add_new_gdb(), `resizes` times; the old array's free is the variant. */
const old = (a: A) => arr(a.s.resize);
const nextResize = (o: Into<State>, a: A) => ((o.d.resize = a.s.resize + 1), a.s.resize + 1 < a.p.resizes ? 'alloc' : END);
const resizer = program<State, P>('resizer', [
  step('alloc', (a) => `n = kvmalloc() → ${arr(a.s.resize + 1)}`, (o, a) => allocate(o.d.mem, arr(a.s.resize + 1))),
  step('publish', (a) => `rcu_assign_pointer(s_group_desc, ${arr(a.s.resize + 1)})`, (o, a) => {
    publish(o.d.mem, SLOT, arr(a.s.resize + 1));
    return a.p.variant === 'kvfree-immediately' ? 'free' : a.p.variant === 'synchronize-then-free' ? 'sync' : 'wrapper';
  }),
  step('free', (a) => `kvfree(${old(a)})`, (o, a) => (free(o.d.mem, old(a), ctxOf(a)), nextResize(o, a))),
  either(
    'wrapper',
    alt(
      (a) => `kzalloc(wrapper) → ${wrapper(a.s.resize)}; call_rcu(${wrapper(a.s.resize)})`,
      (o, a) => {
        allocate(o.d.mem, wrapper(a.s.resize));
        callRcu(o.k.rcu, `ext4_rcu_ptr_callback(${wrapper(a.s.resize)})`, [arr(a.s.resize), wrapper(a.s.resize)]);
        return nextResize(o, a);
      },
    ),
    alt('kzalloc(wrapper) fails', undefined, { when: (a) => a.p.wrapperFails, goto: 'sync' }),
  ),
  step('sync', 'synchronize_rcu()', (o, a) => synchronizeRcuBegin(o.k, a.cfg, a.cpu)),
  step('sync-wait', 'synchronize_rcu() returns', (o, a) => synchronizeRcuEnd(o.k, a.cpu), { when: (a) => synchronizeRcuDone(a.k, a.cpu) }),
  either(
    'free-after-sync',
    alt('kvfree(ptr = NULL)', (o, a) => (free(o.d.mem, null, ctxOf(a)), nextResize(o, a)), { when: (a) => a.p.variant === 'kvfree-array-rcu-wrong-pointer' }),
    alt((a) => `kvfree(${old(a)})`, (o, a) => (free(o.d.mem, old(a), ctxOf(a)), nextResize(o, a)), { when: (a) => a.p.variant !== 'kvfree-array-rcu-wrong-pointer' }),
  ),
]);

function transitions(s: State, p: P): Transition<State>[] {
  const cfg = kernelConfig({ rt: false, maxNesting: 0 });
  const out: Transition<State>[] = programTransitions(s, p, cfg, { kernel: (x) => x.kernel, draft: (d) => d.kernel, programOf: (_fr, cpu) => (cpu < p.readers ? reader : resizer) });
  const lane = `cpu${p.readers}`;
  // RCU callbacks run in softirq on the resizer's CPU: ext4_rcu_ptr_callback() kvfree()s the
  // array the wrapper points at, then kfree()s the wrapper.
  const cb = readyCallback(s.kernel.rcu);
  if (cb)
    out.push({
      lane,
      label: `${lane}: ${cb.name}: kvfree(${cb.frees[0]}); kfree(${cb.frees[1]})`,
      apply: (d) => void runRcuCallback(d.kernel.rcu, d.mem, `${lane}/softirq`),
    });
  out.push(...gpTransitions(s, (x) => x.kernel, (d) => d.kernel));
  return out;
}

export default defineModel({
  name: 'ext4-resize',
  description: 'ext4 online resize replaces s_group_desc while readers dereference it under RCU (bugzilla 206443)',
  params,
  state: schema,
  init: (p, d) => {
    d.kernel = initKernel<boolean | null>(Array.from({ length: p.readers + 1 }, () => ({})));
    allocate(d.mem, arr(0));
    publish(d.mem, SLOT, arr(0));
  },
  transitions,
  isEndState: (s, p) =>
    s.kernel.cpus[p.readers].frames[0].pc === END && s.readers.every((r) => r.arr === null && r.lookups === p.lookups) && s.kernel.rcu.callbacks.length === 0,
  lanes: (p) => [...Array.from({ length: p.readers + 1 }, (_, i) => `cpu${i}`), RCU_LANE],
  properties: [
    rcuNoUseAfterFree<State, P>((s) => s.mem, 'mem'),
    noDoubleFree<State, P>((s) => s.mem, 'mem'),
    noLeakAtQuiescence<State, P>((s) => s.mem, 'mem'),
    // The resizer runs in process context holding no spinlock: it may sleep.
    synchronizeRcuLegal<State, P>((s) => s.kernel, 'kernel', () => kernelConfig({ rt: false })),
  ],
  expectations: [
    {
      params: { variant: 'kvfree-immediately' },
      violated: ['rcu-no-use-after-free'],
      note: 'a reader that loaded the old array reads it after resize freed it (bugzilla 206443)',
    },
    { params: { variant: 'synchronize-then-free' }, note: 'the free waits for every reader that could hold the old array' },
    { params: { variant: 'kvfree-array-rcu' }, note: 'call_rcu on a wrapper, synchronize_rcu + kvfree(to_free) when the wrapper allocation fails' },
    {
      params: { variant: 'kvfree-array-rcu-wrong-pointer' },
      violated: ['no-leak-at-quiescence'],
      note: 'the fallback frees the NULL wrapper instead of the array ("that last statement should be kvfree(to_free)")',
    },
  ],
});
