import { isList, isMap, isOrderedMap, isOrderedSet, isRecord, isSet, isStack, List, Map as ImmMap, OrderedMap, OrderedSet, Record as ImmRecord, Set as ImmSet, Stack } from 'immutable';
import { ModelError } from './errors.ts';

/**
 * The compact canonical byte form of a state, derived from its Immutable value: two states get
 * the same bytes exactly when they are equal values, so a store that compares bytes never merges
 * two different states. One codec serves one run: strings and Record types are interned into
 * its tables, so bytes from two codecs are not comparable.
 *
 * Layout, one tag byte per value:
 * - 0x00–0x7f: the integer 0–127 itself (a pc, a flag as a number, a small counter: one byte);
 * - false, true, null, undefined: one byte each;
 * - other integers: a zigzag varint; other numbers: 8 bytes (NaN canonical, -0 as 0, as
 *   `stateKey` does); strings and bigints: the varint index of the interned text;
 * - Record: the varint index of its type (descriptive name and keys), then its fields in order;
 * - List, Stack, OrderedMap, OrderedSet: a varint count, then the members in order;
 * - Map, Set: a varint count, then the members sorted by their bytes (insertion order does not
 *   matter to their equality, so it must not matter to their bytes).
 *
 * `decode` rebuilds an equal Immutable value. A decoded Map or Set may iterate in a different
 * order than the value that was encoded; the explorer therefore only ever expands decoded
 * states, during the search and when it replays a counterexample, so that action indices mean
 * the same thing both times.
 *
 * Limitation: two Record factories with the same descriptive name and keys are one type here
 * (as they are for `stateKey`); decoding builds values of the first one seen.
 */
const T_FALSE = 0x80;
const T_TRUE = 0x81;
const T_NULL = 0x82;
const T_UNDEFINED = 0x83;
const T_INT = 0x84;
const T_FLOAT = 0x85;
const T_STRING = 0x86;
const T_BIGINT = 0x87;
const T_RECORD = 0x88;
const T_LIST = 0x89;
const T_STACK = 0x8a;
const T_ORDERED_MAP = 0x8b;
const T_MAP = 0x8c;
const T_ORDERED_SET = 0x8d;
const T_SET = 0x8e;

type RecordFactory = ImmRecord.Factory<Record<string, unknown>>;

interface RecordType {
  readonly factory: RecordFactory;
  readonly keys: readonly string[];
  readonly index: number;
  /** The prototype of the values `decode` builds (see `fieldReader`) and each field's default. */
  readonly proto: object;
  readonly defaults: readonly unknown[];
  readonly substitute?: boolean;
}

/**
 * Fast paths over Immutable's internals (read and built as Immutable itself does): a List of at
 * most 32 members keeps them all in one array (`_tail.array`), and a Record keeps its fields in
 * such a List (`_values`, undefined meaning the default). Encoding reads those arrays instead of
 * iterating, and decoding builds such Lists directly instead of `List(items)` and
 * `Factory(values)`, the hottest code of a run (see BENCHMARKS.md, profile). `probeInternals`
 * checks the layout once on load; if a future Immutable changes it, the codec falls back to the
 * public API (slower, same bytes).
 */
interface ListInternals {
  readonly size: number;
  readonly _origin: number;
  readonly _capacity: number;
  readonly _tail: { readonly array: unknown[] } | undefined;
}
interface RecordInternals {
  readonly _values: ListInternals & List<unknown>;
}
const SMALL = 32;
const LIST_PROTO: object = Object.getPrototypeOf(List());
let VNode: (new (array: unknown[], ownerID: unknown) => unknown) | undefined;

/** A List of `items` (at most 32, the array is taken over) built as Immutable builds one. */
function smallList(items: unknown[]): List<unknown> {
  const list = Object.create(LIST_PROTO);
  list.size = items.length;
  list._origin = 0;
  list._capacity = items.length;
  list._level = 5;
  list._root = undefined;
  list._tail = items.length > 0 ? new VNode!(items, undefined) : undefined;
  list.__ownerID = undefined;
  list.__hash = undefined;
  list.__altered = false;
  return list;
}

function probeInternals(): boolean {
  try {
    const l = List([1, 2, 3]) as unknown as ListInternals;
    if (l._origin !== 0 || l._capacity !== 3 || !l._tail || l._tail.array[2] !== 3) return false;
    VNode = (l._tail as object).constructor as typeof VNode;
    const m = smallList([4, 5]);
    if (!m.equals(List([4, 5])) || m.set(1, 6).get(1) !== 6 || m.push(7).toArray().join() !== '4,5,7' || smallList([]).push(1).get(0) !== 1) return false;
    const big = smallList(Array.from({ length: 32 }, (_, i) => i)).push(32).set(0, 9);
    if (big.size !== 33 || big.get(32) !== 32 || big.get(0) !== 9 || big.get(31) !== 31) return false;
    const R = ImmRecord({ a: 1, b: 2 });
    const r = R({ b: 3 }) as unknown as RecordInternals;
    const vals = r._values;
    if (vals._origin !== 0 || vals._capacity !== 2 || !vals._tail || vals._tail.array[0] !== undefined || vals._tail.array[1] !== 3) return false;
    const built = Object.create(Object.getPrototypeOf(r));
    built.__ownerID = undefined;
    built._values = smallList([undefined, 3]);
    if (!(built.equals(r) && built.get('a') === 1 && built.set('a', 5).get('a') === 5 && built.b === 3)) return false;
    const fast = Object.create(readerProto(Object.getPrototypeOf(r), ['a', 'b'], [1, 2]));
    fast.__ownerID = undefined;
    fast._values = smallList([undefined, 3]);
    const edited = fast.set('a', 5).withMutations((m: { set(k: string, v: number): void }) => m.set('b', 7));
    return fast.equals(r) && fast.a === 1 && fast.b === 3 && edited.a === 5 && edited.b === 7 && edited instanceof (R as unknown as typeof Object) && R({ a: 5, b: 7 }).equals(edited);
  } catch {
    return false;
  }
}
const FAST = probeInternals();

/**
 * The prototype `decode` gives a Record type's values: the Record type's own prototype, with each
 * field's getter replaced by one that reads the field's slot in `_values` directly. Immutable's
 * getter goes through `get`, `has`, the key index and `List.get`, on objects of every Record type
 * at one site, which makes it the costliest thing a model does (reading its state: see
 * BENCHMARKS.md, profile). Records that Immutable derives from a decoded one (`set`, `merge`,
 * `withMutations`) inherit this prototype; a `_values` not laid out as one small array falls back
 * to `get`. Fields the Record API keeps for itself (no getter on the prototype) are left alone.
 */
function readerProto(proto: object, keys: readonly string[], defaults: readonly unknown[]): object {
  const reader = Object.create(proto) as object;
  keys.forEach((key, i) => {
    const getter = immutableAccessor(proto, key);
    if (getter) Object.defineProperty(reader, key, { get: slotGetter(i, key, defaults[i]), set: getter.set });
  });
  return reader;
}

/**
 * The accessor Immutable defined for field `key`, found from `proto` up (a model's class that
 * extends a Record type sits between): undefined when the nearest definition of `key` is not
 * Immutable's (a getter the model's class defines, or a name the Record API keeps), which is
 * left alone.
 */
function immutableAccessor(proto: object, key: string): PropertyDescriptor | undefined {
  for (let p: object | null = proto; p !== null; p = Object.getPrototypeOf(p)) {
    const d = Object.getOwnPropertyDescriptor(p, key);
    if (d) return d.get && Object.prototype.hasOwnProperty.call(p, '_indices') ? d : undefined;
  }
  return undefined;
}

/**
 * The getter of field `i`, compiled on its own: closures of one function literal share their
 * inline caches in V8, which would see the values of every Record type at once and go
 * megamorphic, as Immutable's own getters do.
 */
function slotGetter(i: number, key: string, byDefault: unknown): () => unknown {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- see above: one compiled function per field
  const make = new Function(
    'i',
    'key',
    'byDefault',
    'SMALL',
    `return function get() {
      const values = this._values;
      if (values._origin !== 0 || values._capacity > SMALL) return this.get(key);
      const tail = values._tail;
      const v = tail === undefined ? undefined : tail.array[i];
      return v === undefined ? byDefault : v;
    };`,
  ) as (i: number, key: string, byDefault: unknown, small: number) => () => unknown;
  return make(i, key, byDefault, SMALL);
}

/** `readerProto` when Immutable's layout is the one the fast paths read, else `proto` itself. */
function fieldReader(proto: object, keys: readonly string[], defaults: readonly unknown[]): object {
  return FAST && keys.length > 0 && keys.length <= SMALL ? readerProto(proto, keys, defaults) : proto;
}

/** Member i of a List (fast when it is small). */
function listItems(l: ListInternals): unknown[] | undefined {
  return FAST && l._origin === 0 && l._capacity <= SMALL ? (l._tail?.array ?? EMPTY) : undefined;
}
const EMPTY: unknown[] = [];

/** A growable byte buffer: the encoder's output. `bytes.subarray(0, length)` is the state. */
export class ByteWriter {
  bytes: Uint8Array;
  length = 0;

  constructor(capacity = 256) {
    this.bytes = new Uint8Array(capacity);
  }

  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let cap = this.bytes.length * 2;
    while (cap < this.length + n) cap *= 2;
    const bigger = new Uint8Array(cap);
    bigger.set(this.bytes.subarray(0, this.length));
    this.bytes = bigger;
  }

  /** Makes this writer hold the same bytes as `w`. */
  copyFrom(w: ByteWriter): void {
    this.length = 0;
    this.reserve(w.length);
    this.bytes.set(w.bytes.subarray(0, w.length));
    this.length = w.length;
  }

  /** A copy of the bytes written. */
  copy(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }

  /** The bytes written as a string, one character a byte: a key for a Set or Map of states. */
  key(): string {
    return bytesKey(this.bytes, this.length);
  }

  byte(b: number): void {
    if (this.length === this.bytes.length) this.reserve(1);
    this.bytes[this.length++] = b;
  }

  varint(n: number): void {
    // Non-negative integers up to 2^53: 7 bits per byte, high bit = more.
    while (n >= 0x80) {
      this.byte((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.byte(n);
  }
}

/** `b[0, n)` as a string, one character a byte: a key for a Set or Map of states. */
export function bytesKey(b: Uint8Array, n = b.length): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(b[i]);
  return s;
}

/**
 * The string and Record-type tables of codecs in several threads (--workers): one append-only
 * table of texts in a SharedArrayBuffer, so that every thread gives a string or a Record type the
 * same number and a state's bytes are the same whichever worker encoded it. Entries are added
 * under a lock (rare: once per distinct string or type); reading an entry needs none, as the
 * count is published after the text. Layout: Int32 [lock, count, units used], then an Int32
 * start offset per entry, then the texts as UTF-16 code units.
 */
export class SharedDictionary {
  private static readonly HEAD = 3;
  private static readonly MAX_ENTRIES = 1 << 16;
  private readonly meta: Int32Array;
  private readonly units: Uint16Array;
  private readonly ids = new Map<string, number>();
  private readonly texts: string[] = [];

  static buffer(bytes = 8 << 20): SharedArrayBuffer {
    return new SharedArrayBuffer(bytes);
  }

  constructor(readonly sab: SharedArrayBuffer) {
    const metaInts = SharedDictionary.HEAD + SharedDictionary.MAX_ENTRIES + 1;
    this.meta = new Int32Array(sab, 0, metaInts);
    this.units = new Uint16Array(sab, metaInts * 4);
  }

  /** Reads the entries other threads added since the last look. */
  private sync(): void {
    const count = Atomics.load(this.meta, 1);
    const H = SharedDictionary.HEAD;
    for (let k = this.texts.length; k < count; k++) {
      const from = this.meta[H + k];
      const to = this.meta[H + k + 1];
      let t = '';
      for (let i = from; i < to; i++) t += String.fromCharCode(this.units[i]);
      this.texts.push(t);
      this.ids.set(t, k);
    }
  }

  idOf(text: string): number {
    let id = this.ids.get(text);
    if (id !== undefined) return id;
    const meta = this.meta;
    while (Atomics.compareExchange(meta, 0, 0, 1) !== 0) Atomics.wait(meta, 0, 1, 1);
    try {
      this.sync();
      id = this.ids.get(text);
      if (id !== undefined) return id;
      const H = SharedDictionary.HEAD;
      const count = meta[1];
      const used = meta[2];
      if (count + 1 >= SharedDictionary.MAX_ENTRIES || used + text.length > this.units.length)
        throw new ModelError(`--workers: more distinct strings and Record types than the shared table holds (${SharedDictionary.MAX_ENTRIES} entries, ${this.units.length} characters)`);
      for (let i = 0; i < text.length; i++) this.units[used + i] = text.charCodeAt(i);
      meta[H + count] = used;
      meta[H + count + 1] = used + text.length;
      meta[2] = used + text.length;
      Atomics.store(meta, 1, count + 1);
      this.sync();
      return count;
    } finally {
      Atomics.store(meta, 0, 0);
      Atomics.notify(meta, 0);
    }
  }

  textOf(id: number): string {
    if (id >= this.texts.length) this.sync();
    const t = this.texts[id];
    if (t === undefined) throw new Error(`state bytes name entry ${id} of the shared table, which has ${this.texts.length}`);
    return t;
  }
}

/**
 * `decode(…, remember)` remembers states of at least REMEMBER_MIN bytes, and in them composite
 * values of at least KNOWN_MIN bytes: below that, looking a value up costs more than encoding it
 * again (measured on the bench and kernel models; see BENCHMARKS.md).
 */
const REMEMBER_MIN = 64;
const KNOWN_MIN = 16;
/**
 * Where a value read by `decode(…, remember)` carries its id. Ids come from one counter for all
 * codecs in the thread and never repeat, so an id is valid only in the codec and the decode that
 * gave it: a value kept from an earlier state, or read by another codec, is encoded afresh.
 */
const DECODED = Symbol('mc.decoded');
let nextDecodedId = 0;

const f64 = new Float64Array(1);
const f64bytes = new Uint8Array(f64.buffer);

export class StateCodec {
  private readonly typeByFactory = new Map<unknown, RecordType>();
  private readonly typeBySignature = new Map<string, RecordType>();
  private readonly types: RecordType[] = [];
  private readonly stringIds = new Map<string, number>();
  private readonly strings: string[] = [];
  private readonly scratch = new ByteWriter();
  /** Where `decode` reads: set by `decode`, advanced by `read`. */
  private src: Uint8Array = new Uint8Array(0);
  private pos = 0;
  /**
   * The state last decoded with `remember`: its bytes, and where in them each of its composite
   * values (of at least KNOWN_MIN bytes) was read; each such value carries an id (DECODED) that
   * indexes `spans`. A successor shares most of its values with the state it came from
   * (Immutable's structural sharing), so encoding it copies those bytes instead of walking them
   * again: a value's bytes depend on the value only, so the copy is exactly what walking would
   * write.
   */
  private readonly kept = new ByteWriter();
  /** `spans[2k]`, `spans[2k + 1]`: start and length in `kept` of the value noted with id `first + k`. */
  private spans: number[] = [];
  private first = 0;
  private next = 0;
  private remembering = false;

  /** With a shared dictionary (--workers), strings and types are numbered by it, across threads. */
  constructor(private readonly dict?: SharedDictionary) {}

  /** Appends the bytes of `v` to `out`. Throws a ModelError on a value that is not a state. */
  encode(v: unknown, out: ByteWriter): void {
    const start = out.length;
    try {
      this.fast(v, out);
    } catch (e) {
      // Redo the slow way, which tracks the path of the offending value for the message.
      out.length = start;
      this.put(v, out, '');
      throw e;
    }
  }

  /** `put` without paths, with Records and small Lists read from their arrays. */
  private fast(v: unknown, out: ByteWriter): void {
    if (typeof v === 'number') {
      if ((v & 0x7f) === v) out.byte(v);
      else this.put(v, out, undefined);
      return;
    }
    if (typeof v === 'boolean') {
      out.byte(v ? T_TRUE : T_FALSE);
      return;
    }
    if (typeof v !== 'object' || v === null) {
      this.put(v, out, undefined);
      return;
    }
    const id = (v as { [DECODED]?: number })[DECODED];
    if (id !== undefined && id >= this.first && id < this.next) {
      const k = 2 * (id - this.first);
      const from = this.spans[k];
      const n = this.spans[k + 1];
      out.reserve(n);
      const src = this.kept.bytes;
      const dst = out.bytes;
      let o = out.length;
      for (let i = from; i < from + n; i++) dst[o++] = src[i];
      out.length = o;
      return;
    }
    const type = this.typeByFactory.get((v as { constructor: unknown }).constructor);
    if (type !== undefined) {
      out.byte(T_RECORD);
      out.varint(type.index);
      const values = (v as unknown as RecordInternals)._values;
      const items = listItems(values);
      const defaults = type.defaults;
      if (items) {
        for (let i = 0; i < defaults.length; i++) {
          const x = items[i];
          this.fast(x === undefined ? defaults[i] : x, out);
        }
      } else {
        const r = v as unknown as { get(k: string): unknown };
        for (const k of type.keys) this.fast(r.get(k), out);
      }
      return;
    }
    if (isList(v)) {
      const items = listItems(v as unknown as ListInternals);
      if (items) {
        const n = (v as List<unknown>).size;
        out.byte(T_LIST);
        out.varint(n);
        for (let i = 0; i < n; i++) this.fast(items[i], out);
        return;
      }
    }
    this.put(v, out, undefined);
  }

  /**
   * The value whose bytes are `bytes[start, end)`. With `remember`, the state about to be
   * expanded: encoding its successors reuses its bytes (see `spans`) until the next such decode.
   */
  decode(bytes: Uint8Array, start: number, end: number, remember = false): unknown {
    if (remember && end - start >= REMEMBER_MIN) {
      this.first = this.next = nextDecodedId;
      this.spans.length = 0;
      const kept = this.kept;
      kept.length = 0;
      kept.reserve(end - start);
      kept.bytes.set(bytes.subarray(start, end));
      kept.length = end - start;
      this.src = kept.bytes;
      this.pos = 0;
      end -= start;
      start = 0;
    } else {
      this.src = bytes;
      this.pos = start;
    }
    this.remembering = this.src === this.kept.bytes;
    try {
      const v = this.read();
      if (this.pos !== end) throw new Error(`state bytes decoded to ${this.pos - start} of ${end - start} bytes`);
      return v;
    } finally {
      this.remembering = false;
    }
  }

  /** Notes where the composite value `v`, read from `from` to the current position, was read. */
  private note(v: object, from: number): void {
    const n = this.pos - from;
    if (n < KNOWN_MIN) return;
    (v as { [DECODED]?: number })[DECODED] = this.next++;
    nextDecodedId = this.next;
    this.spans.push(from, n);
  }

  /**
   * The general encoder. `path` names where `v` sits, for the message of a value that is not a
   * state; it is undefined on the hot path (`fast` falls back here for Maps, Sets and large
   * Lists), where no path strings are built and members go back through `fast`.
   */
  private put(v: unknown, out: ByteWriter, path: string | undefined): void {
    switch (typeof v) {
      case 'number':
        if (Number.isInteger(v) && v >= 0 && v < 0x80) out.byte(v);
        else if (Number.isSafeInteger(v)) {
          out.byte(T_INT);
          out.varint(v < 0 ? -2 * v - 1 : 2 * v);
        } else if (Object.is(v, -0)) out.byte(0);
        else {
          out.byte(T_FLOAT);
          f64[0] = Number.isNaN(v) ? NaN : v;
          out.reserve(8);
          out.bytes.set(f64bytes, out.length);
          out.length += 8;
        }
        return;
      case 'boolean':
        out.byte(v ? T_TRUE : T_FALSE);
        return;
      case 'string':
        out.byte(T_STRING);
        out.varint(this.intern(v));
        return;
      case 'undefined':
        out.byte(T_UNDEFINED);
        return;
      case 'bigint':
        out.byte(T_BIGINT);
        out.varint(this.intern(String(v)));
        return;
      case 'object': {
        if (v === null) {
          out.byte(T_NULL);
          return;
        }
        if (isRecord(v)) {
          const type = this.recordType(v);
          out.byte(T_RECORD);
          out.varint(type.index);
          const r = v as unknown as { get(k: string): unknown };
          for (const k of type.keys) this.member(r.get(k), out, path, k);
          return;
        }
        if (isList(v) || isStack(v)) {
          const c = v as List<unknown>;
          out.byte(isList(v) ? T_LIST : T_STACK);
          out.varint(c.size);
          let i = 0;
          for (const x of c) this.member(x, out, path, i++, true);
          return;
        }
        if (isMap(v)) {
          const m = v as ImmMap<unknown, unknown>;
          const size = m.size;
          const ordered = isOrderedMap(m);
          out.byte(ordered ? T_ORDERED_MAP : T_MAP);
          out.varint(size);
          const starts: number[] | undefined = ordered || size <= 1 ? undefined : [];
          for (const [k, x] of m.entries()) {
            starts?.push(out.length);
            this.member(k, out, path, undefined);
            this.member(x, out, path, k);
          }
          if (starts) this.sortMembers(out, starts);
          return;
        }
        if (isSet(v)) {
          const set = v as ImmSet<unknown>;
          const size = set.size;
          const ordered = isOrderedSet(set);
          out.byte(ordered ? T_ORDERED_SET : T_SET);
          out.varint(size);
          const starts: number[] | undefined = ordered || size <= 1 ? undefined : [];
          for (const x of set) {
            starts?.push(out.length);
            this.member(x, out, path, undefined);
          }
          if (starts) this.sortMembers(out, starts);
          return;
        }
        throw new ModelError(
          `state holds a plain ${Array.isArray(v) ? 'array' : 'object'} at ${path || '(root)'}; ` +
            `states must be Immutable values (Record, List, Map, Set) or primitives`,
        );
      }
      default:
        throw new ModelError(`state holds a ${typeof v} at ${path || '(root)'}; states must be Immutable values or primitives`);
    }
  }

  /**
   * Member `key` of a collection at `path` (a field name, a Map key, a List index when `indexed`;
   * undefined for a Map key itself or a Set member), encoded without a path on the hot path.
   */
  private member(x: unknown, out: ByteWriter, path: string | undefined, key: unknown, indexed = false): void {
    if (path === undefined) this.fast(x, out);
    else if (key === undefined) this.put(x, out, path);
    else if (indexed) this.put(x, out, `${path}[${String(key)}]`);
    else this.put(x, out, path ? `${path}.${String(key)}` : String(key));
  }

  /**
   * Rewrites the members of an unordered collection, encoded in place from `starts[0]` to the end
   * of `out` (member i begins at `starts[i]`), in the order of their bytes.
   */
  private sortMembers(out: ByteWriter, starts: number[]): void {
    const base = starts[0];
    const count = starts.length;
    starts.push(out.length);
    const b = out.bytes;
    const cmp = (i: number, j: number): number => {
      const a0 = starts[i];
      const a1 = starts[i + 1];
      const b0 = starts[j];
      const b1 = starts[j + 1];
      const n = Math.min(a1 - a0, b1 - b0);
      for (let k = 0; k < n; k++) if (b[a0 + k] !== b[b0 + k]) return b[a0 + k] - b[b0 + k];
      return a1 - a0 - (b1 - b0);
    };
    let sorted = true;
    for (let i = 1; i < count && sorted; i++) if (cmp(i - 1, i) > 0) sorted = false;
    if (sorted) return;
    const order = Array.from({ length: count }, (_, i) => i).sort(cmp);
    const copy = this.scratch;
    copy.length = 0;
    copy.reserve(out.length - base);
    copy.bytes.set(b.subarray(base, out.length));
    let at = base;
    for (const i of order) {
      b.set(copy.bytes.subarray(starts[i] - base, starts[i + 1] - base), at);
      at += starts[i + 1] - starts[i];
    }
  }

  private intern(s: string): number {
    let id = this.stringIds.get(s);
    if (id === undefined) {
      if (this.dict) {
        id = this.dict.idOf(`s${s}`);
        this.strings[id] = s;
      } else {
        id = this.strings.length;
        this.strings.push(s);
      }
      this.stringIds.set(s, id);
    }
    return id;
  }

  private stringAt(id: number): string {
    let s = this.strings[id];
    if (s === undefined && this.dict) {
      s = this.dict.textOf(id).slice(1);
      this.strings[id] = s;
    }
    return s;
  }

  /**
   * --workers: called with a Record type's signature when a state being decoded holds a type that
   * another thread numbered and this one has not met; it should make this thread's model build a
   * value of that type and encode it (see worker.ts), so that decoding gives the model's own type
   * (its class, methods and `instanceof`), not a look-alike.
   */
  onUnknownType?: (signature: string) => void;

  /** Whether this thread has met the model's own Record type of this signature. */
  knowsType(signature: string): boolean {
    return this.typeBySignature.has(signature);
  }

  /**
   * --workers: a type another thread numbered and this one has not met yet: met through
   * `onUnknownType` when it is set, else rebuilt from its name and keys as a plain Record until
   * this thread meets the model's own factory, which then replaces it. Until then such values have
   * no methods a model's Record class adds, and are not `instanceof` that class.
   */
  private typeAt(id: number): RecordType {
    let type = this.types[id];
    if (type === undefined && this.dict) {
      const signature = this.dict.textOf(id).slice(1);
      if (this.onUnknownType) {
        const { src, pos, remembering } = this;
        this.onUnknownType(signature);
        this.src = src;
        this.pos = pos;
        this.remembering = remembering;
        type = this.types[id];
        if (type !== undefined) return type;
      }
      const [name, keys] = JSON.parse(signature) as [string, string[]];
      const factory = ImmRecord(Object.fromEntries(keys.map((k) => [k, undefined])), name) as unknown as RecordFactory;
      const sample = factory({}) as unknown as object;
      const defaults = keys.map(() => undefined);
      type = { factory, keys, index: id, proto: fieldReader(Object.getPrototypeOf(sample), keys, defaults), defaults, substitute: true };
      this.types[id] = type;
      this.typeByFactory.set(factory, type);
    }
    return type;
  }

  private recordType(v: unknown): RecordType {
    const factory = (v as { constructor: unknown }).constructor;
    let type = this.typeByFactory.get(factory);
    if (type) return type;
    const r = v as ImmRecord<Record<string, unknown>>;
    const keys = [...r.toSeq().keys()];
    const signature = JSON.stringify([ImmRecord.getDescriptiveName(r), keys]);
    const defaults = keys.map((k) => (r as unknown as { _defaultValues: Record<string, unknown> })._defaultValues[k]);
    // The factory's prototype, not the value's: a value derived from a decoded one has the reader.
    const own = { proto: fieldReader((factory as { prototype: object }).prototype, keys, defaults), defaults };
    const first = this.typeBySignature.get(signature);
    // A second factory of the same name and keys shares the first one's index (and decodes as
    // it); its own defaults serve to read its instances' fields.
    if (first) type = { ...first, ...own };
    else if (this.dict) {
      const index = this.dict.idOf(`t${signature}`);
      type = { factory: factory as RecordFactory, keys, index, ...own };
      // The model's own factory replaces a stand-in built for decoding (typeAt).
      this.types[index] = type;
      this.typeBySignature.set(signature, type);
    } else {
      type = { factory: factory as RecordFactory, keys, index: this.types.length, ...own };
      this.types.push(type);
      this.typeBySignature.set(signature, type);
    }
    this.typeByFactory.set(factory, type);
    return type;
  }

  private varint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      const b = this.src[this.pos++];
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
    }
  }

  private read(): unknown {
    const tag = this.src[this.pos++];
    if (tag < 0x80) return tag;
    switch (tag) {
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_NULL:
        return null;
      case T_UNDEFINED:
        return undefined;
      case T_INT: {
        const z = this.varint();
        return z % 2 === 1 ? -(z + 1) / 2 : z / 2;
      }
      case T_FLOAT:
        f64bytes.set(this.src.subarray(this.pos, this.pos + 8));
        this.pos += 8;
        return f64[0];
      case T_STRING:
        return this.stringAt(this.varint());
      case T_BIGINT:
        return BigInt(this.stringAt(this.varint()));
      case T_RECORD: {
        const from = this.pos - 1;
        const type = this.typeAt(this.varint());
        let r: object;
        if (FAST && type.keys.length <= SMALL) {
          const defaults = type.defaults;
          const items = new Array<unknown>(defaults.length);
          for (let i = 0; i < defaults.length; i++) {
            const x = this.read();
            items[i] = x === defaults[i] ? undefined : x;
          }
          r = Object.create(type.proto);
          (r as { __ownerID: unknown }).__ownerID = undefined;
          (r as { _values: unknown })._values = smallList(items);
        } else {
          const values: Record<string, unknown> = {};
          for (const k of type.keys) values[k] = this.read();
          r = type.factory(values) as object;
        }
        if (this.remembering) this.note(r, from);
        return r;
      }
      case T_LIST:
      case T_STACK:
      case T_ORDERED_SET:
      case T_SET: {
        const from = this.pos - 1;
        const n = this.varint();
        const items = new Array<unknown>(n);
        for (let i = 0; i < n; i++) items[i] = this.read();
        const c: object =
          tag === T_LIST && FAST && n <= SMALL
            ? smallList(items)
            : tag === T_LIST
              ? List(items)
              : tag === T_STACK
                ? Stack(items)
                : tag === T_SET
                  ? ImmSet(items)
                  : OrderedSet(items);
        if (this.remembering) this.note(c, from);
        return c;
      }
      case T_MAP:
      case T_ORDERED_MAP: {
        const from = this.pos - 1;
        const n = this.varint();
        const entries = new Array<[unknown, unknown]>(n);
        for (let i = 0; i < n; i++) {
          const k = this.read();
          entries[i] = [k, this.read()];
        }
        const m = tag === T_MAP ? ImmMap(entries) : OrderedMap(entries);
        if (this.remembering) this.note(m, from);
        return m;
      }
      default:
        throw new Error(`bad state byte 0x${tag.toString(16)} at ${this.pos - 1}`);
    }
  }
}
