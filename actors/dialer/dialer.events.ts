/**
 * The dialer's mailbox and facts: one dial per peer at a time (later requests for the same peer
 * wait on the same result), cancellation, and a reply per request.
 */
import type { AnyActorRef } from 'xstate';
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';

/** Everything the dialer receives. */
export type DialerEvent =
  | { type: 'dial.request'; requestId: string; publicKey: PublicKey; /** Used instead of the stored addresses. */ addresses?: string[]; replyTo?: AnyActorRef }
  | { type: 'dial.cancel'; publicKey: PublicKey }
  | { type: 'dial.succeeded'; key: string; connection: PeerConnection }
  | { type: 'dial.failed'; key: string; publicKey: PublicKey; error: PlainError };

/** The answer to `dial.request`. */
export type DialReply =
  | { type: 'dial.reply'; requestId: string; ok: true; connection: PeerConnection }
  | { type: 'dial.reply'; requestId: string; ok: false; error: PlainError };

/** Facts and replies the dialer emits. */
export type DialerEmitted =
  | DialReply
  | { type: 'peer.dialed'; publicKey: PublicKey; connection: PeerConnection }
  | { type: 'peer.dial-failed'; publicKey: PublicKey; error: PlainError };
