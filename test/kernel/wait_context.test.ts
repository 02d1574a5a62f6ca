import { describe, expect, it } from 'vitest';
import { anyModel, bool, defineModel, explore, t, type StateOf, type Transition } from '../../src/index.ts';
import {
  canAcquire,
  canInterrupt,
  declareLocks,
  initKernel,
  interrupt,
  kernelConfig,
  kernelType,
  lock,
  returnFromFrame,
  setPc,
  top,
  unlock,
  waitContextProperties,
} from '../../src/kernel/index.ts';

// One CPU: the task takes rq->lock (raw), an NMI or hardirq may arrive anywhere and takes
// `lock` (raw or spinlock_t, per parameter), then returns. Frames have no locals (always null).
const schema = () => t.struct({ kernel: kernelType({ cpus: 1, maxNesting: 2, locals: t.optional(t.bool()), locks: 2 }) });
type S = StateOf<typeof schema>;

const model = defineModel({
  name: 'wait-context-demo',
  params: {
    spinlockInIrq: bool(false, 'the hardirq takes a spinlock_t instead of the raw lock'),
    rt: bool(false, 'PREEMPT_RT'),
    irqsave: bool(true, 'the task takes rq->lock with raw_spin_lock_irqsave'),
  },
  state: schema,
  init: (_p, draft) => {
    draft.kernel = initKernel<boolean | null>([{ task: 't0', pc: 'lock', budget: { hardirq: 1 } }]);
    declareLocks(draft.kernel, [
      { name: 'rq->lock', type: 'raw_spinlock_t' },
      { name: 'zone->lock', type: 'spinlock_t' },
    ]);
  },
  transitions: (s, p) => {
    const cfg = kernelConfig({ rt: p.rt });
    const k = s.kernel;
    const fr = top(k, 0);
    const out: Transition<S>[] = [];
    const name = fr.kind === 'hardirq' ? (p.spinlockInIrq ? 'zone->lock' : 'rq->lock') : 'rq->lock';
    const who = fr.kind === 'hardirq' ? 'cpu0: hardirq' : 'cpu0';
    if (fr.pc === 'lock' && (fr.waiting === null || canAcquire(k, cfg, 0, name)))
      out.push({
        lane: 'cpu0',
        label: `${who} takes ${name}`,
        apply: (d) => {
          if (lock(d.kernel, cfg, 0, name, { irqsave: fr.kind === 'task' && p.irqsave })) setPc(d.kernel, 0, 'unlock');
        },
      });
    if (fr.pc === 'unlock')
      out.push({
        lane: 'cpu0',
        label: `${who} releases ${name}`,
        apply: (d) => {
          unlock(d.kernel, cfg, 0, name);
          setPc(d.kernel, 0, 'done');
        },
      });
    if (fr.pc === 'done' && fr.kind === 'hardirq') out.push({ lane: 'cpu0', label: 'cpu0: hardirq returns', apply: (d) => returnFromFrame(d.kernel, 0) });
    if (canInterrupt(k, cfg, 0, 'hardirq')) out.push({ lane: 'cpu0', label: 'cpu0: hardirq enters', apply: (d) => interrupt(d.kernel, cfg, 0, 'hardirq', 'lock') });
    return out;
  },
  isEndState: (s) => top(s.kernel, 0).pc === 'done' && top(s.kernel, 0).kind === 'task',
  properties: waitContextProperties<S, { spinlockInIrq: boolean; rt: boolean; irqsave: boolean }>((s) => s.kernel),
});

describe('wait-context properties through explore()', () => {
  it('a raw lock taken in a hardirq while irqs are on holds everything', () => {
    const o = explore(anyModel(model), { spinlockInIrq: false, rt: false, irqsave: true });
    expect(o.verdict).toBe('holds');
    // task at lock / unlock / done × hardirq not yet, at each of its steps, returned; none while irqs are off
    expect(o.stats.states).toBe(12);
  });

  it('a spinlock_t taken in a hardirq: Invalid wait context at the take, with the shortest path', () => {
    const o = explore(anyModel(model), { spinlockInIrq: true, rt: false, irqsave: true });
    const wc = o.properties.find((p) => p.name === 'wait-context')!;
    expect(wc.verdict).toBe('violated');
    expect(wc.violation!.trace.steps.map((s) => s.label)).toEqual(['cpu0: hardirq enters', 'cpu0: hardirq takes zone->lock']);
    expect(wc.violation!.message).toBe(
      'BUG: Invalid wait context: cpu0 hardirq is trying to lock zone->lock (spinlock_t) {CONFIG} with spin_lock in a {SPIN} context (non-threaded hardirq); no locks held [!PREEMPT_RT]',
    );
    expect(o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.verdict).toBe('holds');
  });

  it('on RT the same spinlock_t in a hardirq also may sleep', () => {
    const o = explore(anyModel(model), { spinlockInIrq: true, rt: true, irqsave: true });
    expect(o.properties.filter((p) => p.verdict === 'violated').map((p) => p.name)).toEqual(['wait-context', 'no-sleep-in-atomic']);
  });

  it('raw_spin_lock without irqsave: a hardirq spinning on the lock its task holds is a self-deadlock', () => {
    const o = explore(anyModel(model), { spinlockInIrq: false, rt: false, irqsave: false });
    const sd = o.properties.find((p) => p.name === 'no-self-deadlock')!;
    expect(sd.verdict).toBe('violated');
    expect(sd.violation!.trace.steps.map((s) => s.label)).toEqual(['cpu0 takes rq->lock', 'cpu0: hardirq enters', 'cpu0: hardirq takes rq->lock']);
    expect(sd.violation!.fields).toEqual(['kernel.cpus[0].frames[1].waiting']);
    expect(o.properties.find((p) => p.name === 'no-deadlock')!.verdict).toBe('violated');
    expect(o.properties.find((p) => p.name === 'wait-context')!.verdict).toBe('holds');
  });
});

describe('lockdep annotations (KernelConfig.lockdepWaitTypes): option D of seed 000', () => {
  const kernel = () => {
    const k = initKernel([{ task: 't0' }]);
    declareLocks(k, [
      { name: 'krcp->lock', type: 'raw_spinlock_t' },
      { name: 'zone->lock', type: 'spinlock_t' },
      { name: 'below', type: 'spinlock_t' },
    ]);
    return k;
  };
  const annotated = kernelConfig({ rt: false, lockdepWaitTypes: { 'zone->lock': 'SPIN' } });

  it('zone->lock checked as LD_WAIT_SPIN nests under a raw lock without a splat', () => {
    const plain = kernel();
    lock(plain, kernelConfig({ rt: false }), 0, 'krcp->lock');
    lock(plain, kernelConfig({ rt: false }), 0, 'zone->lock');
    expect(plain.splats.map((s) => s.kind)).toEqual(['invalid-wait-context']);
    const k = kernel();
    lock(k, annotated, 0, 'krcp->lock');
    lock(k, annotated, 0, 'zone->lock');
    expect(k.splats).toEqual([]);
  });

  it('and then every spinlock_t taken under it splats, naming the annotation: "locks further down which then need the same treatment"', () => {
    const k = kernel();
    lock(k, annotated, 0, 'zone->lock');
    lock(k, annotated, 0, 'below');
    expect(k.splats.map((s) => s.kind)).toEqual(['invalid-wait-context']);
    expect(k.splats[0].message).toMatch(/#0: zone->lock \(spinlock_t\) \{SPIN\} held by cpu0 task \(t0\) \[!PREEMPT_RT, zone->lock annotated \{SPIN\}\]/);
  });
});
