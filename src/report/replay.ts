import type { ReplayResult } from '../explore/replay.ts';

/**
 * What `mc replay` prints: one line per replayed step with the properties it violates, then
 * where the trace stops matching (with the differing fields) or that it matches to the end,
 * and whether the violation the trace records was reproduced.
 */
export function formatReplay(result: ReplayResult, header: string, recordedProperty?: string): string {
  const lines = [header];
  const laneWidth = Math.max(4, ...result.steps.map((s) => s.lane.length));
  const num = String(result.length - 1).length;
  const marks = (i: number) =>
    result.violations
      .filter((v) => v.index === i)
      .map((v) => `   ✗ ${v.property}: ${v.message}`)
      .join('');
  if (!result.mismatch || result.mismatch.index > 0) lines.push(`  ${'0'.padStart(num)}  ${'init'.padEnd(laneWidth)}  initial state${marks(0)}`);
  for (const s of result.steps) lines.push(`  ${String(s.index).padStart(num)}  ${s.lane.padEnd(laneWidth)}  ${s.label}${marks(s.index)}`);
  const m = result.mismatch;
  if (m) {
    lines.push(`  ${String(m.index).padStart(num)}  ${'✗'.padEnd(laneWidth)}  ${m.reason}`);
    for (const d of m.diff) lines.push(`  ${' '.repeat(num + laneWidth + 4)}${d.path}: trace ${d.trace ?? '(absent)'}, model ${d.model ?? '(absent)'}`);
    lines.push(`the trace stops matching the model at state ${m.index} of ${result.length - 1}`);
  } else {
    lines.push(`the trace matches the model: ${result.steps.length} step${result.steps.length === 1 ? '' : 's'}${result.quiescent ? ', ending with no transition enabled' : ''}`);
  }
  if (result.violations.length === 0) lines.push('no checked property is violated along the replayed steps');
  for (const v of result.violations) lines.push(`violated: ${v.property} at state ${v.index}: ${v.message}`);
  if (recordedProperty) {
    const again = result.violations.some((v) => v.property === recordedProperty);
    lines.push(again ? `the recorded violation of ${recordedProperty} is reproduced` : `the recorded violation of ${recordedProperty} is NOT reproduced`);
  }
  return lines.join('\n');
}
