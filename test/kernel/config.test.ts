import { describe, expect, it } from 'vitest';
import {
  atomicReasons,
  canSchedule,
  configName,
  declareLocks,
  inAtomic,
  initKernel,
  interrupt,
  kernelConfig,
  lock,
  mightSleep,
  nonPreemptible,
  preemptCount,
  preemptible,
  rcuPreemptDepth,
  rcuReadLock,
  schedule,
  type KernelConfig,
  type KernelDraft,
} from '../../src/kernel/index.ts';

const full = kernelConfig({ rt: false });
const rt = kernelConfig({ rt: true });
const none = kernelConfig({ preemption: 'none' });
const noneNoCount = kernelConfig({ preemption: 'none', preemptCount: false });
const voluntary = kernelConfig({ preemption: 'voluntary' });

/** One CPU running task A, with B parked, the usual locks, and one arrival of each interrupt. */
function base(): KernelDraft {
  const k = initKernel([{ task: 'A', parked: [{ task: 'B', pc: '' }], budget: { nmi: 1, hardirq: 1, softirq: 1 } }]);
  declareLocks(k, [
    { name: 'rq->lock', type: 'raw_spinlock_t' },
    { name: 'zone->lock', type: 'spinlock_t' },
    { name: 'm', type: 'mutex' },
  ]);
  return k;
}

const splats = (k: KernelDraft) => k.splats.map((s) => `${s.kind}: ${s.message}`);

describe('kernelConfig', () => {
  it('derives PREEMPT_COUNT and PREEMPT_RCU from the preemption model as Kconfig does', () => {
    expect([full.preemption, full.preemptCount, full.preemptRcu]).toEqual(['full', true, true]);
    expect([rt.preemption, rt.rt, rt.preemptRcu]).toEqual(['rt', true, true]);
    expect([none.preemptCount, none.preemptRcu, noneNoCount.preemptCount]).toEqual([true, false, false]);
    expect(kernelConfig({ preemption: 'rt' }).rt).toBe(true);
  });

  it('refuses configurations Kconfig cannot produce', () => {
    expect(() => kernelConfig({ preemption: 'full', preemptCount: false })).toThrow(/PREEMPTION selects PREEMPT_COUNT/);
    expect(() => kernelConfig({ rt: true, preemption: 'none' })).toThrow(/contradicts/);
    expect(() => kernelConfig({ preemption: 'lazy' as never })).toThrow(/one of none, voluntary, full, rt/);
  });

  it('names the two defaults as before and every other option that differs', () => {
    expect(configName(full)).toBe('!PREEMPT_RT');
    expect(configName(rt)).toBe('PREEMPT_RT');
    expect(configName(noneNoCount)).toBe('PREEMPT_NONE, !PREEMPT_COUNT, !PREEMPT_RCU');
    expect(configName(kernelConfig({ rt: false, proveRawLockNesting: false }))).toBe('!PREEMPT_RT, !PROVE_RAW_LOCK_NESTING');
    expect(configName(kernelConfig({ preemption: 'none', smp: false }))).toBe('PREEMPT_NONE, !SMP, TINY_RCU');
    expect(configName(kernelConfig({ preemption: 'full', smp: false }))).toBe('!PREEMPT_RT, !SMP');
  });

  it('TINY_RCU is !SMP without PREEMPTION; a preemptible UP kernel keeps tree RCU with PREEMPT_RCU', () => {
    for (const preemption of ['none', 'voluntary'] as const) {
      const c = kernelConfig({ preemption, smp: false });
      expect([c.smp, c.tinyRcu, c.preemptRcu]).toEqual([false, true, false]);
      expect(kernelConfig({ preemption }).tinyRcu).toBe(false);
    }
    for (const preemption of ['full', 'rt'] as const) expect([kernelConfig({ preemption, smp: false }).tinyRcu, kernelConfig({ preemption, smp: false }).preemptRcu]).toEqual([false, true]);
  });
});

describe('preempt_count(), in_atomic(), preemptible() as the kernel computes them', () => {
  it('a spinlock is counted only with PREEMPT_COUNT; the CPU is atomic either way', () => {
    for (const [cfg, count] of [[full, 1], [none, 1], [noneNoCount, 0]] as [KernelConfig, number][]) {
      const k = base();
      lock(k, cfg, 0, 'rq->lock');
      expect(preemptCount(k, cfg, 0)).toBe(count);
      expect(inAtomic(k, cfg, 0)).toBe(count > 0);
      expect(atomicReasons(k, cfg, 0)).toEqual(['preemption disabled (preempt_count 1)']);
    }
  });

  it('preemptible() is 0 without PREEMPT_COUNT, even where the task could sleep', () => {
    expect(preemptible(base(), noneNoCount, 0)).toBe(false);
    expect(preemptible(base(), none, 0)).toBe(true);
    expect(preemptible(base(), full, 0)).toBe(true);
  });

  it('interrupts add their offsets; a !RT softirq is not preemptible', () => {
    const hard = base();
    interrupt(hard, full, 0, 'hardirq', 'h');
    expect(preemptCount(hard, full, 0)).toBe(0x10000);
    interrupt(hard, full, 0, 'nmi', 'n');
    expect(preemptCount(hard, full, 0)).toBe(0x10000 + 0x110000);
    const soft = (cfg: KernelConfig) => {
      const k = base();
      interrupt(k, cfg, 0, 'softirq', 's');
      return k;
    };
    expect(preemptCount(soft(full), full, 0)).toBe(0x100);
    expect(preemptible(soft(full), full, 0)).toBe(false);
  });

  it('rcu_read_lock() is preempt_disable() on !PREEMPT_RCU and a nesting count on PREEMPT_RCU', () => {
    for (const cfg of [full, none, noneNoCount]) {
      const k = base();
      rcuReadLock(k, 0);
      const preemptRcu = cfg.preemptRcu;
      expect(rcuPreemptDepth(k, cfg, 0)).toBe(preemptRcu ? 1 : 0);
      expect(preemptCount(k, cfg, 0)).toBe(cfg.preemptCount && !preemptRcu ? 1 : 0);
      expect(atomicReasons(k, cfg, 0).length > 0).toBe(!preemptRcu);
    }
  });

  it('an interrupt runs as current: rcu_preempt_depth() in a hardirq counts the task it interrupted', () => {
    const k = base();
    rcuReadLock(k, 0);
    interrupt(k, full, 0, 'hardirq', 'h');
    expect(rcuPreemptDepth(k, full, 0)).toBe(1);
  });
});

describe('preemption points per preemption model', () => {
  const points = ['anywhere', 'might_sleep', 'cond_resched'] as const;
  const allowed = (cfg: KernelConfig, k = base()) => points.filter((at) => canSchedule(k, cfg, 0, at));

  it('PREEMPT and PREEMPT_RT preempt anywhere; VOLUNTARY at might_sleep() and cond_resched(); NONE at cond_resched() only', () => {
    expect(allowed(full)).toEqual(['anywhere', 'might_sleep', 'cond_resched']);
    expect(allowed(rt)).toEqual(['anywhere', 'might_sleep', 'cond_resched']);
    expect(allowed(voluntary)).toEqual(['might_sleep', 'cond_resched']);
    expect(allowed(none)).toEqual(['cond_resched']);
    expect(() => schedule(base(), none, 0, 'B')).toThrow(/cannot schedule now \(involuntary preemption\)/);
  });

  it('a PREEMPT_RCU reader may be preempted; a !PREEMPT_RCU reader not even at cond_resched()', () => {
    const reader = () => {
      const k = base();
      rcuReadLock(k, 0);
      return k;
    };
    expect(allowed(full, reader())).toEqual(['anywhere', 'might_sleep', 'cond_resched']);
    expect(allowed(none, reader())).toEqual([]);
  });

  it('a task blocked on a sleeping lock is switched out under every model', () => {
    const k = base();
    k.locks.get('m')!.holders.push({ cpu: 0, depth: 0, task: 'B', kind: 'task', irqsave: false, bh: false });
    expect(lock(k, none, 0, 'm')).toBe(false);
    expect(allowed(none, k)).toEqual(['anywhere', 'might_sleep', 'cond_resched']);
  });

  it('without involuntary preemption running kernel code counts as non-preemptible for the latency measure', () => {
    expect(nonPreemptible(base(), full, 0)).toBe(false);
    expect(nonPreemptible(base(), none, 0)).toBe(true);
    expect(nonPreemptible(base(), voluntary, 0)).toBe(true);
  });
});

describe('lockdep and might_sleep() under each configuration', () => {
  it('a mutex inside rcu_read_lock() is an Invalid wait context (rcu_lock_map is LD_WAIT_CONFIG) and a sleep in a PREEMPT_RCU reader', () => {
    const k = base();
    rcuReadLock(k, 0);
    lock(k, full, 0, 'm');
    expect(splats(k)).toEqual([
      expect.stringMatching(/^invalid-wait-context: .*m \(mutex\) \{SLEEP\} with mutex_lock in a \{CONFIG\} context \(inside rcu_read_lock\(\)\)/),
      expect.stringMatching(/^sleep-in-atomic: .*calls mutex_lock\(m\) while in an RCU read-side critical section \(rcu_preempt_depth\(\) 1\)/),
    ]);
  });

  it('a spinlock_t inside rcu_read_lock() is valid; on RT its rt_spin_lock() expects the caller\'s RCU depth', () => {
    for (const cfg of [full, rt]) {
      const k = base();
      rcuReadLock(k, 0);
      lock(k, cfg, 0, 'zone->lock');
      expect(splats(k)).toEqual([]);
    }
  });

  it('on RT a mutex under spin_lock() splats: the spinlock_t holds an RCU read-side section', () => {
    const k = base();
    lock(k, rt, 0, 'zone->lock');
    lock(k, rt, 0, 'm');
    expect(splats(k)).toContainEqual(expect.stringMatching(/^sleep-in-atomic: .*rcu_preempt_depth\(\) 1/));
  });

  it('without PROVE_RAW_LOCK_NESTING a spinlock_t under a raw_spinlock_t is not reported on !RT', () => {
    const nested = (cfg: KernelConfig) => {
      const k = base();
      lock(k, cfg, 0, 'rq->lock');
      lock(k, cfg, 0, 'zone->lock');
      return splats(k);
    };
    expect(nested(full)).toEqual([expect.stringMatching(/^invalid-wait-context: .*zone->lock \(spinlock_t\) \{CONFIG\}.*in a \{SPIN\} context/)]);
    expect(nested(kernelConfig({ rt: false, proveRawLockNesting: false }))).toEqual([]);
  });

  it('without PREEMPT_COUNT sleeping under a spinlock is still a bug, and the splat says no such kernel prints it', () => {
    const k = base();
    lock(k, noneNoCount, 0, 'rq->lock');
    mightSleep(k, noneNoCount, 0, 'kmalloc(GFP_KERNEL)');
    expect(splats(k)).toEqual([expect.stringMatching(/while preemption disabled .*\[PREEMPT_NONE, !PREEMPT_COUNT, !PREEMPT_RCU\]; no kernel of this configuration reports it/)]);
  });
});
