/**
 * The listener's mailbox and facts. It accepts on every configured transport address, upgrades
 * each socket (bounded concurrency), and publishes what happened; the connection manager owns
 * what comes out of it.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import type { PlainError } from '../../core/errors.js';
import type { PeerConnection } from '../../channels/upgrade.js';

/** Why an inbound connection did not become a peer connection. */
export type RejectReason = 'busy' | 'upgrade-failed' | 'banned' | 'liveness';

export type ListenerEvent =
  | { type: 'listener.stop' }
  | { type: 'listen.ready'; addresses: Multiaddr[] }
  | { type: 'listen.failed'; error: PlainError }
  | { type: 'inbound.upgraded'; connection: PeerConnection }
  | { type: 'inbound.rejected'; reason: RejectReason; remoteAddress: string | undefined; error?: PlainError }
  | { type: 'listeners.closed' };

export type ListenerEmitted =
  | { type: 'listener.listening'; addresses: Multiaddr[] }
  | { type: 'listener.failed'; error: PlainError }
  | { type: 'connection.inbound'; connection: PeerConnection }
  | { type: 'connection.rejected'; reason: RejectReason; remoteAddress: string | undefined; error?: PlainError };

/** Events the accept loop takes. */
export type AcceptLoopEvent = { type: 'close' };
