import type { Strategy } from '../core/outcome.ts';
import { prefixedSize, putPrefixed, readPrefixed } from './growable.ts';

const LOG_CHUNK = 1 << 20;

/**
 * The states waiting to be expanded: their ids and depths in a flat Int32Array, BFS taking the
 * oldest (a FIFO with a moving head, compacted when the dead prefix is half the buffer: no
 * `Array.shift()`), DFS the newest. No Immutable object is kept: with an exact store the
 * explorer finds a state's bytes there by id; with a fingerprint store (`carriesBytes`) the
 * frontier keeps each state's encoded bytes in a log of 1 MiB chunks, freed as they are
 * consumed, and hands them back with the entry.
 */
export class Frontier {
  private entries = new Int32Array(3 * 1024);
  private head = 0;
  private tail = 0;
  private readonly stride: number;
  private log: Uint8Array[] = [];
  /** Bytes written in each log chunk (BFS reads up to it; DFS writes at its end). */
  private logUsed: number[] = [];
  private readPos = 0;

  /** Set by `take`. */
  id = 0;
  depth = 0;
  /** Set by `take` when the frontier carries bytes: the state is `bytes[start, end)`. */
  bytes: Uint8Array = new Uint8Array(0);
  start = 0;
  end = 0;

  constructor(
    private readonly strategy: Strategy,
    private readonly carriesBytes: boolean,
  ) {
    this.stride = carriesBytes && strategy === 'dfs' ? 3 : 2;
  }

  get size(): number {
    return (this.tail - this.head) / this.stride;
  }

  /** Bytes held now, spare capacity included. */
  get byteSize(): number {
    return this.entries.byteLength + this.log.length * LOG_CHUNK;
  }

  push(id: number, depth: number, b?: Uint8Array, n = 0): void {
    if (this.tail + this.stride > this.entries.length) this.makeRoom();
    const e = this.entries;
    e[this.tail++] = id;
    e[this.tail++] = depth;
    if (!this.carriesBytes || !b) return;
    const size = prefixedSize(n);
    let last = this.log.length - 1;
    if (last < 0 || this.logUsed[last] + size > this.log[last].length) {
      this.log.push(new Uint8Array(Math.max(LOG_CHUNK, size)));
      this.logUsed.push(0);
      last++;
    }
    const c = this.log[last];
    const p = this.logUsed[last];
    if (this.strategy === 'dfs') e[this.tail++] = p;
    this.logUsed[last] = putPrefixed(c, p, b, n);
  }

  /** Removes the next entry into `id`, `depth` (and `bytes`, `start`, `end`); the caller checks `size` first. */
  take(): void {
    const e = this.entries;
    if (this.strategy === 'dfs') {
      if (this.carriesBytes) {
        const at = e[--this.tail];
        const last = this.log.length - 1;
        this.readAt(this.log[last], at);
        // The popped entry is the newest bytes of the newest chunk: give them back.
        this.logUsed[last] = at;
        if (at === 0 && last > 0) {
          this.log.pop();
          this.logUsed.pop();
        }
      }
      this.depth = e[--this.tail];
      this.id = e[--this.tail];
      return;
    }
    this.id = e[this.head++];
    this.depth = e[this.head++];
    if (this.carriesBytes) {
      // BFS reads the log in the order it was written; a finished chunk is dropped.
      if (this.readPos === this.logUsed[0]) {
        this.log.shift();
        this.logUsed.shift();
        this.readPos = 0;
      }
      this.readAt(this.log[0], this.readPos);
      this.readPos = this.end;
    }
  }

  private readAt(c: Uint8Array, p: number): void {
    this.bytes = c;
    readPrefixed(c, p, this);
  }

  private makeRoom(): void {
    const live = this.tail - this.head;
    if (this.head > 0 && live * 2 <= this.entries.length) {
      this.entries.copyWithin(0, this.head, this.tail);
    } else {
      const bigger = new Int32Array(this.entries.length * 2);
      bigger.set(this.entries.subarray(this.head, this.tail));
      this.entries = bigger;
    }
    this.head = 0;
    this.tail = live;
  }
}
