/**
 * A comms node: a thin, typed facade over the node's root actor (`actors/comms-node`), which
 * owns every component in one actor system: peer manager, identity, connectivity, connection
 * manager (one peer-connection actor per connection), dialer (one dial actor per peer being
 * dialed), listener, messaging (one outbox per peer with messages) and, when enabled, the DHT
 * (`node.dht`; one discovery actor per query). Made by `CommsBuilder.build()`.
 */
import { EventEmitter } from 'node:events';
import type { Multiaddr } from '@multiformats/multiaddr';
import { createActor, type InspectionEvent } from 'xstate';
import { TcommsError, TimeoutError, type PlainError } from '../core/errors.js';
import { toHex } from '../core/bytes.js';
import { nodeIdOf, publicKeyFromHex, type NodeId, type PublicKey } from '../core/keys.js';
import { BoundedMap } from '../core/bounded-map.js';
import { ProtocolRegistry, type ProtocolHandler } from '../channels/protocol-registry.js';
import type { PeerConnection } from '../channels/upgrade.js';
import type { YamuxStream } from '../channels/yamux/stream.js';
import { commsNodeLogic, type CommsNodeRef, type NodeComponents } from '../actors/comms-node/index.js';
import { peerConnectionOf } from '../actors/connection-manager/index.js';
import { waitForConnectivity, type ConnectivityStatus } from '../actors/connectivity/index.js';
import type { RejectReason } from '../actors/listener/listener.events.js';
import { Inbox, Messaging, messagingHandler, type InboundMessage, type SendOutcome } from '../actors/messaging/index.js';
import { openSubstreamVia, type PeerConnectionActor } from '../actors/peer-connection/index.js';
import { PeerManagerClient } from '../actors/peer-manager/index.js';
import { ask } from '../actors/request.js';
import { queueBehindBusySessions, rpcClientProxy, type RpcClientCall, type RpcClientOptions } from '../actors/rpc-client/index.js';
import { RpcServiceTable, rpcServiceDefinition, servedRpcService, type ServedRpcService } from '../actors/rpc-server/index.js';
import { DhtNotRunning, DhtService, peerSyncHandlers } from '../actors/dht/index.js';
import { cryptoProvider } from '../core/crypto/index.js';
import { MESSAGING_PROTOCOL } from '../protocols/messaging/index.js';
import type { AnyRpcService, RpcClient, RpcHandlers } from '../protocols/rpc/index.js';
import { NodeInfo } from '../proto/gen/tcomms/info/v1/info_pb.js';
import { PeerSync } from '../proto/gen/tcomms/dht/dht_pb.js';
import type { CommsConfig } from './config.js';
import { nodeInfoHandlers } from './node-info.js';

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
  /** When the connection was kept (the node's clock, ms), if this node saw it arrive. */
  connectedAt: number | undefined;
}

/** Where a node is in its life: its root actor's state. */
export type CommsNodeState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** The node is not running (not started yet, or stopped). */
export class NodeNotRunning extends TcommsError {
  readonly kind = 'config' as const;
}

/** The node could not start (its store, its pool or a listener could not be opened). */
export class NodeStartFailed extends TcommsError {
  /** The cause's kind: `storage` for a store that would not open, `transport` for a listener that would not bind, and so on. */
  readonly kind: PlainError['kind'];
  constructor(readonly error: PlainError) {
    super(`the node could not start: ${error.name}: ${error.message}`);
    this.kind = error.kind;
  }
}

/** A dial through the node failed; `error` is the dial's error (name, message, kind). */
export class ConnectRequestFailed extends TcommsError {
  readonly kind: PlainError['kind'];
  constructor(readonly error: PlainError) {
    super(`${error.name}: ${error.message}`);
    this.kind = error.kind;
  }
}

/** A peer given as a public key or its hex. */
export type PeerKey = PublicKey | string;

/** The clock a node's actors schedule with (XState's clock; a `SimulatedClock` in tests), and its time. */
export interface NodeClock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
  /** Now (ms); without it the node reads the system clock. */
  now?(): number;
}

/** How a node runs besides its configuration: inspection and the clock (see `CommsBuilder`). */
export interface CommsNodeOptions {
  /** Sees the whole actor system from before start: every actor, event and snapshot. */
  inspect?: (event: InspectionEvent) => void;
  clock?: NodeClock;
}

/** Keys given as hex lately, parsed and validated once (a sender names its peer per message). */
const hexKeys = new BoundedMap<string, PublicKey>(1024);

function keyOf(peer: PeerKey): PublicKey {
  if (typeof peer !== 'string') return peer;
  return hexKeys.getOrSet(peer, () => publicKeyFromHex(peer));
}

/** Starting waits this long at most for the store and the listeners (ms). */
const START_TIMEOUT_MS = 30_000;

/** A comms node: start it, dial peers, open substreams, serve protocols, watch its events, stop it. */
export class CommsNode extends EventEmitter<CommsNodeEvents> {
  readonly config: CommsConfig;
  readonly protocols = new ProtocolRegistry();
  /** The RPC services served (each id is also in {@link protocols}). */
  readonly rpcServices = new RpcServiceTable();
  readonly #options: CommsNodeOptions;
  readonly #now: () => number;
  #startedAt: number | undefined;
  /** Public key hex -> when its connection was kept (for NodeInfo's ages). */
  readonly #connectedAt = new Map<string, number>();
  #root: CommsNodeRef | undefined;
  #components: NodeComponents | undefined;
  #peers: PeerManagerClient | undefined;
  readonly #sending: Messaging | undefined;
  #inbox: Inbox | undefined;
  #stopping: Promise<void> | undefined;
  readonly #dht: DhtService | undefined;

  constructor(config: CommsConfig, options: CommsNodeOptions = {}) {
    super();
    this.config = config;
    this.#options = options;
    const clock = options.clock;
    this.#now = clock?.now ? () => clock.now!() : Date.now;
    for (const p of config.protocols) this.protocols.register(p.id, p.handler);
    for (const served of config.rpc.services) this.#serveRpc(served);
    if (config.rpc.nodeInfo) this.#serveRpc(servedRpcService(NodeInfo, nodeInfoHandlers(this)));
    if (config.messaging.enabled) {
      this.#sending = new Messaging({
        maxMessageBytes: config.messaging.maxMessageBytes,
        maxQueued: config.messaging.maxQueued,
        maxQueuedBytes: config.messaging.maxQueuedBytes,
        maxQueuedPerPeer: config.messaging.maxQueuedPerPeer,
        outbound: config.messaging.outbound,
        onError: (err) => this.#fatal('messaging', err),
      });
      const sending = this.#sending;
      // With the DHT, every messaging body is a DHT envelope: its pipeline is the last middleware and takes them all.
      this.#dht = config.dht
        ? new DhtService({
            config: config.dht,
            identity: config.identity,
            provider: cryptoProvider(config.crypto.provider),
            features: config.features,
            allowMemory: config.allowMemoryAddresses,
            maxMessageBytes: config.messaging.maxMessageBytes,
            messaging: { send: (to, body) => sending.send(to, body) },
            now: () => this.#now(),
            allowList: config.connectivity.allowList,
            saf: config.saf,
            onError: (err) => this.#fatal('the DHT', err),
          })
        : undefined;
      // Nodes (feature bit 0) serve peer sync (PROTOCOL.md 9.8) from their peer store.
      if (this.#dht && (config.features & 1) !== 0) this.#serveRpc(servedRpcService(PeerSync, peerSyncHandlers(() => (this.running ? this.peers : undefined))));
      this.protocols.register(
        MESSAGING_PROTOCOL,
        messagingHandler({
          maxMessageBytes: config.messaging.maxMessageBytes,
          middleware: this.#dht ? [...config.messaging.inbound, this.#dht.middleware] : config.messaging.inbound,
          // Synchronous unless the inbox is full: then the substream waits for room.
          deliver: (message) => {
            this.emit('message', message);
            const inbox = this.#inbox;
            return inbox === undefined || inbox.offer(message) ? undefined : inbox.push(message);
          },
          reports: () => this.#components?.messaging,
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
  /** The bound listen addresses (once running). */
  get listenAddresses(): Multiaddr[] {
    return [...(this.#root?.getSnapshot().context.addresses ?? [])];
  }
  /** Where the node is in its life. */
  get state(): CommsNodeState {
    const value = this.#root?.getSnapshot().value;
    if (value === undefined) return 'idle';
    return typeof value === 'string' ? (value as CommsNodeState) : (Object.keys(value)[0] as CommsNodeState);
  }
  get running(): boolean {
    return this.state === 'running';
  }

  /** The root actor (its system holds every actor of the node), once started. */
  get root(): CommsNodeRef | undefined {
    return this.#root;
  }

  /** The node's components, each a typed actor ref (their facts: `ref.on(type, ...)`). */
  get actors(): NodeComponents {
    return this.#running();
  }

  /** The peer manager (promise API over its actor). */
  get peers(): PeerManagerClient {
    const components = this.#running();
    this.#peers ??= new PeerManagerClient(components.peerManager);
    return this.#peers;
  }

  /** The node's clock (ms): the system's, or the one given with `CommsBuilder.withClock`. */
  nowMs(): number {
    return this.#now();
  }

  /** How long the node has run (ms; 0 before it started). */
  get uptimeMs(): number {
    return this.#startedAt === undefined ? 0 : this.#now() - this.#startedAt;
  }

  /**
   * The DHT (PROTOCOL.md section 9): `send`, `discover`, `join`, `on`, `messages`, `stats`.
   * Throws {@link DhtNotRunning} when the node was built without `withDht`.
   */
  get dht(): DhtService {
    if (!this.#dht) throw new DhtNotRunning('the DHT is not enabled on this node (CommsBuilder.withDht)');
    return this.#dht;
  }

  /** Starts the root actor; resolves once every listen address is bound (rejects with {@link NodeStartFailed}). */
  async start(): Promise<void> {
    if (this.#root) throw new NodeNotRunning(`start() on a node that is ${this.state}`);
    const clock = this.#options.clock;
    const now = () => this.#now();
    this.#startedAt = now();
    const root = createActor(commsNodeLogic, {
      id: 'commsNode',
      input: { config: this.config, protocols: this.protocols, rpcServices: this.rpcServices, now, dht: this.#dht },
      ...(this.#options.inspect ? { inspect: this.#options.inspect } : {}),
      ...(clock ? { clock } : {}),
    });
    this.#root = root;
    // An unobserved actor error crashes Node: the root's own failure (a bug) is reported.
    root.subscribe({ error: (err) => this.#fatal('the node', err) });
    root.on('node.components', (e) => this.#follow(e.components));
    root.on('node.component-failed', (e) => this.#fatal(`the ${e.component} component`, new Error(`${e.error.name}: ${e.error.message}`)));
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError(`the node did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      const running = root.on('node.running', () => {
        clearTimeout(timer);
        failed.unsubscribe();
        resolve();
      });
      const failed = root.on('node.failed', (e) => {
        clearTimeout(timer);
        running.unsubscribe();
        reject(new NodeStartFailed(e.error));
      });
    });
    root.start();
    root.send({ type: 'node.start' });
    try {
      await started;
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
    this.emit('listening', this.listenAddresses);
  }

  /**
   * Graceful stop: messages still queued fail, connectivity and messaging stop, every connection
   * closes with GoAway(0) (open substreams get the grace period), the listeners close, then the
   * peer store is flushed and closed. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#sending?.stop();
    this.#dht?.stop();
    this.#inbox?.close();
    const root = this.#root;
    if (!root || root.getSnapshot().status !== 'active') return;
    const c = this.config.timeouts;
    const bound = c.closeGraceMs + 20_000;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, bound);
      root.subscribe({
        complete: () => {
          clearTimeout(timer);
          resolve();
        },
        error: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      root.send({ type: 'node.stop' });
    });
    root.stop();
  }

  /** Connects to a peer (stored addresses in quality order, or `addresses`); resolves with the connection kept. */
  async dial(peer: PeerKey, options: { addresses?: string[]; timeoutMs?: number } = {}): Promise<ConnectionInfo> {
    const { connectionManager } = this.#running();
    const publicKey = keyOf(peer);
    const reply = await ask(connectionManager).reply(
      'connection-manager.reply',
      (requestId) => ({ type: 'connection-manager.dial', requestId, publicKey, ...(options.addresses ? { addresses: options.addresses } : {}) }),
      options.timeoutMs ?? 120_000,
    );
    if (!reply.ok) throw new ConnectRequestFailed(reply.error);
    return infoOf(reply.connection, this.#connectedAt.get(toHex(publicKey)));
  }

  /**
   * Opens a substream to a peer for one of `protocols` (dialing it first when not connected),
   * through the peer-connection actor that owns the connection.
   */
  async openStream(peer: PeerKey, protocols: string[], options: { timeoutMs?: number } = {}): Promise<{ stream: YamuxStream; protocol: string }> {
    const publicKey = keyOf(peer);
    let actor = this.connection(publicKey);
    if (!actor) {
      await this.dial(publicKey, options);
      actor = this.connection(publicKey);
      if (!actor) throw new ConnectRequestFailed({ name: 'ConnectionLost', message: 'the connection ended before a substream could be opened', kind: 'transport' });
    }
    return openSubstreamVia(actor, protocols, options.timeoutMs ?? this.config.timeouts.negotiationMs + 5_000);
  }

  /** The peer-connection actor of the connection to `peer`, if connected (its facts: `substream.inbound`, `peer-connection.rtt`, ...). */
  connection(peer: PeerKey): PeerConnectionActor | undefined {
    const cm = this.#components?.connectionManager;
    return cm ? peerConnectionOf(cm.getSnapshot().context, keyOf(peer)) : undefined;
  }

  /**
   * Sends one message to a peer (queued while it is dialed). Resolves with its outcome: written
   * to the peer's messaging substream, or failed with a typed reason (never rejects).
   */
  send(peer: PeerKey, body: Uint8Array): Promise<SendOutcome> {
    this.#running();
    if (!this.#sending) throw new NodeNotRunning('messaging is disabled on this node');
    return this.#sending.send(keyOf(peer), body);
  }

  /**
   * The messages received from now on, in order, as an async iterator (one per node). At most
   * `messaging.inboxCapacity` wait to be read; beyond, the senders' substreams stop being read.
   */
  messages(): AsyncIterable<InboundMessage> {
    this.#running();
    this.#inbox ??= new Inbox(this.config.messaging.inboxCapacity, this.config.messaging.inboxMaxBytes);
    const inbox = this.#inbox;
    return { [Symbol.asyncIterator]: () => inbox[Symbol.asyncIterator]() };
  }

  /** Closes the connection to a peer (gracefully), if there is one. */
  disconnect(peer: PeerKey): void {
    this.#running().connectionManager.send({ type: 'connection-manager.disconnect', publicKey: keyOf(peer) });
  }

  /** The active connections, one per peer. */
  connections(): ConnectionInfo[] {
    const cm = this.#components?.connectionManager;
    return cm ? [...cm.getSnapshot().context.connections.values()].map((c) => infoOf(c, this.#connectedAt.get(toHex(c.peer.publicKey)))) : [];
  }

  /** Records a peer and where to reach it (source `config`). */
  async addPeer(peer: PeerKey, addresses: string[]): Promise<void> {
    const publicKey = keyOf(peer);
    await this.peers.add({ publicKey, nodeId: nodeIdOf(publicKey), addresses: addresses.map((address) => ({ address, source: 'config' as const })) });
  }

  /**
   * Serves `protocol` on substreams peers open. It is advertised in the identity exchanged on
   * every connection made from now on.
   */
  registerProtocol(protocol: string, handler: ProtocolHandler): this {
    this.protocols.register(protocol, handler);
    this.#components?.identity.send({ type: 'identity.protocols-changed', protocols: this.protocols.ids() });
    return this;
  }

  /**
   * Serves an RPC service from now on (as `CommsBuilder.withRpcService`); its id is advertised
   * in the identity exchanged on every connection made from now on.
   */
  registerRpcService<S extends AnyRpcService>(service: S, handlers: RpcHandlers<S>): this {
    this.#serveRpc(servedRpcService(service, handlers));
    this.#components?.identity.send({ type: 'identity.protocols-changed', protocols: this.protocols.ids() });
    return this;
  }

  /**
   * A typed client of `service` on `peer` (PROTOCOL.md section 8): one function per method, a
   * promise for unary methods, an async iterable for server-streaming ones; each takes
   * `{ signal, deadlineMs }`. Sessions are opened lazily through the node's RPC client pool (up
   * to `rpc.clientSessionsPerPeer` per peer and service; the peer is dialed when need be; one
   * idle for `rpc.clientIdleTimeoutMs`, 30 s, is closed, and the next call opens another).
   * A non-Ok answer rejects with an `RpcError`; transport failures keep their own typed errors.
   *
   * ```ts
   * const info = await node.rpc(peer, NodeInfo);
   * const { uptimeMs } = await info.getInfo({});
   * for await (const c of info.listConnections({ limit: 10 })) console.log(c.address);
   * ```
   */
  async rpc<S extends AnyRpcService>(peer: PeerKey, service: S, options: RpcClientOptions = {}): Promise<RpcClient<S>> {
    this.#running();
    const publicKey = keyOf(peer);
    const definition = rpcServiceDefinition(service);
    const protocol = definition.protocol;
    const dispatch = (call: RpcClientCall) => {
      const pool = this.#components?.rpcClient;
      if (!pool || this.state !== 'running') return call.fail(new NodeNotRunning(`the node is ${this.state}`));
      if (queueBehindBusySessions(pool.getSnapshot(), publicKey, protocol, call)) return;
      pool.send({ type: 'rpc-client.call', publicKey, protocol, call });
    };
    return rpcClientProxy(definition, dispatch, options);
  }

  /** Resolves when the node has at least `minConnectivity` connections. */
  waitForConnectivity(timeoutMs = 30_000): Promise<void> {
    return waitForConnectivity(this.#running().connectivity, timeoutMs);
  }

  /** Serves `served` behind its protocol id: substreams for it go to the RPC server (never their bytes through a mailbox). */
  #serveRpc(served: ServedRpcService): void {
    this.rpcServices.add(served);
    try {
      this.protocols.register(served.definition.protocol, this.#rpcHandler);
    } catch (err) {
      this.rpcServices.remove(served.definition.protocol);
      throw err;
    }
  }

  /** Hands an RPC substream to the RPC server (reset when the node is not running). */
  readonly #rpcHandler: ProtocolHandler = (stream, { protocol, peer }) => {
    const server = this.#components?.rpcServer;
    if (!server || this.state !== 'running') return void stream.destroy();
    server.send({ type: 'rpc-server.accept', stream, protocol, peer: { publicKey: peer.publicKey, nodeId: peer.nodeId } });
  };

  /** The components, while the node runs. */
  #running(): NodeComponents {
    const state = this.state;
    if (state !== 'running' || !this.#components) throw new NodeNotRunning(`the node is ${state}`);
    return this.#components;
  }

  /** Follows the components' facts as the node's events. */
  #follow(components: NodeComponents): void {
    this.#components = components;
    const cm = components.connectionManager;
    cm.on('peer.connected', (e) => this.#connectedAt.set(toHex(e.publicKey), this.#now()));
    cm.on('peer.disconnected', (e) => this.#connectedAt.delete(toHex(e.publicKey)));
    cm.on('peer.connected', (e) =>
      this.emit('peer.connected', { publicKey: e.publicKey, nodeId: e.connection.peer.nodeId, direction: e.direction, userAgent: e.connection.peer.userAgent }),
    );
    cm.on('peer.disconnected', (e) => this.emit('peer.disconnected', { publicKey: e.publicKey, error: e.error }));
    cm.on('peer.connect-failed', (e) => this.emit('peer.connect-failed', { publicKey: e.publicKey, error: e.error }));
    cm.on('peer.violation', (e) => this.emit('peer.violation', { publicKey: e.publicKey, error: e.error }));
    cm.on('connection.rejected', (e) => this.emit('connection.rejected', { reason: e.reason, remoteAddress: e.remoteAddress, error: e.error }));
    cm.on('connection-manager.child-failed', (e) => this.#fatal(e.child, new Error(`${e.error.name}: ${e.error.message}`)));
    components.rpcServer.on('rpc-server.session-crashed', (e) => this.#fatal('an rpc session', new Error(`${e.error.name}: ${e.error.message}`)));
    components.rpcClient.on('rpc-client.session-crashed', (e) => this.#fatal('an rpc client session', new Error(`${e.error.name}: ${e.error.message}`)));
    components.connectivity.on('connectivity.status', (e) => this.emit('connectivity.status', { status: e.status, connections: e.connections }));
    components.connectivity.on('peer.banned', (e) => this.emit('peer.banned', { publicKey: e.publicKey, durationMs: e.durationMs, reason: e.reason }));
    if (components.messaging) {
      this.#sending?.attach(components.messaging);
      components.messaging.on('message.truncated', (e) => this.emit('message.truncated', { from: e.from, lostBytes: e.lostBytes }));
    }
    if (components.dht) {
      const safStore = this.#root?.getSnapshot().context.resources?.saf;
      const saf = components.saf && safStore ? { actor: components.saf, store: safStore } : undefined;
      this.#dht?.attach({ dht: components.dht, peerManager: components.peerManager, identity: components.identity, connectionManager: components.connectionManager, saf });
    }
  }

  #fatal(what: string, err: unknown): void {
    // An actor crashed (a bug, not bad input): report it as an error event, never crash the process.
    if (this.listenerCount('error') > 0) this.emit('error', new Error(`${what} failed`, { cause: err }));
    else console.error(`tcomms: ${what} failed:`, err);
  }
}

function infoOf(connection: PeerConnection, connectedAt: number | undefined): ConnectionInfo {
  const p = connection.peer;
  return { publicKey: p.publicKey, nodeId: p.nodeId, direction: connection.direction, userAgent: p.userAgent, supportedProtocols: p.supportedProtocols, connection, connectedAt };
}
