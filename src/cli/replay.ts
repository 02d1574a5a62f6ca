import { existsSync, readFileSync } from 'node:fs';
import { errorMessage, ModelError, modelFailure, UsageError } from '../core/errors.ts';
import { parseItf, type ItfTrace } from '../core/itf.ts';
import { checkParamValue, formatParams, resolveParams, type AnyParams } from '../core/params.ts';
import { replay } from '../explore/replay.ts';
import { formatReplay } from '../report/replay.ts';
import { EXIT, type IO } from './io.ts';
import { loadModel } from './load.ts';

export interface ReplayFlags {
  param: string[];
  property: string[];
}

function readTrace(file: string): ItfTrace {
  if (!existsSync(file)) throw new UsageError(`no such trace file: ${file}`);
  try {
    return parseItf(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: ${errorMessage(e)}`);
  }
}

/**
 * Replays a saved ITF trace against a model file. The parameters are the ones the trace
 * records in its `#meta` (when mc wrote it), then `--param` over them. Exit 0: the trace
 * matches and violates nothing checked; 1: it matches up to where it violates a property;
 * 2: it does not match the model (the line says at which state and why) or bad input.
 */
export async function replayCommand(traceFile: string, modelFile: string, flags: ReplayFlags, io: IO): Promise<number> {
  const trace = readTrace(traceFile);
  const model = await loadModel(modelFile);
  const recorded = trace.meta.params;
  const base: Record<string, string | number | boolean> = {};
  if (typeof recorded === 'object' && recorded !== null)
    for (const [k, v] of Object.entries(recorded)) {
      const spec = model.params[k];
      if (!spec) throw new UsageError(`${traceFile}: the trace was made with parameter "${k}", which model "${model.name}" does not have`);
      const err = checkParamValue(spec, v);
      if (err) throw new UsageError(`${traceFile}: the trace's parameter ${k} = ${JSON.stringify(v)} is not valid for model "${model.name}": ${err}`);
      base[k] = v as string | number | boolean;
    }
  const params: AnyParams = { ...resolveParams(model.params, [], model.name), ...base, ...pick(resolveParams(model.params, flags.param, model.name), flags.param) };
  let result;
  try {
    result = replay(model, params, trace, flags.property.length > 0 ? flags.property : undefined);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ModelError) throw e;
    throw modelFailure(`model "${model.name}" threw while replaying`, e);
  }
  const recordedProperty = typeof trace.meta.property === 'string' && model.properties.some((p) => p.name === trace.meta.property) ? trace.meta.property : undefined;
  const header = `mc replay ${traceFile}: ${model.name} [${formatParams(params, model.params)}], ${trace.states.length} states`;
  io.out(`${formatReplay(result, header, recordedProperty)}\n`);
  if (result.mismatch) return EXIT.usage;
  return result.violations.length > 0 ? EXIT.violated : EXIT.holds;
}

/** The parameters that `--param` set explicitly. */
function pick(values: AnyParams, assignments: readonly string[]): AnyParams {
  const names = new Set(assignments.map((a) => a.slice(0, a.indexOf('=')).trim()));
  return Object.fromEntries(Object.entries(values).filter(([k]) => names.has(k)));
}
