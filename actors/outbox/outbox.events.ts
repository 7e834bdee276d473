/**
 * A peer's outbox: control of the one messaging substream to that peer (PROTOCOL.md section 6).
 * Messages themselves never pass through the mailbox: they wait in the peer's `OutboxQueue`.
 */
import type { PlainError } from '../../core/errors.js';
import type { SubstreamReply } from '../peer-connection/peer-connection.events.js';

/** What the owner (messaging) may send an outbox. */
export type OutboxInbox =
  /** The queue has messages (sent when it stops being empty). */
  | { type: 'outbox.wake' }
  /** End this outbox (it is idle and empty, or messaging is stopping). */
  | { type: 'outbox.stop' };

/** What the writer reports. */
export type WriterReport =
  /** The writer completed a write on this substream (sent once per substream). */
  | { type: 'outbox.flowing' }
  | { type: 'outbox.lost'; error: PlainError | undefined };

/** Everything an outbox receives: the owner's commands, the substream the connection manager opened, the writer's reports. */
export type OutboxEvent = OutboxInbox | SubstreamReply | WriterReport;

/** What an outbox tells its owner (the messaging actor). */
export type OutboxReport = { type: 'outbox.idle'; key: string } | { type: 'outbox.ended'; key: string };
