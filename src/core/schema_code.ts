/**
 * The code a schema compiles to (see schema.ts): one small function per schema node and task,
 * shared by every place the node appears, so that the code of a large state (a kernel with
 * CPUs, frames, locks and maps) stays small enough for V8 to optimize (TurboFan does not compile
 * functions past about 60 KB of bytecode). The tasks:
 * - pack: a tree to bytes, checking every value against its domain;
 * - diff: a successor's tree to bytes where the bytes of the state it was copied from are
 *   already in place: only what differs is checked and written;
 * - build: a fresh value from bytes (list elements, map values, optional structures);
 * - fill: bytes into an existing tree (the reused trees of the expanded state and the draft);
 * - restore: a tree back to other bytes, unpacking only the parts whose bytes differ.
 * The hot code builds no field paths: a check that fails throws BAD, and the schema then finds
 * the offending field with `explain`, which walks the value as the checks do and names its path.
 */
import { ModelError } from './errors.ts';
import { isScalar, join, memberPath, MemberSet, sharesCode, sizeOf, type Node, type Universe } from './schema.ts';
import type { TextTable } from './texts.ts';

/** What generated code throws when a value does not fit (Schema.pack then asks `explain` why). */
export const BAD: unique symbol = Symbol('a value outside its domain');

/**
 * Arrays of at most this many scalars are unrolled (twice as fast as a loop); arrays of
 * structures loop over one call of their element's function.
 */
const UNROLL = 16;

type PackFn = (v: unknown, b: Uint8Array, o: number) => void;
type DiffFn = (v: unknown, p: unknown, b: Uint8Array, o: number) => void;
type BuildFn = (b: Uint8Array, o: number) => unknown;
type FillFn = (b: Uint8Array, o: number, w: unknown) => void;
type RestoreFn = (b: Uint8Array, d: Uint8Array, o: number, w: unknown) => void;

const lit = (s: string) => JSON.stringify(s);

/** The variables and constants of one generated function. */
class Fn {
  private vars = 0;
  readonly consts: unknown[] = [];
  fresh(): string {
    return `x${this.vars++}`;
  }
  constant(v: unknown): string {
    const i = this.consts.indexOf(v);
    if (i >= 0 && typeof v === 'function') return `K[${i}]`;
    this.consts.push(v);
    return `K[${this.consts.length - 1}]`;
  }
  compile<F>(name: string, params: string, body: string): F {
    const vars = Array.from({ length: this.vars }, (_, i) => `x${i}`);
    const src = `"use strict"; return function ${name}(${params}) { let c${vars.length ? `, ${vars.join(', ')}` : ''}; ${body} };`;
    return new Function('K', 'BAD', 'MemberSet', src)(this.consts, BAD, MemberSet) as F;
  }
}

/** Code that writes the `size`-byte unsigned code `c` at `b[off]`. */
function writeCode(size: number, c: string, off: string): string {
  if (size === 1) return `b[${off}] = ${c};`;
  if (size === 2) return `b[${off}] = ${c} & 255; b[${off} + 1] = ${c} >>> 8;`;
  return `b[${off}] = ${c} & 255; b[${off} + 1] = (${c} >>> 8) & 255; b[${off} + 2] = (${c} >>> 16) & 255; b[${off} + 3] = ${c} >>> 24;`;
}

function readCode(size: number, off: string): string {
  if (size === 1) return `b[${off}]`;
  if (size === 2) return `(b[${off}] | (b[${off} + 1] << 8))`;
  return `((b[${off}] | (b[${off} + 1] << 8) | (b[${off} + 2] << 16) | (b[${off} + 3] << 24)) >>> 0)`;
}

/** Code that zeroes b[from, from + n). */
const zero = (from: string, n: number): string => (n <= 0 ? '' : n <= 8 ? Array.from({ length: n }, (_, i) => `b[${from} + ${i}] = 0;`).join(' ') : `b.fill(0, ${from}, ${from} + ${n});`);

/** Whether b[at, at + n) and d[at, at + n) differ. */
function differ(b: Uint8Array, d: Uint8Array, at: number, n: number): boolean {
  for (let k = at; k < at + n; k++) if (b[k] !== d[k]) return true;
  return false;
}

/** Whether two maps (or sets) hold the same keys in the same order. */
function sameKeys(a: ReadonlyMap<unknown, unknown> | ReadonlySet<unknown>, b: ReadonlyMap<unknown, unknown> | ReadonlySet<unknown>): boolean {
  const ib = b.keys();
  for (const k of a.keys()) if (ib.next().value !== k) return false;
  return true;
}

const fixed = (n: Node) => n.kind === 'struct' || n.kind === 'record' || n.kind === 'array';

export class Compiler {
  private readonly packs = new Map<Node, PackFn>();
  private readonly diffs = new Map<Node, DiffFn>();
  private readonly builds = new Map<Node, BuildFn>();
  private readonly fills = new Map<Node, FillFn>();
  private readonly restores = new Map<Node, RestoreFn>();

  constructor(private readonly texts: TextTable) {}

  // ---- scalars

  /** Code that checks scalar `v` against node `n` and leaves its code in `c`. */
  private scalar(f: Fn, n: Node, v: string): string {
    switch (n.kind) {
      case 'bool':
        return `if (${v} === true) c = 1; else if (${v} === false) c = 0; else throw BAD;`;
      case 'int':
        return `if (typeof ${v} !== 'number' || !(${v} >= ${n.min} && ${v} <= ${n.max}) || (${v} | 0) !== ${v}) throw BAD; c = ${n.min === 0 ? v : `${v} - ${n.min}`};`;
      case 'member':
        return `if (typeof ${v} !== 'number' || !(${v} >= 0 && ${v} < ${n.universe.size}) || (${v} | 0) !== ${v}) throw BAD; c = ${v};`;
      case 'text': {
        // The text this site packed last, and its number: most packs write the same one again.
        const memo = f.constant({ text: undefined as string | undefined, id: 0 });
        return `if (${v} === ${memo}.text) c = ${memo}.id; else { if (typeof ${v} !== 'string') throw BAD; c = ${f.constant(this.texts)}.id(${v}); ${memo}.text = ${v}; ${memo}.id = c; }`;
      }
      case 'enum': {
        if (n.names.length <= 8) return `c = ${n.names.map((name, i) => `${v} === ${lit(name)} ? ${i} : `).join('')}-1; if (c < 0) throw BAD;`;
        return `c = ${f.constant(new Map(n.names.map((x, i) => [x, i])))}.get(${v}); if (c === undefined) throw BAD;`;
      }
      default:
        throw new Error(`not a scalar: ${n.kind}`);
    }
  }

  private value(f: Fn, n: Node, code: string): string {
    switch (n.kind) {
      case 'bool':
        return `${code} !== 0`;
      case 'int':
        return n.min === 0 ? code : `${code} + ${n.min}`;
      case 'member':
        return code;
      case 'enum':
        return `${f.constant(n.names)}[${code}]`;
      case 'text':
        return `${f.constant(this.texts)}.text(${code})`;
      default:
        throw new Error(`not a scalar: ${n.kind}`);
    }
  }

  // ---- pack

  /** Pack code for the value of expression `v` at b[off]: inline for scalars, a call otherwise. */
  private packInline(f: Fn, n: Node, v: string, off: string): string {
    if (isScalar(n)) {
      const x = f.fresh();
      return `${x} = ${v}; ${this.scalar(f, n, x)} ${writeCode(sizeOf(n), 'c', off)}`;
    }
    if (n.kind === 'optional' && sharesCode(n)) {
      const x = f.fresh();
      const size = sizeOf(n);
      return `${x} = ${v}; if (${x} === null) { ${writeCode(size, '0', off)} } else { ${this.scalar(f, n.inner, x)} c = c + 1; ${writeCode(size, 'c', off)} }`;
    }
    return `${f.constant(this.pack(n))}(${v}, b, ${off});`;
  }

  pack(n: Node): PackFn {
    let fn = this.packs.get(n);
    if (fn) return fn;
    const f = new Fn();
    let body = '';
    switch (n.kind) {
      case 'optional':
        body = sharesCode(n)
          ? this.packInline(f, n, 'v', 'o')
          : `if (v === null) { b[o] = 0; ${zero('o + 1', sizeOf(n.inner))} } else { b[o] = 1; ${this.packInline(f, n.inner, 'v', 'o + 1')} }`;
        break;
      case 'struct': {
        let at = 0;
        body = `if (v === null || typeof v !== 'object') throw BAD;\n${n.fields
          .map(([k, c]) => {
            const code = this.packInline(f, c, `v.${k}`, `o + ${at}`);
            at += sizeOf(c);
            return code;
          })
          .join('\n')}`;
        break;
      }
      case 'record': {
        const es = sizeOf(n.elem);
        body = `if (v === null || typeof v !== 'object') throw BAD;\n${n.universe.members.map((m, i) => this.packInline(f, n.elem, `v[${lit(m)}]`, `o + ${i * es}`)).join('\n')}`;
        break;
      }
      case 'array': {
        const es = sizeOf(n.elem);
        const head = `if (!Array.isArray(v) || v.length !== ${n.length}) throw BAD;\n`;
        body =
          n.length <= UNROLL && isScalar(n.elem)
            ? head + Array.from({ length: n.length }, (_, k) => this.packInline(f, n.elem, `v[${k}]`, `o + ${k * es}`)).join('\n')
            : `${head}for (let i = 0; i < ${n.length}; i++) { ${this.packInline(f, n.elem, 'v[i]', `o + i * ${es}`)} }`;
        break;
      }
      case 'list': {
        const es = sizeOf(n.elem);
        body = `if (!Array.isArray(v) || v.length > ${n.capacity}) throw BAD;
b[o] = v.length;
for (let i = 0; i < v.length; i++) { ${this.packInline(f, n.elem, 'v[i]', `o + 1 + i * ${es}`)} }
if (v.length < ${n.capacity}) b.fill(0, o + 1 + v.length * ${es}, o + ${1 + n.capacity * es});`;
        break;
      }
      case 'map': {
        // Keys put in code order in this function's scratch arrays (an insertion sort: maps are
        // small and mostly in order already), then written with their values. No allocation.
        const ks = sizeOf(n.key);
        const es = ks + sizeOf(n.elem);
        const codes = f.constant(new Float64Array(n.capacity));
        const keys = f.constant(new Array<unknown>(n.capacity));
        const k = f.fresh();
        const m = f.fresh();
        body = `if (!(v instanceof Map) || v.size > ${n.capacity}) throw BAD;
${m} = 0; for (${k} of v.keys()) { ${this.scalar(f, n.key, k)} let j = ${m}++; while (j > 0 && ${codes}[j - 1] > c) { ${codes}[j] = ${codes}[j - 1]; ${keys}[j] = ${keys}[j - 1]; j--; } ${codes}[j] = c; ${keys}[j] = ${k}; }
b[o] = ${m};
for (let i = 0; i < ${m}; i++) { c = ${codes}[i]; ${writeCode(ks, 'c', `o + 1 + i * ${es}`)} ${this.packInline(f, n.elem, `v.get(${keys}[i])`, `o + 1 + i * ${es} + ${ks}`)} }
for (let i = 0; i < ${m}; i++) ${keys}[i] = undefined;
if (${m} < ${n.capacity}) b.fill(0, o + 1 + ${m} * ${es}, o + ${1 + n.capacity * es});`;
        break;
      }
      case 'keys': {
        const ks = sizeOf(n.key);
        const codes = f.constant(new Float64Array(n.capacity));
        const k = f.fresh();
        const m = f.fresh();
        body = `if (!(v instanceof Set) || v.size > ${n.capacity}) throw BAD;
${m} = 0; for (${k} of v) { ${this.scalar(f, n.key, k)} let j = ${m}++; while (j > 0 && ${codes}[j - 1] > c) { ${codes}[j] = ${codes}[j - 1]; j--; } ${codes}[j] = c; }
b[o] = ${m};
for (let i = 0; i < ${m}; i++) { c = ${codes}[i]; ${writeCode(ks, 'c', `o + 1 + i * ${ks}`)} }
if (${m} < ${n.capacity}) b.fill(0, o + 1 + ${m} * ${ks}, o + ${1 + n.capacity * ks});`;
        break;
      }
      case 'set': {
        const bytes = sizeOf(n);
        body = `if (!(v instanceof MemberSet) || v.universe !== ${f.constant(n.universe)}) throw BAD; ${Array.from({ length: bytes }, (_, k) => `b[o + ${k}] = (v.words[${k >> 2}] >>> ${(k & 3) * 8}) & 255;`).join(' ')}`;
        break;
      }
      default:
        body = this.packInline(f, n, 'v', 'o');
    }
    fn = f.compile<PackFn>(`pack_${n.kind}`, 'v, b, o', body);
    this.packs.set(n, fn);
    return fn;
  }

  // ---- diff

  /** Diff code for successor value `v` against the state's value `p` at b[off]. */
  private diffInline(f: Fn, n: Node, v: string, p: string, off: string): string {
    if (isScalar(n) || (n.kind === 'optional' && isScalar(n.inner))) return `if (${v} !== ${p}) { ${this.packInline(f, n, v, off)} }`;
    return `${f.constant(this.diff(n))}(${v}, ${p}, b, ${off});`;
  }

  /**
   * A scalar is written (and checked) only where it differs from the state's, a structure is
   * descended into, a list, map or set of the same size is compared member by member, and one
   * that changed size is packed whole. What did not change is already right in `b` and valid,
   * since it came from bytes.
   */
  diff(n: Node): DiffFn {
    let fn = this.diffs.get(n);
    if (fn) return fn;
    const f = new Fn();
    const whole = `${f.constant(this.pack(n))}(v, b, o);`;
    let body: string;
    switch (n.kind) {
      case 'optional':
        body = `if (v === null || p === null) { if (v !== p) ${whole} } else { ${this.diffInline(f, n.inner, 'v', 'p', 'o + 1')} }`;
        break;
      case 'struct': {
        let at = 0;
        body = `if (v === null || typeof v !== 'object') throw BAD;\n${n.fields
          .map(([k, c]) => {
            const code = this.diffInline(f, c, `v.${k}`, `p.${k}`, `o + ${at}`);
            at += sizeOf(c);
            return code;
          })
          .join('\n')}`;
        break;
      }
      case 'record': {
        const es = sizeOf(n.elem);
        body = `if (v === null || typeof v !== 'object') throw BAD;\n${n.universe.members.map((m, i) => this.diffInline(f, n.elem, `v[${lit(m)}]`, `p[${lit(m)}]`, `o + ${i * es}`)).join('\n')}`;
        break;
      }
      case 'array':
      case 'list': {
        const es = sizeOf(n.elem);
        const first = n.kind === 'list' ? 'o + 1' : 'o';
        const same = n.kind === 'list' ? 'Array.isArray(v) && v.length === p.length' : `Array.isArray(v) && v.length === ${n.length}`;
        body = `if (${same}) { for (let i = 0; i < v.length; i++) { ${this.diffInline(f, n.elem, 'v[i]', 'p[i]', `${first} + i * ${es}`)} } } else ${whole}`;
        break;
      }
      case 'map': {
        // The same keys in the same order (only values changed): values diffed; else packed whole.
        const ks = sizeOf(n.key);
        const es = ks + sizeOf(n.elem);
        const ex = f.fresh();
        body = `if (v instanceof Map && v.size === p.size && ${f.constant(sameKeys)}(v, p)) { let i = 0; const it = p.values(); for (${ex} of v.values()) { ${this.diffInline(f, n.elem, ex, 'it.next().value', `o + 1 + i * ${es} + ${ks}`)} i++; } } else ${whole}`;
        break;
      }
      case 'keys':
        body = `if (!(v instanceof Set && v.size === p.size && ${f.constant(sameKeys)}(v, p))) ${whole}`;
        break;
      case 'set': {
        const words = (n.universe.size + 31) >>> 5;
        body = `if (!(v instanceof MemberSet && ${Array.from({ length: words }, (_, w) => `v.words[${w}] === p.words[${w}]`).join(' && ')})) ${whole}`;
        break;
      }
      default:
        body = this.diffInline(f, n, 'v', 'p', 'o');
    }
    fn = f.compile<DiffFn>(`diff_${n.kind}`, 'v, p, b, o', body);
    this.diffs.set(n, fn);
    return fn;
  }

  // ---- build and fill

  /** An expression that builds a fresh value of `n` from b[off]: a literal, or a call. */
  private buildInline(f: Fn, n: Node, off: string): string {
    if (isScalar(n)) return this.value(f, n, readCode(sizeOf(n), off));
    if (n.kind === 'struct') {
      let at = 0;
      return `{ ${n.fields
        .map(([k, c]) => {
          const x = `${k}: ${this.buildInline(f, c, `${off} + ${at}`)}`;
          at += sizeOf(c);
          return x;
        })
        .join(', ')} }`;
    }
    return `${f.constant(this.build(n))}(b, ${off})`;
  }

  build(n: Node): BuildFn {
    let fn = this.builds.get(n);
    if (fn) return fn;
    const f = new Fn();
    let body: string;
    switch (n.kind) {
      case 'optional':
        body = sharesCode(n) ? `c = ${readCode(sizeOf(n), 'o')}; return c === 0 ? null : ${this.value(f, n.inner, '(c - 1)')};` : `return b[o] === 0 ? null : ${this.buildInline(f, n.inner, 'o + 1')};`;
        break;
      case 'record': {
        const es = sizeOf(n.elem);
        body = `return { ${n.universe.members.map((m, i) => `${lit(m)}: ${this.buildInline(f, n.elem, `o + ${i * es}`)}`).join(', ')} };`;
        break;
      }
      case 'array':
      case 'list': {
        const es = sizeOf(n.elem);
        const count = n.kind === 'array' ? String(n.length) : 'b[o]';
        const first = n.kind === 'array' ? 'o' : 'o + 1';
        body = `const n = ${count}; const a = new Array(n); for (let i = 0; i < n; i++) a[i] = ${this.buildInline(f, n.elem, `${first} + i * ${es}`)}; return a;`;
        break;
      }
      case 'map': {
        const ks = sizeOf(n.key);
        const es = ks + sizeOf(n.elem);
        body = `const m = new Map(); for (let i = 0; i < b[o]; i++) m.set(${this.value(f, n.key, readCode(ks, `o + 1 + i * ${es}`))}, ${this.buildInline(f, n.elem, `o + 1 + i * ${es} + ${ks}`)}); return m;`;
        break;
      }
      case 'keys': {
        const ks = sizeOf(n.key);
        body = `const m = new Set(); for (let i = 0; i < b[o]; i++) m.add(${this.value(f, n.key, readCode(ks, `o + 1 + i * ${ks}`))}); return m;`;
        break;
      }
      case 'set':
        body = `const m = new MemberSet(${f.constant(n.universe)}); ${this.setWords(n, 'm')} return m;`;
        break;
      default:
        body = `return ${this.buildInline(f, n, 'o')};`;
    }
    fn = f.compile<BuildFn>(`build_${n.kind}`, 'b, o', body);
    this.builds.set(n, fn);
    return fn;
  }

  private setWords(n: Node & { kind: 'set' }, x: string): string {
    const bytes = sizeOf(n);
    return Array.from({ length: (n.universe.size + 31) >>> 5 }, (_, w) => {
      const parts = [];
      for (let k = 4 * w; k < Math.min(bytes, 4 * w + 4); k++) parts.push(`(b[o + ${k}] << ${(k & 3) * 8})`);
      return `${x}.words[${w}] = ${parts.join(' | ')};`;
    }).join(' ');
  }

  /**
   * Code that sets `target` (an assignable expression) from b[off]: a scalar, or a value built
   * whole (a list's elements, a map, an optional structure); a fixed structure, an array, a
   * list and a set keep their object and are filled.
   */
  private fillInline(f: Fn, n: Node, target: string, off: string): string {
    if (isScalar(n)) return `${target} = ${this.value(f, n, readCode(sizeOf(n), off))};`;
    if (fixed(n) || n.kind === 'list' || n.kind === 'set') return `${f.constant(this.fill(n))}(b, ${off}, ${target});`;
    return `${target} = ${this.buildInline(f, n, off)};`;
  }

  fill(n: Node): FillFn {
    let fn = this.fills.get(n);
    if (fn) return fn;
    const f = new Fn();
    let body: string;
    switch (n.kind) {
      case 'struct': {
        let at = 0;
        body = n.fields
          .map(([k, c]) => {
            const code = this.fillInline(f, c, `w.${k}`, `o + ${at}`);
            at += sizeOf(c);
            return code;
          })
          .join('\n');
        break;
      }
      case 'record': {
        const es = sizeOf(n.elem);
        body = n.universe.members.map((m, i) => this.fillInline(f, n.elem, `w[${lit(m)}]`, `o + ${i * es}`)).join('\n');
        break;
      }
      case 'array': {
        const es = sizeOf(n.elem);
        body =
          n.length <= UNROLL && isScalar(n.elem)
            ? Array.from({ length: n.length }, (_, k) => this.fillInline(f, n.elem, `w[${k}]`, `o + ${k * es}`)).join('\n')
            : `for (let i = 0; i < ${n.length}; i++) { ${this.fillInline(f, n.elem, 'w[i]', `o + i * ${es}`)} }`;
        break;
      }
      case 'list': {
        const es = sizeOf(n.elem);
        body = `w.length = b[o]; for (let i = 0; i < w.length; i++) w[i] = ${this.buildInline(f, n.elem, `o + 1 + i * ${es}`)};`;
        break;
      }
      case 'set':
        body = this.setWords(n, 'w');
        break;
      default:
        throw new Error(`fill: t.${n.kind} is built whole`);
    }
    fn = f.compile<FillFn>(`fill_${n.kind}`, 'b, o, w', body);
    this.fills.set(n, fn);
    return fn;
  }

  // ---- restore

  /**
   * Sets tree `w`, which holds the state whose bytes are d[o…], back to the state b[o…]: fixed
   * structures are descended into (after one comparison of their bytes when they are large);
   * every other part is filled anew when any of its bytes differ.
   */
  restore(n: Node): RestoreFn {
    let fn = this.restores.get(n);
    if (fn) return fn;
    const f = new Fn();
    const ne = (at: string, len: number) =>
      len <= 4 ? Array.from({ length: len }, (_, k) => `b[${at} + ${k}] !== d[${at} + ${k}]`).join(' || ') : `${f.constant(differ)}(b, d, ${at}, ${len})`;
    const child = (c: Node, target: string, off: string) => (fixed(c) ? `${f.constant(this.restore(c))}(b, d, ${off}, ${target});` : `if (${ne(off, sizeOf(c))}) { ${this.fillInline(f, c, target, off)} }`);
    let body: string;
    switch (n.kind) {
      case 'struct': {
        let at = 0;
        body = n.fields
          .map(([k, c]) => {
            const code = child(c, `w.${k}`, `o + ${at}`);
            at += sizeOf(c);
            return code;
          })
          .join('\n');
        break;
      }
      case 'record': {
        const es = sizeOf(n.elem);
        body = n.universe.members.map((m, i) => child(n.elem, `w[${lit(m)}]`, `o + ${i * es}`)).join('\n');
        break;
      }
      case 'array': {
        const es = sizeOf(n.elem);
        body = `for (let i = 0; i < ${n.length}; i++) { ${child(n.elem, 'w[i]', `o + i * ${es}`)} }`;
        break;
      }
      default:
        throw new Error(`restore: t.${n.kind} is filled whole`);
    }
    if (sizeOf(n) > 16) body = `if (!${ne('o', sizeOf(n))}) return;\n${body}`;
    fn = f.compile<RestoreFn>(`restore_${n.kind}`, 'b, d, o, w', body);
    this.restores.set(n, fn);
    return fn;
  }
}

// ---- why a value does not fit: the checks of the generated code, with paths

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof MemberSet) return `a set over another universe "${v.universe.name}"`;
  if (v === undefined) return 'undefined (missing)';
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? `an array of ${v.length}` : 'an object';
  return String(v);
}

const errors = {
  int: (path: string, v: unknown, min: number, max: number) =>
    new ModelError(`${path} = ${describe(v)} is outside its domain: ${typeof v === 'number' && Number.isInteger(v) ? `int ${min}..${max}` : `expected an integer in ${min}..${max}`}`),
  bool: (path: string, v: unknown) => new ModelError(`${path} = ${describe(v)}: expected true or false`),
  enum: (path: string, v: unknown, names: readonly string[]) => new ModelError(`${path} = ${describe(v)} is not one of its names: ${names.join(', ')}`),
  member: (path: string, v: unknown, u: Universe) =>
    new ModelError(`${path} = ${describe(v)} is not a member of universe "${u.name}": expected an index 0..${u.size - 1} (${u.members.join(', ')})`),
  struct: (path: string, v: unknown) => new ModelError(`${path || '(state)'} = ${describe(v)}: expected an object with the struct's fields`),
  array: (path: string, v: unknown, n: number) => new ModelError(`${path} = ${describe(v)}: expected an array of exactly ${n}`),
  map: (path: string, v: unknown, cap: number) =>
    v instanceof Map ? new ModelError(`${path} holds ${v.size} entries, more than its capacity of ${cap}`) : new ModelError(`${path} = ${describe(v)}: expected a Map of at most ${cap} entries`),
  keys: (path: string, v: unknown, cap: number) =>
    v instanceof Set ? new ModelError(`${path} holds ${v.size} members, more than its capacity of ${cap}`) : new ModelError(`${path} = ${describe(v)}: expected a Set of at most ${cap} members`),
  list: (path: string, v: unknown, cap: number) =>
    Array.isArray(v) ? new ModelError(`${path} holds ${v.length} elements, more than its capacity of ${cap}`) : new ModelError(`${path} = ${describe(v)}: expected an array of at most ${cap}`),
  set: (path: string, v: unknown, u: Universe) => new ModelError(`${path} = ${describe(v)}: expected the MemberSet over universe "${u.name}" it had`),
  text: (path: string, v: unknown) => new ModelError(`${path} = ${describe(v)}: expected a string (t.text)`),
};

/** The error for the first value of `v` (at `path`) that does not fit node `n`, or undefined. */
export function explain(n: Node, v: unknown, path = ''): ModelError | undefined {
  switch (n.kind) {
    case 'bool':
      return v === true || v === false ? undefined : errors.bool(path, v);
    case 'int':
      return typeof v === 'number' && v >= n.min && v <= n.max && (v | 0) === v ? undefined : errors.int(path, v, n.min, n.max);
    case 'member':
      return typeof v === 'number' && v >= 0 && v < n.universe.size && (v | 0) === v ? undefined : errors.member(path, v, n.universe);
    case 'enum':
      return n.names.includes(v as string) ? undefined : errors.enum(path, v, n.names);
    case 'text':
      return typeof v === 'string' ? undefined : errors.text(path, v);
    case 'optional':
      return v === null ? undefined : explain(n.inner, v, path);
    case 'struct':
      if (v === null || typeof v !== 'object') return errors.struct(path, v);
      for (const [k, c] of n.fields) {
        const e = explain(c, (v as Record<string, unknown>)[k], join(path, k));
        if (e) return e;
      }
      return undefined;
    case 'record':
      if (v === null || typeof v !== 'object') return errors.struct(path, v);
      for (const m of n.universe.members) {
        const e = explain(n.elem, (v as Record<string, unknown>)[m], memberPath(path, m));
        if (e) return e;
      }
      return undefined;
    case 'array':
    case 'list': {
      if (n.kind === 'array' ? !Array.isArray(v) || v.length !== n.length : !Array.isArray(v) || v.length > n.capacity)
        return n.kind === 'array' ? errors.array(path, v, n.length) : errors.list(path, v, n.capacity);
      const a = v as unknown[];
      for (let i = 0; i < a.length; i++) {
        const e = explain(n.elem, a[i], `${path}[${i}]`);
        if (e) return e;
      }
      return undefined;
    }
    case 'set':
      return v instanceof MemberSet && v.universe === n.universe ? undefined : errors.set(path, v, n.universe);
    case 'map': {
      if (!(v instanceof Map) || v.size > n.capacity) return errors.map(path, v, n.capacity);
      for (const [k, x] of v) {
        const e = explain(n.key, k, `${path} key ${JSON.stringify(k)}`) ?? explain(n.elem, x, `${path}.get(${JSON.stringify(k)})`);
        if (e) return e;
      }
      return undefined;
    }
    case 'keys': {
      if (!(v instanceof Set) || v.size > n.capacity) return errors.keys(path, v, n.capacity);
      for (const k of v) {
        const e = explain(n.key, k, `${path} member ${JSON.stringify(k)}`);
        if (e) return e;
      }
      return undefined;
    }
  }
}

