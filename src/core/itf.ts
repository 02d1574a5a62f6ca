import { isList, isMap, isOrderedMap, isOrderedSet, isRecord, isSet, isStack } from 'immutable';
import { errorMessage } from './errors.ts';

/**
 * Values in the Informal Trace Format (ITF, Apalache ADR-015, also read and written by Quint):
 * booleans and strings as JSON; integers as JSON numbers when they are safe integers, else
 * `{"#bigint": "…"}`; lists as arrays; records as objects; maps as `{"#map": [[k, v], …]}`;
 * sets as `{"#set": […]}`; anything else as `{"#unserializable": "…"}`.
 */
export type ItfValue =
  | boolean
  | string
  | number
  | readonly ItfValue[]
  | { readonly '#bigint': string }
  | { readonly '#set': readonly ItfValue[] }
  | { readonly '#map': readonly (readonly [ItfValue, ItfValue])[] }
  | { readonly '#tup': readonly ItfValue[] }
  | { readonly '#unserializable': string }
  | { readonly [field: string]: ItfValue };

/** The ITF form of a state value. Unordered maps and sets are sorted, so equal values encode alike. */
export function toItf(v: unknown): ItfValue {
  switch (typeof v) {
    case 'boolean':
    case 'string':
      return v;
    case 'number':
      if (Number.isSafeInteger(v)) return Object.is(v, -0) ? 0 : v;
      return Number.isInteger(v) ? { '#bigint': BigInt(v).toString() } : { '#unserializable': String(v) };
    case 'bigint':
      return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : { '#bigint': v.toString() };
    case 'undefined':
      return { '#unserializable': 'undefined' };
    case 'object': {
      if (v === null) return { '#unserializable': 'null' };
      if (isRecord(v)) {
        const out: Record<string, ItfValue> = {};
        for (const [k, x] of v.toSeq().entries()) out[String(k)] = toItf(x);
        return out;
      }
      if (isList(v) || isStack(v)) return [...(v as Iterable<unknown>)].map(toItf);
      if (isMap(v)) {
        const entries = [...v.entries()].map(([k, x]) => [toItf(k), toItf(x)] as const);
        if (!isOrderedMap(v)) entries.sort((a, b) => cmp(canonicalItf(a[0]), canonicalItf(b[0])));
        return { '#map': entries };
      }
      if (isSet(v) || isOrderedSet(v)) {
        const members = [...(v as Iterable<unknown>)].map(toItf);
        if (!isOrderedSet(v)) members.sort((a, b) => cmp(canonicalItf(a), canonicalItf(b)));
        return { '#set': members };
      }
      return { '#unserializable': String(v) };
    }
    default:
      return { '#unserializable': String(v) };
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A canonical text of an ITF value, whoever wrote it: integers in one form whether written as
 * numbers or `#bigint`, set members and map entries sorted, record fields sorted by name.
 * Two ITF values denote the same value exactly when their canonical texts are equal.
 */
export function canonicalItf(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? `#${BigInt(v).toString()}` : JSON.stringify(v);
  if (typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalItf).join(',')}]`;
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1) {
      const [k] = keys;
      const x = v[k];
      if (k === '#bigint' && typeof x === 'string') return `#${BigInt(x).toString()}`;
      if (k === '#set' && Array.isArray(x)) return `#set{${x.map(canonicalItf).sort().join(',')}}`;
      if (k === '#tup' && Array.isArray(x)) return `#tup(${x.map(canonicalItf).join(',')})`;
      if (k === '#map' && Array.isArray(x))
        return `#map{${x
          .map((e) => (Array.isArray(e) && e.length === 2 ? `${canonicalItf(e[0])}:${canonicalItf(e[1])}` : `?${JSON.stringify(e)}`))
          .sort()
          .join(',')}}`;
      if (k === '#unserializable') return `#unser(${JSON.stringify(x)})`;
    }
    return `{${keys
      .filter((k) => k !== '#meta')
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalItf(v[k])}`)
      .join(',')}}`;
  }
  return `?${JSON.stringify(v) ?? String(v)}`;
}

/**
 * An ITF value as field paths to the values there (`cpus[0].irqsOff → true`), descending into
 * records and lists, for saying which fields of two states differ.
 */
export function itfFields(v: unknown, path = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const walk = (x: unknown, p: string): void => {
    if (Array.isArray(x) && x.length > 0) {
      x.forEach((y, i) => walk(y, `${p}[${i}]`));
      return;
    }
    if (isObject(x) && !Object.keys(x).some((k) => k.startsWith('#'))) {
      const keys = Object.keys(x);
      if (keys.length > 0) {
        for (const k of keys) walk(x[k], p ? `${p}.${k}` : k);
        return;
      }
    }
    out.set(p || '(state)', x);
  };
  walk(v, path);
  return out;
}

/** An ITF value as mc prints values in traces: `3`, `true`, `"idle"`, `[1, 2]`, `{a: 1}`, `{1, 2}`. */
export function displayItf(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v !== 'object' || v === null) return String(v);
  if (Array.isArray(v)) return `[${v.map(displayItf).join(', ')}]`;
  const o = v as Record<string, unknown>;
  if (typeof o['#bigint'] === 'string') return o['#bigint'];
  if (Array.isArray(o['#set'])) return `{${o['#set'].map(displayItf).join(', ')}}`;
  if (Array.isArray(o['#tup'])) return `(${o['#tup'].map(displayItf).join(', ')})`;
  if (Array.isArray(o['#map'])) return `{${o['#map'].map((e) => (Array.isArray(e) ? `${displayItf(e[0])}: ${displayItf(e[1])}` : '?')).join(', ')}}`;
  if (o['#unserializable'] !== undefined) return String(o['#unserializable']);
  return `{${Object.entries(o).map(([k, x]) => `${k}: ${displayItf(x)}`).join(', ')}}`;
}

/** One state of a parsed ITF trace: its `#meta` and its variables. */
export interface ItfState {
  readonly meta: Readonly<Record<string, unknown>>;
  readonly vars: Readonly<Record<string, unknown>>;
}

export interface ItfTrace {
  readonly meta: Readonly<Record<string, unknown>>;
  readonly vars: readonly string[];
  readonly states: readonly ItfState[];
  /** A lasso: the index of the state that follows the last one (the rest repeats forever). */
  readonly loop?: number;
}

/**
 * Parses an ITF trace document. Quint's `mbt::` variables are not state: they are dropped from
 * the variables and `mbt::actionTaken` becomes the state's action label when `#meta` has none.
 * Throws an Error whose message says what is malformed and where.
 */
export function parseItf(text: string): ItfTrace {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${errorMessage(e)}`);
  }
  if (!isObject(doc)) throw new Error('not an ITF trace: expected a JSON object with "vars" and "states"');
  const states = doc.states;
  if (!Array.isArray(states) || states.length === 0) throw new Error('not an ITF trace: "states" must be a non-empty array');
  const meta = isObject(doc['#meta']) ? doc['#meta'] : {};
  const vars = Array.isArray(doc.vars) ? doc.vars.filter((v): v is string => typeof v === 'string' && !v.startsWith('mbt::')) : [];
  const loop = doc.loop;
  if (loop !== undefined && (typeof loop !== 'number' || !Number.isInteger(loop) || loop < 0 || loop >= states.length))
    throw new Error(`"loop" must be the index of one of the ${states.length} states (0 … ${states.length - 1}), got ${JSON.stringify(loop)}`);
  return {
    ...(loop !== undefined ? { loop } : {}),
    meta,
    vars: [...new Set(vars)],
    states: states.map((s, i) => {
      if (!isObject(s)) throw new Error(`states[${i}] is not an object`);
      const m: Record<string, unknown> = isObject(s['#meta']) ? { ...s['#meta'] } : {};
      if (m.action === undefined && typeof s['mbt::actionTaken'] === 'string' && i > 0) m.action = s['mbt::actionTaken'];
      const v = Object.fromEntries(Object.entries(s).filter(([k]) => k !== '#meta' && !k.startsWith('mbt::')));
      return { meta: m, vars: v };
    }),
  };
}
