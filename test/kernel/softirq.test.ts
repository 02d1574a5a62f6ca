import { describe, expect, it } from 'vitest';
import { anyModel, bool, defineModel, explore, t, type StateOf, type Transition } from '../../src/index.ts';
import {
  atomicReasons,
  canInterrupt,
  declareLocks,
  initKernel,
  interrupt,
  isReader,
  kernelConfig,
  kernelType,
  localBhDisable,
  localBhEnable,
  lock,
  preemptCount,
  returnFromFrame,
  top,
  unlock,
  waitContextProperties,
  type KernelDraft,
} from '../../src/kernel/index.ts';

const full = kernelConfig({ rt: false });
const rt = kernelConfig({ rt: true });
const budget = { softirq: 1, hardirq: 1 };

function base(): KernelDraft {
  const k = initKernel([{ budget }]);
  declareLocks(k, [{ name: 'l', type: 'spinlock_t' }]);
  return k;
}

describe('softirq arrival (!PREEMPT_RT): at irq exit whenever !in_interrupt(), and at local_bh_enable()', () => {
  it('inside a plain spin_lock() section, preemption off', () => {
    const k = base();
    lock(k, full, 0, 'l');
    expect(top(k, 0).preempt).toBe(1);
    expect(canInterrupt(k, full, 0, 'softirq')).toBe(true);
  });

  it('not inside spin_lock_bh() or local_bh_disable(), which count in preempt_count() and make a reader; again after the unlock', () => {
    const k = base();
    lock(k, full, 0, 'l', { bh: true });
    expect(canInterrupt(k, full, 0, 'softirq')).toBe(false);
    expect(preemptCount(k, full, 0)).toBe(0x200 + 1);
    expect(atomicReasons(k, full, 0)).toEqual(['preemption disabled (preempt_count 1)', 'bottom halves disabled']);
    unlock(k, full, 0, 'l');
    expect([top(k, 0).bh, top(k, 0).preempt, canInterrupt(k, full, 0, 'softirq')]).toEqual([0, 0, true]);
    localBhDisable(k, full, 0);
    expect([canInterrupt(k, full, 0, 'softirq'), isReader(k, 0)]).toEqual([false, true]);
    localBhEnable(k, full, 0);
    expect([canInterrupt(k, full, 0, 'softirq'), isReader(k, 0)]).toEqual([true, false]);
  });

  it('not with irqs off, not inside a hardirq (its exit runs them), not inside another softirq', () => {
    const k = base();
    interrupt(k, full, 0, 'hardirq', 'h');
    expect(canInterrupt(k, full, 0, 'softirq')).toBe(false);
    returnFromFrame(k, 0);
    interrupt(k, full, 0, 'softirq', 's');
    expect(canInterrupt(k, full, 0, 'softirq')).toBe(false);
  });

  it('on RT local_bh_disable() is preemptible and takes rcu_read_lock() ("Required to meet the RCU bottomhalf requirements")', () => {
    const k = base();
    localBhDisable(k, rt, 0);
    localBhDisable(k, rt, 0);
    expect([top(k, 0).rcu, preemptCount(k, rt, 0), atomicReasons(k, rt, 0)]).toEqual([1, 0, []]);
    localBhEnable(k, rt, 0);
    localBhEnable(k, rt, 0);
    expect([top(k, 0).rcu, top(k, 0).bh]).toEqual([0, 0]);
  });
});

// The classic: a task takes spin_lock(&l), a softirq on the same CPU takes it too. The task
// cannot run until the softirq returns: a self-deadlock. spin_lock_bh() keeps the softirq out.
const schema = () => t.struct({ kernel: kernelType({ cpus: 1, maxNesting: 1, locals: t.optional(t.bool()), locks: 1 }), task: t.int(0, 3), soft: t.int(0, 3) });
type S = StateOf<typeof schema>;
const softirqModel = defineModel({
  name: 'spin-lock-vs-softirq',
  params: { bh: bool(false, 'the task takes spin_lock_bh(&l)') },
  state: schema,
  init: (_p, d) => {
    d.kernel = initKernel<boolean | null>([{ budget: { softirq: 1 } }]);
    declareLocks(d.kernel, [{ name: 'l', type: 'spinlock_t' }]);
  },
  transitions: (s: S, p) => {
    const cfg = kernelConfig({ rt: false, maxNesting: 1 });
    const k = s.kernel;
    const out: Transition<S>[] = [];
    const inSoftirq = top(k, 0).kind === 'softirq';
    if (!inSoftirq && s.soft === 0 && canInterrupt(k, cfg, 0, 'softirq'))
      out.push({ lane: 'cpu0', label: 'cpu0: softirq enters', apply: (d) => interrupt(d.kernel, cfg, 0, 'softirq', '') });
    if (inSoftirq) {
      const l = s.soft;
      if (l === 0 && (top(k, 0).waiting === null || k.locks.get('l')!.holders.length === 0))
        out.push({ lane: 'cpu0', label: 'cpu0: softirq: spin_lock(&l)', apply: (d) => void (lock(d.kernel, cfg, 0, 'l') && (d.soft = 1)) });
      if (l === 1) out.push({ lane: 'cpu0', label: 'cpu0: softirq: spin_unlock(&l)', apply: (d) => void (unlock(d.kernel, cfg, 0, 'l'), (d.soft = 2)) });
      if (l === 2) out.push({ lane: 'cpu0', label: 'cpu0: softirq returns', apply: (d) => void (returnFromFrame(d.kernel, 0), (d.soft = 3)) });
      return out;
    }
    const lk = p.bh ? 'spin_lock_bh' : 'spin_lock';
    if (s.task === 0) out.push({ lane: 'cpu0', label: `cpu0: ${lk}(&l)`, apply: (d) => void (lock(d.kernel, cfg, 0, 'l', { bh: p.bh }) && (d.task = 1)) });
    if (s.task === 1) out.push({ lane: 'cpu0', label: `cpu0: ${lk.replace('lock', 'unlock')}(&l)`, apply: (d) => void (unlock(d.kernel, cfg, 0, 'l'), (d.task = 2)) });
    return out;
  },
  isEndState: (s: S) => s.task === 2 && s.kernel.cpus[0].frames.length === 1,
  properties: waitContextProperties<S, { bh: boolean }>((s) => s.kernel),
});

describe('spin_lock() vs a softirq on the same CPU, explored', () => {
  const run = (bh: boolean) => explore(anyModel(softirqModel), { bh });
  it('spin_lock(): the softirq that arrives inside the section spins on the lock its task holds', () => {
    const o = run(false);
    const dl = o.properties.find((p) => p.name === 'no-self-deadlock')!;
    expect(dl.violation!.trace.steps.map((s) => s.label)).toEqual(['cpu0: spin_lock(&l)', 'cpu0: softirq enters', 'cpu0: softirq: spin_lock(&l)']);
    expect(dl.violation!.message).toMatch(/^self-deadlock: cpu0 softirq spins on l \(spinlock_t\), held by cpu0 task \(task\) below it/);
  });
  it('spin_lock_bh(): every property holds', () => {
    expect(run(true).verdict).toBe('holds');
  });
});
