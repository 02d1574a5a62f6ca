import { createRequire } from 'node:module';
import type { Graph } from 'graphviz-builder';
import type { PropertyResult } from '../core/outcome.ts';
import { formatParams, type AnyParams } from '../core/params.ts';
import { viewTrace } from './steps.ts';

// graphviz-builder's ES module build assigns an undeclared variable and throws in strict mode;
// its CommonJS build is the same code and works, so load that one.
const { digraph } = createRequire(import.meta.url)('graphviz-builder') as typeof import('graphviz-builder');

/** graphviz-builder keeps at most 1000 characters of an HTML label; stay below. */
const HTML_BUDGET = 900;
const RED = '#c62828';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A quoted DOT string: graphviz-builder writes values between quotes without escaping them. */
function quoted(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/** A value shown in a graph node: long ones (a whole pushed frame) are cut; the text trace has them whole. */
const VALUE_MAX = 60;
function clip(s: string): string {
  return s.length > VALUE_MAX ? `${s.slice(0, VALUE_MAX - 1)}…` : s;
}

interface Row {
  readonly html: string;
  /** Kept even when the budget cuts other rows (the offending values). */
  readonly keep?: boolean;
}

/** An HTML label from a title row and detail rows, cut to the builder's budget, rows to keep first. */
function htmlLabel(title: string, rows: readonly (Row | string)[]): string {
  const all = rows.map((r) => (typeof r === 'string' ? { html: r } : r)).map((r) => ({ ...r, html: `<tr><td align="left">${r.html}</td></tr>` }));
  let out = `<table border="0" cellborder="0" cellspacing="0" cellpadding="1"><tr><td align="left">${title}</td></tr>`;
  const end = '</table>';
  let room = HTML_BUDGET - out.length - end.length - 60;
  const shown = new Set<number>();
  for (const pass of [true, false])
    all.forEach((r, i) => {
      if (!!r.keep !== pass || r.html.length > room) return;
      shown.add(i);
      room -= r.html.length;
    });
  out += all.filter((_, i) => shown.has(i)).map((r) => r.html).join('');
  if (shown.size < all.length) out += `<tr><td align="left"><i>… ${all.length - shown.size} more</i></td></tr>`;
  return `!${out}${end}`;
}

/**
 * The counterexample of one violated property as a Graphviz digraph: one column (cluster) per
 * lane in the model's order, the steps numbered in time order and chained top to bottom, each
 * with the fields it changed; the violating step and the offending values in red.
 */
export function counterexampleDot(model: string, params: AnyParams, result: PropertyResult, lanes: readonly string[] = []): string {
  const v = result.violation;
  if (!v) throw new Error(`property ${result.name} has no counterexample`);
  const view = viewTrace(v.trace, v.fields, lanes);
  const g: Graph = digraph(quoted(`${model}/${result.name}`));
  g.set('rankdir', 'TB');
  g.set('labelloc', 't');
  g.set('fontname', 'Helvetica');
  g.set('label', quoted(`${model} [${formatParams(params)}]\n${result.name} violated: ${v.message}`));
  g.setNodeAttribut('shape', 'box');
  g.setNodeAttribut('style', 'rounded,filled');
  g.setNodeAttribut('fillcolor', 'white');
  g.setNodeAttribut('fontname', 'Helvetica');
  g.setNodeAttribut('fontsize', 10);
  g.setEdgeAttribut('color', 'gray40');

  const n = view.steps.length;
  const lastIsCulprit = result.kind === 'invariant' || result.kind === 'step';
  const initRows = view.initial.map((f) => `${esc(f.path)} = ${esc(clip(f.value))}`);
  g.addNode('s0', {
    label: htmlLabel('<b>0</b>  initial state', initRows),
    shape: 'note',
    ...(n === 0 && lastIsCulprit ? { color: RED, penwidth: 2 } : {}),
  });

  // One column per lane: a header row in lane order (a flat edge puts its tail left of its
  // head), so that idle lanes show too, and a cluster below it holding the lane's steps.
  const clusters = new Map<string, Graph>();
  view.lanes.forEach((lane, i) => {
    g.addNode(`h${i}`, { label: quoted(lane), shape: 'plaintext', fontsize: 14 });
    g.addEdge('s0', `h${i}`, { style: 'invis' });
    if (i > 0) g.addEdge(`h${i - 1}`, `h${i}`, { style: 'invis', minlen: 0 });
    if (n > 0) g.addEdge(`h${i}`, 's1', { style: 'invis' });
    const c = g.addCluster(`cluster_${i}`);
    c.set('label', '');
    c.set('style', 'dashed');
    c.set('color', 'gray60');
    clusters.set(lane, c);
  });

  for (const s of view.steps) {
    const culprit = lastIsCulprit && s.index === n;
    const rows = s.changes.map((c): Row => {
      const text = `${esc(c.path)}: ${esc(clip(c.from ?? '-'))} → ${esc(clip(c.to))}`;
      return c.offending ? { html: `<font color="${RED}"><b>${text}</b></font>`, keep: true } : { html: text };
    });
    const title = `<b>${s.index}</b>  ${esc(s.label)}`;
    clusters.get(s.lane)!.addNode(`s${s.index}`, {
      label: htmlLabel(title, rows.length ? rows : ['<i>(no field changed)</i>']),
      ...(culprit ? { color: RED, fillcolor: '#ffebee', penwidth: 2 } : {}),
    });
  }
  // Time order: each step follows the previous one; a switch of lane is drawn dashed. Steps of
  // one lane are also tied together (invisibly, heavily) so that the lane stays a column.
  const lastInLane = new Map<string, number>();
  for (const s of view.steps) {
    const prev = view.steps[s.index - 2];
    g.addEdge(`s${s.index - 1}`, `s${s.index}`, prev && prev.lane === s.lane ? { weight: 4 } : { style: 'dashed', constraint: true });
    const before = lastInLane.get(s.lane);
    const header = `h${view.lanes.indexOf(s.lane)}`;
    if (before === undefined) g.addEdge(header, `s${s.index}`, { style: 'invis', weight: 8 });
    else if (before !== s.index - 1) g.addEdge(`s${before}`, `s${s.index}`, { style: 'invis', weight: 8 });
    lastInLane.set(s.lane, s.index);
  }
  const loop = v.trace.loop;
  if (loop !== undefined) {
    // A lasso: the last step returns to state `loop`, drawn as a red back edge; or the run stays in its last state.
    if (loop < n) g.addEdge(`s${n}`, `s${loop}`, { color: RED, penwidth: 2, style: 'bold', constraint: false, label: quoted(`repeats forever (back to ${loop})`), fontcolor: RED, fontsize: 10 });
    else {
      g.addNode('end', { label: htmlLabel(`<font color="${RED}"><b>stays here forever</b></font>`, [esc(v.message)]), shape: 'octagon', color: RED, fillcolor: '#ffebee' });
      g.addEdge(`s${n}`, 'end', { color: RED });
    }
  } else if (!lastIsCulprit) {
    const what = result.kind === 'deadlock' ? 'deadlock: no transition enabled' : 'quiescent: no transition enabled';
    g.addNode('end', {
      label: htmlLabel(`<font color="${RED}"><b>${what}</b></font>`, [...(result.kind === 'deadlock' ? [] : [esc(v.message)]), ...view.offending.map((f) => `<font color="${RED}">${esc(f.path)} = ${esc(f.value)}</font>`)]),
      shape: 'octagon',
      color: RED,
      fillcolor: '#ffebee',
    });
    g.addEdge(`s${n}`, 'end', { color: RED });
  }
  // graphviz-builder rejects attributes it does not know, newrank among them; without it dot
  // ranks each cluster on its own and a later step can be drawn above an earlier one.
  return g.to_dot().replace('{\n', '{\n  newrank = true;\n');
}
