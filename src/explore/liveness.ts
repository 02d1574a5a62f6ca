/**
 * Liveness under fairness: eventually(p), leadsTo(p, q) and alwaysEventually(p).
 *
 * The search stores the reachable graph (every state, every edge with its lane and fairness
 * class) in one breadth-first pass over the model's successor function, then decides each
 * property on that graph:
 *
 * 1. A two-mode monitor runs over the graph (the product has at most 2 nodes per state). Mode 1
 *    means "owed": for eventually(p), p has not held yet; for leadsTo(p, q), a p-state was met and
 *    q has not held since; for alwaysEventually(p), p does not hold now. A counterexample is a
 *    fair infinite run that stays in mode 1 from some point on.
 * 2. The mode-1 part of the graph is split into strongly connected components (Tarjan). A
 *    component holds a fair cycle when every lane that can step in all of its states steps
 *    inside it (weak fairness), no edge of an action that happens finitely often is used, and
 *    every strongly fair action enabled in it is taken in it; where a strong action is enabled
 *    but never taken, the states that enable it are removed and what is left is split again
 *    (the classic Streett emptiness check). A state where no lane can step (the run ends, or
 *    only finite actions are left) is a fair end: the run stays there forever.
 * 3. The counterexample is a lasso: the shortest path (BFS over the monitor's product) from an
 *    initial state to a state on such a cycle, then a cycle through that component that meets
 *    every fairness obligation and returns. The stem is shortest; the cycle is not always.
 *
 * The graph is the full one: --symmetry, --por and --fingerprint do not apply to it (a lasso
 * over orbits or a reduced graph needs provisos this checker does not implement), so liveness
 * is sound under every option and costs an exact store of the model's states.
 */
import { ByteWriter } from '../core/codec.ts';
import { actionName } from '../core/coverage.ts';
import { ModelError, modelFailure } from '../core/errors.ts';
import { checkFairness, type AnyModel, type AnyTransition, type Fairness, type LivenessProperty } from '../core/model.ts';
import type { FiredLabel, StopReason, Trace, TraceStep, Violation } from '../core/outcome.ts';
import type { AnyParams } from '../core/params.ts';
import { countFired } from './expand.ts';
import { nondeterministic } from './counterexample.ts';
import { Int32Column, Uint16Column } from './growable.ts';
import { spaceOf, type Space } from './space.ts';
import { exactStoreFor, type StateStore } from './store.ts';

/** At most this many lanes: a state's enabled lanes are kept as a 32-bit mask. */
export const MAX_LIVENESS_LANES = 32;

/** The fairness a model declares under these parameters, checked. */
export function fairnessOf(model: AnyModel, params: AnyParams): Fairness {
  if (model.fairness === undefined) return {};
  let f: unknown = model.fairness;
  if (typeof f === 'function') {
    try {
      f = (model.fairness as (p: AnyParams) => Fairness)(params);
    } catch (e) {
      throw modelFailure(`model "${model.name}": fairness() threw`, e);
    }
  }
  return checkFairness(`model "${model.name}"`, f);
}

/** How a transition counts for fairness: its lane, and whether its action is finite or strongly fair. */
class FairnessClasses {
  readonly lanes = new Map<string, number>();
  readonly weak: boolean;
  private readonly strong: ReadonlySet<string>;
  private readonly finite: ReadonlySet<string>;
  /** Strong groups: one per (strong action, lane). */
  readonly groups = new Map<string, number>();
  readonly groupNames: string[] = [];

  constructor(
    f: Fairness,
    private readonly modelName: string,
  ) {
    this.weak = (f.lanes ?? 'weak') === 'weak';
    this.strong = new Set(f.strong ?? []);
    this.finite = new Set(f.finite ?? []);
  }

  lane(name: string): number {
    let i = this.lanes.get(name);
    if (i === undefined) {
      i = this.lanes.size;
      if (i >= MAX_LIVENESS_LANES) throw new ModelError(`model "${this.modelName}": liveness checks support at most ${MAX_LIVENESS_LANES} lanes; lane "${name}" is one more`);
      this.lanes.set(name, i);
    }
    return i;
  }

  /** actionName() of each (lane, label) seen, which is costly (a RegExp per call) and asked for every edge. */
  private readonly names = new Map<string, string>();
  private nameOf(t: AnyTransition): string {
    if (t.action !== undefined) return t.action;
    const key = `${t.lane}\u0000${t.label}`;
    let a = this.names.get(key);
    if (a === undefined) {
      a = actionName(t.label, t.lane);
      this.names.set(key, a);
    }
    return a;
  }

  isFinite(t: AnyTransition): boolean {
    return this.finite.size > 0 && this.finite.has(this.nameOf(t));
  }

  /** The strong group of `t`, or -1. */
  group(t: AnyTransition): number {
    if (this.strong.size === 0) return -1;
    const a = this.nameOf(t);
    if (!this.strong.has(a)) return -1;
    const key = `${a} @ ${t.lane}`;
    let g = this.groups.get(key);
    if (g === undefined) {
      g = this.groupNames.length;
      this.groups.set(key, g);
      this.groupNames.push(key);
    }
    return g;
  }
}

/** Edge flags: the transition's action happens finitely often. */
const FINITE = -2;

/**
 * The reachable graph: states 0 … expanded-1 have their edges in [start[s], start[s+1]) of the
 * edge columns; states from `expanded` on were stored but not expanded (a bound stopped it).
 */
export interface LiveGraph {
  readonly states: number;
  readonly expanded: number;
  readonly start: Int32Array;
  readonly target: Int32Array;
  readonly lane: Uint16Array;
  /** The transition's index among its state's enabled transitions, for replaying the edge. */
  readonly index: Uint16Array;
  /** The strong group, -1 for none, FINITE for a finite action. */
  readonly kind: Int32Array;
  /** Lanes that can step (by a transition that is not finite) in each expanded state, as a mask. */
  readonly enabled: Uint32Array;
  /** Initial state i is state initials[i]. */
  readonly initials: readonly number[];
  /** Per property, per state: bit 1 the goal holds, bit 2 the trigger does. */
  readonly marks: readonly Uint8Array[];
  readonly weak: boolean;
  readonly groups: number;
  readonly laneNames: readonly string[];
}

export interface LivenessBounds {
  readonly maxStates: number;
  readonly maxDepth: number;
  /** Asked now and then: a reason to stop (time, memory, a signal), or undefined to go on. */
  readonly stop: () => StopReason | undefined;
  /** Yield to the caller at least this often (ms). */
  readonly yieldMs: number;
  /** For coverage: each label taken, counted (when the graph search is the only search). */
  readonly fired?: Map<string, FiredLabel>;
}

export interface GraphRun {
  readonly graph: LiveGraph;
  readonly space: Space;
  readonly store: StateStore;
  readonly transitions: number;
  readonly maxDepth: number;
  /** Why the graph is not the whole reachable one, if it is not. */
  readonly stoppedBy?: StopReason;
  readonly initialBytes: readonly Uint8Array[];
  /** Bytes of the graph's columns (the store not counted). */
  readonly graphBytes: number;
}

const GOAL = 1;
const TRIGGER = 2;

/**
 * Records the reachable graph while a breadth-first search expands states in the order of
 * their ids (0, 1, 2, …): buildGraph's own search below, or the safety search of explore.ts
 * when it is one (exact store, no reduction), which then needs no second pass. For each
 * expanded state, `expanding` (with the state in `space.state`) and then `edge` per transition.
 */
export class GraphRecorder {
  private readonly classes: FairnessClasses;
  private readonly start = new Int32Column();
  private readonly target = new Int32Column();
  private readonly lane = new Uint16Column();
  private readonly index = new Uint16Column();
  private readonly kind = new Int32Column();
  private readonly enabled = new Int32Column();
  private readonly marks: Uint16Column[];
  private ts: readonly AnyTransition[] = [];
  private mask = 0;

  constructor(
    model: AnyModel,
    private readonly params: AnyParams,
    private readonly props: readonly LivenessProperty<unknown, AnyParams>[],
    private readonly space: Space,
  ) {
    this.classes = new FairnessClasses(fairnessOf(model, params), model.name);
    this.marks = props.map(() => new Uint16Column());
  }

  get byteSize(): number {
    return [this.start, this.target, this.lane, this.index, this.kind, this.enabled, ...this.marks].reduce((sum, c) => sum + c.byteSize, 0);
  }

  private evaluate(p: LivenessProperty<unknown, AnyParams>, f: (s: unknown, q: AnyParams) => boolean, what: string): boolean {
    try {
      return f(this.space.state, this.params) === true;
    } catch (e) {
      throw modelFailure(`property "${p.name}": ${what} threw on state {${this.space.render(this.space.state)}}`, e);
    }
  }

  /** State `id`, the next one (ids in order), is expanded with transitions `ts`: its goal and trigger marks. */
  expanding(id: number, ts: readonly AnyTransition[]): void {
    if (id !== this.start.length) throw new Error(`GraphRecorder: state ${id} expanded out of order (expected ${this.start.length})`);
    if (id > 0) this.enabled.push(this.mask);
    this.mask = 0;
    this.ts = ts;
    this.props.forEach((p, k) => {
      let m = this.evaluate(p, p.goal, 'its goal') ? GOAL : 0;
      if (p.kind === 'leadsTo' && this.evaluate(p, p.trigger, 'its trigger')) m |= TRIGGER;
      this.marks[k].push(m);
    });
    this.start.push(this.target.length);
  }

  /** The expanding state's transition `i` leads to state `to`. */
  edge(i: number, to: number): void {
    const t = this.ts[i];
    const l = this.classes.lane(t.lane);
    const fin = this.classes.isFinite(t);
    if (!fin) this.mask |= 1 << l;
    this.target.push(to);
    this.lane.push(l);
    this.index.push(i);
    this.kind.push(fin ? FINITE : this.classes.group(t));
  }

  /** The expanding state's edges are incomplete (a bound stopped the search in it): it counts as not expanded. */
  abandon(): void {
    const s = this.start.length - 1;
    this.target.length = this.lane.length = this.index.length = this.kind.length = this.start.get(s);
    this.start.length = s;
    for (const m of this.marks) m.length = s;
  }

  /** The graph of the states recorded, over `states` stored in all. */
  graph(states: number, initials: readonly number[]): LiveGraph {
    const expanded = this.start.length;
    if (this.enabled.length < expanded) this.enabled.push(this.mask);
    this.start.push(this.target.length);
    return {
      states,
      expanded,
      start: this.start.values,
      target: this.target.values,
      lane: this.lane.values,
      index: this.index.values,
      kind: this.kind.values,
      enabled: new Uint32Array(this.enabled.values.buffer, 0, expanded),
      initials,
      marks: this.marks.map((m) => Uint8Array.from(m.values)),
      weak: this.classes.weak,
      groups: this.classes.groupNames.length,
      laneNames: [...this.classes.lanes.keys()],
    };
  }
}

/**
 * Builds the reachable graph of `model` under `params`, with each liveness property's goal and
 * trigger evaluated on every expanded state. A generator: it yields now and then so that the
 * caller can let the event loop run.
 */
export function* buildGraph(model: AnyModel, params: AnyParams, props: readonly LivenessProperty<unknown, AnyParams>[], bounds: LivenessBounds): Generator<void, GraphRun> {
  const space = spaceOf(model, params);
  const recorder = new GraphRecorder(model, params, props, space);
  const store = exactStoreFor(space.stride);
  const depthOf = new Int32Column();
  const out = new ByteWriter();
  const initials: number[] = [];
  const initialBytes: Uint8Array[] = [];
  let stoppedBy: StopReason | undefined;
  let transitions = 0;
  let maxDepth = 0;
  for (const s of space.initialStates()) {
    initialBytes.push(s.bytes);
    let id = store.find(s.bytes, s.bytes.length);
    if (id < 0) {
      if (store.size >= bounds.maxStates) {
        stoppedBy = { kind: 'max-states', limit: bounds.maxStates };
        break;
      }
      id = store.add(s.bytes, s.bytes.length);
      depthOf.push(0);
    }
    initials.push(id);
  }
  let lastYield = performance.now();
  for (let s = 0; s < store.size && stoppedBy === undefined; s++) {
    if ((s & 255) === 255) {
      stoppedBy = bounds.stop();
      if (stoppedBy) break;
      if (performance.now() - lastYield >= bounds.yieldMs) {
        yield;
        lastYield = performance.now();
      }
    }
    const depth = depthOf.get(s);
    if (depth >= bounds.maxDepth) {
      stoppedBy = { kind: 'max-depth', limit: bounds.maxDepth };
      break;
    }
    const { bytes, start: from, end } = store.bytesOf(s);
    const ts = space.expand(bytes, from, end);
    recorder.expanding(s, ts);
    for (let i = 0; i < ts.length; i++) {
      space.successor(i, out);
      transitions++;
      if (bounds.fired) countFired(bounds.fired, ts[i]);
      let to = store.find(out.bytes, out.length);
      if (to < 0) {
        if (store.size >= bounds.maxStates) {
          stoppedBy = { kind: 'max-states', limit: bounds.maxStates };
          break;
        }
        to = store.add(out.bytes, out.length);
        depthOf.push(depth + 1);
        if (depth + 1 > maxDepth) maxDepth = depth + 1;
      }
      recorder.edge(i, to);
    }
    space.checkUnchanged();
    if (stoppedBy !== undefined) {
      recorder.abandon();
      break;
    }
  }
  const graph = recorder.graph(store.size, initials);
  return { graph, space, store, transitions, maxDepth, stoppedBy, initialBytes, graphBytes: recorder.byteSize + depthOf.byteSize };
}

/** A fair run that violates a property: a stem from an initial state, then a cycle back to state `loop` (or a stay at the end). */
export interface Lasso {
  readonly initial: number;
  /** Edge indices, stem then cycle. */
  readonly edges: readonly number[];
  /** The number of stem edges: the state after them is where the cycle starts. */
  readonly loop: number;
  /** The trigger state of a leadsTo property: the index (0 = initial) of the state that starts the unmet obligation. */
  readonly trigger?: number;
}

/**
 * The monitor (see the file comment): whether a state with marks `m` is owed, given whether the
 * state before it was (`before`; undefined at an initial state). Owed states never meet the goal.
 */
function monitor(p: LivenessProperty<unknown, AnyParams>): (before: boolean | undefined, m: number) => boolean {
  // Where an owed stretch can begin: eventually only at the start, alwaysEventually anywhere, leadsTo at a trigger.
  const starts = p.kind === 'eventually' ? () => false : p.kind === 'alwaysEventually' ? () => true : (m: number) => (m & TRIGGER) !== 0;
  const initially = p.kind === 'eventually';
  return (before, m) => (m & GOAL) === 0 && ((before ?? initially) || starts(m));
}

/**
 * Finds a fair lasso that violates property number `k` of the graph, with a shortest stem, or
 * undefined when every fair run satisfies it (within the expanded part of the graph).
 */
export function findLasso(g: LiveGraph, p: LivenessProperty<unknown, AnyParams>, k: number): Lasso | undefined {
  const n = g.expanded;
  const marks = g.marks[k];
  const owedAt = monitor(p);
  // 1. BFS over the product (state, mode), nodes 2s + mode; only expanded states are entered.
  const UNSEEN = -0x7fffffff;
  const parent = new Int32Array(2 * n).fill(UNSEEN);
  const queue = new Int32Array(2 * n);
  let head = 0;
  let tail = 0;
  // parent: 2 * edge + the mode it left from, or -1 - i for initial state i.
  const enter = (node: number, from: number): void => {
    if (parent[node] !== UNSEEN) return;
    parent[node] = from;
    queue[tail++] = node;
  };
  // eventually(p): mode 0 never leads back to mode 1, so it need not be explored.
  const skipZero = p.kind === 'eventually';
  g.initials.forEach((s, i) => {
    if (s >= n) return;
    const mode = owedAt(undefined, marks[s]) ? 1 : 0;
    if (mode === 1 || !skipZero) enter(2 * s + mode, -1 - i);
  });
  while (head < tail) {
    const node = queue[head++];
    const s = node >> 1;
    const mode = node & 1;
    for (let e = g.start[s]; e < g.start[s + 1]; e++) {
      const t = g.target[e];
      if (t >= n) continue;
      const m = owedAt(mode === 1, marks[t]) ? 1 : 0;
      if (m === 1 || !skipZero) enter(2 * t + m, 2 * e + mode);
    }
  }
  // 2. The fair components of the mode-1 part.
  const owed = new Uint8Array(n);
  for (let i = 0; i < tail; i++) if ((queue[i] & 1) === 1) owed[queue[i] >> 1] = 1;
  const comp = fairComponents(g, owed);
  // 3. The first mode-1 node in BFS order on a fair component: the end of a shortest stem.
  let entry = -1;
  for (let i = 0; i < tail && entry < 0; i++) if ((queue[i] & 1) === 1 && comp.of[queue[i] >> 1] >= 0) entry = queue[i];
  if (entry < 0) return undefined;
  return lassoFrom(g, parent, entry, comp);
}

/** The state an edge leaves from (edges are grouped by state, in state order). */
function sourceOf(g: LiveGraph, e: number): number {
  let lo = 0;
  let hi = g.expanded - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (g.start[mid] <= e) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function lassoFrom(g: LiveGraph, parent: Int32Array, entry: number, comp: { of: Int32Array; stutter: Uint8Array }): Lasso {
  // The stem, walked back through the product's BFS parents, with the monitor's mode at each state.
  const stem: number[] = [];
  const modes: number[] = [entry & 1];
  let node = entry;
  while (parent[node] >= 0) {
    const e = parent[node] >> 1;
    stem.push(e);
    node = 2 * sourceOf(g, e) + (parent[node] & 1);
    modes.push(node & 1);
  }
  const initial = -1 - parent[node];
  stem.reverse();
  modes.reverse();
  const s0 = entry >> 1;
  const cycle = comp.stutter[s0] ? [] : fairCycle(g, comp.of, s0);
  // The state that began the owed stretch the lasso ends in (for leadsTo: the unmet trigger).
  let trigger = modes.length - 1;
  while (trigger > 0 && modes[trigger - 1] === 1) trigger--;
  return { initial, edges: [...stem, ...cycle], loop: stem.length, trigger };
}

/**
 * The fair components among the states with `inside` set: `of[s]` is a component's number for a
 * state on a fair cycle (or a fair end), else -1; `stutter[s]` marks a fair end (no lane can step).
 */
export function fairComponents(g: LiveGraph, inside: Uint8Array): { of: Int32Array; stutter: Uint8Array } {
  const n = g.expanded;
  const of = new Int32Array(n).fill(-1);
  const stutter = new Uint8Array(n);
  let next = 0;
  for (let s = 0; s < n; s++)
    if (inside[s] && g.enabled[s] === 0) {
      of[s] = next++;
      stutter[s] = 1;
    }
  // Tarjan over the inner edges (not finite, both ends inside), iteratively, with SCC refinement for strong fairness.
  const tag = new Int32Array(n);
  let token = 1;
  for (let s = 0; s < n; s++) if (inside[s]) tag[s] = token;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const groupSeen = new Int32Array(g.groups).fill(0);
  const groupTaken = new Int32Array(g.groups).fill(0);
  let stamp = 0;
  const work: number[][] = [];
  const examine = (members: number[], tok: number): void => {
    // A single state without a self-loop is no cycle.
    if (members.length === 1) {
      const s = members[0];
      let self = false;
      for (let e = g.start[s]; e < g.start[s + 1] && !self; e++) self = g.target[e] === s && g.kind[e] !== FINITE;
      if (!self) return;
    }
    // Weak fairness: every lane enabled in all members must step inside.
    let always = 0xffffffff;
    let taken = 0;
    stamp++;
    const violating: number[] = [];
    for (const s of members) {
      always &= g.enabled[s];
      for (let e = g.start[s]; e < g.start[s + 1]; e++) {
        const kd = g.kind[e];
        if (kd === FINITE) continue;
        const inner = tag[g.target[e]] === tok;
        if (inner) taken |= 1 << g.lane[e];
        if (kd >= 0) {
          if (groupSeen[kd] !== stamp) {
            groupSeen[kd] = stamp;
            groupTaken[kd] = 0;
            violating.push(kd);
          }
          if (inner) groupTaken[kd] = stamp;
        }
      }
    }
    if (g.weak && (always & ~taken) !== 0) return;
    const unmet = violating.filter((kd) => groupTaken[kd] !== stamp);
    if (unmet.length === 0) {
      const c = next++;
      for (const s of members) of[s] = c;
      return;
    }
    // Strong fairness: a strong action enabled here is never taken here. No fair cycle uses the
    // states that enable it; split what is left again.
    const bad = new Set(unmet);
    const rest = members.filter((s) => {
      for (let e = g.start[s]; e < g.start[s + 1]; e++) if (bad.has(g.kind[e])) return false;
      return true;
    });
    if (rest.length > 0) work.push(rest);
  };
  const tarjan = (roots: readonly number[], tok: number): void => {
    const stack: number[] = [];
    const call: number[] = [];
    const edge: number[] = [];
    let counter = 0;
    for (const r of roots) {
      if (tag[r] !== tok || index[r] >= 0) continue;
      index[r] = low[r] = counter++;
      stack.push(r);
      onStack[r] = 1;
      call.push(r);
      edge.push(g.start[r]);
      while (call.length > 0) {
        const v = call[call.length - 1];
        const e = edge[call.length - 1];
        if (e < g.start[v + 1]) {
          edge[call.length - 1] = e + 1;
          const w = g.target[e];
          if (g.kind[e] === FINITE || w >= n || tag[w] !== tok) continue;
          if (index[w] < 0) {
            index[w] = low[w] = counter++;
            stack.push(w);
            onStack[w] = 1;
            call.push(w);
            edge.push(g.start[w]);
          } else if (onStack[w] && index[w] < low[v]) low[v] = index[w];
          continue;
        }
        call.pop();
        edge.pop();
        if (call.length > 0) {
          const u = call[call.length - 1];
          if (low[v] < low[u]) low[u] = low[v];
        }
        if (low[v] === index[v]) {
          const members: number[] = [];
          let w;
          do {
            w = stack.pop()!;
            onStack[w] = 0;
            members.push(w);
          } while (w !== v);
          // Tag the component alone, so that "inner" means inside it.
          const own = ++token;
          for (const m of members) tag[m] = own;
          examine(members, own);
        }
      }
    }
  };
  const all: number[] = [];
  for (let s = 0; s < n; s++) if (inside[s]) all.push(s);
  tarjan(all, 1);
  while (work.length > 0) {
    const members = work.pop()!;
    const tok = ++token;
    for (const s of members) {
      tag[s] = tok;
      index[s] = -1;
    }
    tarjan(members, tok);
  }
  return { of, stutter };
}

/**
 * A cycle through fair component `of[s0]` from s0 back to s0 that meets every fairness
 * obligation: each lane that can step somewhere in it steps or is seen unable to, and each strong
 * action enabled in it is taken. Greedy: the nearest unmet obligation next, then home.
 */
function fairCycle(g: LiveGraph, of: Int32Array, s0: number): number[] {
  const c = of[s0];
  const members: number[] = [];
  for (let s = 0; s < g.expanded; s++) if (of[s] === c) members.push(s);
  const inner = (e: number): boolean => g.kind[e] !== FINITE && g.target[e] < g.expanded && of[g.target[e]] === c;
  // Obligations: lanes (by step or by a state where the lane cannot step), strong groups (by step).
  let lanesOwed = 0;
  const groupsOwed = new Set<number>();
  for (const s of members) {
    if (g.weak) lanesOwed |= g.enabled[s];
    for (let e = g.start[s]; e < g.start[s + 1]; e++) if (g.kind[e] >= 0) groupsOwed.add(g.kind[e]);
  }
  const visitState = (s: number): void => {
    if (g.weak) lanesOwed &= g.enabled[s];
  };
  const takeEdge = (e: number): void => {
    if (g.weak) lanesOwed &= ~(1 << g.lane[e]);
    groupsOwed.delete(g.kind[e]);
    visitState(g.target[e]);
  };
  const path: number[] = [];
  let cur = s0;
  visitState(s0);
  // BFS from `cur` inside the component to the nearest edge that `meets` accepts; takes the path there.
  const walk = (meets: (e: number) => boolean): boolean => {
    const via = new Map<number, number>([[cur, -1]]);
    const queue = [cur];
    for (let h = 0; h < queue.length; h++) {
      const v = queue[h];
      for (let e = g.start[v]; e < g.start[v + 1]; e++) {
        if (!inner(e)) continue;
        const w = g.target[e];
        if (meets(e)) {
          const back: number[] = [e];
          for (let x = v; via.get(x)! >= 0; x = sourceOf(g, via.get(x)!)) back.push(via.get(x)!);
          back.reverse();
          for (const b of back) {
            path.push(b);
            takeEdge(b);
          }
          cur = w;
          return true;
        }
        if (!via.has(w)) {
          via.set(w, e);
          queue.push(w);
        }
      }
    }
    return false;
  };
  const meetsObligation = (e: number): boolean =>
    ((lanesOwed >> g.lane[e]) & 1) === 1 || groupsOwed.has(g.kind[e]) || (g.weak && (lanesOwed & ~g.enabled[g.target[e]]) !== 0);
  while (lanesOwed !== 0 || groupsOwed.size > 0) if (!walk(meetsObligation)) throw new Error(`internal error: fairness obligation unmet in a fair component (lanes ${lanesOwed}, groups ${[...groupsOwed]})`);
  if (path.length === 0 || cur !== s0) if (!walk((e) => g.target[e] === s0)) throw new Error('internal error: a fair component without a way back');
  return path;
}

/** The trace of a lasso: the stored path replayed through the model, states checked against the store. */
export function lassoTrace(run: GraphRun, lasso: Lasso): Trace {
  const { space, graph: g } = run;
  const out = new ByteWriter();
  let current = run.initialBytes[lasso.initial];
  const steps: TraceStep[] = [];
  for (const e of lasso.edges) {
    const ts = space.expand(current, 0, current.length);
    const t = ts[g.index[e]];
    space.successor(g.index[e], out);
    if (!t || !run.store.matches(g.target[e], out.bytes, out.length)) throw nondeterministic(space, steps.length + 1);
    current = out.copy();
    steps.push({ label: t.label, lane: t.lane, state: space.read(current, 0, current.length) });
  }
  const init = run.initialBytes[lasso.initial];
  return { initial: space.read(init, 0, init.length), steps, format: space.format, loop: lasso.loop };
}

/** What a liveness violation says, from its lasso. */
export function lassoMessage(p: LivenessProperty<unknown, AnyParams>, trace: Trace, trigger: number | undefined): string {
  const n = trace.steps.length;
  const k = trace.loop ?? n;
  const forever = k === n ? `the run stays in state ${n} forever (no lane can step)` : `steps ${k + 1}–${n} repeat forever`;
  switch (p.kind) {
    case 'eventually':
      return `never reached on a fair run: ${forever}`;
    case 'alwaysEventually':
      return `stops holding for good: it does not hold from state ${k} on, and ${forever}`;
    case 'leadsTo':
      return `the obligation from state ${trigger ?? '?'} is never met: ${forever}`;
  }
}

/**
 * Re-checks that a lasso-shaped trace is a fair run that violates `p`: its last state equals the
 * state at `loop` (or, for a run that stays, nothing but finite actions is enabled there), the
 * property is owed on every state of the cycle from the monitor's point of view, no finite action
 * is taken on the cycle, and the cycle is fair. Returns what is wrong, or undefined.
 */
export function lassoProblem(space: Space, model: AnyModel, p: LivenessProperty<unknown, AnyParams>, states: readonly unknown[], steps: readonly { label: string; lane: string }[], loop: number): string | undefined {
  const params = space.params;
  const classes = new FairnessClasses(fairnessOf(model, params), model.name);
  const n = steps.length;
  if (!(loop >= 0 && loop <= n)) return `the loop index ${loop} is not a state of the trace (0 … ${n})`;
  const out = new ByteWriter();
  const enabledAt = states.map((s) => {
    space.encode(s, out);
    const b = out.copy();
    return space.expand(b, 0, b.length).map((t) => ({ label: t.label, lane: t.lane, finite: classes.isFinite(t), group: classes.group(t) }));
  });
  if (loop < n) {
    space.encode(states[n], out);
    const a = out.copy();
    space.encode(states[loop], out);
    if (a.length !== out.length || a.some((x, i) => x !== out.bytes[i])) return `the last state is not the state at the loop index ${loop}`;
  } else if (enabledAt[n].some((t) => !t.finite)) return `the run is said to stay in its last state, but lane ${enabledAt[n].find((t) => !t.finite)!.lane} can step there`;
  // The monitor along the trace: the cycle must be owed throughout.
  const owedAt = monitor(p);
  const mark = (s: unknown): number => (p.goal(s, params) ? GOAL : 0) | (p.kind === 'leadsTo' && p.trigger(s, params) ? TRIGGER : 0);
  let mode = owedAt(undefined, mark(states[0]));
  for (let i = 1; i <= n; i++) {
    const m = mark(states[i]);
    if (i > loop && (m & GOAL) !== 0) return `state ${i}, on the cycle, meets the property`;
    mode = owedAt(mode, m);
  }
  if (!mode) return `the property is not owed at the cycle`;
  // Fairness of the cycle: its steps as the model's transitions (their actions), and what each of its states enables.
  const cycle = steps.slice(loop).map((st, j) => {
    const t = enabledAt[loop + j].find((x) => x.label === st.label);
    if (!t) throw new ModelError(`step ${loop + j + 1} ("${st.label}") is not enabled in the state before it`);
    return t;
  });
  const cycleStates = loop < n ? enabledAt.slice(loop, n) : [enabledAt[n]];
  const finite = cycle.find((t) => t.finite);
  if (finite) return `the cycle takes "${finite.label}", an action that happens only finitely often`;
  if (classes.weak) {
    const lanes = new Set(cycleStates[0].filter((t) => !t.finite).map((t) => t.lane));
    for (const l of lanes)
      if (cycleStates.every((ts) => ts.some((t) => !t.finite && t.lane === l)) && !cycle.some((s) => s.lane === l))
        return `the cycle is not fair: lane ${l} can step in every state of it and never does`;
  }
  const taken = new Set(cycle.map((t) => t.group));
  for (const ts of cycleStates) for (const t of ts) if (t.group >= 0 && !taken.has(t.group)) return `the cycle is not fair: strongly fair ${classes.groupNames[t.group]} is enabled on it and never taken`;
  return undefined;
}

/** Each property's violation found on the graph, as a lasso-shaped counterexample checked once more against the model. */
export function livenessViolations(model: AnyModel, run: GraphRun, props: readonly LivenessProperty<unknown, AnyParams>[]): Map<string, Violation> {
  const found = new Map<string, Violation>();
  const check = run.space.fork();
  props.forEach((p, k) => {
    const lasso = findLasso(run.graph, p, k);
    if (!lasso) return;
    const trace = lassoTrace(run, lasso);
    const states = [trace.initial, ...trace.steps.map((s) => s.state)];
    const problem = lassoProblem(check, model, p, states, trace.steps, lasso.loop);
    if (problem) throw new Error(`internal error: the lasso found for "${p.name}" does not check: ${problem}`);
    found.set(p.name, { message: lassoMessage(p, trace, lasso.trigger), fields: [], trace });
  });
  return found;
}
