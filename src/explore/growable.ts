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

/**
 * How each stored state was first reached: its parent's id and the index of the action taken
 * there. Under BFS the explorer expands states in id order and stores a state's new successors
 * consecutively, so the parents of states numInit, numInit+1, … are non-decreasing: it suffices to
 * count, per expanded state, how many new states it stored (one byte; 255 means "see the
 * overflow map"), with a running total every 64 expansions to find a parent by binary search and
 * a short scan. Action indices take one byte until one exceeds 255, then two. So a state costs
 * about 2 bytes here instead of 6 (a fingerprint run stays within 16 bytes per state). Under DFS
 * expansion order is not id order: parents are kept as Int32 ids.
 */
export class PathColumns {
  private readonly bfs: boolean;
  private readonly parentIds = new Int32Column();
  /** BFS: new successors stored per expanded state, in expansion (= id) order. */
  private kids = new Uint8Array(1024);
  private expanded = 0;
  private readonly overflow = new Map<number, number>();
  /** BFS: the number of non-initial states stored before each block of 64 expansions. */
  private readonly totals = new Int32Column();
  private stored = 0;
  private actions8: Uint8Array | undefined = new Uint8Array(1024);
  private actions16: Uint16Array | undefined;
  private size = 0;
  /** Initial states: ids 0 … numInit-1, linked to the index of their init state. */
  private readonly initIndex: number[] = [];

  constructor(strategy: 'bfs' | 'dfs') {
    this.bfs = strategy === 'bfs';
  }

  /** State `id` (the expansion about to run) is expanded: BFS only needs it in id order. */
  startExpansion(id: number): void {
    if (!this.bfs) return;
    if (id !== this.expanded) throw new Error(`BFS expanded state ${id} out of order (expected ${this.expanded})`);
    if (this.expanded % 64 === 0) this.totals.push(this.stored);
    if (this.expanded === this.kids.length) {
      const bigger = new Uint8Array(this.kids.length * 2);
      bigger.set(this.kids);
      this.kids = bigger;
    }
    this.kids[this.expanded++] = 0;
  }

  /** Records the next id: an initial state (`from` = -1 - its index in init()) or a successor. */
  push(from: number, action: number): void {
    if (from < 0) {
      if (this.size !== this.initIndex.length) throw new Error('initial states must be stored first');
      this.initIndex.push(-1 - from);
    } else if (this.bfs) {
      const q = this.expanded - 1;
      if (from !== q) throw new Error(`BFS stored a successor of ${from} while expanding ${q}`);
      const k = this.kids[q];
      if (k < 255) this.kids[q] = k + 1;
      else this.overflow.set(q, (this.overflow.get(q) ?? 255) + 1);
      this.stored++;
    }
    if (!this.bfs) this.parentIds.push(from);
    this.pushAction(action < 0 ? 0 : action);
    this.size++;
  }

  private pushAction(a: number): void {
    if (this.actions8 && a > 255) {
      this.actions16 = new Uint16Array(this.actions8.length);
      this.actions16.set(this.actions8);
      this.actions8 = undefined;
    }
    const arr = this.actions8 ?? this.actions16!;
    let out = arr;
    if (this.size === arr.length) {
      out = arr instanceof Uint8Array ? new Uint8Array(arr.length * 2) : new Uint16Array(arr.length * 2);
      out.set(arr);
      if (out instanceof Uint8Array) this.actions8 = out;
      else this.actions16 = out;
    }
    out[this.size] = a;
  }

  private kidsOf(q: number): number {
    const k = this.kids[q];
    return k < 255 ? k : this.overflow.get(q)!;
  }

  /** The parent's id, or -1 - (index of the init state) for an initial state. */
  parent(id: number): number {
    const numInit = this.initIndex.length;
    if (id < numInit) return -1 - this.initIndex[id];
    if (!this.bfs) return this.parentIds.get(id);
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
    return (this.actions8 ?? this.actions16!)[id];
  }

  /** Bytes held, spare capacity included. */
  get byteSize(): number {
    return this.parentIds.byteSize + this.kids.byteLength + this.totals.byteSize + (this.actions8 ?? this.actions16!).byteLength;
  }

  /** Bytes the stored states use here (without spare capacity). */
  get usedBytes(): number {
    const actionBytes = this.actions8 ? 1 : 2;
    return this.bfs ? this.expanded + this.totals.length * 4 + this.size * actionBytes + this.overflow.size * 16 : this.size * (4 + actionBytes);
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
