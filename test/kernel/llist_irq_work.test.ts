import { describe, expect, it } from 'vitest';
import { interrupt, initKernel, irqWorkCanRun, kernelConfig, lock, declareLocks, llistAdd, llistDelAll, llistEntries, localIrqSave, preemptDisable, type KernelDraft } from '../../src/kernel/index.ts';

const NIL = '-';

/** A list head and link words over a plain record: what a model keeps in its state. */
function list() {
  const words: Record<string, string> = {};
  let first = NIL;
  const head = { first: () => first, setFirst: (x: string) => void (first = x) };
  const links = { read: (x: string) => words[x] ?? NIL, write: (x: string, v: string) => void (words[x] = v) };
  return { head, links, words };
}

describe('llist', () => {
  it('llist_add links the new object to the old first through its own word and says whether the list was empty', () => {
    const { head, links, words } = list();
    expect(llistAdd(head, links, 'a', NIL)).toBe(true);
    expect(llistAdd(head, links, 'b', NIL)).toBe(false);
    expect(words).toEqual({ a: NIL, b: 'a' });
    expect(llistEntries(head.first(), links, NIL)).toEqual({ objects: ['b', 'a'], cycle: null });
    expect(llistDelAll(head, links, NIL)).toEqual(['b', 'a']);
    expect([head.first(), llistEntries(head.first(), links, NIL).objects]).toEqual([NIL, []]);
  });

  it('an object added twice makes the cycle the kernel would walk forever', () => {
    const { head, links } = list();
    for (const x of ['a', 'b', 'a']) llistAdd(head, links, x, NIL);
    expect(llistEntries(head.first(), links, NIL)).toEqual({ objects: ['a', 'b'], cycle: 'a' });
  });
});

describe('irq_work', () => {
  const nonRt = kernelConfig({ rt: false });
  const rt = kernelConfig({ rt: true });
  const kernel = (): KernelDraft => {
    const k = initKernel([{ budget: { nmi: 1, hardirq: 1 } }]);
    declareLocks(k, [{ name: 'l', type: 'spinlock_t' }]);
    return k;
  };

  it('!RT: runs from the irq_work interrupt, so wherever irqs are on and no NMI runs', () => {
    const k = kernel();
    expect(irqWorkCanRun(k, nonRt, 0)).toBe(true);
    preemptDisable(k, 0);
    expect(irqWorkCanRun(k, nonRt, 0)).toBe(true);
    localIrqSave(k, 0);
    expect(irqWorkCanRun(k, nonRt, 0)).toBe(false);
    const n = kernel();
    interrupt(n, nonRt, 0, 'nmi', '');
    expect(irqWorkCanRun(n, nonRt, 0)).toBe(false);
  });

  it('RT: not HARD, it runs in the per-CPU thread, so only where the CPU may schedule; HARD as on !RT', () => {
    const k = kernel();
    expect(irqWorkCanRun(k, rt, 0)).toBe(true);
    preemptDisable(k, 0);
    expect([irqWorkCanRun(k, rt, 0), irqWorkCanRun(k, rt, 0, { hard: true })]).toEqual([false, true]);
    // A spinlock_t on RT leaves the task preemptible.
    const l = kernel();
    lock(l, rt, 0, 'l');
    expect(irqWorkCanRun(l, rt, 0)).toBe(true);
    // Above a hardirq frame the thread cannot run.
    const h = kernel();
    interrupt(h, rt, 0, 'hardirq', '');
    expect(irqWorkCanRun(h, rt, 0)).toBe(false);
  });
});
