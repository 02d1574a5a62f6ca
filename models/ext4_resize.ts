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
import { bool, defineModel, int, oneOf, t, type Draft, type ParamValues, type StateOf, type Transition } from '../src/index.ts';
import {
  access,
  allocate,
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
  takeCallback,
} from '../src/kernel/index.ts';
import { noDoubleFree, noLeakAtQuiescence, rcuNoUseAfterFree, synchronizeRcuLegal } from '../properties/rcu.ts';

const VARIANTS = ['kvfree-immediately', 'synchronize-then-free', 'kvfree-array-rcu', 'kvfree-array-rcu-wrong-pointer'] as const;

/**
 * The resizer's program counter within one resize:
 * alloc → publish → free (variant-specific: free, wrapper, sync, sync-wait, free-after-sync) → next resize.
 */
const RESIZER_PCS = ['alloc', 'publish', 'free', 'wrapper', 'sync', 'sync-wait', 'free-after-sync', 'done'] as const;
type ResizerPc = (typeof RESIZER_PCS)[number];

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
  /** A reader: `pc` 0 before rcu_read_lock, 1 in the section, 2 holding the array pointer `arr`. */
  const reader = t.struct({
    pc: t.int(0, 2),
    arr: t.optional(t.enum(Array.from({ length: p.resizes + 1 }, (_, k) => arr(k)))),
    lookups: t.int(0, p.lookups),
  });
  return t.struct({
    readers: t.array(reader, p.readers),
    resizer: t.struct({ pc: t.enum(RESIZER_PCS), resize: t.int(0, p.resizes) }),
    // One CPU per reader and one for the resizer, each running its task frame only (the
    // kernel's RCU readers are those frames); one wrapper callback per resize.
    kernel: kernelType({ cpus: p.readers + 1, maxNesting: 0, locals: t.optional(t.bool()), locks: 1, rcu: { callbacks: p.resizes } }),
    // Objects: arr0 … arr{resizes} and a wrapper per resize. Faults: a use after free per lookup
    // at most, and each free of an array or a wrapper could be a second one.
    mem: memoryType({ objects: 2 * p.resizes + 1, slots: 1, faults: p.readers * p.lookups + 2 * p.resizes }),
  });
};
type State = StateOf<typeof schema>;

function transitions(s: State, p: P): Transition<State>[] {
  const out: Transition<State>[] = [];
  s.readers.forEach((r, i) => {
    const lane = `cpu${i}`;
    const ctx = `${lane}/task`;
    if (r.pc === 0 && r.lookups < p.lookups)
      out.push({
        lane,
        label: `${lane}: rcu_read_lock()`,
        apply: (d) => {
          rcuReadLock(d.kernel, i);
          d.readers[i].pc = 1;
        },
      });
    if (r.pc === 1)
      out.push({
        lane,
        label: `${lane}: o = rcu_dereference(s_group_desc)`,
        apply: (d) => {
          const o = rcuDereference(d.mem, d.kernel, i, SLOT);
          d.readers[i].pc = 2;
          d.readers[i].arr = o;
        },
      });
    if (r.pc === 2) {
      const o = r.arr!;
      out.push({
        lane,
        label: `${lane}: bh = ${o}[i]; rcu_read_unlock()`,
        apply: (d) => {
          access(d.mem, o, ctx);
          rcuReadUnlock(d.kernel, i);
          d.readers[i] = { pc: 0, arr: null, lookups: r.lookups + 1 };
        },
      });
    }
  });

  const cpu = p.readers;
  const lane = `cpu${cpu}`;
  const ctx = `${lane}/task`;
  const k = s.resizer.resize;
  const old = arr(k);
  const to = (d: Draft<State>, pc: ResizerPc) => void (d.resizer.pc = pc);
  const nextResize = (d: Draft<State>) => void (d.resizer = { pc: k + 1 < p.resizes ? 'alloc' : 'done', resize: k + 1 });
  switch (s.resizer.pc) {
    case 'alloc':
      out.push({
        lane,
        label: `${lane}: n = kvmalloc() → ${arr(k + 1)}`,
        apply: (d) => {
          allocate(d.mem, arr(k + 1));
          to(d, 'publish');
        },
      });
      break;
    case 'publish':
      out.push({
        lane,
        label: `${lane}: rcu_assign_pointer(s_group_desc, ${arr(k + 1)})`,
        apply: (d) => {
          publish(d.mem, SLOT, arr(k + 1));
          to(d, p.variant === 'kvfree-immediately' ? 'free' : p.variant === 'synchronize-then-free' ? 'sync' : 'wrapper');
        },
      });
      break;
    case 'free':
      out.push({
        lane,
        label: `${lane}: kvfree(${old})`,
        apply: (d) => {
          free(d.mem, old, ctx);
          nextResize(d);
        },
      });
      break;
    case 'wrapper':
      out.push({
        lane,
        label: `${lane}: kzalloc(wrapper) → ${wrapper(k)}; call_rcu(${wrapper(k)})`,
        apply: (d) => {
          allocate(d.mem, wrapper(k));
          callRcu(d.kernel.rcu, `ext4_rcu_ptr_callback(${wrapper(k)})`);
          nextResize(d);
        },
      });
      if (p.wrapperFails) out.push({ lane, label: `${lane}: kzalloc(wrapper) fails`, apply: (d) => to(d, 'sync') });
      break;
    case 'sync':
      out.push({
        lane,
        label: `${lane}: synchronize_rcu()`,
        apply: (d) => {
          synchronizeRcuBegin(d.kernel, cpu);
          to(d, 'sync-wait');
        },
      });
      break;
    case 'sync-wait':
      if (synchronizeRcuDone(s.kernel, cpu))
        out.push({
          lane,
          label: `${lane}: synchronize_rcu() returns`,
          apply: (d) => {
            synchronizeRcuEnd(d.kernel, cpu);
            to(d, 'free-after-sync');
          },
        });
      break;
    case 'free-after-sync':
      if (p.variant === 'kvfree-array-rcu-wrong-pointer')
        out.push({
          lane,
          label: `${lane}: kvfree(ptr = NULL)`,
          apply: (d) => {
            free(d.mem, null, ctx);
            nextResize(d);
          },
        });
      else
        out.push({
          lane,
          label: `${lane}: kvfree(${old})`,
          apply: (d) => {
            free(d.mem, old, ctx);
            nextResize(d);
          },
        });
      break;
    case 'done':
      break;
  }

  // RCU callbacks run in softirq on the resizer's CPU; wrapper k frees arr k.
  const cb = readyCallback(s.kernel.rcu);
  if (cb) {
    const w = Number(/wrapper(\d+)/.exec(cb.name)![1]);
    out.push({
      lane,
      label: `${lane}: ${cb.name}: kvfree(${arr(w)}); kfree(${wrapper(w)})`,
      apply: (d) => {
        takeCallback(d.kernel.rcu);
        free(d.mem, arr(w), `${lane}/softirq`);
        free(d.mem, wrapper(w), `${lane}/softirq`);
      },
    });
  }
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
  isEndState: (s, p) => s.resizer.pc === 'done' && s.readers.every((r) => r.pc === 0 && r.lookups === p.lookups) && s.kernel.rcu.callbacks.length === 0,
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
