/**
 * The inputs and outputs of the RPC server session core (`RpcServerSession` in
 * `server-session.ts`), and the method table it serves.
 */
import type { TcommsError } from '../../core/errors.js';
import type { RpcProtocolError } from './errors.js';

/** The states of a server session, in the order a session goes through them. */
export const RPC_SERVER_STATES = ['handshake', 'admitting', 'idle', 'inCall', 'streaming', 'closing', 'closed'] as const;
/**
 * - `handshake`: waiting for `RpcSession` (15 s);
 * - `admitting`: the version is fine, waiting for the shell's limit decision (`admit`);
 * - `idle`: between calls (idle for 120 s: the server closes);
 * - `inCall`: a call started, none of its frames written yet;
 * - `streaming`: a stream call with at least one item written;
 * - `closing`: this side wrote its FIN, waiting for the client's (10 s);
 * - `closed`: both sides closed, or the substream was reset.
 */
export type RpcServerState = (typeof RPC_SERVER_STATES)[number];

/** A method as the server core needs it (built from a service by `defineRpcService`). */
export interface RpcServerMethod {
  readonly number: number;
  /** For status messages and logs. */
  readonly name: string;
  readonly kind: 'unary' | 'server_streaming';
  /** Decodes a request payload; any throw answers BadRequest. */
  decodeRequest(payload: Uint8Array): unknown;
  /** Encodes one response (or stream item) given by a handler. */
  encodeResponse(value: unknown): Uint8Array;
}

/** The shell's answer to an `admission` output: its limits (and whether a service is behind the id). */
export type RpcAdmission = 'accept' | 'no-sessions' | 'no-service';

/** What goes into the server core. `call` is the number of a `start-call` output. */
export type RpcServerInput =
  /** Bytes from the client (the substream after negotiation). */
  | { kind: 'bytes'; data: Uint8Array }
  /** The limit decision asked for by an `admission` output. */
  | { kind: 'admit'; decision: RpcAdmission }
  /** A stream handler produced an item. */
  | { kind: 'item'; call: number; value: unknown }
  /** A unary handler returned its response. */
  | { kind: 'result'; call: number; value: unknown }
  /** A stream handler finished. */
  | { kind: 'end'; call: number }
  /** A handler failed: an `RpcError` gives the status and message, anything else is General. */
  | { kind: 'fail'; call: number; error: unknown }
  /** The shell's timer fired (at or after `nextTimeout()`). */
  | { kind: 'timeout' }
  /** The client closed its write side (FIN). */
  | { kind: 'remote-fin' }
  /** The client reset the substream. */
  | { kind: 'remote-reset' }
  /** This node wants the session to end: at once between calls, after the current call otherwise. */
  | { kind: 'close' };

/** Why a handler must stop. */
export type RpcStopReason = 'cancelled' | 'timeout' | 'abandoned' | 'malformed-response';

/** What the shell must do, in order. */
export type RpcServerOutput =
  /** Write these bytes (one or more whole frames). */
  | { kind: 'send'; bytes: Uint8Array }
  /** Decide the session limits (100 in all, 10 per peer) and answer with an `admit` input. */
  | { kind: 'admission' }
  /** Run the handler of `method` for `request`; feed its results with this `call` number. */
  | { kind: 'start-call'; call: number; requestId: number; method: RpcServerMethod; request: unknown; deadlineMs: number }
  /** Stop the handler of `call` (abort its signal); its later results are ignored. */
  | { kind: 'stop-call'; call: number; reason: RpcStopReason }
  /** Close the write side (FIN). */
  | { kind: 'close' }
  /** Reset the substream (only; the connection stays up). The session is over. */
  | { kind: 'reset'; error: TcommsError }
  /** Report the peer's violation (section 8: a frame over 4 MiB). */
  | { kind: 'report'; error: RpcProtocolError };

/** Construction options; the waits default to section 8's. */
export interface RpcServerSessionInit {
  /** The methods of the service behind the protocol id, by number. */
  methods: ReadonlyMap<number, RpcServerMethod>;
  /** The shell's clock when the substream was accepted (ms). */
  nowMs: number;
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
  closeTimeoutMs?: number;
}
