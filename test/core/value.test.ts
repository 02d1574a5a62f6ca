import fc from 'fast-check';
import { is, List, Map as IMap, OrderedMap, Record, Set as ISet, fromJS } from 'immutable';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../src/index.ts';
import { immutableShown, stateKey } from '../../src/core/value.ts';
import { diffShown, flattenShown, summarizeShown } from '../../src/core/show.ts';

const flatten = (v: unknown) => flattenShown(immutableShown(v));
const diffValues = (a: unknown, b: unknown) => diffShown(immutableShown(a), immutableShown(b));
const summarize = (v: unknown, width?: number) => summarizeShown(immutableShown(v), width);

const Cpu = Record({ irqsOff: false, locks: List<string>() }, 'Cpu');

describe('stateKey: the exact key of the visited set', () => {
  it('equal Immutable values get equal keys, whatever the insertion order of a Map or Set', () => {
    expect(stateKey(IMap({ a: 1, b: 2 }))).toBe(stateKey(IMap({ b: 2, a: 1 })));
    expect(stateKey(ISet([3, 1, 2]))).toBe(stateKey(ISet([2, 3, 1])));
  });

  it('order matters where equality says it does', () => {
    expect(stateKey(List([1, 2]))).not.toBe(stateKey(List([2, 1])));
    expect(stateKey(OrderedMap({ a: 1, b: 2 }))).not.toBe(stateKey(OrderedMap({ b: 2, a: 1 })));
  });

  it('keeps types apart: 1 vs "1", a record vs a map with the same fields, undefined vs null', () => {
    expect(stateKey(List([1]))).not.toBe(stateKey(List(['1'])));
    expect(stateKey(Cpu())).not.toBe(stateKey(IMap({ irqsOff: false, locks: List() })));
    expect(stateKey(List([undefined]))).not.toBe(stateKey(List([null])));
    expect(stateKey('a,b')).not.toBe(stateKey(List(['a', 'b'])));
  });

  it('refuses plain mutable objects, naming where they are', () => {
    expect(() => stateKey(IMap({ cpus: List([{ x: 1 }]) }))).toThrow(ModelError);
    expect(() => stateKey(IMap({ cpus: List([{ x: 1 }]) }))).toThrow('state holds a plain object at .cpus[0]');
  });

  it('agrees with Immutable.is on random nested values', () => {
    const leaf = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('a', 'b'), fc.boolean());
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(fc.constantFrom('x', 'y', 'z'), tie('node'), { maxKeys: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(tree, tree, (a, b) => {
        const x = fromJS(a);
        const y = fromJS(b);
        expect(stateKey(x) === stateKey(y)).toBe(is(x, y));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('flatten and diffValues: what traces print', () => {
  it('descends records and maps, keeps lists of primitives whole', () => {
    const s = IMap({ cpus: List([Cpu(), Cpu({ irqsOff: true, locks: List(['zone']) })]) });
    expect([...flatten(s)]).toEqual([
      ['cpus[0].irqsOff', 'false'],
      ['cpus[0].locks', '[]'],
      ['cpus[1].irqsOff', 'true'],
      ['cpus[1].locks', '[zone]'],
    ]);
  });

  it('reports only the fields that changed', () => {
    expect(diffValues(IMap({ x: 1, y: List([1]) }), IMap({ x: 1, y: List([1, 2]) }))).toEqual([{ path: 'y', from: '[1]', to: '[1, 2]' }]);
  });

  it('shows a structure that appears or vanishes whole as one line, and descends into one that stays', () => {
    const one = IMap({ cpus: List([Cpu()]) });
    const two = IMap({ cpus: List([Cpu({ irqsOff: true }), Cpu({ locks: List(['zone']) })]) });
    expect(diffValues(one, two)).toEqual([
      { path: 'cpus[0].irqsOff', from: 'false', to: 'true' },
      { path: 'cpus[1]', from: undefined, to: '{irqsOff: false, locks: [zone]}' },
    ]);
    expect(diffValues(two, one)).toEqual([
      { path: 'cpus[0].irqsOff', from: 'true', to: 'false' },
      { path: 'cpus[1]', from: '{irqsOff: false, locks: [zone]}', to: '-' },
    ]);
    // An empty list that gains a structure: one line, not "[] → -" plus a line per new field.
    const held = (h: unknown[]) => IMap({ holders: List(h) });
    expect(diffValues(held([]), held([IMap({ cpu: 0, task: 'A' })]))).toEqual([{ path: 'holders', from: '[]', to: '[{cpu: 0, task: A}]' }]);
  });

  it('summarizes a whole state: every top-level field, short structures on one line, long ones descended into', () => {
    const s = IMap({ n: 1, cpus: List([Cpu(), Cpu({ locks: List(['a'.repeat(40), 'b'.repeat(40)]) })]) });
    expect(summarize(s, 40)).toEqual([
      ['cpus[0]', '{irqsOff: false, locks: []}'],
      ['cpus[1].irqsOff', 'false'],
      ['cpus[1].locks', `[${'a'.repeat(40)}, ${'b'.repeat(40)}]`],
      ['n', '1'],
    ]);
  });
});
