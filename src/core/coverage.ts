import { ModelError, modelFailure } from './errors.ts';
import type { AnyModel } from './model.ts';
import type { FiredLabel } from './outcome.ts';
import type { AnyParams } from './params.ts';

/**
 * The action a transition is an instance of: its own `action`, else its label with its lane's
 * number abstracted: in `cpu1: nmi enters` on lane `cpu1`, the word `cpu1` becomes `cpuN`.
 * Other numbers in the label stay (a bucket size, an array index): give `action` to merge them.
 */
export function actionName(label: string, lane: string, action?: string): string {
  if (action !== undefined) return action;
  const m = /^(.*?)(\d+)$/.exec(lane);
  if (!m || m[1] === '') return label;
  const word = new RegExp(`(^|[^A-Za-z0-9_])${lane.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9_])`, 'g');
  return label.replace(word, `$1${m[1]}N`);
}

export interface ActionCount {
  readonly action: string;
  readonly count: number;
}

export interface Coverage {
  /** Whether the model declares its actions; without that, never-fired ones cannot be named. */
  readonly declared: boolean;
  /** Every action with its firing count: the declared ones in their order, then undeclared ones that fired. */
  readonly actions: readonly ActionCount[];
  /** Declared actions that never fired. */
  readonly neverFired: readonly string[];
  /** Actions that fired but are not declared (a stale or misspelt declaration). */
  readonly undeclared: readonly string[];
}

/** Action coverage of a run, from the labels it fired and the model's declared actions. */
export function coverageOf(model: AnyModel, params: AnyParams, fired: readonly FiredLabel[]): Coverage {
  const counts = new Map<string, number>();
  for (const f of fired) {
    const a = actionName(f.label, f.lane, f.action);
    counts.set(a, (counts.get(a) ?? 0) + f.count);
  }
  let decl: readonly string[] | undefined;
  try {
    decl = model.actions === undefined ? undefined : typeof model.actions === 'function' ? model.actions(params) : model.actions;
  } catch (e) {
    throw modelFailure(`model "${model.name}": actions() threw`, e);
  }
  if (decl !== undefined && (!Array.isArray(decl) || decl.some((a) => typeof a !== 'string')))
    throw new ModelError(`model "${model.name}": actions must be a list of action names (strings)`);
  if (!decl) return { declared: false, actions: [...counts].map(([action, count]) => ({ action, count })), neverFired: [], undeclared: [] };
  const declared = [...new Set(decl)];
  const undeclared = [...counts.keys()].filter((a) => !declared.includes(a));
  return {
    declared: true,
    actions: [...declared.map((action) => ({ action, count: counts.get(action) ?? 0 })), ...undeclared.map((action) => ({ action, count: counts.get(action)! }))],
    neverFired: declared.filter((a) => !counts.has(a)),
    undeclared,
  };
}
