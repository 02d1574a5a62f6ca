import { List, Record } from 'immutable';
import type { Transition } from '../core/model.ts';
import { perCpuLockName } from './local_lock.ts';
import { holdersOf } from './locks.ts';
import { free, type Memory } from './memory.ts';
import { callRcu, RCU_LANE, readyCallback, takeCallback, type Rcu } from './rcu.ts';
import type { Kernel } from './state.ts';

/**
 * The batching half of kvfree_rcu() (kernel/rcu/tree.c), shared by the models of its allocation
 * half: each CPU's `kfree_rcu_cpu` collects objects in arrays of pointers (a page each) and, when
 * no array page can be had, on a chain through their rcu_heads. kfree_rcu_monitor() hands a
 * CPU's arrays and chain to one RCU callback; kfree_rcu_work() frees them after the grace period
 * and gives the array pages back. Both take the CPU's krcp->lock (a raw_spinlock_t, declared per
 * CPU under KRCP), so neither runs while a caller holds it.
 */
export const KRCP = 'krcp->lock';

/** What kfree_rcu_monitor() takes from a CPU's `kfree_rcu_cpu` (a model's record may hold more). */
export interface KrcLists {
  readonly arrays: List<List<string>>;
  readonly heads: List<string>;
  set(key: 'arrays' | 'heads', value: List<never>): this;
}

/** One CPU's arrays and chain, handed to RCU together: `pages` array pages hold some of `objs`. */
export const RcuBatch = Record({ cpu: 0, objs: List<string>(), pages: 0 }, 'Batch');
export type RcuBatch = ReturnType<typeof RcuBatch>;

/**
 * The fields of a model's state that the batching reads and writes: the model's state is an
 * Immutable Record with at least these (written through `merge`).
 */
export interface KvfreeRcuState {
  readonly kernel: Kernel;
  readonly krc: List<KrcLists>;
  /** Batches handed to RCU, in the order of their callbacks. */
  readonly batches: List<RcuBatch>;
  readonly rcu: Rcu;
  readonly mem: Memory;
}

/** `s` with some of the batching's fields replaced (Immutable's `merge`, which TypeScript cannot check against a structural type). */
function update<S extends KvfreeRcuState>(s: S, fields: Partial<KvfreeRcuState>): S {
  return (s as unknown as { merge(f: Partial<KvfreeRcuState>): S }).merge(fields);
}

const krcpFree = (k: Kernel, cpu: number) => holdersOf(k, perCpuLockName(KRCP, cpu)).isEmpty();

/**
 * The RCU lane's batching steps in state `s`: kfree_rcu_monitor() for each CPU with objects
 * queued, and kfree_rcu_work() for the first batch once its grace period is over.
 * `pagesBack(s, cpu, pages)` returns the batch's array pages where the model keeps them (a
 * reserve, a page cache, the zone).
 */
export function kvfreeRcuBatching<S extends KvfreeRcuState>(s: S, pagesBack: (s: S, cpu: number, pages: number) => S): Transition<S>[] {
  const out: Transition<S>[] = [];
  s.krc.forEach((krc, cpu) => {
    if ((krc.arrays.isEmpty() && krc.heads.isEmpty()) || !krcpFree(s.kernel, cpu)) return;
    const objs = krc.arrays.flatten(true).toList().concat(krc.heads) as List<string>;
    out.push({
      lane: RCU_LANE,
      label: `rcu: kfree_rcu_monitor(cpu${cpu}): ${krc.arrays.size} array(s), ${krc.heads.size} rcu_head(s) → queue_rcu_work`,
      apply: () =>
        update(s, {
          krc: s.krc.set(cpu, krc.set('arrays', List()).set('heads', List())),
          batches: s.batches.push(RcuBatch({ cpu, objs, pages: krc.arrays.size })),
          rcu: callRcu(s.rcu, `kfree_rcu_work(cpu${cpu})`),
        }),
    });
  });
  const cb = readyCallback(s.rcu);
  const b = s.batches.first();
  if (cb && b && krcpFree(s.kernel, b.cpu))
    out.push({
      lane: RCU_LANE,
      label: `rcu: ${cb.name}: kfree ${b.objs.join(', ')}; ${b.pages} page(s) back`,
      apply: () => {
        let mem = s.mem;
        for (const x of b.objs) mem = free(mem, x, `rcu ${cb.name}`);
        return pagesBack(update(s, { rcu: takeCallback(s.rcu), batches: s.batches.shift(), mem }), b.cpu, b.pages);
      },
    });
  return out;
}
