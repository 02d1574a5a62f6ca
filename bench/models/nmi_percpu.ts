// A per-CPU counter under a local_lock, with an NMI that can arrive anywhere, reduced to what
// Promela expresses: the twin of bench/models/nmi_percpu.pml, one d_step per transition.
// Each CPU's task does `rounds` times: local_lock; tmp = count; count = tmp + 1; unlock. Up to
// `nmis` NMIs arrive on each CPU while the task runs (the task is stopped while the NMI runs).
// The NMI handler asks local_lock_is_locked(): if the lock is held it defers (returns at once);
// otherwise it updates the counter itself. variant=no-check skips the question, so the NMI can
// land between the task's read and write and its increment is lost.
import { atQuiescence, defineModel, int, oneOf, t, universe, type StateOf, type Transition } from '../../src/index.ts';

const schema = (p: { cpus: number; rounds: number; nmis: number }) => {
  const count = t.int(0, p.rounds + p.nmis);
  const cpu = t.struct({
    pc: t.int(0, 3),
    round: t.int(0, p.rounds),
    locked: t.bool(),
    count,
    tmp: count,
    inNmi: t.bool(),
    nmiPc: t.int(0, 2),
    nmis: t.int(0, p.nmis),
    ntmp: count,
    updates: t.int(0, p.nmis),
  });
  return t.struct({ cpus: t.array(cpu, universe('cpu', p.cpus)) });
};
type State = StateOf<typeof schema>;

/** Each CPU's labels, built once (a template string per state and transition is a noticeable part of a run this small). */
const LABELS = ['local_lock', 'tmp = count', 'count = tmp + 1', 'local_unlock', 'nmi enters', 'nmi: local_lock_is_locked, defer', 'nmi: ntmp = count', 'nmi: count = ntmp + 1, exits'] as const;
const labelsOf = Array.from({ length: 4 }, (_, i) => LABELS.map((l) => `cpu${i}: ${l}`));

export default defineModel({
  name: 'nmi-percpu',
  description: 'a per-CPU counter under local_lock with NMIs that check local_lock_is_locked()',
  params: {
    cpus: int(2, { min: 1, max: 4, doc: 'CPUs' }),
    rounds: int(3, { min: 1, max: 8, doc: 'lock/update/unlock rounds of each task' }),
    nmis: int(3, { min: 0, max: 8, doc: 'NMIs that may arrive on each CPU' }),
    variant: oneOf(['checks-lock', 'no-check'], 'checks-lock', 'no-check: the NMI updates the counter without asking local_lock_is_locked()'),
  },
  state: schema,
  init: () => {},
  transitions: (s, p) => {
    const out: Transition<State>[] = [];
    // Every step reads and writes only its own CPU's fields (the CPUs share nothing) and the one
    // property looks at quiescent states only: every transition is local for --por.
    const local = true;
    for (let i = 0; i < s.cpus.length; i++) {
      const c = s.cpus[i];
      const lane = `cpu${i}`;
      const L = labelsOf[i];
      // The task runs only while no NMI is on its CPU.
      if (!c.inNmi) {
        if (c.pc === 0 && c.round < p.rounds) out.push({ lane, local, label: L[0], apply: (d) => ((d.cpus[i].pc = 1), (d.cpus[i].locked = true)) });
        if (c.pc === 1) out.push({ lane, local, label: L[1], apply: (d) => ((d.cpus[i].pc = 2), (d.cpus[i].tmp = c.count)) });
        if (c.pc === 2) out.push({ lane, local, label: L[2], apply: (d) => ((d.cpus[i].pc = 3), (d.cpus[i].count = c.tmp + 1), (d.cpus[i].tmp = 0)) });
        if (c.pc === 3)
          out.push({ lane, local, label: L[3], apply: (d) => ((d.cpus[i].pc = 0), (d.cpus[i].locked = false), (d.cpus[i].round = c.round + 1)) });
      }
      if (c.nmiPc === 0 && c.nmis < p.nmis)
        out.push({ lane, local, label: L[4], apply: (d) => ((d.cpus[i].nmiPc = 1), (d.cpus[i].inNmi = true), (d.cpus[i].nmis = c.nmis + 1)) });
      if (c.nmiPc === 1) {
        if (p.variant === 'checks-lock' && c.locked)
          out.push({ lane, local, label: L[5], apply: (d) => ((d.cpus[i].nmiPc = 0), (d.cpus[i].inNmi = false)) });
        if (p.variant === 'no-check' || !c.locked) out.push({ lane, local, label: L[6], apply: (d) => ((d.cpus[i].nmiPc = 2), (d.cpus[i].ntmp = c.count)) });
      }
      if (c.nmiPc === 2)
        out.push({
          lane,
          local,
          label: L[7],
          apply: (d) => {
            const x = d.cpus[i];
            x.nmiPc = 0;
            x.count = c.ntmp + 1;
            x.ntmp = 0;
            x.updates = c.updates + 1;
            x.inNmi = false;
          },
        });
    }
    return out;
  },
  isEndState: (s, p) => s.cpus.every((c) => c.pc === 0 && c.round === p.rounds && c.nmiPc === 0),
  properties: [
    atQuiescence<State, { rounds: number }>('no-lost-update', "every CPU's count has every task and NMI increment", (s, p) => {
      const bad = s.cpus.findIndex((c) => c.count !== p.rounds + c.updates);
      return bad < 0 || { message: `cpu${bad}: count = ${s.cpus[bad].count} after ${p.rounds} task and ${s.cpus[bad].updates} NMI increments`, fields: [`cpus[${bad}].count`] };
    }),
  ],
  lanes: (p) => Array.from({ length: p.cpus }, (_, i) => `cpu${i}`),
  // The CPUs are identical and share nothing: any renaming of them is a symmetry.
  symmetry: () => 'cpu',
  expectations: [{ params: { variant: 'checks-lock' } }, { params: { variant: 'no-check' }, violated: ['no-lost-update'] }],
});
