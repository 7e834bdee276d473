/**
 * A peer connection's mailbox and facts. One actor per active connection (PROTOCOL.md sections
 * 1, 3, 4): substreams opened on request, inbound substreams routed to the protocol handlers,
 * keepalive, disconnect. Events carry stream handles, never bytes.
 */
import type { AnyActorRef } from 'xstate';
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';

/** Everything a peer-connection actor receives. */
export type PeerConnectionEvent =
  // commands
  | { type: 'peer-connection.open-substream'; requestId: string; protocols: string[]; replyTo?: AnyActorRef }
  | { type: 'peer-connection.disconnect' }
  // from the watcher and the substream openers
  | { type: 'substream.negotiated'; stream: YamuxStream; protocol: string }
  | { type: 'substream.opened'; requestId: string; stream: YamuxStream; protocol: string; replyTo: AnyActorRef | undefined }
  | { type: 'substream.open-failed'; requestId: string; error: PlainError; replyTo: AnyActorRef | undefined }
  | { type: 'keepalive.pong'; ms: number }
  | { type: 'connection.ended'; error: PlainError | undefined };

/** The answer to `peer-connection.open-substream`. */
export type SubstreamReply =
  | { type: 'peer-connection.substream'; requestId: string; ok: true; stream: YamuxStream; protocol: string }
  | { type: 'peer-connection.substream'; requestId: string; ok: false; error: PlainError };

/** Sent to the parent (the connection manager) and emitted when the connection is over. */
export type PeerConnectionClosed = {
  type: 'peer-connection.closed';
  publicKey: PublicKey;
  connection: PeerConnection;
  error: PlainError | undefined;
  /** The finished actor's id, so its parent can let it go. */
  actorId: string;
};

/** Facts and replies a peer-connection actor emits. */
export type PeerConnectionEmitted =
  | SubstreamReply
  | PeerConnectionClosed
  | { type: 'substream.inbound'; publicKey: PublicKey; protocol: string }
  | { type: 'peer-connection.rtt'; publicKey: PublicKey; ms: number };
