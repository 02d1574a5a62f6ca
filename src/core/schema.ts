import { ModelError } from './errors.ts';
import { BAD, Compiler, explain } from './schema_code.ts';
import { TextTable } from './texts.ts';

/**
 * State schemas: the fixed-layout state a model declares once (`state: (params) => t.struct({…})`),
 * from which mc derives a byte layout. The explorer hashes, compares, stores and ships those
 * bytes; everything that prints a state reads names from the schema.
 *
 * To the model a state is a tree of plain JavaScript values in the schema's shape: structs are
 * objects, fixed arrays and bounded lists are arrays, sets are MemberSets, a member of a
 * universe is its index (printed by name), an enum value is its name, an absent optional value
 * is null. `transitions(s)` reads the state `s`; a transition's `apply(next)` writes the
 * successor `next`, a copy of `s`, in place. Values are checked against their domains when the
 * successor is packed into bytes: a value outside its domain is a ModelError naming the field
 * path, the value and the bound (SPIN wraps bytes silently; mc does not).
 *
 * Layout: every field takes whole bytes, in declaration order. A bool, an enum of at most 256
 * names, a member of a universe of at most 256 members and an int whose range has at most 256
 * values take one byte; wider ints two or four (little-endian, stored as value - min). An
 * optional scalar uses code 0 for null when its codes leave room, else a presence byte. A
 * bounded list is a count byte and `capacity` element slots; a set over a universe one bit per
 * member. Unused slots and absent values are zero, so equal states have equal bytes. The total
 * is padded to a multiple of 4, so the store can hash and compare whole words.
 */

// ---------------------------------------------------------------------------------------------
// Universes: declared finite sets (CPUs, tasks, objects, locks), printed by name.

export class Universe {
  private readonly byName: Map<string, number>;
  constructor(
    /** Identifies the universe in the schema: `--symmetry` and lane ownership name it. */
    readonly name: string,
    readonly members: readonly string[],
  ) {
    if (members.length === 0) throw new ModelError(`universe "${name}" has no members`);
    if (members.length > 256) throw new ModelError(`universe "${name}" has ${members.length} members; at most 256 are supported`);
    this.byName = new Map(members.map((m, i) => [m, i]));
    if (this.byName.size !== members.length) throw new ModelError(`universe "${name}" names a member twice`);
  }
  get size(): number {
    return this.members.length;
  }
  /** The index of a member by name; a ModelError listing the members when there is none. */
  index(member: string): number {
    const i = this.byName.get(member);
    if (i === undefined) throw new ModelError(`"${member}" is not a member of universe "${this.name}"; members: ${this.members.join(', ')}`);
    return i;
  }
  nameOf(i: number): string {
    return this.members[i] ?? `?${i}`;
  }
}

/**
 * A declared finite set: `universe('cpu', 3)` has members cpu0, cpu1, cpu2; a list of names
 * gives them explicitly (`universe('obj', ['c0:64#1', 'c0:64#2'])`).
 */
export function universe(name: string, members: number | readonly string[]): Universe {
  if (!/^[A-Za-z_][\w-]*$/.test(name)) throw new ModelError(`universe name ${JSON.stringify(name)} must be an identifier`);
  const list = typeof members === 'number' ? Array.from({ length: members }, (_, i) => `${name}${i}`) : [...members];
  return new Universe(name, list);
}

// ---------------------------------------------------------------------------------------------
// Sets over a universe.

/** A set of members of one universe (their indices), as a schema `t.set(U)` holds it. */
export class MemberSet implements Iterable<number> {
  /** One bit per member, 32 to a word. */
  readonly words: number[];
  constructor(
    readonly universe: Universe,
    /** The field path, for error messages. */
    readonly path = '',
  ) {
    this.words = new Array<number>((universe.size + 31) >>> 5).fill(0);
  }
  private check(i: number): void {
    if (!(typeof i === 'number' && i >= 0 && i < this.universe.size && (i | 0) === i))
      throw new ModelError(`${this.path || 'set'}: ${JSON.stringify(i)} is not a member of universe "${this.universe.name}" (0..${this.universe.size - 1}: ${this.universe.members.join(', ')})`);
  }
  has(i: number): boolean {
    return (i | 0) === i && i >= 0 && i < this.universe.size && ((this.words[i >>> 5] >>> (i & 31)) & 1) === 1;
  }
  add(i: number): this {
    this.check(i);
    this.words[i >>> 5] |= 1 << (i & 31);
    return this;
  }
  delete(i: number): boolean {
    this.check(i);
    const had = this.has(i);
    this.words[i >>> 5] &= ~(1 << (i & 31));
    return had;
  }
  clear(): void {
    this.words.fill(0);
  }
  get size(): number {
    let n = 0;
    for (let w of this.words) {
      w >>>= 0;
      while (w !== 0) {
        w &= w - 1;
        n++;
      }
    }
    return n;
  }
  *[Symbol.iterator](): Iterator<number> {
    for (let i = 0; i < this.universe.size; i++) if (this.has(i)) yield i;
  }
  /** The members' names, in universe order. */
  names(): string[] {
    return [...this].map((i) => this.universe.nameOf(i));
  }
}

/** What a state's reader sees of a set: no add, delete or clear. */
export interface ReadonlyMemberSet extends Iterable<number> {
  readonly universe: Universe;
  readonly size: number;
  has(i: number): boolean;
  names(): string[];
}

// ---------------------------------------------------------------------------------------------
// Schema nodes and their layout.

export type Node =
  | { readonly kind: 'bool' }
  | { readonly kind: 'int'; readonly min: number; readonly max: number }
  | { readonly kind: 'enum'; readonly names: readonly string[] }
  | { readonly kind: 'member'; readonly universe: Universe }
  | { readonly kind: 'text' }
  | { readonly kind: 'optional'; readonly inner: Node }
  | { readonly kind: 'struct'; readonly fields: readonly (readonly [string, Node])[] }
  | { readonly kind: 'array'; readonly elem: Node; readonly length: number; readonly index?: Universe }
  | { readonly kind: 'record'; readonly universe: Universe; readonly elem: Node }
  | { readonly kind: 'list'; readonly elem: Node; readonly capacity: number }
  | { readonly kind: 'map'; readonly key: Node; readonly elem: Node; readonly capacity: number }
  | { readonly kind: 'keys'; readonly key: Node; readonly capacity: number }
  | { readonly kind: 'set'; readonly universe: Universe };

declare const TYPES: unique symbol;

/**
 * A schema type: `V` is the value a reader sees, `D` what a draft holds (the same, mutable).
 * Built with `t.int`, `t.struct` and the rest; `t.struct` types also `make()` values.
 */
export interface Type<V, D = V> {
  readonly node: Node;
  readonly [TYPES]?: [V, D];
}
export type AnyType = Type<unknown, unknown>;
export type ValueOf<T> = T extends Type<infer V, unknown> ? V : never;
export type DraftOf<T> = T extends Type<unknown, infer D> ? D : never;

/** A state's type from a schema or a function of the parameters that returns one. */
export type StateOf<T> = T extends (...args: never[]) => infer R ? ValueOf<R> : ValueOf<T>;

/** The mutable form of a state value, as `apply(next)` receives it. */
export type Draft<S> = S extends ReadonlyMemberSet
  ? MemberSet
  : S extends ReadonlyMap<infer K, infer V>
    ? Map<K, Draft<V>>
    : S extends ReadonlySet<infer K>
      ? Set<K>
    : S extends readonly (infer E)[]
    ? Draft<E>[]
    : S extends object
      ? { -readonly [K in keyof S]: Draft<S[K]> }
      : S;

export interface StructType<V, D> extends Type<V, D> {
  /** A fresh value of this struct: every field at its default, then `fields` over them. */
  make(fields?: Partial<D>): D;
}

export const isScalar = (n: Node): boolean => n.kind === 'bool' || n.kind === 'int' || n.kind === 'enum' || n.kind === 'member' || n.kind === 'text';

/** How many codes a scalar has (its domain's size). */
function codes(n: Node): number {
  switch (n.kind) {
    case 'bool':
      return 2;
    case 'int':
      return n.max - n.min + 1;
    case 'enum':
      return n.names.length;
    case 'member':
      return n.universe.size;
    case 'text':
      return 2 ** 32;
    default:
      throw new Error(`not a scalar: ${n.kind}`);
  }
}

const bytesFor = (codeCount: number): number => (codeCount <= 0x100 ? 1 : codeCount <= 0x10000 ? 2 : 4);

/** Bytes a node takes in the layout. */
export function sizeOf(n: Node): number {
  switch (n.kind) {
    case 'bool':
    case 'int':
    case 'enum':
    case 'member':
    case 'text':
      return bytesFor(codes(n));
    case 'optional':
      return sharesCode(n) ? sizeOf(n.inner) : 1 + sizeOf(n.inner);
    case 'struct':
      return n.fields.reduce((a, [, f]) => a + sizeOf(f), 0);
    case 'array':
      return n.length * sizeOf(n.elem);
    case 'record':
      return n.universe.size * sizeOf(n.elem);
    case 'list':
      return 1 + n.capacity * sizeOf(n.elem);
    case 'map':
      return 1 + n.capacity * (sizeOf(n.key) + sizeOf(n.elem));
    case 'keys':
      return 1 + n.capacity * sizeOf(n.key);
    case 'set':
      return (n.universe.size + 7) >>> 3;
  }
}

/** Whether an optional scalar keeps null as code 0 in the inner value's own bytes (its codes leave one free). */
export function sharesCode(n: Node & { kind: 'optional' }): boolean {
  if (!isScalar(n.inner)) return false;
  const k = codes(n.inner);
  return k < 2 ** 32 && bytesFor(k + 1) === bytesFor(k);
}

// ---------------------------------------------------------------------------------------------
// The schema vocabulary.

const IDENT = /^[A-Za-z_$][\w$]*$/;

function intType(min: number, max: number): Type<number> {
  if (!Number.isInteger(min) || !Number.isInteger(max) || min > max) throw new ModelError(`t.int(${min}, ${max}): bounds must be integers with min <= max`);
  if (min < -(2 ** 31) || max > 2 ** 31 - 1 || max - min > 2 ** 32 - 1) throw new ModelError(`t.int(${min}, ${max}): bounds must lie within 32-bit integers`);
  return { node: { kind: 'int', min, max } };
}

function structType<F extends Readonly<Record<string, AnyType>>>(fields: F): StructType<{ readonly [K in keyof F]: ValueOf<F[K]> }, { -readonly [K in keyof F]: DraftOf<F[K]> }> {
  const entries = Object.entries(fields);
  for (const [k, f] of entries) {
    if (!IDENT.test(k)) throw new ModelError(`t.struct: field name ${JSON.stringify(k)} must be an identifier`);
    if (!f || typeof f !== 'object' || !('node' in f)) throw new ModelError(`t.struct: field "${k}" is not a schema type (use t.int, t.bool, t.struct, …)`);
  }
  const node: Node = { kind: 'struct', fields: entries.map(([k, f]) => [k, f.node] as const) };
  return {
    node,
    make: (over) => {
      const v = defaultValue(node) as Record<string, unknown>;
      if (over) for (const [k, x] of Object.entries(over)) {
        if (!(k in v)) throw new ModelError(`make(): unknown field "${k}"; fields: ${Object.keys(v).join(', ')}`);
        v[k] = x;
      }
      return v as never;
    },
  };
}

/** The schema types. */
export const t = {
  bool: (): Type<boolean> => ({ node: { kind: 'bool' } }),
  /** An integer in min..max (both inclusive, within 32 bits). */
  int: intType,
  /** One of a fixed list of names: the value is the name. */
  enum: <const N extends readonly string[]>(names: N): Type<N[number]> => {
    if (names.length === 0 || new Set(names).size !== names.length || names.some((x) => typeof x !== 'string'))
      throw new ModelError(`t.enum(${JSON.stringify(names)}): give one or more distinct names`);
    if (names.length > 0x10000) throw new ModelError('t.enum: at most 65536 names');
    return { node: { kind: 'enum', names: [...names] } };
  },
  /** A member of a universe: the value is its index, printed by name. */
  member: (u: Universe): Type<number> => ({ node: { kind: 'member', universe: u } }),
  /**
   * Any string, kept as its number in the run's text table (src/core/texts.ts): for texts that
   * cannot be listed beforehand, such as a message built from the state. Prefer t.enum where the
   * values are known: a text is not renamed under --symmetry.
   */
  text: (): Type<string> => ({ node: { kind: 'text' } }),
  /** A value or null. */
  optional: <V, D>(inner: Type<V, D>): Type<V | null, D | null> => ({ node: { kind: 'optional', inner: inner.node } }),
  struct: structType,
  /**
   * A fixed array of `length` elements, or one per member of a universe (indexed by the
   * member's index): such arrays are permuted under `--symmetry` and give each lane its fields.
   */
  array: <V, D>(elem: Type<V, D>, length: number | Universe): Type<readonly V[], D[]> => {
    const u = length instanceof Universe ? length : undefined;
    const n = u ? u.size : length;
    if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > 0xffff) throw new ModelError(`t.array: length must be an integer in 0..65535 or a universe, got ${String(length)}`);
    return { node: { kind: 'array', elem: elem.node, length: n as number, ...(u ? { index: u } : {}) } };
  },
  /** One value per member of a universe, keyed by the member's name (`s.objects['c0:64#1']`). */
  record: <V, D>(u: Universe, elem: Type<V, D>): Type<{ readonly [member: string]: V }, { [member: string]: D }> => ({ node: { kind: 'record', universe: u, elem: elem.node } }),
  /** A list of at most `capacity` elements (at most 255): push and pop at the end, a stack's top is `at(-1)`. */
  list: <V, D>(elem: Type<V, D>, capacity: number): Type<readonly V[], D[]> => {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 255) throw new ModelError(`t.list: capacity must be an integer in 1..255, got ${capacity}`);
    return { node: { kind: 'list', elem: elem.node, capacity } };
  },
  /** A set of members of a universe (a bitset). */
  set: (u: Universe): Type<ReadonlyMemberSet, MemberSet> => ({ node: { kind: 'set', universe: u } }),
  /**
   * A JavaScript Map of at most `capacity` entries (at most 255) from scalar keys (an enum, a
   * member, a text, an int) to values: for state keyed by names that are not declared
   * beforehand. Entries are kept in the order of their keys' codes, so insertion order does
   * not matter to equality. Prefer t.record over a universe where the keys are known: a record
   * is renamed under --symmetry, a map is not.
   */
  map: <K, V, D>(key: Type<K>, value: Type<V, D>, capacity: number): Type<ReadonlyMap<K, V>, Map<K, D>> => {
    if (!isScalar(key.node)) throw new ModelError(`t.map: keys must be scalars (t.int, t.enum, t.member, t.text, t.bool), got t.${key.node.kind}`);
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 255) throw new ModelError(`t.map: capacity must be an integer in 1..255, got ${capacity}`);
    return { node: { kind: 'map', key: key.node, elem: value.node, capacity } };
  },
  /** A JavaScript Set of at most `capacity` scalars (at most 255), in the order of their codes; see t.map. */
  setOf: <K>(key: Type<K>, capacity: number): Type<ReadonlySet<K>, Set<K>> => {
    if (!isScalar(key.node)) throw new ModelError(`t.setOf: members must be scalars (t.int, t.enum, t.member, t.text, t.bool), got t.${key.node.kind}`);
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 255) throw new ModelError(`t.setOf: capacity must be an integer in 1..255, got ${capacity}`);
    return { node: { kind: 'keys', key: key.node, capacity } };
  },
};

/** The default value of a node, as a fresh mutable value: false, the smallest int (0 when in range), the first name, member 0, null, empty. */
export function defaultValue(n: Node): unknown {
  let make = creators.get(n);
  if (!make) {
    make = creator(n, '');
    creators.set(n, make);
  }
  return make();
}

/** Each node's `creator`, built once: states, drafts and the sampled checks' trees are created often. */
const creators = new WeakMap<Node, () => unknown>();

/** A function that returns a fresh default value of `n`, its field paths (for MemberSet's messages) worked out beforehand. */
function creator(n: Node, path: string): () => unknown {
  switch (n.kind) {
    case 'bool':
      return () => false;
    case 'int': {
      const v = n.min <= 0 && n.max >= 0 ? 0 : n.min;
      return () => v;
    }
    case 'enum': {
      const v = n.names[0];
      return () => v;
    }
    case 'member':
      return () => 0;
    case 'text':
      return () => '';
    case 'optional':
      return () => null;
    case 'struct':
    case 'record': {
      const keys = n.kind === 'struct' ? n.fields.map(([k]) => k) : n.universe.members;
      const parts = n.kind === 'struct' ? n.fields.map(([k, f]) => creator(f, join(path, k))) : keys.map((m) => creator(n.elem, memberPath(path, m)));
      return () => {
        const o: Record<string, unknown> = {};
        for (let i = 0; i < keys.length; i++) o[keys[i]] = parts[i]();
        return o;
      };
    }
    case 'array': {
      const parts = Array.from({ length: n.length }, (_, i) => creator(n.elem, `${path}[${i}]`));
      return () => parts.map((make) => make());
    }
    case 'list':
      return () => [];
    case 'map':
      return () => new Map();
    case 'keys':
      return () => new Set();
    case 'set': {
      const u = n.universe;
      return () => new MemberSet(u, path);
    }
  }
}

export function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** The path of a record's member: `objects.c0` or, for names that are not identifiers, `objects["c0:64#1"]`. */
export function memberPath(path: string, m: string): string {
  return IDENT.test(m) ? join(path, m) : `${path}[${JSON.stringify(m)}]`;
}

// ---------------------------------------------------------------------------------------------
// A compiled schema.

/** A byte range of the layout that holds one leaf (a scalar, a list's count, a set). */
export interface Leaf {
  readonly path: string;
  readonly offset: number;
  readonly size: number;
  /** Per universe that indexes an array or record above this leaf: the member it belongs to (outermost first). */
  readonly owners: readonly (readonly [Universe, number])[];
}

/**
 * A schema compiled for one parameter setting: its layout and the generated code that moves a
 * state between its bytes and its tree of values.
 */
export class Schema {
  readonly root: Node;
  /** Bytes per state, a multiple of 4. */
  readonly size: number;
  /** The layout's bytes without padding. */
  readonly used: number;
  private readonly packFn: (w: unknown, b: Uint8Array, o: number) => void;
  private readonly fillFn: (b: Uint8Array, o: number, w: unknown) => void;
  private readonly restoreFn: (b: Uint8Array, d: Uint8Array, o: number, w: unknown) => void;
  private readonly diffFn: (w: unknown, p: unknown, b: Uint8Array, o: number) => void;
  private leafAt?: Leaf[];
  private leafList?: Leaf[];
  readonly universes: ReadonlyMap<string, Universe>;

  /** The texts of the schema's t.text() fields (a shared one under --workers). */
  readonly texts: TextTable;

  constructor(root: Node, texts = new TextTable()) {
    this.texts = texts;
    if (root.kind !== 'struct') throw new ModelError(`a state schema must be a t.struct({...}), got t.${root.kind}`);
    this.root = root;
    this.used = sizeOf(root);
    this.size = Math.max(4, (this.used + 3) & ~3);
    const universes = new Map<string, Universe>();
    const visit = (n: Node): void => {
      const add = (u: Universe) => {
        const had = universes.get(u.name);
        if (had && had !== u) throw new ModelError(`two different universes are named "${u.name}" in the schema`);
        universes.set(u.name, u);
      };
      if (n.kind === 'member' || n.kind === 'set' || n.kind === 'record') add(n.universe);
      if (n.kind === 'array' && n.index) add(n.index);
      if (n.kind === 'optional') visit(n.inner);
      if (n.kind === 'struct') n.fields.forEach(([, f]) => visit(f));
      if (n.kind === 'array' || n.kind === 'list' || n.kind === 'record' || n.kind === 'map') visit(n.elem);
      if (n.kind === 'map' || n.kind === 'keys') visit(n.key);
    };
    visit(root);
    this.universes = universes;
    const code = new Compiler(texts);
    this.packFn = code.pack(root);
    this.fillFn = code.fill(root);
    this.diffFn = code.diff(root);
    this.restoreFn = code.restore(root);
  }

  /** The error naming the field of `w` that does not fit, when generated code threw BAD. */
  private failure(e: unknown, w: unknown): unknown {
    return e === BAD ? (explain(this.root, w) ?? new ModelError('a value does not fit the schema')) : e;
  }

  /**
   * A fresh tree in the schema's shape, at the defaults. Plain objects and arrays, neither
   * sealed nor frozen (V8 writes to sealed arrays ten times slower): a successor with a field
   * too many, an array of the wrong length or a structure shared with the expanded state is
   * caught when it is packed, by the check that the expanded state did not change, or on the
   * sampled expansions (src/explore/samples.ts).
   */
  create(): unknown {
    return defaultValue(this.root);
  }

  /** Writes tree `w` as bytes at b[o, o + size), checking every value against its domain. */
  pack(w: unknown, b: Uint8Array, o = 0): void {
    try {
      this.packFn(w, b, o);
    } catch (e) {
      throw this.failure(e, w);
    }
    for (let k = this.used; k < this.size; k++) b[o + k] = 0;
  }

  /** Sets tree `w` (made by `create`) to the state at b[o, o + size). */
  unpack(b: Uint8Array, o: number, w: unknown): void {
    this.fillFn(b, o, w);
  }

  /**
   * Writes tree `w` as bytes at b[o, o + size), where b[o, o + size) holds the bytes of the tree
   * `p` (unchanged since it was unpacked from them): only what differs is checked and written.
   */
  diffPack(w: unknown, p: unknown, b: Uint8Array, o = 0): void {
    try {
      this.diffFn(w, p, b, o);
    } catch (e) {
      throw this.failure(e, w);
    }
  }

  /**
   * Sets tree `w`, which holds the state whose bytes are d[o, o + size) (it was packed there),
   * to the state at b[o, o + size), unpacking only the fields where the two differ.
   */
  restore(b: Uint8Array, o: number, d: Uint8Array, w: unknown): void {
    this.restoreFn(b, d, o, w);
  }

  /** A new tree holding the state at b[o, o + size), frozen: for traces and reports. */
  read(b: Uint8Array, o = 0): unknown {
    const w = this.create();
    this.unpack(b, o, w);
    return deepFreeze(w);
  }

  /**
   * The path of the first field of tree `w` that the schema does not declare (`cpus[0].typo`),
   * or undefined: pack ignores such fields, so the search looks for them on its sampled states.
   */
  strayField(w: unknown): string | undefined {
    // A walk that builds no paths, then one that does only where a stray field was found.
    const walk = (n: Node, v: unknown, path: (() => string) | undefined): string | undefined => {
      if (v === null || typeof v !== 'object') return undefined;
      const at = (key: string | number, kind: 'field' | 'member' | 'index' | 'get') =>
        path &&
        (() => {
          const p = path();
          return kind === 'field' ? join(p, String(key)) : kind === 'member' ? memberPath(p, String(key)) : kind === 'index' ? `${p}[${key}]` : `${p}.get(${JSON.stringify(key)})`;
        });
      switch (n.kind) {
        case 'struct':
        case 'record': {
          const keys = n.kind === 'struct' ? n.fields.map(([k]) => k) : n.universe.members;
          const kind = n.kind === 'struct' ? 'field' : 'member';
          for (const k of Object.keys(v)) if (!keys.includes(k)) return path ? at(k, kind)!() : '?';
          for (const [k, f] of n.kind === 'struct' ? n.fields : keys.map((m) => [m, n.elem] as const)) {
            const bad = walk(f, (v as Record<string, unknown>)[k], at(k, kind));
            if (bad) return bad;
          }
          return undefined;
        }
        case 'array':
        case 'list':
          for (let i = 0; i < (v as unknown[]).length; i++) {
            const bad = walk(n.elem, (v as unknown[])[i], at(i, 'index'));
            if (bad) return bad;
          }
          return undefined;
        case 'map':
          for (const [k, x] of v as Map<unknown, unknown>) {
            const bad = walk(n.elem, x, at(k as string, 'get'));
            if (bad) return bad;
          }
          return undefined;
        case 'optional':
          return walk(n.inner, v, path);
        default:
          return undefined;
      }
    };
    return walk(this.root, w, undefined) && walk(this.root, w, () => '');
  }

  /** The leaves of the layout in offset order. */
  leaves(): readonly Leaf[] {
    this.leafList ??= collectLeaves(this.root);
    return this.leafList;
  }

  /** The leaf that holds byte `offset` (undefined in the padding). */
  leafOf(offset: number): Leaf | undefined {
    if (!this.leafAt) {
      this.leafAt = new Array<Leaf>(this.used);
      for (const l of this.leaves()) for (let k = 0; k < l.size; k++) this.leafAt[l.offset + k] = l;
    }
    return this.leafAt[offset];
  }
}

export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    if (v instanceof MemberSet) {
      Object.freeze(v.words);
      return Object.freeze(v);
    }
    if (v instanceof Map) {
      for (const x of v.values()) deepFreeze(x);
      return Object.freeze(v);
    }
    if (v instanceof Set) return Object.freeze(v);
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

function collectLeaves(root: Node): Leaf[] {
  const out: Leaf[] = [];
  const walk = (n: Node, path: string, off: number, owners: readonly (readonly [Universe, number])[]): void => {
    switch (n.kind) {
      case 'bool':
      case 'int':
      case 'enum':
      case 'member':
      case 'text':
      case 'set':
        out.push({ path: path || '(state)', offset: off, size: sizeOf(n), owners });
        return;
      case 'optional':
        if (sharesCode(n)) out.push({ path, offset: off, size: sizeOf(n), owners });
        else {
          out.push({ path, offset: off, size: 1, owners });
          walk(n.inner, path, off + 1, owners);
        }
        return;
      case 'struct': {
        let at = off;
        for (const [k, f] of n.fields) {
          walk(f, join(path, k), at, owners);
          at += sizeOf(f);
        }
        return;
      }
      case 'record':
        n.universe.members.forEach((m, i) => walk(n.elem, memberPath(path, m), off + i * sizeOf(n.elem), [...owners, [n.universe, i] as const]));
        return;
      case 'array':
        for (let i = 0; i < n.length; i++) walk(n.elem, `${path}[${i}]`, off + i * sizeOf(n.elem), n.index ? [...owners, [n.index, i] as const] : owners);
        return;
      case 'list':
        out.push({ path: `${path}.length`, offset: off, size: 1, owners });
        for (let i = 0; i < n.capacity; i++) walk(n.elem, `${path}[${i}]`, off + 1 + i * sizeOf(n.elem), owners);
        return;
      case 'map':
      case 'keys':
        // A map's entries move when a key comes or goes: the whole map is one leaf.
        out.push({ path: path || '(state)', offset: off, size: sizeOf(n), owners });
        return;
    }
  };
  walk(root, '', 0, []);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Symmetry: renaming the members of a universe in a state's bytes.

/** Whether anything below `n` is typed by universe `u` (so a permutation of `u` changes it). */
function touches(n: Node, u: Universe): boolean {
  switch (n.kind) {
    case 'member':
    case 'set':
      return n.universe === u;
    case 'optional':
      return touches(n.inner, u);
    case 'struct':
      return n.fields.some(([, f]) => touches(f, u));
    case 'array':
      return n.index === u || touches(n.elem, u);
    case 'record':
      return n.universe === u || touches(n.elem, u);
    case 'list':
      return touches(n.elem, u);
    case 'map':
      return touches(n.key, u) || touches(n.elem, u);
    case 'keys':
      return touches(n.key, u);
    default:
      return false;
  }
}

/**
 * The function that writes at dst[d] the state at src[s] with the members of universe `u`
 * renamed by `perm` (member i becomes member perm[i]): every member field maps its value, every
 * array or record indexed by `u` moves element i to place perm[i], every set over `u` moves its
 * bits. What does not mention `u` is copied.
 */
export function permuter(schema: Schema, u: Universe): (src: Uint8Array, s: number, dst: Uint8Array, d: number, perm: readonly number[]) => void {
  const mapped = (n: Node): boolean =>
    n.kind === 'map' || n.kind === 'keys' ? touches(n, u) : n.kind === 'struct' ? n.fields.some(([, f]) => mapped(f)) : n.kind === 'optional' ? mapped(n.inner) : 'elem' in n ? mapped(n.elem) : false;
  if (mapped(schema.root)) throw new ModelError(`symmetry over universe "${u.name}": a t.map has keys or values of that universe, which mc cannot rename (its entries are ordered by key); use a t.record or t.array over the universe`);
  /** The renaming of one node, built once: what does not mention `u` is a copy of its bytes. */
  const compile = (n: Node): Permute => {
    const size = sizeOf(n);
    if (!touches(n, u))
      return (src, s, dst, d) => {
        for (let k = 0; k < size; k++) dst[d + k] = src[s + k];
      };
    switch (n.kind) {
      case 'member':
        return (src, s, dst, d, perm) => {
          dst[d] = perm[src[s]];
        };
      case 'optional': {
        if (sharesCode(n))
          return (src, s, dst, d, perm) => {
            const c = src[s];
            dst[d] = c === 0 ? 0 : perm[c - 1] + 1;
          };
        const inner = compile(n.inner);
        const innerSize = sizeOf(n.inner);
        return (src, s, dst, d, perm) => {
          dst[d] = src[s];
          if (src[s] === 0) for (let k = 1; k <= innerSize; k++) dst[d + k] = 0;
          else inner(src, s + 1, dst, d + 1, perm);
        };
      }
      case 'set':
        return (src, s, dst, d, perm) => {
          for (let k = 0; k < size; k++) dst[d + k] = 0;
          for (let i = 0; i < u.size; i++) if ((src[s + (i >>> 3)] >>> (i & 7)) & 1) dst[d + (perm[i] >>> 3)] |= 1 << (perm[i] & 7);
        };
      case 'struct': {
        const parts: Permute[] = [];
        const offsets: number[] = [];
        let at = 0;
        for (const [, f] of n.fields) {
          parts.push(compile(f));
          offsets.push(at);
          at += sizeOf(f);
        }
        return (src, s, dst, d, perm) => {
          for (let i = 0; i < parts.length; i++) parts[i](src, s + offsets[i], dst, d + offsets[i], perm);
        };
      }
      case 'array':
      case 'record': {
        const count = n.kind === 'array' ? n.length : n.universe.size;
        const moves = n.kind === 'array' ? n.index === u : n.universe === u;
        const elem = compile(n.elem);
        const es = sizeOf(n.elem);
        return (src, s, dst, d, perm) => {
          for (let i = 0; i < count; i++) elem(src, s + i * es, dst, d + (moves ? perm[i] : i) * es, perm);
        };
      }
      case 'list': {
        // Only the first src[s] elements are renamed: the free places stay zero.
        const elem = compile(n.elem);
        const es = sizeOf(n.elem);
        const capacity = n.capacity;
        return (src, s, dst, d, perm) => {
          const length = src[s];
          dst[d] = length;
          for (let i = 0; i < capacity; i++) {
            if (i < length) elem(src, s + 1 + i * es, dst, d + 1 + i * es, perm);
            else for (let k = 0; k < es; k++) dst[d + 1 + i * es + k] = 0;
          }
        };
      }
      default:
        // A t.map or t.setOf over `u` is refused above; nothing else can mention it.
        throw new Error(`permuter: a ${n.kind} node mentions universe "${u.name}"`);
    }
  };
  const root = compile(schema.root);
  const used = schema.used;
  const size = schema.size;
  return (src, s, dst, d, perm) => {
    root(src, s, dst, d, perm);
    for (let k = used; k < size; k++) dst[d + k] = 0;
  };
}

type Permute = (src: Uint8Array, s: number, dst: Uint8Array, d: number, perm: readonly number[]) => void;
