import type { CheckRow } from './check.ts';
import { checkTotals } from './check.ts';

/** Escapes text for an XML attribute or element, dropping characters XML 1.0 cannot hold. */
function xml(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/**
 * The rows of `mc check` as JUnit XML (the Jenkins/Ant dialect that GitHub, GitLab and Jenkins
 * read): one testsuite per model file, one testcase per row, named by the property, with the
 * model and setting as its classname. A mismatch is a <failure>, a model or load error an
 * <error>. No timestamp or host name: the same results give the same file but for the times.
 * Each testcase carries the time of its setting's whole run (all its properties are decided by
 * one exploration); the suite time counts each run once.
 */
export function checkJunit(rows: readonly CheckRow[]): string {
  const files: string[] = [];
  for (const r of rows) if (!files.includes(r.file)) files.push(r.file);
  const total = checkTotals(rows);
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="mc check" tests="${total.rows}" failures="${total.failed}" errors="${total.errors}" skipped="${total.skipped}" time="${secs(total.elapsedMs)}">`,
  );
  for (const file of files) {
    const mine = rows.filter((r) => r.file === file);
    const t = checkTotals(mine);
    const name = mine[0]?.model ?? file;
    out.push(
      `  <testsuite name="${xml(name)}" file="${xml(file)}" tests="${t.rows}" failures="${t.failed}" errors="${t.errors}" skipped="${t.skipped}" time="${secs(t.elapsedMs)}">`,
    );
    for (const r of mine) {
      const classname = r.setting ? `${r.model} [${r.setting}]` : r.model;
      const attrs = `name="${xml(r.property ?? '(model)')}" classname="${xml(classname)}" file="${xml(file)}" time="${secs(r.elapsedMs ?? 0)}"`;
      const body: string[] = [];
      const text = [r.why ?? '', ...(r.details ?? []), ...(r.counterexample ? ['', r.counterexample] : [])].join('\n').trim();
      if (r.status === 'fail') body.push(`      <failure type="mismatch" message="${xml(r.why ?? 'mismatch')}">${xml(text)}</failure>`);
      if (r.status === 'error') body.push(`      <error type="error" message="${xml(r.why ?? 'error')}">${xml(text)}</error>`);
      if (r.status === 'skip') body.push(`      <skipped message="${xml(r.why ?? 'skipped')}"/>`);
      if (r.status === 'pass' && r.got !== undefined)
        body.push(`      <system-out>${xml(`${r.got} (expected ${r.expected}); ${r.states} states${r.why ? `; ${r.why}` : ''}`)}</system-out>`);
      out.push(body.length ? `    <testcase ${attrs}>\n${body.join('\n')}\n    </testcase>` : `    <testcase ${attrs}/>`);
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>', '');
  return out.join('\n');
}
