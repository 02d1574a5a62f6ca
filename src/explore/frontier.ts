import type { Strategy } from '../core/outcome.ts';

/**
 * The states waiting to be expanded, with their ids. BFS takes the oldest (a FIFO queue with a
 * moving head, compacted when the dead prefix is half the array: no `Array.shift()`); DFS takes
 * the newest. Everything else about the search is shared.
 */
export class Frontier<S> {
  private ids: number[] = [];
  private states: S[] = [];
  private head = 0;

  constructor(private readonly strategy: Strategy) {}

  get size(): number {
    return this.ids.length - this.head;
  }

  push(id: number, state: S): void {
    this.ids.push(id);
    this.states.push(state);
  }

  /** Removes and returns the next entry; the caller checks `size` first. */
  take(): { id: number; state: S } {
    if (this.strategy === 'dfs') return { id: this.ids.pop()!, state: this.states.pop()! };
    const i = this.head++;
    const entry = { id: this.ids[i], state: this.states[i] };
    this.states[i] = undefined as S;
    if (this.head > 4096 && this.head * 2 > this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.states = this.states.slice(this.head);
      this.head = 0;
    }
    return entry;
  }
}
