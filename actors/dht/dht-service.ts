/**
 * The DHT of one node (PROTOCOL.md section 9), as its embedder uses it (`node.dht`): sending
 * (`send`, `discover`, `join`), receiving (`on`, `messages`), and the data path behind them (the
 * outbound side and the inbound pipeline, which consumes every messaging body while the DHT runs:
 * `middleware`). The DHT actor (systemId `dht`) holds what outlives one message: the JOIN cycle,
 * the discoveries, and the state changes the pipeline reports. The node makes one service per
 * node and attaches it to its components once they run.
 */
import type { ActorRefFrom, Subscription } from 'xstate';
import type { CryptoProvider } from '../../core/crypto/provider.js';
import { equals, toHex } from '../../core/bytes.js';
import { toPlainError } from '../../core/errors.js';
import { publicKeyFromHex, type NodeIdentity, type PublicKey } from '../../core/keys.js';
import { createPeerClaim, dhtReceiver, type PeerClaim } from '../../protocols/dht/index.js';
import { MAX_USER_AGENT_BYTES, type IdentityContent } from '../../protocols/identity/index.js';
import type { connectionManagerMachine } from '../connection-manager/connection-manager.machine.js';
import type { DiscoveryOutcome } from '../discovery/discovery.events.js';
import type { identityMachine } from '../identity/identity.machine.js';
import type { InboundMiddleware } from '../messaging/messaging.logic.js';
import { PeerManagerClient, type PeerManagerRef } from '../peer-manager/peer-manager.logic.js';
import { ask } from '../request.js';
import { ConnectedPeers } from './connected-peers.js';
import { DedupCache } from './dedup-cache.js';
import { DhtDelivery, type DhtHandler, type DhtMessage } from './delivery.js';
import type { DhtConfig } from './dht-config.js';
import type { DhtEffects, dhtMachine } from './dht.machine.js';
import { DhtOutbound, type DhtFailed, type DhtQueued } from './outbound.js';
import { DhtPipeline, type DhtTrace, type StoreHook } from './pipeline.js';
import { plainError, randomU64, type DhtRuntime, type DhtSender } from './runtime.js';
import { emptyStats, type DhtStats } from './stats.js';
import type { DhtStrategy } from './strategies.js';
import type { SafStore } from '../../storage/saf-store.js';
import type { SafConfig } from '../saf/saf-config.js';
import type { SafRef } from '../saf/saf.logic.js';
import { SafService } from '../saf/saf-service.js';

/** One DOMAIN message to send (`node.dht.send`). */
export interface DhtSendRequest {
  /** The destination (a public key or its hex); none for a message to nobody in particular. */
  to?: PublicKey | string;
  /** `DomainMessage.message_type` (application-defined, default 0). */
  type?: number;
  payload: Uint8Array;
  /** Seal it for `to` (9.3); needs `to`. */
  encrypt?: boolean;
  /** Name the origin: a cleartext signature, or the sealed origin when encrypted. Default: anonymous. */
  sign?: boolean;
  /** How peers are chosen (9.6); default: DirectPublicKey if `to` is connected, else Propagate, else Broadcast. */
  strategy?: DhtStrategy;
  /** Discover `to` first when it is neither connected nor in the peer store. */
  discover?: boolean;
  /** Peers left out of the selection. */
  exclude?: ReadonlyArray<PublicKey>;
}

/** What became of a message: queued to peers, failed, or waiting for a discovery of its destination. */
export type DhtSendOutcome = DhtQueued | DhtFailed | { readonly status: 'pending-discovery'; readonly outcome: Promise<DhtQueued | DhtFailed> };

/** The final outcome of a send (after its discovery, if it needed one). */
export async function settled(outcome: DhtSendOutcome): Promise<DhtQueued | DhtFailed> {
  return outcome.status === 'pending-discovery' ? outcome.outcome : outcome;
}

/** What a node gives its DHT. */
export interface DhtServiceInit {
  config: DhtConfig;
  identity: NodeIdentity;
  provider: CryptoProvider;
  /** The node's feature bits (bit 0: it forwards). */
  features: number;
  allowMemory: boolean;
  maxMessageBytes: number;
  /** The node's messaging sender. */
  messaging: DhtSender;
  /** The node's clock (ms). */
  now: () => number;
  /** Peers never banned. */
  allowList: readonly PublicKey[];
  /** Store-and-forward candidates (9.7), for an embedder's own use (the node's store-and-forward is `saf`). */
  onStore?: StoreHook;
  /** Store-and-forward (9.7): storing (when `saf.store`), serving and requesting; undefined = off. */
  saf?: SafConfig | undefined;
  /** A bug (a handler or the pipeline threw). */
  onError: (err: unknown) => void;
}

/** The running components the DHT works with. */
export interface DhtAttachment {
  dht: ActorRefFrom<typeof dhtMachine>;
  /** The store-and-forward component and its store, when the node runs it. */
  saf?: { actor: SafRef; store: SafStore } | undefined;
  peerManager: PeerManagerRef;
  identity: ActorRefFrom<typeof identityMachine>;
  connectionManager: ActorRefFrom<typeof connectionManagerMachine>;
}

interface Attached extends DhtAttachment {
  peers: PeerManagerClient;
  subscriptions: Subscription[];
}

/** Extra wait for a discovery's answer beyond its own timeout (ms). */
const DISCOVER_SLACK_MS = 5_000;

/** A node's DHT (see the module comment). */
export class DhtService {
  readonly #rt: DhtRuntime;
  readonly #outbound: DhtOutbound;
  readonly #pipeline: DhtPipeline;
  readonly #delivery: DhtDelivery;
  readonly #saf: SafService | undefined;
  #attached: Attached | undefined;
  #stopped = false;
  #claim: { content: IdentityContent; claim: PeerClaim } | undefined;

  constructor(init: DhtServiceInit) {
    const { config } = init;
    this.#rt = {
      config,
      identity: init.identity,
      provider: init.provider,
      receiver: dhtReceiver(init.identity, init.provider),
      now: init.now,
      allowMemory: init.allowMemory,
      propagates: (init.features & 1) !== 0,
      maxMessageBytes: init.maxMessageBytes,
      connected: new ConnectedPeers(),
      dedup: new DedupCache({ capacity: config.dedupCapacity, minAgeMs: config.dedupMinAgeMs, maxKeys: config.dedupMaxKeys, maxPinned: config.maxDeliveredKeys, maxPinnedPerOwner: config.maxDeliveredKeysPerPeer }),
      stats: emptyStats(),
      messaging: init.messaging,
    };
    this.#delivery = new DhtDelivery(config.inboxCapacity, config.inboxMaxBytes);
    this.#outbound = new DhtOutbound(this.#rt, () => {
      const a = this.#attached;
      if (!a) return undefined;
      return {
        randomNodes: (n, exclude) => a.peers.random(n, { features: 1, exclude: [...exclude] }),
        claim: () => this.#currentClaim(a),
      };
    });
    this.#saf = init.saf ? new SafService(this.#rt, init.saf, () => this.#pipeline) : undefined;
    this.#pipeline = new DhtPipeline(this.#rt, {
      outbound: this.#outbound,
      delivery: this.#delivery,
      actor: () => this.#attached?.dht,
      allowList: new Set(init.allowList.map(toHex)),
      onStore: init.onStore,
      saf: this.#saf,
      onError: init.onError,
    });
  }

  /** The counters since start. */
  get stats(): Readonly<DhtStats> {
    return this.#rt.stats;
  }

  /** Store-and-forward (9.7): its counters and effects; undefined when the node does not run it. */
  get saf(): SafService | undefined {
    return this.#saf;
  }

  /** Keys in the dedup cache (9.4), and how many are pinned until their expiry. */
  get dedup(): { size: number; pinned: number } {
    return { size: this.#rt.dedup.size, pinned: this.#rt.dedup.pinnedSize };
  }

  /** Forwards waiting in messaging now (bounded by `maxForwardBacklog`). */
  get forwardBacklog(): number {
    return this.#outbound.backlog;
  }

  /** Copies of already-seen messages received from `peer` (9.4). */
  duplicatesFrom(peer: PublicKey): number {
    return this.#pipeline.duplicatesByPeer.get(toHex(peer)) ?? 0;
  }

  /**
   * The inbound messaging middleware: every messaging body is a DHT envelope (PROTOCOL.md 9),
   * taken by the pipeline and not passed on (`node.on('message')` sees none).
   */
  readonly middleware: InboundMiddleware = async (message) => {
    if (!this.#stopped) await this.#pipeline.handle(message.from, message.body);
    return undefined;
  };

  /** What the DHT actor's effects do (its input). */
  readonly effects: DhtEffects = {
    sendJoin: () => this.#outbound.sendJoin(),
    sendDiscovery: (target, nonce) => this.#outbound.sendDiscovery(target, nonce),
    answerDiscovery: (origin, nonce) => void this.#outbound.answerDiscovery(origin, nonce).catch(() => undefined),
    newNonce: randomU64,
  };

  /** Binds the service to the running components: connections are followed, the actor is told what the pipeline finds. */
  attach(a: DhtAttachment): void {
    const cm = a.connectionManager;
    for (const c of cm.getSnapshot().context.connections.values()) this.#rt.connected.add(c);
    const subscriptions = [
      cm.on('peer.connected', (e) => this.#rt.connected.add(e.connection)),
      // The peer's flood window outlives the connection: a reconnect does not start a new one (9.9).
      cm.on('peer.disconnected', (e) => this.#rt.connected.remove(e.publicKey)),
    ];
    this.#attached = { ...a, peers: new PeerManagerClient(a.peerManager), subscriptions };
    if (a.saf) this.#saf?.attach({ store: a.saf.store, saf: a.saf.actor, peers: this.#attached.peers });
  }

  /** Stops taking messages: sends fail, the iterator ends. */
  stop(): void {
    this.#stopped = true;
    this.#saf?.stop();
    this.#delivery.close();
    for (const s of this.#attached?.subscriptions ?? []) s.unsubscribe();
    this.#attached = undefined;
    this.#rt.connected.clear();
  }

  /**
   * Sends one DOMAIN message (9.5, 9.6). Resolves with `queued` (the peers it went to, and a
   * promise of their writes), `failed` with a typed reason, or `pending-discovery` when `to`
   * had to be discovered first (its `outcome` is the final one). Never rejects.
   */
  async send(request: DhtSendRequest): Promise<DhtSendOutcome> {
    const a = this.#attached;
    if (this.#stopped || !a) return { status: 'failed', error: plainError('DhtNotRunning', 'the DHT is not running', 'aborted') };
    let to: PublicKey | undefined;
    try {
      to = typeof request.to === 'string' ? publicKeyFromHex(request.to) : request.to;
    } catch (err) {
      return { status: 'failed', error: toPlainError(err) };
    }
    if (to && equals(to, this.#rt.identity.publicKey)) return { status: 'failed', error: plainError('SendToSelf', 'a node does not send DHT messages to itself', 'config') };
    if (request.encrypt && !to) return { status: 'failed', error: plainError('DestinationRequired', 'an encrypted message needs a destination', 'config') };
    const destination = to ? { publicKey: to, hex: toHex(to) } : undefined;
    const dispatch = async (): Promise<DhtQueued | DhtFailed> => {
      try {
        const built = this.#outbound.domainEnvelope({ to: destination, type: request.type ?? 0, payload: request.payload, encrypt: request.encrypt === true, sign: request.sign === true });
        return await this.#outbound.dispatch(built, destination, request.strategy, request.exclude);
      } catch (err) {
        return { status: 'failed', error: toPlainError(err) };
      }
    };
    if (request.discover && destination && !this.#rt.connected.has(destination.hex) && !(await this.#known(a, destination.publicKey))) {
      const outcome = this.discover(destination.publicKey).then((d): Promise<DhtQueued | DhtFailed> | DhtFailed => (d.ok ? dispatch() : { status: 'failed', error: d.error }));
      return { status: 'pending-discovery', outcome };
    }
    return dispatch();
  }

  /** Discovers `publicKey` (9.5): resolves with its claim, or the reason it was not found. Never rejects. */
  async discover(peer: PublicKey | string): Promise<DiscoveryOutcome> {
    const a = this.#attached;
    if (this.#stopped || !a) return { ok: false, error: plainError('DhtNotRunning', 'the DHT is not running', 'aborted') };
    try {
      const publicKey = typeof peer === 'string' ? publicKeyFromHex(peer) : peer;
      if (equals(publicKey, this.#rt.identity.publicKey)) return { ok: false, error: plainError('SendToSelf', 'a node does not discover itself', 'config') };
      const reply = await ask(a.dht).reply('dht.discovery-result', (requestId) => ({ type: 'dht.discover', requestId, publicKey }), this.#rt.config.discoveryTimeoutMs + DISCOVER_SLACK_MS);
      return reply.outcome;
    } catch (err) {
      return { ok: false, error: toPlainError(err) };
    }
  }

  /** Sends a JOIN now (at most one per cool-down; see the DHT actor). */
  join(): void {
    this.#attached?.dht.send({ type: 'dht.join' });
  }

  /** Calls `handler` for each DOMAIN message delivered to this node of application type `type` (`'any'`: all). Returns the unsubscribe. */
  on(type: number | 'any', handler: DhtHandler): () => void {
    return this.#delivery.on(type, handler);
  }

  /** The DOMAIN messages delivered from now on, as an async iterator (at most `inboxCapacity` unread; beyond, the senders wait). */
  messages(): AsyncIterable<DhtMessage> {
    return this.#delivery.iterate();
  }

  /** Watches what the pipeline does with each envelope (tests, tooling). Returns the unsubscribe. */
  observe(observer: (trace: DhtTrace) => void): () => void {
    return this.#pipeline.observe(observer);
  }

  async #known(a: Attached, publicKey: PublicKey): Promise<boolean> {
    try {
      const peer = await a.peers.find({ publicKey });
      return peer !== undefined && peer.addresses.length > 0;
    } catch {
      return false;
    }
  }

  /** This node's claim (9.5), signed again only when the identity actor's claim changed. */
  #currentClaim(a: Attached): PeerClaim {
    const content = a.identity.getSnapshot().context.claim.content;
    if (this.#claim?.content !== content) {
      const userAgent = Buffer.byteLength(content.userAgent) <= MAX_USER_AGENT_BYTES ? content.userAgent : '';
      this.#claim = { content, claim: createPeerClaim(this.#rt.identity, { addresses: content.addresses, features: content.features, userAgent, updatedAt: content.updatedAt }) };
    }
    return this.#claim.claim;
  }
}
