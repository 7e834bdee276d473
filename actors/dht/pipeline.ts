/**
 * The DHT's inbound pipeline (PROTOCOL.md 9.1-9.6), in tari_comms_dht's order: each messaging
 * body from a peer goes through
 *
 *   1. sender checks: a peer this pipeline reported for a ban, or one over the flood limit (9.9);
 *   2. decode, expiry, decrypt and validate, dedup lookup: `judgeEnvelope` (9.1, 9.3, 9.4, 9.5),
 *      with a budget of full key checks per sending peer (`maxKeyChecksPerPeer`; beyond, dropped);
 *   3. dedup: the key recorded; keys of messages addressed to this node pinned until `expires`;
 *   4. store: the store-and-forward hook for ENCRYPTED DOMAIN messages for others (9.7);
 *   5. forward: DOMAIN, JOIN and DISCOVERY not for this node, by a node (feature bit 0), with
 *      Propagate(destination), unchanged, the sending peer and any known origin left out (9.6);
 *   6. DHT handlers: JOIN, DISCOVERY and DISCOVERY_RESPONSE become typed events to the DHT actor;
 *   7. the application: DOMAIN messages to handlers and the bounded `messages()` queue.
 *
 * SAF_REQUEST_MESSAGES and SAF_STORED_MESSAGES for this node go to the store-and-forward hooks
 * (`SafHooks`); the envelopes of a SAF response come back through `deliverStored`, which judges
 * each as sent by that peer (9.7) and delivers it marked late, never forwarding or storing it.
 *
 * A data path: no actor per message and no envelope through a mailbox. What changes state goes
 * to the DHT actor as a typed event: a violation (to ban the peer), a claim to store, a
 * discovery to answer or to match. Every input gives a verdict; a bug (a throw) is reported to
 * `onError` and blames no peer.
 */
import { toHex } from '../../core/bytes.js';
import type { PublicKey } from '../../core/keys.js';
import { BoundedMap } from '../../core/bounded-map.js';
import { CLAIM_MAX_SKEW_SECONDS, DhtMessageType, judgeEnvelope, shouldForward, shouldProcess, type DhtAccepted, type DhtJudgement, type DhtVerdict, type SafRequestMessages } from '../../protocols/dht/index.js';
import type { StoredEnvelope } from '../../protocols/dht/messages.js';
import type { Mailbox } from '../mailbox.js';
import type { DhtDelivery } from './delivery.js';
import type { DhtInbox } from './dht.events.js';
import { FloodGuard } from './flood-guard.js';
import type { DhtOutbound } from './outbound.js';
import { countReason, nowSeconds, type DhtRuntime } from './runtime.js';

/** What the pipeline did with one envelope (for tests and tooling: `node.dht.observe`). */
export interface DhtTrace {
  /** The sending peer. */
  readonly from: PublicKey;
  /** The judge's verdict, or `banned` / `flooding` when the sender was refused before it. */
  readonly verdict: DhtVerdict | 'banned' | 'flooding';
  /** Why it was dropped or a violation. */
  readonly reason: string | undefined;
  readonly messageType: number | undefined;
  readonly dedupKey: Uint8Array | undefined;
  /** The signer or sealed origin, as far as this node could tell. */
  readonly origin: PublicKey | undefined;
  /** It was sealed for this node and opened. */
  readonly decrypted: boolean;
  /** Peers it was forwarded to. */
  readonly forwardedTo: number;
}

/** A store-and-forward candidate (9.7): an ENCRYPTED DOMAIN message for another node. */
export interface StoreCandidate {
  readonly envelope: Uint8Array;
  readonly judgement: DhtAccepted;
  readonly from: PublicKey;
  /** This node's forwarding gave it to nobody: this copy goes no further unless it is stored here (not storing it counts as `dead_end`). */
  readonly deadEnd: boolean;
}

/** Sees each store-and-forward candidate. */
export type StoreHook = (candidate: StoreCandidate) => void;

/** Store-and-forward's part of the pipeline (9.7): candidates to store, requests to serve, responses to take. */
export interface SafHooks {
  /** An ENCRYPTED DOMAIN message for another node passed 9.1. */
  readonly store: StoreHook;
  /** A SAF_REQUEST_MESSAGES for this node from `from`. */
  request(from: PublicKey, request: SafRequestMessages): void;
  /** A SAF_STORED_MESSAGES for this node from `from` (its envelopes unjudged yet: `deliverStored`). */
  stored(from: PublicKey, messages: readonly StoredEnvelope[]): Promise<void>;
}

/** What became of one envelope of a SAF response. */
export type StoredVerdict = 'delivered' | 'dropped' | 'violation';

/** What the pipeline needs beside the runtime. */
export interface PipelineLinks {
  readonly outbound: DhtOutbound;
  readonly delivery: DhtDelivery;
  /** The DHT actor, while the node runs. */
  readonly actor: () => Mailbox<DhtInbox> | undefined;
  /** Peers never banned (the connectivity allow-list, hex). */
  readonly allowList: ReadonlySet<string>;
  readonly onStore?: StoreHook | undefined;
  /** Store-and-forward (9.7), when the node runs it. */
  readonly saf?: SafHooks | undefined;
  readonly onError: (err: unknown) => void;
}

/** Reasons that cost a short ban (9.9); every other violation costs the long one. */
const MINOR = new Set(['destination_is_sender', 'flooding']);

/**
 * Local policy: a JOIN is forwarded only while its claim's `updated_at` is at least this much
 * below this node's limit (now + 86,400 s), so that a receiver whose clock is behind this node's
 * by less than the margin does not find the claim invalid and ban this node for forwarding it.
 * The same 10 minutes as the skew allowance of `expires` (9.1).
 */
const FORWARD_CLOCK_MARGIN_SECONDS = 600n;

/** Origins whose JOINs are followed for the rate limit, at most (the oldest forgotten first). */
const JOIN_ORIGINS = 16_384;
/**
 * JOINs with a newer claim than the last one taken that are still taken within an origin's
 * 10-min window (so at most 1 + this per window): enough for a changed address and for an
 * origin whose older JOINs were replayed first, in order, to be heard.
 */
const JOIN_NEWER_PER_WINDOW = 2;

/** Which types a node forwards (9.6). */
const FORWARDED: ReadonlySet<number> = new Set([DhtMessageType.DOMAIN, DhtMessageType.JOIN, DhtMessageType.DISCOVERY]);

/** The inbound pipeline (see the module comment). */
export class DhtPipeline {
  readonly #flood: FloodGuard;
  /** Full key checks per sending peer, in flood windows. */
  readonly #keyChecks: FloodGuard;
  /** Peers reported for a ban (hex -> until, ms), whose messages are dropped at once. */
  readonly #banned = new BoundedMap<string, number>(4_096);
  /** Duplicates per sending peer (9.4). */
  readonly duplicatesByPeer = new BoundedMap<string, number>(4_096);
  readonly #observers = new Set<(t: DhtTrace) => void>();
  /** Per origin (hex): when its window began (ms), the newest claim's `updated_at` taken from a JOIN, and how many newer claims the window took. */
  readonly #joins = new BoundedMap<string, { at: number; updatedAt: bigint; newer: number }>(JOIN_ORIGINS);

  constructor(
    readonly rt: DhtRuntime,
    readonly links: PipelineLinks,
  ) {
    this.#flood = new FloodGuard(rt.config.floodMaxMessages, rt.config.floodWindowMs);
    this.#keyChecks = new FloodGuard(rt.config.maxKeyChecksPerPeer, rt.config.floodWindowMs);
  }

  /** Watches every envelope's outcome; returns the unsubscribe. */
  observe(observer: (t: DhtTrace) => void): () => void {
    this.#observers.add(observer);
    return () => void this.#observers.delete(observer);
  }

  /** Takes one messaging body from `from`; resolves once it is handled (delivery may wait for room). */
  async handle(from: PublicKey, envelope: Uint8Array): Promise<void> {
    const { rt } = this;
    rt.stats.received++;
    const hex = toHex(from);
    const now = rt.now();
    // 1. The sender.
    const bannedUntil = this.#banned.get(hex);
    if (bannedUntil !== undefined) {
      if (bannedUntil > now) return this.#refused(from, 'banned');
      this.#banned.delete(hex);
    }
    const flood = this.#flood.count(hex, now);
    if (flood !== 'ok') {
      if (flood === 'flooding') this.#violation(from, hex, 'flooding', now);
      return this.#refused(from, 'flooding');
    }
    // 2. Decode, expiry, decrypt and validate, dedup lookup.
    let j: DhtJudgement;
    try {
      j = judgeEnvelope(rt.provider, {
        envelope,
        receiver: rt.receiver,
        sendingPeer: from,
        nowSeconds: nowSeconds(rt),
        seen: (key) => rt.dedup.seen(key, now),
        allowMemory: rt.allowMemory,
        keyCheckAllowed: () => this.#keyChecks.count(hex, now) === 'ok',
      });
    } catch (err) {
      this.links.onError(err); // judgeEnvelope never throws: a bug
      return;
    }
    if (j.reason !== undefined) {
      if (j.verdict === 'violation') this.#violation(from, hex, j.reason, now);
      else if (j.reason === 'duplicate') {
        rt.stats.duplicates++;
        this.duplicatesByPeer.set(hex, (this.duplicatesByPeer.get(hex) ?? 0) + 1);
      } else {
        rt.stats.dropped++;
        countReason(rt.stats, j.reason);
      }
      if (j.verdict === 'drop' && j.recordDedupKey && j.dedupKey) rt.dedup.record(j.dedupKey, now);
      return this.#trace(from, j, 0);
    }
    const accepted = j;
    try {
      await this.#accepted(from, hex, envelope, accepted, now);
    } catch (err) {
      this.links.onError(err);
    }
  }

  async #accepted(from: PublicKey, hex: string, envelope: Uint8Array, j: DhtAccepted, now: number): Promise<void> {
    const { rt, links } = this;
    const payload = j.payload;
    const processed = shouldProcess(j);
    // JOINs (9.9: at most one per 10 min per origin): one is taken per origin per window, the
    // others dropped (recorded, so their copies are duplicates), except up to
    // JOIN_NEWER_PER_WINDOW whose claim is newer than the last one taken (a node whose addresses
    // changed; and replayed old JOINs, taken first, must not hold back their origin's current
    // one; a key signs whatever updated_at it likes, so these are counted too); a claim not
    // newer than the last one taken is not stored again.
    let storeJoin = false;
    if (payload?.kind === 'join') {
      const origin = toHex(j.origin!);
      const last = this.#joins.get(origin);
      const inWindow = last !== undefined && now - last.at < rt.config.joinCooldownMs;
      const newer = last !== undefined && payload.claim.updatedAt > last.updatedAt;
      if (inWindow && !(newer && last.newer < JOIN_NEWER_PER_WINDOW)) {
        rt.dedup.record(j.dedupKey, now);
        this.#dropped('join_rate');
        return this.#trace(from, j, 0, 'join_rate');
      }
      storeJoin = last === undefined || newer;
      this.#joins.delete(origin);
      // A newer claim within the window keeps the window (and counts); otherwise a new one starts.
      this.#joins.set(origin, inWindow ? { at: last.at, updatedAt: payload.claim.updatedAt, newer: last.newer + 1 } : { at: now, updatedAt: storeJoin ? payload.claim.updatedAt : last!.updatedAt, newer: 0 });
    }
    // 3. Dedup (9.4): DOMAIN messages and DISCOVERYs addressed to this node are pinned until they
    // expire (charged to the sending peer and the origin, never refused); everything else, broadcasts
    // included, goes in the ordinary least-recently-seen part.
    const forMe = processed && j.forSelf && (payload?.kind === 'domain' || payload?.kind === 'discovery');
    if (forMe) rt.dedup.pin(j.dedupKey, Number(j.header.expires) * 1000 + 999, now, { peer: hex, origin: j.origin === undefined ? undefined : toHex(j.origin) });
    else rt.dedup.record(j.dedupKey, now);
    // 4. Forward (a JOIN only with the clock margin: local policy, see FORWARD_CLOCK_MARGIN_SECONDS).
    let forwardedTo = 0;
    let deadEnd = false;
    if (rt.propagates && shouldForward(j) && FORWARDED.has(j.header.messageType)) {
      if (payload?.kind === 'join' && payload.claim.updatedAt > nowSeconds(rt) + CLAIM_MAX_SKEW_SECONDS - FORWARD_CLOCK_MARGIN_SECONDS) {
        rt.stats.forwardDropped++;
        countReason(rt.stats, 'forward_clock_margin');
      } else {
        ({ queued: forwardedTo, deadEnd } = links.outbound.forward(envelope, j.header.destination, from, j.origin));
      }
    }
    // 5. Store-and-forward candidates (9.7, part 2), told whether this copy went on.
    const storing = j.storeCandidate && links.saf !== undefined;
    if (j.storeCandidate) {
      const candidate = { envelope, judgement: j, from, deadEnd };
      links.onStore?.(candidate);
      links.saf?.store(candidate);
    }
    // A dead end store-and-forward may yet keep is counted there, once it has decided.
    if (deadEnd && !storing) countReason(rt.stats, 'dead_end');
    this.#trace(from, j, forwardedTo);
    if (!processed || payload === undefined) return;
    // 6. DHT handlers: what changes state goes to the DHT actor.
    const actor = links.actor();
    switch (payload.kind) {
      case 'join':
        if (storeJoin) actor?.send({ type: 'dht.join-received', claim: payload.claim, ignored: j.claimIgnored });
        return;
      case 'discovery':
        actor?.send({ type: 'dht.discovery-requested', origin: copyKey(j.origin!), claim: payload.claim, ignored: j.claimIgnored, nonce: payload.nonce });
        return;
      case 'discovery_response':
        actor?.send({ type: 'dht.discovery-response', from: copyKey(from), claim: payload.claim, ignored: j.claimIgnored, nonce: payload.nonce });
        return;
      case 'domain':
        // 7. The application.
        rt.stats.delivered++;
        await links.delivery.deliver(
          {
            origin: j.origin === undefined ? undefined : copyKey(j.origin),
            destination: j.header.destination.length === 0 ? undefined : copyKey(j.header.destination),
            type: payload.message.messageType,
            payload: payload.message.payload,
            encrypted: j.decrypted,
            late: false,
            storedAt: undefined,
          },
          links.onError,
        );
        return;
      case 'saf_request':
        if (links.saf) links.saf.request(copyKey(from), payload.request);
        else this.#dropped('saf_not_offered');
        return;
      case 'saf_stored':
        if (links.saf) await links.saf.stored(copyKey(from), payload.messages);
        else this.#dropped('saf_unsolicited');
        return;
      default:
        return;
    }
  }

  /**
   * One envelope of a SAF response from `from` (9.7): judged as if `from` sent it (it must be an
   * ENCRYPTED DOMAIN for this node, else `from`'s violation, reported), deduplicated, and
   * delivered marked late with the storing node's `storedAt`; never forwarded or stored.
   */
  async deliverStored(from: PublicKey, envelope: Uint8Array, storedAt: bigint): Promise<StoredVerdict> {
    const { rt, links } = this;
    const hex = toHex(from);
    const now = rt.now();
    const j = judgeEnvelope(rt.provider, { envelope, receiver: rt.receiver, sendingPeer: from, nowSeconds: nowSeconds(rt), seen: (key) => rt.dedup.seen(key, now), allowMemory: rt.allowMemory, fromStore: true });
    if (j.reason !== undefined) {
      if (j.verdict === 'violation') this.#violation(from, hex, j.reason, now);
      else if (j.reason === 'duplicate') rt.stats.duplicates++;
      else this.#dropped(j.reason);
      if (j.verdict === 'drop' && j.recordDedupKey && j.dedupKey) rt.dedup.record(j.dedupKey, now);
      this.#trace(from, j, 0);
      return j.verdict === 'violation' ? 'violation' : 'dropped';
    }
    const payload = j.payload;
    if (payload?.kind !== 'domain') return 'dropped'; // the judge admits only DOMAIN from a store
    rt.dedup.pin(j.dedupKey, Number(j.header.expires) * 1000 + 999, now, { peer: hex, origin: j.origin === undefined ? undefined : toHex(j.origin) });
    this.#trace(from, j, 0);
    rt.stats.delivered++;
    await links.delivery.deliver(
      {
        origin: j.origin === undefined ? undefined : copyKey(j.origin),
        destination: copyKey(j.header.destination),
        type: payload.message.messageType,
        payload: payload.message.payload,
        encrypted: true,
        late: true,
        storedAt: storedAt > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(storedAt),
      },
      links.onError,
    );
    return 'delivered';
  }

  /** Reports `from` for a violation found outside the judge (a SAF response breaking 9.7). */
  violation(from: PublicKey, reason: string): void {
    this.#violation(from, toHex(from), reason, this.rt.now());
  }

  #dropped(reason: string): void {
    this.rt.stats.dropped++;
    countReason(this.rt.stats, reason);
  }

  /** Reports the peer to the DHT actor (which has connectivity ban it) and drops its messages meanwhile. */
  #violation(from: PublicKey, hex: string, reason: string, now: number): void {
    const { rt } = this;
    rt.stats.violations++;
    countReason(rt.stats, reason);
    if (this.links.allowList.has(hex)) return;
    const durationMs = MINOR.has(reason) ? rt.config.banMinorMs : rt.config.banInvalidMs;
    this.#banned.set(hex, now + durationMs);
    this.links.actor()?.send({ type: 'dht.violation', publicKey: copyKey(from), reason, durationMs });
  }

  #refused(from: PublicKey, verdict: 'banned' | 'flooding'): void {
    this.rt.stats.dropped++;
    countReason(this.rt.stats, verdict);
    if (this.#observers.size === 0) return;
    const trace: DhtTrace = { from, verdict, reason: verdict, messageType: undefined, dedupKey: undefined, origin: undefined, decrypted: false, forwardedTo: 0 };
    for (const o of this.#observers) o(trace);
  }

  /** Tells the observers what became of `j`; `droppedFor`: the pipeline dropped an accepted one (its reason). */
  #trace(from: PublicKey, j: DhtJudgement, forwardedTo: number, droppedFor?: string): void {
    if (this.#observers.size === 0) return;
    const accepted = j.reason === undefined;
    const trace: DhtTrace = {
      from,
      verdict: droppedFor === undefined ? j.verdict : 'drop',
      reason: droppedFor ?? j.reason,
      messageType: j.header?.messageType,
      dedupKey: j.dedupKey,
      origin: accepted ? j.origin : undefined,
      decrypted: accepted ? j.decrypted : false,
      forwardedTo,
    };
    for (const o of this.#observers) o(trace);
  }
}

/** A key copied out of a received envelope (so it does not keep the envelope alive). */
const copyKey = (key: Uint8Array) => Uint8Array.from(key) as PublicKey;
