/**
 * One dial's mailbox (an actor per dial, `dial:<NodeId hex>`, a child of the dialer): the peer
 * manager's answer with the stored addresses, and cancellation. It reports its outcome to the
 * dialer with a {@link DialReport}.
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { PeerManagerReply } from '../peer-manager/peer-manager.events.js';

/** Everything a dial receives. */
export type DialEvent =
  /** From the dialer: stop dialing (the transport dial in progress is aborted). */
  | { type: 'dial.cancel' }
  /** The peer manager's answer to the address lookup. */
  | PeerManagerReply;

/** What a dial tells the dialer when it ends. */
export type DialReport =
  | { type: 'dial.succeeded'; key: string; connection: PeerConnection }
  | { type: 'dial.failed'; key: string; publicKey: PublicKey; error: PlainError };
