/** The identity key file: `{ "version": 1, "seed": hex, "publicKey": hex }`, mode 0600, written atomically. */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { toHex } from '../core/bytes.js';
import { ConfigError } from '../core/errors.js';
import { NodeIdentity } from '../core/keys.js';

/** Writes `identity` to `path` (0600, via a temporary file and a rename). */
export function writeKeyFile(path: string, identity: NodeIdentity): void {
  const text = `${JSON.stringify({ version: 1, seed: toHex(identity.exportSeed()), publicKey: toHex(identity.publicKey) })}\n`;
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Reads an identity from a key file; a `ConfigError` when it is missing or malformed. */
export function readKeyFile(path: string): NodeIdentity {
  let parsed: { version?: unknown; seed?: unknown; publicKey?: unknown };
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as typeof parsed;
  } catch (err) {
    throw new ConfigError(`cannot read the key file ${path}: ${(err as Error).message}`);
  }
  if (parsed.version !== 1 || typeof parsed.seed !== 'string' || !/^[0-9a-f]{64}$/.test(parsed.seed)) throw new ConfigError(`${path} is not a tcomms key file`);
  const identity = NodeIdentity.fromSeed(Buffer.from(parsed.seed, 'hex'));
  if (parsed.publicKey !== undefined && parsed.publicKey !== toHex(identity.publicKey)) throw new ConfigError(`${path}: the public key does not match the seed`);
  return identity;
}

/** The identity in `path`, created there on first use. */
export function loadOrCreateKeyFile(path: string): { identity: NodeIdentity; created: boolean } {
  if (existsSync(path)) return { identity: readKeyFile(path), created: false };
  const identity = NodeIdentity.generate();
  writeKeyFile(path, identity);
  return { identity, created: true };
}
