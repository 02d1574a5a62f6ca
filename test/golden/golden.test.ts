// Golden files pin what users read: the text and JSON of `mc verify`, and the ITF trace and
// DOT graph it writes, on the buggy Peterson variant (an invariant broken after 8 steps) and on
// the lost update (a property at quiescence). Regenerate after an intended change with
// `UPDATE_GOLDEN=1 npx vitest run test/golden` and review the diff.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mc, untimed } from '../cli/run.ts';

const update = process.env.UPDATE_GOLDEN === '1';

function golden(name: string, actual: string): void {
  const file = join('test', 'golden', name);
  if (update || !existsSync(file)) {
    if (!update) throw new Error(`golden file ${file} is missing; run with UPDATE_GOLDEN=1 to create it`);
    writeFileSync(file, actual);
    return;
  }
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

/** Replaces the output folder and the run-dependent numbers (times, rates). */
function stable(text: string, out: string): string {
  return untimed(text.split(out).join('OUT'))
    .replace(/\d+ states\/s/g, 'R states/s')
    .replace(/"elapsedMs": [\d.e+-]+/g, '"elapsedMs": T')
    .replace(/"statesPerSecond": \d+/g, '"statesPerSecond": R');
}

const cases = [
  { name: 'peterson-turn-first', file: 'test/fixtures/peterson.ts', args: ['--param', 'variant=turn-first'], model: 'peterson', setting: 'variant=turn-first', property: 'mutual-exclusion' },
  { name: 'lost-update-2', file: 'test/fixtures/lost_update.ts', args: ['--param', 'threads=2'], model: 'lost-update', setting: 'threads=2', property: 'no-lost-update' },
];

describe('golden outputs of mc verify', () => {
  for (const c of cases) {
    it(`${c.name}: text, JSON, ITF and DOT`, async () => {
      const out = mkdtempSync(join(tmpdir(), 'mc-golden-'));
      const text = await mc('verify', c.file, ...c.args, '--out', out, '--quiet');
      expect(text.code).toBe(1);
      golden(`${c.name}.txt`, stable(text.out, out));
      const json = await mc('verify', c.file, ...c.args, '--out', out, '--quiet', '--json');
      expect(json.code).toBe(1);
      golden(`${c.name}.json`, stable(json.out, out));
      golden(`${c.name}.itf.json`, readFileSync(join(out, c.model, c.setting, `${c.property}.itf.json`), 'utf8'));
      golden(`${c.name}.dot`, readFileSync(join(out, c.model, c.setting, `${c.property}.dot`), 'utf8'));
    });
  }
});
