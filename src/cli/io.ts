/** Where the CLI writes: stdout and stderr, replaceable in tests. */
export interface IO {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** True when stderr is a terminal: progress is then one live line instead of periodic lines. */
  readonly errIsTTY?: boolean;
}

export const processIO: IO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  errIsTTY: process.stderr.isTTY === true,
};

/** Exit codes, as documented in the README. */
export const EXIT = { holds: 0, violated: 1, usage: 2, incomplete: 3 } as const;
