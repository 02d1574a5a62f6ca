// A per-CPU counter under a local_lock, with an NMI that can arrive anywhere, reduced to what
// Promela expresses: the twin of bench/models/nmi_percpu.pml, one d_step per transition.
// Each CPU's task does `rounds` times: local_lock; tmp = count; count = tmp + 1; unlock. Up to
// `nmis` NMIs arrive on each CPU while the task runs (the task is stopped while the NMI runs).
// The NMI handler asks local_lock_is_locked(): if the lock is held it defers (returns at once);
// otherwise it updates the counter itself. variant=no-check skips the question, so the NMI can
// land between the task's read and write and its increment is lost.
import { List, Record } from 'immutable';
import { atQuiescence, defineModel, int, oneOf, type Transition } from '../../src/index.ts';

const Cpu = Record({ pc: 0, round: 0, locked: false, count: 0, tmp: 0, inNmi: false, nmiPc: 0, nmis: 0, ntmp: 0, updates: 0 }, 'Cpu');
type Cpu = ReturnType<typeof Cpu>;
const State = Record({ cpus: List<Cpu>() }, 'PerCpu');
type State = ReturnType<typeof State>;

// Hoisted out of transitions(): tsx compiles model files with keepNames, so a named closure
// created per state costs a defineProperty call (see BENCHMARKS.md, profile).
const put = (s: State, i: number, next: Cpu) => () => s.setIn(['cpus', i], next);

export default defineModel({
  name: 'nmi-percpu',
  description: 'a per-CPU counter under local_lock with NMIs that check local_lock_is_locked()',
  params: {
    cpus: int(2, { min: 1, max: 4, doc: 'CPUs' }),
    rounds: int(3, { min: 1, max: 8, doc: 'lock/update/unlock rounds of each task' }),
    nmis: int(3, { min: 0, max: 8, doc: 'NMIs that may arrive on each CPU' }),
    variant: oneOf(['checks-lock', 'no-check'], 'checks-lock', 'no-check: the NMI updates the counter without asking local_lock_is_locked()'),
  },
  init: (p) => State({ cpus: List(Array.from({ length: p.cpus }, () => Cpu())) }),
  transitions: (s, p) => {
    const out: Transition<State>[] = [];
    // Every step reads and writes only its own CPU's Cpu record (the CPUs share nothing) and the
    // one property looks at quiescent states only: every transition is local for --por.
    const local = true;
    s.cpus.forEach((c, i) => {
      const lane = `cpu${i}`;
      // The task runs only while no NMI is on its CPU.
      if (!c.inNmi) {
        if (c.pc === 0 && c.round < p.rounds) out.push({ lane, local, label: `cpu${i}: local_lock`, apply: put(s, i, c.set('pc', 1).set('locked', true)) });
        if (c.pc === 1) out.push({ lane, local, label: `cpu${i}: tmp = count`, apply: put(s, i, c.set('pc', 2).set('tmp', c.count)) });
        if (c.pc === 2) out.push({ lane, local, label: `cpu${i}: count = tmp + 1`, apply: put(s, i, c.set('pc', 3).set('count', c.tmp + 1).set('tmp', 0)) });
        if (c.pc === 3) out.push({ lane, local, label: `cpu${i}: local_unlock`, apply: put(s, i, c.set('pc', 0).set('locked', false).set('round', c.round + 1)) });
      }
      if (c.nmiPc === 0 && c.nmis < p.nmis)
        out.push({ lane, local, label: `cpu${i}: nmi enters`, apply: put(s, i, c.set('nmiPc', 1).set('inNmi', true).set('nmis', c.nmis + 1)) });
      if (c.nmiPc === 1) {
        if (p.variant === 'checks-lock' && c.locked)
          out.push({ lane, local, label: `cpu${i}: nmi: local_lock_is_locked, defer`, apply: put(s, i, c.set('nmiPc', 0).set('inNmi', false)) });
        if (p.variant === 'no-check' || !c.locked) out.push({ lane, local, label: `cpu${i}: nmi: ntmp = count`, apply: put(s, i, c.set('nmiPc', 2).set('ntmp', c.count)) });
      }
      if (c.nmiPc === 2)
        out.push({
          lane,
          local,
          label: `cpu${i}: nmi: count = ntmp + 1, exits`,
          apply: put(s, i, c.set('nmiPc', 0).set('count', c.ntmp + 1).set('ntmp', 0).set('updates', c.updates + 1).set('inNmi', false)),
        });
    });
    return out;
  },
  isEndState: (s, p) => s.cpus.every((c) => c.pc === 0 && c.round === p.rounds && c.nmiPc === 0),
  properties: [
    atQuiescence<State, { rounds: number }>('no-lost-update', "every CPU's count has every task and NMI increment", (s, p) => {
      const bad = s.cpus.findIndex((c) => c.count !== p.rounds + c.updates);
      return bad < 0 || { message: `cpu${bad}: count = ${s.cpus.get(bad)!.count} after ${p.rounds} task and ${s.cpus.get(bad)!.updates} NMI increments`, fields: [`cpus[${bad}].count`] };
    }),
  ],
  lanes: (p) => Array.from({ length: p.cpus }, (_, i) => `cpu${i}`),
  // The CPUs are identical and share nothing: any renaming of them is a symmetry.
  symmetry: (p) => ({
    lanes: Array.from({ length: p.cpus }, (_, i) => `cpu${i}`),
    permute: (s, perm) => {
      const cpus = new Array<Cpu>(s.cpus.size);
      s.cpus.forEach((c, i) => (cpus[perm[i]] = c));
      return s.set('cpus', List(cpus));
    },
  }),
  expectations: [{ params: { variant: 'checks-lock' } }, { params: { variant: 'no-check' }, violated: ['no-lost-update'] }],
});
