/**
 * A peer's queue of accepted messages: the data path of messaging, outside the mailboxes
 * (STYLE.md: mailboxes carry control events only). The sender pushes, the outbox's writer takes
 * in order, and every message is settled exactly once: written, or failed with a reason.
 */
import type { PlainError } from '../../core/errors.js';

/** The outcome of one message. */
export type SendOutcome = { ok: true } | { ok: false; error: PlainError };

/** One accepted message and how to tell its sender. */
export interface QueuedMessage {
  body: Uint8Array;
  settle(outcome: SendOutcome): void;
}

/** A FIFO with O(1) push and take; `onPush` wakes whoever writes. */
export class OutboxQueue {
  #items: Array<QueuedMessage | undefined> = [];
  #head = 0;
  #listener: (() => void) | undefined;

  constructor(readonly max: number) {}

  /** Messages accepted and not yet taken by a writer. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Adds a message; false when the queue is full (the caller fails it at once). */
  push(message: QueuedMessage): boolean {
    if (this.length >= this.max) return false;
    this.#items.push(message);
    this.#listener?.();
    return true;
  }

  /** Takes the oldest message. */
  take(): QueuedMessage | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const m = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return m;
  }

  /** Puts messages back at the front, in order (a writer's unwritten ones when its substream was lost). */
  unshift(messages: QueuedMessage[]): void {
    if (messages.length === 0) return;
    this.#items = [...messages, ...this.#items.slice(this.#head)];
    this.#head = 0;
  }

  /** Fails every queued message with `error`. */
  fail(error: PlainError): void {
    for (let m = this.take(); m; m = this.take()) m.settle({ ok: false, error });
  }

  /** True while a writer takes from this queue (pushes then need no wake-up event). */
  get hasWriter(): boolean {
    return this.#listener !== undefined;
  }

  /** Called on every push (the writer's wake-up); one listener at a time. */
  onPush(listener: (() => void) | undefined): void {
    this.#listener = listener;
  }
}
