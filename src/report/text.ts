import type { Coverage } from '../core/coverage.ts';
import type { Outcome, PropertyResult, StopReason } from '../core/outcome.ts';
import { statesPerSecond } from '../core/outcome.ts';
import { formatParams } from '../core/params.ts';
import { viewTrace } from './steps.ts';

const ARROW = '→';

/** The counterexample of one violated property as indented text: per step, only what changed. */
export function formatCounterexample(result: PropertyResult, lanes: readonly string[] = []): string {
  const v = result.violation;
  if (!v) return '';
  const view = viewTrace(v.trace, v.fields, lanes);
  const n = view.steps.length;
  const laneWidth = Math.max(4, ...view.lanes.map((l) => l.length));
  const numWidth = String(n).length;
  const lines: string[] = [];
  lines.push(`Counterexample for ${result.name} (${result.description}): ${n} step${n === 1 ? '' : 's'}`);
  const loop = v.trace.loop;
  const loopMark = (i: number) => (loop !== undefined && i === loop ? (loop === n ? '   ◀ stays here forever' : '   ◀ the cycle starts here') : '');
  lines.push(`  ${'0'.padStart(numWidth)}  ${'init'.padEnd(laneWidth)}  initial state${loopMark(0)}`);
  for (const f of view.initial) lines.push(`  ${' '.repeat(numWidth + laneWidth + 4)}${f.path} = ${f.value}`);
  for (const s of view.steps) {
    const mark =
      loop !== undefined ? (s.index === n && loop < n ? `   ↺ back to state ${loop}` : loopMark(s.index)) : s.index === n && result.kind !== 'deadlock' && result.kind !== 'final' ? `   ✗ ${result.name}` : '';
    lines.push(`  ${String(s.index).padStart(numWidth)}  ${s.lane.padEnd(laneWidth)}  ${s.label}${mark}`);
    for (const c of s.changes)
      lines.push(`  ${' '.repeat(numWidth + laneWidth + 4)}${c.path}: ${c.from ?? '-'} ${ARROW} ${c.to}${c.offending ? '   ◀' : ''}`);
    if (s.changes.length === 0) lines.push(`  ${' '.repeat(numWidth + laneWidth + 4)}(no field changed)`);
  }
  const why =
    result.kind === 'deadlock' ? 'deadlock: ' : result.kind === 'final' ? 'at quiescence (no transition enabled): ' : result.kind === 'step' ? 'the last step violates it: ' : '';
  if (loop !== undefined)
    lines.push(
      loop < n
        ? `  a fair run: a shortest path to state ${loop}, then steps ${loop + 1}–${n} forever (the cycle is not always the shortest)`
        : `  a fair run: a shortest path to state ${n}, where no lane can step but by actions that happen only finitely often`,
    );
  lines.push(`  violated: ${why}${v.message}`);
  if (view.offending.length > 0) lines.push(`  offending: ${view.offending.map((f) => `${f.path} = ${f.value}`).join(', ')}`);
  return lines.join('\n');
}

export function describeStop(s: StopReason): string {
  switch (s.kind) {
    case 'max-states':
      return `stopped at --max-states ${s.limit}`;
    case 'max-depth':
      return `states at --max-depth ${s.limit} were not expanded`;
    case 'time-limit':
      return `stopped at --time-limit ${s.limit} s`;
    case 'first-violation':
      return 'stopped at the first violation';
    case 'memory':
      return `stopped short of memory: ${s.detail}`;
    case 'interrupted':
      return `interrupted${s.signal ? ` by ${s.signal}` : ''}`;
  }
}

/** One line per checked property: name, verdict, message. */
export function formatResults(outcome: Outcome): string {
  const w = Math.max(...outcome.properties.map((p) => p.name.length));
  return outcome.properties
    .map((p) => `  ${p.name.padEnd(w)}  ${p.verdict.padEnd(8)}${p.violation ? `  ${p.violation.message}` : ''}`)
    .join('\n');
}

/** The summary line: verdict, distinct states, transitions, max depth, seconds, states/second. */
export function formatSummary(outcome: Outcome): string {
  const s = outcome.stats;
  const violated = outcome.properties.filter((p) => p.verdict === 'violated').length;
  const head =
    outcome.verdict === 'violated'
      ? `violated (${violated} of ${outcome.properties.length} properties${outcome.stoppedBy ? `; ${describeStop(outcome.stoppedBy)}` : ''})`
      : outcome.verdict === 'incomplete'
        ? `incomplete (${outcome.stoppedBy ? describeStop(outcome.stoppedBy) : 'not every state was explored'})`
        : `holds (${outcome.properties.length} properties)`;
  return (
    `${head}: ${s.states} distinct states, ${s.transitions} transitions, max depth ${s.maxDepth}, ` +
    `${(s.elapsedMs / 1000).toFixed(2)} s, ${statesPerSecond(s)} states/s, ${s.bytesPerState.toFixed(1)} bytes/state` +
    (s.collisionOdds !== undefined ? ` (fingerprints: odds of a missed state ≤ ${s.collisionOdds.toPrecision(2)})` : '') +
    (s.symmetry ? '; symmetry: one state per orbit of interchangeable lanes' : '') +
    (s.por ? `; por: ${s.por.reducedStates} states expanded by one local transition` : '') +
    (s.workers ? `; ${s.workers} workers` : '') +
    (s.pathBytesOnDisk ? `; paths: ${(s.pathBytesOnDisk / 2 ** 20).toFixed(0)} MiB on disk` : '') +
    (s.liveness ? `; liveness: ${s.liveness.states} states and ${s.liveness.edges} edges (the full graph), ${(s.liveness.elapsedMs / 1000).toFixed(2)} s` : '')
  );
}

export function formatHeader(outcome: Outcome): string {
  return `mc verify ${outcome.model} [${formatParams(outcome.params)}] strategy=${outcome.strategy}`;
}

/**
 * The coverage line of a summary: which declared actions never fired (and which fired without
 * being declared); with `detail`, a line per action with its count, as TLC's -coverage gives.
 */
export function formatCoverage(c: Coverage, complete: boolean, detail = false): string {
  const lines: string[] = [];
  const fired = c.actions.filter((a) => a.count > 0).length;
  const scope = complete ? '' : ' (in the part explored)';
  if (!c.declared) lines.push(`actions: ${fired} fired${scope}; the model declares no \`actions\`, so the ones that never fire cannot be named`);
  else if (c.neverFired.length === 0) lines.push(`actions: all ${c.actions.length - c.undeclared.length} declared actions fired${scope}`);
  else lines.push(`actions: ${c.neverFired.length} of ${c.actions.length - c.undeclared.length} declared actions never fired${scope}: ${c.neverFired.join('; ')}`);
  if (c.undeclared.length > 0) lines.push(`actions fired but not declared: ${c.undeclared.join('; ')}`);
  if (detail) {
    const w = Math.max(...c.actions.map((a) => String(a.count).length));
    for (const a of c.actions) lines.push(`  ${String(a.count).padStart(w)}  ${a.action}`);
  }
  return lines.join('\n');
}
