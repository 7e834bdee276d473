/**
 * The peer store contract. Two implementations pass one compliance suite
 * (`spec/compliance/peer-store.ts`): {@link LmdbPeerStore} (the default, embedded) and
 * {@link MemoryPeerStore}. Each write is atomic (one LMDB transaction): a read-modify-write
 * through {@link PeerStore.update} cannot lose a concurrent update.
 */
import { equals } from '../core/bytes.js';
import type { NodeId, PublicKey } from '../core/keys.js';
import { isBanned, isDeleted, isOffline, type Peer } from './peer.js';

/**
 * Unverified records (see `isUnverified`: learned only from relayed claims) a store keeps at most
 * by default: past it, storing one evicts the unverified record written longest ago (its
 * `updatedAt`, the time its latest claim was stored), in the same write.
 */
export const DEFAULT_MAX_UNVERIFIED = 10_000;

/** Options every store takes. */
export interface PeerStoreLimits {
  /** Unverified records kept at most (default {@link DEFAULT_MAX_UNVERIFIED}; at least 1). */
  maxUnverified?: number;
}

/** The sort key of an unverified record in a store's eviction order: its `updatedAt` (ms), then its key. */
export function unverifiedOrderTime(peer: Peer): number {
  return Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(peer.updatedAt)));
}

/** Which peers a query returns. Deleted peers are never returned by queries. */
export interface PeerFilter {
  /** The time bans are judged against (ms). */
  now: number;
  /** Keep banned peers (default: skip them). */
  includeBanned?: boolean;
  /** Keep offline peers (default: skip them). */
  includeOffline?: boolean;
  /** Only peers with all these feature bits. */
  features?: number;
  /** Leave these peers out (by public key or NodeId). */
  exclude?: ReadonlyArray<PublicKey | NodeId>;
}

/** The peer store contract (LMDB and memory implement it; `spec/compliance/peer-store.ts` checks both). */
export interface PeerStore {
  /** Implementation name (`lmdb`, `memory`). */
  readonly name: string;
  /** A peer by public key (soft-deleted ones too: a ban must not be forgotten). */
  get(publicKey: PublicKey): Promise<Peer | undefined>;
  /** A peer by NodeId. */
  getByNodeId(nodeId: NodeId): Promise<Peer | undefined>;
  /** Peers whose NodeId starts with `prefix` (at most `limit`), deleted ones left out. */
  findByNodeIdPrefix(prefix: Uint8Array, limit: number): Promise<Peer[]>;
  /**
   * Atomically reads the peer, applies `change` (synchronous, pure) and writes the result;
   * `undefined` from `change` writes nothing. Returns what was written (or the unchanged peer).
   * When the write makes more unverified records than the store's `maxUnverified`, the
   * unverified record written longest ago (smallest `updatedAt`; never `publicKey`'s own) is
   * removed for good in the same transaction, and given to `onEvicted` (before the promise settles).
   */
  update(publicKey: PublicKey, change: (current: Peer | undefined) => Peer | undefined, onEvicted?: (evicted: Peer) => void): Promise<Peer | undefined>;
  /** The `n` eligible peers closest to `target` by XOR distance, nearest first. */
  closest(target: NodeId, n: number, filter: PeerFilter): Promise<Peer[]>;
  /** Up to `n` eligible peers chosen at random. */
  random(n: number, filter: PeerFilter): Promise<Peer[]>;
  /** Every non-deleted peer matching `predicate`. */
  all(predicate?: (peer: Peer) => boolean): Promise<Peer[]>;
  /** Number of stored peers, soft-deleted ones included. */
  count(): Promise<number>;
  /** Number of unverified records (`isUnverified`), soft-deleted ones included; O(1). */
  countUnverified(): Promise<number>;
  /** Waits for written data to reach the disk (LMDB) and closes. Idempotent. */
  close(): Promise<void>;
}

/** Whether a peer passes a filter. */
export function matchesFilter(peer: Peer, filter: PeerFilter): boolean {
  if (isDeleted(peer)) return false;
  if (!filter.includeBanned && isBanned(peer, filter.now)) return false;
  if (!filter.includeOffline && isOffline(peer)) return false;
  if (filter.features !== undefined && (peer.features & filter.features) !== filter.features) return false;
  if (filter.exclude?.some((x) => equals(x, x.length === peer.publicKey.length ? peer.publicKey : peer.nodeId))) return false;
  return true;
}

/** Uniform random integer in [0, n). */
export function randomIndex(n: number): number {
  return Math.floor(Math.random() * n);
}
