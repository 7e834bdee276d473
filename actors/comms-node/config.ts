/**
 * The comms node's configuration: one `DEFAULT_COMMS_CONFIG`, and `validateCommsConfig`, which
 * checks the whole configuration at once and reports every problem in one `CommsConfigInvalid`.
 */
import { DEFAULT_CONNECTION_MEMORY, DEFAULT_NODE_MEMORY } from '../../core/budget.js';
import { ConfigError } from '../../core/errors.js';
import type { NodeIdentity } from '../../core/keys.js';
import { parseAddress } from '../../core/address.js';
import type { CryptoProviderName } from '../../core/crypto/provider.js';
import type { CryptoPolicy } from '../../channels/crypto-policy.js';
import type { ProtocolHandler } from '../../channels/protocol-registry.js';
import type { LivenessServiceInit } from '../../channels/liveness.js';
import { DEFAULT_MAX_UNVERIFIED, type PeerStore } from '../../storage/peer-store.js';
import type { Transport } from '../../transports/transport.js';
import { MAX_PROTOCOL_ID_BYTES, MAX_PROTOCOLS } from '../../protocols/identity/index.js';
import type { PublicKey } from '../../core/keys.js';
import type { InboundMiddleware, OutboundMiddleware } from '../messaging/messaging.logic.js';
import { DEFAULT_MESSAGING_CONFIG } from '../messaging/messaging.machine.js';
import { dhtConfigProblems, type DhtConfig } from '../dht/dht-config.js';
import { safConfigProblems, type SafConfig } from '../saf/saf-config.js';
import { FEATURE_STORE_AND_FORWARD } from '../../protocols/dht/constants.js';
import { DEFAULT_ADMISSION_LIMITS } from '../listener/admission.js';
import { DEFAULT_UPGRADE_TIMEOUT_MS } from '../listener/listener.machine.js';
import { DEFAULT_RPC_CLIENT_CONFIG } from '../rpc-client/rpc-client.machine.js';
import { DEFAULT_RPC_SERVER_CONFIG } from '../rpc-server/rpc-server.machine.js';
import type { ServedRpcService } from '../rpc-server/services.js';
import { IDLE_TIMEOUT_MS } from '../../protocols/rpc/index.js';
import { DEFAULT_CONNECTIVITY_CONFIG } from '../connectivity/connectivity.machine.js';
import { DEFAULT_PEER_CONNECTION_CONFIG } from '../peer-connection/peer-connection.machine.js';
import { NEGOTIATION_TIMEOUT_MS } from '../../channels/negotiate.js';
import { DEFAULT_SECURE_CHANNEL_CONFIG } from '../../channels/secure-channel.js';
import { DEFAULT_IDENTITY_TIMEOUT_MS, DEFAULT_MAX_EARLY_STREAMS, DEFAULT_TIME_TO_FIRST_BYTE_MS } from '../../channels/upgrade.js';
import { DEFAULT_YAMUX_CONFIG } from '../../protocols/yamux/config.js';

/** Where the node keeps its peers. */
export type PeerStoreConfig = { kind: 'lmdb'; path: string } | { kind: 'memory' } | { kind: 'custom'; store: PeerStore };

/** Every bound and timeout of a node, each with the value it defaults to. */
export interface CommsLimits {
  /** Active peer connections at most; a new one beyond is closed (100). */
  maxConnections: number;
  /** Inbound upgrades in progress at most (32); beyond, the least advanced (then oldest) upgrade of the busiest address is shed. */
  maxConcurrentUpgrades: number;
  /** Inbound upgrades in progress from one address (an IP; IPv6 by its /64) at most (4). */
  maxUpgradesPerAddress: number;
  /** Inbound sockets waiting for their first Noise message at most (1024; they hold no upgrade slot); beyond, the oldest of the busiest address is shed. */
  maxWaitingSockets: number;
  /** Inbound sockets from one address (an IP; IPv6 by its /64) waiting for their first Noise message at most (64). */
  maxWaitingSocketsPerAddress: number;
  /** Substreams a peer may open before the identities are checked (8). */
  maxEarlyStreams: number;
  /** Inbound substreams open per connection at most (yamux, PROTOCOL.md section 3: 512). */
  maxInboundStreams: number;
  /** Peer-manager commands queued at most (1024). */
  maxPeerManagerQueue: number;
  /** Bytes all peers together may make this node hold (unread data, partial frames, queued output: 256 MiB). */
  maxNodeMemory: number;
  /** Bytes one connection may make this node hold (16 MiB). */
  maxConnectionMemory: number;
}

/** Every timeout of a node (ms), each with its default. */
export interface CommsTimeouts {
  /** The dialer's wire byte must arrive within this (6 s). */
  timeToFirstByteMs: number;
  /** Each Noise handshake receive (PROTOCOL.md section 2: 6 s). */
  handshakeRecvMs: number;
  /** The identity frame, from the end of the handshake (section 5: 10 s). */
  identityMs: number;
  /** A whole inbound upgrade, from accept to an active connection (10 s). */
  upgradeMs: number;
  /** A whole substream negotiation (section 4: 10 s). */
  negotiationMs: number;
  /** One dial attempt at one address: connect and upgrade (30 s). */
  dialAttemptMs: number;
  /** Keepalive Ping period (section 3: 30 s; 0 = off; at least {@link MIN_KEEPALIVE_INTERVAL_MS}, 100 ms, when on). */
  keepaliveIntervalMs: number;
  /** Graceful close: open streams get this long after GoAway(0) (section 3: 5 s). */
  closeGraceMs: number;
}

/** The connectivity actor's settings. */
export interface CommsConnectivityConfig {
  minConnectivity: number;
  reapThreshold: number;
  reapIntervalMs: number;
  reapMinIdleMs: number;
  /** Peers never banned nor reaped (Ed25519 public keys). */
  allowList: PublicKey[];
}

/** Messaging (PROTOCOL.md section 6): bounds and the message pipeline. */
export interface CommsMessagingConfig {
  /** Serve and send `/tari/messaging/0.1.0` (default true). */
  enabled: boolean;
  /** Largest body sent or accepted (8 MiB). */
  maxMessageBytes: number;
  /** Messages queued across all peers (16 384) and bytes (256 MiB); beyond, a send fails at once. */
  maxQueued: number;
  maxQueuedBytes: number;
  /** Messages queued for one peer (1024). */
  maxQueuedPerPeer: number;
  /** Received messages held for `messages()` before the senders are slowed down (1024). */
  inboxCapacity: number;
  /** Bytes of received messages held for `messages()` before the senders are slowed down (64 MiB). */
  inboxMaxBytes: number;
  inbound: InboundMiddleware[];
  outbound: OutboundMiddleware[];
}

/** RPC (PROTOCOL.md section 8): the services served, and the bounds of the server and the client pool. */
export interface CommsRpcConfig {
  /** Services served; each one's protocol id is served and advertised like any protocol's. */
  services: ServedRpcService[];
  /** Serve `tcomms.info.v1.NodeInfo` at `/tcomms/info/1` (the node's identity and connections; default false). */
  nodeInfo: boolean;
  /** Server sessions admitted at once, all peers and services (100). */
  maxSessions: number;
  /** Server sessions admitted at once per peer public key (10). */
  maxSessionsPerPeer: number;
  /** A server session with no call for this long is closed (120 s). */
  idleTimeoutMs: number;
  /** Client sessions per peer and service at most (4): concurrent calls to one peer beyond wait. */
  clientSessionsPerPeer: number;
  /** A client session idle this long (no call, no ping) closes itself (30 s; 0 = never); the next call opens a new one. */
  clientIdleTimeoutMs: number;
}

/** A complete node configuration (what `CommsBuilder.build()` validates). */
export interface CommsConfig {
  identity: NodeIdentity;
  /** The wire byte of this network (0x00..0xff, not 0xa7, the liveness byte). */
  networkByte: number;
  pattern: 'XX' | 'IX';
  userAgent: string;
  transports: Transport[];
  /** Multiaddrs to listen on (port 0 picks a free port); none = a node that only dials. */
  listen: string[];
  /** Addresses claimed in the identity; default: the bound listen addresses. */
  publicAddresses: string[] | undefined;
  peerStore: PeerStoreConfig;
  /**
   * `maxUnverified`: records learned only from relayed claims (peer sync, JOIN, discovery) and
   * never connected to that the store keeps at most (10,000); past it the one stored longest ago is evicted.
   */
  peers: { maxUnverified: number };
  protocols: Array<{ id: string; handler: ProtocolHandler }>;
  /** Bit 0 message propagation, bit 1 store-and-forward (PROTOCOL.md section 5). */
  features: number;
  crypto: { provider: CryptoProviderName; policy: Partial<CryptoPolicy>; poolThreads: number | undefined };
  limits: CommsLimits;
  timeouts: CommsTimeouts;
  dial: { rounds: number; backoffMs: number };
  connectivity: CommsConnectivityConfig;
  /** Serve wire byte 0xa7 (line echo) to these CIDRs; undefined = liveness connections are closed. */
  liveness: LivenessServiceInit | undefined;
  /** Accept `/memory` addresses in identities (simulations and tests). */
  allowMemoryAddresses: boolean;
  messaging: CommsMessagingConfig;
  rpc: CommsRpcConfig;
  /** The DHT (PROTOCOL.md section 9); undefined = off. While it runs, every messaging body is a DHT envelope. */
  dht: DhtConfig | undefined;
  /** Store-and-forward (PROTOCOL.md 9.7; defaults: `DEFAULT_SAF_CONFIG`), beside the DHT; undefined = off. */
  saf: SafConfig | undefined;
}

/** Defaults: each component's own default (the PROTOCOL.md values, tari_comms' where the protocol is silent). */
export const DEFAULT_COMMS_CONFIG = Object.freeze({
  networkByte: DEFAULT_SECURE_CHANNEL_CONFIG.networkByte,
  pattern: DEFAULT_SECURE_CHANNEL_CONFIG.pattern, // XX hides both static keys (PROTOCOL.md section 2)
  userAgent: 'tcomms/0.1.0',
  listen: [] as string[],
  features: 0,
  crypto: { provider: 'native' as CryptoProviderName, policy: {}, poolThreads: undefined },
  limits: {
    maxConnections: 100,
    maxConcurrentUpgrades: DEFAULT_ADMISSION_LIMITS.maxUpgrades,
    maxUpgradesPerAddress: DEFAULT_ADMISSION_LIMITS.maxUpgradesPerAddress,
    maxWaitingSockets: DEFAULT_ADMISSION_LIMITS.maxWaiting,
    maxWaitingSocketsPerAddress: DEFAULT_ADMISSION_LIMITS.maxWaitingPerAddress,
    maxEarlyStreams: DEFAULT_MAX_EARLY_STREAMS,
    maxInboundStreams: DEFAULT_YAMUX_CONFIG.maxInboundStreams,
    maxPeerManagerQueue: 1024,
    maxNodeMemory: DEFAULT_NODE_MEMORY,
    maxConnectionMemory: DEFAULT_CONNECTION_MEMORY,
  },
  timeouts: {
    timeToFirstByteMs: DEFAULT_TIME_TO_FIRST_BYTE_MS,
    handshakeRecvMs: DEFAULT_SECURE_CHANNEL_CONFIG.recvTimeoutMs,
    identityMs: DEFAULT_IDENTITY_TIMEOUT_MS,
    upgradeMs: DEFAULT_UPGRADE_TIMEOUT_MS,
    negotiationMs: NEGOTIATION_TIMEOUT_MS,
    dialAttemptMs: 30_000,
    keepaliveIntervalMs: DEFAULT_PEER_CONNECTION_CONFIG.keepaliveIntervalMs,
    closeGraceMs: DEFAULT_YAMUX_CONFIG.closeGraceMs,
  },
  dial: { rounds: 3, backoffMs: 1_000 },
  connectivity: {
    minConnectivity: DEFAULT_CONNECTIVITY_CONFIG.minConnectivity,
    reapThreshold: DEFAULT_CONNECTIVITY_CONFIG.reapThreshold,
    reapIntervalMs: DEFAULT_CONNECTIVITY_CONFIG.reapIntervalMs,
    reapMinIdleMs: DEFAULT_CONNECTIVITY_CONFIG.reapMinIdleMs,
    allowList: [] as PublicKey[],
  },
  allowMemoryAddresses: false,
  peers: { maxUnverified: DEFAULT_MAX_UNVERIFIED },
  messaging: {
    enabled: true,
    maxMessageBytes: DEFAULT_MESSAGING_CONFIG.maxMessageBytes,
    maxQueued: DEFAULT_MESSAGING_CONFIG.maxQueued,
    maxQueuedBytes: DEFAULT_MESSAGING_CONFIG.maxQueuedBytes,
    maxQueuedPerPeer: DEFAULT_MESSAGING_CONFIG.maxQueuedPerPeer,
    inboxCapacity: 1024,
    inboxMaxBytes: 64 * 1024 * 1024,
    inbound: [] as InboundMiddleware[],
    outbound: [] as OutboundMiddleware[],
  },
  rpc: {
    services: [] as ServedRpcService[],
    nodeInfo: false,
    maxSessions: DEFAULT_RPC_SERVER_CONFIG.maxSessions,
    maxSessionsPerPeer: DEFAULT_RPC_SERVER_CONFIG.maxSessionsPerPeer,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    clientSessionsPerPeer: DEFAULT_RPC_CLIENT_CONFIG.maxSessionsPerPeer,
    clientIdleTimeoutMs: DEFAULT_RPC_CLIENT_CONFIG.idleTimeoutMs,
  },
  dht: undefined as DhtConfig | undefined,
  saf: undefined as SafConfig | undefined,
});

/** The protocol id of the built-in NodeInfo service (`tcomms.info.v1.NodeInfo`). */
export const NODE_INFO_PROTOCOL = '/tcomms/info/1';

/**
 * The transport that listens on `address`: the memory transport for `/memory`, otherwise the
 * first of TCP, TCP-with-Tor or Tor (the Tor transport listens locally and publishes an onion
 * address). SOCKS5 only dials.
 */
export function listenTransportFor(address: string, transports: readonly Transport[]): Transport | undefined {
  const kind = parseAddress(address, { purpose: 'listen', allowMemory: true }).kind;
  if (kind === 'memory') return transports.find((t) => t.name === 'memory');
  if (kind === 'onion3') return undefined;
  return transports.find((t) => t.name === 'tcp' || t.name === 'tcp-with-tor' || t.name === 'tor');
}

/**
 * The shortest keepalive interval a node may use (ms; 0, keepalive off, is allowed too): 100 ms.
 * A keepalive Ping more often than the Pings a peer answers by default (yamux
 * `pingsPerSecond`, 10 a second, past a burst of 100) would put this node in its peers' debt:
 * they would read it ever more slowly, then cut it off as a Ping flood (`ping-flood`, a
 * violation, a ban). At the minimum keepalive takes all of that sustained rate and round trips
 * measured with extra pings come out of the burst; intervals of seconds (the default is 30 s)
 * leave the rate to them.
 */
export const MIN_KEEPALIVE_INTERVAL_MS = Math.ceil(1000 / DEFAULT_YAMUX_CONFIG.pingsPerSecond);

/** The configuration has problems; `problems` lists every one of them. */
export class CommsConfigInvalid extends ConfigError {
  constructor(readonly problems: string[]) {
    super(`invalid comms configuration: ${problems.join('; ')}`);
  }
}

const positiveInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
const nonNegativeInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
/** The longest wait a timer takes (ms): Node's timers fire at once beyond it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Checks the whole configuration; throws `CommsConfigInvalid` listing every problem. */
export function validateCommsConfig(config: CommsConfig): CommsConfig {
  const problems: string[] = [];
  const check = (ok: boolean, problem: string) => {
    if (!ok) problems.push(problem);
  };
  check(config.identity !== undefined, 'a node identity is required (withNodeIdentity)');
  check(Number.isInteger(config.networkByte) && config.networkByte >= 0 && config.networkByte <= 0xff, 'networkByte must be an integer 0..255');
  check(config.networkByte !== 0xa7, 'networkByte 0xa7 is the liveness wire byte');
  check(config.pattern === 'XX' || config.pattern === 'IX', 'pattern must be XX or IX');
  check(typeof config.userAgent === 'string' && Buffer.byteLength(config.userAgent) <= 100, 'userAgent must be a string of at most 100 bytes');
  check(config.transports.length > 0, 'at least one transport is required');
  for (const a of config.listen) {
    try {
      parseAddress(a, { purpose: 'listen', allowMemory: true });
      check(listenTransportFor(a, config.transports) !== undefined, `no configured transport listens on ${a}`);
    } catch (err) {
      problems.push(`listen address ${a}: ${(err as Error).message}`);
    }
  }
  for (const a of config.publicAddresses ?? []) {
    try {
      parseAddress(a, { allowMemory: config.allowMemoryAddresses });
    } catch (err) {
      problems.push(`public address ${a}: ${(err as Error).message}`);
    }
  }
  check((config.publicAddresses?.length ?? 0) <= 5, 'at most 5 public addresses (PROTOCOL.md section 5)');
  const store = config.peerStore;
  check(store.kind !== 'lmdb' || (typeof store.path === 'string' && store.path.length > 0), 'peerStore lmdb needs a path');
  const maxUnverified = config.peers.maxUnverified;
  check(Number.isSafeInteger(maxUnverified) && maxUnverified >= 1, `peers.maxUnverified must be a whole number of at least 1, got ${maxUnverified}`);
  const r = config.rpc;
  const rpcIds = [...r.services.map((x) => x.definition.protocol), ...(r.nodeInfo ? [NODE_INFO_PROTOCOL] : [])];
  const served = config.protocols.length + rpcIds.length + (config.messaging.enabled ? 1 : 0);
  check(served <= MAX_PROTOCOLS, `at most ${MAX_PROTOCOLS} protocols (messaging and rpc services included), got ${served}`);
  const ids = new Set<string>(config.messaging.enabled ? ['/tari/messaging/0.1.0'] : []);
  for (const id of rpcIds) {
    check(!ids.has(id), `rpc service ${id} registered twice`);
    ids.add(id);
  }
  for (const k of ['maxSessions', 'maxSessionsPerPeer', 'idleTimeoutMs', 'clientSessionsPerPeer'] as const) check(positiveInt(r[k]), `rpc.${k} must be a positive integer`);
  check(nonNegativeInt(r.clientIdleTimeoutMs) && r.clientIdleTimeoutMs <= MAX_TIMER_MS, `rpc.clientIdleTimeoutMs must be an integer 0..${MAX_TIMER_MS} (ms; 0 = never)`);
  for (const p of config.protocols) {
    const bytes = Buffer.byteLength(p.id);
    check(bytes > 0 && bytes <= MAX_PROTOCOL_ID_BYTES, `protocol id "${p.id}" must be 1..${MAX_PROTOCOL_ID_BYTES} bytes`);
    check(!ids.has(p.id), `protocol ${p.id} registered twice`);
    check(p.id !== '/tari/identity/1.0.0', '/tari/identity/1.0.0 is reserved');
    check(typeof p.handler === 'function', `the handler of ${p.id} is not a function`);
    ids.add(p.id);
  }
  check(nonNegativeInt(config.features) && config.features <= 0xffffffff, 'features must be a u32');
  check(config.crypto.provider === 'native' || config.crypto.provider === 'stablelib', 'crypto provider must be native or stablelib');
  check(config.crypto.poolThreads === undefined || (positiveInt(config.crypto.poolThreads) && config.crypto.poolThreads <= 64), 'poolThreads must be 1..64');
  for (const [k, v] of Object.entries(config.limits)) check(positiveInt(v), `limits.${k} must be a positive integer`);
  for (const [k, v] of Object.entries(config.timeouts)) {
    check(k === 'keepaliveIntervalMs' ? nonNegativeInt(v) : positiveInt(v), `timeouts.${k} must be a ${k === 'keepaliveIntervalMs' ? 'non-negative' : 'positive'} integer (ms)`);
  }
  const keepalive = config.timeouts.keepaliveIntervalMs;
  check(
    !nonNegativeInt(keepalive) || keepalive === 0 || keepalive >= MIN_KEEPALIVE_INTERVAL_MS,
    `timeouts.keepaliveIntervalMs must be 0 (off) or at least ${MIN_KEEPALIVE_INTERVAL_MS} ms, got ${keepalive}: peers answer ${DEFAULT_YAMUX_CONFIG.pingsPerSecond} Pings a second by default and cut off a node that sends more (ping-flood)`,
  );
  check(positiveInt(config.dial.rounds) && config.dial.rounds <= 100, 'dial.rounds must be 1..100');
  check(nonNegativeInt(config.dial.backoffMs), 'dial.backoffMs must be a non-negative integer');
  const c = config.connectivity;
  check(nonNegativeInt(c.minConnectivity), 'connectivity.minConnectivity must be a non-negative integer');
  check(positiveInt(c.reapThreshold) && positiveInt(c.reapIntervalMs) && nonNegativeInt(c.reapMinIdleMs), 'connectivity reaper settings must be positive integers');
  check(c.allowList.every((k) => k instanceof Uint8Array && k.length === 32), 'connectivity.allowList holds 32-byte public keys');
  const m = config.messaging;
  for (const k of ['maxMessageBytes', 'maxQueued', 'maxQueuedBytes', 'maxQueuedPerPeer', 'inboxCapacity', 'inboxMaxBytes'] as const) check(positiveInt(m[k]), `messaging.${k} must be a positive integer`);
  check(m.maxMessageBytes <= 0xffffffff, 'messaging.maxMessageBytes must fit a u32 frame length');
  check([...m.inbound, ...m.outbound].every((f) => typeof f === 'function'), 'messaging middleware must be functions');
  if (config.dht !== undefined) {
    problems.push(...dhtConfigProblems(config.dht));
    check(m.enabled, 'the DHT runs over messaging: messaging must be enabled');
  }
  if (config.saf !== undefined) {
    problems.push(...safConfigProblems(config.saf));
    check(config.dht !== undefined, 'store-and-forward runs over the DHT: the DHT must be enabled');
    check(((config.features & FEATURE_STORE_AND_FORWARD) !== 0) === config.saf.store, 'features bit 1 (store-and-forward) must be set exactly when saf.store is');
  } else check((config.features & FEATURE_STORE_AND_FORWARD) === 0, 'features bit 1 (store-and-forward) needs saf (CommsBuilder.withStoreAndForward)');
  if (problems.length > 0) throw new CommsConfigInvalid(problems);
  return config;
}
