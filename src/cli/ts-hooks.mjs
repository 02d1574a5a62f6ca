// Module hooks that load TypeScript as ES modules, for mc's own sources and the user's model
// files (registered by bin/mc.js and by every --workers thread). esbuild strips the types, file
// by file, as tsx does, but without tsx's keepNames: that wraps every closure a model creates per
// state (each transition's apply) in a defineProperty call, a fifth of a run's time. A .ts file
// always loads as an ES module, whatever the "type" of the package.json above it.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

const TS = /\.(ts|mts)$/;

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !TS.test(new URL(url).pathname)) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const source = await readFile(file, 'utf8');
  const { code } = await transform(source, { loader: 'ts', format: 'esm', target: `node${process.versions.node}`, sourcemap: 'inline', sourcefile: file });
  return { format: 'module', source: code, shortCircuit: true };
}
