/**
 * The messaging actor's mailbox and facts (PROTOCOL.md section 6): fire-and-forget messages to
 * peers, each answered with its outcome (written to the peer's substream, or failed).
 */
import type { AnyActorRef } from 'xstate';
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { OutboxReport } from '../outbox/outbox.events.js';

/** Everything the messaging actor receives. */
export type MessagingEvent =
  | { type: 'messaging.send'; requestId: string; publicKey: PublicKey; body: Uint8Array; replyTo?: AnyActorRef }
  | OutboxReport;

/** A message's outcome. */
export type MessageOutcome = { type: 'messaging.outcome'; requestId: string; ok: true } | { type: 'messaging.outcome'; requestId: string; ok: false; error: PlainError };

/** What the messaging actor emits. */
export type MessagingEmitted = MessageOutcome;
