/**
 * The messaging actor's mailbox (PROTOCOL.md section 6): control only. Messages wait in the
 * peers' `OutboxQueue`s; the actor runs one outbox per peer that has messages, and drops idle
 * ones.
 */
import type { PublicKey } from '../../core/keys.js';
import type { OutboxQueue } from '../outbox/outbox-queue.js';
import type { OutboxReport } from '../outbox/outbox.events.js';

/** Everything the messaging actor receives. */
export type MessagingEvent =
  /** A peer's queue stopped being empty: make sure its outbox runs. */
  | { type: 'messaging.wake'; publicKey: PublicKey; queue: OutboxQueue }
  | OutboxReport;

/** What the messaging actor emits. */
export type MessagingEmitted = { type: 'messaging.outbox-dropped'; key: string };
