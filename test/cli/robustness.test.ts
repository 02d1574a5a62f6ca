// What a hostile but fair user tries (issue 14): signals, workers' contract checks, output paths,
// odd model files and pipes. Each case ends with the verdict or one clear line, never a stack
// trace, and the exit code the README's table gives.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mc, mcBin, ROOT } from './run.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'mc-hostile-'));
const H = 'test/fixtures/hostile';

/** One line on stderr, no stack trace, exit 2. */
function oneLine(r: { code: number | null; stderr: string }, ...parts: (string | RegExp)[]): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  for (const p of parts) expect(r.stderr).toMatch(p);
}

/**
 * Starts the real binary, sends `signal` once stderr shows progress (the search is under way),
 * and collects what it printed until it exits.
 */
function interrupted(args: readonly string[], signal: NodeJS.Signals, after: (stderr: string) => boolean) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [`${ROOT}/bin/mc.js`, ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const send = () => {
      if (!sent && after(stderr)) {
        sent = true;
        child.kill(signal);
      }
    };
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const poll = setInterval(send, 100);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      clearInterval(poll);
      resolve({ code, stdout, stderr });
    });
  });
}

const progressShown = (stderr: string) => stderr.includes('progress:');

describe('a signal stops the run cleanly (item 2)', () => {
  for (const workers of ['1', '2']) {
    it(`SIGINT with --workers ${workers}: the violation found, its files, the counts, exit 130`, async () => {
      const out = tmp();
      const r = await interrupted(['verify', `${H}/endless.ts`, '--out', out, '--workers', workers], 'SIGINT', progressShown);
      expect(r.code, r.stderr).toBe(130);
      expect(r.stdout).toMatch(/^ {2}x-small {6}violated {2}x = 2$/m);
      expect(r.stdout).toMatch(/^ {2}sum-bounded {2}unknown/m);
      expect(r.stdout).toMatch(/^violated \(1 of 3 properties; interrupted by SIGINT\): \d+ distinct states, \d+ transitions/m);
      expect(readFileSync(join(out, 'endless', 'defaults', 'x-small.dot'), 'utf8')).toContain('digraph');
      expect(existsSync(join(out, 'endless', 'defaults', 'x-small.itf.json'))).toBe(true);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    });
  }

  it('SIGTERM with --json: the JSON document, with the stop reason, exit 143', async () => {
    const r = await interrupted(['verify', `${H}/endless.ts`, '--out', tmp(), '--json'], 'SIGTERM', progressShown);
    expect(r.code, r.stderr).toBe(143);
    const doc = JSON.parse(r.stdout) as { stoppedBy: { kind: string; signal: string }; stats: { states: number } };
    expect(doc.stoppedBy).toEqual({ kind: 'interrupted', signal: 'SIGTERM' });
    expect(doc.stats.states).toBeGreaterThan(1000);
  });

  it('mc check under a CI timeout: the rows that finished, the summary and the JUnit file', async () => {
    const out = tmp();
    const junit = join(out, 'junit.xml');
    // test/fixtures/check/ok runs first (a few states); endless.ts then runs until the signal.
    const r = await interrupted(['check', 'test/fixtures/check/ok', `${H}/endless.ts`, '--out', out, '--junit', junit], 'SIGTERM', (e) => e.includes('endless'));
    expect(r.code, r.stderr).toBe(143);
    expect(r.stdout).toMatch(/^ok {4}peterson \[variant=turn-first\] {2}mutual-exclusion {2}violated/m);
    expect(r.stdout).toMatch(/^skip +endless \[defaults\].*interrupted by SIGTERM after \d+ states/m);
    expect(r.stdout).toMatch(/\(interrupted by SIGTERM: the settings after it did not run\)$/m);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toContain('name="peterson"');
    expect(xml).toMatch(/<skipped message="interrupted by SIGTERM/);
  });

  it('a second signal ends the process at once', async () => {
    const child = spawn(process.execPath, [`${ROOT}/bin/mc.js`, 'verify', `${H}/endless.ts`, '--out', tmp()], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => {
      const poll = setInterval(() => {
        if (!progressShown(stderr)) return;
        clearInterval(poll);
        // Node delivers both before the search yields: the second one exits without a report.
        process.kill(child.pid!, 'SIGINT');
        process.kill(child.pid!, 'SIGINT');
      }, 100);
      child.on('close', resolve);
    });
    expect(code).toBe(130);
  });
});

describe('--workers runs the same contract checks as one thread (item 1, 6, 10, 12, 13)', () => {
  for (const workers of ['1', '2']) {
    it(`a model using Math.random is refused with --workers ${workers}`, () =>
      oneLine(mcBin(['verify', `${H}/random.ts`, '--workers', workers, '--quiet', '--out', tmp()]), /model "random" is not deterministic: transition "c0: step" led to two different states in state \{n=\d+\}/));

    it(`a label used twice, past the sampled expansions, is refused on the counterexample path with --workers ${workers}`, () =>
      oneLine(
        mcBin(['verify', `${H}/duplicate_label.ts`, '--workers', workers, '--quiet', '--out', tmp()]),
        'model "duplicate-label": two transitions are labelled "c0: step" in state {n=3400 m=',
        'labels must be unique per state',
      ));

    it(`a transition without a label or apply, a check returning 7 or undefined, named with the state (--workers ${workers})`, () => {
      const run = (breach: string) => mcBin(['verify', `${H}/bad_check.ts`, '--param', `breach=${breach}`, '--workers', workers, '--quiet', '--out', tmp()]);
      oneLine(run('number-check'), 'property "small": a property check returned 7; expected true, false, a message, or { message, fields }, on state {n=2}');
      oneLine(run('undefined-check'), 'property "small": a property check returned undefined', 'on state {n=2}');
      oneLine(run('no-label'), 'model "bad-check": transition 1 of state {n=1} is not { label, lane, apply }: label undefined, lane "c0", apply function');
      oneLine(run('no-apply'), 'transition 1 of state {n=1} is not { label, lane, apply }: label "c0: n++", lane "c0", apply undefined');
    });
  }

  it('a full shared text table stops the run as incomplete, with its counts, exit 3', () => {
    const r = mcBin(['verify', `${H}/texts.ts`, '--workers', '2', '--quiet', '--out', tmp()]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^incomplete \(stopped short of memory: the shared text table holds 65536 texts, the most it can \(t\.text\(\) fields under --workers\)\): 65536 distinct states/m);
  });

  it('--max-memory counts the workers and stops the run short of it', () => {
    const r = mcBin(['verify', `${H}/endless.ts`, '--workers', '2', '--max-memory', '64', '--quiet', '--out', tmp()]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^violated \(1 of 3 properties; stopped short of memory: the shared store, the levels and the heaps of all threads reached \d+ MiB/m);
  });

  it('--workers far beyond the cores is refused', () => oneLine(mcBin(['verify', 'test/fixtures/peterson.ts', '--workers', '1000']), /--workers 1000: this machine has \d+ cores/));
});

describe('mc check goes on past a broken model (item 3)', () => {
  it('throwing lanes() and actions() are error rows; the model after them runs; the JUnit file is written', async () => {
    const out = tmp();
    const junit = join(out, 'junit.xml');
    const r = await mc('check', `${H}/check`, '--out', out, '--junit', junit);
    expect(r.code).toBe(2);
    const lines = r.out.split('\n');
    expect(lines).toContain('ERROR lanes-throw [threads=2]  -  model "lanes-throw": lanes() threw: no lanes today');
    expect(lines).toContain('ERROR actions-throw [variant=turn-first]  -  model "actions-throw": actions() threw: no actions today');
    expect(r.out).toMatch(/^ok {4}lost-update \[threads=2\] {2}no-lost-update {2}violated {2}expected violated/m);
    expect(r.out).toMatch(/^mc check: FAILED, 4 of 8 results do not match their expectations \(4 passed, 0 failed, 4 errors, 0 skipped\)/m);
    expect(readFileSync(junit, 'utf8')).toMatch(/<error type="error" message="model &quot;lanes-throw&quot;: lanes\(\) threw: no lanes today"/);
  });

  it('two model files with one model name are an error, not one overwriting the other', async () => {
    const r = await mc('check', 'test/fixtures/check/ok/lost_update.ts', `${H}/check/c_ok.ts`, '--out', tmp());
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/ERROR lost-update .*model "lost-update" is also declared by test\/fixtures\/check\/ok\/lost_update\.ts/);
  });
});

describe('output paths (items 4, 5, 14, 15)', () => {
  it('a model name with ../ set after defineModel() is refused; nothing is written outside --out', () => {
    const base = tmp();
    const out = join(base, 'out');
    oneLine(mcBin(['verify', `${H}/escape.ts`, '--out', out]), 'model name "../../escaped" cannot name an output file: it must match');
    expect(readdirSync(base).filter((f) => f !== 'out')).toEqual([]);
  });

  for (const [what, out, reason] of [
    ['under /proc (it used to hang)', '/proc/mc-out', 'no such folder, and it cannot be created there'],
    ['below a file', 'FILE/sub', 'a part of the path is a file, not a folder'],
  ] as const) {
    it(`an --out ${what}: the verdict first, then one line for the output error, exit 2`, () => {
      const file = join(tmp(), 'file');
      writeFileSync(file, '');
      const r = mcBin(['verify', 'test/fixtures/peterson.ts', '--param', 'variant=turn-first', '--out', out.replace('FILE', file)]);
      oneLine(r, 'mc: cannot write counterexamples to ', reason);
      expect(r.stdout).toMatch(/^ {2}mutual-exclusion {2}violated {2}2 processes in the critical section$/m);
      expect(r.stdout).toMatch(/^violated \(1 of 2 properties\): 72 distinct states/m);
    });
  }

  it('one folder per parameter setting; a run that holds clears the stale trace of an earlier one', async () => {
    const out = tmp();
    expect((await mc('verify', 'test/fixtures/peterson.ts', '--param', 'variant=turn-first', '--out', out)).code).toBe(1);
    const stale = join(out, 'peterson', 'variant=correct');
    mkdirSync(stale, { recursive: true });
    for (const f of ['mutual-exclusion.dot', 'mutual-exclusion.itf.json', 'notes.txt']) writeFileSync(join(stale, f), 'stale');
    expect((await mc('verify', 'test/fixtures/peterson.ts', '--param', 'variant=correct', '--out', out)).code).toBe(0);
    // The setting that holds has no trace left; the user's own file and the other setting stay.
    expect(readdirSync(stale)).toEqual(['notes.txt']);
    expect(readdirSync(join(out, 'peterson', 'variant=turn-first')).sort()).toEqual(['mutual-exclusion.dot', 'mutual-exclusion.itf.json']);
  });

  it('a directory given as the model file, and a throw of a non-Error at import, say what they are', () => {
    oneLine(mcBin(['verify', 'models/']), 'mc: not a file: models/ (give a model file such as models/kfree_nolock.ts)');
    oneLine(mcBin(['verify', `${H}/throws_at_import.ts`]), `mc: ${H}/throws_at_import.ts: loading failed: threw {"reason":"config missing","code":7}`);
  });
});

describe('model files, parameters, bounds and pipes (items 7, 8, 9, 16)', () => {
  it('a model in a package of "type": "commonjs" loads', () => {
    const r = mcBin(['verify', `${H}/cjs/counter.ts`, '--out', tmp()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^holds \(2 properties\): 4 distinct states/m);
  });

  it('a reader that goes away (`| head`) ends mc quietly with its own exit code', () => {
    const r = spawnSync('bash', ['-c', `node bin/mc.js verify test/fixtures/peterson.ts --out ${tmp()} | true; echo "code=\${PIPESTATUS[0]}" >&2`], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('code=0\n');
  });

  it('--param names of Object.prototype are unknown parameters', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty'])
      oneLine(mcBin(['verify', 'test/fixtures/peterson.ts', '--param', `${name}=1`]), `unknown parameter "${name}" for model "peterson"`);
  });

  it('--max-states 0 and --max-memory 0 are refused, not read as "store one" or "no limit"', () => {
    oneLine(mcBin(['verify', 'test/fixtures/peterson.ts', '--max-states', '0']), '--max-states 0 would store no state');
    oneLine(mcBin(['verify', 'test/fixtures/peterson.ts', '--max-memory', '0']), '--max-memory 0 leaves no memory to search with');
  });
});
