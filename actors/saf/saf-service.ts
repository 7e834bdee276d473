/**
 * Store-and-forward on the DHT's data path (PROTOCOL.md 9.7): the pipeline's hooks (`SafHooks`)
 * and the effects of the `saf` component and its requests. Made by the DHT service when the node
 * runs store-and-forward, attached to the store and the running components at start.
 *
 * - Storing (a node with feature bit 1): an ENCRYPTED DOMAIN message for another node whose
 *   destination is nearer to this node than its 8th nearest known node (or it knows fewer than 8)
 *   is kept, `stored_at` = this node's clock, retained 3 days when the destination is in the peer
 *   store (high priority) else 6 h (normal priority), up to `expires`.
 * - Serving: a SAF_REQUEST_MESSAGES from a peer gets one SAF_STORED_MESSAGES with its messages
 *   (`since` clamped, oldest first, within `limit` and one messaging frame); once written, exactly
 *   those are deleted, for that requester only. Nodes without bit 1 drop requests.
 * - Receiving: a SAF_STORED_MESSAGES is taken only while this node's request to that peer is in
 *   flight (its `safRequest` actor is tagged `in-flight`); otherwise it is dropped and reported.
 *   More messages than asked is the peer's violation; each envelope is judged as sent by that peer
 *   and delivered marked late (`DhtMessage.late`, `storedAt`), never forwarded or stored; the
 *   largest `stored_at` is the peer's next `since`.
 */
import type { ActorRefFrom } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { compareDistance, distance, nodeIdOf, type NodeDistance, type PublicKey } from '../../core/keys.js';
import {
  createCleartextEnvelope,
  defaultExpiry,
  DhtMessageType,
  encodeSafRequest,
  encodeSafStoredMessages,
  MAX_SAF_ENVELOPE_BYTES,
  SAF_NEAREST_NODES,
  SAF_RESPONSE_MAX_BYTES,
  type SafRequestMessages,
  type StoredEnvelope,
} from '../../protocols/dht/index.js';
import { varintLength } from '../../protocols/dht/varint.js';
import { safResponseBodyBudget } from '../../storage/saf-size.js';
import { SAF_PRIORITY_HIGH, SAF_PRIORITY_NORMAL, type SafStore } from '../../storage/saf-store.js';
import type { PeerManagerClient } from '../peer-manager/peer-manager.logic.js';
import type { SafHooks, StoreCandidate, StoredVerdict } from '../dht/pipeline.js';
import { countReason, nowSeconds, randomBelow, randomU64, type DhtRuntime } from '../dht/runtime.js';
import type { SafConfig } from './saf-config.js';
import { SafNotRunning, SafRequestUnwritten } from './errors.js';
import type { SafEffects } from './saf.machine.js';
import { safRequestId } from './saf.machine.js';
import type { SafRef } from './saf.logic.js';
import type { safRequestMachine } from '../saf-request/saf-request.machine.js';

/** A request actor, as the data path looks it up. */
type SafRequestRef = ActorRefFrom<typeof safRequestMachine>;
import { emptySafStats, type SafStats } from './saf-stats.js';

/** What the service needs of the DHT's pipeline. */
export interface SafPipeline {
  /** Judges and delivers one envelope of a SAF response from `from` (9.7). */
  deliverStored(from: PublicKey, envelope: Uint8Array, storedAt: bigint): Promise<StoredVerdict>;
  /** Reports `from` for a violation (a ban, 9.9). */
  violation(from: PublicKey, reason: string): void;
}

/** The running parts the service works with. */
export interface SafAttachment {
  store: SafStore;
  saf: SafRef;
  peers: PeerManagerClient;
}

/** The region of 9.7, as last looked up. */
interface Region {
  /** distance(self, the 8th nearest known node); undefined when fewer than 8 are known (store everything). */
  readonly radius: NodeDistance | undefined;
  readonly at: number;
}

/**
 * `expires` of a request or response: the cleartext default (9.9: now + 3 h) plus up to a day at
 * random. A request's body is only (since, limit) and `message_tag` is not hashed (9.4), so two
 * requests of a node sent in the same second would be one message to the receiver's dedup cache,
 * and the second would go unanswered (seen with a node that reconnected at once); the same holds
 * for two empty responses. The jitter makes them distinct (receivers allow up to 3 days).
 */
function distinctExpiry(now: bigint): bigint {
  return defaultExpiry(now, false) + BigInt(randomBelow(EXPIRY_JITTER_SECONDS));
}

/** Range of the jitter of {@link distinctExpiry}: a day, far below the 3 days receivers allow. */
const EXPIRY_JITTER_SECONDS = 86_400;

/** The header's length in an envelope with an empty body (tag, length varint, header: 9.1's encoding). */
function headerLengthOf(emptyBodyEnvelope: Uint8Array): number {
  const rest = emptyBodyEnvelope.length - 1;
  for (let n = 1; n <= 5; n++) if (varintLength(rest - n) === n) return rest - n;
  return rest;
}

/** Store-and-forward's data path (see the module comment). */
export class SafService implements SafHooks {
  readonly stats: SafStats = emptySafStats();
  #attached: SafAttachment | undefined;
  #region: Region | undefined;
  #regionLookup: Promise<Region> | undefined;
  #storing = 0;
  /** Requesters being served now (hex), each with the request waiting for its turn, if any. */
  readonly #serving = new Map<string, SafRequestMessages | undefined>();
  /** Peers whose response is being taken now (hex): a second one meanwhile is unsolicited. */
  readonly #taking = new Set<string>();

  constructor(
    readonly rt: DhtRuntime,
    readonly config: SafConfig,
    readonly pipeline: () => SafPipeline,
  ) {}

  /** Binds the service to the store and the running components. */
  attach(a: SafAttachment): void {
    this.#attached = a;
  }

  /** Stops taking work (the node is stopping). */
  stop(): void {
    this.#attached = undefined;
  }

  /** The component's effects (its input). */
  readonly effects: SafEffects = {
    loadSince: async (peer) => this.#store().sinceOf(peer),
    sendRequest: (peer, since, limit) => this.#sendRequest(peer, since, limit),
    saveSince: async (peer, storedAt) => this.#store().noteServed(peer, storedAt),
    sweep: async () => {
      const r = await this.#store().expire(nowSeconds(this.rt), this.config.sweepBatch);
      this.stats.expired += r.count;
      return { count: r.count, more: r.more };
    },
  };

  // --- Storing ---------------------------------------------------------------------------------

  /**
   * The pipeline's store hook: keeps the message when this node stores and it lies in its region.
   * A candidate this node forwarded to nobody (`deadEnd`) and does not keep is also counted as
   * `dead_end` (that copy of it is lost here).
   */
  readonly store = (candidate: StoreCandidate): void => {
    const a = this.#attached;
    if (!this.config.store || !a) return void (candidate.deadEnd && countReason(this.rt.stats, 'dead_end'));
    if (candidate.envelope.length > MAX_SAF_ENVELOPE_BYTES) return this.#notStored('too_large', candidate);
    if (this.#storing >= this.config.maxPendingStores) return this.#notStored('store_busy', candidate);
    this.#storing++;
    // The envelope is a view into the messaging body: the store copies what it keeps.
    void this.#put(a, candidate).finally(() => void this.#storing--);
  };

  async #put(a: SafAttachment, c: StoreCandidate): Promise<void> {
    const { rt } = this;
    const destination = Uint8Array.from(c.judgement.header.destination);
    try {
      if (!(await this.#inRegion(a, destination))) return this.#notStored('out_of_region', c);
      const known = await a.peers.find({ publicKey: destination as PublicKey }).then((p) => p !== undefined, () => false);
      const result = await a.store.put({
        destination,
        envelope: c.envelope,
        expires: c.judgement.header.expires,
        sender: c.from,
        dedupKey: c.judgement.dedupKey,
        storedAt: nowSeconds(rt), // 9.7: this node's clock, never a sender's
        destinationKnown: known,
        // A destination in the peer store is a neighbour this node expects back: kept longer, evicted last.
        priority: known ? SAF_PRIORITY_HIGH : SAF_PRIORITY_NORMAL,
      });
      if (!result.stored) return this.#notStored(result.reason, c);
      this.stats.stored++;
      this.stats.evicted += result.evicted.length;
      this.stats.expired += result.expired.count;
    } catch {
      this.#notStored('store_failed', c); // the store failed (disk full, closed while stopping): the message is not kept
    }
  }

  /** 9.7: distance(self, destination) < distance(self, the 8th nearest node it knows), or it knows fewer than 8. */
  async #inRegion(a: SafAttachment, destination: Uint8Array): Promise<boolean> {
    const self = this.rt.identity.nodeId;
    const now = this.rt.now();
    let region = this.#region;
    if (region === undefined || now - region.at >= this.config.regionRefreshMs) {
      this.#regionLookup ??= a.peers
        .closest(self, SAF_NEAREST_NODES, { features: 1, includeOffline: true })
        .then((nodes): Region => {
          const others = nodes.filter((p) => toHex(p.publicKey) !== toHex(this.rt.identity.publicKey));
          return { radius: others.length < SAF_NEAREST_NODES ? undefined : distance(self, others[SAF_NEAREST_NODES - 1]!.nodeId), at: this.rt.now() };
        })
        .finally(() => (this.#regionLookup = undefined));
      region = this.#region = await this.#regionLookup;
    }
    return region.radius === undefined || compareDistance(distance(self, nodeIdOf(destination)), region.radius) < 0;
  }

  #notStored(reason: string, candidate: StoreCandidate): void {
    this.stats.notStored++;
    countReason(this.rt.stats, `saf_${reason}`);
    if (candidate.deadEnd) countReason(this.rt.stats, 'dead_end');
  }

  // --- Serving ---------------------------------------------------------------------------------

  /**
   * A SAF_REQUEST_MESSAGES from `from`: answered when this node stores (9.7), else dropped. One
   * response per requester at a time: a request that comes while its previous one is served (a
   * follow-up round, sent as soon as the response arrived) waits for that one's deletions, so it
   * never gets the same messages again; one waits at most, a later one replaces it.
   */
  request(from: PublicKey, request: SafRequestMessages): void {
    const a = this.#attached;
    const hex = toHex(from);
    if (!this.config.store || !a) return this.#drop('saf_not_offered');
    if (this.#serving.has(hex)) {
      this.#serving.set(hex, request);
      return;
    }
    if (this.#serving.size >= this.config.maxServesInFlight) return this.#drop('saf_serve_busy');
    this.#serving.set(hex, undefined);
    void this.#serveInTurn(a, from, hex, request);
  }

  async #serveInTurn(a: SafAttachment, from: PublicKey, hex: string, first: SafRequestMessages): Promise<void> {
    for (let request: SafRequestMessages | undefined = first; request !== undefined; ) {
      await this.#serve(a, from, request).catch(() => this.#drop('saf_serve_failed'));
      request = this.#serving.get(hex);
      this.#serving.set(hex, undefined);
    }
    this.#serving.delete(hex);
  }

  async #serve(a: SafAttachment, from: PublicKey, request: SafRequestMessages): Promise<void> {
    const { rt } = this;
    const now = nowSeconds(rt);
    const base = { messageType: DhtMessageType.SAF_STORED_MESSAGES, destination: from, expires: distinctExpiry(now), messageTag: randomU64() };
    // The response's header as it will be sent, to fill one messaging frame exactly.
    const headerLength = headerLengthOf(createCleartextEnvelope(rt.provider, { ...base, body: new Uint8Array(0) }).envelope);
    const budget = safResponseBodyBudget(Math.min(SAF_RESPONSE_MAX_BYTES, rt.maxMessageBytes), headerLength);
    if (budget < 0) return this.#drop('saf_serve_failed');
    const fetched = await a.store.messagesFor(from, { since: request.since, limit: request.limit, maxBytes: budget, now });
    const built = createCleartextEnvelope(rt.provider, { ...base, body: encodeSafStoredMessages(fetched.messages) });
    const outcome = await rt.messaging.send(from, built.envelope);
    if (!outcome.ok) return this.#drop('saf_serve_unwritten');
    // Written: exactly those messages go, for this requester only (9.7).
    const removed = await a.store.remove(from, fetched.ids);
    this.stats.requestsServed++;
    this.stats.messagesServed += removed.count;
  }

  // --- Requesting and receiving ------------------------------------------------------------------

  async #sendRequest(peer: PublicKey, since: number, limit: number): Promise<void> {
    const { rt } = this;
    const built = createCleartextEnvelope(rt.provider, {
      messageType: DhtMessageType.SAF_REQUEST_MESSAGES,
      destination: peer,
      expires: distinctExpiry(nowSeconds(rt)),
      body: encodeSafRequest({ since: BigInt(since), limit }),
      messageTag: randomU64(),
    });
    rt.dedup.record(built.dedupKey, rt.now());
    this.stats.requestsSent++;
    const outcome = await rt.messaging.send(peer, built.envelope);
    if (!outcome.ok) throw new SafRequestUnwritten(outcome.error);
  }

  /** The request actor of `peer`, when one is in flight (9.7: the only time its response is taken). */
  #inFlight(peer: PublicKey): SafRequestRef | undefined {
    // The children of `saf` under this id are request actors only (saf.machine.ts spawns them).
    const child = this.#attached?.saf.getSnapshot().children[safRequestId(peer)] as SafRequestRef | undefined;
    const snapshot = child?.getSnapshot();
    return snapshot?.status === 'active' && snapshot.hasTag('in-flight') ? child : undefined;
  }

  /** A SAF_STORED_MESSAGES from `from` (see the module comment). */
  async stored(from: PublicKey, messages: readonly StoredEnvelope[]): Promise<void> {
    const hex = toHex(from);
    const request = this.#inFlight(from);
    if (!request || this.#taking.has(hex)) {
      this.stats.responsesRejected++;
      this.#drop('saf_unsolicited');
      this.#attached?.saf.send({ type: 'saf.response-rejected', publicKey: from, reason: 'no request in flight' });
      return;
    }
    const limit = request.getSnapshot().context.input.limit;
    if (messages.length > limit) {
      this.pipeline().violation(from, 'saf_too_many_messages');
      request.send({ type: 'saf-request.rejected', reason: `${messages.length} messages for a limit of ${limit}` });
      return;
    }
    this.#taking.add(hex);
    try {
      let lastStoredAt: bigint | undefined;
      for (const m of messages) {
        if (lastStoredAt === undefined || m.storedAt > lastStoredAt) lastStoredAt = m.storedAt;
        const verdict = await this.pipeline().deliverStored(from, m.envelope, m.storedAt);
        if (verdict === 'violation') {
          // The pipeline reported the peer; the rest of its response is not looked at.
          request.send({ type: 'saf-request.rejected', reason: 'a stored envelope breaks 9.1 or is not an ENCRYPTED DOMAIN message for this node' });
          return;
        }
        if (verdict === 'delivered') this.stats.deliveredLate++;
      }
      this.stats.responsesTaken++;
      request.send({ type: 'saf-request.answered', messages: messages.length, lastStoredAt });
    } finally {
      this.#taking.delete(hex);
    }
  }

  #drop(reason: string): void {
    this.rt.stats.dropped++;
    countReason(this.rt.stats, reason);
  }

  #store(): SafStore {
    const a = this.#attached;
    if (!a) throw new SafNotRunning('store-and-forward is not running');
    return a.store;
  }
}

