import { describe, expect, it } from 'vitest';
import { anyModel, atQuiescence, bool, defineModel, explore, invariant, t, type StateOf } from '../../src/index.ts';
import {
  declareLocks,
  END,
  endWork,
  fireWorkTimer,
  initKernel,
  kernelConfig,
  kernelType,
  lock,
  preemptDisable,
  program,
  programTransitions,
  queueDelayedWork,
  queueWork,
  startWork,
  step,
  UNBOUND,
  workInit,
  workRunnable,
  workType,
} from '../../src/kernel/index.ts';

const cfg = kernelConfig({ rt: false, maxNesting: 0 });

describe('workqueue', () => {
  it('queue_work() sets PENDING once; process_one_work() clears it before the function runs, so a queue while it runs queues it again', () => {
    const w = workInit();
    expect(queueWork(w, 0)).toBe(true);
    expect(queueWork(w, 0)).toBe(false);
    startWork(w, 0);
    expect(w.pending).toBe(false);
    expect(queueWork(w, 0)).toBe(true);
    // Not reentrant: queued again while it runs, no worker starts it before the run ends.
    expect(workRunnable(w, 0)).toBe(false);
    const k = initKernel([{ task: 'kworker' }]);
    endWork(k, cfg, 0, w, 'fn');
    expect(workRunnable(w, 0)).toBe(true);
    expect(k.splats).toEqual([]);
  });

  it("a bound workqueue runs the item on the CPU it was queued on, WQ_UNBOUND on any CPU's worker", () => {
    const bound = workInit();
    queueWork(bound, 1);
    expect([workRunnable(bound, 0), workRunnable(bound, 1)]).toEqual([false, true]);
    expect(() => startWork(bound, 0)).toThrow(/not queued for it/);
    const unbound = workInit();
    queueWork(unbound, UNBOUND);
    expect([workRunnable(unbound, 0), workRunnable(unbound, 1)]).toEqual([true, true]);
  });

  it('a delayed work is pending while its timer is armed and runnable only once the timer has fired; delay 0 queues at once', () => {
    const w = workInit();
    expect(queueDelayedWork(w, 1, true)).toBe(true);
    expect([w.pending, workRunnable(w, 1)]).toEqual([true, false]);
    expect(queueDelayedWork(w, 1, true)).toBe(false);
    expect(queueWork(w, 1)).toBe(false);
    fireWorkTimer(w);
    expect(workRunnable(w, 1)).toBe(true);
    expect(() => fireWorkTimer(w)).toThrow(/none armed/);
    const now = workInit();
    queueDelayedWork(now, 0, false);
    expect(workRunnable(now, 0)).toBe(true);
  });

  it('a work function that returns with a lock held or preemption off is "BUG: workqueue leaked lock or atomic"', () => {
    for (const leak of ['lock', 'atomic'] as const) {
      const k = initKernel([{ task: 'kworker/0:1' }]);
      declareLocks(k, [{ name: 'l', type: 'spinlock_t' }]);
      const w = workInit();
      queueWork(w, 0);
      startWork(w, 0);
      if (leak === 'lock') lock(k, cfg, 0, 'l');
      else preemptDisable(k, 0);
      endWork(k, cfg, 0, w, 'fill_page_cache_func');
      expect(k.splats.map((s) => [s.kind, s.message])).toEqual([
        ['lock-held-at-return', `BUG: workqueue leaked lock or atomic: kworker/0:1/0x00000001: last function: fill_page_cache_func${leak === 'lock' ? ' (holds l)' : ''}`],
      ]);
    }
  });

  // cpu0's task queues the work on cpu1 twice; cpu1's kworker runs it. The checker explores
  // every interleaving: the second queue_work() returns false when the first is still pending,
  // and queues a second run when the kworker has started the first.
  const schema = () => t.struct({ kernel: kernelType({ cpus: 2, maxNesting: 0, locals: t.optional(t.bool()), locks: 1 }), work: workType({ cpus: 2 }), queued: t.int(0, 2), runs: t.int(0, 3) });
  type S = StateOf<typeof schema>;
  type P = { twice: boolean };
  const queuer = program<S, P>('queuer', [
    step('q1', 'queue_work_on(1, wq, w)', (o) => void (queueWork(o.d.work, 1) && o.d.queued++)),
    step('q2', 'queue_work_on(1, wq, w)', (o) => void (queueWork(o.d.work, 1) && o.d.queued++), { goto: END }),
  ]);
  const kworker = program<S, P>('kworker', [
    step('idle', 'process_one_work(w)', (o, a) => startWork(o.d.work, a.cpu), { when: (a) => workRunnable(a.s.work, a.cpu) }),
    step('fn', 'w() returns', (o, a) => {
      o.d.runs++;
      endWork(o.k, a.cfg, a.cpu, o.d.work, 'w');
      return 'idle';
    }),
  ]);
  const model = defineModel({
    name: 'workqueue-requeue',
    params: { twice: bool(true, 'unused') },
    state: schema,
    init: (_p, d) => {
      d.kernel = initKernel<boolean | null>([{ task: 'task' }, { task: 'kworker' }]);
      d.work = workInit();
    },
    transitions: (s: S, p) => programTransitions(s, p, cfg, { kernel: (x) => x.kernel, draft: (d) => d.kernel as never, programOf: (fr) => (fr.task === 'kworker' ? kworker : queuer) }),
    isEndState: (s: S) => s.kernel.cpus[0].frames[0].pc === END && !s.work.pending && s.work.running === null,
    properties: [
      invariant<S, P>('runs-once', 'the work runs at most once', (s) => s.runs <= 1 || { message: 'ran twice', fields: ['runs'] }),
      atQuiescence<S, P>('every-queue-runs', 'every queue_work() that returned true is followed by a run', (s) => s.runs === s.queued || { message: `${s.queued} queued, ${s.runs} runs`, fields: ['runs'] }),
    ],
  });

  it('explored: a queue while the first run is under way makes a second run, and every successful queue runs', () => {
    const o = explore(anyModel(model), { twice: true });
    const byName = Object.fromEntries(o.properties.map((p) => [p.name, p]));
    expect(byName['every-queue-runs'].verdict).toBe('holds');
    expect(byName['runs-once'].verdict).toBe('violated');
    expect(byName['runs-once'].violation!.trace.steps.map((x) => x.label)).toEqual([
      'cpu0: queue_work_on(1, wq, w)',
      'cpu1: process_one_work(w)',
      'cpu0: queue_work_on(1, wq, w)',
      'cpu1: w() returns',
      'cpu1: process_one_work(w)',
      'cpu1: w() returns',
    ]);
  });
});
