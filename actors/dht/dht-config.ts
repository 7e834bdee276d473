/**
 * The DHT's settings (PROTOCOL.md section 9): one commented `DEFAULT_DHT_CONFIG` and the checks
 * `validateCommsConfig` runs on it. Durations are milliseconds.
 */
import {
  BAN_INVALID_SECONDS,
  BAN_MINOR_SECONDS,
  DEDUP_CACHE_CAPACITY,
  DEDUP_MIN_AGE_SECONDS,
  DISCOVERY_TIMEOUT_SECONDS,
  FLOOD_MAX_MESSAGES,
  FLOOD_WINDOW_SECONDS,
  JOIN_MIN_INTERVAL_SECONDS,
} from '../../protocols/dht/index.js';
import { DEFAULT_NETWORK_DISCOVERY_CONFIG, networkDiscoveryConfigProblems, seedProblems, type DhtSeed, type NetworkDiscoveryConfig } from '../network-discovery/network-discovery-config.js';
import { DEFAULT_DHT_CONNECTIVITY_CONFIG, dhtConnectivityConfigProblems, type DhtConnectivityConfig } from '../dht-connectivity/dht-connectivity-config.js';

/** A node's DHT settings (see {@link DEFAULT_DHT_CONFIG} for what each bounds). */
export interface DhtConfig {
  /** Forward messages for others and advertise feature bit 0 (a DHT "node", 9.6). False: a client. */
  propagate: boolean;
  /** Send a JOIN when the node comes online (9.5, 9.9). */
  autoJoin: boolean;
  /** At most one JOIN per this long (9.9: 10 min). */
  joinCooldownMs: number;
  /** A discovery gives up after this long (9.5: 60 s). */
  discoveryTimeoutMs: number;
  /** Discoveries in flight at most (one per target key); beyond, a new one fails at once. */
  maxPendingDiscoveries: number;
  /** The neighbour and random pools kept connected (9.9; `actors/dht-connectivity`). */
  connectivity: DhtConnectivityConfig;
  /** The dedup cache evicts only above this many keys (9.4: 2,500) ... */
  dedupCapacity: number;
  /** ... and only keys unseen for this long (9.4: 10 min). */
  dedupMinAgeMs: number;
  /** Hard bound on the keys of messages not delivered to this node: above it the least recently seen goes, whatever its age. */
  dedupMaxKeys: number;
  /**
   * Keys of messages addressed to this node, kept until their `expires` (9.4); when full, the
   * oldest pin of the peer holding the most is demoted to the ordinary dedup (never refused).
   */
  maxDeliveredKeys: number;
  /** ... of which one sending peer, or one origin, holds at most this many (beyond, its oldest is demoted). */
  maxDeliveredKeysPerPeer: number;
  /** Flooding: more than this many DHT messages from one peer ... (9.9: 100,000) */
  floodMaxMessages: number;
  /** ... within this window (9.9: 100 s). */
  floodWindowMs: number;
  /**
   * Full Ed25519 key checks (a destination or signer key not checked lately, about 1 ms each)
   * for one sending peer's messages per flood window, at most; beyond, its messages that need
   * one are dropped unjudged (`key_check_budget`: not forwarded, no ban, their copies from other
   * peers still taken).
   */
  maxKeyChecksPerPeer: number;
  /** Ban for an invalid envelope, signature or claim (9.9: 2 h). */
  banInvalidMs: number;
  /** Ban for a destination equal to the sending peer and for flooding (9.9: 10 min). */
  banMinorMs: number;
  /** Forwarded messages queued in messaging and not yet written, at most; beyond, forwards are dropped. */
  maxForwardBacklog: number;
  /** Forwards to one peer per flood window (`floodWindowMs`), at most (and at most half `floodMaxMessages`); beyond, forwards to it are dropped. */
  maxForwardsPerPeer: number;
  /** DISCOVERY_RESPONSEs not yet written (each may dial its requester), at most; beyond, DISCOVERYs go unanswered. */
  maxPendingAnswers: number;
  /** Delivered messages held for `messages()` before the senders' substreams stop being read ... */
  inboxCapacity: number;
  /** ... and their payload bytes. */
  inboxMaxBytes: number;
  /** Peers to start from (network discovery syncs from them first; 9.9). */
  seeds: readonly DhtSeed[];
  /** Network discovery (9.9): filling the peer store by peer sync (`/tari/dht/1`). */
  networkDiscovery: NetworkDiscoveryConfig;
}

/** Defaults: the values of PROTOCOL.md section 9 (9.9 where it is a recommendation). */
export const DEFAULT_DHT_CONFIG: Readonly<DhtConfig> = Object.freeze({
  propagate: true,
  autoJoin: true,
  joinCooldownMs: JOIN_MIN_INTERVAL_SECONDS * 1000,
  discoveryTimeoutMs: DISCOVERY_TIMEOUT_SECONDS * 1000,
  // A discovery holds an actor and a nonce: 100 in flight is far above an application's need.
  maxPendingDiscoveries: 100,
  connectivity: DEFAULT_DHT_CONNECTIVITY_CONFIG,
  dedupCapacity: DEDUP_CACHE_CAPACITY,
  dedupMinAgeMs: DEDUP_MIN_AGE_SECONDS * 1000,
  // About 90 bytes a key (measured: a 32-character string in a Map): 100,000 keys are about 9 MB.
  dedupMaxKeys: 100_000,
  // The same cost; a message addressed to this node stays for up to 3 days.
  maxDeliveredKeys: 100_000,
  // A tenth: ten peers (or origins) at their share are needed to fill the pins, and then their own pins go first.
  maxDeliveredKeysPerPeer: 10_000,
  floodMaxMessages: FLOOD_MAX_MESSAGES,
  floodWindowMs: FLOOD_WINDOW_SECONDS * 1000,
  // 20 a second: about 2% of a core per peer; JOINs and messages with keys the node saw lately cost none of it.
  maxKeyChecksPerPeer: 2_000,
  banInvalidMs: BAN_INVALID_SECONDS * 1000,
  banMinorMs: BAN_MINOR_SECONDS * 1000,
  // Messaging bounds each peer's queue (1,024) and the total (16,384); forwarding takes at most a quarter.
  maxForwardBacklog: 4_096,
  // Half the flood limit (9.9): what this node forwards never makes a neighbour ban it, and its own messages have the other half.
  maxForwardsPerPeer: FLOOD_MAX_MESSAGES / 2,
  // An answer dials a requester whose addresses come from a claim anyone can sign: few at once.
  maxPendingAnswers: 64,
  inboxCapacity: 1_024,
  // As messaging's inbox: a few large messages cannot make the node hold gigabytes.
  inboxMaxBytes: 64 * 1024 * 1024,
  seeds: Object.freeze([]) as readonly DhtSeed[],
  networkDiscovery: DEFAULT_NETWORK_DISCOVERY_CONFIG,
});

/** The problems of a DHT configuration (empty when it is valid). */
export function dhtConfigProblems(config: DhtConfig): string[] {
  const problems: string[] = [];
  const positive = (k: keyof DhtConfig) => {
    const v = config[k];
    if (!(Number.isInteger(v) && (v as number) > 0)) problems.push(`dht.${k} must be a positive integer`);
  };
  for (const k of ['joinCooldownMs', 'discoveryTimeoutMs', 'maxPendingDiscoveries', 'dedupCapacity', 'dedupMaxKeys', 'maxDeliveredKeys', 'maxDeliveredKeysPerPeer', 'floodMaxMessages', 'floodWindowMs', 'maxKeyChecksPerPeer', 'banInvalidMs', 'banMinorMs', 'maxForwardBacklog', 'maxForwardsPerPeer', 'maxPendingAnswers', 'inboxCapacity', 'inboxMaxBytes'] as const) positive(k);
  if (!(Number.isInteger(config.dedupMinAgeMs) && config.dedupMinAgeMs >= 0)) problems.push('dht.dedupMinAgeMs must be a non-negative integer');
  if (config.dedupMaxKeys < config.dedupCapacity) problems.push('dht.dedupMaxKeys must be at least dht.dedupCapacity');
  if (typeof config.connectivity !== 'object' || config.connectivity === null) problems.push('dht.connectivity must be an object');
  else problems.push(...dhtConnectivityConfigProblems(config.connectivity));
  for (const k of ['propagate', 'autoJoin'] as const) if (typeof config[k] !== 'boolean') problems.push(`dht.${k} must be a boolean`);
  problems.push(...seedProblems(config.seeds ?? []), ...networkDiscoveryConfigProblems(config.networkDiscovery ?? DEFAULT_NETWORK_DISCOVERY_CONFIG));
  return problems;
}
