// Registers mc's TypeScript loader (ts-hooks.mjs) in this thread: `node --import` it, or import
// it before the first .ts module.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
