/**
 * A client RPC session's mailbox (PROTOCOL.md section 8): one actor per substream this node
 * opened for an RPC protocol, run by the RPC client pool's host. It opens its substream through
 * the connection manager (which dials first when needed), and carries one call at a time. The
 * requests and answers never pass through the mailbox: the session's I/O feeds the sans-I/O core
 * (`RpcClientSession`) and delivers answers straight to the call's handle.
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { Mailbox } from '../mailbox.js';
import type { SubstreamReply } from '../peer-connection/peer-connection.events.js';
import type { RpcClientCall } from '../rpc-client/call.js';

/** The answer to `rpc-client-session.ping`. */
export type RpcPingReply = { type: 'rpc-client-session.pong'; requestId: string; ok: true } | { type: 'rpc-client-session.pong'; requestId: string; ok: false; error: PlainError };

/** What the pool (and a pinger) may send a client session. */
export type RpcClientSessionInbox =
  /** Make this call (the session reported itself idle). */
  | { type: 'rpc-client-session.call'; call: RpcClientCall }
  /** Ping the server between calls (answered `rpc-client-session.pong`, to `replyTo` or emitted). */
  | { type: 'rpc-client-session.ping'; requestId: string; replyTo?: Mailbox<RpcPingReply> }
  /** End the session: FIN (a call in flight fails). */
  | { type: 'rpc-client-session.close' }
  /** The host is stopping: the session ends now (its substream is reset). */
  | { type: 'rpc-client-session.abort' };

/** What the session's I/O reports: where the core went. `dueAt`: the core's next deadline (node clock, ms). */
export type ClientIoReport =
  /** `RpcSession` was written: waiting for the reply (10 s). */
  | { type: 'rpc.handshaking'; dueAt: number | undefined }
  /** The server accepted the session. */
  | { type: 'rpc.accepted'; dueAt: number | undefined }
  /** A stream item arrived. */
  | { type: 'rpc.streaming'; dueAt: number | undefined }
  /** The call was cancelled: waiting for its FIN (2 s). */
  | { type: 'rpc.cancelling'; dueAt: number | undefined }
  /** The call is over (or was not made): idle again. */
  | { type: 'rpc.call-ended'; dueAt: number | undefined }
  /** A ping was written: waiting for its answer (10 s). */
  | { type: 'rpc.pinging'; dueAt: number | undefined }
  /** The ping was answered (`ok`), or refused (a call was in flight). */
  | { type: 'rpc.ping-ended'; ok: boolean; dueAt: number | undefined }
  /** The server rejected the session (`reason`: its HandshakeRejectReason); this side wrote its FIN. */
  | { type: 'rpc.rejected'; reason: number; dueAt: number | undefined }
  /** This side wrote its FIN (close): waiting for the server's (10 s). */
  | { type: 'rpc.closing'; dueAt: number | undefined }
  /** The session is over. `rejectReason`: the server rejected it (HandshakeRejectReason). */
  | { type: 'rpc.closed'; error: PlainError | undefined; rejectReason: number | undefined }
  /** The timer fired before the core's deadline (a stream item moved it): wait again. */
  | { type: 'rpc.rearm'; dueAt: number | undefined }
  /** The server sent a frame over 4 MiB (section 8: report the peer). */
  | { type: 'rpc.violation'; error: PlainError };

/** What the session tells its I/O. */
export type ClientIoCommand =
  | { type: 'io.call'; call: RpcClientCall }
  | { type: 'io.ping' }
  | { type: 'io.timeout' }
  | { type: 'io.close' };

/** What a client session emits: the answers to pings made without a `replyTo`. */
export type RpcClientSessionEmitted = RpcPingReply;

/** Everything a client session receives. */
export type RpcClientSessionEvent = RpcClientSessionInbox | ClientIoReport | SubstreamReply;

/** What a client session tells its owner (the pool). */
export type RpcClientSessionReport =
  /** Idle: it takes a call. */
  | { type: 'rpc-client-session.idle'; key: string }
  /** A call reached it while it was no longer idle (it is ending): the pool gives it to another. */
  | { type: 'rpc-client-session.bounced'; key: string; call: RpcClientCall }
  /**
   * The session is over. `established`: it had been accepted (else it never opened: `error`
   * says why, `rejectReason` is the server's reason when it rejected it).
   */
  | { type: 'rpc-client-session.ended'; key: string; established: boolean; error: PlainError | undefined; rejectReason: number | undefined }
  /** The server broke section 8 in a way it must be reported for. */
  | { type: 'rpc-client.violation'; publicKey: PublicKey; error: PlainError };
