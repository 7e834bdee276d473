/**
 * Where the DHT delivers DOMAIN messages for this node (the last stage of the inbound pipeline):
 * handlers by application message type, and one bounded async iterator. While the iterator's
 * queue is full, delivery waits, the messaging substream is not read, and yamux flow control
 * slows the sender down.
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

  constructor(readonly capacity: number) {}

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
    while (this.#items.length >= this.capacity && !this.#closed) await new Promise<void>((resolve) => this.#space.push(resolve));
    if (!this.#closed) this.#items.push(message);
  }

  /** Ends iteration; what is queued is dropped. */
  close(): void {
    this.#closed = true;
    this.#items.length = 0;
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
