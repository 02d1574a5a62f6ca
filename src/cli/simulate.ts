import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { formatParams, resolveParams } from '../core/params.ts';
import { simulate } from '../explore/simulate.ts';
import { formatCounterexample } from '../report/text.ts';
import { EXIT, type IO } from './io.ts';
import { loadModel } from './load.ts';
import { fileKind, modelLanes, settingDir, writeCounterexamples } from './outputs.ts';

export interface SimulateFlags {
  param: string[];
  property: string[];
  seed?: number;
  runs: number;
  depth: number;
  out: string;
  svg: boolean;
  html: boolean;
}

/** Parses a seed: a decimal or 0x-hexadecimal integer in 0..2^32-1. */
export function parseSeed(text: string): number {
  const t = text.trim();
  const v = /^\d+$/.test(t) ? Number(t) : /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t.slice(2), 16) : NaN;
  if (!Number.isSafeInteger(v) || v < 0 || v > 0xffffffff) throw new InvalidArgumentError(`--seed takes an integer in 0..4294967295 (decimal or 0x…), got "${text}"`);
  return v;
}

export async function simulateCommand(file: string, flags: SimulateFlags, io: IO): Promise<number> {
  const model = await loadModel(file);
  const params = resolveParams(model.params, flags.param, model.name);
  const seed = flags.seed ?? randomInt(0, 0xffffffff);
  const command = (s: number, runs: number) =>
    ['mc simulate', file, ...flags.param.map((a) => `--param ${a}`), ...flags.property.map((p) => `--property ${p}`), `--seed ${s}`, `--runs ${runs}`, `--depth ${flags.depth}`].join(' ');
  io.out(`mc simulate ${model.name} [${formatParams(params, model.params)}]: seed ${seed}, ${flags.runs} runs of at most ${flags.depth} steps\n`);
  const r = simulate(model, params, { seed, runs: flags.runs, depth: flags.depth, properties: flags.property.length > 0 ? flags.property : undefined });
  const secs = `${(r.elapsedMs / 1000).toFixed(2)} s`;
  if (!r.violation) {
    io.out(
      `no violation in ${r.runs} runs (${r.steps} steps, ${r.ended} runs ended with no transition enabled, the others at depth ${flags.depth}), ${secs}; ` +
        `random runs prove nothing: use mc verify for a proof\nreproduce: ${command(seed, flags.runs)}\n`,
    );
    // Not "holds": nothing was proven, as an incomplete verify (exit 3).
    return EXIT.incomplete;
  }
  const v = r.violation;
  const lanes = modelLanes(model, params);
  const reproduce = command(v.seed, 1);
  const written = await writeCounterexamples(model, { params, properties: [v.result] }, join(settingDir(flags.out, model, params), 'simulate'), file, reproduce, {
    svg: flags.svg,
    html: flags.html,
  });
  io.out(`violated: ${v.result.name} in run ${v.run} (seed ${v.seed}) after ${v.result.violation!.trace.steps.length} steps, ${secs}\n\n`);
  io.out(`${formatCounterexample(v.result, lanes)}\n${(written.files[v.result.name] ?? []).map((f) => `  ${fileKind(f)}: ${f}\n`).join('')}`);
  io.out(`\nreproduce: ${reproduce}\n`);
  return EXIT.violated;
}
