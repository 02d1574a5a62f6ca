import type { Progress } from '../explore/explore.ts';
import { formatProgress } from '../report/progress.ts';
import type { IO } from './io.ts';

export interface ProgressFlags {
  quiet?: boolean;
}

/** Seconds between two progress lines when stderr is not a terminal (a CI log). */
const LOG_EVERY_MS = 10_000;

/**
 * Progress on stderr for a run that lasts longer than a second (explore first reports after
 * one second): on a terminal one line rewritten in place and erased at the end, otherwise a
 * line after the first second and then every ten seconds. `--quiet` turns it off.
 */
export function progressReporter(io: IO, flags: ProgressFlags, title?: string): { onProgress?: (p: Progress) => void; done: () => void } {
  if (flags.quiet) return { done: () => {} };
  let live = false;
  let lastLogged = -Infinity;
  return {
    onProgress: (p) => {
      const line = formatProgress(p, title);
      if (io.errIsTTY) {
        io.err(`\r${line}\x1b[K`);
        live = true;
      } else if (p.elapsedMs - lastLogged >= LOG_EVERY_MS) {
        io.err(`progress: ${line}\n`);
        lastLogged = p.elapsedMs;
      }
    },
    done: () => {
      if (live) io.err('\r\x1b[K');
      live = false;
    },
  };
}
