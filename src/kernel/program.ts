import type { SchemaTransition } from '../core/model.ts';
import type { Draft } from '../core/schema.ts';
import { ModelError } from '../core/errors.ts';
import type { KernelConfig } from './config.ts';
import { top, topDraft, returnFromFrame } from './cpu.ts';
import { acquireLabel, canAcquire, lock, lockFunction, lockState, type LockOptions } from './locks.ts';
import type { Frame, Kernel, KernelDraft } from './state.ts';

/**
 * Programs: the sequential code of a context, written as the kernel source reads, one visible
 * step a line, with the program counter kept by the layer (the running frame's `pc`), as a
 * Promela process keeps its own.
 *
 *     const reader = program<State, P>([
 *       step('lock', 'rcu_read_lock()', ({ k, cpu }) => rcuReadLock(k, cpu)),
 *       either('call', alt('kvfree_rcu(x): pointer into the array', put, { when: hasSlot, goto: 'unlock' }),
 *                      alt('kvfree_rcu(x): no array slot', none)),
 *       ...
 *     ]);
 *
 * A program is a list of instructions, each at a label (the pc while it is next). An
 * instruction offers one or more alternatives; an alternative is a labelled step with a guard
 * that waits (`when`: no transition until it holds), an effect on the successor (`run`) and the
 * label it goes to (`goto`, or what `run` returns; default: the next instruction). Several
 * alternatives enabled at once are a nondeterministic choice, each its own transition.
 * `spin(label, lock)` (or `lockAlt(lock)` as one alternative) is a blocking acquisition: it
 * waits while the lock is held elsewhere, as the layer's lock() does. `call(name, body)` inlines a function: its labels are prefixed with
 * `name.` and its `return` goes to the instruction after the call (no recursion: kernel
 * models need none). `computed(label, a => alts)` offers alternatives that depend on the
 * state, for a multi-step operation of the layer (an allocation through page_alloc, a drain)
 * whose progress the frame's locals keep. Bounded loops are gotos on the model's own counters. A program ends at
 * `end`; a frame there has no step left (an interrupt frame's last step returns it).
 *
 * programTransitions() turns the running frame of every CPU into its enabled transitions,
 * labelled `cpu0: <who><step>`; the model adds arrivals, the scheduler and its other lanes.
 */

/** What a step reads: the model's state and parameters, the configuration, the CPU, its kernel and running frame. */
export interface At<S, P> {
  readonly s: S;
  readonly p: P;
  readonly cfg: KernelConfig;
  readonly cpu: number;
  readonly k: Kernel;
  readonly fr: Frame;
}

/** What a step writes: the successor being written and its kernel. */
export interface Into<S> {
  readonly d: Draft<S>;
  readonly k: KernelDraft;
}

/** Where a program ends. */
export const END = 'end';
/** What a step's `run` returns to stay at its own instruction (a blocked acquisition). */
export const HERE = '.here';
/** Inside a called function: back to the instruction after the call. */
export const RETURN = 'return';

export interface Alt<S, P> {
  readonly label: string | ((a: At<S, P>) => string);
  readonly when?: (a: At<S, P>) => boolean;
  /** The effect; may return the label to go to, which overrides `goto`. */
  readonly run?: (o: Into<S>, a: At<S, P>) => string | void;
  readonly goto?: string;
  /** Declares the step `local` for --por (see Transition.local). */
  readonly local?: boolean;
}

export interface Instr<S, P> {
  readonly at: string;
  /** Its alternatives, or (steps()) a function that computes them from the state. */
  readonly alts: readonly Alt<S, P>[] | ((a: At<S, P>) => readonly Alt<S, P>[]);
}

/** A function body to inline with call(). */
export interface Call<S, P> {
  readonly call: string;
  readonly body: readonly (Instr<S, P> | Call<S, P>)[];
}

type Line<S, P> = Instr<S, P> | Call<S, P>;

/** One alternative of an instruction. */
export function alt<S, P>(label: Alt<S, P>['label'], run?: Alt<S, P>['run'], opts: Omit<Alt<S, P>, 'label' | 'run'> = {}): Alt<S, P> {
  return { label, run, ...opts };
}

/** An instruction with one step. */
export function step<S, P>(at: string, label: Alt<S, P>['label'], run?: Alt<S, P>['run'], opts: Omit<Alt<S, P>, 'label' | 'run'> = {}): Instr<S, P> {
  return { at, alts: [alt(label, run, opts)] };
}

/** An instruction with alternatives: a nondeterministic choice among those whose guard holds. */
export function either<S, P>(at: string, ...alts: Alt<S, P>[]): Instr<S, P> {
  return { at, alts };
}

/**
 * An instruction whose alternatives depend on the state: a multi-step operation of the layer
 * that keeps its own progress in the frame's locals (page_alloc's allocSteps(), each step a
 * transition), offered as the alternatives the operation has now. Their gotos are checked
 * when they are taken.
 */
export function computed<S, P>(at: string, alts: (a: At<S, P>) => readonly Alt<S, P>[]): Instr<S, P> {
  return { at, alts };
}

/** An inlined function call (see above). */
export function call<S, P>(name: string, body: readonly Line<S, P>[]): Call<S, P> {
  return { call: name, body };
}

/**
 * A blocking acquisition of the lock `name(a)` as one alternative: `spin_lock(&l)`,
 * `raw_spin_lock_irqsave(&l)`, `mutex_lock(&m)` as lockFunction() names them. While the lock is
 * held elsewhere the step records the wait (a spinning waiter has already masked irqs and
 * disabled preemption) and the frame stays at this instruction, offered again only once the
 * lock is free. `when` adds a guard; `then` runs once the lock is taken.
 */
export function lockAlt<S, P>(
  name: string | ((a: At<S, P>) => string),
  opts: LockOptions & { readonly when?: (a: At<S, P>) => boolean; readonly then?: Alt<S, P>['run']; readonly goto?: string } = {},
): Alt<S, P> {
  const nameOf = typeof name === 'string' ? () => name : name;
  return {
    label: (a) => {
      const l = lockState(a.k, nameOf(a));
      return acquireLabel(a.k, a.cfg, a.cpu, l.name, `${lockFunction(l.type, a.cfg, opts.irqsave, opts.bh)}(&${l.name})`);
    },
    when: (a) => (opts.when?.(a) ?? true) && (a.fr.waiting === null || canAcquire(a.k, a.cfg, a.cpu, a.fr.waiting)),
    run: (o, a) => {
      if (!lock(o.k, a.cfg, a.cpu, nameOf(a), opts)) return HERE;
      return opts.then?.(o, a) ?? opts.goto;
    },
  };
}

/** An instruction that is one blocking acquisition (see lockAlt). */
export function spin<S, P>(at: string, name: string | ((a: At<S, P>) => string), opts: Parameters<typeof lockAlt<S, P>>[1] = {}): Instr<S, P> {
  return { at, alts: [lockAlt(name, opts)] };
}

/** A program: its instructions by label, in order. */
export class Program<S, P> {
  private readonly byLabel = new Map<string, { instr: Instr<S, P>; next: string }>();
  readonly first: string;

  constructor(
    readonly name: string,
    lines: readonly Line<S, P>[],
  ) {
    const flat: Placed<S, P>[] = [];
    flatten(lines, '', END, flat);
    for (const { instr, next } of flat) {
      const reserved = instr.at === END || instr.at === HERE || instr.at === RETURN;
      if (reserved || this.byLabel.has(instr.at)) throw new ModelError(`program ${name}: label "${instr.at}" is ${reserved ? 'reserved' : 'used twice'}`);
      this.byLabel.set(instr.at, { instr, next });
    }
    this.first = flat[0]?.instr.at ?? END;
    for (const [at, { instr }] of this.byLabel)
      if (typeof instr.alts !== 'function') for (const a of instr.alts) if (a.goto !== undefined && a.goto !== END && !this.byLabel.has(a.goto)) throw new ModelError(`program ${name}: "${at}" goes to "${a.goto}", which is no label; labels: ${[...this.byLabel.keys()].join(', ')}`);
  }

  /** The instruction at `pc` ('' is the first) and the label after it; undefined at `end`. */
  at(pc: string): { instr: Instr<S, P>; next: string } | undefined {
    const label = pc === '' ? this.first : pc;
    if (label === END) return undefined;
    const found = this.byLabel.get(label);
    if (!found) throw new ModelError(`program ${this.name}: no instruction at pc "${pc}"; labels: ${[...this.byLabel.keys()].join(', ')}`);
    return found;
  }

  has(label: string): boolean {
    return label === END || this.byLabel.has(label);
  }
}

/** An instruction of the flattened program and the label it falls through to. */
interface Placed<S, P> {
  readonly instr: Instr<S, P>;
  readonly next: string;
}

/** Flattens calls: labels prefixed, `return` and gotos renamed, each body's fall-through to the instruction after the call. */
function flatten<S, P>(lines: readonly Line<S, P>[], prefix: string, after: string, out: Placed<S, P>[]): void {
  const local = new Set<string>();
  for (const l of lines) if ('at' in l) local.add(l.at);
  const exit = prefix === '' ? END : after;
  const rename = (to: string | undefined): string | undefined => (to === undefined || to === HERE ? to : to === RETURN ? exit : local.has(to) ? prefix + to : to);
  lines.forEach((l, i) => {
    const next = i + 1 < lines.length ? firstLabel(lines[i + 1], prefix) : after;
    if ('call' in l) {
      flatten(l.body, `${prefix}${l.call}.`, next, out);
      return;
    }
    const renamed = (a: Alt<S, P>): Alt<S, P> => ({ ...a, goto: rename(a.goto), run: a.run && ((o: Into<S>, at: At<S, P>) => rename(a.run!(o, at) ?? undefined)) });
    const alts = l.alts;
    out.push({ instr: { at: prefix + l.at, alts: typeof alts === 'function' ? (at: At<S, P>) => alts(at).map(renamed) : alts.map(renamed) }, next });
  });
}

function firstLabel<S, P>(l: Line<S, P>, prefix: string): string {
  if ('at' in l) return prefix + l.at;
  const head = l.body[0];
  return head === undefined ? END : firstLabel(head, `${prefix}${l.call}.`);
}

export function program<S, P>(name: string, lines: readonly Line<S, P>[]): Program<S, P> {
  return new Program(name, lines);
}

export interface ProgramRunner<S, P> {
  /** The kernel in a state, and in the successor being written. */
  readonly kernel: (s: S) => Kernel;
  readonly draft: (d: Draft<S>) => KernelDraft;
  /** The program the running frame of `cpu` runs, or undefined when it runs none (a finished or idle frame). */
  readonly programOf: (fr: Frame, cpu: number, s: S) => Program<S, P> | undefined;
  /** How a label names the running context after `cpu0: ` (default: nothing for a task, `hardirq: ` and so on otherwise). */
  readonly who?: (fr: Frame, cpu: number) => string;
}

function defaultWho(fr: Frame): string {
  return fr.kind === 'task' ? '' : `${fr.kind}: `;
}

/**
 * The transitions of the running frames' programs in state `s`: for each CPU, each enabled
 * alternative of the instruction at its running frame's pc, on lane `cpuN`. The step's effect
 * runs on the successor, then the frame that ran goes on at the step's target.
 */
export function programTransitions<S, P>(s: S, p: P, cfg: KernelConfig, runner: ProgramRunner<S, P>): SchemaTransition<S>[] {
  const k = runner.kernel(s);
  const who = runner.who ?? defaultWho;
  const out: SchemaTransition<S>[] = [];
  for (let cpu = 0; cpu < k.cpus.length; cpu++) {
    const fr = top(k, cpu);
    const prog = runner.programOf(fr, cpu, s);
    if (!prog) continue;
    const here = prog.at(fr.pc);
    if (!here) continue;
    const a: At<S, P> = { s, p, cfg, cpu, k, fr };
    const lane = `cpu${cpu}`;
    const alts = here.instr.alts;
    for (const x of typeof alts === 'function' ? alts(a) : alts) {
      if (x.when && !x.when(a)) continue;
      const label = typeof x.label === 'string' ? x.label : x.label(a);
      out.push({
        lane,
        label: `${lane}: ${who(fr, cpu)}${label}`,
        ...(x.local ? { local: true } : {}),
        apply: (d) => {
          const kd = runner.draft(d);
          const me = topDraft(kd, cpu);
          const ran = x.run?.({ d, k: kd }, a) ?? x.goto ?? here.next;
          const to = ran === HERE ? here.instr.at : ran;
          if (!prog.has(to)) throw new ModelError(`program ${prog.name}: "${here.instr.at}" goes to "${to}", which is no label`);
          me.pc = to;
        },
      });
    }
  }
  return out;
}

/** An interrupt or hook frame's last step: back to the frame below (use as a `run`, with goto END). */
export function returns<S>(o: Into<S>, a: { readonly cpu: number }): string {
  returnFromFrame(o.k, a.cpu);
  return END;
}
