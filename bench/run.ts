// `npm run bench [-- --quick] [-- --only <model>] [-- --runs N] [-- --hundred-million] [-- --kernel] [-- --liveness]`:
// runs mc and SPIN 6.5.2 on the same models (bench/models/*.ts and their Promela twins *.pml) in
// one run and prints a table of distinct states, transitions, seconds, states/second, peak
// memory and the mc/SPIN ratios. SPIN's verifier is compiled with full state vectors and no
// partial-order reduction (-O2 -DNOREDUCE -DSAFETY), so both must find exactly the same
// distinct states. The machine is shared and noisy: each mc setting and SPIN run alternately,
// `--runs` times (default 3), and the table gives medians.
// Installs spin and gcc with apt-get when they are missing. Not a test: nothing here asserts
// a speed; a state-count mismatch is reported and makes the exit code 1.
// mc runs each model exact, with fingerprints, and exact and fingerprint with 2 workers; models
// marked `reductions` also with --symmetry, --por and both (those rows compare with SPIN's
// unreduced count and are expected to differ). --hundred-million runs only the
// 125-million-state setting (nmi-percpu with 3 CPUs, 7 rounds, 3 NMIs), mc with fingerprints
// and SPIN on its twin; --kernel runs the kernel models (no Promela twins: states/s only);
// --liveness compares mc's liveness check with its safety check and with SPIN's `pan -a -f`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TIME = '/usr/bin/time';

interface Case {
  readonly model: string;
  /** The mc model file and its parameters. */
  readonly mc: string;
  readonly params: Record<string, string | number | boolean>;
  /** mc properties to check (default: all). */
  readonly properties?: readonly string[];
  /** The Promela twin and its -D defines; extra pan flags (-E: deadlocks are expected). */
  readonly pml: string;
  readonly defines?: Record<string, string | number>;
  readonly panFlags?: readonly string[];
  /** Also run mc with --symmetry, --por and both. */
  readonly reductions?: boolean;
  /** mc settings to run (default: exact, fingerprint, 2 workers). */
  readonly settings?: readonly Setting[];
}

type Setting = 'exact' | 'fingerprint' | 'workers=2' | 'fingerprint workers=2' | 'symmetry' | 'por' | 'symmetry+por' | 'symmetry+por workers=2';
const REDUCED: readonly Setting[] = ['symmetry', 'por', 'symmetry+por', 'symmetry+por workers=2'];

const quick = process.argv.includes('--quick');
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const hundredMillion = process.argv.includes('--hundred-million');
const kernel = process.argv.includes('--kernel');
const liveness = process.argv.includes('--liveness');
const runs = process.argv.includes('--runs') ? Number(process.argv[process.argv.indexOf('--runs') + 1]) : 3;

const big: Case[] = [
  {
    // 500 states per CPU, cubed: 125,000,000 states.
    model: 'nmi-percpu 3 cpus r=7 nmi=3',
    mc: 'bench/models/nmi_percpu.ts',
    params: { cpus: 3, rounds: 7, nmis: 3 },
    pml: 'bench/models/nmi_percpu.pml',
    defines: { NCPU: 3, ROUNDS: 7, NMIS: 3 },
    // 2^27 hash slots: SPIN's default 2^24 chains eight states a slot here.
    panFlags: ['-w27'],
    settings: ['fingerprint'],
  },
];

/** The kernel models at the settings of BENCHMARKS.md's before/after table: mc only. */
const kernelCases: { readonly model: string; readonly mc: string; readonly params: Record<string, string | number | boolean> }[] = [
  { model: 'kfree_nolock gated-free 3 cpus RT', mc: 'models/kfree_nolock.ts', params: { variant: 'gated-free', cpus: 3, rt: true } },
  { model: 'kvfree_rcu_headless atomic-wrapper calls=2', mc: 'models/kvfree_rcu_headless.ts', params: { variant: 'atomic-wrapper', calls: 2 } },
  { model: 'kfree_rcu_bulk workqueue-refill 3 cpus', mc: 'models/kfree_rcu_bulk.ts', params: { variant: 'workqueue-refill', cpus: 3 } },
  { model: 'rcu_page_reserve rcu-head-fallback 3 cpus', mc: 'models/rcu_page_reserve.ts', params: { variant: 'rcu-head-fallback', cpus: 3 } },
];

/**
 * Liveness against safety on one model, and against SPIN's nested DFS with weak fairness
 * (`pan -a -f`) on an LTL claim of the same meaning: mc's `forks-in-use` is alwaysEventually(some
 * fork is taken), SPIN's `[]<> (fork[0] || … || fork[N-1])`. It holds, so both search everything.
 */
const livenessCases = [quick ? 10 : 13].map((n) => ({
  model: `philosophers n=${n}`,
  mc: 'bench/models/philosophers.ts',
  params: { n },
  safety: 'forks-held',
  live: 'forks-in-use',
  pml: 'bench/models/philosophers.pml',
  defines: { N: n },
  ltl: `ltl forks { []<> (${Array.from({ length: n }, (_, i) => `fork[${i}]`).join(' || ')}) }`,
  // SPIN's weak fairness needs room for every process and the claim: NFAIR 4 covers up to 16.
  fairDefine: '-DNFAIR=4',
}));

const usual: Case[] = [
  {
    model: `filter-lock n=${quick ? 4 : 5}`,
    mc: 'bench/models/filter.ts',
    params: { n: quick ? 4 : 5 },
    pml: 'bench/models/filter.pml',
    defines: { N: quick ? 4 : 5 },
  },
  {
    model: `philosophers n=${quick ? 10 : 13}`,
    mc: 'bench/models/philosophers.ts',
    params: { n: quick ? 10 : 13 },
    properties: ['forks-held'],
    pml: 'bench/models/philosophers.pml',
    defines: { N: quick ? 10 : 13 },
    panFlags: ['-E'],
  },
  {
    model: `nmi-percpu 2 cpus r=${quick ? 3 : 6} nmi=${quick ? 3 : 6}`,
    mc: 'bench/models/nmi_percpu.ts',
    params: { cpus: 2, rounds: quick ? 3 : 6, nmis: quick ? 3 : 6 },
    pml: 'bench/models/nmi_percpu.pml',
    defines: { ROUNDS: quick ? 3 : 6, NMIS: quick ? 3 : 6 },
  },
  {
    // The 3-CPU kernel model, for symmetry: the CPUs are interchangeable and share nothing.
    model: `nmi-percpu 3 cpus r=2 nmi=${quick ? 1 : 2}`,
    mc: 'bench/models/nmi_percpu.ts',
    params: { cpus: 3, rounds: 2, nmis: quick ? 1 : 2 },
    pml: 'bench/models/nmi_percpu.pml',
    defines: { NCPU: 3, ROUNDS: 2, NMIS: quick ? 1 : 2 },
    reductions: true,
    settings: ['exact'],
  },
];
const cases = hundredMillion ? big : usual;

interface Run {
  readonly states: number;
  readonly transitions: number;
  readonly seconds: number;
  readonly peakMiB: number | undefined;
  readonly bytesPerState: number;
  readonly note?: string;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function ensureTools(): void {
  const missing = ['spin', 'gcc'].filter((c) => !have(c));
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(', ')} with apt-get …`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (args: string[]) => execFileSync(sudo.length ? 'sudo' : args[0], sudo.length ? args : args.slice(1), { stdio: 'inherit' });
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', ...missing]);
}

/** Runs a command under /usr/bin/time when present; returns stdout, stderr and the peak RSS. */
function timed(cmd: string, args: readonly string[], cwd: string): { stdout: string; stderr: string; peakMiB?: number; status: number | null } {
  const useTime = existsSync(TIME);
  const r = useTime
    ? spawnSync(TIME, ['-f', 'MAXRSS %M', cmd, ...args], { cwd, encoding: 'utf8', maxBuffer: 1 << 28 })
    : spawnSync(cmd, [...args], { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  const m = /MAXRSS (\d+)/.exec(r.stderr ?? '');
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', peakMiB: m ? Number(m[1]) / 1024 : undefined, status: r.status };
}

function runMc(c: Pick<Case, 'mc' | 'params' | 'properties'>, setting: Setting): Run {
  const args = ['bin/mc.js', 'verify', c.mc, '--json', '--quiet', '--out', join(tmpdir(), 'mc-bench-out')];
  for (const [k, v] of Object.entries(c.params)) args.push('--param', `${k}=${v}`);
  for (const p of c.properties ?? []) args.push('--property', p);
  if (setting.startsWith('fingerprint')) args.push('--fingerprint');
  if (setting.endsWith('workers=2')) args.push('--workers', '2');
  if (setting.startsWith('symmetry')) args.push('--symmetry');
  if (setting === 'por' || setting.startsWith('symmetry+por')) args.push('--por');
  const r = timed(process.execPath, args, root);
  let o: { stats: { states: number; transitions: number; elapsedMs: number; bytesPerState: number }; verdict: string };
  try {
    o = JSON.parse(r.stdout);
  } catch {
    throw new Error(`mc failed on ${c.mc}: ${r.stderr.trim().split('\n').slice(0, 5).join('\n')}`);
  }
  return {
    states: o.stats.states,
    transitions: o.stats.transitions,
    seconds: o.stats.elapsedMs / 1000,
    peakMiB: r.peakMiB,
    bytesPerState: o.stats.bytesPerState,
    note: o.verdict === 'holds' ? undefined : o.verdict,
  };
}

/** SPIN on the case's Promela twin; with `ltl`, that claim appended and checked for acceptance cycles under weak fairness (-a -f). */
function runSpin(c: Pick<Case, 'pml' | 'defines' | 'panFlags'>, live?: { readonly ltl: string; readonly fairDefine: string }): Run {
  const dir = mkdtempSync(join(tmpdir(), 'mc-bench-spin-'));
  try {
    const pml = join(dir, 'model.pml');
    copyFileSync(join(root, c.pml), pml);
    if (live) writeFileSync(pml, `${readFileSync(pml, 'utf8')}\n${live.ltl}\n`);
    const defs = Object.entries(c.defines ?? {}).map(([k, v]) => `-D${k}=${v}`);
    execFileSync('spin', ['-a', ...defs, 'model.pml'], { cwd: dir, stdio: 'pipe' });
    execFileSync('gcc', ['-O2', '-DNOREDUCE', live ? live.fairDefine : '-DSAFETY', '-w', '-o', 'pan', 'pan.c'], { cwd: dir, stdio: 'pipe' });
    // -m: the DFS stack depth; grown until SPIN no longer says it was too small.
    for (let depth = 1_000_000; ; depth *= 4) {
      const r = timed('./pan', [`-m${depth}`, ...(live ? ['-a', '-f'] : []), ...(c.panFlags ?? [])], dir);
      const out = r.stdout;
      if (/max search depth too small/.test(out) && depth < 1e9) continue;
      const num = (re: RegExp): number => {
        const m = re.exec(out);
        if (!m) throw new Error(`cannot read ${re} from SPIN's output:\n${out}`);
        return Number(m[1]);
      };
      const errors = num(/errors: (\d+)/);
      // SPIN prints its counts with %9.8g: from 10^8 on in exponent form, eight significant
      // digits (1.25e+08 states, stored), so mc's count is then compared at that precision.
      const stored = num(/([\d.]+(?:e\+\d+)?) states, stored/);
      // SPIN's own per-state figure: the state vector as stored plus its per-state overhead.
      // Its hash table (fixed, 128 MiB at the default -w24) is left out; mc's table share is in.
      const asStored = /state-vector as stored = (\d+) byte \+ (\d+) byte overhead/.exec(out);
      return {
        states: stored,
        // SPIN counts stored + matched, the initial state included; mc counts successors computed.
        transitions: num(/([\d.]+(?:e\+\d+)?) transitions \(= stored\+matched\)/) - 1,
        seconds: num(/elapsed time ([\d.e+-]+) seconds/),
        peakMiB: r.peakMiB,
        bytesPerState: asStored ? Number(asStored[1]) + Number(asStored[2]) : NaN,
        note: errors > 0 ? `${errors} errors` : undefined,
      };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number | undefined, digits = 0): string => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits));
const rate = (r: Run): number => (r.seconds > 0 ? r.states / r.seconds : NaN);

/** The run with the median time of `runs` (alternated by the caller). */
function median(rs: readonly Run[]): Run {
  const sorted = [...rs].sort((a, b) => a.seconds - b.seconds);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** Wall seconds of a whole `mc verify` of a 32-state model: start-up, loading and report. */
function startup(): number {
  const t0 = performance.now();
  spawnSync(process.execPath, ['bin/mc.js', 'verify', 'test/fixtures/peterson.ts', '--quiet', '--out', join(tmpdir(), 'mc-bench-out')], { cwd: root });
  return (performance.now() - t0) / 1000;
}

function table(header: readonly string[], rows: readonly string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

function main(): number {
  ensureTools();
  const spinVersion = execFileSync('spin', ['-V'], { encoding: 'utf8' }).trim();
  console.log(`mc vs ${spinVersion}; node ${process.version}; SPIN: gcc -O2 -DNOREDUCE -DSAFETY; mc: BFS; medians of ${runs} alternated runs\n`);
  const starts = Array.from({ length: Math.max(3, runs) }, startup).sort((a, b) => a - b);
  console.log(`start-up: mc verify of a 32-state model takes ${fmt(starts[Math.floor((starts.length - 1) / 2)], 2)} s wall (median of ${starts.length})\n`);
  if (kernel) return kernelTable();
  if (liveness) return livenessTable();
  const header = ['model', 'setting', 'states mc / SPIN', 'transitions mc / SPIN', 's mc / SPIN', 'states/s mc / SPIN', 'peak MiB mc / SPIN', 'B/state mc / SPIN', 'speed mc/SPIN', 'B/state mc/SPIN', 'vs 1 thread'];
  const rows: string[][] = [];
  let mismatch = false;
  for (const c of cases) {
    if (only && !c.model.startsWith(only)) continue;
    const settings: Setting[] = [...(c.settings ?? ['exact', 'fingerprint', 'workers=2', 'fingerprint workers=2']), ...(c.reductions ? REDUCED : [])];
    // Alternate: SPIN, then every mc setting, `runs` times.
    const spinRuns: Run[] = [];
    const mcRuns = new Map<Setting, Run[]>(settings.map((x) => [x, []]));
    for (let r = 0; r < runs; r++) {
      spinRuns.push(runSpin(c));
      for (const setting of settings) mcRuns.get(setting)!.push(runMc(c, setting));
      console.error(`  done: ${c.model} run ${r + 1} of ${runs}`);
    }
    const spin = median(spinRuns);
    const one = (setting: Setting) => median(mcRuns.get(setting.includes('fingerprint') ? 'fingerprint' : 'exact') ?? mcRuns.get(setting)!);
    for (const setting of settings) {
      const mc = median(mcRuns.get(setting)!);
      const reduced = REDUCED.includes(setting);
      const same = mc.states === spin.states || (spin.states >= 1e8 && Number(mc.states.toPrecision(8)) === spin.states);
      if (!same && !reduced) mismatch = true;
      rows.push([
        c.model,
        setting,
        `${mc.states} / ${spin.states}${same ? '' : reduced ? ` (${fmt(spin.states / mc.states, 1)}x fewer)` : ' MISMATCH'}`,
        `${mc.transitions} / ${spin.transitions}`,
        `${fmt(mc.seconds, 2)} / ${fmt(spin.seconds, 2)}`,
        `${fmt(rate(mc))} / ${fmt(rate(spin))}`,
        `${fmt(mc.peakMiB)} / ${fmt(spin.peakMiB)}`,
        `${fmt(mc.bytesPerState, 1)} / ${fmt(spin.bytesPerState, 1)}`,
        `${fmt(rate(mc) / rate(spin), 2)}x`,
        `${fmt(mc.bytesPerState / spin.bytesPerState, 2)}x`,
        setting.includes('workers') ? `${fmt(one(setting).seconds / mc.seconds, 2)}x` : '',
      ]);
    }
  }
  table(header, rows);
  if (mismatch) console.log('\nstate counts differ between mc and SPIN: the models are not twins');
  return mismatch ? 1 : 0;
}

/** Liveness: mc's liveness check against its safety check and against SPIN's -a -f, alternated. */
function livenessTable(): number {
  const rows: string[][] = [];
  for (const c of livenessCases) {
    const safe: Run[] = [];
    const live: Run[] = [];
    const spin: Run[] = [];
    for (let r = 0; r < runs; r++) {
      safe.push(runMc({ ...c, properties: [c.safety] }, 'exact'));
      spin.push(runSpin({ ...c, panFlags: ['-E'] }, c));
      live.push(runMc({ ...c, properties: [c.live] }, 'exact'));
      console.error(`  done: ${c.model} run ${r + 1} of ${runs}`);
    }
    const [s, l, p] = [median(safe), median(live), median(spin)];
    rows.push([
      c.model,
      `${l.states} / ${p.states}`,
      fmt(s.seconds, 2),
      fmt(l.seconds, 2),
      `${fmt(l.seconds / s.seconds, 2)}x`,
      fmt(p.seconds, 2),
      `${fmt(p.seconds / l.seconds, 2)}x`,
      `${fmt(l.peakMiB)} / ${fmt(p.peakMiB)}`,
      l.note ?? p.note ?? 'holds',
    ]);
  }
  table(['model', 'states mc / SPIN (with claim)', 's mc safety', 's mc liveness', 'liveness/safety', 's SPIN -a -f', 'speed mc/SPIN', 'peak MiB mc / SPIN', 'verdict'], rows);
  return 0;
}

/** The kernel models: states, seconds and states/s, one thread and two workers. */
function kernelTable(): number {
  const rows: string[][] = [];
  for (const c of kernelCases) {
    if (only && !c.model.startsWith(only)) continue;
    const ones: Run[] = [];
    const twos: Run[] = [];
    for (let r = 0; r < runs; r++) {
      ones.push(runMc(c, 'exact'));
      twos.push(runMc(c, 'workers=2'));
    }
    const [one, two] = [median(ones), median(twos)];
    rows.push([c.model, String(one.states), fmt(one.seconds, 2), fmt(rate(one)), fmt(one.bytesPerState, 1), fmt(two.seconds, 2), `${fmt(one.seconds / two.seconds, 2)}x`]);
    console.error(`  done: ${c.model}`);
  }
  table(['model', 'states', 's', 'states/s', 'B/state', 's, 2 workers', '2 workers vs 1'], rows);
  return 0;
}

process.exitCode = main();
