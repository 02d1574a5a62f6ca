// Two ways to run the CLI in tests: `mc` in-process (fast: most end-to-end tests), and `mcBin`,
// the real `mc` binary (bin/mc.js) as a user runs it, for what only a process shows (exit codes,
// stderr without stack traces, loading model files as TypeScript).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function mc(...argv: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

export interface BinRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function mcBin(args: readonly string[], cwd = ROOT): BinRun {
  const r = spawnSync(process.execPath, [`${ROOT}/bin/mc.js`, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Replaces run times (`0.01 s`, `time="0.012"`) so that output can be compared exactly. */
export function untimed(text: string): string {
  return text.replace(/\d+\.\d\d s\b/g, 'T s').replace(/time="[\d.]+"/g, 'time="T"');
}
