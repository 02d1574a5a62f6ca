/**
 * The check of `local` declarations on a schema model (--por trusts them: reduce.ts). A
 * transition of lane L declared local must touch only L's fields and be invisible. The schema
 * says which fields are L's: those below an array or record indexed by a universe one of whose
 * members is named L (lane `cpu1` owns `cpus[1]` when `cpus` is `t.array(…, universe('cpu', n))`).
 * On a sample of states (samples.ts) mc records, for each local transition,
 * - the fields its apply() reads, of the state and of the successor being written, through a
 *   proxy that logs every value read;
 * - the fields it writes: the bytes where the successor differs from the state;
 * and refuses with a ModelError naming the field one that is another lane's or shared, or that
 * an invariant or step property reads (the fields properties read are logged the same way).
 * What transitions() reads to decide which transitions are enabled cannot be told apart per
 * transition, so the guard is checked by its effect instead: the local transition must stay
 * enabled, and commute, with every transition of another lane enabled in the same state.
 */
import { ByteWriter } from '../core/codec.ts';
import { ModelError } from '../core/errors.ts';
import type { AnyTransition, Check, Property } from '../core/model.ts';
import type { AnyParams } from '../core/params.ts';
import { join, memberPath, MemberSet, type Node, type Schema, type Universe } from '../core/schema.ts';
import { sameBytes, type Space } from './space.ts';

/** A field read: its path, and the member of a universe it belongs to (none: shared). */
interface Read {
  readonly path: string;
  readonly owner: readonly [Universe, number] | undefined;
}

/**
 * A proxy of `value` (of schema node `n`, at `path`) that logs into `log` every scalar, set or
 * list length read through it, with the lane-owning member above it. Writes go through to the
 * value.
 */
function tracked(value: unknown, n: Node, path: string, owner: Read['owner'], log: Read[]): unknown {
  if (n.kind === 'optional' && value !== null) return tracked(value, n.inner, path, owner, log);
  if (value === null || typeof value !== 'object' || value instanceof MemberSet || value instanceof Map || value instanceof Set) {
    log.push({ path: path || '(state)', owner });
    return value;
  }
  const childOf = (key: string): { node: Node; path: string; owner: Read['owner'] } | undefined => {
    switch (n.kind) {
      case 'struct': {
        const f = n.fields.find(([k]) => k === key);
        return f && { node: f[1], path: join(path, key), owner };
      }
      case 'record': {
        const i = n.universe.members.indexOf(key);
        return i < 0 ? undefined : { node: n.elem, path: memberPath(path, key), owner: owner ?? [n.universe, i] };
      }
      case 'array':
      case 'list': {
        if (!/^\d+$/.test(key)) return undefined;
        const i = Number(key);
        return { node: n.elem, path: `${path}[${i}]`, owner: owner ?? (n.kind === 'array' && n.index ? [n.index, i] : undefined) };
      }
      default:
        return undefined;
    }
  };
  return new Proxy(value as object, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof key !== 'string') return v;
      if (key === 'length' && n.kind === 'list') {
        log.push({ path: `${path}.length`, owner });
        return v;
      }
      const c = childOf(key);
      return c ? tracked(v, c.node, c.path, c.owner, log) : v;
    },
  });
}

/** The paths of the leaves of `schema` whose bytes differ between a[0, n) and b[0, n), with their owners. */
function written(schema: Schema, a: Uint8Array, b: Uint8Array): Read[] {
  const out: Read[] = [];
  let last: unknown;
  for (let k = 0; k < schema.used; k++) {
    if (a[k] === b[k]) continue;
    const l = schema.leafOf(k);
    if (!l || l === last) continue;
    last = l;
    out.push({ path: l.path, owner: l.owners[0] });
  }
  return out;
}

const ownedBy = (r: Read, lane: string): boolean => r.owner !== undefined && r.owner[0].members[r.owner[1]] === lane;

export class LocalCheck {
  /** Fields read by invariants and step properties on the sampled states so far. */
  private readonly visible = new Map<string, string>();
  private readonly w = new ByteWriter();
  private readonly v = new ByteWriter();

  constructor(
    private readonly space: Space,
    private readonly aux: Space,
    private readonly model: { readonly name: string; readonly transitions: (s: unknown, p: AnyParams) => readonly AnyTransition[] },
    private readonly properties: readonly Property<unknown, AnyParams>[],
  ) {}

  /** Checks the local transitions among `ts`, the transitions of the state the space expands. */
  check(ts: readonly AnyTransition[]): void {
    const space = this.space;
    const schema = space.schema!;
    const params = space.params;
    const bytes = space.stateBytes;
    const where = () => `in state {${space.render(space.state)}}`;
    const bad = (t: AnyTransition, what: string) =>
      new ModelError(`model "${space.modelName}": transition "${t.label}" is declared local (--por) but ${what} ${where()}; make it not local, or move the field under its lane`);

    // What the properties read here (invisible local transitions must not write it).
    const logged = (b: Uint8Array, log: Read[]) => tracked(this.fresh(b), schema.root, '', undefined, log);
    for (const p of this.properties) {
      if (p.kind !== 'invariant' && p.kind !== 'step') continue;
      const log: Read[] = [];
      try {
        if (p.kind === 'invariant') (p as { check: (s: unknown, q: AnyParams) => Check }).check(logged(bytes, log), params);
        else {
          this.aux.expand(bytes, 0, bytes.length);
          for (let i = 0; i < ts.length; i++) {
            this.aux.successor(i, this.w);
            (p as { check: (a: unknown, t: AnyTransition, b: unknown, q: AnyParams) => Check }).check(logged(bytes, log), ts[i], logged(this.w.bytes, log), params);
          }
        }
      } catch {
        // The property's own errors are reported by the search.
      }
      for (const r of log) this.visible.set(r.path, p.name);
    }

    const locals = ts.map((t, i) => i).filter((i) => ts[i].local === true);
    if (locals.length === 0) return;
    // transitions() of a logged copy of the state, so that apply() reads through the log.
    const reads: Read[] = [];
    const parent = tracked(this.fresh(bytes), schema.root, '', undefined, reads);
    const tts = this.model.transitions(parent, params);
    for (const i of locals) {
      const t = ts[i];
      const lane = t.lane;
      // Reads of the state and of the successor while apply() writes it.
      reads.length = 0;
      const draft = this.fresh(bytes);
      const tt = tts.find((x) => x.label === t.label);
      if (!tt) throw new ModelError(`model "${space.modelName}" is not deterministic: "${t.label}" is not enabled in a second call of transitions() ${where()}`);
      (tt.apply as (d: unknown) => void)(tracked(draft, schema.root, '', undefined, reads));
      const foreign = reads.find((r) => !ownedBy(r, lane));
      if (foreign) throw bad(t, `reads ${foreign.path}, ${describeOwner(foreign, lane)}`);
      // Writes: where the successor's bytes differ from the state's.
      this.aux.expand(bytes, 0, bytes.length);
      this.aux.successor(i, this.w);
      const changes = written(schema, bytes, this.w.bytes);
      const other = changes.find((r) => !ownedBy(r, lane));
      if (other) throw bad(t, `writes ${other.path}, ${describeOwner(other, lane)}`);
      const seen = changes.find((r) => this.visible.has(r.path));
      if (seen) throw bad(t, `writes ${seen.path}, which property "${this.visible.get(seen.path)}" reads (a local transition must be invisible)`);
      // The guard: with every other lane's transition u, t stays enabled and they commute.
      const after = this.w.copy();
      for (let j = 0; j < ts.length; j++) {
        const u = ts[j];
        if (u.lane === lane) continue;
        const tu = this.then(after, u.label);
        this.aux.expand(bytes, 0, bytes.length);
        this.aux.successor(j, this.v);
        const ut = this.then(this.v.copy(), t.label);
        if (ut === undefined) throw bad(t, `is disabled by "${u.label}" of lane ${u.lane}`);
        if (tu === undefined) throw bad(t, `disables "${u.label}" of lane ${u.lane}`);
        if (!sameBytes(tu, ut, 0, tu.length)) throw bad(t, `does not commute with "${u.label}" of lane ${u.lane}`);
      }
    }
  }

  /** A working tree of the state at b. */
  private fresh(b: Uint8Array): unknown {
    const tree = this.space.schema!.create();
    this.space.schema!.unpack(b, 0, tree);
    return tree;
  }

  /** The bytes after the transition labelled `label` from the state `from`, or undefined when it is not enabled. */
  private then(from: Uint8Array, label: string): Uint8Array | undefined {
    const ts = this.aux.expand(from, 0, from.length);
    const k = ts.findIndex((x) => x.label === label);
    if (k < 0) return undefined;
    this.aux.successor(k, this.w);
    return this.w.copy();
  }
}

function describeOwner(r: Read, lane: string): string {
  if (!r.owner) return `a shared field (not below an array or record indexed by a universe with a member named ${lane})`;
  return `a field of ${r.owner[0].members[r.owner[1]]}, not of lane ${lane}`;
}
