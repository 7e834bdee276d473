/**
 * The dedup cache of PROTOCOL.md 9.4: the keys of messages seen, so that each is processed once.
 *
 * Two parts. Keys of messages *addressed to this node* (a destination equal to its key: sealed
 * for it, or cleartext for it) are *pinned* until their `expires`, so a replay within a message's
 * validity is never delivered twice. Every other key (broadcasts, forwards) is kept in
 * least-recently-seen order: the least recently seen is evicted only while the cache holds more
 * than `capacity` keys and it is unseen for `minAgeMs` (9.4), so a burst cannot flush a key that
 * is still circulating. Above `maxKeys` (a hard bound on memory, reached only under a flood of
 * distinct messages) the least recently seen goes whatever its age.
 *
 * Pins cannot be used to deny delivery to others: a pin is never refused. Each pin is charged to
 * the peer that sent it and, when known, to its origin; one peer or one origin holds at most
 * `maxPinnedPerOwner` pins (beyond, its oldest pin is *demoted*), and when `maxPinned` are held
 * the oldest pin of the peer holding the most is demoted. A demoted key moves to the
 * least-recently-seen part as seen now, so it still stops replays for at least `minAgeMs`
 * (unless a flood of more than `maxKeys` distinct messages pushes it out).
 *
 * Keys are 32 bytes, kept as 32-character latin1 strings (a Map key). Times are milliseconds.
 */

/** Bounds of a {@link DedupCache}. */
export interface DedupCacheInit {
  /** Evict only above this many keys (9.4: 2,500). */
  capacity: number;
  /** ... and only keys unseen for this long (9.4: 10 min). */
  minAgeMs: number;
  /** Hard bound on the unpinned keys. */
  maxKeys: number;
  /** Pinned keys at most. */
  maxPinned: number;
  /** Pinned keys charged to one sending peer, or to one origin, at most. */
  maxPinnedPerOwner: number;
}

/** Whom a pin is charged to: the sending peer, and the origin when known (hex keys). */
export interface PinOwners {
  readonly peer: string;
  readonly origin?: string | undefined;
}

/** What the cache has done, for statistics. */
export interface DedupCounters {
  /** Evicted by the 9.4 rule. */
  evicted: number;
  /** Evicted by the hard bound, younger than the minimum age. */
  forced: number;
  /** Pinned keys released at their expiry. */
  expired: number;
  /** Pins demoted to the least-recently-seen part before their expiry (an owner over its share, or the pins full). */
  demoted: number;
}

const keyOf = (key: Uint8Array) => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');

/** Pinned keys are swept for expiry once per this many pins. */
const SWEEP_EVERY = 1024;

interface Pin {
  readonly until: number;
  readonly peer: string;
  readonly origin: string | undefined;
}

/**
 * Keys charged to owners, oldest first, and the owner holding the most, in O(1): owners are kept
 * in buckets by how many keys they hold.
 */
class Shares {
  readonly #keys = new Map<string, { readonly owner: string; readonly keys: Set<string> }>();
  readonly #bySize = new Map<number, Set<string>>();
  #largest = 0;

  count(owner: string): number {
    return this.#keys.get(owner)?.keys.size ?? 0;
  }

  /** Charges `key` to `owner`; returns the owner string kept (one per owner, so pins share it). */
  add(owner: string, key: string): string {
    let entry = this.#keys.get(owner);
    if (!entry) this.#keys.set(owner, (entry = { owner, keys: new Set() }));
    this.#move(entry.owner, entry.keys.size, entry.keys.size + 1);
    entry.keys.add(key);
    return entry.owner;
  }

  remove(owner: string, key: string): void {
    const keys = this.#keys.get(owner)?.keys;
    if (!keys?.delete(key)) return;
    this.#move(owner, keys.size + 1, keys.size);
    if (keys.size === 0) this.#keys.delete(owner);
  }

  /** The key `owner` was charged first, of those it holds. */
  oldest(owner: string): string | undefined {
    return this.#keys.get(owner)?.keys.values().next().value;
  }

  /** An owner holding the most keys. */
  largest(): string | undefined {
    while (this.#largest > 0 && !this.#bySize.get(this.#largest)?.size) this.#largest--;
    return this.#largest > 0 ? this.#bySize.get(this.#largest)!.values().next().value : undefined;
  }

  #move(owner: string, from: number, to: number): void {
    if (from > 0) {
      const bucket = this.#bySize.get(from)!;
      bucket.delete(owner);
      if (bucket.size === 0) this.#bySize.delete(from);
    }
    if (to > 0) {
      let bucket = this.#bySize.get(to);
      if (!bucket) this.#bySize.set(to, (bucket = new Set()));
      bucket.add(owner);
      if (to > this.#largest) this.#largest = to;
    }
  }
}

/** The dedup cache (see the module comment). */
export class DedupCache {
  readonly #init: DedupCacheInit;
  /** Unpinned key -> when last seen; Map order is least recently seen first. */
  readonly #recent = new Map<string, number>();
  /** Pinned key -> until when (ms) and whom it is charged to. */
  readonly #pinned = new Map<string, Pin>();
  readonly #peers = new Shares();
  readonly #origins = new Shares();
  #pinsSinceSweep = 0;
  readonly counters: DedupCounters = { evicted: 0, forced: 0, expired: 0, demoted: 0 };

  constructor(init: DedupCacheInit) {
    this.#init = init;
  }

  /** Keys held, pinned ones included. */
  get size(): number {
    return this.#recent.size + this.#pinned.size;
  }

  /** Pinned keys held. */
  get pinnedSize(): number {
    return this.#pinned.size;
  }

  /** Pinned keys charged to the sending peer `peer` (hex). */
  pinnedBy(peer: string): number {
    return this.#peers.count(peer);
  }

  /** Whether `key` is held (a pinned one until its expiry); a held key counts as seen now. */
  seen(key: Uint8Array, nowMs: number): boolean {
    const k = keyOf(key);
    const pin = this.#pinned.get(k);
    if (pin !== undefined) {
      if (pin.until >= nowMs) return true;
      this.#unpin(k, pin);
      this.counters.expired++;
      return false;
    }
    if (!this.#recent.has(k)) return false;
    this.#recent.delete(k);
    this.#recent.set(k, nowMs);
    return true;
  }

  /** Records `key` as seen now (9.4: a message that passed 9.1, or one this node sends). */
  record(key: Uint8Array, nowMs: number): void {
    const k = keyOf(key);
    if (this.#pinned.has(k)) return;
    this.#recent.delete(k);
    this.#recent.set(k, nowMs);
    this.#evict(nowMs);
  }

  /**
   * Keeps `key` until `untilMs` (a message addressed to this node, until its `expires`), charged
   * to `owners`. Never refused: an owner over its share, or the pins full, demotes an older pin.
   */
  pin(key: Uint8Array, untilMs: number, nowMs: number, owners: PinOwners): void {
    const k = keyOf(key);
    const current = this.#pinned.get(k);
    if (current !== undefined) {
      if (untilMs > current.until) this.#pinned.set(k, { ...current, until: untilMs });
      return;
    }
    if (++this.#pinsSinceSweep >= SWEEP_EVERY) this.#sweep(nowMs);
    const { maxPinned, maxPinnedPerOwner } = this.#init;
    if (this.#peers.count(owners.peer) >= maxPinnedPerOwner) this.#demote(this.#peers.oldest(owners.peer), nowMs);
    if (owners.origin !== undefined && this.#origins.count(owners.origin) >= maxPinnedPerOwner) this.#demote(this.#origins.oldest(owners.origin), nowMs);
    if (this.#pinned.size >= maxPinned) {
      const largest = this.#peers.largest();
      if (largest !== undefined) this.#demote(this.#peers.oldest(largest), nowMs);
    }
    this.#recent.delete(k);
    const peer = this.#peers.add(owners.peer, k);
    const origin = owners.origin === undefined ? undefined : this.#origins.add(owners.origin, k);
    this.#pinned.set(k, { until: untilMs, peer, origin });
    this.#evict(nowMs);
  }

  #unpin(k: string, pin: Pin): void {
    this.#pinned.delete(k);
    this.#peers.remove(pin.peer, k);
    if (pin.origin !== undefined) this.#origins.remove(pin.origin, k);
  }

  /** Moves a pinned key to the least-recently-seen part, as seen now. */
  #demote(k: string | undefined, nowMs: number): void {
    if (k === undefined) return;
    const pin = this.#pinned.get(k);
    if (pin === undefined) return;
    this.#unpin(k, pin);
    this.counters.demoted++;
    this.#recent.delete(k);
    this.#recent.set(k, nowMs);
  }

  #evict(nowMs: number): void {
    const { capacity, minAgeMs, maxKeys } = this.#init;
    while (this.size > capacity && this.#recent.size > 0) {
      const [oldest, lastSeen] = this.#recent.entries().next().value as [string, number];
      if (nowMs - lastSeen < minAgeMs) break;
      this.#recent.delete(oldest);
      this.counters.evicted++;
    }
    while (this.#recent.size > maxKeys) {
      this.#recent.delete(this.#recent.keys().next().value as string);
      this.counters.forced++;
    }
  }

  #sweep(nowMs: number): void {
    this.#pinsSinceSweep = 0;
    for (const [k, pin] of this.#pinned) {
      if (pin.until < nowMs) {
        this.#unpin(k, pin);
        this.counters.expired++;
      }
    }
  }
}
