import { describe, expect, it } from 'vitest';
import { anyModel, bool, defineModel, explore, invariant, t, type Draft, type StateOf, type Transition } from '../../src/index.ts';
import { kernelConfig } from '../../src/kernel/config.ts';
import { initKernel, interrupt, localIrqRestore, localIrqSave, preemptDisable, preemptEnable, returnFromFrame, schedule } from '../../src/kernel/cpu.ts';
import { declareLocks, lock, unlock } from '../../src/kernel/locks.ts';
import {
  callRcu,
  canEndGp,
  canStartGp,
  endGp,
  gpTransitions,
  gpWaitsFor,
  isReader,
  rcuReadLock,
  rcuReadUnlock,
  readerReasons,
  readyCallback,
  startGp,
  synchronizeRcuBegin,
  synchronizeRcuDone,
  synchronizeRcuEnd,
  synchronizeRcuProblem,
  takeCallback,
} from '../../src/kernel/rcu.ts';
import { kernelType, type KernelDraft } from '../../src/kernel/state.ts';
import { access, allocate, allocatorOf, free, FREE_FNS, faultsOf, leaked, memoryInit, memoryType, objectState, publish, rcuDereference, runRcuCallback } from '../../src/kernel/memory.ts';
import { gracePeriodsEnd, synchronizeRcuLegal } from '../../properties/rcu.ts';

const NRT = kernelConfig({ rt: false });
const RT = kernelConfig({ rt: true });

/** A fresh two-CPU kernel (cpu0 runs task0 with task9 parked, cpu1 runs task1), with a raw spinlock and a spinlock_t, after `effects`. */
function kernelAfter(...effects: ((k: KernelDraft) => void)[]): KernelDraft {
  const k = initKernel([{ task: 'task0', parked: [{ task: 'task9', pc: '' }], budget: { hardirq: 1, nmi: 1 } }, { task: 'task1' }]);
  declareLocks(k, [
    { name: 'raw', type: 'raw_spinlock_t' },
    { name: 'sl', type: 'spinlock_t' },
  ]);
  for (const e of effects) e(k);
  return k;
}
const queue = (k: KernelDraft) => callRcu(k.rcu, 'cb');

describe('rcu readers', () => {
  it('nest; the context stays a reader until its last section ends', () => {
    const k = kernelAfter();
    rcuReadLock(k, 0);
    rcuReadLock(k, 0);
    localIrqSave(k, 0);
    rcuReadUnlock(k, 0);
    rcuReadUnlock(k, 0);
    expect(isReader(k, 0)).toBe(true);
    expect(readerReasons(k, 0)).toEqual(['irqs disabled']);
    localIrqRestore(k, 0);
    expect(isReader(k, 0)).toBe(false);
    expect(k).toEqual(kernelAfter());
  });
  it('refuse an unlock without a lock', () => {
    expect(() => rcuReadUnlock(kernelAfter(), 0)).toThrow(/cpu0 task calls rcu_read_unlock\(\) outside rcu_read_lock\(\)/);
  });
  it('are implied by irqs off, preemption off, raw and !RT spinlocks, RT spinlock_t, hardirq and NMI, without rcu_read_lock()', () => {
    const cases: [string, (k: KernelDraft) => void, string][] = [
      ['local_irq_save', (k) => localIrqSave(k, 0), 'irqs disabled'],
      ['preempt_disable', (k) => preemptDisable(k, 0), 'preemption disabled (preempt_count 1)'],
      ['raw_spin_lock', (k) => lock(k, NRT, 0, 'raw'), 'preemption disabled (preempt_count 1)'],
      ['spin_lock on !RT', (k) => lock(k, NRT, 0, 'sl'), 'preemption disabled (preempt_count 1)'],
      ['spin_lock on RT', (k) => lock(k, RT, 0, 'sl'), 'rcu_read_lock() depth 1'],
      ['a hardirq', (k) => interrupt(k, NRT, 0, 'hardirq', ''), 'in hardirq'],
      ['an NMI', (k) => interrupt(k, NRT, 0, 'nmi', ''), 'in NMI'],
    ];
    for (const [what, enter, why] of cases) {
      const k = kernelAfter(enter);
      expect(readerReasons(k, 0), what).toContain(why);
    }
    // A mutex, or migrate_disable() alone, is no reader.
    expect(isReader(kernelAfter(), 0)).toBe(false);
  });
});

describe('grace periods', () => {
  it('do not start without a waiter', () => {
    expect(canStartGp(kernelAfter())).toBe(false);
  });
  it('do not end while a reader that was running at their start runs', () => {
    const k = kernelAfter((x) => rcuReadLock(x, 0), queue, startGp);
    expect(canEndGp(k)).toBe(false);
    expect(() => endGp(k)).toThrow(/waits for cpu0\/task0/);
    rcuReadUnlock(k, 0);
    expect(canEndGp(k)).toBe(true);
    endGp(k);
    expect(readyCallback(k.rcu)?.name).toBe('cb');
  });
  it('wait for every implied reader until the layer sees it end', () => {
    const cases: [string, (k: KernelDraft) => void, (k: KernelDraft) => void][] = [
      ['irqs off', (k) => localIrqSave(k, 1), (k) => localIrqRestore(k, 1)],
      ['preemption off', (k) => preemptDisable(k, 1), (k) => preemptEnable(k, 1)],
      ['a raw spinlock', (k) => lock(k, NRT, 1, 'raw', { irqsave: true }), (k) => unlock(k, NRT, 1, 'raw')],
      ['spinlock_t on RT', (k) => lock(k, RT, 1, 'sl'), (k) => unlock(k, RT, 1, 'sl')],
      ['a hardirq', (k) => interrupt(k, NRT, 0, 'hardirq', ''), (k) => returnFromFrame(k, 0)],
      ['an NMI', (k) => interrupt(k, NRT, 0, 'nmi', ''), (k) => returnFromFrame(k, 0)],
    ];
    for (const [what, enter, leave] of cases) {
      const k = kernelAfter(enter, queue, startGp);
      expect(canEndGp(k), what).toBe(false);
      leave(k);
      expect(canEndGp(k), what).toBe(true);
    }
  });
  it('do not wait for a reader that started after them, even in a context that was a reader at their start', () => {
    expect(canEndGp(kernelAfter(queue, startGp, (k) => rcuReadLock(k, 0)))).toBe(true);
    // irqs off at the start, on again, off again: the second section is new.
    const k = kernelAfter((x) => localIrqSave(x, 0), queue, startGp, (x) => localIrqRestore(x, 0), (x) => localIrqSave(x, 0));
    expect(canEndGp(k)).toBe(true);
    // A hardirq that arrives after the start, on a CPU that was no reader.
    expect(canEndGp(kernelAfter(queue, startGp, (x) => interrupt(x, NRT, 0, 'hardirq', '')))).toBe(true);
  });
  it('wait for a reader preempted inside its section (PREEMPT_RCU): it stays a reader while parked', () => {
    const k = kernelAfter((x) => rcuReadLock(x, 0), (x) => schedule(x, NRT, 0, 'task9'), queue, startGp);
    expect(gpWaitsFor(k)).toEqual(['cpu0/task0 (parked)']);
    schedule(k, NRT, 0, 'task0');
    rcuReadUnlock(k, 0);
    expect(canEndGp(k)).toBe(true);
  });
  it('a callback queued during a running grace period needs the next one', () => {
    const k = kernelAfter(
      (x) => callRcu(x.rcu, 'first'),
      startGp,
      (x) => callRcu(x.rcu, 'second'),
      endGp,
    );
    expect(readyCallback(k.rcu)?.name).toBe('first');
    takeCallback(k.rcu);
    expect(readyCallback(k.rcu)).toBeUndefined();
    expect(canStartGp(k)).toBe(true);
    startGp(k);
    endGp(k);
    expect(readyCallback(k.rcu)?.name).toBe('second');
  });
});

describe('synchronize_rcu', () => {
  it('returns only after a full grace period', () => {
    const k = kernelAfter((x) => rcuReadLock(x, 1), (x) => synchronizeRcuBegin(x, NRT, 0));
    expect(synchronizeRcuDone(k, 0)).toBe(false);
    startGp(k);
    expect(() => synchronizeRcuEnd(k, 0)).toThrow(/returns before its grace period ended/);
    rcuReadUnlock(k, 1);
    endGp(k);
    synchronizeRcuEnd(k, 0);
    expect(k.rcu.sync.size).toBe(0);
  });
  it("is illegal in atomic context and inside the caller's own reader, explicit or implied", () => {
    expect(synchronizeRcuProblem(kernelAfter(), NRT, 0)).toBeUndefined();
    expect(synchronizeRcuProblem(kernelAfter((k) => interrupt(k, NRT, 0, 'hardirq', '')), NRT, 0)).toBe(
      'synchronize_rcu() in atomic context (cpu0/hardirq: in hardirq): it sleeps',
    );
    expect(synchronizeRcuProblem(kernelAfter((k) => rcuReadLock(k, 0)), NRT, 0)).toBe(
      "synchronize_rcu() inside cpu0/task0's own RCU reader (rcu_read_lock() depth 1): the grace period waits for the caller",
    );
    // On RT a spinlock_t section may sleep, but spin_lock() took rcu_read_lock(): a self-deadlock.
    expect(synchronizeRcuProblem(kernelAfter((k) => lock(k, RT, 0, 'sl')), RT, 0)).toBe(
      "synchronize_rcu() inside cpu0/task0's own RCU reader (rcu_read_lock() depth 1): the grace period waits for the caller",
    );
  });
  it('tree RCU: might_sleep() first; TINY_RCU: no might_sleep(), and it returns at once, even where it is illegal', () => {
    const inHardirq = (x: KernelDraft) => interrupt(x, NRT, 0, 'hardirq', 'h');
    const tree = kernelAfter(inHardirq, (x) => synchronizeRcuBegin(x, NRT, 0));
    expect(tree.splats.map((s) => s.kind)).toEqual(['sleep-in-atomic']);
    expect(synchronizeRcuDone(tree, 0)).toBe(false);
    const TINY = kernelConfig({ preemption: 'none', smp: false });
    const tiny = kernelAfter(inHardirq, (x) => synchronizeRcuBegin(x, TINY, 0));
    expect(tiny.splats).toEqual([]);
    expect(synchronizeRcuDone(tiny, 0)).toBe(true);
    expect(synchronizeRcuProblem(tiny, TINY, 0)).toBe('synchronize_rcu() in atomic context (cpu0/hardirq: in hardirq): on TINY_RCU it returns at once, inside a reader');
  });

  it("inside the caller's own reader, the grace period it waits for never ends", () => {
    for (const enter of [(k: KernelDraft) => rcuReadLock(k, 0), (k: KernelDraft) => lock(k, RT, 0, 'sl')]) {
      const k = kernelAfter(enter, (x) => synchronizeRcuBegin(x, RT, 0), startGp);
      expect(canEndGp(k)).toBe(false);
    }
  });
});

// Exhaustive: two readers (each enters and leaves a section twice) and an updater that
// retires an object and frees it after synchronize_rcu(). Every interleaving: no use after free.
const sysSchema = () =>
  t.struct({
    kernel: kernelType({ cpus: 3, maxNesting: 0, locals: t.optional(t.bool()), locks: 1 }),
    mem: memoryType({ objects: 1, slots: 1 }),
    pc: t.array(t.int(0, 6), 3),
    ref: t.array(t.optional(t.text()), 2),
  });
type Sys = StateOf<typeof sysSchema>;
function readerModel(sync: boolean) {
  return defineModel({
    name: 'rcu-readers',
    params: {},
    state: sysSchema,
    init: (_p, d) => {
      d.kernel = initKernel<boolean | null>([{}, {}, {}]);
      allocate(d.mem, 'a');
      publish(d.mem, 'gp', 'a');
    },
    transitions: (s: Sys) => {
      const out: Transition<Sys>[] = [];
      for (let i = 0; i < 2; i++) {
        const ctx = `cpu${i}/task`;
        const pc = s.pc[i];
        const lane = `cpu${i}`;
        if (pc === 0 || pc === 3)
          out.push({
            lane,
            label: `${ctx}: rcu_read_lock`,
            apply: (d) => {
              rcuReadLock(d.kernel, i);
              d.pc[i] = pc + 1;
            },
          });
        if (pc === 1 || pc === 4)
          out.push({
            lane,
            label: `${ctx}: p = rcu_dereference(gp)`,
            apply: (d) => {
              d.ref[i] = rcuDereference(d.mem, s.kernel, i, 'gp');
              d.pc[i] = pc + 1;
            },
          });
        if (pc === 2 || pc === 5)
          out.push({
            lane,
            label: `${ctx}: use p; rcu_read_unlock`,
            apply: (d) => {
              const p = s.ref[i];
              if (p) access(d.mem, p, ctx);
              rcuReadUnlock(d.kernel, i);
              d.ref[i] = null;
              d.pc[i] = pc + 1;
            },
          });
      }
      const u = 'cpu2/task';
      const upc = s.pc[2];
      const step = (label: string, effect: (d: Draft<Sys>) => void, to: number) =>
        out.push({
          lane: 'cpu2',
          label: `${u}: ${label}`,
          apply: (d) => {
            effect(d);
            d.pc[2] = to;
          },
        });
      if (upc === 0) step('rcu_assign_pointer(gp, NULL)', (d) => publish(d.mem, 'gp', null), 1);
      if (upc === 1 && sync) step('synchronize_rcu', (d) => synchronizeRcuBegin(d.kernel, NRT, 2), 2);
      if (upc === 1 && !sync) step('skip synchronize_rcu', () => {}, 3);
      if (upc === 2 && synchronizeRcuDone(s.kernel, 2)) step('synchronize_rcu returns', (d) => synchronizeRcuEnd(d.kernel, 2), 3);
      if (upc === 3) step('kfree(a)', (d) => free(d.mem, 'a', u), 4);
      out.push(...gpTransitions(s, (x) => x.kernel, (d) => d.kernel));
      return out;
    },
    isEndState: (s: Sys) => s.pc.every((p, i) => p === (i === 2 ? 4 : 6)),
    properties: [
      invariant<Sys>('no-uaf', 'no reader uses a freed object', (s) => faultsOf(s.mem, 'use-after-free').length === 0 || 'use after free'),
      invariant<Sys>('no-leak', 'a is freed at the end', (s) => s.pc[2] !== 4 || leaked(s.mem).length === 0),
    ],
  });
}

describe('rcu with objects, exhaustively', () => {
  it('synchronize_rcu before kfree: no use after free in any interleaving', () => {
    const o = explore(anyModel(readerModel(true)), {});
    expect(o.verdict).toBe('holds');
    expect(o.stats.states).toBe(527);
  });
  it('kfree without a grace period: the shortest use after free', () => {
    const o = explore(anyModel(readerModel(false)), {});
    const uaf = o.properties.find((p) => p.name === 'no-uaf')!;
    expect(uaf.verdict).toBe('violated');
    expect(uaf.violation!.trace.steps.map((s) => s.label)).toEqual([
      'cpu0/task: rcu_read_lock',
      'cpu0/task: p = rcu_dereference(gp)',
      'cpu2/task: rcu_assign_pointer(gp, NULL)',
      'cpu2/task: skip synchronize_rcu',
      'cpu2/task: kfree(a)',
      'cpu0/task: use p; rcu_read_unlock',
    ]);
  });
});

describe('memory', () => {
  it('an RCU callback is a typed action: it frees the objects call_rcu() gave it, in order, after its grace period', () => {
    const m = memoryInit();
    for (const x of ['arr0', 'wrapper0']) allocate(m, x);
    const k = kernelAfter((x) => callRcu(x.rcu, 'ext4_rcu_ptr_callback(wrapper0)', ['arr0', 'wrapper0']));
    expect(() => runRcuCallback(k.rcu, m, 'softirq')).toThrow(/no callback is ready/);
    startGp(k);
    endGp(k);
    const cb = runRcuCallback(k.rcu, m, 'softirq');
    expect([cb.name, cb.frees]).toEqual(['ext4_rcu_ptr_callback(wrapper0)', ['arr0', 'wrapper0']]);
    expect([objectState(m, 'arr0'), objectState(m, 'wrapper0'), k.rcu.callbacks.length]).toEqual(['freed', 'freed', 0]);
    // a second callback for the same object is the double free it is
    callRcu(k.rcu, 'again', ['arr0']);
    startGp(k);
    endGp(k);
    runRcuCallback(k.rcu, m, 'softirq');
    expect(faultsOf(m, 'double-free')).toEqual([{ kind: 'double-free', ctx: 'softirq', obj: 'arr0', via: null }]);
  });

  it('records a double free and a dereference outside a reader', () => {
    const m = memoryInit();
    allocate(m, 'x');
    free(m, 'x', 'c');
    free(m, 'x', 'c');
    expect(faultsOf(m, 'double-free')).toEqual([{ kind: 'double-free', ctx: 'c', obj: 'x', via: null }]);
    allocate(m, 'y');
    publish(m, 's', 'y');
    expect(rcuDereference(m, kernelAfter(), 0, 's')).toBe('y');
    expect(faultsOf(m, 'deref-outside-reader')).toEqual([{ kind: 'deref-outside-reader', ctx: 'cpu0/task0', obj: 'y', via: null }]);
    // An implied reader may dereference.
    rcuDereference(m, kernelAfter((k) => localIrqSave(k, 0)), 0, 's');
    expect(faultsOf(m, 'deref-outside-reader').length).toBe(1);
  });
  it('knows which allocator an object came from and which free functions take it', () => {
    const m = memoryInit();
    const from = { k: 'kmalloc', v: 'vmalloc', c: 'kmem_cache', p: 'page' } as const;
    // Each free function against each allocator: the pairs the kernel accepts (memory.ts quotes them).
    const accepted: string[] = [];
    for (const how of FREE_FNS)
      for (const [tag, a] of Object.entries(from)) {
        const obj = `${tag}-${how}`;
        allocate(m, obj, a);
        const before = faultsOf(m, 'wrong-allocator').length;
        free(m, obj, 'c', how);
        if (faultsOf(m, 'wrong-allocator').length === before) accepted.push(`${how}(${a})`);
        expect([objectState(m, obj), allocatorOf(m, obj)]).toEqual(['freed', a]);
      }
    expect(accepted).toEqual(['kfree(kmalloc)', 'kfree(kmem_cache)', 'kvfree(kmalloc)', 'kvfree(vmalloc)', 'kvfree(kmem_cache)', 'kfree_bulk(kmalloc)', 'kfree_bulk(kmem_cache)', 'kmem_cache_free(kmem_cache)', 'vfree(vmalloc)', 'free_page(page)']);
    expect(faultsOf(m, 'wrong-allocator')[0]).toEqual({ kind: 'wrong-allocator', ctx: 'c', obj: 'v-kfree', via: 'kfree' });
    // The default is kmalloc() memory and kvfree().
    allocate(m, 'd');
    free(m, 'd', 'c');
    expect([allocatorOf(m, 'd'), faultsOf(m, 'wrong-allocator').length]).toEqual(['kmalloc', FREE_FNS.length * Object.keys(from).length - accepted.length]);
  });

  it('records a NULL dereference', () => {
    const m = memoryInit();
    access(m, null, 'cpu0/task0');
    expect(faultsOf(m, 'null-deref')).toEqual([{ kind: 'null-deref', ctx: 'cpu0/task0', obj: 'NULL', via: null }]);
  });

  it('counts unpublished and retired objects as leaked, published and owned ones not', () => {
    const m = memoryInit();
    for (const o of ['a', 'b', 'c']) allocate(m, o);
    publish(m, 's', 'a');
    publish(m, 's', 'b');
    expect(leaked(m)).toEqual(['a', 'c']);
    expect(leaked(m, new Set(['c']))).toEqual(['a']);
  });
});

// synchronize_rcu() inside an RT spin_lock() section, written as a user would, with no
// rcu_read_lock() anywhere: the layer must see that spin_lock() took one (the self-deadlock the
// second-edition review found hidden when a model's hand-written reader lines were removed).
const lockedSchema = () => t.struct({ kernel: kernelType({ cpus: 1, maxNesting: 0, locals: t.optional(t.bool()), locks: 1 }), pc: t.int(0, 4) });
type Locked = StateOf<typeof lockedSchema>;
function lockedSyncModel() {
  return defineModel({
    name: 'sync-under-spinlock',
    params: { rt: bool(true, 'PREEMPT_RT'), locked: bool(true, 'synchronize_rcu() inside spin_lock(&sl)') },
    state: lockedSchema,
    init: (_p, d) => {
      d.kernel = initKernel<boolean | null>([{}]);
      declareLocks(d.kernel, [{ name: 'sl', type: 'spinlock_t' }]);
    },
    transitions: (s: Locked, p) => {
      const cfg = kernelConfig({ rt: p.rt });
      const step = (label: string, effect: (k: KernelDraft) => void, to: number): Transition<Locked> => ({
        lane: 'cpu0',
        label: `cpu0: ${label}`,
        apply: (d) => {
          effect(d.kernel);
          d.pc = to;
        },
      });
      const out = gpTransitions<Locked>(s, (x) => x.kernel, (d) => d.kernel) as Transition<Locked>[];
      if (s.pc === 0) out.push(step(p.locked ? 'spin_lock(&sl)' : 'no lock', (k) => void (p.locked && lock(k, cfg, 0, 'sl')), 1));
      if (s.pc === 1) out.push(step('synchronize_rcu()', (k) => synchronizeRcuBegin(k, cfg, 0), 2));
      if (s.pc === 2 && synchronizeRcuDone(s.kernel, 0)) out.push(step('synchronize_rcu() returns', (k) => synchronizeRcuEnd(k, 0), 3));
      if (s.pc === 3) out.push(step(p.locked ? 'spin_unlock(&sl)' : 'done', (k) => void (p.locked && unlock(k, cfg, 0, 'sl')), 4));
      return out;
    },
    isEndState: (s: Locked) => s.pc === 4,
    properties: [synchronizeRcuLegal<Locked, { rt: boolean }>((s) => s.kernel, 'kernel', (p) => kernelConfig({ rt: p.rt })), gracePeriodsEnd<Locked>((s) => s.kernel.rcu)],
  });
}

describe('synchronize_rcu() inside a spinlock, with no rcu_read_lock() written', () => {
  const run = (params: { rt: boolean; locked?: boolean }) => explore(anyModel(lockedSyncModel()), { locked: true, ...params });
  const verdicts = (params: { rt: boolean; locked?: boolean }) => Object.fromEntries(run(params).properties.map((p) => [p.name, p.verdict]));
  it('on RT: spin_lock() is an RCU reader, so the grace period waits for its own waiter forever', () => {
    expect(verdicts({ rt: true })).toEqual({ 'synchronize-rcu-legal': 'violated', 'grace-periods-end': 'violated', 'no-deadlock': 'violated' });
    const legal = run({ rt: true }).properties.find((p) => p.name === 'synchronize-rcu-legal')!;
    expect(legal.violation!.message).toBe(
      "synchronize_rcu() inside cpu0/task's own RCU reader (rcu_read_lock() depth 1): the grace period waits for the caller",
    );
  });
  it('on !RT: spin_lock() disables preemption: atomic, and a reader too', () => {
    const o = run({ rt: false });
    expect(o.properties.find((p) => p.name === 'synchronize-rcu-legal')!.violation!.message).toBe(
      'synchronize_rcu() in atomic context (cpu0/task: preemption disabled (preempt_count 1)): it sleeps',
    );
    expect(verdicts({ rt: false })['no-deadlock']).toBe('violated');
  });
  it('without the lock every property holds', () => {
    expect(verdicts({ rt: true, locked: false })).toEqual({ 'synchronize-rcu-legal': 'holds', 'grace-periods-end': 'holds', 'no-deadlock': 'holds' });
  });
});
