/**
 * The connection manager's mailbox and facts (PROTOCOL.md section 1 connections, tari_comms'
 * ConnectionManager): it owns the listener and the dialer and keeps at most one connection per
 * peer, applying the simultaneous-dial tie-break.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import type { AnyActorRef } from 'xstate';
import type { HostCommand } from '../host.js';
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { RejectReason } from '../listener/listener.events.js';
import type { PeerConnectionEvent } from '../peer-connection/peer-connection.events.js';
import type { PeerConnectionInput } from '../peer-connection/peer-connection.machine.js';

/** Everything the connection manager receives. */
export type ConnectionManagerEvent =
  | { type: 'connection-manager.dial'; requestId: string; publicKey: PublicKey; addresses?: string[]; replyTo?: AnyActorRef }
  | { type: 'connection-manager.disconnect'; publicKey: PublicKey }
  | { type: 'connection-manager.stop' }
  // from the children and the connections
  | { type: 'listener.ready'; addresses: Multiaddr[] }
  | { type: 'listener.failed'; error: PlainError }
  | { type: 'connection.opened'; connection: PeerConnection }
  | { type: 'peer-connection.closed'; publicKey: PublicKey; connection: PeerConnection; error: PlainError | undefined; actorId: string }
  /** The peer proved its key, then broke the protocol before its connection was active (an invalid identity claim). */
  | { type: 'peer.misbehaved'; publicKey: PublicKey; error: PlainError }
  | { type: 'child.crashed'; child: 'dialer' | 'peerConnection'; error: PlainError }
  | { type: 'inbound.rejected'; reason: RejectReason; remoteAddress: string | undefined; error: PlainError | undefined }
  | { type: 'dial.replied'; requestId: string; publicKey: PublicKey; ok: boolean; error?: PlainError };

/** The answer to `connection-manager.dial`. */
export type ConnectionManagerReply =
  | { type: 'connection-manager.reply'; requestId: string; ok: true; connection: PeerConnection }
  | { type: 'connection-manager.reply'; requestId: string; ok: false; error: PlainError };

/** Facts and replies the connection manager emits. */
export type ConnectionManagerEmitted =
  | ConnectionManagerReply
  | { type: 'connection-manager.listening'; addresses: Multiaddr[] }
  | { type: 'connection-manager.listen-failed'; error: PlainError }
  /** A child actor failed (a bug, not bad input): the node reports it as an error. */
  | { type: 'connection-manager.child-failed'; child: string; error: PlainError }
  | { type: 'peer.connected'; publicKey: PublicKey; direction: 'inbound' | 'outbound'; connection: PeerConnection }
  | { type: 'peer.disconnected'; publicKey: PublicKey; error: PlainError | undefined }
  | { type: 'peer.connect-failed'; publicKey: PublicKey; error: PlainError }
  | { type: 'peer.violation'; publicKey: PublicKey; error: PlainError }
  /** An inbound socket that did not become a peer connection (busy, upgrade failed, banned, liveness). */
  | { type: 'connection.rejected'; reason: RejectReason; remoteAddress: string | undefined; error: PlainError | undefined };

/** What the dialer bridge takes. */
export type DialerBridgeEvent = { type: 'dial'; requestId: string; publicKey: PublicKey; addresses?: string[] };

/**
 * What the peer-connection host takes (`actors/host.ts`): start an actor for a kept connection,
 * pass an event to one, let a finished one go, or say how many it holds. Ids are
 * `peer:<public key hex>:<n>`.
 */
export type PeerConnectionHostCommand = HostCommand<PeerConnectionInput, PeerConnectionEvent>;
