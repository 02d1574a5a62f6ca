// The kernel progress properties of properties/rcu.ts on a small RCU system: a task queues one
// call_rcu() callback, the grace-period machinery runs, a kworker invokes ready callbacks, and
// a reader on cpu1 enters and leaves its read-side section. Each buggy variant breaks one
// property, as the threads describe: a callback nobody invokes (the kworker never runs it), and
// a CPU that never passes a quiescent state (seed 004: it stays in its reader, still stepping).
import { describe, expect, it } from 'vitest';
import { anyModel, defineModel, explore, oneOf, t, type StateOf, type Transition } from '../../src/index.ts';
import { callRcu, gpTransitions, initKernel, kernelType, rcuReadLock, rcuReadUnlock, readyCallback, takeCallback } from '../../src/kernel/index.ts';
import { callbacksRun, gracePeriodsEnd } from '../../properties/rcu.ts';

const schema = () =>
  t.struct({ kernel: kernelType({ cpus: 2, maxNesting: 0, locals: t.optional(t.bool()), locks: 1, rcu: { callbacks: 1 } }), queued: t.bool(), reading: t.bool(), left: t.bool() });
type State = StateOf<typeof schema>;

const model = defineModel({
  name: 'rcu-progress',
  params: { variant: oneOf(['correct', 'never-invoked', 'reader-never-leaves'], 'correct', 'the bug') },
  state: schema,
  init: (_p, d) => void (d.kernel = initKernel<boolean | null>([{}, {}])),
  transitions: (s, p) => {
    const out: Transition<State>[] = [...gpTransitions<State>(s, (x) => x.kernel, (d) => d.kernel)];
    if (!s.queued) out.push({ lane: 'cpu0', label: 'cpu0: call_rcu(obj)', apply: (d) => void ((d.queued = true), callRcu(d.kernel.rcu, 'free obj')) });
    if (readyCallback(s.kernel.rcu) && p.variant !== 'never-invoked') out.push({ lane: 'kworker', label: 'kworker: invoke callback', apply: (d) => takeCallback(d.kernel.rcu) });
    if (!s.reading && !s.left) out.push({ lane: 'cpu1', label: 'cpu1: rcu_read_lock()', apply: (d) => void ((d.reading = true), rcuReadLock(d.kernel, 1)) });
    if (s.reading) {
      if (p.variant === 'reader-never-leaves') out.push({ lane: 'cpu1', label: 'cpu1: reads on', apply: () => {} });
      else out.push({ lane: 'cpu1', label: 'cpu1: rcu_read_unlock()', apply: (d) => void ((d.reading = false), (d.left = true), rcuReadUnlock(d.kernel, 1)) });
    }
    return out;
  },
  isEndState: () => true,
  properties: [gracePeriodsEnd<State>((s) => s.kernel.rcu), callbacksRun<State>((s) => s.kernel.rcu)],
});

const verdicts = (variant: string) => Object.fromEntries(explore(anyModel(model), { variant }).properties.map((p) => [p.name, p.verdict]));

describe('kernel progress properties', () => {
  it('hold when the reader leaves and the kworker invokes callbacks', () => {
    expect(verdicts('correct')).toEqual({ 'grace-periods-end': 'holds', 'callbacks-run': 'holds', 'no-deadlock': 'holds' });
  });
  it('callbacks-run fails when nothing invokes a ready callback', () => {
    expect(verdicts('never-invoked')).toEqual({ 'grace-periods-end': 'holds', 'callbacks-run': 'violated', 'no-deadlock': 'holds' });
  });
  it('grace-periods-end fails when a CPU never passes a quiescent state, though it keeps running', () => {
    const o = explore(anyModel(model), { variant: 'reader-never-leaves' });
    const gp = o.properties.find((p) => p.name === 'grace-periods-end')!;
    expect(gp.verdict).toBe('violated');
    const tr = gp.violation!.trace;
    // The cycle is cpu1 reading on, forever, while the grace period waits for it.
    expect(tr.steps.slice(tr.loop).map((s) => s.label)).toEqual(['cpu1: reads on']);
    expect(o.properties.find((p) => p.name === 'callbacks-run')!.verdict).toBe('violated');
  });
});
