// Dining philosophers, the bench twin of bench/models/philosophers.pml: each takes its left
// fork, then its right (each a test-and-set, one d_step in Promela), puts the left, then the
// right down. All holding their left fork is a deadlock; the run goes on past it to store every
// state, as `pan -E` does.
import { alwaysEventually, defineModel, int, invariant, t, universe, type StateOf, type Transition } from '../../src/index.ts';

const schema = (p: { n: number }) => {
  const phils = universe('ph', p.n);
  return t.struct({ pc: t.array(t.int(0, 3), phils), fork: t.array(t.bool(), p.n) });
};
type State = StateOf<typeof schema>;

/** Each philosopher's four labels, built once per n (see nmi_percpu.ts). */
const labels = new Map<number, string[][]>();
const labelsFor = (n: number): string[][] => {
  let l = labels.get(n);
  if (!l) labels.set(n, (l = Array.from({ length: n }, (_, i) => [`ph${i}: take fork ${i}`, `ph${i}: take fork ${(i + 1) % n}`, `ph${i}: put fork ${i}`, `ph${i}: put fork ${(i + 1) % n}`])));
  return l;
};

export default defineModel({
  name: 'philosophers',
  params: { n: int(10, { min: 2, max: 16, doc: 'philosophers (and forks)' }) },
  state: schema,
  init: () => {},
  transitions: (s, p) => {
    const out: Transition<State>[] = [];
    const L = labelsFor(p.n);
    for (let i = 0; i < p.n; i++) {
      const pc = s.pc[i];
      const left = i;
      const right = (i + 1) % p.n;
      const lane = `ph${i}`;
      if (pc === 0 && !s.fork[left]) out.push({ lane, label: L[i][0], apply: (d) => ((d.pc[i] = 1), (d.fork[left] = true)) });
      if (pc === 1 && !s.fork[right]) out.push({ lane, label: L[i][1], apply: (d) => ((d.pc[i] = 2), (d.fork[right] = true)) });
      if (pc === 2) out.push({ lane, label: L[i][2], apply: (d) => ((d.pc[i] = 3), (d.fork[left] = false)) });
      if (pc === 3) out.push({ lane, label: L[i][3], apply: (d) => ((d.pc[i] = 0), (d.fork[right] = false)) });
    }
    return out;
  },
  properties: [
    invariant<State, { n: number }>('forks-held', 'a fork is taken exactly when a neighbour holds it', (s, p) => {
      for (let f = 0; f < p.n; f++) {
        const leftOwner = s.pc[f] >= 1 && s.pc[f] <= 2; // philosopher f holds its left fork f
        const prev = s.pc[(f + p.n - 1) % p.n];
        const rightOwner = prev === 2 || prev === 3; // f-1 holds its right fork f
        if (s.fork[f] !== (leftOwner || rightOwner)) return { message: `fork ${f} is ${s.fork[f] ? 'taken' : 'free'}`, fields: [`fork[${f}]`] };
      }
      return true;
    }),
    // For the liveness bench: holds (every cycle takes a fork; the deadlock holds all of them),
    // so both checkers search the whole graph. SPIN: ltl { []<> (fork[0] || … || fork[N-1]) }.
    alwaysEventually<State, { n: number }>('forks-in-use', 'again and again some fork is taken', (s) => s.fork.some((f) => f)),
  ],
});
