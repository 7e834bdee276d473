/**
 * Network discovery's settings (PROTOCOL.md 9.9, recommended behaviour): one commented
 * `DEFAULT_NETWORK_DISCOVERY_CONFIG`, its checks, and the seeds a node starts from
 * (`PUBKEYHEX@MULTIADDR`). Durations are milliseconds.
 */
import { parseAddress } from '../../core/address.js';
import { toHex } from '../../core/bytes.js';
import { ConfigError } from '../../core/errors.js';
import { publicKeyFromHex, type PublicKey } from '../../core/keys.js';
import { DISCOVERY_IDLE_WAIT_SECONDS, DISCOVERY_MIN_KNOWN_PEERS, DISCOVERY_RETRY_WAIT_SECONDS, DISCOVERY_SYNC_PEERS, GET_CLOSER_PEERS_MAX_N, GET_PEERS_MAX_N } from '../../protocols/dht/index.js';

/** A peer the node starts from: its key and where to reach it. */
export interface DhtSeed {
  publicKey: PublicKey;
  /** Multiaddrs as text. */
  addresses: string[];
}

/** How network discovery runs (see {@link DEFAULT_NETWORK_DISCOVERY_CONFIG} for what each bounds). */
export interface NetworkDiscoveryConfig {
  /** Run it (with the DHT). False: the peer store fills only from connections, JOINs and discoveries. */
  enabled: boolean;
  /** Below this many known peers a node syncs from several peers per round (9.9: 50) ... */
  minKnownPeers: number;
  /** ... from up to this many random peers not tried this cycle (9.9: 5). */
  syncPeers: number;
  /** `GetPeersRequest.n` of each sync while discovering (1..1,000). */
  peersPerSync: number;
  /** `GetCloserPeersRequest.n` of each on-connect sync, `closer_to` this node (1..100). */
  onConnectPeers: number;
  /** Ask for clients' claims too (`include_clients`). */
  includeClients: boolean;
  /** Rounds some peer answered before the idle wait (a cycle); the rounds and the tried peers are forgotten after it. */
  maxRounds: number;
  /** The idle wait (9.9: 30 min) ... */
  idleWaitMs: number;
  /**
   * ... or this after a round that failed or learned nothing (9.9: 5 s), plus up to as much again
   * by the node's key, so that nodes that failed together (a busy seed) do not retry together.
   */
  failureWaitMs: number;
  /** A round (or one on-connect sync) is given up after this long. */
  roundTimeoutMs: number;
  /** Close a connection made only for a sync once it is over (a seed would otherwise hold one per node that ever synced from it). */
  disconnectAfterSync: boolean;
  /** Newly connected nodes waiting for their sync in on-connect mode, at most; beyond, they are not synced. */
  maxQueuedConnects: number;
  /** Nodes remembered as synced in on-connect mode; when full the memory starts afresh. */
  maxRememberedSynced: number;
}

/** Defaults: 9.9's recommendations where it has them. */
export const DEFAULT_NETWORK_DISCOVERY_CONFIG: Readonly<NetworkDiscoveryConfig> = Object.freeze({
  enabled: true,
  minKnownPeers: DISCOVERY_MIN_KNOWN_PEERS,
  syncPeers: DISCOVERY_SYNC_PEERS,
  // Enough for one sync to pass the 50-peer threshold, while a round stays at 500 claim checks at most.
  peersPerSync: 100,
  // On connect, the peer's view of this node's neighbourhood (GetCloserPeers, closer_to = own
  // NodeId) rather than 100 random claims: the neighbour pool finds its nearest nodes in a few
  // syncs, and the store does not fill with random claims of the whole network (memorynet,
  // 2026-12-07: see docs/benchmarks.md). Several times the 8 neighbours, so that a few syncs
  // cover the neighbourhood even where the peer's view of it is poor.
  onConnectPeers: 50,
  // A client cannot serve peer sync nor be dialed as a rule: its claim would only fill the store.
  includeClients: false,
  // As tari_comms_dht (idle after 10 rounds): a small network (under 50 nodes) stops asking for a while.
  maxRounds: 10,
  idleWaitMs: DISCOVERY_IDLE_WAIT_SECONDS * 1000,
  failureWaitMs: DISCOVERY_RETRY_WAIT_SECONDS * 1000,
  // Dials plus a 100-claim stream: far longer than a live peer needs, short enough not to stall discovery.
  roundTimeoutMs: 60_000,
  disconnectAfterSync: true,
  // A burst of inbound connections queues this many syncs; the rest are synced if they connect again.
  maxQueuedConnects: 32,
  // About 100 bytes a key: 10,000 is about 1 MB.
  maxRememberedSynced: 10_000,
});

/** The problems of a network discovery configuration (empty when it is valid), its fields prefixed `prefix`. */
export function networkDiscoveryConfigProblems(config: NetworkDiscoveryConfig, prefix = 'dht.networkDiscovery'): string[] {
  const problems: string[] = [];
  for (const k of ['minKnownPeers', 'syncPeers', 'maxRounds', 'idleWaitMs', 'failureWaitMs', 'roundTimeoutMs', 'maxQueuedConnects', 'maxRememberedSynced'] as const) {
    const v = config[k];
    if (!(Number.isInteger(v) && v > 0)) problems.push(`${prefix}.${k} must be a positive integer`);
  }
  if (!(Number.isInteger(config.onConnectPeers) && config.onConnectPeers >= 1 && config.onConnectPeers <= GET_CLOSER_PEERS_MAX_N)) problems.push(`${prefix}.onConnectPeers must be an integer in 1..${GET_CLOSER_PEERS_MAX_N}`);
  if (!(Number.isInteger(config.peersPerSync) && config.peersPerSync >= 1 && config.peersPerSync <= GET_PEERS_MAX_N)) problems.push(`${prefix}.peersPerSync must be an integer in 1..${GET_PEERS_MAX_N}`);
  for (const k of ['enabled', 'includeClients', 'disconnectAfterSync'] as const) if (typeof config[k] !== 'boolean') problems.push(`${prefix}.${k} must be a boolean`);
  return problems;
}

/** The problems of a list of seeds (empty when every one has a key and parseable addresses). */
export function seedProblems(seeds: readonly DhtSeed[], prefix = 'dht.seeds'): string[] {
  const problems: string[] = [];
  seeds.forEach((s, i) => {
    if (!(s.publicKey instanceof Uint8Array) || s.publicKey.length !== 32) problems.push(`${prefix}[${i}].publicKey must be a 32-byte public key`);
    if (!Array.isArray(s.addresses) || s.addresses.length === 0) problems.push(`${prefix}[${i}] needs at least one address`);
    for (const a of s.addresses ?? []) {
      try {
        parseAddress(a, { allowMemory: true });
      } catch (err) {
        problems.push(`${prefix}[${i}]: bad address ${JSON.stringify(a)}: ${(err as Error).message}`);
      }
    }
  });
  return problems;
}

/**
 * A seed from `PUBKEYHEX@MULTIADDR`, or as given. Throws `ConfigError` when the key or the
 * address is malformed.
 */
export function parseSeed(seed: string | DhtSeed): DhtSeed {
  if (typeof seed !== 'string') return { publicKey: seed.publicKey, addresses: [...seed.addresses] };
  const at = seed.indexOf('@');
  if (at <= 0) throw new ConfigError(`a seed is PUBKEYHEX@MULTIADDR, got ${JSON.stringify(seed)}`);
  const publicKey = publicKeyFromHex(seed.slice(0, at));
  const address = seed.slice(at + 1);
  try {
    parseAddress(address, { allowMemory: true });
  } catch (err) {
    throw new ConfigError(`seed ${toHex(publicKey)}: bad multiaddr ${JSON.stringify(address)}: ${(err as Error).message}`, { cause: err });
  }
  return { publicKey, addresses: [address] };
}
