import { isImmutable, isList, isMap, isOrderedMap, isOrderedSet, isRecord, isSet, isStack, Record as ImmRecord } from 'immutable';
import { toItf } from './itf.ts';
import { leaf, type Shown, type StateFormat } from './show.ts';
import { ModelError } from './errors.ts';

/**
 * Canonical text of a state. Two states get the same key exactly when they are equal as
 * Immutable values (`Immutable.is`), so a visited set keyed by it never merges two different
 * states. Records keep their field order and name; Maps and Sets are sorted by their members'
 * keys (their insertion order does not matter to equality); ordered collections keep order.
 * Plain mutable objects and arrays are refused: a transition could change a stored state.
 */
export function stateKey(v: unknown): string {
  return keyOf(v, '');
}

function keyOf(v: unknown, path: string): string {
  switch (typeof v) {
    case 'number':
      return Object.is(v, -0) ? '0' : String(v);
    case 'boolean':
      return v ? 'T' : 'F';
    case 'string':
      return JSON.stringify(v);
    case 'undefined':
      return 'U';
    case 'bigint':
      return `${v}n`;
    case 'object': {
      if (v === null) return 'N';
      if (isRecord(v)) {
        let out = `${ImmRecord.getDescriptiveName(v)}{`;
        for (const [k, x] of v.toSeq().entries()) out += `${String(k)}:${keyOf(x, `${path}.${String(k)}`)},`;
        return `${out}}`;
      }
      if (isList(v) || isStack(v)) {
        let out = '[';
        let i = 0;
        for (const x of v as Iterable<unknown>) out += `${keyOf(x, `${path}[${i++}]`)},`;
        return `${out}]`;
      }
      if (isOrderedMap(v)) {
        let out = 'OM{';
        for (const [k, x] of v.entries()) out += `${keyOf(k, path)}:${keyOf(x, `${path}.${String(k)}`)},`;
        return `${out}}`;
      }
      if (isMap(v)) {
        const parts: string[] = [];
        for (const [k, x] of v.entries()) parts.push(`${keyOf(k, path)}:${keyOf(x, `${path}.${String(k)}`)}`);
        return `M{${parts.sort().join(',')}}`;
      }
      if (isOrderedSet(v)) {
        let out = 'OS{';
        for (const x of v as Iterable<unknown>) out += `${keyOf(x, path)},`;
        return `${out}}`;
      }
      if (isSet(v)) {
        const parts: string[] = [];
        for (const x of v as Iterable<unknown>) parts.push(keyOf(x, path));
        return `S{${parts.sort().join(',')}}`;
      }
      throw new ModelError(
        `state holds a plain ${Array.isArray(v) ? 'array' : 'object'} at ${path || '(root)'}; ` +
          `states must be Immutable values (Record, List, Map, Set) or primitives`,
      );
    }
    default:
      throw new ModelError(`state holds a ${typeof v} at ${path || '(root)'}; states must be Immutable values or primitives`);
  }
}

/** A primitive or a short rendering of a leaf collection, as shown in traces. */
function renderLeaf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null) return 'null';
  if (v === undefined) return '-';
  if (typeof v !== 'object') return String(v);
  if (isList(v) || isStack(v) || isOrderedSet(v)) return `[${[...(v as Iterable<unknown>)].map(renderLeaf).join(', ')}]`;
  if (isSet(v)) return `{${[...(v as Iterable<unknown>)].map(renderLeaf).sort().join(', ')}}`;
  if (isMap(v) || isRecord(v)) {
    const entries = [...(v as unknown as { entries(): Iterable<[unknown, unknown]> }).entries()];
    return `{${entries.map(([k, x]) => `${renderLeaf(k)}: ${renderLeaf(x)}`).join(', ')}}`;
  }
  return JSON.stringify(v);
}

function isPrimitive(v: unknown): boolean {
  return v === null || typeof v !== 'object';
}

/**
 * An Immutable state as reports show it: Records and Maps are groups of fields (a Map's keys
 * sorted unless it is ordered), a List of structures a group of items; a List of primitives, a
 * Set and every primitive is one printable leaf (`freelist = [3, 1]`).
 */
export function immutableShown(v: unknown): Shown {
  if (isRecord(v)) return { list: false, children: [...v.toSeq().entries()].map(([k, x]) => [String(k), immutableShown(x)] as const) };
  if (isMap(v)) {
    const entries = [...v.entries()].map(([k, x]) => [String(k), x] as const);
    if (!isOrderedMap(v)) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return entries.length === 0 ? leaf('{}') : { list: false, children: entries.map(([k, x]) => [k, immutableShown(x)] as const) };
  }
  if ((isList(v) || isStack(v)) && ![...(v as Iterable<unknown>)].every(isPrimitive))
    return { list: true, children: [...(v as Iterable<unknown>)].map((x, i) => [`[${i}]`, immutableShown(x)] as const) };
  return leaf(renderLeaf(v));
}

/** How states of a model without a schema are shown: from their Immutable values. */
export const immutableFormat: StateFormat = {
  show: immutableShown,
  itf: (state) => {
    if (!isRecord(state)) return { state: toItf(state) };
    return toItf(state) as never;
  },
  json: (state) => (isImmutable(state) ? state.toJS() : state),
};
