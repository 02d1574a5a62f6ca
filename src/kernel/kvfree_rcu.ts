import type { SchemaTransition } from '../core/model.ts';
import { t, type Draft, type ValueOf } from '../core/schema.ts';
import { perCpuLockName } from './local_lock.ts';
import { holdersOf } from './locks.ts';
import { free, FREE_FNS, type FreeFn, type Memory } from './memory.ts';
import { callRcu, RCU_LANE, readyCallback, takeCallback } from './rcu.ts';
import type { Kernel } from './state.ts';

/**
 * The batching half of kvfree_rcu() (kernel/rcu/tree.c), shared by the models of its allocation
 * half: each CPU's `kfree_rcu_cpu` collects objects in arrays of pointers (a page each) and, when
 * no array page can be had, on a chain through their rcu_heads. kfree_rcu_monitor() hands a
 * CPU's arrays and chain to one RCU callback; kfree_rcu_work() frees them after the grace period
 * and gives the array pages back. Both take the CPU's krcp->lock (a raw_spinlock_t, declared per
 * CPU under KRCP), so neither runs while a caller holds it.
 *
 * Since 5.9 ("rcu/tree: Maintain separate array for vmalloc ptrs") a CPU keeps two kinds of
 * arrays, chosen by `idx = !!is_vmalloc_addr(ptr)`, and 6.18's kvfree_rcu_bulk()
 * (mm/slab_common.c) frees them apart: `if (idx == 0) { // kmalloc() / kfree().
 * kfree_bulk(bnode->nr_records, bnode->records); } else { // vmalloc() / vfree(). … vfree(...)`,
 * while kvfree_rcu_list() frees the rcu_head chain with `kvfree(ptr)`. A model without vmalloc
 * memory keeps `arrays` only; the free functions are a parameter, for the designs before.
 */
export const KRCP = 'krcp->lock';

/**
 * What kfree_rcu_monitor() takes from a CPU's `kfree_rcu_cpu`: the model's struct has at least
 * these fields (`arrays: t.list(t.list(t.text(), slots), pages)`, `heads: t.list(t.text(), n)`).
 */
export interface KrcLists {
  /** Arrays of kmalloc() pointers (channel 0). */
  readonly arrays: readonly (readonly string[])[];
  /** Arrays of vmalloc() pointers (channel 1), where the model has them. */
  readonly vmallocArrays?: readonly (readonly string[])[];
  readonly heads: readonly string[];
}

/** How kfree_rcu_work() frees each part of a batch. */
export interface KrcFrees {
  readonly arrays: FreeFn;
  readonly vmallocArrays: FreeFn;
  readonly heads: FreeFn;
}

/** 6.18's: kfree_bulk() for channel 0, vfree() for channel 1, kvfree() for the rcu_head chain. */
export const KRC_FREES: KrcFrees = { arrays: 'kfree_bulk', vmallocArrays: 'vfree', heads: 'kvfree' };

/**
 * The schema of one CPU's arrays and chain handed to RCU together: `pages` array pages hold
 * some of `objs`. `objs` bounds the objects of one batch; an array page holds at least one
 * object, so a batch has at most as many pages.
 */
export function rcuBatchType(shape: { readonly cpus: number; readonly objs: number }) {
  return t.struct({
    cpu: t.int(0, shape.cpus - 1),
    objs: t.list(t.text(), shape.objs),
    /** The free function of each of `objs`, by the part it came from. */
    via: t.list(t.enum(FREE_FNS), shape.objs),
    pages: t.int(0, shape.objs),
  });
}

export type RcuBatch = ValueOf<ReturnType<typeof rcuBatchType>>;

/** The parts of a model's state that the batching reads and writes. */
export interface KvfreeRcuState {
  readonly kernel: Kernel;
  /** Per CPU. */
  readonly krc: readonly KrcLists[];
  /** Batches handed to RCU, in the order of their callbacks. */
  readonly batches: readonly RcuBatch[];
  readonly mem: Memory;
}
export type KvfreeRcuDraft = Draft<KvfreeRcuState>;

const krcpFree = (k: Kernel, cpu: number) => holdersOf(k, perCpuLockName(KRCP, cpu)).length === 0;

/**
 * The RCU lane's batching steps in state `s`: kfree_rcu_monitor() for each CPU with objects
 * queued, and kfree_rcu_work() for the first batch once its grace period is over. `get` reads
 * the batching's parts in the model's state, `put` finds them in the successor being written
 * (for a state that has them at the top: `(x) => x`, `(d) => d`). `pagesBack(d, cpu, pages)`
 * writes the batch's array pages back where the model keeps them (a reserve, a page cache, the
 * zone), after the batch is freed. `frees` says how kfree_rcu_work() frees each part (default
 * 6.18's, KRC_FREES).
 */
export function kvfreeRcuBatching<S>(
  s: S,
  get: (s: S) => KvfreeRcuState,
  put: (d: Draft<S>) => KvfreeRcuDraft,
  pagesBack: (d: Draft<S>, cpu: number, pages: number) => void,
  frees: KrcFrees = KRC_FREES,
): SchemaTransition<S>[] {
  const v = get(s);
  const out: SchemaTransition<S>[] = [];
  v.krc.forEach((krc, cpu) => {
    const vm = krc.vmallocArrays ?? [];
    if ((krc.arrays.length === 0 && vm.length === 0 && krc.heads.length === 0) || !krcpFree(v.kernel, cpu)) return;
    const parts = [
      [krc.arrays.flat(), frees.arrays],
      [vm.flat(), frees.vmallocArrays],
      [krc.heads, frees.heads],
    ] as const;
    const objs = parts.flatMap(([xs]) => xs);
    const via = parts.flatMap(([xs, how]) => xs.map(() => how));
    const pages = krc.arrays.length + vm.length;
    out.push({
      lane: RCU_LANE,
      label: `rcu: kfree_rcu_monitor(cpu${cpu}): ${pages} array(s), ${krc.heads.length} rcu_head(s) → queue_rcu_work`,
      apply: (d) => {
        const w = put(d);
        w.krc[cpu].arrays.length = 0;
        if (w.krc[cpu].vmallocArrays) w.krc[cpu].vmallocArrays!.length = 0;
        w.krc[cpu].heads.length = 0;
        w.batches.push({ cpu, objs, via, pages });
        callRcu(w.kernel.rcu, `kfree_rcu_work(cpu${cpu})`);
      },
    });
  });
  const cb = readyCallback(v.kernel.rcu);
  const b = v.batches[0];
  if (cb && b && krcpFree(v.kernel, b.cpu)) {
    // The frees in order, each run of one function as one call: `kfree_bulk(a, b), kvfree(c)`.
    const runs: { how: FreeFn; objs: string[] }[] = [];
    b.objs.forEach((x, i) => {
      if (runs.at(-1)?.how === b.via[i]) runs.at(-1)!.objs.push(x);
      else runs.push({ how: b.via[i], objs: [x] });
    });
    const groups = runs.map((r) => `${r.how}(${r.objs.join(', ')})`);
    out.push({
      lane: RCU_LANE,
      label: `rcu: ${cb.name}: ${groups.join(', ')}; ${b.pages} page(s) back`,
      apply: (d) => {
        const w = put(d);
        b.objs.forEach((x, i) => free(w.mem, x, `rcu ${cb.name}`, b.via[i]));
        takeCallback(w.kernel.rcu);
        w.batches.shift();
        pagesBack(d, b.cpu, b.pages);
      },
    });
  }
  return out;
}
