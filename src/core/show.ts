import type { ItfValue } from './itf.ts';

/**
 * A state as reports show it, whatever its representation (a schema's tree, an Immutable
 * value): named fields down to printable leaves. Text traces, DOT, SVG, HTML and error messages
 * read states only through this form, so they print every model alike.
 */
export type Shown = ShownLeaf | ShownGroup;
export interface ShownLeaf {
  readonly text: string;
}
export interface ShownGroup {
  /** Fields (`name`) or list items (`[i]`), in display order. */
  readonly children: readonly (readonly [string, Shown])[];
  /** Items of a list or array rather than fields of a struct. */
  readonly list: boolean;
}

export const leaf = (text: string): ShownLeaf => ({ text });
const isLeaf = (s: Shown): s is ShownLeaf => 'text' in s;

/**
 * How a model's states are shown and exported: what reports, ITF traces, JSON output and replay
 * need of a state, from its schema or from its Immutable value.
 */
export interface StateFormat {
  show(state: unknown): Shown;
  /** The state as ITF variables (a struct's fields; else one variable `state`). */
  itf(state: unknown): Record<string, ItfValue>;
  /** The state as plain JSON data, for `--json`. */
  json(state: unknown): unknown;
}

/** One line for a whole value: `{kind: nmi, pc: 2}`, `[3, 1]`. */
export function oneLine(s: Shown): string {
  if (isLeaf(s)) return s.text;
  if (s.list) return `[${s.children.map(([, x]) => oneLine(x)).join(', ')}]`;
  return `{${s.children.map(([k, x]) => `${k}: ${oneLine(x)}`).join(', ')}}`;
}

function joinPath(path: string, key: string): string {
  return key.startsWith('[') ? `${path}${key}` : path ? `${path}.${key}` : key;
}

/**
 * The state as field paths to printable values, e.g. `cpus[0].irqsOff → true`. Traces print
 * only the paths whose value changed.
 */
export function flattenShown(s: Shown): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (x: Shown, path: string): void => {
    if (isLeaf(x) || x.children.length === 0) out.set(path || '(state)', oneLine(x));
    else for (const [k, y] of x.children) walk(y, joinPath(path, k));
  };
  walk(s, '');
  return out;
}

/**
 * A whole state in few lines, as traces show the initial one: each top-level field, and below
 * it any structure whose value fits in `width` characters on one line
 * (`kernel.locks.zone = {type: spinlock_t, holders: []}`); longer ones are descended into.
 */
export function summarizeShown(s: Shown, width = 100): [string, string][] {
  const out: [string, string][] = [];
  const visit = (x: Shown, path: string, top: boolean) => {
    const text = oneLine(x);
    if (isLeaf(x) || x.children.length === 0 || (!top && text.length <= width)) out.push([path || '(state)', text]);
    else for (const [k, y] of x.children) visit(y, joinPath(path, k), false);
  };
  visit(s, '', true);
  return out;
}

export interface FieldDiff {
  readonly path: string;
  /** undefined: the field did not exist before. */
  readonly from: string | undefined;
  /** '-': the field no longer exists. */
  readonly to: string;
}

/**
 * What changed between two states, as traces print it: the paths of `flattenShown`, in
 * `after`'s order, except that a structure that appears or vanishes whole (an interrupt frame
 * pushed, a lock's first holder) is one line with its whole value.
 */
export function diffShown(before: Shown, after: Shown): FieldDiff[] {
  const out: FieldDiff[] = [];
  const diff = (a: Shown | undefined, b: Shown | undefined, path: string): void => {
    if (a && b && oneLine(a) === oneLine(b)) return;
    const groups = a && b && !isLeaf(a) && !isLeaf(b) && a.children.length > 0 && b.children.length > 0 && a.list === b.list;
    if (!groups) {
      out.push({ path: path || '(state)', from: a ? oneLine(a) : undefined, to: b ? oneLine(b) : '-' });
      return;
    }
    const ga = a as ShownGroup;
    const gb = b as ShownGroup;
    const old = new Map(ga.children);
    for (const [k, x] of gb.children) diff(old.get(k), x, joinPath(path, k));
    const now = new Set(gb.children.map(([k]) => k));
    for (const [k, x] of ga.children) if (!now.has(k)) diff(x, undefined, joinPath(path, k));
  };
  diff(before, after, '');
  return out;
}

/** One line showing a whole state, cut at `max` characters, for error messages. */
export function renderShown(s: Shown, max = 300): string {
  const text = [...flattenShown(s)].map(([k, x]) => `${k}=${x}`).join(' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
