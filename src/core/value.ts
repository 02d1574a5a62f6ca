import { is, isList, isMap, isOrderedMap, isOrderedSet, isRecord, isSet, isStack, Record as ImmRecord } from 'immutable';
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

/**
 * A whole state in few lines, as traces show the initial one: each top-level field, and below
 * it any structure whose value renders in at most `width` characters as one line
 * (`kernel.locks.zone = {type: spinlock_t, holders: []}`); longer ones are descended into.
 */
export function summarize(v: unknown, width = 100): [string, string][] {
  const out: [string, string][] = [];
  const visit = (x: unknown, path: string, top: boolean) => {
    const kids = children(x);
    const text = renderLeaf(x);
    if (!kids || kids.length === 0 || (!top && text.length <= width)) out.push([path || '(state)', text]);
    else for (const [k, y] of kids) visit(y, join(path, k), false);
  };
  visit(v, '', true);
  return out;
}

const ABSENT = Symbol('absent');

export interface FieldDiff {
  readonly path: string;
  /** undefined: the field did not exist before. */
  readonly from: string | undefined;
  /** '-': the field no longer exists. */
  readonly to: string;
}

/**
 * What changed between two states, as traces print it: the paths of `flatten`, in `after`'s
 * order, except that a structure that appears or vanishes whole (an interrupt frame pushed, a
 * lock's first holder) is one line with its whole value rather than one line per field.
 */
export function diffValues(before: unknown, after: unknown): FieldDiff[] {
  const out: FieldDiff[] = [];
  diff(before, after, '', out);
  return out;
}

function children(v: unknown): [string, unknown][] | undefined {
  if (isRecord(v)) return [...v.toSeq().entries()].map(([k, x]) => [String(k), x]);
  if (isMap(v)) {
    const entries = [...v.entries()].map(([k, x]): [string, unknown] => [String(k), x]);
    if (!isOrderedMap(v)) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return entries;
  }
  if ((isList(v) || isStack(v)) && ![...(v as Iterable<unknown>)].every(isPrimitive)) return [...(v as Iterable<unknown>)].map((x, i) => [`[${i}]`, x]);
  return undefined;
}

function join(path: string, key: string): string {
  return key.startsWith('[') ? `${path}${key}` : path ? `${path}.${key}` : key;
}

function diff(before: unknown, after: unknown, path: string, out: FieldDiff[]): void {
  if (before !== ABSENT && after !== ABSENT && is(before, after)) return;
  const a = before === ABSENT ? undefined : children(before);
  const b = after === ABSENT ? undefined : children(after);
  const sameShape = a && b && a.length > 0 && b.length > 0 && isList(before) === isList(after) && isRecord(before) === isRecord(after);
  if (!sameShape) {
    out.push({ path: path || '(state)', from: before === ABSENT ? undefined : renderLeaf(before), to: after === ABSENT ? '-' : renderLeaf(after) });
    return;
  }
  const old = new Map(a);
  for (const [k, x] of b) diff(old.has(k) ? old.get(k) : ABSENT, x, join(path, k), out);
  const now = new Set(b.map(([k]) => k));
  for (const [k, x] of a) if (!now.has(k)) diff(x, ABSENT, join(path, k), out);
}

/** One line showing a whole state, cut at `max` characters, for error messages. */
export function renderState(v: unknown, max = 300): string {
  const text = [...flatten(v)].map(([k, x]) => `${k}=${x}`).join(' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
