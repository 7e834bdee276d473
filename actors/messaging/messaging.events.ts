/**
 * The messaging actor's mailbox (PROTOCOL.md section 6): control only. Messages wait in the
 * peers' `OutboxQueue`s; the actor runs one outbox per peer that has messages, ends idle ones,
 * and hears what the inbound side reports.
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { OutboxQueue } from '../outbox/outbox-queue.js';
import type { OutboxReport } from '../outbox/outbox.events.js';

/** What other actors (and the node's sending side) may send the messaging actor. */
export type MessagingInbox =
  /** A peer's queue stopped being empty: make sure its outbox runs. */
  | { type: 'messaging.wake'; publicKey: PublicKey; queue: OutboxQueue }
  /** From the inbound handler: the peer sent an oversized frame (its substream was reset). */
  | { type: 'messaging.violation'; publicKey: PublicKey; error: PlainError }
  /** From the inbound handler: a substream ended mid-frame; that partial message is lost. */
  | { type: 'messaging.truncated'; publicKey: PublicKey; lostBytes: number }
  /** Ends every outbox, then this actor. */
  | { type: 'messaging.stop' };

/** What the outbox host reports: the outbox of peer `key` crashed (a bug). `hosted`: it was still that peer's running outbox. */
export type OutboxCrashed = { type: 'outbox.crashed'; key: string; hosted: boolean; error: PlainError };

/** Everything the messaging actor receives. */
export type MessagingEvent = MessagingInbox | OutboxReport | OutboxCrashed;

/** What the messaging actor emits. */
export type MessagingEmitted =
  /** The idle outbox of the peer `key` (public key hex) ended; its queue was empty. */
  | { type: 'messaging.outbox-dropped'; key: string }
  /**
   * An outbox of the peer `key` crashed. `queueLost`: it was the peer's running outbox, so the
   * messages in its queue are failed; otherwise it had been ended already, with an empty queue.
   */
  | { type: 'messaging.outbox-crashed'; key: string; queueLost: boolean; error: PlainError }
  /** A messaging substream ended mid-frame: a partial message was lost. */
  | { type: 'message.truncated'; from: PublicKey; lostBytes: number };
