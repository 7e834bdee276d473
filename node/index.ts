/**
 * `tcomms`: the node API. Build a node with `CommsBuilder`, start it, dial peers, open
 * substreams, send messages, watch its events; reach its actors for inspection.
 */
export * from './config.js';
export * from './comms-node.js';
export * from './comms-builder.js';
// What an embedder needs beside the node: its identity and keys, the typed errors, and the
// types of what the node hands out (its actors, messages, outcomes, the peer API).
export { NodeIdentity, nodeIdOf, publicKeyFromHex, type NodeId, type PublicKey } from '../core/keys.js';
export { TcommsError, isErrorKind, type ErrorKind, type PlainError } from '../core/errors.js';
export type { NodeComponents, CommsNodeRef, CommsNodeEmitted } from '../actors/comms-node/index.js';
export type { PeerConnectionActor, PeerConnectionEmitted } from '../actors/peer-connection/index.js';
export type { InboundMessage, OutboundMessage, InboundMiddleware, OutboundMiddleware, SendOutcome } from '../actors/messaging/index.js';
export { settled, DEFAULT_DHT_CONFIG, DhtNotRunning, DhtSendFailed, DiscoveryFailed } from '../actors/dht/index.js';
export type { DhtService, DhtConfig, DhtSendRequest, DhtSendOutcome, DhtQueued, DhtFailed, DhtPeerWrite, DhtStrategy, DhtMessage, DhtHandler, DhtStats, DhtTrace, DhtRef } from '../actors/dht/index.js';
export type { DiscoveryOutcome, DiscoveredPeer } from '../actors/discovery/index.js';
export { DEFAULT_NETWORK_DISCOVERY_CONFIG, parseSeed } from '../actors/network-discovery/index.js';
export type { DhtSeed, NetworkDiscoveryConfig, NetworkDiscoveryEmitted, NetworkDiscoveryRef, PeerSyncReport } from '../actors/network-discovery/index.js';
export { dhtConnectivityStats, DEFAULT_DHT_CONNECTIVITY_CONFIG } from '../actors/dht-connectivity/index.js';
export type { DhtConnectivityConfig, DhtConnectivityStats, DhtConnectivityRef, DhtConnectivityEmitted } from '../actors/dht-connectivity/index.js';
export { DEFAULT_SAF_CONFIG } from '../actors/saf/index.js';
export type { SafConfig, SafStorageConfig, SafStats, SafEmitted, SafRef, SafService } from '../actors/saf/index.js';
export type { SafRequestOutcome } from '../actors/saf-request/index.js';
export { DEFAULT_SAF_LIMITS, MemorySafStore, LmdbSafStore, type SafStore, type SafStoreLimits } from '../storage/index.js';
export type { PeerManagerClient, QueryFilter } from '../actors/peer-manager/index.js';
export type { ConnectivityStatus } from '../actors/connectivity/index.js';
export type { Peer, PeerSighting, PeerAddressRecord } from '../storage/peer.js';
export type { PeerStore } from '../storage/peer-store.js';
export type { ProtocolHandler, SubstreamContext } from '../channels/protocol-registry.js';
export type { PeerConnection } from '../channels/upgrade.js';
export type { YamuxStream } from '../channels/yamux/stream.js';
export type { Transport } from '../transports/transport.js';
