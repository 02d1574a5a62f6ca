import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ModelError, UsageError } from '../core/errors.ts';
import { isModel, type AnyModel } from '../core/model.ts';

/** esbuild's "Transform failed with 1 error:\n<file>:<line>:<col>: ERROR: <what>" as one line. */
function syntaxError(message: string): string | undefined {
  const m = /^(.+?):(\d+):(\d+): ERROR: (.+)$/m.exec(message);
  return m ? `${m[1]}:${m[2]}:${m[3]}: syntax error: ${m[4]}` : undefined;
}

/** What a model file threw while it loaded, as text, whatever it threw: an Error, an object with a message, anything else. */
export function thrownText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
  if (typeof e === 'object' && e !== null) {
    try {
      return `threw ${JSON.stringify(e)}`;
    } catch {
      return 'threw an object that cannot be printed';
    }
  }
  return `threw ${String(e)}`;
}

/**
 * Loads a model file (TypeScript or JavaScript) and returns its default export, checked to be
 * a model. Every failure is a one-line UsageError or ModelError naming the file.
 */
export async function loadModel(file: string): Promise<AnyModel> {
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`no such model file: ${file}`);
  if (!statSync(path).isFile()) throw new UsageError(`not a file: ${file} (give a model file such as models/kfree_nolock.ts)`);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (e) {
    const msg = thrownText(e);
    const syntax = syntaxError(msg);
    if (syntax) throw new ModelError(syntax, { cause: e });
    throw new ModelError(`${file}: loading failed: ${msg.split('\n')[0]}`, { cause: e });
  }
  const m = mod.default;
  if (m === undefined) throw new ModelError(`${file}: no default export; a model file must \`export default defineModel({...})\``);
  if (!isModel(m))
    throw new ModelError(`${file}: the default export is not a model (got ${m === null ? 'null' : typeof m}); build it with defineModel() from mc`);
  return m;
}
