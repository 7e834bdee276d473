/**
 * A running comms node: the peer manager, the connection manager (listener, dialer, one
 * peer-connection actor per connection) and the connectivity actor, built from a validated
 * {@link CommsConfig}. Made by `CommsBuilder.build()`.
 */
import { EventEmitter } from 'node:events';
import type { Multiaddr } from '@multiformats/multiaddr';
import { addressToBytes, parseAddress } from '../core/address.js';
import { toHex } from '../core/bytes.js';
import { cryptoProvider } from '../core/crypto/index.js';
import { TcommsError, TimeoutError, type PlainError } from '../core/errors.js';
import { nodeIdOf, publicKeyFromHex, type NodeId, type PublicKey } from '../core/keys.js';
import { LivenessService } from '../channels/liveness.js';
import { ProtocolRegistry, type ProtocolHandler } from '../channels/protocol-registry.js';
import { NoiseSecureChannel, noiseStaticKeys } from '../channels/secure-channel.js';
import type { PeerConnection, UpgradeConfig } from '../channels/upgrade.js';
import type { YamuxStream } from '../channels/yamux/stream.js';
import { connect, startConnectionManager, type ConnectionManagerActor } from '../actors/connection-manager/index.js';
import { startConnectivity, waitForConnectivity, type ConnectivityActor, type ConnectivityStatus } from '../actors/connectivity/index.js';
import { Inbox, Messaging, messagingHandler, type InboundMessage, type MessagingActor, type SendOutcome } from '../actors/messaging/index.js';
import { MESSAGING_PROTOCOL } from '../protocols/messaging/index.js';
import type { RejectReason } from '../actors/listener/listener.events.js';
import { startPeerManager, type PeerManagerClient } from '../actors/peer-manager/index.js';
import { LmdbPeerStore } from '../storage/lmdb-store.js';
import { MemoryPeerStore } from '../storage/memory-store.js';
import type { PeerStore } from '../storage/peer-store.js';
import { isBanned, type PeerSighting } from '../storage/peer.js';
import { multiaddr } from '@multiformats/multiaddr';
import { PoolExecutor } from '../workers/executor.js';
import { X25519Service } from '../workers/x25519-service.js';
import { acquireSharedPool, releaseSharedPool } from '../workers/shared-pool.js';
import { DEFAULT_CRYPTO_POLICY } from '../channels/crypto-policy.js';
import { listenTransportFor, type CommsConfig } from './config.js';
import { BoundedMap } from '../core/bounded-map.js';

/** What a node publishes (`node.on(type, listener)`). */
export interface CommsNodeEvents {
  listening: [addresses: Multiaddr[]];
  'peer.connected': [event: { publicKey: PublicKey; nodeId: NodeId; direction: 'inbound' | 'outbound'; userAgent: string }];
  'peer.disconnected': [event: { publicKey: PublicKey; error: PlainError | undefined }];
  'peer.connect-failed': [event: { publicKey: PublicKey; error: PlainError }];
  'peer.violation': [event: { publicKey: PublicKey; error: PlainError }];
  /** An inbound socket that did not become a connection: `busy`, `upgrade-failed`, `banned` or `liveness`. */
  'connection.rejected': [event: { reason: RejectReason; remoteAddress: string | undefined; error: PlainError | undefined }];
  'peer.banned': [event: { publicKey: PublicKey; durationMs: number; reason: string }];
  'connectivity.status': [event: { status: ConnectivityStatus; connections: number }];
  /** A message arrived (after the inbound middleware). */
  message: [message: InboundMessage];
  /** A messaging substream ended mid-frame: a partial message was lost. */
  'message.truncated': [event: { from: PublicKey; lostBytes: number }];
  /** An actor of the node failed (a bug, not bad input); without a listener it is logged. */
  error: [error: Error];
}

/** A summary of one active connection. */
export interface ConnectionInfo {
  publicKey: PublicKey;
  nodeId: NodeId;
  direction: 'inbound' | 'outbound';
  userAgent: string;
  supportedProtocols: string[];
  connection: PeerConnection;
}

/** The node is not running (not started yet, or stopped). */
export class NodeNotRunning extends TcommsError {
  readonly kind = 'config' as const;
}

/** No listener could be opened at start. */
export class NodeStartFailed extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(readonly error: PlainError) {
    super(`the node could not start listening: ${error.name}: ${error.message}`);
  }
}

/** A peer given as a public key or its hex. */
export type PeerKey = PublicKey | string;

/** Keys given as hex lately, parsed and validated once (a sender names its peer per message). */
const hexKeys = new BoundedMap<string, PublicKey>(1024);

function keyOf(peer: PeerKey): PublicKey {
  if (typeof peer !== 'string') return peer;
  return hexKeys.getOrSet(peer, () => publicKeyFromHex(peer));
}

/** The actors a running node is made of, for embedders (each a root actor with its own mailbox). */
export interface CommsActors {
  peerManager: PeerManagerClient['actor'];
  connectionManager: ConnectionManagerActor;
  connectivity: ConnectivityActor;
  /** Undefined when messaging is disabled. */
  messaging: MessagingActor | undefined;
}

/** A comms node: start it, dial peers, open substreams, serve protocols, watch its events, stop it. */
export class CommsNode extends EventEmitter<CommsNodeEvents> {
  readonly config: CommsConfig;
  readonly protocols = new ProtocolRegistry();
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  #store: PeerStore | undefined;
  #peers: PeerManagerClient | undefined;
  #cm: ConnectionManagerActor | undefined;
  #connectivity: ConnectivityActor | undefined;
  #pool: PoolExecutor | undefined;
  /** True when {@link #pool} is the process's shared pool (released, not closed, at stop). */
  #sharedPool = false;
  #messaging: Messaging | undefined;
  #stopping: Promise<void> | undefined;
  #inbox: Inbox | undefined;
  #listening: Multiaddr[] = [];
  #claimedAt = 0n;
  #claimBytes: { listening: Multiaddr[]; bytes: Uint8Array[] } | undefined;

  constructor(config: CommsConfig) {
    super();
    this.config = config;
    for (const p of config.protocols) this.protocols.register(p.id, p.handler);
    if (config.messaging.enabled) {
      this.protocols.register(
        MESSAGING_PROTOCOL,
        messagingHandler({
          maxMessageBytes: config.messaging.maxMessageBytes,
          middleware: config.messaging.inbound,
          deliver: async (message) => {
            this.emit('message', message);
            await this.#inbox?.push(message);
          },
          reports: {
            // An oversized frame: the peer is reported (banned and disconnected by connectivity).
            violation: (from, error) => this.#cm?.send({ type: 'peer.misbehaved', publicKey: from, error: error.toPlain() }),
            truncated: (from, lostBytes) => this.emit('message.truncated', { from, lostBytes }),
          },
        }),
      );
    }
  }

  get publicKey(): PublicKey {
    return this.config.identity.publicKey;
  }
  get nodeId(): NodeId {
    return this.config.identity.nodeId;
  }
  /** The bound listen addresses (after `start()`). */
  get listenAddresses(): Multiaddr[] {
    return [...this.#listening];
  }
  get running(): boolean {
    return this.#state === 'running';
  }

  /** The actor system behind the node. */
  get actors(): CommsActors {
    this.#assertRunning();
    return { peerManager: this.#peers!.actor, connectionManager: this.#cm!, connectivity: this.#connectivity!, messaging: this.#messaging?.actor };
  }

  /** The peer manager (promise API over its actor). */
  get peers(): PeerManagerClient {
    this.#assertRunning();
    return this.#peers!;
  }

  /** Opens the peer store and starts every actor; resolves once every listen address is bound. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new NodeNotRunning(`start() on a node that is ${this.#state}`);
    this.#state = 'starting';
    const c = this.config;
    try {
      this.#store = c.peerStore.kind === 'lmdb' ? await LmdbPeerStore.open({ path: c.peerStore.path }) : c.peerStore.kind === 'memory' ? new MemoryPeerStore() : c.peerStore.store;
      // Bans in memory (loaded from the store, then kept by the peer manager's facts): the
      // listener checks every inbound peer without a store round trip.
      const bans = new Map<string, number>();
      for (const p of await this.#store.all((peer) => isBanned(peer, Date.now()))) bans.set(toHex(p.publicKey), p.bannedUntil!);
      this.#peers = startPeerManager(
        { store: this.#store, allowList: c.connectivity.allowList.map(toHex), maxQueue: c.limits.maxPeerManagerQueue },
        { onError: (err) => this.#fatal('peer manager', err) },
      );
      this.#peers.actor.on('peer.banned', (e) => bans.set(toHex(e.peer.publicKey), e.until));
      this.#peers.actor.on('peer.unbanned', (e) => bans.delete(toHex(e.peer.publicKey)));
      const policy = { ...DEFAULT_CRYPTO_POLICY, ...c.crypto.policy };
      if (policy.handshakeOnPool || policy.bulkPoolThreshold < Infinity || (policy.x25519OnPool && c.crypto.poolThreads !== undefined)) {
        this.#pool = new PoolExecutor(c.crypto.poolThreads === undefined ? {} : { threads: c.crypto.poolThreads });
      } else if (policy.x25519OnPool) {
        // The X25519 service alone: one thread for the whole process, however many nodes run.
        this.#pool = acquireSharedPool();
        this.#sharedPool = true;
      }
      const upgrade = this.#upgradeConfig();
      const peers = this.#peers;
      const endpoints = c.listen.map((a) => ({ transport: listenTransportFor(a, c.transports)!, address: multiaddr(a) }));
      this.#cm = startConnectionManager(
        {
          listener: {
            endpoints,
            upgrade,
            maxConcurrentUpgrades: c.limits.maxConcurrentUpgrades,
            isBanned: async (publicKey) => (bans.get(toHex(publicKey)) ?? 0) > Date.now(),
            ...(c.liveness ? { liveness: new LivenessService(c.liveness) } : {}),
          },
          dialer: { transports: c.transports, upgrade, peers, rounds: c.dial.rounds, backoffMs: c.dial.backoffMs, attemptTimeoutMs: c.timeouts.dialAttemptMs },
          maxConnections: c.limits.maxConnections,
          peerBook: { add: (sighting) => this.#recordSighting(sighting) },
          protocols: this.protocols,
          peerConnection: { keepaliveIntervalMs: c.timeouts.keepaliveIntervalMs, negotiationTimeoutMs: c.timeouts.negotiationMs },
        },
        (err) => this.#fatal('connection manager', err),
      );
      const cm = this.#cm;
      cm.on('peer.connected', (e) =>
        this.emit('peer.connected', { publicKey: e.publicKey, nodeId: e.connection.peer.nodeId, direction: e.direction, userAgent: e.connection.peer.userAgent }),
      );
      cm.on('peer.disconnected', (e) => this.emit('peer.disconnected', { publicKey: e.publicKey, error: e.error }));
      cm.on('peer.connect-failed', (e) => this.emit('peer.connect-failed', { publicKey: e.publicKey, error: e.error }));
      cm.on('peer.violation', (e) => this.emit('peer.violation', { publicKey: e.publicKey, error: e.error }));
      cm.on('connection-manager.child-failed', (e) => this.#fatal(e.child, new Error(`${e.error.name}: ${e.error.message}`)));
      cm.on('connection.rejected', (e) => this.emit('connection.rejected', { reason: e.reason, remoteAddress: e.remoteAddress, error: e.error }));
      this.#connectivity = startConnectivity(
        {
          peers,
          connectionManager: cm,
          streamsOpen: (hex) => cm.getSnapshot().context.connections.get(hex)?.muxer.streamCount ?? 0,
          ...c.connectivity,
        },
        (err) => this.#fatal('connectivity', err),
      );
      this.#connectivity.on('connectivity.status', (e) => this.emit('connectivity.status', { status: e.status, connections: e.connections }));
      this.#connectivity.on('peer.banned', (e) => this.emit('peer.banned', { publicKey: e.publicKey, durationMs: e.durationMs, reason: e.reason }));
      if (c.messaging.enabled) {
        this.#messaging = new Messaging({
          openStream: async (publicKey) => (await this.openStream(publicKey, [MESSAGING_PROTOCOL])).stream,
          maxMessageBytes: c.messaging.maxMessageBytes,
          maxQueued: c.messaging.maxQueued,
          maxQueuedBytes: c.messaging.maxQueuedBytes,
          maxQueuedPerPeer: c.messaging.maxQueuedPerPeer,
          outbound: c.messaging.outbound,
          onError: (err) => this.#fatal('messaging', err),
        });
      }
      this.#listening = await this.#whenListening(cm, endpoints.length);
      this.#state = 'running';
      this.emit('listening', this.listenAddresses);
    } catch (err) {
      this.#state = 'running'; // so stop() tears down what was started
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Graceful stop: the connectivity actor stops, every connection closes with GoAway(0) (open
   * substreams get the grace period), the listeners close, then the peer store is flushed and
   * closed. Idempotent.
   */
  stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'new') {
      this.#state = 'stopped';
      return Promise.resolve();
    }
    // A second caller waits for the same stop.
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#state = 'stopping';
    this.#connectivity?.stop();
    this.#messaging?.stop();
    this.#inbox?.close();
    const cm = this.#cm;
    if (cm && cm.getSnapshot().status === 'active') {
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.config.timeouts.closeGraceMs + 5_000);
        cm.subscribe({
          complete: () => {
            clearTimeout(timer);
            resolve();
          },
          error: () => resolve(),
        });
      });
      cm.send({ type: 'connection-manager.stop' });
      await done;
      cm.stop();
    }
    if (this.#peers) await this.#peers.stop().catch(() => undefined);
    // Start failed between opening the store and starting the peer manager: close the store here.
    else await this.#store?.close().catch(() => undefined);
    if (this.#sharedPool) {
      await releaseSharedPool(this.#pool!).catch(() => undefined);
    } else if (this.#pool) {
      X25519Service.closeAll(this.#pool);
      await this.#pool.close().catch(() => undefined);
    }
    this.#pool = undefined;
    this.#sharedPool = false;
    this.#state = 'stopped';
  }

  /** Connects to a peer (stored addresses in quality order, or `addresses`); resolves with the connection kept. */
  async dial(peer: PeerKey, options: { addresses?: string[]; timeoutMs?: number } = {}): Promise<ConnectionInfo> {
    this.#assertRunning();
    const connection = await connect(this.#cm!, keyOf(peer), options);
    return infoOf(connection);
  }

  /** Opens a substream to a peer for one of `protocols` (dialing it first when not connected). */
  async openStream(peer: PeerKey, protocols: string[], options: { timeoutMs?: number } = {}): Promise<{ stream: YamuxStream; protocol: string }> {
    const existing = this.#connectionTo(keyOf(peer));
    const connection = existing ?? (await this.dial(peer, options)).connection;
    return connection.openStream(protocols, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
  }

  /**
   * Sends one message to a peer (queued while it is dialed). Resolves with its outcome: written
   * to the peer's messaging substream, or failed with a typed reason (never rejects).
   */
  send(peer: PeerKey, body: Uint8Array): Promise<SendOutcome> {
    this.#assertRunning();
    if (!this.#messaging) throw new NodeNotRunning('messaging is disabled on this node');
    return this.#messaging.send(keyOf(peer), body);
  }

  /**
   * The messages received from now on, in order, as an async iterator (one per node). At most
   * `messaging.inboxCapacity` wait to be read; beyond, the senders' substreams stop being read.
   */
  messages(): AsyncIterable<InboundMessage> {
    this.#assertRunning();
    this.#inbox ??= new Inbox(this.config.messaging.inboxCapacity);
    const inbox = this.#inbox;
    return { [Symbol.asyncIterator]: () => inbox[Symbol.asyncIterator]() };
  }

  /** Closes the connection to a peer (gracefully), if there is one. */
  disconnect(peer: PeerKey): void {
    this.#assertRunning();
    this.#cm!.send({ type: 'connection-manager.disconnect', publicKey: keyOf(peer) });
  }

  /** The active connections, one per peer. */
  connections(): ConnectionInfo[] {
    if (!this.#cm) return [];
    return [...this.#cm.getSnapshot().context.connections.values()].map(infoOf);
  }

  /** Records a peer and where to reach it (source `config`). */
  async addPeer(peer: PeerKey, addresses: string[]): Promise<void> {
    this.#assertRunning();
    const publicKey = keyOf(peer);
    await this.#peers!.add({ publicKey, nodeId: nodeIdOf(publicKey), addresses: addresses.map((address) => ({ address, source: 'config' as const })) });
  }

  /**
   * Serves `protocol` on substreams peers open. It is advertised in the identity exchanged on
   * every connection made from now on.
   */
  registerProtocol(protocol: string, handler: ProtocolHandler): this {
    this.protocols.register(protocol, handler);
    return this;
  }

  /** Resolves when the node has at least `minConnectivity` connections. */
  waitForConnectivity(timeoutMs = 30_000): Promise<void> {
    this.#assertRunning();
    return waitForConnectivity(this.#connectivity!, timeoutMs);
  }

  /** Claims recorded in this run (public key hex -> signature hex), so a reconnecting peer's unchanged claim is not written again. */
  readonly #recorded = new BoundedMap<string, string>(4096);

  #recordSighting(sighting: PeerSighting): Promise<unknown> {
    const key = toHex(sighting.publicKey);
    const signature = sighting.claim ? toHex(sighting.claim.signature) : '';
    if (signature !== '' && this.#recorded.get(key) === signature) return Promise.resolve();
    this.#recorded.set(key, signature);
    return this.#peers!.add(sighting).catch((err: unknown) => {
      this.#recorded.delete(key);
      throw err;
    });
  }

  #connectionTo(publicKey: PublicKey): PeerConnection | undefined {
    return this.#cm?.getSnapshot().context.connections.get(toHex(publicKey));
  }

  #assertRunning(): void {
    if (this.#state !== 'running') throw new NodeNotRunning(`the node is ${this.#state}`);
  }

  #fatal(what: string, err: unknown): void {
    // An actor crashed (a bug, not bad input): report it as an error event, never crash the process.
    if (this.listenerCount('error') > 0) this.emit('error', new Error(`${what} failed`, { cause: err }));
    else console.error(`tcomms: ${what} failed:`, err);
  }

  #upgradeConfig(): UpgradeConfig {
    const c = this.config;
    const provider = cryptoProvider(c.crypto.provider);
    const channel = new NoiseSecureChannel({
      staticKeys: noiseStaticKeys(c.identity, provider),
      pattern: c.pattern,
      networkByte: c.networkByte,
      provider,
      policy: c.crypto.policy,
      recvTimeoutMs: c.timeouts.handshakeRecvMs,
      ...(this.#pool ? { executor: this.#pool } : {}),
    });
    this.#claimedAt = BigInt(Math.floor(Date.now() / 1000));
    return {
      identity: c.identity,
      channel,
      identityContent: () => ({
        addresses: this.#claimedAddressBytes(),
        features: c.features,
        supportedProtocols: this.protocols.ids(),
        userAgent: c.userAgent,
        updatedAt: this.#claimedAt,
      }),
      allowMemoryAddresses: c.allowMemoryAddresses,
      timeToFirstByteMs: c.timeouts.timeToFirstByteMs,
      identityTimeoutMs: c.timeouts.identityMs,
      maxEarlyStreams: c.limits.maxEarlyStreams,
      yamux: {
        maxInboundStreams: c.limits.maxInboundStreams,
        closeGraceMs: c.timeouts.closeGraceMs,
        keepaliveIntervalMs: 0, // the peer-connection actor runs the keepalive
      },
    };
  }

  /** The binary form of {@link #claimedAddresses}, parsed again only when the listeners change (every upgrade asks). */
  #claimedAddressBytes(): Uint8Array[] {
    const cached = this.#claimBytes;
    if (cached?.listening === this.#listening) return cached.bytes;
    const bytes = this.#claimedAddresses().map((a) => addressToBytes(parseAddress(a, { allowMemory: true })));
    this.#claimBytes = { listening: this.#listening, bytes };
    return bytes;
  }

  /** The addresses claimed: the configured public ones, else the bound ones a peer can dial. */
  #claimedAddresses(): string[] {
    if (this.config.publicAddresses) return this.config.publicAddresses;
    const out: string[] = [];
    for (const a of this.#listening) {
      try {
        parseAddress(a, { allowMemory: true });
        out.push(String(a));
      } catch {
        // an unspecified address (0.0.0.0, ::) is not dialable: not claimed
      }
    }
    return out.slice(0, 5);
  }

  #whenListening(cm: ConnectionManagerActor, endpoints: number): Promise<Multiaddr[]> {
    if (endpoints === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError('the listeners did not open within 30 s')), 30_000);
      const ok = cm.on('connection-manager.listening', (e) => {
        clearTimeout(timer);
        ok.unsubscribe();
        resolve(e.addresses);
      });
      const failed = cm.on('connection-manager.listen-failed', (e) => {
        clearTimeout(timer);
        ok.unsubscribe();
        failed.unsubscribe();
        reject(new NodeStartFailed(e.error));
      });
    });
  }
}

function infoOf(connection: PeerConnection): ConnectionInfo {
  const p = connection.peer;
  return { publicKey: p.publicKey, nodeId: p.nodeId, direction: connection.direction, userAgent: p.userAgent, supportedProtocols: p.supportedProtocols, connection };
}
