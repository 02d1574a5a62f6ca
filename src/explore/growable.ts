import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

type IntArray = Int32Array | Uint32Array | Uint16Array;

/** A typed array that doubles when full: per-state columns (parent, action, offset). */
class Column<A extends IntArray> {
  protected data: A;
  length = 0;

  constructor(
    private readonly make: (n: number) => A,
    capacity = 1024,
  ) {
    this.data = make(capacity);
  }

  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = this.make(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }

  /** Appends every value of `values`. */
  pushAll(values: ArrayLike<number>): void {
    let cap = this.data.length;
    while (this.length + values.length > cap) cap *= 2;
    if (cap !== this.data.length) {
      const bigger = this.make(cap);
      bigger.set(this.data.subarray(0, this.length));
      this.data = bigger;
    }
    for (let i = 0; i < values.length; i++) this.data[this.length + i] = values[i];
    this.length += values.length;
  }

  get(i: number): number {
    return this.data[i];
  }

  /** The values pushed so far, as a view (valid until the next push). */
  get values(): A {
    return this.data.subarray(0, this.length) as A;
  }

  /** Bytes held, including spare capacity. */
  get byteSize(): number {
    return this.data.byteLength;
  }
}

export class Int32Column extends Column<Int32Array> {
  constructor(capacity = 1024) {
    super((n) => new Int32Array(n), capacity);
  }
}

export class Uint32Column extends Column<Uint32Array> {
  constructor(capacity = 1024) {
    super((n) => new Uint32Array(n), capacity);
  }
}

export class Uint16Column extends Column<Uint16Array> {
  constructor(capacity = 1024) {
    super((n) => new Uint16Array(n), capacity);
  }
}

/** Bytes per chunk of a ChunkedColumn. */
const CHUNK_BYTES = 1 << 16;

/**
 * An append-only column of unsigned integers of `width` bytes (1, 2 or 4) in 64 KiB chunks. With
 * a `spill` file, each full chunk is written there and dropped from memory, and a read of a
 * spilled value reads its chunk back (counterexamples only): memory stays at one chunk however
 * long the column grows. Where the file cannot be written, chunks stay in memory.
 */
export class ChunkedColumn {
  length = 0;
  private readonly perChunk: number;
  private chunks: (Uint8Array | undefined)[] = [];
  private spilled = 0;
  private cache: { index: number; bytes: Uint8Array } | undefined;

  constructor(
    private readonly width: 1 | 2 | 4,
    private readonly spill?: SpillFile,
  ) {
    this.perChunk = CHUNK_BYTES / width;
  }

  push(v: number): void {
    const c = Math.floor(this.length / this.perChunk);
    if (c === this.chunks.length) {
      if (c > 0 && this.spill?.write(this.chunks[c - 1]!)) {
        this.spill.noteChunk(this, c - 1);
        this.chunks[c - 1] = undefined;
        this.spilled++;
      }
      this.chunks.push(new Uint8Array(CHUNK_BYTES));
    }
    const at = (this.length % this.perChunk) * this.width;
    const chunk = this.chunks[c]!;
    chunk[at] = v & 255;
    if (this.width > 1) chunk[at + 1] = (v >>> 8) & 255;
    if (this.width > 2) {
      chunk[at + 2] = (v >>> 16) & 255;
      chunk[at + 3] = v >>> 24;
    }
    this.length++;
  }

  /** Rewrites the last value (it is always in memory). */
  setLast(v: number): void {
    const i = this.length - 1;
    const chunk = this.chunks[Math.floor(i / this.perChunk)]!;
    const at = (i % this.perChunk) * this.width;
    for (let k = 0; k < this.width; k++) chunk[at + k] = (v >>> (8 * k)) & 255;
  }

  get(i: number): number {
    const c = Math.floor(i / this.perChunk);
    let chunk = this.chunks[c];
    if (!chunk) {
      if (this.cache?.index !== c) this.cache = { index: c, bytes: this.spill!.read(this, c) };
      chunk = this.cache.bytes;
    }
    const at = (i % this.perChunk) * this.width;
    if (this.width === 1) return chunk[at];
    if (this.width === 2) return chunk[at] | (chunk[at + 1] << 8);
    return (chunk[at] | (chunk[at + 1] << 8) | (chunk[at + 2] << 16) | (chunk[at + 3] << 24)) >>> 0;
  }

  /** Bytes held in memory. */
  get byteSize(): number {
    return (this.chunks.length - this.spilled) * CHUNK_BYTES;
  }

  /** Bytes the values take in memory (without the spare room of the last chunk). */
  get usedBytes(): number {
    return Math.max(0, this.length * this.width - this.spilled * CHUNK_BYTES);
  }
}

/**
 * A temporary file that ChunkedColumns write their full chunks to (fingerprint storage: TLC
 * keeps its trace on disk for the same reason). Created in the OS temporary folder on first
 * use, deleted at exit. If it cannot be written (no space, no folder), columns keep their
 * chunks in memory and say nothing: the search is unaffected, only its memory per state grows.
 */
export class SpillFile {
  private fd: number | undefined;
  private path: string | undefined;
  private next = 0;
  private broken = false;
  private readonly where = new Map<ChunkedColumn, Map<number, number>>();
  private pending: number | undefined;
  /** Bytes written. */
  written = 0;

  write(chunk: Uint8Array): boolean {
    if (this.broken) return false;
    try {
      if (this.fd === undefined) {
        this.path = join(mkdtempSync(join(tmpdir(), 'mc-paths-')), 'paths');
        this.fd = openSync(this.path, 'w+');
        const path = this.path;
        process.once('exit', () => this.close(path));
      }
      writeSync(this.fd, chunk, 0, chunk.length, this.next);
    } catch {
      this.broken = true;
      return false;
    }
    this.pending = this.next;
    this.next += chunk.length;
    this.written += chunk.length;
    return true;
  }

  noteChunk(column: ChunkedColumn, index: number): void {
    let m = this.where.get(column);
    if (!m) this.where.set(column, (m = new Map()));
    m.set(index, this.pending!);
  }

  read(column: ChunkedColumn, index: number): Uint8Array {
    const at = this.where.get(column)?.get(index);
    if (at === undefined || this.fd === undefined) throw new Error(`path column chunk ${index} is neither in memory nor on disk`);
    const bytes = new Uint8Array(CHUNK_BYTES);
    readSync(this.fd, bytes, 0, CHUNK_BYTES, at);
    return bytes;
  }

  private close(path: string): void {
    try {
      if (this.fd !== undefined) closeSync(this.fd);
      rmSync(dirname(path), { recursive: true, force: true });
    } catch {
      // Best effort: the OS cleans its temporary folder.
    }
    this.fd = undefined;
  }

  /** Closes and deletes the file (a finished search whose counterexamples are built). */
  dispose(): void {
    if (this.path) this.close(this.path);
  }
}

/**
 * How each stored state was first reached: its parent's id and the index of the action taken
 * there. Under BFS the explorer expands states in id order and stores a state's new successors
 * consecutively, so the parents of states numInit, numInit+1, … are non-decreasing: it suffices to
 * count, per expanded state, how many new states it stored (one byte; 255 means "see the
 * overflow map"), with a running total every 64 expansions to find a parent by binary search and
 * a short scan. Action indices take one byte, and a second column holds their high bytes from
 * the first one past 255 on. So a state costs about 2 bytes here instead of 6. Under DFS
 * expansion order is not id order: parents are kept as 4-byte ids. With a SpillFile (fingerprint
 * storage) the byte columns live on disk but for their last chunk.
 */
export class PathColumns {
  private readonly bfs: boolean;
  private readonly parentIds: ChunkedColumn;
  /** BFS: new successors stored per expanded state, in expansion (= id) order. */
  private readonly kids: ChunkedColumn;
  private expanded = 0;
  private readonly overflow = new Map<number, number>();
  /** BFS: the number of non-initial states stored before each block of 64 expansions. */
  private readonly totals = new Int32Column();
  private stored = 0;
  private readonly actions: ChunkedColumn;
  /** High bytes of the actions from `highFrom` on (undefined while every action fits a byte). */
  private high: ChunkedColumn | undefined;
  private highFrom = 0;
  private size = 0;
  /** Initial states: ids 0 … numInit-1, linked to the index of their init state. */
  private readonly initIndex: number[] = [];

  constructor(
    strategy: 'bfs' | 'dfs',
    private readonly spill?: SpillFile,
  ) {
    this.bfs = strategy === 'bfs';
    this.parentIds = new ChunkedColumn(4, spill);
    this.kids = new ChunkedColumn(1, spill);
    this.actions = new ChunkedColumn(1, spill);
  }

  /** State `id` (the expansion about to run) is expanded: BFS only needs it in id order. */
  startExpansion(id: number): void {
    if (!this.bfs) return;
    if (id !== this.expanded) throw new Error(`BFS expanded state ${id} out of order (expected ${this.expanded})`);
    if (this.expanded % 64 === 0) this.totals.push(this.stored);
    this.kids.push(0);
    this.expanded++;
  }

  /** Records the next id: an initial state (`from` = -1 - its index in init()) or a successor. */
  push(from: number, action: number): void {
    if (from < 0) {
      if (this.size !== this.initIndex.length) throw new Error('initial states must be stored first');
      this.initIndex.push(-1 - from);
    } else if (this.bfs) {
      const q = this.expanded - 1;
      if (from !== q) throw new Error(`BFS stored a successor of ${from} while expanding ${q}`);
      this.bumpKids(q);
      this.stored++;
    }
    if (!this.bfs) this.parentIds.push(from);
    const a = action < 0 ? 0 : action;
    if (a > 255 && !this.high) {
      this.high = new ChunkedColumn(1, this.spill);
      this.highFrom = this.size;
    }
    this.actions.push(a & 255);
    this.high?.push(a >>> 8);
    this.size++;
  }

  /** One more new successor of the state being expanded (the last kids entry, in memory). */
  private bumpKids(q: number): void {
    const k = this.kids.get(q);
    if (k < 255) this.kids.setLast(k + 1);
    else this.overflow.set(q, (this.overflow.get(q) ?? 255) + 1);
  }

  private kidsOf(q: number): number {
    const k = this.kids.get(q);
    return k < 255 ? k : this.overflow.get(q)!;
  }

  /** The parent's id, or -1 - (index of the init state) for an initial state. */
  parent(id: number): number {
    const numInit = this.initIndex.length;
    if (id < numInit) return -1 - this.initIndex[id];
    if (!this.bfs) return this.parentIds.get(id) | 0;
    const n = id - numInit;
    // The last block whose running total is <= n, then a scan within it.
    let lo = 0;
    let hi = this.totals.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.totals.get(mid) <= n) lo = mid;
      else hi = mid - 1;
    }
    let q = lo * 64;
    let before = this.totals.get(lo);
    for (;;) {
      const k = this.kidsOf(q);
      if (n < before + k) return q;
      before += k;
      q++;
    }
  }

  action(id: number): number {
    const low = this.actions.get(id);
    return this.high && id >= this.highFrom ? low | (this.high.get(id - this.highFrom) << 8) : low;
  }

  /** Bytes held in memory, spare capacity included. */
  get byteSize(): number {
    return this.parentIds.byteSize + this.kids.byteSize + this.totals.byteSize + this.actions.byteSize + (this.high?.byteSize ?? 0);
  }

  /** Bytes the stored states use here in memory (without spare capacity). */
  get usedBytes(): number {
    return this.parentIds.usedBytes + this.kids.usedBytes + this.totals.length * 4 + this.actions.usedBytes + (this.high?.usedBytes ?? 0) + this.overflow.size * 16;
  }
}

/**
 * Length-prefixed byte entries, as the state arena and the frontier's log keep states: a
 * varint length, then the bytes. `prefixedSize` is the room an entry of n bytes needs.
 */
export function prefixedSize(n: number): number {
  return (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4) + n;
}

/** Writes `b[0, n)` with its length at `c[p]`; returns the position after it. */
export function putPrefixed(c: Uint8Array, p: number, b: Uint8Array, n: number): number {
  let m = n;
  while (m >= 0x80) {
    c[p++] = (m & 0x7f) | 0x80;
    m >>>= 7;
  }
  c[p++] = m;
  // A loop: for states of tens of bytes it beats set(subarray()), which allocates a view.
  for (let i = 0; i < n; i++) c[p + i] = b[i];
  return p + n;
}

/** Where the bytes of the entry at `c[p]` are: sets `at.start` and `at.end`. */
export function readPrefixed(c: Uint8Array, p: number, at: { start: number; end: number }): void {
  let n = 0;
  let scale = 1;
  for (;;) {
    const b = c[p++];
    n += (b & 0x7f) * scale;
    if (b < 0x80) break;
    scale *= 0x80;
  }
  at.start = p;
  at.end = p + n;
}
