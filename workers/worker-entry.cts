/**
 * Piscina's entry file: CommonJS on purpose. Piscina loads its entry with `require()` first,
 * and on Node 20.19+ `require()` of an ES module (require(esm)) can abort the whole process
 * with a V8 fatal error ("IsGraphAsync must be used on an instantiated module") when it meets
 * a module the loader is still importing. A CommonJS entry is required the ordinary way and
 * loads the ES worker with `import()` only.
 *
 * The default export is a promise of the handler: Piscina awaits it once, before the worker
 * reports ready, so tasks call the handler directly.
 */
import type work from './worker.js';

/** Used from `dist/` only (under tsx Piscina is given `worker.ts`, which tsx compiles for `require`). */
const handler: Promise<typeof work> = import('./worker.js').then((m) => m.default);

export default handler;
