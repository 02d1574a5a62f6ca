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
