/**
 * A peer's outbox: control of the one messaging substream to that peer (PROTOCOL.md section 6).
 * Messages themselves never pass through the mailbox: they wait in the peer's `OutboxQueue`.
 */
import type { Duplex } from 'node:stream';
import type { PlainError } from '../../core/errors.js';

/** Everything an outbox receives. */
export type OutboxEvent =
  /** The queue has messages (sent when it stops being empty). */
  | { type: 'outbox.wake' }
  /** From the owner: end this outbox (it is idle and empty, or messaging is stopping). */
  | { type: 'outbox.stop' }
  // from the opener and the writer
  | { type: 'outbox.opened'; stream: Duplex }
  | { type: 'outbox.open-failed'; error: PlainError }
  /** The writer completed a write on this substream (sent once per substream). */
  | { type: 'outbox.flowing' }
  | { type: 'outbox.lost'; error: PlainError | undefined };

/** What an outbox tells its owner (the messaging actor). */
export type OutboxReport = { type: 'outbox.idle'; key: string };
