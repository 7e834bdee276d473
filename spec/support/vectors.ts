/** Loads the known-answer vectors copied from ../shared/vectors into spec/fixtures/vectors. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Folder of the copied vectors. */
export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/vectors/', import.meta.url));

/** Parse one vector file by name, e.g. `tcomms-keys.json`. */
export function loadVectors<T = any>(name: string): T {
  return JSON.parse(readFileSync(FIXTURE_DIR + name, 'utf8')) as T;
}

export { fromHex as hex, toHex as toHexString } from '../../core/bytes.js';
