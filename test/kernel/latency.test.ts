import { describe, expect, it } from 'vitest';
import { declareLocks, initKernel, kernelConfig, lock, unlock, type KernelDraft } from '../../src/kernel/index.ts';
import { latencyStep, nonPreemptible } from '../../src/kernel/latency.ts';
import { after } from './after.ts';

const NRT = kernelConfig({ rt: false });
const RT = kernelConfig({ rt: true });

function kernel(): KernelDraft {
  const k = initKernel([{ task: 't0' }, { task: 't1' }]);
  declareLocks(k, [
    { name: 'raw', type: 'raw_spinlock_t' },
    { name: 'sl', type: 'spinlock_t' },
  ]);
  return k;
}

/** A kernel after `cpu` took `name`. */
function locked(cfg = NRT, cpu = 0, name = 'sl'): KernelDraft {
  const k = kernel();
  lock(k, cfg, cpu, name);
  return k;
}

describe('latency stretches', () => {
  it('a spinlock_t holder is non-preemptible on !RT only; a raw holder on both', () => {
    expect(nonPreemptible(locked(NRT), NRT, 0)).toBe(true);
    expect(nonPreemptible(locked(RT), RT, 0)).toBe(false);
    expect(nonPreemptible(locked(RT, 0, 'raw'), RT, 0)).toBe(true);
  });

  it('count own steps inside the section and the holder\'s steps while spinning on it; reset when preemptible again', () => {
    const k = kernel();
    const lat = [0, 0];
    // One step by `cpu`: its effect on the kernel, then the stretches of the successor.
    const stepBy = (cpu: number, effect: (d: KernelDraft) => void = () => {}) => {
      effect(k);
      latencyStep(k, RT, cpu, lat, 99);
    };
    stepBy(0, (d) => lock(d, RT, 0, 'raw')); // cpu0 takes the raw lock: 1
    stepBy(1, (d) => lock(d, RT, 1, 'raw')); // cpu1 starts spinning: 1
    expect(lat).toEqual([1, 1]);
    stepBy(0); // cpu0 works inside: both advance
    stepBy(0);
    expect(lat).toEqual([3, 3]);
    stepBy(0, (d) => unlock(d, RT, 0, 'raw')); // cpu0 leaves: reset; cpu1 still spins on a free lock
    expect(lat).toEqual([0, 3]);
    stepBy(1, (d) => lock(d, RT, 1, 'raw')); // cpu1 acquires
    expect(lat).toEqual([0, 4]);
    // A step outside any CPU (the RCU machinery) changes nothing; the cap holds.
    expect(after(lat, (l) => latencyStep(k, RT, null, l, 99))).toEqual([0, 4]);
    expect(after(lat, (l) => latencyStep(k, RT, 1, l, 4))).toEqual([0, 4]);
  });

  it('waiting on a sleeping lock on RT is not a stretch', () => {
    const k = locked(RT);
    expect(lock(k, RT, 1, 'sl')).toBe(false);
    expect(nonPreemptible(k, RT, 1)).toBe(false);
    expect(after([0, 0], (l) => latencyStep(k, RT, 0, l, 99))).toEqual([0, 0]);
  });
});
