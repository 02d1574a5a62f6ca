#!/usr/bin/env node
// Loads mc's TypeScript sources and the user's model files as they are (src/cli/ts-hooks.mjs).
import '../src/cli/register.mjs';

// `mc verify … | head`: the reader went away; stop quietly instead of with a stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });

const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
