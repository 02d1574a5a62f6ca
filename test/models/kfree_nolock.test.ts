import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mcBin } from '../cli/run.ts';
import model, { objName, parseObj, type State } from '../../models/kfree_nolock.ts';
import { anyModel, explore, type AnyTransition } from '../../src/index.ts';
import { bytesKey } from '../../src/core/codec.ts';
import { defaultParams } from '../../src/core/params.ts';
import { Schema } from '../../src/core/schema.ts';
import { expectDeclared, run, story } from './expect.ts';

// Two CPUs unless said otherwise: cpu0 runs task A (and on RT task B and a hook), takes the
// NMI; cpu1 frees one of cpu0's objects (c0:64#2) through its deferred list.

describe('kfree_nolock: v6.18.y (the default)', () => {
  it('!RT: every property holds (the default run); the variants that differ from it only in RT code explore the same states', () => {
    const o = run(model, {});
    expectDeclared(model, { variant: 'v6.18.y', rt: false }, o);
    expect(o.verdict).toBe('holds');
    expect(o.stats.states).toBe(228);
    // v6.18's gate is not compiled in; gated-free's and rt-nmi-trylock's gates are RT-only
    for (const variant of ['v6.18', 'gated-free', 'rt-nmi-trylock']) {
      const params = { variant, rt: false };
      const same = run(model, params);
      expectDeclared(model, params, same);
      expect([variant, same.stats.states]).toEqual([variant, 228]);
    }
  });

  it("RT, the finding: kfree_nolock() has no context gate, so the NMI's free takes the rt_spin_lock in NMI", () => {
    const params = { variant: 'v6.18.y', rt: true };
    const o = run(model, params);
    expectDeclared(model, params, o);
    const nmiFree = [
      'cpu0: nmi enters',
      'cpu0: nmi: kmalloc_nolock(64): PREEMPT_RT and in NMI -> NULL',
      "cpu0: nmi: old = xchg(stash, NULL); kfree_nolock(c0:64#1): kmalloc-64 is this CPU's slab",
      'cpu0: nmi: local_lock_irqsave(kmalloc-64)',
    ];
    expect(story(o, 'wait-context')).toEqual(nmiFree);
    expect(story(o, 'no-sleep-in-atomic')).toEqual(nmiFree);
    expect(o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!.message).toBe(
      'BUG: sleeping function called from invalid context: cpu0 nmi calls local_lock_irqsave (rt_spin_lock)(kmalloc-64@cpu0) while in NMI; no locks held [PREEMPT_RT]',
    );
    // on top of the preempted owner, the NMI (current = B, not the owner A) waits for ever
    expect(story(o, 'no-deadlock').slice(0, 7)).toEqual([
      'cpu0: A: kmalloc_nolock(64): local_lock_is_locked(kmalloc-64) = false',
      'cpu0: A: local_lock_irqsave(kmalloc-64)',
      'cpu0: B preempts A',
      'cpu0: nmi enters',
      'cpu0: nmi: kmalloc_nolock(64): PREEMPT_RT and in NMI -> NULL',
      "cpu0: nmi: old = xchg(stash, NULL); kfree_nolock(c0:64#1): kmalloc-64 is this CPU's slab",
      'cpu0: nmi: local_lock_irqsave(kmalloc-64): held by cpu0 task (A) (not running) -> waits',
    ]);
    expect(o.stats.states).toBe(12173);
  });

  it("RT without the NMI: 99a3e3a1cfc9's !preemptible() gate gives B, preemption off, NULL", () => {
    const params = { variant: 'v6.18.y', rt: true, nmi: false };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(o.verdict).toBe('holds');
    expect(o.stats.states).toBe(1334);
  });
});

describe('kfree_nolock: v6.18 (6.18.0)', () => {
  it('RT without the NMI: A holds the lock and is preempted; B, preemption off, passes in_nmi() || in_hardirq(), sees is_locked() false and sleeps on the rt_spin_lock', () => {
    const params = { variant: 'v6.18', rt: true, nmi: false };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'no-sleep-in-atomic')).toEqual([
      'cpu0: A: kmalloc_nolock(64): local_lock_is_locked(kmalloc-64) = false',
      'cpu0: A: local_lock_irqsave(kmalloc-64)',
      'cpu0: B preempts A',
      'cpu0: B: preempt_disable()',
      'cpu0: B: kmalloc_nolock(64): local_lock_is_locked(kmalloc-64) = false',
      'cpu0: B: local_lock_irqsave(kmalloc-64): held by cpu0 task (A) (not running) -> waits',
    ]);
    expect(o.properties.find((p) => p.name === 'no-sleep-in-atomic')!.violation!.message).toBe(
      'BUG: sleeping function called from invalid context: cpu0 task (B) calls local_lock_irqsave (rt_spin_lock)(kmalloc-64@cpu0) while preemption disabled (preempt_count 1); no locks held [PREEMPT_RT]',
    );
    expect(o.stats.states).toBe(1425);
  });

  it("RT: the NMI's free reaches the rt_spin_lock first, as on 6.18.y", () => {
    const params = { variant: 'v6.18', rt: true };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'wait-context').at(-1)).toBe('cpu0: nmi: local_lock_irqsave(kmalloc-64)');
    expect(o.stats.states).toBe(14393);
  });
});

describe('kfree_nolock: gated-free (kfree_nolock defers where kmalloc_nolock returns NULL)', () => {
  it('RT: every property holds', () => {
    const params = { variant: 'gated-free', rt: true };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(o.verdict).toBe('holds');
    expect(o.stats.states).toBe(8731);
  });
});

/** Labels that fired in a full run (coverage), so that a "holds" is known to cover the paths that matter. */
function fired(params: Record<string, unknown>): string[] {
  const o = explore(anyModel(model), { ...defaultParams(anyModel(model).params), ...(params as Record<string, string | boolean | number>) }, { coverage: true });
  return (o.fired ?? []).map((f) => f.label);
}

describe('kfree_nolock: gated-free takes every guarded path', () => {
  it('!RT: the NMI inside the irq-saved region retries in kmalloc-128 and defers its free; the irq_work drains both CPUs\' lists', () => {
    expect(fired({ variant: 'gated-free' })).toEqual(
      expect.arrayContaining([
        'cpu0: nmi: kmalloc_nolock(64): local_lock_is_locked(kmalloc-64) -> -EBUSY, retry in kmalloc-128',
        'cpu0: nmi: old = xchg(stash, c0:128#0); kfree_nolock(c0:64#1): local_lock_is_locked(kmalloc-64) -> defer_free: llist_add, irq_work_queue',
        'cpu0: irq_work: free_deferred_objects: __slab_free(c0:64#1)',
        "cpu1: R: kfree_nolock(c0:64#2): not in this CPU's current kmalloc-64 slab -> defer_free: llist_add, irq_work_queue",
        'cpu1: irq_work: free_deferred_objects: __slab_free(c0:64#2)',
      ]),
    );
  });

  it('RT: the hook inside the locked region retries and defers; the NMI and the preempt-disabled B get NULL; the preemptible B sleeps on A\'s lock', () => {
    expect(fired({ variant: 'gated-free', rt: true })).toEqual(
      expect.arrayContaining([
        'cpu0: hook in A: kmalloc_nolock(64): local_lock_is_locked(kmalloc-64) -> -EBUSY, retry in kmalloc-128',
        'cpu0: hook in A: old = xchg(stash, c0:128#0); kfree_nolock(c0:64#1): local_lock_is_locked(kmalloc-64) -> defer_free: llist_add, irq_work_queue',
        'cpu0: nmi: kmalloc_nolock(64): PREEMPT_RT and in NMI -> NULL',
        'cpu0: B: kmalloc_nolock(64): PREEMPT_RT and preemption disabled (preempt_count 1) -> NULL',
        // preemptible, B sleeps on the lock the preempted A holds, and gets it once A lets go
        'cpu0: B: local_lock_irqsave(kmalloc-64): held by cpu0 task (A) (not running) -> waits',
        'cpu0: B: local_lock_irqsave(kmalloc-64): acquires it',
        'cpu0: A: set_freepointer(c0:64#0, NULL); c->freelist = c0:64#0; local_unlock_irqrestore(kmalloc-64)',
      ]),
    );
  });
});

describe('kfree_nolock: no-is-locked-check', () => {
  it('!RT: the NMI pops c->freelist between the task\'s read and write; the task hands out the same object again', () => {
    const params = { variant: 'no-is-locked-check', rt: false };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'freelist-integrity')).toEqual([
      'cpu0: A: kmalloc_nolock(64): no local_lock_is_locked() check',
      'cpu0: A: local_lock_irqsave(kmalloc-64)',
      'cpu0: A: object = c->freelist (c0:64#0), next = NULL',
      'cpu0: nmi enters',
      'cpu0: nmi: kmalloc_nolock(64): no local_lock_is_locked() check',
      'cpu0: nmi: this_cpu_cmpxchg(kmalloc-64 c->freelist: c0:64#0 -> NULL) -> returns c0:64#0',
      'cpu0: nmi: old = xchg(stash, c0:64#0); kfree_nolock(c0:64#1): tid = c->tid (1); freelist = c->freelist (NULL); set_freepointer(c0:64#1, NULL)',
      'cpu0: nmi: this_cpu_cmpxchg(kmalloc-64 c->freelist, c->tid: NULL, 1 -> c0:64#1, 2)',
      'cpu0: nmi returns',
      'cpu0: A: c->freelist = NULL; local_unlock_irqrestore(kmalloc-64) -> returns c0:64#0',
    ]);
    const v = o.properties.find((p) => p.name === 'freelist-integrity')!.violation!;
    expect(v.message).toBe('c0:64#0 is in 2 places at once: cpu0 stash (BPF map) and cpu0 task A');
    expect(o.stats.states).toBe(213);
  });

  it('!RT: the DOT graph shows the NMI arriving between the task\'s lock and unlock, and marks the object handed out twice', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-kfree-'));
    try {
      const r = mcBin(['verify', 'models/kfree_nolock.ts', '--param', 'variant=no-is-locked-check', '--out', dir]);
      expect(r.code).toBe(1);
      const dot = readFileSync(join(dir, 'kfree-nolock', 'cpus=2,rt=false,nmi=true,variant=no-is-locked-check', 'freelist-integrity.dot'), 'utf8');
      const at = (text: string) => dot.indexOf(text);
      expect(at('cpu0: A: local_lock_irqsave(kmalloc-64)')).toBeGreaterThan(0);
      expect(at('cpu0: nmi enters')).toBeGreaterThan(at('cpu0: A: local_lock_irqsave(kmalloc-64)'));
      expect(at('cpu0: A: c-&gt;freelist = NULL; local_unlock_irqrestore(kmalloc-64)')).toBeGreaterThan(at('cpu0: nmi enters'));
      expect(dot).toContain('<font color="#c62828"><b>kernel.cpus[0].frames[0].data.p: NULL → c0:64#0</b></font>');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('RT: a hook inside the locked region takes the rt_spin_lock its own task holds', () => {
    const params = { variant: 'no-is-locked-check', rt: true };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'no-self-deadlock')).toEqual([
      'cpu0: A: kmalloc_nolock(64): no local_lock_is_locked() check',
      'cpu0: A: local_lock_irqsave(kmalloc-64)',
      'cpu0: hook enters in A',
      'cpu0: hook in A: kmalloc_nolock(64): no local_lock_is_locked() check',
      'cpu0: hook in A: local_lock_irqsave(kmalloc-64): held by cpu0 task (A) -> waits',
    ]);
    expect(o.properties.find((p) => p.name === 'no-self-deadlock')!.violation!.message).toContain(
      'self-deadlock: cpu0 hook (A) waits for kmalloc-64@cpu0 (local_trylock_t), held by cpu0 task (A) below it on the same CPU',
    );
    // the stuck run: everything else finishes, the hook waits for ever
    expect(story(o, 'no-deadlock').slice(-3)).toEqual([
      'cpu0: irq_work: free_deferred_objects: __slab_free(c0:64#1)',
      'cpu1: R: kfree_nolock(c0:64#2): not in this CPU\'s current kmalloc-64 slab -> defer_free: llist_add, irq_work_queue',
      'cpu1: irq_work: free_deferred_objects: __slab_free(c0:64#2)',
    ]);
    expect(o.stats.states).toBe(3013);
  });
});

describe('kfree_nolock: rt-nmi-trylock', () => {
  it('RT: rt_spin_trylock of the per-CPU lock from NMI: no Invalid wait context (trylocks are exempt), a trylock outside task context', () => {
    const params = { variant: 'rt-nmi-trylock', rt: true };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'trylock-context')).toEqual([
      'cpu0: nmi enters',
      'cpu0: nmi: kmalloc_nolock(64): local_lock_is_locked(kmalloc-64) = false',
      'cpu0: nmi: local_trylock_irqsave(kmalloc-64) -> rt_spin_trylock succeeds',
    ]);
    expect(o.properties.find((p) => p.name === 'trylock-context')!.violation!.message).toMatch(
      /^cpu0 nmi calls rt_spin_trylock\(kmalloc-64@cpu0\) on a sleeping lock \(local_trylock_t\) from NMI: an rt_mutex trylock "can only be called in thread context/,
    );
    // 22424 while splats were a list in the order they were printed; the same splats in another order are one state now.
    expect(o.stats.states).toBe(23672);
  });
});

describe('kfree_nolock: no-deferred-drain', () => {
  it('!RT: the object cpu1 deferred is never freed', () => {
    const params = { variant: 'no-deferred-drain', rt: false };
    const o = run(model, params);
    expectDeclared(model, params, o);
    const s = story(o, 'deferred-drained');
    expect(s.at(-1)).toBe("cpu1: R: kfree_nolock(c0:64#2): not in this CPU's current kmalloc-64 slab -> defer_free: llist_add");
    expect(s).not.toContain('cpu1: irq_work: free_deferred_objects: __slab_free(c0:64#2)');
    expect(o.properties.find((p) => p.name === 'deferred-drained')!.violation!.message).toBe(
      "leaked: c0:64#2 still on cpu1's deferred list; nothing will free it",
    );
    expect(o.stats.states).toBe(120);
  });

  it('RT: the NMI\'s deferred free and cpu1\'s both stay on their lists', () => {
    const params = { variant: 'no-deferred-drain', rt: true };
    const o = run(model, params);
    expectDeclared(model, params, o);
    expect(story(o, 'deferred-drained').slice(-5)).toEqual([
      'cpu0: nmi enters',
      'cpu0: nmi: kmalloc_nolock(64): PREEMPT_RT and in NMI -> NULL',
      'cpu0: nmi: old = xchg(stash, NULL); kfree_nolock(c0:64#1): PREEMPT_RT and in NMI -> defer_free: llist_add',
      'cpu0: nmi returns',
      "cpu1: R: kfree_nolock(c0:64#2): not in this CPU's current kmalloc-64 slab -> defer_free: llist_add",
    ]);
    expect(o.stats.states).toBe(3268);
  });
});

// ---- states as the search sees them: the schema's bytes
type S = State;
const m = anyModel(model);

/**
 * The model's states under `params`, straight from its functions: a state is the frozen tree
 * its bytes unpack to, two states are the same when their bytes are (a state's key).
 */
function statesOf(params: Record<string, unknown>) {
  const p = { ...defaultParams(m.params), ...params } as never;
  const schema = new Schema(m.state!(p).node);
  const bytesOf = (v: unknown) => {
    const b = new Uint8Array(schema.size);
    schema.pack(v, b, 0);
    return b;
  };
  const keyOf = (v: unknown) => bytesKey(bytesOf(v));
  /** The tree of a value's bytes: what transitions() sees of it. */
  const canonical = (v: unknown) => schema.read(bytesOf(v)) as S;
  const initial = (): S => {
    const d = schema.create();
    m.init(p, d as never);
    return canonical(d);
  };
  /** The successor of `s` by `t`: apply(next) writes a copy of `s`. */
  const after = (s: S, t: AnyTransition): S => {
    const d = schema.create();
    schema.unpack(bytesOf(s), 0, d);
    (t.apply as (next: unknown) => void)(d);
    return canonical(d);
  };
  const transitions = (s: S) => m.transitions(s, p);
  return { p, keyOf, canonical, initial, after, transitions };
}
type States = ReturnType<typeof statesOf>;

/** The first `limit` states of a BFS, straight from the model's functions. */
function reachable(sp: States, limit: number): S[] {
  const init = sp.initial();
  const seen = new Map<string, S>([[sp.keyOf(init), init]]);
  const queue = [init];
  for (let i = 0; i < queue.length && seen.size < limit; i++)
    for (const t of sp.transitions(queue[i])) {
      const n = sp.after(queue[i], t);
      const key = sp.keyOf(n);
      if (!seen.has(key)) {
        seen.set(key, n);
        queue.push(n);
      }
    }
  return [...seen.values()];
}

// ---- symmetry: with three CPUs, cpu1 and cpu2 are interchangeable. The model no longer declares
// it (a schema model's symmetry renames a universe, and renaming the universe `cpu` would move
// cpu0 and leave the texts that name CPUs as they are), so the swap the model's hand-written
// permute did is written here, over the states' trees, to check that it still is a symmetry.

/** cpu1 <-> cpu2; cpu0 stays. */
const SWAP = [0, 2, 1];
const renameCpus = (text: string) => text.replace(/cpu(\d+)/g, (_, d) => `cpu${SWAP[Number(d)]}`);
/** The object a remote CPU holds is renamed with it (slot c+1 of cpu0's kmalloc-64 slab belongs to cpu c). */
function renameObj(o: string): string {
  if (o === 'NULL') return o;
  const id = parseObj(o);
  return id.size === 64 && id.slot >= 2 ? objName({ ...id, slot: SWAP[id.slot - 1] + 1 }) : o;
}
function swapList<T>(l: readonly T[]): T[] {
  const a: T[] = new Array(l.length);
  l.forEach((x, i) => (a[SWAP[i]] = x));
  return a;
}
type Fr = S['kernel']['cpus'][number]['frames'][number];
const swapFrame = (f: Fr): Fr => ({
  ...f,
  irqSaved: [...f.irqSaved],
  data: { ...f.data, p: renameObj(f.data.p), head: renameObj(f.data.head), next: renameObj(f.data.next), x: renameObj(f.data.x), q: renameObj(f.data.q) },
  waiting: f.waiting === null ? null : renameCpus(f.waiting),
});

/** Renames cpu1 and cpu2 into each other everywhere: per-CPU arrays, lock instances and holders, splats, objects. */
function swapRemote(s: S): S {
  const k = s.kernel;
  const cpus = swapList(k.cpus.map((cpu) => ({ frames: cpu.frames.map(swapFrame), parked: cpu.parked.map((fs) => fs.map(swapFrame)), budget: { ...cpu.budget } })));
  const locks = new Map(
    [...k.locks].map(([name, l]) => [
      renameCpus(name),
      { ...l, name: renameCpus(l.name), cpu: l.cpu < 0 ? l.cpu : SWAP[l.cpu], holders: l.holders.map((h) => ({ ...h, cpu: SWAP[h.cpu] })) },
    ]),
  );
  const splats = k.splats.map((sp) => ({ ...sp, cpu: SWAP[sp.cpu], message: renameCpus(sp.message) }));
  const pcpu = swapList(
    s.pcpu.map((pc) => ({
      slabs: pc.slabs.map((sl) => {
        // cpu0's kmalloc-64 free pointers are indexed by slot: move them with the slots
        const next = sl.next.map(renameObj);
        const moved = next.length > 2 ? next.map((_, slot) => (slot >= 2 ? next[SWAP.indexOf(slot - 1) + 1] : next[slot])) : next;
        return { current: sl.current, head: renameObj(sl.head), tid: sl.tid, next: moved, freed: sl.freed.map(renameObj) };
      }),
      deferred: renameObj(pc.deferred),
      irqWork: pc.irqWork,
      stash: renameObj(pc.stash),
    })),
  );
  return { kernel: { cpus, locks, splats, rcu: s.kernel.rcu }, pcpu };
}

function checkSymmetry(params: Record<string, unknown>, limit: number): number {
  const sp = statesOf(params);
  const swap = (s: S) => sp.canonical(swapRemote(s));
  const init = sp.initial();
  expect(sp.keyOf(swap(init))).toBe(sp.keyOf(init));
  let moved = 0;
  for (const s of reachable(sp, limit)) {
    const ps = swap(s);
    if (sp.keyOf(ps) !== sp.keyOf(s)) moved++;
    // swapping twice (the swap is its own inverse) gives the state back
    expect(sp.keyOf(swap(ps))).toBe(sp.keyOf(s));
    // the successors of the swapped state are the swapped successors
    const succ = sp.transitions(s).map((t) => sp.keyOf(swap(sp.after(s, t))));
    const permSucc = sp.transitions(ps).map((t) => sp.keyOf(sp.after(ps, t)));
    expect(new Set(permSucc)).toEqual(new Set(succ));
    expect(permSucc.length).toBe(succ.length);
    // and every invariant gives the same verdict on both
    for (const prop of m.properties)
      if (prop.kind === 'invariant') expect(prop.check(ps, sp.p) === true).toBe(prop.check(s, sp.p) === true);
  }
  return moved;
}

describe('kfree_nolock: symmetry of the remote CPUs', () => {
  it('the model declares no symmetry (mc could not rename the CPU names in its texts), so --symmetry is refused', () => {
    expect(m.symmetry).toBeUndefined();
    expect(() => explore(m, { ...defaultParams(m.params), cpus: 3 }, { symmetry: true })).toThrow(/declares no interchangeable lanes/);
  });

  it('!RT, 3 CPUs: on every reachable state, swapping cpu1 and cpu2 twice is the identity and commutes with the transitions', () => {
    expect(checkSymmetry({ cpus: 3 }, 1000)).toBeGreaterThan(100);
  });

  it('RT, 3 CPUs, the first 600 states: the same', () => {
    expect(checkSymmetry({ cpus: 3, rt: true }, 600)).toBeGreaterThan(50);
  });
});

describe('kfree_nolock: memory by word', () => {
  const word = (st: S, x: string) => {
    const id = parseObj(x);
    return st.pcpu[id.cpu].slabs[id.size === 64 ? 0 : 1].next[id.slot];
  };
  /** Every reachable state with its outgoing transitions' labels. */
  const graph = (params: Record<string, unknown>) => {
    const sp = statesOf(params);
    return reachable(sp, 100_000).map((st) => ({ st, labels: sp.transitions(st).map((t) => t.label), sp }));
  };

  it("!RT: the task's lockless free is a read, then a cmpxchg of (c->freelist, c->tid); an NMI in between makes it fail and go to redo", () => {
    const all = graph({});
    const fails = all.filter((g) => g.labels.some((l) => /^cpu0: A: this_cpu_cmpxchg\(kmalloc-64 c->freelist, c->tid: .* fails \(now .*\): note_cmpxchg_failure\(\); goto redo$/.test(l)));
    expect(fails.length).toBeGreaterThan(0);
    let retried = 0;
    let dropped = 0;
    for (const { st, sp, labels } of fails) {
      // the NMI changed c->tid since A read it; A's object already points at what it read
      const loc = st.kernel.cpus[0].frames[0].data;
      expect(st.pcpu[0].slabs[0].tid).not.toBe(loc.tid);
      expect(word(st, loc.x)).toBe(loc.head);
      // after the failure A is back at redo: and checks again: either its slab is still c->slab,
      // and its second cmpxchg, with nothing left to interrupt it, succeeds; or the NMI's
      // kmalloc found the slab empty and dropped it (c->slab = NULL), and A defers the free
      const t = sp.transitions(st).find((x) => x.label === labels.find((l) => l.includes('goto redo')))!;
      const redo = sp.after(st, t);
      const [again] = sp.transitions(redo).filter((x) => x.label.startsWith('cpu0: A: redo: '));
      if (again.label.includes('defer_free')) {
        expect(again.label).toMatch(/^cpu0: A: redo: not in this CPU's current kmalloc-64 slab -> defer_free/);
        expect(redo.pcpu[0].slabs[0].current).toBe(false);
        dropped++;
        continue;
      }
      const read = sp.after(redo, again);
      expect(sp.transitions(read).some((x) => /^cpu0: A: this_cpu_cmpxchg\(kmalloc-64 c->freelist, c->tid: .*\)$/.test(x.label))).toBe(true);
      retried++;
    }
    expect([retried > 0, dropped > 0]).toEqual([true, true]);
    // Only c->tid tells: the NMI found the slab empty and dropped it (c->slab = NULL,
    // next_tid()), so c->freelist is still the NULL A read; without the tid A's cmpxchg would
    // push its object onto the freelist of a slab that is no longer this CPU's.
    const tidOnly = fails.filter(({ st }) => st.pcpu[0].slabs[0].head === st.kernel.cpus[0].frames[0].data.head);
    expect(tidOnly.length).toBeGreaterThan(0);
    for (const { st } of tidOnly) expect([st.pcpu[0].slabs[0].head, st.pcpu[0].slabs[0].current]).toEqual(['NULL', false]);
  });

  it("an empty c->freelist is refilled from slab->freelist (get_freelist()), and with nothing there the slab stops being c->slab", () => {
    for (const rt of [false, true]) {
      const labels = graph({ rt }).flatMap((g) => g.labels);
      // cpu1's remote free, drained into cpu0's slab->freelist, comes back to an allocation on cpu0
      expect(labels.some((l) => /^cpu0: (A|B|nmi|hook in A): c->freelist empty; get_freelist\(\): slab->freelist \(c0:64#2\); c->freelist = NULL; local_unlock_irqrestore\(kmalloc-64\) -> returns c0:64#2$/.test(l))).toBe(true);
      // with slab->freelist empty too: c->slab = NULL, and then a free on cpu0 is a remote one
      expect(labels.some((l) => l.endsWith('c->freelist and slab->freelist empty: c->slab = NULL; local_unlock_irqrestore(kmalloc-64); new_slab (not modelled) -> NULL'))).toBe(true);
      expect(labels.some((l) => /^cpu0: (A|B|nmi|hook in A): .*kfree_nolock\(c0:64#\d\): not in this CPU's current kmalloc-64 slab -> defer_free/.test(l))).toBe(true);
    }
    // 6.18.0 on RT, where B, preemption off, allocates too and can empty the slab before its
    // second call: that call finds no c->slab (and no new slab is modelled)
    const labels = graph({ rt: true, variant: 'v6.18' }).flatMap((g) => g.labels);
    expect(labels.some((l) => /^cpu0: B: kmalloc_nolock\(64\): .*; c->slab is NULL: new_slab \(not modelled\) -> NULL$/.test(l))).toBe(true);
  });

  it('defer_free() links the llist through the object\'s free pointer, and the irq_work clears it', () => {
    const all = graph({ variant: 'gated-free', rt: true });
    const two = all.filter(({ st }) => st.pcpu[0].deferred !== 'NULL' && word(st, st.pcpu[0].deferred) !== 'NULL');
    expect(two.length).toBeGreaterThan(0);
    // following the words from the head visits distinct objects and ends at NULL
    for (const { st } of two) {
      const seen: string[] = [];
      for (let o = st.pcpu[0].deferred; o !== 'NULL'; o = word(st, o)) {
        expect(seen).not.toContain(o);
        seen.push(o);
      }
      expect(seen.length).toBeGreaterThanOrEqual(2);
    }
    // after free_deferred_objects() every object it freed has a NULL free pointer
    for (const { st, sp } of all)
      for (const t of sp.transitions(st).filter((x) => x.label.startsWith('cpu0: irq_work: free_deferred_objects: '))) {
        const after = sp.after(st, t);
        expect(after.pcpu[0].deferred).toBe('NULL');
        for (const x of t.label.replace(/^.*__slab_free\((.*)\)$/, '$1').split(', ')) expect(word(after, x)).toBe('NULL');
      }
  });
});

describe('kfree_nolock: 3 CPUs', () => {
  it('!RT v6.18.y holds with 860 states; no-is-locked-check still corrupts the freelist', () => {
    const up = run(model, { cpus: 3 });
    expectDeclared(model, { variant: 'v6.18.y', rt: false, cpus: 3 }, up);
    expect(up.stats.states).toBe(860);
    const bad = run(model, { cpus: 3, variant: 'no-is-locked-check' });
    expectDeclared(model, { variant: 'no-is-locked-check', rt: false, cpus: 3 }, bad);
    expect(bad.stats.states).toBe(796);
  });
});

// ---- Transition.local: the steps marked local commute with every other lane's and no property sees them
function checkLocal(params: Record<string, unknown>, limit: number): number {
  const sp = statesOf(params);
  const p = sp.p;
  let checked = 0;
  for (const s of reachable(sp, limit)) {
    const ts = sp.transitions(s);
    for (const t of ts.filter((x) => x.local)) {
      checked++;
      const ts1 = sp.after(s, t);
      for (const prop of m.properties) {
        if (prop.kind === 'invariant') expect(prop.check(ts1, p) === true, `${t.label} changes ${prop.name}`).toBe(prop.check(s, p) === true);
        if (prop.kind === 'step') expect(prop.check(s, t, ts1, p)).toBe(true);
      }
      for (const u of ts.filter((x) => x.lane !== t.lane)) {
        const us = sp.after(s, u);
        const tAfterU = sp.transitions(us).find((x) => x.label === t.label);
        const uAfterT = sp.transitions(ts1).find((x) => x.label === u.label);
        expect(tAfterU, `${t.label} disabled by ${u.label}`).toBeDefined();
        expect(uAfterT, `${u.label} disabled by ${t.label}`).toBeDefined();
        expect(sp.keyOf(sp.after(us, tAfterU!))).toBe(sp.keyOf(sp.after(ts1, uAfterT!)));
      }
    }
  }
  return checked;
}

describe('kfree_nolock: the transitions declared local', () => {
  it('!RT, 3 CPUs, every reachable state: independent of the other lanes and invisible to every property', () => {
    expect(checkLocal({ cpus: 3 }, 1000)).toBeGreaterThan(100);
  });

  it('RT, 2 CPUs, the first 1500 states: the same', () => {
    expect(checkLocal({ rt: true }, 1500)).toBeGreaterThan(100);
  });

  it("mc's own check of the declarations passes under --por (lane cpuN owns kernel.cpus[N] and pcpu[N]), with the same verdicts", () => {
    const settings: Record<string, string | number | boolean>[] = [{ cpus: 3 }, { variant: 'no-is-locked-check', rt: true }];
    for (const params of settings) {
      const o = explore(m, { ...defaultParams(m.params), ...params }, { por: true });
      expectDeclared(model, { variant: 'v6.18.y', rt: false, ...params }, o);
      expect(o.stats.states).toBeGreaterThan(0);
    }
  });
});
