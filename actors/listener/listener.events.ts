/**
 * The listener's mailbox and facts. It accepts on every configured transport address, upgrades
 * each socket (bounded concurrency), hands each peer connection to the connection manager, and
 * tells its owner (the node) when it is listening or could not open.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import type { PlainError } from '../../core/errors.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { PublicKey } from '../../core/keys.js';

/** Why an inbound connection did not become a peer connection. */
export type RejectReason = 'busy' | 'upgrade-failed' | 'banned' | 'liveness';

/** What other actors may send the listener. */
export type ListenerInbox = { type: 'listener.stop' };

/** A socket the accept loop could not make a peer connection of. */
export interface InboundRejection {
  reason: RejectReason;
  remoteAddress: string | undefined;
  error?: PlainError;
  /** The peer's key when Noise proved it and the peer then broke the protocol (its identity claim was invalid). */
  publicKey?: PublicKey;
}

/** What the accept loop reports to the listener. */
export type AcceptReport = { type: 'inbound.upgraded'; connection: PeerConnection } | ({ type: 'inbound.rejected' } & InboundRejection);

/** Everything a listener receives. */
export type ListenerEvent = ListenerInbox | AcceptReport;

/** What the listener tells its owner (the node's root). */
export type ListenerReport = { type: 'listener.listening'; addresses: Multiaddr[] } | { type: 'listener.failed'; error: PlainError };

/** Facts a listener emits. */
export type ListenerEmitted = ListenerReport | { type: 'connection.inbound'; connection: PeerConnection } | ({ type: 'connection.rejected' } & InboundRejection);

/** Events the accept loop takes (none: it runs until stopped). */
export type AcceptLoopEvent = { type: 'accept-loop.never' };
