import { List } from 'immutable';
import { describe, expect, it } from 'vitest';
import { declareLocks, initKernel, kernelConfig, lock, unlock, type Kernel } from '../../src/kernel/index.ts';
import { latencyStep, nonPreemptible } from '../../src/kernel/latency.ts';

const NRT = kernelConfig({ rt: false });
const RT = kernelConfig({ rt: true });

function kernel(): Kernel {
  return declareLocks(initKernel([{ task: 't0' }, { task: 't1' }]), [
    { name: 'raw', type: 'raw_spinlock_t' },
    { name: 'sl', type: 'spinlock_t' },
  ]);
}

describe('latency stretches', () => {
  it('a spinlock_t holder is non-preemptible on !RT only; a raw holder on both', () => {
    expect(nonPreemptible(lock(kernel(), NRT, 0, 'sl').k, NRT, 0)).toBe(true);
    expect(nonPreemptible(lock(kernel(), RT, 0, 'sl').k, RT, 0)).toBe(false);
    expect(nonPreemptible(lock(kernel(), RT, 0, 'raw').k, RT, 0)).toBe(true);
  });

  it('count own steps inside the section and the holder\'s steps while spinning on it; reset when preemptible again', () => {
    let k = kernel();
    let lat = List([0, 0]);
    const stepBy = (cpu: number, next: Kernel) => {
      lat = latencyStep(k, next, RT, cpu, lat, 99);
      k = next;
    };
    stepBy(0, lock(k, RT, 0, 'raw').k); // cpu0 takes the raw lock: 1
    stepBy(1, lock(k, RT, 1, 'raw').k); // cpu1 starts spinning: 1
    expect(lat.toArray()).toEqual([1, 1]);
    stepBy(0, k); // cpu0 works inside: both advance
    stepBy(0, k);
    expect(lat.toArray()).toEqual([3, 3]);
    stepBy(0, unlock(k, RT, 0, 'raw')); // cpu0 leaves: reset; cpu1 still spins on a free lock
    expect(lat.toArray()).toEqual([0, 3]);
    stepBy(1, lock(k, RT, 1, 'raw').k); // cpu1 acquires
    expect(lat.toArray()).toEqual([0, 4]);
    // A step outside any CPU (the RCU machinery) changes nothing; the cap holds.
    expect(latencyStep(k, k, RT, null, lat, 99)).toBe(lat);
    expect(latencyStep(k, k, RT, 1, lat, 4).toArray()).toEqual([0, 4]);
  });

  it('waiting on a sleeping lock on RT is not a stretch', () => {
    let k = lock(kernel(), RT, 0, 'sl').k;
    const r = lock(k, RT, 1, 'sl');
    expect(r.acquired).toBe(false);
    k = r.k;
    expect(nonPreemptible(k, RT, 1)).toBe(false);
    expect(latencyStep(k, k, RT, 0, List([0, 0]), 99).toArray()).toEqual([0, 0]);
  });
});
