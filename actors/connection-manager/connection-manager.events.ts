/**
 * The connection manager's mailbox and facts (PROTOCOL.md section 1 connections, tari_comms'
 * ConnectionManager): it keeps at most one connection per peer, applying the simultaneous-dial
 * tie-break, runs one peer-connection actor per kept connection, and opens substreams through
 * them (dialing first when needed).
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { DialReply } from '../dialer/dialer.events.js';
import type { InboundRejection, RejectReason } from '../listener/listener.events.js';
import type { Mailbox } from '../mailbox.js';
import type { PeerManagerReply } from '../peer-manager/peer-manager.events.js';
import type { PeerConnectionClosed, SubstreamReply } from '../peer-connection/peer-connection.events.js';

/** The answer to `connection-manager.dial`. */
export type ConnectionManagerReply =
  | { type: 'connection-manager.reply'; requestId: string; ok: true; connection: PeerConnection }
  | { type: 'connection-manager.reply'; requestId: string; ok: false; error: PlainError };

/** What other actors may send the connection manager. */
export type ConnectionManagerInbox =
  | { type: 'connection-manager.dial'; requestId: string; publicKey: PublicKey; addresses?: readonly string[]; replyTo?: Mailbox<ConnectionManagerReply> }
  /**
   * Opens a substream to the peer for one of `protocols`, through its peer-connection actor,
   * dialing it first when it is not connected. The answer is a `peer-connection.substream`.
   */
  | { type: 'connection-manager.open-stream'; requestId: string; publicKey: PublicKey; protocols: readonly string[]; replyTo: Mailbox<SubstreamReply> }
  | { type: 'connection-manager.disconnect'; publicKey: PublicKey }
  | { type: 'connection-manager.stop' }
  /** From the listener: an inbound connection that passed its upgrade. */
  | { type: 'connection.opened'; connection: PeerConnection }
  /** From the listener: an inbound socket that did not become a connection. */
  | ({ type: 'inbound.rejected' } & InboundRejection)
  /** The peer broke a protocol on a connection (an oversized message, an invalid claim before the connection was active). */
  | { type: 'peer.misbehaved'; publicKey: PublicKey; error: PlainError };

/** What the peer-connection host reports. */
export type PeerConnectionCrashed = { type: 'peer-connection.crashed'; key: string; hosted: boolean; error: PlainError };

/** Everything the connection manager receives. */
export type ConnectionManagerEvent = ConnectionManagerInbox | DialReply | PeerConnectionClosed | PeerConnectionCrashed | PeerManagerReply;

/** Facts and replies the connection manager emits. */
export type ConnectionManagerEmitted =
  | ConnectionManagerReply
  /** A peer-connection actor failed (a bug, not bad input): the node reports it as an error. */
  | { type: 'connection-manager.child-failed'; child: string; error: PlainError }
  | { type: 'peer.connected'; publicKey: PublicKey; direction: 'inbound' | 'outbound'; connection: PeerConnection }
  | { type: 'peer.disconnected'; publicKey: PublicKey; error: PlainError | undefined }
  | { type: 'peer.connect-failed'; publicKey: PublicKey; error: PlainError }
  | { type: 'peer.violation'; publicKey: PublicKey; error: PlainError }
  /** An inbound socket that did not become a peer connection (busy, upgrade failed, banned, liveness). */
  | { type: 'connection.rejected'; reason: RejectReason; remoteAddress: string | undefined; error: PlainError | undefined };
