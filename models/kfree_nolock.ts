// kmalloc_nolock() against an NMI, first version (the kernel layer refines it).
//
// Each CPU's task allocates one object from its per-CPU slab inside
// local_lock_irqsave(&s->lock): it reads the freelist head, then writes head = next(head).
// local_irq_save() masks hardirqs but not NMIs, so an NMI can arrive between the two steps and
// run kmalloc_nolock() on the same CPU. Upstream (mm/slub.c) the NMI first asks
// local_lock_is_locked(): on !PREEMPT_RT that reads this CPU's `acquired` flag, which the
// interrupted task has set, so the NMI leaves the cache alone and returns NULL. The
// `no-is-locked-check` variant goes straight to the freelist: both take the same object.
import { List, Record } from 'immutable';
import { defineModel, int, invariant, oneOf, type Transition } from '../src/index.ts';

/** Per-CPU slab: the freelist is a linked list through the objects' (fixed) next pointers. */
const Cpu = Record(
  {
    taskPc: 'idle' as 'idle' | 'locked' | 'read' | 'unlocked',
    taskObj: 0,
    nmiPc: 'none' as 'none' | 'entered' | 'read' | 'exited',
    nmiObj: 0,
    irqsOff: false,
    /** local_trylock_t's acquired flag, what local_lock_is_locked() reads on !RT. */
    lockAcquired: false,
    /** Freelist head: an object id, 0 for empty. */
    freelist: 0,
    /** Objects handed out, in order. */
    allocated: List<number>(),
  },
  'Cpu',
);
type Cpu = ReturnType<typeof Cpu>;
const State = Record({ cpus: List<Cpu>() }, 'State');
type State = ReturnType<typeof State>;

const OBJECTS_PER_CPU = 3;
/** Object ids of cpu c are 10c+1 … 10c+3, chained in that order. */
const firstObject = (c: number) => 10 * c + 1;
const nextObject = (obj: number) => (obj % 10 < OBJECTS_PER_CPU ? obj + 1 : 0);

export default defineModel({
  name: 'kfree-nolock',
  description: 'kmalloc_nolock() from an NMI that lands inside the per-CPU lock (local_lock_is_locked)',
  params: {
    cpus: int(2, { min: 1, max: 3, doc: 'number of CPUs' }),
    variant: oneOf(['upstream', 'no-is-locked-check'], 'upstream', 'whether the NMI path checks local_lock_is_locked()'),
  },
  init: (p) => State({ cpus: List(Array.from({ length: p.cpus }, (_, c) => Cpu({ freelist: firstObject(c) }))) }),
  transitions: (s, p) => {
    const out: Transition<State>[] = [];
    s.cpus.forEach((cpu, c) => {
      const lane = `cpu${c}`;
      const set = (next: Cpu) => () => s.setIn(['cpus', c], next);
      const nmiRunning = cpu.nmiPc === 'entered' || cpu.nmiPc === 'read';
      // An NMI can arrive at any point, irqs off or not; at most one per CPU keeps the model finite.
      if (cpu.nmiPc === 'none' && cpu.taskPc !== 'unlocked')
        out.push({ lane, label: `${lane}: nmi enters`, apply: set(cpu.set('nmiPc', 'entered')) });
      if (nmiRunning) {
        if (cpu.nmiPc === 'entered') {
          if (p.variant === 'upstream' && cpu.lockAcquired)
            out.push({ lane, label: `${lane}: nmi: local_lock_is_locked() -> kmalloc_nolock returns NULL`, apply: set(cpu.set('nmiPc', 'exited')) });
          else
            out.push({
              lane,
              label: `${lane}: nmi: obj = c->freelist (${cpu.freelist})`,
              apply: set(cpu.merge({ nmiPc: 'read', nmiObj: cpu.freelist })),
            });
        } else if (cpu.nmiObj === 0) {
          out.push({ lane, label: `${lane}: nmi: freelist empty -> NULL`, apply: set(cpu.set('nmiPc', 'exited')) });
        } else {
          out.push({
            lane,
            label: `${lane}: nmi: c->freelist = next(${cpu.nmiObj}); return ${cpu.nmiObj}`,
            apply: set(cpu.merge({ nmiPc: 'exited', freelist: nextObject(cpu.nmiObj), allocated: cpu.allocated.push(cpu.nmiObj) })),
          });
        }
        return; // the NMI runs on top of the task: the task cannot step until it leaves
      }
      switch (cpu.taskPc) {
        case 'idle':
          out.push({
            lane,
            label: `${lane}: local_lock_irqsave(&s->lock)`,
            apply: set(cpu.merge({ taskPc: 'locked', irqsOff: true, lockAcquired: true })),
          });
          break;
        case 'locked':
          out.push({ lane, label: `${lane}: obj = c->freelist (${cpu.freelist})`, apply: set(cpu.merge({ taskPc: 'read', taskObj: cpu.freelist })) });
          break;
        case 'read': {
          const obj = cpu.taskObj;
          const took = obj === 0 ? cpu : cpu.merge({ freelist: nextObject(obj), allocated: cpu.allocated.push(obj) });
          out.push({
            lane,
            label: obj === 0 ? `${lane}: freelist empty` : `${lane}: c->freelist = next(${obj}); local_unlock_irqrestore`,
            apply: set(took.merge({ taskPc: 'unlocked', irqsOff: false, lockAcquired: false })),
          });
          break;
        }
      }
    });
    return out;
  },
  isEndState: (s) => s.cpus.every((c) => c.taskPc === 'unlocked' && c.nmiPc !== 'entered' && c.nmiPc !== 'read'),
  properties: [
    invariant<State>('freelist-integrity', 'no object is handed out twice, and no handed-out object is still on the freelist', (s) => {
      for (const [c, cpu] of s.cpus.entries()) {
        const free = new Set<number>();
        for (let o = cpu.freelist; o !== 0; o = nextObject(o)) free.add(o);
        const seen = new Set<number>();
        for (const o of cpu.allocated) {
          if (seen.has(o)) return { message: `cpu${c}: object ${o} handed out twice`, fields: [`cpus[${c}].allocated`] };
          if (free.has(o)) return { message: `cpu${c}: object ${o} handed out but still on the freelist`, fields: [`cpus[${c}].freelist`, `cpus[${c}].allocated`] };
          seen.add(o);
        }
      }
      return true;
    }),
  ],
  lanes: (p) => Array.from({ length: p.cpus }, (_, c) => `cpu${c}`),
  expectations: [
    { params: { variant: 'upstream' }, note: 'the NMI sees the acquired flag and leaves the per-CPU cache alone' },
    {
      params: { variant: 'no-is-locked-check' },
      violated: ['freelist-integrity'],
      note: 'local_irq_save() does not mask NMIs: the NMI and the task it interrupted take the same object',
    },
  ],
});
