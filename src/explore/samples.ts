/**
 * Checks of the model contract that are too costly for every state, made on a sample of the
 * expanded states: every state among the first PREFIX expansions, then one in EVERY.
 * Counterexample replay checks every step of its path as well (counterexample.ts).
 */
import { bytesKey, ByteWriter } from '../core/codec.ts';
import { ModelError, modelFailure } from '../core/errors.ts';
import { violationOf, type AnyTransition, type Check, type Property } from '../core/model.ts';
import type { AnyParams } from '../core/params.ts';
import { LocalCheck } from './local.ts';
import { sameBytes, type Space } from './space.ts';

const PREFIX = 2000;
const EVERY = 64;

export class Samples {
  private readonly aux: Space;
  private readonly w = new ByteWriter();
  /** --por on a schema model: the check of `local` declarations (local.ts). */
  private readonly local: LocalCheck | undefined;

  constructor(
    private readonly space: Space,
    private readonly model: {
      readonly name: string;
      readonly isEndState?: (s: unknown, p: AnyParams) => boolean;
      readonly transitions: (s: unknown, p: AnyParams) => readonly AnyTransition[];
    },
    private readonly invariants: readonly Property<unknown, AnyParams>[],
    private readonly finals: readonly Property<unknown, AnyParams>[],
    steps: readonly Property<unknown, AnyParams>[],
    por: boolean,
  ) {
    this.aux = space.fork();
    if (por && space.schema) this.local = new LocalCheck(space, space.fork(), model, [...invariants, ...steps]);
  }

  wants(expansion: number): boolean {
    return expansion <= PREFIX || expansion % EVERY === 0;
  }

  /**
   * `ts` are the transitions of the state the space expands, `keys` the bytes of their
   * successors as the search saw them (under --symmetry, representatives): empty when the state
   * was not fully expanded.
   */
  check(ts: readonly AnyTransition[], keys: readonly Uint8Array[], expansion: number): void {
    const where = { toString: () => `in state {${this.space.render(this.space.state)}}` };
    const labels = new Set<string>();
    // Their shape (string label and lane, an apply) is checked on every expansion (space.ts).
    for (const t of ts) {
      if (labels.has(t.label)) throw new ModelError(`model "${this.model.name}": two transitions are labelled "${t.label}" ${where}; labels must be unique per state`);
      labels.add(t.label);
    }
    if (keys.length === ts.length) this.deterministic(ts, keys, where, expansion);
    this.local?.check(ts);
    if (this.space.perms && this.space.perms.length > 0 && keys.length === ts.length) this.symmetric(ts, keys, expansion);
  }

  /** Expands the state again and compares: same labels, lanes and successors, in the same order. */
  private deterministic(first: readonly AnyTransition[], firstKeys: readonly Uint8Array[], where: object, expansion: number): void {
    const again = this.aux.expand(this.space.stateBytes, 0, this.space.stateBytes.length);
    const name = this.model.name;
    if (again.length !== first.length) throw new ModelError(`model "${name}" is not deterministic: transitions() gave ${first.length} then ${again.length} transitions ${where}`);
    for (let i = 0; i < again.length; i++) {
      if (again[i].label !== first[i].label || again[i].lane !== first[i].lane)
        throw new ModelError(`model "${name}" is not deterministic: transition ${i + 1} was "${first[i].label}" then "${again[i].label}" ${where}`);
      const next = this.aux.successor(i, this.w);
      // A field the schema does not declare (pack ignores it): looked for in the first expansions.
      const stray = expansion <= PREFIX ? this.space.schema?.strayField(next) : undefined;
      if (stray) throw new ModelError(`model "${name}": transition "${first[i].label}" wrote ${stray}, a field the schema does not declare, ${where}`);
      if (this.space.perms) this.aux.canonicalize(this.w, next);
      if (this.w.length !== firstKeys[i].length || !sameBytes(firstKeys[i], this.w.bytes, 0, this.w.length))
        throw new ModelError(`model "${name}" is not deterministic: transition "${first[i].label}" led to two different states ${where}`);
    }
  }

  /**
   * --symmetry: a permutation of the state (one per sampled state, taken in turn) must have the
   * same successors up to permutation, and every invariant, final property and isEndState must
   * give it the same verdict. Step properties are checked when a counterexample is made
   * concrete (concreteRun, counterexample.ts).
   */
  private symmetric(ts: readonly AnyTransition[], keys: readonly Uint8Array[], expansion: number): void {
    const space = this.space;
    const perms = space.perms!;
    const perm = perms[expansion % perms.length];
    space.permuted(perm, this.w);
    const pts = this.aux.expand(this.w.bytes, 0, this.w.length);
    const ps = this.aux.state;
    const bad = (what: string) =>
      new ModelError(
        `model "${this.model.name}" is not symmetric as declared (--symmetry): ${what}, in state {${space.render(space.state)}} and its permutation [${perm.join(', ')}] {${this.aux.render(ps)}}`,
      );
    const holds = (p: Property<unknown, AnyParams>, x: unknown): boolean => {
      try {
        return violationOf((p as { check: (s: unknown, q: AnyParams) => Check }).check(x, space.params)) === undefined;
      } catch (e) {
        throw modelFailure(`property "${p.name}" threw on state {${space.render(x)}}`, e);
      }
    };
    const checked = pts.length === 0 ? [...this.invariants, ...this.finals] : this.invariants;
    for (const p of checked) {
      const a = holds(p, space.state);
      if (a !== holds(p, ps)) throw bad(`property "${p.name}" ${a ? 'holds' : 'is violated'} in one and not the other`);
    }
    if (pts.length !== ts.length) throw bad(`${ts.length} transitions in one, ${pts.length} in the other`);
    if (ts.length === 0) {
      const end = (x: unknown) => this.model.isEndState?.(x, space.params) ?? false;
      if (end(space.state) !== end(ps)) throw bad('isEndState() accepts one and not the other');
      return;
    }
    const mine = new Set(keys.map((k) => bytesKey(k)));
    for (let i = 0; i < pts.length; i++) {
      const next = this.aux.successor(i, this.w);
      this.aux.canonicalize(this.w, next);
      if (!mine.has(this.w.key())) throw bad(`transition "${pts[i].label}" of the permutation leads to a state that no transition of the state leads to, up to permutation`);
    }
  }
}
