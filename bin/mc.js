#!/usr/bin/env node
// Registers tsx so that mc's TypeScript sources and the user's model files load as they are.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
