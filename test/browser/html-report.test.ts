// Loads the HTML counterexample report in headless Chromium (Debian's, driven by
// playwright-core) and checks what a reader sees: the lanes as columns, each step under its
// CPU, the violating step marked, the property and the command that reproduces it. Keeps a
// screenshot under out/. Skips, saying why, when /usr/bin/chromium is not installed, unless
// MC_REQUIRE_BROWSER=1 (set by .ci/run, which installs it): then a missing browser fails.
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mc } from '../cli/run.ts';

const CHROMIUM = '/usr/bin/chromium';
const present = existsSync(CHROMIUM);
if (!present && process.env.MC_REQUIRE_BROWSER === '1') throw new Error(`MC_REQUIRE_BROWSER=1 but ${CHROMIUM} is not installed`);
if (!present) console.warn(`skipping the browser test of the HTML report: ${CHROMIUM} is not installed (apt-get install -y chromium)`);

describe.skipIf(!present)('HTML counterexample report in a real browser', () => {
  let browser: Browser;
  beforeAll(async () => {
    // Playwright starts Chromium with a fresh, empty profile folder of its own (it refuses a
    // --user-data-dir argument to launch()), so no state leaks between runs.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('shows the interleaving in CPU columns, the violated property and how to reproduce it', async () => {
    const out = mkdtempSync(join(tmpdir(), 'mc-html-'));
    const v = await mc('verify', 'test/fixtures/peterson.ts', '--param', 'variant=turn-first', '--out', out, '--html', '--quiet');
    expect(v.code).toBe(1);
    const file = join(out, 'peterson', 'variant=turn-first', 'mutual-exclusion.html');
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(pathToFileURL(resolve(file)).href);

    expect(await page.title()).toBe('peterson: mutual-exclusion violated');
    expect(await page.locator('#verdict').innerText()).toContain('mutual-exclusion violated: 2 processes in the critical section');
    expect(await page.locator('#reproduce').innerText()).toBe('mc verify test/fixtures/peterson.ts --param variant=turn-first');
    expect(await page.locator('#replay').innerText()).toBe(`mc replay ${join(out, 'peterson', 'variant=turn-first', 'mutual-exclusion.itf.json')} test/fixtures/peterson.ts`);

    // One column per lane, in the model's order.
    expect(await page.locator('th.lane').allInnerTexts()).toEqual(['p0', 'p1']);
    const headers = await Promise.all(['p0', 'p1'].map(async (l) => (await page.locator(`th.lane[data-lane="${l}"]`).boundingBox())!));
    expect(headers[1].x).toBeGreaterThan(headers[0].x + headers[0].width - 1);

    // Each step's label is drawn under its own lane's header, in time order.
    const expected = [
      ['p0', 'p0: turn = 1'],
      ['p1', 'p1: turn = 0'],
      ['p1', 'p1: flag[1] = 1'],
      ['p1', 'p1: enter'],
      ['p0', 'p0: flag[0] = 1'],
      ['p0', 'p0: enter'],
      ['p0', 'p0: ncs++'],
      ['p1', 'p1: ncs++'],
    ];
    let lastY = -1;
    for (const [i, [lane, label]] of expected.entries()) {
      const cell = page.locator(`tr[data-step="${i + 1}"] td.active`);
      expect(await cell.locator('.label').innerText()).toBe(label);
      const box = (await cell.boundingBox())!;
      const h = headers[lane === 'p0' ? 0 : 1];
      expect(box.x).toBeGreaterThanOrEqual(h.x - 1);
      expect(box.x).toBeLessThan(h.x + h.width);
      expect(box.y).toBeGreaterThan(lastY);
      lastY = box.y;
    }
    // The violating step is marked, with the offending field in red.
    const culprit = page.locator('tr.culprit');
    expect(await culprit.getAttribute('data-step')).toBe('8');
    const offending = culprit.locator('.change.offending');
    expect(await offending.innerText()).toBe('ncs: 1 → 2');
    expect(await offending.evaluate((e) => (globalThis as unknown as { getComputedStyle(x: unknown): { color: string } }).getComputedStyle(e).color)).toBe('rgb(198, 40, 40)');
    // The graph is inlined as SVG and rendered.
    const svg = page.locator('.graph svg');
    expect((await svg.boundingBox())!.height).toBeGreaterThan(100);
    // A lane header per process, the initial state and the 8 steps.
    expect(await svg.locator('g.node').count()).toBe(11);

    mkdirSync('out', { recursive: true });
    await page.screenshot({ path: join('out', 'html-report.png'), fullPage: true });
    await page.close();
  }, 30_000);
});
