import { UsageError } from './errors.ts';

/** A typed model parameter with its default, settable with `--param name=value`. */
export type ParamSpec =
  | { readonly type: 'int'; readonly default: number; readonly min?: number; readonly max?: number; readonly doc?: string }
  | { readonly type: 'bool'; readonly default: boolean; readonly doc?: string }
  | { readonly type: 'enum'; readonly values: readonly string[]; readonly default: string; readonly doc?: string };

export type ParamSpecs = Readonly<Record<string, ParamSpec>>;

/** The values of a parameter set, typed from its specs. */
export type ParamValues<P extends ParamSpecs> = {
  readonly [K in keyof P]: P[K] extends { type: 'int' }
    ? number
    : P[K] extends { type: 'bool' }
      ? boolean
      : P[K] extends { values: readonly (infer V)[] }
        ? V
        : never;
};

export type AnyParams = Readonly<Record<string, number | boolean | string>>;

/** An integer parameter, optionally bounded (both ends inclusive). */
export function int(def: number, opts: { min?: number; max?: number; doc?: string } = {}) {
  return { type: 'int', default: def, ...opts } as const;
}

/** A boolean parameter (`true`/`false` on the command line). */
export function bool(def: boolean, doc?: string) {
  return { type: 'bool', default: def, doc } as const;
}

/** A parameter that takes one of a fixed list of names; by convention `variant` names a model's variants. */
export function oneOf<const V extends readonly string[]>(values: V, def: V[number], doc?: string) {
  return { type: 'enum', values, default: def, doc } as const;
}

/** What `--param` accepts for one spec, for error messages and `mc list`. */
export function describeParamType(spec: ParamSpec): string {
  switch (spec.type) {
    case 'int':
      return `integer${spec.min !== undefined || spec.max !== undefined ? ` in ${spec.min ?? '-inf'}..${spec.max ?? 'inf'}` : ''}`;
    case 'bool':
      return 'true|false';
    case 'enum':
      return spec.values.join('|');
  }
}

/** Checks one typed value against its spec; returns an error text or undefined. */
export function checkParamValue(spec: ParamSpec, value: unknown): string | undefined {
  switch (spec.type) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) return `expected an integer`;
      if (spec.min !== undefined && value < spec.min) return `must be at least ${spec.min}`;
      if (spec.max !== undefined && value > spec.max) return `must be at most ${spec.max}`;
      return undefined;
    case 'bool':
      return typeof value === 'boolean' ? undefined : 'expected true or false';
    case 'enum':
      return typeof value === 'string' && spec.values.includes(value) ? undefined : `expected one of ${spec.values.join(', ')}`;
  }
}

function parseParamText(name: string, spec: ParamSpec, text: string): number | boolean | string {
  const bad = (why: string) =>
    new UsageError(`bad value "${text}" for parameter "${name}": ${why} (valid: ${describeParamType(spec)})`);
  switch (spec.type) {
    case 'int': {
      if (!/^-?\d+$/.test(text.trim())) throw bad('not an integer');
      const v = Number(text);
      const err = checkParamValue(spec, v);
      if (err) throw bad(err);
      return v;
    }
    case 'bool':
      if (text === 'true' || text === '1') return true;
      if (text === 'false' || text === '0') return false;
      throw bad('not a boolean');
    case 'enum':
      if (!spec.values.includes(text)) throw bad('unknown value');
      return text;
  }
}

/** The default value of every parameter. */
export function defaultParams(specs: ParamSpecs): AnyParams {
  return Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.default]));
}

/**
 * Resolves `name=value` texts (from `--param`) over the defaults. Unknown names and ill-typed
 * values are UsageErrors that list what is valid.
 */
export function resolveParams(specs: ParamSpecs, assignments: readonly string[], modelName: string): AnyParams {
  const values: Record<string, number | boolean | string> = { ...defaultParams(specs) };
  const valid = () =>
    Object.entries(specs)
      .map(([k, s]) => `${k}=${describeParamType(s)}`)
      .join(', ') || '(none)';
  for (const a of assignments) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad --param "${a}": expected name=value; parameters of "${modelName}": ${valid()}`);
    const name = a.slice(0, eq).trim();
    // Own parameters only: `constructor`, `toString` and `__proto__` are not parameters.
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) throw new UsageError(`unknown parameter "${name}" for model "${modelName}"; available: ${valid()}`);
    values[name] = parseParamText(name, spec, a.slice(eq + 1).trim());
  }
  return values;
}

/** A short stable text for a parameter setting, e.g. `variant=upstream rt=true`. */
export function formatParams(values: AnyParams, specs?: ParamSpecs): string {
  const keys = specs ? Object.keys(specs) : Object.keys(values);
  return keys.map((k) => `${k}=${String(values[k])}`).join(' ');
}
