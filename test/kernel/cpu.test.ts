import { describe, expect, it } from 'vitest';
import {
  atomicReasons,
  canEnterHook,
  canInterrupt,
  canSchedule,
  enterHook,
  inHardirq,
  inNmi,
  initKernel,
  interrupt,
  irqsDisabled,
  kernelConfig,
  localIrqRestore,
  localIrqSave,
  preemptDisable,
  preemptEnable,
  preemptible,
  returnFromFrame,
  runningTask,
  schedule,
  splat,
  switchLabel,
  top,
  declareLocks,
  lock,
} from '../../src/kernel/index.ts';
import { after } from './after.ts';

const nonRt = kernelConfig({ rt: false, maxNesting: 3 });
const rt = kernelConfig({ rt: true, maxNesting: 3 });
const budget = { nmi: 1, hardirq: 1, softirq: 1, hook: 1 };

describe('interrupt masking', () => {
  it('a hardirq arrives only where irqs are enabled', () => {
    const k = initKernel([{ budget }]);
    expect(canInterrupt(k, nonRt, 0, 'hardirq')).toBe(true);
    localIrqSave(k, 0);
    expect(irqsDisabled(k, 0)).toBe(true);
    expect(canInterrupt(k, nonRt, 0, 'hardirq')).toBe(false);
    localIrqRestore(k, 0);
    expect(canInterrupt(k, nonRt, 0, 'hardirq')).toBe(true);
  });

  it('preempt_disable() masks no interrupt', () => {
    const k = initKernel([{ budget }]);
    preemptDisable(k, 0);
    expect(canInterrupt(k, nonRt, 0, 'hardirq')).toBe(true);
    expect(canInterrupt(k, nonRt, 0, 'nmi')).toBe(true);
  });

  it('an NMI arrives inside irq-saved regions and inside a hardirq, but not inside an NMI', () => {
    const k = initKernel([{ budget: { nmi: 2, hardirq: 1 } }]);
    localIrqSave(k, 0);
    expect(canInterrupt(k, nonRt, 0, 'nmi')).toBe(true);
    localIrqRestore(k, 0);
    interrupt(k, nonRt, 0, 'hardirq', 'irq');
    expect(inHardirq(k, 0)).toBe(true);
    expect(irqsDisabled(k, 0)).toBe(true);
    expect(canInterrupt(k, nonRt, 0, 'hardirq')).toBe(false);
    expect(canInterrupt(k, nonRt, 0, 'nmi')).toBe(true);
    interrupt(k, nonRt, 0, 'nmi', 'nmi');
    expect(inNmi(k, 0) && inHardirq(k, 0)).toBe(true);
    expect(canInterrupt(k, nonRt, 0, 'nmi')).toBe(false);
  });

  it('returning from a handler restores the state of the interrupted frame', () => {
    const k = initKernel([{ budget }]);
    interrupt(k, nonRt, 0, 'hardirq', 'irq');
    returnFromFrame(k, 0);
    expect(top(k, 0).kind).toBe('task');
    expect(irqsDisabled(k, 0)).toBe(false);
  });

  it('interrupt current is the interrupted task', () => {
    const k = initKernel([{ task: 'kworker', budget }]);
    interrupt(k, nonRt, 0, 'nmi', 'nmi');
    expect(top(k, 0).task).toBe('kworker');
  });
});

describe('nesting bound and budget', () => {
  it('at most maxNesting frames above the task', () => {
    const one = kernelConfig({ rt: false, maxNesting: 1 });
    const k = initKernel([{ budget }]);
    interrupt(k, one, 0, 'hardirq', 'irq');
    expect(canInterrupt(k, one, 0, 'nmi')).toBe(false);
    expect(canInterrupt(k, nonRt, 0, 'nmi')).toBe(true);
  });

  it('each arrival spends budget; kinds without budget never arrive', () => {
    const k = initKernel([{ budget: { nmi: 1 } }]);
    expect(canInterrupt(k, nonRt, 0, 'hardirq')).toBe(false);
    interrupt(k, nonRt, 0, 'nmi', 'nmi');
    returnFromFrame(k, 0);
    expect(canInterrupt(k, nonRt, 0, 'nmi')).toBe(false);
  });
});

describe('hooks (tracepoint/kprobe/BPF re-entry)', () => {
  it('re-enter task context with the state of the code they interrupt', () => {
    const k = initKernel([{ task: 't0', budget }]);
    preemptDisable(k, 0);
    enterHook(k, nonRt, 0, 'bpf');
    const f = top(k, 0);
    expect([f.kind, f.task, f.preempt]).toEqual(['hook', 't0', 1]);
    expect(preemptible(k, nonRt, 0)).toBe(false);
  });

  it('never enter from hardirq or NMI', () => {
    const k = initKernel([{ budget }]);
    interrupt(k, nonRt, 0, 'nmi', 'nmi');
    expect(canEnterHook(k, nonRt, 0)).toBe(false);
  });
});

describe('atomic context', () => {
  it('names every reason, as might_sleep would', () => {
    const k = initKernel([{ budget }]);
    expect(atomicReasons(k, nonRt, 0)).toEqual([]);
    localIrqSave(k, 0);
    preemptDisable(k, 0);
    expect(atomicReasons(k, nonRt, 0)).toEqual(['irqs disabled', 'preemption disabled (preempt_count 1)']);
    localIrqRestore(k, 0);
    preemptEnable(k, 0);
    expect(atomicReasons(k, nonRt, 0)).toEqual([]);
  });

  it('softirq is atomic on !RT; on RT softirqs run in task context, so no softirq frame arrives', () => {
    const k = initKernel([{ budget }]);
    expect(atomicReasons(after(k, (d) => interrupt(d, nonRt, 0, 'softirq', 's')), nonRt, 0)).toEqual(['in softirq']);
    expect(canInterrupt(k, rt, 0, 'softirq')).toBe(false);
    expect(() => interrupt(initKernel([{ budget }]), rt, 0, 'softirq', 's')).toThrow(/softirqs run in task context there; run the softirq work as a task/);
  });
});

describe('scheduling', () => {
  it('switches tasks only where the running one is preemptible', () => {
    const k = initKernel([{ task: 'a', parked: [{ task: 'b', pc: 'start' }], budget }]);
    expect(canSchedule(k, rt, 0)).toBe(true);
    expect(canSchedule(after(k, (d) => preemptDisable(d, 0)), rt, 0)).toBe(false);
    expect(canSchedule(after(k, (d) => interrupt(d, rt, 0, 'hardirq', 'irq')), rt, 0)).toBe(false);
    schedule(k, rt, 0, 'b');
    expect(runningTask(k, 0)).toBe('b');
    schedule(k, rt, 0, 'a');
    expect(runningTask(k, 0)).toBe('a');
  });

  it('a switch reads as what it is: a preemption, a block on a sleeping lock, or the model\'s reason', () => {
    const k = initKernel([{ task: 'A', parked: [{ task: 'B', pc: 'start' }], budget }]);
    declareLocks(k, [{ name: 'sl', type: 'spinlock_t' }, { name: 'other', type: 'spinlock_t' }]);
    expect(switchLabel(k, 0, 'B')).toBe('B preempts A');
    expect(switchLabel(k, 0, 'B', 'is done')).toBe('A is done; B runs');
    // B takes sl, is preempted by A, and A then sleeps on it (RT: spinlock_t is an rt_mutex)
    schedule(k, rt, 0, 'B');
    lock(k, rt, 0, 'sl');
    schedule(k, rt, 0, 'A');
    lock(k, rt, 0, 'sl');
    expect(switchLabel(k, 0, 'B')).toBe('A blocks on sl; B runs');
  });
});

describe('splats', () => {
  it('are a set: the same report twice is one, and two reports in either order give the same state', () => {
    const a = initKernel([{ budget }, { budget }]);
    const b = initKernel([{ budget }, { budget }]);
    splat(a, 'sleep-in-atomic', 1, 'BUG: sleeping function called from invalid context: y');
    splat(a, 'invalid-wait-context', 0, 'BUG: Invalid wait context: x');
    splat(a, 'sleep-in-atomic', 1, 'BUG: sleeping function called from invalid context: y');
    splat(b, 'invalid-wait-context', 0, 'BUG: Invalid wait context: x');
    splat(b, 'sleep-in-atomic', 1, 'BUG: sleeping function called from invalid context: y');
    expect(a.splats).toEqual(b.splats);
    expect(a.splats.map((s) => s.kind)).toEqual(['invalid-wait-context', 'sleep-in-atomic']);
  });
});
