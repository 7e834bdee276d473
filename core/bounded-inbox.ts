/**
 * A queue of received items read through one async iterator, bounded in items and in bytes:
 * `push` waits while it is full (one item of any size is taken when it is empty), so a producer
 * reading from a peer stops reading, and flow control slows the peer down.
 */
export class BoundedInbox<T> {
  readonly #items: T[] = [];
  readonly #sizeOf: (item: T) => number;
  #bytes = 0;
  #space: Array<() => void> = [];
  #readers: Array<(r: IteratorResult<T>) => void> = [];
  #closed = false;

  /** At most `capacity` items and `maxBytes` bytes (as `sizeOf` counts them) wait. */
  constructor(
    readonly capacity: number,
    readonly maxBytes: number,
    sizeOf: (item: T) => number,
  ) {
    this.#sizeOf = sizeOf;
  }

  /** Items waiting. */
  get size(): number {
    return this.#items.length;
  }

  /** Bytes of the items waiting. */
  get bytes(): number {
    return this.#bytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #full(next: number): boolean {
    return this.#items.length >= this.capacity || (this.#items.length > 0 && this.#bytes + next > this.maxBytes);
  }

  /**
   * Adds an item now if it can be taken without waiting (a reader waits for one, or there is
   * room, or the inbox is closed and drops it): true; false when it is full (nothing was done).
   */
  offer(item: T): boolean {
    if (this.#closed) return true;
    const reader = this.#readers.shift();
    if (reader) {
      reader({ value: item, done: false });
      return true;
    }
    const size = this.#sizeOf(item);
    if (this.#full(size)) return false;
    this.#items.push(item);
    this.#bytes += size;
    return true;
  }

  /** Adds an item; resolves once a reader has it or it is queued (waits while full). Dropped after close. */
  async push(item: T): Promise<void> {
    if (this.#closed) return;
    const reader = this.#readers.shift();
    if (reader) return reader({ value: item, done: false });
    const size = this.#sizeOf(item);
    while (this.#full(size) && !this.#closed) await new Promise<void>((resolve) => this.#space.push(resolve));
    if (this.#closed) return;
    this.#items.push(item);
    this.#bytes += size;
  }

  /** Ends iteration; queued items are dropped and waiting pushes return. */
  close(): void {
    this.#closed = true;
    this.#items.length = 0;
    this.#bytes = 0;
    for (const r of this.#readers.splice(0)) r({ value: undefined, done: true });
    for (const s of this.#space.splice(0)) s();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.#items.shift();
        if (item !== undefined) {
          this.#bytes -= this.#sizeOf(item);
          this.#space.shift()?.();
          return Promise.resolve({ value: item, done: false });
        }
        if (this.#closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#readers.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
