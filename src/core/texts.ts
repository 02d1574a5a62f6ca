import { CapacityError, ModelError } from './errors.ts';

/**
 * The texts a schema's `t.text()` fields hold, numbered as they first appear: a state keeps a
 * text's 4-byte number, so equal texts give equal bytes and different ones different bytes,
 * exactly. One table serves one run. Under --workers every thread must number texts alike: the
 * table then lives in a SharedArrayBuffer (`TextTable.shared()`), appended to under a lock
 * (rare: once per distinct text) and read without one, since the count is published after the
 * text.
 *
 * Shared layout: Int32 [lock, count, units used], then an Int32 start offset per text, then the
 * texts as UTF-16 code units.
 */
const HEAD = 3;
const MAX_TEXTS = 1 << 16;

export class TextTable {
  private readonly ids = new Map<string, number>();
  private readonly texts: string[] = [];
  private readonly meta?: Int32Array;
  private readonly units?: Uint16Array;

  constructor(readonly sab?: SharedArrayBuffer) {
    if (sab) {
      this.meta = new Int32Array(sab, 0, HEAD + MAX_TEXTS + 1);
      this.units = new Uint16Array(sab, 4 * (HEAD + MAX_TEXTS + 1));
    }
  }

  /** A table every thread given the same buffer shares. */
  static shared(bytes = 16 << 20): SharedArrayBuffer {
    return new SharedArrayBuffer(bytes);
  }

  /** The number of `text`, giving it the next one if it has none yet. */
  id(text: string): number {
    const known = this.ids.get(text);
    if (known !== undefined) return known;
    if (typeof text !== 'string') throw new ModelError(`${JSON.stringify(text)} is not a text`);
    if (!this.meta) return this.add(text);
    const meta = this.meta;
    while (Atomics.compareExchange(meta, 0, 0, 1) !== 0);
    try {
      // Another thread may have added it meanwhile.
      this.sync();
      return this.ids.get(text) ?? this.publish(text);
    } finally {
      Atomics.store(meta, 0, 0);
    }
  }

  text(id: number): string {
    if (id >= this.texts.length && this.meta) this.sync();
    const t = this.texts[id];
    if (t === undefined) throw new Error(`text ${id} is not in the table`);
    return t;
  }

  private add(text: string): number {
    const id = this.texts.length;
    if (id >= 2 ** 32 - 1) throw new CapacityError('more than 2^32 distinct texts in t.text() fields');
    this.texts.push(text);
    this.ids.set(text, id);
    return id;
  }

  /** Reads the texts other threads added since the last look. */
  private sync(): void {
    const meta = this.meta!;
    const count = Atomics.load(meta, 1);
    for (let i = this.texts.length; i < count; i++) {
      const from = meta[HEAD + i];
      const to = meta[HEAD + i + 1];
      let s = '';
      for (let k = from; k < to; k++) s += String.fromCharCode(this.units![k]);
      this.add(s);
    }
  }

  /** Appends `text` to the shared table (the lock is held). */
  private publish(text: string): number {
    const meta = this.meta!;
    const id = Atomics.load(meta, 1);
    if (id >= MAX_TEXTS) throw new CapacityError(`the shared text table holds ${MAX_TEXTS} texts, the most it can (t.text() fields under --workers)`);
    const at = meta[2];
    if (at + text.length > this.units!.length) throw new CapacityError(`the shared text table is full (${this.units!.length} characters of t.text() fields under --workers)`);
    for (let k = 0; k < text.length; k++) this.units![at + k] = text.charCodeAt(k);
    meta[HEAD + id] = at;
    meta[HEAD + id + 1] = at + text.length;
    meta[2] = at + text.length;
    Atomics.store(meta, 1, id + 1);
    return this.add(text);
  }
}
