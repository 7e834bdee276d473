/**
 * The dedup cache of PROTOCOL.md 9.4: the keys of messages seen, so that each is processed once.
 *
 * Two parts. Keys of messages delivered to this node are *pinned* until their `expires`, so a
 * replay within a message's validity is never delivered twice; when {@link maxPinned} are
 * pinned, {@link pin} refuses (the caller drops the delivery rather than risk a second one).
 * The other keys are kept in least-recently-seen order: the least recently seen is evicted only
 * while the cache holds more than `capacity` keys and it is unseen for `minAgeMs` (9.4), so a
 * burst cannot flush a key that is still circulating. Above `maxKeys` (a hard bound on memory,
 * reached only under a flood of distinct messages) the least recently seen goes whatever its age.
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
}

/** What the cache has done, for statistics. */
export interface DedupCounters {
  /** Evicted by the 9.4 rule. */
  evicted: number;
  /** Evicted by the hard bound, younger than the minimum age. */
  forced: number;
  /** Pinned keys released at their expiry. */
  expired: number;
  /** Pins refused because `maxPinned` keys were pinned. */
  pinRefused: number;
}

const keyOf = (key: Uint8Array) => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');

/** Pinned keys are swept for expiry once per this many pins (and whenever the pins are full). */
const SWEEP_EVERY = 1024;

/** The dedup cache (see the module comment). */
export class DedupCache {
  readonly #init: DedupCacheInit;
  /** Unpinned key -> when last seen; Map order is least recently seen first. */
  readonly #recent = new Map<string, number>();
  /** Pinned key -> until when (ms). */
  readonly #pinned = new Map<string, number>();
  #pinsSinceSweep = 0;
  readonly counters: DedupCounters = { evicted: 0, forced: 0, expired: 0, pinRefused: 0 };

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

  /** Whether `key` is held (a pinned one until its expiry); a held key counts as seen now. */
  seen(key: Uint8Array, nowMs: number): boolean {
    const k = keyOf(key);
    const until = this.#pinned.get(k);
    if (until !== undefined) {
      if (until >= nowMs) return true;
      this.#pinned.delete(k);
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
   * Keeps `key` until `untilMs` (a message delivered to this node, until its `expires`).
   * False, and nothing kept, when `maxPinned` keys are pinned and none has expired.
   */
  pin(key: Uint8Array, untilMs: number, nowMs: number): boolean {
    const k = keyOf(key);
    const current = this.#pinned.get(k);
    if (current !== undefined) {
      if (untilMs > current) this.#pinned.set(k, untilMs);
      return true;
    }
    if (++this.#pinsSinceSweep >= SWEEP_EVERY || this.#pinned.size >= this.#init.maxPinned) this.#sweep(nowMs);
    if (this.#pinned.size >= this.#init.maxPinned) {
      this.counters.pinRefused++;
      return false;
    }
    this.#recent.delete(k);
    this.#pinned.set(k, untilMs);
    this.#evict(nowMs);
    return true;
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
    for (const [k, until] of this.#pinned) {
      if (until < nowMs) {
        this.#pinned.delete(k);
        this.counters.expired++;
      }
    }
  }
}
