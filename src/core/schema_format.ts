import type { ItfValue } from './itf.ts';
import { MemberSet, type Node, type Schema } from './schema.ts';
import { leaf, type Shown, type StateFormat } from './show.ts';

/**
 * How a schema model's states are shown and exported, with the names the schema declares: enum
 * values and universe members by name, sets as `{cpu0, cpu2}`, an absent optional value as `-`.
 * A list or array of scalars is one leaf (`freelist = [c0:64#2, c0:64#1]`); of structures, a
 * group of items. In ITF an optional value is Quint's Option variant (`{tag: "None" | "Some",
 * value}`), a set `#set` of member names.
 */
export function schemaFormat(schema: Schema): StateFormat {
  return {
    show: (state) => shown(schema.root, state),
    itf: (state) => itf(schema.root, state) as Record<string, ItfValue>,
    json: (state) => json(schema.root, state),
  };
}

const scalar = (n: Node): boolean => n.kind === 'bool' || n.kind === 'int' || n.kind === 'enum' || n.kind === 'member' || n.kind === 'text' || (n.kind === 'optional' && scalar(n.inner));

function text(n: Node, v: unknown): string {
  if (v === null) return '-';
  switch (n.kind) {
    case 'member':
      return n.universe.nameOf(v as number);
    case 'optional':
      return text(n.inner, v);
    case 'set':
      return `{${(v as MemberSet).names().join(', ')}}`;
    default:
      return String(v);
  }
}

function shown(n: Node, v: unknown): Shown {
  switch (n.kind) {
    case 'struct':
      return { list: false, children: n.fields.map(([k, f]) => [k, shown(f, (v as Record<string, unknown>)[k])] as const) };
    case 'record':
      return { list: false, children: n.universe.members.map((m) => [m, shown(n.elem, (v as Record<string, unknown>)[m])] as const) };
    case 'array':
    case 'list': {
      const items = v as readonly unknown[];
      if (scalar(n.elem)) return leaf(`[${items.map((x) => text(n.elem, x)).join(', ')}]`);
      return items.length === 0 ? leaf('[]') : { list: true, children: items.map((x, i) => [`[${i}]`, shown(n.elem, x)] as const) };
    }
    case 'optional':
      return v === null ? leaf('-') : shown(n.inner, v);
    case 'keys':
      return leaf(`{${[...(v as ReadonlySet<unknown>)].map((k) => text(n.key, k)).sort().join(', ')}}`);
    case 'map': {
      const entries = [...(v as ReadonlyMap<unknown, unknown>)].map(([k, x]) => [text(n.key, k), x] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return entries.length === 0 ? leaf('{}') : { list: false, children: entries.map(([k, x]) => [k, shown(n.elem, x)] as const) };
    }
    default:
      return leaf(text(n, v));
  }
}

function itf(n: Node, v: unknown): ItfValue {
  switch (n.kind) {
    case 'bool':
    case 'int':
    case 'enum':
    case 'text':
      return v as ItfValue;
    case 'member':
      return n.universe.nameOf(v as number);
    case 'optional':
      return v === null ? { tag: 'None', value: { '#tup': [] } } : { tag: 'Some', value: itf(n.inner, v) };
    case 'struct':
      return Object.fromEntries(n.fields.map(([k, f]) => [k, itf(f, (v as Record<string, unknown>)[k])]));
    case 'record':
      return Object.fromEntries(n.universe.members.map((m) => [m, itf(n.elem, (v as Record<string, unknown>)[m])]));
    case 'array':
    case 'list':
      return (v as readonly unknown[]).map((x) => itf(n.elem, x));
    case 'set':
      return { '#set': (v as MemberSet).names() };
    case 'keys':
      return { '#set': [...(v as ReadonlySet<unknown>)].map((k) => itf(n.key, k)) };
    case 'map':
      return { '#map': [...(v as ReadonlyMap<unknown, unknown>)].map(([k, x]) => [itf(n.key, k), itf(n.elem, x)] as const) };
  }
}

function json(n: Node, v: unknown): unknown {
  switch (n.kind) {
    case 'member':
      return n.universe.nameOf(v as number);
    case 'optional':
      return v === null ? null : json(n.inner, v);
    case 'struct':
      return Object.fromEntries(n.fields.map(([k, f]) => [k, json(f, (v as Record<string, unknown>)[k])]));
    case 'record':
      return Object.fromEntries(n.universe.members.map((m) => [m, json(n.elem, (v as Record<string, unknown>)[m])]));
    case 'array':
    case 'list':
      return (v as readonly unknown[]).map((x) => json(n.elem, x));
    case 'set':
      return (v as MemberSet).names();
    case 'keys':
      return [...(v as ReadonlySet<unknown>)].map((k) => json(n.key, k));
    case 'map':
      return n.key.kind === 'text' || n.key.kind === 'enum' || n.key.kind === 'member'
        ? Object.fromEntries([...(v as ReadonlyMap<unknown, unknown>)].map(([k, x]) => [json(n.key, k), json(n.elem, x)]))
        : [...(v as ReadonlyMap<unknown, unknown>)].map(([k, x]) => [json(n.key, k), json(n.elem, x)]);
    default:
      return v;
  }
}
