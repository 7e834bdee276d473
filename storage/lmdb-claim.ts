/**
 * One store per LMDB directory per process: LMDB shares an environment opened twice in one
 * process, so two nodes given the same directory (or two stores derived to the same one) would
 * write into each other's tables. The second open is refused with {@link StoreInUse} instead.
 */
import { resolve } from 'node:path';
import { StoreInUse } from './errors.js';

const claimed = new Set<string>();

/** Claims `path` for one store of this process; call the returned function once it is closed. Throws {@link StoreInUse} when another store holds it. */
export function claimLmdbPath(path: string, what: string): () => void {
  const key = resolve(path);
  if (claimed.has(key)) throw new StoreInUse(path, what);
  claimed.add(key);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    claimed.delete(key);
  };
}
