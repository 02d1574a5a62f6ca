// Peterson's filter lock for N processes (the N-process generalisation of Peterson's mutex),
// statement for statement as bench/models/filter.pml so that state counts compare with SPIN.
// Per level l = 1 … N-1: level[i] = l; victim[l] = i; wait until every other process is below
// level l or someone else is the victim. Then ncs++, ncs--, level[i] = 0.
import { defineModel, int, invariant, t, universe, type StateOf, type Transition } from '../../src/index.ts';

const schema = (p: { n: number }) => {
  const procs = universe('p', p.n);
  return t.struct({
    pc: t.array(t.int(0, 3 * (p.n - 1) + 2), procs),
    level: t.array(t.int(0, p.n - 1), procs),
    victim: t.array(t.member(procs), p.n),
    ncs: t.int(0, p.n),
  });
};
type State = StateOf<typeof schema>;

/** Each process's label at each pc, built once per n. */
const labels = new Map<number, string[][]>();
function labelsFor(n: number): string[][] {
  let l = labels.get(n);
  if (!l) {
    const cs = 3 * (n - 1);
    l = Array.from({ length: n }, (_, i) =>
      Array.from({ length: cs + 3 }, (_, pc) => {
        const lv = Math.floor(pc / 3) + 1;
        if (pc < cs) return [`p${i}: level[${i}] = ${lv}`, `p${i}: victim[${lv}] = ${i}`, `p${i}: pass level ${lv}`][pc % 3];
        return [`p${i}: ncs++`, `p${i}: ncs--`, `p${i}: level[${i}] = 0`][pc - cs];
      }),
    );
    labels.set(n, l);
  }
  return l;
}

export default defineModel({
  name: 'filter-lock',
  description: "Peterson's filter lock for n processes",
  params: { n: int(4, { min: 2, max: 6, doc: 'processes' }) },
  state: schema,
  init: () => {},
  transitions: (s, p) => {
    const out: Transition<State>[] = [];
    const n = p.n;
    const L = labelsFor(n);
    const cs = 3 * (n - 1);
    for (let i = 0; i < n; i++) {
      const pc = s.pc[i];
      const lane = `p${i}`;
      if (pc < cs) {
        const l = Math.floor(pc / 3) + 1;
        const step = pc % 3;
        if (step === 0)
          out.push({ lane, label: L[i][pc], apply: (d) => ((d.pc[i] = pc + 1), (d.level[i] = l)) });
        else if (step === 1)
          out.push({ lane, label: L[i][pc], apply: (d) => ((d.pc[i] = pc + 1), (d.victim[l] = i)) });
        else {
          let othersBelow = true;
          for (let k = 0; k < n; k++) if (k !== i && s.level[k] >= l) othersBelow = false;
          if (othersBelow || s.victim[l] !== i) out.push({ lane, label: L[i][pc], apply: (d) => (d.pc[i] = pc + 1) });
        }
      } else if (pc === cs) out.push({ lane, label: L[i][pc], apply: (d) => ((d.pc[i] = cs + 1), d.ncs++) });
      else if (pc === cs + 1) out.push({ lane, label: L[i][pc], apply: (d) => ((d.pc[i] = cs + 2), d.ncs--) });
      else out.push({ lane, label: L[i][pc], apply: (d) => ((d.pc[i] = 0), (d.level[i] = 0)) });
    }
    return out;
  },
  properties: [invariant<State>('mutual-exclusion', 'at most one process in the critical section', (s) => s.ncs <= 1 || { message: `${s.ncs} in the critical section`, fields: ['ncs'] })],
});
