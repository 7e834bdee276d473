/**
 * The components a node's root actor starts (one actor system per node), each under its
 * `systemId`, and the inputs it starts them with: pure functions of the configuration, the
 * resources opened at start and the identity actor (whose signed claim every upgrade sends).
 */
import { multiaddr } from '@multiformats/multiaddr';
import type { ActorRefFrom } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { LivenessService } from '../../channels/liveness.js';
import type { ProtocolRegistry } from '../../channels/protocol-registry.js';
import type { UpgradeConfig } from '../../channels/upgrade.js';
import { peerConnectionOf, type connectionManagerMachine, type ConnectionManagerInput } from '../connection-manager/connection-manager.machine.js';
import type { connectivityMachine, ConnectivityInput } from '../connectivity/connectivity.machine.js';
import type { DhtService } from '../dht/dht-service.js';
import type { dhtMachine, DhtInput } from '../dht/dht.machine.js';
import type { dhtConnectivityMachine, DhtConnectivityInput } from '../dht-connectivity/dht-connectivity.machine.js';
import { KEEP_HOLDER } from '../dht-connectivity/dht-connectivity.context.js';
import type { dialerMachine, DialerInput } from '../dialer/dialer.machine.js';
import type { identityMachine, IdentityInput } from '../identity/identity.machine.js';
import type { listenerMachine, ListenerInput } from '../listener/listener.machine.js';
import type { ListenerReport } from '../listener/listener.events.js';
import type { Mailbox } from '../mailbox.js';
import type { messagingMachine, MessagingInput } from '../messaging/messaging.machine.js';
import type { networkDiscoveryMachine, NetworkDiscoveryInput } from '../network-discovery/network-discovery.machine.js';
import { SyncedClaims } from '../network-discovery/synced-claims.js';
import type { peerManagerMachine, PeerManagerInput } from '../peer-manager/peer-manager.machine.js';
import type { rpcClientMachine, RpcClientInput } from '../rpc-client/rpc-client.machine.js';
import type { rpcServerMachine, RpcServerInput } from '../rpc-server/rpc-server.machine.js';
import type { RpcServiceTable } from '../rpc-server/services.js';
import type { safMachine, SafInput } from '../saf/saf.machine.js';
import { listenTransportFor, type CommsConfig } from './config.js';
import type { NodeResources } from './resources.js';

/** The running components of a node, typed (messaging is absent when it is disabled). */
export interface NodeComponents {
  peerManager: ActorRefFrom<typeof peerManagerMachine>;
  identity: ActorRefFrom<typeof identityMachine>;
  connectivity: ActorRefFrom<typeof connectivityMachine>;
  connectionManager: ActorRefFrom<typeof connectionManagerMachine>;
  dialer: ActorRefFrom<typeof dialerMachine>;
  listener: ActorRefFrom<typeof listenerMachine>;
  messaging: ActorRefFrom<typeof messagingMachine> | undefined;
  rpcServer: ActorRefFrom<typeof rpcServerMachine>;
  rpcClient: ActorRefFrom<typeof rpcClientMachine>;
  /** The DHT actor (absent when the DHT is not enabled). */
  dht: ActorRefFrom<typeof dhtMachine> | undefined;
  /** The store-and-forward component (absent without store-and-forward). */
  saf: ActorRefFrom<typeof safMachine> | undefined;
  /** Network discovery (with the DHT, unless disabled). */
  networkDiscovery: ActorRefFrom<typeof networkDiscoveryMachine> | undefined;
  /** The DHT's neighbour and random pools (absent when the DHT is not enabled). */
  dhtConnectivity: ActorRefFrom<typeof dhtConnectivityMachine> | undefined;
}

/** What the root is started with. */
export interface CommsNodeInput {
  config: CommsConfig;
  /** The protocols served (messaging's among them when it is enabled). */
  protocols: ProtocolRegistry;
  /** The RPC services served (each of their ids is also in `protocols`). */
  rpcServices: RpcServiceTable;
  /** The node's clock (ms): the actor clock's `now` when the node runs on a simulated clock. */
  now: () => number;
  /** The DHT's data path, when the DHT is enabled (the facade made it; the DHT actor drives its effects). */
  dht?: DhtService | undefined;
}

const seconds = (now: () => number) => () => BigInt(Math.floor(now() / 1000));

/** The peer manager's input: the store, the bans loaded from it, the allow-list, the node's clock. */
export function peerManagerInput(input: CommsNodeInput, resources: NodeResources): PeerManagerInput {
  const c = input.config;
  return { store: resources.store, allowList: c.connectivity.allowList.map(toHex), maxQueue: c.limits.maxPeerManagerQueue, now: input.now, bans: resources.bans };
}

/** The identity actor's input: the node identity and what it claims. */
export function identityInput(input: CommsNodeInput): IdentityInput {
  const c = input.config;
  return {
    identity: c.identity,
    ...(c.publicAddresses ? { publicAddresses: c.publicAddresses } : {}),
    features: c.features,
    userAgent: c.userAgent,
    protocols: input.protocols.ids(),
    nowSeconds: seconds(input.now),
  };
}

/** The connectivity actor's input: the configured thresholds and allow-list. */
export function connectivityInput(input: CommsNodeInput): ConnectivityInput {
  return { ...input.config.connectivity };
}

/** The connection manager's input: the tie-break's NodeId, the limit, the protocols served, the peer connections' settings. */
export function connectionManagerInput(input: CommsNodeInput): ConnectionManagerInput {
  const c = input.config;
  return {
    nodeId: c.identity.nodeId,
    maxConnections: c.limits.maxConnections,
    protocols: input.protocols,
    peerConnection: { keepaliveIntervalMs: c.timeouts.keepaliveIntervalMs, negotiationTimeoutMs: c.timeouts.negotiationMs },
  };
}

/**
 * How every upgrade of this node runs: the channel, the identity actor's current claim, the
 * limits, the node's memory budget, and the bans (a banned peer is refused right after the
 * Noise handshake, by its static key, before anything of ours is sent).
 */
export function upgradeConfig(input: CommsNodeInput, resources: NodeResources, identity: ActorRefFrom<typeof identityMachine>): UpgradeConfig {
  const c = input.config;
  const { bans } = resources;
  return {
    budget: resources.memory,
    turns: resources.turns,
    isBannedNoiseKey: (noiseKey) => bans.isBannedNoiseKey(noiseKey, input.now()),
    identity: c.identity,
    channel: resources.channel,
    identityContent: () => identity.getSnapshot().context.claim.content,
    signedIdentity: () => identity.getSnapshot().context.claim.message,
    nowSeconds: seconds(input.now),
    allowMemoryAddresses: c.allowMemoryAddresses,
    timeToFirstByteMs: c.timeouts.timeToFirstByteMs,
    identityTimeoutMs: c.timeouts.identityMs,
    maxEarlyStreams: c.limits.maxEarlyStreams,
    yamux: {
      maxInboundStreams: c.limits.maxInboundStreams,
      closeGraceMs: c.timeouts.closeGraceMs,
      maxConnectionMemory: c.limits.maxConnectionMemory,
      keepaliveIntervalMs: 0, // the peer-connection actor runs the keepalive
    },
  };
}

/** The dialer's input: the transports, the upgrade, the dial policy. */
export function dialerInput(input: CommsNodeInput, upgrade: UpgradeConfig): DialerInput {
  const c = input.config;
  return { transports: c.transports, upgrade, rounds: c.dial.rounds, backoffMs: c.dial.backoffMs, attemptTimeoutMs: c.timeouts.dialAttemptMs };
}

/** The listener's input: the endpoints, the upgrade, its bounds, the ban check, liveness, and its owner (the root). */
export function listenerInput(input: CommsNodeInput, resources: NodeResources, upgrade: UpgradeConfig, owner: Mailbox<ListenerReport>): ListenerInput {
  const c = input.config;
  const { bans } = resources;
  return {
    endpoints: c.listen.map((a) => ({ transport: listenTransportFor(a, c.transports)!, address: multiaddr(a) })),
    upgrade,
    maxConcurrentUpgrades: c.limits.maxConcurrentUpgrades,
    admission: { maxUpgradesPerAddress: c.limits.maxUpgradesPerAddress, maxWaiting: c.limits.maxWaitingSockets, maxWaitingPerAddress: c.limits.maxWaitingSocketsPerAddress },
    upgradeTimeoutMs: c.timeouts.upgradeMs,
    isBanned: (publicKey) => bans.isBanned(publicKey, input.now()),
    ...(c.liveness ? { liveness: new LivenessService(c.liveness) } : {}),
    owner,
  };
}

/** Messaging's input. */
export function messagingInput(): MessagingInput {
  return {};
}

/** The RPC server's input: the services served, the session limits, the idle wait. */
export function rpcServerInput(input: CommsNodeInput): RpcServerInput {
  const r = input.config.rpc;
  return { services: input.rpcServices, now: input.now, maxSessions: r.maxSessions, maxSessionsPerPeer: r.maxSessionsPerPeer, session: { idleTimeoutMs: r.idleTimeoutMs } };
}

/** The RPC client pool's input: sessions per peer and service, their idle timeout. */
export function rpcClientInput(input: CommsNodeInput): RpcClientInput {
  return { now: input.now, maxSessionsPerPeer: input.config.rpc.clientSessionsPerPeer, idleTimeoutMs: input.config.rpc.clientIdleTimeoutMs };
}

/** The DHT actor's input: its settings and the service whose outbound side its effects use. */
export function dhtInput(input: CommsNodeInput, service: DhtService): DhtInput {
  const d = input.config.dht!;
  return {
    config: { autoJoin: d.autoJoin, joinCooldownMs: d.joinCooldownMs, discoveryTimeoutMs: d.discoveryTimeoutMs, maxPendingDiscoveries: d.maxPendingDiscoveries },
    effects: service.effects,
  };
}

/** Network discovery's input: its settings, the seeds, the ban for a bad server (9.9), and what it judges claims by. */
export function networkDiscoveryInput(input: CommsNodeInput, resources: NodeResources, connectionManager: ActorRefFrom<typeof connectionManagerMachine>, connectivity: ActorRefFrom<typeof connectivityMachine>): NetworkDiscoveryInput {
  const c = input.config;
  const d = c.dht!;
  return {
    config: d.networkDiscovery,
    seeds: d.seeds,
    banMs: d.banInvalidMs,
    env: {
      self: c.identity.publicKey,
      allowMemory: c.allowMemoryAddresses,
      isBanned: (publicKey) => resources.bans.isBanned(publicKey, input.now()),
      nowSeconds: seconds(input.now),
      isConnected: (publicKey) => peerConnectionOf(connectionManager.getSnapshot().context, publicKey) !== undefined,
      isKept: (publicKey) => {
        const hex = toHex(publicKey);
        for (const keys of connectivity.getSnapshot().context.kept.values()) if (keys.includes(hex)) return true;
        return false;
      },
      synced: new SyncedClaims(),
    },
  };
}

/** The DHT connectivity actor's input: this node, its pool settings, the peers never minimized. */
export function dhtConnectivityInput(input: CommsNodeInput, connectivity: ActorRefFrom<typeof connectivityMachine>): DhtConnectivityInput {
  const c = input.config;
  return {
    self: { publicKey: c.identity.publicKey, nodeId: c.identity.nodeId },
    config: c.dht!.connectivity,
    exempt: c.connectivity.allowList,
    keptElsewhere: (hex) => {
      for (const [holder, keys] of connectivity.getSnapshot().context.kept) if (holder !== KEEP_HOLDER && keys.includes(hex)) return true;
      return false;
    },
  };
}

/** The store-and-forward component's input: its settings and the effects of the DHT service's store-and-forward. */
export function safInput(input: CommsNodeInput, service: DhtService): SafInput | undefined {
  const c = input.config.saf;
  const saf = service.saf;
  if (!c || !saf) return undefined;
  return {
    config: { request: c.request, requestLimit: c.requestLimit, responseTimeoutMs: c.responseTimeoutMs, maxRequestsInFlight: c.maxRequestsInFlight, maxRequestRounds: c.maxRequestRounds, sweepIntervalMs: c.sweepIntervalMs },
    effects: saf.effects,
  };
}
