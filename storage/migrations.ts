/**
 * Schema migrations of the LMDB peer store, run at open in version order, each in one
 * transaction (a crash mid-migration leaves the old version intact, and it runs again).
 *
 * v0 (the first layout): `peers-v0` maps the public key in hex to a JSON document
 * `{ public_key, addresses: [multiaddr text], features, user_agent, supported_protocols,
 *    added_at, banned_until, ban_reason }`, with no NodeId index.
 * v1: binary keys, msgpack records with per-address stats, and the `node-ids` index.
 */
import type { RootDatabase } from 'lmdb';
import { fromHex } from '../core/bytes.js';
import { InternalError } from '../core/errors.js';
import { nodeIdOf, type PublicKey } from '../core/keys.js';
import type { Peer } from './peer.js';
import { openPeerTables, SCHEMA_KEY } from './lmdb-tables.js';
import { encodeRecord } from './record-codec.js';

interface PeerV0 {
  public_key: string;
  addresses: string[];
  features: number;
  user_agent?: string;
  supported_protocols?: string[];
  added_at: number;
  banned_until?: number | null;
  ban_reason?: string | null;
}

interface Migration {
  from: number;
  run(env: RootDatabase): void;
}

const MIGRATIONS: Migration[] = [
  {
    from: 0,
    run(env) {
      const old = env.openDB<string, string>({ name: 'peers-v0', encoding: 'string' });
      const { peers, ids } = openPeerTables(env);
      env.transactionSync(() => {
        for (const { value } of old.getRange()) {
          const v0 = JSON.parse(value) as PeerV0;
          const publicKey = fromHex(v0.public_key) as PublicKey;
          const peer: Peer = {
            publicKey,
            nodeId: nodeIdOf(publicKey),
            addresses: v0.addresses.map((address) => ({ address, source: 'manual', attempts: 0, consecutiveFailures: 0 })),
            features: v0.features,
            flags: 0,
            supportedProtocols: v0.supported_protocols ?? [],
            userAgent: v0.user_agent ?? '',
            addedAt: v0.added_at,
            updatedAt: v0.added_at,
          };
          if (v0.banned_until != null) {
            peer.bannedUntil = v0.banned_until;
            peer.banReason = v0.ban_reason ?? '';
          }
          peers.putSync(publicKey, encodeRecord(peer));
          ids.putSync(peer.nodeId, publicKey);
        }
        old.dropSync();
        env.putSync(SCHEMA_KEY, 1);
      });
    },
  },
];

/** Brings the environment from schema `from` to `to`. */
export function runMigrations(env: RootDatabase, from: number, to: number): void {
  for (let version = from; version < to; version++) {
    const step = MIGRATIONS.find((m) => m.from === version);
    if (!step) throw new InternalError(`no migration from peer-store schema ${version}`);
    step.run(env);
  }
}
