/**
 * The listener's mailbox and facts. It accepts on every configured transport address, upgrades
 * each socket (bounded concurrency), and publishes what happened; the connection manager owns
 * what comes out of it.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import type { PlainError } from '../../core/errors.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { PublicKey } from '../../core/keys.js';

/** Why an inbound connection did not become a peer connection. */
export type RejectReason = 'busy' | 'upgrade-failed' | 'banned' | 'liveness';

/** Everything a listener receives. */
export type ListenerEvent =
  | { type: 'listener.stop' }
  | { type: 'listen.ready'; addresses: Multiaddr[] }
  | { type: 'listen.failed'; error: PlainError }
  | { type: 'inbound.upgraded'; connection: PeerConnection }
  | {
      type: 'inbound.rejected';
      reason: RejectReason;
      remoteAddress: string | undefined;
      error?: PlainError;
      /** The peer's key when Noise proved it and the peer then broke the protocol (its identity claim was invalid). */
      publicKey?: PublicKey;
    }
  | { type: 'listeners.closed' };

/** Facts a listener emits. */
export type ListenerEmitted =
  | { type: 'listener.listening'; addresses: Multiaddr[] }
  | { type: 'listener.failed'; error: PlainError }
  | { type: 'connection.inbound'; connection: PeerConnection }
  | { type: 'connection.rejected'; reason: RejectReason; remoteAddress: string | undefined; error?: PlainError; publicKey?: PublicKey };

/** Events the accept loop takes. */
export type AcceptLoopEvent = { type: 'close' };
