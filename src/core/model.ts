import { ModelError } from './errors.ts';
import { checkParamValue, type AnyParams, type ParamSpecs, type ParamValues } from './params.ts';
import type { Draft, Type } from './schema.ts';

interface TransitionBase {
  readonly label: string;
  readonly lane: string;
  /**
   * The action this transition is an instance of, for coverage (`mc verify` lists the declared
   * actions that never fired). Default: the label with its lane's number abstracted, so that
   * `cpu1: nmi enters` (lane `cpu1`) is an instance of `cpuN: nmi enters`.
   */
  readonly action?: string;
  /**
   * Declares that this transition reads and writes only its own lane's private state and that
   * no property looks at what it changes (it commutes with every other lane's transitions and
   * is invisible). Partial-order reduction (`--por`) may then explore it alone from a state
   * where it is its lane's only enabled transition. It must also not be a choice point: while
   * it is enabled, no other lane can enable another transition of its lane (conditions in
   * src/explore/reduce.ts). For a schema model mc checks the declaration on a sample of states
   * (the fields it reads and writes belong to its lane, no invariant or step property reads
   * what it writes, it commutes with the other lanes' transitions); a wrong declaration in an
   * Immutable model makes `--por` miss states. Without `--por` it is ignored.
   */
  readonly local?: boolean;
}

/**
 * One enabled transition of a state of a schema model. `label` is stable and printable
 * (`cpu0: nmi enters`) and unique among the transitions of one state; `lane` names the CPU (or
 * process) that takes it, one column of the counterexample graph. `apply(next)` writes the
 * successor into `next`, a copy of the state: it must depend on nothing but the state.
 */
export interface SchemaTransition<S> extends TransitionBase {
  readonly apply: (next: Draft<S>) => void;
}

/** A transition of a model whose states are Immutable values: `apply()` returns the successor. */
export interface ImmutableTransition<S> extends TransitionBase {
  readonly apply: () => S;
}

type ImmutableState = { hashCode(): number } | string | number | boolean | bigint | null | undefined;

/** A transition of a model with states S: a schema state's writes a draft, an Immutable state's returns the successor. */
export type Transition<S> = [S] extends [ImmutableState] ? ImmutableTransition<S> : SchemaTransition<S>;

/** A transition with its types erased, as the explorer handles it. */
export interface AnyTransition extends TransitionBase {
  readonly apply: (next?: never) => unknown;
}

/**
 * Interchangeable lanes (identical CPUs) of an Immutable model, for symmetry reduction
 * (`--symmetry`): `permute` renames lane i to lane perm[i] everywhere in a state (per-CPU
 * arrays, owner fields, CPU ids held in objects). Every property must give the same verdict on
 * a state and its permutations. A schema model names a universe instead, and mc permutes every
 * field typed by it.
 */
export interface Symmetry<S> {
  /** The interchangeable lanes, in order (`cpu0`, `cpu1`, …). */
  readonly lanes: readonly string[];
  readonly permute: (state: S, perm: readonly number[]) => S;
}

/**
 * What a property check returns: `true` when it holds; `false`, a message, or a message with
 * the offending field paths (as `mc` prints them, e.g. `cpus[0].freelist`) when violated.
 * Write checks as `cond || 'what went wrong'`.
 */
export type Check = boolean | string | { readonly message: string; readonly fields?: readonly string[] };

interface PropertyBase {
  /** Exactly what the user types after `--property`. */
  readonly name: string;
  readonly description: string;
}

/** Must hold in every reachable state, initial ones included. */
export interface InvariantProperty<S, P> extends PropertyBase {
  readonly kind: 'invariant';
  readonly check: (state: S, params: P) => Check;
}

/** Must hold in every reachable state that has no enabled transition (quiescence, end of run). */
export interface FinalProperty<S, P> extends PropertyBase {
  readonly kind: 'final';
  readonly check: (state: S, params: P) => Check;
}

/** Must hold for every transition taken: the state before, the transition, the state after. */
export interface StepProperty<S, P> extends PropertyBase {
  readonly kind: 'step';
  readonly check: (before: S, step: { readonly label: string; readonly lane: string }, after: S, params: P) => Check;
}

/** Built in: a reachable state with no enabled transition that the model does not accept as an end state. */
export interface DeadlockProperty extends PropertyBase {
  readonly kind: 'deadlock';
}

/**
 * Liveness: every fair run (see Fairness) from an initial state reaches a state where `goal`
 * holds. A run that ends (no lane can step) without reaching one violates it too.
 */
export interface EventuallyProperty<S, P> extends PropertyBase {
  readonly kind: 'eventually';
  readonly goal: (state: S, params: P) => boolean;
}

/** Liveness: on every fair run, every state where `trigger` holds is followed, then or later, by one where `goal` holds. */
export interface LeadsToProperty<S, P> extends PropertyBase {
  readonly kind: 'leadsTo';
  readonly trigger: (state: S, params: P) => boolean;
  readonly goal: (state: S, params: P) => boolean;
}

/** Liveness: on every fair run `goal` holds again and again (infinitely often; a run that ends must end in it). */
export interface AlwaysEventuallyProperty<S, P> extends PropertyBase {
  readonly kind: 'alwaysEventually';
  readonly goal: (state: S, params: P) => boolean;
}

export type LivenessProperty<S, P = AnyParams> = EventuallyProperty<S, P> | LeadsToProperty<S, P> | AlwaysEventuallyProperty<S, P>;

export type Property<S, P = AnyParams> = InvariantProperty<S, P> | FinalProperty<S, P> | StepProperty<S, P> | DeadlockProperty | LivenessProperty<S, P>;

export function isLiveness<S, P>(p: Property<S, P>): p is LivenessProperty<S, P> {
  return p.kind === 'eventually' || p.kind === 'leadsTo' || p.kind === 'alwaysEventually';
}

/**
 * Which infinite runs count for liveness properties. A run that breaks these assumptions is not
 * a counterexample: a property that fails only through an unfair run holds.
 */
export interface Fairness {
  /**
   * `weak` (the default): weak fairness per lane: a lane that can step in every state from some
   * point on eventually steps (a CPU is not stopped forever while it could run). `none`: any
   * infinite run counts, and a lane may be starved.
   */
  readonly lanes?: 'weak' | 'none';
  /**
   * Actions (Transition.action names) under strong fairness, per lane: if a lane's instance of
   * one is enabled again and again, that lane eventually takes it. The kernel's "a spinning CPU
   * eventually gets the lock while its holder keeps releasing it" is strong fairness on the
   * acquire.
   */
  readonly strong?: readonly string[];
  /**
   * Actions that happen only finitely often on a fair run: the environment's, such as an
   * interrupt or an NMI arriving. They may be taken on the way, never forever; they do not
   * count as a lane being able to step.
   */
  readonly finite?: readonly string[];
}
export type PropertyKind = Property<unknown>['kind'];

export const DEADLOCK_PROPERTY = 'no-deadlock';
/** What a deadlock violation says, wherever it is found (search, workers, simulation, replay). */
export const DEADLOCK_MESSAGE = 'no transition is enabled and this is not an accepted end state';

export function eventually<S, P = AnyParams>(name: string, description: string, goal: (state: S, params: P) => boolean): EventuallyProperty<S, P> {
  return { kind: 'eventually', name, description, goal };
}

export function leadsTo<S, P = AnyParams>(name: string, description: string, trigger: (state: S, params: P) => boolean, goal: (state: S, params: P) => boolean): LeadsToProperty<S, P> {
  return { kind: 'leadsTo', name, description, trigger, goal };
}

export function alwaysEventually<S, P = AnyParams>(name: string, description: string, goal: (state: S, params: P) => boolean): AlwaysEventuallyProperty<S, P> {
  return { kind: 'alwaysEventually', name, description, goal };
}

export function invariant<S, P = AnyParams>(name: string, description: string, check: (state: S, params: P) => Check): InvariantProperty<S, P> {
  return { kind: 'invariant', name, description, check };
}

export function atQuiescence<S, P = AnyParams>(name: string, description: string, check: (state: S, params: P) => Check): FinalProperty<S, P> {
  return { kind: 'final', name, description, check };
}

export function onStep<S, P = AnyParams>(name: string, description: string, check: StepProperty<S, P>['check']): StepProperty<S, P> {
  return { kind: 'step', name, description, check };
}

/**
 * What a model declares about one parameter setting: the properties it expects violated there.
 * Every other property is expected to hold, except those listed as `unchecked`. `mc check`
 * turns each expectation into CI checks; a buggy variant that stops failing is a regression.
 */
export interface Expectation<P> {
  readonly params: Partial<P>;
  readonly violated?: readonly string[];
  readonly unchecked?: readonly string[];
  /** Why this setting is expected to behave so: the kernel fact, shown by `mc list`. */
  readonly note?: string;
  /**
   * Bounds for a setting too big to exhaust. `mc check` then accepts an incomplete run: a
   * property expected to hold passes when no violation was found within the bounds (the
   * verdict says "unknown"), while a property expected violated must still be violated within
   * them. Without bounds an incomplete run fails. A time limit makes the result depend on the
   * machine's speed; prefer maxStates or maxDepth, which give the same result on every run.
   */
  readonly bounds?: ExpectationBounds;
}

export interface ExpectationBounds {
  readonly maxStates?: number;
  readonly maxDepth?: number;
  readonly timeLimitSeconds?: number;
}

export interface ModelDefinition<S, P extends ParamSpecs> {
  readonly name: string;
  readonly description?: string;
  readonly params: P;
  /**
   * The state schema under these parameters (`t.struct({...})`, see src/core/schema.ts): the
   * fast path, states as fixed-layout bytes. Without it, states are Immutable.js values (the
   * prototyping path: slower, no --workers, no checked `local`).
   */
  readonly state?: (params: ParamValues<P>) => Type<S, unknown>;
  /**
   * The initial state, or several. A schema model may instead write its one initial state into
   * `draft`, which starts at the schema's defaults, and return nothing.
   */
  readonly init: (params: ParamValues<P>, draft: Draft<S>) => S | readonly S[] | void;
  /** The transitions enabled in a state, in a deterministic order. */
  readonly transitions: (state: S, params: ParamValues<P>) => readonly Transition<S>[];
  readonly properties: readonly Property<S, ParamValues<P>>[];
  /** States with no enabled transition that are proper ends, not deadlocks. Default: none. */
  readonly isEndState?: (state: S, params: ParamValues<P>) => boolean;
  /** Lane names in display order (`cpu0`, `cpu1`, …). Default: the order lanes first appear. */
  readonly lanes?: (params: ParamValues<P>) => readonly string[];
  readonly expectations?: readonly Expectation<ParamValues<P>>[];
  /**
   * Every action the model can take under these parameters (see Transition.action), so that
   * coverage can name the ones that never fired: dead model code is the commonest modeling
   * mistake. Without it coverage can only list the actions that did fire.
   */
  readonly actions?: readonly string[] | ((params: ParamValues<P>) => readonly string[]);
  /**
   * Interchangeable lanes under these parameters, if any: for a schema model the name of the
   * universe whose members are interchangeable (`'cpu'`), for an Immutable model a Symmetry.
   */
  readonly symmetry?: (params: ParamValues<P>) => Symmetry<S> | string | undefined;
  /** Which infinite runs count for the liveness properties. Default: weak fairness per lane. */
  readonly fairness?: Fairness | ((params: ParamValues<P>) => Fairness);
}

const MODEL_BRAND = Symbol.for('mc.model');

/** A checked model definition with the built-in deadlock property appended. */
export interface Model<S = unknown, P extends ParamSpecs = ParamSpecs> extends ModelDefinition<S, P> {
  readonly [MODEL_BRAND]: true;
  readonly properties: readonly Property<S, ParamValues<P>>[];
  readonly expectations: readonly Expectation<ParamValues<P>>[];
}

/** A model with its parameter types erased, as the explorer and the CLI handle it. */
export interface AnyModel {
  readonly [MODEL_BRAND]: true;
  readonly name: string;
  readonly description?: string;
  readonly params: ParamSpecs;
  readonly state?: (params: AnyParams) => Type<unknown, unknown>;
  readonly init: (params: AnyParams, draft?: never) => unknown;
  readonly transitions: (state: unknown, params: AnyParams) => readonly AnyTransition[];
  readonly properties: readonly Property<unknown, AnyParams>[];
  readonly isEndState?: (state: unknown, params: AnyParams) => boolean;
  readonly lanes?: (params: AnyParams) => readonly string[];
  readonly expectations: readonly Expectation<AnyParams>[];
  readonly actions?: readonly string[] | ((params: AnyParams) => readonly string[]);
  readonly symmetry?: (params: AnyParams) => Symmetry<unknown> | string | undefined;
  readonly fairness?: Fairness | ((params: AnyParams) => Fairness);
}

/** Erases a model's types, for code that handles any model (tests, the CLI). */
export function anyModel<S, P extends ParamSpecs>(m: Model<S, P>): AnyModel {
  return m as unknown as AnyModel;
}

/** What a model or property name may be: it names output folders and files. */
export const NAME = /^[a-z0-9][a-z0-9._-]*$/;

/**
 * Declares a model: the default export of a model file. Checks the definition once, here, so
 * that a malformed model fails when loaded, with a message that names the mistake.
 */
export function defineModel<S, const P extends ParamSpecs>(def: ModelDefinition<S, P>): Model<S, P> {
  const where = `model "${def?.name ?? '?'}"`;
  if (typeof def !== 'object' || def === null) throw new ModelError('defineModel() needs an object');
  if (typeof def.name !== 'string' || !NAME.test(def.name))
    throw new ModelError(`${where}: name must match ${NAME} (it names the output folder)`);
  if (typeof def.init !== 'function') throw new ModelError(`${where}: init must be a function of the parameters`);
  if (typeof def.transitions !== 'function') throw new ModelError(`${where}: transitions must be a function (state, params) => Transition[]`);
  if (def.state !== undefined && typeof def.state !== 'function') throw new ModelError(`${where}: state must be a function of the parameters that returns a schema (t.struct({...}))`);
  const params = def.params ?? ({} as P);
  for (const [k, spec] of Object.entries(params)) {
    const err = checkParamValue(spec, spec.default);
    if (err) throw new ModelError(`${where}: default of parameter "${k}" is invalid: ${err}`);
  }
  const properties = [...(def.properties ?? [])];
  if (properties.some((p) => p.name === DEADLOCK_PROPERTY))
    throw new ModelError(`${where}: "${DEADLOCK_PROPERTY}" is built in; do not declare it`);
  properties.push({
    kind: 'deadlock',
    name: DEADLOCK_PROPERTY,
    description: 'every reachable state with no enabled transition is an accepted end state',
  });
  const names = new Set<string>();
  for (const p of properties) {
    if (!p || typeof p.name !== 'string' || !NAME.test(p.name)) throw new ModelError(`${where}: property name ${JSON.stringify(p?.name)} must match ${NAME}`);
    if (names.has(p.name)) throw new ModelError(`${where}: two properties are named "${p.name}"`);
    names.add(p.name);
  }
  const expectations = def.expectations ?? [];
  expectations.forEach((e, i) => {
    for (const [k, v] of Object.entries(e.params)) {
      const spec = params[k];
      if (!spec) throw new ModelError(`${where}: expectation ${i + 1} sets unknown parameter "${k}"; parameters: ${Object.keys(params).join(', ') || '(none)'}`);
      const err = checkParamValue(spec, v);
      if (err) throw new ModelError(`${where}: expectation ${i + 1} sets "${k}" = ${JSON.stringify(v)}: ${err}`);
    }
    for (const [k, v] of Object.entries(e.bounds ?? {}))
      if (!['maxStates', 'maxDepth', 'timeLimitSeconds'].includes(k) || typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v))
        throw new ModelError(`${where}: expectation ${i + 1} has bad bound ${k} = ${JSON.stringify(v)}; bounds: maxStates, maxDepth, timeLimitSeconds (non-negative numbers)`);
    for (const n of [...(e.violated ?? []), ...(e.unchecked ?? [])])
      if (!names.has(n)) throw new ModelError(`${where}: expectation ${i + 1} names unknown property "${n}"; properties: ${[...names].join(', ')}`);
  });
  for (const p of properties) {
    const fns = p.kind === 'leadsTo' ? [p.trigger, p.goal] : p.kind === 'eventually' || p.kind === 'alwaysEventually' ? [p.goal] : p.kind === 'deadlock' ? [] : [p.check];
    if (!fns.every((f) => typeof f === 'function')) throw new ModelError(`${where}: property "${p.name}" (${p.kind}) needs ${p.kind === 'leadsTo' ? 'trigger and goal functions' : p.kind === 'eventually' || p.kind === 'alwaysEventually' ? 'a goal function' : 'a check function'}`);
  }
  if (def.fairness !== undefined && typeof def.fairness !== 'function') checkFairness(where, def.fairness);
  if (def.actions !== undefined && typeof def.actions !== 'function' && (!Array.isArray(def.actions) || def.actions.some((a) => typeof a !== 'string')))
    throw new ModelError(`${where}: actions must be a list of action names, or a function of the parameters that returns one`);
  return { ...def, params, properties, expectations, [MODEL_BRAND]: true };
}

/** Throws a ModelError naming what is wrong with a fairness declaration. */
export function checkFairness(where: string, f: unknown): Fairness {
  const bad = (what: string) => new ModelError(`${where}: fairness ${what}; valid: { lanes?: 'weak' | 'none', strong?: [action names], finite?: [action names] }`);
  if (typeof f !== 'object' || f === null) throw bad(`is ${JSON.stringify(f)}`);
  for (const k of Object.keys(f)) if (!['lanes', 'strong', 'finite'].includes(k)) throw bad(`has unknown key "${k}"`);
  const x = f as Fairness;
  if (x.lanes !== undefined && x.lanes !== 'weak' && x.lanes !== 'none') throw bad(`lanes is ${JSON.stringify(x.lanes)}`);
  for (const k of ['strong', 'finite'] as const)
    if (x[k] !== undefined && (!Array.isArray(x[k]) || x[k]!.some((a) => typeof a !== 'string'))) throw bad(`${k} is not a list of action names`);
  const both = (x.strong ?? []).filter((a) => (x.finite ?? []).includes(a));
  if (both.length > 0) throw bad(`names "${both[0]}" both strong and finite`);
  return x;
}

export function isModel(x: unknown): x is AnyModel {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[MODEL_BRAND] === true;
}

/** Normalises a Check result: undefined when it holds, else the message and offending fields. */
export function violationOf(c: Check): { message: string; fields: readonly string[] } | undefined {
  if (c === true) return undefined;
  if (c === false) return { message: 'violated', fields: [] };
  if (typeof c === 'string') return { message: c, fields: [] };
  if (typeof c === 'object' && c !== null && typeof c.message === 'string') return { message: c.message, fields: c.fields ?? [] };
  throw new ModelError(`a property check returned ${JSON.stringify(c)}; expected true, false, a message, or { message, fields }`);
}
