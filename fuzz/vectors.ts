/** The known-answer vector files (spec/fixtures/vectors), for targets that mutate their valid messages. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../spec/fixtures/vectors/', import.meta.url));

/** Parses one vector file by name, e.g. `tcomms-rpc.json`. */
export function loadVectors<T = any>(name: string): T {
  return JSON.parse(readFileSync(DIR + name, 'utf8')) as T;
}
