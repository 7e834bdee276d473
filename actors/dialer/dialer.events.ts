/**
 * The dialer's mailbox and facts: one dial per peer at a time (later requests for the same peer
 * wait on the same result), cancellation, and a reply per request.
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { DialReport } from '../dial/dial.events.js';
import type { Mailbox } from '../mailbox.js';

/** The answer to `dial.request`. */
export type DialReply =
  | { type: 'dial.reply'; requestId: string; ok: true; connection: PeerConnection }
  | { type: 'dial.reply'; requestId: string; ok: false; error: PlainError };

/** What other actors may send the dialer. */
export type DialerInbox =
  | {
      type: 'dial.request';
      requestId: string;
      publicKey: PublicKey;
      /** Dialed instead of the stored addresses. */
      addresses?: readonly string[];
      /** Where the reply goes; without it the reply is emitted. */
      replyTo?: Mailbox<DialReply>;
    }
  | { type: 'dial.cancel'; publicKey: PublicKey }
  /** Cancels every dial (their waiters get an abort) and ends the dialer. */
  | { type: 'dialer.stop' };

/** Everything the dialer receives: commands and its dials' reports. */
export type DialerEvent = DialerInbox | DialReport;

/** Facts and replies the dialer emits. */
export type DialerEmitted =
  | DialReply
  | { type: 'peer.dialed'; publicKey: PublicKey; connection: PeerConnection }
  | { type: 'peer.dial-failed'; publicKey: PublicKey; error: PlainError };
