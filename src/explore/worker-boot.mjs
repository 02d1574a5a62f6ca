// The entry of a --workers thread (see parallel.ts): registers mc's TypeScript loader, as
// bin/mc.js does, so that the worker and the user's model file load as TypeScript.
import '../cli/register.mjs';

await import('./worker.ts');
