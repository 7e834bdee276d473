/**
 * The RPC server's mailbox and facts (PROTOCOL.md section 8): the node's one server of RPC
 * sessions, for every service it serves. It runs one session actor per substream a peer opened
 * for an RPC protocol, decides the session limits (100 in all, 10 per peer public key, counted
 * from the accepting reply until the session is over) and reports peers that broke the protocol.
 */
import type { PlainError } from '../../core/errors.js';
import type { NodeId, PublicKey } from '../../core/keys.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import type { RpcSessionReport } from '../rpc-session/rpc-session.events.js';

/** Why a substream did not become a counted session. */
export type RpcRefusal =
  /** Beyond the limits: NO_SERVER_SESSIONS_AVAILABLE. */
  | 'no-sessions'
  /** No service behind the id: PROTOCOL_NOT_SUPPORTED. */
  | 'no-service'
  /** Too many of the peer's substreams still in their handshake: reset before anything is read. */
  | 'handshakes';

/** What other actors (and the node's protocol handlers) may send the RPC server. */
export type RpcServerInbox =
  /** A peer opened a substream for an RPC protocol (negotiated); the server owns it from now on. */
  | { type: 'rpc-server.accept'; stream: YamuxStream; protocol: string; peer: { publicKey: PublicKey; nodeId: NodeId } }
  /** Ends every session (between calls at once, after the call in flight otherwise), then this actor. */
  | { type: 'rpc-server.stop' };

/** What the session host reports: the session under `key` crashed (a bug). */
export type RpcSessionCrashed = { type: 'rpc-session.crashed'; key: string; hosted: boolean; error: PlainError };

/** Everything the RPC server receives. */
export type RpcServerEvent = RpcServerInbox | RpcSessionReport | RpcSessionCrashed;

/** Facts the RPC server emits. */
export type RpcServerEmitted =
  /** A session was admitted (it counts until it is over). */
  | { type: 'rpc-server.session-opened'; publicKey: PublicKey; protocol: string; sessions: number }
  /** A substream was refused a session. */
  | { type: 'rpc-server.session-refused'; publicKey: PublicKey; protocol: string; reason: RpcRefusal }
  /** A session is over. */
  | { type: 'rpc-server.session-closed'; publicKey: PublicKey; protocol: string; error: PlainError | undefined }
  /** A session actor failed (a bug, not bad input). */
  | { type: 'rpc-server.session-crashed'; error: PlainError };
