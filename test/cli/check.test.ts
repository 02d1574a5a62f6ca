import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { mc, untimed } from './run.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'mc-check-'));

describe('mc check', () => {
  it('passes a folder whose expectations are right, one line per model, setting and property', async () => {
    const out = tmp();
    const r = await mc('check', 'test/fixtures/check/ok', '--out', out);
    expect(r.code).toBe(0);
    expect(untimed(r.out)).toBe(
      [
        'ok    lost-update [threads=1]  no-lost-update  holds     expected holds      3 states   T s',
        'ok    lost-update [threads=1]  no-deadlock     holds     expected holds      3 states   T s',
        'ok    lost-update [threads=2]  no-lost-update  violated  expected violated  13 states   T s',
        'ok    lost-update [threads=2]  no-deadlock     holds     expected holds     13 states   T s',
        'ok    peterson [variant=correct]     mutual-exclusion  holds     expected holds     32 states   T s',
        'ok    peterson [variant=correct]     no-deadlock       holds     expected holds     32 states   T s',
        'ok    peterson [variant=turn-first]  mutual-exclusion  violated  expected violated  72 states   T s',
        'ok    peterson [variant=turn-first]  no-deadlock       holds     expected holds     72 states   T s',
        'mc check: ok, every result matches its expectation (8 passed, 0 failed, 0 errors, 0 skipped); 2 model files, 4 settings, 120 states in T s',
        '',
      ].join('\n'),
    );
    // The expected counterexamples are kept too, one folder per setting.
    expect(readFileSync(join(out, 'peterson', 'variant=turn-first', 'mutual-exclusion.dot'), 'utf8')).toContain('digraph');
  });

  it('fails a wrong expectation with exit 1 and the line that says why, in both directions, and writes JUnit', async () => {
    const out = tmp();
    const junit = join(out, 'junit.xml');
    const r = await mc('check', 'test/fixtures/check/wrong', '--out', out, '--junit', junit);
    expect(r.code).toBe(1);
    const lines = untimed(r.out).split('\n');
    expect(lines).toContain(
      'FAIL  inverted [threads=1]  no-lost-update  holds     expected violated   3 states   T s  expected violated, got holds: no violation in all 3 reachable states',
    );
    expect(lines).toContain(
      'FAIL  inverted [threads=2]  no-lost-update  violated  expected holds     13 states   T s  expected holds, got violated: x = 1 after 2 increments (after 4 steps)',
    );
    expect(lines).toContain(`      counterexample: ${join(out, 'inverted', 'threads=2', 'no-lost-update.dot')}`);
    expect(lines).toContain('      reproduce: mc verify test/fixtures/check/wrong/inverted.ts --param threads=2 --property no-lost-update');
    expect(lines.at(-3)).toMatch(/^mc check: FAILED, 2 of 8 results do not match their expectations \(6 passed, 2 failed, 0 errors, 0 skipped\)/);

    // The JUnit file is well-formed XML and says the same thing, one testcase per line.
    const xml = readFileSync(junit, 'utf8');
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml);
    const suites = doc.testsuites.testsuite as { name: string; tests: string; failures: string; testcase: { name: string; classname: string; failure?: { message: string } }[] }[];
    expect(doc.testsuites.tests).toBe('8');
    expect(doc.testsuites.failures).toBe('2');
    expect(suites.map((s) => [s.name, s.tests, s.failures])).toEqual([
      ['inverted', '4', '2'],
      ['peterson', '4', '0'],
    ]);
    const failed = suites.flatMap((s) => s.testcase).filter((c) => c.failure);
    expect(failed.map((c) => [c.classname, c.name, c.failure!.message])).toEqual([
      ['inverted [threads=1]', 'no-lost-update', 'expected violated, got holds: no violation in all 3 reachable states'],
      ['inverted [threads=2]', 'no-lost-update', 'expected holds, got violated: x = 1 after 2 increments (after 4 steps)'],
    ]);
  });

  it('accepts an incomplete run only within declared bounds, and an unbounded one that stops fails', async () => {
    const r = await mc('check', 'test/fixtures/check/bounded', '--out', tmp(), '--time-limit', '0.2', '--quiet');
    expect(r.code).toBe(1);
    const lines = untimed(r.out).split('\n');
    expect(lines[0]).toMatch(
      /^ok {4}counter \[bound=deep\] {5}non-negative {2}unknown {3}expected holds +11 states +T s {2}\(no violation within the declared bounds \(maxDepth 10; states at depth 10 not expanded\)\)$/,
    );
    expect(lines[1]).toMatch(/^ok {4}counter \[bound=deep\] {5}below-five {4}violated {2}expected violated +11 states/);
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^FAIL {2}counter \[bound=shallow\] {2}below-five {4}unknown {3}expected violated +4 states +T s {2}expected violated, but no violation found within the declared bounds \(maxDepth 3; states at depth 3 not expanded\)$/,
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^FAIL {2}counter \[bound=none\] {5}non-negative {2}unknown .* incomplete run \(stopped after 0\.2 s\); declare bounds in the expectation to accept a bounded check$/),
    );
  });

  it('reports a model file that does not load as an error (exit 2) and still checks the others', async () => {
    const r = await mc('check', 'test/fixtures/bad/syntax.ts', 'test/fixtures/peterson.ts', '--out', tmp());
    expect(r.code).toBe(2);
    expect(r.out.split('\n')[0]).toMatch(/^ERROR test\/fixtures\/bad\/syntax\.ts {2}- {2}.*syntax\.ts:2:10: syntax error: Unexpected ";"$/);
    expect(r.out).toMatch(/\(4 passed, 0 failed, 1 error, 0 skipped\)/);
  });

  it('reports a setting whose model throws as an error with its reproduce command, and skips a fully unchecked one', async () => {
    const r = await mc('check', 'test/fixtures/check/broken', '--out', tmp());
    expect(r.code).toBe(2);
    expect(untimed(r.out).split('\n').slice(2, 5)).toEqual([
      'ERROR throws [broken=true]   -            transitions() threw in state {x=2}: no such CPU',
      '      reproduce: mc verify test/fixtures/check/broken/throws.ts --param broken=true',
      'skip  throws [broken=false]  -            every property is declared unchecked: nothing to check',
    ]);
  });

  it('refuses a path that does not exist with one line and exit 2', async () => {
    const r = await mc('check', 'test/fixtures/check/nope');
    expect(r.code).toBe(2);
    expect(r.err).toBe('mc: no such file or folder: test/fixtures/check/nope\n');
  });

  it('is deterministic: two processes print the same results and write byte-identical counterexamples', () => {
    const files = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
    const run = (out: string) => spawnSync('node', ['bin/mc.js', 'check', 'test/fixtures/check/ok/lost_update.ts', 'test/fixtures/check/wrong', '--out', out], { encoding: 'utf8' });
    const [da, db] = [tmp(), tmp()];
    const [a, b] = [run(da), run(db)];
    expect(a.status).toBe(1);
    expect(untimed(b.stdout).split(db).join('OUT')).toBe(untimed(a.stdout).split(da).join('OUT'));
    const written = files(da).filter((f) => /\.(dot|itf\.json)$/.test(f));
    expect(written.length).toBeGreaterThanOrEqual(4);
    expect(files(db)).toEqual(files(da));
    for (const f of written) expect(readFileSync(join(db, f), 'utf8'), f).toBe(readFileSync(join(da, f), 'utf8'));
  });
});
