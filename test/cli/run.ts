// Runs the real `mc` binary (bin/mc.js) as a user would, and returns what it printed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function mc(args: readonly string[], cwd = ROOT): Run {
  const r = spawnSync(process.execPath, [`${ROOT}/bin/mc.js`, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
