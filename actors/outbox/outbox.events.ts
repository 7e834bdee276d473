/**
 * A peer's outbox: the messages accepted for one peer, written in order on one messaging
 * substream (PROTOCOL.md section 6), each settled as written or failed.
 */
import type { Duplex } from 'node:stream';
import type { PlainError } from '../../core/errors.js';

/** One accepted message (the body is not copied: it is the caller's buffer). */
export interface OutboxMessage {
  requestId: string;
  body: Uint8Array;
}

/** Everything an outbox receives. */
export type OutboxEvent =
  | { type: 'outbox.enqueue'; message: OutboxMessage }
  // from the opener and the writer
  | { type: 'outbox.opened'; stream: Duplex }
  | { type: 'outbox.open-failed'; error: PlainError }
  | { type: 'outbox.written'; requestId: string }
  | { type: 'outbox.lost'; error: PlainError | undefined };

/** What an outbox tells its parent (the messaging actor). */
export type OutboxReport =
  | { type: 'outbox.settled'; requestId: string; ok: true }
  | { type: 'outbox.settled'; requestId: string; ok: false; error: PlainError }
  | { type: 'outbox.idle'; key: string };

/** What the writer receives. */
export type WriterEvent = { type: 'write'; message: OutboxMessage };
