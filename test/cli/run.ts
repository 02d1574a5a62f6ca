// Runs the CLI in-process and collects what it prints, for end-to-end tests.
import { main } from '../../src/cli/main.ts';

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

/** Replaces run times (`0.01 s`, `time="0.012"`) so that output can be compared exactly. */
export function untimed(text: string): string {
  return text.replace(/\d+\.\d\d s\b/g, 'T s').replace(/time="[\d.]+"/g, 'time="T"');
}
