import { isList, isMap, isOrderedMap, isOrderedSet, isRecord, isSet, isStack, Record as ImmRecord } from 'immutable';
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
export function renderLeaf(v: unknown): string {
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
 * The state as field paths to printable values, e.g. `cpus[0].irqsOff → true`. Records and Maps
 * are descended into; a List of primitives is one field (`freelist → [3, 1]`), a List of
 * structures is descended into by index. Traces print only the paths whose value changed.
 */
export function flatten(v: unknown): Map<string, string> {
  const out = new Map<string, string>();
  walk(v, '', out);
  return out;
}

function walk(v: unknown, path: string, out: Map<string, string>): void {
  if (isRecord(v)) {
    for (const [k, x] of v.toSeq().entries()) walk(x, path ? `${path}.${k}` : String(k), out);
    return;
  }
  if (isMap(v)) {
    const entries = [...v.entries()];
    if (!isOrderedMap(v)) entries.sort(([a], [b]) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));
    if (entries.length === 0) out.set(path || '(state)', '{}');
    for (const [k, x] of entries) walk(x, path ? `${path}.${String(k)}` : String(k), out);
    return;
  }
  if ((isList(v) || isStack(v)) && ![...(v as Iterable<unknown>)].every(isPrimitive)) {
    let i = 0;
    for (const x of v as Iterable<unknown>) walk(x, `${path}[${i++}]`, out);
    return;
  }
  out.set(path || '(state)', renderLeaf(v));
}

/** The fields whose printable value differs between two flattened states, in `after`'s order. */
export function changedFields(before: Map<string, string>, after: Map<string, string>): { path: string; from: string | undefined; to: string }[] {
  const changes: { path: string; from: string | undefined; to: string }[] = [];
  for (const [path, to] of after) {
    const from = before.get(path);
    if (from !== to) changes.push({ path, from, to });
  }
  for (const [path, from] of before) if (!after.has(path)) changes.push({ path, from, to: '-' });
  return changes;
}

/** One line showing a whole state, cut at `max` characters, for error messages. */
export function renderState(v: unknown, max = 300): string {
  const text = [...flatten(v)].map(([k, x]) => `${k}=${x}`).join(' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
