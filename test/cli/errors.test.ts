// Bad input: one clear line on stderr naming what and where, exit code 2, no stack trace.
import { describe, expect, it } from 'vitest';
import { mcBin as mc } from './run.ts';

function expectUsageError(args: string[], ...parts: (string | RegExp)[]) {
  const r = mc(args);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  for (const p of parts) expect(r.stderr).toMatch(p);
  return r.stderr;
}

describe('bad input exits 2 with one line', () => {
  it('missing model file', () => expectUsageError(['verify', 'models/nope.ts'], 'mc: no such model file: models/nope.ts'));

  it('TypeScript syntax error, with file:line:column', () =>
    expectUsageError(['verify', 'test/fixtures/bad/syntax.ts'], /test\/fixtures\/bad\/syntax\.ts:2:10: syntax error: Unexpected ";"/));

  it('no default export', () => expectUsageError(['verify', 'test/fixtures/bad/no_default.ts'], 'no default export', 'export default defineModel'));

  it('a default export that is not a model', () =>
    expectUsageError(['verify', 'test/fixtures/bad/not_model.ts'], 'the default export is not a model (got object)'));

  it('a transition that throws: the state and the label', () =>
    expectUsageError(['verify', 'test/fixtures/bad/throws.ts'], 'transition "cpu0: n++" threw from state {n=2}: counter overflow'));

  it('a model that is not deterministic, caught on re-expansion', () =>
    expectUsageError(['verify', 'test/fixtures/bad/nondeterministic.ts'], /is not deterministic: transition "cpu0: step" led to two different states in state \{n=0\}/));

  it('unknown property, with the list of valid ones', () =>
    expectUsageError(['verify', 'test/fixtures/peterson.ts', '--property', 'mutex'], 'unknown property "mutex" for model "peterson"; available: mutual-exclusion, no-deadlock'));

  it('unknown parameter, with the valid ones', () =>
    expectUsageError(['verify', 'test/fixtures/peterson.ts', '--param', 'cpus=2'], 'unknown parameter "cpus" for model "peterson"; available: variant=correct|turn-first'));

  it('ill-typed parameter values', () => {
    expectUsageError(['verify', 'test/fixtures/lost_update.ts', '--param', 'threads=two'], 'bad value "two" for parameter "threads": not an integer (valid: integer in 1..6)');
    expectUsageError(['verify', 'test/fixtures/lost_update.ts', '--param', 'threads=9'], 'must be at most 6');
    expectUsageError(['verify', 'test/fixtures/peterson.ts', '--param', 'variant=fast'], 'bad value "fast" for parameter "variant": unknown value (valid: correct|turn-first)');
    expectUsageError(['verify', 'test/fixtures/peterson.ts', '--param', 'variant'], 'bad --param "variant": expected name=value');
  });

  it('bad option values', () => {
    expectUsageError(['verify', 'test/fixtures/peterson.ts', '--max-states', 'lots'], '--max-states takes a non-negative integer, got "lots"');
    expectUsageError(['verify', 'test/fixtures/peterson.ts', '--strategy', 'random'], /argument 'random' is invalid\. Allowed choices are bfs, dfs/);
    expectUsageError(['verify', 'test/fixtures/peterson.ts', '--time-limit', '0'], '--time-limit takes a positive number of seconds');
  });

  it('unknown command (with a suggestion) and missing argument', () => {
    const r = mc(['verfy']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: unknown command 'verfy'\n(Did you mean verify?)\n");
    expectUsageError(['verify'], /missing required argument 'model-file'/);
  });

  it('--debug adds the stack trace', () => {
    const r = mc(['verify', 'test/fixtures/bad/throws.ts', '--debug']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^\s+at /m);
  });
});
