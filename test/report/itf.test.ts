import { List, Map as IMap, OrderedMap, Record, Set as ISet } from 'immutable';
import { describe, expect, it } from 'vitest';
import { canonicalItf, displayItf, parseItf, toItf } from '../../src/core/itf.ts';
import { traceItf } from '../../src/report/itf.ts';
import { immutableFormat } from '../../src/core/value.ts';

const Cpu = Record({ irqsOff: false, held: ISet<string>(), slots: IMap<number, string>() }, 'Cpu');
const State = Record({ cpus: List([Cpu()]), big: 0, flt: 0, big2: 0n as bigint, none: null as null | number }, 'S');

describe('ITF values', () => {
  it('encodes records as objects, lists as arrays, maps as #map and sets as #set, sorted', () => {
    const cpu = Cpu({ irqsOff: true, held: ISet(['b', 'a']), slots: IMap([[2, 'y'], [1, 'x']]) });
    expect(toItf(cpu)).toEqual({ irqsOff: true, held: { '#set': ['a', 'b'] }, slots: { '#map': [[1, 'x'], [2, 'y']] } });
    // Equal values encode alike whatever their insertion order.
    expect(toItf(ISet(['a', 'b']))).toEqual(toItf(ISet(['b', 'a'])));
    // An ordered map keeps its order.
    expect(toItf(OrderedMap([['z', 1], ['a', 2]]))).toEqual({ '#map': [['z', 1], ['a', 2]] });
  });

  it('writes safe integers as numbers, larger ones as #bigint, and what ITF cannot hold as #unserializable', () => {
    const s = State({ big: 2 ** 60, flt: 1.5, big2: 12345678901234567890n, none: null });
    const v = toItf(s) as { [k: string]: unknown };
    expect(v.big).toEqual({ '#bigint': '1152921504606846976' });
    expect(v.flt).toEqual({ '#unserializable': '1.5' });
    expect(v.big2).toEqual({ '#bigint': '12345678901234567890' });
    expect(v.none).toEqual({ '#unserializable': 'null' });
    expect(toItf(7n)).toBe(7);
  });

  it('compares values written by other tools: #bigint and numbers alike, members and fields in any order', () => {
    expect(canonicalItf({ '#bigint': '3' })).toBe(canonicalItf(3));
    expect(canonicalItf({ '#set': [2, 1] })).toBe(canonicalItf({ '#set': [{ '#bigint': '1' }, 2] }));
    expect(canonicalItf({ a: 1, b: { '#map': [['k', true]] } })).toBe(canonicalItf({ b: { '#map': [['k', true]] }, a: 1 }));
    expect(canonicalItf([1, 2])).not.toBe(canonicalItf([2, 1]));
    expect(displayItf({ a: { '#set': [1, { '#bigint': '2' }] }, b: 'x' })).toBe('{a: {1, 2}, b: "x"}');
  });

  it('writes a trace that parses back: vars from the record, labels in #meta, Quint mbt:: variables ignored', () => {
    const s0 = State();
    const s1 = s0.set('big', 1);
    const text = traceItf({ initial: s0, steps: [{ label: 'cpu0: x', lane: 'cpu0', state: s1 }], format: immutableFormat }, { format: 'ITF' });
    const doc = JSON.parse(text);
    expect(doc.vars).toEqual(['cpus', 'big', 'flt', 'big2', 'none']);
    expect(doc.states.map((s: { '#meta': unknown }) => s['#meta'])).toEqual([{ index: 0 }, { index: 1, action: 'cpu0: x', lane: 'cpu0' }]);
    const quint = parseItf(
      JSON.stringify({ vars: ['x', 'mbt::actionTaken'], states: [{ x: { '#bigint': '0' }, 'mbt::actionTaken': 'init' }, { x: 1, 'mbt::actionTaken': 'step' }] }),
    );
    expect(quint.vars).toEqual(['x']);
    expect(quint.states.map((s) => [s.meta.action, s.vars])).toEqual([
      [undefined, { x: { '#bigint': '0' } }],
      ['step', { x: 1 }],
    ]);
  });
});
