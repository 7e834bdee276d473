/**
 * Store-and-forward settings (PROTOCOL.md 9.7): one commented `DEFAULT_SAF_CONFIG` and the
 * checks `validateCommsConfig` runs on it. Durations are milliseconds.
 */
import { SAF_REQUEST_LIMIT, SAF_RESPONSE_TIMEOUT_SECONDS } from '../../protocols/dht/index.js';
import { DEFAULT_SAF_LIMITS, type SafStore, type SafStoreLimits } from '../../storage/saf-store.js';

/** Where a node keeps the messages it stores for others and each SAF peer's `since`. */
export type SafStorageConfig = { kind: 'lmdb'; path: string } | { kind: 'memory' } | { kind: 'custom'; store: SafStore };

/** A node's store-and-forward settings (see {@link DEFAULT_SAF_CONFIG} for what each bounds). */
export interface SafConfig {
  /** Store and serve messages for others, and advertise feature bit 1. False: a client, which only asks. */
  store: boolean;
  /** The store (by convention LMDB at `<data dir>/saf`, beside the peer store). */
  storage: SafStorageConfig;
  /** The store's bounds (9.7: 100,000 messages, 1 GiB, 10% of each per sending peer). */
  limits: SafStoreLimits;
  /** Ask each store-and-forward peer for this node's messages when connecting to it (9.7). */
  request: boolean;
  /** `limit` of a request (9.7: 50). */
  requestLimit: number;
  /** A response is taken only while its request is under this old (9.7: 120 s). */
  responseTimeoutMs: number;
  /** Requests to one peer per connection at most: a full response (`requestLimit` messages) is followed by another. */
  maxRequestRounds: number;
  /** Requests in flight at most (one per peer); a connection beyond asks nothing. */
  maxRequestsInFlight: number;
  /** Requests being served at most (one per requester); one beyond is dropped. */
  maxServesInFlight: number;
  /** Candidates being stored at most; one beyond is not stored. */
  maxPendingStores: number;
  /** Messages past their retention are swept this often ... */
  sweepIntervalMs: number;
  /** ... at most this many per transaction (a longer backlog is swept in several). */
  sweepBatch: number;
  /** The distance to the 8th nearest known node (the storing region, 9.7) is looked up again after this long. */
  regionRefreshMs: number;
}

/** Defaults: the values of PROTOCOL.md 9.7, bounds where the protocol is silent. */
export const DEFAULT_SAF_CONFIG: Readonly<SafConfig> = Object.freeze({
  store: true,
  storage: { kind: 'memory' } as SafStorageConfig,
  limits: DEFAULT_SAF_LIMITS,
  request: true,
  requestLimit: SAF_REQUEST_LIMIT,
  responseTimeoutMs: SAF_RESPONSE_TIMEOUT_SECONDS * 1000,
  // One per peer: a node connects to a few dozen peers; 64 leaves room for a burst of connections.
  maxRequestsInFlight: 64,
  // 20 rounds of 50: a backlog of 1,000 messages on one connection, and a peer that always
  // answers full (replays, dropped as duplicates) cannot keep this node asking.
  maxRequestRounds: 20,
  // Each holds up to one 8 MiB response: 16 bound what serving can hold at once to 128 MiB.
  maxServesInFlight: 16,
  // Each holds an envelope (at most 512 KiB) until its transaction commits.
  maxPendingStores: 256,
  // Expired messages are not served even before a sweep; a minute keeps the store's bounds honest.
  sweepIntervalMs: 60_000,
  // A sweep is one transaction: 1,000 deletions keep the writer free for stores between batches.
  sweepBatch: 1_000,
  // A peer-store query per 30 s at most, not one per message stored.
  regionRefreshMs: 30_000,
});

/** The problems of a store-and-forward configuration (empty when it is valid). */
export function safConfigProblems(config: SafConfig): string[] {
  const problems: string[] = [];
  for (const k of ['responseTimeoutMs', 'maxRequestRounds', 'maxRequestsInFlight', 'maxServesInFlight', 'maxPendingStores', 'sweepIntervalMs', 'sweepBatch', 'regionRefreshMs'] as const) {
    const v = config[k];
    if (!(Number.isInteger(v) && v > 0)) problems.push(`saf.${k} must be a positive integer`);
  }
  if (!(Number.isInteger(config.requestLimit) && config.requestLimit >= 1 && config.requestLimit <= SAF_REQUEST_LIMIT)) problems.push(`saf.requestLimit must be 1..${SAF_REQUEST_LIMIT}`);
  for (const k of ['store', 'request'] as const) if (typeof config[k] !== 'boolean') problems.push(`saf.${k} must be a boolean`);
  const s = config.storage as SafStorageConfig | undefined;
  if (!s || !['lmdb', 'memory', 'custom'].includes(s.kind)) problems.push('saf.storage must be lmdb, memory or custom');
  else if (s.kind === 'lmdb' && !(typeof s.path === 'string' && s.path.length > 0)) problems.push('saf.storage.path must be a directory path');
  else if (s.kind === 'custom' && typeof s.store?.put !== 'function') problems.push('saf.storage.store must be a SafStore');
  const l = config.limits;
  for (const k of ['maxMessages', 'maxBytes', 'maxMessagesPerPeer', 'maxBytesPerPeer', 'maxCursors'] as const) {
    if (!(Number.isSafeInteger(l?.[k]) && l[k] > 0)) problems.push(`saf.limits.${k} must be a positive integer`);
  }
  if (l && l.maxMessagesPerPeer > l.maxMessages) problems.push('saf.limits.maxMessagesPerPeer exceeds saf.limits.maxMessages');
  if (l && l.maxBytesPerPeer > l.maxBytes) problems.push('saf.limits.maxBytesPerPeer exceeds saf.limits.maxBytes');
  return problems;
}
