/**
 * Visited-state sets over encoded states (see src/core/codec.ts). `ExactStore` keeps every
 * state's bytes in a flat arena behind an open-addressing hash table and compares full bytes:
 * two different states are never merged. `FingerprintStore` keeps only a 64-bit hash of each
 * state (hash compaction, as TLC does): far less memory, at the price of a small computed chance
 * that two different states share a fingerprint and the second one is wrongly taken as visited.
 */

import { CapacityError } from '../core/errors.ts';
import { prefixedSize, putPrefixed, readPrefixed } from './growable.ts';

/** MurmurHash3 (x86, 32-bit) of `b[from, from + n)`. */
export function hash32(b: Uint8Array, from: number, n: number, seed: number): number {
  let h = seed | 0;
  let i = from;
  const whole = from + (n & ~3);
  for (; i < whole; i += 4) {
    let k = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (n & 3) {
    case 3:
      k ^= b[i + 2] << 16;
    // falls through
    case 2:
      k ^= b[i + 1] << 8;
    // falls through
    case 1:
      k ^= b[i];
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h ^= Math.imul(k, 0x1b873593);
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const SEED_A = 0x9747b28c;
const SEED_B = 0x2f1e6d35;

/** Where a stored state's bytes are: bytes[start, end). */
export interface StoredBytes {
  readonly bytes: Uint8Array;
  readonly start: number;
  readonly end: number;
}

/** Raised when the store cannot grow further; the explorer ends the run as incomplete. */
export class StoreFull extends CapacityError {}

export interface StateStore {
  /** Distinct states stored; ids are 0 … size-1 in the order of `add`. */
  readonly size: number;
  /** Whether different states are never merged (false for fingerprints). */
  readonly exact: boolean;
  /** Stores the state whose bytes are `b[0, n)`; its new id, or -1 if it was already stored. */
  add(b: Uint8Array, n: number): number;
  /** After add() returned -1: the id of the state it found (an exact store's; a fingerprint store's is -1). */
  readonly found: number;
  /** Whether stored state `id` is the state `b[0, n)` (for a fingerprint: has its fingerprint). */
  matches(id: number, b: Uint8Array, n: number): boolean;
  /** Whether the state `b[0, n)` is stored (for a fingerprint: its fingerprint is). */
  contains(b: Uint8Array, n: number): boolean;
  /** The id of the state `b[0, n)`, or -1 if it is not stored (a fingerprint store answers 0 for any stored state). */
  find(b: Uint8Array, n: number): number;
  /** Where the bytes of state `id` are (exact stores only): valid until the next call. */
  bytesOf(id: number): StoredBytes;
  /** Bytes held by the store, spare capacity included. */
  readonly byteSize: number;
  /** Bytes that the stored states take: the table as allocated, arena and offsets as used. */
  readonly usedBytes: number;
}

const CHUNK_BITS = 24;
const CHUNK = 1 << CHUNK_BITS;
/** Offsets are Uint32: at most 2^32 bytes of arena (256 chunks of 16 MiB). */
const MAX_CHUNKS = 256;
const MAX_LOAD = 0.7;
/** Fingerprint slots per bucket (8 pairs of 32-bit words: one cache line), the table's top load and its growth. */
const BUCKET = 8;
const FP_MAX_LOAD = 0.9;
const FP_GROWTH = 1.1;

/**
 * Exact storage. Each state is appended once to an arena of 16 MiB chunks as a varint length and
 * its bytes (a state never straddles two chunks); `offsets[id]` says where. The hash table holds
 * pairs (id + 1, 32-bit hash) side by side, so that a probe reads one cache line, most probes of
 * another state are rejected without touching the arena, and growing the table never rehashes
 * bytes; a full byte comparison decides.
 */
export class ExactStore implements StateStore {
  readonly exact = true;
  private chunks: Uint8Array[] = [];
  private used = CHUNK;
  private offsets = new Uint32Array(1024);
  size = 0;
  found = -1;
  private slots = new Int32Array(2 << 10);
  private mask = (1 << 10) - 1;
  /** Set by `locate`: the chunk and the [start, end) of a state's bytes. */
  chunk: Uint8Array = new Uint8Array(0);
  start = 0;
  end = 0;

  get byteSize(): number {
    return this.chunks.length * CHUNK + this.offsets.byteLength + this.slots.byteLength;
  }

  /** Bytes actually used by stored states (arena in use, offsets, table at its load). */
  get usedBytes(): number {
    return (this.chunks.length - 1) * CHUNK + this.used + this.size * 4 + this.slots.byteLength;
  }

  /** Points `chunk`, `start`, `end` at the bytes of state `id`. */
  locate(id: number): void {
    const off = this.offsets[id];
    const c = this.chunks[Math.floor(off / CHUNK)];
    this.chunk = c;
    readPrefixed(c, off % CHUNK, this);
  }

  private readonly where: { bytes: Uint8Array; start: number; end: number } = { bytes: new Uint8Array(0), start: 0, end: 0 };

  bytesOf(id: number): StoredBytes {
    this.locate(id);
    const w = this.where;
    w.bytes = this.chunk;
    w.start = this.start;
    w.end = this.end;
    return w;
  }

  matches(id: number, b: Uint8Array, n: number): boolean {
    this.locate(id);
    return this.equalAt(b, n);
  }

  /** The id of the state `b[0, n)`, or -1 if it is not stored. */
  find(b: Uint8Array, n: number): number {
    const h = hash32(b, 0, n, SEED_A) | 0;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const s = this.slots[2 * i];
      if (s === 0) return -1;
      if (this.slots[2 * i + 1] === h && this.same(s - 1, b, n)) return s - 1;
    }
  }

  contains(b: Uint8Array, n: number): boolean {
    return this.find(b, n) >= 0;
  }

  /** Where `same` finds a stored entry: `matches` without moving `chunk`, `start`, `end`. */
  private readonly probe = { start: 0, end: 0 };

  /** `matches` without setting `chunk`, `start`, `end`: the hot path of `add`. */
  private same(id: number, b: Uint8Array, n: number): boolean {
    const off = this.offsets[id];
    const c = this.chunks[(off / CHUNK) | 0];
    const at = this.probe;
    readPrefixed(c, off & (CHUNK - 1), at);
    if (at.end - at.start !== n) return false;
    const p = at.start;
    for (let i = 0; i < n; i++) if (c[p + i] !== b[i]) return false;
    return true;
  }

  private equalAt(b: Uint8Array, n: number): boolean {
    if (this.end - this.start !== n) return false;
    const c = this.chunk;
    const s = this.start;
    for (let i = 0; i < n; i++) if (c[s + i] !== b[i]) return false;
    return true;
  }

  add(b: Uint8Array, n: number): number {
    const h = hash32(b, 0, n, SEED_A) | 0;
    const slots = this.slots;
    const mask = this.mask;
    // Probe until the state or an empty slot: the state is new there.
    let i = h & mask;
    for (;;) {
      const s = slots[2 * i];
      if (s === 0) break;
      if (slots[2 * i + 1] === h && this.same(s - 1, b, n)) {
        this.found = s - 1;
        return -1;
      }
      i = (i + 1) & mask;
    }
    const id = this.size;
    this.append(b, n);
    slots[2 * i] = id + 1;
    slots[2 * i + 1] = h;
    this.size++;
    if (this.size > MAX_LOAD * (mask + 1)) this.grow();
    return id;
  }

  private append(b: Uint8Array, n: number): void {
    const size = prefixedSize(n);
    if (size > CHUNK) throw new StoreFull(`a state encodes to ${n} bytes; at most ${CHUNK - 4} are supported`);
    if (this.used + size > CHUNK) {
      if (this.chunks.length === MAX_CHUNKS) throw new StoreFull(`the state arena is full (${MAX_CHUNKS * (CHUNK >>> 20)} MiB)`);
      this.chunks.push(new Uint8Array(CHUNK));
      this.used = 0;
    }
    if (this.size === this.offsets.length) {
      const bigger = new Uint32Array(this.offsets.length * 2);
      bigger.set(this.offsets);
      this.offsets = bigger;
    }
    const c = this.chunks[this.chunks.length - 1];
    this.offsets[this.size] = (this.chunks.length - 1) * CHUNK + this.used;
    this.used = putPrefixed(c, this.used, b, n);
  }

  private grow(): void {
    const old = this.slots;
    const cap = (this.mask + 1) * 2;
    const slots = new Int32Array(2 * cap);
    const mask = cap - 1;
    for (let j = 0; j < old.length; j += 2) {
      if (old[j] === 0) continue;
      const h = old[j + 1];
      let i = h & mask;
      while (slots[2 * i] !== 0) i = (i + 1) & mask;
      slots[2 * i] = old[j];
      slots[2 * i + 1] = h;
    }
    this.slots = slots;
    this.mask = mask;
  }
}

/**
 * Fingerprint storage: a 64-bit fingerprint per state (two independently seeded 32-bit
 * MurmurHash3 of its bytes), in buckets of 8 (one 64-byte cache line) probed one after another
 * from the fingerprint's home bucket. The table runs 82-90% full (it grows by 10% when it passes
 * 90%): at most 8 / 0.82 = 9.8 bytes a state. Buckets keep probing short at that load: a lookup
 * reads one or two cache lines. The bytes themselves are not kept, so the frontier carries them.
 * Two different states with one fingerprint are merged: the second is taken as visited and what
 * only it leads to may be missed; `collisionOdds` estimates that chance.
 */
export class FingerprintStore implements StateStore {
  readonly exact = false;
  size = 0;
  readonly found = -1;
  /** Per bucket, 8 pairs (low, high); (0, 0) is an empty slot, so a fingerprint (0, 0) is stored as (1, 0). */
  private slots = new Uint32Array(2 * BUCKET * 512);
  private buckets = 512;
  private lo = 0;
  private hi = 0;

  get byteSize(): number {
    return this.slots.byteLength;
  }

  get usedBytes(): number {
    return this.slots.byteLength;
  }

  contains(b: Uint8Array, n: number): boolean {
    return this.matches(-1, b, n);
  }

  find(b: Uint8Array, n: number): number {
    return this.contains(b, n) ? 0 : -1;
  }

  bytesOf(): StoredBytes {
    throw new Error('a fingerprint store keeps no state bytes');
  }

  private fingerprint(b: Uint8Array, n: number): void {
    this.lo = hash32(b, 0, n, SEED_A);
    this.hi = hash32(b, 0, n, SEED_B);
    if (this.lo === 0 && this.hi === 0) this.lo = 1;
  }

  /** The slot (pair index) of the current fingerprint, or of the empty slot where it belongs. */
  private probe(): number {
    const slots = this.slots;
    const lo = this.lo;
    const hi = this.hi;
    let bucket = Math.floor((lo / 2 ** 32) * this.buckets);
    for (;;) {
      const end = (bucket + 1) * BUCKET;
      for (let i = bucket * BUCKET; i < end; i++) {
        const l = slots[2 * i];
        const h = slots[2 * i + 1];
        if ((l === lo && h === hi) || (l === 0 && h === 0)) return i;
      }
      bucket = bucket + 1 === this.buckets ? 0 : bucket + 1;
    }
  }

  /** Fingerprints do not say which id a state has: this answers whether `b[0, n)`'s fingerprint is stored. */
  matches(_id: number, b: Uint8Array, n: number): boolean {
    this.fingerprint(b, n);
    const i = this.probe();
    return this.slots[2 * i] !== 0 || this.slots[2 * i + 1] !== 0;
  }

  add(b: Uint8Array, n: number): number {
    this.fingerprint(b, n);
    const i = this.probe();
    if (this.slots[2 * i] !== 0 || this.slots[2 * i + 1] !== 0) return -1;
    this.slots[2 * i] = this.lo;
    this.slots[2 * i + 1] = this.hi;
    const id = this.size++;
    if (this.size > FP_MAX_LOAD * this.buckets * BUCKET) this.grow();
    return id;
  }

  private grow(): void {
    const old = this.slots;
    const buckets = Math.ceil(this.buckets * FP_GROWTH);
    if (2 * BUCKET * buckets > 2 ** 32) throw new StoreFull(`the fingerprint table cannot grow past ${this.buckets * BUCKET} slots`);
    const slots = new Uint32Array(2 * BUCKET * buckets);
    for (let j = 0; j < old.length; j += 2) {
      const lo = old[j];
      const hi = old[j + 1];
      if (lo === 0 && hi === 0) continue;
      let bucket = Math.floor((lo / 2 ** 32) * buckets);
      for (;;) {
        let i = bucket * BUCKET;
        const end = i + BUCKET;
        while (i < end && (slots[2 * i] !== 0 || slots[2 * i + 1] !== 0)) i++;
        if (i < end) {
          slots[2 * i] = lo;
          slots[2 * i + 1] = hi;
          break;
        }
        bucket = bucket + 1 === buckets ? 0 : bucket + 1;
      }
    }
    this.slots = slots;
    this.buckets = buckets;
  }
}

/**
 * The chance that a fingerprint run merged at least two different states, given `states`
 * distinct fingerprints stored and `transitions` lookups: each lookup of a new state collides
 * with one of at most `states` stored fingerprints with probability states / 2^64, so the odds
 * are at most states × transitions / 2^64 (TLC's "optimistic" estimate is states² / 2^65).
 */
export function collisionOdds(states: number, transitions: number): number {
  return Math.min(1, (states * Math.max(states, transitions)) / 2 ** 64);
}

/** MurmurHash3 (x86, 32-bit) of the words w[from, from + n). */
export function hashWords(w: Int32Array, from: number, n: number, seed: number): number {
  let h = seed | 0;
  for (let i = from; i < from + n; i++) {
    let k = Math.imul(w[i], 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= n << 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** The words of a byte buffer, for hashing and comparing a fixed-size state a word at a time. */
export class WordView {
  private bytes: Uint8Array = new Uint8Array(0);
  words: Int32Array = new Int32Array(0);
  of(b: Uint8Array): Int32Array {
    if (b !== this.bytes) {
      if (b.byteOffset % 4 !== 0) throw new Error('state bytes must be 4-byte aligned');
      this.bytes = b;
      this.words = new Int32Array(b.buffer, b.byteOffset, b.length >>> 2);
    }
    return this.words;
  }
}

const RECENT_BITS = 16;
const RECENT_MASK = (1 << RECENT_BITS) - 1;

/** States per arena chunk of a FixedStore: a power of two, so that an id splits into chunk and slot by shifts. */
const FIXED_CHUNK_BYTES = 1 << 24;

/**
 * Exact storage of fixed-size states (a schema's layout, `stride` bytes, a multiple of 4): an
 * arena of 16 MiB chunks, state `id` at a fixed place (no lengths, no offsets column), behind an
 * open-addressing table of (id + 1, hash) pairs, so that a probe reads one cache line and most
 * probes of another state are rejected without touching the arena. States are hashed and
 * compared a word at a time.
 */
export class FixedStore implements StateStore {
  readonly exact = true;
  size = 0;
  found = -1;
  private readonly words: number;
  private readonly shift: number;
  private readonly perChunk: number;
  private chunks: Int32Array[] = [];
  private chunkBytes: Uint8Array[] = [];
  private slots = new Int32Array(2 << 10);
  private mask = (1 << 10) - 1;
  private readonly view = new WordView();
  /**
   * The states looked up or stored last, by hash: (id + 1, hash) pairs, direct-mapped. It fits
   * in the L2 cache, and a search finds most duplicates among recent states (the level being
   * built and the one before), so most lookups of a stored state miss neither the table nor the
   * arena. Measured on nmi-percpu: two thirds of the duplicates hit here.
   */
  private readonly recent = new Int32Array(2 << RECENT_BITS);
  private readonly where: { bytes: Uint8Array; start: number; end: number } = { bytes: new Uint8Array(0), start: 0, end: 0 };

  constructor(readonly stride: number) {
    if (stride % 4 !== 0 || stride <= 0) throw new Error(`FixedStore: stride ${stride} is not a positive multiple of 4`);
    this.words = stride >>> 2;
    let shift = 0;
    while ((2 << shift) * stride <= FIXED_CHUNK_BYTES) shift++;
    this.shift = shift;
    this.perChunk = 1 << shift;
  }

  get byteSize(): number {
    return this.chunks.length * this.perChunk * this.stride + this.slots.byteLength;
  }

  get usedBytes(): number {
    return this.size * this.stride + this.slots.byteLength;
  }

  bytesOf(id: number): StoredBytes {
    const w = this.where;
    w.bytes = this.chunkBytes[id >>> this.shift];
    w.start = (id & (this.perChunk - 1)) * this.stride;
    w.end = w.start + this.stride;
    return w;
  }

  private same(id: number, w: Int32Array): boolean {
    const c = this.chunks[id >>> this.shift];
    const at = (id & (this.perChunk - 1)) * this.words;
    for (let i = 0; i < this.words; i++) if (c[at + i] !== w[i]) return false;
    return true;
  }

  find(b: Uint8Array, n: number): number {
    if (n !== this.stride) throw new Error(`FixedStore: a state of ${n} bytes, expected ${this.stride}`);
    const w = this.view.of(b);
    const h = hashWords(w, 0, this.words, SEED_A);
    const r = 2 * ((h >>> 8) & RECENT_MASK);
    const seen = this.recent[r];
    if (seen !== 0 && this.recent[r + 1] === h && this.same(seen - 1, w)) return seen - 1;
    const slots = this.slots;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = slots[2 * i];
      if (s === 0) return -1;
      if (slots[2 * i + 1] === h && this.same(s - 1, w)) return s - 1;
    }
  }

  contains(b: Uint8Array, n: number): boolean {
    return this.find(b, n) >= 0;
  }

  matches(id: number, b: Uint8Array, n: number): boolean {
    return n === this.stride && id < this.size && this.same(id, this.view.of(b));
  }

  add(b: Uint8Array, n: number): number {
    if (n !== this.stride) throw new Error(`FixedStore: a state of ${n} bytes, expected ${this.stride}`);
    const w = this.view.of(b);
    const h = hashWords(w, 0, this.words, SEED_A);
    // A state seen lately: stored, without a look at the table.
    const recent = this.recent;
    const r = 2 * ((h >>> 8) & RECENT_MASK);
    const seen = recent[r];
    if (seen !== 0 && recent[r + 1] === h && this.same(seen - 1, w)) {
      this.found = seen - 1;
      return -1;
    }
    const slots = this.slots;
    const mask = this.mask;
    // Probe until the state or an empty slot: the state is new there.
    let i = h & mask;
    for (;;) {
      const s = slots[2 * i];
      if (s === 0) break;
      if (slots[2 * i + 1] === h && this.same(s - 1, w)) {
        recent[r] = s;
        recent[r + 1] = h;
        this.found = s - 1;
        return -1;
      }
      i = (i + 1) & mask;
    }
    const id = this.size;
    const k = id >>> this.shift;
    if (k === this.chunks.length) {
      if (this.size >= 0x7ffffffe) throw new StoreFull(`the store holds ${this.size} states, the most ids it can give`);
      const c = new Int32Array(this.perChunk * this.words);
      this.chunks.push(c);
      this.chunkBytes.push(new Uint8Array(c.buffer));
    }
    const c = this.chunks[k];
    const at = (id & (this.perChunk - 1)) * this.words;
    for (let j = 0; j < this.words; j++) c[at + j] = w[j];
    slots[2 * i] = id + 1;
    slots[2 * i + 1] = h;
    recent[r] = id + 1;
    recent[r + 1] = h;
    this.size++;
    if (this.size > MAX_LOAD * (mask + 1)) this.grow();
    return id;
  }

  private grow(): void {
    const old = this.slots;
    const cap = (this.mask + 1) * 2;
    if (2 * cap > 2 ** 31 - 1) throw new StoreFull(`the state table cannot grow past ${this.mask + 1} slots`);
    const slots = new Int32Array(2 * cap);
    const mask = cap - 1;
    for (let j = 0; j < old.length; j += 2) {
      if (old[j] === 0) continue;
      const h = old[j + 1];
      let i = h & mask;
      while (slots[2 * i] !== 0) i = (i + 1) & mask;
      slots[2 * i] = old[j];
      slots[2 * i + 1] = h;
    }
    this.slots = slots;
    this.mask = mask;
  }
}

/** Exact storage for states of `stride` bytes (a schema's), or of varying sizes (Immutable values). */
export function exactStoreFor(stride: number | undefined): StateStore {
  return stride === undefined ? new ExactStore() : new FixedStore(stride);
}
