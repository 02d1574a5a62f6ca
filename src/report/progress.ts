import type { Progress } from '../explore/explore.ts';

function n(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

/**
 * One progress line, after TLC's: elapsed time, states generated (transitions taken, duplicates
 * included), distinct states stored, states waiting in the queue, the deepest level reached, and
 * distinct states per second over the run so far.
 */
export function formatProgress(p: Progress, title?: string): string {
  const secs = p.elapsedMs / 1000;
  const rate = secs > 0 ? p.states / secs : p.states;
  return (
    `${title ? `${title}: ` : ''}${secs.toFixed(1)} s, ${n(p.transitions)} states generated, ${n(p.states)} distinct, ` +
    `${n(p.queued)} on queue, depth ${p.depth}, ${n(rate)} distinct/s`
  );
}
