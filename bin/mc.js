#!/usr/bin/env node
// Loads mc's TypeScript sources and the user's model files as they are (src/cli/ts-hooks.mjs).
import '../src/cli/register.mjs';

const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
