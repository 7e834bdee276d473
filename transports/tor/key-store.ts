/**
 * Where an onion service's key is kept, so its address survives restarts. The file store writes
 * atomically (temporary file, fsync, rename) with mode 0600, and refuses a file it cannot read
 * as a key rather than replacing it (a new key would silently change the node's address).
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { ConfigError } from '../../core/errors.js';

/** Where an onion service's private key is kept between runs. */
export interface OnionKeyStore {
  /** The saved `ED25519-V3:<base64>` key, or undefined when none is saved yet. */
  load(): Promise<string | undefined>;
  save(key: string): Promise<void>;
}

const KEY = /^ED25519-V3:[A-Za-z0-9+/]{86}==$/;

/** A key store in one file. */
export function fileKeyStore(path: string): OnionKeyStore {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new ConfigError(`cannot read the onion key file ${path}`, { cause: err });
      }
      const key = text.trim();
      if (!KEY.test(key)) throw new ConfigError(`${path} is not an onion key file (expected ED25519-V3:<base64>); it was left as it is`);
      return key;
    },
    async save(key) {
      if (!KEY.test(key)) throw new ConfigError('not an ED25519-V3 onion key');
      const tmp = `${path}.${process.pid}.tmp`;
      const handle = await open(tmp, 'w', 0o600);
      try {
        await handle.writeFile(`${key}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      try {
        await rename(tmp, path);
      } catch (err) {
        await unlink(tmp).catch(() => {});
        throw err;
      }
    },
  };
}

/** A key store in memory (tests, or a caller that persists the key itself). */
export function memoryKeyStore(initial?: string): OnionKeyStore & { key: string | undefined } {
  return {
    key: initial,
    async load() {
      return this.key;
    },
    async save(key) {
      this.key = key;
    },
  };
}
