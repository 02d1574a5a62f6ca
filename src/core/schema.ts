import { ModelError } from './errors.ts';

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
    return i >= 0 && i < this.universe.size && ((this.words[i >>> 5] >>> (i & 31)) & 1) === 1;
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
  | { readonly kind: 'optional'; readonly inner: Node }
  | { readonly kind: 'struct'; readonly fields: readonly (readonly [string, Node])[] }
  | { readonly kind: 'array'; readonly elem: Node; readonly length: number; readonly index?: Universe }
  | { readonly kind: 'record'; readonly universe: Universe; readonly elem: Node }
  | { readonly kind: 'list'; readonly elem: Node; readonly capacity: number }
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
  : S extends readonly (infer E)[]
    ? Draft<E>[]
    : S extends object
      ? { -readonly [K in keyof S]: Draft<S[K]> }
      : S;

export interface StructType<V, D> extends Type<V, D> {
  /** A fresh value of this struct: every field at its default, then `fields` over them. */
  make(fields?: Partial<D>): D;
}

const isScalar = (n: Node): boolean => n.kind === 'bool' || n.kind === 'int' || n.kind === 'enum' || n.kind === 'member';

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
      return bytesFor(codes(n));
    case 'optional':
      return isScalar(n.inner) && bytesFor(codes(n.inner) + 1) === bytesFor(codes(n.inner)) ? sizeOf(n.inner) : 1 + sizeOf(n.inner);
    case 'struct':
      return n.fields.reduce((a, [, f]) => a + sizeOf(f), 0);
    case 'array':
      return n.length * sizeOf(n.elem);
    case 'record':
      return n.universe.size * sizeOf(n.elem);
    case 'list':
      return 1 + n.capacity * sizeOf(n.elem);
    case 'set':
      return (n.universe.size + 7) >>> 3;
  }
}

/** Whether an optional scalar keeps null as code 0 in the inner value's own bytes. */
const sharesCode = (n: Node & { kind: 'optional' }): boolean => isScalar(n.inner) && bytesFor(codes(n.inner) + 1) === bytesFor(codes(n.inner));

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
};

/** The default value of a node, as a fresh mutable value: false, the smallest int (0 when in range), the first name, member 0, null, empty. */
export function defaultValue(n: Node, path = ''): unknown {
  switch (n.kind) {
    case 'bool':
      return false;
    case 'int':
      return n.min <= 0 && n.max >= 0 ? 0 : n.min;
    case 'enum':
      return n.names[0];
    case 'member':
      return 0;
    case 'optional':
      return null;
    case 'struct':
      return Object.fromEntries(n.fields.map(([k, f]) => [k, defaultValue(f, join(path, k))]));
    case 'array':
      return Array.from({ length: n.length }, (_, i) => defaultValue(n.elem, `${path}[${i}]`));
    case 'record':
      return Object.fromEntries(n.universe.members.map((m) => [m, defaultValue(n.elem, memberPath(path, m))]));
    case 'list':
      return [];
    case 'set':
      return new MemberSet(n.universe, path);
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
// Domain errors, raised by the generated pack code.

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'undefined (missing)';
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? `an array of ${v.length}` : 'an object';
  return String(v);
}

const errors = {
  int: (path: string, v: unknown, min: number, max: number) =>
    new ModelError(`${path} = ${describe(v)} is outside its domain: ${typeof v === 'number' && Number.isInteger(v) ? `int ${min}..${max}` : `expected an integer in ${min}..${max}`}`),
  bool: (path: string, v: unknown) => new ModelError(`${path} = ${describe(v)}: expected true or false`),
  enum: (path: string, v: unknown, names: readonly string[]) => new ModelError(`${path} = ${describe(v)} is not one of its names: ${names.join(', ')}`),
  member: (path: string, v: unknown, u: Universe) =>
    new ModelError(`${path} = ${describe(v)} is not a member of universe "${u.name}": expected an index 0..${u.size - 1} (${u.members.join(', ')})`),
  struct: (path: string, v: unknown) => new ModelError(`${path || '(state)'} = ${describe(v)}: expected an object with the struct's fields`),
  array: (path: string, v: unknown, n: number) => new ModelError(`${path} = ${describe(v)}: expected an array of exactly ${n}`),
  list: (path: string, v: unknown, cap: number) =>
    Array.isArray(v)
      ? new ModelError(`${path} holds ${v.length} elements, more than its capacity of ${cap}`)
      : new ModelError(`${path} = ${describe(v)}: expected an array of at most ${cap}`),
  set: (path: string, v: unknown, u: Universe) => new ModelError(`${path} = ${describe(v)}: expected the MemberSet over universe "${u.name}" it had`),
};

// ---------------------------------------------------------------------------------------------
// Code generation: pack (tree → bytes, checking domains), unpack (bytes → tree).

class Gen {
  private vars = 0;
  readonly consts: unknown[] = [];
  fresh(p = 'x'): string {
    return `${p}${this.vars++}`;
  }
  /** A constant the generated code can use: its name. */
  constant(v: unknown): string {
    this.consts.push(v);
    return `K[${this.consts.length - 1}]`;
  }
  declared(): string {
    return Array.from({ length: this.vars }, (_, i) => `x${i}`).join(', ');
  }
}

const lit = (s: string) => JSON.stringify(s);

/** Arrays of at most this many elements are unrolled in the generated code (twice as fast as a loop). */
const UNROLL = 16;

/** Code that writes the `size`-byte unsigned code `c` at `b[off]`. */
function writeCode(size: number, c: string, off: string): string {
  if (size === 1) return `b[${off}] = ${c};`;
  if (size === 2) return `b[${off}] = ${c} & 255; b[${off} + 1] = ${c} >>> 8;`;
  return `b[${off}] = ${c} & 255; b[${off} + 1] = (${c} >>> 8) & 255; b[${off} + 2] = (${c} >>> 16) & 255; b[${off} + 3] = ${c} >>> 24;`;
}

function readCode(size: number, off: string): string {
  if (size === 1) return `b[${off}]`;
  if (size === 2) return `(b[${off}] | (b[${off} + 1] << 8))`;
  return `((b[${off}] | (b[${off} + 1] << 8) | (b[${off} + 2] << 16) | (b[${off} + 3] << 24)) >>> 0)`;
}

/** Code that checks scalar `v` against node `n` and leaves its code in `c`. */
function scalarCode(g: Gen, n: Node, v: string, path: string): string {
  switch (n.kind) {
    case 'bool':
      return `if (${v} === true) c = 1; else if (${v} === false) c = 0; else throw E.bool(${path}, ${v});`;
    case 'int':
      return `if (typeof ${v} !== 'number' || !(${v} >= ${n.min} && ${v} <= ${n.max}) || (${v} | 0) !== ${v}) throw E.int(${path}, ${v}, ${n.min}, ${n.max}); c = ${n.min === 0 ? v : `${v} - ${n.min}`};`;
    case 'member':
      return `if (typeof ${v} !== 'number' || !(${v} >= 0 && ${v} < ${n.universe.size}) || (${v} | 0) !== ${v}) throw E.member(${path}, ${v}, ${g.constant(n.universe)}); c = ${v};`;
    case 'enum': {
      if (n.names.length <= 8) {
        const chain = n.names.map((name, i) => `${v} === ${lit(name)} ? ${i} : `).join('');
        return `c = ${chain}-1; if (c < 0) throw E.enum(${path}, ${v}, ${g.constant(n.names)});`;
      }
      const map = g.constant(new Map(n.names.map((x, i) => [x, i])));
      return `c = ${map}.get(${v}); if (c === undefined) throw E.enum(${path}, ${v}, ${g.constant(n.names)});`;
    }
    default:
      throw new Error(`not a scalar: ${n.kind}`);
  }
}

function scalarValue(g: Gen, n: Node, code: string): string {
  switch (n.kind) {
    case 'bool':
      return `${code} !== 0`;
    case 'int':
      return n.min === 0 ? code : `${code} + ${n.min}`;
    case 'member':
      return code;
    case 'enum':
      return `${g.constant(n.names)}[${code}]`;
    default:
      throw new Error(`not a scalar: ${n.kind}`);
  }
}

/** Code that zeroes b[from, from + n). */
const zero = (from: string, n: number): string => (n <= 0 ? '' : n <= 8 ? Array.from({ length: n }, (_, i) => `b[${from} + ${i}] = 0;`).join(' ') : `b.fill(0, ${from}, ${from} + ${n});`);

/** Pack code for the value of expression `v` (a variable or property read) at `b[off]`. */
function packCode(g: Gen, n: Node, v: string, off: string, path: string): string {
  switch (n.kind) {
    case 'bool':
    case 'int':
    case 'enum':
    case 'member': {
      const x = g.fresh();
      return `${x} = ${v}; ${scalarCode(g, n, x, path)} ${writeCode(sizeOf(n), 'c', off)}`;
    }
    case 'optional': {
      const x = g.fresh();
      if (sharesCode(n)) {
        const size = sizeOf(n);
        return `${x} = ${v}; if (${x} === null) { ${writeCode(size, '0', off)} } else { ${scalarCode(g, n.inner, x, path)} c = c + 1; ${writeCode(size, 'c', off)} }`;
      }
      return `${x} = ${v}; if (${x} === null) { b[${off}] = 0; ${zero(`${off} + 1`, sizeOf(n.inner))} } else { b[${off}] = 1; ${packCode(g, n.inner, x, `${off} + 1`, path)} }`;
    }
    case 'struct': {
      const x = g.fresh();
      let at = 0;
      const body = n.fields
        .map(([k, f]) => {
          const code = packCode(g, f, `${x}.${k}`, `${off} + ${at}`, `${path} + ${lit(path === '""' ? k : `.${k}`)}`);
          at += sizeOf(f);
          return code;
        })
        .join('\n');
      return `${x} = ${v}; if (${x} === null || typeof ${x} !== 'object') throw E.struct(${path}, ${x});\n${body}`;
    }
    case 'record': {
      const x = g.fresh();
      const size = sizeOf(n.elem);
      const body = n.universe.members
        .map((m, i) => packCode(g, n.elem, `${x}[${lit(m)}]`, `${off} + ${i * size}`, `${path} + ${lit(memberPath('', m).startsWith('[') ? memberPath('', m) : `.${m}`)}`))
        .join('\n');
      return `${x} = ${v}; if (${x} === null || typeof ${x} !== 'object') throw E.struct(${path}, ${x});\n${body}`;
    }
    case 'array': {
      const x = g.fresh();
      const size = sizeOf(n.elem);
      const head = `${x} = ${v}; if (!Array.isArray(${x}) || ${x}.length !== ${n.length}) throw E.array(${path}, ${x}, ${n.length});\n`;
      if (n.length <= UNROLL)
        return head + Array.from({ length: n.length }, (_, k) => packCode(g, n.elem, `${x}[${k}]`, `${off} + ${k * size}`, `${path} + "[${k}]"`)).join('\n');
      const i = g.fresh('i');
      return `${head}for (let ${i} = 0; ${i} < ${n.length}; ${i}++) { ${packCode(g, n.elem, `${x}[${i}]`, `${off} + ${i} * ${size}`, `${path} + "[" + ${i} + "]"`)} }`;
    }
    case 'list': {
      const x = g.fresh();
      const i = g.fresh('i');
      const size = sizeOf(n.elem);
      return `${x} = ${v}; if (!Array.isArray(${x}) || ${x}.length > ${n.capacity}) throw E.list(${path}, ${x}, ${n.capacity});
b[${off}] = ${x}.length;
for (let ${i} = 0; ${i} < ${x}.length; ${i}++) { ${packCode(g, n.elem, `${x}[${i}]`, `${off} + 1 + ${i} * ${size}`, `${path} + "[" + ${i} + "]"`)} }
if (${x}.length < ${n.capacity}) b.fill(0, ${off} + 1 + ${x}.length * ${size}, ${off} + ${1 + n.capacity * size});`;
    }
    case 'set': {
      const x = g.fresh();
      const bytes = sizeOf(n);
      const writes = Array.from({ length: bytes }, (_, k) => `b[${off} + ${k}] = (${x}.words[${k >> 2}] >>> ${(k & 3) * 8}) & 255;`).join(' ');
      return `${x} = ${v}; if (!(${x} instanceof MemberSet) || ${x}.universe !== ${g.constant(n.universe)}) throw E.set(${path}, ${x}, ${g.constant(n.universe)}); ${writes}`;
    }
  }
}

/**
 * Unpack code: sets `target` (an assignable expression) from b[off] for scalars and values that
 * are replaced whole (optional composites, list elements); fills the existing container that
 * `target` holds for structs, arrays, records, lists and sets.
 */
function unpackCode(g: Gen, n: Node, target: string, off: string): string {
  switch (n.kind) {
    case 'bool':
    case 'int':
    case 'enum':
    case 'member':
      return `${target} = ${scalarValue(g, n, readCode(sizeOf(n), off))};`;
    case 'optional': {
      if (sharesCode(n)) {
        const c = g.fresh();
        return `${c} = ${readCode(sizeOf(n), off)}; ${target} = ${c} === 0 ? null : ${scalarValue(g, n.inner, `(${c} - 1)`)};`;
      }
      return `${target} = b[${off}] === 0 ? null : ${g.constant(reader(n.inner))}(b, ${off} + 1);`;
    }
    case 'struct': {
      const x = g.fresh();
      let at = 0;
      const body = n.fields.map(([k, f]) => {
        const code = unpackCode(g, f, `${x}.${k}`, `${off} + ${at}`);
        at += sizeOf(f);
        return code;
      });
      return `${x} = ${target};\n${body.join('\n')}`;
    }
    case 'record': {
      const x = g.fresh();
      const size = sizeOf(n.elem);
      return `${x} = ${target};\n${n.universe.members.map((m, i) => unpackCode(g, n.elem, `${x}[${lit(m)}]`, `${off} + ${i * size}`)).join('\n')}`;
    }
    case 'array': {
      const x = g.fresh();
      const size = sizeOf(n.elem);
      if (n.length <= UNROLL) return `${x} = ${target};\n${Array.from({ length: n.length }, (_, k) => unpackCode(g, n.elem, `${x}[${k}]`, `${off} + ${k * size}`)).join('\n')}`;
      const i = g.fresh('i');
      return `${x} = ${target}; for (let ${i} = 0; ${i} < ${n.length}; ${i}++) { ${unpackCode(g, n.elem, `${x}[${i}]`, `${off} + ${i} * ${size}`)} }`;
    }
    case 'list': {
      const x = g.fresh();
      const i = g.fresh('i');
      const size = sizeOf(n.elem);
      const el = isScalar(n.elem) || n.elem.kind === 'optional' ? unpackCode(g, n.elem, `${x}[${i}]`, `${off} + 1 + ${i} * ${size}`) : `${x}[${i}] = ${g.constant(reader(n.elem))}(b, ${off} + 1 + ${i} * ${size});`;
      return `${x} = ${target}; ${x}.length = b[${off}]; for (let ${i} = 0; ${i} < ${x}.length; ${i}++) { ${el} }`;
    }
    case 'set': {
      const x = g.fresh();
      const words = (n.universe.size + 31) >>> 5;
      const bytes = sizeOf(n);
      const assigns = Array.from({ length: words }, (_, w) => {
        const parts = [];
        for (let k = 4 * w; k < Math.min(bytes, 4 * w + 4); k++) parts.push(`(b[${off} + ${k}] << ${(k & 3) * 8})`);
        return `${x}.words[${w}] = ${parts.join(' | ')};`;
      });
      return `${x} = ${target}; ${assigns.join(' ')}`;
    }
  }
}

/** Compiles generated code with its constants and error builders. */
function compile<F>(g: Gen, params: string, body: string): F {
  const src = `"use strict"; return function (${params}) { let c, ${g.declared() || '_'}; ${body} };`;
  return new Function('K', 'E', 'MemberSet', src)(g.consts, errors, MemberSet) as F;
}

const readers = new WeakMap<Node, (b: Uint8Array, off: number) => unknown>();

/** A function that reads a fresh value of node `n` from b[off] (for list elements and optional composites). */
function reader(n: Node): (b: Uint8Array, off: number) => unknown {
  let r = readers.get(n);
  if (r) return r;
  const g = new Gen();
  const code = unpackCode(g, n, 'out.v', 'off');
  r = compile<(b: Uint8Array, off: number) => unknown>(g, 'b, off', `const out = { v: ${g.constant(() => defaultValue(n))}() }; ${code} return out.v;`);
  readers.set(n, r);
  return r;
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
  private readonly unpackFn: (b: Uint8Array, o: number, w: unknown) => void;
  private leafAt?: Leaf[];
  private leafList?: Leaf[];
  readonly universes: ReadonlyMap<string, Universe>;

  constructor(root: Node) {
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
      if (n.kind === 'array' || n.kind === 'list' || n.kind === 'record') visit(n.elem);
    };
    visit(root);
    this.universes = universes;
    const pg = new Gen();
    const packBody = packCode(pg, root, 'w', 'o', '""');
    this.packFn = compile(pg, 'w, b, o', `${packBody}\n${zero(`o + ${this.used}`, this.size - this.used)}`);
    const ug = new Gen();
    this.unpackFn = compile(ug, 'b, o, w', unpackCode(ug, root, 'w', 'o'));
  }

  /**
   * A fresh tree in the schema's shape, at the defaults. Plain objects and arrays, neither
   * sealed nor frozen (V8 writes to sealed arrays ten times slower): a successor with a field
   * too many, an array of the wrong length or a structure shared with the expanded state is
   * caught when it is packed, by the check that the expanded state did not change, or on the
   * sampled expansions (src/explore/samples.ts).
   */
  create(): unknown {
    return defaultValue(this.root, '');
  }

  /** Writes tree `w` as bytes at b[o, o + size), checking every value against its domain. */
  pack(w: unknown, b: Uint8Array, o = 0): void {
    this.packFn(w, b, o);
  }

  /** Sets tree `w` (made by `create`) to the state at b[o, o + size). */
  unpack(b: Uint8Array, o: number, w: unknown): void {
    this.unpackFn(b, o, w);
  }

  /** A new tree holding the state at b[o, o + size), frozen: for traces and reports. */
  read(b: Uint8Array, o = 0): unknown {
    const w = this.create();
    this.unpack(b, o, w);
    return deepFreeze(w);
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
  const walk = (n: Node, src: Uint8Array, s: number, dst: Uint8Array, d: number, perm: readonly number[]): void => {
    if (!touches(n, u)) {
      for (let k = sizeOf(n) - 1; k >= 0; k--) dst[d + k] = src[s + k];
      return;
    }
    switch (n.kind) {
      case 'member':
        dst[d] = perm[src[s]];
        return;
      case 'optional':
        if (sharesCode(n)) {
          const c = src[s];
          dst[d] = c === 0 ? 0 : perm[c - 1] + 1;
        } else {
          dst[d] = src[s];
          if (src[s] === 0) for (let k = sizeOf(n.inner); k >= 1; k--) dst[d + k] = 0;
          else walk(n.inner, src, s + 1, dst, d + 1, perm);
        }
        return;
      case 'set': {
        const bytes = sizeOf(n);
        for (let k = 0; k < bytes; k++) dst[d + k] = 0;
        for (let i = 0; i < u.size; i++) if ((src[s + (i >>> 3)] >>> (i & 7)) & 1) dst[d + (perm[i] >>> 3)] |= 1 << (perm[i] & 7);
        return;
      }
      case 'struct': {
        let at = 0;
        for (const [, f] of n.fields) {
          walk(f, src, s + at, dst, d + at, perm);
          at += sizeOf(f);
        }
        return;
      }
      case 'array':
      case 'record': {
        const count = n.kind === 'array' ? n.length : n.universe.size;
        const moves = n.kind === 'array' ? n.index === u : n.universe === u;
        const size = sizeOf(n.elem);
        for (let i = 0; i < count; i++) walk(n.elem, src, s + i * size, dst, d + (moves ? perm[i] : i) * size, perm);
        return;
      }
      case 'list': {
        const size = sizeOf(n.elem);
        dst[d] = src[s];
        for (let i = 0; i < n.capacity; i++) {
          if (i < src[s]) walk(n.elem, src, s + 1 + i * size, dst, d + 1 + i * size, perm);
          else for (let k = 0; k < size; k++) dst[d + 1 + i * size + k] = 0;
        }
        return;
      }
      default:
        return;
    }
  };
  const root = schema.root;
  const used = schema.used;
  return (src, s, dst, d, perm) => {
    walk(root, src, s, dst, d, perm);
    for (let k = used; k < schema.size; k++) dst[d + k] = 0;
  };
}
