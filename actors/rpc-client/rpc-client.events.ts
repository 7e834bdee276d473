/**
 * The RPC client pool's mailbox and facts (PROTOCOL.md section 8): the node's one client of RPC
 * services. Per peer and service protocol it opens up to N sessions lazily (default 4), gives
 * each call to an idle one (one call per session) or queues it for the first to be idle, and
 * replaces a session broken by a failure when calls wait for one.
 */
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { RpcClientSessionReport } from '../rpc-client-session/rpc-client-session.events.js';
import type { RpcClientCall } from './call.js';

/** What other actors (and the node's typed clients) may send the pool. */
export type RpcClientInbox =
  /** Make `call` to the service at `protocol` on the peer `publicKey`. */
  | { type: 'rpc-client.call'; publicKey: PublicKey; protocol: string; call: RpcClientCall }
  /** Ends every session and fails the waiting calls, then this actor. */
  | { type: 'rpc-client.stop' };

/** What the client-session host reports: the session under `key` crashed (a bug). */
export type RpcClientSessionCrashed = { type: 'rpc-client-session.crashed'; key: string; hosted: boolean; error: PlainError };

/** Everything the pool receives. */
export type RpcClientEvent = RpcClientInbox | RpcClientSessionReport | RpcClientSessionCrashed;

/** Facts the pool emits. */
export type RpcClientEmitted =
  /** A session was started for the peer and protocol (`sessions`: how many it has now). */
  | { type: 'rpc-client.session-opening'; publicKey: PublicKey; protocol: string; sessions: number }
  /** A session is over (`established`: it had been accepted). */
  | { type: 'rpc-client.session-closed'; publicKey: PublicKey; protocol: string; established: boolean; error: PlainError | undefined }
  /** A session actor failed (a bug, not bad input). */
  | { type: 'rpc-client.session-crashed'; error: PlainError };
