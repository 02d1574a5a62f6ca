// Dining philosophers, the bench twin of bench/models/philosophers.pml: each takes its left
// fork, then its right (each a test-and-set, one d_step in Promela), puts the left, then the
// right down. All holding their left fork is a deadlock; the run goes on past it to store every
// state, as `pan -E` does.
import { List, Record } from 'immutable';
import { defineModel, int, invariant, type Transition } from '../../src/index.ts';

const State = Record({ pc: List<number>(), fork: List<boolean>() }, 'Table');
type State = ReturnType<typeof State>;

// Helpers that build successors are hoisted out of transitions(): tsx compiles model files with
// esbuild's keepNames, so a named closure created per state costs a defineProperty call (see
// BENCHMARKS.md, profile).
const move = (s: State, i: number, next: number, fork: number, held: boolean) => () => s.setIn(['pc', i], next).setIn(['fork', fork], held);

export default defineModel({
  name: 'philosophers',
  params: { n: int(10, { min: 2, max: 16, doc: 'philosophers (and forks)' }) },
  init: (p) => State({ pc: List(Array(p.n).fill(0)), fork: List(Array(p.n).fill(false)) }),
  transitions: (s, p) => {
    const out: Transition<State>[] = [];
    for (let i = 0; i < p.n; i++) {
      const pc = s.pc.get(i);
      const left = i;
      const right = (i + 1) % p.n;
      const lane = `ph${i}`;
      if (pc === 0 && !s.fork.get(left)) out.push({ lane, label: `ph${i}: take fork ${left}`, apply: move(s, i, 1, left, true) });
      if (pc === 1 && !s.fork.get(right)) out.push({ lane, label: `ph${i}: take fork ${right}`, apply: move(s, i, 2, right, true) });
      if (pc === 2) out.push({ lane, label: `ph${i}: put fork ${left}`, apply: move(s, i, 3, left, false) });
      if (pc === 3) out.push({ lane, label: `ph${i}: put fork ${right}`, apply: move(s, i, 0, right, false) });
    }
    return out;
  },
  properties: [
    invariant<State, { n: number }>('forks-held', 'a fork is taken exactly when a neighbour holds it', (s, p) => {
      for (let f = 0; f < p.n; f++) {
        const leftOwner = s.pc.get(f)! >= 1 && s.pc.get(f)! <= 2; // philosopher f holds its left fork f
        const rightOwner = s.pc.get((f + p.n - 1) % p.n)! === 2 || s.pc.get((f + p.n - 1) % p.n)! === 3; // f-1 holds its right fork f
        if (s.fork.get(f) !== (leftOwner || rightOwner)) return { message: `fork ${f} is ${s.fork.get(f) ? 'taken' : 'free'}`, fields: [`fork`] };
      }
      return true;
    }),
  ],
});
