import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { actionName } from '../../src/core/coverage.ts';
import { progressReporter } from '../../src/cli/progress.ts';
import { mc } from '../cli/run.ts';

describe('action coverage', () => {
  it("names an action by its label with the lane's number abstracted, unless the transition names it", () => {
    expect(actionName('cpu1: nmi enters', 'cpu1')).toBe('cpuN: nmi enters');
    expect(actionName('cpu1: kfree_nolock to cpu12 list', 'cpu1')).toBe('cpuN: kfree_nolock to cpu12 list');
    expect(actionName('p0: flag[0] = 1', 'p0')).toBe('pN: flag[0] = 1');
    expect(actionName('cpu0: kmalloc_nolock bucket 64', 'cpu0', 'cpuN: kmalloc_nolock')).toBe('cpuN: kmalloc_nolock');
    expect(actionName('irq: tick', 'irq')).toBe('irq: tick');
  });

  it('names the declared action that never fired, with each action firing count', async () => {
    const r = await mc('verify', 'test/fixtures/check/coverage/trylock.ts', '--coverage', '--quiet', '--out', mkdtempSync(join(tmpdir(), 'mc-cov-')));
    expect(r.code).toBe(0);
    expect(r.out.split('\n').slice(-6)).toEqual([
      'actions: 1 of 4 declared actions never fired: cpuN: release on behalf of another',
      '  4  cpuN: trylock succeeds',
      '  4  cpuN: trylock fails',
      '  4  cpuN: unlock',
      '  0  cpuN: release on behalf of another',
      '',
    ]);
    expect(r.out).toContain('holds (2 properties): 7 distinct states, 12 transitions, max depth 4');
  });

  it('notes unfired actions under the block of mc check without failing it', async () => {
    const r = await mc('check', 'test/fixtures/check/coverage', '--quiet', '--out', mkdtempSync(join(tmpdir(), 'mc-cov-')));
    expect(r.code).toBe(0);
    expect(r.out).toContain('\nnote  trylock [defaults]  actions never fired: cpuN: release on behalf of another\n');
  });
});

describe('progress', () => {
  const p = (elapsedMs: number) => ({ states: 2000, transitions: 5000, queued: 300, depth: 12, elapsedMs });

  it('prints TLC-style lines to a log: after the first second, then every ten seconds', () => {
    let err = '';
    const r = progressReporter({ out: () => {}, err: (t) => void (err += t), errIsTTY: false }, {}, 'peterson [defaults]');
    for (const ms of [1000, 2000, 5000, 11000, 12000]) r.onProgress!(p(ms));
    r.done();
    expect(err).toBe(
      'progress: peterson [defaults]: 1.0 s, 5,000 states generated, 2,000 distinct, 300 on queue, depth 12, 2,000 distinct/s\n' +
        'progress: peterson [defaults]: 11.0 s, 5,000 states generated, 2,000 distinct, 300 on queue, depth 12, 182 distinct/s\n',
    );
  });

  it('rewrites one live line on a terminal and erases it at the end; --quiet prints nothing', () => {
    let err = '';
    const r = progressReporter({ out: () => {}, err: (t) => void (err += t), errIsTTY: true }, {});
    r.onProgress!(p(1000));
    r.onProgress!(p(2000));
    r.done();
    expect(err).toBe(
      '\r1.0 s, 5,000 states generated, 2,000 distinct, 300 on queue, depth 12, 2,000 distinct/s\x1b[K' +
        '\r2.0 s, 5,000 states generated, 2,000 distinct, 300 on queue, depth 12, 1,000 distinct/s\x1b[K\r\x1b[K',
    );
    const q = progressReporter({ out: () => {}, err: () => expect.unreachable() }, { quiet: true });
    expect(q.onProgress).toBeUndefined();
  });
});
