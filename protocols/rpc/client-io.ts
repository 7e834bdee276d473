/**
 * The inputs and outputs of the RPC client session core (`RpcClientSession` in
 * `client-session.ts`).
 */
import type { TcommsError } from '../../core/errors.js';
import type { RpcProtocolError, RpcSessionRejected } from './errors.js';

/** The states of a client session. */
export const RPC_CLIENT_STATES = ['new', 'handshake', 'idle', 'inCall', 'streaming', 'pinging', 'cancelling', 'closing', 'closed'] as const;
/**
 * - `new`: nothing written yet (`start` writes `RpcSession`);
 * - `handshake`: waiting for `RpcSessionReply` (10 s);
 * - `idle`: between calls: `call`, `ping` and `close` are allowed;
 * - `inCall`: a request written, none of its frames received yet;
 * - `streaming`: a stream call with at least one item received;
 * - `pinging`: a ping written, waiting for its answer (10 s);
 * - `cancelling`: a cancel written, discarding the call's frames up to its FIN (2 s);
 * - `closing`: this side wrote its FIN, waiting for the server's (10 s);
 * - `closed`: both sides closed, or the substream was reset.
 *
 * Each frame of a call is awaited for `deadline_ms` + 60 s.
 */
export type RpcClientState = (typeof RPC_CLIENT_STATES)[number];

/** A call to make. */
export interface RpcClientCall {
  /** The method number (0 is refused by servers). */
  method: number;
  methodKind: 'unary' | 'server_streaming';
  /** The encoded request message. */
  payload?: Uint8Array;
  /** `deadline_ms` (default 120,000). Servers answer BadRequest below 1,000. */
  deadlineMs?: number;
  /** Decodes a response payload; a throw is the server's protocol error. Default: the bytes. */
  decodeResponse?: (payload: Uint8Array) => unknown;
}

/** What goes into the client core: commands of the caller, and what the substream did. */
export type RpcClientInput =
  /** Write `RpcSession` (state `new` only). */
  | { kind: 'start' }
  /** Write a request (state `idle` only); its id is `requestId` afterwards. */
  | ({ kind: 'call' } & RpcClientCall)
  /** Cancel the call in flight (nothing happens between calls). */
  | { kind: 'cancel' }
  /** Write a ping (state `idle` only). */
  | { kind: 'ping' }
  /** End the session: FIN (a call or ping in flight is abandoned). */
  | { kind: 'close' }
  /** Bytes from the server. */
  | { kind: 'bytes'; data: Uint8Array }
  /** The server closed its write side (FIN). */
  | { kind: 'remote-fin' }
  /** The server reset the substream. */
  | { kind: 'remote-reset' }
  /** The shell's timer fired (at or after `nextTimeout()`). */
  | { kind: 'timeout' };

/** What the shell must do or tell the caller, in order. */
export type RpcClientOutput =
  /** Write these bytes (one whole frame). */
  | { kind: 'send'; bytes: Uint8Array }
  /** Close the write side (FIN). */
  | { kind: 'close' }
  /** Reset the substream (only; the connection stays up). The session is over. */
  | { kind: 'reset'; error: TcommsError }
  /** Report the peer's violation (section 8: a frame over 4 MiB). */
  | { kind: 'report'; error: RpcProtocolError }
  /** The server accepted the session: calls may be made. */
  | { kind: 'accepted'; version: number }
  /** The server rejected the session (no violation); the client closes. */
  | { kind: 'rejected'; error: RpcSessionRejected }
  /** The session ended before the handshake finished (closed, reset or timed out). */
  | { kind: 'open-failed'; error: TcommsError }
  /** A stream item of call `requestId`. */
  | { kind: 'item'; requestId: number; value: unknown }
  /** The answer of unary call `requestId` (the call is over). */
  | { kind: 'response'; requestId: number; value: unknown }
  /** Stream call `requestId` ended Ok (the call is over). */
  | { kind: 'end'; requestId: number }
  /**
   * Call `requestId` (0: the ping) is over with an error: an `RpcError` for a non-Ok status,
   * `RpcCallCancelled` at once on a cancel, or why the session ended.
   */
  | { kind: 'failed'; requestId: number; error: TcommsError }
  /** The ping was answered. */
  | { kind: 'pong' };

/** Construction options; the waits default to section 8's. */
export interface RpcClientSessionInit {
  /** Versions offered (default `[1]`; v1 clients offer exactly that). */
  versions?: readonly number[];
  /** The id of the first request (default 1; other values are for tests of the wrap). */
  firstRequestId?: number;
  handshakeTimeoutMs?: number;
  pingTimeoutMs?: number;
  cancelTimeoutMs?: number;
  deadlineGraceMs?: number;
  closeTimeoutMs?: number;
}
