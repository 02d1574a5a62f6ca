import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mc } from '../cli/run.ts';

describe('SVG and HTML counterexamples', () => {
  it('renders the graph to SVG in-process and writes a self-contained HTML report', async () => {
    const out = mkdtempSync(join(tmpdir(), 'mc-svg-'));
    const r = await mc('verify', 'test/fixtures/lost_update.ts', '--param', 'threads=2', '--out', out, '--svg', '--html', '--quiet');
    expect(r.code).toBe(1);
    const base = join(out, 'lost-update', 'threads=2', 'no-lost-update');
    expect(r.out).toContain(`  svg: ${base}.svg\n  report: ${base}.html\n`);
    const svg = readFileSync(`${base}.svg`, 'utf8');
    expect(svg).toMatch(/^<\?xml[^]*<svg /);
    // A lane header per thread, the initial state, 4 steps and the quiescent end; one cluster per thread.
    expect(svg.match(/class="node"/g)).toHaveLength(8);
    expect(svg.match(/class="cluster"/g)).toHaveLength(2);
    const html = readFileSync(`${base}.html`, 'utf8');
    expect(html).toContain('<title>lost-update: no-lost-update violated</title>');
    expect(html).toContain('<th class="lane" data-lane="t0">t0</th><th class="lane" data-lane="t1">t1</th>');
    expect(html).toContain('at quiescence (no transition enabled): x = 1 after 2 increments');
    // Nothing is fetched from elsewhere: no external script, style sheet, image or font.
    expect(html).not.toMatch(/<script|<link|src="http|url\(/);
  });
});
