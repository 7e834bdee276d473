/**
 * The LMDB layout of the current schema, in one place for the store and its migrations: the
 * marker keys of the main database and the two tables.
 */
import type { Database, RootDatabase } from 'lmdb';
import type { PeerRecordV1 } from './record-codec.js';

export const FORMAT_KEY = 'tcomms.format';
export const FORMAT_VALUE = 'peer-store';
export const SCHEMA_KEY = 'tcomms.schema';

export interface PeerTables {
  /** Public key (32 bytes) -> record. */
  peers: Database<PeerRecordV1, Uint8Array>;
  /** NodeId (13 bytes) -> public key, sorted: the closest-N index. */
  ids: Database<Uint8Array, Uint8Array>;
}

export function openPeerTables(env: RootDatabase): PeerTables {
  return {
    peers: env.openDB<PeerRecordV1, Uint8Array>({ name: 'peers', keyEncoding: 'binary' }),
    ids: env.openDB<Uint8Array, Uint8Array>({ name: 'node-ids', keyEncoding: 'binary', encoding: 'binary' }),
  };
}
