/**
 * Ctrl-C and SIGTERM during a run: the first asks the search to stop (it ends as incomplete,
 * and the CLI prints and writes what it found, `mc check` its JUnit for what finished); a second
 * one ends the process at once. Exit code 128 + the signal's number (130 for SIGINT, 143 for
 * SIGTERM), as a shell reports a command killed by it.
 */
const CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type Signal = keyof typeof CODES;

export interface Signals {
  /** Whether a signal asked the run to stop. */
  readonly interrupted: () => boolean;
  /** The signal, once one came. */
  readonly signal: () => Signal | undefined;
  /** The exit code a stopped run ends with. */
  readonly exitCode: () => number | undefined;
  /** Gives the signals back to Node's default handling. */
  readonly dispose: () => void;
}

export function watchSignals(): Signals {
  let got: Signal | undefined;
  const handler = (s: Signal) => () => {
    if (got) process.exit(CODES[s]);
    got = s;
  };
  const handlers = { SIGINT: handler('SIGINT'), SIGTERM: handler('SIGTERM') };
  process.on('SIGINT', handlers.SIGINT);
  process.on('SIGTERM', handlers.SIGTERM);
  return {
    interrupted: () => got !== undefined,
    signal: () => got,
    exitCode: () => (got ? CODES[got] : undefined),
    dispose: () => {
      process.off('SIGINT', handlers.SIGINT);
      process.off('SIGTERM', handlers.SIGTERM);
    },
  };
}
