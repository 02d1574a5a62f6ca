import type { Coverage } from '../core/coverage.ts';
import type { Verdict } from '../core/outcome.ts';

/** One line of `mc check`: one property of one setting of one model, or an error that stopped them. */
export interface CheckRow {
  /** The model file as given on the command line (or found in a folder). */
  readonly file: string;
  /** The model's name; the file name when the file did not load. */
  readonly model: string;
  /** The setting label (`variant=turn-first`, `defaults`); empty for a file that did not load. */
  readonly setting: string;
  /** The property; absent for an error that stopped the whole file or setting. */
  readonly property?: string;
  readonly status: 'pass' | 'fail' | 'error' | 'skip';
  readonly expected?: 'holds' | 'violated';
  readonly got?: Verdict;
  readonly states?: number;
  readonly elapsedMs?: number;
  /** Why it failed or errored, or what a bounded pass showed. */
  readonly why?: string;
  /** Further lines printed under a failure: counterexample files, the command that reproduces it. */
  readonly details?: readonly string[];
  /** The counterexample as text, for the JUnit report. */
  readonly counterexample?: string;
}

const STATUS = { pass: 'ok', fail: 'FAIL', error: 'ERROR', skip: 'skip' } as const;

function seconds(ms: number | undefined): string {
  return ms === undefined ? '' : `${(ms / 1000).toFixed(2)} s`;
}

/**
 * The lines of a block of rows (one model file), columns aligned within the block:
 * status, model [setting], property, verdict, expectation, states, time, and why when it failed.
 */
export function formatCheckRows(rows: readonly CheckRow[]): string {
  const where = (r: CheckRow) => (r.setting ? `${r.model} [${r.setting}]` : r.model);
  const w = {
    where: Math.max(0, ...rows.map((r) => where(r).length)),
    prop: Math.max(0, ...rows.map((r) => (r.property ?? '-').length)),
    states: Math.max(0, ...rows.map((r) => String(r.states ?? '').length)),
  };
  const lines: string[] = [];
  for (const r of rows) {
    const head = `${STATUS[r.status].padEnd(5)} ${where(r).padEnd(w.where)}  ${(r.property ?? '-').padEnd(w.prop)}`;
    if (r.got === undefined) {
      lines.push(`${head}  ${r.why ?? ''}`.trimEnd());
    } else {
      const cols = [
        r.got.padEnd(8),
        `expected ${r.expected ?? '?'}`.padEnd(17),
        `${String(r.states ?? '').padStart(w.states)} states`,
        seconds(r.elapsedMs).padStart(7),
      ];
      lines.push(`${head}  ${cols.join('  ')}${r.why && r.status !== 'pass' ? `  ${r.why}` : r.why ? `  (${r.why})` : ''}`);
    }
    if (r.status === 'fail' || r.status === 'error') for (const d of r.details ?? []) lines.push(`      ${d}`);
  }
  return lines.join('\n');
}

export interface CheckTotals {
  readonly rows: number;
  readonly passed: number;
  readonly failed: number;
  readonly errors: number;
  readonly skipped: number;
  readonly models: number;
  readonly settings: number;
  readonly states: number;
  readonly elapsedMs: number;
}

export function checkTotals(rows: readonly CheckRow[]): CheckTotals {
  const runs = new Map<string, CheckRow>();
  for (const r of rows) if (r.states !== undefined) runs.set(`${r.file}\0${r.setting}`, r);
  return {
    rows: rows.length,
    passed: rows.filter((r) => r.status === 'pass').length,
    failed: rows.filter((r) => r.status === 'fail').length,
    errors: rows.filter((r) => r.status === 'error').length,
    skipped: rows.filter((r) => r.status === 'skip').length,
    models: new Set(rows.map((r) => r.file)).size,
    settings: runs.size,
    states: [...runs.values()].reduce((a, r) => a + (r.states ?? 0), 0),
    elapsedMs: [...runs.values()].reduce((a, r) => a + (r.elapsedMs ?? 0), 0),
  };
}

/** The last line of `mc check`. */
export function formatCheckSummary(rows: readonly CheckRow[]): string {
  const t = checkTotals(rows);
  const ok = t.failed === 0 && t.errors === 0;
  const counts = `${t.passed} passed, ${t.failed} failed, ${t.errors} error${t.errors === 1 ? '' : 's'}, ${t.skipped} skipped`;
  const scope = `${t.models} model file${t.models === 1 ? '' : 's'}, ${t.settings} setting${t.settings === 1 ? '' : 's'}, ${t.states} states in ${seconds(t.elapsedMs)}`;
  return ok
    ? `mc check: ok, every result matches its expectation (${counts}); ${scope}`
    : `mc check: FAILED, ${t.failed + t.errors} of ${t.rows} results do not match their expectations (${counts}); ${scope}`;
}

/**
 * A note under a model's block when a setting left declared actions unfired (or fired
 * undeclared ones). Not a failure: an action may be dead in one variant by design; the note
 * makes dead model code visible in CI logs.
 */
export function formatCoverageNote(where: string, c: Coverage, complete: boolean): string {
  const parts: string[] = [];
  if (c.neverFired.length > 0) parts.push(`never fired${complete ? '' : ' (in the part explored)'}: ${c.neverFired.join('; ')}`);
  if (c.undeclared.length > 0) parts.push(`fired but not declared: ${c.undeclared.join('; ')}`);
  return `note  ${where}  actions ${parts.join('; ')}`;
}
