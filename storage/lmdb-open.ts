/**
 * Opening one of tcomms' LMDB environments, the same way for every store: the path must be a
 * directory; an existing data file's header is checked before LMDB maps it; the directory is
 * claimed for this process (one store per directory); a new environment gets its format mark
 * and schema version in one transaction; another format, a damaged or newer schema fail with
 * the store's typed errors. Nothing here ever wipes data to get past an error.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { RootDatabase } from 'lmdb';
import { claimLmdbPath } from './lmdb-claim.js';
import { lmdbHeaderProblem } from './lmdb-header.js';

/** The typed errors of one kind of store. */
export interface LmdbStoreErrors {
  corrupt(path: string, problem: string, init?: { cause?: unknown }): Error;
  foreign(path: string): Error;
  tooNew(path: string, version: number, supported: number): Error;
}

/** What one kind of store is, for {@link openLmdbEnvironment}. */
export interface LmdbEnvironmentSpec {
  path: string;
  /** What the store is, for {@link StoreInUse} ("peer store"). */
  what: string;
  maxDbs: number;
  mapSize: number;
  /** The key of the format mark, and the mark of this kind of store. */
  format: { key: string; value: string };
  /** The key of the schema version, the newest this code reads, and the oldest valid one. */
  schema: { key: string; version: number; oldest: number };
  /** Written with the format mark when the environment is new. */
  initial?: ReadonlyArray<readonly [string, unknown]>;
  errors: LmdbStoreErrors;
}

/**
 * Opens (or creates) the environment and hands it to `use` with its schema version; `use`
 * builds the store. When anything fails, `use` included, the environment is closed and the
 * directory released before the error is thrown. The store calls `release` when it closes.
 */
export async function openLmdbEnvironment<T>(spec: LmdbEnvironmentSpec, use: (env: RootDatabase, version: number, release: () => void) => T | Promise<T>): Promise<T> {
  const { path, errors, format, schema } = spec;
  if (existsSync(path) && !statSync(path).isDirectory()) throw errors.corrupt(path, 'the path is a file, not an LMDB environment directory');
  const dataFile = join(path, 'data.mdb');
  if (existsSync(dataFile)) {
    const problem = lmdbHeaderProblem(dataFile);
    if (problem) throw errors.corrupt(path, problem);
  }
  // Loaded when a store opens: a node on the in-memory stores (`tcomms send`) never loads LMDB.
  const { open } = await import('lmdb');
  const release = claimLmdbPath(path, spec.what);
  let env: RootDatabase;
  try {
    env = open({ path, maxDbs: spec.maxDbs, mapSize: spec.mapSize, compression: false });
    env.get(format.key); // reading makes LMDB validate the file header
  } catch (cause) {
    release();
    throw errors.corrupt(path, (cause as Error).message, { cause });
  }
  try {
    const mark = env.get(format.key) as unknown;
    if (mark === undefined) {
      if (env.getKeysCount() > 0) throw errors.foreign(path);
      await env.transaction(() => {
        env.putSync(format.key, format.value);
        env.putSync(schema.key, schema.version);
        for (const [key, value] of spec.initial ?? []) env.putSync(key, value);
      });
    } else if (mark !== format.value) {
      throw errors.foreign(path);
    }
    const version = env.get(schema.key) as unknown;
    if (typeof version !== 'number' || !Number.isInteger(version) || version < schema.oldest) throw errors.corrupt(path, `schema version ${String(version)}`);
    if (version > schema.version) throw errors.tooNew(path, version, schema.version);
    return await use(env, version, release);
  } catch (err) {
    await env.close();
    release();
    throw err;
  }
}

/** Waits for the environment's writes to reach the disk, closes it and releases its directory. */
export async function closeLmdbEnvironment(env: RootDatabase, release: () => void): Promise<void> {
  try {
    await env.flushed;
    await env.close();
  } finally {
    release();
  }
}
