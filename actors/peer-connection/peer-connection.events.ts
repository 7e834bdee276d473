/**
 * A peer connection's mailbox and facts. One actor per active connection (PROTOCOL.md sections
 * 1, 3, 4): substreams opened on request, inbound substreams routed to the protocol handlers,
 * keepalive, disconnect. Events carry stream handles, never bytes.
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import type { Mailbox } from '../mailbox.js';

/** The answer to `peer-connection.open-substream`. */
export type SubstreamReply =
  | { type: 'peer-connection.substream'; requestId: string; ok: true; stream: YamuxStream; protocol: string }
  | { type: 'peer-connection.substream'; requestId: string; ok: false; error: PlainError };

/** What other actors may send a peer-connection actor. */
export type PeerConnectionInbox =
  | {
      type: 'peer-connection.open-substream';
      requestId: string;
      protocols: readonly string[];
      /** Where the reply goes; without it the reply is emitted. */
      replyTo?: Mailbox<SubstreamReply>;
    }
  | { type: 'peer-connection.disconnect' };

/** What the connection watcher reports. */
export type WatchReport =
  | { type: 'substream.negotiated'; stream: YamuxStream; protocol: string }
  | { type: 'keepalive.answered'; ms: number }
  | { type: 'connection.ended'; error: PlainError | undefined };

/** What a substream opening reports. */
export type OpeningReport =
  | { type: 'substream.opened'; requestId: string; stream: YamuxStream; protocol: string; replyTo: Mailbox<SubstreamReply> | undefined }
  | { type: 'substream.open-failed'; requestId: string; error: PlainError; replyTo: Mailbox<SubstreamReply> | undefined };

/** Everything a peer-connection actor receives. */
export type PeerConnectionEvent = PeerConnectionInbox | WatchReport | OpeningReport;

/** Sent to the owner (the connection manager) and emitted when the connection is over. */
export type PeerConnectionClosed = {
  type: 'peer-connection.closed';
  publicKey: PublicKey;
  connection: PeerConnection;
  error: PlainError | undefined;
  /** The finished actor's key in its host, so its owner can let it go. */
  hostKey: string;
};

/** Facts and replies a peer-connection actor emits. */
export type PeerConnectionEmitted =
  | SubstreamReply
  | PeerConnectionClosed
  | { type: 'substream.inbound'; publicKey: PublicKey; protocol: string }
  | { type: 'peer-connection.rtt'; publicKey: PublicKey; ms: number };
