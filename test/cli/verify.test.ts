// `mc verify` and `mc list` end to end: exit codes, the summary line, the DOT file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mcBin as mc } from './run.ts';

const out = mkdtempSync(join(tmpdir(), 'mc-verify-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const SUMMARY = /^(holds|violated|incomplete) .*: (\d+) distinct states, (\d+) transitions, max depth (\d+), [\d.]+ s, \d+ states\/s, [\d.]+ bytes\/state$/m;

describe('mc verify', () => {
  it('exit 0 and the summary line when every property holds', () => {
    const r = mc(['verify', 'test/fixtures/peterson.ts', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = SUMMARY.exec(r.stdout)!;
    expect(m.slice(1, 5)).toEqual(['holds', '32', '54', '8']);
    expect(r.stdout).toContain('mutual-exclusion  holds');
  });

  it('exit 1, the trace with only the changed fields, and a DOT graph that dot parses', () => {
    const r = mc(['verify', 'test/fixtures/lost_update.ts', '--out', out]);
    expect(r.code).toBe(1);
    expect(SUMMARY.exec(r.stdout)![1]).toBe('violated');
    expect(r.stdout).toContain('Counterexample for no-lost-update');
    expect(r.stdout).toMatch(/ {2}3 {2}t0 {4}t0: x = tmp \+ 1\n {11}x: 0 → 1\n {11}pc: \[1, 1\] → \[2, 1\]\n {2}4 {2}t1 {4}t1: x = tmp \+ 1\n {11}pc: \[2, 1\] → \[2, 2\]\n/);
    expect(r.stdout).toMatch(/violated: at quiescence \(no transition enabled\): x = 1 after 2 increments/);
    const file = join(out, 'lost-update', 'threads=2', 'no-lost-update.dot');
    expect(r.stdout).toContain(`graph: ${file}`);
    const dot = readFileSync(file, 'utf8');
    expect(dot).toContain('subgraph "cluster_0"');
    const svg = spawnSync('dot', ['-Tsvg', file], { encoding: 'utf8' });
    expect(svg.error, 'Graphviz `dot` must be installed (Debian package graphviz)').toBeUndefined();
    expect(svg.stderr).toBe('');
    expect(svg.status).toBe(0);
    expect(svg.stdout).toContain('t0: tmp = x');
  });

  it('--json prints the outcome as JSON with the trace states as plain data', () => {
    const r = mc(['verify', 'test/fixtures/peterson.ts', '--param', 'variant=turn-first', '--json', '--out', out]);
    expect(r.code).toBe(1);
    const o = JSON.parse(r.stdout);
    expect(o.verdict).toBe('violated');
    expect(o.params).toEqual({ variant: 'turn-first' });
    const me = o.properties.find((p: { name: string }) => p.name === 'mutual-exclusion');
    expect(me.violation.trace.steps).toHaveLength(8);
    expect(me.violation.trace.steps[7].state.ncs).toBe(2);
    expect(me.violation.graph).toBe(join(out, 'peterson', 'variant=turn-first', 'mutual-exclusion.dot'));
  });

  it('exit 3 when a bound stops the run, with the counts so far', () => {
    const r = mc(['verify', 'test/fixtures/peterson.ts', '--max-states', '5', '--out', out]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^incomplete \(stopped at --max-states 5\): 5 distinct states/m);
  });

  it('--property selects, --strategy dfs explores the same states', () => {
    const r = mc(['verify', 'test/fixtures/peterson.ts', '--property', 'mutual-exclusion', '--strategy', 'dfs', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/holds \(1 properties\): 32 distinct states/);
    expect(r.stdout).not.toContain('no-deadlock');
  });

  it('the main job: models/kfree_nolock.ts holds', () => {
    const r = mc(['verify', 'models/kfree_nolock.ts', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^holds \(10 properties\): 228 distinct states/m);
  });
});

describe('mc list', () => {
  it('shows parameters, variants, properties and expectations', () => {
    const r = mc(['list', 'test/fixtures/peterson.ts']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('variant = correct  (correct|turn-first)');
    expect(r.stdout).toContain('variants: correct, turn-first (default correct)');
    expect(r.stdout).toContain('mutual-exclusion  [invariant]  at most one process in the critical section');
    expect(r.stdout).toMatch(/\[variant=turn-first\]\n {4}violated: mutual-exclusion\n {4}holds: {4}no-deadlock/);
  });
});
