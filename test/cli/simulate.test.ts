import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prng } from '../../src/explore/simulate.ts';
import { mc } from './run.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'mc-sim-'));
const counterexample = (out: string) => out.slice(out.indexOf('Counterexample'), out.indexOf('  graph:'));

describe('mc simulate', () => {
  it('finds the broken Peterson variant by random walks and prints the seed that reproduces it alone', async () => {
    const out = tmp();
    const r = await mc('simulate', 'test/fixtures/peterson.ts', '--param', 'variant=turn-first', '--seed', '1', '--runs', '100', '--depth', '30', '--out', out);
    expect(r.code).toBe(1);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('mc simulate peterson [variant=turn-first]: seed 1, 100 runs of at most 30 steps');
    expect(lines[1]).toMatch(/^violated: mutual-exclusion in run 7 \(seed 7\) after 8 steps, [\d.]+ s$/);
    expect(lines.at(-2)).toBe('reproduce: mc simulate test/fixtures/peterson.ts --param variant=turn-first --seed 7 --runs 1 --depth 30');

    // The printed command gives the same counterexample in one run.
    const again = await mc('simulate', 'test/fixtures/peterson.ts', '--param', 'variant=turn-first', '--seed', '7', '--runs', '1', '--depth', '30', '--out', tmp());
    expect(again.code).toBe(1);
    expect(again.out.split('\n')[1]).toMatch(/^violated: mutual-exclusion in run 1 \(seed 7\) after 8 steps/);
    expect(counterexample(again.out)).toBe(counterexample(r.out));

    // Its ITF trace replays against the model and reproduces the violation.
    const replay = await mc('replay', join(out, 'peterson', 'variant=turn-first', 'simulate', 'mutual-exclusion.itf.json'), 'test/fixtures/peterson.ts');
    expect(replay.code).toBe(1);
    expect(replay.out).toContain('the recorded violation of mutual-exclusion is reproduced\n');
  });

  it('finds a violation at quiescence (the lost update) too', async () => {
    const r = await mc('simulate', 'test/fixtures/lost_update.ts', '--param', 'threads=2', '--seed', '3', '--runs', '50', '--out', tmp());
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/\nviolated: no-lost-update in run \d+ \(seed \d+\) after 4 steps/);
  });

  it('says that clean runs prove nothing (exit 3, as an incomplete verify), and is the same for the same seed', async () => {
    const a = await mc('simulate', 'test/fixtures/peterson.ts', '--seed', '0x2a', '--runs', '20', '--depth', '25');
    const b = await mc('simulate', 'test/fixtures/peterson.ts', '--seed', '42', '--runs', '20', '--depth', '25');
    expect(a.code).toBe(3);
    const strip = (t: string) => t.replace(/[\d.]+ s;/, 'T s;');
    expect(strip(a.out)).toBe(strip(b.out));
    expect(a.out).toMatch(/^mc simulate peterson \[variant=correct\]: seed 42, 20 runs of at most 25 steps\nno violation in 20 runs \(500 steps, 0 runs ended with no transition enabled, the others at depth 25\), [\d.]+ s; random runs prove nothing: use mc verify for a proof\n/);
  });

  it('refuses a bad seed with one line', async () => {
    const r = await mc('simulate', 'test/fixtures/peterson.ts', '--seed', 'x1');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--seed takes an integer in 0..4294967295 (decimal or 0x…), got "x1"');
  });

  it('draws from a PRNG that gives the same numbers for the same seed, spread over [0, 1)', () => {
    const a = prng(123);
    const b = prng(123);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.filter((x) => x < 0.5).length).toBeGreaterThan(450);
    expect(xs.filter((x) => x < 0.5).length).toBeLessThan(550);
  });
});
