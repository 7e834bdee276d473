/**
 * A server RPC session's mailbox (PROTOCOL.md section 8): one actor per substream a peer opened
 * for an RPC protocol, run by the RPC server's host. The substream's bytes, the requests and the
 * handlers' responses never pass through the mailbox: the session's I/O feeds them to the
 * sans-I/O core (`RpcServerSession`) and reports only where the core went.
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { RpcAdmission } from '../../protocols/rpc/index.js';

/** What the owner (the RPC server) may send a session. */
export type RpcSessionInbox =
  /** The answer to `rpc-server.admit`: the server's limits (and whether a service is behind the id). */
  | { type: 'rpc-session.admitted'; decision: RpcAdmission }
  /** This node ends the session: at once between calls, after the call in flight otherwise. */
  | { type: 'rpc-session.close' }
  /** The host is stopping: the session ends now (its substream is reset). */
  | { type: 'rpc-session.abort' };

/**
 * What the session's I/O reports: where the core went after the bytes, handler results and
 * commands it fed it. `dueAt` is the core's next deadline on the node's clock (ms), if any.
 */
export type SessionIoReport =
  /** `RpcSession` offered version 1: the limits must be decided. */
  | { type: 'rpc.admission' }
  /** The accepting reply was written: the session counts from now (idle). */
  | { type: 'rpc.accepted'; dueAt: number | undefined }
  /** A call started: its handler runs. */
  | { type: 'rpc.call-started'; requestId: number; method: string; dueAt: number | undefined }
  /** A stream call wrote its first item. */
  | { type: 'rpc.streaming'; dueAt: number | undefined }
  /** The call's FIN frame was written (or the call was stopped): idle again. */
  | { type: 'rpc.call-ended'; dueAt: number | undefined }
  /** This side wrote its FIN (idle close, rejection, stop): waiting for the client's. */
  | { type: 'rpc.closing'; dueAt: number | undefined }
  /** The session is over: closed both ways, or reset (with why). */
  | { type: 'rpc.closed'; error: PlainError | undefined }
  /** The timer fired before the core's deadline (a stream item moved it): wait again. */
  | { type: 'rpc.rearm'; dueAt: number | undefined }
  /** The peer sent a frame over 4 MiB (section 8: report the peer). */
  | { type: 'rpc.violation'; error: PlainError };

/** What the session tells its I/O (decisions and timers; never bytes). */
export type SessionIoCommand =
  /** The limit decision, for the core. */
  | { type: 'io.admit'; decision: RpcAdmission }
  /** The session's timer fired. */
  | { type: 'io.timeout' }
  /** This node ends the session. */
  | { type: 'io.close' };

/** Everything a server session receives. */
export type RpcSessionEvent = RpcSessionInbox | SessionIoReport;

/** What a session tells its owner (the RPC server). */
export type RpcSessionReport =
  /** Decide the limits for this session (answered with `rpc-session.admitted`). */
  | { type: 'rpc-server.admit'; key: string }
  /** The session is over (its slot, if it was admitted, is free). */
  | { type: 'rpc-session.ended'; key: string; error: PlainError | undefined }
  /** The peer broke section 8 in a way it must be reported for. */
  | { type: 'rpc-server.violation'; key: string; publicKey: PublicKey; error: PlainError };
