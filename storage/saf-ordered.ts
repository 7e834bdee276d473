/**
 * The in-memory SAF store's indexes: a list sorted by (stored_at, id) and a min-heap by
 * (retain_until, id), both with lazy deletion. A message lives in several of them at once; when
 * it goes it is only marked dead, and each structure skips or compacts its dead entries later
 * (amortised O(1) per removal instead of an O(n) splice in a 100,000-entry array).
 */

/** What the structures need of a stored message. */
export interface OrderedEntry {
  readonly id: number;
  readonly storedAt: number;
  readonly retainUntil: number;
  /** False once removed, evicted or expired. */
  live: boolean;
}

const byStoredAt = (a: OrderedEntry, b: OrderedEntry) => a.storedAt - b.storedAt || a.id - b.id;
const byRetention = (a: OrderedEntry, b: OrderedEntry) => a.retainUntil - b.retainUntil || a.id - b.id;

/** Compaction waits for this many dead entries, so that small lists are not rebuilt on every removal. */
const MIN_DEAD_TO_COMPACT = 64;

/** Entries sorted by (stored_at, id); appends are O(1) (clocks mostly move forward), removals lazy. */
export class StoredAtList<E extends OrderedEntry> {
  #items: E[] = [];
  #head = 0;
  #dead = 0;
  /** Live entries. */
  size = 0;

  /** Adds a live entry in order. */
  insert(entry: E): void {
    const items = this.#items;
    const last = items[items.length - 1];
    if (last === undefined || byStoredAt(last, entry) < 0) items.push(entry);
    else items.splice(this.#lowerBound(entry.storedAt, entry.id), 0, entry);
    this.size++;
  }

  /** Notes that one of its entries died (its `live` already false). */
  died(): void {
    this.size--;
    this.#dead++;
    const span = this.#items.length - this.#head;
    if (this.size === 0) {
      this.#items = [];
      this.#head = 0;
      this.#dead = 0;
    } else if (this.#dead >= MIN_DEAD_TO_COMPACT && this.#dead * 2 > span) {
      this.#items = this.#items.slice(this.#head).filter((e) => e.live);
      this.#head = 0;
      this.#dead = 0;
    }
  }

  /** Live entries in order, from the first with (stored_at, id) ≥ (storedAt, id). */
  *from(storedAt = -Infinity, id = -Infinity): Generator<E> {
    const items = this.#items;
    // Dead entries at the front are dropped for good on the way.
    while (this.#head < items.length && !items[this.#head]!.live) {
      this.#head++;
      this.#dead--;
    }
    for (let i = storedAt === -Infinity ? this.#head : this.#lowerBound(storedAt, id); i < items.length; i++) {
      const e = items[i]!;
      if (e.live) yield e;
    }
  }

  #lowerBound(storedAt: number, id: number): number {
    const items = this.#items;
    let lo = this.#head;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = items[mid]!;
      if (e.storedAt < storedAt || (e.storedAt === storedAt && e.id < id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** A binary min-heap by (retain_until, id) with lazy deletion: the expiry index. */
export class RetentionHeap<E extends OrderedEntry> {
  #heap: E[] = [];
  #dead = 0;

  /** Adds a live entry. */
  push(entry: E): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (byRetention(heap[parent]!, entry) <= 0) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  /** Notes that one of its entries died; rebuilds when dead entries outnumber the live ones. */
  died(): void {
    this.#dead++;
    if (this.#dead >= MIN_DEAD_TO_COMPACT && this.#dead * 2 > this.#heap.length) {
      const live = this.#heap.filter((e) => e.live).sort(byRetention); // a sorted array is a heap
      this.#heap = live;
      this.#dead = 0;
    }
  }

  /** The live entry with the earliest retention, or undefined. */
  peek(): E | undefined {
    const heap = this.#heap;
    while (heap.length > 0 && !heap[0]!.live) {
      this.#pop();
      this.#dead--;
    }
    return heap[0];
  }

  /** Removes the entry {@link peek} gave (the caller marks it dead without calling {@link died}). */
  pop(): void {
    this.#pop();
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && byRetention(heap[r]!, heap[l]!) < 0 ? r : l;
      if (byRetention(last, heap[child]!) <= 0) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
