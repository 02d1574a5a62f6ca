import type { PropertyResult } from '../core/outcome.ts';
import { formatParams, type AnyParams } from '../core/params.ts';
import { viewTrace } from './steps.ts';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export interface HtmlReportInput {
  readonly model: string;
  readonly description?: string;
  readonly params: AnyParams;
  readonly result: PropertyResult;
  /** The model's lane order (`cpu0`, `cpu1`, …); lanes used by the trace but not listed follow. */
  readonly lanes?: readonly string[];
  /** The command that reproduces the counterexample. */
  readonly reproduce?: string;
  /** The ITF trace file written beside the report, for the replay command. */
  readonly itfFile?: string;
  readonly modelFile?: string;
  /** The counterexample graph as SVG, embedded when given. */
  readonly svg?: string;
}

const STYLE = `
:root { --red: #c62828; --red-bg: #ffebee; --grey: #666; --line: #ddd; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
code, .mono, td.step, .change { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
.params { color: var(--grey); }
.verdict { border-left: 4px solid var(--red); background: var(--red-bg); padding: 8px 12px; margin: 12px 0; }
.verdict .name { font-weight: bold; color: var(--red); }
.cmd { background: #f5f5f5; border: 1px solid var(--line); padding: 6px 10px; display: block; white-space: pre-wrap; word-break: break-all; }
table.scenario { border-collapse: collapse; min-width: 50%; }
table.scenario th { text-align: left; padding: 4px 16px 0 8px; font-family: ui-monospace, monospace; font-size: 14px; }
table.scenario th.lane { border-bottom: 2px solid #222; }
table.scenario td { vertical-align: top; padding: 4px 16px 4px 8px; border-bottom: 1px solid var(--line); }
td.step { color: var(--grey); text-align: right; width: 3em; }
td.cell .label { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-weight: 600; }
td.cell .change { color: #444; white-space: pre-wrap; overflow-wrap: anywhere; }
td.cell .change.offending { color: var(--red); font-weight: bold; }
tr.culprit td.cell.active { background: var(--red-bg); outline: 2px solid var(--red); }
tr.init td, tr.end td { background: #fafafa; }
tr.end td.cell { color: var(--red); font-weight: bold; }
details { margin: 8px 0; }
.graph svg { max-width: 100%; height: auto; }
`;

/**
 * A self-contained HTML page for one counterexample, to read at a glance like the CPU0/CPU1
 * columns of a lockdep "possible unsafe locking scenario": one column per lane, one row per
 * step in time order, each step in its lane's column with its label and the fields it changed;
 * then the violated property, its explanation, and the command that reproduces it. Inline CSS,
 * no script and no external resource: the file can be mailed or attached to a CI run.
 */
export function counterexampleHtml(input: HtmlReportInput): string {
  const { result } = input;
  const v = result.violation;
  if (!v) throw new Error(`property ${result.name} has no counterexample`);
  const view = viewTrace(v.trace, v.fields, input.lanes ?? []);
  const lanes = view.lanes;
  const n = view.steps.length;
  const lastIsCulprit = result.kind === 'invariant' || result.kind === 'step';
  const params = formatParams(input.params);
  const title = `${input.model}: ${result.name} violated`;

  const rows: string[] = [];
  const initFields = view.initial.map((f) => `<div class="change">${esc(f.path)} = ${esc(f.value)}</div>`).join('');
  rows.push(
    `<tr class="init" data-step="0"><td class="step">0</td><td class="cell" colspan="${lanes.length}"><span class="label">initial state</span>` +
      `<details><summary>${view.initial.length} field${view.initial.length === 1 ? '' : 's'}</summary>${initFields}</details></td></tr>`,
  );
  for (const s of view.steps) {
    const culprit = lastIsCulprit && s.index === n;
    const changes = s.changes.length
      ? s.changes.map((c) => `<div class="change${c.offending ? ' offending' : ''}">${esc(c.path)}: ${esc(c.from ?? '-')} → ${esc(c.to)}</div>`).join('')
      : '<div class="change"><i>(no field changed)</i></div>';
    const cells = lanes
      .map((lane) =>
        lane === s.lane
          ? `<td class="cell active" data-lane="${esc(lane)}"><div class="label">${esc(s.label)}</div>${changes}</td>`
          : `<td class="cell" data-lane="${esc(lane)}"></td>`,
      )
      .join('');
    rows.push(`<tr class="${culprit ? 'culprit' : 'move'}" data-step="${s.index}" data-lane="${esc(s.lane)}"><td class="step">${s.index}</td>${cells}</tr>`);
  }
  const loop = v.trace.loop;
  if (loop !== undefined) {
    const what = loop < n ? `↺ back to state ${loop}: steps ${loop + 1}–${n} repeat forever` : `the run stays in state ${n} forever`;
    rows.push(`<tr class="end"><td class="step"></td><td class="cell" colspan="${lanes.length}">${esc(what)}: ${esc(v.message)}</td></tr>`);
  } else if (!lastIsCulprit) {
    const what = result.kind === 'deadlock' ? 'deadlock: no transition is enabled' : 'at quiescence (no transition enabled)';
    rows.push(`<tr class="end"><td class="step"></td><td class="cell" colspan="${lanes.length}">${esc(what)}: ${esc(v.message)}</td></tr>`);
  }

  const why =
    loop !== undefined
      ? loop < n
        ? `A fair run that never satisfies the property: after state ${loop} (reached by a shortest path), steps ${loop + 1}–${n} repeat forever.`
        : `A fair run that never satisfies the property: it stays in state ${n}, where no lane can step but by actions that happen only finitely often.`
      : result.kind === 'deadlock'
      ? 'The last state has no enabled transition and the model does not accept it as an end state.'
      : result.kind === 'final'
        ? 'The last state has no enabled transition, and the property fails there.'
        : result.kind === 'step'
          ? `Step ${n} violates the property.`
          : n === 0
            ? 'The initial state violates the property.'
            : `The state after step ${n} violates the property.`;
  const offending = view.offending.length
    ? `<p>Offending: ${view.offending.map((f) => `<code>${esc(f.path)} = ${esc(f.value)}</code>`).join(', ')}</p>`
    : '';
  const commands = [
    input.reproduce ? `<p>Reproduce:</p><code class="cmd" id="reproduce">${esc(input.reproduce)}</code>` : '',
    input.itfFile && input.modelFile
      ? `<p>Replay the saved trace:</p><code class="cmd" id="replay">${esc(`mc replay ${input.itfFile} ${input.modelFile}`)}</code>`
      : '',
  ].join('');

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${esc(input.model)} <span class="params">[${esc(params)}]</span></h1>
${input.description ? `<p>${esc(input.description)}</p>` : ''}
<div class="verdict" id="verdict"><span class="name">${esc(result.name)}</span> violated: ${esc(v.message)}
<div>${esc(result.description)}</div></div>
<p id="why">${esc(why)} ${n} step${n === 1 ? '' : 's'} from the initial state${lanes.length > 1 ? `, interleaving ${lanes.map(esc).join(', ')}` : ''}.</p>
${offending}
<h2>Scenario</h2>
<table class="scenario" id="scenario">
<thead><tr><th></th>${lanes.map((l) => `<th class="lane" data-lane="${esc(l)}">${esc(l)}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
${commands}
${input.svg ? `<h2>Graph</h2><details open class="graph"><summary>counterexample graph</summary>${stripXmlProlog(input.svg)}</details>` : ''}
</body>
</html>
`;
}

/** An SVG document as an element to inline in HTML: without its XML declaration and doctype. */
function stripXmlProlog(svg: string): string {
  const i = svg.indexOf('<svg');
  return i >= 0 ? svg.slice(i) : svg;
}
