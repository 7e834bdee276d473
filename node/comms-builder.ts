/**
 * `CommsBuilder` (as tari_comms' CommsBuilder): collects a node's configuration step by step;
 * `build()` checks all of it at once and returns a {@link CommsNode} ready to `start()`.
 *
 * ```ts
 * const node = new CommsBuilder()
 *   .withNodeIdentity(NodeIdentity.generate())
 *   .withListenAddress('/ip4/127.0.0.1/tcp/0')
 *   .withPeerStore({ kind: 'lmdb', path: './data/peers' })
 *   .withProtocol('/chat/1', (stream, { peer }) => stream.pipe(stream))
 *   .build();
 * await node.start();
 * ```
 */
import type { NodeIdentity } from '../core/keys.js';
import type { CryptoProviderName } from '../core/crypto/provider.js';
import type { CryptoPolicy } from '../channels/crypto-policy.js';
import type { LivenessServiceInit } from '../channels/liveness.js';
import type { ProtocolHandler } from '../channels/protocol-registry.js';
import { TcpTransport } from '../transports/tcp/tcp.js';
import type { Transport } from '../transports/transport.js';
import type { InboundMiddleware, OutboundMiddleware } from '../actors/messaging/messaging.logic.js';
import { servedRpcService } from '../actors/rpc-server/services.js';
import type { AnyRpcService, RpcHandlers } from '../protocols/rpc/index.js';
import { DEFAULT_DHT_CONFIG, type DhtConfig } from '../actors/dht/dht-config.js';
import { parseSeed, type DhtSeed, type NetworkDiscoveryConfig } from '../actors/network-discovery/network-discovery-config.js';
import { DEFAULT_SAF_CONFIG, type SafConfig } from '../actors/saf/saf-config.js';
import { FEATURE_STORE_AND_FORWARD } from '../protocols/dht/constants.js';
import { resolveSafLimits, type SafStoreLimits } from '../storage/saf-store.js';
import { dirname, join } from 'node:path';
import { CommsNode, type NodeClock } from './comms-node.js';
import type { InspectionEvent } from 'xstate';
import {
  DEFAULT_COMMS_CONFIG,
  validateCommsConfig,
  type CommsConfig,
  type CommsConnectivityConfig,
  type CommsLimits,
  type CommsMessagingConfig,
  type CommsRpcConfig,
  type CommsTimeouts,
  type PeerStoreConfig,
} from './config.js';

/**
 * The DHT settings `withDht` takes: any of {@link DhtConfig}, seeds as `PUBKEYHEX@MULTIADDR` or
 * `{ publicKey, addresses }`, and network discovery's settings one by one.
 */
export type DhtInit = Partial<Omit<DhtConfig, 'seeds' | 'networkDiscovery' | 'connectivity'>> & {
  seeds?: ReadonlyArray<string | DhtSeed>;
  networkDiscovery?: Partial<NetworkDiscoveryConfig>;
  connectivity?: Partial<DhtConfig['connectivity']>;
};

/** Builds a validated comms node (see the module comment). */
export class CommsBuilder {
  #identity: NodeIdentity | undefined;
  #networkByte: number = DEFAULT_COMMS_CONFIG.networkByte;
  #pattern: 'XX' | 'IX' = DEFAULT_COMMS_CONFIG.pattern;
  #userAgent: string = DEFAULT_COMMS_CONFIG.userAgent;
  #transports: Transport[] = [];
  #listen: string[] = [];
  #publicAddresses: string[] | undefined;
  #peerStore: PeerStoreConfig = { kind: 'memory' };
  #peers: CommsConfig['peers'] = { ...DEFAULT_COMMS_CONFIG.peers };
  #protocols: Array<{ id: string; handler: ProtocolHandler }> = [];
  #features: number = DEFAULT_COMMS_CONFIG.features;
  #crypto: CommsConfig['crypto'] = { ...DEFAULT_COMMS_CONFIG.crypto };
  #limits: CommsLimits = { ...DEFAULT_COMMS_CONFIG.limits };
  #timeouts: CommsTimeouts = { ...DEFAULT_COMMS_CONFIG.timeouts };
  #dial = { ...DEFAULT_COMMS_CONFIG.dial };
  #connectivity: CommsConnectivityConfig = { ...DEFAULT_COMMS_CONFIG.connectivity };
  #liveness: LivenessServiceInit | undefined;
  #allowMemory: boolean | undefined;
  #messaging: CommsMessagingConfig = { ...DEFAULT_COMMS_CONFIG.messaging, inbound: [], outbound: [] };
  #rpc: CommsRpcConfig = { ...DEFAULT_COMMS_CONFIG.rpc, services: [] };
  #inspect: ((event: InspectionEvent) => void) | undefined;
  #clock: NodeClock | undefined;
  #saf: (Partial<Omit<SafConfig, 'limits'>> & { limits: Partial<SafStoreLimits> }) | undefined;
  #dht: DhtConfig | undefined;

  /** The node's Ed25519 identity (required). */
  withNodeIdentity(identity: NodeIdentity): this {
    this.#identity = identity;
    return this;
  }
  /** The network's wire byte (default 0x00). */
  withNetworkByte(byte: number): this {
    this.#networkByte = byte;
    return this;
  }
  /** The Noise pattern (default XX, which keeps both static keys hidden). */
  withNoisePattern(pattern: 'XX' | 'IX'): this {
    this.#pattern = pattern;
    return this;
  }
  withUserAgent(userAgent: string): this {
    this.#userAgent = userAgent;
    return this;
  }
  /** Adds a transport (default: TCP alone). The first that can dial an address dials it. */
  withTransport(transport: Transport): this {
    this.#transports.push(transport);
    return this;
  }
  /** Adds a listen address (a multiaddr; port 0 picks a free port). */
  withListenAddress(address: string): this {
    this.#listen.push(address);
    return this;
  }
  /** The addresses claimed in the identity (default: the bound listen addresses). */
  withPublicAddresses(addresses: string[]): this {
    this.#publicAddresses = [...addresses];
    return this;
  }
  /** Where peers are kept (default: memory, lost at exit). */
  withPeerStore(store: PeerStoreConfig): this {
    this.#peerStore = store;
    return this;
  }
  /**
   * Records learned only from relayed claims (peer sync, JOIN, discovery) and never connected to
   * that the peer store keeps at most (default 10,000; past it the one stored longest ago is evicted).
   */
  withMaxUnverifiedPeers(n: number): this {
    this.#peers = { maxUnverified: n };
    return this;
  }
  /** Serves `id` on substreams peers open (advertised in the identity). */
  withProtocol(id: string, handler: ProtocolHandler): this {
    this.#protocols.push({ id, handler });
    return this;
  }
  withFeatures(features: number): this {
    this.#features = features;
    return this;
  }
  /**
   * Crypto provider and what runs on the worker pool (default: native; transport frames and
   * handshakes in-thread, their X25519 work on the process's shared one-thread pool; see
   * README). `poolThreads` gives this node a pool of its own.
   */
  withCrypto(crypto: { provider?: CryptoProviderName; policy?: Partial<CryptoPolicy>; poolThreads?: number }): this {
    this.#crypto = {
      provider: crypto.provider ?? this.#crypto.provider,
      policy: { ...this.#crypto.policy, ...crypto.policy },
      poolThreads: crypto.poolThreads ?? this.#crypto.poolThreads,
    };
    return this;
  }
  withLimits(limits: Partial<CommsLimits>): this {
    this.#limits = { ...this.#limits, ...limits };
    return this;
  }
  withTimeouts(timeouts: Partial<CommsTimeouts>): this {
    this.#timeouts = { ...this.#timeouts, ...timeouts };
    return this;
  }
  /** Dial rounds over a peer's addresses and the backoff between them. */
  withDialPolicy(dial: Partial<CommsConfig['dial']>): this {
    this.#dial = { ...this.#dial, ...dial };
    return this;
  }
  withConnectivity(connectivity: Partial<CommsConnectivityConfig>): this {
    this.#connectivity = { ...this.#connectivity, ...connectivity };
    return this;
  }
  /** Serves liveness mode (wire byte 0xa7, line echo) to the allowed CIDRs (default 127.0.0.1/32). */
  withLiveness(liveness: LivenessServiceInit = {}): this {
    this.#liveness = liveness;
    return this;
  }
  /** Accept `/memory` addresses in identities (default: when a memory transport is configured). */
  allowMemoryAddresses(allow = true): this {
    this.#allowMemory = allow;
    return this;
  }

  /** Messaging bounds (or `enabled: false` for a node without `/tari/messaging/0.1.0`). */
  withMessaging(messaging: Partial<Omit<CommsMessagingConfig, 'inbound' | 'outbound'>>): this {
    this.#messaging = { ...this.#messaging, ...messaging };
    return this;
  }
  /** Adds an inbound middleware (run in order on every received message; undefined drops it). */
  withInboundMiddleware(middleware: InboundMiddleware): this {
    this.#messaging.inbound.push(middleware);
    return this;
  }
  /** Adds an outbound middleware (run in order on every message sent; undefined drops it). */
  withOutboundMiddleware(middleware: OutboundMiddleware): this {
    this.#messaging.outbound.push(middleware);
    return this;
  }

  /**
   * Serves an RPC service (PROTOCOL.md section 8) from its generated descriptor: the protocol id
   * and method numbers come from its options, and `handlers` has one function per method, typed
   * by the descriptor (a unary handler returns the response, a server-streaming one yields the
   * items; throw an `RpcError` for another status). Its id is served and advertised.
   *
   * ```ts
   * builder.withRpcService(NodeInfo, {
   *   getInfo: async (req, ctx) => ({ userAgent: 'me' }),
   *   listConnections: async function* (req, ctx) { yield { outbound: true } },
   * });
   * ```
   */
  withRpcService<S extends AnyRpcService>(service: S, handlers: RpcHandlers<S>): this {
    this.#rpc.services.push(servedRpcService(service, handlers));
    return this;
  }
  /** RPC bounds: server sessions in all and per peer, the server's idle close, client sessions per peer and their idle close (`clientIdleTimeoutMs`, 30 s; 0 = never). */
  withRpc(rpc: Partial<Omit<CommsRpcConfig, 'services'>>): this {
    this.#rpc = { ...this.#rpc, ...rpc };
    return this;
  }
  /** Serves the built-in `tcomms.info.v1.NodeInfo` (`/tcomms/info/1`): this node's identity, uptime and connections. */
  withNodeInfo(serve = true): this {
    this.#rpc.nodeInfo = serve;
    return this;
  }

  /**
   * Runs the DHT (PROTOCOL.md section 9; defaults: `DEFAULT_DHT_CONFIG`): `node.dht` sends and
   * receives DHT messages, and every messaging body is a DHT envelope. Unless `propagate` is
   * false, the node forwards messages for others and claims feature bit 0 (a DHT node), and
   * serves peer sync (`/tari/dht/1`). Network discovery fills the peer store from `seeds` (and
   * the peers it learns) unless `networkDiscovery.enabled` is false. `connectivity` (the
   * neighbour and random pools) and `networkDiscovery` are merged field by field.
   */
  withDht(dht: DhtInit = {}): this {
    const base = this.#dht ?? DEFAULT_DHT_CONFIG;
    const { seeds, networkDiscovery, connectivity, ...rest } = dht;
    this.#dht = {
      ...base,
      ...rest,
      seeds: seeds === undefined ? base.seeds : seeds.map(parseSeed),
      networkDiscovery: { ...base.networkDiscovery, ...networkDiscovery },
      connectivity: { ...base.connectivity, ...connectivity },
    };
    return this;
  }

  /**
   * Adds seeds for network discovery (PROTOCOL.md 9.9): `PUBKEYHEX@MULTIADDR` or
   * `{ publicKey, addresses }`. Enables the DHT when it is not yet. Throws `ConfigError` for a
   * malformed seed.
   */
  withSeeds(...seeds: Array<string | DhtSeed>): this {
    const parsed = seeds.map(parseSeed);
    this.withDht();
    this.#dht = { ...this.#dht!, seeds: [...this.#dht!.seeds, ...parsed] };
    return this;
  }

  /**
   * Runs store-and-forward beside the DHT (PROTOCOL.md 9.7; defaults: `DEFAULT_SAF_CONFIG`):
   * the node asks each store-and-forward peer it connects to for the messages kept for it (they
   * reach `node.dht` marked `late`), and unless `store` is false it stores encrypted messages for
   * others in its region, serves them, and claims feature bit 1. The store is LMDB at `saf/`
   * beside an LMDB peer store (the node's data directory), else in memory, unless `storage` says.
   */
  withStoreAndForward(saf: Partial<Omit<SafConfig, 'limits'>> & { limits?: Partial<SafStoreLimits> } = {}): this {
    const { limits, ...rest } = saf;
    const merged = { ...(this.#saf ?? {}), ...rest, limits: { ...this.#saf?.limits, ...limits } };
    this.#saf = merged;
    return this;
  }

  /**
   * Sees the node's whole actor system from before it starts (XState's inspection stream):
   * every actor as it is created, every event and every snapshot, start-up included.
   */
  withInspect(inspect: (event: InspectionEvent) => void): this {
    this.#inspect = inspect;
    return this;
  }
  /**
   * The clock the node's actors schedule their timers with (XState's clock interface; tests pass
   * a `SimulatedClock`). Its `now()`, when it has one, is also the time bans are judged by.
   */
  withClock(clock: NodeClock): this {
    this.#clock = clock;
    return this;
  }

  /** The configuration as it stands (defaults filled in), before validation. */
  config(): CommsConfig {
    const transports = this.#transports.length > 0 ? [...this.#transports] : [new TcpTransport()];
    return {
      identity: this.#identity!,
      networkByte: this.#networkByte,
      pattern: this.#pattern,
      userAgent: this.#userAgent,
      transports,
      listen: [...this.#listen],
      publicAddresses: this.#publicAddresses,
      peerStore: this.#peerStore,
      peers: { ...this.#peers },
      protocols: [...this.#protocols],
      features: (this.#dht?.propagate ? this.#features | 1 : this.#features) | (this.#saf && (this.#saf.store ?? DEFAULT_SAF_CONFIG.store) ? FEATURE_STORE_AND_FORWARD : 0),
      crypto: this.#crypto,
      limits: this.#limits,
      timeouts: this.#timeouts,
      dial: this.#dial,
      connectivity: this.#connectivity,
      liveness: this.#liveness,
      allowMemoryAddresses: this.#allowMemory ?? transports.some((t) => t.name === 'memory'),
      messaging: { ...this.#messaging, inbound: [...this.#messaging.inbound], outbound: [...this.#messaging.outbound] },
      rpc: { ...this.#rpc, services: [...this.#rpc.services] },
      dht: this.#dht === undefined ? undefined : { ...this.#dht },
      saf: this.#safConfig(),
    };
  }

  /** The store-and-forward settings over their defaults; the store beside an LMDB peer store by default. */
  #safConfig(): SafConfig | undefined {
    const given = this.#saf;
    if (!given) return undefined;
    const storage = given.storage ?? (this.#peerStore.kind === 'lmdb' ? { kind: 'lmdb', path: join(dirname(this.#peerStore.path), 'saf') } : DEFAULT_SAF_CONFIG.storage);
    let limits: SafStoreLimits;
    try {
      limits = resolveSafLimits(given.limits);
    } catch {
      limits = { ...DEFAULT_SAF_CONFIG.limits, ...given.limits }; // validation names what is wrong
    }
    return { ...DEFAULT_SAF_CONFIG, ...given, storage, limits };
  }

  /** Validates everything at once (`CommsConfigInvalid` lists every problem) and makes the node. */
  build(): CommsNode {
    return new CommsNode(validateCommsConfig(this.config()), { ...(this.#inspect ? { inspect: this.#inspect } : {}), ...(this.#clock ? { clock: this.#clock } : {}) });
  }
}
