// Peterson's filter lock for N processes (the N-process generalisation of Peterson's mutex),
// statement for statement as bench/models/filter.pml so that state counts compare with SPIN.
// Per level l = 1 … N-1: level[i] = l; victim[l] = i; wait until every other process is below
// level l or someone else is the victim. Then ncs++, ncs--, level[i] = 0.
import { List, Record } from 'immutable';
import { defineModel, int, invariant, type Transition } from '../../src/index.ts';

const State = Record({ pc: List<number>(), level: List<number>(), victim: List<number>(), ncs: 0 }, 'Filter');
type State = ReturnType<typeof State>;

// Hoisted out of transitions(): tsx compiles model files with keepNames, so a named closure
// created per state costs a defineProperty call (see BENCHMARKS.md, profile).
const at = (s: State, i: number, next: number) => s.setIn(['pc', i], next);

export default defineModel({
  name: 'filter-lock',
  description: "Peterson's filter lock for n processes",
  params: { n: int(4, { min: 2, max: 6, doc: 'processes' }) },
  init: (p) => State({ pc: List(Array(p.n).fill(0)), level: List(Array(p.n).fill(0)), victim: List(Array(p.n).fill(0)) }),
  transitions: (s, p) => {
    const out: Transition<State>[] = [];
    const n = p.n;
    const cs = 3 * (n - 1);
    for (let i = 0; i < n; i++) {
      const pc = s.pc.get(i)!;
      const lane = `p${i}`;
      if (pc < cs) {
        const l = Math.floor(pc / 3) + 1;
        const step = pc % 3;
        if (step === 0) out.push({ lane, label: `p${i}: level[${i}] = ${l}`, apply: () => at(s, i, pc + 1).setIn(['level', i], l) });
        else if (step === 1) out.push({ lane, label: `p${i}: victim[${l}] = ${i}`, apply: () => at(s, i, pc + 1).setIn(['victim', l], i) });
        else {
          let othersBelow = true;
          for (let k = 0; k < n; k++) if (k !== i && s.level.get(k)! >= l) othersBelow = false;
          if (othersBelow || s.victim.get(l) !== i) out.push({ lane, label: `p${i}: pass level ${l}`, apply: () => at(s, i, pc + 1) });
        }
      } else if (pc === cs) out.push({ lane, label: `p${i}: ncs++`, apply: () => at(s, i, cs + 1).set('ncs', s.ncs + 1) });
      else if (pc === cs + 1) out.push({ lane, label: `p${i}: ncs--`, apply: () => at(s, i, cs + 2).set('ncs', s.ncs - 1) });
      else out.push({ lane, label: `p${i}: level[${i}] = 0`, apply: () => at(s, i, 0).setIn(['level', i], 0) });
    }
    return out;
  },
  properties: [invariant<State>('mutual-exclusion', 'at most one process in the critical section', (s) => s.ncs <= 1 || { message: `${s.ncs} in the critical section`, fields: ['ncs'] })],
});
