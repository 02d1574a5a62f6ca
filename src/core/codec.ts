import { isList, isMap, isOrderedMap, isOrderedSet, isRecord, isSet, isStack, List, Map as ImmMap, OrderedMap, OrderedSet, Record as ImmRecord, Set as ImmSet, Stack } from 'immutable';
import { ModelError } from './errors.ts';

/**
 * The byte form of an Immutable.js state, for models that declare no schema (the prototyping
 * path; a schema model's states are bytes already, see schema.ts). Two states get the same bytes
 * exactly when they are equal values (`Immutable.is`), so a store that compares bytes never
 * merges two different states. One codec serves one run: strings and Record types are numbered
 * in its tables, so bytes from two codecs are not comparable. Only Immutable's public API is
 * used.
 *
 * Layout, one tag byte per value:
 * - 0x00–0x7f: the integer 0–127 itself;
 * - false, true, null, undefined: one byte each;
 * - other integers: a zigzag varint; other numbers: 8 bytes (NaN canonical, -0 as 0); strings
 *   and bigints: the varint index of the interned text;
 * - Record: the varint index of its type (descriptive name and keys), then its fields in order;
 * - List, Stack, OrderedMap, OrderedSet: a varint count, then the members in order;
 * - Map, Set: a varint count, then the members sorted by their bytes (insertion order does not
 *   matter to their equality, so it must not matter to their bytes).
 *
 * `decode` rebuilds an equal value. A decoded Map or Set may iterate in another order than the
 * value that was encoded; the explorer therefore only ever expands decoded states, during the
 * search and when it replays a counterexample, so that action indices mean the same both times.
 *
 * Limitation: two Record factories with the same descriptive name and keys are one type here;
 * decoding builds values of the first one seen.
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
}

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

  /** Makes this writer hold b[from, to). */
  setBytes(b: Uint8Array, from: number, to: number): void {
    this.length = 0;
    this.reserve(to - from);
    this.bytes.set(b.subarray(from, to));
    this.length = to - from;
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

const f64 = new Float64Array(1);
const f64bytes = new Uint8Array(f64.buffer);

export class StateCodec {
  private readonly texts: string[] = [];
  private readonly textIds = new Map<string, number>();
  private readonly types: RecordType[] = [];
  private readonly typeIds = new Map<string, RecordType>();
  private readonly typeByFactory = new Map<unknown, RecordType>();
  /** Scratch writers for sorting the members of unordered collections, one per nesting depth. */
  private readonly scratch: ByteWriter[] = [];
  private depth = 0;
  private src: Uint8Array = new Uint8Array(0);
  private pos = 0;

  /** Appends the bytes of `v` to `out`. Throws a ModelError naming the path of a value that is not a state. */
  encode(v: unknown, out: ByteWriter): void {
    this.put(v, out, '');
  }

  /** The value whose bytes are `bytes[start, end)`. */
  decode(bytes: Uint8Array, start: number, end: number): unknown {
    this.src = bytes;
    this.pos = start;
    const v = this.read();
    if (this.pos !== end) throw new Error(`state bytes decoded to ${this.pos - start} of ${end - start} bytes`);
    return v;
  }

  private intern(text: string): number {
    let id = this.textIds.get(text);
    if (id === undefined) {
      id = this.texts.length;
      this.texts.push(text);
      this.textIds.set(text, id);
    }
    return id;
  }

  private recordType(r: ImmRecord<Record<string, unknown>>): RecordType {
    const factory = r.constructor as unknown;
    const known = this.typeByFactory.get(factory);
    if (known) return known;
    const keys = [...r.toSeq().keys()].map(String);
    const signature = JSON.stringify([ImmRecord.getDescriptiveName(r), ...keys]);
    let type = this.typeIds.get(signature);
    if (!type) {
      type = { factory: factory as RecordFactory, keys, index: this.types.length };
      this.types.push(type);
      this.typeIds.set(signature, type);
    }
    this.typeByFactory.set(factory, type);
    return type;
  }

  private put(v: unknown, out: ByteWriter, path: string): void {
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
          for (const k of type.keys) this.put(v.get(k), out, path ? `${path}.${k}` : k);
          return;
        }
        if (isList(v) || isStack(v) || isOrderedSet(v)) {
          out.byte(isList(v) ? T_LIST : isStack(v) ? T_STACK : T_ORDERED_SET);
          out.varint((v as { size: number }).size);
          let i = 0;
          for (const x of v as Iterable<unknown>) this.put(x, out, `${path}[${i++}]`);
          return;
        }
        if (isOrderedMap(v)) {
          out.byte(T_ORDERED_MAP);
          out.varint(v.size);
          for (const [k, x] of v.entries()) {
            this.put(k, out, path);
            this.put(x, out, path ? `${path}.${String(k)}` : String(k));
          }
          return;
        }
        if (isMap(v) || isSet(v)) {
          // Members sorted by their bytes: each member (for a Map, key and value) encoded alone.
          const members: Uint8Array[] = [];
          const w = (this.scratch[this.depth] ??= new ByteWriter());
          this.depth++;
          try {
            if (isMap(v))
              for (const [k, x] of v.entries()) {
                w.length = 0;
                this.put(k, w, path);
                this.put(x, w, path ? `${path}.${String(k)}` : String(k));
                members.push(w.copy());
              }
            else
              for (const x of v as Iterable<unknown>) {
                w.length = 0;
                this.put(x, w, path);
                members.push(w.copy());
              }
          } finally {
            this.depth--;
          }
          members.sort(compareBytes);
          out.byte(isMap(v) ? T_MAP : T_SET);
          out.varint(members.length);
          for (const m of members) {
            out.reserve(m.length);
            out.bytes.set(m, out.length);
            out.length += m.length;
          }
          return;
        }
        throw new ModelError(
          `state holds a plain ${Array.isArray(v) ? 'array' : 'object'} at ${path || '(root)'}; ` +
            `states must be Immutable values (Record, List, Map, Set) or primitives, or declare a schema (state: …)`,
        );
      }
      default:
        throw new ModelError(`state holds a ${typeof v} at ${path || '(root)'}; states must be Immutable values or primitives`);
    }
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
        return this.texts[this.varint()];
      case T_BIGINT:
        return BigInt(this.texts[this.varint()]);
      case T_RECORD: {
        const type = this.types[this.varint()];
        const values: Record<string, unknown> = {};
        for (const k of type.keys) values[k] = this.read();
        // `new` serves both a Record factory and a model's class that extends one.
        return new (type.factory as unknown as new (v: Record<string, unknown>) => unknown)(values);
      }
      case T_LIST:
      case T_STACK:
      case T_ORDERED_SET:
      case T_SET: {
        const n = this.varint();
        const items: unknown[] = new Array(n);
        for (let i = 0; i < n; i++) items[i] = this.read();
        return tag === T_LIST ? List(items) : tag === T_STACK ? Stack(items) : tag === T_ORDERED_SET ? OrderedSet(items) : ImmSet(items);
      }
      case T_ORDERED_MAP:
      case T_MAP: {
        const n = this.varint();
        const entries: [unknown, unknown][] = new Array(n);
        for (let i = 0; i < n; i++) entries[i] = [this.read(), this.read()];
        return tag === T_MAP ? ImmMap(entries) : OrderedMap(entries);
      }
      default:
        throw new Error(`bad state byte 0x${tag.toString(16)} at ${this.pos - 1}`);
    }
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
