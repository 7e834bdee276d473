/**
 * The bounded queue behind every listener's async iterator: inbound connections wait here until
 * the node takes them. A full queue drops (destroys) the newest connection, so a flood of
 * connects cannot grow memory while the node is busy.
 */
import type { TransportConnection } from './transport.js';

/** A listener's bounded backlog of accepted connections, as an async iterator. */
export class InboundQueue implements AsyncIterable<TransportConnection> {
  readonly #items: TransportConnection[] = [];
  readonly #waiters: Array<(r: IteratorResult<TransportConnection>) => void> = [];
  #closed = false;
  dropped = 0;

  constructor(readonly capacity: number) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** Hands a connection to a waiting consumer or queues it; returns false when dropped. */
  push(connection: TransportConnection): boolean {
    if (this.#closed || (this.#waiters.length === 0 && this.#items.length >= this.capacity)) {
      this.dropped++;
      connection.stream.on('error', () => {});
      connection.stream.destroy();
      return false;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ value: connection, done: false });
    else this.#items.push(connection);
    return true;
  }

  /** Ends iteration and destroys connections nobody took. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#items.splice(0)) {
      c.stream.on('error', () => {});
      c.stream.destroy();
    }
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<TransportConnection> {
    return {
      next: () => {
        const item = this.#items.shift();
        if (item) return Promise.resolve({ value: item, done: false });
        if (this.#closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }
}
