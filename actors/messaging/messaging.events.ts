/**
 * The messaging actor's mailbox (PROTOCOL.md section 6): control only. Messages wait in the
 * peers' `OutboxQueue`s; the actor runs one outbox per peer that has messages, and drops idle
 * ones.
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { OutboxQueue } from '../outbox/outbox-queue.js';
import type { OutboxReport } from '../outbox/outbox.events.js';

/** Everything the messaging actor receives. */
export type MessagingEvent =
  /** A peer's queue stopped being empty: make sure its outbox runs. */
  | { type: 'messaging.wake'; publicKey: PublicKey; queue: OutboxQueue }
  | OutboxReport
  /**
   * From the outbox host: the outbox `id` crashed (a bug). `hosted`: it was still running for
   * its peer (its queue can no longer be served), not one ended already.
   */
  | { type: 'outbox.crashed'; id: string; hosted: boolean; error: PlainError };

/** What the messaging actor emits. */
export type MessagingEmitted =
  /** The idle outbox of the peer `key` (public key hex) ended; its queue was empty. */
  | { type: 'messaging.outbox-dropped'; key: string }
  /**
   * An outbox of the peer `key` crashed. `queueLost`: it was the peer's running outbox, so the
   * messages in its queue are failed; otherwise it had been ended already, with an empty queue.
   */
  | { type: 'messaging.outbox-crashed'; key: string; queueLost: boolean; error: PlainError };
