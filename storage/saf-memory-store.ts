/**
 * The in-memory store-and-forward store: the same contract as {@link LmdbSafStore}, for tests
 * and memorynet, where thousands of nodes share one process (an empty store is a few maps).
 * Indexes: by destination and per rank (per sending peer and in total) sorted by stored_at,
 * by retention in a heap, by dedup key in a map; removals are lazy (`saf-ordered.ts`).
 */
import { toHex } from '../core/bytes.js';
import { InternalError } from '../core/errors.js';
import { nodeIdOf } from '../core/keys.js';
import { SafStoreClosed } from './errors.js';
import { planEviction } from './saf-eviction.js';
import { RetentionHeap, StoredAtList, type OrderedEntry } from './saf-ordered.js';
import {
  checkRegion,
  envelopeSizeAllowed,
  inRegion,
  takeForResponse,
  expireBound,
  fetchWindow,
  normalisePut,
  resolveSafLimits,
  toSeconds,
  type SafDropped,
  type SafEvicted,
  type SafFetchOptions,
  type SafFetchResult,
  type SafMessageId,
  type SafMessageInit,
  type SafPriority,
  type SafPutResult,
  type SafRegion,
  type SafRegionResult,
  type SafServedMessage,
  type SafStats,
  type SafStore,
  type SafStoreLimits,
  type SafUsage,
} from './saf-store.js';

interface Entry extends OrderedEntry {
  readonly destination: Uint8Array;
  readonly destinationHex: string;
  readonly sender: Uint8Array;
  readonly senderHex: string;
  readonly dedupHex: string;
  readonly envelope: Uint8Array;
  readonly priority: SafPriority;
  readonly bytes: number;
}

/** One destination's messages, by stored_at, and its NodeId (for region queries). */
interface Destination {
  readonly nodeId: Uint8Array;
  readonly list: StoredAtList<Entry>;
}

/** One sending peer's messages: its usage and its two rank lists (normal, high). */
interface Sender {
  count: number;
  bytes: number;
  readonly ranks: [StoredAtList<Entry>, StoredAtList<Entry>];
}

/** Options of {@link MemorySafStore}. */
export interface MemorySafStoreInit {
  /** Bounds (defaults: 9.7's, see `DEFAULT_SAF_LIMITS`). */
  limits?: Partial<SafStoreLimits>;
}

/** Lowest rank first: every normal-priority message by stored_at, then every high one. */
function* ranked(ranks: readonly [StoredAtList<Entry>, StoredAtList<Entry>]): Generator<Entry> {
  yield* ranks[0].from();
  yield* ranks[1].from();
}

/** The entries still retained at `now` (past their retention but not yet swept: left out). */
function* retained(entries: Iterable<Entry>, now: number): Generator<Entry> {
  for (const e of entries) if (e.retainUntil >= now) yield e;
}

/** The in-memory SAF store; nothing survives the process. */
export class MemorySafStore implements SafStore {
  readonly name = 'memory';
  readonly limits: Readonly<SafStoreLimits>;
  readonly #byId = new Map<SafMessageId, Entry>();
  readonly #byDedup = new Map<string, Entry>();
  readonly #byDestination = new Map<string, Destination>();
  readonly #senders = new Map<string, Sender>();
  readonly #ranks: [StoredAtList<Entry>, StoredAtList<Entry>] = [new StoredAtList(), new StoredAtList()];
  readonly #retention = new RetentionHeap<Entry>();
  /** Peer hex -> the largest stored_at it served (bounded by `maxCursors`). */
  readonly #cursors = new Map<string, number>();
  #bytes = 0;
  #nextId = 1;
  #closed = false;

  constructor(init: MemorySafStoreInit = {}) {
    this.limits = Object.freeze(resolveSafLimits(init.limits));
  }

  #check(): void {
    if (this.#closed) throw new SafStoreClosed();
  }

  async put(message: SafMessageInit): Promise<SafPutResult> {
    this.#check();
    const m = normalisePut(message);
    const expired = this.#expire(m.storedAt, Infinity);
    if (!envelopeSizeAllowed(m.envelope)) return { stored: false, reason: 'too_large', expired };
    if (m.retainUntil < m.storedAt) return { stored: false, reason: 'expired', expired };
    const dedupHex = toHex(m.dedupKey);
    if (this.#byDedup.has(dedupHex)) return { stored: false, reason: 'duplicate', expired };
    const senderHex = toHex(m.sender);
    const sender = this.#senders.get(senderHex);
    const bytes = m.envelope.length;
    const plan = planEviction({
      incoming: { priority: m.priority, storedAt: m.storedAt, bytes },
      limits: this.limits,
      peer: sender ?? { count: 0, bytes: 0 },
      total: { count: this.#byId.size, bytes: this.#bytes },
      peerRanked: sender ? ranked(sender.ranks) : [],
      totalRanked: ranked(this.#ranks),
    });
    if (plan === undefined) return { stored: false, reason: 'no_room', expired };
    const evicted: SafEvicted[] = plan.map(({ message: e, bound }) => {
      this.#drop(e);
      return { id: e.id, destination: e.destination.slice(), sender: e.sender.slice(), bytes: e.bytes, bound };
    });
    const entry: Entry = {
      id: this.#nextId++,
      storedAt: m.storedAt,
      retainUntil: m.retainUntil,
      live: true,
      destination: m.destination.slice(),
      destinationHex: toHex(m.destination),
      sender: m.sender.slice(),
      senderHex,
      dedupHex,
      envelope: m.envelope.slice(),
      priority: m.priority,
      bytes,
    };
    this.#add(entry);
    return { stored: true, id: entry.id, retainUntil: entry.retainUntil, evicted, expired };
  }

  async messagesFor(destination: Uint8Array, options: SafFetchOptions): Promise<SafFetchResult> {
    this.#check();
    const window = fetchWindow(options);
    const list = this.#byDestination.get(toHex(destination))?.list;
    const { taken, encodedBytes, more } = takeForResponse(list ? retained(list.from(window.since), window.now) : [], window);
    const messages: SafServedMessage[] = taken.map((e) => ({ id: e.id, storedAt: BigInt(e.storedAt), envelope: e.envelope.slice() }));
    return { messages, ids: messages.map((m) => m.id), encodedBytes, more };
  }

  async messagesInRegion(region: SafRegion, options: SafFetchOptions): Promise<SafRegionResult> {
    this.#check();
    checkRegion(region);
    const window = fetchWindow(options);
    const candidates: Entry[] = [];
    for (const d of this.#byDestination.values()) {
      if (!inRegion(d.nodeId, region)) continue;
      candidates.push(...retained(d.list.from(window.since), window.now));
    }
    candidates.sort((a, b) => a.storedAt - b.storedAt || a.id - b.id);
    const { taken, encodedBytes, more } = takeForResponse(candidates, window);
    const messages = taken.map((e) => ({ id: e.id, storedAt: BigInt(e.storedAt), envelope: e.envelope.slice(), destination: e.destination.slice() }));
    return { messages, ids: messages.map((m) => m.id), encodedBytes, more };
  }

  async remove(destination: Uint8Array, ids: readonly SafMessageId[]): Promise<SafDropped> {
    this.#check();
    const hex = toHex(destination);
    let count = 0;
    let bytes = 0;
    for (const id of ids) {
      const e = this.#byId.get(id);
      if (e === undefined || e.destinationHex !== hex) continue;
      this.#drop(e);
      count++;
      bytes += e.bytes;
    }
    return { count, bytes };
  }

  async expire(now: number | bigint, max?: number): Promise<SafDropped & { readonly more: boolean }> {
    this.#check();
    const at = toSeconds(now, 'now');
    const dropped = this.#expire(at, expireBound(max));
    const next = this.#retention.peek();
    return { ...dropped, more: next !== undefined && next.retainUntil < at };
  }

  async sinceOf(peer: Uint8Array): Promise<number> {
    this.#check();
    return this.#cursors.get(toHex(peer)) ?? 0;
  }

  async noteServed(peer: Uint8Array, storedAt: number | bigint): Promise<void> {
    this.#check();
    if (peer.length !== 32) throw new InternalError('SAF store: a peer key must be 32 bytes');
    const at = toSeconds(storedAt, 'storedAt');
    const hex = toHex(peer);
    const known = this.#cursors.get(hex);
    if (known !== undefined) {
      if (at > known) this.#cursors.set(hex, at);
      return;
    }
    this.#cursors.set(hex, at);
    if (this.#cursors.size <= this.limits.maxCursors) return;
    // Over the bound (rare: a node meets few SAF peers): the stalest goes, by (since, key).
    let stalest: [string, number] | undefined;
    for (const c of this.#cursors) if (stalest === undefined || c[1] < stalest[1] || (c[1] === stalest[1] && c[0] < stalest[0])) stalest = c;
    this.#cursors.delete(stalest![0]);
  }

  async stats(): Promise<SafStats> {
    this.#check();
    return { count: this.#byId.size, bytes: this.#bytes, senders: this.#senders.size };
  }

  async usageOf(sender: Uint8Array): Promise<SafUsage> {
    this.#check();
    const s = this.#senders.get(toHex(sender));
    return { count: s?.count ?? 0, bytes: s?.bytes ?? 0 };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** Drops up to `max` messages whose retention ended before `now`, earliest first. */
  #expire(now: number, max: number): SafDropped {
    let count = 0;
    let bytes = 0;
    for (let e = this.#retention.peek(); e !== undefined && e.retainUntil < now && count < max; e = this.#retention.peek()) {
      this.#retention.pop();
      this.#drop(e, false);
      count++;
      bytes += e.bytes;
    }
    return { count, bytes };
  }

  #add(e: Entry): void {
    this.#byId.set(e.id, e);
    this.#byDedup.set(e.dedupHex, e);
    let d = this.#byDestination.get(e.destinationHex);
    if (!d) this.#byDestination.set(e.destinationHex, (d = { nodeId: nodeIdOf(e.destination), list: new StoredAtList() }));
    d.list.insert(e);
    let sender = this.#senders.get(e.senderHex);
    if (!sender) this.#senders.set(e.senderHex, (sender = { count: 0, bytes: 0, ranks: [new StoredAtList(), new StoredAtList()] }));
    sender.count++;
    sender.bytes += e.bytes;
    sender.ranks[e.priority].insert(e);
    this.#ranks[e.priority].insert(e);
    this.#retention.push(e);
    this.#bytes += e.bytes;
  }

  /** Marks `e` dead in every index; `inHeap` is false when the heap already popped it. */
  #drop(e: Entry, inHeap = true): void {
    e.live = false;
    this.#byId.delete(e.id);
    this.#byDedup.delete(e.dedupHex);
    const list = this.#byDestination.get(e.destinationHex)!.list;
    list.died();
    if (list.size === 0) this.#byDestination.delete(e.destinationHex);
    const sender = this.#senders.get(e.senderHex)!;
    sender.count--;
    sender.bytes -= e.bytes;
    sender.ranks[e.priority].died();
    if (sender.count === 0) this.#senders.delete(e.senderHex);
    this.#ranks[e.priority].died();
    if (inHeap) this.#retention.died();
    this.#bytes -= e.bytes;
  }
}
