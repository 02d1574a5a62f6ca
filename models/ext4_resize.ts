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
import { List, Record } from 'immutable';
import { bool, defineModel, int, oneOf, type ParamValues, type Transition } from '../src/index.ts';
import {
  access,
  allocate,
  callRcu,
  free,
  gpTransitions,
  memoryInit,
  publish,
  RCU_LANE,
  rcuDereference,
  rcuInit,
  readLock,
  readUnlock,
  readyCallback,
  synchronizeRcuBegin,
  synchronizeRcuDone,
  synchronizeRcuEnd,
  takeCallback,
  type Memory,
  type Rcu,
} from '../src/kernel/index.ts';
import { noDoubleFree, noLeakAtQuiescence, rcuNoUseAfterFree, synchronizeRcuLegal } from '../properties/rcu.ts';

const VARIANTS = ['kvfree-immediately', 'synchronize-then-free', 'kvfree-array-rcu', 'kvfree-array-rcu-wrong-pointer'] as const;

/** A reader: `pc` 0 before rcu_read_lock, 1 in the section, 2 holding the array pointer `arr`. */
const Reader = Record({ pc: 0, arr: null as string | null, lookups: 0 }, 'Reader');
type Reader = ReturnType<typeof Reader>;

/**
 * The resizer's program counter within one resize:
 * alloc → publish → free (variant-specific: free, wrapper, sync, sync-wait, free-after-sync) → next resize.
 */
type ResizerPc = 'alloc' | 'publish' | 'free' | 'wrapper' | 'sync' | 'sync-wait' | 'free-after-sync' | 'done';
const Resizer = Record({ pc: 'alloc' as ResizerPc, resize: 0 }, 'Resizer');

const State = Record(
  {
    readers: List<Reader>(),
    resizer: Resizer(),
    rcu: rcuInit(),
    mem: memoryInit(),
  },
  'Ext4Resize',
);
type State = ReturnType<typeof State>;

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

function transitions(s: State, p: P): Transition<State>[] {
  const out: Transition<State>[] = [];
  s.readers.forEach((r, i) => {
    const lane = `cpu${i}`;
    const ctx = `${lane}/task`;
    const set = (x: State, nr: Reader) => x.setIn(['readers', i], nr);
    if (r.pc === 0 && r.lookups < p.lookups)
      out.push({ lane, label: `${lane}: rcu_read_lock()`, apply: () => set(s.set('rcu', readLock(s.rcu, ctx)), r.set('pc', 1)) });
    if (r.pc === 1)
      out.push({
        lane,
        label: `${lane}: o = rcu_dereference(s_group_desc)`,
        apply: () => {
          const d = rcuDereference(s.mem, s.rcu, SLOT, ctx);
          return set(s.set('mem', d.mem), r.set('pc', 2).set('arr', d.obj));
        },
      });
    if (r.pc === 2)
      out.push({
        lane,
        label: `${lane}: bh = ${r.arr}[i]; rcu_read_unlock()`,
        apply: () => set(s.set('mem', access(s.mem, r.arr!, ctx)).set('rcu', readUnlock(s.rcu, ctx)), Reader({ lookups: r.lookups + 1 })),
      });
  });

  const lane = `cpu${p.readers}`;
  const ctx = `${lane}/task`;
  const z = s.resizer;
  const k = z.resize;
  const old = arr(k);
  const to = (x: State, pc: ResizerPc) => x.set('resizer', z.set('pc', pc));
  const nextResize = (x: State) => x.set('resizer', k + 1 < p.resizes ? Resizer({ resize: k + 1 }) : Resizer({ pc: 'done', resize: k + 1 }));
  const mem = (x: State, m: Memory) => x.set('mem', m);
  switch (z.pc) {
    case 'alloc':
      out.push({ lane, label: `${lane}: n = kvmalloc() → ${arr(k + 1)}`, apply: () => to(mem(s, allocate(s.mem, arr(k + 1))), 'publish') });
      break;
    case 'publish':
      out.push({
        lane,
        label: `${lane}: rcu_assign_pointer(s_group_desc, ${arr(k + 1)})`,
        apply: () => to(mem(s, publish(s.mem, SLOT, arr(k + 1))), p.variant === 'kvfree-immediately' ? 'free' : p.variant === 'synchronize-then-free' ? 'sync' : 'wrapper'),
      });
      break;
    case 'free':
      out.push({ lane, label: `${lane}: kvfree(${old})`, apply: () => nextResize(mem(s, free(s.mem, old, ctx))) });
      break;
    case 'wrapper':
      out.push({
        lane,
        label: `${lane}: kzalloc(wrapper) → ${wrapper(k)}; call_rcu(${wrapper(k)})`,
        apply: () => nextResize(s.set('mem', allocate(s.mem, wrapper(k))).set('rcu', callRcu(s.rcu, `ext4_rcu_ptr_callback(${wrapper(k)})`))),
      });
      if (p.wrapperFails) out.push({ lane, label: `${lane}: kzalloc(wrapper) fails`, apply: () => to(s, 'sync') });
      break;
    case 'sync':
      out.push({ lane, label: `${lane}: synchronize_rcu()`, apply: () => to(s.set('rcu', synchronizeRcuBegin(s.rcu, ctx)), 'sync-wait') });
      break;
    case 'sync-wait':
      if (synchronizeRcuDone(s.rcu, ctx))
        out.push({ lane, label: `${lane}: synchronize_rcu() returns`, apply: () => to(s.set('rcu', synchronizeRcuEnd(s.rcu, ctx)), 'free-after-sync') });
      break;
    case 'free-after-sync':
      if (p.variant === 'kvfree-array-rcu-wrong-pointer') out.push({ lane, label: `${lane}: kvfree(ptr = NULL)`, apply: () => nextResize(mem(s, free(s.mem, null, ctx))) });
      else out.push({ lane, label: `${lane}: kvfree(${old})`, apply: () => nextResize(mem(s, free(s.mem, old, ctx))) });
      break;
    case 'done':
      break;
  }

  // RCU callbacks run in softirq on the resizer's CPU; wrapper k frees arr k.
  const cb = readyCallback(s.rcu);
  if (cb) {
    const w = Number(/wrapper(\d+)/.exec(cb.name)![1]);
    out.push({
      lane,
      label: `${lane}: ${cb.name}: kvfree(${arr(w)}); kfree(${wrapper(w)})`,
      apply: () => s.set('rcu', takeCallback(s.rcu)).set('mem', free(free(s.mem, arr(w), `${lane}/softirq`), wrapper(w), `${lane}/softirq`)),
    });
  }
  out.push(...gpTransitions(s, (x) => x.rcu, (x, r: Rcu) => x.set('rcu', r)));
  return out;
}

export default defineModel({
  name: 'ext4-resize',
  description: 'ext4 online resize replaces s_group_desc while readers dereference it under RCU (bugzilla 206443)',
  params,
  init: (p) =>
    State({
      readers: List(Array.from({ length: p.readers }, () => Reader())),
      mem: publish(allocate(memoryInit(), arr(0)), SLOT, arr(0)),
    }),
  transitions,
  isEndState: (s, p) => s.resizer.pc === 'done' && s.readers.every((r) => r.pc === 0 && r.lookups === p.lookups) && s.rcu.callbacks.size === 0,
  lanes: (p) => [...Array.from({ length: p.readers + 1 }, (_, i) => `cpu${i}`), RCU_LANE],
  properties: [
    rcuNoUseAfterFree<State, P>((s) => s.mem, 'mem'),
    noDoubleFree<State, P>((s) => s.mem, 'mem'),
    noLeakAtQuiescence<State, P>((s) => s.mem, 'mem'),
    // The resizer runs in process context holding no spinlock: it may sleep.
    synchronizeRcuLegal<State, P>((s) => s.rcu, 'rcu', () => false),
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
