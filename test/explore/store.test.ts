import fc from 'fast-check';
import { is, List, Map as ImmMap, OrderedMap, Record, Set as ImmSet } from 'immutable';
import { describe, expect, it } from 'vitest';
import { ByteWriter, StateCodec } from '../../src/core/codec.ts';
import { stateKey } from '../../src/core/value.ts';
import { ExactStore, FingerprintStore } from '../../src/explore/store.ts';
import { PathColumns } from '../../src/explore/growable.ts';
import { anyModel, explore } from '../../src/index.ts';
import philosophers from '../../bench/models/philosophers.ts';

const Cpu = Record({ id: 0, irqsOff: false, held: List<number>() }, 'Cpu');
const Other = Record({ id: 0, irqsOff: false, held: List<number>() }, 'Other');

/** Random Immutable values of the kinds models use, small enough to collide often. */
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.integer({ min: -3, max: 3 }),
    fc.constantFrom(127, 128, 300, -200, 2 ** 40, 0.5, NaN, -0),
    fc.boolean(),
    fc.constantFrom(null, undefined, 'a', 'b', '', 'cpu0'),
  ),
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 3 }).map((xs) => List(xs)),
    fc.array(fc.tuple(fc.constantFrom<unknown>(0, 1, 'x', 'y'), tie('node')), { maxLength: 3 }).map((es) => ImmMap(es)),
    fc.array(fc.tuple(fc.constantFrom<unknown>(0, 1, 'x'), tie('node')), { maxLength: 3 }).map((es) => OrderedMap(es)),
    fc.array(fc.constantFrom<unknown>(0, 1, 2, 'x', true), { maxLength: 3 }).map((xs) => ImmSet(xs)),
    fc.tuple(fc.integer({ min: 0, max: 2 }), fc.boolean(), fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 2 }), fc.boolean()).map(([id, off, held, other]) =>
      (other ? Other : Cpu)({ id, irqsOff: off, held: List(held) }),
    ),
  ),
})).node;

function encoder() {
  const codec = new StateCodec();
  const out = new ByteWriter(4);
  return {
    codec,
    out,
    encode(v: unknown) {
      out.length = 0;
      codec.encode(v, out);
      return out;
    },
  };
}

describe('state codec', () => {
  it('decodes Records and small Lists (built from their arrays) that behave as Immutable built them', () => {
    const e = encoder();
    const v = Cpu({ id: 3, held: List([1, 2, 3]) });
    const out = e.encode(v);
    const d = e.codec.decode(out.bytes, 0, out.length) as typeof v;
    expect(d.hashCode()).toBe(v.hashCode());
    expect(d.held.push(4).set(0, 9).toArray()).toEqual([9, 2, 3, 4]);
    expect(is(d.set('irqsOff', true), v.set('irqsOff', true))).toBe(true);
    expect(is(d.set('id', 0), Cpu({ held: List([1, 2, 3]) }))).toBe(true);
    // A model's class over a Record type: decoded as that class, its own getters kept.
    class Item extends Record({ n: 0, m: 1 }, 'Item') {
      override get m(): number {
        return 42;
      }
      bumped(): Item {
        return this.set('n', this.n + 1);
      }
    }
    const io = e.encode(List([new Item({ n: 3 })]));
    const item = (e.codec.decode(io.bytes, 0, io.length) as List<Item>).get(0)!;
    expect([item instanceof Item, item.n, item.m, item.bumped().n, item.bumped() instanceof Item]).toEqual([true, 3, 42, 4, true]);
    const long = List(Array.from({ length: 40 }, (_, i) => i));
    const lo = e.encode(long);
    expect(is(e.codec.decode(lo.bytes, 0, lo.length), long)).toBe(true);
  });

  it('decodes every state to an equal value', () => {
    fc.assert(
      fc.property(value, (v) => {
        const e = encoder();
        const out = e.encode(v);
        expect(is(e.codec.decode(out.bytes, 0, out.length), v)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('gives equal values equal bytes, whatever the insertion order of a Map or Set', () => {
    const e = encoder();
    const a = [...e.encode(ImmMap<unknown, unknown>([[1, 'x'], [2, 'y'], ['k', List([1])]])).bytes.subarray(0, e.out.length)];
    const b = [...e.encode(ImmMap<unknown, unknown>([['k', List([1])], [2, 'y'], [1, 'x']])).bytes.subarray(0, e.out.length)];
    expect(b).toEqual(a);
    const s1 = [...e.encode(ImmSet([3, 1, 2])).bytes.subarray(0, e.out.length)];
    const s2 = [...e.encode(ImmSet([2, 3, 1])).bytes.subarray(0, e.out.length)];
    expect(s2).toEqual(s1);
  });

  it('encodes a small-integer record in a few bytes', () => {
    const e = encoder();
    // tag, type, id, irqsOff, list tag, count, two items
    expect(e.encode(Cpu({ id: 1, irqsOff: true, held: List([0, 2]) })).length).toBe(8);
  });

  it('refuses a plain object with the path where it sits', () => {
    const e = encoder();
    expect(() => e.encode(Cpu({ id: 0, irqsOff: false, held: List([{ a: 1 }]) as unknown as List<number> }))).toThrow(
      /plain object at held\[0\]/,
    );
  });
});

describe('state stores', () => {
  it('the exact store never merges two different states and always finds an equal one', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 60 }), (vs) => {
        const e = encoder();
        const store = new ExactStore();
        const seen: unknown[] = [];
        for (const v of vs) {
          const out = e.encode(v);
          // The baseline: stateKey, the canonical text key (Immutable.is would also equate
          // two Record types with equal fields; states of different types stay apart).
          const before = seen.findIndex((w) => stateKey(w) === stateKey(v));
          const id = store.add(out.bytes, out.length);
          if (before >= 0) expect(id).toBe(-1);
          else {
            expect(id).toBe(seen.length);
            seen.push(v);
          }
          expect(store.contains(out.bytes, out.length)).toBe(true);
        }
        expect(store.size).toBe(seen.length);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps 100000 byte strings apart through table growth and hash collisions in the low bits', () => {
    const store = new ExactStore();
    const reference = new Map<string, number>();
    const b = new Uint8Array(6);
    const view = new DataView(b.buffer);
    const fill = (i: number): number => {
      view.setUint32(0, Math.imul(i, 0x9e3779b1) & 0x3ffff);
      b[4] = i & 1;
      b[5] = i % 7;
      return 3 + (i % 4);
    };
    let wrong = 0;
    for (let i = 0; i < 100_000; i++) {
      const n = fill(i);
      const text = b.subarray(0, n).join(',');
      const id = store.add(b, n);
      const known = reference.get(text);
      if (known === undefined) {
        if (id !== reference.size) wrong++;
        reference.set(text, id);
      } else if (id !== -1) wrong++;
    }
    expect(wrong).toBe(0);
    expect(store.size).toBe(reference.size);
    // Every stored state reads back as written.
    for (const [text, id] of reference) {
      const bytes = Uint8Array.from(text.split(',').map(Number));
      if (!store.matches(id, bytes, bytes.length)) wrong++;
    }
    expect(wrong).toBe(0);
  });

  it('the fingerprint store finds every stored state again', () => {
    const store = new FingerprintStore();
    const b = new Uint8Array(4);
    for (let i = 0; i < 50_000; i++) {
      new DataView(b.buffer).setUint32(0, i);
      expect(store.add(b, 4)).toBe(i);
    }
    for (let i = 0; i < 50_000; i++) {
      new DataView(b.buffer).setUint32(0, i);
      expect(store.contains(b, 4)).toBe(true);
    }
    expect(store.size).toBe(50_000);
  });
});

describe('path columns', () => {
  it('give back every parent and action, BFS (counted per expansion) and DFS (ids), past 255 successors and 255 actions', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 0, max: 600 }), (inits, kids, maxAction) => {
        for (const strategy of ['bfs', 'dfs'] as const) {
          const cols = new PathColumns(strategy);
          const want: [number, number][] = [];
          for (let i = 0; i < inits; i++) {
            cols.push(-1 - i, -1);
            want.push([-1 - i, 0]);
          }
          // BFS expands ids in order; stop when no stored state is left to expand.
          for (let q = 0; q < kids.length && q < want.length; q++) {
            cols.startExpansion(q);
            for (let k = 0; k < kids[q]; k++) {
              const a = (k * 7) % (maxAction + 1);
              cols.push(q, a);
              want.push([q, a]);
            }
          }
          want.forEach(([p, a], id) => {
            expect(cols.parent(id)).toBe(p);
            expect(cols.action(id)).toBe(a);
          });
        }
      }),
      { numRuns: 60, seed: 3 },
    );
  });

  it('a BFS fingerprint run stays within 16 bytes per stored state', () => {
    const m = anyModel(philosophers);
    const o = explore(m, { n: 10 }, { properties: ['forks-held'], fingerprint: true });
    expect(o.stats.states).toBe(59048);
    expect(o.stats.bytesPerState).toBeLessThanOrEqual(16);
  });
});
