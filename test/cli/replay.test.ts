import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mc } from './run.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'mc-replay-'));

/** Verifies the buggy Peterson variant into a fresh folder and returns the trace file. */
async function petersonTrace(): Promise<string> {
  const out = tmp();
  const v = await mc('verify', 'test/fixtures/peterson.ts', '--param', 'variant=turn-first', '--out', out, '--quiet');
  expect(v.code).toBe(1);
  const file = join(out, 'peterson', 'variant=turn-first', 'mutual-exclusion.itf.json');
  expect(v.out).toContain(`  trace: ${file}\n`);
  return file;
}

function edit(file: string, f: (doc: { '#meta': Record<string, unknown>; states: Record<string, unknown>[] }) => void): string {
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  f(doc);
  const to = file.replace(/\.itf\.json$/, '.edited.itf.json');
  writeFileSync(to, JSON.stringify(doc));
  return to;
}

describe('verify → ITF → replay', () => {
  it('reproduces the violation step by step from the saved trace, with the parameters it records', async () => {
    const file = await petersonTrace();
    const r = await mc('replay', file, 'test/fixtures/peterson.ts');
    expect(r.code).toBe(1);
    expect(r.out).toBe(
      [
        `mc replay ${file}: peterson [variant=turn-first], 9 states`,
        '  0  init  initial state',
        '  1  p0    p0: turn = 1',
        '  2  p1    p1: turn = 0',
        '  3  p1    p1: flag[1] = 1',
        '  4  p1    p1: enter',
        '  5  p0    p0: flag[0] = 1',
        '  6  p0    p0: enter',
        '  7  p0    p0: ncs++',
        '  8  p1    p1: ncs++   ✗ mutual-exclusion: 2 processes in the critical section',
        'the trace matches the model: 8 steps',
        'violated: mutual-exclusion at state 8: 2 processes in the critical section',
        'the recorded violation of mutual-exclusion is reproduced',
        '',
      ].join('\n'),
    );
  });

  it('says where a trace stops matching: a label that is not enabled', async () => {
    const file = edit(await petersonTrace(), (d) => {
      (d.states[4]['#meta'] as Record<string, unknown>).action = 'p0: enter';
    });
    const r = await mc('replay', file, 'test/fixtures/peterson.ts');
    expect(r.code).toBe(2);
    expect(r.out).toContain('  4  ✗     "p0: enter" is not enabled in state 3; enabled: "p0: flag[0] = 1", "p1: enter"\n');
    expect(r.out).toContain('the trace stops matching the model at state 4 of 8\n');
    expect(r.out).toContain('the recorded violation of mutual-exclusion is NOT reproduced\n');
  });

  it('says where a trace stops matching: a step that leads elsewhere, with the differing fields', async () => {
    const file = edit(await petersonTrace(), (d) => {
      d.states[3].turn = 1;
    });
    const r = await mc('replay', file, 'test/fixtures/peterson.ts');
    expect(r.code).toBe(2);
    expect(r.out).toContain('  3  ✗     "p1: flag[1] = 1" leads to a different state than the trace\'s state 3\n           turn: trace 1, model 0\n');
  });

  it('finds the steps of a trace that names no actions, and reads integers written as #bigint', async () => {
    const file = edit(await petersonTrace(), (d) => {
      for (const s of d.states) {
        s['#meta'] = { index: (s['#meta'] as { index: number }).index };
        s.turn = { '#bigint': String(s.turn) };
      }
    });
    const r = await mc('replay', file, 'test/fixtures/peterson.ts');
    expect(r.code).toBe(1);
    expect(r.out).toContain('  8  p1    p1: ncs++   ✗ mutual-exclusion: 2 processes in the critical section\n');
  });

  it('replays with other parameters when asked, and the fixed variant does not reproduce the trace', async () => {
    const r = await mc('replay', await petersonTrace(), 'test/fixtures/peterson.ts', '--param', 'variant=correct');
    expect(r.code).toBe(2);
    expect(r.out).toContain('  1  ✗     "p0: turn = 1" is not enabled in state 0; enabled: "p0: flag[0] = 1", "p1: flag[1] = 1"\n');
  });

  it('says when the initial state is not the model\'s', async () => {
    const file = edit(await petersonTrace(), (d) => {
      d.states[0].ncs = 5;
    });
    const r = await mc('replay', file, 'test/fixtures/peterson.ts');
    expect(r.code).toBe(2);
    expect(r.out.split('\n').slice(1, 4)).toEqual([
      "  0  ✗     the initial state is not the model's initial state",
      '           ncs: trace 5, model 0',
      'the trace stops matching the model at state 0 of 8',
    ]);
  });

  it('reproduces a violation at quiescence, checked once the replay reaches a state with nothing enabled', async () => {
    const out = tmp();
    expect((await mc('verify', 'test/fixtures/lost_update.ts', '--param', 'threads=2', '--out', out, '--quiet')).code).toBe(1);
    const r = await mc('replay', join(out, 'lost-update', 'threads=2', 'no-lost-update.itf.json'), 'test/fixtures/lost_update.ts');
    expect(r.code).toBe(1);
    expect(r.out.split('\n').slice(-5)).toEqual([
      '  4  t1    t1: x = tmp + 1   ✗ no-lost-update: x = 1 after 2 increments',
      'the trace matches the model: 4 steps, ending with no transition enabled',
      'violated: no-lost-update at state 4: x = 1 after 2 increments',
      'the recorded violation of no-lost-update is reproduced',
      '',
    ]);
  });

  it('refuses a file that is not a trace with one line', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'x.itf.json'), '{"vars": []}');
    const r = await mc('replay', join(dir, 'x.itf.json'), 'test/fixtures/peterson.ts');
    expect(r.code).toBe(2);
    expect(r.err).toBe(`mc: ${join(dir, 'x.itf.json')}: not an ITF trace: "states" must be a non-empty array\n`);
  });
});
