/**
 * The visited set of a parallel search (--workers): one open-addressing hash table in a
 * SharedArrayBuffer that every thread inserts into with compare-and-swap, after Laarman, van de
 * Pol and Weber, "Boosting multi-core reachability performance with shared hash tables" (FMCAD
 * 2010). A thread claims an empty slot by swapping in BUSY, writes the state (exact: its bytes
 * into a shared arena; fingerprint: the fingerprint's high word), then publishes the slot with
 * an atomic store; a thread that meets a BUSY slot waits the few instructions until it is
 * published. Slots are never removed, so a published slot never changes.
 *
 * Every state inserted gets an index from a shared counter, which threads take RESERVE at a
 * time (one contended atomic add per RESERVE states, not per state), so the states inserted
 * while a BFS level is expanded have indices in one range, the next level, with holes where a
 * thread's reservation was left unused at the end of the level. Exact: the index places the
 * state in the arena. Fingerprint: the slot keeps the index, and the thread writes the state's
 * bytes into the next level's log at index - levelStart.
 *
 * The table does not grow while threads use it: when it passes GROW_AT, the inserting thread
 * raises a flag, every thread stops at its next chunk of work, and the coordinator rehashes
 * (parallel.ts). A thread that finds it fuller than FULL_AT abandons its chunk (TableFull), to
 * be redone after the growth.
 */
import { hashWords, StoreFull, WordView } from './store.ts';

const SEED_A = 0x9747b28c;
const SEED_B = 0x2f1e6d35;
/** A slot being written: its first word while the claiming thread writes the rest. */
const BUSY = -1;
export const GROW_AT = 0.7;
const FULL_AT = 0.9;
/** Indices a thread takes from the shared counter at a time. */
const RESERVE = 256;

/** Thrown by `insert` when the table is too full to take more: the chunk is redone after the table grows. */
export class TableFull extends Error {}

/** Shared control words (an Int32Array over a SharedArrayBuffer). */
export const C = {
  /** Next state index (arena or level-log place). */
  COUNT: 0,
  /** Next chunk of the level to take. */
  NEXT: 1,
  /** Non-zero: stop at the next chunk (a StopCode). */
  STOP: 2,
  /** Non-zero: the table is full enough to grow; stop at the next chunk. */
  GROW: 3,
  SIZE: 16,
} as const;

export const STOP_MAX_STATES = 1;
export const STOP_REQUESTED = 2;

/** Growable SharedArrayBuffers hold at most this (Node 20). */
const MAX_SAB = 2 ** 32;

/** A growable shared byte area read through views refreshed when it has grown. */
export class SharedArea {
  bytes: Uint8Array;
  words: Int32Array;
  constructor(readonly sab: SharedArrayBuffer) {
    this.bytes = new Uint8Array(sab, 0, sab.byteLength);
    this.words = new Int32Array(sab, 0, sab.byteLength >>> 2);
  }
  static create(initial = 1 << 20): SharedArrayBuffer {
    return new SharedArrayBuffer(initial, { maxByteLength: MAX_SAB });
  }
  /** Makes room for byte `end` (exclusive): grows the buffer when needed (any thread may). */
  ensure(end: number): void {
    if (end <= this.bytes.length) return;
    const sab = this.sab;
    if (end > sab.byteLength) {
      if (end > sab.maxByteLength) throw new StoreFull(`a shared buffer of the parallel search is full (${sab.maxByteLength / 2 ** 20} MiB)`);
      const want = Math.min(sab.maxByteLength, Math.max(end, Math.ceil(sab.byteLength * 1.5)));
      try {
        sab.grow(want - (want % 8));
      } catch {
        // Another thread grew it meanwhile.
      }
      if (end > sab.byteLength) sab.grow(Math.min(sab.maxByteLength, end + 8 - (end % 8)));
    }
    this.bytes = new Uint8Array(sab, 0, sab.byteLength);
    this.words = new Int32Array(sab, 0, sab.byteLength >>> 2);
  }
}

/** What every thread of a parallel search shares of the store. */
export interface SharedStoreSetup {
  readonly exact: boolean;
  readonly stride: number;
  readonly control: SharedArrayBuffer;
  readonly table: SharedArrayBuffer;
  /** Exact: the arena of state bytes, stride bytes per index. */
  readonly arena?: SharedArrayBuffer;
}

/** Words per table slot: exact (index + 1, hash); fingerprint (low, high, index). */
const slotWords = (exact: boolean) => (exact ? 2 : 3);

export function newTable(exact: boolean, capacity: number): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * slotWords(exact) * capacity);
}

/**
 * One thread's handle on the shared store. `insert` returns the new state's index, or -1 - the
 * index of the stored state (exact), or -1 - its index for a fingerprint (the slot keeps it).
 */
export class SharedStore {
  readonly exact: boolean;
  readonly control: Int32Array;
  private table!: Int32Array;
  private capacity = 0;
  private mask = 0;
  private readonly words: number;
  private readonly arena?: SharedArea;
  private readonly view = new WordView();
  private readonly slotWords: number;
  /** This thread's reserved indices: the next one and the end of the reservation. */
  private nextIndex = 0;
  private endIndex = 0;
  /** States this thread inserted (the shared counter also counts unused reservations). */
  inserted = 0;
  /** This thread's states seen lately, by hash (index + 1, hash): most duplicates are found here, without touching the shared table. */
  private readonly recent = new Int32Array(2 << 16);

  constructor(readonly setup: SharedStoreSetup) {
    this.exact = setup.exact;
    this.control = new Int32Array(setup.control);
    this.words = setup.stride >>> 2;
    this.slotWords = slotWords(setup.exact);
    if (setup.arena) this.arena = new SharedArea(setup.arena);
    this.useTable(setup.table);
  }

  private tableBuffer?: SharedArrayBuffer;

  useTable(sab: SharedArrayBuffer): void {
    if (sab === this.tableBuffer) return;
    this.tableBuffer = sab;
    this.table = new Int32Array(sab);
    this.capacity = this.table.length / this.slotWords;
    this.mask = this.capacity - 1;
  }

  get count(): number {
    return Atomics.load(this.control, C.COUNT);
  }

  /** The arena's bytes and where state `index` starts in them (exact). */
  arenaBytes(index: number): Uint8Array {
    const a = this.arena!;
    if ((index + 1) * this.setup.stride > a.bytes.length) a.ensure((index + 1) * this.setup.stride);
    return a.bytes;
  }

  private sameAt(index: number, w: Int32Array): boolean {
    const a = this.arena!;
    const at = index * this.words;
    if (at + this.words > a.words.length) a.ensure((index + 1) * this.setup.stride);
    const arena = a.words;
    for (let k = 0; k < this.words; k++) if (arena[at + k] !== w[k]) return false;
    return true;
  }

  /** Looks the state b[0, stride) up: its index if stored, else -1. */
  find(b: Uint8Array): number {
    const w = this.view.of(b);
    const t = this.table;
    const mask = this.mask;
    if (this.exact) {
      const h = hashWords(w, 0, this.words, SEED_A);
      const r = 2 * ((h >>> 8) & 0xffff);
      const seen = this.recent[r];
      if (seen !== 0 && this.recent[r + 1] === h && this.sameAt(seen - 1, w)) return seen - 1;
      for (let i = h & mask; ; i = (i + 1) & mask) {
        let s = Atomics.load(t, 2 * i);
        while (s === BUSY) s = Atomics.load(t, 2 * i);
        if (s === 0) return -1;
        if (t[2 * i + 1] === h && this.sameAt(s - 1, w)) return s - 1;
      }
    }
    const lo = fpLow(hashWords(w, 0, this.words, SEED_A));
    const hi = hashWords(w, 0, this.words, SEED_B);
    for (let i = fpHome(lo, this.capacity); ; i = i + 1 === this.capacity ? 0 : i + 1) {
      let l = Atomics.load(t, 3 * i);
      while (l === BUSY) l = Atomics.load(t, 3 * i);
      if (l === 0) return -1;
      if (l === lo && t[3 * i + 1] === hi) return t[3 * i + 2];
    }
  }

  /**
   * Inserts the state b[0, stride) unless stored: its new index (>= 0), or -1 - the index it
   * has. Exact: also writes its bytes into the arena.
   */
  insert(b: Uint8Array): number {
    const w = this.view.of(b);
    const t = this.table;
    const mask = this.mask;
    // An index in hand before a slot is claimed: a full table throws here, and no slot stays BUSY.
    if (this.nextIndex === this.endIndex) this.reserve();
    if (this.exact) {
      const h = hashWords(w, 0, this.words, SEED_A);
      const recent = this.recent;
      const r = 2 * ((h >>> 8) & 0xffff);
      const seen = recent[r];
      if (seen !== 0 && recent[r + 1] === h && this.sameAt(seen - 1, w)) return -seen;
      for (let i = h & mask; ; i = (i + 1) & mask) {
        let s = Atomics.load(t, 2 * i);
        if (s === 0) {
          s = Atomics.compareExchange(t, 2 * i, 0, BUSY);
          if (s === 0) {
            // The arena has room for every reserved index (reserve).
            const index = this.claim();
            const at = index * this.words;
            const arena = this.arena!.words;
            for (let k = 0; k < this.words; k++) arena[at + k] = w[k];
            t[2 * i + 1] = h;
            Atomics.store(t, 2 * i, index + 1);
            recent[r] = index + 1;
            recent[r + 1] = h;
            return index;
          }
        }
        while (s === BUSY) s = Atomics.load(t, 2 * i);
        if (t[2 * i + 1] === h && this.sameAt(s - 1, w)) {
          recent[r] = s;
          recent[r + 1] = h;
          return -s;
        }
      }
    }
    const lo = fpLow(hashWords(w, 0, this.words, SEED_A));
    const hi = hashWords(w, 0, this.words, SEED_B);
    for (let i = fpHome(lo, this.capacity); ; i = i + 1 === this.capacity ? 0 : i + 1) {
      let l = Atomics.load(t, 3 * i);
      if (l === 0) {
        l = Atomics.compareExchange(t, 3 * i, 0, BUSY);
        if (l === 0) {
          const index = this.claim();
          t[3 * i + 1] = hi;
          t[3 * i + 2] = index;
          Atomics.store(t, 3 * i, lo);
          return index;
        }
      }
      while (l === BUSY) l = Atomics.load(t, 3 * i);
      if (l === lo && t[3 * i + 1] === hi) return -1 - t[3 * i + 2];
    }
  }

  /** Takes RESERVE more indices; past GROW_AT of the table asks every thread to stop for it to grow, past FULL_AT throws. */
  private reserve(): void {
    const from = Atomics.load(this.control, C.COUNT);
    if (from + RESERVE > FULL_AT * this.capacity) throw new TableFull(`the shared table is over ${100 * FULL_AT}% full`);
    this.nextIndex = Atomics.add(this.control, C.COUNT, RESERVE);
    this.endIndex = this.nextIndex + RESERVE;
    this.arena?.ensure(this.endIndex * this.setup.stride);
    if (this.endIndex > GROW_AT * this.capacity) Atomics.store(this.control, C.GROW, 1);
  }

  /** The next reserved index (one is in hand: see insert). */
  private claim(): number {
    this.inserted++;
    return this.nextIndex++;
  }

  /** Gives up the rest of this thread's reservation (at the end of a level: the next level's indices come after it). */
  release(): void {
    this.nextIndex = this.endIndex = 0;
  }

  /**
   * Growing the table, which every thread does for its `part` of `parts` while no thread
   * inserts: copies the published slots of the old table into `to` (a new table of a power of
   * two slots), claiming slots with compare-and-swap as insertions do. Exact slots keep their
   * hash; fingerprints are placed by their low word.
   */
  rehashInto(to: SharedArrayBuffer, part: number, parts: number): void {
    const dst = new Int32Array(to);
    const from = this.table;
    const sw = this.slotWords;
    const capacity = dst.length / sw;
    const mask = capacity - 1;
    const slots = from.length / sw;
    const lo = Math.floor((slots * part) / parts);
    const hi = Math.floor((slots * (part + 1)) / parts);
    for (let j = lo * sw; j < hi * sw; j += sw) {
      const first = from[j];
      if (first === 0) continue;
      let i = this.exact ? from[j + 1] & mask : fpHome(first, capacity);
      while (Atomics.compareExchange(dst, sw * i, 0, first) !== 0) i = (i + 1) & mask;
      for (let k = 1; k < sw; k++) dst[sw * i + k] = from[j + k];
    }
  }

  get tableSab(): SharedArrayBuffer {
    return this.tableBuffer!;
  }

  get tableCapacity(): number {
    return this.capacity;
  }

  get tableBytes(): number {
    return this.table.byteLength;
  }

  /** Whether state `index`'s bytes are b[0, n) (exact). */
  matchesIndex(index: number, b: Uint8Array, n: number): boolean {
    return n === this.setup.stride && this.sameAt(index, this.view.of(b));
  }
}

/** A fingerprint's low word, never 0 (an empty slot) or BUSY. */
function fpLow(h: number): number {
  return h === 0 || h === BUSY ? 2 : h;
}

function fpHome(lo: number, capacity: number): number {
  return Math.min(capacity - 1, Math.floor(((lo >>> 0) / 2 ** 32) * capacity));
}
