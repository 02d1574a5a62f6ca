import { describe, expect, it } from 'vitest';
import { anyModel, bool, defineModel, explore, invariant, t, type StateOf } from '../../src/index.ts';
import {
  alt,
  call,
  computed,
  declareLocks,
  either,
  END,
  initKernel,
  interrupt,
  kernelConfig,
  kernelType,
  lockAlt,
  program,
  programTransitions,
  HERE,
  RETURN,
  returns,
  step,
  top,
  unlock,
  type Alt,
  type Program,
} from '../../src/kernel/index.ts';

const cfg = kernelConfig({ rt: false, maxNesting: 1 });
const schema = () => t.struct({ kernel: kernelType({ cpus: 2, maxNesting: 1, locals: t.optional(t.bool()), locks: 1 }), inside: t.int(0, 2), log: t.list(t.text(), 8) });
type S = StateOf<typeof schema>;
type P = { locked: boolean };

/** Runs `prog` on every CPU's task and returns the transitions of a state. */
function runner(prog: Program<S, P>) {
  return { kernel: (s: S) => s.kernel, draft: (d: { kernel: S['kernel'] }) => d.kernel as never, programOf: () => prog };
}

// Two CPUs: lock, enter, leave, unlock — or, unlocked, the same without the lock.
const critical = program<S, P>('critical', [
  either('lock', alt('no lock', undefined, { when: (a) => !a.p.locked, goto: 'enter' }), lockAlt('l', { when: (a) => a.p.locked })),
  step('enter', 'enter', (o) => void o.d.inside++),
  step('leave', 'leave', (o) => void o.d.inside--),
  step('unlock', (a) => (a.p.locked ? 'spin_unlock(&l)' : 'done'), (o, a) => void (a.p.locked && unlock(o.k, cfg, a.cpu, 'l'))),
]);

const mutex = defineModel({
  name: 'program-mutex',
  params: { locked: bool(true, 'take the lock') },
  state: schema,
  init: (_p, d) => {
    d.kernel = initKernel<boolean | null>([{}, {}]);
    declareLocks(d.kernel, [{ name: 'l', type: 'spinlock_t' }]);
  },
  transitions: (s: S, p) => programTransitions(s, p, cfg, runner(critical)),
  isEndState: (s: S) => s.kernel.cpus.every((c) => c.frames[0].pc === END),
  properties: [invariant<S, P>('mutual-exclusion', 'at most one CPU inside', (s) => s.inside <= 1 || { message: `${s.inside} inside`, fields: ['inside'] })],
});

/** The model's initial state, as a plain value. */
function fresh(): S {
  const kernel = initKernel<boolean | null>([{}, {}]);
  declareLocks(kernel, [{ name: 'l', type: 'spinlock_t' }]);
  return { kernel, inside: 0, log: [] } as unknown as S;
}

describe('programs', () => {
  it('a spin() step waits while the lock is held elsewhere: mutual exclusion holds; without it the checker finds both inside', () => {
    const held = explore(anyModel(mutex), { locked: true });
    expect(held.verdict).toBe('holds');
    const broken = explore(anyModel(mutex), { locked: false });
    expect(broken.properties[0].violation!.trace.steps.map((x) => x.label)).toEqual(['cpu0: no lock', 'cpu0: enter', 'cpu1: no lock', 'cpu1: enter']);
  });

  it('labels name the waiting holder, and the waiter is offered again only once the lock is free', () => {
    let s = fresh();
    const labels = () => programTransitions(s, { locked: true }, cfg, runner(critical)).map((x) => x.label);
    const fire = (label: string) => {
      const x = programTransitions(s, { locked: true }, cfg, runner(critical)).find((y) => y.label === label)!;
      const d = structuredClone(s);
      x.apply(d as never);
      s = d;
    };
    expect(labels()).toEqual(['cpu0: spin_lock(&l)', 'cpu1: spin_lock(&l)']);
    fire('cpu0: spin_lock(&l)');
    expect(labels()).toEqual(['cpu0: enter', 'cpu1: spin_lock(&l) waits (held by cpu0 task (task))']);
    fire('cpu1: spin_lock(&l) waits (held by cpu0 task (task))');
    expect([s.kernel.cpus[1].frames[0].pc, s.kernel.cpus[1].frames[0].waiting]).toEqual(['lock', 'l']);
    expect(labels()).toEqual(['cpu0: enter']);
    fire('cpu0: enter');
    fire('cpu0: leave');
    fire('cpu0: spin_unlock(&l)');
    expect(labels()).toEqual(['cpu1: spin_lock(&l)']);
  });

  it('call() inlines a function: prefixed labels, return to the step after the call, gotos inside it renamed', () => {
    const fn = [step<S, P>('a', 'f: a', undefined, { goto: 'b' }), step<S, P>('b', 'f: b', () => RETURN)];
    const prog = program<S, P>('caller', [step('start', 'start'), call('f', fn), step('after', 'after'), call('f2', fn)]);
    const trail: string[] = [];
    let pc = '';
    while (pc !== END) {
      const here = prog.at(pc)!;
      trail.push(here.instr.at);
      const x = (here.instr.alts as readonly Alt<S, P>[])[0];
      pc = (x.run?.({ d: {} as never, k: {} as never }, {} as never) as string | undefined) ?? x.goto ?? here.next;
    }
    expect(trail).toEqual(['start', 'f.a', 'f.b', 'after', 'f2.a', 'f2.b']);
  });

  it('computed() offers the alternatives the state has now, stays with HERE, and its gotos are renamed inside a call', () => {
    // A countdown in `inside`: one step per remaining count, then back to the caller.
    const countdown = [
      computed<S, P>('tick', (a) =>
        a.s.inside > 0 ? [alt(`tick ${a.s.inside}`, (o) => (o.d.inside--, HERE))] : [alt('zero', undefined, { goto: 'out' }), alt('also zero', () => RETURN)],
      ),
      step<S, P>('out', 'out', () => RETURN),
    ];
    const prog = program<S, P>('p', [call('f', countdown), step('after', 'after')]);
    const s = fresh();
    (s as { inside: number }).inside = 2;
    const trail: string[] = [];
    for (let i = 0; i < 4; i++) {
      const [x] = programTransitions(s, { locked: false }, cfg, runner(prog));
      trail.push(x.label);
      x.apply(s as never);
    }
    expect(trail).toEqual(['cpu0: tick 2', 'cpu0: tick 1', 'cpu0: zero', 'cpu0: out']);
    expect(top(s.kernel, 0).pc).toBe('after');
    // cpu1 finds the count at zero: two alternatives; the one that returns goes to `after` too.
    const zero = programTransitions(s, { locked: false }, cfg, runner(prog));
    expect(zero.map((x) => x.label)).toEqual(['cpu0: after', 'cpu1: zero', 'cpu1: also zero']);
    zero[2].apply(s as never);
    expect(top(s.kernel, 1).pc).toBe('after');
  });

  it('a duplicate label or a goto to no label is a model error naming it', () => {
    expect(() => program('p', [step('a', 'x'), step('a', 'y')])).toThrow(/program p: label "a" is used twice/);
    expect(() => program('p', [step('a', 'x', undefined, { goto: 'nowhere' })])).toThrow(/"a" goes to "nowhere", which is no label; labels: a/);
    expect(() => program('p', [step('a', 'x')]).at('zz')).toThrow(/no instruction at pc "zz"/);
  });

  it('an interrupt frame runs its own program; returns() pops it and the task goes on where it was', () => {
    const task = program<S, P>('task', [step('one', 'one', (o) => void o.d.log.push('task one')), step('two', 'two', (o) => void o.d.log.push('task two'))]);
    const irq = program<S, P>('irq', [step('h', 'handler', (o) => void o.d.log.push('irq')), step('ret', 'irq_exit()', returns)]);
    const s = fresh();
    const k = s.kernel as unknown as Parameters<typeof interrupt>[0];
    k.cpus[0].budget.hardirq = 1;
    const r = { ...runner(task), programOf: (fr: { kind: string }) => (fr.kind === 'hardirq' ? irq : task) };
    const fire = (label: string) => {
      const x = programTransitions(s as S, { locked: true }, cfg, r).find((y) => y.label === label);
      expect(x, label).toBeDefined();
      x!.apply(s as never);
    };
    fire('cpu0: one');
    interrupt(k, cfg, 0, 'hardirq', '');
    fire('cpu0: hardirq: handler');
    fire('cpu0: hardirq: irq_exit()');
    expect(top(k, 0).kind).toBe('task');
    fire('cpu0: two');
    expect(s.log).toEqual(['task one', 'irq', 'task two']);
  });
});
