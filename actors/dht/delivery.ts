/**
 * Where the DHT delivers DOMAIN messages for this node (the last stage of the inbound pipeline):
 * handlers by application message type, and one async iterator whose queue is bounded in
 * messages and in payload bytes. While it is full, delivery waits, the messaging substream is
 * not read (the body waiting is charged to the connection's memory budget), and yamux flow
 * control slows the sender down.
 */
import { BoundedInbox } from '../../core/bounded-inbox.js';
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
  readonly #queue: BoundedInbox<DhtMessage>;
  #iterating = false;

  constructor(
    readonly capacity: number,
    /** Payload bytes queued at most (one message above it is queued alone). */
    readonly maxBytes: number = Number.POSITIVE_INFINITY,
  ) {
    this.#queue = new BoundedInbox<DhtMessage>(capacity, maxBytes, (m) => m.payload.length);
  }

  /** Payload bytes queued, unread. */
  get queuedBytes(): number {
    return this.#queue.bytes;
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
    if (this.#iterating) await this.#queue.push(message);
  }

  /** Ends iteration; what is queued is dropped. */
  close(): void {
    this.#queue.close();
  }

  /** The messages delivered from now on (one iterator per node). */
  iterate(): AsyncIterable<DhtMessage> {
    this.#iterating = true;
    return { [Symbol.asyncIterator]: () => this.#queue[Symbol.asyncIterator]() };
  }
}
