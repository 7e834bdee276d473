/**
 * Where the DHT delivers DOMAIN messages for this node (the last stage of the inbound pipeline):
 * handlers by application message type, and one async iterator whose queue is bounded in
 * messages and in payload bytes. While it is full, delivery waits, the messaging substream is
 * not read (the body waiting is charged to the connection's memory budget), and yamux flow
 * control slows the sender down.
 */
import type { PublicKey } from '../../core/keys.js';

/** A DOMAIN message delivered to this node. */
export interface DhtMessage {
  /** The signer, or the sealed origin; undefined when anonymous. */
  readonly origin: PublicKey | undefined;
  /** The header's destination; undefined when empty (a message for nobody in particular). */
  readonly destination: PublicKey | undefined;
  /** `DomainMessage.message_type` (application-defined). */
  readonly type: number;
  /** `DomainMessage.payload`. */
  readonly payload: Uint8Array;
  /** It came sealed for this node (9.3). */
  readonly encrypted: boolean;
  /** It was delivered late: kept for this node by a store-and-forward peer while it was away (9.7). */
  readonly late: boolean;
  /** When that peer stored it (unix seconds, the storing node's clock); undefined unless `late`. */
  readonly storedAt: number | undefined;
}

/** A handler of delivered messages. */
export type DhtHandler = (message: DhtMessage) => void;

/** Handlers by message type, and the bounded queue behind `messages()`. */
export class DhtDelivery {
  readonly #handlers = new Map<number | 'any', Set<DhtHandler>>();
  readonly #items: DhtMessage[] = [];
  #space: Array<() => void> = [];
  #readers: Array<(r: IteratorResult<DhtMessage>) => void> = [];
  #iterating = false;
  #closed = false;
  #bytes = 0;

  constructor(
    readonly capacity: number,
    /** Payload bytes queued at most (one message above it is queued alone). */
    readonly maxBytes: number = Number.POSITIVE_INFINITY,
  ) {}

  /** Payload bytes queued, unread. */
  get queuedBytes(): number {
    return this.#bytes;
  }

  #full(next: number): boolean {
    return this.#items.length >= this.capacity || (this.#items.length > 0 && this.#bytes + next > this.maxBytes);
  }

  /** Calls `handler` for each delivered message of `type` (`'any'`: all); returns the unsubscribe. */
  on(type: number | 'any', handler: DhtHandler): () => void {
    let set = this.#handlers.get(type);
    if (!set) this.#handlers.set(type, (set = new Set()));
    set.add(handler);
    return () => void set.delete(handler);
  }

  /** Hands a message to its handlers and, once `iterate()` was called, queues it (waits while full). */
  async deliver(message: DhtMessage, onHandlerError: (err: unknown) => void): Promise<void> {
    for (const key of [message.type, 'any'] as const) {
      for (const h of this.#handlers.get(key) ?? []) {
        try {
          h(message);
        } catch (err) {
          onHandlerError(err);
        }
      }
    }
    if (!this.#iterating || this.#closed) return;
    const reader = this.#readers.shift();
    if (reader) return reader({ value: message, done: false });
    while (this.#full(message.payload.length) && !this.#closed) await new Promise<void>((resolve) => this.#space.push(resolve));
    if (this.#closed) return;
    this.#items.push(message);
    this.#bytes += message.payload.length;
  }

  /** Ends iteration; what is queued is dropped. */
  close(): void {
    this.#closed = true;
    this.#items.length = 0;
    this.#bytes = 0;
    for (const r of this.#readers.splice(0)) r({ value: undefined, done: true });
    for (const s of this.#space.splice(0)) s();
  }

  /** The messages delivered from now on (one iterator per node). */
  iterate(): AsyncIterable<DhtMessage> {
    this.#iterating = true;
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          const item = this.#items.shift();
          if (item) {
            this.#bytes -= item.payload.length;
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
      }),
    };
  }
}
