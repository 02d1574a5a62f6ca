// The schema's faster paths against the plain ones, on random schemas that include texts, maps
// and sets of scalars: packing a successor by difference from the state it was copied from
// (diffPack) gives the bytes a full pack gives; restoring a tree from the bytes it holds to
// another state's (restore) gives the tree unpacking gives; a field the schema does not declare
// is found (strayField). These are what every successor of a schema model goes through.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemberSet, t, universe, type Universe } from '../../src/index.ts';
import { Schema, type AnyType, type Node } from '../../src/core/schema.ts';

const U = universe('u', 3);
const W = universe('w', 10);
const TEXTS = ['', 'a', 'kmalloc-64@cpu1', 'zone->lock', 'ü'];

/** A value as plain data, Maps and Sets as sorted entry lists (their order is the bytes' business). */
function plain(v: unknown): unknown {
  if (v instanceof MemberSet) return { set: [...v] };
  if (v instanceof Map) return { map: [...v].map(([k, x]) => [k, plain(x)]).sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1)) };
  if (v instanceof Set) return { keys: [...v].sort() };
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const scalar: fc.Arbitrary<AnyType> = fc.oneof(
  fc.constant(t.bool()),
  fc.constantFrom(t.int(0, 3), t.int(-5, 300), t.int(0, 70000)),
  fc.constantFrom(t.enum(['p', 'q', 'r']), t.enum(Array.from({ length: 12 }, (_, i) => `e${i}`))),
  fc.constantFrom(U, W).map((u: Universe) => t.member(u)),
  fc.constant(t.text()),
);
function composite(inner: fc.Arbitrary<AnyType>): fc.Arbitrary<AnyType> {
  return fc.oneof(
    inner.map((x) => t.optional(x)),
    fc.array(inner, { maxLength: 3 }).map((fs) => t.struct(Object.fromEntries(fs.map((f, i) => [`f${i}`, f])))),
    fc.tuple(inner, fc.constantFrom<number | Universe>(0, 2, 3, U, 17)).map(([e, n]) => t.array(e, n)),
    fc.tuple(inner, fc.integer({ min: 1, max: 3 })).map(([e, c]) => t.list(e, c)),
    fc.tuple(scalar, inner, fc.integer({ min: 1, max: 3 })).map(([k, e, c]) => t.map(k as never, e, c)),
    fc.tuple(scalar, fc.integer({ min: 1, max: 3 })).map(([k, c]) => t.setOf(k as never, c)),
    fc.constantFrom(U, W).map((u) => t.set(u)),
    inner.map((e) => t.record(U, e)),
  );
}
const level1 = fc.oneof({ weight: 2, arbitrary: scalar }, { weight: 1, arbitrary: composite(scalar) });
const root: fc.Arbitrary<AnyType> = fc.array(fc.oneof(level1, composite(level1)), { maxLength: 4 }).map((fs) => t.struct(Object.fromEntries(fs.map((f, i) => [`f${i}`, f]))));

function scalarValue(n: Node): fc.Arbitrary<unknown> {
  switch (n.kind) {
    case 'bool':
      return fc.boolean();
    case 'int':
      return fc.integer({ min: n.min, max: Math.min(n.max, n.min + 20) });
    case 'enum':
      return fc.constantFrom(...n.names);
    case 'member':
      return fc.integer({ min: 0, max: n.universe.size - 1 });
    case 'text':
      return fc.constantFrom(...TEXTS);
    default:
      throw new Error(`not a scalar: ${n.kind}`);
  }
}
function valueOf(n: Node): fc.Arbitrary<unknown> {
  switch (n.kind) {
    case 'optional':
      return fc.option(valueOf(n.inner), { nil: null, freq: 3 });
    case 'struct':
      return fc.record(Object.fromEntries(n.fields.map(([k, f]) => [k, valueOf(f)])));
    case 'record':
      return fc.record(Object.fromEntries(n.universe.members.map((m) => [m, valueOf(n.elem)])));
    case 'array':
      return fc.array(valueOf(n.elem), { minLength: n.length, maxLength: n.length });
    case 'list':
      return fc.array(valueOf(n.elem), { maxLength: n.capacity });
    case 'map':
      return fc.uniqueArray(fc.tuple(scalarValue(n.key), valueOf(n.elem)), { maxLength: n.capacity, selector: ([k]) => k }).map((es) => new Map(es));
    case 'keys':
      return fc.uniqueArray(scalarValue(n.key), { maxLength: n.capacity }).map((ks) => new Set(ks));
    case 'set':
      return fc.subarray(Array.from({ length: n.universe.size }, (_, i) => i)).map((is) => {
        const m = new MemberSet(n.universe);
        for (const i of is) m.add(i);
        return m;
      });
    default:
      return scalarValue(n);
  }
}
const cases = root.chain((ty) => fc.tuple(fc.constant(ty), valueOf(ty.node), valueOf(ty.node)));

describe('the schema fast paths equal the plain ones', () => {
  it('maps, sets of scalars and texts round-trip, and their bytes do not depend on insertion order', () => {
    fc.assert(
      fc.property(cases, ([ty, v]) => {
        const s = new Schema(ty.node);
        const b = new Uint8Array(s.size);
        s.pack(v, b);
        expect(plain(s.read(b))).toEqual(plain(v));
        const again = new Uint8Array(s.size);
        s.pack(s.read(b), again);
        expect([...again]).toEqual([...b]);
      }),
      { numRuns: 400 },
    );
  });

  it('diffPack of a successor over the bytes of the state it was copied from gives the bytes pack gives', () => {
    fc.assert(
      fc.property(cases, ([ty, next, state]) => {
        const s = new Schema(ty.node);
        const sb = new Uint8Array(s.size);
        s.pack(state, sb);
        const p = s.read(sb);
        const full = new Uint8Array(s.size);
        s.pack(next, full);
        const diffed = sb.slice();
        s.diffPack(next, p, diffed);
        expect([...diffed]).toEqual([...full]);
        // And the state itself packs by difference to its own bytes.
        const same = sb.slice();
        s.diffPack(p, p, same);
        expect([...same]).toEqual([...sb]);
      }),
      { numRuns: 400 },
    );
  });

  it('restore takes a tree from the bytes it holds to another state, as unpacking does', () => {
    fc.assert(
      fc.property(cases, ([ty, from, to]) => {
        const s = new Schema(ty.node);
        const fb = new Uint8Array(s.size);
        const tb = new Uint8Array(s.size);
        s.pack(from, fb);
        s.pack(to, tb);
        const w = s.create();
        s.unpack(fb, 0, w);
        s.restore(tb, 0, fb, w);
        expect(plain(w)).toEqual(plain(s.read(tb)));
        const b = new Uint8Array(s.size);
        s.pack(w, b);
        expect([...b]).toEqual([...tb]);
      }),
      { numRuns: 400 },
    );
  });

  it('a field the schema does not declare is found, with its path', () => {
    const s = new Schema(t.struct({ cpus: t.array(t.struct({ pc: t.int(0, 3) }), U), m: t.map(t.text(), t.struct({ a: t.bool() }), 2) }).node);
    const w = s.create() as { cpus: { pc: number; typo?: number }[]; m: Map<string, { a: boolean; extra?: number }> };
    expect(s.strayField(w)).toBeUndefined();
    w.cpus[1].typo = 1;
    expect(s.strayField(w)).toBe('cpus[1].typo');
    delete w.cpus[1].typo;
    w.m.set('x', { a: true, extra: 2 });
    expect(s.strayField(w)).toBe('m.get("x").extra');
  });

  it('a text field refuses what is not a string, naming the field', () => {
    const s = new Schema(t.struct({ l: t.list(t.struct({ name: t.text() }), 2) }).node);
    expect(() => s.pack({ l: [{ name: 'a' }, { name: 3 }] }, new Uint8Array(s.size))).toThrow('l[1].name = 3: expected a string (t.text)');
    expect(() => s.pack({ l: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] }, new Uint8Array(s.size))).toThrow('l holds 3 elements, more than its capacity of 2');
  });
});
