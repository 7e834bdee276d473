/**
 * The LMDB layout of the current schema, in one place for the store and its migrations: the
 * marker keys of the main database and the two tables.
 */
import type { Database, RootDatabase } from 'lmdb';
import type { PeerRecordV1 } from './record-codec.js';

/** Meta key holding the store's format name. */
export const FORMAT_KEY = 'tcomms.format';
/** The format name this code writes and reads. */
export const FORMAT_VALUE = 'peer-store';
/** Meta key holding the record schema version. */
export const SCHEMA_KEY = 'tcomms.schema';

/** The named databases of one LMDB environment. */
export interface PeerTables {
  /** Public key (32 bytes) -> record. */
  peers: Database<PeerRecordV1, Uint8Array>;
  /** NodeId (13 bytes) -> public key, sorted: the closest-N index. */
  ids: Database<Uint8Array, Uint8Array>;
  /**
   * The unverified records (`isUnverified`) in eviction order: `updatedAt` (8 bytes, big-endian
   * ms) + public key -> nothing. Written in the transaction of each record write, so its entry
   * count (O(1), `mdb_stat`) is the number of unverified records after a killed process too.
   */
  unverified: Database<Uint8Array, Uint8Array>;
}

/** Opens (creating when missing) the peer tables of an environment. */
export function openPeerTables(env: RootDatabase): PeerTables {
  return {
    peers: env.openDB<PeerRecordV1, Uint8Array>({ name: 'peers', keyEncoding: 'binary' }),
    ids: env.openDB<Uint8Array, Uint8Array>({ name: 'node-ids', keyEncoding: 'binary', encoding: 'binary' }),
    unverified: env.openDB<Uint8Array, Uint8Array>({ name: 'unverified', keyEncoding: 'binary', encoding: 'binary' }),
  };
}
