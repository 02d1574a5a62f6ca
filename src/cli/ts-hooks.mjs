// Module hooks that load TypeScript as ES modules, for mc's own sources and the user's model
// files (registered by bin/mc.js and by every --workers thread). esbuild strips the types, file
// by file, as tsx does, but without tsx's keepNames: that wraps every closure a model creates per
// state (each transition's apply) in a defineProperty call, a fifth of a run's time. A .ts file
// always loads as an ES module, whatever the "type" of the package.json above it.
//
// Start-up: the JavaScript of each file is cached in the OS temporary folder, keyed by the
// file's path, size, modification time and the esbuild version, so a run whose files did not
// change starts without esbuild (which is a separate process). A cache that cannot be written
// is skipped silently.
import { mkdirSync, readFileSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const TS = /\.(ts|mts)$/;
const ESBUILD = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('esbuild/package.json'), 'utf8')).version;
const CACHE = join(tmpdir(), `mc-ts-cache-${ESBUILD}-${process.versions.node}`);
let esbuild;

function cacheFile(file, st) {
  const key = createHash('sha1').update(`${file}\0${st.size}\0${st.mtimeMs}`).digest('hex');
  return join(CACHE, `${key}.mjs`);
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !TS.test(new URL(url).pathname)) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const st = statSync(file);
  const cached = cacheFile(file, st);
  try {
    return { format: 'module', source: readFileSync(cached, 'utf8'), shortCircuit: true };
  } catch {
    // Not cached yet.
  }
  const source = await readFile(file, 'utf8');
  esbuild ??= await import('esbuild');
  const { code } = await esbuild.transform(source, { loader: 'ts', format: 'esm', target: `node${process.versions.node}`, sourcemap: 'inline', sourcefile: file });
  try {
    mkdirSync(CACHE, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, cached);
  } catch {
    // No cache this time.
  }
  return { format: 'module', source: code, shortCircuit: true };
}
