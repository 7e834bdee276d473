/**
 * The DHT's outbound side (PROTOCOL.md 9.5, 9.6): envelopes built for what this node originates
 * (DOMAIN, JOIN, DISCOVERY, DISCOVERY_RESPONSE) and for what it forwards, the peers chosen by a
 * broadcast strategy, each envelope queued to messaging once per peer. Every envelope this node
 * originates has its dedup key recorded first (9.4), so its echoes are dropped. Forwards send the
 * received bytes unchanged and are bounded by `maxForwardBacklog`, and in rate: at most
 * `maxForwardsPerPeer` to one peer per flood window (below the flood limit, so that peers
 * sending to this node under their own limits cannot make it flood a neighbour and be banned).
 */
import { equals, toHex } from '../../core/bytes.js';
import type { PlainError } from '../../core/errors.js';
import { nodeIdOf, type PublicKey } from '../../core/keys.js';
import {
  createCleartextEnvelope,
  defaultExpiry,
  DhtMessageType,
  encodeDiscoveryMessage,
  encodeDomainMessage,
  encodePeerClaim,
  sealEnvelope,
  type BuiltEnvelope,
  type PeerClaim,
} from '../../protocols/dht/index.js';
import type { Peer } from '../../storage/peer.js';
import type { SendOutcome } from '../outbox/outbox-queue.js';
import { DhtNotRunning, DhtSendFailed } from './errors.js';
import { FloodGuard } from './flood-guard.js';
import { countReason, nowSeconds, plainError, randomBelow, randomU64, type DhtRuntime } from './runtime.js';
import { DEFAULT_CLOSEST, selectConnected, type ConnectedPeer, type DhtStrategy } from './strategies.js';

/** What {@link DhtOutbound.forward} did with an envelope. */
export interface ForwardResult {
  /** Propagate (9.6) selected no peer: none connected closer to the destination, the sender and origin left out. */
  readonly deadEnd: boolean;
  /** Peers it was queued to. */
  readonly queued: number;
}

/** One peer an envelope was queued to, and how its write went. */
export interface DhtPeerWrite {
  readonly publicKey: PublicKey;
  readonly outcome: SendOutcome;
}

/** An envelope queued to peers. */
export interface DhtQueued {
  readonly status: 'queued';
  /** The peers it was queued to (messaging writes each; `written` settles when all have). */
  readonly peers: readonly PublicKey[];
  /** The strategy that chose them. */
  readonly strategy: string;
  /** The envelope's dedup key (9.4). */
  readonly dedupKey: Uint8Array;
  /** Each peer's write, once all have settled (never rejects). */
  readonly written: Promise<DhtPeerWrite[]>;
}

/** A message that was not sent. */
export interface DhtFailed {
  readonly status: 'failed';
  readonly error: PlainError;
}

/** Where `peers` come from for a message to send. */
export interface Destination {
  readonly publicKey: PublicKey;
  readonly hex: string;
}

/** What the outbound side needs from the running node. */
export interface OutboundLinks {
  /** `n` random known, unbanned nodes (Random(n), from the peer store). */
  randomNodes(n: number, exclude: readonly PublicKey[]): Promise<Peer[]>;
  /** This node's current signed claim. */
  claim(): PeerClaim;
}

const failed = (name: string, message: string, kind: PlainError['kind'] = 'config'): DhtFailed => ({ status: 'failed', error: plainError(name, message, kind) });

/** The outbound side (see the module comment). */
export class DhtOutbound {
  #forwarding = 0;
  #answering = 0;
  /** Forwards per receiving peer, in flood windows. */
  readonly #forwardRate: FloodGuard;

  constructor(
    readonly rt: DhtRuntime,
    readonly links: () => OutboundLinks | undefined,
  ) {
    // Never above half this node's own flood limit (the neighbours' is assumed the same).
    const { maxForwardsPerPeer, floodMaxMessages, floodWindowMs } = rt.config;
    this.#forwardRate = new FloodGuard(Math.min(maxForwardsPerPeer, Math.max(1, Math.floor(floodMaxMessages / 2))), floodWindowMs);
  }

  /** Forwards waiting in messaging now. */
  get backlog(): number {
    return this.#forwarding;
  }

  /** Builds a DOMAIN envelope: sealed for `to` (its origin inside when `sign`), or cleartext (signed when `sign`). */
  domainEnvelope(init: { to: Destination | undefined; type: number; payload: Uint8Array; encrypt: boolean; sign: boolean }): BuiltEnvelope {
    const { rt } = this;
    const body = encodeDomainMessage({ messageType: init.type, nonce: randomU64(), payload: init.payload });
    const expires = defaultExpiry(nowSeconds(rt), init.encrypt);
    const messageTag = randomU64();
    if (init.encrypt) {
      return sealEnvelope(rt.provider, { recipient: init.to!.publicKey, messageType: DhtMessageType.DOMAIN, expires, innerBody: body, messageTag, ...(init.sign ? { origin: rt.identity } : {}) });
    }
    return createCleartextEnvelope(rt.provider, {
      messageType: DhtMessageType.DOMAIN,
      ...(init.to ? { destination: init.to.publicKey } : {}),
      expires,
      body,
      messageTag,
      ...(init.sign ? { signer: rt.identity } : {}),
    });
  }

  /**
   * Sends an envelope this node built: its dedup key recorded, the peers chosen by `strategy`
   * (the default for DOMAIN: DirectPublicKey when the destination is connected, else Propagate,
   * else Broadcast), one messaging send per peer.
   */
  async dispatch(built: BuiltEnvelope, to: Destination | undefined, strategy: DhtStrategy | undefined, exclude: readonly PublicKey[] = []): Promise<DhtQueued | DhtFailed> {
    const { rt } = this;
    if (built.envelope.length > rt.maxMessageBytes) return failed('MessageTooLarge', `the envelope is ${built.envelope.length} bytes, above the messaging maximum of ${rt.maxMessageBytes}`);
    const selected = await this.#select(strategy, to, exclude);
    if ('error' in selected) return selected;
    if (selected.peers.length === 0) return failed('NoPeers', `the ${selected.strategy} strategy selected no peer`, 'transport');
    rt.dedup.record(built.dedupKey, rt.now());
    const writes = selected.peers.map(async (publicKey): Promise<DhtPeerWrite> => ({ publicKey, outcome: await rt.messaging.send(publicKey, built.envelope) }));
    rt.stats.sent += selected.peers.length;
    return { status: 'queued', peers: selected.peers, strategy: selected.strategy, dedupKey: built.dedupKey, written: Promise.all(writes) };
  }

  async #select(strategy: DhtStrategy | undefined, to: Destination | undefined, exclude: readonly PublicKey[]): Promise<{ peers: PublicKey[]; strategy: string } | DhtFailed> {
    const { rt } = this;
    const excluded = new Set(exclude.map(toHex));
    const base = { self: rt.identity.nodeId, connected: [...rt.connected.values()], exclude: excluded, random: randomBelow };
    const destination = to ? { hex: to.hex, nodeId: nodeIdOf(to.publicKey) } : undefined;
    const keys = (peers: readonly ConnectedPeer[]) => peers.map((p) => p.publicKey);
    if (strategy === undefined) {
      if (to && rt.connected.has(to.hex) && !excluded.has(to.hex)) return { peers: [to.publicKey], strategy: 'direct' };
      const propagated = selectConnected('propagate', { ...base, destination });
      if (propagated.length > 0) return { peers: keys(propagated), strategy: 'propagate' };
      return { peers: keys(selectConnected('broadcast', base)), strategy: 'broadcast' };
    }
    if (strategy === 'direct') {
      if (!to) return failed('DestinationRequired', 'DirectPublicKey needs a destination');
      return { peers: excluded.has(to.hex) ? [] : [to.publicKey], strategy: 'direct' };
    }
    if (strategy === 'flood' || strategy === 'broadcast' || strategy === 'propagate') return { peers: keys(selectConnected(strategy, { ...base, destination })), strategy };
    if (strategy.kind === 'closest') {
      const target = strategy.target ?? to?.publicKey;
      if (!target) return failed('DestinationRequired', 'ClosestNodes needs a target or a destination');
      return { peers: keys(selectConnected({ kind: 'closest', n: strategy.n ?? DEFAULT_CLOSEST, target: nodeIdOf(target) }, base)), strategy: 'closest' };
    }
    const links = this.links();
    if (!links) return failed('DhtNotRunning', 'the node is not running', 'aborted');
    const found = await links.randomNodes(strategy.n, [...exclude, rt.identity.publicKey]);
    return { peers: found.map((p) => p.publicKey), strategy: 'random' };
  }

  /** JOIN (9.5): this node's signed claim, destination self, to ClosestNodes(self). Resolves with the number of nodes; rejects when none. */
  async sendJoin(): Promise<number> {
    const { rt } = this;
    // The node comes online in the middle of announcing the connection that made it so: the
    // connected-peer table hears of it after connectivity does. Select on the next turn.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const claim = this.#claim();
    const built = createCleartextEnvelope(rt.provider, {
      messageType: DhtMessageType.JOIN,
      destination: rt.identity.publicKey,
      expires: defaultExpiry(nowSeconds(rt), false),
      body: encodePeerClaim(claim),
      signer: rt.identity,
      messageTag: randomU64(),
    });
    return this.#peersOrThrow(await this.dispatch(built, undefined, { kind: 'closest', n: DEFAULT_CLOSEST, target: rt.identity.publicKey }));
  }

  /** DISCOVERY (9.5): sealed for `target`, this node's claim and `nonce` inside, with Broadcast. */
  async sendDiscovery(target: PublicKey, nonce: bigint): Promise<number> {
    const { rt } = this;
    const built = sealEnvelope(rt.provider, {
      recipient: target,
      messageType: DhtMessageType.DISCOVERY,
      expires: defaultExpiry(nowSeconds(rt), true),
      innerBody: encodeDiscoveryMessage({ claim: this.#claim(), nonce }),
      origin: rt.identity,
      messageTag: randomU64(),
    });
    return this.#peersOrThrow(await this.dispatch(built, { publicKey: target, hex: toHex(target) }, 'broadcast'));
  }

  /** DISCOVERY_RESPONSE (9.5): this node's claim and the nonce, signed, DirectPublicKey to `origin` (dialed if need be). */
  async answerDiscovery(origin: PublicKey, nonce: bigint): Promise<DhtQueued | DhtFailed> {
    const { rt } = this;
    if (this.#answering >= rt.config.maxPendingAnswers) {
      rt.stats.dropped++;
      countReason(rt.stats, 'answer_backlog');
      return failed('AnswerBacklog', `${this.#answering} DISCOVERY_RESPONSEs are waiting to be written`, 'transport');
    }
    const built = createCleartextEnvelope(rt.provider, {
      messageType: DhtMessageType.DISCOVERY_RESPONSE,
      destination: origin,
      expires: defaultExpiry(nowSeconds(rt), false),
      body: encodeDiscoveryMessage({ claim: this.#claim(), nonce }),
      signer: rt.identity,
      messageTag: randomU64(),
    });
    this.#answering++;
    const outcome = await this.dispatch(built, { publicKey: origin, hex: toHex(origin) }, 'direct');
    if (outcome.status === 'queued') void outcome.written.then(() => void this.#answering--);
    else this.#answering--;
    return outcome;
  }

  /**
   * Forwards a received envelope unchanged (9.6): Propagate(destination), leaving out the sending
   * peer and the origin when known. Returns whether Propagate selected nobody (this node is a dead
   * end for it) and how many peers it was queued to (fewer than selected when peers were over
   * their rate, none when the forward backlog was full: `forward_rate`, `forward_backlog`).
   */
  forward(envelope: Uint8Array, destination: Uint8Array, from: PublicKey, origin: PublicKey | undefined): ForwardResult {
    const { rt } = this;
    if (this.#forwarding >= rt.config.maxForwardBacklog) {
      rt.stats.forwardDropped++;
      countReason(rt.stats, 'forward_backlog');
      return { deadEnd: false, queued: 0 };
    }
    const exclude = new Set([toHex(from)]);
    if (origin) exclude.add(toHex(origin));
    const hasDestination = destination.length > 0 && !equals(destination, rt.identity.publicKey);
    const peers = selectConnected('propagate', {
      self: rt.identity.nodeId,
      connected: rt.connected.values(),
      exclude,
      destination: hasDestination ? { hex: toHex(destination), nodeId: nodeIdOf(destination) } : undefined,
      random: randomBelow,
    });
    const now = rt.now();
    let queued = 0;
    for (const p of peers) {
      if (this.#forwardRate.count(p.hex, now) !== 'ok') {
        rt.stats.forwardDropped++;
        countReason(rt.stats, 'forward_rate');
        continue;
      }
      queued++;
      this.#forwarding++;
      void rt.messaging.send(p.publicKey, envelope).then(() => void this.#forwarding--);
    }
    rt.stats.forwarded += queued;
    return { deadEnd: peers.length === 0, queued };
  }

  #claim(): PeerClaim {
    const links = this.links();
    if (!links) throw new DhtNotRunning('the node is not running');
    return links.claim();
  }

  #peersOrThrow(outcome: DhtQueued | DhtFailed): number {
    if (outcome.status === 'queued') return outcome.peers.length;
    throw new DhtSendFailed(outcome.error);
  }
}
