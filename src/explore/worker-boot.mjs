// The entry of a --workers thread (see parallel.ts): registers tsx, as bin/mc.js does, so that
// the worker and the user's model file load as TypeScript, then starts the worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
