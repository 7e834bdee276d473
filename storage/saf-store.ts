/**
 * The store-and-forward message store contract (PROTOCOL.md 9.7): sealed envelopes kept for a
 * destination until it asks for them, bounded in count and bytes, in total and per sending peer.
 * Two implementations pass one compliance suite (`spec/compliance/saf-store.ts`):
 * {@link LmdbSafStore} (a node's data directory) and {@link MemorySafStore} (tests, memorynet).
 *
 * The store decides nothing of 9.7's routing (which messages to store, whom to serve): the DHT
 * actor does, and passes what the store cannot know: its clock, whether the destination is in
 * the peer store, the sending peer. Times are unix seconds; they are taken as `number` or
 * `bigint` (header fields and the wire's `since` are u64) and kept as safe integers, a u64 above
 * 2^53 - 1 counting as that (far beyond any clock).
 *
 * Each write (put, remove, expire) is atomic: one LMDB transaction.
 */
import { ConfigError, InternalError } from '../core/errors.js';
import { NODE_ID_LENGTH } from '../core/keys.js';
import {
  MAX_SAF_ENVELOPE_BYTES,
  SAF_DEFAULT_MAX_BYTES,
  SAF_DEFAULT_MAX_MESSAGES,
  SAF_DEFAULT_PER_PEER_SHARE,
  SAF_KNOWN_DESTINATION_SECONDS,
  SAF_REQUEST_LIMIT,
  SAF_SINCE_WINDOW_SECONDS,
  SAF_UNKNOWN_DESTINATION_SECONDS,
} from '../protocols/dht/constants.js';
import type { StoredEnvelope } from '../protocols/dht/messages.js';
import { storedMessageBytes } from './saf-size.js';

/** Unix seconds, as a number (an integer) or a u64 from a header or the wire. */
export type UnixSeconds = number | bigint;

/** A stored message's id: unique in its store, never reused, increasing in the order of storing. */
export type SafMessageId = number;

/**
 * A message's priority. 9.7 orders eviction by age alone; the issue asks for priorities too, so
 * the store takes one and, over a bound, evicts the lowest priority first, then the oldest.
 * Which messages deserve {@link SAF_PRIORITY_HIGH} is the DHT actor's choice.
 */
export type SafPriority = 0 | 1;
/** The default priority: evicted by age, before any high-priority message. */
export const SAF_PRIORITY_NORMAL: SafPriority = 0;
/** Evicted only once no normal-priority message is left in the bound's scope. */
export const SAF_PRIORITY_HIGH: SafPriority = 1;

/** Bounds of a store (9.7), checked on every put. */
export interface SafStoreLimits {
  /** Messages in the store at most. */
  maxMessages: number;
  /** Envelope bytes in the store at most. */
  maxBytes: number;
  /** Messages from one sending peer at most. */
  maxMessagesPerPeer: number;
  /** Envelope bytes from one sending peer at most. */
  maxBytesPerPeer: number;
  /** Peers whose `since` (9.7) is remembered at most; beyond, the stalest (smallest) is forgotten. */
  maxCursors: number;
}

/** The bounds of 9.7. */
export const DEFAULT_SAF_LIMITS: Readonly<SafStoreLimits> = Object.freeze({
  // 9.7: 100,000 messages; at the smallest sealed envelope (about 6.1 KB) that is about 0.6 GB.
  maxMessages: SAF_DEFAULT_MAX_MESSAGES,
  // 9.7: 1 GiB of envelopes, what a node offering storage to its neighbours is expected to give.
  maxBytes: SAF_DEFAULT_MAX_BYTES,
  // 9.7: 10% of each total, so that at least ten peers fill the store before anyone is squeezed.
  maxMessagesPerPeer: Math.floor(SAF_DEFAULT_MAX_MESSAGES * SAF_DEFAULT_PER_PEER_SHARE),
  maxBytesPerPeer: Math.floor(SAF_DEFAULT_MAX_BYTES * SAF_DEFAULT_PER_PEER_SHARE),
  // A node asks the store-and-forward nodes it connects to, a few dozen over its life; 10,000
  // cursors (about 1 MB on disk) is far above that, and a forgotten one only means since = 0.
  maxCursors: 10_000,
});

/**
 * The limits to use: `given` over the defaults, a per-peer bound not given being 10% of its
 * total (9.7). Throws a ConfigError when a bound is not a positive integer or a per-peer bound
 * exceeds its total.
 */
export function resolveSafLimits(given: Partial<SafStoreLimits> = {}): SafStoreLimits {
  const maxMessages = given.maxMessages ?? DEFAULT_SAF_LIMITS.maxMessages;
  const maxBytes = given.maxBytes ?? DEFAULT_SAF_LIMITS.maxBytes;
  const limits: SafStoreLimits = {
    maxMessages,
    maxBytes,
    maxMessagesPerPeer: given.maxMessagesPerPeer ?? Math.max(1, Math.floor(maxMessages * SAF_DEFAULT_PER_PEER_SHARE)),
    maxBytesPerPeer: given.maxBytesPerPeer ?? Math.max(1, Math.floor(maxBytes * SAF_DEFAULT_PER_PEER_SHARE)),
    maxCursors: given.maxCursors ?? DEFAULT_SAF_LIMITS.maxCursors,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new ConfigError(`SAF store ${name} must be a positive integer (got ${String(value)})`);
  }
  if (limits.maxMessagesPerPeer > limits.maxMessages) throw new ConfigError('SAF store maxMessagesPerPeer exceeds maxMessages');
  if (limits.maxBytesPerPeer > limits.maxBytes) throw new ConfigError('SAF store maxBytesPerPeer exceeds maxBytes');
  return limits;
}

/** A message to store: a judged `storeCandidate` (9.1) the DHT actor chose to keep (9.7). */
export interface SafMessageInit {
  /** The destination's public key (32 bytes): `header.destination`. */
  destination: Uint8Array;
  /** The encoded `DhtEnvelope`, as received; copied. More than 524,288 bytes is refused. */
  envelope: Uint8Array;
  /** The envelope's `header.expires`. */
  expires: UnixSeconds;
  /** The sending peer's public key (32 bytes): whose per-peer bound the message counts against. */
  sender: Uint8Array;
  /** The dedup key of 9.4 (32 bytes): a message already stored under it is refused. */
  dedupKey: Uint8Array;
  /** The storing node's clock (9.7: never a sender's). */
  storedAt: UnixSeconds;
  /** The destination is in the peer store: kept up to 3 days, else 6 hours (9.7). */
  destinationKnown: boolean;
  /** Default {@link SAF_PRIORITY_NORMAL}. */
  priority?: SafPriority;
}

/** A message the store let go of to make room (eviction). */
export interface SafEvicted {
  readonly id: SafMessageId;
  readonly destination: Uint8Array;
  readonly sender: Uint8Array;
  /** Its envelope's size. */
  readonly bytes: number;
  /** Whose bound it made room under: its sender's, or the store's totals. */
  readonly bound: 'peer' | 'total';
}

/** What a sweep dropped. */
export interface SafDropped {
  readonly count: number;
  readonly bytes: number;
}

/**
 * Why a put stored nothing: the envelope is over 524,288 bytes (`too_large`); a message with
 * its dedup key is stored (`duplicate`); its retention ended before `storedAt` (`expired`); or
 * the bounds cannot hold it without evicting messages that rank above it (`no_room`: of higher
 * priority, or of its priority and no older; nothing was evicted).
 */
export type SafRefusal = 'too_large' | 'duplicate' | 'expired' | 'no_room';

/**
 * The outcome of a put. Before deciding, the put drops every message whose retention ended
 * before `storedAt` (`expired`), so that the bounds never count dead messages.
 */
export type SafPutResult =
  | {
      readonly stored: true;
      readonly id: SafMessageId;
      /** The last second it is kept and served: min(`expires`, `storedAt` + 3 days or 6 h). */
      readonly retainUntil: number;
      /** Evicted to make room, lowest priority then oldest first. */
      readonly evicted: readonly SafEvicted[];
      readonly expired: SafDropped;
    }
  | { readonly stored: false; readonly reason: SafRefusal; readonly expired: SafDropped };

/** What a SAF request asks for (9.7), and what one response may hold. */
export interface SafFetchOptions {
  /** The request's `since`; clamped to [now − 259,200, now]. */
  since: UnixSeconds;
  /** The request's `limit`; 0 or over 50 means 50. */
  limit: number;
  /**
   * Largest encoded `SafStoredMessages` (the response's body). For one messaging frame, see
   * {@link safResponseBodyBudget}. A message that does not fit ends the response there.
   */
  maxBytes: number;
  /** The serving node's clock. */
  now: UnixSeconds;
}

/** One message served: a `StoredMessage` of 9.7 (encode with `encodeSafStoredMessages`) and its id. */
export interface SafServedMessage extends StoredEnvelope {
  readonly id: SafMessageId;
  readonly storedAt: bigint;
  /** The stored envelope (the caller's own copy). */
  readonly envelope: Uint8Array;
}

/** A response's messages for one destination (9.7). */
export interface SafFetchResult {
  /** Oldest first (by `stored_at`, then by order of storing). */
  readonly messages: readonly SafServedMessage[];
  /** Their ids, for {@link SafStore.remove} once the response is written. */
  readonly ids: readonly SafMessageId[];
  /** The exact length of `encodeSafStoredMessages(messages)`. */
  readonly encodedBytes: number;
  /** More messages were eligible than `limit` or `maxBytes` let through. */
  readonly more: boolean;
}

/**
 * A region of the NodeId space: the ids that share their first `prefixBits` bits with `center`,
 * i.e. whose XOR distance to it is below 2^(104 − prefixBits) (a ball of XOR distance is exactly
 * such a prefix). `prefixBits` 0 is the whole space, 104 one NodeId.
 */
export interface SafRegion {
  /** A NodeId (13 bytes). */
  readonly center: Uint8Array;
  /** 0..104. */
  readonly prefixBits: number;
}

/** One message of a region query: a served message and its destination. */
export interface SafRegionMessage extends SafServedMessage {
  /** The destination's public key (the caller's own copy). */
  readonly destination: Uint8Array;
}

/** A region query's messages (the fields of {@link SafFetchResult}). */
export interface SafRegionResult extends Omit<SafFetchResult, 'messages'> {
  /** Oldest first (by `stored_at`, then by order of storing), whatever their destination. */
  readonly messages: readonly SafRegionMessage[];
}

/** A sending peer's share of the store. */
export interface SafUsage {
  readonly count: number;
  readonly bytes: number;
}

/** The store's totals. */
export interface SafStats extends SafUsage {
  /** Sending peers with at least one stored message. */
  readonly senders: number;
}

/** The store-and-forward store contract (LMDB and memory implement it). */
export interface SafStore {
  /** Implementation name (`lmdb`, `memory`). */
  readonly name: string;
  /** The bounds it enforces. */
  readonly limits: Readonly<SafStoreLimits>;
  /** Stores a message, evicting others when over a bound (see {@link SafPutResult}). */
  put(message: SafMessageInit): Promise<SafPutResult>;
  /** The messages to serve `destination` for one request (9.7); changes nothing. */
  messagesFor(destination: Uint8Array, options: SafFetchOptions): Promise<SafFetchResult>;
  /**
   * The messages whose destination's NodeId lies in `region` (the same window, limit and size
   * bound as {@link messagesFor}); changes nothing. It reads every message stored for the region
   * (a bounded store: at most `maxMessages`), so it is for tooling and maintenance, not a
   * per-message path.
   */
  messagesInRegion(region: SafRegion, options: SafFetchOptions): Promise<SafRegionResult>;
  /**
   * Deletes the messages with these ids that are for `destination` (any other id is ignored:
   * a requester can delete only its own); call it once the response is written (9.7).
   */
  remove(destination: Uint8Array, ids: readonly SafMessageId[]): Promise<SafDropped>;
  /**
   * Drops every message whose retention ended before `now` (at most `max`, earliest first, in
   * one transaction: a bound on the time one sweep holds the writer).
   */
  expire(now: UnixSeconds, max?: number): Promise<SafDropped & { readonly more: boolean }>;
  /**
   * The `since` to send `peer` (9.7): the largest `stored_at` it served this node, 0 when none
   * is remembered.
   */
  sinceOf(peer: Uint8Array): Promise<number>;
  /**
   * Remembers that `peer` served messages stored up to `storedAt` (kept only when larger than
   * what is remembered). At most `maxCursors` peers are remembered: beyond, the one with the
   * smallest `since` is forgotten (it only asks that peer for more than it needs).
   */
  noteServed(peer: Uint8Array, storedAt: UnixSeconds): Promise<void>;
  /** Totals. */
  stats(): Promise<SafStats>;
  /** One sending peer's usage (zero when it has nothing stored). */
  usageOf(sender: Uint8Array): Promise<SafUsage>;
  /** Waits for written data to reach the disk (LMDB) and closes. Idempotent. */
  close(): Promise<void>;
}

// --- Helpers both implementations share ------------------------------------------------------

/** A time given to the store, as a safe integer (a u64 beyond 2^53 - 1 counts as that). */
export function toSeconds(value: UnixSeconds, what: string): number {
  if (typeof value === 'bigint') {
    if (value < 0n) throw new InternalError(`SAF store: ${what} is negative`);
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
  }
  if (!Number.isFinite(value) || value < 0) throw new InternalError(`SAF store: ${what} is not a time (${value})`);
  return Math.min(Math.floor(value), Number.MAX_SAFE_INTEGER);
}

/** The last second a message is kept (9.7): min(expires, storedAt + 3 days if known, else + 6 h). */
export function retainUntil(storedAt: number, expires: number, destinationKnown: boolean): number {
  const window = Number(destinationKnown ? SAF_KNOWN_DESTINATION_SECONDS : SAF_UNKNOWN_DESTINATION_SECONDS);
  return Math.min(expires, storedAt + window);
}

/** A put's input, checked and normalised. */
export interface SafNormalised {
  readonly destination: Uint8Array;
  readonly envelope: Uint8Array;
  readonly sender: Uint8Array;
  readonly dedupKey: Uint8Array;
  readonly storedAt: number;
  readonly expires: number;
  readonly retainUntil: number;
  readonly priority: SafPriority;
}

const KEY_LENGTH = 32;

/**
 * Checks the fields the DHT actor guarantees (key lengths, a priority) and normalises the times.
 * A wrong one is a bug of the caller (InternalError); the envelope size is checked by the put.
 */
export function normalisePut(m: SafMessageInit): SafNormalised {
  for (const [name, key] of [['destination', m.destination], ['sender', m.sender], ['dedupKey', m.dedupKey]] as const) {
    if (!(key instanceof Uint8Array) || key.length !== KEY_LENGTH) throw new InternalError(`SAF store: ${name} must be ${KEY_LENGTH} bytes`);
  }
  const priority = m.priority ?? SAF_PRIORITY_NORMAL;
  if (priority !== SAF_PRIORITY_NORMAL && priority !== SAF_PRIORITY_HIGH) throw new InternalError(`SAF store: priority ${String(priority)}`);
  const storedAt = toSeconds(m.storedAt, 'storedAt');
  const expires = toSeconds(m.expires, 'expires');
  return { destination: m.destination, envelope: m.envelope, sender: m.sender, dedupKey: m.dedupKey, storedAt, expires, retainUntil: retainUntil(storedAt, expires, m.destinationKnown), priority };
}

/** Whether an envelope may be stored at all (9.7: at most 524,288 bytes; an empty one is no envelope). */
export function envelopeSizeAllowed(envelope: Uint8Array): boolean {
  return envelope.length > 0 && envelope.length <= MAX_SAF_ENVELOPE_BYTES;
}

/** A request's window (9.7): `since` clamped to [now − 259,200, now], and the limit (0 or over 50: 50). */
export function fetchWindow(options: SafFetchOptions): { since: number; now: number; limit: number; maxBytes: number } {
  const now = toSeconds(options.now, 'now');
  const since = Math.min(Math.max(toSeconds(options.since, 'since'), now - Number(SAF_SINCE_WINDOW_SECONDS)), now);
  const limit = !Number.isInteger(options.limit) || options.limit <= 0 || options.limit > SAF_REQUEST_LIMIT ? SAF_REQUEST_LIMIT : options.limit;
  const maxBytes = Number.isNaN(options.maxBytes) ? 0 : Math.max(0, Math.min(Math.floor(options.maxBytes), Number.MAX_SAFE_INTEGER));
  return { since, now, limit, maxBytes };
}

/** Checks a region (a caller's bug when malformed: InternalError). */
export function checkRegion(region: SafRegion): void {
  if (!(region.center instanceof Uint8Array) || region.center.length !== NODE_ID_LENGTH) throw new InternalError(`SAF store: a region's center must be a NodeId (${NODE_ID_LENGTH} bytes)`);
  if (!Number.isInteger(region.prefixBits) || region.prefixBits < 0 || region.prefixBits > NODE_ID_LENGTH * 8) throw new InternalError(`SAF store: a region's prefixBits must be 0..${NODE_ID_LENGTH * 8}`);
}

/** Whether `nodeId` shares the first `region.prefixBits` bits with `region.center`. */
export function inRegion(nodeId: Uint8Array, region: SafRegion): boolean {
  const full = region.prefixBits >> 3;
  for (let i = 0; i < full; i++) if (nodeId[i] !== region.center[i]) return false;
  const rest = region.prefixBits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((nodeId[full]! ^ region.center[full]!) & mask) === 0;
}

/** What a response can take of its candidates: the first ones (oldest first) within `limit` and `maxBytes`. */
export function takeForResponse<T extends { readonly storedAt: number; readonly bytes: number }>(
  candidates: Iterable<T>,
  window: { readonly limit: number; readonly maxBytes: number },
): { taken: T[]; encodedBytes: number; more: boolean } {
  const taken: T[] = [];
  let encodedBytes = 0;
  for (const c of candidates) {
    const size = storedMessageBytes(c.storedAt, c.bytes);
    // The first that does not fit ends the response: serving a later one would break oldest first.
    if (taken.length >= window.limit || encodedBytes + size > window.maxBytes) return { taken, encodedBytes, more: true };
    taken.push(c);
    encodedBytes += size;
  }
  return { taken, encodedBytes, more: false };
}

/** An expire call's bound: any positive integer, or all. */
export function expireBound(max: number | undefined): number {
  return max === undefined || !Number.isFinite(max) ? Infinity : Math.max(0, Math.floor(max));
}
