/**
 * A model under one parameter setting, as the search sees it: states are bytes, and the space
 * turns them into the values the model reads, calls its transitions, and turns successors back
 * into bytes. Two kinds: a schema model's states are its fixed layout (unpacked into a reused
 * tree, packed with domain checks, no per-state objects kept); an Immutable model's are its
 * values' canonical encoding (src/core/codec.ts). The search, its checks and the counterexample
 * replay use only this interface, so both kinds get the same engine.
 */
import { ByteWriter, StateCodec } from '../core/codec.ts';
import { ModelError, modelFailure, UsageError } from '../core/errors.ts';
import type { AnyModel, AnyTransition, Symmetry } from '../core/model.ts';
import type { AnyParams } from '../core/params.ts';
import { permuter, Schema, type Universe } from '../core/schema.ts';
import { TextTable } from '../core/texts.ts';
import { schemaFormat } from '../core/schema_format.ts';
import { diffShown, renderShown, type StateFormat } from '../core/show.ts';
import { immutableFormat } from '../core/value.ts';

/** States of at least this many bytes are packed and restored by difference (SchemaSpace). */
const BY_DIFFERENCE_FROM = 64;

/** At most this many interchangeable lanes: canonicalization tries all n! permutations. */
export const MAX_SYMMETRIC_LANES = 6;

export interface Space {
  readonly modelName: string;
  readonly params: AnyParams;
  readonly format: StateFormat;
  /** Bytes per state when every state has the same size (a schema), else undefined. */
  readonly stride: number | undefined;
  /** The schema, for a schema model. */
  readonly schema: Schema | undefined;
  /** Under --symmetry: the interchangeable lanes' permutations, identity left out (lexicographic). */
  readonly perms: readonly (readonly number[])[] | undefined;
  /** The initial states, each as its value and its bytes (not canonicalized). */
  initialStates(): { readonly value: unknown; readonly bytes: Uint8Array }[];
  /**
   * Makes the state at b[start, end) the one being expanded (its bytes are copied: `b` may be
   * reused meanwhile) and returns its enabled transitions, checked to be an array of
   * { label, lane, apply }.
   */
  expand(b: Uint8Array, start: number, end: number): readonly AnyTransition[];
  /** The value of the state being expanded. */
  readonly state: unknown;
  /** The bytes of the state being expanded. */
  readonly stateBytes: Uint8Array;
  /**
   * The successor of the expanded state by its transition `i`: its bytes are left in `out` and
   * its value returned, valid until the next call.
   */
  successor(i: number, out: ByteWriter): unknown;
  /**
   * Replaces the bytes in `out` by those of its orbit's representative. `value`, when the caller
   * has it, is the state those bytes encode (an Immutable space permutes values, not bytes).
   */
  canonicalize(out: ByteWriter, value?: unknown): void;
  /** Writes into `out` the bytes of the expanded state with its interchangeable lanes renamed by `perm`. */
  permuted(perm: readonly number[], out: ByteWriter): void;
  /** Throws a ModelError when the model changed the state it was expanding instead of the successor. */
  checkUnchanged(): void;
  /** A value of the state at b[start, end) that stays valid and cannot change: for traces. */
  read(b: Uint8Array, start: number, end: number): unknown;
  /** The bytes of a state value (an initial state, or one made by `read`) into `out`. */
  encode(value: unknown, out: ByteWriter): void;
  /** A state in one line, for error messages. */
  render(state: unknown): string;
  /** Another space of the same model and parameters with its own working state, for re-expansions. */
  fork(): Space;
}

export interface SpaceOptions {
  readonly symmetry?: boolean;
  /** --workers: the text table every thread shares (t.text() fields; src/core/texts.ts). */
  readonly texts?: SharedArrayBuffer;
}

/** The space of `model` under `params`: a schema model's if it declares `state`, else an Immutable one's. */
export function spaceOf(model: AnyModel, params: AnyParams, options: SpaceOptions = {}): Space {
  return model.state ? new SchemaSpace(model, params, options) : new ImmutableSpace(model, params, options);
}

/** Every permutation of 0 … n-1 but the identity, in lexicographic order. */
export function permutations(n: number): number[][] {
  const all: number[][] = [];
  const perm: number[] = [];
  const used = new Array<boolean>(n).fill(false);
  const go = (): void => {
    if (perm.length === n) {
      if (perm.some((x, i) => x !== i)) all.push([...perm]);
      return;
    }
    for (let i = 0; i < n; i++) {
      if (used[i]) continue;
      used[i] = true;
      perm.push(i);
      go();
      perm.pop();
      used[i] = false;
    }
  };
  go();
  return all;
}


function symmetryOf(model: AnyModel, params: AnyParams): Symmetry<unknown> | string {
  if (!model.symmetry) throw new UsageError(`--symmetry: model "${model.name}" declares no interchangeable lanes (symmetry); run without --symmetry`);
  let sym: Symmetry<unknown> | string | undefined;
  try {
    sym = model.symmetry(params);
  } catch (e) {
    throw modelFailure(`model "${model.name}": symmetry() threw`, e);
  }
  if (sym === undefined) throw new UsageError(`--symmetry: model "${model.name}" declares no interchangeable lanes under these parameters; run without --symmetry`);
  return sym;
}

function checkedTransitions(model: AnyModel, params: AnyParams, state: unknown, space: Space): readonly AnyTransition[] {
  let ts: readonly AnyTransition[];
  try {
    ts = model.transitions(state, params);
  } catch (e) {
    throw modelFailure(`transitions() threw in state {${space.render(state)}}`, e);
  }
  if (!Array.isArray(ts)) throw new ModelError(`transitions() returned ${ts === null ? 'null' : typeof ts}, expected an array, in state {${space.render(state)}}`);
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i];
    if (typeof t?.label !== 'string' || typeof t.lane !== 'string' || typeof t.apply !== 'function')
      throw new ModelError(
        `model "${model.name}": transition ${i + 1} of state {${space.render(state)}} is not { label, lane, apply }: label ${JSON.stringify(t?.label)}, lane ${JSON.stringify(t?.lane)}, apply ${typeof t?.apply}`,
      );
  }
  return ts;
}

function initialValues(model: AnyModel, params: AnyParams, draft: unknown): unknown[] {
  let inits: unknown;
  try {
    inits = model.init(params, draft as never);
  } catch (e) {
    throw modelFailure('init() threw', e);
  }
  const list = inits === undefined && draft !== undefined ? [draft] : Array.isArray(inits) ? [...inits] : [inits];
  if (list.length === 0) throw new ModelError(`model "${model.name}": init() returned no state`);
  return list;
}

/** Whether a[0, n) and b[o, o + n) hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array, o: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[o + i]) return false;
  return true;
}

/** Whether a[0, n) is smaller than b[0, n) byte by byte. */
function smaller(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

class SchemaSpace implements Space {
  readonly modelName: string;
  readonly format: StateFormat;
  readonly stride: number;
  readonly schema: Schema;
  readonly perms: readonly (readonly number[])[] | undefined;
  readonly stateBytes: Uint8Array;
  /** The tree of the state being expanded, and the one successors are written into. */
  readonly state: unknown;
  private readonly draft: unknown;
  /** The bytes the draft holds after the last successor (packed), while `draftHolds`: restoring it from them is cheaper than unpacking. */
  private readonly draftBytes: Uint8Array;
  private draftHolds = false;
  /**
   * Whether successors are packed and the draft restored by difference (diffPack, restore):
   * that saves most of the work on large states (a kernel's: hundreds of bytes in lists and
   * maps) and costs more than it saves on small ones (measured: 20-byte states 13% slower).
   */
  private readonly byDifference: boolean;
  private ts: readonly AnyTransition[] = [];
  private readonly check: Uint8Array;
  private readonly permute?: (src: Uint8Array, s: number, dst: Uint8Array, d: number, perm: readonly number[]) => void;
  private readonly best: Uint8Array;
  private readonly trial: Uint8Array;

  constructor(
    private readonly model: AnyModel,
    readonly params: AnyParams,
    private readonly options: SpaceOptions,
    compiled?: Schema,
  ) {
    this.modelName = model.name;
    if (compiled) this.schema = compiled;
    else {
      let type;
      try {
        type = model.state!(params);
      } catch (e) {
        throw modelFailure(`model "${model.name}": state() threw`, e);
      }
      if (!type || typeof type !== 'object' || !('node' in type)) throw new ModelError(`model "${model.name}": state() must return a schema (t.struct({...})), got ${typeof type}`);
      try {
        this.schema = new Schema(type.node, options.texts ? new TextTable(options.texts) : undefined);
      } catch (e) {
        throw modelFailure(`model "${model.name}": bad state schema`, e);
      }
    }
    this.format = schemaFormat(this.schema);
    this.stride = this.schema.size;
    this.stateBytes = new Uint8Array(this.stride);
    this.draftBytes = new Uint8Array(this.stride);
    this.byDifference = this.stride >= BY_DIFFERENCE_FROM;
    this.check = new Uint8Array(this.stride);
    this.best = new Uint8Array(this.stride);
    this.trial = new Uint8Array(this.stride);
    this.state = this.schema.create();
    this.draft = this.schema.create();
    if (options.symmetry) {
      const sym = symmetryOf(model, params);
      if (typeof sym !== 'string') throw new ModelError(`model "${model.name}": a schema model's symmetry names a universe of its schema (e.g. 'cpu'), not a permute function`);
      const u: Universe | undefined = this.schema.universes.get(sym);
      if (!u) throw new ModelError(`model "${model.name}": symmetry names universe "${sym}", which no field of the schema uses; universes: ${[...this.schema.universes.keys()].join(', ') || '(none)'}`);
      if (u.size > MAX_SYMMETRIC_LANES) throw new ModelError(`model "${model.name}": symmetry over ${u.size} members of "${u.name}"; --symmetry tries all n! permutations and supports at most ${MAX_SYMMETRIC_LANES}`);
      this.perms = permutations(u.size);
      this.permute = permuter(this.schema, u);
    }
  }

  render(state: unknown): string {
    try {
      return renderShown(this.format.show(state));
    } catch {
      return '(a state that does not fit the schema)';
    }
  }


  initialStates(): { readonly value: unknown; readonly bytes: Uint8Array }[] {
    const values = initialValues(this.model, this.params, this.schema.create());
    return values.map((v, i) => {
      const bytes = new Uint8Array(this.stride);
      try {
        this.schema.pack(v, bytes, 0);
      } catch (e) {
        throw modelFailure(`initial state ${i + 1} does not fit the schema`, e);
      }
      return { value: this.schema.read(bytes), bytes };
    });
  }

  expand(b: Uint8Array, start: number): readonly AnyTransition[] {
    const n = this.stride;
    const own = this.stateBytes;
    for (let i = 0; i < n; i++) own[i] = b[start + i];
    this.schema.unpack(own, 0, this.state);
    this.draftHolds = false;
    this.ts = checkedTransitions(this.model, this.params, this.state, this);
    return this.ts;
  }

  successor(i: number, out: ByteWriter): unknown {
    const t = this.ts[i];
    const d = this.draft;
    // The draft becomes a copy of the expanded state: a large one is restored from the last
    // successor (where the draft holds one), a small one unpacked.
    if (this.draftHolds && this.byDifference) this.schema.restore(this.stateBytes, 0, this.draftBytes, d);
    else this.schema.unpack(this.stateBytes, 0, d);
    this.draftHolds = false;
    try {
      (t.apply as (next: unknown) => unknown)(d);
    } catch (e) {
      throw modelFailure(`transition "${t?.label}" threw from state {${this.render(this.state)}}`, e);
    }
    // A large state is packed by difference from the expanded one: its bytes first, then what
    // apply changed; a small one whole.
    const db = this.draftBytes;
    try {
      if (this.byDifference) {
        db.set(this.stateBytes);
        this.schema.diffPack(d, this.state, db, 0);
      } else this.schema.pack(d, db, 0);
    } catch (e) {
      throw modelFailure(`transition "${t.label}" from state {${this.render(this.state)}} made a state that does not fit the schema`, e);
    }
    this.draftHolds = true;
    if (out.bytes.length < this.stride) out.reserve(this.stride);
    out.bytes.set(db);
    out.length = this.stride;
    return d;
  }

  canonicalize(out: ByteWriter): void {
    const n = this.stride;
    const best = this.best;
    const trial = this.trial;
    const src = out.bytes;
    for (let k = 0; k < n; k++) best[k] = src[k];
    for (const perm of this.perms!) {
      this.permute!(src, 0, trial, 0, perm);
      if (smaller(trial, best, n)) best.set(trial);
    }
    src.set(best);
  }

  permuted(perm: readonly number[], out: ByteWriter): void {
    out.length = 0;
    out.reserve(this.stride);
    this.permute!(this.stateBytes, 0, out.bytes, 0, perm);
    out.length = this.stride;
  }

  checkUnchanged(): void {
    // A model that wrote to `s` (or to a value it reached from it) instead of the draft would
    // make every later successor of this state wrong: its tree must still pack to its bytes.
    let packs = true;
    try {
      this.schema.pack(this.state, this.check, 0);
    } catch {
      packs = false;
    }
    if (packs && sameBytes(this.check, this.stateBytes, 0, this.stride)) return;
    const before = this.format.show(this.schema.read(this.stateBytes));
    let changed = 'it no longer fits the schema';
    try {
      changed = diffShown(before, this.format.show(this.state))
        .map((d) => `${d.path}: ${d.from ?? '-'} → ${d.to}`)
        .join(', ');
    } catch {
      // The tree holds values of the wrong kind: the message says so.
    }
    throw new ModelError(
      `model "${this.modelName}" changed the state it was expanding (${changed}) in state {${renderShown(before)}}: transitions() and apply() only read the state; apply(next) writes the successor into next`,
    );
  }

  read(b: Uint8Array, start: number): unknown {
    return this.schema.read(b, start);
  }

  encode(value: unknown, out: ByteWriter): void {
    out.length = 0;
    out.reserve(this.stride);
    try {
      this.schema.pack(value, out.bytes, 0);
    } catch (e) {
      throw modelFailure('a state does not fit the schema', e);
    }
    out.length = this.stride;
  }

  fork(): Space {
    return new SchemaSpace(this.model, this.params, this.options, this.schema);
  }
}

class ImmutableSpace implements Space {
  readonly modelName: string;
  readonly format = immutableFormat;
  readonly stride = undefined;
  readonly schema = undefined;
  readonly perms: readonly (readonly number[])[] | undefined;
  state: unknown;
  private ts: readonly AnyTransition[] = [];
  private readonly own = new ByteWriter();
  private readonly sym?: Symmetry<unknown>;
  private trial = new ByteWriter();
  private best = new ByteWriter();

  constructor(
    private readonly model: AnyModel,
    readonly params: AnyParams,
    private readonly options: SpaceOptions,
    private readonly codec = new StateCodec(),
  ) {
    this.modelName = model.name;
    if (options.symmetry) {
      const sym = symmetryOf(model, params);
      if (typeof sym === 'string' || typeof sym.permute !== 'function')
        throw new ModelError(`model "${model.name}": without a schema, symmetry must give { lanes, permute }; a universe name needs a state schema`);
      if (sym.lanes.length > MAX_SYMMETRIC_LANES)
        throw new ModelError(`model "${model.name}": symmetry over ${sym.lanes.length} lanes; --symmetry tries all n! permutations and supports at most ${MAX_SYMMETRIC_LANES}`);
      this.sym = sym;
      this.perms = permutations(sym.lanes.length);
    }
  }

  get stateBytes(): Uint8Array {
    return this.own.bytes.subarray(0, this.own.length);
  }

  render(state: unknown): string {
    return renderShown(this.format.show(state));
  }

  private encodeChecked(v: unknown, out: ByteWriter, what: () => string): void {
    out.length = 0;
    try {
      this.codec.encode(v, out);
    } catch (e) {
      throw modelFailure(what(), e);
    }
  }

  initialStates(): { readonly value: unknown; readonly bytes: Uint8Array }[] {
    const w = new ByteWriter();
    return initialValues(this.model, this.params, undefined).map((v, i) => {
      this.encodeChecked(v, w, () => `initial state ${i + 1} is malformed`);
      return { value: v, bytes: w.copy() };
    });
  }

  expand(b: Uint8Array, start: number, end: number): readonly AnyTransition[] {
    this.own.setBytes(b, start, end);
    this.state = this.codec.decode(this.own.bytes, 0, this.own.length);
    this.ts = checkedTransitions(this.model, this.params, this.state, this);
    return this.ts;
  }

  successor(i: number, out: ByteWriter): unknown {
    const t = this.ts[i];
    let next: unknown;
    try {
      next = (t.apply as () => unknown)();
    } catch (e) {
      throw modelFailure(`transition "${t?.label}" threw from state {${this.render(this.state)}}`, e);
    }
    if (next === undefined)
      throw new ModelError(`transition "${t.label}" returned undefined from state {${this.render(this.state)}}: without a schema, apply() returns the successor (with one, declare \`state\` and write into apply's argument)`);
    out.length = 0;
    this.encodeChecked(next, out, () => `transition "${t.label}" from state {${this.render(this.state)}} made a malformed state`);
    return next;
  }

  private permute(state: unknown, perm: readonly number[]): unknown {
    try {
      return this.sym!.permute(state, perm);
    } catch (e) {
      throw modelFailure(`model "${this.modelName}": symmetry.permute([${perm.join(', ')}]) threw`, e);
    }
  }

  canonicalize(out: ByteWriter, value?: unknown): void {
    // The permutation with the smallest bytes (shorter first, then byte by byte).
    let best = this.best;
    let w = this.trial;
    best.copyFrom(out);
    const state = value !== undefined ? value : this.codec.decode(out.bytes, 0, out.length);
    for (const perm of this.perms!) {
      w.length = 0;
      this.codec.encode(this.permute(state, perm), w);
      if (w.length < best.length || (w.length === best.length && smaller(w.bytes, best.bytes, w.length))) [best, w] = [w, best];
    }
    this.best = best;
    this.trial = w;
    out.copyFrom(best);
  }

  permuted(perm: readonly number[], out: ByteWriter): void {
    this.encodeChecked(this.permute(this.state, perm), out, () => 'a permuted state is malformed');
  }

  checkUnchanged(): void {
    // Immutable values cannot be changed.
  }

  read(b: Uint8Array, start: number, end: number): unknown {
    return this.codec.decode(b, start, end);
  }

  encode(value: unknown, out: ByteWriter): void {
    this.encodeChecked(value, out, () => 'a state is malformed');
  }

  fork(): Space {
    return new ImmutableSpace(this.model, this.params, this.options, this.codec);
  }
}
